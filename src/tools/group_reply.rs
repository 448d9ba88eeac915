//! Results about fan-outs (`execute` with `hosts` or `tag`; `status` and `kill` with `group`),
//! and the shape of the tools that answer either for one job or for a group.

use schemars::JsonSchema;
use serde::Serialize;

use super::args::tail_within;
use super::replies::{JobStatus, Reply};
use crate::jobs::{Group, KillReport, StateName};

/// Lines and bytes of each host's output tail in a group's result: a fan-out over many hosts
/// stays readable, `tail` has the rest.
const MEMBER_TAIL_LINES: usize = 5;
const MEMBER_TAIL_BYTES: usize = 2048;

/// One host's job in a group.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GroupMember {
    /// The job id on this host, e.g. `j4`.
    pub job_id: String,
    /// The host it runs on.
    pub host: String,
    pub state: StateName,
    /// One line saying how the job is or how it ended.
    pub summary: String,
    /// Exit code, when it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last lines of its output, once it has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
    /// Processes that outlived a `kill`, when some did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A host where the command was not started.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HostRefusal {
    /// The host that refused it.
    pub host: String,
    /// Why (a policy refusal, a bad argument for that host, ...).
    pub reason: String,
}

/// A fan-out: one job per host.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GroupReply {
    /// The group id, e.g. `g1`: `wait`, `status`, `kill` and `list` take it as `group`.
    pub group_id: String,
    /// One job per host that started it, in host order.
    pub jobs: Vec<GroupMember>,
    /// Hosts where it was not started, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<HostRefusal>,
}

impl GroupReply {
    /// The group as it is now, with the tails of the jobs that have ended.
    pub fn of(group: &Group) -> Self {
        let jobs = group
            .jobs
            .iter()
            .map(|job| {
                let s = JobStatus::of(job);
                GroupMember {
                    tail: s
                        .state
                        .is_ended()
                        .then(|| tail_within(job, MEMBER_TAIL_LINES, MEMBER_TAIL_BYTES))
                        .filter(|t| !t.is_empty()),
                    job_id: s.job_id,
                    host: s.host,
                    state: s.state,
                    summary: s.summary,
                    exit_code: s.exit_code,
                    warning: None,
                }
            })
            .collect();
        Self {
            group_id: group.id.to_string(),
            jobs,
            refused: group
                .refused
                .iter()
                .map(|r| HostRefusal {
                    host: r.host.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
        }
    }

    /// The group after `kill`: each job's warning about survivors.
    pub fn killed(group: &Group, reports: Vec<KillReport>) -> Self {
        let mut reply = Self::of(group);
        for (member, report) in reply.jobs.iter_mut().zip(reports) {
            member.warning = report.survivors;
        }
        reply
    }
}

impl Reply for GroupReply {
    fn text(&self) -> String {
        let mut counts: Vec<(StateName, usize)> = Vec::new();
        for m in &self.jobs {
            match counts.iter_mut().find(|(s, _)| *s == m.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((m.state, 1)),
            }
        }
        let counts: Vec<String> = counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        let mut t = format!(
            "group {}: {} job(s), {}",
            self.group_id,
            self.jobs.len(),
            if counts.is_empty() {
                "none left".to_string()
            } else {
                counts.join(", ")
            }
        );
        for m in &self.jobs {
            t.push_str(&format!("\n{} on {}: {}", m.job_id, m.host, m.summary));
            if let Some(w) = &m.warning {
                t.push_str(&format!("\n  warning: {w}"));
            }
            if let Some(tail) = &m.tail {
                for line in tail.lines() {
                    t.push_str(&format!("\n  | {line}"));
                }
            }
        }
        for r in &self.refused {
            t.push_str(&format!("\nrefused on {}: {}", r.host, r.reason));
        }
        t
    }
}

/// The result of a tool that acts on one job or on a group: exactly one of the two is set, and
/// its fields are the result's (the output schema has both, none of them required).
#[derive(Debug, Serialize, JsonSchema)]
pub struct OneOrGroup<J> {
    #[serde(flatten)]
    pub job: Option<J>,
    #[serde(flatten)]
    pub group: Option<GroupReply>,
}

impl<J> OneOrGroup<J> {
    pub fn one(job: J) -> Self {
        Self {
            job: Some(job),
            group: None,
        }
    }

    pub fn group(group: GroupReply) -> Self {
        Self {
            job: None,
            group: Some(group),
        }
    }
}

impl<J: Reply> Reply for OneOrGroup<J> {
    fn text(&self) -> String {
        match (&self.job, &self.group) {
            (Some(j), _) => j.text(),
            (None, Some(g)) => g.text(),
            (None, None) => String::new(),
        }
    }
}
