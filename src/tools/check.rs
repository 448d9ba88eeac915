//! `check`: what `execute` would decide for a command, without running it.

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use std::path::PathBuf;

use crate::jobs::JobRequest;
use policies::Decision;

#[tool_router(router = check_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "Would the policy allow this command on a host, and why? Without running \
it: each program it would run and the rule deciding it.",
        output_schema = schema_for_output::<CheckReply>(),
        annotations(read_only_hint = true)
    )]
    async fn check(&self, Parameters(p): Parameters<CheckParams>) -> CallToolResult {
        guarded(async {
            let request = JobRequest {
                group: None,
                command: p.command,
                cwd: p.cwd.map(PathBuf::from),
                env: p.env.unwrap_or_default(),
                host: p
                    .host
                    .map_or_else(|| "local".into(), |h| h.trim().to_string()),
                timeout: None,
                pty: false,
                merge_stderr: false,
                stdin: None,
                keep_stdin_open: false,
                label: None,
            };
            let a = self.manager.check(&request)?;
            Ok(CheckReply {
                allowed: a.reasons.is_empty(),
                summary: if a.reasons.is_empty() {
                    a.verdict.summary()
                } else {
                    a.reasons.join("; ")
                },
                host: request.host,
                sandbox: a.sandbox,
                commands: a
                    .verdict
                    .commands
                    .into_iter()
                    .map(|c| CheckedCommand {
                        command: c.command,
                        decision: match c.decision {
                            Decision::Allowed => "allowed",
                            Decision::Denied => "denied",
                            Decision::Refused => "refused",
                        }
                        .into(),
                        rule: c.rule,
                        reason: c.reason,
                    })
                    .collect(),
                refusals: a.verdict.refusals,
                stdin: a.verdict.stdin,
                policy: a.policy,
            })
        })
        .await
    }
}
