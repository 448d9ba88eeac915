//! What rmcp's HTTP service does not answer as the protocol wants, answered before it:
//! a body that is not JSON gets a JSON-RPC `-32700` (rmcp answers `415` with text), JSON that is
//! no JSON-RPC message gets `-32600`, an `initialize` beyond the session cap gets `503` with a
//! message, and `DELETE` of an unknown session gets `404` (rmcp answers `202`).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use serde_json::{Value, json};

use super::sessions::{Full, Sessions};

const SESSION_HEADER: &str = "mcp-session-id";
/// JSON-RPC 2.0 error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
/// Implementation-defined server error (JSON-RPC reserves -32000 to -32099).
const SERVER_BUSY: i64 = -32000;

/// Bounds on reading a request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

pub async fn check(sessions: &Sessions, limits: BodyLimits, req: Request, next: Next) -> Response {
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_owned().into());
    if req.method() == Method::DELETE {
        if let Some(id) = &session
            && !sessions.exists(id).await
        {
            return (StatusCode::NOT_FOUND, "Not Found: no such session\n").into_response();
        }
        return next.run(req).await;
    }
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
        });
    if req.method() != Method::POST || !json_body {
        // rmcp answers these (405, 415) itself.
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // A body trickled in byte by byte must not hold a connection forever.
    let bytes =
        match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes))
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                let msg = format!(
                    "the request body could not be read (at most {} bytes): {e}\n",
                    limits.max_bytes
                );
                return (StatusCode::PAYLOAD_TOO_LARGE, msg).into_response();
            }
            Err(_) => {
                let msg = format!(
                    "the request body did not arrive within {} s\n",
                    limits.timeout.as_secs()
                );
                return (StatusCode::REQUEST_TIMEOUT, msg).into_response();
            }
        };
    let mut initialize = None;
    match serde_json::from_slice::<ClientJsonRpcMessage>(&bytes) {
        Ok(ClientJsonRpcMessage::Request(r))
            if session.is_none() && matches!(r.request, ClientRequest::InitializeRequest(_)) =>
        {
            let id = serde_json::to_value(&r.id).unwrap_or(Value::Null);
            if let Some(full) = sessions.full().await {
                return busy(id, full);
            }
            initialize = Some(id);
        }
        Ok(_) => {}
        Err(e) => return refusal(&bytes, &e),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    // Two `initialize` at once for the last place: the session manager refuses the second,
    // which rmcp answers with a 500; it is the same 503 as above.
    if let Some(id) = initialize
        && response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && let Some(full) = sessions.full().await
    {
        return busy(id, full);
    }
    response
}

/// `503` with `Retry-After`: no session can be opened now.
fn busy(id: Value, full: Full) -> Response {
    let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, id, SERVER_BUSY, &full);
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(full.idle_secs),
    );
    resp
}

/// The JSON-RPC error for a body that is not a client message.
fn refusal(bytes: &Bytes, e: &serde_json::Error) -> Response {
    // Parsed again as a plain value, which checks every string (a lone surrogate) and nesting:
    // JSON that fails there is not JSON at all.
    match serde_json::from_slice::<Value>(bytes) {
        Err(parse) => error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            PARSE_ERROR,
            &format!("Parse error: {parse}"),
        ),
        Ok(v) => {
            // Echo the id when it is one a request could have (JSON-RPC 2.0 §5).
            let id = match v.get("id") {
                Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
                _ => Value::Null,
            };
            error(
                StatusCode::BAD_REQUEST,
                id,
                INVALID_REQUEST,
                &format!("Invalid Request: {e}"),
            )
        }
    }
}

fn error(status: StatusCode, id: Value, code: i64, message: &dyn std::fmt::Display) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.to_string()}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
