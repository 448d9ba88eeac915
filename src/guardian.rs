//! The guardian: a tiny watchdog process that kills every job if the server dies, however it
//! dies (SIGKILL included, when no cleanup code of ours can run).
//!
//! The server starts it as `mcp-jobs __guardian INSTANCE` with a pipe as its stdin and keeps the
//! write end open for its whole life, writing nothing. When the server exits for any reason the
//! kernel closes that end; the guardian reads end-of-file and kills every process whose
//! environment carries this server run's job tag — grandchildren and escapees included, which
//! `PR_SET_PDEATHSIG` (set on each job's main process) does not reach.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The write end of the guardian's pipe, held until the process exits.
static LIFELINE: OnceLock<ChildStdin> = OnceLock::new();

/// Starts the guardian for this server run. Must run before any job is spawned.
pub fn start(instance: &str) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("__guardian")
        .arg(instance)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        // Its own process group: a Ctrl-C aimed at the server must not take the guardian too.
        .process_group(0)
        .spawn()?;
    if let Some(stdin) = child.stdin.take() {
        let _ = LIFELINE.set(stdin);
    }
    Ok(())
}

/// The guardian's main: wait for the server to go, then sweep its jobs.
pub fn run(instance: &str) -> ! {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGPIPE,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let prefix = format!("{instance}:");
    // Several passes: a process may fork between the scan and its death.
    let mut quiet_passes = 0;
    for _ in 0..50 {
        if executors::local::kill_tagged(&prefix) == 0 {
            quiet_passes += 1;
            if quiet_passes >= 2 {
                break;
            }
        } else {
            quiet_passes = 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::exit(0)
}
