//! `mcp-jobs check`: the policy's verdict from a shell, with the same engine and the same
//! policies the server would use: `--policy`, else the config's (`--config`, or the user's
//! config file), and for an SSH host its own policy from the config.

use std::path::{Path, PathBuf};

use policies::{CheckRequest, Decision, Policy};

use crate::serve::ServeOptions;

/// The policy the server would use for `host`.
fn policy_for(
    config: Option<PathBuf>,
    policy: Option<PathBuf>,
    host: &str,
) -> anyhow::Result<Policy> {
    let opts = ServeOptions {
        config,
        policy,
        ..ServeOptions::default()
    };
    let (file, config_path) = crate::serve::config_file(&opts)?;
    if host == "local" {
        return crate::serve::policy(&opts, &file, config_path.as_deref());
    }
    let Some(h) = file.hosts.get(host) else {
        let mut known: Vec<&str> = file.hosts.keys().map(String::as_str).collect();
        known.insert(0, "local");
        anyhow::bail!(
            "unknown host {host:?}: configured hosts are {}",
            known.join(", ")
        );
    };
    match &h.policy {
        Some(p) => {
            let p = match (
                p.is_relative(),
                config_path.as_deref().and_then(Path::parent),
            ) {
                (true, Some(dir)) => dir.join(p),
                _ => p.clone(),
            };
            Policy::load(&p).map_err(|e| anyhow::anyhow!("bad policy for host {host}: {e}"))
        }
        None => crate::serve::policy(&opts, &file, config_path.as_deref()),
    }
}

/// Prints the verdict; returns the exit status (0 allowed, 1 refused, 2 bad usage, config or
/// policy).
pub fn run(
    config: Option<PathBuf>,
    policy: Option<PathBuf>,
    host: &str,
    cwd: Option<&Path>,
    json: bool,
    command: &str,
) -> i32 {
    if command.trim().is_empty() {
        eprintln!("mcp-jobs check: the command is empty");
        return 2;
    }
    let policy = match policy_for(config, policy, host) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mcp-jobs check: {e:#}");
            return 2;
        }
    };
    let verdict = policy.check(&CheckRequest {
        command,
        host,
        cwd,
        env: &[],
    });
    // A closed stdout (`| head -1`) is not an error of the check: the status still tells.
    let mut text = String::new();
    if json {
        match serde_json::to_string_pretty(&verdict) {
            Ok(s) => text = s,
            Err(e) => {
                eprintln!("mcp-jobs check: {e}");
                return 2;
            }
        }
    } else {
        text.push_str(if verdict.allowed {
            "allowed"
        } else {
            "refused"
        });
        for c in &verdict.commands {
            let d = match c.decision {
                Decision::Allowed => "allowed",
                Decision::Denied => "denied",
                Decision::Refused => "refused",
            };
            text.push_str(&match &c.reason {
                Some(r) => format!("\n  {d:8} {}  [{}] {r}", c.command, c.rule),
                None => format!("\n  {d:8} {}  [{}]", c.command, c.rule),
            });
        }
        for r in &verdict.refusals {
            text.push_str(&format!("\n  refused  {r}"));
        }
    }
    text.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if verdict.allowed { 0 } else { 1 }
}
