//! Origins of the entries of a JSON artifact (seccomp, OCI, Landlock, WASI, egress), by
//! JSON pointer, with their lines when the artifact is laid out as policyc pretty-prints it.

use super::{dedup_spans, Keys, Origin};
use policyc_compiler::Span;
use serde_json::Value;
use std::collections::BTreeMap;

/// The origins of a JSON artifact, in document order; none when it does not parse.
pub(super) fn origins(keys: &Keys, text: &str) -> Vec<Origin> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut found: Vec<(String, Vec<Span>)> = Vec::new();
    walk(keys, &value, "", None, None, &mut found);
    let lines = line_ranges(&value, text);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (pointer, mut spans) in found {
        dedup_spans(&mut spans);
        for span in spans {
            let k = (pointer.clone(), span.key());
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            out.push(Origin {
                lines: lines.as_ref().and_then(|l| l.get(&pointer).copied()),
                pointer: Some(pointer.clone()),
                instructions: None,
                span,
            });
        }
    }
    out
}

/// One step of a JSON pointer, escaped (RFC 6901).
fn step(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// Record, for every string value and object key that names a rule, the pointer of its
/// entry: `entry` is the innermost object that is an array element, if any.
fn walk(
    keys: &Keys,
    value: &Value,
    pointer: &str,
    entry: Option<&str>,
    port: Option<u16>,
    found: &mut Vec<(String, Vec<Span>)>,
) {
    match value {
        Value::String(s) => {
            let spans = keys.value(s, port);
            if !spans.is_empty() {
                found.push((entry.unwrap_or(pointer).to_string(), spans));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = step(pointer, &i.to_string());
                let inner = if item.is_object() {
                    Some(p.as_str())
                } else {
                    entry
                };
                walk(keys, item, &p, inner, port, found);
            }
        }
        Value::Object(map) => {
            let port = map
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .or(port);
            for (k, v) in map {
                let p = step(pointer, k);
                let spans = keys.key(k);
                if spans.is_empty() {
                    walk(keys, v, &p, entry, port, found);
                } else {
                    // A token's fields (its audience names a host) belong to the token.
                    found.push((p, spans));
                }
            }
        }
        _ => {}
    }
}

/// The 1-based first and last line of every value, by pointer, when `text` is exactly
/// `value` pretty-printed (with or without a final newline); `None` otherwise.
fn line_ranges(value: &Value, text: &str) -> Option<BTreeMap<String, (usize, usize)>> {
    let pretty = serde_json::to_string_pretty(value).ok()?;
    if text.strip_suffix('\n').unwrap_or(text) != pretty {
        return None;
    }
    let mut out = BTreeMap::new();
    lay_out(value, "", 1, &mut out);
    Some(out)
}

/// Record the lines of `value`, which starts on `line`; return how many lines it takes.
fn lay_out(
    value: &Value,
    pointer: &str,
    line: usize,
    out: &mut BTreeMap<String, (usize, usize)>,
) -> usize {
    let children: Vec<(String, &Value)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (step(pointer, &i.to_string()), v))
            .collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (step(pointer, k), v)).collect(),
        _ => Vec::new(),
    };
    let taken = if children.is_empty() {
        1
    } else {
        let mut next = line + 1;
        for (p, v) in children {
            next += lay_out(v, &p, next, out);
        }
        next + 1 - line
    };
    out.insert(pointer.to_string(), (line, line + taken - 1));
    taken
}
