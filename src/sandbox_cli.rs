//! `mcp-jobs sandbox`: what this machine's kernel can enforce, what each sandbox mode would
//! enforce here, and the sandbox the given config and policy ask for.

use std::path::PathBuf;

use executors::SandboxSpec;
use std::sync::Arc;

use executors::local::{Containment, LocalExecutor, SandboxSupport};

use crate::serve::ServeOptions;

/// Prints the report; returns the exit status (0, or 2 for a bad config or policy).
pub fn run(opts: &ServeOptions) -> i32 {
    match report(opts) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("mcp-jobs: {e:#}");
            2
        }
    }
}

/// What each mode needs of the kernel, as the server would ask for it (with a protected place
/// and a hidden one, so that every mechanism is counted).
fn modes() -> Vec<(&'static str, SandboxSpec)> {
    let place = || vec![PathBuf::from("/")];
    vec![
        (
            "read-only",
            SandboxSpec {
                writable: Some(Vec::new()),
                read_only: Vec::new(),
                pinned: Vec::new(),
                hide: place(),
                network: false,
            },
        ),
        (
            "workspace-write",
            SandboxSpec {
                writable: Some(Vec::new()),
                read_only: place(),
                pinned: place(),
                hide: place(),
                network: false,
            },
        ),
        (
            "network only (filesystem = \"off\", network = false)",
            SandboxSpec {
                writable: None,
                read_only: Vec::new(),
                pinned: Vec::new(),
                hide: Vec::new(),
                network: false,
            },
        ),
    ]
}

fn verdict(support: &SandboxSupport, spec: &SandboxSpec) -> String {
    match support.refusal(spec) {
        None => "enforced".into(),
        Some(why) => format!("refused ({why})"),
    }
}

fn report(opts: &ServeOptions) -> anyhow::Result<String> {
    let (file, config_path) = crate::serve::config_file(opts)?;
    let policy = crate::serve::policy(opts, &file, config_path.as_deref())?;
    let sandbox = crate::serve::sandbox(opts, &file, &policy, "probe")?;
    let scratch = tempfile::Builder::new()
        .prefix("mcp-jobs-probe-")
        .tempdir()?;
    // What a server started now would use (the probe's cgroup is removed at once).
    let containment = match Containment::probe() {
        Ok(c) => Arc::new(c),
        Err(e) => anyhow::bail!("{e}"),
    };
    let local = LocalExecutor::with_scratch(Arc::clone(&containment), scratch.path())?;
    let support = local.sandbox_support();
    let mut s = String::from("This machine:\n");
    for line in support.describe().lines() {
        s.push_str(&format!("  {line}\n"));
    }
    s.push_str(&format!("  containment: {}\n", containment.describe()));
    s.push_str("\nEach sandbox mode here:\n");
    for (name, spec) in modes() {
        s.push_str(&format!("  {name}: {}\n", verdict(support, &spec)));
    }
    s.push_str(
        "\nEvery mode also sets no_new_privs, gives a root server's jobs no capabilities, its own \
SysV IPC namespace and no kernel keyrings, and hides the other terminals (/dev/pts).\n\
Not confined by any mode: reads outside `hide` (with a root server, root-owned devices such as \
disks too), CPU, memory and process counts, local Unix sockets reached by path (Docker, \
ssh-agent, D-Bus: hide them), protected places that do not exist when a job starts \
(.cargo/config.toml, .npmrc, .git/commondir) and repositories created after it started, and \
jobs on SSH hosts.\n",
    );
    match &sandbox {
        None => s.push_str("\nThis configuration: no sandbox (local jobs are not confined).\n"),
        Some(sb) => {
            s.push_str("\nThis configuration:\n");
            for line in sb.describe().lines() {
                s.push_str(&format!("  {line}\n"));
            }
            let now = match sb.spec(&policy, None) {
                Ok(spec) => verdict(support, &spec),
                Err(why) => format!("refused ({why})"),
            };
            s.push_str(&format!("  on this machine: {now}\n"));
        }
    }
    Ok(s)
}
