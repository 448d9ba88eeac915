//! `execute`: start a job (and, with `wait`, return it complete if it ends in time).

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::args::*;
use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use std::path::PathBuf;

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use super::group_reply::{GroupReply, OneOrGroup};
use super::progress::Progress;
use crate::config::bounds;
use crate::jobs::wait::wait_jobs;
use crate::jobs::{JobRequest, Phase, Targets};

#[tool_router(router = execute_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "Run a shell command (bash -c) in the background: returns its job id at once, or with `wait` (seconds) a short one's exit status and output tail.",
        output_schema = schema_for_output::<OneOrGroup<ExecuteReply>>(),
        annotations(destructive_hint = true, open_world_hint = true)
    )]
    async fn execute(
        &self,
        Parameters(p): Parameters<ExecuteParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        guarded(async {
            let max_timeout = self.manager.limits().max_timeout.as_secs_f64();
            let timeout = p
                .timeout
                .map(|t| seconds(t, "timeout", max_timeout))
                .transpose()?;
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(ToolError::from(
                    "`timeout` must be more than 0 seconds (omit it for no timeout)",
                ));
            }
            let wait = p
                .wait
                .map(|w| seconds(w, "wait", bounds::MAX_WAIT_SECS))
                .transpose()?
                .unwrap_or_default();
            if let Some(s) = &p.stdin
                && s.contains('\0')
            {
                return Err(ToolError::from(
                    "`stdin` contains a NUL byte; only text can be sent",
                ));
            }
            // One host, or a fan-out (whose jobs get their hosts from the targets).
            let (host, targets) = match (p.host, p.hosts, p.tag) {
                (host, None, None) => (host.unwrap_or_else(|| "local".into()), None),
                (None, Some(hosts), None) => (String::new(), Some(Targets::Hosts(hosts))),
                (None, None, Some(tag)) => (String::new(), Some(Targets::Tag(tag))),
                _ => {
                    return Err(ToolError::from(
                        "give one of `host`, `hosts` or `tag`, not several",
                    ));
                }
            };
            let request = JobRequest {
                group: None,
                command: p.command,
                cwd: p.cwd.map(PathBuf::from),
                env: p.env.unwrap_or_default(),
                host,
                timeout,
                pty: p.pty.unwrap_or(false),
                merge_stderr: p.merge_stderr.unwrap_or(false),
                stdin: p.stdin,
                keep_stdin_open: p.keep_stdin_open.unwrap_or(false),
                label: p.label,
            };
            let mut progress = Progress::new(ctx.peer.clone(), ctx.meta.get_progress_token());
            let Some(targets) = targets else {
                return self
                    .execute_one(request, wait, &ctx, &mut progress)
                    .await
                    .map(OneOrGroup::one);
            };
            let group = self.manager.execute_group(request, targets).await?;
            if !wait.is_zero() {
                wait_jobs(&group.jobs, None, false, wait, &ctx.ct, &mut progress)
                    .await
                    .map_err(|e| format!("cannot read the jobs' output: {e}"))?;
            }
            Ok(OneOrGroup::group(GroupReply::of(&group)))
        })
        .await
    }
}

impl JobServer {
    /// `execute` on one host.
    async fn execute_one(
        &self,
        request: JobRequest,
        wait: std::time::Duration,
        ctx: &RequestContext<RoleServer>,
        progress: &mut Progress,
    ) -> Result<ExecuteReply, ToolError> {
        let job = self.manager.execute(request).await?;
        if let Phase::Ended {
            end: crate::jobs::End::FailedToStart { reason },
            ..
        } = job.phase()
        {
            return Err(ToolError::from(format!(
                "job {} failed to start: {reason}",
                job.id
            )));
        }
        if !wait.is_zero() {
            wait_jobs(&[Arc::clone(&job)], None, false, wait, &ctx.ct, progress)
                .await
                .map_err(|e| format!("cannot read the job's output: {e}"))?;
        }
        let ended = job.is_ended();
        let mut status = JobStatus::of(&job);
        // The caller has just sent the command: it need not read it back.
        status.command.clear();
        Ok(ExecuteReply {
            status,
            tail: ended
                .then(|| tail_text(&job, bounds::DEFAULT_TAIL_LINES))
                .filter(|t| !t.is_empty()),
            cursor: if ended { job.output.len() } else { 0 },
        })
    }
}
