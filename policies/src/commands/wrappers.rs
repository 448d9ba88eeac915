//! Programs that run other programs: `sudo`, `env`, `timeout`, `xargs`, `find -exec`, shells
//! with `-c`, and the like. Each is read by its own option table and peeled off to reach the
//! program it runs; an option the table does not know is refused.

use super::getopt::{self, Parsed, Spec, Val};
use super::{Expansion, Role, Step};
use crate::shell::{Arg, Invocation, vars};

const ENV: Spec = Spec {
    short: &[
        ('i', Val::No),
        ('0', Val::No),
        ('v', Val::No),
        ('u', Val::Yes),
        ('C', Val::Yes),
        ('S', Val::Yes),
    ],
    long: &[
        ("ignore-environment", Val::No),
        ("null", Val::No),
        ("unset", Val::Yes),
        ("chdir", Val::Yes),
        ("split-string", Val::Yes),
        ("debug", Val::No),
        ("default-signal", Val::Optional),
        ("ignore-signal", Val::Optional),
        ("block-signal", Val::Optional),
        ("list-signal-handling", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const TIMEOUT: Spec = Spec {
    short: &[
        ('k', Val::Yes),
        ('s', Val::Yes),
        ('v', Val::No),
        ('f', Val::No),
        ('p', Val::No),
    ],
    long: &[
        ("foreground", Val::No),
        ("kill-after", Val::Yes),
        ("preserve-status", Val::No),
        ("signal", Val::Yes),
        ("verbose", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(1),
};

const NICE: Spec = Spec {
    short: &[('n', Val::Yes)],
    long: &[
        ("adjustment", Val::Yes),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const NOHUP: Spec = Spec {
    short: &[],
    long: &[("help", Val::No), ("version", Val::No)],
    permute: false,
    stop_after: Some(0),
};

const STDBUF: Spec = Spec {
    short: &[('i', Val::Yes), ('o', Val::Yes), ('e', Val::Yes)],
    long: &[
        ("input", Val::Yes),
        ("output", Val::Yes),
        ("error", Val::Yes),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const SETSID: Spec = Spec {
    short: &[('c', Val::No), ('f', Val::No), ('w', Val::No)],
    long: &[
        ("ctty", Val::No),
        ("fork", Val::No),
        ("wait", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const TIME: Spec = Spec {
    short: &[
        ('a', Val::No),
        ('p', Val::No),
        ('q', Val::No),
        ('v', Val::No),
        ('f', Val::Yes),
        ('o', Val::Yes),
    ],
    long: &[
        ("append", Val::No),
        ("format", Val::Yes),
        ("output", Val::Yes),
        ("portability", Val::No),
        ("quiet", Val::No),
        ("verbose", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const SUDO: Spec = Spec {
    short: &[
        ('A', Val::No),
        ('b', Val::No),
        ('E', Val::No),
        ('e', Val::No),
        ('H', Val::No),
        ('i', Val::No),
        ('K', Val::No),
        ('k', Val::No),
        ('l', Val::No),
        ('n', Val::No),
        ('P', Val::No),
        ('S', Val::No),
        ('s', Val::No),
        ('V', Val::No),
        ('v', Val::No),
        ('B', Val::No),
        ('N', Val::No),
        ('C', Val::Yes),
        ('D', Val::Yes),
        ('g', Val::Yes),
        ('h', Val::Optional),
        ('p', Val::Yes),
        ('R', Val::Yes),
        ('r', Val::Yes),
        ('T', Val::Yes),
        ('t', Val::Yes),
        ('U', Val::Yes),
        ('u', Val::Yes),
    ],
    long: &[
        ("askpass", Val::No),
        ("background", Val::No),
        ("bell", Val::No),
        ("close-from", Val::Yes),
        ("chdir", Val::Yes),
        ("preserve-env", Val::Optional),
        ("edit", Val::No),
        ("group", Val::Yes),
        ("set-home", Val::No),
        ("help", Val::No),
        ("host", Val::Yes),
        ("login", Val::No),
        ("remove-timestamp", Val::No),
        ("reset-timestamp", Val::No),
        ("list", Val::No),
        ("non-interactive", Val::No),
        ("no-update", Val::No),
        ("preserve-groups", Val::No),
        ("prompt", Val::Yes),
        ("chroot", Val::Yes),
        ("role", Val::Yes),
        ("stdin", Val::No),
        ("shell", Val::No),
        ("type", Val::Yes),
        ("command-timeout", Val::Yes),
        ("other-user", Val::Yes),
        ("user", Val::Yes),
        ("version", Val::No),
        ("validate", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const DOAS: Spec = Spec {
    short: &[
        ('n', Val::No),
        ('s', Val::No),
        ('u', Val::Yes),
        ('C', Val::Yes),
    ],
    long: &[],
    permute: false,
    stop_after: Some(0),
};

const XARGS: Spec = Spec {
    short: &[
        ('0', Val::No),
        ('r', Val::No),
        ('t', Val::No),
        ('p', Val::No),
        ('x', Val::No),
        ('o', Val::No),
        ('a', Val::Yes),
        ('d', Val::Yes),
        ('E', Val::Yes),
        ('I', Val::Yes),
        ('L', Val::Yes),
        ('n', Val::Yes),
        ('P', Val::Yes),
        ('s', Val::Yes),
        ('e', Val::Optional),
        ('i', Val::Optional),
        ('l', Val::Optional),
    ],
    long: &[
        ("null", Val::No),
        ("arg-file", Val::Yes),
        ("delimiter", Val::Yes),
        ("eof", Val::Optional),
        ("replace", Val::Optional),
        ("max-lines", Val::Optional),
        ("max-args", Val::Yes),
        ("max-procs", Val::Yes),
        ("interactive", Val::No),
        ("process-slot-var", Val::Yes),
        ("no-run-if-empty", Val::No),
        ("max-chars", Val::Yes),
        ("verbose", Val::No),
        ("show-limits", Val::No),
        ("exit", Val::No),
        ("open-tty", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const FLOCK: Spec = Spec {
    short: &[
        ('s', Val::No),
        ('e', Val::No),
        ('x', Val::No),
        ('u', Val::No),
        ('n', Val::No),
        ('o', Val::No),
        ('F', Val::No),
        ('v', Val::No),
        ('w', Val::Yes),
        ('E', Val::Yes),
        ('c', Val::Yes),
    ],
    long: &[
        ("shared", Val::No),
        ("exclusive", Val::No),
        ("unlock", Val::No),
        ("nonblock", Val::No),
        ("nb", Val::No),
        ("close", Val::No),
        ("no-fork", Val::No),
        ("verbose", Val::No),
        ("timeout", Val::Yes),
        ("wait", Val::Yes),
        ("conflict-exit-code", Val::Yes),
        ("command", Val::Yes),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(1),
};

const IONICE: Spec = Spec {
    short: &[
        ('c', Val::Yes),
        ('n', Val::Yes),
        ('p', Val::Yes),
        ('P', Val::Yes),
        ('u', Val::Yes),
        ('t', Val::No),
    ],
    long: &[
        ("class", Val::Yes),
        ("classdata", Val::Yes),
        ("pid", Val::Yes),
        ("pgid", Val::Yes),
        ("uid", Val::Yes),
        ("ignore", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const WATCH: Spec = Spec {
    short: &[
        ('b', Val::No),
        ('c', Val::No),
        ('C', Val::No),
        ('d', Val::Optional),
        ('e', Val::No),
        ('g', Val::No),
        ('p', Val::No),
        ('r', Val::No),
        ('t', Val::No),
        ('w', Val::No),
        ('x', Val::No),
        ('n', Val::Yes),
        ('q', Val::Yes),
    ],
    long: &[
        ("beep", Val::No),
        ("color", Val::No),
        ("no-color", Val::No),
        ("differences", Val::Optional),
        ("errexit", Val::No),
        ("chgexit", Val::No),
        ("equexit", Val::Yes),
        ("exec", Val::No),
        ("interval", Val::Yes),
        ("precise", Val::No),
        ("no-rerun", Val::No),
        ("no-title", Val::No),
        ("no-wrap", Val::No),
        ("no-linewrap", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

const SCRIPT: Spec = Spec {
    short: &[
        ('a', Val::No),
        ('e', Val::No),
        ('f', Val::No),
        ('q', Val::No),
        ('c', Val::Yes),
        ('E', Val::Yes),
        ('O', Val::Yes),
        ('I', Val::Yes),
        ('B', Val::Yes),
        ('T', Val::Yes),
        ('m', Val::Yes),
    ],
    long: &[
        ("append", Val::No),
        ("command", Val::Yes),
        ("echo", Val::Yes),
        ("return", Val::No),
        ("flush", Val::No),
        ("force", Val::No),
        ("quiet", Val::No),
        ("log-in", Val::Yes),
        ("log-out", Val::Yes),
        ("log-io", Val::Yes),
        ("log-timing", Val::Yes),
        ("logging-format", Val::Yes),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: true,
    stop_after: None,
};

const SU: Spec = Spec {
    short: &[
        ('c', Val::Yes),
        ('f', Val::No),
        ('g', Val::Yes),
        ('G', Val::Yes),
        ('l', Val::No),
        ('m', Val::No),
        ('p', Val::No),
        ('P', Val::No),
        ('s', Val::Yes),
        ('w', Val::Yes),
    ],
    long: &[
        ("command", Val::Yes),
        ("session-command", Val::Yes),
        ("fast", Val::No),
        ("group", Val::Yes),
        ("supp-group", Val::Yes),
        ("login", Val::No),
        ("preserve-environment", Val::No),
        ("pty", Val::No),
        ("shell", Val::Yes),
        ("whitelist-environment", Val::Yes),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: true,
    stop_after: None,
};

/// bash, sh (dash), ash: the options that matter before the command string or script.
const SHELL: Spec = Spec {
    short: &[
        ('a', Val::No),
        ('b', Val::No),
        ('c', Val::No),
        ('e', Val::No),
        ('f', Val::No),
        ('h', Val::No),
        ('i', Val::No),
        ('k', Val::No),
        ('l', Val::No),
        ('m', Val::No),
        ('n', Val::No),
        ('p', Val::No),
        ('r', Val::No),
        ('s', Val::No),
        ('t', Val::No),
        ('u', Val::No),
        ('v', Val::No),
        ('x', Val::No),
        ('B', Val::No),
        ('C', Val::No),
        ('E', Val::No),
        ('H', Val::No),
        ('P', Val::No),
        ('T', Val::No),
        ('o', Val::Yes),
        ('O', Val::Yes),
    ],
    long: &[
        ("norc", Val::No),
        ("noprofile", Val::No),
        ("posix", Val::No),
        ("login", Val::No),
        ("noediting", Val::No),
        ("restricted", Val::No),
        ("verbose", Val::No),
        ("version", Val::No),
        ("help", Val::No),
        ("debugger", Val::No),
        ("dump-strings", Val::No),
        ("dump-po-strings", Val::No),
        ("pretty-print", Val::No),
        ("rcfile", Val::Yes),
        ("init-file", Val::Yes),
    ],
    permute: false,
    stop_after: Some(0),
};

const SHELLS_WE_PARSE: &[&str] = &["sh", "bash", "dash", "ash", "rbash"];
const OTHER_SHELLS: &[&str] = &[
    "zsh",
    "ksh",
    "ksh93",
    "mksh",
    "pdksh",
    "fish",
    "csh",
    "tcsh",
    "yash",
    "nu",
    "xonsh",
    "pwsh",
    "elvish",
    "oksh",
    "loksh",
    "posh",
    "busybox-sh",
];

/// Wrappers whose options are not modelled: run as `wrapper COMMAND...` with no options, the
/// command is the rest; with any option, refused.
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
    "faketime",
    "xvfb-run",
    "dbus-run-session",
    "bwrap",
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
    "chrt",
    "taskset",
    "chroot",
    "runuser",
    "machinectl",
    "systemd-nspawn",
    "docker-exec",
    "parallel",
    "nohup.exe",
    "env-update",
    "with-contenv",
    "s6-setuidgid",
    "setuidgid",
    "envdir",
    "envuidgid",
    "tini",
    "dumb-init",
    "gosu",
    "su-exec",
    "catatonit",
    "timelimit",
    "cpulimit",
    "cset",
    "hwloc-bind",
    "srun",
    "mpirun",
    "mpiexec",
    "ccache",
    "distcc",
    "icecc",
    "sccache",
    "ssh-agent",
    "runcon",
    "sudoedit",
    "run0",
    "newgrp",
    "lockf",
    "dbus-launch",
    "watchexec",
    "schedtool",
    "proot",
    "time.exe",
];

fn opts(args: &[Arg], spec: &Spec, program: &str) -> Result<Parsed, String> {
    getopt::parse(args, spec).map_err(|e| e.describe(program))
}

fn rest(args: &[Arg], from: usize) -> Option<Vec<Arg>> {
    (from < args.len()).then(|| args[from..].to_vec())
}

fn wrap(inner: Option<Vec<Arg>>, role: Role) -> Step {
    Step::Wrap { inner, role }
}

/// One step of peeling: what `base` (a program's file name) does with `args`, if it is a
/// wrapper; `None` for other programs.
pub(super) fn step(
    base: &str,
    args: &[Arg],
    inv: &Invocation,
    out: &mut Expansion,
) -> Option<Step> {
    let result = match base {
        "env" => env(args, out),
        "sudo" => sudo(args, out),
        "doas" => opts(args, &DOAS, base).and_then(|p| {
            if p.has("-s") {
                return Err("doas -s starts a shell whose input cannot be analysed".into());
            }
            if p.has("-C") {
                return Ok(Step::Program);
            }
            Ok(wrap(rest(args, p.rest), Role::Program))
        }),
        "timeout" => {
            opts(args, &TIMEOUT, base).map(|p| wrap(rest(args, p.rest), Role::Transparent))
        }
        "nice" => nice(args),
        "nohup" => opts(args, &NOHUP, base).map(|p| wrap(rest(args, p.rest), Role::Transparent)),
        "setsid" => opts(args, &SETSID, base).map(|p| wrap(rest(args, p.rest), Role::Transparent)),
        "stdbuf" => opts(args, &STDBUF, base).map(|p| wrap(rest(args, p.rest), Role::Transparent)),
        "time" => opts(args, &TIME, base).map(|p| {
            for f in p.values("-o").chain(p.values("--output")) {
                out.write(inv, "time -o", f.clone());
            }
            wrap(rest(args, p.rest), Role::Transparent)
        }),
        "ionice" => opts(args, &IONICE, base).map(|p| {
            let inner = if ["-p", "-P", "-u", "--pid", "--pgid", "--uid"]
                .iter()
                .any(|o| p.has(o))
            {
                None
            } else {
                rest(args, p.rest)
            };
            wrap(inner, Role::Transparent)
        }),
        "flock" => flock(args),
        "xargs" => xargs(args),
        "watch" => watch(args),
        "script" => opts(args, &SCRIPT, base).and_then(|p| {
            for o in [
                "-O",
                "--log-out",
                "-I",
                "--log-in",
                "-B",
                "--log-io",
                "-T",
                "--log-timing",
            ] {
                for f in p.values(o) {
                    out.write(inv, "script", f.clone());
                }
            }
            if let Some(f) = p.operands.first() {
                out.write(inv, "script", f.clone());
            }
            match p.value("-c").or(p.value("--command")) {
                Some(cmd) => Ok(Step::Shell {
                    text: cmd.clone(),
                    role: Role::Transparent,
                }),
                None => Err("script without -c starts an interactive shell".into()),
            }
        }),
        "su" => opts(args, &SU, base).and_then(|p| {
            if p.has("-s") || p.has("--shell") {
                return Err("su --shell runs a shell of the caller's choice".into());
            }
            match p
                .value("-c")
                .or(p.value("--command"))
                .or(p.value("--session-command"))
            {
                Some(cmd) => Ok(Step::Shell {
                    text: cmd.clone(),
                    role: Role::Program,
                }),
                None => Err("su without -c starts a shell whose input cannot be analysed".into()),
            }
        }),
        "busybox" => Ok(match args.first().and_then(Arg::lit) {
            Some(a) if !a.starts_with('-') => wrap(Some(args.to_vec()), Role::Program),
            _ => Step::Program,
        }),
        b if SHELLS_WE_PARSE.contains(&b) => return shell(b, args, out),
        b if OTHER_SHELLS.contains(&b)
            && args.iter().any(|a| match a {
                Arg::Lit(s) => s.starts_with('-') && !s.starts_with("--") && s.contains('c'),
                Arg::Dyn(_) => true,
            }) =>
        {
            Err(format!(
                "{b} -c: the command string would be parsed as bash but run by {b}"
            ))
        }
        b if GENERIC_WRAPPERS.contains(&b) => generic(b, args, inv, out),
        b if b.starts_with("ld-linux") || b == "ld.so" => generic(b, args, inv, out),
        _ => return None,
    };
    Some(result.unwrap_or_else(|reason| {
        out.refuse(reason);
        // Refused already: the layer itself needs no rule to say so twice.
        Step::Wrap {
            inner: None,
            role: Role::Transparent,
        }
    }))
}

fn env(args: &[Arg], out: &mut Expansion) -> Result<Step, String> {
    // A lone `-` is `-i`.
    let skip = usize::from(args.first().and_then(Arg::lit) == Some("-"));
    let args: Vec<Arg> = args[skip..].to_vec();
    let p = opts(&args, &ENV, "env")?;
    if p.has("-S") || p.has("--split-string") {
        return Err("env -S splits a string into a command line, which is not modelled".into());
    }
    // The server sets variables that harden what jobs run (git's safe.bareRepository):
    // clearing the environment, or unsetting those, is not modelled.
    if p.has("-i") || p.has("--ignore-environment") || skip == 1 {
        return Err(
            "env -i clears the environment the server sets for jobs, which is not modelled".into(),
        );
    }
    for v in p.values("-u").chain(p.values("--unset")) {
        if v.lit().is_none_or(crate::danger::dangerous_variable) {
            return Err(format!(
                "env -u {}: unsetting this variable is not modelled",
                v.display()
            ));
        }
    }
    if p.has("-C") || p.has("--chdir") {
        return Err(
            "env -C runs the command in another directory, which is not followed (write `cd DIR && ...`)"
                .into(),
        );
    }
    let mut i = p.rest;
    while let Some(a) = args.get(i) {
        match a {
            Arg::Lit(s) if s.contains('=') && !s.starts_with('=') => {
                let (name, value) = s.split_once('=').unwrap_or((s, ""));
                out.assignments
                    .push((name.to_string(), Arg::Lit(value.to_string())));
            }
            Arg::Dyn(d) if d.src.contains('=') || d.could_split() => {
                return Err(format!(
                    "env's argument {} is only known at run time",
                    d.src
                ));
            }
            _ => break,
        }
        i += 1;
    }
    Ok(wrap(rest(&args, i), Role::Transparent))
}

fn sudo(args: &[Arg], out: &mut Expansion) -> Result<Step, String> {
    let p = opts(args, &SUDO, "sudo")?;
    for o in ["-s", "-i", "--shell", "--login"] {
        if p.has(o) {
            return Err(format!(
                "sudo {o} starts a shell whose input cannot be analysed"
            ));
        }
    }
    if p.has("-e") || p.has("--edit") {
        return Err("sudo -e (sudoedit) runs an editor, which is not modelled".into());
    }
    if p.has("-D") || p.has("--chdir") || p.has("-R") || p.has("--chroot") {
        return Err(
            "sudo -D/-R runs the command in another directory, which is not followed".into(),
        );
    }
    if [
        "-l",
        "--list",
        "-v",
        "--validate",
        "-k",
        "-K",
        "-V",
        "--version",
        "-h",
        "--help",
    ]
    .iter()
    .any(|o| p.has(o))
        && p.rest >= args.len()
    {
        return Ok(Step::Program);
    }
    let mut i = p.rest;
    while let Some(Arg::Lit(s)) = args.get(i) {
        match s.split_once('=') {
            Some((name, value)) if vars::is_name(name) => {
                out.assignments
                    .push((name.to_string(), Arg::Lit(value.to_string())));
                i += 1;
            }
            _ => break,
        }
    }
    Ok(wrap(rest(args, i), Role::Program))
}

fn nice(args: &[Arg]) -> Result<Step, String> {
    // The historical form `nice -10 cmd` / `nice --10 cmd`.
    if let Some(Arg::Lit(a)) = args.first() {
        let n = a.trim_start_matches('-');
        if a.starts_with('-') && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
            return Ok(wrap(rest(args, 1), Role::Transparent));
        }
    }
    let p = opts(args, &NICE, "nice")?;
    Ok(wrap(rest(args, p.rest), Role::Transparent))
}

fn flock(args: &[Arg]) -> Result<Step, String> {
    let p = opts(args, &FLOCK, "flock")?;
    if let Some(cmd) = p.value("-c").or(p.value("--command")) {
        return Ok(Step::Shell {
            text: cmd.clone(),
            role: Role::Transparent,
        });
    }
    // `flock FILE -c COMMAND`
    if let Some(Arg::Lit(o)) = args.get(p.rest)
        && (o == "-c" || o == "--command" || "--command".starts_with(o.as_str()) && o.len() > 3)
    {
        return match args.get(p.rest + 1) {
            Some(cmd) => Ok(Step::Shell {
                text: cmd.clone(),
                role: Role::Transparent,
            }),
            None => Err("flock -c without a command".into()),
        };
    }
    if let Some(Arg::Lit(o)) = args.get(p.rest)
        && o.starts_with('-')
    {
        return Err(format!(
            "flock: option {o} after the lock file is not modelled"
        ));
    }
    Ok(wrap(rest(args, p.rest), Role::Transparent))
}

fn watch(args: &[Arg]) -> Result<Step, String> {
    let p = opts(args, &WATCH, "watch")?;
    let words = &args[p.rest.min(args.len())..];
    if p.has("-x") || p.has("--exec") {
        return Ok(wrap(rest(args, p.rest), Role::Transparent));
    }
    // watch joins its arguments and runs them with `sh -c`.
    Ok(Step::Shell {
        text: join(words),
        role: Role::Transparent,
    })
}

/// Words joined with spaces, as `ssh` and `watch` do before handing them to a shell.
pub(super) fn join(words: &[Arg]) -> Arg {
    let mut text = String::new();
    for w in words {
        match w {
            Arg::Lit(s) => {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(s);
            }
            Arg::Dyn(_) => return w.clone(),
        }
    }
    Arg::Lit(text)
}

fn shell(base: &str, args: &[Arg], out: &mut Expansion) -> Option<Step> {
    // `+o name` / `+O name` / `+x`: the same options, turned off.
    let mut flipped: Vec<Arg> = Vec::new();
    for a in args {
        match a.lit() {
            Some(s) if s.starts_with('+') && s.len() > 1 => {
                flipped.push(Arg::Lit(format!("-{}", &s[1..])))
            }
            _ => flipped.push(a.clone()),
        }
    }
    let p = match opts(&flipped, &SHELL, base) {
        Ok(p) => p,
        Err(e) => {
            out.refuse(e);
            return Some(Step::Program);
        }
    };
    for (o, why) in [
        ("-i", "an interactive shell reads start-up files"),
        ("-l", "a login shell reads start-up files"),
        ("--login", "a login shell reads start-up files"),
        ("--rcfile", "it reads a start-up file"),
        ("--init-file", "it reads a start-up file"),
        ("--debugger", "the debugger profile runs code"),
    ] {
        if p.has(o) {
            out.refuse(format!("{base} {o}: {why}, which is not modelled"));
        }
    }
    for o in ["-o", "-O"] {
        for v in p.values(o) {
            if !v
                .lit()
                .is_some_and(|n| vars::SAFE_SET_OPTIONS.contains(&n) || n == "noexec")
            {
                out.refuse(format!(
                    "{base} {o} {}: this shell option is not modelled",
                    v.display()
                ));
            }
        }
    }
    if p.has("-c") {
        return Some(match args.get(p.rest) {
            Some(cmd) => Step::Shell {
                text: cmd.clone(),
                role: Role::Transparent,
            },
            None => {
                out.refuse(format!("{base} -c without a command string"));
                Step::Program
            }
        });
    }
    // A script file or the shell's input: code the policy cannot see (see code.rs).
    None
}

fn xargs(args: &[Arg]) -> Result<Step, String> {
    let p = opts(args, &XARGS, "xargs")?;
    if p.has("--process-slot-var") {
        return Err("xargs --process-slot-var sets a variable of the caller's choosing".into());
    }
    let replace: Option<String> = if let Some(v) = p.value("-I") {
        Some(
            v.lit()
                .ok_or("xargs -I with a replacement string only known at run time")?
                .to_string(),
        )
    } else if p.has("-i") || p.has("--replace") {
        Some(
            p.value("-i")
                .or(p.value("--replace"))
                .and_then(Arg::lit)
                .unwrap_or("{}")
                .to_string(),
        )
    } else {
        None
    };
    let mut inner: Vec<Arg> = match rest(args, p.rest) {
        Some(r) => r,
        None => vec![Arg::Lit("echo".into())],
    };
    match &replace {
        Some(r) => {
            for a in inner.iter_mut().skip(1) {
                if a.lit().is_some_and(|s| s.contains(r.as_str())) {
                    *a = Arg::unknown(format!("<xargs input in {}>", a.display()));
                }
            }
        }
        // Input words are appended: they could be options of the command.
        None => inner.push(Arg::unknown("<xargs input>")),
    }
    Ok(wrap(Some(inner), Role::Program))
}

/// A wrapper whose options are not modelled (`taskset MASK cmd`, `chrt PRIO cmd`, `setarch
/// ARCH cmd`...): any of its words could start the command it runs, so each suffix is checked
/// as a command of its own (under `default = "deny"` that means every word must be an allowed
/// program: refused, in practice, unless the policy names the wrapper's whole command).
fn generic(
    base: &str,
    args: &[Arg],
    inv: &Invocation,
    out: &mut Expansion,
) -> Result<Step, String> {
    if args.iter().any(|a| matches!(a, Arg::Dyn(_))) {
        return Err(format!(
            "{base}: a word only known at run time could be the command it runs"
        ));
    }
    for k in 1..args.len() {
        out.inner.push(inv.derived(args[k..].to_vec()));
    }
    Ok(wrap(
        (!args.is_empty()).then(|| args.to_vec()),
        Role::Program,
    ))
}
