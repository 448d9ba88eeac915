//! Non-blocking reads and writes on a job's pipes or pty master, driven by tokio's reactor.
//!
//! Pipes and pty masters are handled alike through `AsyncFd`, so one code path serves both.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
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

/// Copies everything readable from `fd` into `sink` until end of file. A pty master reports the
/// end with `EIO` once every slave descriptor is closed; that is an end of file too.
pub(crate) async fn pump(fd: OwnedFd, stream: Stream, sink: Arc<dyn OutputSink>) {
    if let Err(e) = set_nonblocking(&fd) {
        tracing::warn!("cannot make an output descriptor non-blocking: {e}");
        return;
    }
    // SAFETY: an OwnedFd stays open, and is the same descriptor, for as long as it is owned.
    let fd = match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!("cannot register an output descriptor: {e}");
            return;
        }
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!("output descriptor failed: {e}");
                return;
            }
        };
        if buf.is_empty() {
            buf = vec![0; READ_CHUNK];
        }
        match guard.try_io(|inner| {
            nix::unistd::read(inner.get_ref(), &mut buf).map_err(io::Error::from)
        }) {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => sink.append(stream, &buf[..n]),
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => {
                tracing::warn!("reading job output failed: {e}");
                return;
            }
            Err(_would_block) => {}
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
            match guard.try_io(|inner| {
                nix::unistd::write(inner.get_ref(), data).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}
