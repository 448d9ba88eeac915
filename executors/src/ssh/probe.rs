//! Probing a host: its OS, kernel, architecture, CPUs and load, and the round trip to it.
//!
//! The probe is the server's own fixed, read-only command ([`PROBE_SCRIPT`]), like the
//! watchdog: it is not a job (no job id, no slot, no policy vetting — there is nothing of the
//! agent's in it), and it runs on the channel each connection keeps free for short commands
//! (the connection thread runs one at a time, so it never competes with a kill for it). The
//! host's answer is untrusted: read up to [`MAX_PROBE_OUTPUT`] bytes, within a time bound, and
//! parsed defensively (see [`crate::facts`]).

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ssh2::Session;
use tokio::sync::oneshot;

use super::conn::Cmd;
use super::pool::{Need, Pool};
use crate::facts::{MAX_PROBE_OUTPUT, PROBE_SCRIPT, parse_probe};
use crate::{HostFacts, ProbeError};

/// How long the script may take once the host is connected. The connection thread is busy
/// meanwhile (its jobs' output waits in their channels); a healthy host answers in
/// milliseconds.
const ANSWER_BOUND: Duration = Duration::from_secs(3);

/// Probes the host of `pool`, connecting if need be (a host in back-off answers its last error
/// at once). Bounded by the host's connect timeout (per hop) plus [`ANSWER_BOUND`].
pub(super) async fn probe(pool: &Arc<Pool>) -> Result<HostFacts, ProbeError> {
    let host = pool.host();
    let hops = if host.jump.is_some() { 2 } else { 1 };
    let bound = host.connect_timeout * hops + ANSWER_BOUND + Duration::from_secs(1);
    let asked = async {
        let mut attempts = 0;
        let (rtt, output) = loop {
            attempts += 1;
            let p = Arc::clone(pool);
            let link = tokio::task::spawn_blocking(move || p.place(Need::Short))
                .await
                .map_err(|e| ProbeError::Unreachable(e.to_string()))?
                .map_err(|e| ProbeError::Unreachable(e.to_string()))?;
            let (done, rx) = oneshot::channel();
            let cmd = Cmd::Probe {
                bound: ANSWER_BOUND,
                done,
            };
            let answer = match link.tx.send(cmd) {
                Ok(()) => rx.await.ok(),
                Err(_) => None,
            };
            match answer {
                Some(a) => break a.map_err(ProbeError::Unreachable)?,
                // The connection closed between being chosen and taking the command (a spare
                // one closing when idle, or one that just dropped): once more, on another.
                None if attempts < 2 => continue,
                None => return Err(ProbeError::Unreachable("the connection closed".into())),
            }
        };
        let mut facts = parse_probe(&output);
        if facts == HostFacts::default() {
            return Err(ProbeError::Unreadable);
        }
        facts.rtt = Some(rtt);
        Ok(facts)
    };
    tokio::time::timeout(bound, asked)
        .await
        .map_err(|_| ProbeError::Timeout(bound))?
}

/// Runs the probe script on a new channel of `session`, on the connection's thread, within
/// `bound` (each blocking step gets the time left). Returns how long the channel took to open
/// (one round trip to the host's sshd) and the first [`MAX_PROBE_OUTPUT`] bytes of output.
/// The channel is closed and freed before it returns, whatever happened.
pub(super) fn run(session: &Session, bound: Duration) -> Result<(Duration, Vec<u8>), String> {
    let deadline = Instant::now() + bound;
    let saved = session.timeout();
    // The session's timeout bounds each blocking libssh2 call: set it to the time left.
    let arm = || -> Result<(), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer within {bound:?}"));
        }
        session.set_timeout(u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1));
        Ok(())
    };
    session.set_blocking(true);
    let result = (|| {
        arm()?;
        let opening = Instant::now();
        let mut channel = session
            .channel_session()
            .map_err(|e| format!("cannot open a channel: {e}"))?;
        let rtt = opening.elapsed();
        let mut output = Vec::new();
        let read = (|| {
            arm()?;
            channel
                .exec(PROBE_SCRIPT)
                .map_err(|e| format!("cannot run the probe: {e}"))?;
            let mut buf = [0u8; 1024];
            while output.len() < MAX_PROBE_OUTPUT {
                arm()?;
                match channel.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => output.extend_from_slice(&buf[..n]),
                    Err(e) => return Err(format!("reading the probe's answer: {e}")),
                }
            }
            Ok(())
        })();
        // Closed (within what is left of the bound) and freed on drop, read or not.
        if arm().is_ok() {
            let _ = channel.close();
            let _ = channel.wait_close();
        }
        drop(channel);
        read.map(|()| (rtt, output))
    })();
    session.set_timeout(saved);
    session.set_blocking(false);
    result
}
