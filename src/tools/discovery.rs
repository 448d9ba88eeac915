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
- A policy may refuse commands: `check` says whether one would run, and why.";

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
