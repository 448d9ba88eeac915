//! mcp-jobs: an MCP server that runs shell commands as background jobs, locally or over SSH,
//! behind a policy engine.
//!
//! Layout: [`config`] (file, flags, limits), [`jobs`] (the JobManager), [`output`] (spools,
//! cursors, text), [`tools`] (the MCP tools), [`serve`] (transports and shutdown), [`stdio`] (stdio with parse-error replies), [`signals`] (stop signals from
//! the first instruction), [`guardian`]
//! (the watchdog that kills jobs if the server dies), [`state_dir`] (where logs and journals may
//! be read and deleted).

pub mod audit;
pub mod check_cli;
pub mod config;
pub mod guardian;
pub mod http;
pub mod jobs;
pub mod noop;
pub mod output;
pub mod sandbox;
pub mod sandbox_cli;
pub mod serve;
pub mod signals;
pub mod state_dir;
pub mod stdio;
pub mod tools;
