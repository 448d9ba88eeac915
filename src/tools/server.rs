//! The MCP server: the struct, its tool router (assembled from one router per tool family, each
//! in its own file: a tool parses its arguments, makes one JobManager call, renders a bounded
//! reply), and the protocol handlers (tasks, resources, subscriptions).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    CreateTaskResult, GetTaskParams, GetTaskResult, ListResourceTemplatesResult,
    ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use super::args::ToolError;
use super::arguments::normalise;
use super::discovery;
use super::replies::*;
use super::resources::{self, Subscriptions};
use super::schema::{Side, portable};
use super::tasks;
use crate::jobs::{Job, JobManager};

/// The mcp-jobs MCP server.
#[derive(Clone)]
pub struct JobServer {
    pub(super) manager: Arc<JobManager>,
    tool_router: ToolRouter<Self>,
    subscriptions: Subscriptions,
    cancelled_tasks: tasks::Cancelled,
    /// Built at start: they name the configured hosts.
    instructions: Arc<str>,
}

/// Runs a tool body, turning a panic into an error result: a panicking handler would otherwise
/// send no response at all, and the client would wait until its own timeout.
pub(super) async fn guarded<T: Reply>(
    body: impl Future<Output = Result<T, ToolError>>,
) -> CallToolResult {
    let result = match AssertUnwindSafe(body).catch_unwind().await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!("tool handler panicked: {what}");
            Err(format!(
                "internal error ({what}); the server is still running, please retry"
            ))
        }
    };
    reply(result)
}

impl JobServer {
    pub fn new(manager: Arc<JobManager>) -> Self {
        let mut tool_router = Self::execute_router()
            + Self::read_router()
            + Self::interact_router()
            + Self::control_router()
            + Self::overview_router()
            + Self::check_router()
            + Self::hosts_router();
        let hosts = manager.host_names();
        let tags = manager.tags();
        for route in tool_router.map.values_mut() {
            let tool = &mut route.attr;
            tool.input_schema = Arc::new(portable(&tool.input_schema, Side::Input));
            if let Some(out) = &tool.output_schema {
                tool.output_schema = Some(Arc::new(portable(out, Side::Output)));
            }
            discovery::add_search_hint(tool);
            discovery::name_hosts(tool, &hosts, &tags);
        }
        Self {
            instructions: discovery::instructions(&hosts, &tags).into(),
            manager,
            tool_router,
            subscriptions: Subscriptions::default(),
            cancelled_tasks: tasks::Cancelled::default(),
        }
    }

    pub(super) fn job(&self, id: &str) -> Result<Arc<Job>, ToolError> {
        Ok(self.manager.get(id)?)
    }
}

// The router is built once, in `new`: the macro's default would rebuild it (and every schema)
// on each call.
#[tool_handler(router = self.tool_router)]
impl ServerHandler for JobServer {
    fn get_info(&self) -> ServerConfig {
        let mut implementation = rmcp::model::Implementation::from_build_env();
        implementation.name = "mcp-jobs".into();
        implementation.version = env!("CARGO_PKG_VERSION").into();
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_tasks()
                .build(),
        )
        .with_server_info(implementation)
        .with_instructions(self.instructions.to_string())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // A client that speaks the tasks extension gets a task for a job still running when
        // `execute` returns; everyone else gets the plain result.
        let wants_task = request.name == "execute"
            && context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks());
        let mut request = request;
        if let Some(route) = self.tool_router.map.get(request.name.as_ref()) {
            let mut args = request.arguments.take().unwrap_or_default();
            if let Err(message) = normalise(&request.name, &route.attr.input_schema, &mut args) {
                return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(message),
                ])));
            }
            request.arguments = Some(args);
        }
        let call = ToolCallContext::new(self, request, context);
        let response = self.tool_router.call(call).await?;
        if wants_task
            && let CallToolResponse::Complete(result) = &response
            && result.is_error != Some(true)
            && let Some(id) = result
                .structured_content
                .as_ref()
                .and_then(|v| v.get("job_id"))
                .and_then(|v| v.as_str())
            && let Ok(job) = self.manager.get(id)
            && !job.is_ended()
        {
            return Ok(CallToolResponse::Task(CreateTaskResult::new(
                tasks::task_of(&job),
            )));
        }
        Ok(response)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        tasks::get(&self.manager, &self.cancelled_tasks, &request.task_id).map(GetTaskResult::new)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        tasks::cancel(&self.manager, &self.cancelled_tasks, &request.task_id).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // A client of the initialize era hears when jobs come and go (its resource list
        // changes) without asking; newer clients ask with `subscriptions/listen`.
        let manager = Arc::clone(&self.manager);
        let peer = context.peer;
        tokio::spawn(async move {
            resources::watch_listing(&manager, || async {
                peer.notify_resource_list_changed().await.is_ok()
            })
            .await;
        });
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(resources::accepted_filter(&self.manager, requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        resources::listen(Arc::clone(&self.manager), context).await;
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list(&self.manager))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.manager, &request.uri).map(Into::into)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions
            .subscribe(&self.manager, &request.uri, context.peer)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.unsubscribe(&request.uri);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_tool_body_becomes_an_error_result() {
        let r = guarded::<JobStatus>(async { panic!("boom") }).await;
        assert_eq!(r.is_error, Some(true));
        let text = r.content[0]
            .as_text()
            .map(|t| t.text.clone())
            .unwrap_or_default();
        assert!(
            text.contains("boom") && text.contains("still running"),
            "{text}"
        );
    }
}
