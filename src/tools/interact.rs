//! `interact`: send input to a running job and return its reply (the JobManager does the
//! sending, the policy and the waiting).

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::args::*;
use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use super::progress::Progress;
use crate::config::bounds;
use crate::jobs::{InteractRequest, JobError};
use crate::output::Select;
use crate::output::view;

#[tool_router(router = interact_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "Send input to a running job's stdin (REPL, prompt); returns the output it made in reply, once it waits for input again, `until` matches, output goes quiet, or `wait_ms` passes.",
        output_schema = schema_for_output::<InteractReply>(),
        annotations(destructive_hint = true, open_world_hint = true)
    )]
    async fn interact(
        &self,
        Parameters(p): Parameters<InteractParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            let wait_ms = p.wait_ms.unwrap_or(bounds::DEFAULT_INTERACT_MS);
            if wait_ms > bounds::MAX_INTERACT_MS {
                return Err(ToolError::from(format!(
                    "`wait_ms` is {wait_ms}; the maximum is {} (call again to wait longer)",
                    bounds::MAX_INTERACT_MS
                )));
            }
            let until = pattern(p.until.as_deref(), "until")?;
            let quiet = match (p.quiet_ms, &until) {
                (Some(q), _) => Some(Duration::from_millis(q)),
                (None, None) => Some(Duration::from_millis(bounds::DEFAULT_QUIET_MS)),
                (None, Some(_)) => None,
            };
            let max = max_bytes(p.max_bytes)?;
            let mut progress = Progress::new(ctx.peer.clone(), ctx.meta.get_progress_token());
            let outcome = self
                .manager
                .interact(
                    &job,
                    InteractRequest {
                        input: p.input.unwrap_or_default(),
                        newline: p.newline.unwrap_or(true),
                        eof: p.eof.unwrap_or(false),
                        wait: Duration::from_millis(wait_ms),
                        until,
                        quiet,
                    },
                    &ctx.ct,
                    &mut progress,
                )
                .await?;
            let chunk = view::read(
                &job.output,
                outcome.start,
                Select::Combined,
                max,
                p.raw.unwrap_or(false),
                job.is_ended(),
            )
            .map_err(|e| JobError::Output(job.id, e))?;
            Ok(InteractReply {
                job_id: job.id.to_string(),
                text: chunk.text,
                matched: outcome.matched,
                next: chunk.next,
                remaining_bytes: chunk.remaining,
                state: job.phase().name(),
                stdin_open: outcome.stdin_open,
            })
        })
        .await
    }
}
