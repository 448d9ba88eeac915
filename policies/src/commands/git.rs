//! git: global options are peeled off so that rules see the subcommand (`git -C repo push` is
//! a `git push`), and options and subcommands that run arbitrary programs are refused.

use super::{Expansion, Layer, Opaque};
use crate::shell::{Arg, Invocation};

/// `-c` keys that only change formatting or identity, never what git runs.
const SAFE_CONFIG_KEYS: &[&str] = &[
    "color.",
    "user.name",
    "user.email",
    "core.quotepath",
    "advice.",
    "init.defaultbranch",
    "safe.directory",
    "log.",
    "column.",
    "diff.renames",
    "diff.algorithm",
    "pull.rebase",
    "fetch.prune",
    "core.autocrlf",
    "core.abbrev",
    "core.safecrlf",
    "commit.gpgsign",
    "tag.gpgsign",
    "merge.conflictstyle",
    "status.",
    "push.default",
    "push.autosetupremote",
    "rebase.autosquash",
    "rerere.enabled",
    "gc.auto",
    "maintenance.auto",
    "feature.",
];

fn safe_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SAFE_CONFIG_KEYS.iter().any(|s| {
        if s.ends_with('.') {
            k.starts_with(s)
        } else {
            k == *s
        }
    })
}

pub(super) fn inspect(base: &str, layer: &mut Layer, out: &mut Expansion) {
    if base != "git" {
        return;
    }
    let args = std::mem::take(&mut layer.args);
    let mut i = 0;
    while i < args.len() {
        let Some(a) = args[i].lit() else {
            break;
        };
        match a {
            "-C" | "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix" => i += 2,
            "-c" | "--config-env" => {
                let kv = args.get(i + 1).and_then(Arg::lit).unwrap_or("");
                let key = kv.split('=').next().unwrap_or("");
                if a == "--config-env" || !safe_key(key) {
                    out.refusals.push(format!(
                        "git {a} {kv}: configuration on the command line can make git run programs \
(aliases, pagers, hooks, ssh commands)"
                    ));
                }
                i += 2;
            }
            a if a.starts_with("--config-env=") => {
                out.refusals
                    .push("git --config-env can make git run programs".into());
                i += 1;
            }
            a if a.starts_with("--exec-path=") => {
                out.refusals
                    .push("git --exec-path=DIR makes git run programs from DIR".into());
                i += 1;
            }
            a if a.starts_with("--git-dir=")
                || a.starts_with("--work-tree=")
                || a.starts_with("--namespace=") =>
            {
                i += 1
            }
            "-p"
            | "--paginate"
            | "-P"
            | "--no-pager"
            | "--bare"
            | "--no-replace-objects"
            | "--literal-pathspecs"
            | "--glob-pathspecs"
            | "--noglob-pathspecs"
            | "--icase-pathspecs"
            | "--no-optional-locks"
            | "--no-lazy-fetch"
            | "--no-advice" => i += 1,
            _ => break,
        }
    }
    layer.args = args[i.min(args.len())..].to_vec();
    let sub = layer
        .args
        .first()
        .and_then(Arg::lit)
        .unwrap_or("")
        .to_string();
    let rest: Vec<&str> = layer.args.iter().skip(1).filter_map(Arg::lit).collect();
    let has = |names: &[&str]| {
        rest.iter().any(|a| {
            names
                .iter()
                .any(|n| a == n || (n.starts_with("--") && a.starts_with(&format!("{n}="))))
        })
    };
    let opaque = |why: &str, flag: &str| Opaque {
        reason: format!("git {sub} {why}, which cannot be analysed"),
        needs: vec!["git".into(), sub.clone(), flag.into()],
    };
    match sub.as_str() {
        "rebase" => {
            if let Some(pos) = layer
                .args
                .iter()
                .position(|a| matches!(a.lit(), Some("--exec" | "-x")))
            {
                match layer.args.get(pos + 1) {
                    Some(Arg::Lit(cmd)) => out.nested.push(cmd.clone()),
                    _ => out
                        .refusals
                        .push("git rebase --exec with a command only known at run time".into()),
                }
            }
            if let Some(cmd) = rest.iter().find_map(|a| a.strip_prefix("--exec=")) {
                out.nested.push(cmd.to_string());
            }
        }
        "submodule" if rest.first() == Some(&"foreach") || rest.contains(&"foreach") => {
            match layer.args.last() {
                Some(Arg::Lit(cmd)) if cmd != "foreach" => out.nested.push(cmd.clone()),
                _ => out
                    .refusals
                    .push("git submodule foreach with a command only known at run time".into()),
            }
        }
        "bisect" if rest.first() == Some(&"run") => out.inner.push(Invocation {
            argv: layer.args[2..].to_vec(),
            assignments: Vec::new(),
        }),
        "filter-branch" | "filter-repo" | "instaweb" => {
            layer.opaque = Some(opaque("runs filters or programs given as text", &sub))
        }
        "difftool" | "mergetool" if has(&["-x", "--extcmd", "-t", "--tool"]) => {
            layer.opaque = Some(opaque("runs an external tool", "-x"));
        }
        "grep"
            if rest
                .iter()
                .any(|a| a.starts_with("-O") || a.starts_with("--open-files-in-pager")) =>
        {
            layer.opaque = Some(opaque("opens files with a pager command", "-O"));
        }
        "fetch" | "pull" | "clone" | "ls-remote" | "archive" | "push" | "remote"
            if has(&["--upload-pack", "--receive-pack", "--exec", "-u"]) =>
        {
            layer.opaque = Some(opaque(
                "runs a remote helper program of the caller's choosing",
                "--upload-pack",
            ));
        }
        "send-email" if has(&["--to-cmd", "--cc-cmd", "--smtp-server"]) => {
            layer.opaque = Some(opaque(
                "runs a command to find addresses or send mail",
                "--to-cmd",
            ));
        }
        "config" => {
            // Setting a key: `git config [scope] KEY VALUE`. Reading (`--get`, `-l`) is fine.
            let operands: Vec<&str> = rest
                .iter()
                .copied()
                .filter(|a| !a.starts_with('-'))
                .collect();
            let reading = has(&[
                "--get",
                "--get-all",
                "--get-regexp",
                "-l",
                "--list",
                "--unset",
                "--unset-all",
            ]);
            let key = if operands.first() == Some(&"set") {
                operands.get(1)
            } else {
                operands.first()
            };
            let setting = operands.len() >= 2 && !reading;
            if setting
                && let Some(key) = key
                && !safe_key(key)
            {
                out.refusals.push(format!(
                    "git config {key} ...: setting this key can make git run programs later"
                ));
            }
        }
        _ => {}
    }
}
