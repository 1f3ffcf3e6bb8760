//! `policyc import sandbox-runtime`: the settings file of anthropic-experimental's
//! sandbox-runtime (`srt`, `~/.srt-settings.json`) as `fs` and `net` blocks.
//!
//! Read as srt enforces it on Linux: the whole file system read-only (`--ro-bind / /`),
//! `allowWrite` paths writable, `denyWrite` paths and srt's own list of dangerous files in
//! the working directory read-only again, `denyRead` paths hidden (a tmpfs or `/dev/null`
//! over them, so neither readable nor writable); no network except through srt's proxies,
//! which let a connection through when no `deniedDomains` pattern and some
//! `allowedDomains` pattern matches its host, on any port.

use super::fsnet::{path, within, FsNet, Mount};
use super::value::{self, field, At};
use super::{ImportError, Imported};
use serde_json::{Map, Value};

/// Files srt keeps read-only in the working directory (its `DANGEROUS_FILES`).
const DANGEROUS_FILES: &[&str] = &[
    ".gitconfig",
    ".gitmodules",
    ".bashrc",
    ".bash_profile",
    ".zshrc",
    ".zprofile",
    ".profile",
    ".ripgreprc",
    ".mcp.json",
];

/// Folders srt keeps read-only in the working directory.
const DANGEROUS_DIRS: &[&str] = &[
    ".vscode",
    ".idea",
    ".claude/commands",
    ".claude/agents",
    ".git/hooks",
];

/// How to read a settings file.
#[derive(Debug, Clone)]
pub struct Options {
    /// The policy's name.
    pub name: String,
    /// The file the settings came from, for the header comment.
    pub source: String,
    /// The directory srt runs in: relative paths and the dangerous files are beneath it.
    pub cwd: Option<String>,
    /// Import although srt's dangerous files deeper in the working directory (found when
    /// it starts) cannot be named; the output says so.
    pub best_effort: bool,
}

/// Import a settings file's JSON text.
pub fn import(json: &str, opts: &Options) -> Result<Imported, ImportError> {
    let doc = value::parse(json)?;
    let root = At {
        value: &doc,
        path: "(document)",
    }
    .object()?;
    known(
        root,
        "",
        &[
            "network",
            "filesystem",
            "ignoreViolations",
            "enableWeakerNestedSandbox",
            "ripgrep",
            "mandatoryDenySearchDepth",
            "allowPty",
        ],
    )?;
    let cwd = match &opts.cwd {
        Some(c) => Some(path(c, None, "--cwd")?),
        None => None,
    };
    let mut out = FsNet::default();
    filesystem(root, cwd.as_deref(), opts.best_effort, &mut out)?;
    network(root, &mut out)?;
    others(root, &mut out)?;
    let header = format!(
        "Imported from {} (anthropic-experimental/sandbox-runtime settings) by `policyc import \
         sandbox-runtime`{}. Process isolation: srt runs the command on the host's paths.",
        opts.source,
        cwd.as_ref()
            .map(|c| format!(" with the working directory {c}"))
            .unwrap_or_default()
    );
    out.render(&opts.name, &header)
}

/// Fail on a key the format does not have (it might grant something).
fn known(obj: &Map<String, Value>, at: &str, keys: &[&str]) -> Result<(), ImportError> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(ImportError::invalid(
            value::key(at, k),
            format!("`{k}` is not a sandbox-runtime setting"),
        )
        .with_hint(format!("known here: {}", keys.join(", ")))),
        None => Ok(()),
    }
}

/// A required object member.
fn object<'a>(obj: &'a Map<String, Value>, k: &str) -> Result<&'a Map<String, Value>, ImportError> {
    let v = field(obj, k).ok_or_else(|| ImportError::invalid(k, "missing"))?;
    At { value: v, path: k }.object()
}

/// The paths of a string list, normalised, with their places.
fn paths(
    obj: &Map<String, Value>,
    at: &str,
    k: &str,
    cwd: Option<&str>,
) -> Result<Vec<(String, String)>, ImportError> {
    let place = value::key(at, k);
    let Some(v) = obj.get(k) else {
        return Ok(Vec::new());
    };
    At {
        value: v,
        path: &place,
    }
    .items()?
    .into_iter()
    .map(|(p, v)| {
        let raw = At { value: v, path: &p }.str()?;
        Ok((path(raw, cwd, &p)?, p))
    })
    .collect()
}

/// A boolean member, `false` when absent.
fn flag(obj: &Map<String, Value>, at: &str, k: &str) -> Result<bool, ImportError> {
    match field(obj, k) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ImportError::invalid(
            value::key(at, k),
            "expected true or false",
        )),
    }
}

/// `filesystem`: the mounts and denies.
fn filesystem(
    root: &Map<String, Value>,
    cwd: Option<&str>,
    best_effort: bool,
    out: &mut FsNet,
) -> Result<(), ImportError> {
    let fs = object(root, "filesystem")?;
    let at = "filesystem";
    known(
        fs,
        at,
        &[
            "denyRead",
            "allowRead",
            "allowWrite",
            "denyWrite",
            "allowGitConfig",
        ],
    )?;
    out.mounts.insert("/".to_string(), Mount::Exec);
    let deny_read = paths(fs, at, "denyRead", cwd)?;
    for (p, _) in &deny_read {
        out.deny_all.insert(p.clone());
    }
    out.deny_all.insert("/etc/ssh/ssh_config.d".to_string());
    for (p, place) in paths(fs, at, "allowRead", cwd)? {
        if deny_read
            .iter()
            .any(|(d, _)| within(&p, d) || within(d, &p))
        {
            return Err(ImportError::inexact(
                place,
                format!("`{p}` re-allows reading beneath a `denyRead` path"),
            )
            .with_hint("in a policy a deny always wins; narrow `denyRead` instead"));
        }
    }
    let allow_write = paths(fs, at, "allowWrite", cwd)?;
    for (p, _) in &allow_write {
        if within(p, "/dev") {
            out.notes.push(format!(
                "`{p}` is not mounted writable: srt gives the command its own /dev."
            ));
        } else {
            out.mounts.insert(p.clone(), Mount::Write);
        }
    }
    for (p, _) in paths(fs, at, "denyWrite", cwd)? {
        // srt skips a deny outside every writable path: it is read-only already.
        if allow_write.iter().any(|(w, _)| within(&p, w)) {
            out.deny_write.insert(p);
        }
    }
    if allow_write.is_empty() {
        return Ok(());
    }
    let Some(cwd) = cwd else {
        return Err(ImportError::inexact(
            "filesystem.allowWrite",
            "srt keeps dangerous files in its working directory read-only, and the input \
             does not say which directory that is",
        )
        .with_hint("give the directory srt runs in with `--cwd DIR`"));
    };
    let git_config = flag(fs, at, "allowGitConfig")?;
    let dangerous = DANGEROUS_FILES
        .iter()
        .chain(DANGEROUS_DIRS)
        .chain((!git_config).then_some(&".git/config"))
        .map(|f| format!("{cwd}/{f}"));
    for d in dangerous {
        if allow_write.iter().any(|(w, _)| within(&d, w)) {
            out.deny_write.insert(d);
        }
    }
    let depth = root
        .get("mandatoryDenySearchDepth")
        .and_then(Value::as_u64)
        .unwrap_or(3);
    if let Some((_, place)) = allow_write
        .iter()
        .find(|(w, _)| within(w, cwd) || within(cwd, w))
    {
        if !best_effort {
            return Err(ImportError::inexact(
                place.clone(),
                format!(
                    "srt also keeps dangerous files (`.bashrc`, `.git/hooks`, ...) read-only \
                     that it finds up to {depth} folders beneath {cwd} when it starts, and a \
                     policy cannot name them ahead of time"
                ),
            )
            .with_hint(
                "pass `--best-effort` to import with only those directly in the working \
                 directory denied (the output says so)",
            ));
        }
        out.notes.push(format!(
            "Not enforced (--best-effort): srt also keeps read-only the dangerous files it \
             finds up to {depth} folders beneath {cwd} when it starts (.bashrc, .git/hooks, \
             ...); only those directly in {cwd} are denied here."
        ));
    }
    out.notes.push(
        "srt lets the command execute in the folders it may write; here they are writable \
         and not executable (narrower)."
            .to_string(),
    );
    Ok(())
}

/// A domain pattern as srt accepts it.
fn domain(raw: &str, place: &str) -> Result<String, ImportError> {
    let bad = raw.contains("://") || raw.contains(['/', ':', '"', '\\']);
    let wild_ok = raw
        .strip_prefix("*.")
        .is_some_and(|d| d.contains('.') && !d.contains('*'));
    if bad || raw.contains('*') && !wild_ok || raw.is_empty() {
        return Err(ImportError::invalid(
            place,
            format!("`{raw}` is not a domain or a `*.domain` pattern"),
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

/// The domains of a list.
fn domains(net: &Map<String, Value>, k: &str) -> Result<Vec<String>, ImportError> {
    let place = value::key("network", k);
    let v = field(net, k).ok_or_else(|| ImportError::invalid(&place, "missing"))?;
    At {
        value: v,
        path: &place,
    }
    .items()?
    .into_iter()
    .map(|(p, v)| domain(At { value: v, path: &p }.str()?, &p))
    .collect()
}

/// `network`: proxy egress by host.
fn network(root: &Map<String, Value>, out: &mut FsNet) -> Result<(), ImportError> {
    let net = object(root, "network")?;
    let at = "network";
    known(
        net,
        at,
        &[
            "allowedDomains",
            "deniedDomains",
            "allowUnixSockets",
            "allowAllUnixSockets",
            "allowLocalBinding",
            "httpProxyPort",
            "socksProxyPort",
        ],
    )?;
    for k in ["httpProxyPort", "socksProxyPort"] {
        if field(net, k).is_some() {
            return Err(ImportError::inexact(
                value::key(at, k),
                "an external proxy decides which hosts are reached, and the settings do not \
                 say which",
            ));
        }
    }
    for k in ["allowAllUnixSockets", "allowLocalBinding"] {
        if flag(net, at, k)? {
            return Err(ImportError::inexact(
                value::key(at, k),
                "a policy cannot grant this: it has no rules for Unix sockets or listening",
            ));
        }
    }
    out.allow_hosts = domains(net, "allowedDomains")?.into_iter().collect();
    let denied = domains(net, "deniedDomains")?;
    if out.allow_hosts.is_empty() {
        if !denied.is_empty() {
            out.notes
                .push("`deniedDomains` has no effect: no domain is allowed.".to_string());
        }
    } else {
        out.deny_hosts = denied.into_iter().collect();
    }
    if field(net, "allowUnixSockets").is_some() {
        out.notes.push(
            "`network.allowUnixSockets` is left out: srt applies it on macOS only.".to_string(),
        );
    }
    out.notes.push(
        "Not imported: srt also stops the command creating Unix sockets (with seccomp); \
         give the policy a `syscalls` block to keep that."
            .to_string(),
    );
    Ok(())
}

/// The settings that grant nothing.
fn others(root: &Map<String, Value>, out: &mut FsNet) -> Result<(), ImportError> {
    if flag(root, "", "enableWeakerNestedSandbox")? {
        out.notes.push(
            "`enableWeakerNestedSandbox` weakens srt's own sandbox; the policy keeps the \
             stronger one."
                .to_string(),
        );
    }
    for k in ["ignoreViolations", "ripgrep", "allowPty"] {
        if field(root, k).is_some() {
            out.notes.push(format!(
                "`{k}` is left out: it changes reporting, tools or macOS only, not access."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cwd: Option<&str>, best_effort: bool) -> Options {
        Options {
            name: "srt".to_string(),
            source: "srt-settings.json".to_string(),
            cwd: cwd.map(str::to_string),
            best_effort,
        }
    }

    /// The README's MCP example (`~/.srt-settings.json`).
    const MCP: &str = r#"{
      "filesystem": {"denyRead": [], "allowWrite": ["."], "denyWrite": ["~/sensitive-folder"]},
      "network": {"allowedDomains": [], "deniedDomains": []}
    }"#;

    #[test]
    fn readme_mcp_example() {
        let e = import(MCP, &opts(Some("/srv/mcp"), false)).unwrap_err();
        assert_eq!(e.place, "filesystem.allowWrite[0]");
        let t = import(MCP, &opts(Some("/srv/mcp"), true)).unwrap().text;
        assert!(t.contains("write \"/srv/mcp\""), "{t}");
        assert!(t.contains("deny write \"/srv/mcp/.git/config\""), "{t}");
        assert!(t.contains("egress none"), "{t}");
        // Outside every writable path: read-only already, as srt skips it.
        assert!(!t.contains("sensitive-folder"), "{t}");
    }

    #[test]
    fn allow_git_config_keeps_git_config_writable() {
        let s = MCP.replace(
            "\"denyRead\": []",
            "\"denyRead\": [], \"allowGitConfig\": true",
        );
        let t = import(&s, &opts(Some("/srv/mcp"), true)).unwrap().text;
        assert!(!t.contains(".git/config"), "{t}");
        assert!(t.contains("deny write \"/srv/mcp/.git/hooks\""), "{t}");
    }

    #[test]
    fn what_a_policy_cannot_say_names_the_json_path() {
        let cases = [
            (
                "\"allowedDomains\": []",
                "\"allowedDomains\": [\"*\"]",
                "network.allowedDomains[0]",
            ),
            (
                "\"deniedDomains\": []",
                "\"deniedDomains\": [], \"httpProxyPort\": 8080",
                "network.httpProxyPort",
            ),
            (
                "\"deniedDomains\": []",
                "\"deniedDomains\": [], \"allowLocalBinding\": true",
                "network.allowLocalBinding",
            ),
            (
                "\"denyRead\": []",
                "\"denyRead\": [\"~/.ssh\"], \"allowRead\": [\"~/.ssh/known_hosts\"]",
                "filesystem.allowRead[0]",
            ),
            (
                "\"denyRead\": []",
                "\"denyRead\": [], \"readEverything\": true",
                "filesystem.readEverything",
            ),
        ];
        for (from, to, place) in cases {
            let s = MCP.replace(from, to);
            let e = import(&s, &opts(Some("/p"), true)).unwrap_err();
            assert_eq!(e.place, place, "{s}: {e:?}");
        }
        assert_eq!(
            import("[]", &opts(None, false)).unwrap_err().place,
            "(document)"
        );
        assert!(import("{", &opts(None, false)).is_err());
    }

    #[test]
    fn denied_domains_only_matter_next_to_allowed_ones() {
        let s = MCP
            .replace(
                "\"allowedDomains\": []",
                "\"allowedDomains\": [\"*.example.com\"]",
            )
            .replace(
                "\"deniedDomains\": []",
                "\"deniedDomains\": [\"Bad.Example.com\"]",
            );
        let t = import(&s, &opts(Some("/p"), true)).unwrap().text;
        assert!(t.contains("allow \"*.example.com\":*"), "{t}");
        assert!(t.contains("deny \"bad.example.com\""), "{t}");
    }
}
