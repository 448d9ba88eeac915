//! The server's own end: closing stdin, SIGTERM and SIGKILL each leave no job process alive.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

async fn server_with_jobs(mark: &Marker) -> Server {
    let s = Server::start().await;
    for cmd in [
        "sleep 1000",
        "sh -c 'sleep 1000 & sleep 1000 & wait'",
        "setsid sleep 1000 & wait",
        "(setsid sleep 1000 &); sleep 1000",
    ] {
        s.start_job(json!({"command": cmd, "env": mark.env()}))
            .await;
    }
    s.start_job(json!({"command": "python3 -i -q", "pty": true, "env": mark.env()}))
        .await;
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().len() >= 9).await,
        "jobs did not start: {:?}",
        mark.alive()
    );
    s
}

#[tokio::test]
async fn closing_stdin_stops_the_server_and_its_jobs() {
    let mark = Marker::new("eof");
    let mut s = server_with_jobs(&mark).await;
    s.disconnect().await;
    assert!(
        eventually(Duration::from_secs(10), || !alive(s.pid)).await,
        "server still running"
    );
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn sigterm_stops_the_server_and_its_jobs() {
    let mark = Marker::new("term");
    let s = server_with_jobs(&mark).await;
    s.signal(libc::SIGTERM);
    assert!(
        eventually(Duration::from_secs(10), || !alive(s.pid)).await,
        "server still running"
    );
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn sigkill_of_the_server_still_kills_its_jobs() {
    let mark = Marker::new("kill9");
    let s = server_with_jobs(&mark).await;
    s.signal(libc::SIGKILL);
    assert!(eventually(Duration::from_secs(10), || !alive(s.pid)).await);
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left alive: {:?}",
        mark.alive()
    );
}

/// Without the guardian, PR_SET_PDEATHSIG still takes each job's main process with the server.
#[tokio::test]
async fn a_job_dies_with_its_server_even_without_the_guardian() {
    let mark = Marker::new("pdeath");
    let s = Server::start().await;
    // `sleep` is the job's main process (bash execs a lone command).
    s.start_job(json!({"command": "sleep 1000", "env": mark.env()}))
        .await;
    assert!(eventually(Duration::from_secs(10), || mark.alive().len() == 1).await);
    let guardian = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()))
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(") ")
                .next()
                .and_then(|r| r.split(' ').nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid == Some(s.pid) && cmdline.windows(10).any(|w| w == b"__guardian")
        })
        .expect("the server's guardian");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(guardian, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(5), || is_zombie(guardian)).await);
    s.signal(libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left alive: {:?}",
        mark.alive()
    );
}
