//! Opening one authenticated SSH session to a host: TCP (or a tunnel through a bastion, see
//! [`super::tunnel`]), the handshake, a strict host key check, and authentication.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use ssh2::{CheckResult, KnownHostFileKind, Session};

use super::SshHost;
use super::tunnel;

/// Why a connection could not be opened. The messages are for the agent: they say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, String),
    #[error("cannot connect to {0}: {1}")]
    Tcp(String, std::io::Error),
    #[error("SSH handshake with {0} failed: {1}")]
    Handshake(String, ssh2::Error),
    /// Unknown, changed or uncheckable host key; the text says which and what to do.
    #[error("{0}")]
    HostKey(String),
    #[error("{0}")]
    Auth(String),
    /// The bastion could not be reached, or refused to forward.
    #[error("through the bastion {bastion}: {reason}")]
    Jump { bastion: String, reason: String },
    #[error("cannot set up the connection: {0}")]
    Local(String),
}

/// An authenticated session, and a descriptor of its transport to `poll` on.
pub(crate) struct Connected {
    pub session: Session,
    pub poller: OwnedFd,
}

/// Connects to `host` (through its bastion, if it has one), checks the host key strictly, and
/// authenticates. Every step is bounded by `connect_timeout`.
pub(crate) fn connect(host: &SshHost) -> Result<Connected, ConnectError> {
    let mut session = Session::new().map_err(|e| ConnectError::Local(e.to_string()))?;
    let poller: OwnedFd = match &host.jump {
        None => {
            let addr = (host.address.as_str(), host.port)
                .to_socket_addrs()
                .map_err(|e| ConnectError::Resolve(host.address.clone(), e.to_string()))?
                .next()
                .ok_or_else(|| ConnectError::Resolve(host.address.clone(), "no address".into()))?;
            let tcp = TcpStream::connect_timeout(&addr, host.connect_timeout)
                .map_err(|e| ConnectError::Tcp(addr.to_string(), e))?;
            // libssh2 sends each message with its own write; with Nagle's algorithm a small
            // one (a channel request, a close) waits for the ACK of the one before, which the
            // peer may delay by up to 40 ms: `execute` of `true` with `wait` took 32 ms p50 on
            // loopback with Nagle, 10-19 ms without (`cargo bench --bench server -- ssh`).
            tcp.set_nodelay(true)
                .map_err(|e| ConnectError::Local(e.to_string()))?;
            let poller = tcp
                .try_clone()
                .map_err(|e| ConnectError::Local(e.to_string()))?;
            session.set_tcp_stream(tcp);
            poller.into()
        }
        Some(bastion) => {
            let jump = |reason: String| ConnectError::Jump {
                bastion: format!("{}:{}", bastion.address, bastion.port),
                reason,
            };
            // The bastion's own session: checked and authenticated like any host.
            let outer = connect(bastion).map_err(|e| jump(e.to_string()))?;
            let stream: UnixStream = tunnel::open(outer, &host.address, host.port, host)
                .map_err(|e| jump(e.to_string()))?;
            let poller = stream
                .try_clone()
                .map_err(|e| ConnectError::Local(e.to_string()))?;
            session.set_tcp_stream(stream);
            poller.into()
        }
    };
    session.set_timeout(u32::try_from(host.connect_timeout.as_millis()).unwrap_or(u32::MAX));
    let shown = format!("{}:{}", host.address, host.port);
    session
        .handshake()
        .map_err(|e| ConnectError::Handshake(shown, e))?;
    check_host_key(&session, host)?;
    authenticate(&session, host)?;
    session.set_keepalive(
        true,
        u32::try_from(host.keepalive.as_secs()).unwrap_or(5).max(1),
    );
    session.set_timeout(u32::try_from(host.io_timeout.as_millis()).unwrap_or(u32::MAX));
    Ok(Connected { session, poller })
}

fn check_host_key(session: &Session, host: &SshHost) -> Result<(), ConnectError> {
    let (key, _) = session
        .host_key()
        .ok_or_else(|| ConnectError::HostKey("the server sent no host key".into()))?;
    let key = key.to_vec();
    let mut known = session
        .known_hosts()
        .map_err(|e| ConnectError::Local(e.to_string()))?;
    let file = host.known_hosts.display();
    known
        .read_file(&host.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| ConnectError::HostKey(format!("cannot read known_hosts {file}: {e}")))?;
    let name = &host.address;
    let port = host.port;
    let trust = format!("to trust it, add its key: ssh-keyscan -p {port} {name} >> {file}");
    match known.check_port(name, port, &key) {
        CheckResult::Match => Ok(()),
        CheckResult::NotFound => Err(ConnectError::HostKey(format!(
            "the host key of {name}:{port} is not in {file}; {trust}"
        ))),
        CheckResult::Mismatch => Err(ConnectError::HostKey(format!(
            "the host key of {name}:{port} does NOT match {file} (a different machine, or an \
attack); if the host was really reinstalled, remove its old key with ssh-keygen -R and {trust}"
        ))),
        CheckResult::Failure => Err(ConnectError::HostKey(format!(
            "cannot check the host key of {name}"
        ))),
    }
}

fn authenticate(session: &Session, host: &SshHost) -> Result<(), ConnectError> {
    let name = &host.address;
    let user = &host.user;
    match &host.identity_file {
        Some(key) => session
            .userauth_pubkey_file(user, None, key, host.passphrase.as_deref())
            .map_err(|e| {
                ConnectError::Auth(format!(
                    "key {} was refused for {user}@{name}: {e}",
                    key.display()
                ))
            })?,
        None => session.userauth_agent(user).map_err(|e| {
            ConnectError::Auth(format!(
                "the SSH agent's keys were refused for {user}@{name}: {e}"
            ))
        })?,
    }
    if !session.authenticated() {
        return Err(ConnectError::Auth(format!(
            "authentication as {user}@{name} failed"
        )));
    }
    Ok(())
}
