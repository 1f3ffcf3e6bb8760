//! The fields of the records `policyc exec` writes besides the supervisor's: syscall
//! denials (`audit { denials }`) and the program's writes (`audit { writes }`, OCSF File
//! System Activity).

use super::Denial;
use crate::sandbox::writes::{Kind, Write};
use serde_json::{json, Map, Value};

/// OCSF File System Activity (category 1, System Activity).
const FILE_SYSTEM: (u64, &str) = (1001, "File System Activity");

/// A refused syscall: policyc's own record (no OCSF class describes a filter's verdict).
pub(super) fn denial(d: &Denial, process: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("action".into(), json!("Denied"));
    m.insert("action_id".into(), json!(2));
    m.insert("decision".into(), json!("deny"));
    m.insert("layer".into(), json!(d.layer));
    m.insert("syscall".into(), json!(d.syscall));
    m.insert("nr".into(), json!(d.nr));
    m.insert("pid".into(), json!(d.pid));
    m.insert("args".into(), json!(d.args));
    m.insert("errno".into(), json!(d.errno));
    m.insert("rule".into(), json!(d.rule));
    m.insert("reason".into(), json!(d.reason));
    m.insert("process".into(), process);
    m
}

/// One path's writes of one kind: OCSF File System Activity, `file` the path (for a
/// rename the old one, and `file_result` the new).
pub(super) fn write(w: &Write, process: Value) -> Map<String, Value> {
    let (id, name) = match w.kind {
        Kind::Create => (1, "Create"),
        Kind::Modify => (3, "Update"),
        Kind::Delete => (4, "Delete"),
        Kind::Rename => (5, "Rename"),
    };
    let (class, class_name) = FILE_SYSTEM;
    let kind = if w.folder { "Folder" } else { "Regular File" };
    let file = |p: &std::path::Path| json!({ "path": p.to_string_lossy(), "type": kind });
    let mut m = Map::new();
    m.insert("category_uid".into(), json!(1));
    m.insert("class_uid".into(), json!(class));
    m.insert("class_name".into(), json!(class_name));
    m.insert("activity_id".into(), json!(id));
    m.insert("activity_name".into(), json!(name));
    m.insert(
        "type_uid".into(),
        json!(class.saturating_mul(100).saturating_add(id)),
    );
    m.insert("action".into(), json!("Allowed"));
    m.insert("action_id".into(), json!(1));
    m.insert("decision".into(), json!("allow"));
    m.insert("write".into(), json!(w.kind.as_str()));
    match &w.from {
        Some(from) => {
            m.insert("file".into(), file(from));
            m.insert("file_result".into(), file(&w.path));
        }
        None => {
            m.insert("file".into(), file(&w.path));
        }
    }
    m.insert("count".into(), json!(w.count));
    m.insert("process".into(), process);
    m
}
