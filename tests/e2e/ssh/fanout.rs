//! One command on many hosts: `execute` with `hosts` or `tag` against three real sshd
//! processes (and one that is down), the group it returns, and `status`, `wait`, `kill` and
//! `list` on that group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fixture::{Sshd, descends_from};
use super::fleet::entry;
use crate::support::*;

/// Three hosts on their own sshd (`a` and `b` tagged gpu, `a` and `c` tagged build; `c`'s
/// policy refuses `rm`), and `down`, tagged build, whose sshd is gone.
struct Fleet {
    a: Sshd,
    b: Sshd,
    c: Sshd,
    s: Arc<Server>,
}

impl Fleet {
    async fn start() -> Self {
        let (a, b, c) = (Sshd::start(), Sshd::start(), Sshd::start());
        let gone = Sshd::start();
        let policy = c.path("c-policy.toml");
        std::fs::write(&policy, "default = \"allow\"\ndeny = [\"rm\"]\n").unwrap();
        let config = entry(&a, "a", "tags = [\"gpu\", \"build\"]")
            + &entry(&b, "b", "tags = [\"gpu\"]")
            + &entry(
                &c,
                "c",
                &format!("tags = [\"build\"]\npolicy = \"{}\"", policy.display()),
            )
            + &entry(&gone, "down", "tags = [\"build\"]");
        drop(gone);
        let path = a.path("fanout.toml");
        std::fs::write(&path, config).unwrap();
        let s = Arc::new(Server::start_with(&["--config", path.to_str().unwrap()]).await);
        Self { a, b, c, s }
    }

    fn sshd(&self, host: &str) -> &Sshd {
        match host {
            "a" => &self.a,
            "b" => &self.b,
            "c" => &self.c,
            other => panic!("no sshd for {other}"),
        }
    }
}

/// `host → member` of a group result.
fn member<'a>(group: &'a Value, host: &str) -> &'a Value {
    group["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["host"] == host)
        .unwrap_or_else(|| panic!("no job on {host}: {group}"))
}

fn hosts_of(group: &Value) -> Vec<String> {
    group["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["host"].as_str().unwrap().to_string())
        .collect()
}

/// Each host's job runs on that host: sshd reports its own port in `SSH_CONNECTION`.
const WHERE: &str = "echo port ${SSH_CONNECTION##* }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_or_a_list_runs_once_on_each_host() {
    let f = Fleet::start().await;
    let g =
        f.s.ok(
            "execute",
            json!({"command": WHERE, "tag": "gpu", "wait": 30}),
        )
        .await;
    assert_eq!(g["group_id"], "g1", "{g}");
    assert_eq!(hosts_of(&g), ["a", "b"]);
    for host in ["a", "b"] {
        let m = member(&g, host);
        assert_eq!(m["state"], "exited", "{g}");
        assert_eq!(m["exit_code"], 0, "{g}");
        assert_eq!(
            m["tail"],
            format!("port {}\n", f.sshd(host).port),
            "{host} ran it: {g}"
        );
        // Each job is a job like any other, and knows its group.
        let st = f.s.ok("status", json!({"job_id": m["job_id"]})).await;
        assert_eq!(st["group"], "g1", "{st}");
        assert_eq!(st["host"], host);
    }
    assert!(g.get("refused").is_none(), "{g}");

    // By list, in the order given, without repeats; `local` may be one of them.
    let g =
        f.s.ok(
            "execute",
            json!({"command": "echo ok", "hosts": ["c", "local", "a", "c"], "wait": 30}),
        )
        .await;
    assert_eq!(g["group_id"], "g2");
    assert_eq!(hosts_of(&g), ["c", "local", "a"]);
    // A list written as one string is taken for what it says.
    let g2 =
        f.s.ok(
            "execute",
            json!({"command": "true", "hosts": "b, local", "wait": 30}),
        )
        .await;
    assert_eq!(hosts_of(&g2), ["b", "local"], "{g2}");
    for host in ["c", "local", "a"] {
        assert_eq!(member(&g, host)["state"], "exited", "{g}");
    }
    // `list {group}` shows the group's jobs only.
    let l = f.s.ok("list", json!({"group": g["group_id"]})).await;
    assert_eq!(l["total"], 3, "{l}");
    assert!(
        l["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["group"] == g["group_id"])
    );
    assert_eq!(f.s.ok("list", json!({})).await["total"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_or_a_down_host_does_not_stop_the_others() {
    let f = Fleet::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    std::fs::write(&gone, "x").unwrap();
    // `c`'s policy refuses rm; `down` cannot be reached; `a` runs it.
    let started = Instant::now();
    let g = f
        .s
        .ok(
            "execute",
            json!({"command": format!("rm -f {}; echo removed", gone.display()), "tag": "build", "wait": 30}),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a down host fails fast"
    );
    assert_eq!(hosts_of(&g), ["a", "down"], "{g}");
    assert_eq!(member(&g, "a")["state"], "exited", "{g}");
    assert_eq!(member(&g, "a")["tail"], "removed\n", "{g}");
    assert_eq!(member(&g, "down")["state"], "failed_to_start", "{g}");
    let refused = g["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{g}");
    assert_eq!(refused[0]["host"], "c");
    let why = refused[0]["reason"].as_str().unwrap();
    assert!(why.contains("policy") && why.contains("rm"), "{why}");
    assert!(!gone.exists(), "a removed it");
    // The group's status says the same later.
    let st = f.s.ok("status", json!({"group": g["group_id"]})).await;
    assert_eq!(st["refused"][0]["host"], "c", "{st}");
    assert_eq!(member(&st, "a")["exit_code"], 0, "{st}");
    let text = text(&f.s.call("status", json!({"group": g["group_id"]})).await);
    assert!(text.contains("refused on c"), "{text}");

    // Refused everywhere: nothing started, and the error says why, host by host.
    let e =
        f.s.err(
            "execute",
            json!({"command": "rm -f /nonexistent", "hosts": ["c"]}),
        )
        .await;
    assert!(
        e.contains("nothing was started") && e.contains("c: "),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_and_kill_take_the_group() {
    let f = Fleet::start().await;
    let mark = Marker::new("fanout");
    // On `a` the job ends at once with code 3; on `b` and `c` it runs until killed.
    let command = format!(
        "if [ \"${{SSH_CONNECTION##* }}\" = {} ]; then exit 3; fi; sleep 1000 & sleep 1000 & wait",
        f.a.port
    );
    let g =
        f.s.ok(
            "execute",
            json!({"command": command, "hosts": ["a", "b", "c"], "env": mark.env()}),
        )
        .await;
    let gid = g["group_id"].as_str().unwrap().to_string();
    let w =
        f.s.ok("wait", json!({"group": gid, "any": true, "timeout": 30}))
            .await;
    assert_eq!(w["reason"], "done", "{w}");
    let ended: Vec<&Value> = w["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["state"] == "exited")
        .collect();
    assert_eq!(ended.len(), 1, "{w}");
    assert_eq!(ended[0]["host"], "a");
    assert_eq!(ended[0]["exit_code"], 3);
    // All of them: not before the others end.
    let w = f.s.ok("wait", json!({"group": gid, "timeout": 1})).await;
    assert_eq!(w["reason"], "timed_out", "{w}");
    assert_eq!(w["jobs"].as_array().unwrap().len(), 3);

    // The remote trees are there, on b and on c.
    let on = |sshd: &Sshd| -> Vec<i32> {
        mark.alive()
            .into_iter()
            .filter(|&p| descends_from(p, sshd.pid))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(15), || on(&f.b).len() >= 3
            && on(&f.c).len() >= 3)
        .await,
        "b: {:?}, c: {:?}",
        on(&f.b),
        on(&f.c)
    );
    let k = f.s.ok("kill", json!({"group": gid})).await;
    assert_eq!(member(&k, "a")["state"], "exited", "{k}");
    for host in ["b", "c"] {
        assert_eq!(member(&k, host)["state"], "killed", "{k}");
    }
    for (name, sshd) in [("b", &f.b), ("c", &f.c)] {
        assert!(
            eventually(Duration::from_secs(10), || on(sshd).is_empty()).await,
            "left on {name}: {:?}",
            on(sshd)
        );
    }
    let w = f.s.ok("wait", json!({"group": gid, "timeout": 10})).await;
    assert_eq!(w["reason"], "done", "{w}");
    let st = f.s.ok("status", json!({"group": gid})).await;
    assert_eq!(member(&st, "a")["exit_code"], 3, "{st}");
    assert_eq!(member(&st, "b")["state"], "killed", "{st}");
}

#[tokio::test]
async fn bad_fan_outs_are_refused_with_what_to_do() {
    let f = Fleet::start().await;
    let e =
        f.s.err("execute", json!({"command": "true", "tag": "tpu"}))
            .await;
    assert!(
        e.contains("tpu") && e.contains("build") && e.contains("gpu"),
        "{e}"
    );
    let e =
        f.s.err(
            "execute",
            json!({"command": "true", "hosts": ["a", "nope"]}),
        )
        .await;
    assert!(e.contains("nope") && e.contains("configured hosts"), "{e}");
    let e =
        f.s.err("execute", json!({"command": "true", "hosts": []}))
            .await;
    assert!(e.contains("empty"), "{e}");
    let e =
        f.s.err(
            "execute",
            json!({"command": "true", "host": "a", "tag": "gpu"}),
        )
        .await;
    assert!(e.contains("one of"), "{e}");
    for tool in ["status", "kill", "wait", "list"] {
        let e = f.s.err(tool, json!({"group": "g9"})).await;
        assert!(e.contains("unknown group"), "{tool}: {e}");
    }
    let e = f.s.err("status", json!({})).await;
    assert!(e.contains("group"), "{e}");
    // A host name is trimmed wherever it is given, as in `hosts: [..]`.
    let c =
        f.s.ok(
            "check",
            json!({"command": "rm -f /nonexistent", "host": " c "}),
        )
        .await;
    assert_eq!(c["allowed"], false, "c's own policy decides: {c}");
    let h = f.s.ok("hosts", json!({"host": " a"})).await;
    assert_eq!(h["hosts"][0]["name"], "a", "{h}");
    assert_eq!(f.s.ok("list", json!({})).await["total"], 0, "nothing ran");
}

/// A host that accepts the connection and never speaks SSH holds up neither the other hosts
/// nor the call: its job is `queued` in the reply while it connects, and fails later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_slow_to_connect_holds_up_nothing() {
    let good = Sshd::start();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let config = entry(&good, "good", "")
        + &format!(
            "[hosts.silent]\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\nconnect_timeout = 30\n",
            good.path("user_key").display(),
            good.path("known_hosts").display()
        );
    let path = good.path("slow.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start_with(&["--config", path.to_str().unwrap()]).await;
    let g = s
        .ok(
            "execute",
            json!({"command": "echo hi", "hosts": ["silent", "good"]}),
        )
        .await;
    assert_eq!(member(&g, "silent")["state"], "queued", "{g}");
    let w = s
        .ok(
            "wait",
            json!({"job_id": member(&g, "good")["job_id"], "timeout": 20}),
        )
        .await;
    assert_eq!(w["jobs"][0]["state"], "exited", "{w}");
    // It is still trying; `kill` takes it out of the queue.
    let k = s
        .ok("kill", json!({"job_id": member(&g, "silent")["job_id"]}))
        .await;
    assert_eq!(k["state"], "killed", "{k}");
    held.abort();
}

/// Forwards connections on a port of its own to `port`, each after `delay`: a host slow to
/// connect. Returns the port and the task (abort it to stop).
async fn slow_forwarder(port: u16, delay: Duration) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (own, task)
}

/// A job killed while its host is still connecting never runs, even once the connection is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_while_its_host_connects_never_runs() {
    let sshd = Sshd::start();
    let (port, forwarder) = slow_forwarder(sshd.port, Duration::from_secs(2)).await;
    let config = format!(
        "[hosts.slow]\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\nconnect_timeout = 20\n",
        sshd.path("user_key").display(),
        sshd.path("known_hosts").display()
    );
    // The sshd's host key is known under its own port; the forwarder's port needs it too.
    let known = std::fs::read_to_string(sshd.path("known_hosts")).unwrap();
    let key = known.split_once(' ').unwrap().1.to_string();
    std::fs::write(
        sshd.path("known_hosts"),
        format!("{known}[127.0.0.1]:{port} {key}"),
    )
    .unwrap();
    let path = sshd.path("slow.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start_with(&["--config", path.to_str().unwrap()]).await;
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("ran");
    let g = s
        .ok(
            "execute",
            json!({"command": format!("touch {}", canary.display()), "hosts": ["slow"]}),
        )
        .await;
    assert_eq!(member(&g, "slow")["state"], "queued", "{g}");
    let k = s.ok("kill", json!({"group": g["group_id"]})).await;
    assert_eq!(member(&k, "slow")["state"], "killed", "{k}");
    // Once the connection is up, a later job runs on it; the killed one did not.
    let r = s
        .ok(
            "execute",
            json!({"command": "echo up", "host": "slow", "wait": 30}),
        )
        .await;
    assert_eq!(r["tail"], "up\n", "{r}");
    assert!(!canary.exists(), "the killed job ran");
    forwarder.abort();
}
