//! Tool schemas in the subset of JSON Schema that every client accepts.
//!
//! What schemars writes for Rust types trips real clients: `["T", "null"]` type arrays and
//! `default: null` for `Option` (Gemini rejects type arrays; Claude Code has dropped arguments
//! with that pattern), `format: uint64` (Claude Code prints a warning per occurrence), `$schema`,
//! and `$ref`/`$defs` (Copilot, Codex and Claude Code have mishandled them, in output schemas
//! too). The portable form: one `type` per property, optional means "not in `required`",
//! subschemas inline, no `format`, no `$schema`, `const` as a one-value `enum`.

use rmcp::model::JsonObject;
use serde_json::{Map, Value};

/// How deep `$ref`s are inlined: our types nest a few levels; a cycle stops here.
const MAX_DEPTH: usize = 16;

/// Which side of a call a schema describes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Arguments: an optional argument is simply left out, so `null` need not be allowed.
    Input,
    /// Results: a value that may be `null` keeps no `type` (any value passes), since a client
    /// that validates results against the schema would reject the `null`.
    Output,
}

/// `schema` in the portable form.
pub fn portable(schema: &JsonObject, side: Side) -> JsonObject {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Value::Object(schema.clone());
    clean(&mut out, &defs, 0, side);
    match out {
        Value::Object(mut o) => {
            o.remove("$defs");
            o.remove("definitions");
            o.remove("$schema");
            o
        }
        _ => JsonObject::new(),
    }
}

fn clean(v: &mut Value, defs: &Map<String, Value>, depth: usize, side: Side) {
    let Value::Object(o) = v else {
        if let Value::Array(items) = v {
            for item in items {
                clean(item, defs, depth, side);
            }
        }
        return;
    };
    // A reference becomes the definition it names, inline (its own description wins).
    if let Some(Value::String(r)) = o.get("$ref").cloned()
        && depth < MAX_DEPTH
        && let Some(def) = r
            .strip_prefix("#/$defs/")
            .or_else(|| r.strip_prefix("#/definitions/"))
            .and_then(|name| defs.get(name))
            .and_then(Value::as_object)
    {
        o.remove("$ref");
        for (k, val) in def {
            o.entry(k.clone()).or_insert_with(|| val.clone());
        }
        clean(v, defs, depth + 1, side);
        return;
    }
    o.remove("$schema");
    o.remove("format");
    if o.get("default").is_some_and(Value::is_null) {
        o.remove("default");
    }
    let mut nullable = false;
    if let Some(Value::Array(types)) = o.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        nullable = kept.len() < types.len();
        if kept.len() == 1 {
            o.insert("type".into(), kept[0].clone());
        }
    }
    if let Some(Value::Array(values)) = o.get("enum") {
        let kept: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        o.insert("enum".into(), Value::Array(kept));
    }
    if let Some(c) = o.remove("const") {
        o.insert("enum".into(), Value::Array(vec![c]));
    }
    // `Option<Enum>`: anyOf [the enum, null] is just the enum.
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = o.get(key) {
            let kept: Vec<Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .cloned()
                .collect();
            nullable |= kept.len() < alts.len();
            if kept.len() == 1 {
                o.remove(key);
                if let Value::Object(only) = &kept[0] {
                    for (k, val) in only {
                        o.entry(k.clone()).or_insert_with(|| val.clone());
                    }
                }
            } else {
                o.insert(key.into(), Value::Array(kept));
            }
        }
    }
    for (_, child) in o.iter_mut() {
        clean(child, defs, depth + 1, side);
    }
    // A choice between string enums (a Rust enum whose variants carry their own docs) is one
    // enum of all their values: shorter, and a shape every client reads.
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(alts)) = o.get(key) else {
            continue;
        };
        let values: Option<Vec<Value>> = alts.iter().try_fold(Vec::new(), |mut all, alt| {
            (alt.get("type").and_then(Value::as_str) == Some("string")).then_some(())?;
            all.extend(alt.get("enum")?.as_array()?.iter().cloned());
            Some(all)
        });
        if let Some(values) = values {
            o.remove(key);
            o.insert("type".into(), Value::String("string".into()));
            o.insert("enum".into(), Value::Array(values));
        }
    }
    // Cleaning may have inlined a reference at this level: once more for its keys.
    if o.contains_key("$ref") && depth < MAX_DEPTH {
        clean(v, defs, depth + 1, side);
    }
    if nullable
        && side == Side::Output
        && let Value::Object(o) = v
    {
        o.remove("type");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_refs_formats_and_consts_become_portable() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "n": {"type": ["integer", "null"], "format": "uint64", "default": null,
                      "description": "a number"},
                "s": {"anyOf": [{"$ref": "#/$defs/Stream"}, {"type": "null"}],
                      "description": "a stream"},
                "k": {"const": "x"}
            },
            "$defs": {"Stream": {"type": "string", "enum": ["a", "b"]}}
        });
        let Value::Object(o) = schema else {
            unreachable!()
        };
        let p = Value::Object(portable(&o, Side::Input));
        assert_eq!(
            p,
            json!({
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "description": "a number"},
                    "s": {"type": "string", "enum": ["a", "b"], "description": "a stream"},
                    "k": {"enum": ["x"]}
                }
            })
        );
    }

    #[test]
    fn a_result_that_may_be_null_keeps_no_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "sandbox": {"anyOf": [{"$ref": "#/$defs/S"}, {"type": "null"}],
                            "description": "the sandbox"},
                "code": {"type": ["integer", "null"], "description": "a code"}
            },
            "$defs": {"S": {"type": "object", "properties": {"network": {"type": "boolean"}}}}
        });
        let Value::Object(o) = schema else {
            unreachable!()
        };
        let p = Value::Object(portable(&o, Side::Output));
        assert_eq!(p["properties"]["sandbox"].get("type"), None, "{p}");
        assert_eq!(p["properties"]["code"].get("type"), None, "{p}");
        assert_eq!(
            p["properties"]["sandbox"]["properties"]["network"]["type"],
            "boolean"
        );
    }

    #[test]
    fn a_choice_of_string_enums_is_one_enum() {
        let schema = json!({
            "type": "object",
            "properties": {"stream": {
                "description": "which",
                "oneOf": [
                    {"type": "string", "enum": ["stdout", "stderr"]},
                    {"type": "string", "const": "combined", "description": "both"}
                ]
            }}
        });
        let Value::Object(o) = schema else {
            unreachable!()
        };
        let p = Value::Object(portable(&o, Side::Input));
        assert_eq!(
            p["properties"]["stream"],
            json!({"description": "which", "type": "string", "enum": ["stdout", "stderr", "combined"]})
        );
    }
}
