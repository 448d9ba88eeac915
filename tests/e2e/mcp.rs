//! What MCP itself offers for long-running work: progress notifications, cancellation, and
//! jobs as resources with update notifications.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientRequest, ProgressNotificationParam, ReadResourceRequestParams,
    Request, ResourceContents, ResourceUpdatedNotificationParam, SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::*;

#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    updated: Arc<Mutex<Vec<String>>>,
    list_changed: Arc<Mutex<usize>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri);
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        *self.list_changed.lock().unwrap() += 1;
    }
}

/// A server process with its own state directory, and its pid.
fn spawn_server() -> (TokioChildProcess, u32, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--state-dir")
        .arg(state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(cmd).unwrap();
    let pid = transport.id().unwrap();
    (transport, pid, state)
}

struct Client {
    service: RunningService<RoleClient, Recorder>,
    rec: Recorder,
    pid: u32,
    _state: tempfile::TempDir,
}

impl Client {
    async fn start() -> Self {
        let (transport, pid, state) = spawn_server();
        let rec = Recorder::default();
        let service = rec.clone().serve(transport).await.unwrap();
        Self {
            service,
            rec,
            pid,
            _state: state,
        }
    }

    async fn call(&self, tool: &'static str, args: Value) -> Value {
        let Value::Object(map) = args else {
            unreachable!()
        };
        let r = self
            .service
            .peer()
            .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
            .await
            .unwrap();
        assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
        r.structured_content.unwrap()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }
}

#[tokio::test]
async fn wait_sends_progress_with_the_latest_line() {
    let c = Client::start().await;
    let r = c
        .call(
            "execute",
            json!({"command": "for i in 1 2 3 4 5 6 7; do echo \"step $i/7\"; sleep 0.8; done"}),
        )
        .await;
    let id = r["job_id"].as_str().unwrap().to_string();
    // rmcp's client attaches a progress token to every request.
    let done = c.call("wait", json!({"job_id": id, "timeout": 30})).await;
    assert_eq!(done["reason"], "done");
    let progress = c.rec.progress.lock().unwrap().clone();
    assert!(progress.len() >= 2, "{progress:?}");
    for w in progress.windows(2) {
        assert!(
            w[1].progress > w[0].progress,
            "progress must increase: {progress:?}"
        );
    }
    let messages: Vec<String> = progress.iter().filter_map(|p| p.message.clone()).collect();
    assert!(
        messages.iter().any(|m| m.starts_with("step ")),
        "{messages:?}"
    );
    assert!(
        progress.iter().any(|p| p.total == Some(7.0)),
        "a step/total counter is reported: {progress:?}"
    );
}

#[tokio::test]
async fn a_cancelled_wait_returns_and_the_job_keeps_running() {
    let c = Client::start().await;
    let r = c.call("execute", json!({"command": "sleep 30"})).await;
    let id = r["job_id"].as_str().unwrap().to_string();
    let Value::Object(args) = json!({"job_id": id, "timeout": 60}) else {
        unreachable!()
    };
    let handle = c
        .service
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(
                CallToolRequestParams::new("wait").with_arguments(args),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    let st = c.call("status", json!({"job_id": id})).await;
    assert_eq!(st["state"], "running", "the job keeps running");
    // The server is not stuck in the cancelled wait: a new wait answers at once.
    let t = Instant::now();
    let w = c.call("wait", json!({"job_id": id, "timeout": 0.2})).await;
    assert_eq!(w["reason"], "timed_out");
    assert!(t.elapsed() < Duration::from_secs(2));
    c.call("kill", json!({"job_id": id})).await;
}

#[tokio::test]
async fn jobs_are_resources_with_update_notifications() {
    let c = Client::start().await;
    let templates = c
        .service
        .peer()
        .list_resource_templates(None)
        .await
        .unwrap();
    let uris: Vec<&str> = templates
        .resource_templates
        .iter()
        .map(|t| t.uri_template.as_str())
        .collect();
    assert!(
        uris.contains(&"job://{id}/output") && uris.contains(&"job://{id}/status"),
        "{uris:?}"
    );

    let r = c
        .call(
            "execute",
            json!({"command": "echo first; sleep 1; echo second; sleep 1; echo third"}),
        )
        .await;
    let id = r["job_id"].as_str().unwrap().to_string();
    let resources = c.service.peer().list_all_resources().await.unwrap();
    assert!(
        resources
            .iter()
            .any(|r| r.uri == format!("job://{id}/output"))
    );
    assert!(
        eventually(Duration::from_secs(5), || *c
            .rec
            .list_changed
            .lock()
            .unwrap()
            >= 1)
        .await,
        "the resource list changed when the job came"
    );

    let uri = format!("job://{id}/output");
    c.service
        .peer()
        .send_request(ClientRequest::SubscribeRequest(Request::new(
            SubscribeRequestParams::new(uri.clone()),
        )))
        .await
        .unwrap();
    c.call("wait", json!({"job_id": id, "timeout": 20})).await;
    assert!(
        eventually(Duration::from_secs(5), || c
            .rec
            .updated
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == &uri))
        .await,
        "no update notification for {uri}"
    );
    let read = c
        .service
        .peer()
        .read_resource(ReadResourceRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("expected text: {read:?}");
    };
    assert!(text.starts_with("first\nsecond\nthird\n"), "{text}");
    assert!(text.contains("since="), "a cursor hint: {text}");
    let status = c
        .service
        .peer()
        .read_resource(ReadResourceRequestParams::new(format!("job://{id}/status")))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &status.contents[0] else {
        panic!("expected text");
    };
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["state"], "exited");
    let missing = c
        .service
        .peer()
        .read_resource(ReadResourceRequestParams::new("job://j999/output"))
        .await;
    assert!(missing.is_err());
}

async fn tasks_client() -> (
    rmcp::service::RunningService<RoleClient, rmcp::model::ClientConfig>,
    u32,
    tempfile::TempDir,
) {
    use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
    let (transport, pid, state) = spawn_server();
    let info = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::from_build_env(),
    );
    (info.serve(transport).await.unwrap(), pid, state)
}

#[tokio::test]
async fn a_task_capable_client_gets_tasks() {
    use rmcp::model::{CallToolResponse, CancelTaskParams, GetTaskParams, TaskPayload, TaskStatus};
    let (client, pid, _state) = tasks_client().await;
    let Value::Object(args) = json!({"command": "echo working; sleep 1; echo finished"}) else {
        unreachable!()
    };
    let response = client
        .peer()
        .call_tool_once(CallToolRequestParams::new("execute").with_arguments(args))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = response else {
        panic!("expected a task, got {response:?}");
    };
    let id = created.task.task_id.clone();
    assert_eq!(id, "j1", "task ids are job ids");
    // Poll to completion.
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let t = client
            .peer()
            .get_task(GetTaskParams::new(id.clone()))
            .await
            .unwrap()
            .task;
        if t.task.status.is_terminal() {
            break t;
        }
        assert!(Instant::now() < deadline, "the task never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done.task.status, TaskStatus::Completed);
    let TaskPayload::Completed { result } = done.payload else {
        panic!("no result")
    };
    let structured = &result["structuredContent"];
    assert_eq!(structured["state"], "exited");
    assert_eq!(structured["exit_code"], 0);
    assert_eq!(structured["tail"], "working\nfinished\n");
    // `status` works on the task's job.
    let Value::Object(args) = json!({"job_id": id}) else {
        unreachable!()
    };
    let st = client
        .peer()
        .call_tool(CallToolRequestParams::new("status").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(st.structured_content.unwrap()["state"], "exited");

    // Cancelling a task kills its job's tree.
    let mark = Marker::new("task");
    let Value::Object(args) =
        json!({"command": "sh -c 'sleep 1000 & sleep 1000 & wait'", "env": mark.env()})
    else {
        unreachable!()
    };
    let CallToolResponse::Task(created) = client
        .peer()
        .call_tool_once(CallToolRequestParams::new("execute").with_arguments(args))
        .await
        .unwrap()
    else {
        panic!("expected a task");
    };
    assert!(eventually(Duration::from_secs(10), || mark.alive().len() >= 3).await);
    client
        .peer()
        .cancel_task(CancelTaskParams::new(created.task.task_id.clone()))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
    let t = client
        .peer()
        .get_task(GetTaskParams::new(created.task.task_id))
        .await
        .unwrap()
        .task;
    assert_eq!(t.task.status, TaskStatus::Cancelled);
    // A short job that ends within `wait` comes back complete, not as a task.
    let Value::Object(args) = json!({"command": "echo quick", "wait": 10}) else {
        unreachable!()
    };
    let r = client
        .peer()
        .call_tool_once(CallToolRequestParams::new("execute").with_arguments(args))
        .await
        .unwrap();
    assert!(matches!(r, CallToolResponse::Complete(_)), "{r:?}");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

#[tokio::test]
async fn a_plain_client_never_sees_tasks() {
    let c = Client::start().await;
    let r = c.call("execute", json!({"command": "sleep 5"})).await;
    assert_eq!(r["state"], "running");
    assert!(r["job_id"].is_string());
    c.call("kill", json!({"job_id": r["job_id"]})).await;
}

/// A client of protocol 2026-07-28: no `initialize`; `server/discover` first, then tool calls
/// with per-request metadata, and notifications only through `subscriptions/listen`.
#[tokio::test]
async fn the_2026_07_28_protocol_discover_and_subscriptions_listen() {
    use rmcp::model::{ProtocolVersion, ServerNotification, SubscriptionFilter};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    let (transport, pid, _state) = spawn_server();
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
    let _kill = Kill(pid);
    let service = Recorder::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover");
    let info = service.peer().peer_info().expect("discovered server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("mcp-jobs")
    );
    assert!(info.capabilities.resources.is_some());

    let call = |args: Value| {
        let Value::Object(map) = args else {
            unreachable!()
        };
        service
            .peer()
            .call_tool(CallToolRequestParams::new("execute").with_arguments(map))
    };
    let r = call(json!({"command": "echo one; read x; echo two", "keep_stdin_open": true}))
        .await
        .unwrap();
    let id = r.structured_content.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let uri = format!("job://{id}/output");

    let mut sub = service
        .peer()
        .listen(
            SubscriptionFilter::builder()
                .resources_list_changed()
                .resource_subscriptions([uri.clone(), "job://j999/output".to_string()])
                .build(),
        )
        .await
        .expect("subscriptions/listen is served");
    assert_eq!(sub.acknowledged().resources_list_changed, Some(true));
    assert_eq!(
        sub.acknowledged().resource_subscriptions.as_deref(),
        Some(&[uri.clone()][..]),
        "only the job that exists is acknowledged"
    );

    // New output: an update for the subscribed URI; a new job: the list changed.
    let Value::Object(map) = json!({"job_id": id, "input": "go\n"}) else {
        unreachable!()
    };
    service
        .peer()
        .call_tool(CallToolRequestParams::new("interact").with_arguments(map))
        .await
        .unwrap();
    call(json!({"command": "true"})).await.unwrap();
    let (mut updated, mut listed) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(updated && listed) {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = tokio::time::timeout(left, sub.next())
            .await
            .expect("notifications within 10 s")
            .unwrap()
            .expect("the subscription stays open");
        match next {
            ServerNotification::ResourceUpdatedNotification(n) => {
                assert_eq!(n.params.uri, uri);
                updated = true;
            }
            ServerNotification::ResourceListChangedNotification(_) => listed = true,
            other => panic!("unexpected notification {other:?}"),
        }
    }
    drop(sub);
    service.cancel().await.unwrap();
}
