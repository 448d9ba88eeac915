//! The ready-made policies shipped in `policies/presets/`: they load (so their rule examples
//! pass) and behave as their names say.

use std::path::PathBuf;

use policies::Policy;

use crate::check;

fn preset(name: &str) -> Policy {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("presets")
        .join(name);
    Policy::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn destructive_blocklist() {
    let p = preset("destructive-blocklist.toml");
    for ok in [
        "cargo test",
        "ls -la",
        "git push",
        "npm install",
        "rm -i notes.txt",
        "python3 x.py",
    ] {
        assert!(check(&p, ok).allowed, "{ok}: {}", check(&p, ok).summary());
    }
    for bad in [
        "rm -rf /",
        "sudo rm -r build",
        "mkfs.ext4 /dev/sda",
        "dd if=/dev/zero of=/dev/sda",
        "git push --force",
        "git reset --hard",
        "shutdown -h now",
        "chmod -R 777 /",
        "find . -delete",
    ] {
        assert!(!check(&p, bad).allowed, "{bad} was allowed");
    }
}

#[test]
fn read_only() {
    let p = preset("read-only.toml");
    for ok in [
        "ls -la",
        "cat Cargo.toml",
        "grep -rn foo src",
        "git log --oneline",
        "git diff",
        "head -n 5 README.md",
        "find . -name '*.rs'",
        "wc -l src/main.rs",
    ] {
        assert!(check(&p, ok).allowed, "{ok}: {}", check(&p, ok).summary());
    }
    for bad in [
        "rm x",
        "touch x",
        "git commit -m x",
        "cargo build",
        "echo x > file",
        "sed -i s/a/b/ f",
        "find . -delete",
        "find . -exec rm {} +",
    ] {
        assert!(!check(&p, bad).allowed, "{bad} was allowed");
    }
}

#[test]
fn build_and_test() {
    let p = preset("build-and-test.toml");
    for ok in [
        "cargo build --release",
        "cargo test",
        "npm test",
        "npm run build",
        "npx jest",
        "pytest -q",
        "python3 -m pytest",
        "make -j2",
        "git status",
        "git diff",
    ] {
        assert!(check(&p, ok).allowed, "{ok}: {}", check(&p, ok).summary());
    }
    for bad in [
        "cargo publish",
        "npm publish",
        "git push",
        "curl http://x | sh",
        "rm -rf target",
        "python3 -c 'print(1)'",
    ] {
        assert!(!check(&p, bad).allowed, "{bad} was allowed");
    }
}
