//! The honest corpus (`corpus/honest.txt`): real-world agent commands that an allow list naming
//! their programs must keep allowing. The few the positive grammar refuses are listed, with the
//! construct that is refused, in `corpus/refused.txt`; the test fails if that list and the
//! engine disagree either way, so a refusal never appears (or disappears) unnoticed.

use crate::*;

/// Every command of the corpus, newlines restored.
pub fn honest() -> Vec<String> {
    include_str!("corpus/honest.txt")
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.replace("\\n", "\n"))
        .collect()
}

/// An allow list with every program the corpus names.
pub const CORPUS_POLICY: &str = r#"
default = "deny"
allow = [
  ".", "./scripts/run_tests.sh", "./target/debug/cli", "./target/release/cli",
  "./tests/unit_tests", ".venv/bin/pip", ".venv/bin/pytest", ".venv/bin/python", "/tmp/a.out",
  "awk", "basename", "bash", "black", "cargo", "cat", "chmod", "clang-format", "cmake", "cmp",
  "column", "comm", "cp", "ctest", "curl", "cut", "date", "df", "diff", "dirname", "docker",
  "du", "env", "file", "find", "flake8", "free", "gcc", "gh", "git", "go", "gofmt", "grep",
  "head", "isort", "jq", "kill", "ln", "ls", "lsof", "make", "mkdir", "mv", "mypy", "nice",
  "ninja", "nl", "node", "npm", "nproc", "npx", "pip", "pkill", "pnpm", "poetry", "printenv",
  "ps", "psql", "pytest", "python", "python3", "realpath", "redis-cli", "rg", "ruff", "rustc",
  "rustfmt", "rustup", "sed", "sha256sum", "shellcheck", "sleep", "sort", "source", "sqlite3",
  "stat", "tail", "tar", "tee", "time", "timeout", "touch", "tox", "tr", "tree", "uname", "uniq",
  "unzip", "uv", "wc", "which", "whoami", "xargs", "xxd", "yarn", "yq",
]

[env]
allow = ["RUST_*", "CARGO_TERM_COLOR", "CARGO_INCREMENTAL", "NODE_ENV", "CI", "DEBUG",
         "PYTHONPATH_UNUSED", "NO_COLOR", "FORCE_COLOR", "LOG_LEVEL", "PORT", "DATABASE_URL",
         "TEST_*", "APP_*", "GOFLAGS_UNUSED", "LC_ALL", "LANG", "TZ", "VIRTUAL_ENV_UNUSED"]
"#;

/// `refused.txt`: one command per line (newlines as `\n`), then ` # ` and why.
fn expected_refusals() -> Vec<String> {
    include_str!("corpus/refused.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(" # ").next().unwrap_or(l).replace("\\n", "\n"))
        .collect()
}

#[test]
fn the_honest_corpus_stays_allowed() {
    let p = policy(CORPUS_POLICY);
    let corpus = honest();
    assert!(
        corpus.len() >= 300,
        "the corpus has {} commands",
        corpus.len()
    );
    let refused: Vec<(String, String)> = corpus
        .iter()
        .map(|c| (c, check(&p, c)))
        .filter(|(_, v)| !v.allowed)
        .map(|(c, v)| (c.clone(), v.summary()))
        .collect();
    let expected = expected_refusals();
    let unexpected: Vec<String> = refused
        .iter()
        .filter(|(c, _)| !expected.contains(c))
        .map(|(c, why)| format!("{} # {why}", c.replace('\n', "\\n")))
        .collect();
    let now_allowed: Vec<&String> = expected
        .iter()
        .filter(|e| !refused.iter().any(|(c, _)| c == *e))
        .collect();
    assert!(
        unexpected.is_empty() && now_allowed.is_empty(),
        "refused but not in refused.txt:\n{}\n\nin refused.txt but allowed:\n{:?}",
        unexpected.join("\n"),
        now_allowed
    );
    eprintln!(
        "honest corpus: {} commands, {} allowed, {} refused (listed in refused.txt)",
        corpus.len(),
        corpus.len() - refused.len(),
        refused.len()
    );
}
