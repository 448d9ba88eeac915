//! Non-blocking reads and writes on a job's pipes or pty master, driven by tokio's reactor.
//!
//! Pipes and pty masters are handled alike through `AsyncFd`, so one code path serves both.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::{OutputSink, Stream};

/// Bytes read per `read(2)`; allocated only once a job prints something.
const READ_CHUNK: usize = 128 * 1024;
/// Pipe capacity requested for output pipes: a bigger pipe means fewer wake-ups per byte and
/// more slack before a job would ever block on a busy server.
const PIPE_CAPACITY: i32 = 1024 * 1024;

pub(crate) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Best effort: the kernel may cap the size (`/proc/sys/fs/pipe-max-size`).
pub(crate) fn grow_pipe(fd: &OwnedFd) {
    if fcntl(fd.as_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_CAPACITY)).is_err() {
        let _ = fcntl(fd.as_fd(), FcntlArg::F_SETPIPE_SZ(256 * 1024));
    }
}

fn register_reader(fd: OwnedFd) -> Option<AsyncFd<OwnedFd>> {
    if let Err(e) = set_nonblocking(&fd) {
        tracing::warn!("cannot make an output descriptor non-blocking: {e}");
        return None;
    }
    // SAFETY: an OwnedFd stays open, and is the same descriptor, for as long as it is owned.
    match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::warn!("cannot register an output descriptor: {e}");
            None
        }
    }
}

async fn readable(
    fd: Option<&AsyncFd<OwnedFd>>,
) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match fd {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

/// Reads once from a ready descriptor into `sink`. Returns false at end of file. A pty master
/// reports the end with `EIO` once every slave descriptor is closed: an end of file too.
fn read_ready(
    guard: io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>>,
    stream: Stream,
    buf: &mut Vec<u8>,
    sink: &dyn OutputSink,
) -> bool {
    let mut guard = match guard {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("output descriptor failed: {e}");
            return false;
        }
    };
    if buf.is_empty() {
        *buf = vec![0; READ_CHUNK];
    }
    match guard.try_io(|inner| nix::unistd::read(inner.get_ref(), buf).map_err(io::Error::from)) {
        Ok(Ok(0)) => false,
        Ok(Ok(n)) => {
            sink.append(stream, &buf[..n]);
            true
        }
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => false,
        Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => true,
        Ok(Err(e)) => {
            tracing::warn!("reading job output failed: {e}");
            false
        }
        Err(_would_block) => true,
    }
}

/// Copies a job's stdout and stderr into `sink` until both reach end of file. One task reads
/// both, in the order the reactor reports them ready (stdout first when both are), so that the
/// combined stream keeps the order in which the job wrote as closely as two pipes allow.
pub(crate) async fn pump(out: Option<OwnedFd>, err: Option<OwnedFd>, sink: Arc<dyn OutputSink>) {
    let out = out.and_then(register_reader);
    let err = err.and_then(register_reader);
    let (mut out_open, mut err_open) = (out.is_some(), err.is_some());
    let mut buf: Vec<u8> = Vec::new();
    while out_open || err_open {
        tokio::select! {
            biased;
            g = readable(out.as_ref()), if out_open => {
                out_open = read_ready(g, Stream::Stdout, &mut buf, sink.as_ref());
            }
            g = readable(err.as_ref()), if err_open => {
                err_open = read_ready(g, Stream::Stderr, &mut buf, sink.as_ref());
            }
        }
    }
}

/// The writing end of a job's stdin (a pipe, or the pty master).
pub(crate) struct Writer {
    fd: AsyncFd<OwnedFd>,
}

impl Writer {
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(&fd)?;
        Ok(Self {
            // SAFETY: an OwnedFd stays open, and is the same descriptor, for as long as it is
            // owned.
            fd: unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }
                .map_err(io::Error::from)?,
        })
    }

    pub(crate) async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard
                .try_io(|inner| nix::unistd::write(inner.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}

/// Bytes waiting to be read from a pipe or a pty master (`FIONREAD`); 0 when unknown.
pub(crate) fn unread(fd: &OwnedFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to a valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 {
        0
    } else {
        usize::try_from(n).unwrap_or(0)
    }
}
