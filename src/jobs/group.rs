//! Fan-out: one command on many hosts (`execute` with `hosts` or `tag`), one job per host under
//! a group id; and a group's jobs found again for `status`, `wait`, `kill` and `list`.
//!
//! Each host's job is started by [`JobManager::execute`] like any other, so each is vetted by
//! its own host's policy: a refusal on one host is reported and does not stop the others. A
//! job knows its group (it is in its request and in the journal), so a group is never stored
//! apart from its jobs; only the refusals, which have no job, are kept on the side.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::manager::{JobManager, KillReport};
use super::{GroupId, Job, JobError, JobRequest};

/// Hosts one fan-out may name at most.
pub const MAX_HOSTS: usize = 64;
/// Fan-outs whose refusals are remembered (the oldest are forgotten first).
const KEPT_REFUSALS: usize = 256;
/// How long a fan-out waits for its jobs to be started before it answers (the others are
/// `queued` in the reply and start on their own).
const PLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a fan-out runs.
#[derive(Debug, Clone)]
pub enum Targets {
    /// These hosts (`local` included if named).
    Hosts(Vec<String>),
    /// Every configured host with this tag.
    Tag(String),
}

/// A host on which the command was not started, and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub host: String,
    pub reason: String,
}

/// A fan-out: its jobs (in host order) and the hosts that refused it.
pub struct Group {
    pub id: GroupId,
    pub jobs: Vec<Arc<Job>>,
    pub refused: Vec<Refusal>,
}

impl JobManager {
    /// Starts `request` on every host of `targets`. Each host's job is admitted (vetted) in
    /// host order, then placed in a task of its own: the call waits for the placements at
    /// most [`PLACE_WAIT`], so a host that takes long to connect holds up neither the others
    /// nor the caller (its job is `queued` until then). Fails only when the targets are wrong
    /// or every host refused.
    pub async fn execute_group(
        self: &Arc<Self>,
        request: JobRequest,
        targets: Targets,
    ) -> Result<Group, JobError> {
        let hosts = self.target_hosts(targets)?;
        let id = GroupId(self.next_group.fetch_add(1, Ordering::SeqCst));
        let mut jobs = Vec::new();
        let mut refused = Vec::new();
        let mut placements = Vec::new();
        for host in hosts {
            let mut r = request.clone();
            r.host.clone_from(&host);
            r.group = Some(id);
            match self.admit(r) {
                Ok((job, executor)) => {
                    let manager = Arc::clone(self);
                    let placed = Arc::clone(&job);
                    placements.push(tokio::spawn(async move {
                        manager.place(placed, executor).await;
                    }));
                    jobs.push(job);
                }
                Err(e) => refused.push(Refusal {
                    host,
                    reason: e.to_string(),
                }),
            }
        }
        let _ = tokio::time::timeout(PLACE_WAIT, futures::future::join_all(placements)).await;
        if jobs.is_empty() {
            let why: Vec<String> = refused
                .iter()
                .map(|r| format!("{}: {}", r.host, r.reason))
                .collect();
            return Err(JobError::AllRefused(why.join("; ")));
        }
        if !refused.is_empty() {
            let mut kept = self
                .group_refusals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            kept.insert(id, refused.clone());
            while kept.len() > KEPT_REFUSALS {
                kept.pop_first();
            }
        }
        Ok(Group { id, jobs, refused })
    }

    /// The hosts a fan-out names, checked: known, without repeats, at most [`MAX_HOSTS`].
    fn target_hosts(&self, targets: Targets) -> Result<Vec<String>, JobError> {
        let hosts = match targets {
            Targets::Hosts(names) => {
                // `"a, b"` as one string (models write lists so) names a and b, unless a host
                // is called that.
                let names = names.into_iter().flat_map(|n| {
                    if n.contains(',') && !self.executors.contains_key(n.trim()) {
                        n.split(',').map(str::to_string).collect()
                    } else {
                        vec![n]
                    }
                });
                let mut hosts: Vec<String> = Vec::new();
                for name in names {
                    let name = name.trim().to_string();
                    self.executor(&name)?;
                    if !hosts.contains(&name) {
                        hosts.push(name);
                    }
                    if hosts.len() > MAX_HOSTS {
                        return Err(JobError::BadRequest(format!(
                            "`hosts` names more than {MAX_HOSTS} hosts"
                        )));
                    }
                }
                hosts
            }
            Targets::Tag(tag) => {
                let mut hosts: Vec<String> = self
                    .hosts
                    .iter()
                    .filter(|(_, (rules, _))| rules.tags.contains(&tag))
                    .map(|(name, _)| name.clone())
                    .collect();
                if hosts.is_empty() {
                    return Err(JobError::UnknownTag {
                        tag,
                        known: self.known_tags(),
                    });
                }
                hosts.sort_unstable();
                hosts.truncate(MAX_HOSTS);
                hosts
            }
        };
        if hosts.is_empty() {
            return Err(JobError::BadRequest(
                "`hosts` is empty: name at least one host".into(),
            ));
        }
        Ok(hosts)
    }

    /// Every tag a host has, sorted.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .hosts
            .values()
            .flat_map(|(rules, _)| rules.tags.iter().cloned())
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    fn known_tags(&self) -> String {
        let tags = self.tags();
        if tags.is_empty() {
            "no host has tags (`tags = [..]` in a host's config)".into()
        } else {
            format!("tags in use: {}", tags.join(", "))
        }
    }

    /// A group by the id the agent typed: its jobs still known, and its refusals.
    pub fn group(&self, id: &str) -> Result<Group, JobError> {
        let unknown = || JobError::UnknownGroup(id.to_string());
        let gid = GroupId::parse(id).ok_or_else(unknown)?;
        let jobs: Vec<Arc<Job>> = self
            .jobs()
            .values()
            .filter(|j| j.request.group == Some(gid))
            .cloned()
            .collect();
        let refused = self
            .group_refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&gid)
            .cloned()
            .unwrap_or_default();
        if jobs.is_empty() && refused.is_empty() {
            return Err(unknown());
        }
        Ok(Group {
            id: gid,
            jobs,
            refused,
        })
    }

    /// Kills every job of `group` at once; one report per job, in its order.
    pub async fn kill_group(&self, group: &Group, signal: i32, grace: Duration) -> Vec<KillReport> {
        let kills = group.jobs.iter().map(|j| self.kill(j, signal, grace));
        futures::future::join_all(kills).await
    }
}

#[cfg(test)]
mod tests {
    use super::GroupId;

    #[test]
    fn group_ids_parse_as_typed() {
        assert_eq!(GroupId::parse("g12"), Some(GroupId(12)));
        assert_eq!(GroupId::parse(" G3 "), Some(GroupId(3)));
        assert_eq!(GroupId::parse("4"), Some(GroupId(4)));
        for bad in ["", "g", "j1", "g-1", "g1x", "g99999999999999999999999"] {
            assert_eq!(GroupId::parse(bad), None, "{bad}");
        }
        assert_eq!(GroupId(7).to_string(), "g7");
    }
}
