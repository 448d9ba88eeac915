//! Stopping and forgetting jobs: `kill`, `clean`.

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::args::*;
use super::group_reply::{GroupReply, OneOrGroup};
use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use std::time::Duration;

use crate::config::bounds;
use crate::jobs::state::parse_signal;
use crate::jobs::{CleanScope, JobId, ListFilter};

#[tool_router(router = control_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "Stop a job's (or a `group`'s) whole process tree: `signal` (default TERM), then KILL after `grace_ms`.",
        output_schema = schema_for_output::<OneOrGroup<KillReply>>(),
        annotations(destructive_hint = true, idempotent_hint = true)
    )]
    async fn kill(&self, Parameters(p): Parameters<KillParams>) -> CallToolResult {
        guarded(async {
            let target = match (p.job_id, p.group) {
                (Some(id), None) => Ok(self.job(&id)?),
                (None, Some(g)) => Err(self.manager.group(&g)?),
                _ => return Err(ToolError::from("give `job_id` or `group` (one of them)")),
            };
            let signal = match &p.signal {
                None => nix::sys::signal::Signal::SIGTERM as i32,
                Some(s) => parse_signal(&s.text()).ok_or_else(|| {
                    format!(
                        "unknown signal {:?}: use a name like TERM, INT, HUP, KILL or a number",
                        s.text()
                    )
                })?,
            };
            let grace = match p.grace_ms {
                None => self.manager.limits().kill_grace,
                Some(ms) if ms > bounds::MAX_GRACE_MS => {
                    return Err(ToolError::from(format!(
                        "`grace_ms` is at most {}",
                        bounds::MAX_GRACE_MS
                    )));
                }
                Some(ms) => Duration::from_millis(ms),
            };
            let job = match target {
                Ok(job) => job,
                Err(group) => {
                    let reports = self.manager.kill_group(&group, signal, grace).await;
                    return Ok(OneOrGroup::group(GroupReply::killed(&group, reports)));
                }
            };
            let report = self.manager.kill(&job, signal, grace).await;
            let mut status = JobStatus::of(&job);
            status.command.clear();
            Ok(OneOrGroup::one(KillReply {
                already_ended: report.already_ended,
                warning: report.survivors,
                status,
            }))
        })
        .await
    }

    #[tool(
        description = "Forget ended jobs and delete their logs: by `job_id`/`job_ids`, `older_than` seconds, or `all: true` (one is required).",
        output_schema = schema_for_output::<CleanReply>(),
        annotations(destructive_hint = true, idempotent_hint = true)
    )]
    async fn clean(&self, Parameters(p): Parameters<CleanParams>) -> CallToolResult {
        guarded(async {
            let mut ids: Vec<String> = p.job_ids.unwrap_or_default();
            ids.extend(p.job_id);
            let scope = if !ids.is_empty() {
                let mut parsed = Vec::with_capacity(ids.len());
                for id in &ids {
                    parsed.push(JobId::parse(id).ok_or_else(|| {
                        format!("unknown job {id:?}: job ids look like j1, j2, ...")
                    })?);
                }
                CleanScope::Ids(parsed)
            } else if let Some(age) = p.older_than {
                CleanScope::OlderThan(seconds(age, "older_than", f64::from(u32::MAX))?)
            } else if p.all == Some(true) {
                CleanScope::All
            } else {
                // Forgetting deletes logs: it is never what an empty call means by accident.
                return Err(ToolError::from(
                    "say which ended jobs to forget: `job_id` or `job_ids`, `older_than` \
(seconds), or `all: true`",
                ));
            };
            let removed = self.manager.clean(&scope)?;
            Ok(CleanReply {
                removed: removed.iter().map(ToString::to_string).collect(),
                remaining: self.manager.list(&ListFilter::default()).len(),
            })
        })
        .await
    }
}
