//! Jobs at a glance and waiting on them: `list`, `wait`.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::args::*;
use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use rmcp::RoleServer;
use rmcp::service::RequestContext;

use super::progress::Progress;
use super::waiting::{WaitItem, WaitReply};
use crate::config::bounds;
use crate::jobs::wait::wait_jobs;
use crate::jobs::{Job, ListFilter, StateName};

#[tool_router(router = overview_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "All jobs, newest first, one short row each; filter by `state`, `host`, \
`label`, `group`; `limit` rows (default 100).",
        output_schema = schema_for_output::<ListReply>(),
        annotations(read_only_hint = true)
    )]
    async fn list(&self, Parameters(p): Parameters<ListParams>) -> CallToolResult {
        guarded(async {
            let state = p
                .state
                .as_deref()
                .map(|s| {
                    StateName::parse(s).ok_or_else(|| {
                        format!(
                            "unknown state {s:?}: use queued, running, exited, killed, timed_out, \
failed_to_start or lost"
                        )
                    })
                })
                .transpose()?;
            let limit = match p.limit {
                None => bounds::DEFAULT_LIST,
                Some(0) => return Err(ToolError::from("`limit` must be at least 1")),
                Some(l) => usize::try_from(l)
                    .unwrap_or(usize::MAX)
                    .min(bounds::MAX_LIST),
            };
            let group = match p.group.as_deref() {
                Some(g) => Some(self.manager.group(g)?.id),
                None => None,
            };
            let jobs = self.manager.list(&ListFilter {
                state,
                host: p.host,
                label: p.label,
                group,
            });
            let total = jobs.len();
            let rows = jobs
                .iter()
                .take(limit)
                .map(|j| {
                    let s = JobStatus::of(j);
                    JobRow {
                        job_id: s.job_id,
                        state: s.state,
                        summary: s.summary,
                        command: one_line(&s.command, 200),
                        host: s.host,
                        label: s.label,
                        group: s.group,
                        exit_code: s.exit_code,
                        waiting_for_input: s.waiting_for_input,
                    }
                })
                .collect();
            Ok(ListReply { jobs: rows, total })
        })
        .await
    }

    #[tool(
        description = "Wait until jobs end (all, or `any`), print a line matching `until`, or wait for input, up to `timeout` seconds; returns why, their status and tail.",
        output_schema = schema_for_output::<WaitReply>(),
        annotations(read_only_hint = true)
    )]
    async fn wait(
        &self,
        Parameters(p): Parameters<WaitParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        guarded(async {
            let mut ids: Vec<String> = p.job_ids.unwrap_or_default();
            ids.extend(p.job_id);
            let mut jobs: Vec<Arc<Job>> = Vec::with_capacity(ids.len());
            if let Some(g) = &p.group {
                jobs.extend(self.manager.group(g)?.jobs);
                if jobs.is_empty() {
                    return Err(ToolError::from(format!(
                        "group {g} has no jobs left to wait for"
                    )));
                }
            } else if ids.is_empty() {
                return Err(ToolError::from("give `job_id`, `job_ids` or `group`"));
            }
            for id in &ids {
                let job = self.job(id)?;
                if !jobs.iter().any(|j| j.id == job.id) {
                    jobs.push(job);
                }
            }
            let timeout = seconds(
                p.timeout.unwrap_or(bounds::DEFAULT_WAIT_SECS),
                "timeout",
                bounds::MAX_WAIT_SECS,
            )?;
            let until = pattern(p.until.as_deref(), "until")?;
            let lines = p
                .lines
                .map_or(10, |l| usize::try_from(l).unwrap_or(usize::MAX))
                .min(bounds::MAX_TAIL_LINES);
            let mut progress = Progress::new(ctx.peer.clone(), ctx.meta.get_progress_token());
            let r = wait_jobs(
                &jobs,
                until.as_ref(),
                p.any.unwrap_or(false),
                timeout,
                &ctx.ct,
                &mut progress,
            )
            .await
            .map_err(|e| format!("cannot read the jobs' output: {e}"))?;
            let items = jobs
                .iter()
                .zip(r.matched)
                .zip(r.waiting)
                .map(|((j, m), w)| WaitItem {
                    status: match w {
                        Some(w) => JobStatus::seen(j, Some(w)),
                        None => JobStatus::of(j),
                    },
                    tail: if lines == 0 {
                        String::new()
                    } else {
                        tail_text(j, lines)
                    },
                    matched_line: m,
                })
                .collect();
            Ok(WaitReply {
                reason: r.end,
                jobs: items,
            })
        })
        .await
    }
}
