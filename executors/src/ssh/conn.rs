//! One SSH connection to one host, and the thread that drives it.
//!
//! libssh2 sessions are not safe to use from several threads at once, so each host gets one
//! thread that owns the `Session` and every channel on it. Tools talk to that thread through a
//! command queue and get answers on oneshot channels; the thread never blocks on one job:
//! channel I/O runs in non-blocking mode, and only short setup steps (opening a channel,
//! `exec`, reading a finished channel's exit status) switch the session to blocking mode, under
//! the session's timeout. Between rounds the thread sleeps in `poll` on the socket and on a
//! wake-up socket that every command sent through [`Queue`] writes to, for at most [`IDLE`]
//! (for keepalives and idle closing): a command is picked up at once.
//!
//! A failed read or keepalive means the connection is gone: every job on it ends `lost`, the
//! thread exits, and the next `execute` on the host connects again. A host may have several
//! connections (see [`super::pool`]), each with its own thread, watchdog and keepalive: one
//! that drops takes only its own jobs with it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SendError, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use ssh2::Session;
use tokio::sync::oneshot;

use super::connect::Connected;
use super::pool::LinkState;
use crate::{ExitInfo, Outcome, OutputSink, Stream};

/// Longest sleep between two rounds.
const IDLE: Duration = Duration::from_millis(10);
/// A connection without jobs for this long closes, unless it is the host's last one (which
/// stays open, so that the next job starts without a handshake).
const IDLE_CLOSE: Duration = Duration::from_secs(60);
/// Bytes read per call.
const CHUNK: usize = 64 * 1024;

/// The sending end of a connection thread's queue: each command also writes a byte to the
/// thread's wake-up socket, so that the thread leaves its `poll` at once instead of finding the
/// command up to [`IDLE`] later (that wait was most of a short remote job's start).
#[derive(Clone)]
pub(crate) struct Queue {
    tx: Sender<Cmd>,
    wake: Arc<UnixStream>,
}

impl Queue {
    pub fn send(&self, cmd: Cmd) -> Result<(), SendError<Cmd>> {
        self.tx.send(cmd)?;
        // Non-blocking: a full socket buffer means a wake-up is pending anyway.
        let _ = (&*self.wake).write(&[1]);
        Ok(())
    }
}

/// A queue, its receiving end and the wake-up socket the thread polls.
pub(crate) fn queue() -> io::Result<(Queue, Receiver<Cmd>, UnixStream)> {
    let (tx, rx) = channel();
    let (wake, woken) = UnixStream::pair()?;
    wake.set_nonblocking(true)?;
    woken.set_nonblocking(true)?;
    let wake = Arc::new(wake);
    Ok((Queue { tx, wake }, rx, woken))
}

/// Empties the wake-up socket (bounded: it holds at most its buffer).
fn drain(woken: &UnixStream) {
    let mut b = [0u8; 256];
    while matches!((&*woken).read(&mut b), Ok(n) if n > 0) {}
}

pub(crate) enum Cmd {
    Spawn {
        command: String,
        /// The start of the job's marker line (see [`super::remote::MARKER`]).
        marker: Vec<u8>,
        pty: bool,
        sink: Arc<dyn OutputSink>,
        pgid: Arc<AtomicI64>,
        /// The last signal `kill` sent the job's group (0: none).
        signalled: Arc<AtomicI32>,
        exit: oneshot::Sender<Outcome>,
        reply: oneshot::Sender<Result<u64, SpawnFailure>>,
    },
    Stdin {
        id: u64,
        data: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    CloseStdin {
        id: u64,
    },
    /// Closes a killed job's channel and ends the job: its process group is gone, but a
    /// process that left it (a new session) still holds the output open, and the job would
    /// never end on its own.
    Close {
        id: u64,
    },
    /// Runs a short command on its own channel and returns its exit code (for kills).
    Exec {
        command: String,
        done: oneshot::Sender<Result<i32, String>>,
    },
    /// Runs the probe script (see [`super::probe`]) within `bound`; answers the time the
    /// channel took to open and the first bytes of the output.
    Probe {
        bound: Duration,
        done: oneshot::Sender<Result<(Duration, Vec<u8>), String>>,
    },
}

/// Why a job's channel did not open.
pub(crate) enum SpawnFailure {
    /// The server refused another channel on this connection (its `MaxSessions`).
    Full,
    /// Anything else, as text for the agent.
    Failed(String),
}

/// Input waiting to be written to one job's stdin at most.
const MAX_PENDING_STDIN: usize = 4 << 20;

/// libssh2's "channel failure": the server refused to open a channel.
const CHANNEL_FAILURE: i32 = -21;
/// A short command's channel refused: tried again this many times, this far apart.
const EXEC_RETRIES: usize = 5;
const EXEC_RETRY_PAUSE: Duration = Duration::from_millis(40);

/// Input waiting to be written: the bytes, how many are written, who to tell when done.
type PendingInput = (Vec<u8>, usize, oneshot::Sender<Result<(), String>>);

struct Job {
    channel: ssh2::Channel,
    sink: Arc<dyn OutputSink>,
    pgid: Arc<AtomicI64>,
    signalled: Arc<AtomicI32>,
    exit: Option<oneshot::Sender<Outcome>>,
    /// Until the process-group marker line has been seen: what it starts with, and the
    /// incomplete line of stderr so far.
    marker: Option<Marker>,
    stdin: Vec<PendingInput>,
    close_stdin: bool,
    out_done: bool,
    err_done: bool,
    /// The process group given to the watchdog, if one was.
    watched: Option<i64>,
    /// After the marker: the last bytes of the stream it came on, to find a second marker
    /// line across reads (see [`recheck`]).
    after_marker: Option<(Stream, Vec<u8>, Vec<u8>, usize)>,
    /// Its channel was closed from here ([`Cmd::Close`]): it ends now.
    closing: bool,
}

/// A shell on the host that kills the process groups it was told about once its input ends —
/// that is, once this connection is gone (the server was killed, the network dropped): remote
/// jobs run in their own sessions and would otherwise outlive the server. `+N` adds group N,
/// `-N` removes it (the job ended; its id may be reused) with parameter expansions only: it ran
/// `sed` in a subshell, two processes on the host for every job that ended. `p` is answered
/// with `p`: the connection's proof of life (see [`Watchdog::silent_for`]). It ignores SIGPIPE:
/// an answer written after the connection went must not kill it before it has killed the jobs.
const WATCHDOG: &str = "exec sh -c 'trap \"\" HUP PIPE; g=\" \"; while IFS= read -r l; do case \"$l\" in p) echo p 2>/dev/null;; +*) g=\"$g${l#+} \";; -*) n=${l#-}; case \"$g\" in *\" $n \"*) g=${g%%\" $n \"*}\" \"${g#*\" $n \"};; esac;; esac; done; for p in $g; do kill -9 -$p 2>/dev/null; done'";

struct Watchdog {
    channel: ssh2::Channel,
    pending: Vec<u8>,
    /// When the unanswered `p` was sent.
    pinged: Option<Instant>,
}

/// A host that has not answered for this many keepalive intervals (and at least
/// [`MIN_SILENCE`]) is taken for gone: a dropped network sends no reset, and TCP alone would
/// notice only after many minutes of retransmissions.
const SILENT_INTERVALS: u32 = 3;
const MIN_SILENCE: Duration = Duration::from_secs(3);

impl Watchdog {
    fn open(session: &Session) -> Option<Self> {
        let channel = blocking(session, || {
            let mut ch = session.channel_session()?;
            ch.exec(WATCHDOG)?;
            Ok(ch)
        })
        .map_err(|e| tracing::warn!("no remote watchdog: {e}"))
        .ok()?;
        Some(Self {
            channel,
            pending: Vec::new(),
            pinged: None,
        })
    }

    /// Asks the host for a sign of life, unless a question is already out.
    fn ping(&mut self) {
        if self.pinged.is_none() {
            self.pending.extend_from_slice(b"p\n");
            self.pinged = Some(Instant::now());
        }
    }

    /// Reads the watchdog's answers. `false`: it has gone (its channel ended), so it can
    /// neither guard nor answer.
    fn read_answers(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match self.channel.read(&mut buf) {
                Ok(0) => return !self.channel.eof(),
                Ok(_) => self.pinged = None,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    /// How long the host has left a question unanswered.
    fn silent_for(&self) -> Duration {
        self.pinged.map_or(Duration::ZERO, |t| t.elapsed())
    }

    fn flush(&mut self) {
        while !self.pending.is_empty() {
            match self.channel.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(_) => break,
            }
        }
    }
}

/// The connection thread: runs until the connection fails, or no job is left and the
/// executor dropped its end of the queue.
pub(crate) fn run(
    connected: Connected,
    rx: Receiver<Cmd>,
    woken: &UnixStream,
    state: &Arc<LinkState>,
    keepalive: Duration,
) {
    let Connected { session, poller } = connected;
    let mut jobs: HashMap<u64, Job> = HashMap::new();
    let mut next_id = 0u64;
    let mut last_keepalive = Instant::now();
    let mut idle_since = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    let mut watchdog = Watchdog::open(&session);
    session.set_blocking(false);
    let lost = |jobs: &mut HashMap<u64, Job>, why: &str| {
        // First, so that no job is placed here while the others are told.
        state.alive.store(false, Ordering::SeqCst);
        state.dropped.note(why);
        for (_, mut j) in jobs.drain() {
            state.release();
            if let Some(tx) = j.exit.take() {
                let _ = tx.send(Outcome::Lost(why.to_string()));
            }
            for (_, _, done) in j.stdin.drain(..) {
                let _ = done.send(Err(why.to_string()));
            }
        }
    };
    'outer: loop {
        let mut busy = false;
        // Before the queue: a command sent after this is either seen below or wakes the poll.
        drain(woken);
        loop {
            match rx.try_recv() {
                Ok(cmd) => {
                    busy = true;
                    if let Err(e) = command(&session, cmd, &mut jobs, &mut next_id, state) {
                        lost(&mut jobs, &e);
                        break 'outer;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if jobs.is_empty() {
                        break 'outer;
                    }
                    break;
                }
            }
        }
        let mut finished = Vec::new();
        for job in jobs.values_mut() {
            let pgid = job.pgid.load(Ordering::SeqCst);
            match job.watched {
                None if pgid > 0 => {
                    job.watched = Some(pgid);
                    if let Some(w) = &mut watchdog {
                        w.pending.extend_from_slice(format!("+{pgid}\n").as_bytes());
                    }
                }
                // The group was found untrustworthy after all: the watchdog must not kill it.
                Some(old) if pgid != old => {
                    job.watched = None;
                    if let Some(w) = &mut watchdog {
                        w.pending.extend_from_slice(format!("-{old}\n").as_bytes());
                    }
                }
                _ => {}
            }
        }
        for (id, job) in jobs.iter_mut() {
            match pump(&session, job, &mut buf) {
                Ok((moved, done)) => {
                    busy |= moved;
                    if done || job.closing {
                        finished.push(*id);
                    }
                }
                Err(e) => {
                    let why = format!("the connection to the host was lost: {e}");
                    lost(&mut jobs, &why);
                    break 'outer;
                }
            }
        }
        for id in finished {
            if let Some(mut job) = jobs.remove(&id) {
                if let (Some(pgid), Some(w)) = (job.watched, &mut watchdog) {
                    w.pending.extend_from_slice(format!("-{pgid}\n").as_bytes());
                }
                let mut info = exit_of(&session, &mut job.channel);
                // `setsid -w` reports a child ended by a signal with the signal's number as
                // its exit code: the signal that kill sent is what ended the job.
                let sent = job.signalled.load(Ordering::SeqCst);
                if sent > 0 && info.signal.is_none() && info.code == Some(sent) {
                    info.signal = info.code.take();
                }
                drop(job.channel);
                state.release();
                if let Some(tx) = job.exit.take() {
                    let _ = tx.send(Outcome::Exited(info));
                }
            }
        }
        if let Some(w) = &mut watchdog {
            w.flush();
            // It writes only to answer: nothing to read (no read on every round of a busy
            // connection) unless a question is out.
            if w.pinged.is_some() && !w.read_answers() {
                tracing::warn!(
                    "the remote watchdog's channel ended (the connection is closing, or it was \
killed on the host): jobs on this connection are no longer guarded"
                );
                watchdog = None;
            }
        }
        let silence = (keepalive * SILENT_INTERVALS).max(MIN_SILENCE);
        if let Some(w) = &watchdog
            && w.silent_for() >= silence
        {
            lost(
                &mut jobs,
                &format!(
                    "the host has not answered for {}s: the network or the host is gone",
                    w.silent_for().as_secs()
                ),
            );
            break;
        }
        if last_keepalive.elapsed() >= keepalive {
            last_keepalive = Instant::now();
            if let Some(w) = &mut watchdog {
                w.ping();
            }
            if let Err(e) = session.keepalive_send()
                && !is_would_block(&e)
            {
                lost(
                    &mut jobs,
                    &format!("the connection to the host was lost: {e}"),
                );
                break;
            }
        }
        if !jobs.is_empty() || state.jobs.load(Ordering::SeqCst) > 0 {
            idle_since = Instant::now();
        } else if idle_since.elapsed() >= IDLE_CLOSE && state.close_if_spare() {
            // A job placed here meanwhile finds its command dropped and is placed again.
            break;
        }
        if !busy {
            let mut pfd = [poller.as_raw_fd(), woken.as_raw_fd()].map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            // SAFETY: two valid pollfds. A hang-up is reported by the next read.
            unsafe {
                libc::poll(
                    pfd.as_mut_ptr(),
                    2,
                    i32::try_from(IDLE.as_millis()).unwrap_or(10),
                )
            };
        }
    }
    state.closed();
}

fn is_would_block(e: &ssh2::Error) -> bool {
    matches!(e.code(), ssh2::ErrorCode::Session(-37))
}

/// Runs `f` with the session in blocking mode (bounded by the session timeout).
pub(super) fn blocking<T>(
    session: &Session,
    f: impl FnOnce() -> Result<T, ssh2::Error>,
) -> Result<T, ssh2::Error> {
    session.set_blocking(true);
    let r = f();
    session.set_blocking(false);
    r
}

/// Handles one command. An error means the connection is unusable.
fn command(
    session: &Session,
    cmd: Cmd,
    jobs: &mut HashMap<u64, Job>,
    next_id: &mut u64,
    state: &LinkState,
) -> Result<(), String> {
    match cmd {
        Cmd::Spawn {
            command,
            marker,
            pty,
            sink,
            pgid,
            signalled,
            exit,
            reply,
        } => {
            let opened = blocking(session, || {
                let mut ch = session.channel_session()?;
                if pty {
                    ch.request_pty("xterm", None, Some((200, 50, 0, 0)))?;
                }
                ch.exec(&command)?;
                Ok(ch)
            });
            match opened {
                Ok(channel) => {
                    *next_id += 1;
                    jobs.insert(
                        *next_id,
                        Job {
                            channel,
                            sink,
                            pgid,
                            signalled,
                            exit: Some(exit),
                            // Under a pty, stderr arrives merged into stdout, marker included.
                            marker: Some(Marker {
                                stream: if pty { Stream::Stdout } else { Stream::Stderr },
                                prefix: marker,
                                line: Vec::new(),
                                seen: 0,
                            }),
                            stdin: Vec::new(),
                            close_stdin: false,
                            out_done: false,
                            err_done: pty,
                            watched: None,
                            after_marker: None,
                            closing: false,
                        },
                    );
                    let _ = reply.send(Ok(*next_id));
                }
                Err(e) => {
                    state.release();
                    if matches!(e.code(), ssh2::ErrorCode::Session(CHANNEL_FAILURE)) {
                        // Full: no job goes here until one of its jobs ends.
                        state.refused.store(true, Ordering::SeqCst);
                        let _ = reply.send(Err(SpawnFailure::Full));
                        return Ok(());
                    }
                    let _ = reply.send(Err(SpawnFailure::Failed(format!(
                        "cannot start the remote command: {e}"
                    ))));
                    if matches!(e.code(), ssh2::ErrorCode::Session(-7 | -43 | -13)) {
                        return Err(e.to_string());
                    }
                }
            }
        }
        Cmd::Stdin { id, data, done } => match jobs.get_mut(&id) {
            Some(j) if !j.close_stdin => {
                // A job that does not read its stdin must not make the server hold every
                // input sent to it since.
                let waiting: usize = j.stdin.iter().map(|(d, w, _)| d.len() - w).sum();
                if waiting + data.len() > MAX_PENDING_STDIN {
                    let _ = done.send(Err(format!(
                        "the job is not reading its stdin: {waiting} bytes sent before still wait to be written"
                    )));
                } else {
                    j.stdin.push((data, 0, done));
                }
            }
            _ => {
                let _ = done.send(Err("the job's stdin is closed".into()));
            }
        },
        Cmd::CloseStdin { id } => {
            if let Some(j) = jobs.get_mut(&id) {
                j.close_stdin = true;
            }
        }
        Cmd::Close { id } => {
            if let Some(job) = jobs.get_mut(&id) {
                // The loop then ends it as finished (the watchdog forgets its group).
                let _ = job.channel.close();
                job.closing = true;
            }
        }
        Cmd::Exec { command, done } => {
            let run = || {
                blocking(session, || {
                    let mut ch = session.channel_session()?;
                    ch.exec(&command)?;
                    let mut sink = Vec::new();
                    let _ = ch.read_to_end(&mut sink);
                    ch.wait_close()?;
                    ch.exit_status()
                })
            };
            let mut r = run();
            // sshd frees a session a moment after the close of the one before (the kill's
            // previous check, say): the reserved channel is then refused for a few ms.
            for _ in 0..EXEC_RETRIES {
                match &r {
                    Err(e) if e.code() == ssh2::ErrorCode::Session(CHANNEL_FAILURE) => {
                        std::thread::sleep(EXEC_RETRY_PAUSE);
                        r = run();
                    }
                    _ => break,
                }
            }
            let _ = done.send(r.map_err(|e| e.to_string()));
        }
        Cmd::Probe { bound, done } => {
            let _ = done.send(super::probe::run(session, bound));
        }
    }
    Ok(())
}

/// Moves what is ready on one job's channel. Returns (whether anything moved, whether the job
/// is finished).
fn pump(session: &Session, job: &mut Job, buf: &mut [u8]) -> io::Result<(bool, bool)> {
    let _ = session;
    let mut moved = false;
    // stdin first: a reply is often waiting on it.
    while let Some((data, written, _)) = job.stdin.first_mut() {
        match job.channel.write(&data[*written..]) {
            Ok(n) => {
                moved = true;
                *written += n;
                if *written >= data.len() {
                    let (_, _, done) = job.stdin.remove(0);
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                let (_, _, done) = job.stdin.remove(0);
                let _ = done.send(Err(e.to_string()));
            }
        }
    }
    if job.close_stdin && job.stdin.is_empty() {
        match job.channel.send_eof() {
            Ok(()) => job.close_stdin = false,
            Err(e) if is_would_block(&e) => {}
            Err(_) => job.close_stdin = false,
        }
    }
    if !job.out_done {
        loop {
            match job.channel.read(buf) {
                Ok(0) => {
                    if job.channel.eof() {
                        job.out_done = true;
                        unmarked_end(job, Stream::Stdout);
                    }
                    break;
                }
                Ok(n) => {
                    moved = true;
                    marked_bytes(job, Stream::Stdout, &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    if !job.err_done {
        loop {
            match job.channel.stderr().read(buf) {
                Ok(0) => {
                    if job.channel.eof() {
                        job.err_done = true;
                        unmarked_end(job, Stream::Stderr);
                    }
                    break;
                }
                Ok(n) => {
                    moved = true;
                    marked_bytes(job, Stream::Stderr, &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok((moved, job.out_done && job.err_done))
}

/// Output looked through for the marker line at most: login files may write before it, but
/// a host that never sends it must not make the reader hold output back for long.
const MARKER_SEARCH: usize = 64 * 1024;

/// The search for a job's process-group marker line.
struct Marker {
    /// The stream it comes on.
    stream: Stream,
    /// `\x1eMCPJOBS-PGID:<nonce>:`
    prefix: Vec<u8>,
    /// The incomplete line so far.
    line: Vec<u8>,
    /// Bytes looked through.
    seen: usize,
}

/// The process group a marker line reports: only a number above 1 (a group id of 0 or 1
/// would make a kill signal far more than the job).
fn pgid_of(rest: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(rest).ok()?;
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok().filter(|&p| p > 1)
}

/// Looks for a second marker line with the job's nonce in what follows the first, within the
/// first [`MARKER_SEARCH`] bytes (passed on at once, not held back). A login file can read the
/// command line, nonce included, and print a marker before the wrapper does; the wrapper's
/// own then follows. Two of them: neither is trusted, and no group will be signalled for the
/// job (its `kill` closes the channel instead).
fn recheck(job: &mut Job, stream: Stream, data: &[u8]) {
    let Some((on, prefix, tail, seen)) = &mut job.after_marker else {
        return;
    };
    if *on != stream {
        return;
    }
    let mut window = std::mem::take(tail);
    window.extend_from_slice(data);
    let found = window.windows(prefix.len()).any(|w| w == prefix.as_slice());
    *seen += data.len();
    if found {
        job.pgid.store(UNTRUSTED_PGID, Ordering::SeqCst);
        job.after_marker = None;
        return;
    }
    if *seen > MARKER_SEARCH {
        job.after_marker = None;
        return;
    }
    let keep = prefix.len().saturating_sub(1).min(window.len());
    *tail = window[window.len() - keep..].to_vec();
}

/// The group id of a job whose marker was seen twice (see [`recheck`]).
pub(crate) const UNTRUSTED_PGID: i64 = -1;

/// The stream the marker was looked for on ended without it: what it held back is output.
fn unmarked_end(job: &mut Job, stream: Stream) {
    if let Some(m) = job.marker.take_if(|m| m.stream == stream)
        && !m.line.is_empty()
    {
        job.sink.append(stream, &m.line);
    }
}

/// Forwards output, taking the process-group marker line out of the stream it comes on.
/// Lines before the marker (a login file's noise) are passed on as they come.
fn marked_bytes(job: &mut Job, stream: Stream, data: &[u8]) {
    let m = match &mut job.marker {
        Some(m) if m.stream == stream => m,
        _ => {
            recheck(job, stream, data);
            job.sink.append(stream, data);
            return;
        }
    };
    let mut data = data;
    while let Some(nl) = data.iter().position(|b| *b == b'\n') {
        m.line.extend_from_slice(&data[..nl]);
        data = &data[nl + 1..];
        m.seen += nl + 1;
        let line = std::mem::take(&mut m.line);
        // A terminal ends lines with `\r\n`.
        let bare = line.strip_suffix(b"\r").unwrap_or(&line);
        if let Some(rest) = bare.strip_prefix(m.prefix.as_slice()) {
            if let Some(pgid) = pgid_of(rest) {
                job.pgid.store(pgid, Ordering::SeqCst);
            }
            let seen = m.seen;
            let prefix = std::mem::take(&mut m.prefix);
            job.marker = None;
            job.after_marker = Some((stream, prefix, Vec::new(), seen));
            if !data.is_empty() {
                recheck(job, stream, data);
                job.sink.append(stream, data);
            }
            return;
        }
        job.sink.append(stream, &line);
        job.sink.append(stream, b"\n");
        if m.seen > MARKER_SEARCH {
            // The wrapper did not start (no setsid or sh on the host?): pass the rest on.
            job.marker = None;
            if !data.is_empty() {
                job.sink.append(stream, data);
            }
            return;
        }
    }
    m.seen += data.len();
    m.line.extend_from_slice(data);
    if m.seen > MARKER_SEARCH {
        let line = std::mem::take(&mut m.line);
        job.marker = None;
        job.sink.append(stream, &line);
    }
}

fn exit_of(session: &Session, channel: &mut ssh2::Channel) -> ExitInfo {
    let _ = blocking(session, || channel.wait_close());
    let signal = channel
        .exit_signal()
        .ok()
        .and_then(|s| s.exit_signal)
        .and_then(|name| {
            format!("SIG{name}")
                .parse::<nix::sys::signal::Signal>()
                .ok()
        })
        .map(|s| s as i32);
    let code = if signal.is_some() {
        None
    } else {
        channel.exit_status().ok()
    };
    ExitInfo {
        code,
        signal,
        core_dumped: false,
        usage: None,
    }
}

#[cfg(test)]
mod tests {
    use super::pgid_of;

    #[test]
    fn only_a_group_above_1_is_taken() {
        assert_eq!(pgid_of(b"4242"), Some(4242));
        for bad in [
            &b"1"[..],
            b"0",
            b"-1",
            b"",
            b" 42",
            b"42;kill",
            b"99999999999999999999999",
        ] {
            assert_eq!(pgid_of(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
