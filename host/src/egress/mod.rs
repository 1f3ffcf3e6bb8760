//! The egress supervisor: the sandbox's only way out.
//!
//! The program runs in a network namespace whose only interface is `lo` ([`netns`]). The
//! supervisor stays outside it and owns every socket inside it the program can reach: a
//! DNS stub at `127.0.0.53:53`, an HTTP proxy (`HTTP_PROXY`, `HTTPS_PROXY`) at
//! `127.0.0.1:3128`, and a listener on each port an allow rule names, where a connection
//! to a name's synthetic address reaches the broker ([`broker`], [`proxy`]). The broker
//! dials only what an allow rule matches, host and port, after checking the TLS server
//! name or HTTP `Host` ([`inspect`]), at an address it resolved and range-checked itself
//! or that `--resolve` pinned ([`upstream`]). Each decision can go to the audit log
//! ([`audit`]).

pub mod approval;
pub mod audit;
pub mod broker;
pub mod inject;
pub mod inspect;
pub mod netns;
pub mod proxy;
pub mod relay;
pub mod rules;
pub mod tokens;
pub mod upstream;

pub mod dns;
pub mod names;

use broker::Shared;
use netns::Namespace;
use policyc_targets::egress::Artifact;
use rules::Rules;
use std::ffi::CString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use upstream::{Pin, Upstream};

/// What the supervisor enforces and where it reports.
#[derive(Debug, Clone)]
pub struct Config {
    /// The policy's `egress.json`, read back with `Artifact::parse`: the supervisor
    /// enforces it and nothing else.
    pub artifact: Artifact,
    /// Where each of the artifact's rules was written (`file:line`), in its order.
    pub locations: Vec<String>,
    /// `--resolve HOST:PORT:ADDR` pins.
    pub pins: Vec<Pin>,
    /// Where audit records go; `None` records nothing. Connections are recorded when the
    /// artifact's audit settings ask for `egress` or `record_egress` is set, lookups when
    /// they ask for `dns`.
    pub audit_log: Option<PathBuf>,
    /// Record every connection even when the policy's audit block does not ask.
    pub record_egress: bool,
    /// `sha256:<hex>` of the policy's source, for every audit record.
    pub policy_hash: String,
    /// Where to write the audit log's last `seq` and hash when the session ends.
    pub audit_anchor: Option<PathBuf>,
    /// The server the resolver forwards names the policy does not list to, under `dns
    /// any` (default: the first nameserver of the host's /etc/resolv.conf).
    pub dns_upstream: Option<SocketAddr>,
    /// Secrets for the tokens rules bind (`with token T`): with one, the supervisor issues
    /// the program a capability and injects the secret for the bound endpoints only.
    pub tokens: tokens::Settings,
}

/// Why the supervisor could not be set up; the program must not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Namespace(#[from] netns::SetupError),
    #[error("cannot write the sandbox's resolv.conf: {0}")]
    ResolvConf(std::io::Error),
    #[error("cannot open the audit log `{path}`: {err}")]
    Audit { path: PathBuf, err: std::io::Error },
    #[error("cannot start the supervisor: {0}")]
    Runtime(std::io::Error),
    #[error(
        "the policy allows `dns any`, but no upstream DNS server is known (give --dns-upstream)"
    )]
    NoDnsUpstream,
    #[error(transparent)]
    Tokens(#[from] tokens::SetupError),
}

/// The namespace and sockets, set up before the program starts.
#[derive(Debug)]
pub struct Supervisor {
    ns: Namespace,
    proxy_port: u16,
    resolv_conf: tempfile::NamedTempFile,
    resolv_path: CString,
    shared: Arc<Shared>,
    resolver: dns::Resolver,
    ca_bundle: Option<CString>,
}

/// What the program's process does between fork and exec to enter the sandbox's network.
#[derive(Debug, Clone)]
pub struct ChildNet {
    netns: std::os::fd::RawFd,
    /// The stub `resolv.conf` to bind over `/etc/resolv.conf`, and the CA bundle (the
    /// system's and the session CA) to bind over the system bundle; `None` when the
    /// sandbox's own file system view holds them already.
    resolv_conf: Option<CString>,
    ca_bundle: Option<CString>,
}

impl ChildNet {
    /// Join the namespace and see the stub in `/etc/resolv.conf` (needs a private mount
    /// namespace already). Allocates nothing.
    pub fn enter(&self) -> std::io::Result<()> {
        netns::enter(self.netns)?;
        if let Some(file) = &self.resolv_conf {
            netns::bind_file(file, c"/etc/resolv.conf")?;
        }
        match &self.ca_bundle {
            Some(bundle) => netns::bind_file(bundle, c"/etc/ssl/certs/ca-certificates.crt"),
            None => Ok(()),
        }
    }

    /// Leave `/etc/resolv.conf` and the CA bundle to a file system view that binds
    /// [`Supervisor::resolv_conf`] and [`Supervisor::ca_bundle`] itself.
    #[must_use]
    pub fn without_files(mut self) -> ChildNet {
        self.resolv_conf = None;
        self.ca_bundle = None;
        self
    }

    /// Join the namespace only, keeping this thread's mounts (a probe that talks to the
    /// stub at its address and never reads resolv.conf).
    pub fn enter_network(&self) -> std::io::Result<()> {
        netns::enter(self.netns)
    }
}

impl Supervisor {
    /// Create the namespace, its sockets, the resolv.conf and the audit log.
    pub fn prepare(config: Config) -> Result<Supervisor, Error> {
        let audit = config.artifact.audit;
        let policy = config.artifact.policy.clone();
        let tokens = tokens::Tokens::new(&config.artifact, config.tokens)?.map(Arc::new);
        let ca_bundle = match &tokens {
            Some(t) if std::path::Path::new(tokens::SYSTEM_BUNDLE).exists() => Some(
                CString::new(t.bundle_path().as_os_str().as_encoded_bytes())
                    .map_err(|e| Error::Runtime(std::io::Error::other(e)))?,
            ),
            _ => None,
        };
        let rules = Rules::new(config.artifact, config.locations);
        let ns = netns::create(&rules.ports())?;
        let proxy_port = ns
            .proxy
            .local_addr()
            .map_err(|err| netns::SetupError {
                what: "open the proxy".into(),
                err,
            })?
            .port();
        let mut resolv_conf = tempfile::NamedTempFile::new().map_err(Error::ResolvConf)?;
        writeln!(resolv_conf, "nameserver {}", netns::DNS.ip()).map_err(Error::ResolvConf)?;
        let resolv_path = CString::new(resolv_conf.path().as_os_str().as_encoded_bytes())
            .map_err(|e| Error::ResolvConf(std::io::Error::other(e)))?;
        let settings = audit::Settings {
            policy,
            policy_hash: config.policy_hash.clone(),
            egress: audit.egress || audit.tokens || config.record_egress,
            denials: audit.denials,
            anchor: config.audit_anchor.clone(),
        };
        let log =
            audit::Log::open(settings, &rules, config.audit_log.as_deref()).map_err(|err| {
                Error::Audit {
                    path: config.audit_log.clone().unwrap_or_default(),
                    err,
                }
            })?;
        let log = Arc::new(log);
        let names = Arc::new(names::Names::new(Arc::new(rules.artifact().clone())));
        let mut resolver = dns::Resolver::new(Arc::clone(&names));
        let upstream = config
            .dns_upstream
            .or_else(|| dns::system_upstream(std::path::Path::new("/etc/resolv.conf")));
        match upstream {
            Some(addr) => resolver = resolver.with_upstream(addr),
            None if rules.artifact().dns.mode == policyc_compiler::ast::DnsMode::Any => {
                return Err(Error::NoDnsUpstream)
            }
            None => {}
        }
        if audit.dns {
            let sink = Arc::clone(&log);
            resolver = resolver.with_audit(Arc::new(move |e: &dns::DnsEvent| sink.write_dns(e)));
        }
        let shared = Arc::new(Shared {
            rules,
            names,
            upstream: Upstream::new(&config.pins),
            log,
            tokens,
        });
        Ok(Supervisor {
            ns,
            proxy_port,
            resolv_conf,
            resolv_path,
            shared,
            resolver,
            ca_bundle,
        })
    }

    /// Open the audit session for the program `policyc exec` started (its process id and
    /// name): the session-start record.
    pub fn started(&self, pid: u32, name: &str) {
        self.shared.log.start(pid, name);
    }

    /// The session's audit log (the one `policyc exec` also writes syscall denials and
    /// the program's writes to).
    pub fn audit_log(&self) -> Arc<audit::Log> {
        Arc::clone(&self.shared.log)
    }

    /// Tell `hook` of every connection the supervisor refuses (see [`audit::Log::on_denial`]).
    pub fn on_denial(&self, hook: audit::DenialHook) {
        self.shared.log.on_denial(hook);
    }

    /// The proxy's URL inside the namespace.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// The variables the program gets (`NO_PROXY` and `no_proxy` are removed, and so is
    /// every variable [`Supervisor::hidden_env`] names): the proxy's, and with tokens one
    /// `POLICYC_TOKEN_<NAME>` capability each and the CA bundle variables.
    pub fn env(&self) -> Vec<(String, String)> {
        let url = self.proxy_url();
        let mut env: Vec<(String, String)> =
            ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
                .into_iter()
                .map(|k| (k.to_string(), url.clone()))
                .collect();
        if let Some(t) = &self.shared.tokens {
            env.extend(t.env());
        }
        env
    }

    /// The variables removed from the program's environment: those a secret was read from
    /// or holds a secret.
    pub fn hidden_env(&self) -> Vec<String> {
        self.shared
            .tokens
            .as_ref()
            .map(|t| t.hidden_env())
            .unwrap_or_default()
    }

    /// The session's capabilities and secrets, when it binds any token.
    pub fn tokens(&self) -> Option<&tokens::Tokens> {
        self.shared.tokens.as_deref()
    }

    /// The TCP ports the program must be able to connect to inside the namespace (for a
    /// Landlock ruleset that restricts connect): the proxy's and the DNS stub's.
    pub fn own_ports(&self) -> [u16; 2] {
        [self.proxy_port, netns::DNS.port()]
    }

    /// The synthetic address the program reaches `host` at, if the policy allows it.
    pub fn address_for(&self, host: &policyc_compiler::hosts::Host) -> Option<std::net::Ipv4Addr> {
        self.shared.names.address_for(host)
    }

    /// The address book the resolver answers from, for a host that answers name lookups
    /// itself (the WASI host's `ip-name-lookup`).
    pub fn names(&self) -> Arc<names::Names> {
        Arc::clone(&self.shared.names)
    }

    /// The ports with a listener inside the namespace.
    pub fn listener_ports(&self) -> Vec<u16> {
        self.ns.endpoints.iter().map(|(p, _)| *p).collect()
    }

    /// What the program's process does to join the namespace.
    pub fn child(&self) -> ChildNet {
        ChildNet {
            netns: netns::raw(&self.ns),
            resolv_conf: Some(self.resolv_path.clone()),
            ca_bundle: self.ca_bundle.clone(),
        }
    }

    /// A path naming the sandbox's network namespace while this supervisor lives, for a
    /// runtime that joins it by path (an OCI spec's `linux.namespaces`).
    pub fn netns_path(&self) -> std::path::PathBuf {
        format!("/proc/{}/fd/{}", std::process::id(), netns::raw(&self.ns)).into()
    }

    /// The stub `resolv.conf` naming the supervisor's resolver, for the sandbox's
    /// `/etc/resolv.conf`.
    pub fn resolv_conf(&self) -> &std::path::Path {
        self.resolv_conf.path()
    }

    /// The CA bundle (the system's CAs and this session's) the sandbox sees at
    /// `/etc/ssl/certs/ca-certificates.crt`, when a token is injected.
    pub fn ca_bundle(&self) -> Option<&std::path::Path> {
        use std::os::unix::ffi::OsStrExt as _;
        self.ca_bundle
            .as_ref()
            .map(|c| std::path::Path::new(std::ffi::OsStr::from_bytes(c.as_bytes())))
    }

    /// What this supervisor does not enforce, one line each (empty when everything is).
    pub fn limits(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .shared
            .rules
            .any_port()
            .into_iter()
            .map(|(at, host)| {
                format!(
                    "{at}: `{host}` on every port is reachable through the proxy only (no listener for it)"
                )
            })
            .collect();
        let artifact = self.shared.rules.artifact();
        let mut unbound: Vec<&str> = artifact
            .rules
            .iter()
            .filter_map(|r| r.token.as_deref())
            .filter(|t| tokens::bound_token(self.shared.tokens.as_deref(), Some(t)).is_none())
            .collect();
        unbound.dedup();
        v.extend(unbound.into_iter().map(|t| {
            format!("token `{t}`: no --secret given, so no capability is issued and its endpoints are spliced without one (give --secret {t}=file:PATH)")
        }));
        if let Some(t) = &self.shared.tokens {
            v.extend(t.limits());
        }
        v
    }

    /// Serve every socket until the returned handle is dropped.
    pub fn serve(&self) -> Result<Running, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("policyc-egress")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        {
            let _guard = rt.enter();
            let proxy = tokio_listener(&self.ns.proxy)?;
            rt.spawn(proxy::listen(Arc::clone(&self.shared), proxy));
            let udp = self.ns.dns_udp.try_clone().map_err(Error::Runtime)?;
            udp.set_nonblocking(true).map_err(Error::Runtime)?;
            let udp = tokio::net::UdpSocket::from_std(udp).map_err(Error::Runtime)?;
            let tcp = tokio_listener(&self.ns.dns_tcp)?;
            let resolver = Arc::new(self.resolver.clone());
            rt.spawn(async move {
                if let Err(e) = resolver.serve(udp, tcp).await {
                    eprintln!("policyc exec: the DNS resolver stopped: {e}");
                }
            });
            for (port, l) in &self.ns.endpoints {
                let l = tokio_listener(l)?;
                rt.spawn(broker::listen(Arc::clone(&self.shared), l, *port));
            }
        }
        let _ = &self.resolv_conf;
        Ok(Running {
            rt: Some(rt),
            log: Arc::clone(&self.shared.log),
        })
    }
}

fn tokio_listener(l: &std::net::TcpListener) -> Result<tokio::net::TcpListener, Error> {
    let l = l.try_clone().map_err(Error::Runtime)?;
    l.set_nonblocking(true).map_err(Error::Runtime)?;
    tokio::net::TcpListener::from_std(l).map_err(Error::Runtime)
}

/// How long the session end waits for connections still being relayed to finish (and be
/// recorded) after the program exits.
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The supervisor at work; dropping it stops it and ends the audit session.
#[derive(Debug)]
pub struct Running {
    rt: Option<tokio::runtime::Runtime>,
    log: Arc<audit::Log>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.log.end(GRACE);
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Supervisor {
    /// End the audit session if it started but never served (the program could not run),
    /// and remove the CA bundle now: the tokens live on in the tasks `Running` left to
    /// stop in the background, which the process may not wait for.
    fn drop(&mut self) {
        self.shared.log.end(std::time::Duration::ZERO);
        if let Some(t) = &self.shared.tokens {
            t.remove_bundle();
        }
    }
}

/// Let a Landlock ruleset that restricts TCP connect reach the supervisor's own sockets
/// (the proxy, the DNS stub over TCP). Inside the namespace every other port belongs to a
/// listener for an allowed port too, so this widens nothing beyond the supervisor.
pub fn admit_own_ports(ruleset: &mut policyc_targets::landlock::Ruleset, s: &Supervisor) {
    use policyc_targets::landlock::{NetRight, PortRule};
    if !ruleset.handled_net.contains(&NetRight::ConnectTcp) {
        return;
    }
    for port in s.own_ports() {
        match ruleset.ports.iter_mut().find(|r| r.port == port) {
            Some(r) => {
                r.allowed.insert(NetRight::ConnectTcp);
            }
            None => ruleset.ports.push(PortRule {
                port,
                allowed: [NetRight::ConnectTcp].into_iter().collect(),
            }),
        }
    }
    ruleset.ports.sort_by_key(|r| r.port);
}
