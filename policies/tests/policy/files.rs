//! Policy files: the richer rules, and clear errors (with the line) for broken ones.

use std::path::Path;

use policies::{CheckRequest, Policy};

use crate::*;

fn load_err(text: &str) -> String {
    Policy::from_toml(text, "p.toml")
        .expect_err("should not load")
        .to_string()
}

#[test]
fn errors_name_the_file_and_line() {
    let e = load_err("default = \"deny\"\nallow = [\"ls\"\nbogus");
    assert!(e.starts_with("p.toml:"), "{e}");
    let e = load_err("default = \"deny\"\n\ndefault_ = 1\n");
    assert!(e.starts_with("p.toml:3:"), "{e}");
    let e = load_err("default = \"maybe\"\n");
    assert!(e.starts_with("p.toml:1:") && e.contains("allow"), "{e}");
    let e = load_err("[[rule]]\naction = \"allow\"\nregex = \"(\"\n");
    assert!(e.starts_with("p.toml:") && e.contains("bad regex"), "{e}");
    let e = load_err("[[rule]]\naction = \"allow\"\n");
    assert!(e.contains("exactly one of"), "{e}");
    let e = load_err("allow = [\"$X\"]\n");
    assert!(e.contains("plain name"), "{e}");
}

#[test]
fn rule_examples_are_checked_at_load() {
    let good = r#"
[[rule]]
action = "deny"
command = "git push"
reason = "pushing is for humans"
match = ["git push origin main", "git -C x push", "sudo git push"]
not_match = ["git pull", "echo git push"]
"#;
    let p = policy(good);
    let v = check(&p, "git push");
    assert!(!v.allowed);
    assert!(
        v.summary().contains("pushing is for humans"),
        "{}",
        v.summary()
    );

    let bad = "\n\n[[rule]]\naction = \"deny\"\ncommand = \"git push\"\nmatch = [\"git pull\"]\n";
    let e = load_err(bad);
    assert!(e.starts_with("p.toml:3:") && e.contains("git pull"), "{e}");
    let bad =
        "[[rule]]\naction = \"deny\"\ncommand = \"git push\"\nnot_match = [\"git push -f\"]\n";
    assert!(load_err(bad).contains("should not match"));
}

#[test]
fn regex_rules() {
    let p = policy(
        r#"
default = "deny"
[[rule]]
action = "allow"
regex = "^npm (test|run build)$"
match = ["npm test", "npm run build"]
not_match = ["npm publish", "npm test x"]
"#,
    );
    assert!(check(&p, "npm test").allowed);
    assert!(!check(&p, "npm publish").allowed);
}

#[test]
fn host_sections_and_host_scoped_rules() {
    let p = policy(
        r#"
default = "deny"
allow = ["ls", "cargo"]
[hosts.build1]
allow = ["make"]
deny = ["cargo publish"]
[[rule]]
action = "allow"
command = "uptime"
hosts = ["web"]
"#,
    );
    let on = |host: &str, c: &str| {
        p.check(&CheckRequest {
            host,
            ..CheckRequest::new(c)
        })
        .allowed
    };
    assert!(on("local", "ls"));
    assert!(!on("local", "make"));
    assert!(on("build1", "make"));
    assert!(
        !on("build1", "ls"),
        "the host's allow list replaces the global one"
    );
    assert!(!on("build1", "cargo publish"));
    assert!(on("web", "uptime"));
    assert!(!on("local", "uptime"));
}

#[test]
fn stdin_permission() {
    let deny = policy("default = \"deny\"\nallow = [\"cat\"]\n");
    assert!(
        !check(&deny, "cat").stdin,
        "default deny: no stdin unless said"
    );
    let allow = policy("default = \"allow\"\ndeny = [\"rm\"]\n");
    assert!(check(&allow, "cat").stdin);
    let rule = policy(
        r#"
default = "deny"
allow = ["ls"]
[[rule]]
action = "allow"
command = "python3 -i"
stdin = true
"#,
    );
    let v = check(&rule, "python3 -i");
    assert!(v.allowed && v.stdin, "{}", v.summary());
    assert!(!check(&rule, "ls").stdin);
}

#[test]
fn working_directory_limits_cover_redirections() {
    let p = policy(
        r#"
default = "allow"
deny = ["rm"]
cwd = ["/work"]
"#,
    );
    let at = |cwd: &str, c: &str| {
        p.check(&CheckRequest {
            cwd: Some(Path::new(cwd)),
            ..CheckRequest::new(c)
        })
    };
    assert!(at("/work/proj", "ls > out.txt").allowed);
    assert!(at("/work/proj", "ls > /dev/null 2>&1").allowed);
    assert!(!at("/tmp", "ls").allowed);
    assert!(!at("/work/proj", "echo x > /etc/passwd").allowed);
    assert!(!at("/work/proj", "echo x > ../../etc/passwd").allowed);
    assert!(!at("/work/proj", "echo x > $HOME/x").allowed);
    assert!(!at("/work/proj", "cd / && echo x > etc/x").allowed);
    assert!(!at("/work/proj", "cat < /etc/shadow").allowed);
}

#[test]
fn environment_rules() {
    let p = policy(
        r#"
default = "allow"
deny = ["rm"]
[env]
allow = ["RUST_*", "CI"]
"#,
    );
    let with = |env: &[(String, String)]| {
        p.check(&CheckRequest {
            env,
            ..CheckRequest::new("ls")
        })
        .allowed
    };
    assert!(with(&[("RUST_LOG".into(), "debug".into())]));
    assert!(!with(&[("FOO".into(), "1".into())]));
    let open = policy("default = \"allow\"\ndeny = [\"rm\"]\n");
    let v = open.check(&CheckRequest {
        env: &[("LD_PRELOAD".into(), "/tmp/x.so".into())],
        ..CheckRequest::new("ls")
    });
    assert!(!v.allowed);
}

#[test]
fn limits_are_read() {
    let p = policy(
        "default = \"allow\"\n[limits]\nmax_timeout = 60\nlog_cap_bytes = 1048576\nmax_concurrent = 2\n",
    );
    assert_eq!(
        p.limits.max_timeout,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(p.limits.log_cap_bytes, Some(1 << 20));
    assert_eq!(p.limits.max_concurrent, Some(2));
}
