//! Tool arguments as agents send them: strict about names, forgiving about how values are
//! written.
//!
//! A misspelt argument (`timout`) silently ignored runs a job without the limit the agent
//! asked for, so unknown names are errors that name the valid ones. Numbers and booleans sent
//! as strings (`"5"`, `"true"`: models do it, and the Inspector CLI always does) are taken for
//! what they say. A value of the wrong kind is an error that names the argument in plain words,
//! not serde's (`invalid type: string "5", expected f64`). All of it is driven by the tool's
//! published input schema, so the check and the schema cannot drift apart.

use rmcp::model::JsonObject;
use serde_json::{Number, Value};

/// Checks and normalises `args` for `tool` against its input schema. `Err` is the message for
/// the agent.
pub fn normalise(tool: &str, schema: &JsonObject, args: &mut JsonObject) -> Result<(), String> {
    let empty = serde_json::Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
    names.sort_unstable();
    // `null` for an optional argument means "not given", as some clients send it.
    args.retain(|_, v| !v.is_null());
    for key in args.keys() {
        if !props.contains_key(key) {
            let hint = suggestion(key, &names)
                .map(|s| format!("did you mean {s:?}? "))
                .unwrap_or_default();
            return Err(format!(
                "unknown argument {key:?} for {tool}; {hint}its arguments are: {}",
                names.join(", ")
            ));
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !args.contains_key(required) {
            return Err(format!(
                "missing argument {required:?} for {tool}; its arguments are: {}",
                names.join(", ")
            ));
        }
    }
    for (key, value) in args.iter_mut() {
        if let Some(p) = props.get(key) {
            *value = conform(key, p, value.take())?;
        }
    }
    Ok(())
}

/// The schema's type names for a property (`anyOf` alternatives included).
fn types(p: &Value) -> Vec<&str> {
    let mut t: Vec<&str> = p.get("type").and_then(Value::as_str).into_iter().collect();
    for alt in p
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        t.extend(alt.get("type").and_then(Value::as_str));
    }
    t
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Where the description says the unit (`... in seconds`), the message repeats it.
fn unit(p: &Value) -> &'static str {
    let d = p
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if d.contains("millisecond") {
        " of milliseconds"
    } else if d.contains("second") {
        " of seconds"
    } else if d.contains("bytes") {
        " of bytes"
    } else {
        ""
    }
}

fn conform(name: &str, p: &Value, v: Value) -> Result<Value, String> {
    let want = types(p);
    if want.is_empty() {
        return Ok(v);
    }
    let fits = |v: &Value| {
        want.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        })
    };
    let v = if fits(&v) { v } else { coerce(&want, v) };
    if !fits(&v) {
        let wanted = match want[0] {
            "integer" => format!("a whole number{}", unit(p)),
            "number" => format!("a number{}", unit(p)),
            "boolean" => "true or false".to_string(),
            "array" => "a list".to_string(),
            "object" => "an object".to_string(),
            _ => "text".to_string(),
        };
        return Err(format!("{name:?} must be {wanted}, got {}", kind(&v)));
    }
    if let Some(min) = p.get("minimum").and_then(Value::as_f64)
        && v.as_f64().is_some_and(|x| x < min)
    {
        return Err(format!(
            "{name:?} must be at least {min}{}, got {}",
            unit(p),
            kind(&v)
        ));
    }
    Ok(match v {
        Value::Array(items) => {
            let item_schema = p.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(
                items
                    .into_iter()
                    .map(|i| conform(name, &item_schema, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        Value::Object(map) => {
            let values = p
                .get("additionalProperties")
                .cloned()
                .unwrap_or(Value::Null);
            let mut out = JsonObject::new();
            for (k, val) in map {
                let val = conform(&format!("{name}.{k}"), &values, val)?;
                out.insert(k, val);
            }
            Value::Object(out)
        }
        other => other,
    })
}

/// A value written another way: `"5"` for 5, `"true"` for true, 5 for `"5"` where text is
/// wanted, one item for a list of one.
fn coerce(want: &[&str], v: Value) -> Value {
    for t in want {
        match (*t, &v) {
            ("integer", Value::String(s)) => {
                if let Ok(i) = s.trim().parse::<i64>() {
                    return Value::Number(i.into());
                }
                if let Ok(u) = s.trim().parse::<u64>() {
                    return Value::Number(u.into());
                }
            }
            ("integer", Value::Number(n)) => {
                // 5.0 is 5.
                if let Some(f) = n.as_f64()
                    && f.fract() == 0.0
                    && f.abs() < 9.0e15
                {
                    return Value::Number((f as i64).into());
                }
            }
            ("number", Value::String(s)) => {
                if let Some(n) = s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(Number::from_f64)
                {
                    return Value::Number(n);
                }
            }
            ("boolean", Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => return Value::Bool(true),
                "false" => return Value::Bool(false),
                _ => {}
            },
            ("string", Value::Number(n)) => return Value::String(n.to_string()),
            ("string", Value::Bool(b)) => return Value::String(b.to_string()),
            ("array", Value::String(_)) => return Value::Array(vec![v]),
            _ => {}
        }
    }
    v
}

/// The valid name `key` was most likely meant to be.
fn suggestion<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let k = key.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (distance(&k, n), *n))
        .filter(|(d, n)| *d <= 2 || k.starts_with(n) || n.starts_with(&k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance (names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> JsonObject {
        let Value::Object(o) = json!({
            "type": "object",
            "properties": {
                "timeout": {"type": "number", "description": "Maximum runtime in seconds."},
                "wait": {"type": "number", "description": "Seconds to wait."},
                "lines": {"type": "integer", "minimum": 0, "description": "Lines."},
                "pty": {"type": "boolean", "description": "A tty."},
                "job_ids": {"type": "array", "items": {"type": "string"}, "description": "Ids."},
                "env": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Vars."},
                "signal": {"anyOf": [{"type": "string"}, {"type": "integer"}],
                           "description": "A signal."}
            }
        }) else {
            unreachable!()
        };
        o
    }

    fn run(args: Value) -> Result<Value, String> {
        let Value::Object(mut a) = args else {
            unreachable!()
        };
        normalise("execute", &schema(), &mut a).map(|()| Value::Object(a))
    }

    #[test]
    fn misspelt_names_are_errors_with_a_suggestion() {
        let e = run(json!({"timout": 2})).unwrap_err();
        assert!(
            e.contains("\"timout\"") && e.contains("did you mean \"timeout\""),
            "{e}"
        );
        let e = run(json!({"timeout_ms": 2})).unwrap_err();
        assert!(e.contains("did you mean \"timeout\""), "{e}");
        let e = run(json!({"zzz": 2})).unwrap_err();
        assert!(
            !e.contains("did you mean") && e.contains("job_ids, lines"),
            "{e}"
        );
    }

    #[test]
    fn values_written_as_text_are_taken_for_what_they_say() {
        let v = run(
            json!({"wait": "5", "lines": "3", "pty": "true", "job_ids": "j1",
                           "env": {"N": 5}, "signal": 9, "timeout": 2.5}),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"wait": 5.0, "lines": 3, "pty": true, "job_ids": ["j1"],
                   "env": {"N": "5"}, "signal": 9, "timeout": 2.5})
        );
        assert_eq!(run(json!({"lines": 4.0})).unwrap(), json!({"lines": 4}));
    }

    #[test]
    fn wrong_values_name_the_argument_in_plain_words() {
        let e = run(json!({"wait": "five"})).unwrap_err();
        assert_eq!(e, "\"wait\" must be a number of seconds, got \"five\"");
        let e = run(json!({"lines": -5})).unwrap_err();
        assert!(e.contains("\"lines\" must be at least 0"), "{e}");
        let e = run(json!({"pty": "yes"})).unwrap_err();
        assert!(e.contains("\"pty\" must be true or false"), "{e}");
    }
}
