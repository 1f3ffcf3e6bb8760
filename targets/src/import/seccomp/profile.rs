//! An OCI / Docker / Podman seccomp profile, read with the JSON path of every part.
//!
//! The Docker format (moby's `profiles/seccomp`, also read by Podman's containers/common)
//! is an OCI `LinuxSeccomp` document plus `archMap` and, per entry, `includes` and
//! `excludes` by Go architecture name (`amd64`, `arm64`, ...), capability and `minKernel`.

use super::super::value::{field, key, At};
use super::super::ImportError;
use crate::seccomp::json::RegionAction;
use policyc_compiler::ast::CmpOp;
use policyc_compiler::ir::{ArgCond, DenyAction};
use serde_json::Value;

/// An action as read: what it means to policyc, or why it cannot be imported (reported
/// only if an entry with it is selected).
pub type Action = Result<RegionAction, ImportError>;

/// The `includes` or `excludes` of an entry.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Go architecture names (`amd64`, `arm64`, `x32`, ...).
    pub arches: Vec<String>,
    /// Capability names as written (`CAP_SYS_ADMIN`).
    pub caps: Vec<String>,
    /// `(major, minor)`.
    pub min_kernel: Option<(u32, u32)>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `syscalls[i]`.
    pub path: String,
    pub names: Vec<String>,
    pub action: Action,
    /// The libseccomp rules runc adds for this entry: one with every condition, or, when
    /// two conditions name one argument, one per condition (runc's own split).
    pub rules: Vec<Vec<ArgCond>>,
    /// True when runc's split applied.
    pub split: bool,
    pub includes: Filter,
    pub excludes: Filter,
}

/// A whole profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub default: Action,
    /// The architectures the profile lists (`architectures`, or every `archMap` entry).
    pub arches: Vec<String>,
    pub entries: Vec<Entry>,
}

/// Read a profile.
pub fn read(doc: &Value) -> Result<Profile, ImportError> {
    let root = At {
        value: doc,
        path: "",
    }
    .object()?;
    let errno = |k: &str| -> Result<Option<u64>, ImportError> {
        field(root, k)
            .map(|v| At { value: v, path: k }.u64())
            .transpose()
    };
    let default_path = "defaultAction";
    let default = match field(root, default_path) {
        Some(v) => {
            let name = At {
                value: v,
                path: default_path,
            }
            .str()?;
            action(name, errno("defaultErrnoRet")?, default_path, true)
        }
        None => return Err(ImportError::invalid(default_path, "missing")),
    };
    let mut arches = match field(root, "architectures") {
        Some(v) => At {
            value: v,
            path: "architectures",
        }
        .strings()?,
        None => Vec::new(),
    };
    if let Some(v) = field(root, "archMap") {
        for (p, m) in (At {
            value: v,
            path: "archMap",
        })
        .items()?
        {
            let o = At { value: m, path: &p }.object()?;
            if let Some(a) = field(o, "architecture") {
                let path = key(&p, "architecture");
                arches.push(
                    At {
                        value: a,
                        path: &path,
                    }
                    .str()?
                    .to_string(),
                );
            }
            if let Some(s) = field(o, "subArchitectures") {
                let path = key(&p, "subArchitectures");
                arches.extend(
                    At {
                        value: s,
                        path: &path,
                    }
                    .strings()?,
                );
            }
        }
    }
    arches.sort();
    arches.dedup();
    let mut entries = Vec::new();
    if let Some(v) = field(root, "syscalls") {
        for (p, e) in (At {
            value: v,
            path: "syscalls",
        })
        .items()?
        {
            entries.push(entry(e, p)?);
        }
    }
    Ok(Profile {
        default,
        arches,
        entries,
    })
}

/// One `syscalls[i]`.
fn entry(v: &Value, path: String) -> Result<Entry, ImportError> {
    let o = At {
        value: v,
        path: &path,
    }
    .object()?;
    let sub = |k: &str| key(&path, k);
    let mut names = match field(o, "names") {
        Some(n) => At {
            value: n,
            path: &sub("names"),
        }
        .strings()?,
        None => Vec::new(),
    };
    if let Some(n) = field(o, "name") {
        if !names.is_empty() {
            return Err(ImportError::invalid(
                sub("name"),
                "both `name` and `names` are given",
            ));
        }
        names.push(
            At {
                value: n,
                path: &sub("name"),
            }
            .str()?
            .to_string(),
        );
    }
    let act = match field(o, "action") {
        Some(a) => At {
            value: a,
            path: &sub("action"),
        }
        .str()?,
        None => return Err(ImportError::invalid(sub("action"), "missing")),
    };
    let errno = field(o, "errnoRet")
        .map(|e| {
            At {
                value: e,
                path: &sub("errnoRet"),
            }
            .u64()
        })
        .transpose()?;
    let action = action(act, errno, &sub("action"), false);
    let mut conds = Vec::new();
    if let Some(a) = field(o, "args") {
        for (p, c) in (At {
            value: a,
            path: &sub("args"),
        })
        .items()?
        {
            conds.push(condition(c, &p)?);
        }
    }
    let mut seen = [0u8; 6];
    for c in &conds {
        if let Some(n) = seen.get_mut(usize::from(c.arg)) {
            *n += 1;
        }
    }
    let split = seen.iter().any(|n| *n > 1);
    let rules = if split {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    };
    Ok(Entry {
        includes: filter(o, &path, "includes")?,
        excludes: filter(o, &path, "excludes")?,
        path,
        names,
        action,
        rules,
        split,
    })
}

/// `includes` or `excludes`.
fn filter(
    o: &serde_json::Map<String, Value>,
    path: &str,
    which: &str,
) -> Result<Filter, ImportError> {
    let Some(v) = field(o, which) else {
        return Ok(Filter::default());
    };
    let p = key(path, which);
    let f = At { value: v, path: &p }.object()?;
    let list = |k: &str| -> Result<Vec<String>, ImportError> {
        match field(f, k) {
            Some(v) => At {
                value: v,
                path: &key(&p, k),
            }
            .strings(),
            None => Ok(Vec::new()),
        }
    };
    let min_kernel = match field(f, "minKernel") {
        Some(v) => {
            let kp = key(&p, "minKernel");
            Some(
                kernel_version(
                    At {
                        value: v,
                        path: &kp,
                    }
                    .str()?,
                )
                .ok_or_else(|| {
                    ImportError::invalid(kp, "expected a kernel version such as `4.8`")
                })?,
            )
        }
        None => None,
    };
    Ok(Filter {
        arches: list("arches")?,
        caps: list("caps")?,
        min_kernel,
    })
}

/// `major.minor` (anything after the minor number is ignored, as moby does).
pub fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// An action name with its errno (runc's `getAction`: `SCMP_ACT_ERRNO` without a number
/// is EPERM).
fn action(name: &str, errno: Option<u64>, path: &str, is_default: bool) -> Action {
    match name {
        "SCMP_ACT_ALLOW" if is_default => Err(ImportError::inexact(
            path,
            "the default action `SCMP_ACT_ALLOW` makes the profile a deny-list; a policy's \
             syscall filter is an allow-list whose default denies",
        )
        .with_hint("list the syscalls the program needs and deny the rest")),
        "SCMP_ACT_ALLOW" => Ok(RegionAction::Allow),
        "SCMP_ACT_ERRNO" => {
            let e = errno.unwrap_or(1);
            match u32::try_from(e) {
                Ok(e) if (1..=4095).contains(&e) => Ok(RegionAction::Deny(DenyAction::Errno(e))),
                _ => Err(ImportError::inexact(
                    path,
                    format!("errno {e} is outside 1 to 4095, the errnos a policy can return"),
                )),
            }
        }
        "SCMP_ACT_KILL_PROCESS" => Ok(RegionAction::Deny(DenyAction::Kill)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Err(ImportError::inexact(
            path,
            format!("`{name}` kills only the calling thread; a policy's `kill` kills the process"),
        )
        .with_hint("change the action to `SCMP_ACT_KILL_PROCESS` if killing the process is meant")),
        "SCMP_ACT_TRAP" | "SCMP_ACT_TRACE" | "SCMP_ACT_LOG" | "SCMP_ACT_NOTIFY" => {
            Err(ImportError::inexact(
                path,
                format!("`{name}` has no counterpart in a policy (allow, errno or kill)"),
            ))
        }
        other => Err(ImportError::invalid(
            path,
            format!("unknown action `{other}`"),
        )),
    }
}

/// One `args[j]`: libseccomp's comparison as a policy condition.
fn condition(v: &Value, path: &str) -> Result<ArgCond, ImportError> {
    let o = At { value: v, path }.object()?;
    let num = |k: &str, required: bool| -> Result<u64, ImportError> {
        match field(o, k) {
            Some(v) => At {
                value: v,
                path: &key(path, k),
            }
            .u64(),
            None if required => Err(ImportError::invalid(key(path, k), "missing")),
            None => Ok(0),
        }
    };
    let index = num("index", true)?;
    let arg = u8::try_from(index)
        .ok()
        .filter(|i| *i <= 5)
        .ok_or_else(|| ImportError::invalid(key(path, "index"), "an argument index is 0 to 5"))?;
    let value = num("value", false)?;
    let two = num("valueTwo", false)?;
    let op_path = key(path, "op");
    let op = match field(o, "op") {
        Some(v) => At {
            value: v,
            path: &op_path,
        }
        .str()?,
        None => return Err(ImportError::invalid(op_path, "missing")),
    };
    let plain = |op| ArgCond {
        arg,
        mask: None,
        op,
        value,
    };
    Ok(match op {
        "SCMP_CMP_EQ" => plain(CmpOp::Eq),
        "SCMP_CMP_NE" => plain(CmpOp::Ne),
        "SCMP_CMP_LT" => plain(CmpOp::Lt),
        "SCMP_CMP_LE" => plain(CmpOp::Le),
        "SCMP_CMP_GT" => plain(CmpOp::Gt),
        "SCMP_CMP_GE" => plain(CmpOp::Ge),
        "SCMP_CMP_MASKED_EQ" => ArgCond {
            arg,
            mask: Some(value),
            op: CmpOp::Eq,
            value: two,
        },
        other => {
            return Err(ImportError::invalid(
                op_path,
                format!("unknown comparison `{other}`"),
            ))
        }
    })
}
