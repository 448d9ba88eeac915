//! Taking over the jobs of earlier server runs, from their journals.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::journal::{self, Earlier, Entry};
use super::manager::JobManager;
use super::state::{End, Phase, Stamp};
use super::{Job, JobId, JobRequest};
use crate::output::OutputStore;

impl JobManager {
    /// Takes over the jobs of earlier runs (from their journals): ended ones as they ended,
    /// and those that were queued or running when their server went as `lost`. New jobs are
    /// numbered after them.
    pub fn import(&self, earlier: Earlier) {
        self.next_id
            .fetch_max(earlier.last_id.saturating_add(1), Ordering::SeqCst);
        // Ids given before, forgotten ones included, stay taken in the next run too.
        if earlier.last_id > 0 && !earlier.jobs.contains_key(&earlier.last_id) {
            self.journal.record(&Entry::Forgotten {
                job: earlier.last_id,
            });
        }
        let mut imported = Vec::new();
        let mut jobs = self.jobs();
        for p in earlier.jobs.into_values() {
            // The log stays in its run's directory: named, for the next run to find it there.
            self.journal.record(&Entry::Created(journal::Created {
                run: Some(p.run.clone()),
                ..p.created.clone()
            }));
            let c = p.created;
            if let Some((started_at, pid)) = p.started {
                self.journal.record(&Entry::Started {
                    job: c.job,
                    started_at,
                    pid,
                });
            }
            let sizes = p
                .ended
                .as_ref()
                .map(|(_, _, _, o)| (o.total, o.stdout, o.stderr, o.lines));
            let store = OutputStore::import(
                p.log.as_deref(),
                c.layout.head_cap,
                c.layout.tail_cap,
                sizes,
            );
            let started = p.started.map(|(at, _)| Stamp::at(at));
            let phase = match p.ended {
                Some((at, ending, usage, _)) => Phase::Ended {
                    started,
                    ended: Stamp::at(at),
                    end: ending,
                    usage: usage.map(|u| executors::ResourceUsage {
                        user_cpu: Duration::from_millis(u.user_cpu_ms),
                        system_cpu: Duration::from_millis(u.system_cpu_ms),
                        max_rss_bytes: u.max_rss_bytes,
                    }),
                },
                None => Phase::Ended {
                    started,
                    ended: Stamp::now(),
                    end: End::Lost {
                        reason: format!(
                            "the server {} when its run ended (mcp-jobs was restarted); its \
processes were killed with the server",
                            if started.is_some() {
                                "was running it"
                            } else {
                                "had it queued"
                            }
                        ),
                    },
                    usage: None,
                },
            };
            let request = JobRequest {
                command: c.command,
                cwd: c.cwd,
                env: BTreeMap::new(),
                host: c.host,
                timeout: None,
                pty: c.pty,
                merge_stderr: c.merge_stderr,
                stdin: None,
                keep_stdin_open: false,
                label: c.label,
                group: c.group.map(super::GroupId),
            };
            if let Some(g) = c.group {
                self.next_group
                    .fetch_max(g.saturating_add(1), Ordering::SeqCst);
            }
            let id = JobId(c.job);
            let job = Job::imported(
                id,
                request,
                Arc::new(store),
                c.rule,
                Stamp::at(c.created_at),
                phase,
            );
            let job = Arc::new(job);
            imported.push(Arc::clone(&job));
            jobs.insert(id, job);
        }
        drop(jobs);
        for job in &imported {
            self.record_end(job);
        }
        self.retain();
    }
}
