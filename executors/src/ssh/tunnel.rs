//! `ProxyJump` through one bastion: a direct-tcpip channel on the bastion's session carries the
//! inner SSH session.
//!
//! libssh2 reads and writes its transport through a socket descriptor, not through Rust I/O
//! traits, so the channel cannot be handed to the inner `Session` directly. Instead the inner
//! session gets one end of a Unix socket pair, and a thread pumps bytes between the other end
//! and the channel. The thread owns the bastion's session (libssh2 sessions are not shared
//! between threads); it ends, closing the pair, when either side closes, so the inner session
//! sees the end of its transport and its jobs end `lost` as on a dropped TCP connection.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ssh2::{Channel, Session};

use super::SshHost;
use super::connect::Connected;

/// Bytes held in each direction at most: the pump reads again only once they are passed on.
const BUF: usize = 64 * 1024;
/// Longest sleep between two rounds.
const IDLE: Duration = Duration::from_millis(10);

/// Opens a direct-tcpip channel from the bastion (`outer`) to `address:port` and returns the
/// local end of the pair that carries it. Opening is bounded by the bastion session's timeout.
pub(crate) fn open(
    outer: Connected,
    address: &str,
    port: u16,
    inner: &SshHost,
) -> io::Result<UnixStream> {
    let Connected { session, poller } = outer;
    let channel = session
        .channel_direct_tcpip(address, port, None)
        .map_err(|e| io::Error::other(format!("cannot forward to {address}:{port}: {e}")))?;
    let (ours, theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    session.set_blocking(false);
    let keepalive = inner.keepalive;
    std::thread::Builder::new()
        .name(format!("ssh-jump-{}", inner.name))
        .spawn(move || pump(&session, channel, &poller, ours, keepalive))?;
    Ok(theirs)
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Moves bytes both ways until one side closes or fails.
fn pump(
    session: &Session,
    mut channel: Channel,
    poller: &OwnedFd,
    mut local: UnixStream,
    keepalive: Duration,
) {
    let mut up: Vec<u8> = Vec::with_capacity(BUF);
    let mut down: Vec<u8> = Vec::with_capacity(BUF);
    let mut buf = vec![0u8; BUF];
    let mut last_keepalive = Instant::now();
    loop {
        let mut moved = false;
        if up.is_empty() {
            match local.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    up.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if !up.is_empty() {
            match channel.write(&up) {
                Ok(n) => {
                    up.drain(..n);
                    moved |= n > 0;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if down.is_empty() {
            match channel.read(&mut buf) {
                Ok(0) if channel.eof() => break,
                Ok(0) => {}
                Ok(n) => {
                    down.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if !down.is_empty() {
            match local.write(&down) {
                Ok(n) => {
                    down.drain(..n);
                    moved |= n > 0;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if last_keepalive.elapsed() >= keepalive {
            last_keepalive = Instant::now();
            if let Err(e) = session.keepalive_send()
                && !matches!(e.code(), ssh2::ErrorCode::Session(-37))
            {
                break;
            }
        }
        if !moved {
            let mut fds = [
                libc::pollfd {
                    fd: poller.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: local.as_raw_fd(),
                    events: if down.is_empty() {
                        libc::POLLIN
                    } else {
                        libc::POLLIN | libc::POLLOUT
                    },
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds. Errors and hang-ups are seen by the next read.
            unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    2,
                    i32::try_from(IDLE.as_millis()).unwrap_or(10),
                )
            };
        }
    }
    // Dropping `local` ends the inner session's transport; dropping the session disconnects
    // from the bastion.
}
