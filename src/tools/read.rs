//! Reading a job: `status`, `output` (by cursor, or `grep`), `tail`.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::args::*;
use super::group_reply::{GroupReply, OneOrGroup};
use super::output_reply::{GrepLine, OutputReply};
use super::params::*;
use super::replies::*;
use super::server::{JobServer, guarded};
use crate::config::bounds;
use crate::output::LineAt;
use crate::output::search;
use crate::output::view;

#[tool_router(router = read_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "A job's state, exit code or signal, times, output sizes, resource use; or a `group`'s jobs.",
        output_schema = schema_for_output::<OneOrGroup<JobStatus>>(),
        annotations(read_only_hint = true)
    )]
    async fn status(&self, Parameters(p): Parameters<StatusParams>) -> CallToolResult {
        guarded(async {
            Ok(match (p.job_id, p.group) {
                (Some(id), None) => OneOrGroup::one(JobStatus::of(&*self.job(&id)?)),
                (None, Some(g)) => OneOrGroup::group(GroupReply::of(&self.manager.group(&g)?)),
                _ => return Err(ToolError::from("give `job_id` or `group` (one of them)")),
            })
        })
        .await
    }

    #[tool(
        description = "Read a job's output from a cursor (`since`, then `next`) or a `line`, or `grep` it (matching lines with numbers and cursors).",
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
            let shape = Shape::of(&p, re.is_some())?;
            let total = job.output.len();
            let io_err = |e: std::io::Error| format!("cannot read {}'s output: {e}", job.id);
            let since = match p.line {
                Some(line) => match job.output.line_start(line, select).map_err(io_err)? {
                    LineAt::Start(at) => at,
                    LineAt::Dropped { first_kept } => {
                        return Err(ToolError::from(format!(
                            "line {line} of {}'s {stream} output was dropped by the log cap; \
lines from {first_kept} on are kept",
                            job.id
                        )));
                    }
                    LineAt::Past { lines } => {
                        return Err(ToolError::from(format!(
                            "{}'s {stream} output has {lines} line(s) so far; `line` is {line}",
                            job.id
                        )));
                    }
                },
                None => p.since.unwrap_or(0),
            };
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
            let how = search::Reading {
                select,
                max_bytes: max,
                raw,
                ended,
            };
            let mut line = p.line;
            let (text, matches, next, omitted, remaining) = match re {
                Some(re) => {
                    // A search may scan hundreds of MiB: not on the runtime's threads, which
                    // serve every other call meanwhile.
                    let searched = Arc::clone(&job);
                    let context = shape.context;
                    let (found, g) = tokio::task::spawn_blocking(move || {
                        let out = &searched.output;
                        let g = search::grep(out, since, &re, bounds::MAX_MATCHES, how)?;
                        search::with_context(out, g, since, context, how)
                    })
                    .await
                    .map_err(|e| format!("the search of {} failed: {e}", job.id))?
                    .map_err(io_err)?;
                    let found = found.into_iter().map(GrepLine::from).collect();
                    (String::new(), Some(found), g.next, g.omitted, g.remaining)
                }
                None => {
                    let until = match shape.lines {
                        Some(n) => {
                            let first = job.output.lines_before(since, select).map_err(io_err)? + 1;
                            line = Some(first);
                            match job.output.line_start(first + n, select).map_err(io_err)? {
                                LineAt::Start(at) => at,
                                LineAt::Dropped { .. } | LineAt::Past { .. } => u64::MAX,
                            }
                        }
                        None => u64::MAX,
                    };
                    let c = view::read_until(&job.output, since, until, select, max, raw, ended)
                        .map_err(io_err)?;
                    (c.text, None, c.next, c.omitted, c.remaining)
                }
            };
            Ok(OutputReply {
                job_id: job.id.to_string(),
                stream: stream.into(),
                text,
                matches,
                line,
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

/// What an `output` call reads besides its cursor, checked against each other.
struct Shape {
    /// Lines of context around each match.
    context: usize,
    /// How many lines to read.
    lines: Option<u64>,
}

impl Shape {
    fn of(p: &OutputParams, grep: bool) -> Result<Self, ToolError> {
        if p.line.is_some() && p.since.is_some() {
            return Err("give `since` (a cursor) or `line` (a line number), not both".into());
        }
        if p.line == Some(0) {
            return Err("`line` is 1-based: the first line is 1".into());
        }
        let lines = match p.lines {
            Some(_) if grep => {
                return Err(
                    "`lines` reads lines in a row; with `grep`, use `context` for \
the lines around each match"
                        .into(),
                );
            }
            Some(0) => return Err("`lines` must be at least 1".into()),
            Some(n) if n > bounds::MAX_TAIL_LINES as u64 => {
                return Err(format!(
                    "`lines` is {n}; at most {} lines are read at once (then continue from \
`next`)",
                    bounds::MAX_TAIL_LINES
                )
                .into());
            }
            n => n,
        };
        let context = match p.context {
            Some(_) if !grep => {
                return Err("`context` shows lines around `grep` matches: give `grep` too".into());
            }
            Some(n) if n > bounds::MAX_CONTEXT => {
                return Err(format!(
                    "`context` is {n}; at most {} lines on each side",
                    bounds::MAX_CONTEXT
                )
                .into());
            }
            n => usize::try_from(n.unwrap_or(0)).unwrap_or(0),
        };
        Ok(Shape { context, lines })
    }
}
