//! End-to-end tests: the real `mcp-jobs` binary, driven over stdio by rmcp's client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod bad_input;
mod containment;
mod execute;
mod grep_lines;
mod http;
mod interact;
mod kill;
mod lifecycle;
mod mcp;
mod ordering;
mod output;
mod policy;
mod sandbox;
mod scale;
mod schemas;
mod ssh;
mod waiting;
