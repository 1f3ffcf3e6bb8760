//! The WASI layer: a probe module (see `wasi_module`) run under wasmtime-wasi through
//! policyc-host's `wasm` runner, with exactly the emitted `wasi.json`.
//!
//! - A guest path is probed relative to the preopen whose guest path holds it (the longest
//!   prefix): `path_open` for reading (a directory with `O_DIRECTORY`), for appending an
//!   existing file, or creating a new file in a directory or a scratch area (only inside
//!   the fixture or the host's fresh scratch directories). In a scratch area the module first
//!   makes what the request names. When no preopen holds the path, the module checks that it
//!   sees none whose name is the path or a prefix of it: denied.
//! - A `~` path is a host object: it is probed at every guest path a preopen maps it to;
//!   with none, the module checks it sees no preopen at its host path either.
//! - Exec: WASI preview 1 has no call that executes a file: denied.
//! - Connect and resolve under `egress none` (the host grants no network at all): the module
//!   counts its socket descriptors; with none, it cannot connect or resolve anything
//!   (preview 1 has no call that opens a socket or looks a name up): denied. When the
//!   manifest grants egress, the module's way out is the egress proxy the launcher runs,
//!   which this run does not include: not mediated (as the OCI layer says of a network the
//!   launcher wires). Syscalls are not WASI's.

#[cfg(not(feature = "wasm"))]
pub fn run(layer: &super::LiveLayer<'_>) -> super::LiveRun {
    let why = "built without the wasm feature".to_string();
    layer.not_run(super::LayerStatus::Unavailable(why))
}

#[cfg(feature = "wasm")]
pub use with_runtime::run;

#[cfg(feature = "wasm")]
mod with_runtime {
    use super::super::fixture::Fixture;
    use super::super::wasi_module::{Op, Program, NO_PREOPEN};
    use super::super::{any_allowed, LayerStatus, LiveLayer, LiveRun, Seen};
    use crate::wasm::{ExitStatus, Options};
    use policyc_compiler::ast::Access;
    use policyc_compiler::paths::CanonPath;
    use policyc_compiler::Request;
    use policyc_targets::wasi::{Manifest, Source, FILE};

    /// What a request comes to: known at once, or the result of these steps (any one that
    /// succeeds allows it).
    enum Plan {
        Known(Seen),
        Steps(Vec<FinalStep>),
        Sockets(usize),
    }

    /// One concluding step and what it probed.
    #[derive(Debug, Clone)]
    struct FinalStep {
        step: usize,
        guest: String,
        /// What a success means: `opened` or `created a file in`.
        did: &'static str,
    }

    struct Planner<'a> {
        m: &'a Manifest,
        fixture: &'a Fixture,
        named: Vec<CanonPath>,
        program: Program,
        sockets: Option<usize>,
    }

    pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
        if !crate::wasm::RUNTIME {
            return layer.not_run(LayerStatus::Unavailable(
                "policyc was built without wasmtime (the `wasm` feature)".to_string(),
            ));
        }
        let bytes = match layer.artifact(FILE) {
            Ok(b) => b,
            Err(failed) => return failed,
        };
        let m = match crate::wasm::parse(bytes) {
            Ok(m) => m,
            Err(e) => return layer.not_run(LayerStatus::Failed(e.to_string())),
        };
        let mut p = Planner {
            m: &m,
            fixture: layer.fixture,
            named: named(layer.requests),
            program: Program::default(),
            sockets: None,
        };
        let plans: Vec<Plan> = layer.requests.iter().map(|r| p.plan(r)).collect();
        match results(&m, &p.program) {
            Ok(bytes) => {
                let seen = plans.iter().map(|pl| conclude(pl, &bytes)).collect();
                LiveRun::from_seen(layer.name, LayerStatus::Ran, seen, Vec::new())
            }
            Err(why) => layer.not_run(LayerStatus::Failed(layer.fixture.hide(&why))),
        }
    }

    fn named(requests: &[Request]) -> Vec<CanonPath> {
        requests
            .iter()
            .filter_map(|r| match r {
                Request::Fs { path, .. } if !path.is_home() => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// Run the module; one result byte per step.
    fn results(m: &Manifest, program: &Program) -> Result<Vec<u8>, String> {
        if program.len() == 0 {
            return Ok(Vec::new());
        }
        let module = program.module()?;
        let opts = Options::with_args(["policyc-live-probe"]);
        let out = crate::wasm::run(m, &module, &opts).map_err(|e| e.to_string())?;
        if out.status != ExitStatus::Exited(0) || out.stdout.len() != program.len() {
            return Err(format!(
                "the probe module ended with {:?} after {} of {} steps: {}",
                out.status,
                out.stdout.len(),
                program.len(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(out.stdout)
    }

    impl Planner<'_> {
        fn plan(&mut self, r: &Request) -> Plan {
            match r {
                Request::Fs {
                    access: Access::Exec,
                    ..
                } => Plan::Known(Seen::deny(
                    "WASI preview 1 has no call that executes a file",
                )),
                Request::Fs { access, path } if path.is_home() => self.home(*access, path),
                Request::Fs { access, path } => self.guest(*access, path),
                Request::Connect { .. } | Request::Resolve { .. } if self.m.network.egress => {
                    Plan::Known(Seen::not_mediated(
                        "the manifest grants egress: the module has no socket of its own, and its way out is the egress proxy the launcher runs, which this run does not include",
                    ))
                }
                Request::Connect { .. } | Request::Resolve { .. } => {
                    let program = &mut self.program;
                    let step = *self
                        .sockets
                        .get_or_insert_with(|| program.push(Op::Sockets, "", ""));
                    Plan::Sockets(step)
                }
                Request::Meta { .. } => Plan::Known(Seen::unverifiable(
                    "this engine runs no metadata probes (set times) in the module",
                )),
                Request::Syscall { .. } => Plan::Known(Seen::not_mediated(
                    "a WASI module makes no syscalls of its own",
                )),
            }
        }

        /// A guest path: through the preopen that holds it, or checked to be held by none.
        fn guest(&mut self, access: Access, path: &CanonPath) -> Plan {
            let Some(pre) = self.m.resolve(path) else {
                let step = self.program.push(Op::Held, path.as_str(), "");
                return Plan::Steps(vec![FinalStep {
                    step,
                    guest: path.to_string(),
                    did: "opened",
                }]);
            };
            let name = pre.guest.as_str().to_string();
            let rest = path
                .strip_prefix(&pre.guest)
                .unwrap_or_default()
                .to_string();
            let fresh = !matches!(pre.source, Source::Host(_));
            let dir = if fresh {
                pre.guest == *path || self.named.iter().any(|n| n != path && n.starts_with(path))
            } else {
                match self.host_object(&pre.source, &rest) {
                    Ok(dir) => dir,
                    Err(why) => return Plan::Known(Seen::unverifiable(why)),
                }
            };
            if !fresh && access == Access::Write && dir && !self.in_fixture(&pre.source) {
                return Plan::Known(Seen::unverifiable(format!(
                    "`{path}` is a host directory outside the fixture: a write probe would create a file in it"
                )));
            }
            let step = self.steps(access, &name, &rest, dir, fresh);
            let did = if access == Access::Write && dir {
                "created a file in"
            } else {
                "opened"
            };
            Plan::Steps(vec![FinalStep {
                step,
                guest: path.to_string(),
                did,
            }])
        }

        /// Whether the host object under a host preopen is a directory, or why it cannot be
        /// probed.
        fn host_object(&self, source: &Source, rest: &str) -> Result<bool, String> {
            let Source::Host(h) = source else {
                return Ok(true);
            };
            let host = std::path::PathBuf::from(h.join(rest).as_str());
            match self.fixture.object(&host) {
                Some(o) => Ok(o.dir),
                None => std::fs::metadata(&host).map(|m| m.is_dir()).map_err(|_| {
                    format!(
                        "`{}` does not exist; probes create files only in the fixture",
                        self.fixture.hide(&host.to_string_lossy())
                    )
                }),
            }
        }

        fn in_fixture(&self, source: &Source) -> bool {
            matches!(source, Source::Host(h) if self.fixture.contains(std::path::Path::new(h.as_str())))
        }

        /// The steps for one access; returns the concluding step.
        fn steps(
            &mut self,
            access: Access,
            name: &str,
            rest: &str,
            dir: bool,
            fresh: bool,
        ) -> usize {
            let rel = if rest.is_empty() { "." } else { rest };
            if fresh && !dir {
                self.mkdirs(name, rest);
            }
            match (access, dir) {
                (Access::Read, true) => self.program.push(Op::ReadDir, name, rel),
                (Access::Read, false) => {
                    if fresh {
                        self.program.push(Op::Create, name, rel);
                    }
                    self.program.push(Op::Read, name, rel)
                }
                (_, true) => {
                    let probe = format!("{rel}/.policyc-probe-{}", self.program.len());
                    self.program.push(Op::AppendNew, name, &probe)
                }
                (_, false) if fresh => self.program.push(Op::AppendNew, name, rel),
                (_, false) => self.program.push(Op::Append, name, rel),
            }
        }

        /// Make the parents of `rest` in a fresh preopen.
        fn mkdirs(&mut self, name: &str, rest: &str) {
            let parts: Vec<&str> = rest.split('/').collect();
            for i in 1..parts.len() {
                let dir = parts.get(..i).unwrap_or_default().join("/");
                self.program.push(Op::Mkdir, name, &dir);
            }
        }

        /// A host object: at every guest path a preopen maps it to; with none, at its host
        /// path (where the module must see no preopen).
        fn home(&mut self, access: Access, path: &CanonPath) -> Plan {
            let Some(host) = self.fixture.host(path) else {
                return Plan::Known(Seen::unverifiable("not a home path"));
            };
            let host_str = host.to_string_lossy().into_owned();
            let guests: Vec<CanonPath> = self
                .m
                .preopens
                .iter()
                .filter_map(|p| match &p.source {
                    Source::Host(h) => {
                        let object = CanonPath::parse(&host_str).ok()?;
                        Some(p.guest.join(object.strip_prefix(h)?))
                    }
                    _ => None,
                })
                .collect();
            if guests.is_empty() {
                let step = self.program.push(Op::Held, &host_str, "");
                return Plan::Steps(vec![FinalStep {
                    step,
                    guest: self.fixture.hide(&host_str),
                    did: "opened",
                }]);
            }
            let mut probes = Vec::new();
            for g in guests {
                match self.guest(access, &g) {
                    Plan::Steps(ps) => probes.extend(ps),
                    other => return other,
                }
            }
            Plan::Steps(probes)
        }
    }

    /// A WASI errno's meaning for a probe.
    fn step_seen(p: &FinalStep, e: u8) -> Seen {
        let g = &p.guest;
        match e {
            0 => Seen::allow(format!("{} `{g}`", p.did)),
            NO_PREOPEN => Seen::deny(format!("no preopen holds `{g}`")),
            // ACCES, PERM, ROFS, NOTCAPABLE
            2 | 63 | 69 | 76 => Seen::deny(format!("`{g}`: WASI errno {}", wasi_errno(e))),
            _ => Seen::unverifiable(format!(
                "`{g}`: WASI errno {}: neither allowed nor refused",
                wasi_errno(e)
            )),
        }
    }

    fn wasi_errno(e: u8) -> String {
        let name = match e {
            2 => "ACCES",
            8 => "BADF",
            20 => "EXIST",
            28 => "INVAL",
            31 => "ISDIR",
            44 => "NOENT",
            54 => "NOTDIR",
            63 => "PERM",
            69 => "ROFS",
            76 => "NOTCAPABLE",
            _ => return e.to_string(),
        };
        format!("{e} ({name})")
    }

    fn conclude(plan: &Plan, bytes: &[u8]) -> Seen {
        let byte = |i: usize| bytes.get(i).copied();
        match plan {
            Plan::Known(s) => s.clone(),
            Plan::Sockets(step) => match byte(*step) {
                Some(0) => Seen::deny("the module holds no socket, and WASI preview 1 has no call that opens one, connects it or looks a name up"),
                Some(n) => Seen::unverifiable(format!("the module holds {n} socket descriptors")),
                None => Seen::unverifiable("no result"),
            },
            Plan::Steps(probes) => {
                let seen: Vec<Seen> = probes
                    .iter()
                    .map(|p| byte(p.step).map_or_else(|| Seen::unverifiable("no result"), |e| step_seen(p, e)))
                    .collect();
                any_allowed(&seen)
            }
        }
    }
}
