//! The `hosts` tool's result: each place jobs can run, its state, jobs and limits, and what a
//! probe found.

use schemars::JsonSchema;
use serde::Serialize;

use super::replies::{Reply, one_line};
use crate::jobs::HostView;
use executors::{Connections, HostFacts};

/// A host's limits.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HostLimits {
    /// Jobs at once on this host; more wait `queued`.
    pub max_concurrent: usize,
    /// Longest `timeout` a job on this host may ask for, in seconds.
    pub max_timeout_s: u64,
    /// SSH connections opened to the host at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Channels per connection (the host's sshd `MaxSessions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<usize>,
}

/// What a probe found. Fields it could not read are left out.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Facts {
    /// Round trip to the host's sshd, in milliseconds: the time an SSH channel took to open on
    /// an open connection (connecting is not counted). SSH hosts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// `uname -s`, e.g. Linux.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// `uname -r`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// `uname -m`, e.g. x86_64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// CPUs: `nproc` on an SSH host; on `local`, those the server may use (its affinity and
    /// cgroup quota).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<Vec<f64>>,
}

impl Facts {
    fn of(f: HostFacts) -> Option<Self> {
        let empty = f == HostFacts::default();
        (!empty).then(|| Self {
            // Microsecond precision: loopback and LAN round trips are well under a millisecond.
            rtt_ms: f.rtt.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            os: f.os,
            kernel: f.kernel,
            arch: f.arch,
            cpus: f.cpus,
            load: f.load.map(Vec::from),
        })
    }

    fn text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.rtt_ms {
            parts.push(format!("rtt {r} ms"));
        }
        let uname: Vec<&str> = [&self.os, &self.kernel, &self.arch]
            .into_iter()
            .filter_map(|s| s.as_deref())
            .collect();
        if !uname.is_empty() {
            parts.push(uname.join(" "));
        }
        if let Some(n) = self.cpus {
            parts.push(format!("{n} CPUs"));
        }
        if let Some(l) = &self.load {
            let l: Vec<String> = l.iter().map(f64::to_string).collect();
            parts.push(format!("load {}", l.join(" ")));
        }
        parts.join(", ")
    }
}

/// How a host's connections are.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// This machine: no connection.
    Local,
    /// SSH connections are open.
    Connected,
    /// None is open, none failed since the last success.
    Idle,
    /// None is open: the last attempt to connect failed, or the last connection dropped (see
    /// `error`).
    Failed,
}

impl HostState {
    /// For the text rendering.
    fn as_str(self) -> &'static str {
        match self {
            HostState::Local => "this machine",
            HostState::Connected => "connected",
            HostState::Idle => "idle",
            HostState::Failed => "failed",
        }
    }
}

/// One place jobs can run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HostRow {
    /// The name to give as `host`.
    pub name: String,
    /// local, connected, idle or failed.
    pub state: HostState,
    /// `address:port` of an SSH host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The SSH user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The bastion connections go through (`user@address:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The host's tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// SSH connections open, when `connected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// Why the last connection attempt failed or the last connection dropped, when `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
    /// Jobs running on the host.
    pub running: usize,
    /// Jobs waiting for a slot on the host.
    pub queued: usize,
    pub limits: HostLimits,
    /// What the probe found (with `probe`, or `host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// Why the probe found nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
}

impl HostRow {
    pub fn of(v: HostView) -> Self {
        let (state, connections, error, failed_at) = match v.connections {
            None => (HostState::Local, None, None, None),
            Some(Connections::Connected { open }) => (HostState::Connected, Some(open), None, None),
            Some(Connections::Idle) => (HostState::Idle, None, None, None),
            Some(Connections::Failed { error, at }) => (
                HostState::Failed,
                None,
                Some(error),
                Some(chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339()),
            ),
        };
        let (facts, probe_error) = match v.probe {
            None => (None, None),
            Some(Ok(f)) => (Facts::of(f), None),
            Some(Err(e)) => (None, Some(e)),
        };
        let address = v.address;
        Self {
            name: v.name,
            state,
            address: address.as_ref().map(|a| a.address.clone()),
            user: address.as_ref().map(|a| a.user.clone()),
            via: address.as_ref().and_then(|a| a.via.clone()),
            tags: v.tags,
            connections,
            error,
            failed_at,
            running: v.running,
            queued: v.queued,
            limits: HostLimits {
                max_concurrent: v.max_concurrent,
                max_timeout_s: v.max_timeout.as_secs(),
                max_connections: address.as_ref().map(|a| a.max_connections),
                max_sessions: address.as_ref().map(|a| a.max_sessions),
            },
            facts,
            probe_error,
        }
    }

    fn line(&self) -> String {
        let mut t = self.name.clone();
        if let (Some(u), Some(a)) = (&self.user, &self.address) {
            t.push_str(&format!(" ({u}@{a}"));
            if let Some(v) = &self.via {
                t.push_str(&format!(" via {v}"));
            }
            t.push(')');
        }
        if !self.tags.is_empty() {
            t.push_str(&format!(" [{}]", self.tags.join(",")));
        }
        t.push_str(&format!(": {}", self.state.as_str()));
        if let Some(n) = self.connections {
            t.push_str(&format!(" ({n})"));
        }
        if let (Some(e), Some(at)) = (&self.error, &self.failed_at) {
            t.push_str(&format!(" at {at}: {}", one_line(e, 200)));
        }
        t.push_str(&format!(
            "; {} running, {} queued (max {})",
            self.running, self.queued, self.limits.max_concurrent
        ));
        if let Some(f) = &self.facts {
            t.push_str(&format!("; {}", f.text()));
        }
        // The probe's error is often the connection's, just said above.
        if let Some(e) = &self.probe_error
            && self.error.as_ref() != Some(e)
        {
            t.push_str(&format!("; probe failed: {}", one_line(e, 200)));
        }
        t
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HostsReply {
    /// `local` first, then the configured hosts by name.
    pub hosts: Vec<HostRow>,
}

impl Reply for HostsReply {
    fn text(&self) -> String {
        let lines: Vec<String> = self.hosts.iter().map(HostRow::line).collect();
        lines.join("\n")
    }
}
