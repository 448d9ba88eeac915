//! Differential tests against real bash: every command the policy accepts is run under
//! `bash -c` in a throwaway sandbox (read-only root, no network, strace watching every exec and
//! every write; see `observe.rs`), and every program that actually ran must be one the verdict
//! listed and allowed, and nothing may be written outside the job's directory.
//!
//! Fed with: the bypasses of issue 10 (`regressions.rs`) and the older attack rows, the honest
//! corpus, and a generator that composes bash constructs, quoting, builtins, options and
//! wrappers into adversarial commands. CI runs a few hundred generated cases; a long run:
//! `POLICY_DIFF_CASES=20000 cargo test -p policies --test policy differential -- --nocapture`.

use std::path::{Path, PathBuf};

use policies::{CheckRequest, Policy};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::observe::{Sandbox, allowed_programs, observe, violations};
use crate::{policy, regressions};

/// The policy the generated commands are judged by: a deny-by-default allow list of
/// everyday programs, jobs kept to the jail.
fn differential_policy(jail: &Path) -> Policy {
    policy(&format!(
        r#"
default = "deny"
allow = ["ls", "echo", "cat", "grep", "sed", "find", "xargs", "env", "timeout", "nice",
         "sort", "head", "tail", "wc", "tr", "cut", "printf", "true", "false", "test", "bash",
         "sh", "mkdir", "tee", "uniq", "stdbuf", "basename", "dirname", "awk", "seq"]
cwd = ["{}"]
[env]
allow = ["A", "B", "LC_ALL"]
"#,
        jail.display()
    ))
}

/// Runs `command` if `p` accepts it; the violations found, if any.
fn differ(p: &Policy, sb: &Sandbox, command: &str) -> Option<String> {
    let jail = sb.jail();
    let v = p.check(&CheckRequest {
        cwd: Some(&jail),
        ..CheckRequest::new(command)
    });
    if !v.allowed {
        return None;
    }
    let obs = observe(sb, command, &jail);
    let roots: Vec<PathBuf> = vec![jail.clone(), sb.tmp()];
    let found = violations(&allowed_programs(&v), &obs, &roots);
    (!found.is_empty()).then(|| {
        format!(
            "`{command}` ({}):\n  - {}",
            v.summary(),
            found.join("\n  - ")
        )
    })
}

fn run_all(p: &Policy, sb: &Sandbox, commands: &[String]) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut failures = Vec::new();
    for c in commands {
        let jail = sb.jail();
        if p.check(&CheckRequest {
            cwd: Some(&jail),
            ..CheckRequest::new(c)
        })
        .allowed
        {
            ran += 1;
        }
        if let Some(f) = differ(p, sb, c) {
            failures.push(f);
        }
    }
    (ran, failures)
}

#[test]
fn known_bypasses_and_their_honest_twins_under_real_bash() {
    let sb = Sandbox::new();
    let p = differential_policy(&sb.jail());
    std::fs::write(sb.jail().join("f"), "1\n2\n").unwrap();
    let mut commands: Vec<String> = regressions::ARITHMETIC_AND_VARIABLES
        .iter()
        .chain(regressions::OPTION_SPELLINGS)
        .chain(regressions::PROGRAMS_THAT_RUN_PROGRAMS)
        .map(|s| s.to_string())
        .collect();
    commands.extend(
        [
            "cd link/.. && echo x > f",
            "echo $((3 * 2))",
            "x=3; echo \"$x\"",
            "for f in *; do echo \"$f\"; done",
            "find . -name f -exec cat {} +",
            "ls | xargs -n 1 echo",
            "env -u A ls",
            "timeout --signal KILL 5 ls",
            "bash -c 'ls && echo ok'",
            "sed -n '1p' f",
            "sed 's/1/one/' f",
            "printf '%s\\n' a b | sort | uniq",
            "echo x | tee g",
            "cat < f > g 2>&1",
            "echo $'\\x41'",
            "[[ -f f ]] && echo yes",
            "[ -n \"$HOME\" ] && echo home",
            "read -r a b <<< 'x y'; echo \"$a\"",
            "export A=1; env",
            "case x in x) echo x;; esac",
            "while false; do echo never; done",
            "if test -f f; then echo f; fi",
            "echo ~",
            "mkdir -p d && cd d && echo x > y",
        ]
        .map(String::from),
    );
    std::os::unix::fs::symlink(sb.outside(), sb.jail().join("link")).unwrap();
    let (ran, failures) = run_all(&p, &sb, &commands);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 20, "only {ran} commands were allowed and run");
}

/// The honest corpus under real bash, with an allow list that names its programs.
#[test]
fn honest_corpus_is_contained_under_real_bash() {
    let sb = Sandbox::new();
    let p = differential_policy(&sb.jail());
    let commands: Vec<String> = crate::corpus::honest()
        .into_iter()
        .filter(|c| {
            // Only what runs here, offline and without a project around it.
            let first = c.split_whitespace().next().unwrap_or("");
            !matches!(
                first,
                "cargo" | "npm" | "npx" | "pytest" | "python3" | "git" | "make" | "docker" | "curl"
            )
        })
        .collect();
    let (ran, failures) = run_all(&p, &sb, &commands);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 10, "only {ran} honest commands were allowed and run");
}

// ---------------------------------------------------------------------------------------------
// The generator.

const PROGRAMS: &[&str] = &[
    "echo",
    "cat f",
    "ls",
    "grep 1 f",
    "sed -n 1p f",
    "find . -maxdepth 0",
    "printf '%s\\n' x",
    "true",
    "sort f",
    "head -1 f",
    "wc -l f",
    "tr a b",
    "env",
    "seq 2",
    // Payloads: each runs a program the policy does not allow, or writes outside.
    "touch m",
    "rm -f f",
    "id",
    "/usr/bin/touch m",
    "t\\ouch m",
    "'touch' m",
    "$'\\x74ouch' m",
    "sed -e'1e touch m' f",
    "sed 's/x/touch m/e' f",
    "find . -exec touch m \\;",
    "xargs touch <<< m",
    "env touch m",
    "timeout 5 touch m",
    "nice touch m",
    "awk 'BEGIN{system(\"touch m\")}'",
    "echo x > ../m",
    "echo x > /tmp/../m",
    "echo x > link/m",
    "cat f > /dev/fd/../../../m",
];
const WORDS: &[&str] = &[
    "a",
    "'a b'",
    "\"$A\"",
    "$A",
    "$(echo x)",
    "`echo x`",
    "*",
    "~",
    "$'\\x61'",
    "${A:-b}",
    "$((1+2))",
    "$((A))",
    "'a[$(touch m)]'",
    "-v",
    "--sp='touch m'",
    "$(touch m)",
    "\"$(touch m)\"",
    "<(touch m)",
    "${A:-$(touch m)}",
    "$[A]",
    "${!A}",
    "{a,b}",
];
const PREFIXES: &[&str] = &[
    "",
    "env ",
    "env -u A ",
    "timeout 5 ",
    "nice -n 1 ",
    "command ",
    "builtin ",
    "exec ",
    "A=1 ",
    "RANDOM='a[$(touch m)]' ",
    "PS4='$(touch m)' ",
    "xargs ",
    "stdbuf -o0 ",
    "env --sp='touch m' ",
    "env -C / ",
];
const STATEMENTS: &[&str] = &[
    "A='a[$(touch m)]'",
    "x=1",
    "RANDOM='a[$(touch m)]'",
    "declare -i A",
    "export A=1",
    "read -r A <<< 'a[$(touch m)]'",
    "printf -v A '%s' 'a[$(touch m)]'",
    "set -x",
    "shopt -s expand_aliases",
    "unset A",
    "cd ..",
    "cd link",
    "cd /",
    "builtin cd ..",
    "PS4='$(touch m)'",
    "BASH_CMDS[ls]=/usr/bin/touch",
    "test -v 'a[$(touch m)]'",
    "[[ $A -eq 0 ]]",
    "(( A ))",
    "echo $((A))",
    "let A=1",
];
const REDIRECTS: &[&str] = &[
    "",
    "",
    "",
    " > g",
    " >> g",
    " > /dev/null",
    " 2>&1",
    " < f",
    " <<< x",
    " > ../m",
    " > /dev/stdout",
    " 3< f > /dev/fd/3",
    " > link/g",
    " &> g",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(list).prop_map(str::to_string)
}

fn simple() -> impl Strategy<Value = String> {
    (
        pick(PREFIXES),
        pick(PROGRAMS),
        proptest::collection::vec(pick(WORDS), 0..3),
        pick(REDIRECTS),
    )
        .prop_map(|(pre, prog, words, redir)| {
            let mut s = format!("{pre}{prog}");
            for w in words {
                s.push(' ');
                s.push_str(&w);
            }
            s.push_str(&redir);
            s
        })
}

fn command() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![3 => simple(), 1 => pick(STATEMENTS)];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}; {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} || {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} | {b}")),
            inner.clone().prop_map(|a| format!("{{ {a}; }}")),
            inner.clone().prop_map(|a| format!("( {a} )")),
            inner.clone().prop_map(|a| format!("echo \"$({a})\"")),
            inner
                .clone()
                .prop_map(|a| format!("bash -c '{}'", a.replace('\'', "'\\''"))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("if {a}; then {b}; fi")),
            inner
                .clone()
                .prop_map(|a| format!("for A in 1 2; do {a}; done")),
            inner
                .clone()
                .prop_map(|a| format!("while read -r A; do {a}; done <<< x")),
            inner
                .clone()
                .prop_map(|a| format!("case x in *) {a};; esac")),
            inner.prop_map(|a| format!("[[ -n x ]] && {a}")),
        ]
    })
}

fn cases() -> u32 {
    std::env::var("POLICY_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

#[test]
fn generated_commands_are_contained_under_real_bash() {
    let sb = Sandbox::new();
    std::fs::write(sb.jail().join("f"), "1\n2\n").unwrap();
    std::os::unix::fs::symlink(sb.outside(), sb.jail().join("link")).unwrap();
    let p = differential_policy(&sb.jail());
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0usize);
    let result = runner.run(&command(), |c| {
        let jail = sb.jail();
        if p.check(&CheckRequest {
            cwd: Some(&jail),
            ..CheckRequest::new(&c)
        })
        .allowed
        {
            ran.set(ran.get() + 1);
        }
        if let Some(f) = differ(&p, &sb, &c) {
            return Err(proptest::test_runner::TestCaseError::fail(f));
        }
        // Leave the jail as it was for the next case.
        let _ = std::fs::remove_file(sb.jail().join("m"));
        Ok(())
    });
    eprintln!(
        "differential: {} generated commands, {} allowed and run under bash",
        cases(),
        ran.get()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
