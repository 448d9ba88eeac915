//! Ordinary programs the engine looks inside: what they run (`find -exec`), the files they
//! write by option or operand (`tee`, `sort -o`, `cp`, `find -fprint`), and the options that
//! make them run a program of the caller's choosing (`tar --to-command`, `rg --pre`,
//! `cargo --config`, `make --eval`, `npm --script-shell`, `ssh -o ProxyCommand`).

use super::getopt::{self, Spec, Val};
use super::{Expansion, Opaque, Role, Step, wrappers};
use crate::shell::{Arg, Cwd, Invocation};

fn refuse(out: &mut Expansion, why: String) -> Option<Step> {
    out.refuse(why);
    Some(Step::Program)
}

/// An opaque program layer: set on the layer `expand` builds for it.
fn opaque_step(out: &mut Expansion, base: &str, flag: &str, why: &str) -> Option<Step> {
    out.pending_opaque = Some(Opaque {
        reason: format!("{base} {flag} {why}, which cannot be analysed"),
        needs: vec![base.to_string(), flag.to_string()],
    });
    Some(Step::Program)
}

pub(super) fn step(
    base: &str,
    args: &[Arg],
    inv: &Invocation,
    out: &mut Expansion,
) -> Option<Step> {
    match base {
        "find" => find(args, inv, out),
        "tee" => {
            let p = match getopt::parse(args, &TEE) {
                Ok(p) => p,
                Err(e) => return refuse(out, e.describe(base)),
            };
            for f in p.operands {
                out.write(inv, base, f);
            }
            Some(Step::Program)
        }
        "sort" => {
            let p = match getopt::parse(args, &SORT) {
                Ok(p) => p,
                Err(e) => return refuse(out, e.describe(base)),
            };
            if p.has("--compress-program") {
                return opaque_step(
                    out,
                    base,
                    "--compress-program",
                    "runs a compression program",
                );
            }
            for f in p.values("-o").chain(p.values("--output")) {
                out.write(inv, base, f.clone());
            }
            for d in p.values("-T").chain(p.values("--temporary-directory")) {
                out.write(inv, "sort -T", d.clone());
            }
            Some(Step::Program)
        }
        "uniq" => {
            let p = match getopt::parse(args, &UNIQ) {
                Ok(p) => p,
                Err(e) => return refuse(out, e.describe(base)),
            };
            if let Some(f) = p.operands.get(1) {
                out.write(inv, base, f.clone());
            }
            Some(Step::Program)
        }
        "xxd" => {
            // xxd's options are single-dash words (`-c 8`, `-c8`, `-cols 8`); its second
            // operand is the output file.
            let operands: Vec<&Arg> = operands_after_simple_options(args, "cglosnR");
            if let Some(f) = operands.get(1) {
                out.write(inv, base, (*f).clone());
            }
            Some(Step::Program)
        }
        "install"
            if args.iter().filter_map(Arg::lit).any(|a| {
                let n = a.split('=').next().unwrap_or(a);
                n.len() > 4 && "--strip-program".starts_with(n)
            }) =>
        {
            opaque_step(
                out,
                base,
                "--strip-program",
                "runs a program of the caller's choosing",
            )
        }
        "cp" | "ln" | "install" | "rsync" => {
            // A hard or symbolic link gives the new name the source's contents: writing it
            // writes the source, so a linked source is judged as written.
            let links = base == "ln"
                || args.iter().filter_map(Arg::lit).any(|a| {
                    (a.starts_with('-')
                        && !a.starts_with("--")
                        && (a.contains('l') || a.contains('s')))
                        || (a.len() > 3
                            && ("--link".starts_with(a) || "--symbolic-link".starts_with(a)))
                });
            if links {
                let (_, operands) = split_options(args);
                for f in operands {
                    out.write(inv, &format!("{base} (link source)"), f);
                }
            }
            if base == "rsync"
                && let Some(a) = args.iter().filter_map(Arg::lit).find(|a| {
                    let name = a.split('=').next().unwrap_or(a);
                    *a == "-e"
                        || (a.starts_with('-') && !a.starts_with("--") && a.contains('e'))
                        || (name.len() > 3
                            && ("--rsh".starts_with(name) || "--rsync-path".starts_with(name)))
                })
            {
                return opaque_step(
                    out,
                    base,
                    a,
                    "runs a remote shell or program of the caller's choosing",
                );
            }
            destination(base, args, inv, out);
            Some(Step::Program)
        }
        "dd" => {
            for a in args {
                match a {
                    Arg::Lit(s) if s.starts_with("of=") => {
                        out.write(inv, base, Arg::Lit(s[3..].to_string()))
                    }
                    Arg::Lit(_) => {}
                    // `of=.gi*/config` is expanded by bash as a whole word.
                    Arg::Dyn(d) => {
                        return refuse(
                            out,
                            format!("dd: the operand {} is only known at run time", d.src),
                        );
                    }
                }
            }
            Some(Step::Program)
        }
        "tar" | "gtar" | "bsdtar" => tar(base, args, inv, out),
        "rg" => {
            for a in args.iter().filter_map(Arg::lit) {
                let name = a.split('=').next().unwrap_or(a);
                if name == "--pre" {
                    return opaque_step(
                        out,
                        base,
                        "--pre",
                        "runs a preprocessor program on every file",
                    );
                }
            }
            Some(Step::Program)
        }
        "unzip" | "cpio" | "7z" | "7za" | "bsdcpio" | "ar" => {
            out.creates_files = true;
            None
        }
        "zip" => {
            if args
                .iter()
                .filter_map(Arg::lit)
                .any(|a| a == "-TT" || a.starts_with("--unzip-command") || a.starts_with("-TT="))
            {
                return opaque_step(out, base, "-TT", "runs a test command");
            }
            None
        }
        "scp" | "sftp" => {
            if args.iter().filter_map(Arg::lit).any(|a| {
                a.starts_with("-S")
                    || a.starts_with("-o")
                    || a.starts_with("-F")
                    || a.starts_with("-D")
            }) {
                return opaque_step(out, base, "-S", "options can run local programs");
            }
            None
        }
        "ssh" => ssh(args, inv, out),
        "make" | "gmake" => make(base, args, out),
        "cargo" => cargo(args, inv, out),
        "npm" => npm(base, args, false, out),
        // yarn and pnpm hand the words after the script or command name to it.
        "pnpm" | "yarn" => npm(base, args, true, out),
        "mkdir" | "touch" | "truncate" => {
            let (_, operands) = split_options(args);
            for f in operands {
                out.write(inv, base, f);
            }
            Some(Step::Program)
        }
        "rm" | "rmdir" | "unlink" | "shred" => {
            let (_, operands) = split_options(args);
            for f in operands {
                out.delete(inv, base, f);
            }
            canonical(base, args, out).or(Some(Step::Program))
        }
        "mv" => {
            // Every source goes away (moving a protected place away is writing it); the
            // destination may receive a symlink.
            let (options, mut operands) = split_options(args);
            let target = options.iter().filter_map(Arg::lit).any(|o| {
                (o.starts_with('-') && !o.starts_with("--") && o.contains('t'))
                    || (o.len() > 3
                        && "--target-directory".starts_with(o.split('=').next().unwrap_or(o)))
            });
            if target {
                // `-t DIR`: which word is the directory is for `destination` to say.
                destination(base, args, inv, out);
                for f in operands {
                    out.write(inv, base, f);
                }
            } else if let Some(dest) = operands.pop() {
                for f in operands {
                    out.write(inv, base, f);
                }
                out.write_link(inv, base, dest);
            }
            Some(Step::Program)
        }
        "chmod" | "chown" | "chgrp" => {
            let (_, operands) = split_options(args);
            let files = if args
                .iter()
                .any(|a| a.lit().is_some_and(|s| s.starts_with("--reference")))
            {
                operands
            } else {
                operands.into_iter().skip(1).collect()
            };
            for f in files {
                out.write(inv, base, f);
            }
            canonical(base, args, out).or(Some(Step::Program))
        }
        "npx" => {
            let p = match getopt::parse(args, &NPX) {
                Ok(p) => p,
                Err(e) => return refuse(out, e.describe(base)),
            };
            match p.value("-c").or(p.value("--call")) {
                Some(cmd) => Some(Step::Shell {
                    text: cmd.clone(),
                    role: Role::Program,
                }),
                None => Some(Step::Program),
            }
        }
        "file" => {
            // `file -C` compiles a magic file: it writes `NAME.mgc`.
            if args.iter().filter_map(Arg::lit).any(|a| {
                (a.starts_with('-') && !a.starts_with("--") && a.contains('C'))
                    || (a.len() > 3 && "--compile".starts_with(a))
            }) {
                out.write(inv, "file -C", Arg::unknown("<compiled magic file>"));
            }
            Some(Step::Program)
        }
        "tree" => {
            if args
                .iter()
                .filter_map(Arg::lit)
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('R'))
            {
                out.write(
                    inv,
                    "tree -R",
                    Arg::unknown("<00Tree.html in every directory>"),
                );
            }
            let mut it = args.iter();
            while let Some(a) = it.next() {
                if a.lit() == Some("-o") {
                    if let Some(f) = it.next() {
                        out.write(inv, base, f.clone());
                    }
                } else if let Some(f) = a
                    .lit()
                    .and_then(|s| s.strip_prefix("-o"))
                    .filter(|f| !f.is_empty())
                {
                    out.write(inv, base, Arg::Lit(f.to_string()));
                }
            }
            Some(Step::Program)
        }
        b => canonical(b, args, out),
    }
}

/// Long options of programs that deny rules commonly name by option (`rm --recursive`,
/// `chmod --recursive`): an abbreviation is rewritten to the full name; an ambiguous or unknown
/// one is refused.
const LONG_OPTIONS: &[(&str, &[&str])] = &[
    (
        "rm",
        &[
            "force",
            "interactive",
            "one-file-system",
            "no-preserve-root",
            "preserve-root",
            "recursive",
            "dir",
            "verbose",
            "help",
            "version",
        ],
    ),
    (
        "chmod",
        &[
            "changes",
            "silent",
            "quiet",
            "verbose",
            "no-preserve-root",
            "preserve-root",
            "reference",
            "recursive",
            "help",
            "version",
        ],
    ),
    (
        "chown",
        &[
            "changes",
            "dereference",
            "no-dereference",
            "from",
            "silent",
            "quiet",
            "verbose",
            "no-preserve-root",
            "preserve-root",
            "reference",
            "recursive",
            "help",
            "version",
        ],
    ),
    (
        "chgrp",
        &[
            "changes",
            "dereference",
            "no-dereference",
            "silent",
            "quiet",
            "verbose",
            "no-preserve-root",
            "preserve-root",
            "reference",
            "recursive",
            "help",
            "version",
        ],
    ),
    (
        "shred",
        &[
            "force",
            "iterations",
            "random-source",
            "size",
            "remove",
            "verbose",
            "exact",
            "zero",
            "help",
            "version",
        ],
    ),
    (
        "kill",
        &[
            "signal", "list", "table", "timeout", "queue", "verbose", "help", "version",
        ],
    ),
];

fn canonical(base: &str, args: &[Arg], out: &mut Expansion) -> Option<Step> {
    let (_, table) = LONG_OPTIONS.iter().find(|(p, _)| *p == base)?;
    let mut canon = Vec::with_capacity(args.len());
    let mut done = false;
    for a in args {
        match a.lit() {
            Some("--") => {
                done = true;
                canon.push(a.clone());
            }
            Some(w) if !done && w.starts_with("--") && w.len() > 2 => {
                let (name, value) = match w[2..].split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (&w[2..], None),
                };
                let cands: Vec<&&str> = table.iter().filter(|t| t.starts_with(name)).collect();
                let full = match (table.contains(&name), cands.as_slice()) {
                    (true, _) => name,
                    (false, [one]) => one,
                    (false, []) => {
                        return refuse(
                            out,
                            format!("{base}: option --{name} is not one the policy models"),
                        );
                    }
                    (false, _) => {
                        return refuse(out, format!("{base}: option --{name} is ambiguous"));
                    }
                };
                canon.push(Arg::Lit(match value {
                    Some(v) => format!("--{full}={v}"),
                    None => format!("--{full}"),
                }));
            }
            _ => canon.push(a.clone()),
        }
    }
    out.pending_args = Some(canon);
    Some(Step::Program)
}

const TEE: Spec = Spec {
    short: &[('a', Val::No), ('i', Val::No), ('p', Val::No)],
    long: &[
        ("append", Val::No),
        ("ignore-interrupts", Val::No),
        ("output-error", Val::Optional),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: true,
    stop_after: None,
};

const SORT: Spec = Spec {
    short: &[
        ('b', Val::No),
        ('d', Val::No),
        ('f', Val::No),
        ('g', Val::No),
        ('h', Val::No),
        ('i', Val::No),
        ('M', Val::No),
        ('n', Val::No),
        ('R', Val::No),
        ('r', Val::No),
        ('V', Val::No),
        ('c', Val::No),
        ('C', Val::No),
        ('m', Val::No),
        ('s', Val::No),
        ('u', Val::No),
        ('z', Val::No),
        ('k', Val::Yes),
        ('o', Val::Yes),
        ('S', Val::Yes),
        ('t', Val::Yes),
        ('T', Val::Yes),
    ],
    long: &[
        ("ignore-leading-blanks", Val::No),
        ("dictionary-order", Val::No),
        ("ignore-case", Val::No),
        ("general-numeric-sort", Val::No),
        ("ignore-nonprinting", Val::No),
        ("month-sort", Val::No),
        ("human-numeric-sort", Val::No),
        ("numeric-sort", Val::No),
        ("random-sort", Val::No),
        ("random-source", Val::Yes),
        ("reverse", Val::No),
        ("sort", Val::Yes),
        ("version-sort", Val::No),
        ("batch-size", Val::Yes),
        ("check", Val::Optional),
        ("compress-program", Val::Yes),
        ("debug", Val::No),
        ("files0-from", Val::Yes),
        ("key", Val::Yes),
        ("merge", Val::No),
        ("output", Val::Yes),
        ("stable", Val::No),
        ("buffer-size", Val::Yes),
        ("field-separator", Val::Yes),
        ("temporary-directory", Val::Yes),
        ("parallel", Val::Yes),
        ("unique", Val::No),
        ("zero-terminated", Val::No),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: true,
    stop_after: None,
};

const UNIQ: Spec = Spec {
    short: &[
        ('c', Val::No),
        ('d', Val::No),
        ('D', Val::No),
        ('i', Val::No),
        ('u', Val::No),
        ('z', Val::No),
        ('f', Val::Yes),
        ('s', Val::Yes),
        ('w', Val::Yes),
    ],
    long: &[
        ("count", Val::No),
        ("repeated", Val::No),
        ("all-repeated", Val::Optional),
        ("group", Val::Optional),
        ("ignore-case", Val::No),
        ("unique", Val::No),
        ("zero-terminated", Val::No),
        ("skip-fields", Val::Yes),
        ("skip-chars", Val::Yes),
        ("check-chars", Val::Yes),
        ("help", Val::No),
        ("version", Val::No),
    ],
    permute: true,
    stop_after: None,
};

const NPX: Spec = Spec {
    short: &[
        ('c', Val::Yes),
        ('p', Val::Yes),
        ('y', Val::No),
        ('q', Val::No),
    ],
    long: &[
        ("call", Val::Yes),
        ("package", Val::Yes),
        ("yes", Val::No),
        ("no", Val::No),
        ("quiet", Val::No),
        ("no-install", Val::No),
        ("ignore-existing", Val::No),
    ],
    permute: false,
    stop_after: Some(0),
};

/// Options and operands of a coreutils-style command line (options may follow operands; `--`
/// ends them; a run-time word is an operand).
fn split_options(args: &[Arg]) -> (Vec<Arg>, Vec<Arg>) {
    let mut options = Vec::new();
    let mut operands = Vec::new();
    let mut done = false;
    for a in args {
        match a.lit() {
            Some("--") if !done => done = true,
            Some(s) if !done && s.starts_with('-') && s.len() > 1 => options.push(a.clone()),
            _ => operands.push(a.clone()),
        }
    }
    (options, operands)
}

/// Operands of a program whose options are single words (`-c 8` or `-c8`), for the letters
/// that take a value.
fn operands_after_simple_options<'a>(args: &'a [Arg], valued: &str) -> Vec<&'a Arg> {
    let mut ops = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].lit() {
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                let letter = s[1..].chars().next().unwrap_or('-');
                // `-c` or a long spelling (`-cols`): the value is the next word.
                if valued.contains(letter) && s[2..].chars().all(|c| c.is_ascii_alphabetic()) {
                    i += 1;
                }
            }
            _ => ops.push(&args[i]),
        }
        i += 1;
    }
    ops
}

/// `cp`/`ln`/`install`/`rsync`: the destination (`-t DIR`, in a cluster or as any
/// abbreviation of `--target-directory`, or else the last operand). What they create may be a
/// symlink (`ln -s`, `cp -a` of a link): later writes through it are refused (see check.rs).
fn destination(base: &str, args: &[Arg], inv: &Invocation, out: &mut Expansion) {
    let mut target: Option<Arg> = None;
    let mut last: Option<&Arg> = None;
    let mut options_done = false;
    let mut i = 0;
    while i < args.len() {
        match &args[i] {
            Arg::Lit(s) if !options_done && s == "--" => options_done = true,
            Arg::Lit(s) if !options_done && s.starts_with("--") => {
                let (name, value) = match s.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (s.as_str(), None),
                };
                if name.len() > 3 && "--target-directory".starts_with(name) {
                    target = match value {
                        Some(v) => Some(Arg::Lit(v.to_string())),
                        None => {
                            i += 1;
                            args.get(i).cloned()
                        }
                    };
                }
            }
            Arg::Lit(s) if !options_done && s.starts_with('-') && s.len() > 1 => {
                // A cluster: `t` takes the rest of the word, or the next one.
                if let Some(at) = s[1..].find('t') {
                    let rest = &s[2 + at..];
                    target = if rest.is_empty() {
                        i += 1;
                        args.get(i).cloned()
                    } else {
                        Some(Arg::Lit(rest.to_string()))
                    };
                }
            }
            other => last = Some(other),
        }
        i += 1;
    }
    if let Some(t) = target.or_else(|| last.cloned()) {
        out.write_link(inv, base, t);
    }
}

const FIND_OPTIONS_WITH_VALUE: &[&str] = &["-D"];
/// find's tests and actions, with how many words follow each.
const FIND_PRIMARIES: &[(&str, usize)] = &[
    ("-name", 1),
    ("-iname", 1),
    ("-path", 1),
    ("-ipath", 1),
    ("-wholename", 1),
    ("-iwholename", 1),
    ("-regex", 1),
    ("-iregex", 1),
    ("-type", 1),
    ("-xtype", 1),
    ("-size", 1),
    ("-mtime", 1),
    ("-mmin", 1),
    ("-atime", 1),
    ("-amin", 1),
    ("-ctime", 1),
    ("-cmin", 1),
    ("-used", 1),
    ("-newer", 1),
    ("-anewer", 1),
    ("-cnewer", 1),
    ("-perm", 1),
    ("-user", 1),
    ("-group", 1),
    ("-uid", 1),
    ("-gid", 1),
    ("-links", 1),
    ("-inum", 1),
    ("-samefile", 1),
    ("-maxdepth", 1),
    ("-mindepth", 1),
    ("-printf", 1),
    ("-lname", 1),
    ("-ilname", 1),
    ("-fstype", 1),
    ("-regextype", 1),
    ("-context", 1),
    ("-files0-from", 1),
    ("-empty", 0),
    ("-readable", 0),
    ("-writable", 0),
    ("-executable", 0),
    ("-depth", 0),
    ("-prune", 0),
    ("-quit", 0),
    ("-print", 0),
    ("-print0", 0),
    ("-ls", 0),
    ("-true", 0),
    ("-false", 0),
    ("-not", 0),
    ("-a", 0),
    ("-and", 0),
    ("-o", 0),
    ("-or", 0),
    ("!", 0),
    ("(", 0),
    (")", 0),
    (",", 0),
    ("-follow", 0),
    ("-xdev", 0),
    ("-mount", 0),
    ("-noleaf", 0),
    ("-ignore_readdir_race", 0),
    ("-noignore_readdir_race", 0),
    ("-warn", 0),
    ("-nowarn", 0),
    ("-daystart", 0),
    ("-help", 0),
    ("--help", 0),
    ("-version", 0),
    ("--version", 0),
    ("-nouser", 0),
    ("-nogroup", 0),
    ("-delete", 0),
    ("-fprint", 1),
    ("-fprint0", 1),
    ("-fls", 1),
    ("-fprintf", 2),
];

fn find(args: &[Arg], inv: &Invocation, out: &mut Expansion) -> Option<Step> {
    let mut i = 0;
    // Leading options.
    while let Some(Arg::Lit(a)) = args.get(i) {
        if matches!(a.as_str(), "-H" | "-L" | "-P") || a.starts_with("-O") {
            i += 1;
        } else if FIND_OPTIONS_WITH_VALUE.contains(&a.as_str()) {
            i += 2;
        } else {
            break;
        }
    }
    // Paths: words before the first that starts an expression.
    while let Some(a) = args.get(i) {
        match a {
            Arg::Lit(s) if s.starts_with('-') || matches!(s.as_str(), "(" | "!" | ")" | ",") => {
                break;
            }
            Arg::Lit(_) => i += 1,
            Arg::Dyn(d) if d.could_be_option() => {
                return refuse(
                    out,
                    format!(
                        "find: the path {} is only known at run time and could be an expression (-delete, -exec)",
                        d.src
                    ),
                );
            }
            Arg::Dyn(_) => i += 1,
        }
    }
    while let Some(a) = args.get(i) {
        let word = match a {
            Arg::Lit(s) => s.as_str(),
            Arg::Dyn(d) => {
                return refuse(
                    out,
                    format!(
                        "find: the word {} is only known at run time where a test or action is expected",
                        d.src
                    ),
                );
            }
        };
        if matches!(word, "-exec" | "-execdir" | "-ok" | "-okdir") {
            let mut argv = Vec::new();
            let mut j = i + 1;
            let mut closed = false;
            let mut previous: Option<&str> = None;
            while let Some(w) = args.get(j) {
                let raw = w.lit();
                match raw {
                    Some(";") => {
                        closed = true;
                        break;
                    }
                    Some("+") if previous == Some("{}") => {
                        closed = true;
                        break;
                    }
                    Some(s) if s.contains("{}") => {
                        argv.push(Arg::unknown(format!("<found file in {s}>")))
                    }
                    _ => argv.push(w.clone()),
                }
                previous = raw;
                j += 1;
            }
            if !closed {
                return refuse(out, format!("find {word} without its closing ; or +"));
            }
            if argv.is_empty() {
                return refuse(out, format!("find {word} without a command"));
            }
            let mut inner = inv.derived(argv);
            if word.ends_with("dir") {
                // Runs in each found file's directory.
                inner.cwd = Cwd::Unknown;
            }
            out.inner.push(inner);
            i = j + 1;
            continue;
        }
        let Some((_, arity)) = FIND_PRIMARIES.iter().find(|(p, _)| *p == word) else {
            return refuse(
                out,
                format!("find: {word} is not a test or action the policy models"),
            );
        };
        match word {
            "-fprint" | "-fprint0" | "-fls" | "-fprintf" => {
                if let Some(f) = args.get(i + 1) {
                    out.write(inv, &format!("find {word}"), f.clone());
                }
            }
            "-delete" => out.write(inv, "find -delete", Arg::unknown("<files find deletes>")),
            _ => {}
        }
        i += 1 + arity;
    }
    Some(Step::Program)
}

fn tar(base: &str, args: &[Arg], inv: &Invocation, out: &mut Expansion) -> Option<Step> {
    // The traditional first word (`tar czf x.tgz dir`) is a cluster of options.
    let mut words: Vec<Arg> = args.to_vec();
    if let Some(Arg::Lit(first)) = words.first()
        && !first.starts_with('-')
        && first.chars().all(|c| c.is_ascii_alphabetic())
    {
        // Each letter that takes a value takes the next word, in order.
        let letters: Vec<char> = first.chars().collect();
        let mut rebuilt = Vec::new();
        let mut next = 1;
        for c in letters {
            rebuilt.push(Arg::Lit(format!("-{c}")));
            if TAR_VALUED.contains(c) {
                if let Some(v) = args.get(next) {
                    rebuilt.push(v.clone());
                }
                next += 1;
            }
        }
        rebuilt.extend(args.iter().skip(next).cloned());
        words = rebuilt;
    }
    let p = match getopt::parse(&words, &TAR) {
        Ok(p) => p,
        Err(e) => return refuse(out, e.describe(base)),
    };
    for (o, why) in [
        ("--to-command", "pipes each member to a command"),
        ("--use-compress-program", "runs a compression program"),
        ("-I", "runs a compression program"),
        ("--checkpoint-action", "runs actions at checkpoints"),
        ("--info-script", "runs a script at the end of each volume"),
        (
            "--new-volume-script",
            "runs a script at the end of each volume",
        ),
        ("-F", "runs a script at the end of each volume"),
        ("--rsh-command", "runs a remote shell"),
        ("--rmt-command", "runs a remote tape program"),
    ] {
        if p.has(o) {
            return opaque_step(out, base, o, why);
        }
    }
    for o in ["--index-file", "--volno-file", "-g", "--listed-incremental"] {
        for f in p.values(o) {
            out.write(inv, &format!("{base} {o}"), f.clone());
        }
    }
    // `host:file` is a remote archive, reached through rsh.
    for f in p.values("-f").chain(p.values("--file")) {
        let remote = match f.lit() {
            Some(v) => v.split('/').next().is_some_and(|head| head.contains(':')),
            None => true,
        };
        if remote && !p.has("--force-local") {
            return refuse(
                out,
                format!(
                    "{base}: the archive {} is remote (host:file) or only known at run time",
                    f.display()
                ),
            );
        }
    }
    let extracting = p.has("-x") || p.has("--extract") || p.has("--get");
    if extracting {
        out.creates_files = true;
        for o in ["--transform", "--xform", "-P", "--absolute-names"] {
            if p.has(o) {
                return refuse(
                    out,
                    format!("{base} {o} while extracting: where files land is not modelled"),
                );
            }
        }
        for d in p.values("-C").chain(p.values("--directory")) {
            out.write(inv, &format!("{base} -C"), d.clone());
        }
    }
    let creating = [
        "-c",
        "--create",
        "-r",
        "--append",
        "-u",
        "--update",
        "-A",
        "--catenate",
        "--concatenate",
    ]
    .iter()
    .any(|o| p.has(o));
    if creating {
        for f in p.values("-f").chain(p.values("--file")) {
            if f.lit() != Some("-") {
                out.write(inv, base, f.clone());
            }
        }
    }
    Some(Step::Program)
}

const TAR_VALUED: &str = "fCbFgHIKLNTVX";

const TAR: Spec = Spec {
    short: &[
        ('A', Val::No),
        ('c', Val::No),
        ('d', Val::No),
        ('r', Val::No),
        ('t', Val::No),
        ('u', Val::No),
        ('x', Val::No),
        ('a', Val::No),
        ('j', Val::No),
        ('J', Val::No),
        ('z', Val::No),
        ('Z', Val::No),
        ('v', Val::No),
        ('k', Val::No),
        ('m', Val::No),
        ('o', Val::No),
        ('p', Val::No),
        ('P', Val::No),
        ('O', Val::No),
        ('h', Val::No),
        ('l', Val::No),
        ('S', Val::No),
        ('U', Val::No),
        ('W', Val::No),
        ('w', Val::No),
        ('B', Val::No),
        ('G', Val::No),
        ('i', Val::No),
        ('M', Val::No),
        ('R', Val::No),
        ('s', Val::No),
        ('f', Val::Yes),
        ('C', Val::Yes),
        ('b', Val::Yes),
        ('F', Val::Yes),
        ('g', Val::Yes),
        ('H', Val::Yes),
        ('I', Val::Yes),
        ('K', Val::Yes),
        ('L', Val::Yes),
        ('N', Val::Yes),
        ('T', Val::Yes),
        ('V', Val::Yes),
        ('X', Val::Yes),
    ],
    long: &[
        ("catenate", Val::No),
        ("concatenate", Val::No),
        ("create", Val::No),
        ("diff", Val::No),
        ("compare", Val::No),
        ("delete", Val::No),
        ("append", Val::No),
        ("list", Val::No),
        ("test-label", Val::No),
        ("update", Val::No),
        ("extract", Val::No),
        ("get", Val::No),
        ("file", Val::Yes),
        ("directory", Val::Yes),
        ("auto-compress", Val::No),
        ("bzip2", Val::No),
        ("xz", Val::No),
        ("gzip", Val::No),
        ("gunzip", Val::No),
        ("ungzip", Val::No),
        ("compress", Val::No),
        ("uncompress", Val::No),
        ("zstd", Val::No),
        ("lzip", Val::No),
        ("lzma", Val::No),
        ("lzop", Val::No),
        ("no-auto-compress", Val::No),
        ("verbose", Val::No),
        ("keep-old-files", Val::No),
        ("skip-old-files", Val::No),
        ("overwrite", Val::No),
        ("touch", Val::No),
        ("no-same-owner", Val::No),
        ("same-owner", Val::No),
        ("preserve-permissions", Val::No),
        ("no-same-permissions", Val::No),
        ("absolute-names", Val::No),
        ("to-stdout", Val::No),
        ("dereference", Val::No),
        ("exclude", Val::Yes),
        ("exclude-from", Val::Yes),
        ("exclude-vcs", Val::No),
        ("exclude-vcs-ignores", Val::No),
        ("exclude-caches", Val::No),
        ("files-from", Val::Yes),
        ("strip-components", Val::Yes),
        ("transform", Val::Yes),
        ("xform", Val::Yes),
        ("owner", Val::Yes),
        ("group", Val::Yes),
        ("mode", Val::Yes),
        ("mtime", Val::Yes),
        ("sort", Val::Yes),
        ("numeric-owner", Val::No),
        ("format", Val::Yes),
        ("totals", Val::Optional),
        ("wildcards", Val::No),
        ("no-wildcards", Val::No),
        ("anchored", Val::No),
        ("no-anchored", Val::No),
        ("ignore-case", Val::No),
        ("null", Val::No),
        ("no-null", Val::No),
        ("one-file-system", Val::No),
        ("show-transformed-names", Val::No),
        ("warning", Val::Yes),
        ("checkpoint", Val::Optional),
        ("record-size", Val::Yes),
        ("blocking-factor", Val::Yes),
        ("level", Val::Yes),
        ("listed-incremental", Val::Yes),
        ("incremental", Val::No),
        ("newer", Val::Yes),
        ("after-date", Val::Yes),
        ("newer-mtime", Val::Yes),
        ("label", Val::Yes),
        ("sparse", Val::No),
        ("recursion", Val::No),
        ("no-recursion", Val::No),
        ("unlink-first", Val::No),
        ("recursive-unlink", Val::No),
        ("remove-files", Val::No),
        ("help", Val::No),
        ("version", Val::No),
        ("usage", Val::No),
        ("show-defaults", Val::No),
        ("to-command", Val::Yes),
        ("use-compress-program", Val::Yes),
        ("checkpoint-action", Val::Yes),
        ("info-script", Val::Yes),
        ("new-volume-script", Val::Yes),
        ("rsh-command", Val::Yes),
        ("rmt-command", Val::Yes),
        ("index-file", Val::Yes),
        ("volno-file", Val::Yes),
        ("acls", Val::No),
        ("xattrs", Val::No),
        ("selinux", Val::No),
        ("no-acls", Val::No),
        ("no-xattrs", Val::No),
    ],
    permute: true,
    stop_after: None,
};

/// ssh: options that make the client run a local program are refused; the remote command
/// (the joined words after the host) is analysed as a command string.
fn ssh(args: &[Arg], inv: &Invocation, out: &mut Expansion) -> Option<Step> {
    const SAFE_O: &[&str] = &[
        "connecttimeout",
        "batchmode",
        "stricthostkeychecking",
        "serveraliveinterval",
        "serveralivecountmax",
        "loglevel",
        "port",
        "user",
        "identityfile",
        "identitiesonly",
        "userknownhostsfile",
        "compression",
        "forwardagent",
        "requesttty",
        "connectionattempts",
        "addressfamily",
        "hostname",
        "tcpkeepalive",
        "passwordauthentication",
        "preferredauthentications",
    ];
    let p = match getopt::parse(args, &SSH) {
        Ok(p) => p,
        Err(e) => return refuse(out, e.describe("ssh")),
    };
    for v in p.values("-o") {
        let key = v.lit().map(|s| {
            s.split(['=', ' '])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        });
        if !key.is_some_and(|k| SAFE_O.contains(&k.as_str())) {
            return refuse(
                out,
                format!(
                    "ssh -o {}: this option is not modelled (some run local commands)",
                    v.display()
                ),
            );
        }
    }
    for o in ["-F", "-E", "-S", "-w", "-W"] {
        if p.has(o) {
            return refuse(out, format!("ssh {o} is not modelled"));
        }
    }
    let words = p.operands.get(1..).unwrap_or(&[]);
    if words.is_empty() {
        return opaque_step(
            out,
            "ssh",
            "-",
            "without a command runs a remote shell reading its input;",
        );
    }
    let _ = inv;
    Some(Step::Shell {
        text: wrappers::join(words),
        role: Role::Program,
    })
}

const SSH: Spec = Spec {
    short: &[
        ('4', Val::No),
        ('6', Val::No),
        ('A', Val::No),
        ('a', Val::No),
        ('C', Val::No),
        ('f', Val::No),
        ('G', Val::No),
        ('g', Val::No),
        ('K', Val::No),
        ('k', Val::No),
        ('M', Val::No),
        ('N', Val::No),
        ('n', Val::No),
        ('q', Val::No),
        ('s', Val::No),
        ('T', Val::No),
        ('t', Val::No),
        ('V', Val::No),
        ('v', Val::No),
        ('X', Val::No),
        ('x', Val::No),
        ('Y', Val::No),
        ('y', Val::No),
        ('B', Val::Yes),
        ('b', Val::Yes),
        ('c', Val::Yes),
        ('D', Val::Yes),
        ('E', Val::Yes),
        ('e', Val::Yes),
        ('F', Val::Yes),
        ('I', Val::Yes),
        ('i', Val::Yes),
        ('J', Val::Yes),
        ('L', Val::Yes),
        ('l', Val::Yes),
        ('m', Val::Yes),
        ('O', Val::Yes),
        ('o', Val::Yes),
        ('P', Val::Yes),
        ('p', Val::Yes),
        ('Q', Val::Yes),
        ('R', Val::Yes),
        ('S', Val::Yes),
        ('W', Val::Yes),
        ('w', Val::Yes),
    ],
    long: &[],
    permute: false,
    stop_after: None,
};

/// Variables that name programs make runs.
const MAKE_COMMAND_VARS: &[&str] = &[
    "SHELL",
    "MAKE",
    "MAKEFLAGS",
    "MFLAGS",
    "CC",
    "CXX",
    "CPP",
    "LD",
    "AR",
    "AS",
    "RANLIB",
    "NM",
    "STRIP",
    "OBJCOPY",
    "FC",
    "PC",
    "YACC",
    "LEX",
    "M4",
    "INSTALL",
    "RM",
    "MV",
    "CP",
    "PKG_CONFIG",
    "PYTHON",
    "PERL",
    "GO",
    "CARGO",
    "RUSTC",
    "NPM",
    "NODE",
    "DOCKER",
    "SED",
    "AWK",
    "MAKESHELL",
    ".SHELLFLAGS",
    "GNUMAKEFLAGS",
];

fn make(base: &str, args: &[Arg], out: &mut Expansion) -> Option<Step> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let s = match a {
            Arg::Lit(s) => s.as_str(),
            // `-j"$(nproc)"`: a value attached to -j or -l cannot become another option.
            Arg::Dyn(d) if !d.may_split && matches!(d.prefix.as_str(), "-j" | "-l") => {
                i += 1;
                continue;
            }
            Arg::Dyn(d) if d.could_be_option() || d.src.contains('=') => {
                return refuse(
                    out,
                    format!(
                        "{base}: the word {} is only known at run time (quote it)",
                        d.src
                    ),
                );
            }
            Arg::Dyn(_) => {
                i += 1;
                continue;
            }
        };
        let name = s.split('=').next().unwrap_or(s);
        // `make -C DIR` runs in DIR.
        if s.starts_with("-C") || (name.len() > 3 && "--directory".starts_with(name)) {
            let dir = if let Some((_, v)) = s.split_once('=') {
                Some(Arg::Lit(v.to_string()))
            } else if s.len() > 2 && !s.starts_with("--") {
                Some(Arg::Lit(s[2..].to_string()))
            } else {
                i += 1;
                args.get(i).cloned()
            };
            match dir {
                Some(Arg::Lit(d)) => out.runs_in.push(d),
                _ => {
                    return refuse(
                        out,
                        format!("{base} -C with a directory only known at run time"),
                    );
                }
            }
        }
        if s.starts_with("--") && name.len() > 3 && "--eval".starts_with(name)
            || s.starts_with("-E")
        {
            return opaque_step(
                out,
                base,
                "--eval",
                "evaluates make code given on the command line",
            );
        }
        let file = if s == "-f"
            || (s.len() > 3 && ("--file".starts_with(name) || "--makefile".starts_with(name)))
        {
            if s.contains('=') {
                s.split_once('=').map(|(_, v)| Arg::Lit(v.to_string()))
            } else {
                i += 1;
                args.get(i).cloned()
            }
        } else {
            s.strip_prefix("-f").map(|f| Arg::Lit(f.to_string()))
        };
        if let Some(f) = file {
            let from_input = match f.lit() {
                Some(p) => p == "-" || p.starts_with("/dev/") || p.starts_with("/proc/"),
                None => true,
            };
            if from_input {
                return opaque_step(
                    out,
                    base,
                    "-f",
                    "reads a makefile from its input or a run-time path",
                );
            }
        }
        if !s.starts_with('-') && (s.contains('=') || s.contains('$')) {
            // `NAME=value` overrides a variable (and make exports it to recipes); make also
            // reads `X!=cmd`, `X := $(shell ...)`, `override X=`: only a plain name and a
            // plain value that names no program are modelled.
            let plain = s.split_once('=').is_some_and(|(var, value)| {
                crate::shell::vars::is_name(var)
                    && !MAKE_COMMAND_VARS.contains(&var)
                    && !crate::danger::dangerous_variable(var)
                    && !crate::shell::vars::is_special(var)
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_./,:+@%^-".contains(c))
            });
            if !plain {
                return refuse(
                    out,
                    format!(
                        "{base} {s}: only plain NAME=value overrides of variables that name no \
program are modelled"
                    ),
                );
            }
        }
        i += 1;
    }
    Some(Step::Program)
}

/// Flags after `--` that `cargo clippy`/`rustc`/`rustdoc` hand to the compiler and that only
/// change diagnostics (others, such as `-C linker=`, run programs).
const RUSTC_SAFE_FLAGS: &[&str] = &[
    "-D",
    "-W",
    "-A",
    "-F",
    "--deny",
    "--warn",
    "--allow",
    "--forbid",
    "--cap-lints",
];

fn cargo(args: &[Arg], inv: &Invocation, out: &mut Expansion) -> Option<Step> {
    let sub = args
        .iter()
        .filter_map(Arg::lit)
        .find(|a| !a.starts_with('-') && !a.starts_with('+'))
        .unwrap_or("");
    let mut after_dashes = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match a {
            Arg::Lit(s) if s == "--" && !after_dashes => after_dashes = true,
            Arg::Lit(s) if after_dashes => {
                if matches!(sub, "clippy" | "rustc" | "rustdoc" | "fix") && s.starts_with('-') {
                    let name = s.split('=').next().unwrap_or(s);
                    let flag = if name.starts_with("--") {
                        name
                    } else {
                        &name[..2.min(name.len())]
                    };
                    if !RUSTC_SAFE_FLAGS.contains(&flag) {
                        return refuse(
                            out,
                            format!(
                                "cargo {sub} -- {s}: compiler flags other than lint levels can make the \
compiler run programs (-C linker=...)"
                            ),
                        );
                    }
                }
                if matches!(sub, "test" | "bench" | "t")
                    && (s == "--logfile" || s.starts_with("--logfile="))
                {
                    let f = s
                        .strip_prefix("--logfile=")
                        .map(|v| Arg::Lit(v.to_string()))
                        .or_else(|| args.get(i + 1).cloned());
                    if let Some(f) = f {
                        out.write(inv, "cargo test -- --logfile", f);
                    }
                }
            }
            Arg::Lit(s) => {
                let name = s.split('=').next().unwrap_or(s);
                if (name.len() >= 4 && "--config".starts_with(name)) || s.starts_with("-Z") {
                    return refuse(
                        out,
                        format!(
                            "cargo {s}: configuration on the command line can make cargo run programs \
(rustc-wrapper, runners, linkers)"
                        ),
                    );
                }
                for dir in ["--target-dir", "--artifact-dir", "--out-dir"] {
                    if name.len() > 4 && dir.starts_with(name) {
                        let target = s
                            .split_once('=')
                            .map(|(_, v)| Arg::Lit(v.to_string()))
                            .or_else(|| args.get(i + 1).cloned());
                        if let Some(t) = target {
                            out.write(inv, &format!("cargo {dir}"), t);
                        }
                    }
                }
            }
            Arg::Dyn(d) if !after_dashes && d.could_be_option() => {
                return refuse(
                    out,
                    format!(
                        "cargo: the word {} is only known at run time and could be --config",
                        d.src
                    ),
                );
            }
            Arg::Dyn(_) => {}
        }
        i += 1;
    }
    Some(Step::Program)
}

/// npm options that only change output or what is installed, never what runs.
const NPM_SAFE: &[&str] = &[
    "silent",
    "s",
    "quiet",
    "q",
    "verbose",
    "loglevel",
    "json",
    "parseable",
    "long",
    "l",
    "workspace",
    "w",
    "workspaces",
    "ws",
    "include-workspace-root",
    "if-present",
    "save",
    "save-dev",
    "D",
    "save-prod",
    "P",
    "save-optional",
    "O",
    "save-exact",
    "E",
    "no-save",
    "save-peer",
    "production",
    "omit",
    "include",
    "legacy-peer-deps",
    "strict-peer-deps",
    "prefer-offline",
    "prefer-online",
    "offline",
    "no-audit",
    "audit",
    "no-fund",
    "fund",
    "dry-run",
    "yes",
    "y",
    "no",
    "depth",
    "all",
    "a",
    "global",
    "g",
    "force",
    "f",
    "frozen-lockfile",
    "immutable",
    "no-progress",
    "color",
    "no-color",
    "ignore-scripts",
    "package-lock-only",
    "no-package-lock",
    "filter",
    "recursive",
    "r",
    "dev",
    "watch",
    "coverage",
    "version",
    "v",
    "help",
    "h",
    "silent-errors",
    "prefix",
    "C",
    "dir",
    "cwd",
    "pure-lockfile",
    "non-interactive",
    "check-files",
    "immutable-cache",
    "reporter",
    "stream",
    "parallel",
    "sort",
    "no-bail",
];

fn npm(base: &str, args: &[Arg], stop_at_operand: bool, out: &mut Expansion) -> Option<Step> {
    for a in args {
        match a {
            Arg::Lit(s) if s == "--" => break,
            Arg::Lit(s) if stop_at_operand && !s.starts_with('-') => break,
            Arg::Lit(s) if s.starts_with('-') && s.len() > 1 => {
                let name = s.trim_start_matches('-').split('=').next().unwrap_or("");
                let name = name
                    .strip_prefix("no-")
                    .filter(|n| NPM_SAFE.contains(n))
                    .unwrap_or(name);
                if !NPM_SAFE.contains(&name) {
                    return refuse(
                        out,
                        format!(
                            "{base} {s}: this option is not modelled ({base} options set configuration, \
some of which run programs: script-shell, node-options, git, editor)"
                        ),
                    );
                }
            }
            Arg::Dyn(d) if d.could_be_option() => {
                return refuse(
                    out,
                    format!(
                        "{base}: the word {} is only known at run time and could be an option",
                        d.src
                    ),
                );
            }
            _ => {}
        }
    }
    Some(Step::Program)
}
