//! The MCP tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`): for a client that
//! declares it, an `execute` whose job is still running when the call returns becomes a task.
//! A task's id is its job's id, so `status`, `output` and the other tools work on it too.
//! `tasks/get` reports the job (status message: its latest output line); `tasks/cancel` kills
//! the job's tree; a finished task's result is what `execute` returns for a finished job.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, DetailedTask, JsonObject, Task, TaskPayload, TaskStatus};

use super::progress::latest_line;
use super::replies::{ExecuteReply, JobStatus, reply};
use crate::config::bounds;
use crate::jobs::{Job, JobManager};
use crate::output::{Select, view};

/// How often a client should poll, in milliseconds.
const POLL_MS: u64 = 1000;

/// Jobs whose task was cancelled through `tasks/cancel` (reported `cancelled`, not `completed`).
#[derive(Default, Clone)]
pub struct Cancelled(Arc<Mutex<HashSet<String>>>);

impl Cancelled {
    fn insert(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string());
    }

    fn contains(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }
}

/// The task for a job, in its current state.
pub fn task_of(job: &Job) -> Task {
    let status = if job.is_ended() {
        TaskStatus::Completed
    } else {
        TaskStatus::Working
    };
    let line = latest_line(&job.output);
    let message = if line.is_empty() {
        JobStatus::of(job).summary
    } else {
        line
    };
    Task::new(
        job.id.to_string(),
        status,
        job.created.wall.to_rfc3339(),
        chrono::Utc::now().to_rfc3339(),
    )
    .with_status_message(message)
    .with_poll_interval_ms(POLL_MS)
}

/// What `execute` returns for a finished job, as the task's result.
pub fn final_result(job: &Job) -> CallToolResult {
    let tail = view::tail(
        &job.output,
        bounds::DEFAULT_TAIL_LINES,
        Select::Combined,
        None,
        bounds::DEFAULT_MAX_BYTES,
        false,
    )
    .map(|t| t.text)
    .unwrap_or_default();
    reply(Ok(ExecuteReply {
        status: JobStatus::of(job),
        tail: Some(tail),
        cursor: job.output.len(),
    }))
}

fn job(manager: &JobManager, task_id: &str) -> Result<Arc<Job>, ErrorData> {
    manager
        .get(task_id)
        .map_err(|e| ErrorData::invalid_params(format!("unknown task: {e}"), None))
}

pub fn get(
    manager: &JobManager,
    cancelled: &Cancelled,
    task_id: &str,
) -> Result<DetailedTask, ErrorData> {
    let job = job(manager, task_id)?;
    let mut task = task_of(&job);
    let payload = if !job.is_ended() {
        TaskPayload::Working
    } else if cancelled.contains(task_id) {
        task.status = TaskStatus::Cancelled;
        TaskPayload::Cancelled
    } else {
        let result = serde_json::to_value(final_result(&job))
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let serde_json::Value::Object(result) = result else {
            return Err(ErrorData::internal_error(
                "a tool result is not an object",
                None,
            ));
        };
        TaskPayload::Completed {
            result: JsonObject::from_iter(result),
        }
    };
    Ok(DetailedTask::new(task, payload))
}

pub async fn cancel(
    manager: &JobManager,
    cancelled: &Cancelled,
    task_id: &str,
) -> Result<(), ErrorData> {
    let job = job(manager, task_id)?;
    if job.is_ended() {
        return Ok(());
    }
    cancelled.insert(task_id);
    let signal = nix::sys::signal::Signal::SIGTERM as i32;
    manager
        .kill(&job, signal, manager.limits().kill_grace)
        .await;
    Ok(())
}
