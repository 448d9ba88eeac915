//! The queue: a job waits here for a slot (the server's, its host's) and for its executor to
//! have room for it.

use std::sync::Arc;
use std::time::Duration;

use executors::{BoxFuture, Executor};
use tokio::sync::Semaphore;

use super::Job;
use super::manager::JobManager;

/// Whether [`JobManager::start`] placed the job (started, or ended it for good).
pub(super) enum Started {
    Yes,
    /// The executor has no room now: the job stays queued.
    NoCapacity,
}

/// How long a job the executor had no room for waits at most before it is tried again (when
/// the executor's own signal that room was freed is missed), doubling up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

impl JobManager {
    /// Keeps `job` queued until it gets its slots and its executor has room for it: an
    /// executor with no capacity now (every connection to a host full) frees the slots again
    /// and the job waits for `freed` (or a bounded retry interval, whichever comes first).
    ///
    /// Queued jobs of a host start in the order they came: each waits for its turn in the
    /// host's `line` (a fair lock), and only the one whose turn it is tries to start. (Without
    /// it, every queued job woke when a channel freed and a random one took it.)
    pub(super) fn queue(
        self: &Arc<Self>,
        job: Arc<Job>,
        executor: Arc<dyn Executor>,
        host_slots: Option<Arc<Semaphore>>,
        line: Arc<tokio::sync::Mutex<()>>,
        freed: BoxFuture<'static, ()>,
    ) {
        let manager = Arc::clone(self);
        tokio::spawn(async move {
            let _turn = tokio::select! {
                turn = line.lock_owned() => turn,
                () = job.ended() => return,
            };
            let mut freed = freed;
            let mut retry = RETRY_FIRST;
            loop {
                tokio::select! {
                    () = &mut freed => {}
                    () = tokio::time::sleep(retry) => {}
                    () = job.ended() => return,
                }
                let slots = Arc::clone(&manager.slots);
                let host_slots = host_slots.clone();
                let acquire = async move {
                    // The host's slot first: waiting for it must not hold a server slot.
                    let host = match host_slots {
                        Some(h) => Some(h.acquire_owned().await.ok()?),
                        None => None,
                    };
                    let global = slots.acquire_owned().await.ok()?;
                    Some((global, host))
                };
                let permits = tokio::select! {
                    permits = acquire => permits,
                    () = job.ended() => return,
                };
                let Some(permits) = permits else { return };
                if job.is_ended() {
                    return;
                }
                freed = executor.capacity_freed();
                match manager
                    .start(Arc::clone(&job), Arc::clone(&executor), permits)
                    .await
                {
                    Started::Yes => return,
                    Started::NoCapacity => retry = (retry * 2).min(RETRY_MAX),
                }
            }
        });
    }
}
