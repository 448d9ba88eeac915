//! Honest commands that must stay allowed: refusing them is a bug too.

use crate::*;

const HONEST_ALLOWLIST: &[&str] = &[
    "cargo build --release",
    "cargo build --features curl",
    "cargo test -- --nocapture",
    "echo 'rm -rf /'",
    "echo \"curl is a tool\"",
    "echo rm curl",
    "git status",
    "git status -s",
    "git --no-pager status",
    "git -C sub status",
    "ls -la",
    "ls *.rs",
    "ls 'a|rm -rf /'",
    "ls \"a; rm -rf /\"",
    "echo $HOME",
    "echo \"$(ls)\"",
    "echo $(ls -1 | echo)",
    "cargo test 2>&1",
    "cargo build > build.log 2>&1",
    "ls > /dev/null",
    "CI=1 cargo test",
    "RUST_LOG=debug cargo run",
    "timeout 600 cargo test",
    "nice -n 10 cargo build",
    "cd sub && cargo build",
    "cargo fmt && cargo clippy && cargo test && git status && ls -la && echo done",
    "cargo build; cargo test; echo ok",
    "if cargo test; then echo passed; else echo failed; fi",
    "for f in a b c; do echo $f; done",
    "cargo test 2>&1 | echo",
    "echo hi # rm -rf /",
    "echo 'a $(rm) b'",
    "echo \"price: \\$5\"",
];

const HONEST_BLOCKLIST: &[&str] = &[
    "rmdir build",
    "git rm --cached file",
    "grep -r curl .",
    "npm run build",
    "python3 script.py",
    "python3 -m pytest -q",
    "awk '{print $1}' file",
    "awk -F: '$3 > 1000 || $1 == \"x\" {print $1}' /etc/passwd",
    "sed -i 's/a/b/g' file.txt",
    "sed -n '1,5p' file",
    "find . -name '*.rs' -exec grep -l foo {} +",
    "ls | xargs wc -l",
    "bash -c 'ls && echo ok'",
    "sh -c 'cargo build'",
    "sudo apt-get install -y jq",
    "make -j2 all",
    "docker ps",
    "tar -czf out.tar.gz src",
    "ps aux | awk '{print $2}' | head",
    "echo $((1 + 2))",
    "echo $((3 * 2))",
    "env FOO=bar printenv FOO",
    "timeout 5 sleep 1",
    "watch -n 1 ls",
    "cat <<EOF\nhello $USER\nEOF",
    "command -v cargo",
    "kill -0 $$",
];

#[test]
fn honest_commands_pass_an_allow_list() {
    let p = policy(ALLOWLIST);
    let refused: Vec<String> = HONEST_ALLOWLIST
        .iter()
        .map(|c| (c, check(&p, c)))
        .filter(|(_, v)| !v.allowed)
        .map(|(c, v)| format!("{c:?}: {}", v.summary()))
        .collect();
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

#[test]
fn honest_commands_pass_a_block_list() {
    let p = policy(BLOCKLIST);
    let refused: Vec<String> = HONEST_BLOCKLIST
        .iter()
        .chain(HONEST_ALLOWLIST)
        .map(|c| (c, check(&p, c)))
        .filter(|(_, v)| !v.allowed)
        .map(|(c, v)| format!("{c:?}: {}", v.summary()))
        .collect();
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

#[test]
fn a_long_chain_of_allowed_commands() {
    let p = policy(ALLOWLIST);
    let chain = vec!["cargo build"; 200].join(" && ");
    assert!(check(&p, &chain).allowed);
}

#[test]
fn no_rules_means_no_analysis() {
    let p = policy("default = \"allow\"");
    assert!(check(&p, "anything at all $(even this)").allowed);
}
