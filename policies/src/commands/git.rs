//! git: global options are read by git's own table (so rules see the subcommand: `git -C repo
//! push` is a `git push`), subcommand options are canonicalised as git's parse-options reads
//! them (unambiguous prefixes of long options, clustered short options: `git push -qf` is
//! `git push -q -f`, `git reset --har` is `git reset --hard`), and options and subcommands that
//! run programs or write files are found.

use super::{Expansion, Layer, Opaque, Step};
use crate::shell::{Arg, Invocation};

/// `-c` keys that only change formatting or identity, never what git runs.
const SAFE_CONFIG_KEYS: &[&str] = &[
    "color.",
    "user.name",
    "user.email",
    "core.quotepath",
    "advice.",
    "init.defaultbranch",
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
    "safe.directory",
];

fn safe_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // `color.pager`... no key under these sections names a program, except these.
    if k.contains("pager") || k.contains("cmd") || k.contains("command") || k.contains("program") {
        return false;
    }
    SAFE_CONFIG_KEYS.iter().any(|s| {
        if s.ends_with('.') {
            k.starts_with(s)
        } else {
            k == *s
        }
    })
}

/// Long options of subcommands whose options the presets and rules care about: an abbreviated
/// option is rewritten to its full name; an unknown one is refused.
const SUBCOMMAND_LONG: &[(&str, &[&str])] = &[
    (
        "push",
        &[
            "verbose",
            "quiet",
            "repo",
            "all",
            "branches",
            "mirror",
            "delete",
            "tags",
            "dry-run",
            "porcelain",
            "force",
            "force-with-lease",
            "no-force-with-lease",
            "force-if-includes",
            "no-force-if-includes",
            "recurse-submodules",
            "no-recurse-submodules",
            "thin",
            "no-thin",
            "receive-pack",
            "exec",
            "set-upstream",
            "progress",
            "no-progress",
            "prune",
            "no-verify",
            "verify",
            "follow-tags",
            "no-follow-tags",
            "signed",
            "no-signed",
            "atomic",
            "no-atomic",
            "push-option",
            "ipv4",
            "ipv6",
        ],
    ),
    (
        "reset",
        &[
            "quiet",
            "no-quiet",
            "refresh",
            "no-refresh",
            "mixed",
            "soft",
            "hard",
            "merge",
            "keep",
            "recurse-submodules",
            "no-recurse-submodules",
            "patch",
            "intent-to-add",
            "pathspec-from-file",
            "pathspec-file-nul",
        ],
    ),
    (
        "clean",
        &["dry-run", "force", "interactive", "quiet", "exclude"],
    ),
    (
        "branch",
        &[
            "verbose",
            "quiet",
            "track",
            "no-track",
            "set-upstream-to",
            "unset-upstream",
            "color",
            "no-color",
            "remotes",
            "contains",
            "no-contains",
            "abbrev",
            "no-abbrev",
            "all",
            "delete",
            "move",
            "copy",
            "list",
            "show-current",
            "create-reflog",
            "edit-description",
            "force",
            "merged",
            "no-merged",
            "column",
            "no-column",
            "sort",
            "points-at",
            "ignore-case",
            "recurse-submodules",
            "format",
        ],
    ),
    (
        "tag",
        &[
            "list",
            "delete",
            "verify",
            "annotate",
            "sign",
            "no-sign",
            "local-user",
            "force",
            "message",
            "file",
            "trailer",
            "cleanup",
            "create-reflog",
            "column",
            "no-column",
            "contains",
            "no-contains",
            "merged",
            "no-merged",
            "sort",
            "points-at",
            "format",
            "color",
            "ignore-case",
            "omit-empty",
        ],
    ),
    (
        "checkout",
        &[
            "quiet",
            "progress",
            "no-progress",
            "force",
            "ours",
            "theirs",
            "track",
            "no-track",
            "guess",
            "no-guess",
            "detach",
            "orphan",
            "ignore-skip-worktree-bits",
            "merge",
            "conflict",
            "patch",
            "ignore-other-worktrees",
            "overwrite-ignore",
            "no-overwrite-ignore",
            "recurse-submodules",
            "no-recurse-submodules",
            "overlay",
            "no-overlay",
            "pathspec-from-file",
            "pathspec-file-nul",
        ],
    ),
];

/// Subcommand short options that take a value (so that a cluster is not split through it).
fn valued_shorts(sub: &str) -> &'static str {
    match sub {
        "push" => "o",
        "clean" => "e",
        "branch" => "tu",
        "tag" => "umFn",
        "checkout" => "bB",
        "commit" => "mFcCt",
        _ => "",
    }
}

fn canonical_long(sub: &str, word: &str, out: &mut Expansion) -> Option<String> {
    let (_, table) = SUBCOMMAND_LONG.iter().find(|(s, _)| *s == sub)?;
    let body = word.strip_prefix("--")?;
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    if name.is_empty() {
        return None;
    }
    let full = if table.contains(&name) {
        name.to_string()
    } else {
        let cands: Vec<&&str> = table.iter().filter(|t| t.starts_with(name)).collect();
        match cands.as_slice() {
            [one] => one.to_string(),
            [] => {
                out.refuse(format!(
                    "git {sub}: option --{name} is not one the policy models"
                ));
                return None;
            }
            _ => {
                out.refuse(format!("git {sub}: option --{name} is ambiguous"));
                return None;
            }
        }
    };
    Some(match value {
        Some(v) => format!("--{full}={v}"),
        None => format!("--{full}"),
    })
}

/// Whether any argument is (an abbreviation of) one of the long `names`, or a short option
/// cluster containing one of the short `letters`.
fn mentions(args: &[&str], names: &[&str], letters: &str) -> bool {
    args.iter().any(|a| {
        if let Some(long) = a.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            !name.is_empty() && names.iter().any(|n| n.starts_with(name) && name.len() >= 2)
        } else if let Some(short) = a.strip_prefix('-') {
            short.chars().any(|c| letters.contains(c))
        } else {
            false
        }
    })
}

/// The subcommands the engine models (porcelain an agent uses); others are refused.
const GIT_MODELLED: &[&str] = &[
    "add",
    "am",
    "apply",
    "archive",
    "bisect",
    "blame",
    "branch",
    "bundle",
    "cat-file",
    "checkout",
    "checkout-index",
    "cherry",
    "cherry-pick",
    "clean",
    "clone",
    "commit",
    "config",
    "count-objects",
    "describe",
    "diff",
    "diff-files",
    "diff-index",
    "diff-tree",
    "fetch",
    "for-each-ref",
    "format-patch",
    "fsck",
    "gc",
    "grep",
    "init",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "merge",
    "merge-base",
    "merge-file",
    "mailinfo",
    "mv",
    "name-rev",
    "notes",
    "prune",
    "pull",
    "push",
    "range-diff",
    "read-tree",
    "rebase",
    "reflog",
    "remote",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "shortlog",
    "show",
    "show-branch",
    "show-ref",
    "stash",
    "status",
    "submodule",
    "switch",
    "tag",
    "update-index",
    "update-ref",
    "var",
    "verify-commit",
    "verify-tag",
    "version",
    "whatchanged",
    "worktree",
    "hash-object",
    "write-tree",
    "commit-tree",
    "symbolic-ref",
    "check-ignore",
    "check-attr",
    "check-ref-format",
    "column",
    "sparse-checkout",
    "filter-branch",
    "filter-repo",
    "instaweb",
    "daemon",
    "shell",
    "upload-pack",
    "receive-pack",
    "send-pack",
    "fetch-pack",
    "difftool",
    "mergetool",
    "send-email",
    "credential",
    "p4",
    "svn",
];

/// Long options that take the next word as their value (so a run-time word after them is a
/// value, not an option).
const VALUED_LONG: &[&str] = &[
    "--message",
    "--author",
    "--date",
    "--grep",
    "--since",
    "--until",
    "--after",
    "--before",
    "--format",
    "--pretty",
    "--branch",
    "--depth",
    "--reuse-message",
    "--reedit-message",
    "--fixup",
    "--squash",
    "--trailer",
    "--cleanup",
    "--committer",
    "--max-count",
    "--skip",
    "--origin",
    "--jobs",
    "--shallow-since",
    "--base",
    "--onto",
];

/// Options whose value names a program, a file written, or another repository.
const RISKY_OPTIONS: &[&str] = &[
    "output",
    "upload-pack",
    "receive-pack",
    "exec",
    "open-files-in-pager",
    "ext-diff",
    "textconv",
    "config-env",
    "git-dir",
    "work-tree",
    "template",
    "extcmd",
    "tool",
    "to-cmd",
    "cc-cmd",
    "sendmail-cmd",
    "smtp-server",
    "run",
    "file",
    "edit",
    "pager",
];

/// Whether a run-time word written `--NAME=...` names a known, harmless option.
fn known_option(prefix: &str, may_split: bool) -> bool {
    let Some(body) = prefix.strip_prefix("--") else {
        return false;
    };
    let Some((name, _)) = body.split_once('=') else {
        return false;
    };
    !may_split
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !RISKY_OPTIONS.iter().any(|r| r.starts_with(name))
}

pub(super) fn step(
    base: &str,
    layer: &mut Layer,
    inv: &Invocation,
    out: &mut Expansion,
) -> Option<Step> {
    if base != "git" {
        return None;
    }
    let args = std::mem::take(&mut layer.args);
    let mut moved = false;
    let mut i = 0;
    while i < args.len() {
        let a = match &args[i] {
            Arg::Lit(a) => a.as_str(),
            Arg::Dyn(d) => {
                if d.could_be_option() {
                    out.refuse(format!(
                        "git: the word {} is only known at run time and could be an option or the subcommand",
                        d.src
                    ));
                }
                break;
            }
        };
        match a {
            "--git-dir" | "--work-tree" => {
                out.refuse(format!(
                    "git {a}: a repository named elsewhere is not protected (its config can run programs)"
                ));
                i += 2;
            }
            "-C" => {
                moved = true;
                match args.get(i + 1) {
                    Some(Arg::Lit(d)) => out.runs_in.push(d.clone()),
                    _ => out.refuse("git -C with a directory only known at run time"),
                }
                i += 2;
            }
            "--namespace" => i += 2,
            "-c" => {
                let kv = args.get(i + 1).and_then(Arg::lit).unwrap_or("");
                let key = kv.split('=').next().unwrap_or("");
                if !safe_key(key) {
                    out.refuse(format!(
                        "git -c {kv}: configuration on the command line can make git run programs \
(aliases, pagers, hooks, ssh commands)"
                    ));
                }
                i += 2;
            }
            a if a.starts_with("--config-env") => {
                out.refuse("git --config-env can make git run programs");
                i += 1;
            }
            a if a.starts_with("--exec-path") => {
                if a.contains('=') {
                    out.refuse("git --exec-path=DIR makes git run programs from DIR");
                }
                i += 1;
            }
            a if a.starts_with("--git-dir=") || a.starts_with("--work-tree=") => {
                out.refuse(format!(
                    "git {a}: a repository named elsewhere is not protected (its config can run programs)"
                ));
                i += 1;
            }
            a if a.starts_with("--namespace=") => i += 1,
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
            | "--no-advice"
            | "--version"
            | "--help"
            | "-h"
            | "--html-path"
            | "--man-path"
            | "--info-path" => i += 1,
            a if a.starts_with('-') => {
                out.refuse(format!(
                    "git: global option {a} is not one the policy models"
                ));
                i += 1;
            }
            _ => break,
        }
    }
    let mut rest: Vec<Arg> = args[i.min(args.len())..].to_vec();
    let sub = rest.first().and_then(Arg::lit).unwrap_or("").to_string();
    // Canonical spelling of the subcommand's options.
    let valued = valued_shorts(&sub);
    let mut canon: Vec<Arg> = Vec::with_capacity(rest.len());
    let mut options_done = false;
    for (k, a) in rest.iter().enumerate() {
        match a.lit() {
            Some(_) if k == 0 => canon.push(a.clone()),
            Some("--") => {
                options_done = true;
                canon.push(a.clone());
            }
            Some(w) if !options_done && w.starts_with("--") => match canonical_long(&sub, w, out) {
                Some(c) => canon.push(Arg::Lit(c)),
                None => canon.push(a.clone()),
            },
            Some(w)
                if !options_done
                    && w.len() > 2
                    && w.starts_with('-')
                    && w[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && !w[1..w.len() - 1].chars().any(|c| valued.contains(c))
                    && SUBCOMMAND_LONG.iter().any(|(s, _)| *s == sub) =>
            {
                for c in w[1..].chars() {
                    canon.push(Arg::Lit(format!("-{c}")));
                }
            }
            _ => canon.push(a.clone()),
        }
    }
    rest = canon;
    let mut dashes = false;
    for (k, a) in rest.iter().enumerate().skip(1) {
        // The value of the option before it (`-m "$(...)"`).
        let value_of_option = !matches!(a, Arg::Dyn(d) if d.may_split)
            && rest[k - 1].lit().is_some_and(|p| {
                VALUED_LONG.contains(&p)
                    || (p.starts_with('-')
                        && !p.starts_with("--")
                        && p.len() > 1
                        && p.ends_with(|c: char| valued.contains(c)))
            });
        match a {
            Arg::Lit(s) if s == "--" => dashes = true,
            // `--author="$(...)"`: the option is known, only its value is not.
            Arg::Dyn(d)
                if !dashes
                    && !value_of_option
                    && d.could_be_option()
                    && !known_option(&d.prefix, d.may_split) =>
            {
                out.refuse(format!(
                    "git {sub}: the word {} is only known at run time and could be an option \
(--output=, --upload-pack=...); put it after `--`",
                    d.src
                ));
            }
            _ => {}
        }
    }
    layer.args = rest;
    // After `git -C DIR`, relative output paths are relative to DIR.
    let write_inv = if moved {
        let mut w = inv.clone();
        w.cwd = Cwd::Unknown;
        w
    } else {
        inv.clone()
    };
    let inv = &write_inv;
    let lits: Vec<&str> = layer.args.iter().skip(1).filter_map(Arg::lit).collect();
    if !sub.is_empty() && !GIT_MODELLED.contains(&sub.as_str()) && !sub.starts_with('-') {
        out.refuse(format!(
            "git {sub} is not a subcommand the policy models (plumbing and helpers can write \
anywhere or run programs)"
        ));
    }
    // A remote helper (`foo::url`) is a program looked up on PATH.
    if lits.iter().any(|a| a.contains("::")) {
        out.refuse(format!(
            "git {sub}: a `helper::address` remote runs a helper program"
        ));
    }
    if mentions(&lits, &["gpg-sign"], "")
        || (matches!(
            sub.as_str(),
            "commit" | "merge" | "rebase" | "cherry-pick" | "revert" | "am"
        ) && lits.iter().any(|a| a.starts_with("-S")))
    {
        out.refuse(format!("git {sub} -S runs gpg"));
    }
    let opaque = |why: &str, flag: &str| Opaque {
        reason: format!("git {sub} {why}, which cannot be analysed"),
        needs: vec!["git".into(), sub.clone(), flag.into()],
    };
    // Options that write a file.
    for (k, a) in layer.args.iter().enumerate() {
        if let Some(w) = a.lit()
            && (w.starts_with("--output=") || w == "--output" || w == "-o" && sub == "archive")
        {
            let target = match w.split_once('=') {
                Some((_, v)) => Some(Arg::Lit(v.to_string())),
                None => layer.args.get(k + 1).cloned(),
            };
            if let Some(t) = target {
                out.write(inv, &format!("git {sub} --output"), t);
            }
        }
    }
    git_writes(&sub, &layer.args, inv, out);
    if matches!(
        sub.as_str(),
        "apply"
            | "am"
            | "checkout"
            | "switch"
            | "restore"
            | "reset"
            | "stash"
            | "merge"
            | "pull"
            | "cherry-pick"
            | "revert"
            | "rebase"
            | "clone"
            | "read-tree"
            | "checkout-index"
            | "worktree"
            | "submodule"
            | "sparse-checkout"
            | "bisect"
    ) {
        out.creates_files = true;
    }
    if mentions(&lits, &["ext-diff", "textconv"], "")
        && !mentions(&lits, &["no-ext-diff", "no-textconv"], "")
    {
        layer.opaque = Some(opaque(
            "runs external diff or text-conversion programs",
            "--ext-diff",
        ));
    }
    match sub.as_str() {
        "rebase" => {
            // `-x CMD`, `-xCMD`, `-qx CMD`, `--exec CMD`, `--exec=CMD`, `--exe=CMD`...
            let mut k = 1;
            while k < layer.args.len() {
                let value = match layer.args[k].lit() {
                    Some(w) if w.starts_with("--") => {
                        let (name, v) = match w.split_once('=') {
                            Some((n, v)) => (n, Some(v.to_string())),
                            None => (w, None),
                        };
                        if name.len() > 3 && "--exec".starts_with(name) {
                            Some(v.or_else(|| {
                                k += 1;
                                layer.args.get(k).and_then(Arg::lit).map(str::to_string)
                            }))
                        } else {
                            None
                        }
                    }
                    Some(w) if w.starts_with('-') && w[1..].contains('x') => {
                        let rest = &w[w.find('x').map_or(w.len(), |x| x + 1)..];
                        Some(if rest.is_empty() {
                            k += 1;
                            layer.args.get(k).and_then(Arg::lit).map(str::to_string)
                        } else {
                            Some(rest.to_string())
                        })
                    }
                    _ => None,
                };
                match value {
                    Some(Some(cmd)) => out.nested.push((cmd, inv.cwd.clone())),
                    Some(None) => {
                        out.refuse("git rebase --exec with a command only known at run time")
                    }
                    None => {}
                }
                k += 1;
            }
        }
        "submodule" if lits.contains(&"foreach") => {
            // `foreach [--recursive] [--quiet] COMMAND...`: the words are joined and run by sh.
            let at = layer
                .args
                .iter()
                .position(|a| a.lit() == Some("foreach"))
                .unwrap_or(0);
            let mut words = &layer.args[at + 1..];
            while let Some(Arg::Lit(o)) = words.first()
                && o.starts_with('-')
            {
                words = &words[1..];
            }
            match super::wrappers::join(words) {
                Arg::Lit(cmd) if !cmd.is_empty() => out.nested.push((cmd, Cwd::Unknown)),
                _ => out.refuse("git submodule foreach with a command only known at run time"),
            }
        }
        "bisect" if lits.first() == Some(&"run") => {
            out.inner.push(inv.derived(layer.args[2..].to_vec()));
        }
        "filter-branch" | "filter-repo" | "instaweb" | "daemon" | "shell" | "upload-pack"
        | "receive-pack" | "credential" | "web--browse" | "p4" | "svn" | "cvsimport"
        | "cvsexportcommit" | "cvsserver" | "quiltimport" | "remote-ext" => {
            layer.opaque = Some(opaque("runs programs or hooks given as text", &sub))
        }
        "difftool" | "mergetool" => {
            layer.opaque = Some(opaque("runs an external tool", &sub));
        }
        "grep" if mentions(&lits, &["open-files-in-pager"], "O") => {
            layer.opaque = Some(opaque("opens files with a pager command", "-O"));
        }
        "fetch" | "pull" | "clone" | "ls-remote" | "archive" | "push" | "remote" | "send-pack"
        | "fetch-pack" | "submodule"
            if mentions(
                &lits,
                &["upload-pack", "receive-pack", "exec", "remote-exec"],
                if matches!(sub.as_str(), "clone" | "fetch" | "pull" | "ls-remote") {
                    "u"
                } else {
                    ""
                },
            ) || (sub == "send-pack" || sub == "fetch-pack") =>
        {
            layer.opaque = Some(opaque(
                "runs a remote helper program of the caller's choosing",
                "--upload-pack",
            ));
        }
        "send-email" => {
            layer.opaque = Some(opaque(
                "runs commands to find addresses or send mail",
                "send-email",
            ));
        }
        // Pushing to a repository on this machine runs its hooks.
        "push" | "remote"
            if lits.iter().any(|a| {
                !a.starts_with('-')
                    && (a.starts_with('.')
                        || a.starts_with('/')
                        || a.starts_with('~')
                        || a.starts_with("file:"))
            }) =>
        {
            out.refuse(format!(
                "git {sub} to a repository on this machine runs that repository's hooks"
            ));
        }
        "config" if mentions(&lits, &["global", "system", "worktree"], "") => {
            out.refuse("git config --global/--system/--worktree is not modelled");
        }
        "apply" if mentions(&lits, &["unsafe-paths"], "") => {
            out.refuse("git apply --unsafe-paths writes outside the work tree");
        }
        "commit" | "tag"
            if !mentions(
                &lits,
                &[
                    "message",
                    "file",
                    "reuse-message",
                    "no-edit",
                    "fixup",
                    "list",
                    "delete",
                ],
                "mFCld",
            ) && (sub == "commit" || mentions(&lits, &["annotate", "sign"], "as")) =>
        {
            layer.opaque = Some(opaque("opens an editor for the message", "--edit"));
        }
        "init" | "clone"
            if mentions(
                &lits,
                &["bare", "separate-git-dir", "template", "mirror"],
                "",
            ) =>
        {
            out.refuse(format!(
                "git {sub} --bare/--separate-git-dir/--template makes a repository outside `.git`, which is not protected"
            ));
        }
        "clone" | "submodule" if mentions(&lits, &["config"], "c") => {
            for kv in layer
                .args
                .windows(2)
                .filter(|w| matches!(w[0].lit(), Some("-c" | "--config")))
                .map(|w| w[1].lit().unwrap_or(""))
            {
                if !safe_key(kv.split('=').next().unwrap_or("")) {
                    out.refuse(format!(
                        "git {sub} --config {kv}: this key can make git run programs"
                    ));
                }
            }
            if lits
                .iter()
                .any(|a| a.starts_with("--config=") || a.starts_with("-c") && a.len() > 2)
            {
                out.refuse(format!(
                    "git {sub}: attached --config values are not modelled"
                ));
            }
        }
        "config" => {
            let operands: Vec<&str> = lits
                .iter()
                .copied()
                .filter(|a| !a.starts_with('-'))
                .collect();
            let reading = mentions(
                &lits,
                &[
                    "get",
                    "get-all",
                    "get-regexp",
                    "list",
                    "unset",
                    "unset-all",
                    "get-urlmatch",
                    "show-origin",
                    "show-scope",
                ],
                "l",
            ) || operands
                .first()
                .is_some_and(|o| matches!(*o, "get" | "list"));
            let key = if operands.first() == Some(&"set") {
                operands.get(1)
            } else {
                operands.first()
            };
            let setting = operands.len() >= 2 && !reading;
            if mentions(&lits, &["file", "blob", "edit"], "fe") || operands.first() == Some(&"edit")
            {
                out.refuse("git config --file/--edit is not modelled");
            }
            if setting
                && let Some(key) = key
                && !safe_key(key)
            {
                out.refuse(format!(
                    "git config {key} ...: setting this key can make git run programs later"
                ));
            }
        }
        "commit" | "merge" | "am" | "revert" | "cherry-pick" | "pull" | "tag"
            if mentions(&lits, &["edit"], "e") =>
        {
            layer.opaque = Some(opaque("opens an editor", "--edit"));
        }
        _ => {}
    }
    Some(Step::Program)
}

use crate::shell::Cwd;

/// Files and directories git subcommands write where their options or operands say.
fn git_writes(sub: &str, args: &[Arg], inv: &Invocation, out: &mut Expansion) {
    let operands: Vec<&Arg> = args
        .iter()
        .skip(1)
        .filter(|a| a.lit().is_none_or(|s| !s.starts_with('-')))
        .collect();
    match sub {
        "checkout-index" => {
            // The prefix is prepended as text: `--prefix=.g` and `it/hooks/x` make `.git/...`.
            for a in args.iter().filter_map(Arg::lit) {
                if let Some(p) = a.strip_prefix("--prefix=")
                    && !p.ends_with('/')
                {
                    out.refuse(format!(
                        "git checkout-index --prefix={p}: a prefix that is not a directory is not modelled"
                    ));
                }
            }
            option_writes(sub, args, inv, out, &["--prefix"], None)
        }
        "merge-file" | "mailinfo" => {
            // merge-file writes its first file; mailinfo writes both.
            let n = if sub == "merge-file" { 1 } else { 2 };
            for f in operands.iter().take(n) {
                out.write(inv, &format!("git {sub}"), (*f).clone());
            }
        }
        "apply" => option_writes(sub, args, inv, out, &["--directory"], None),
        "format-patch" => option_writes(sub, args, inv, out, &["--output-directory"], Some("-o")),
        "clone" if operands.len() >= 2 => {
            if let Some(d) = operands.last() {
                out.write(inv, "git clone", (*d).clone());
            }
        }
        "init" => {
            if let Some(d) = operands.first() {
                out.write(inv, "git init", (*d).clone());
            }
        }
        "worktree" | "bundle" if operands.len() >= 2 => {
            // `worktree add PATH`, `bundle create FILE`.
            if matches!(operands[0].lit(), Some("add" | "create" | "move")) {
                out.write(inv, &format!("git {sub}"), operands[1].clone());
            }
        }
        "mv" => {
            for f in &operands {
                out.write(inv, "git mv", (*f).clone());
            }
        }
        "submodule" if operands.first().and_then(|o| o.lit()) == Some("add") => {
            if let Some(d) = operands.last() {
                out.write(inv, "git submodule add", (*d).clone());
            }
        }
        _ => {}
    }
}

/// Writes named by `--NAME=VALUE`, `--NAME VALUE`, `-X VALUE` or `-XVALUE`.
fn option_writes(
    sub: &str,
    args: &[Arg],
    inv: &Invocation,
    out: &mut Expansion,
    names: &[&str],
    short: Option<&str>,
) {
    for (k, a) in args.iter().enumerate() {
        let Some(w) = a.lit() else { continue };
        for n in names {
            if let Some(v) = w.strip_prefix(&format!("{n}=")) {
                out.write(inv, &format!("git {sub} {n}"), Arg::Lit(v.to_string()));
            } else if w == *n || short == Some(w) {
                if let Some(v) = args.get(k + 1) {
                    out.write(inv, &format!("git {sub} {n}"), v.clone());
                }
            } else if let Some(s) = short
                && w.len() > s.len()
                && w.starts_with(s)
                && !w.starts_with("--")
            {
                out.write(
                    inv,
                    &format!("git {sub} {s}"),
                    Arg::Lit(w[s.len()..].to_string()),
                );
            }
        }
    }
}
