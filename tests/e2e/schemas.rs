//! Every tool's schemas, as `tools/list` gives them, stay in the subset of JSON Schema that every
//! MCP client accepts (see `src/tools/schema.rs` for why each rule exists).

use serde_json::{Map, Value};

use crate::support::*;

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
    let tools = s
        .client
        .as_ref()
        .expect("connected")
        .peer()
        .list_all_tools()
        .await
        .expect("tools/list");
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
