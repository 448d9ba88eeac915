//! Non-blocking reads and writes on a job's pipes or pty master, driven by tokio's reactor.
//!
//! Pipes and pty masters are handled alike through `AsyncFd`, so one code path serves both.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Reads once from a ready descriptor into `sink`, at most `limit` bytes. Returns the bytes
/// read (0 when there were none after all), or `None` at end of file. A pty master reports the
/// end with `EIO` once every slave descriptor is closed: an end of file too.
fn read_ready(
    guard: io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>>,
    stream: Stream,
    buf: &mut Vec<u8>,
    limit: usize,
    out: &mut dyn FnMut(Stream, &[u8]),
) -> Option<usize> {
    let mut guard = match guard {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("output descriptor failed: {e}");
            return None;
        }
    };
    if buf.is_empty() {
        *buf = vec![0; READ_CHUNK];
    }
    let want = limit.clamp(1, buf.len());
    match guard.try_io(|inner| {
        nix::unistd::read(inner.get_ref(), &mut buf[..want]).map_err(io::Error::from)
    }) {
        Ok(Ok(0)) => None,
        Ok(Ok(n)) => {
            out(stream, &buf[..n]);
            Some(n)
        }
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => None,
        Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Some(0),
        Ok(Err(e)) => {
            tracing::warn!("reading job output failed: {e}");
            None
        }
        Err(_would_block) => Some(0),
    }
}

/// Output read but not yet handed to the sink, in read order. While a job writes, the reader
/// only looks and reads (a few microseconds a round) and hands the bytes on once it has caught
/// up: appending to the store inline made each round long enough for both pipes to fill in the
/// meantime, and then their order is lost.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    runs: Vec<(Stream, usize)>,
}

/// Hand output on at least this often (bytes), so that a job that never pauses is still seen.
const BATCH_MAX: usize = 256 * 1024;

impl Batch {
    fn push(&mut self, stream: Stream, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        match self.runs.last_mut() {
            Some((s, n)) if *s == stream => *n += bytes.len(),
            _ => self.runs.push((stream, bytes.len())),
        }
    }

    fn flush(&mut self, sink: &dyn OutputSink) {
        let mut at = 0;
        for (stream, n) in self.runs.drain(..) {
            sink.append(stream, &self.data[at..at + n]);
            at += n;
        }
        self.data.clear();
    }
}

/// Reads up to `limit` bytes that `FIONREAD` said are there, without waiting for the reactor.
fn read_held(
    fd: &OwnedFd,
    stream: Stream,
    buf: &mut Vec<u8>,
    limit: usize,
    out: &mut dyn FnMut(Stream, &[u8]),
) -> Option<usize> {
    if buf.is_empty() {
        *buf = vec![0; READ_CHUNK];
    }
    let want = limit.clamp(1, buf.len());
    match nix::unistd::read(fd, &mut buf[..want]) {
        Ok(0) => None,
        Ok(n) => {
            out(stream, &buf[..n]);
            Some(n)
        }
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Some(0),
        Err(nix::errno::Errno::EIO) => None,
        Err(e) => {
            tracing::warn!("reading job output failed: {e}");
            None
        }
    }
}

/// One of a job's output descriptors, while it is open.
struct Pipe {
    fd: AsyncFd<OwnedFd>,
    stream: Stream,
    /// Bytes in the pipe known to precede whatever the other pipe holds now: they were there
    /// when the other pipe was seen empty.
    owed: usize,
}

/// Copies a job's stdout and stderr into `sink` until both reach end of file, keeping the order
/// in which the job wrote them as far as two pipes can tell it.
///
/// Two pipes carry no timestamps: all a reader can know is what each holds at the instant it
/// looks (`FIONREAD`). So one task reads both, and each round looks at both first: bytes in one
/// pipe while the other is empty were all written before anything the other will get, and are
/// read as one (big) read, of exactly that many bytes — never the bytes that arrived after the
/// look, which may follow the other pipe's. Only when both hold bytes written since the last
/// look is the order unknown; then the pipes take turns, each giving what it held at the look
/// (whole writes: never a line cut by the other stream's), so neither stream waits behind the
/// other (reading one pipe dry first put a job's stderr after all of its stdout whenever the
/// server fell behind). A reader that keeps up sees one pipe at a time,
/// and the combined stream is then the write order.
pub(crate) async fn pump(
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    sink: Arc<dyn OutputSink>,
    holding: Arc<AtomicBool>,
) {
    let mut pipes: Vec<Pipe> = [(out, Stream::Stdout), (err, Stream::Stderr)]
        .into_iter()
        .filter_map(|(fd, stream)| {
            Some(Pipe {
                fd: register_reader(fd?)?,
                stream,
                owed: 0,
            })
        })
        .collect();
    let mut buf: Vec<u8> = Vec::new();
    let mut batch = Batch::default();
    // Which pipe takes the next small step while the order is unknown: they take turns,
    // stdout first (the stream that usually woke the reader).
    let mut turn = 1usize;
    while !pipes.is_empty() {
        if pipes.len() == 1 {
            batch.flush(sink.as_ref());
            // Nothing to keep in order: big reads.
            let p = &pipes[0];
            let guard = p.fd.readable().await;
            holding.store(true, Ordering::SeqCst);
            let mut out = |stream, bytes: &[u8]| sink.append(stream, bytes);
            if read_ready(guard, p.stream, &mut buf, READ_CHUNK, &mut out).is_none() {
                pipes.clear();
            }
            holding.store(false, Ordering::SeqCst);
            continue;
        }
        let held = [unread(pipes[0].fd.get_ref()), unread(pipes[1].fd.get_ref())];
        if held == [0, 0] {
            // Caught up: hand the output on; drop the pipes that ended; sleep until one has
            // more. Nothing is read here: a read of whatever arrived since the look could take
            // bytes written after the other pipe's, and put them first.
            batch.flush(sink.as_ref());
            holding.store(false, Ordering::SeqCst);
            let before = pipes.len();
            pipes.retain(|p| !(hung_up(p.fd.get_ref()) && unread(p.fd.get_ref()) == 0));
            if pipes.len() != before {
                continue;
            }
            for p in &pipes {
                if is_ready(&p.fd)
                    && let Ok(mut guard) = p.fd.readable().await
                {
                    // Stale readiness (the bytes were read directly): clear it, then look
                    // again below, so that bytes that came meanwhile are not slept through.
                    guard.clear_ready();
                }
            }
            if pipes
                .iter()
                .any(|p| unread(p.fd.get_ref()) > 0 || hung_up(p.fd.get_ref()))
            {
                continue;
            }
            std::future::poll_fn(|cx| {
                if pipes.iter().any(|p| p.fd.poll_read_ready(cx).is_ready()) {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            continue;
        }
        if batch.data.len() >= BATCH_MAX {
            batch.flush(sink.as_ref());
        }
        let (k, limit) = match held {
            [n, 0] | [0, n] => {
                turn = 1;
                let k = usize::from(held[0] == 0);
                pipes[k].owed = n;
                pipes[1 - k].owed = 0;
                (k, n.min(READ_CHUNK))
            }
            [a, b] => match (pipes[0].owed, pipes[1].owed) {
                (n, _) if n > 0 => (0, n.min(a).min(READ_CHUNK)),
                (_, n) if n > 0 => (1, n.min(b).min(READ_CHUNK)),
                _ => {
                    turn = 1 - turn;
                    (turn, held[turn].min(READ_CHUNK))
                }
            },
        };
        let p = &mut pipes[k];
        // Set before the read: whoever then finds the pipe empty finds this set, and does not
        // take the job for idle while its output is still on its way to the store.
        holding.store(true, Ordering::SeqCst);
        let mut out = |stream, bytes: &[u8]| batch.push(stream, bytes);
        match read_held(p.fd.get_ref(), p.stream, &mut buf, limit, &mut out) {
            Some(n) => p.owed = p.owed.saturating_sub(n),
            None => {
                pipes.remove(k);
            }
        }
    }
    batch.flush(sink.as_ref());
    holding.store(false, Ordering::SeqCst);
}

/// Whether every writer of the pipe has closed it (`POLLHUP`): with nothing left in it, that is
/// the end of the stream.
fn hung_up(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and a zero timeout: poll only reports.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Whether tokio has seen `fd` ready (without waiting).
fn is_ready(fd: &AsyncFd<OwnedFd>) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    fd.poll_read_ready(&mut cx).is_ready()
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
