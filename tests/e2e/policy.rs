//! The policy over MCP: refused jobs never start, `check` explains, `interact` obeys the
//! policy, every decision is audited, a broken policy stops the server; and the `check` CLI.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

const POLICY: &str = r#"
default = "deny"
allow = ["echo", "ls", "cat", "touch", "sleep"]
deny = ["rm", "curl"]

[[rule]]
action = "allow"
command = "python3 -i -q"
stdin = true
"#;

async fn server_with_policy(text: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    let s = Server::start_with(&["--policy", path.to_str().unwrap()]).await;
    (s, dir)
}

fn audit(s: &Server) -> Vec<Value> {
    let text = std::fs::read_to_string(s.state_dir.path().join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_refused_command_never_starts() {
    let (s, dir) = server_with_policy(POLICY).await;
    let marker = dir.path().join("ran");
    for cmd in [
        format!("touch {} && rm -rf /nonexistent", marker.display()),
        format!(
            "touch {}; echo $(curl http://127.0.0.1:9)",
            marker.display()
        ),
        format!("bash -c 'touch {}; rm -f /nonexistent'", marker.display()),
    ] {
        let e = s.err("execute", json!({"command": cmd})).await;
        assert!(e.contains("refused by the policy"), "{e}");
    }
    assert!(!marker.exists(), "a refused job ran");
    let l = s.ok("list", json!({})).await;
    assert_eq!(l["total"], 0, "refused jobs are not jobs");
    // An allowed one runs, and says which rule allowed it.
    let r = s
        .ok(
            "execute",
            json!({"command": format!("touch {}", marker.display()), "wait": 10}),
        )
        .await;
    assert_eq!(r["state"], "exited");
    assert!(marker.exists());
    assert!(
        r["policy_rule"]
            .as_str()
            .unwrap()
            .contains("allow \"touch\""),
        "{r}"
    );
}

#[tokio::test]
async fn check_explains_without_running() {
    let (s, _dir) = server_with_policy(POLICY).await;
    let ok = s.ok("check", json!({"command": "echo hi | cat"})).await;
    assert_eq!(ok["allowed"], true);
    assert_eq!(ok["commands"].as_array().unwrap().len(), 2);
    let no = s
        .ok("check", json!({"command": "ls && sudo rm -rf /"}))
        .await;
    assert_eq!(no["allowed"], false);
    let denied: Vec<&Value> = no["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["decision"] != "allowed")
        .collect();
    assert!(
        denied
            .iter()
            .any(|c| c["command"] == "rm -rf /"
                && c["rule"].as_str().unwrap().contains("deny \"rm\"")),
        "{no}"
    );
    assert!(no["summary"].as_str().unwrap().starts_with("refused"));
    assert_eq!(s.ok("list", json!({})).await["total"], 0);
}

#[tokio::test]
async fn interact_obeys_the_policy() {
    let (s, _dir) = server_with_policy(POLICY).await;
    let cat = s.start_job(json!({"command": "cat"})).await;
    let e = s
        .err("interact", json!({"job_id": cat, "input": "rm -rf /"}))
        .await;
    assert!(e.contains("does not let"), "{e}");
    let st = s.ok("status", json!({"job_id": cat})).await;
    assert!(st.get("stdin_open").is_none(), "{st}");
    let e = s
        .err("execute", json!({"command": "cat", "stdin": "data"}))
        .await;
    assert!(e.contains("stdin"), "{e}");
    // A rule with `stdin = true` lets its jobs take input.
    let py = s.start_job(json!({"command": "python3 -i -q"})).await;
    s.ok(
        "wait",
        json!({"job_id": py, "until": ">>> ", "timeout": 20}),
    )
    .await;
    let r = s
        .ok(
            "interact",
            json!({"job_id": py, "input": "print(6*7)", "until": "^42$", "wait_ms": 20000}),
        )
        .await;
    assert_eq!(r["matched"], true);
    s.ok("kill", json!({"job_id": py})).await;
    s.ok("kill", json!({"job_id": cat})).await;
    let log = audit(&s);
    assert!(
        log.iter()
            .any(|r| r["tool"] == "interact" && r["allowed"] == false)
    );
    assert!(
        log.iter().any(|r| r["tool"] == "interact"
            && r["allowed"] == true
            && r["input"] == "print(6*7)\n")
    );
}

#[tokio::test]
async fn every_decision_is_audited() {
    let (s, _dir) = server_with_policy(POLICY).await;
    s.ok("execute", json!({"command": "echo audited", "wait": 10}))
        .await;
    s.err("execute", json!({"command": "curl http://127.0.0.1:9"}))
        .await;
    s.ok("check", json!({"command": "rm x"})).await;
    let log = audit(&s);
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0]["tool"], "execute");
    assert_eq!(log[0]["allowed"], true);
    assert_eq!(log[0]["job_id"], "j1");
    assert_eq!(log[0]["command"], "echo audited");
    assert!(
        log[0]["rules"][0]
            .as_str()
            .unwrap()
            .contains("allow \"echo\"")
    );
    assert_eq!(log[1]["allowed"], false);
    assert!(log[1]["reasons"][0].as_str().unwrap().contains("curl"));
    assert_eq!(log[2]["tool"], "check");
    assert!(
        log.iter()
            .all(|r| r["time"].is_string() && r["host"] == "local")
    );
}

#[tokio::test]
async fn a_broken_policy_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "default = \"deny\"\nallow = [\"ls\"]\n[[rule]]\naction = \"allow\"\nregex = \"(\"\n",
    )
    .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .arg("--policy")
            .arg(&path)
            .arg("--state-dir")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml:3") && err.contains("bad regex"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing on the MCP channel");
}

#[test]
fn the_check_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, POLICY).unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("check")
            .arg("--policy")
            .arg(&path)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&["echo hi && ls"]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("allowed"));
    let no = run(&["--json", "echo $(rm -rf /)"]);
    assert_eq!(no.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&no.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    let bad = Command::new(BIN)
        .args(["check", "--policy", "/nonexistent.toml", "ls"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let usage = Command::new(BIN).args(["check"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// Input nested thousands of levels deep once overflowed the stack and aborted the server with
/// every job: now it is refused, and the server and its jobs go on.
#[tokio::test]
async fn deeply_nested_commands_are_refused_and_the_server_lives() {
    let (s, _dir) = server_with_policy(POLICY).await;
    let job = s.start_job(json!({"command": "sleep 30"})).await;
    let n = 5000;
    for cmd in [
        format!("{}ls;{}", "{ ".repeat(600), " }".repeat(600)),
        format!("{}ls{}", "if true; then ".repeat(n), "; fi".repeat(n)),
        format!("echo {}x{}", "${x:-".repeat(n), "}".repeat(n)),
        format!("echo {}x{}", "$(echo ".repeat(n), ")".repeat(n)),
        format!("[[ {}a{} ]]", "( ".repeat(n), " )".repeat(n)),
    ] {
        let c = s.ok("check", json!({"command": cmd})).await;
        assert_eq!(c["allowed"], false, "{c}");
        let e = s.err("execute", json!({"command": cmd})).await;
        assert!(e.contains("refused"), "{e}");
    }
    let st = s.ok("status", json!({"job_id": job})).await;
    assert_eq!(st["state"], "running", "{st}");
    s.ok("kill", json!({"job_id": job, "grace_ms": 100})).await;
}

/// The server's own state (audit log, journal, logs) is protected from jobs' redirections.
#[tokio::test]
async fn jobs_cannot_write_the_servers_state() {
    let (s, _dir) = server_with_policy(POLICY).await;
    let audit = s.state_dir.path().join("audit.jsonl");
    let cmd = format!("echo '{{\"forged\":1}}' >> {}", audit.display());
    let e = s.err("execute", json!({"command": cmd})).await;
    assert!(e.contains("protected"), "{e}");
    let all = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(!all.contains("\"forged\""), "{all}");
}

/// Under a policy, git never takes a directory it happens to be in for a bare repository (one
/// made of files a command wrote could run programs from its config).
#[tokio::test]
async fn jobs_run_with_git_bare_repositories_explicit_only() {
    let (s, _dir) = server_with_policy(
        r#"
default = "deny"
allow = ["git config"]
"#,
    )
    .await;
    let r = s
        .ok(
            "execute",
            json!({"command": "git config --get safe.bareRepository", "wait": 20}),
        )
        .await;
    assert_eq!(r["exit_code"], 0, "{r}");
    assert!(r["tail"].as_str().unwrap_or("").contains("explicit"), "{r}");
}

#[test]
fn check_cli_answers_with_the_policies_the_server_would_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        "default = \"deny\"\nallow = [\"ls\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("far.toml"),
        "default = \"deny\"\nallow = [\"uptime\"]\n",
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "policy = \"server.toml\"\n\n[hosts.far]\naddress = \"127.0.0.1\"\nuser = \"x\"\nagent = true\npolicy = \"far.toml\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("check")
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("XDG_CONFIG_HOME", dir.path().join("none"))
            .output()
            .unwrap()
    };
    assert_eq!(run(&["ls"]).status.code(), Some(0));
    assert_eq!(run(&["uptime"]).status.code(), Some(1));
    assert_eq!(run(&["--host", "far", "uptime"]).status.code(), Some(0));
    assert_eq!(run(&["--host", "far", "ls"]).status.code(), Some(1));
    let unknown = run(&["--host", "nowhere", "ls"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("unknown host") && err.contains("far"), "{err}");
    assert_eq!(run(&[""]).status.code(), Some(2));
    // The user's config file is read when none is named.
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("mcp-jobs")).unwrap();
    std::fs::copy(&config, xdg.join("mcp-jobs/config.toml")).unwrap();
    std::fs::copy(
        dir.path().join("server.toml"),
        xdg.join("mcp-jobs/server.toml"),
    )
    .unwrap();
    let by_default = Command::new(BIN)
        .args(["check", "uptime"])
        .env("XDG_CONFIG_HOME", &xdg)
        .output()
        .unwrap();
    assert_eq!(by_default.status.code(), Some(1));
}
