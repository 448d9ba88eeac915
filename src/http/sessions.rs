//! MCP sessions over HTTP, capped: rmcp's in-memory session manager with a limit on how many
//! sessions are open at once, and idle sessions closed after a while.

use std::time::Duration;

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::SessionId;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};

/// Why a session call failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("{0}")]
    Full(Full),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// The cap was reached; the message says what a client can do.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "too many MCP sessions: {max} are open, the most this server allows (--http-max-sessions); \
     close one (HTTP DELETE with its Mcp-Session-Id) or wait for an idle one to expire \
     (after {idle_secs} s)"
)]
pub struct Full {
    pub max: usize,
    pub idle_secs: u64,
}

/// The session manager: at most `max` sessions; a session idle for `idle` is closed.
pub struct Sessions {
    inner: LocalSessionManager,
    full: Full,
    /// Held while a session is counted and created, so that two `initialize` at once cannot both
    /// take the last place.
    creating: tokio::sync::Mutex<()>,
}

impl Sessions {
    pub fn new(max: usize, idle: Duration) -> Self {
        let mut inner = LocalSessionManager::default();
        let mut config = SessionConfig::default();
        // rmcp's worker quits after this long without a message either way, and the service
        // then removes the session.
        config.keep_alive = Some(idle);
        inner.session_config = config;
        Self {
            inner,
            full: Full {
                max,
                idle_secs: idle.as_secs(),
            },
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// `Some` when no session can be opened now.
    pub async fn full(&self) -> Option<Full> {
        (self.inner.sessions.read().await.len() >= self.full.max).then_some(self.full)
    }

    pub async fn exists(&self, id: &SessionId) -> bool {
        self.inner.sessions.read().await.contains_key(id)
    }
}

type Transport = <LocalSessionManager as SessionManager>::Transport;

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _one_at_a_time = self.creating.lock().await;
        if let Some(full) = self.full().await {
            return Err(SessionsError::Full(full));
        }
        Ok(self.inner.create_session().await?)
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}
