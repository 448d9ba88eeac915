//! Ending and forgetting jobs: `kill`, the server's shutdown, `list`, `clean` and retention.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::JobError;
use super::journal::Entry;
use super::manager::{CleanScope, JobManager, KillReport, ListFilter};
use super::manager::{libc_sigkill, libc_sigterm};
use super::state::{End, Phase};
use super::{Job, JobId};
use crate::state_dir::RemoveError;

impl JobManager {
    /// Kills a job's whole tree: `signal`, then SIGKILL after `grace`. A queued job is taken
    /// off the queue. Returns once the job has ended.
    pub async fn kill(&self, job: &Arc<Job>, signal: i32, grace: Duration) -> KillReport {
        let phase = job.phase();
        match phase {
            Phase::Queued => {
                job.end_without_running(End::Killed {
                    signal: None,
                    requested: true,
                    shutdown: self.shutting_down.load(Ordering::SeqCst),
                });
                self.record_end(job);
                KillReport {
                    already_ended: false,
                    survivors: None,
                }
            }
            Phase::Ended { .. } => {
                // Sweep what the job may have left running in the background.
                let survivors = match job.process() {
                    Some(p) => p.kill_tree(libc_sigkill(), Duration::ZERO).await.err(),
                    None => None,
                };
                KillReport {
                    already_ended: true,
                    survivors: survivors.map(|e| e.to_string()),
                }
            }
            Phase::Running { .. } => {
                let already_ended =
                    !job.request_kill(signal, self.shutting_down.load(Ordering::SeqCst));
                let survivors = match job.process() {
                    Some(p) => p.kill_tree(signal, grace).await.err(),
                    None => None,
                };
                // The tree is gone; the job ends when its output is drained.
                let _ = tokio::time::timeout(Duration::from_secs(5), job.ended()).await;
                KillReport {
                    already_ended,
                    survivors: survivors.map(|e| e.to_string()),
                }
            }
        }
    }

    /// All jobs matching `filter`, newest first.
    pub fn list(&self, filter: &ListFilter) -> Vec<Arc<Job>> {
        let jobs: Vec<Arc<Job>> = self.jobs().values().rev().cloned().collect();
        jobs.into_iter()
            .filter(|j| filter.state.is_none_or(|s| j.phase().name() == s))
            .filter(|j| filter.host.as_ref().is_none_or(|h| &j.request.host == h))
            .filter(|j| filter.group.is_none_or(|g| j.request.group == Some(g)))
            .filter(|j| {
                filter
                    .label
                    .as_ref()
                    .is_none_or(|l| j.request.label.as_ref() == Some(l))
            })
            .collect()
    }

    /// Forgets ended jobs and deletes their logs. Returns the ids forgotten; refuses (for
    /// explicit ids) jobs that are still running.
    pub fn clean(&self, scope: &CleanScope) -> Result<Vec<JobId>, JobError> {
        let mut jobs = self.jobs();
        if let CleanScope::Ids(ids) = scope {
            for id in ids {
                let job = jobs
                    .get(id)
                    .ok_or_else(|| JobError::UnknownJob(id.to_string()))?;
                if !job.is_ended() {
                    return Err(JobError::BadRequest(format!(
                        "job {id} is still {}: `kill` it first, or wait for it to end",
                        job.phase().name().as_str()
                    )));
                }
            }
        }
        let doomed: Vec<JobId> = jobs
            .values()
            .filter(|j| match (j.phase(), scope) {
                (Phase::Ended { .. }, CleanScope::All) => true,
                (Phase::Ended { ended, .. }, CleanScope::OlderThan(age)) => {
                    ended.mono.elapsed() >= *age
                }
                (Phase::Ended { .. }, CleanScope::Ids(ids)) => ids.contains(&j.id),
                _ => false,
            })
            .map(|j| j.id)
            .collect();
        for id in &doomed {
            if let Some(job) = jobs.remove(id) {
                self.delete_log(&job);
                self.journal.record(&Entry::Forgotten { job: id.0 });
            }
        }
        if !doomed.is_empty() {
            let _ = self.listing.send(());
        }
        Ok(doomed)
    }

    /// Deletes a forgotten job's log, if it is a regular file in a run directory (a job may
    /// have put anything in its place).
    pub(super) fn delete_log(&self, job: &Job) {
        job.remove_tmpdir();
        match job.output.remove(&self.runs) {
            Ok(()) => {}
            // It printed nothing (logs are created at the first byte), or it is gone already.
            Err(RemoveError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(job = %job.id, "log not deleted: {e}"),
        }
    }

    /// Forgets the oldest ended jobs beyond the retention limit.
    pub(super) fn retain(&self) {
        let mut jobs = self.jobs();
        if jobs.len() <= self.limits.max_retained {
            return;
        }
        let ended: Vec<JobId> = jobs
            .values()
            .filter(|j| j.is_ended())
            .map(|j| j.id)
            .collect();
        let excess = ended.len().saturating_sub(self.limits.max_retained);
        for id in ended.into_iter().take(excess) {
            if let Some(job) = jobs.remove(&id) {
                self.delete_log(&job);
                self.journal.record(&Entry::Forgotten { job: id.0 });
            }
        }
    }

    /// Stops accepting jobs and kills every job's tree; returns when they are gone.
    pub async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let jobs: Vec<Arc<Job>> = self.jobs().values().cloned().collect();
        let grace = self.limits.kill_grace.min(Duration::from_secs(2));
        let kills = jobs
            .iter()
            .filter(|j| !j.is_ended())
            .map(|j| self.kill(j, libc_sigterm(), grace));
        futures::future::join_all(kills).await;
        // A kill returns when the job has ended, maybe before its own task has written the end
        // to the journal; the server may exit right after this. (A repeated entry is harmless.)
        for job in &jobs {
            self.record_end(job);
            job.remove_tmpdir();
        }
        if let Some(s) = &self.sandbox {
            s.remove_tmp_root();
        }
        // Whatever the bookkeeping missed (background leftovers of ended jobs included).
        for _ in 0..3 {
            if executors::local::kill_tagged(&format!("{}:", self.instance)) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
