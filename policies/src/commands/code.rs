//! Programs that run code given to them as text: interpreters with inline code or code from
//! their input, awk programs that call out, tools with options that run a command. What they
//! run cannot be seen by the policy, so such a layer is *opaque*: it runs only if an allow rule
//! names it explicitly, flag included (`allow = ["python3 -c"]`). Reading code from input is
//! named with `-` (`allow = ["python3 -"]`).

use super::getopt::{self, Spec, Val};
use super::{Expansion, Layer, Opaque, Step, sed};
use crate::shell::{Arg, Invocation};

/// A script operand that is really the program's input or a pipe (`/dev/stdin`, `/dev/fd/0`,
/// `/proc/self/fd/0`, `<(...)`): code from input, like `-`.
fn from_input(a: &Arg) -> bool {
    match a {
        Arg::Lit(s) => s == "-" || s.starts_with("/dev/") || s.starts_with("/proc/"),
        Arg::Dyn(d) => d.src.starts_with("<(") || d.src.starts_with(">("),
    }
}

/// Refines an interpreter's verdict: a script that is its input is code from input.
fn script_from_input(base: &str, layer: &mut Layer) {
    let script = layer.args.iter().find(|a| match a {
        Arg::Lit(s) => !s.starts_with('-') || s == "-",
        Arg::Dyn(_) => true,
    });
    if script.is_some_and(from_input) {
        opaque(
            layer,
            format!("{base} runs code from its input or a pipe, which cannot be analysed"),
            &[base, "-"],
        );
    }
}

fn opaque(layer: &mut Layer, reason: String, needs: &[&str]) {
    layer.opaque = Some(Opaque {
        reason,
        needs: needs.iter().map(|s| s.to_string()).collect(),
    });
}

/// Python's options (`python3 --help`): those that take a value, and those that do not.
const PYTHON_FLAGS: &str = "bBdEhiIOPqsSuvVx";
const PYTHON_VALUED: &str = "cmWX";
/// Modules whose command line takes code or a script to run.
const PYTHON_CODE_MODULES: &[&str] = &[
    "timeit",
    "cProfile",
    "profile",
    "pdb",
    "trace",
    "code",
    "runpy",
    "doctest",
    "idlelib",
    "IPython",
    "ipython",
    "pyinstrument",
    "py_compile",
    "compileall",
    "__main__",
    "test",
    "asyncio",
    "pstats",
    "sqlite3",
];

pub(super) fn step(
    base: &str,
    layer: &mut Layer,
    inv: &Invocation,
    out: &mut Expansion,
) -> Option<Step> {
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match stem {
        "python" | "pypy" => python(base, layer, out),
        "perl" => interpreter(
            base,
            layer,
            out,
            "ISTtWXclnpsaUuvwh0",
            "eEMmIxidCFl",
            &["-e", "-E", "-M", "-m", "-I", "-x", "-i", "-d", "-F", "-l"],
        ),
        "ruby" => interpreter(
            base,
            layer,
            out,
            "acdlnpsSvwyh",
            "eErIxCiKTWF",
            &["-e", "-E", "-r", "-I", "-x", "-i", "-C", "-S", "-n", "-p"],
        ),
        "node" | "nodejs" => node(base, layer),
        "bun" | "deno" | "php" | "lua" | "luajit" | "Rscript" | "R" | "osascript" | "tclsh"
        | "wish" | "irb" | "jshell" | "ghci" | "julia" | "guile" | "racket" | "sbcl" | "clisp"
        | "ocaml" | "scala" | "groovy" | "kotlin" | "elixir" | "erl" | "swipl" | "gawk-sandbox" => {
            strict_interpreter(base, layer)
        }
        "sh" | "bash" | "dash" | "ash" | "rbash" | "zsh" | "ksh" | "mksh" | "pdksh" | "fish"
        | "csh" | "tcsh" | "yash" | "pwsh" | "elvish" | "nu" | "xonsh" | "oksh" | "loksh" => {
            // Reached only without -c (see wrappers): a script file or the shell's input.
            let script = layer.args.iter().find(|a| match a {
                Arg::Lit(s) => !s.starts_with(['-', '+']),
                Arg::Dyn(_) => true,
            });
            match script {
                Some(s) if from_input(s) => opaque(
                    layer,
                    format!("{base} runs code from its input or a pipe, which cannot be analysed"),
                    &[base, "-"],
                ),
                Some(s) => opaque(
                    layer,
                    format!(
                        "{base} runs the script {}, which cannot be analysed",
                        s.display()
                    ),
                    &[base],
                ),
                None => opaque(
                    layer,
                    format!("{base} runs code from its input, which cannot be analysed"),
                    &[base, "-"],
                ),
            }
        }
        "ed" | "red" | "ex" => opaque(
            layer,
            format!("{base} reads commands from its input, and `!` runs programs"),
            &[base, "-"],
        ),
        "awk" | "gawk" | "mawk" | "nawk" => awk(base, layer, inv, out),
        "sed" | "gsed" => sed::inspect(base, layer, inv, out),
        "vim" | "vi" | "nvim" | "view" | "gvim" | "rvim" | "emacs" | "nano" | "less" | "more"
        | "most" | "man" | "pg" => {
            // Interactive programs with their own ways to run commands (`:!`, `!`, pagers,
            // `+cmd`); only plain file arguments are modelled.
            if let Some(a) = layer.args.iter().find(|a| match a {
                Arg::Lit(s) => s.starts_with(['-', '+']),
                Arg::Dyn(d) => d.could_be_option(),
            }) {
                let flag = a.display();
                opaque(
                    layer,
                    format!(
                        "{base} {flag}: its options can run commands, which cannot be analysed"
                    ),
                    &[base, &flag],
                );
            }
        }
        _ => return None,
    }
    if layer.opaque.is_none() && !matches!(stem, "awk" | "gawk" | "mawk" | "nawk" | "sed" | "gsed")
    {
        script_from_input(base, layer);
    }
    Some(Step::Program)
}

/// An option cluster of a non-GNU interpreter: returns the first flag that takes code (or is
/// unknown), with the word to name in an allow rule.
fn interpreter(
    base: &str,
    layer: &mut Layer,
    out: &mut Expansion,
    flags: &str,
    valued: &str,
    code: &[&str],
) {
    let mut script = false;
    let mut i = 0;
    while let Some(a) = layer.args.get(i) {
        let s = match a {
            Arg::Lit(s) => s.clone(),
            Arg::Dyn(d) => {
                if !d.could_be_option() {
                    script = true;
                    break;
                }
                out.refuse(format!(
                    "{base}: the word {} is only known at run time and could be an option",
                    d.src
                ));
                return;
            }
        };
        if s == "--" {
            script = i + 1 < layer.args.len();
            break;
        }
        if s == "-" {
            break;
        }
        if !s.starts_with('-') {
            script = true;
            break;
        }
        for (k, c) in s[1..].char_indices() {
            let flag = format!("-{c}");
            if code.contains(&flag.as_str()) {
                opaque(
                    layer,
                    format!(
                        "{base} {s} runs code given on the command line (or changes what code loads)"
                    ),
                    &[base, &flag],
                );
                return;
            }
            if valued.contains(c) {
                if k + c.len_utf8() == s.len() - 1 {
                    i += 1;
                }
                break;
            }
            if !flags.contains(c) {
                out.refuse(format!("{base}: option -{c} is not modelled"));
                return;
            }
        }
        i += 1;
    }
    if !script {
        opaque(
            layer,
            format!("{base} without a script reads code from its input, which cannot be analysed"),
            &[base, "-"],
        );
    }
}

fn python(base: &str, layer: &mut Layer, out: &mut Expansion) {
    let mut i = 0;
    while let Some(a) = layer.args.get(i) {
        let s = match a {
            Arg::Lit(s) => s.clone(),
            Arg::Dyn(d) => {
                if d.could_be_option() {
                    out.refuse(format!(
                        "{base}: the word {} is only known at run time and could be an option",
                        d.src
                    ));
                }
                return;
            }
        };
        if s == "-" || (s == "--" && layer.args.len() == i + 1) {
            break;
        }
        if s == "--" || !s.starts_with('-') {
            return;
        }
        if let Some(long) = s.strip_prefix("--") {
            match long {
                "help" | "version" => return,
                l if l.starts_with("check-hash-based-pycs") => {
                    if !l.contains('=') {
                        i += 1;
                    }
                }
                _ => {
                    out.refuse(format!("{base}: option {s} is not modelled"));
                    return;
                }
            }
            i += 1;
            continue;
        }
        let letters: Vec<char> = s[1..].chars().collect();
        for (k, c) in letters.iter().enumerate() {
            let attached: String = letters[k + 1..].iter().collect();
            if PYTHON_FLAGS.contains(*c) {
                if *c == 'i' {
                    opaque(
                        layer,
                        format!(
                            "{base} -i runs an interactive interpreter that reads code from its input"
                        ),
                        &[base, "-i"],
                    );
                    return;
                }
                continue;
            }
            if !PYTHON_VALUED.contains(*c) {
                out.refuse(format!("{base}: option -{c} is not modelled"));
                return;
            }
            let value = if attached.is_empty() {
                i += 1;
                layer.args.get(i).cloned()
            } else {
                Some(Arg::Lit(attached))
            };
            match c {
                'c' => {
                    opaque(
                        layer,
                        format!("{base} -c runs inline code, which cannot be analysed"),
                        &[base, "-c"],
                    );
                    return;
                }
                'm' => {
                    match value.as_ref().and_then(Arg::lit) {
                        Some(m) => {
                            let top = m.split('.').next().unwrap_or(m);
                            if PYTHON_CODE_MODULES.contains(&top) {
                                let flag = format!("-m {m}");
                                opaque(
                                    layer,
                                    format!(
                                        "{base} -m {m} runs code given on its command line or input"
                                    ),
                                    &[base, "-m", m],
                                );
                                let _ = flag;
                            }
                        }
                        None => {
                            out.refuse(format!("{base} -m with a module only known at run time"))
                        }
                    }
                    return;
                }
                _ => {}
            }
            break;
        }
        i += 1;
    }
    opaque(
        layer,
        format!("{base} without a script reads code from its input, which cannot be analysed"),
        &[base, "-"],
    );
}

/// node options that change neither what code runs nor what it loads.
const NODE_SAFE: &[&str] = &[
    "-v",
    "--version",
    "-h",
    "--help",
    "--test",
    "--watch",
    "--enable-source-maps",
    "--no-warnings",
    "--trace-warnings",
    "--trace-uncaught",
    "--no-deprecation",
    "--throw-deprecation",
    "--trace-deprecation",
    "--max-old-space-size",
    "--stack-size",
    "--experimental-vm-modules",
    "--test-reporter",
    "--test-name-pattern",
    "--test-only",
    "--expose-gc",
    "--unhandled-rejections",
    "--input-type",
    "--abort-on-uncaught-exception",
];

fn node(base: &str, layer: &mut Layer) {
    for a in layer.args.clone() {
        match a {
            Arg::Lit(s) if s.starts_with('-') && s != "-" => {
                let name = s.split('=').next().unwrap_or(&s).to_string();
                let name = name.as_str();
                if !NODE_SAFE.contains(&name) {
                    opaque(
                        layer,
                        format!(
                            "{base} {name}: this option can run inline code or load code, which cannot be analysed"
                        ),
                        &[base, name],
                    );
                    return;
                }
                if matches!(name, "-v" | "--version" | "-h" | "--help") {
                    return;
                }
            }
            Arg::Lit(s) if s == "-" => break,
            Arg::Lit(_) => return,
            Arg::Dyn(d) if !d.could_be_option() => return,
            Arg::Dyn(d) => {
                let src = d.src.clone();
                opaque(
                    layer,
                    format!("{base}: the word {src} is only known at run time"),
                    &[base, &src],
                );
                return;
            }
        }
    }
    opaque(
        layer,
        format!("{base} without a script reads code from its input, which cannot be analysed"),
        &[base, "-"],
    );
}

/// Interpreters whose options are not modelled: only `prog SCRIPT [ARGS]` is; any option
/// before the script makes the layer opaque (named by that option).
fn strict_interpreter(base: &str, layer: &mut Layer) {
    match layer.args.first() {
        Some(Arg::Lit(s)) if !s.starts_with('-') => {}
        Some(a @ Arg::Lit(_)) | Some(a @ Arg::Dyn(_)) => {
            let flag = a
                .lit()
                .map(|s| s.split('=').next().unwrap_or(s).to_string());
            let flag = flag.unwrap_or_else(|| a.display());
            opaque(
                layer,
                format!(
                    "{base} {flag}: its options can run inline code or load code, which cannot be analysed"
                ),
                &[base, &flag],
            );
        }
        None => opaque(
            layer,
            format!("{base} without a script reads code from its input, which cannot be analysed"),
            &[base, "-"],
        ),
    }
}

const AWK: Spec = Spec {
    short: &[
        ('F', Val::Yes),
        ('v', Val::Yes),
        ('f', Val::Yes),
        ('e', Val::Yes),
        ('i', Val::Yes),
        ('l', Val::Yes),
        ('E', Val::Yes),
        ('b', Val::No),
        ('c', Val::No),
        ('C', Val::No),
        ('d', Val::Optional),
        ('D', Val::Optional),
        ('g', Val::No),
        ('h', Val::No),
        ('L', Val::Optional),
        ('M', Val::No),
        ('n', Val::No),
        ('N', Val::No),
        ('o', Val::Optional),
        ('O', Val::No),
        ('p', Val::Optional),
        ('P', Val::No),
        ('r', Val::No),
        ('s', Val::No),
        ('S', Val::No),
        ('t', Val::No),
        ('V', Val::No),
        ('W', Val::Yes),
    ],
    long: &[
        ("field-separator", Val::Yes),
        ("assign", Val::Yes),
        ("file", Val::Yes),
        ("source", Val::Yes),
        ("include", Val::Yes),
        ("load", Val::Yes),
        ("exec", Val::Yes),
        ("characters-as-bytes", Val::No),
        ("traditional", Val::No),
        ("copyright", Val::No),
        ("dump-variables", Val::Optional),
        ("debug", Val::Optional),
        ("gen-pot", Val::No),
        ("help", Val::No),
        ("lint", Val::Optional),
        ("bignum", Val::No),
        ("use-lc-numeric", Val::No),
        ("non-decimal-data", Val::No),
        ("pretty-print", Val::Optional),
        ("optimize", Val::No),
        ("profile", Val::Optional),
        ("posix", Val::No),
        ("re-interval", Val::No),
        ("no-optimize", Val::No),
        ("sandbox", Val::No),
        ("lint-old", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(1),
};

fn awk(base: &str, layer: &mut Layer, inv: &Invocation, out: &mut Expansion) {
    let p = match getopt::parse(&layer.args, &AWK) {
        Ok(p) => p,
        Err(e) => {
            out.refuse(e.describe(base));
            return;
        }
    };
    for (o, why) in [
        ("-f", "runs a program file"),
        ("--file", "runs a program file"),
        ("-E", "runs a program file"),
        ("--exec", "runs a program file"),
        ("-i", "loads a source file"),
        ("--include", "loads a source file"),
        ("-l", "loads an extension library"),
        ("--load", "loads an extension library"),
    ] {
        if p.has(o) {
            opaque(
                layer,
                format!("{base} {o} {why}, which cannot be analysed"),
                &[base, o],
            );
            return;
        }
    }
    for w in p.values("-W") {
        if !matches!(
            w.lit(),
            Some("version" | "sandbox" | "posix" | "traditional" | "lint")
        ) {
            out.refuse(format!(
                "{base} -W {}: these options (exec, source, file...) are not modelled",
                w.display()
            ));
            return;
        }
    }
    for o in [
        "-d",
        "--dump-variables",
        "-o",
        "--pretty-print",
        "-p",
        "--profile",
        "-D",
        "--debug",
    ] {
        if p.has(o) {
            let target = p
                .value(o)
                .cloned()
                .unwrap_or_else(|| Arg::Lit("awkvars.out".into()));
            out.write(inv, base, target);
        }
    }
    let sandbox = p.has("--sandbox");
    let mut programs: Vec<&Arg> = p.values("-e").chain(p.values("--source")).collect();
    if programs.is_empty() {
        match p.operands.first() {
            Some(prog) => programs.push(prog),
            None => return,
        }
    }
    for prog in programs {
        let text = match prog {
            Arg::Lit(t) => t,
            Arg::Dyn(d) => {
                out.refuse(format!(
                    "the {base} program {} is only known at run time (or a glob before it could vanish)",
                    d.src
                ));
                return;
            }
        };
        if sandbox {
            continue;
        }
        let without_or = text.replace("||", "");
        if text.contains("system") || without_or.contains('|') || text.contains('@') {
            out.refuse(format!(
                "the {base} program runs commands (system, pipes) or loads code (@include, \
@load), which is not modelled (use --sandbox, or a script file named in an allow rule)"
            ));
            return;
        }
        if awk_writes(text) {
            out.refuse(format!(
                "the {base} program writes files (print > file), which is not modelled"
            ));
        }
    }
}

/// Whether an awk program redirects output (`print > "f"`, `printf ... >> f`).
fn awk_writes(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("print") {
        let tail = &rest[at..];
        let end = tail.find([';', '}', '\n']).unwrap_or(tail.len());
        if tail[..end].contains('>') {
            return true;
        }
        rest = &tail[5..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::awk_writes;

    #[test]
    fn awk_output_redirection() {
        assert!(awk_writes(r#"{print $1 > "out"}"#));
        assert!(awk_writes(r#"{printf "%s", $1 >> f}"#));
        assert!(!awk_writes(r#"$3 > 1000 {print $1}"#));
    }
}
