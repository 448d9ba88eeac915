//! Hosts from the user's ssh config (`~/.ssh/config`, with HOME pointed at a directory the test
//! writes): an alias, an import of every alias, and `ProxyJump` through a bastion sshd.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::fixture::Sshd;
use crate::support::*;

/// A HOME with `.ssh/config` (`text`), `.ssh/known_hosts` (the host keys of `known`), and each
/// fixture's user key as `.ssh/key-<port>`.
fn home(text: &str, known: &[&Sshd], keys: &[&Sshd]) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("config"), text).unwrap();
    let mut lines = String::new();
    for s in known {
        lines += &std::fs::read_to_string(s.path("known_hosts")).unwrap();
    }
    std::fs::write(ssh.join("known_hosts"), lines).unwrap();
    for s in keys {
        std::fs::copy(s.path("user_key"), ssh.join(format!("key-{}", s.port))).unwrap();
    }
    home
}

async fn server(home: &Path, config: &str) -> Server {
    let path = home.join("mcp-jobs.toml");
    std::fs::write(&path, config).unwrap();
    let home = home.to_owned();
    Server::start_adjusted(&["--config", path.to_str().unwrap()], move |cmd| {
        cmd.env("HOME", &home);
    })
    .await
}

#[tokio::test]
async fn a_proxyjump_alias_goes_through_the_bastion() {
    let target = Sshd::start();
    let bastion = Sshd::start_with("LogLevel DEBUG\n");
    let text = format!(
        "Host target\n  HostName 127.0.0.1\n  Port {t}\n  User root\n  IdentityFile ~/.ssh/key-{t}\n  ProxyJump gate\n\n\
Host gate\n  HostName 127.0.0.1\n  Port {b}\n  User root\n  IdentityFile ~/.ssh/key-{b}\n",
        t = target.port,
        b = bastion.port
    );
    let home = home(&text, &[&target, &bastion], &[&target, &bastion]);
    // A known_hosts without the bastion's key: the bastion hop is checked strictly too.
    let only_target = home.path().join("only_target");
    std::fs::copy(target.path("known_hosts"), &only_target).unwrap();
    let config = format!(
        "[hosts.via]\nssh_config = \"target\"\nkeepalive = 1\n\n\
[hosts.strict]\nssh_config = \"target\"\nknown_hosts = \"{}\"\n",
        only_target.display()
    );
    let s = server(home.path(), &config).await;
    let r = s
        .ok(
            "execute",
            json!({"command": "echo through; exit 4", "host": "via", "wait": 20}),
        )
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    assert_eq!(r["exit_code"], 4);
    assert_eq!(r["tail"], "through\n");
    let log = bastion.path("sshd.log");
    assert!(
        eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|l| {
                l.contains("direct-tcpip")
                    && l.contains(&format!("target 127.0.0.1 port {}", target.port))
            })
        })
        .await,
        "the bastion forwarded nothing to the target: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let e = s
        .err("execute", json!({"command": "true", "host": "strict"}))
        .await;
    assert!(e.contains("bastion") && e.contains("is not in"), "{e}");
    // `hosts` says where the host is and what it goes through, and probes it through the tunnel.
    let h = s.ok("hosts", json!({"host": "via"})).await;
    let h = &h["hosts"][0];
    assert_eq!(h["address"], format!("127.0.0.1:{}", target.port), "{h}");
    assert_eq!(h["via"], format!("root@127.0.0.1:{}", bastion.port), "{h}");
    assert_eq!(h["state"], "connected", "{h}");
    assert!(h["facts"]["os"].is_string(), "{h}");
    // The tunnel carries a kill like a direct connection.
    let mark = Marker::new("jump");
    let id = s
        .start_job(json!({"command": "sleep 1000", "host": "via", "env": mark.env()}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !mark.alive().is_empty()).await);
    let k = s.ok("kill", json!({"job_id": id, "grace_ms": 500})).await;
    assert_eq!(k["state"], "killed", "{k}");
    assert!(eventually(Duration::from_secs(5), || mark.alive().is_empty()).await);
}

#[tokio::test]
async fn aliases_are_imported_and_proxy_commands_never_run() {
    let sshd = Sshd::start();
    let canary = tempfile::tempdir().unwrap();
    let pwned = canary.path().join("pwned");
    let text = format!(
        "Host plain\n  HostName 127.0.0.1\n  Port {p}\n  User root\n  IdentityFile ~/.ssh/key-{p}\n\n\
Host evil\n  HostName 127.0.0.1\n  Port {p}\n  User root\n  ProxyCommand touch {pwned}\n\n\
Host *\n  IdentityFile ~/.ssh/key-{p}\n",
        p = sshd.port,
        pwned = pwned.display()
    );
    let home = home(&text, &[&sshd], &[&sshd]);
    let s = server(home.path(), "import_ssh_config = true\n").await;
    let r = s
        .ok(
            "execute",
            json!({"command": "echo imported", "host": "plain", "wait": 20}),
        )
        .await;
    assert_eq!(r["tail"], "imported\n", "{r}");
    let e = s
        .err("execute", json!({"command": "true", "host": "evil"}))
        .await;
    assert!(
        e.contains("plain"),
        "evil is left out, plain is listed: {e}"
    );
    assert!(!pwned.exists(), "a ProxyCommand ran");
}
