//! What a model reads to find and choose the tools before it has called any: the server
//! instructions, and the search hints of clients that defer MCP tools behind a tool search.
//!
//! Claude Code ranks a search by the words of a tool's name first (`jobs`, `execute`), then by
//! the words of `_meta["anthropic/searchHint"]`, then by the description: without a hint, "run
//! a shell command in the background" did not find `execute`. Codex appends the instructions
//! to every tool description in code mode, so they stay short (under 700 bytes, tested).

use rmcp::model::{MetaObject, Tool};

pub const INSTRUCTIONS: &str = "\
Runs shell commands as background jobs; never blocks you.
- `execute` starts one and returns a job id (j1, ...) at once; pass `wait` (seconds) for short \
commands to get the exit status and output tail in the same call.
- `wait` blocks until jobs end, print a regex, or wait for input. `status`: running or how it \
ended. `tail`: last lines. `output`: read on from a cursor (`since`, follow `next`), by `line`, \
or `grep`.
- `interact` sends input to a job's stdin (REPLs, prompts) and returns the new output.
- `kill` stops a job's whole process tree. `list` shows jobs; `clean` forgets ended ones.
- `check`: would the policy run a command, and why. `hosts`: where jobs can run.";

/// Host names shown at most where a model reads them before any call: the instructions and
/// the `host` parameter's description (a fleet's hundred names would crowd out the rest).
const SHOWN_HOSTS: usize = 6;
/// Characters shown of one host name.
const SHOWN_NAME: usize = 32;

/// The first few host names (`local` first), each cut short, then how many more there are:
/// `local, build1, gpu1 … (9 more: see `hosts`)`. `None` when `local` is the only one.
pub fn host_list(names: &[String]) -> Option<String> {
    if names.len() <= 1 {
        return None;
    }
    Some(bounded_list(names))
}

/// The first few of `names`, each cut short, then how many more there are.
fn bounded_list(names: &[String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(SHOWN_HOSTS)
        .map(|n| {
            let cut: String = n
                .chars()
                .filter(|c| !c.is_control())
                .take(SHOWN_NAME)
                .collect();
            if n.chars().count() > SHOWN_NAME {
                format!("{cut}…")
            } else {
                cut
            }
        })
        .collect();
    let mut list = shown.join(", ");
    if names.len() > SHOWN_HOSTS {
        list.push_str(&format!(
            " … ({} more: see `hosts`)",
            names.len() - SHOWN_HOSTS
        ));
    }
    list
}

/// The server instructions: [`INSTRUCTIONS`], and the hosts (and their tags) when there are
/// any besides `local`.
pub fn instructions(hosts: &[String], tags: &[String]) -> String {
    let Some(list) = host_list(hosts) else {
        return INSTRUCTIONS.to_string();
    };
    let mut text = format!(
        "{INSTRUCTIONS}\nHosts: {list}. `execute` with `hosts: [..]` or `tag` runs on each at once."
    );
    if !tags.is_empty() {
        text.push_str(&format!(" Tags: {}.", bounded_list(tags)));
    }
    text
}

/// Names the configured hosts in the description of `tool`'s `host` parameter, and their tags
/// in that of its `tag` parameter, where it has them.
pub fn name_hosts(tool: &mut Tool, hosts: &[String], tags: &[String]) {
    let Some(list) = host_list(hosts) else {
        return;
    };
    let mut schema = (*tool.input_schema).clone();
    let mut add = |param: &str, what: &str, list: &str| {
        let Some(serde_json::Value::Object(p)) =
            schema.get_mut("properties").and_then(|p| p.get_mut(param))
        else {
            return;
        };
        let said = p
            .get("description")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .trim_end_matches('.')
            .to_string();
        p.insert(
            "description".into(),
            format!("{said}. {what}: {list}.").into(),
        );
    };
    add("host", "Hosts", &list);
    if !tags.is_empty() {
        add("tag", "Tags", &bounded_list(tags));
    }
    tool.input_schema = std::sync::Arc::new(schema);
}

/// The words an agent would search with for each tool.
fn search_hint(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "execute" => "run a shell command in the background as a job: build, test, script, bash",
        "wait" => "wait for a background job to finish, exit, or print a line",
        "output" => "read or grep a job's output log: stdout, stderr, lines",
        "tail" => "last lines of a job's output",
        "status" => "job state: running, exit code, done",
        "interact" => "send input to a job's stdin: answer a prompt, drive a REPL",
        "kill" => "stop or cancel a running job and its processes",
        "list" => "list background jobs",
        "clean" => "forget ended jobs, delete their logs",
        "check" => "would the policy allow this command",
        "hosts" => "list SSH hosts and machines to run on: state, OS, CPUs, load",
        _ => return None,
    })
}

pub fn add_search_hint(tool: &mut Tool) {
    if let Some(hint) = search_hint(&tool.name) {
        tool.meta
            .get_or_insert_with(|| MetaObject(Default::default()))
            .0
            .insert("anthropic/searchHint".into(), hint.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        std::iter::once("local".to_string())
            .chain((1..n).map(|i| format!("h{i}")))
            .collect()
    }

    #[test]
    fn only_local_adds_nothing() {
        assert_eq!(host_list(&names(1)), None);
        assert_eq!(instructions(&names(1), &[]), INSTRUCTIONS);
        assert!(INSTRUCTIONS.contains("`hosts`"));
    }

    #[test]
    fn a_few_hosts_are_all_named() {
        assert_eq!(host_list(&names(3)).as_deref(), Some("local, h1, h2"));
        assert!(instructions(&names(3), &[]).ends_with(
            "\nHosts: local, h1, h2. `execute` with `hosts: [..]` or `tag` runs on each at once."
        ));
    }

    #[test]
    fn tags_are_named_after_the_hosts_bounded() {
        let tags: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        let text = instructions(&names(3), &tags);
        assert!(
            text.ends_with(" Tags: t0, t1, t2, t3, t4, t5 … (44 more: see `hosts`)."),
            "{text}"
        );
    }

    #[test]
    fn many_hosts_and_long_names_are_bounded() {
        let list = host_list(&names(100)).unwrap_or_default();
        assert_eq!(list, "local, h1, h2, h3, h4, h5 … (94 more: see `hosts`)");
        let long = vec!["local".to_string(), "x".repeat(1000), "é".repeat(40)];
        let list = host_list(&long).unwrap_or_default();
        assert_eq!(
            list,
            format!("local, {}…, {}…", "x".repeat(32), "é".repeat(32))
        );
        let mut many_long = vec!["local".to_string()];
        many_long.extend((0..1000).map(|i| format!("{i}{}", "y".repeat(200))));
        let text = instructions(&many_long, &many_long);
        assert!(text.len() < INSTRUCTIONS.len() + 2 * (6 * 40 + 60) + 80);
    }
}
