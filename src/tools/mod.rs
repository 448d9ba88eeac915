//! The MCP tools: thin handlers, one file per family ([`execute`], [`read`], [`interact`],
//! [`control`], [`overview`], [`check`], [`hosts`]), over the JobManager's operations; their arguments
//! ([`params`], [`args`]), results ([`replies`], [`waiting`]), progress ([`progress`]) and the server that
//! routes calls ([`server`]).

pub mod args;
mod arguments;
mod check;
mod check_reply;
mod control;
mod discovery;
mod execute;
mod group_reply;
mod hosts;
mod hosts_reply;
mod interact;
mod list_reply;
mod output_reply;
mod overview;
pub mod params;
pub mod progress;
mod read;
pub mod replies;
pub mod resources;
mod schema;
pub mod server;
pub mod tasks;
mod waiting;

pub use server::JobServer;
