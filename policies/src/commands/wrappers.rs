//! Programs that run other programs: `sudo`, `env`, `timeout`, `xargs`, `find -exec`, shells
//! with `-c`, and the like. Each is peeled off to reach the program it runs.

use super::Role;
use crate::shell::{Arg, Invocation};

/// What a program does with its arguments.
pub(super) enum Step {
    /// It is the program: nothing more to peel.
    Program,
    /// It cannot be analysed.
    Refuse(String),
    /// It runs `inner` (when known), and possibly more invocations and a shell string.
    Wrap {
        inner: Option<Vec<Arg>>,
        role: Role,
        assignments: Vec<(String, Arg)>,
        /// Further commands it runs (`find -exec`), checked like any command.
        also: Vec<Invocation>,
        /// Commands it may run (a wrapper whose options are not modelled), checked against
        /// deny rules only.
        probes: Vec<Invocation>,
        shell: Option<Arg>,
    },
}

fn wrap(inner: Option<Vec<Arg>>, role: Role) -> Step {
    Step::Wrap {
        inner,
        role,
        assignments: Vec::new(),
        also: Vec::new(),
        probes: Vec::new(),
        shell: None,
    }
}

/// Option syntax of one program: which short letters and long names take a value.
struct Opts<'a> {
    short_val: &'a str,
    long_val: &'a [&'a str],
}

/// Options seen before the first operand.
struct Parsed {
    /// Index of the first operand.
    operand: usize,
    /// Each option as written (`-u`, `--user`), with its value if it took one.
    options: Vec<(String, Option<Arg>)>,
}

impl Parsed {
    fn has(&self, names: &[&str]) -> bool {
        self.options.iter().any(|(o, _)| {
            names.iter().any(|n| {
                if n.starts_with("--") {
                    o == n
                } else {
                    // A short letter anywhere in a cluster: -xc has -c.
                    o.starts_with('-') && !o.starts_with("--") && o.contains(&n[1..])
                }
            })
        })
    }

    fn value(&self, names: &[&str]) -> Option<&Arg> {
        self.options
            .iter()
            .find(|(o, _)| names.contains(&o.as_str()))
            .and_then(|(_, v)| v.as_ref())
    }
}

/// Parses options up to the first operand (or `--`). An option only known at run time makes
/// the rest unknowable.
fn parse(args: &[Arg], o: &Opts<'_>) -> Result<Parsed, String> {
    let mut i = 0;
    let mut options = Vec::new();
    while i < args.len() {
        let a = match &args[i] {
            Arg::Lit(a) => a.as_str(),
            Arg::Dyn(src) => {
                return Err(format!(
                    "an option of a wrapper ({src}) is only known at run time"
                ));
            }
        };
        if a == "--" {
            return Ok(Parsed {
                operand: i + 1,
                options,
            });
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(Arg::Lit(v.to_string()))),
                None => (a.to_string(), None),
            };
            if inline.is_none() && o.long_val.contains(&name.as_str()) {
                options.push((name, args.get(i + 1).cloned()));
                i += 2;
            } else {
                options.push((name, inline));
                i += 1;
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let letters = &a[1..];
            let mut value = None;
            let mut step = 1;
            for (j, c) in letters.char_indices() {
                if o.short_val.contains(c) {
                    let rest = &letters[j + c.len_utf8()..];
                    if rest.is_empty() {
                        value = args.get(i + 1).cloned();
                        step = 2;
                    } else {
                        value = Some(Arg::Lit(rest.to_string()));
                    }
                    break;
                }
            }
            options.push((a.to_string(), value));
            i += step;
            continue;
        }
        break;
    }
    Ok(Parsed {
        operand: i.min(args.len()),
        options,
    })
}

fn rest(args: &[Arg], from: usize) -> Option<Vec<Arg>> {
    (from < args.len()).then(|| args[from..].to_vec())
}

const SHELLS_WE_PARSE: &[&str] = &["sh", "bash", "dash", "ash", "rbash"];
const OTHER_SHELLS: &[&str] = &[
    "zsh", "ksh", "mksh", "pdksh", "fish", "csh", "tcsh", "yash", "nu", "xonsh", "pwsh", "elvish",
    "oksh", "loksh",
];
/// Wrappers whose options we do not model: every operand could start the command.
const GENERIC_WRAPPERS: &[&str] = &[
    "strace",
    "ltrace",
    "valgrind",
    "nsenter",
    "unshare",
    "firejail",
    "fakeroot",
    "eatmydata",
    "rlwrap",
    "proxychains",
    "proxychains4",
    "torify",
    "torsocks",
    "catchsegv",
    "setpriv",
    "prlimit",
    "systemd-run",
    "flatpak-spawn",
    "unbuffer",
    "pkexec",
    "gdb",
    "perf",
    "sg",
    "chpst",
    "softlimit",
    "daemonize",
    "start-stop-daemon",
    "env-update",
    "faketime",
    "xvfb-run",
    "dbus-run-session",
    "bwrap",
    "firejail",
    "minijail0",
    "capsh",
    "cgexec",
    "numactl",
    "trickle",
    "tsocks",
    "setarch",
    "linux32",
    "linux64",
    "uname26",
    "scl",
    "sem",
    "ts",
    "entr",
    "nq",
    "pv",
    "expect",
];

/// One step of peeling: what `base` (a program's file name) does with `args`.
pub(super) fn step(base: &str, args: &[Arg]) -> Step {
    let result = match base {
        "env" => env(args),
        "sudo" => sudo(args),
        "doas" => {
            let p = parse(
                args,
                &Opts {
                    short_val: "uC",
                    long_val: &[],
                },
            );
            p.and_then(|p| {
                if p.has(&["-s"]) {
                    return Err("doas -s starts a shell whose input cannot be analysed".into());
                }
                Ok(wrap(rest(args, p.operand), Role::Program))
            })
        }
        "timeout" => parse(
            args,
            &Opts {
                short_val: "ks",
                long_val: &["--kill-after", "--signal"],
            },
        )
        .map(|p| wrap(rest(args, p.operand + 1), Role::Transparent)),
        "nice" => parse(
            args,
            &Opts {
                short_val: "n",
                long_val: &["--adjustment"],
            },
        )
        .map(|p| wrap(rest(args, p.operand), Role::Transparent)),
        "ionice" => parse(
            args,
            &Opts {
                short_val: "cnpPu",
                long_val: &["--class", "--classdata", "--pid", "--pgid", "--uid"],
            },
        )
        .map(|p| {
            let inner = if p.has(&["-p", "-P", "-u", "--pid", "--pgid", "--uid"]) {
                None
            } else {
                rest(args, p.operand)
            };
            wrap(inner, Role::Transparent)
        }),
        "nohup" | "builtin" => parse(
            args,
            &Opts {
                short_val: "",
                long_val: &[],
            },
        )
        .map(|p| wrap(rest(args, p.operand), Role::Transparent)),
        "setsid" => parse(
            args,
            &Opts {
                short_val: "",
                long_val: &[],
            },
        )
        .map(|p| wrap(rest(args, p.operand), Role::Transparent)),
        "stdbuf" => parse(
            args,
            &Opts {
                short_val: "ioe",
                long_val: &["--input", "--output", "--error"],
            },
        )
        .map(|p| wrap(rest(args, p.operand), Role::Transparent)),
        "time" => parse(
            args,
            &Opts {
                short_val: "fo",
                long_val: &["--format", "--output"],
            },
        )
        .map(|p| wrap(rest(args, p.operand), Role::Transparent)),
        "command" => parse(
            args,
            &Opts {
                short_val: "",
                long_val: &[],
            },
        )
        .map(|p| {
            if p.has(&["-v", "-V"]) {
                Step::Program
            } else {
                wrap(rest(args, p.operand), Role::Transparent)
            }
        }),
        "exec" => parse(
            args,
            &Opts {
                short_val: "a",
                long_val: &[],
            },
        )
        .map(|p| wrap(rest(args, p.operand), Role::Transparent)),
        "taskset" => parse(
            args,
            &Opts {
                short_val: "",
                long_val: &[],
            },
        )
        .map(|p| {
            if p.has(&["-p", "--pid"]) {
                wrap(None, Role::Transparent)
            } else {
                wrap(rest(args, p.operand + 1), Role::Transparent)
            }
        }),
        "chrt" => parse(
            args,
            &Opts {
                short_val: "TPD",
                long_val: &["--sched-runtime", "--sched-period", "--sched-deadline"],
            },
        )
        .map(|p| {
            if p.has(&["-p", "--pid"]) {
                wrap(None, Role::Transparent)
            } else {
                wrap(rest(args, p.operand + 1), Role::Transparent)
            }
        }),
        "chroot" => parse(
            args,
            &Opts {
                short_val: "",
                long_val: &["--userspec", "--groups"],
            },
        )
        .map(|p| wrap(rest(args, p.operand + 1), Role::Program)),
        "flock" => flock(args),
        "xargs" => xargs(args),
        "find" => Ok(find(args)),
        "busybox" => Ok(match args.first().and_then(Arg::lit) {
            Some(a) if !a.starts_with('-') => wrap(Some(args.to_vec()), Role::Program),
            _ => Step::Program,
        }),
        "su" | "runuser" => su(args),
        "script" => parse(
            args,
            &Opts {
                short_val: "cEIOBTm",
                long_val: &[
                    "--command",
                    "--echo",
                    "--log-in",
                    "--log-out",
                    "--log-io",
                    "--log-timing",
                    "--logging-format",
                ],
            },
        )
        .and_then(|p| match p.value(&["-c", "--command"]) {
            Some(cmd) => Ok(shell_string(cmd.clone(), Role::Transparent)),
            None => Err("script without -c starts an interactive shell".into()),
        }),
        "watch" => watch(args),
        "ssh" => ssh(args),
        "npx" => parse(
            args,
            &Opts {
                short_val: "cp",
                long_val: &["--call", "--package"],
            },
        )
        .map(|p| match p.value(&["-c", "--call"]) {
            Some(cmd) => shell_string(cmd.clone(), Role::Program),
            None => Step::Program,
        }),
        b if SHELLS_WE_PARSE.contains(&b) => shell(b, args),
        b if OTHER_SHELLS.contains(&b) => Ok(other_shell(b, args)),
        b if GENERIC_WRAPPERS.contains(&b) || b.starts_with("ld-linux") || b == "ld.so" => {
            Ok(generic(args))
        }
        _ => Ok(Step::Program),
    };
    result.unwrap_or_else(Step::Refuse)
}

fn shell_string(s: Arg, role: Role) -> Step {
    Step::Wrap {
        inner: None,
        role,
        assignments: Vec::new(),
        also: Vec::new(),
        probes: Vec::new(),
        shell: Some(s),
    }
}

fn env(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "uC",
            long_val: &["--unset", "--chdir"],
        },
    )?;
    if p.has(&["-S", "--split-string"]) || p.options.iter().any(|(o, _)| o.starts_with("-S")) {
        return Err("env -S splits a string into a command line, which cannot be analysed".into());
    }
    let mut assignments = Vec::new();
    let mut i = p.operand;
    while let Some(a) = args.get(i) {
        match a {
            Arg::Lit(s) if s.contains('=') && !s.starts_with('=') => {
                let (name, value) = s.split_once('=').unwrap_or((s, ""));
                assignments.push((name.to_string(), Arg::Lit(value.to_string())));
            }
            Arg::Dyn(src) if src.contains('=') => {
                return Err(format!("env's argument {src} is only known at run time"));
            }
            _ => break,
        }
        i += 1;
    }
    Ok(Step::Wrap {
        inner: rest(args, i),
        role: Role::Transparent,
        assignments,
        also: Vec::new(),
        probes: Vec::new(),
        shell: None,
    })
}

fn sudo(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "ugCDhprtTUR",
            long_val: &[
                "--user",
                "--group",
                "--close-from",
                "--chdir",
                "--host",
                "--prompt",
                "--role",
                "--type",
                "--command-timeout",
                "--other-user",
                "--chroot",
            ],
        },
    )?;
    if p.has(&["-s", "-i", "--shell", "--login"]) {
        return Err("sudo -s/-i starts a shell whose input cannot be analysed".into());
    }
    if p.has(&["-e", "--edit"]) {
        return Ok(Step::Program);
    }
    Ok(wrap(rest(args, p.operand), Role::Program))
}

fn su(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "cgGsw",
            long_val: &[
                "--command",
                "--session-command",
                "--group",
                "--supp-group",
                "--shell",
                "--whitelist-environment",
            ],
        },
    )?;
    if p.has(&["-s", "--shell"]) {
        return Err("su --shell runs a shell of the caller's choice".into());
    }
    match p.value(&["-c", "--command", "--session-command"]) {
        Some(cmd) => Ok(shell_string(cmd.clone(), Role::Program)),
        None => Err("su without -c starts a shell whose input cannot be analysed".into()),
    }
}

fn flock(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "wEc",
            long_val: &["--timeout", "--wait", "--conflict-exit-code", "--command"],
        },
    )?;
    if let Some(cmd) = p.value(&["-c", "--command"]) {
        return Ok(shell_string(cmd.clone(), Role::Transparent));
    }
    // `flock FILE -c COMMAND`: options may follow the file.
    if let Some(i) = args
        .iter()
        .position(|a| matches!(a.lit(), Some("-c" | "--command")))
    {
        return match args.get(i + 1) {
            Some(cmd) => Ok(shell_string(cmd.clone(), Role::Transparent)),
            None => Err("flock -c without a command".into()),
        };
    }
    // flock FILE COMMAND...
    Ok(wrap(rest(args, p.operand + 1), Role::Transparent))
}

fn watch(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "dnq",
            long_val: &["--differences", "--interval", "--equexit"],
        },
    )?;
    let words = &args[p.operand.min(args.len())..];
    if p.has(&["-x", "--exec"]) {
        return Ok(wrap(rest(args, p.operand), Role::Transparent));
    }
    // watch joins its arguments and runs them with `sh -c`.
    Ok(shell_string(join(words), Role::Transparent))
}

fn ssh(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "BbcDEeFIiJLlmOopQRSWw",
            long_val: &[],
        },
    )?;
    for (o, v) in &p.options {
        if o.starts_with("-o") || o == "-F" {
            let text = v
                .as_ref()
                .map(Arg::display)
                .unwrap_or_default()
                .to_ascii_lowercase();
            if o == "-F"
                || text.contains("proxycommand")
                || text.contains("localcommand")
                || text.contains("permitlocalcommand")
                || text.contains("match")
            {
                return Err("ssh options that run local commands (ProxyCommand, LocalCommand, -F) cannot be analysed".into());
            }
        }
    }
    let words = &args[(p.operand + 1).min(args.len())..];
    if words.is_empty() {
        return Ok(Step::Program);
    }
    // The remote side runs the joined words with its shell.
    Ok(shell_string(join(words), Role::Program))
}

/// Words joined with spaces, as `ssh` and `watch` do before handing them to a shell.
fn join(words: &[Arg]) -> Arg {
    let mut text = String::new();
    for w in words {
        match w {
            Arg::Lit(s) => {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(s);
            }
            Arg::Dyn(src) => return Arg::Dyn(src.clone()),
        }
    }
    Arg::Lit(text)
}

fn shell(base: &str, args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "oO",
            long_val: &["--rcfile", "--init-file"],
        },
    )?;
    // `+o name` / `+O name` take a value too.
    let mut operand = p.operand;
    while let Some(Arg::Lit(a)) = args.get(operand) {
        if a == "+o" || a == "+O" {
            operand += 2;
        } else if a.starts_with('+') && a.len() > 1 {
            operand += 1;
        } else {
            break;
        }
    }
    if p.has(&["-c"]) {
        return match args.get(operand) {
            Some(cmd) => Ok(shell_string(cmd.clone(), Role::Transparent)),
            None => Err(format!("{base} -c without a command string")),
        };
    }
    Ok(Step::Program)
}

fn other_shell(base: &str, args: &[Arg]) -> Step {
    if args.iter().any(|a| {
        a.lit()
            .is_some_and(|s| s.starts_with('-') && !s.starts_with("--") && s.contains('c'))
    }) {
        return Step::Refuse(format!(
            "{base} -c: the command string would be parsed as bash but run by {base}"
        ));
    }
    Step::Program
}

fn xargs(args: &[Arg]) -> Result<Step, String> {
    let p = parse(
        args,
        &Opts {
            short_val: "adEILnPs",
            long_val: &[
                "--arg-file",
                "--delimiter",
                "--eof",
                "--max-lines",
                "--max-args",
                "--max-procs",
                "--max-chars",
                "--process-slot-var",
            ],
        },
    )?;
    let mut replace: Option<String> = None;
    for (o, v) in &p.options {
        if o.starts_with("-I") {
            replace = v.as_ref().and_then(|v| v.lit().map(str::to_string));
        } else if o == "--replace" {
            replace = Some("{}".into());
        } else if let Some(r) = o.strip_prefix("-i") {
            replace = Some(if r.is_empty() {
                "{}".into()
            } else {
                r.to_string()
            });
        } else if let Some(r) = o.strip_prefix("--replace=") {
            replace = Some(r.to_string());
        }
    }
    let mut inner: Vec<Arg> = match rest(args, p.operand) {
        Some(r) => r,
        None => vec![Arg::Lit("echo".into())],
    };
    match &replace {
        Some(r) => {
            for a in inner.iter_mut() {
                if a.lit().is_some_and(|s| s.contains(r.as_str())) {
                    *a = Arg::Dyn(format!("<xargs input in {}>", a.display()));
                }
            }
        }
        None => inner.push(Arg::Dyn("<xargs input>".into())),
    }
    Ok(wrap(Some(inner), Role::Program))
}

fn find(args: &[Arg]) -> Step {
    let mut also = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(a) = args[i].lit()
            && matches!(a, "-exec" | "-execdir" | "-ok" | "-okdir")
        {
            let mut argv = Vec::new();
            let mut j = i + 1;
            while j < args.len() {
                match args[j].lit() {
                    Some(";") | Some("+") => break,
                    Some(s) if s.contains("{}") => {
                        argv.push(Arg::Dyn(format!("<found file in {s}>")))
                    }
                    _ => argv.push(args[j].clone()),
                }
                j += 1;
            }
            if !argv.is_empty() {
                also.push(Invocation {
                    argv,
                    assignments: Vec::new(),
                });
            }
            i = j;
        }
        i += 1;
    }
    Step::Wrap {
        inner: None,
        role: Role::Program,
        assignments: Vec::new(),
        also,
        probes: Vec::new(),
        shell: None,
    }
}

/// A wrapper whose options are not modelled: the first operand must be allowed as the command;
/// every later operand is also checked, in case an option took the first one as its value.
fn generic(args: &[Arg]) -> Step {
    let mut also = Vec::new();
    let mut first: Option<Vec<Arg>> = None;
    for (i, a) in args.iter().enumerate() {
        match a {
            Arg::Lit(s) if s.starts_with('-') => {}
            Arg::Lit(_) => {
                if first.is_none() {
                    first = Some(args[i..].to_vec());
                } else {
                    also.push(Invocation {
                        argv: args[i..].to_vec(),
                        assignments: Vec::new(),
                    });
                }
            }
            Arg::Dyn(src) => {
                return Step::Refuse(format!(
                    "a wrapper's argument ({src}) is only known at run time"
                ));
            }
        }
    }
    Step::Wrap {
        inner: first,
        role: Role::Program,
        assignments: Vec::new(),
        also: Vec::new(),
        probes: also,
        shell: None,
    }
}
