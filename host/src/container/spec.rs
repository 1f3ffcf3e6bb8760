//! The launcher's edits to the emitted `config.json`; nothing else of it changes.

use crate::sandbox::Environment;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What `policyc exec` puts into the emitted spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `process.args`: the command and its arguments.
    pub args: Vec<String>,
    /// `process.env`.
    pub env: Environment,
    /// `process.cwd`.
    pub cwd: String,
    /// `root.path`.
    pub root: PathBuf,
    /// Mounts of the image, added after the runtime's own (`/proc`, `/dev`, `/sys`) and
    /// before the policy's.
    pub image_mounts: Vec<Value>,
    /// The network namespace to join (an egress supervisor's) instead of a fresh one.
    pub netns: Option<PathBuf>,
    /// Leave `process.apparmorProfile` out (the host does not enforce AppArmor).
    pub without_apparmor: bool,
}

impl Spec {
    /// Apply the edits to `config`.
    pub fn apply(&self, config: &mut Value) {
        if let Some(p) = config.get_mut("process").and_then(Value::as_object_mut) {
            p.insert("args".into(), json!(self.args));
            p.insert("env".into(), json!(env_list(&self.env)));
            p.insert("cwd".into(), json!(self.cwd));
            if self.without_apparmor {
                p.remove("apparmorProfile");
            }
        }
        if let Some(r) = config.get_mut("root").and_then(Value::as_object_mut) {
            r.insert("path".into(), json!(self.root.display().to_string()));
        }
        if let Some(m) = config.get_mut("mounts").and_then(Value::as_array_mut) {
            let at = m
                .iter()
                .position(|e| !is_runtime(e.get("destination").and_then(Value::as_str)))
                .unwrap_or(m.len());
            for (i, mount) in self.image_mounts.iter().enumerate() {
                m.insert(at.saturating_add(i), mount.clone());
            }
        }
        if let Some(ns) = &self.netns {
            let namespaces = config
                .pointer_mut("/linux/namespaces")
                .and_then(Value::as_array_mut);
            for n in namespaces.into_iter().flatten() {
                if n.get("type").and_then(Value::as_str) == Some("network") {
                    if let Some(o) = n.as_object_mut() {
                        o.insert("path".into(), json!(ns.display().to_string()));
                    }
                }
            }
        }
    }
}

/// The runtime's own file systems, which the spec mounts first.
fn is_runtime(dest: Option<&str>) -> bool {
    let Some(d) = dest else { return false };
    ["/proc", "/dev", "/sys"]
        .iter()
        .any(|r| d == *r || d.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
}

/// `NAME=value` entries (names and values that are not UTF-8 are left out: the spec is
/// JSON).
fn env_list(env: &Environment) -> Vec<String> {
    env.vars()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v.to_str()?)))
        .collect()
}

/// The working directory inside the container for the caller's `cwd`: its guest path when
/// a bind mount of the spec shows it (the longest source wins), else `/`.
pub fn guest_cwd(config: &Value, cwd: &Path) -> String {
    let mounts = config.get("mounts").and_then(Value::as_array);
    mounts
        .into_iter()
        .flatten()
        .filter(|m| m.get("type").and_then(Value::as_str) == Some("bind"))
        .filter_map(|m| {
            let src = Path::new(m.get("source").and_then(Value::as_str)?);
            let dest = m.get("destination").and_then(Value::as_str)?;
            let rest = cwd.strip_prefix(src).ok()?;
            let guest = if rest.as_os_str().is_empty() {
                PathBuf::from(dest)
            } else {
                Path::new(dest).join(rest)
            };
            Some((src.components().count(), guest))
        })
        .max_by_key(|(n, _)| *n)
        .map_or_else(|| "/".to_string(), |(_, p)| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use policyc_compiler::ir;

    fn config() -> Value {
        json!({
            "root": {"path": "rootfs", "readonly": true},
            "process": {"args": ["/bin/sh"], "apparmorProfile": "policyc.p", "cwd": "/"},
            "mounts": [
                {"destination": "/proc", "type": "proc"},
                {"destination": "/dev/pts", "type": "devpts"},
                {"destination": "/mnt/docs", "type": "bind", "source": "/h/Documents"},
            ],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
        })
    }

    #[test]
    fn edits_land_where_the_runtime_expects_them() {
        let mut c = config();
        let spec = Spec {
            args: vec!["python3".into(), "-V".into()],
            env: Environment::for_policy(&ir::Env::default(), Some("/h"), |_| None),
            cwd: "/mnt/docs".into(),
            root: PathBuf::from("/b/rootfs"),
            image_mounts: vec![json!({"destination": "/usr"})],
            netns: Some(PathBuf::from("/proc/1/fd/5")),
            without_apparmor: true,
        };
        spec.apply(&mut c);
        assert_eq!(c.pointer("/process/args/0"), Some(&json!("python3")));
        assert_eq!(
            c.pointer("/process/env"),
            Some(&json!(["HOME=/h", "PATH=/usr/local/bin:/usr/bin:/bin"]))
        );
        assert_eq!(c.pointer("/process/apparmorProfile"), None);
        assert_eq!(c.pointer("/root/path"), Some(&json!("/b/rootfs")));
        assert_eq!(c.pointer("/mounts/2/destination"), Some(&json!("/usr")));
        assert_eq!(
            c.pointer("/mounts/3/destination"),
            Some(&json!("/mnt/docs"))
        );
        assert_eq!(c.pointer("/linux/namespaces/0/path"), None);
        assert_eq!(
            c.pointer("/linux/namespaces/1/path"),
            Some(&json!("/proc/1/fd/5"))
        );
    }

    #[test]
    fn the_working_directory_follows_a_bind_mount() {
        let c = config();
        assert_eq!(
            guest_cwd(&c, Path::new("/h/Documents/taxes")),
            "/mnt/docs/taxes"
        );
        assert_eq!(guest_cwd(&c, Path::new("/h/Documents")), "/mnt/docs");
        assert_eq!(guest_cwd(&c, Path::new("/h/Downloads")), "/");
    }
}
