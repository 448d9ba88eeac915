//! The MCP tools: arguments ([`params`]), results ([`replies`]), waiting ([`waiting`]) and the
//! server that routes calls to the JobManager ([`server`]).

pub mod params;
pub mod replies;
pub mod resources;
pub mod server;
pub mod tasks;
pub mod waiting;

pub use server::JobServer;
