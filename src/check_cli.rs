//! `mcp-jobs check`: the policy's verdict from a shell, with the same engine the server uses.

use std::path::Path;

use policies::{CheckRequest, Decision, Policy};

/// Prints the verdict; returns the exit status (0 allowed, 1 refused, 2 bad policy).
pub fn run(policy: &Path, host: &str, cwd: Option<&Path>, json: bool, command: &str) -> i32 {
    let policy = match Policy::load(policy) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mcp-jobs check: bad policy: {e}");
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
