//! Reading a job: `status`, `output` (by cursor, or `grep`), `tail`.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::args::*;
use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use crate::config::bounds;
use crate::output::search;
use crate::output::view;

#[tool_router(router = read_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "A job's state (queued, running, exited, killed, timed_out, failed_to_start, lost), exit code or signal, times, output sizes and resource use.",
        output_schema = schema_for_output::<JobStatus>(),
        annotations(read_only_hint = true)
    )]
    async fn status(&self, Parameters(p): Parameters<JobIdParams>) -> CallToolResult {
        guarded(async { Ok(JobStatus::of(&*self.job(&p.job_id)?)) }).await
    }

    #[tool(
        description = "Read a job's output from a cursor (`since`, then `next`), or search it with `grep` (a regex: matching lines with line numbers). Reads never consume.",
        output_schema = schema_for_output::<OutputReply>(),
        annotations(read_only_hint = true)
    )]
    async fn output(&self, Parameters(p): Parameters<OutputParams>) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            let (select, stream) = select_of(p.stream);
            let max = max_bytes(p.max_bytes)?;
            let raw = p.raw.unwrap_or(false);
            let re = pattern(p.grep.as_deref(), "grep")?;
            let since = p.since.unwrap_or(0);
            let total = job.output.len();
            if since > total {
                return Err(ToolError::from(format!(
                    "cursor {since} is past the end of {}'s output ({total} bytes so far); use a \
`next` or `cursor` value from an earlier call, or 0",
                    job.id
                )));
            }
            // Read `ended` before the output, so that `eof` never claims an end that a late
            // write could contradict.
            let ended = job.is_ended();
            let io_err = |e: std::io::Error| format!("cannot read {}'s output: {e}", job.id);
            let (text, matches, next, omitted, remaining) = match re {
                Some(re) => {
                    let how = search::Reading {
                        select,
                        max_bytes: max,
                        raw,
                        ended,
                    };
                    // A search may scan hundreds of MiB: not on the runtime's threads, which
                    // serve every other call meanwhile.
                    let searched = Arc::clone(&job);
                    let g = tokio::task::spawn_blocking(move || {
                        search::grep(&searched.output, since, &re, bounds::MAX_MATCHES, how)
                    })
                    .await
                    .map_err(|e| format!("the search of {} failed: {e}", job.id))?
                    .map_err(io_err)?;
                    let lines: Vec<GrepLine> = g
                        .matches
                        .into_iter()
                        .map(|m| GrepLine {
                            line: m.line,
                            text: m.text,
                        })
                        .collect();
                    let text = lines.iter().map(|l| format!("{}\n", l.text)).collect();
                    (text, Some(lines), g.next, g.omitted, g.remaining)
                }
                None => {
                    let c =
                        view::read(&job.output, since, select, max, raw, ended).map_err(io_err)?;
                    (c.text, None, c.next, c.omitted, c.remaining)
                }
            };
            Ok(OutputReply {
                job_id: job.id.to_string(),
                stream: stream.into(),
                text,
                matches,
                since,
                next,
                remaining_bytes: remaining,
                omitted_bytes: omitted,
                ended,
                eof: ended && remaining == 0,
            })
        })
        .await
    }

    #[tool(
        description = "The last lines of a job's output, and the cursor where new output will start.",
        output_schema = schema_for_output::<TailReply>(),
        annotations(read_only_hint = true)
    )]
    async fn tail(&self, Parameters(p): Parameters<TailParams>) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            let lines = match p.lines {
                None => bounds::DEFAULT_TAIL_LINES,
                Some(0) => return Err(ToolError::from("`lines` must be at least 1")),
                Some(n) => usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(bounds::MAX_TAIL_LINES),
            };
            let (select, stream) = select_of(p.stream);
            let re = pattern(p.grep.as_deref(), "grep")?;
            let max = max_bytes(p.max_bytes)?;
            let state = job.phase().name();
            let t = view::tail(
                &job.output,
                lines,
                select,
                re.as_ref(),
                max,
                p.raw.unwrap_or(false),
            )
            .map_err(|e| format!("cannot read {}'s output: {e}", job.id))?;
            Ok(TailReply {
                job_id: job.id.to_string(),
                stream: stream.into(),
                text: t.text,
                lines: t.lines,
                cursor: t.cursor,
                truncated: t.truncated,
                state,
            })
        })
        .await
    }
}
