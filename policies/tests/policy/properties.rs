//! Properties: the checker never panics, and never allows a command in which a denied program
//! would run, however the command is dressed up.

use proptest::prelude::*;

use crate::*;

/// Spellings of the denied program `rm` that bash runs as `rm`.
const RM: &[&str] = &[
    "rm",
    "'rm'",
    "\"rm\"",
    "r''m",
    "\\rm",
    "/bin/rm",
    "./rm",
    "r\"\"m",
    "\"/bin/\"rm",
];
const SAFE: &[&str] = &["ls", "echo", "cargo", "true"];
const WRAPPERS: &[&str] = &[
    "",
    "sudo ",
    "env ",
    "timeout 5 ",
    "nice -n 1 ",
    "nohup ",
    "command ",
    "exec ",
    "env A=1 ",
    "stdbuf -o0 ",
    "xargs ",
];
const ARGS: &[&str] = &["", " -rf /", " x", " 'a b'", " \"$HOME\"", " *.rs"];
const SEPARATORS: &[&str] = &["; ", " && ", " || ", " | ", "\n", " & "];

#[derive(Debug, Clone)]
enum Cmd {
    Simple {
        wrapper: usize,
        prog: Result<usize, usize>,
        arg: usize,
    },
    Subst(Box<Cmd>),
    Subshell(Box<Cmd>),
    Shell(Box<Cmd>),
}

impl Cmd {
    fn render(&self) -> String {
        match self {
            Cmd::Simple { wrapper, prog, arg } => {
                let p = match prog {
                    Ok(i) => RM[*i],
                    Err(i) => SAFE[*i],
                };
                format!("{}{p}{}", WRAPPERS[*wrapper], ARGS[*arg])
            }
            Cmd::Subst(c) => format!("echo $( {} )", c.render()),
            Cmd::Subshell(c) => format!("( {} )", c.render()),
            // Single quotes inside would end the string: use double quotes with escapes.
            Cmd::Shell(c) => {
                let inner = c
                    .render()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('$', "\\$")
                    .replace('`', "\\`");
                format!("bash -c \"{inner}\"")
            }
        }
    }

    fn runs_rm(&self) -> bool {
        match self {
            Cmd::Simple { prog, .. } => prog.is_ok(),
            Cmd::Subst(c) | Cmd::Subshell(c) | Cmd::Shell(c) => c.runs_rm(),
        }
    }
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let leaf = (
        0..WRAPPERS.len(),
        prop_oneof![(0..RM.len()).prop_map(Ok), (0..SAFE.len()).prop_map(Err)],
        0..ARGS.len(),
    )
        .prop_map(|(wrapper, prog, arg)| Cmd::Simple { wrapper, prog, arg });
    leaf.prop_recursive(3, 8, 1, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cmd::Subst(Box::new(c))),
            inner.clone().prop_map(|c| Cmd::Subshell(Box::new(c))),
            inner.prop_map(|c| Cmd::Shell(Box::new(c))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_denied_program_is_never_allowed(cmds in prop::collection::vec((cmd(), 0..SEPARATORS.len()), 1..5)) {
        let mut line = String::new();
        for (i, (c, sep)) in cmds.iter().enumerate() {
            if i > 0 {
                line.push_str(SEPARATORS[*sep]);
            }
            line.push_str(&c.render());
        }
        let runs_rm = cmds.iter().any(|(c, _)| c.runs_rm());
        for p in [policy(ALLOWLIST), policy(BLOCKLIST)] {
            let v = check(&p, &line);
            if runs_rm {
                prop_assert!(!v.allowed, "allowed: {line:?}");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = check(&policy(ALLOWLIST), &s);
        let _ = check(&policy(BLOCKLIST), &s);
    }

    #[test]
    fn shell_like_text_never_panics(s in "[a-z $(){}\\[\\]`'\"|&;<>\\\\*?!=#~\n-]{0,120}") {
        let _ = check(&policy(ALLOWLIST), &s);
        let _ = check(&policy(BLOCKLIST), &s);
    }

    /// Text dense in what opens and closes levels, checked in bounded time (a hang detector:
    /// brush-parser once backtracked exponentially on unclosed parentheses).
    #[test]
    fn shell_like_text_is_checked_in_bounded_time(s in "[a $(){}\\[\\]`'\";|&!<>]{0,400}") {
        let started = std::time::Instant::now();
        let _ = check(&policy(ALLOWLIST), &s);
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(10), "slow: {s:?}");
    }
}
