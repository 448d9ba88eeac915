//! Protocol 2026-07-28 over HTTP: no session, `server/discover`, per-request metadata.

use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use super::{HttpServer, TOKEN};

#[tokio::test]
async fn a_2026_07_28_client_calls_tools_over_http() {
    let s = HttpServer::start_with(&["--http-max-sessions", "1"]).await;
    let connect = || async {
        let config =
            StreamableHttpClientTransportConfig::with_uri(s.url.clone()).auth_header(TOKEN);
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
        ().serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover over HTTP")
    };
    // Two clients while one session at most is allowed: this protocol has no sessions.
    let (a, b) = (connect().await, connect().await);
    let Value::Object(args) = json!({"command": "echo stateless", "wait": 10}) else {
        unreachable!()
    };
    let r = a
        .peer()
        .call_tool(CallToolRequestParams::new("execute").with_arguments(args))
        .await
        .unwrap();
    let r = r.structured_content.unwrap();
    assert_eq!(r["state"], "exited", "{r}");
    let Value::Object(args) = json!({"job_id": r["job_id"]}) else {
        unreachable!()
    };
    let out = b
        .peer()
        .call_tool(CallToolRequestParams::new("output").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(out.structured_content.unwrap()["text"], "stateless\n");
}
