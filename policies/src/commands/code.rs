//! Programs that run code given to them as text: interpreters with inline code, awk and sed
//! programs that call out, and tools with options that run a command. What they run cannot be
//! seen by the policy, so such a layer is *opaque*: it runs only if an allow rule names it
//! explicitly, flag included.

use super::{Expansion, Layer, Opaque};
use crate::shell::Arg;

/// Interpreters and the flags that take inline code.
fn inline_code_flags(base: &str) -> Option<&'static [&'static str]> {
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match stem {
        "python" | "pypy" => &["-c"],
        "perl" => &["-e", "-E"],
        "ruby" | "lua" | "luajit" | "Rscript" | "R" | "osascript" => &["-e"],
        "node" | "nodejs" | "bun" => &["-e", "--eval", "-p", "--print"],
        "php" => &["-r", "-B", "-R", "-E"],
        "deno" => &["eval"],
        "tclsh" | "wish" | "irb" | "jshell" | "ghci" => &[],
        _ => return None,
    })
}

fn lit_args(layer: &Layer) -> impl Iterator<Item = &str> {
    layer.args.iter().filter_map(Arg::lit)
}

pub(super) fn inspect(base: &str, layer: &mut Layer, out: &mut Expansion) {
    if let Some(flags) = inline_code_flags(base) {
        interpreter(base, flags, layer);
        return;
    }
    match base {
        // Reached only without -c (see wrappers): a script file or the shell's input.
        "sh" | "bash" | "dash" | "ash" | "rbash" | "zsh" | "ksh" | "mksh" | "pdksh" | "fish"
        | "csh" | "tcsh" | "yash" | "pwsh" | "elvish" | "nu" | "xonsh" | "oksh" | "loksh" => {
            layer.opaque = Some(Opaque {
                reason: format!("{base} runs a script file or its input, which cannot be analysed"),
                needs: vec![base.to_string()],
            });
        }
        "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk" => awk(layer),
        "sed" | "gsed" => sed(layer),
        "tar" | "gtar" | "bsdtar" => exec_options(
            layer,
            &[
                "--to-command",
                "--use-compress-program",
                "--checkpoint-action",
                "--info-script",
                "--new-volume-script",
                "--rsh-command",
                "-I",
                "-F",
            ],
        ),
        "rsync" => exec_options(layer, &["-e", "--rsh", "--rsync-path"]),
        "zip" => exec_options(layer, &["-TT", "--unzip-command"]),
        "sort" => exec_options(layer, &["--compress-program"]),
        "scp" | "sftp" => exec_options(layer, &["-S", "-o", "-F", "-D"]),
        "vim" | "vi" | "nvim" | "ex" | "view" | "gvim" | "rvim" => {
            exec_options(layer, &["-c", "+", "--cmd", "-S"])
        }
        "man" => exec_options(layer, &["-P", "--pager", "-H", "--html"]),
        "less" | "more" => exec_options(layer, &["+!", "-k", "--lesskey-file"]),
        "eval" | "source" | "." => out.refusals.push(format!(
            "{base} runs a string or file as shell code, which cannot be analysed"
        )),
        "alias" if !layer.args.is_empty() => out
            .refusals
            .push("defines an alias, which later commands could run under any name".into()),
        "trap" if layer.args.len() > 1 => out
            .refusals
            .push("trap runs a string as shell code later, which cannot be analysed".into()),
        "enable" if lit_args(layer).any(|a| a.starts_with("-f")) => out
            .refusals
            .push("enable -f loads a shared library into the shell".into()),
        "hash" if lit_args(layer).any(|a| a.starts_with("-p")) => out
            .refusals
            .push("hash -p makes a command name run another file".into()),
        "fc" | "bind" | "complete" | "compgen" => out.refusals.push(format!(
            "{base} can run shell code, which cannot be analysed"
        )),
        "mapfile" | "readarray" if lit_args(layer).any(|a| a.starts_with("-C")) => out
            .refusals
            .push("mapfile -C runs a callback string as shell code".into()),
        "declare" | "typeset" | "local" | "export" | "readonly"
            if lit_args(layer)
                .any(|a| a.starts_with('-') && (a.contains('f') || a.contains('n'))) =>
        {
            out.refusals.push(format!(
                "{base} -f/-n (functions, name references) cannot be analysed"
            ));
        }
        _ => {}
    }
}

fn interpreter(base: &str, flags: &[&str], layer: &mut Layer) {
    let mut operands = 0;
    let mut module = false;
    for a in &layer.args {
        let Some(a) = a.lit() else {
            operands += 1;
            continue;
        };
        let hit = flags.iter().find(|f| {
            a == **f
                || a.starts_with(&format!("{f}="))
                // A short-option cluster ending in the flag letter: `perl -ne`, `python -Ic`.
                || (f.len() == 2 && !f.starts_with("--") && a.starts_with('-') && !a.starts_with("--")
                    && a.len() > 2 && a.ends_with(&f[1..]))
        });
        if hit.is_some() {
            layer.opaque = Some(Opaque {
                reason: format!("{base} {a} runs inline code, which cannot be analysed"),
                needs: vec![base.to_string(), a.to_string()],
            });
            return;
        }
        if a == "-m" {
            module = true;
        }
        if a == "-" {
            break;
        }
        if !a.starts_with('-') {
            operands += 1;
        }
    }
    if operands == 0 && !module {
        layer.opaque = Some(Opaque {
            reason: format!(
                "{base} without a script reads code from its input, which cannot be analysed"
            ),
            needs: vec![base.to_string()],
        });
    }
}

fn awk(layer: &mut Layer) {
    // The program is the first operand unless -f names a file.
    let mut i = 0;
    let args = &layer.args;
    let mut program: Option<&Arg> = None;
    while i < args.len() {
        match args[i].lit() {
            Some("-f") | Some("--file") => {
                layer.opaque = Some(Opaque {
                    reason: "awk -f runs a program file, which cannot be analysed".into(),
                    needs: vec!["awk".into(), "-f".into()],
                });
                return;
            }
            Some(
                "-F" | "-v" | "-i" | "-l" | "-E" | "--include" | "--load" | "--assign"
                | "--field-separator",
            ) => i += 2,
            Some("--") => {
                program = args.get(i + 1);
                break;
            }
            Some(a) if a.starts_with('-') => i += 1,
            _ => {
                program = args.get(i);
                break;
            }
        }
    }
    let calls_out = match program {
        Some(Arg::Lit(p)) => {
            let without_or = p.replace("||", "");
            p.contains("system") || without_or.contains('|') || p.contains("getline")
        }
        Some(Arg::Dyn(_)) => true,
        None => false,
    };
    if calls_out {
        layer.opaque = Some(Opaque {
            reason:
                "the awk program runs commands (system, pipes or getline), which cannot be analysed"
                    .into(),
            needs: vec![layer.program.clone()],
        });
    }
}

/// Whether a sed script uses GNU sed's `e` command or the `e` flag of `s`, which run commands.
fn sed_executes(script: &str) -> bool {
    for cmd in script.split(['\n', ';']) {
        let c = cmd.trim_start();
        // Skip an address: line numbers, `$`, regexes, ranges, negation.
        let c = c.trim_start_matches(|ch: char| {
            ch.is_ascii_digit() || matches!(ch, '$' | ',' | '!' | ' ' | '~' | '+')
        });
        let c = if let Some(rest) = c.strip_prefix('/') {
            rest.split_once('/')
                .map_or("", |(_, r)| r)
                .trim_start_matches(['!', ' '])
        } else {
            c
        };
        if c.starts_with('e') {
            return true;
        }
        if let Some(rest) = c.strip_prefix('s') {
            let mut chars = rest.chars();
            if let Some(delim) = chars.next() {
                // Skip the pattern and the replacement (a backslash escapes the delimiter).
                let mut seen = 0;
                let mut escaped = false;
                let mut flags = String::new();
                for ch in chars {
                    if seen == 2 {
                        flags.push(ch);
                        continue;
                    }
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' {
                        escaped = true;
                    } else if ch == delim {
                        seen += 1;
                    }
                }
                if flags
                    .chars()
                    .take_while(|f| f.is_ascii_alphanumeric())
                    .any(|f| f == 'e')
                {
                    return true;
                }
            }
        }
    }
    false
}

fn sed(layer: &mut Layer) {
    let mut scripts: Vec<&Arg> = Vec::new();
    let mut explicit = false;
    let args = &layer.args;
    let mut i = 0;
    let mut first_operand: Option<&Arg> = None;
    while i < args.len() {
        match args[i].lit() {
            Some("-e" | "--expression") => {
                explicit = true;
                if let Some(s) = args.get(i + 1) {
                    scripts.push(s);
                }
                i += 2;
            }
            Some("-f" | "--file") => {
                layer.opaque = Some(Opaque {
                    reason: "sed -f runs a script file, which cannot be analysed".into(),
                    needs: vec!["sed".into(), "-f".into()],
                });
                return;
            }
            Some("-l" | "--line-length") => i += 2,
            Some(a) if a.starts_with('-') && a.len() > 1 => i += 1,
            _ => {
                if first_operand.is_none() {
                    first_operand = Some(&args[i]);
                }
                i += 1;
            }
        }
    }
    if !explicit && let Some(s) = first_operand {
        scripts.push(s);
    }
    let runs = scripts.iter().any(|s| match s {
        Arg::Lit(t) => sed_executes(t),
        Arg::Dyn(_) => true,
    });
    if runs {
        layer.opaque = Some(Opaque {
            reason:
                "the sed script runs commands (the e command or flag), which cannot be analysed"
                    .into(),
            needs: vec![layer.program.clone(), "e".into()],
        });
    }
}

/// Options of ordinary tools that make them run a command of the caller's choosing.
fn exec_options(layer: &mut Layer, options: &[&str]) {
    let mut found: Option<String> = None;
    for a in lit_args(layer) {
        let hit = options.iter().find(|o| {
            if o.starts_with("--") || o.starts_with('+') {
                a.starts_with(*o)
            } else {
                a == **o || (a.starts_with(*o) && !a.starts_with("--"))
            }
        });
        if let Some(o) = hit {
            found = Some((*o).to_string());
            break;
        }
    }
    if let Some(o) = found {
        let base = layer.basename().to_string();
        layer.opaque = Some(Opaque {
            reason: format!("{base} {o} runs a command of its own, which cannot be analysed"),
            needs: vec![base, o],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::sed_executes;

    #[test]
    fn sed_exec_detection() {
        assert!(sed_executes("e rm -rf /"));
        assert!(sed_executes("1e id"));
        assert!(sed_executes("s/x/id/e"));
        assert!(sed_executes("s/x/rm -rf \\//e"));
        assert!(sed_executes("s|a|b|ge"));
        assert!(sed_executes("/foo/ e id"));
        assert!(!sed_executes("s/e/E/g"));
        assert!(!sed_executes("s/x/y/"));
        assert!(!sed_executes("/^#/d"));
    }
}
