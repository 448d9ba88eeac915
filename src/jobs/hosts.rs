//! `hosts`: where jobs can run — `local` and each configured host, with how it is reached, its
//! connection state, its jobs and limits, and on request the machine's facts (a probe).

use std::time::Duration;

use executors::{Connections, HostFacts};

use super::JobError;
use super::manager::JobManager;
use super::state::StateName;

/// How a configured host is reached, as `hosts` shows it: copied from its resolved SSH
/// settings at start, so that the manager never looks inside an executor for it.
#[derive(Debug, Clone, Default)]
pub struct HostAddress {
    /// `address:port`.
    pub address: String,
    pub user: String,
    /// The bastion connections go through (`user@address:port`), if any.
    pub via: Option<String>,
    /// Channels per connection (the host's sshd `MaxSessions`).
    pub max_sessions: usize,
    /// Connections opened to the host at most.
    pub max_connections: usize,
}

impl HostAddress {
    /// `address:port`, with an IPv6 address in brackets (`[::1]:22`) so that the port stands
    /// apart.
    pub fn join(address: &str, port: u16) -> String {
        if address.contains(':') {
            format!("[{address}]:{port}")
        } else {
            format!("{address}:{port}")
        }
    }
}

/// One place jobs can run, as it is now.
#[derive(Debug)]
pub struct HostView {
    pub name: String,
    /// `None` for `local`.
    pub address: Option<HostAddress>,
    pub tags: Vec<String>,
    /// `None` for an executor without connections (`local`).
    pub connections: Option<Connections>,
    pub running: usize,
    pub queued: usize,
    /// Jobs at once on this host (the server's limit, or the host's own if lower).
    pub max_concurrent: usize,
    /// Longest `timeout` a job on this host may ask for.
    pub max_timeout: Duration,
    /// The probe's answer (or why there is none), when a probe was asked for.
    pub probe: Option<Result<HostFacts, String>>,
}

impl JobManager {
    /// Every place jobs can run: `local` first, then the configured hosts by name.
    pub fn host_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .executors
            .keys()
            .filter(|n| *n != "local")
            .cloned()
            .collect();
        names.sort_unstable();
        names.insert(0, "local".into());
        names
    }

    /// Every host (or only `only`), with its state; probed (all at once, each within its own
    /// bound: a host that is down answers its error without holding up the others) when
    /// `probe` is set or one host is named.
    pub async fn hosts(&self, only: Option<&str>, probe: bool) -> Result<Vec<HostView>, JobError> {
        let names = match only.map(str::trim) {
            Some(name) => {
                // The same error as `execute` on an unknown host, listing the known ones.
                self.executor(name)?;
                vec![name.to_string()]
            }
            None => self.host_names(),
        };
        let mut probes: Vec<Option<Result<HostFacts, String>>> = vec![None; names.len()];
        if probe || only.is_some() {
            let answers = futures::future::join_all(names.iter().map(|n| async move {
                match self.executors.get(n) {
                    Some(e) => e.probe().await.map_err(|e| e.to_string()),
                    None => Err("no such host".to_string()),
                }
            }))
            .await;
            probes = answers.into_iter().map(Some).collect();
        }
        // After the probes: a probe may have connected a host, or failed to.
        Ok(names
            .iter()
            .zip(probes)
            .map(|(n, probe)| HostView {
                probe,
                ..self.host_view(n)
            })
            .collect())
    }

    /// One host's view, without a probe.
    fn host_view(&self, name: &str) -> HostView {
        let (mut running, mut queued) = (0, 0);
        for job in self.jobs().values() {
            if job.request.host == name {
                match job.phase().name() {
                    StateName::Running => running += 1,
                    StateName::Queued => queued += 1,
                    _ => {}
                }
            }
        }
        let rules = self.hosts.get(name).map(|(r, _)| r);
        let policy_max = self.policy_for(name).limits.max_timeout;
        let max_timeout = [rules.and_then(|r| r.max_timeout), policy_max]
            .into_iter()
            .flatten()
            .fold(self.limits.max_timeout, Duration::min);
        HostView {
            name: name.to_string(),
            address: rules.and_then(|r| r.address.clone()),
            tags: rules.map(|r| r.tags.clone()).unwrap_or_default(),
            connections: self.executors.get(name).and_then(|e| e.connections()),
            running,
            queued,
            max_concurrent: rules
                .and_then(|r| r.max_concurrent)
                .map_or(self.limits.max_concurrent, |n| {
                    n.max(1).min(self.limits.max_concurrent)
                }),
            max_timeout,
            probe: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HostAddress;

    #[test]
    fn an_ipv6_address_is_bracketed() {
        assert_eq!(HostAddress::join("10.0.0.5", 22), "10.0.0.5:22");
        assert_eq!(HostAddress::join("build1", 2222), "build1:2222");
        assert_eq!(HostAddress::join("::1", 22), "[::1]:22");
    }
}
