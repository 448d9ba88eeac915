//! The kernel sandbox over MCP, on the real kernel: writes outside the workspace fail for every
//! process of the job however it writes, hidden places cannot be read, the network is gone,
//! protected places stay read-only, and a sandbox that cannot be enforced refuses jobs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// A workspace (a git repository), a writable root, places outside, and secrets to hide.
struct Jail {
    dir: tempfile::TempDir,
}

impl Jail {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Self { dir };
        for d in ["ws", "outside", "extra", "secret"] {
            std::fs::create_dir(j.path(d)).expect("mkdir");
        }
        std::fs::write(j.path("secret/key"), "TOPSECRET-KEY\n").expect("write");
        std::fs::write(j.path("secret.txt"), "TOPSECRET-FILE\n").expect("write");
        let git = std::process::Command::new("git")
            .args(["init", "-q"])
            .arg(j.path("ws"))
            .status()
            .expect("git init");
        assert!(git.success());
        j
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn p(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    /// A policy that only configures the sandbox.
    fn policy(&self, filesystem: &str, network: bool) -> PathBuf {
        let path = self.path("policy.toml");
        let mut text = format!("[sandbox]\nfilesystem = {filesystem:?}\nnetwork = {network}\n");
        text.push_str(&format!(
            "hide = [{:?}, {:?}]\n",
            self.p("secret"),
            self.p("secret.txt")
        ));
        if filesystem == "workspace-write" {
            text.push_str(&format!("writable = [{:?}]\n", self.p("extra")));
        }
        std::fs::write(&path, text).expect("write policy");
        path
    }

    /// A server with that sandbox, started in the workspace.
    async fn server(&self, filesystem: &str, network: bool) -> Server {
        let policy = self.policy(filesystem, network);
        Server::start_at(
            &self.path("ws"),
            &["--policy", policy.to_str().expect("utf-8")],
        )
        .await
    }
}

/// Runs `command` in the workspace and returns (status, combined output).
async fn run(s: &Server, jail: &Jail, command: &str) -> (Value, String) {
    let id = s
        .start_job(json!({"command": command, "cwd": jail.p("ws")}))
        .await;
    let status = s.wait_end(&id, 60).await;
    let out = s.ok("output", json!({"job_id": id})).await;
    (status, out["text"].as_str().unwrap_or_default().to_string())
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

#[tokio::test]
async fn workspace_write_confines_every_way_of_writing() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let out = jail.p("outside");
    let attempts = [
        format!("echo x > {out}/redirect"),
        format!("cp /etc/hostname {out}/cp"),
        format!("python3 -c \"open('{out}/python', 'w').write('x')\""),
        format!("dd if=/dev/zero of={out}/dd bs=1 count=1"),
        format!("find /etc/hostname -exec touch {out}/find \\;"),
        // A grandchild in its own session, started in the background.
        format!("(setsid bash -c 'sleep 0.2; echo x > {out}/setsid' &); sleep 1"),
        format!("ln -s /etc/passwd {out}/link"),
        format!("mkdir {out}/dir"),
        format!("touch {out}/../sibling"),
    ];
    let (status, text) = run(&s, &jail, &attempts.join("; ")).await;
    assert_eq!(status["state"], "exited", "{status}");
    assert_eq!(
        status["sandbox"],
        json!({"filesystem": "workspace-write", "network": false})
    );
    for name in [
        "redirect", "cp", "python", "dd", "find", "setsid", "link", "dir",
    ] {
        assert!(
            !exists(&jail.path("outside").join(name)),
            "{name} was written outside the workspace:\n{text}"
        );
    }
    assert!(!exists(&jail.path("sibling")), "{text}");
    assert_eq!(
        text.matches("Read-only file system").count(),
        attempts.len(),
        "each attempt should see the error:\n{text}"
    );
}

#[tokio::test]
async fn workspace_writable_roots_and_tmpdir_are_writable_and_git_works() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let cmd = format!(
        "set -e; echo in > {ws}/file; mkdir -p {ws}/sub/deeper && echo in > {ws}/sub/deeper/f; \
         echo in > {extra}/file; echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"; echo \"tmp=$TMPDIR\"; \
         git -C {ws} add file && git -C {ws} -c user.name=t -c user.email=t@t commit -qm one && \
         echo committed",
        ws = jail.p("ws"),
        extra = jail.p("extra"),
    );
    let (status, text) = run(&s, &jail, &cmd).await;
    assert_eq!(status["exit_code"], 0, "{text}");
    assert!(text.contains("committed"), "{text}");
    assert_eq!(
        std::fs::read_to_string(jail.path("ws/file")).unwrap(),
        "in\n"
    );
    assert_eq!(
        std::fs::read_to_string(jail.path("extra/file")).unwrap(),
        "in\n"
    );
    // The private temporary directory is the job's own, outside the workspace.
    let tmp = text
        .lines()
        .find_map(|l| l.strip_prefix("tmp="))
        .expect("TMPDIR printed");
    assert!(!tmp.starts_with(&jail.p("ws")), "{tmp}");
    assert!(
        Path::new(tmp).is_dir(),
        "the job's TMPDIR exists while it is known"
    );
    // Forgetting the job removes it.
    s.ok("clean", json!({"all": true})).await;
    assert!(!Path::new(tmp).exists(), "{tmp} was not removed");
}

#[tokio::test]
async fn hooks_and_git_config_stay_read_only_inside_the_workspace() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let ws = jail.p("ws");
    let cmd = format!(
        "echo 'touch {ws}/pwned' > {ws}/.git/hooks/pre-commit; \
         chmod +x {ws}/.git/hooks/pre-commit; \
         echo '[core] hooksPath = /tmp' >> {ws}/.git/config; \
         mv {ws}/.git/hooks {ws}/.git/hooks-old; \
         git -C {ws} config core.fsmonitor 'touch {ws}/pwned'; \
         echo done"
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("done"), "{text}");
    assert!(
        !exists(&jail.path("ws/.git/hooks/pre-commit")),
        "a hook was planted:\n{text}"
    );
    assert!(exists(&jail.path("ws/.git/hooks")), "{text}");
    let config = std::fs::read_to_string(jail.path("ws/.git/config")).unwrap();
    assert!(
        !config.contains("hooksPath") && !config.contains("fsmonitor"),
        "{config}"
    );
    assert!(text.contains("Read-only file system"), "{text}");
}

#[tokio::test]
async fn read_only_writes_nothing_but_its_tmpdir() {
    let jail = Jail::new();
    let s = jail.server("read-only", false).await;
    let ws = jail.p("ws");
    let cmd = format!(
        "echo x > {ws}/file; touch {ws}/.git/x; echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"; \
         echo quiet > /dev/null && echo devnull-ok; cat {ws}/.git/HEAD"
    );
    let (status, text) = run(&s, &jail, &cmd).await;
    assert_eq!(
        status["sandbox"],
        json!({"filesystem": "read-only", "network": false})
    );
    assert!(!exists(&jail.path("ws/file")), "{text}");
    assert!(!exists(&jail.path("ws/.git/x")), "{text}");
    assert!(
        text.contains("\nt\n") || text.starts_with("t\n") || text.contains("t\ndevnull"),
        "{text}"
    );
    assert!(text.contains("devnull-ok"), "{text}");
    assert!(
        text.contains("ref: refs/heads/"),
        "reads still work:\n{text}"
    );
}

#[tokio::test]
async fn hidden_places_cannot_be_listed_or_read() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let cmd = format!(
        "ls {secret}; cat {secret}/key; cat {file}; cp {secret}/key {ws}/stolen; echo end",
        secret = jail.p("secret"),
        file = jail.p("secret.txt"),
        ws = jail.p("ws"),
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("end"), "{text}");
    assert!(!text.contains("TOPSECRET"), "a secret leaked:\n{text}");
    assert!(
        !text.contains("key\n"),
        "the hidden directory was listed:\n{text}"
    );
    assert!(!exists(&jail.path("ws/stolen")), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
}

#[tokio::test]
async fn no_network_unless_allowed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let cmd = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5); print('connected')\""
    );
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(!text.contains("connected"), "{text}");
    assert!(text.contains("PermissionError"), "{text}");
    let (_, text) = run(&s, &jail, &format!("echo hi > /dev/tcp/127.0.0.1/{port}")).await;
    assert!(text.contains("Operation not permitted"), "{text}");
    drop(s);

    let open = Jail::new();
    let s = open.server("workspace-write", true).await;
    let (status, text) = run(&s, &open, &cmd).await;
    assert!(text.contains("connected"), "{text}");
    assert_eq!(status["sandbox"]["network"], true);
}

#[tokio::test]
async fn a_network_only_sandbox_leaves_files_alone() {
    let jail = Jail::new();
    let s = jail.server("off", false).await;
    let (status, text) = run(
        &s,
        &jail,
        &format!(
            "echo x > {}/f && echo wrote; python3 -c 'import socket; socket.socket()'",
            jail.p("outside")
        ),
    )
    .await;
    assert_eq!(
        status["sandbox"],
        json!({"filesystem": "off", "network": false})
    );
    assert!(text.contains("wrote"), "{text}");
    assert!(text.contains("PermissionError"), "{text}");
}

#[tokio::test]
async fn a_python_repl_fed_through_interact_is_confined_too() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let id = s
        .start_job(json!({"command": "python3 -i -q", "cwd": jail.p("ws")}))
        .await;
    s.ok(
        "wait",
        json!({"job_id": id, "until": ">>> ", "timeout": 20}),
    )
    .await;
    let target = jail.path("outside/repl");
    let r = s
        .ok(
            "interact",
            json!({
                "job_id": id,
                "input": format!("open({:?}, 'w')", target.display().to_string()),
                "until": ">>> ",
                "wait_ms": 20000
            }),
        )
        .await;
    let text = r["text"].as_str().unwrap_or_default();
    assert!(text.contains("Read-only file system"), "{r}");
    assert!(!exists(&target));
    s.ok("kill", json!({"job_id": id})).await;
}

#[tokio::test]
async fn a_cwd_outside_the_workspace_is_refused() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    for cwd in [
        "/",
        jail.p("outside").as_str(),
        &format!("{}/..", jail.p("ws")),
    ] {
        let e = s
            .err("execute", json!({"command": "true", "cwd": cwd}))
            .await;
        assert!(e.contains("inside the workspace"), "{cwd}: {e}");
    }
    // Without a `cwd`, a job runs in the server's directory: the workspace.
    let id = s.start_job(json!({"command": "pwd"})).await;
    s.wait_end(&id, 20).await;
    let out = s.ok("output", json!({"job_id": id})).await;
    assert_eq!(
        out["text"].as_str().unwrap_or_default().trim(),
        std::fs::canonicalize(jail.path("ws"))
            .unwrap()
            .display()
            .to_string()
    );
}

#[tokio::test]
async fn a_setuid_program_cannot_lift_the_confinement() {
    let jail = Jail::new();
    // A setuid-root copy of python, made outside the sandbox.
    let suid = jail.path("ws/suid-python");
    std::fs::copy(
        std::fs::canonicalize(
            String::from_utf8(
                std::process::Command::new("python3")
                    .args(["-c", "import sys; print(sys.executable)"])
                    .output()
                    .expect("which python3")
                    .stdout,
            )
            .expect("utf-8")
            .trim(),
        )
        .expect("python3"),
        &suid,
    )
    .expect("copy python");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let s = jail.server("workspace-write", false).await;
    let cmd = format!(
        "{} -c \"open('/proc/self/status').read(); import re; s=open('/proc/self/status').read(); \
print(re.search(r'CapEff:.*', s).group(0)); print(re.search(r'NoNewPrivs:.*', s).group(0)); \
open('{}', 'w')\"; mount -t tmpfs none {}; echo end",
        suid.display(),
        jail.p("outside/suid"),
        jail.p("outside"),
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");
    assert!(!exists(&jail.path("outside/suid")), "{text}");
    assert!(text.contains("end"), "{text}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&jail.p("outside")),
        "a mount escaped: {text}"
    );
}

#[tokio::test]
async fn remote_jobs_are_refused_under_a_sandbox_unless_the_host_opts_out() {
    let jail = Jail::new();
    let policy = jail.policy("workspace-write", false);
    let config = jail.path("config.toml");
    std::fs::write(
        &config,
        "[hosts.far]\naddress = \"127.0.0.1\"\nport = 1\nuser = \"nobody\"\nagent = true\nconnect_timeout = 2\n\n\
         [hosts.optout]\naddress = \"127.0.0.1\"\nport = 1\nuser = \"nobody\"\nagent = true\nconnect_timeout = 2\nsandbox = \"off\"\n",
    )
    .expect("write config");
    let s = Server::start_at(
        &jail.path("ws"),
        &[
            "--policy",
            policy.to_str().expect("utf-8"),
            "--config",
            config.to_str().expect("utf-8"),
        ],
    )
    .await;
    let e = s
        .err("execute", json!({"command": "true", "host": "far"}))
        .await;
    assert!(e.contains("sandbox") && e.contains("cannot confine"), "{e}");
    // The opted-out host is not refused for the sandbox (it fails later: nothing listens).
    let r = s
        .call(
            "execute",
            json!({"command": "true", "host": "optout", "wait": 10}),
        )
        .await;
    let t = text(&r);
    assert!(!t.contains("cannot confine"), "{t}");
    let audit = std::fs::read_to_string(s.state_dir.path().join("audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("cannot confine"), "{audit}");
}

#[tokio::test]
async fn the_sandbox_flag_alone_confines_to_the_starting_directory() {
    let jail = Jail::new();
    let s = Server::start_at(&jail.path("ws"), &["--sandbox", "workspace-write"]).await;
    let (status, text) = run(
        &s,
        &jail,
        &format!(
            "echo x > {}/f; echo y > {}/g",
            jail.p("outside"),
            jail.p("ws")
        ),
    )
    .await;
    assert_eq!(
        status["sandbox"],
        json!({"filesystem": "workspace-write", "network": false})
    );
    assert!(!exists(&jail.path("outside/f")), "{text}");
    assert!(exists(&jail.path("ws/g")), "{text}");
    let audit = std::fs::read_to_string(s.state_dir.path().join("audit.jsonl")).unwrap_or_default();
    assert!(
        audit.contains("\"sandbox\":\"workspace-write filesystem, no network\""),
        "{audit}"
    );
    let check = s.ok("check", json!({"command": "ls"})).await;
    assert_eq!(check["sandbox"]["filesystem"], "workspace-write");
    drop(s);
    // Without any sandbox, the field is absent (a model pays for every null it reads).
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "true"})).await;
    let st = s.wait_end(&id, 20).await;
    assert!(st.get("sandbox").is_none(), "{st}");
    assert_eq!(st["state"], "exited", "{st}");
}

/// The server under a seccomp filter that makes the Landlock system calls fail with ENOSYS, as
/// on a kernel without Landlock.
fn without_landlock(cmd: &mut tokio::process::Command) {
    // SAFETY: the hook only makes system calls on a program on its stack.
    unsafe {
        cmd.pre_exec(|| {
            let enosys = 0x0005_0000u32 | libc::ENOSYS as u32;
            let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
            let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
            let ret = (libc::BPF_RET | libc::BPF_K) as u16;
            let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
            let mut prog = [
                f(ld, 0, 0, 0),
                f(jeq, 3, 0, libc::SYS_landlock_create_ruleset as u32),
                f(jeq, 2, 0, libc::SYS_landlock_add_rule as u32),
                f(jeq, 1, 0, libc::SYS_landlock_restrict_self as u32),
                f(ret, 0, 0, 0x7fff_0000),
                f(ret, 0, 0, enosys),
            ];
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_mut_ptr(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[tokio::test]
async fn a_sandbox_this_kernel_cannot_enforce_refuses_every_job() {
    let jail = Jail::new();
    let policy = jail.policy("workspace-write", false);
    let ws = jail.path("ws");
    let s = Server::start_adjusted(&["--policy", policy.to_str().expect("utf-8")], |cmd| {
        cmd.current_dir(&ws);
        without_landlock(cmd);
    })
    .await;
    let marker = jail.path("outside/ran");
    let r = s
        .call(
            "execute",
            json!({"command": format!("touch {}", marker.display()), "wait": 20}),
        )
        .await;
    let t = format!(
        "{} {}",
        text(&r),
        r.structured_content.clone().unwrap_or_default()
    );
    assert!(t.contains("failed to start"), "{t}");
    assert!(t.contains("Landlock") && t.contains("ENOSYS"), "{t}");
    assert!(!exists(&marker));
    // The server still serves, and an unsandboxed question still works.
    s.ok("list", json!({})).await;
    // `mcp-jobs sandbox` tells the same story.
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("sandbox")
        .arg("--policy")
        .arg(&policy)
        .current_dir(&ws);
    without_landlock(&mut cmd);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("mcp-jobs sandbox finishes")
        .expect("mcp-jobs sandbox runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("landlock: unavailable"), "{report}");
    assert!(report.contains("refused"), "{report}");
}

#[tokio::test]
async fn the_sandbox_command_reports_what_this_machine_enforces() {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["sandbox", "--sandbox", "workspace-write"])
            .output(),
    )
    .await
    .expect("finishes")
    .expect("runs");
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "landlock: ABI",
        "seccomp: available",
        "read-only: enforced",
        "workspace-write: enforced",
        "filesystem: workspace-write",
    ] {
        assert!(report.contains(needle), "{needle:?} missing:\n{report}");
    }
}

#[tokio::test]
async fn the_sandboxed_agent_preset_confines_any_command() {
    let jail = Jail::new();
    let preset =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/presets/sandboxed-agent.toml");
    let home = jail.path("home");
    std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
    std::fs::write(home.join(".ssh/id_ed25519"), "TOPSECRET-SSH\n").expect("write");
    let ws = jail.path("ws");
    let home_for_server = home.clone();
    let s = Server::start_adjusted(&["--policy", preset.to_str().expect("utf-8")], |cmd| {
        cmd.current_dir(&ws).env("HOME", &home_for_server);
    })
    .await;
    let cmd = format!(
        "rm -rf {out}; echo x > {out}/f; cat ~/.ssh/id_ed25519; echo ok > {ws}/made; \
         echo 'x' > {ws}/.git/hooks/post-checkout; echo end",
        out = jail.p("outside"),
        ws = jail.p("ws"),
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("end"), "{text}");
    assert!(
        jail.path("outside").is_dir(),
        "rm -rf reached outside:\n{text}"
    );
    assert!(!exists(&jail.path("outside/f")), "{text}");
    assert!(!text.contains("TOPSECRET"), "{text}");
    assert!(exists(&jail.path("ws/made")), "{text}");
    assert!(!exists(&jail.path("ws/.git/hooks/post-checkout")), "{text}");
}

#[tokio::test]
async fn modes_owners_times_and_attributes_outside_cannot_change() {
    let jail = Jail::new();
    let victim = jail.path("outside/victim");
    std::fs::write(&victim, "x").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let before = std::fs::metadata(&victim).expect("stat");
    for mode in ["workspace-write", "read-only"] {
        let s = jail.server(mode, false).await;
        let v = victim.display();
        let cmd = format!(
            "chmod 4777 {v}; chown 1:1 {v}; touch -d 2001-01-01 {v}; \
             python3 -c \"import os; os.setxattr('{v}', 'user.x', b'1')\"; echo end"
        );
        let (_, text) = run(&s, &jail, &cmd).await;
        assert!(text.contains("end"), "{text}");
        let after = std::fs::metadata(&victim).expect("stat");
        assert_eq!(
            after.permissions().mode(),
            before.permissions().mode(),
            "{mode}: {text}"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (after.uid(), after.gid()),
            (before.uid(), before.gid()),
            "{text}"
        );
        assert_eq!(after.mtime(), before.mtime(), "{mode}: {text}");
    }
}

#[tokio::test]
async fn a_job_is_off_the_servers_terminal_and_out_of_its_ipc_and_keyrings() {
    let jail = Jail::new();
    // A SysV shared memory segment of the host's.
    let key = 0x5eed_0000 + (std::process::id() & 0xffff) as i32;
    // SAFETY: plain system calls.
    let shm = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | 0o600) };
    assert!(shm >= 0, "shmget: {}", std::io::Error::last_os_error());
    struct Remove(i32);
    impl Drop for Remove {
        fn drop(&mut self) {
            // SAFETY: removes our own segment.
            unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
    let _remove = Remove(shm);
    let s = jail.server("workspace-write", false).await;
    let cmd = format!(
        "python3 -c \"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print('own session', os.getsid(0) == os.getpgid(0) == int(open('/proc/%d/stat' % os.getppid()).read().split()[5]))
try:
    open('/dev/tty')
    print('tty opened')
except OSError as e:
    print('no tty', e.errno)
print('shm', libc.shmget({key}, 0, 0))
libc.syscall.restype = ctypes.c_long
r = libc.syscall(250, 0, -4, 0)
print('keyctl', r, ctypes.get_errno())
\"; ls /dev/pts"
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("own session True"), "{text}");
    assert!(text.contains("no tty"), "{text}");
    assert!(
        text.contains("shm -1"),
        "the host's segment is visible:\n{text}"
    );
    assert!(text.contains("keyctl -1 1"), "keyrings reachable:\n{text}");
    assert!(
        text.contains("ls: cannot open directory '/dev/pts'"),
        "other terminals are listed:\n{text}"
    );
}

#[tokio::test]
async fn repositories_cannot_be_moved_aside_or_redirected() {
    let jail = Jail::new();
    let sub = jail.path("ws/sub");
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .arg(&sub)
        .status()
        .expect("git init");
    assert!(git.success());
    std::fs::write(jail.path("ws/.git/config.worktree"), "").expect("write");
    let s = jail.server("workspace-write", false).await;
    let ws = jail.p("ws");
    let cmd = format!(
        "cd {ws}; mv .git .g; mv sub sub2; mv sub/.git sub/.g; rm -rf sub/.git; \
         echo '[core] hooksPath = /tmp' > .git/config.worktree; rm .git/config.worktree; \
         echo end"
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("end"), "{text}");
    for kept in ["ws/.git/config", "ws/sub/.git/hooks", "ws/sub/.git/config"] {
        assert!(exists(&jail.path(kept)), "{kept} moved:\n{text}");
    }
    assert!(
        !exists(&jail.path("ws/.g")) && !exists(&jail.path("ws/sub2")),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(jail.path("ws/.git/config.worktree")).expect("read"),
        "",
        "{text}"
    );
    // A `.git` that a job turned into a link to elsewhere is not followed by the server.
    let evil = jail.path("outside/target");
    std::fs::create_dir(&evil).expect("mkdir");
    let (_, text) = run(
        &s,
        &jail,
        &format!(
            "mkdir -p {ws}/other && ln -s {} {ws}/other/.git && echo linked",
            evil.display()
        ),
    )
    .await;
    assert!(text.contains("linked"), "{text}");
    run(&s, &jail, "true").await;
    assert!(!exists(&evil.join("hooks")), "the server followed the link");
}

#[tokio::test]
async fn a_hidden_place_inside_the_workspace_cannot_be_moved_and_if_moved_stops_jobs() {
    let jail = Jail::new();
    std::fs::create_dir_all(jail.path("ws/d1/d2")).expect("mkdir");
    std::fs::write(jail.path("ws/d1/d2/token"), "TOPSECRET-TOKEN\n").expect("write");
    let policy = jail.path("hide-in-ws.toml");
    std::fs::write(
        &policy,
        format!(
            "[sandbox]\nfilesystem = \"workspace-write\"\nhide = [{:?}]\n",
            jail.p("ws/d1/d2/token")
        ),
    )
    .expect("write");
    let s = Server::start_at(
        &jail.path("ws"),
        &["--policy", policy.to_str().expect("utf-8")],
    )
    .await;
    let (_, text) = run(
        &s,
        &jail,
        "cat d1/d2/token; mv d1 d1x; mv d1/d2 d1/d2x; mv d1/d2/token t; echo end",
    )
    .await;
    assert!(!text.contains("TOPSECRET"), "{text}");
    assert!(text.contains("end"), "{text}");
    assert!(
        exists(&jail.path("ws/d1/d2/token")),
        "the hidden place moved:\n{text}"
    );
    // Moved behind the server's back: later jobs are refused rather than run unhidden.
    std::fs::rename(jail.path("ws/d1"), jail.path("ws/d1x")).expect("rename");
    let r = s
        .call(
            "execute",
            json!({"command": "cat d1x/d2/token", "wait": 20}),
        )
        .await;
    let t = format!(
        "{} {}",
        text_of(&r),
        r.structured_content.clone().unwrap_or_default()
    );
    assert!(!t.contains("TOPSECRET"), "{t}");
    assert!(t.contains("moved or changed"), "{t}");
}

#[tokio::test]
async fn linked_worktrees_and_submodule_gitfiles_cannot_be_redirected() {
    let jail = Jail::new();
    let ws = jail.p("ws");
    let sh = |cmd: &str| {
        let ok = std::process::Command::new("sh")
            .args(["-c", cmd])
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .expect("sh");
        assert!(ok.success(), "{cmd}");
    };
    sh(&format!(
        "cd {ws} && git commit -q --allow-empty -m one && git worktree add -q {out}/wt && \
         mkdir sub && echo 'gitdir: {ws}/.git' > sub/.git",
        out = jail.p("outside")
    ));
    let s = jail.server("workspace-write", false).await;
    let cmd = format!(
        "cd {ws}; echo {ws}/evil > .git/worktrees/wt/commondir; echo x > .git/worktrees/wt/gitdir; \
         mv .git/worktrees .git/wtx; echo 'gitdir: {ws}/evil' > sub/.git; mv sub/.git sub/g; echo end"
    );
    let (_, text) = run(&s, &jail, &cmd).await;
    assert!(text.contains("end"), "{text}");
    let commondir =
        std::fs::read_to_string(jail.path("ws/.git/worktrees/wt/commondir")).expect("commondir");
    assert!(!commondir.contains("evil"), "{text}");
    assert!(exists(&jail.path("ws/.git/worktrees/wt/gitdir")), "{text}");
    let gitfile = std::fs::read_to_string(jail.path("ws/sub/.git")).expect("gitfile");
    assert!(!gitfile.contains("evil"), "{text}");
}

#[tokio::test]
async fn a_protected_place_made_a_link_to_a_writable_root_refuses_jobs() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let ws = jail.p("ws");
    let (_, text) = run(
        &s,
        &jail,
        &format!("mkdir -p {ws}/y/.git && touch {ws}/y/.git/HEAD && ln -s {ws} {ws}/y/.git/info && echo made"),
    )
    .await;
    assert!(text.contains("made"), "{text}");
    let r = s
        .call(
            "execute",
            json!({"command": format!("touch {ws}/after"), "wait": 20}),
        )
        .await;
    let t = format!(
        "{} {}",
        text_of(&r),
        r.structured_content.clone().unwrap_or_default()
    );
    assert!(t.contains("symbolic link"), "{t}");
    assert!(!exists(&jail.path("ws/after")));
    // The operator removes the link; jobs run again, and the workspace is still writable.
    std::fs::remove_file(jail.path("ws/y/.git/info")).expect("rm");
    let (_, text) = run(&s, &jail, &format!("touch {ws}/after && echo ok")).await;
    assert!(text.contains("ok"), "{text}");
}

#[tokio::test]
async fn tmpdirs_are_private_and_gone_when_the_server_is_killed() {
    let jail = Jail::new();
    let s = jail.server("workspace-write", false).await;
    let id = s
        .start_job(json!({"command": "echo \"tmp=$TMPDIR\"; sleep 1000", "cwd": jail.p("ws")}))
        .await;
    let mut tmp = String::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            let out = std::fs::read_dir(s.state_dir.path().join("runs"))
                .into_iter()
                .flatten()
                .flatten()
                .flat_map(|run| {
                    std::fs::read_dir(run.path())
                        .into_iter()
                        .flatten()
                        .flatten()
                })
                .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                .find_map(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("tmp=").map(str::to_string))
                });
            if let Some(t) = out {
                tmp = t;
            }
            !tmp.is_empty()
        })
        .await,
        "no TMPDIR printed by {id}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&tmp)
        .expect("tmpdir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{tmp}");
    let root = Path::new(&tmp).parent().expect("parent").to_path_buf();
    s.signal(libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(10), || !root.exists()).await,
        "{} left behind",
        root.display()
    );
}

fn text_of(r: &rmcp::model::CallToolResult) -> String {
    text(r)
}

/// Gives `path` (and what is under it) to `uid`.
fn give(path: &Path, uid: u32) {
    let ok = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(path)
        .status()
        .expect("chown");
    assert!(ok.success());
}

#[tokio::test]
async fn an_unprivileged_server_confines_its_jobs_too_and_setuid_cannot_lift_it() {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let jail = Jail::new();
    let state = tempfile::tempdir().expect("tempdir");
    // A setuid-root program (made while root): under no_new_privs it runs as the user.
    let suid = jail.path("ws/suid-id");
    std::fs::copy("/usr/bin/id", &suid).expect("copy id");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let nobody = 65534;
    if root {
        // Run the server as `nobody`: it then needs a user namespace for its mounts.
        give(jail.dir.path(), nobody);
        give(state.path(), nobody);
        std::os::unix::fs::chown(&suid, Some(0), Some(0)).expect("chown");
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    }
    let policy = jail.policy("workspace-write", false);
    let ws = jail.path("ws");
    let dir = state.path().to_owned();
    let home = jail.path("ws");
    let s = Server::launch(
        state,
        &dir,
        &["--policy", policy.to_str().expect("utf-8")],
        |cmd| {
            cmd.current_dir(&ws).env("HOME", &home);
            if root {
                cmd.uid(nobody).gid(nobody);
            }
        },
    )
    .await;
    let cmd = format!(
        "id -u; {suid} -u; echo x > {out}/f; echo ok > {ws}/in; echo h > {ws}/.git/hooks/pre-commit; \
         cat {secret}/key; echo end",
        suid = suid.display(),
        out = jail.p("outside"),
        ws = jail.p("ws"),
        secret = jail.p("secret"),
    );
    let (status, text) = run(&s, &jail, &cmd).await;
    assert_eq!(status["state"], "exited", "{status}");
    let uid = if root {
        nobody
    } else {
        unsafe { libc::getuid() }
    };
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(uid.to_string().as_str()), "{text}");
    assert_eq!(
        lines.next(),
        Some(uid.to_string().as_str()),
        "the setuid program ran with another uid:\n{text}"
    );
    assert!(!exists(&jail.path("outside/f")), "{text}");
    assert!(exists(&jail.path("ws/in")), "{text}");
    assert!(!exists(&jail.path("ws/.git/hooks/pre-commit")), "{text}");
    assert!(!text.contains("TOPSECRET"), "{text}");
    assert!(text.contains("end"), "{text}");
}
