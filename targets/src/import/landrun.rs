//! `policyc import landrun`: a landrun command line (Zouuup/landrun, a Landlock launcher)
//! as `fs` and `net` blocks.
//!
//! landrun grants nothing by default; `--ro`, `--rox`, `--rw` and `--rwx` grant a path and
//! everything beneath it, and Landlock adds the grants of every listed folder above a path
//! to its own. Without network flags it denies every TCP bind and connect. Places in errors
//! are `argv[N]`, counting the flags given to the importer from 0.

use super::fsnet::{path, within, FsNet, Mount};
use super::{ImportError, Imported};
use std::collections::BTreeMap;

/// The rights landrun grants a path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Rights {
    write: bool,
    exec: bool,
}

/// How to read a command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The policy's name.
    pub name: String,
}

/// Flags that take a value.
const VALUED: &[&str] = &[
    "ro",
    "rox",
    "rw",
    "rwx",
    "unix",
    "bind-tcp",
    "connect-tcp",
    "env",
    "log-level",
];

/// Flags without a value.
const SWITCHES: &[&str] = &[
    "best-effort",
    "unrestricted-filesystem",
    "unrestricted-network",
    "unrestricted-scoped",
    "ignore-missing",
    "log-disable-originating",
    "log-enable-subprocesses",
    "log-disable-subdomains",
    "ldd",
    "add-exec",
];

/// One flag with its place and value.
struct Flag {
    name: String,
    value: Option<String>,
    place: String,
}

/// Split the command line into flags and the command.
fn parse(args: &[String]) -> Result<(Vec<Flag>, Vec<String>), ImportError> {
    let mut flags = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let place = format!("argv[{i}] `{arg}`");
        if arg == "--" {
            return Ok((flags, args.iter().skip(i + 1).cloned().collect()));
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Ok((flags, args.iter().skip(i).cloned().collect()));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if VALUED.contains(&name) {
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| ImportError::invalid(&place, "the flag needs a value"))?
                }
            };
            flags.push(Flag {
                name: name.to_string(),
                value: Some(value),
                place,
            });
        } else if SWITCHES.contains(&name) && inline.is_none() {
            flags.push(Flag {
                name: name.to_string(),
                value: None,
                place,
            });
        } else {
            return Err(ImportError::invalid(&place, "not a landrun flag"));
        }
        i += 1;
    }
    Ok((flags, Vec::new()))
}

/// Import a command line (the flags after `landrun`, and optionally the command).
pub fn import(args: &[String], opts: &Options) -> Result<Imported, ImportError> {
    let (flags, command) = parse(args)?;
    let mut grants: BTreeMap<String, (Rights, String)> = BTreeMap::new();
    let mut out = FsNet::default();
    for f in &flags {
        let values: Vec<&str> = f
            .value
            .as_deref()
            .map(|v| v.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        match f.name.as_str() {
            "ro" | "rox" | "rw" | "rwx" => {
                for v in values {
                    // landrun takes paths as given: `~` is the shell's, never landrun's.
                    if !v.starts_with('/') {
                        return Err(ImportError::inexact(
                            &f.place,
                            format!("`{v}` is relative to the directory landrun runs in"),
                        )
                        .with_hint("give absolute paths"));
                    }
                    let p = path(v, None, &f.place)?;
                    let (r, _) = grants
                        .entry(p)
                        .or_insert_with(|| (Rights::default(), f.place.clone()));
                    r.write |= f.name.starts_with("rw");
                    r.exec |= f.name.ends_with('x');
                }
            }
            "add-exec" => {
                let cmd = command.first().ok_or_else(|| {
                    ImportError::invalid(&f.place, "`--add-exec` needs the command after the flags")
                })?;
                if !cmd.starts_with('/') {
                    return Err(ImportError::inexact(
                        &f.place,
                        format!("`{cmd}` is found through PATH when landrun runs"),
                    )
                    .with_hint("give the command's absolute path"));
                }
                grants
                    .entry(path(cmd, None, &f.place)?)
                    .or_insert_with(|| (Rights::default(), f.place.clone()))
                    .0
                    .exec = true;
            }
            "ldd" => {
                return Err(ImportError::inexact(
                    &f.place,
                    "the libraries `--ldd` adds are found when landrun runs",
                )
                .with_hint("list them with `--rox` instead"))
            }
            "unrestricted-filesystem"
            | "unrestricted-network"
            | "bind-tcp"
            | "connect-tcp"
            | "unix" => return Err(unsupported(f)),
            "best-effort" => out.notes.push(
                "landrun's `--best-effort` may run with fewer restrictions on an older kernel; \
                 policyc's Landlock target fails closed instead."
                    .to_string(),
            ),
            "unrestricted-scoped" => out.notes.push(
                "`--unrestricted-scoped` (abstract Unix sockets and signals) has no counterpart \
                 in a policy and is left out."
                    .to_string(),
            ),
            "env" => out.notes.push(format!(
                "`--env {}` is left out: the environment is not access.",
                f.value.as_deref().unwrap_or_default()
            )),
            _ => {}
        }
    }
    mounts(&grants, &mut out)?;
    out.notes.push(
        "landrun denies TCP only (Landlock has no UDP rules); the policy has no egress at all \
         (narrower)."
            .to_string(),
    );
    let header = "Imported from a landrun command line by `policyc import landrun`. Process \
                  isolation: landrun runs the command on the host's paths.";
    out.render(&opts.name, header)
}

/// The error for a flag a policy cannot say.
fn unsupported(f: &Flag) -> ImportError {
    let why = match f.name.as_str() {
        "connect-tcp" => {
            "landrun allows connecting to this port on every host, and a policy \
                          names the hosts it may reach"
        }
        "bind-tcp" => "a policy has no rules for listening on ports",
        "unix" => "a policy has no rules for Unix sockets",
        _ => "a policy cannot grant everything",
    };
    ImportError::inexact(&f.place, why)
}

/// The mounts for the grants: a path's rights are its own and those of every granted folder
/// above it; a policy mount gives exactly one of read, read+exec or read+write.
fn mounts(grants: &BTreeMap<String, (Rights, String)>, out: &mut FsNet) -> Result<(), ImportError> {
    for (p, (own, place)) in grants {
        let mut r = *own;
        for (q, (above, _)) in grants {
            if q != p && within(p, q) {
                r.write |= above.write;
                r.exec |= above.exec;
            }
        }
        let m = match (r.write, r.exec) {
            (false, false) => Mount::Read,
            (false, true) => Mount::Exec,
            (true, false) => Mount::Write,
            (true, true) => {
                return Err(ImportError::inexact(
                    place.clone(),
                    format!(
                        "landrun lets the command write and execute `{p}` (`--rwx`, or \
                         `--rw` and `--rox` on it and a folder above it), and a policy \
                         mount is writable or executable, not both"
                    ),
                ))
            }
        };
        out.mounts.insert(p.clone(), m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Imported, ImportError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        import(
            &args,
            &Options {
                name: "t".to_string(),
            },
        )
    }

    #[test]
    fn readme_example_imports() {
        let t = run(&[
            "--rox",
            "/usr/",
            "--ro",
            "/lib,/lib64,/path/to/dir",
            "ls",
            "/x",
        ])
        .unwrap()
        .text;
        assert!(t.contains("exec \"/usr\""), "{t}");
        assert!(t.contains("read \"/lib64\""), "{t}");
        assert!(t.contains("egress none"), "{t}");
    }

    #[test]
    fn nested_grants_add_up() {
        let t = run(&["--rw", "/home", "--ro=/home/x"]).unwrap().text;
        assert!(t.contains("write \"/home/x\""), "{t}");
        let e = run(&["--rox", "/usr", "--rw", "/usr/local"]).unwrap_err();
        assert_eq!(e.place, "argv[2] `--rw`");
    }

    #[test]
    fn what_a_policy_cannot_say_is_an_error_with_its_place() {
        let e = run(&["--ro", "/etc", "--connect-tcp", "443"]).unwrap_err();
        assert_eq!(e.place, "argv[2] `--connect-tcp`");
        assert!(run(&["--rwx", "/var/log"]).is_err());
        assert!(run(&["--ro", "etc"]).is_err());
        assert!(run(&["--ro", "~/x"]).is_err());
        assert!(run(&["--bogus"]).is_err());
        assert!(run(&["--ro"]).is_err());
        assert!(run(&["--ldd", "/bin/true"]).is_err());
        assert!(run(&["--add-exec", "true"]).is_err());
        let t = run(&["--add-exec", "/usr/bin/true"]).unwrap().text;
        assert!(t.contains("exec \"/usr/bin/true\""), "{t}");
    }
}
