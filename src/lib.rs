//! mcp-jobs: an MCP server that runs shell commands as background jobs.
pub mod output;
