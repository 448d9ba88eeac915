//! A bare rmcp server with one tool that does nothing: the SDK's own floor, served by the same
//! binary over the same transport, for the benchmarks' baseline (`mcp-jobs __noop-server`).

use rmcp::handler::server::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};

#[derive(Clone)]
struct Noop {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Noop {
    #[tool(description = "Does nothing.")]
    async fn noop(&self) -> String {
        String::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Noop {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Serves until stdin closes.
pub async fn serve() -> anyhow::Result<()> {
    let server = Noop {
        tool_router: Noop::tool_router(),
    };
    let service = server.serve(rmcp::transport::stdio_pipes()).await?;
    service.waiting().await?;
    Ok(())
}
