//! The `check` tool's result: the verdict for a command, program by program.

use schemars::JsonSchema;
use serde::Serialize;

use super::replies::Reply;

/// One program found in a checked command.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckedCommand {
    /// The command line.
    pub command: String,
    /// allowed, denied or refused.
    pub decision: String,
    /// The rule that decided.
    pub rule: String,
    /// Why the policy decided so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckReply {
    /// Whether the command would run.
    pub allowed: bool,
    /// One line: the rules that allow it, or why it is refused.
    pub summary: String,
    /// Where it runs: `local` or a configured SSH host.
    pub host: String,
    /// The kernel sandbox a job would run in (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::sandbox::SandboxSummary>,
    /// Every program the command would run, with the decision for each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CheckedCommand>,
    /// Reasons that apply to the whole command.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
    /// Whether a job started with it could take input through `interact`.
    pub stdin: bool,
    /// The policy file in force.
    pub policy: String,
}

impl Reply for CheckReply {
    fn text(&self) -> String {
        let mut t = self.summary.clone();
        for c in &self.commands {
            t.push_str(&format!("\n  {} {} [{}]", c.decision, c.command, c.rule));
            if let Some(r) = &c.reason {
                t.push_str(&format!(": {r}"));
            }
        }
        t
    }
}
