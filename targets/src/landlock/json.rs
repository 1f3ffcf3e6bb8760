//! `landlock.json`: the landlockconfig format, written and read back.
//!
//! ```json
//! {
//!   "abi": 6,
//!   "variable": [{ "name": "home", "literal": ["/home/user"] }],
//!   "ruleset": [{ "handledAccessFs": [...], "handledAccessNet": [...], "scoped": [...] }],
//!   "pathBeneath": [{ "allowedAccess": ["read_file", "read_dir"], "parent": ["${home}/Documents"] }],
//!   "netPort": [{ "allowedAccess": ["connect_tcp"], "port": [443] }]
//! }
//! ```
//!
//! Every key is landlockconfig's own, so its library and `llconfig` load the file as is:
//! - `abi` is landlockconfig's ABI field. policyc writes the highest ABI of any right the file
//!   names, and treats it as the minimum the kernel must support (fail closed).
//! - `variable` holds `home` under process isolation: parents below the home directory are
//!   written `${home}/...`, so the file shows which rules depend on the home it was built for.
//! - Parents are landlockconfig templates: a literal `$` is written `$$`.
//! - Rights are always listed by name, never as `abi.*` groups, so the file means the same
//!   whatever ABI a reader assumes.
//!
//! The reader ([`parse`]) accepts exactly this subset and checks it: every right is named
//! by its ABI, allowed rights are handled, parents resolve to absolute canonical paths.

use super::rights::{needed_abi, FsRight, NetRight, ScopeRight, MAX_KNOWN_ABI};
use super::Error;
use policyc_compiler::paths::CanonPath;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The variable `~` is written as.
pub const HOME_VAR: &str = "home";

/// A parsed `landlock.json`: what a launcher applies and what the simulator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// The minimum Landlock ABI the ruleset needs.
    pub abi: u32,
    /// The home directory `${home}` stands for, when the file defines it.
    pub home: Option<CanonPath>,
    pub handled_fs: BTreeSet<FsRight>,
    pub handled_net: BTreeSet<NetRight>,
    pub scoped: BTreeSet<ScopeRight>,
    /// One rule per parent path (templates resolved), sorted by path.
    pub paths: Vec<PathRule>,
    /// One rule per port, sorted by port.
    pub ports: Vec<PortRule>,
}

/// Rights granted on a file hierarchy (or on one file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    /// Absolute, canonical.
    pub path: CanonPath,
    pub allowed: BTreeSet<FsRight>,
}

/// Rights granted on one TCP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub port: u16,
    pub allowed: BTreeSet<NetRight>,
}

/// The file as serde sees it (landlockconfig's key names).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonConfig {
    pub abi: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variable: Vec<JsonVariable>,
    pub ruleset: Vec<JsonRuleset>,
    #[serde(default, rename = "pathBeneath", skip_serializing_if = "Vec::is_empty")]
    pub path_beneath: Vec<JsonPathBeneath>,
    #[serde(default, rename = "netPort", skip_serializing_if = "Vec::is_empty")]
    pub net_port: Vec<JsonNetPort>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonVariable {
    pub name: String,
    pub literal: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonRuleset {
    #[serde(
        default,
        rename = "handledAccessFs",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub handled_fs: BTreeSet<FsRight>,
    #[serde(
        default,
        rename = "handledAccessNet",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub handled_net: BTreeSet<NetRight>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub scoped: BTreeSet<ScopeRight>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonPathBeneath {
    #[serde(rename = "allowedAccess")]
    pub allowed: BTreeSet<FsRight>,
    pub parent: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonNetPort {
    #[serde(rename = "allowedAccess")]
    pub allowed: BTreeSet<NetRight>,
    pub port: Vec<u64>,
}

/// Write a parent path as a landlockconfig template: `$` doubled, and a `~` path written
/// `${home}/...`.
fn template(path: &CanonPath) -> String {
    match path.as_str().strip_prefix('~') {
        Some(rest) => format!("${{{HOME_VAR}}}{}", rest.replace('$', "$$")),
        None => path.as_str().replace('$', "$$"),
    }
}

/// Resolve a landlockconfig template: `$$` is `$`, `${home}` is the home variable, and a `$`
/// before anything else is itself (as landlockconfig reads it).
fn resolve_template(raw: &str, home: Option<&CanonPath>) -> Result<String, Error> {
    let bad = |why: &str| Error::Invalid(format!("parent `{}`: {why}", raw.escape_debug()));
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + 1..).unwrap_or_default();
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(var) = after.strip_prefix('{') {
            let end = var.find('}').ok_or_else(|| bad("unclosed `${`"))?;
            let name = var.get(..end).unwrap_or_default();
            if name != HOME_VAR {
                return Err(bad(&format!("unknown variable `{name}`")));
            }
            let home = home.ok_or_else(|| bad("`${home}` is used but not defined"))?;
            out.push_str(home.as_str());
            rest = var.get(end + 1..).unwrap_or_default();
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A path that must already be absolute and canonical.
fn canonical(raw: &str, what: &str) -> Result<CanonPath, Error> {
    crate::common::canonical(raw).ok_or_else(|| {
        Error::Invalid(format!(
            "{what} `{}` is not an absolute, canonical path",
            raw.escape_debug()
        ))
    })
}

/// Parse and check a `landlock.json`.
pub fn parse(json: &[u8]) -> Result<Ruleset, Error> {
    let cfg: JsonConfig = serde_json::from_slice(json).map_err(|e| Error::Json(e.to_string()))?;
    if cfg.abi == 0 || cfg.abi > MAX_KNOWN_ABI {
        return Err(Error::Invalid(format!(
            "ABI {} is not one policyc knows (1 to {MAX_KNOWN_ABI})",
            cfg.abi
        )));
    }
    let home = parse_home(&cfg.variable)?;
    let mut rs = Ruleset {
        abi: cfg.abi,
        home,
        handled_fs: BTreeSet::new(),
        handled_net: BTreeSet::new(),
        scoped: BTreeSet::new(),
        paths: Vec::new(),
        ports: Vec::new(),
    };
    if cfg.ruleset.is_empty() {
        return Err(Error::Invalid("`ruleset` is empty".to_string()));
    }
    for r in &cfg.ruleset {
        rs.handled_fs.extend(r.handled_fs.iter().copied());
        rs.handled_net.extend(r.handled_net.iter().copied());
        rs.scoped.extend(r.scoped.iter().copied());
    }
    rs.paths = parse_paths(&cfg.path_beneath, &rs)?;
    rs.ports = parse_ports(&cfg.net_port, &rs)?;
    check_abi(&rs)?;
    Ok(rs)
}

fn parse_home(vars: &[JsonVariable]) -> Result<Option<CanonPath>, Error> {
    let mut home = None;
    for v in vars {
        let [value] = v.literal.as_slice() else {
            return Err(Error::Invalid(format!(
                "variable `{}` must have exactly one literal value",
                v.name
            )));
        };
        if v.name != HOME_VAR || home.is_some() {
            return Err(Error::Invalid(format!(
                "variable `{}` is unknown or defined twice (only `{HOME_VAR}` is used)",
                v.name
            )));
        }
        let p = canonical(value, "home")?;
        if p.as_str() == "/" {
            return Err(Error::Invalid("home must not be `/`".to_string()));
        }
        home = Some(p);
    }
    Ok(home)
}

/// Rules merged by where they apply (a path, a port), each checked first: it allows some
/// right somewhere (else the error `empty`), and only rights the ruleset handles.
fn merge<'a, P: 'a, K: Ord, R: Copy + Ord + 'a>(
    rules: impl IntoIterator<Item = (&'a BTreeSet<R>, &'a [P])>,
    handled: &BTreeSet<R>,
    empty: &str,
    name: fn(R) -> &'static str,
    place: impl Fn(&P) -> Result<K, Error>,
) -> Result<BTreeMap<K, BTreeSet<R>>, Error> {
    let mut merged: BTreeMap<K, BTreeSet<R>> = BTreeMap::new();
    for (allowed, places) in rules {
        if allowed.is_empty() || places.is_empty() {
            return Err(Error::Invalid(empty.to_string()));
        }
        if let Some(x) = allowed.iter().find(|a| !handled.contains(a)) {
            return Err(Error::Invalid(format!(
                "`{}` is allowed but not handled",
                name(*x)
            )));
        }
        for p in places {
            merged
                .entry(place(p)?)
                .or_default()
                .extend(allowed.iter().copied());
        }
    }
    Ok(merged)
}

fn parse_paths(rules: &[JsonPathBeneath], rs: &Ruleset) -> Result<Vec<PathRule>, Error> {
    let merged = merge(
        rules.iter().map(|r| (&r.allowed, r.parent.as_slice())),
        &rs.handled_fs,
        "a `pathBeneath` rule has no rights or no parent",
        FsRight::name,
        |raw| canonical(&resolve_template(raw, rs.home.as_ref())?, "parent"),
    )?;
    Ok(merged
        .into_iter()
        .map(|(path, allowed)| PathRule { path, allowed })
        .collect())
}

fn parse_ports(rules: &[JsonNetPort], rs: &Ruleset) -> Result<Vec<PortRule>, Error> {
    let merged = merge(
        rules.iter().map(|r| (&r.allowed, r.port.as_slice())),
        &rs.handled_net,
        "a `netPort` rule has no rights or no port",
        NetRight::name,
        |p| u16::try_from(*p).map_err(|_| Error::Invalid(format!("port {p} is above 65535"))),
    )?;
    Ok(merged
        .into_iter()
        .map(|(port, allowed)| PortRule { port, allowed })
        .collect())
}

/// Every right must exist at the file's ABI, and something must be handled.
fn check_abi(rs: &Ruleset) -> Result<(), Error> {
    let needed = rs.needed_abi();
    if needed == 0 {
        return Err(Error::Invalid("the ruleset handles nothing".to_string()));
    }
    if needed > rs.abi {
        return Err(Error::Invalid(format!(
            "the file says ABI {} but names rights of ABI {needed}",
            rs.abi
        )));
    }
    Ok(())
}

impl Ruleset {
    /// The highest ABI of any right the ruleset handles (0 when it handles nothing).
    pub fn needed_abi(&self) -> u32 {
        needed_abi(&self.handled_fs, FsRight::abi)
            .max(needed_abi(&self.handled_net, NetRight::abi))
            .max(needed_abi(&self.scoped, ScopeRight::abi))
    }

    /// Serialise as `landlock.json` (pretty, with a final newline; deterministic).
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        let mut out =
            serde_json::to_vec_pretty(&self.to_config()).map_err(|e| Error::Json(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }

    fn to_config(&self) -> JsonConfig {
        let variable = self
            .home
            .iter()
            .map(|h| JsonVariable {
                name: HOME_VAR.to_string(),
                literal: vec![h.to_string()],
            })
            .collect();
        JsonConfig {
            abi: self.abi,
            variable,
            ruleset: vec![JsonRuleset {
                handled_fs: self.handled_fs.clone(),
                handled_net: self.handled_net.clone(),
                scoped: self.scoped.clone(),
            }],
            path_beneath: self.grouped_paths(),
            net_port: self.grouped_ports(),
        }
    }

    /// Parents grouped by identical rights, groups in rights order, parents sorted.
    fn grouped_paths(&self) -> Vec<JsonPathBeneath> {
        let mut groups: BTreeMap<&BTreeSet<FsRight>, Vec<String>> = BTreeMap::new();
        for r in &self.paths {
            groups
                .entry(&r.allowed)
                .or_default()
                .push(self.template_for(&r.path));
        }
        groups
            .into_iter()
            .map(|(allowed, mut parent)| {
                parent.sort();
                JsonPathBeneath {
                    allowed: allowed.clone(),
                    parent,
                }
            })
            .collect()
    }

    fn grouped_ports(&self) -> Vec<JsonNetPort> {
        let mut groups: BTreeMap<&BTreeSet<NetRight>, Vec<u64>> = BTreeMap::new();
        for r in &self.ports {
            groups
                .entry(&r.allowed)
                .or_default()
                .push(u64::from(r.port));
        }
        groups
            .into_iter()
            .map(|(allowed, port)| JsonNetPort {
                allowed: allowed.clone(),
                port,
            })
            .collect()
    }

    /// The template for a resolved path: `${home}/...` below the home directory.
    fn template_for(&self, path: &CanonPath) -> String {
        let symbolic = self.home.as_ref().and_then(|h| {
            path.strip_prefix(h).and_then(|rest| {
                let s = if rest.is_empty() {
                    "~".to_string()
                } else {
                    format!("~/{rest}")
                };
                CanonPath::parse(&s).ok()
            })
        });
        template(symbolic.as_ref().unwrap_or(path))
    }
}
