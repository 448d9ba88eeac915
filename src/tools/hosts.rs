//! `hosts`: where jobs can run, and what each machine is.

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::hosts_reply::{HostRow, HostsReply};
use super::params::HostsParams;
use super::server::{JobServer, guarded};

#[tool_router(router = hosts_router, vis = "pub(super)")]
impl JobServer {
    #[tool(
        description = "Where jobs can run: `local` and each SSH host with its tags, connection \
state, jobs and limits.",
        output_schema = schema_for_output::<HostsReply>(),
        annotations(read_only_hint = true)
    )]
    async fn hosts(&self, Parameters(p): Parameters<HostsParams>) -> CallToolResult {
        guarded(async {
            let views = self
                .manager
                .hosts(p.host.as_deref(), p.probe.unwrap_or(false))
                .await?;
            Ok(HostsReply {
                hosts: views.into_iter().map(HostRow::of).collect(),
            })
        })
        .await
    }
}
