//! Shell builtins, allowed one by one with the uses known to be harmless. A builtin that can
//! run code (`eval`, `source`, `trap`), define names other commands resolve to (`alias`,
//! `hash -p`, `enable -f`), assign with attributes or subscripts (`declare -i`, `read 'a[...]'`,
//! `printf -v`), or evaluate arithmetic on variable contents (`let`, `test -v`) is refused;
//! the rest need no allow rule (a deny rule can still name them). Builtins not listed here are
//! programs as far as the rules go (`kill`, `ulimit`...): they need an allow rule.

use super::{Expansion, Step, no_split};
use crate::shell::{Arg, Invocation, vars};

/// Every bash builtin (and keyword-like builtin) name.
const BUILTINS: &[&str] = &[
    ":",
    ".",
    "[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// Builtins that run a string or file as shell code, or change what names mean.
const REFUSED: &[(&str, &str)] = &[
    ("eval", "runs a string as shell code"),
    ("source", "runs a file as shell code"),
    (".", "runs a file as shell code"),
    ("trap", "runs a string as shell code later"),
    ("let", "evaluates arithmetic on variable contents"),
    (
        "local",
        "assigns with attributes (and only works in functions, which are not modelled)",
    ),
    ("getopts", "assigns OPTIND and OPTARG"),
    ("mapfile", "assigns arrays (and -C runs code)"),
    ("readarray", "assigns arrays (and -C runs code)"),
    ("enable", "can load builtins from shared libraries"),
    ("bind", "can run shell code"),
    ("complete", "can run shell code"),
    ("compgen", "can run shell code"),
    ("compopt", "changes completion"),
    ("fc", "runs commands from the history"),
    ("history", "changes the history"),
    ("suspend", "stops the shell"),
    ("logout", "is for login shells"),
    ("caller", "is for functions"),
];

/// `shopt` options that only change globbing or matching. (Not `dotglob`, `nocaseglob`,
/// `globstar`: they change what a glob in a checked path matches; not `nullglob`: a glob that
/// vanishes moves the words after it; not `lastpipe`: it keeps a pipeline's last `cd`.)
const SAFE_SHOPT: &[&str] = &["failglob", "nocasematch", "inherit_errexit"];
/// Besides [`vars::SAFE_SET_OPTIONS`], job-control options the builtin may turn on.
const SAFE_SET_JOB_CONTROL: &[&str] = &["notify", "monitor"];

pub(super) fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// What a builtin use is: harmless (`Step::Builtin`), a program for the rules
/// (`Step::Builtin`), or a wrapper (`command`, `builtin`, `exec`); refusals go to `out`.
pub(super) fn step(name: &str, args: &[Arg], inv: &Invocation, out: &mut Expansion) -> Step {
    if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
        out.refuse(format!("the builtin `{name}` {why}, which is not modelled"));
        return Step::Builtin;
    }
    let lits: Vec<Option<&str>> = args.iter().map(Arg::lit).collect();
    let refuse = |out: &mut Expansion, why: String| {
        out.refuse(format!("`{name}`: {why}"));
        Step::Builtin
    };
    match name {
        "true" | "false" | ":" | "echo" | "pwd" | "dirs" | "times" | "help" | "type" | "bg"
        | "fg" | "disown" | "popd" | "unalias" => Step::Builtin,
        // `jobs -x COMMAND` runs the command.
        "jobs" => {
            if args.iter().any(|a| {
                a.lit()
                    .is_none_or(|s| s.starts_with('-') && s.contains('x'))
            }) {
                refuse(
                    out,
                    "-x runs a command (or a word only known at run time)".into(),
                )
            } else {
                Step::Builtin
            }
        }
        "cd" | "pushd" => {
            // A target only known at run time makes the directory unknown (see the walk),
            // and extra words only make `cd` fail.
            for a in args {
                if let Some(s) = a.lit()
                    && s.starts_with('-')
                    && !matches!(s, "-L" | "-P" | "--" | "-")
                {
                    return refuse(out, format!("option {s} is not modelled"));
                }
            }
            Step::Builtin
        }
        // `wait -p NAME` assigns NAME (PATH, HOME...).
        "wait"
            if args.iter().any(|a| {
                a.lit()
                    .is_none_or(|s| s.starts_with('-') && s.contains('p'))
            }) =>
        {
            refuse(out, "-p assigns a variable, which is not modelled".into())
        }
        "wait" | "exit" | "return" | "break" | "continue" | "shift" | "umask" => {
            // Numeric arguments: literal ones only (some of these evaluate arithmetic).
            for a in args {
                match a.lit() {
                    Some(s)
                        if s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-+=,%".contains(c)) => {}
                    Some("$!") => {}
                    _ if name == "wait"
                        && matches!(a, Arg::Dyn(d) if d.src == "$!" || d.src == "\"$!\"") => {}
                    _ => {
                        return refuse(
                            out,
                            format!(
                                "the argument {} is not a literal number or option",
                                a.display()
                            ),
                        );
                    }
                }
            }
            Step::Builtin
        }
        "printf" => {
            // Only the first word can be `-v`: the format, which must be one known word.
            if !no_split(&args[..args.len().min(1)], name, out) {
                return Step::Builtin;
            }
            match args.first() {
                Some(Arg::Lit(f)) if f == "-v" || (f.starts_with("-v") && f.len() > 2) => {
                    refuse(out, "-v assigns a variable, which is not modelled".into())
                }
                Some(Arg::Dyn(d)) if d.could_be_option() => {
                    refuse(out, format!("its format {} could be -v at run time", d.src))
                }
                Some(Arg::Lit(f)) if f == "--" => Step::Builtin,
                Some(Arg::Lit(f)) if f.starts_with('-') && f.len() > 1 => {
                    refuse(out, format!("option {f} is not modelled"))
                }
                _ => Step::Builtin,
            }
        }
        "test" | "[" => test(name, args, out),
        "read" => read(args, out),
        "export" | "readonly" | "declare" | "typeset" => declare(name, args, out),
        "unset" => {
            for a in args {
                match a.lit() {
                    Some("-v") => {}
                    Some("-f") | Some("-n") => {
                        return refuse(
                            out,
                            "functions and name references are not modelled".into(),
                        );
                    }
                    Some(n)
                        if vars::assignable(n).is_none()
                            && !crate::danger::dangerous_variable(n) =>
                    {
                        out.shell_assignments.push(n.to_string())
                    }
                    Some(n) => {
                        return refuse(
                            out,
                            vars::assignable(n).unwrap_or_else(|| format!("{n} is not modelled")),
                        );
                    }
                    None => {
                        return refuse(out, format!("{} is only known at run time", a.display()));
                    }
                }
            }
            Step::Builtin
        }
        "set" => {
            if !no_split(args, name, out) {
                return Step::Builtin;
            }
            let mut i = 0;
            while i < lits.len() {
                match lits[i] {
                    Some("--") | Some("-") => break,
                    Some("-o") | Some("+o") => {
                        match lits.get(i + 1).copied().flatten() {
                            None => {}
                            Some(o)
                                if vars::SAFE_SET_OPTIONS.contains(&o)
                                    || SAFE_SET_JOB_CONTROL.contains(&o) => {}
                            Some(o) => return refuse(out, format!("-o {o} is not modelled")),
                        }
                        i += 2;
                        continue;
                    }
                    Some(s) if s.starts_with('-') || s.starts_with('+') => {
                        if let Some(c) = s[1..].chars().find(|c| !"eEuxvfCTBbhmnp".contains(*c)) {
                            return refuse(out, format!("option -{c} is not modelled"));
                        }
                    }
                    // Positional parameters: plain words.
                    _ => break,
                }
                i += 1;
            }
            Step::Builtin
        }
        "shopt" => {
            let mut setting = false;
            for a in &lits {
                match a {
                    Some(f) if f.starts_with('-') && f.len() > 1 => {
                        for c in f[1..].chars() {
                            match c {
                                's' | 'u' => setting = true,
                                'p' | 'q' => {}
                                // `-o` reaches every `set -o` option.
                                other => {
                                    return refuse(out, format!("option -{other} is not modelled"));
                                }
                            }
                        }
                    }
                    Some(o) if !setting || SAFE_SHOPT.contains(o) => {}
                    Some(o) => return refuse(out, format!("shell option {o} is not modelled")),
                    None => return refuse(out, "an option only known at run time".into()),
                }
            }
            Step::Builtin
        }
        "hash" => {
            if lits
                .iter()
                .all(|a| matches!(a, Some("-r") | Some("-l") | Some("-t")))
            {
                Step::Builtin
            } else {
                refuse(out, "only hash -r, -l and -t are modelled".into())
            }
        }
        "alias" => {
            if args.is_empty() || lits == [Some("-p")] {
                Step::Builtin
            } else {
                refuse(out, "defining aliases is not modelled".into())
            }
        }
        "command" | "builtin" | "exec" => wrapper(name, args, inv, out),
        // kill, ulimit: programs as far as the rules go.
        _ => Step::Program,
    }
}

/// `command`, `builtin` and `exec` run the next word (as a builtin or program).
fn wrapper(name: &str, args: &[Arg], inv: &Invocation, out: &mut Expansion) -> Step {
    let _ = inv;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.lit() {
            Some("--") => {
                i += 1;
                break;
            }
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                let letters = &s[1..];
                match name {
                    "command" if letters.chars().all(|c| "pvV".contains(c)) => {
                        if letters.contains(['v', 'V']) {
                            // A look-up: runs nothing.
                            return Step::Builtin;
                        }
                    }
                    // `exec -c` clears the environment the server sets for jobs.
                    "exec" if letters == "l" => {}
                    "exec" if letters == "a" => i += 1,
                    _ => {
                        out.refuse(format!("`{name}`: option {s} is not modelled"));
                        return Step::Builtin;
                    }
                }
            }
            None => {
                out.refuse(format!(
                    "`{name}`: the word {} is only known at run time",
                    a.display()
                ));
                return Step::Builtin;
            }
            _ => break,
        }
        i += 1;
    }
    if name == "builtin"
        && let Some(Arg::Lit(b)) = args.get(i)
        && !is_builtin(b)
    {
        out.refuse(format!("`builtin {b}`: {b} is not a builtin"));
        return Step::Builtin;
    }
    match args.get(i..) {
        Some(rest) if !rest.is_empty() => Step::Wrap {
            inner: Some(rest.to_vec()),
            role: super::Role::Builtin,
        },
        // `exec` with only redirections applies them to the shell: they are judged as such.
        _ => Step::Builtin,
    }
}

/// `test` / `[`: string and file tests, and integer comparisons of literal numbers. Operators
/// must be literal and every run-time word one whole operand, so that nothing can become
/// `-v NAME[SUBSCRIPT]`, which evaluates the subscript.
fn test(name: &str, args: &[Arg], out: &mut Expansion) -> Step {
    let mut words: &[Arg] = args;
    if name == "[" {
        match words.split_last() {
            Some((Arg::Lit(l), rest)) if l == "]" => words = rest,
            _ => {
                out.refuse("`[` without a closing `]`".to_string());
                return Step::Builtin;
            }
        }
    }
    if !no_split(words, name, out) {
        return Step::Builtin;
    }
    const UNARY: &[&str] = &[
        "-a", "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s", "-t", "-u", "-w",
        "-x", "-G", "-L", "-N", "-O", "-S", "-z", "-n", "-o",
    ];
    const BINARY: &[&str] = &[
        "=", "==", "!=", "<", ">", "-nt", "-ot", "-ef", "-eq", "-ne", "-lt", "-le", "-gt", "-ge",
    ];
    for (i, w) in words.iter().enumerate() {
        match w {
            Arg::Lit(s) if s == "-v" || s == "-R" => {
                out.refuse(format!(
                    "`{name} {s}` is not modelled (a subscript in the name is evaluated as arithmetic)"
                ));
                return Step::Builtin;
            }
            Arg::Lit(_) => {}
            Arg::Dyn(d) => {
                let prev = i.checked_sub(1).and_then(|j| words[j].lit());
                let next = words.get(i + 1).and_then(Arg::lit);
                let operand = prev.is_some_and(|p| UNARY.contains(&p) || BINARY.contains(&p))
                    || next.is_some_and(|n| BINARY.contains(&n));
                if !operand {
                    out.refuse(format!(
                        "`{name}`: the word {} is only known at run time and could be an operator",
                        d.src
                    ));
                    return Step::Builtin;
                }
            }
        }
    }
    Step::Builtin
}

/// `read` into plain names only.
fn read(args: &[Arg], out: &mut Expansion) -> Step {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(s) = a.lit() else {
            out.refuse(format!(
                "`read`: the word {} is only known at run time",
                a.display()
            ));
            return Step::Builtin;
        };
        if s == "--" {
            i += 1;
            break;
        }
        if !s.starts_with('-') || s.len() < 2 {
            break;
        }
        let letters: Vec<char> = s[1..].chars().collect();
        for (k, c) in letters.iter().enumerate() {
            match c {
                'r' | 's' => {}
                'p' | 'd' | 't' | 'n' | 'N' | 'u' | 'i' => {
                    if k + 1 == letters.len() {
                        i += 1;
                    }
                    break;
                }
                'a' => {
                    out.refuse("`read -a` assigns an array, which is not modelled".to_string());
                    return Step::Builtin;
                }
                other => {
                    out.refuse(format!("`read`: option -{other} is not modelled"));
                    return Step::Builtin;
                }
            }
        }
        i += 1;
    }
    for a in args.get(i..).unwrap_or(&[]) {
        match a.lit() {
            Some(n) => match vars::assignable(n) {
                None => out.shell_assignments.push(n.to_string()),
                Some(why) => {
                    out.refuse(format!("`read {n}`: {why}"));
                    return Step::Builtin;
                }
            },
            None => {
                out.refuse(format!(
                    "`read`: the variable name {} is only known at run time",
                    a.display()
                ));
                return Step::Builtin;
            }
        }
    }
    Step::Builtin
}

/// `export`, `readonly`, `declare`, `typeset`: plain names and values, no attributes but
/// export and read-only.
fn declare(name: &str, args: &[Arg], out: &mut Expansion) -> Step {
    let mut exporting = name == "export";
    let mut printing = false;
    for a in args {
        let s = match a {
            Arg::Lit(s) => s.as_str(),
            // `NAME=$(...)`: the name is literal, only the value is known at run time (and
            // bash does not split the words of a declaration's assignments).
            Arg::Dyn(d) if literal_name_prefix(&d.src).is_some() => {
                let var = literal_name_prefix(&d.src).unwrap_or_default();
                if let Some(why) = vars::assignable(var) {
                    out.refuse(format!("`{name} {}`: {why}", d.src));
                    return Step::Builtin;
                }
                if exporting {
                    out.assignments.push((var.to_string(), a.clone()));
                }
                out.shell_assignments.push(var.to_string());
                continue;
            }
            Arg::Dyn(d) => {
                out.refuse(format!(
                    "`{name}`: the word {} is only known at run time (it could name any variable or attribute)",
                    d.src
                ));
                return Step::Builtin;
            }
        };
        if let Some(flags) = s.strip_prefix('-').filter(|f| !f.is_empty()) {
            for c in flags.chars() {
                match c {
                    'p' => printing = true,
                    'x' => exporting = true,
                    'r' | 'g' => {}
                    other => {
                        out.refuse(format!(
                            "`{name} -{other}`: attributes other than export and read-only are not modelled"
                        ));
                        return Step::Builtin;
                    }
                }
            }
            continue;
        }
        if s == "--" {
            continue;
        }
        let (var, value) = match s.split_once('=') {
            Some((n, v)) => (n.strip_suffix('+').unwrap_or(n), Some(v)),
            None => (s, None),
        };
        if let Some(why) = vars::assignable(var) {
            if printing && value.is_none() {
                continue;
            }
            out.refuse(format!("`{name} {s}`: {why}"));
            return Step::Builtin;
        }
        if value.is_some_and(|v| v.starts_with('(')) {
            out.refuse(format!("`{name} {s}`: arrays are not modelled"));
            return Step::Builtin;
        }
        if exporting {
            out.assignments.push((
                var.to_string(),
                value.map_or_else(|| Arg::unknown(format!("${var}")), |v| Arg::Lit(v.into())),
            ));
        }
        out.shell_assignments.push(var.to_string());
    }
    Step::Builtin
}

/// `NAME` of a word written `NAME=...` or `NAME+=...` (the name unquoted and literal).
fn literal_name_prefix(src: &str) -> Option<&str> {
    let end = src.find('=')?;
    let name = src[..end].strip_suffix('+').unwrap_or(&src[..end]);
    vars::is_name(name).then_some(name)
}
