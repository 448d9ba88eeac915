//! Every tool's schemas, as `tools/list` gives them, stay in the subset of JSON Schema that every
//! MCP client accepts (see `src/tools/schema.rs` for why each rule exists).

use serde_json::{Map, Value};

use crate::support::*;

/// The server's tools, as `tools/list` gives them.
async fn tools_of(s: &Server) -> Vec<rmcp::model::Tool> {
    s.client
        .as_ref()
        .expect("connected")
        .peer()
        .list_all_tools()
        .await
        .expect("tools/list")
}

/// Where `v` breaks a rule, as "path: rule" lines.
fn violations(path: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for key in ["$schema", "$ref", "$defs", "definitions", "format"] {
                if o.contains_key(key) {
                    out.push(format!("{path}: has {key}"));
                }
            }
            match o.get("type") {
                Some(Value::String(_)) | None => {}
                Some(other) => out.push(format!("{path}: type is {other}, not one name")),
            }
            if o.get("default").is_some_and(Value::is_null) {
                out.push(format!("{path}: default null"));
            }
            if let Some(Value::Object(props)) = o.get("properties") {
                for (name, p) in props {
                    if p.get("description")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        out.push(format!("{path}.{name}: no description"));
                    }
                }
            }
            for (k, child) in o {
                violations(&format!("{path}/{k}"), child, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                violations(&format!("{path}[{i}]"), item, out);
            }
        }
        _ => {}
    }
}

fn top_level(path: &str, o: &Map<String, Value>, out: &mut Vec<String>) {
    for key in ["anyOf", "oneOf", "allOf"] {
        if o.contains_key(key) {
            out.push(format!("{path}: top-level {key}"));
        }
    }
    if o.get("type").and_then(Value::as_str) != Some("object") {
        out.push(format!("{path}: not an object schema"));
    }
}

#[tokio::test]
async fn every_tool_schema_is_portable_and_the_model_facing_part_is_small() {
    let s = Server::start().await;
    let tools = tools_of(&s).await;
    assert!(tools.len() >= 10, "{} tools", tools.len());
    let mut problems = Vec::new();
    let mut model_facing = 0;
    for t in &tools {
        let input = t.input_schema.as_ref();
        top_level(&format!("{}.input", t.name), input, &mut problems);
        violations(
            &format!("{}.input", t.name),
            &Value::Object(input.clone()),
            &mut problems,
        );
        if let Some(out) = &t.output_schema {
            top_level(&format!("{}.output", t.name), out, &mut problems);
            violations(
                &format!("{}.output", t.name),
                &Value::Object(out.as_ref().clone()),
                &mut problems,
            );
        }
        model_facing += t.description.as_deref().map_or(0, str::len)
            + serde_json::to_string(input).map_or(0, |j| j.len());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        model_facing < 8 * 1024,
        "descriptions and input schemas take {model_facing} bytes"
    );
}

/// What a model reads before calling anything: short instructions (Codex's code mode appends
/// them to every tool description), and a search hint on every tool for clients that defer
/// tools behind a search.
#[tokio::test]
async fn instructions_are_short_and_every_tool_has_a_search_hint() {
    let s = Server::start().await;
    let info = s
        .client
        .as_ref()
        .expect("connected")
        .peer()
        .peer_info()
        .expect("server info");
    let instructions = info.instructions.clone().expect("instructions");
    assert!(
        instructions.len() < 700,
        "{} bytes of instructions",
        instructions.len()
    );
    for t in tools_of(&s).await {
        let hint = t
            .meta
            .as_ref()
            .and_then(|m| m.0.get("anthropic/searchHint"))
            .and_then(Value::as_str);
        assert!(
            hint.is_some_and(|h| h.split_whitespace().count() >= 3),
            "{}: {hint:?}",
            t.name
        );
    }
}

/// Where `value` breaks `schema`'s `type`s (clients such as Claude Code validate results
/// against the output schema and turn a mismatch into an error).
pub(crate) fn mismatches(path: &str, schema: &Value, value: &Value, out: &mut Vec<String>) {
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        };
        if !ok {
            out.push(format!("{path}: {value} is not {t}"));
            return;
        }
    }
    if let (Some(Value::Object(props)), Value::Object(v)) = (schema.get("properties"), value) {
        for (k, sub) in props {
            if let Some(x) = v.get(k) {
                mismatches(&format!("{path}.{k}"), sub, x, out);
            }
        }
    }
    if let (Some(items), Value::Array(xs)) = (schema.get("items"), value) {
        for (i, x) in xs.iter().enumerate() {
            mismatches(&format!("{path}[{i}]"), items, x, out);
        }
    }
}

/// Where `value` holds what a model pays to read for nothing: `null`, empty strings, arrays or
/// objects (both Claude Code and Codex hand the model the structured result as JSON).
pub(crate) fn empties(path: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(format!("{path} is null")),
        Value::String(x) if x.is_empty() => out.push(format!("{path} is an empty string")),
        Value::Array(xs) if xs.is_empty() => out.push(format!("{path} is an empty array")),
        Value::Object(o) if o.is_empty() => out.push(format!("{path} is an empty object")),
        Value::Array(xs) => {
            for (i, x) in xs.iter().enumerate() {
                empties(&format!("{path}[{i}]"), x, out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                empties(&format!("{path}.{k}"), x, out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn results_match_their_output_schemas_and_carry_no_empty_fields() {
    let s = Server::start().await;
    let tools = tools_of(&s).await;
    let schema = |name: &str| -> Value {
        let t = tools.iter().find(|t| t.name == name).expect("tool");
        Value::Object(
            t.output_schema
                .as_ref()
                .expect("output schema")
                .as_ref()
                .clone(),
        )
    };
    let running = s
        .ok("execute", serde_json::json!({"command": "sleep 30"}))
        .await;
    let id = running["job_id"].as_str().expect("id").to_string();
    let done = s
        .ok(
            "execute",
            serde_json::json!({"command": "echo hi; exit 3", "wait": 10}),
        )
        .await;
    let done_id = done["job_id"].as_str().expect("id").to_string();
    let repl = s
        .ok(
            "execute",
            serde_json::json!({"command": "cat", "keep_stdin_open": true}),
        )
        .await;
    let repl_id = repl["job_id"].as_str().expect("id").to_string();
    // A fan-out to `local` alone is a group like any other.
    let group = s
        .ok(
            "execute",
            serde_json::json!({"command": "sleep 30", "hosts": ["local"]}),
        )
        .await;
    let gid = group["group_id"].as_str().expect("group id").to_string();
    let group_done = s
        .ok(
            "execute",
            serde_json::json!({"command": "echo g", "hosts": ["local"], "wait": 10}),
        )
        .await;
    assert_eq!(group_done["jobs"][0]["tail"], "g\n", "{group_done}");
    let gdone = group_done["group_id"]
        .as_str()
        .expect("group id")
        .to_string();
    let mut problems = Vec::new();
    for (tool, value) in [
        ("execute", group),
        ("execute", group_done),
        (
            "status",
            s.ok("status", serde_json::json!({"group": gid})).await,
        ),
        (
            "wait",
            s.ok("wait", serde_json::json!({"group": gdone})).await,
        ),
        (
            "list",
            s.ok("list", serde_json::json!({"group": gid})).await,
        ),
        (
            "kill",
            s.ok("kill", serde_json::json!({"group": gid})).await,
        ),
        (
            "interact",
            s.ok(
                "interact",
                serde_json::json!({"job_id": repl_id, "input": "hello\n", "until": "hello"}),
            )
            .await,
        ),
        (
            "status",
            s.ok("status", serde_json::json!({"job_id": done_id})).await,
        ),
        (
            "output",
            s.ok("output", serde_json::json!({"job_id": done_id})).await,
        ),
        ("execute", running),
        ("execute", done),
        (
            "status",
            s.ok("status", serde_json::json!({"job_id": id})).await,
        ),
        (
            "tail",
            s.ok("tail", serde_json::json!({"job_id": done_id})).await,
        ),
        (
            "output",
            s.ok(
                "output",
                serde_json::json!({"job_id": done_id, "grep": "hi"}),
            )
            .await,
        ),
        ("list", s.ok("list", serde_json::json!({})).await),
        (
            "wait",
            s.ok("wait", serde_json::json!({"job_id": done_id})).await,
        ),
        (
            "check",
            s.ok("check", serde_json::json!({"command": "ls"})).await,
        ),
        ("hosts", s.ok("hosts", serde_json::json!({})).await),
        (
            "hosts",
            s.ok("hosts", serde_json::json!({"probe": true})).await,
        ),
        (
            "kill",
            s.ok("kill", serde_json::json!({"job_id": id})).await,
        ),
        (
            "clean",
            s.ok("clean", serde_json::json!({"all": true})).await,
        ),
    ] {
        mismatches(tool, &schema(tool), &value, &mut problems);
        empties(tool, &value, &mut problems);
    }
    s.ok("kill", serde_json::json!({"job_id": repl_id})).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
