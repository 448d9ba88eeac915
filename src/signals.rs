//! The stop signals (SIGINT, SIGTERM, SIGHUP), caught from the first instruction of `main`.
//!
//! A client may signal the server at any moment, even during start-up or right after
//! `initialize` (Claude Code sends SIGINT at its own shutdown). Until tokio's signal streams are
//! registered, the default action would kill the server on the spot, leaving its temporary state
//! directory (and its jobs to the guardian). So `main` first installs a handler that only notes
//! the signal; [`Stop::recv`] then reports a signal noted before it was listening as well as any
//! later one.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use tokio::signal::unix::{SignalKind, signal};

const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The first stop signal that arrived, or 0.
static NOTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(sig: nix::libc::c_int) {
    // Async-signal-safe: one atomic operation.
    let _ = NOTED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the noting handler for the stop signals.
pub fn install_early() -> nix::Result<()> {
    set(SigHandler::Handler(note))
}

/// Gives the stop signals their default action back (commands that do not serve).
pub fn restore_default() -> nix::Result<()> {
    set(SigHandler::SigDfl)
}

fn set(handler: SigHandler) -> nix::Result<()> {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    for sig in STOP_SIGNALS {
        // SAFETY: the handler only performs an atomic store, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// The stop signals as tokio streams (tokio's handler calls the noting one too: it chains).
pub struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Stop {
    /// Starts listening (inside the runtime).
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for a stop signal, or returns at once if one came before; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        match Signal::try_from(NOTED.load(Ordering::SeqCst)) {
            Ok(Signal::SIGINT) => return "SIGINT",
            Ok(Signal::SIGTERM) => return "SIGTERM",
            Ok(Signal::SIGHUP) => return "SIGHUP",
            _ => {}
        }
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
