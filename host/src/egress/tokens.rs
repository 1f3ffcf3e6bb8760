//! Capability tokens at the supervisor: the session's signing key, the capabilities it
//! issued, the real secrets (in memory only), and the per-session CA whose certificates the
//! supervisor presents when it terminates TLS for an endpoint `with token T` ([`super::inject`]).
//!
//! The program gets `POLICYC_TOKEN_<NAME>` (the capability, never the secret) and a CA bundle
//! that adds the session CA to the system's; the CA's key never leaves this process.

use policyc_compiler::hosts::HostPattern;
use policyc_targets::egress::Artifact;
use policyc_token::{Grant, Issuer};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_rustls::rustls::{self, pki_types};

/// The system CA bundle the session CA is added to (and bound over, inside the sandbox).
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where a real credential comes from: `file:PATH`, `env:VAR` or `cmd:COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The contents of a file (one trailing newline removed).
    File(PathBuf),
    /// A variable of the supervisor's environment (removed from the program's).
    Env(String),
    /// The standard output of `sh -c COMMAND` (one trailing newline removed), e.g. a
    /// keyring helper.
    Cmd(String),
}

/// Why a `--secret` was not understood or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("--secret `{0}`: expected TOKEN=file:PATH, TOKEN=env:VAR or TOKEN=cmd:COMMAND")]
    Syntax(String),
    #[error("the secret for token `{token}` cannot be read: {why}")]
    Unreadable { token: String, why: String },
    #[error("the secret for token `{0}` is empty")]
    Empty(String),
    #[error(
        "--secret names token `{0}`, which no allow rule of the policy uses (`with token {0}`)"
    )]
    Unbound(String),
}

/// `TOKEN=SOURCE` as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretArg {
    pub token: String,
    pub source: Source,
}

impl std::str::FromStr for SecretArg {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<SecretArg, SecretError> {
        let bad = || SecretError::Syntax(s.to_string());
        let (token, source) = s.split_once('=').ok_or_else(bad)?;
        let (kind, rest) = source.split_once(':').ok_or_else(bad)?;
        if token.is_empty() || rest.is_empty() {
            return Err(bad());
        }
        let source = match kind {
            "file" => Source::File(PathBuf::from(rest)),
            "env" => Source::Env(rest.to_string()),
            "cmd" => Source::Cmd(rest.to_string()),
            _ => return Err(bad()),
        };
        Ok(SecretArg {
            token: token.to_string(),
            source,
        })
    }
}

/// A real credential, in memory only; its `Debug` hides it.
#[derive(Clone)]
pub struct Secret(Arc<zeroize::Zeroizing<String>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

impl Secret {
    /// Read the secret `arg` names.
    pub fn read(arg: &SecretArg) -> Result<Secret, SecretError> {
        let unreadable = |why: String| SecretError::Unreadable {
            token: arg.token.clone(),
            why,
        };
        let mut text = match &arg.source {
            Source::File(p) => std::fs::read_to_string(p)
                .map_err(|e| unreadable(format!("`{}`: {e}", p.display())))?,
            Source::Env(v) => std::env::var(v).map_err(|e| unreadable(format!("${v}: {e}")))?,
            Source::Cmd(c) => run(c).map_err(unreadable)?,
        };
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        if text.is_empty() {
            return Err(SecretError::Empty(arg.token.clone()));
        }
        Ok(Secret(Arc::new(zeroize::Zeroizing::new(text))))
    }

    /// The value, for the one place that injects it.
    pub(crate) fn expose(&self) -> &str {
        self.0.as_str()
    }
}

fn run(command: &str) -> Result<String, String> {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("`{command}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{command}` exited with {}", out.status));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| format!("`{command}` printed bytes that are not UTF-8"))
}

/// What the command line gives the supervisor about tokens.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `sha256:<hex>` of the policy file, stated in every capability.
    pub policy_hash: String,
    /// The real credential of each token, by token name.
    pub secrets: BTreeMap<String, Secret>,
    /// Variables removed from the program's environment (`env:` sources).
    pub hide_env: Vec<String>,
    /// Extra CA certificates (PEM files) the supervisor trusts for upstreams it dials for
    /// token-bound endpoints, beside the system's.
    pub upstream_roots: Vec<PathBuf>,
    /// `--approver CMD`: who is asked before each use of a token with `approval required`
    /// (without it, the controlling terminal when there is one).
    pub approver: Option<String>,
    /// `--approval-timeout`: how long an approval may take (default 60 s).
    pub approval_timeout: Option<Duration>,
}

/// Why token enforcement could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot mint the capability for token `{0}`: {1}")]
    Mint(String, policyc_token::Error),
    #[error("cannot make the session CA: {0}")]
    Ca(String),
    #[error("cannot read the upstream CA file `{0}`: {1}")]
    Roots(PathBuf, String),
}

/// One token the policy binds to an endpoint, with its secret and capability.
#[derive(Debug)]
pub struct Bound {
    pub grant: Grant,
    secret: Secret,
    /// The capability the program gets (`None` when it cannot be issued: `approval
    /// required` with nobody to ask).
    pub capability: Option<String>,
}

/// Everything the supervisor needs to enforce tokens for one session.
pub struct Tokens {
    pub issuer: Issuer,
    pub bound: BTreeMap<String, Bound>,
    hide_env: Vec<String>,
    approvals: Option<super::approval::Approvals>,
    ca: super::inject::Ca,
    /// The CA bundle file, removed by [`Tokens::remove_bundle`] when the session ends
    /// (the supervisor's tasks may hold these tokens until the process exits).
    bundle: std::sync::Mutex<Option<tempfile::NamedTempFile>>,
    bundle_path: PathBuf,
    pub(crate) upstream_tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Issue a capability for every token an allow rule binds and a secret is given for;
    /// `None` when there is none.
    pub fn new(artifact: &Artifact, settings: Settings) -> Result<Option<Tokens>, SetupError> {
        let used: BTreeMap<&str, Vec<&HostPattern>> = artifact
            .rules
            .iter()
            .filter(|r| r.allow)
            .fold(BTreeMap::new(), |mut m, r| {
                if let Some(t) = &r.token {
                    m.entry(t.as_str()).or_default().push(&r.host);
                }
                m
            });
        if let Some(t) = settings
            .secrets
            .keys()
            .find(|t| !used.contains_key(t.as_str()))
        {
            return Err(SecretError::Unbound(t.clone()).into());
        }
        if settings.secrets.is_empty() {
            return Ok(None);
        }
        let issuer = Issuer::generate(&settings.policy_hash);
        let needs_approval = settings
            .secrets
            .keys()
            .any(|n| artifact.tokens.get(n).is_some_and(|g| g.approval));
        let approvals = if needs_approval {
            super::approval::Approvals::new(settings.approver.clone(), settings.approval_timeout)
        } else {
            None
        };
        let mut bound = BTreeMap::new();
        let mut hosts = Vec::new();
        for (name, secret) in settings.secrets {
            let Some(g) = artifact.tokens.get(&name) else {
                return Err(SecretError::Unbound(name).into());
            };
            hosts.extend(
                used.get(name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|h| (*h).clone()),
            );
            let grant = Grant {
                name: name.clone(),
                audience: g.audience.clone(),
                scopes: g.scopes.clone(),
                ttl: Duration::from_millis(g.ttl_ms),
                approval: g.approval,
            };
            // A token that needs approval is issued only when someone can be asked; its
            // capability is single-use, and each use is approved on its own.
            let capability = if grant.approval && approvals.is_none() {
                None
            } else {
                let (text, _) = issuer
                    .mint(&grant, SystemTime::now())
                    .map_err(|e| SetupError::Mint(name.clone(), e))?;
                Some(text)
            };
            bound.insert(
                name,
                Bound {
                    grant,
                    secret,
                    capability,
                },
            );
        }
        let ca = super::inject::Ca::new(&hosts).map_err(SetupError::Ca)?;
        let bundle = bundle(&ca.pem()).map_err(|e| SetupError::Ca(e.to_string()))?;
        let upstream_tls = upstream_tls(&settings.upstream_roots)?;
        Ok(Some(Tokens {
            issuer,
            bound,
            hide_env: settings.hide_env,
            approvals,
            ca,
            bundle_path: bundle.path().to_path_buf(),
            bundle: std::sync::Mutex::new(Some(bundle)),
            upstream_tls,
        }))
    }

    /// The variables the program gets: one `POLICYC_TOKEN_<NAME>` per issued capability and
    /// the CA bundle for the usual TLS stacks.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .bound
            .iter()
            .filter_map(|(n, b)| Some((env_name(n), b.capability.clone()?)))
            .collect();
        let path = self.bundle_in_sandbox().display().to_string();
        for k in [
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
        ] {
            env.push((k.to_string(), path.clone()));
        }
        env
    }

    /// The variables removed from the program's environment: every `env:` source, and any
    /// variable of this process whose value holds a secret.
    pub fn hidden_env(&self) -> Vec<String> {
        let mut v = self.hide_env.clone();
        for (k, val) in std::env::vars_os() {
            let val = val.to_string_lossy();
            if self.bound.values().any(|b| val.contains(b.secret.expose())) {
                v.push(k.to_string_lossy().into_owned());
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// The bundle (the system's CAs and the session CA) on the host.
    pub fn bundle_path(&self) -> &Path {
        &self.bundle_path
    }

    /// Remove the bundle file: the program that was shown it has ended.
    pub(crate) fn remove_bundle(&self) {
        if let Ok(mut file) = self.bundle.lock() {
            drop(file.take());
        }
    }

    /// Where the program sees the bundle: bound over the system bundle when there is one.
    pub fn bundle_in_sandbox(&self) -> PathBuf {
        if Path::new(SYSTEM_BUNDLE).exists() {
            PathBuf::from(SYSTEM_BUNDLE)
        } else {
            self.bundle_path.clone()
        }
    }

    /// The session CA's certificate (PEM).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub(crate) fn ca(&self) -> &super::inject::Ca {
        &self.ca
    }

    /// Who is asked before each use of a token with `approval required`.
    pub fn approvals(&self) -> Option<&super::approval::Approvals> {
        self.approvals.as_ref()
    }

    /// The secret and grant of `token`, when one is bound.
    pub(crate) fn get(&self, token: &str) -> Option<(&Grant, &Secret)> {
        self.bound.get(token).map(|b| (&b.grant, &b.secret))
    }

    /// What is not enforced, one line each.
    pub fn limits(&self) -> Vec<String> {
        self.bound
            .iter()
            .filter(|(_, b)| b.capability.is_none())
            .map(|(n, _)| format!("token `{n}` requires approval and nobody can be asked (no --approver and no terminal): it is not issued, and its endpoints refuse every request"))
            .collect()
    }
}

/// `POLICYC_TOKEN_<NAME>`: the name upper-cased, other characters as `_`.
pub fn env_name(token: &str) -> String {
    let name: String = token
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("POLICYC_TOKEN_{name}")
}

fn bundle(ca_pem: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut f = tempfile::NamedTempFile::new()?;
    if let Ok(system) = std::fs::read(SYSTEM_BUNDLE) {
        f.write_all(&system)?;
        f.write_all(b"\n")?;
    }
    f.write_all(ca_pem.as_bytes())?;
    f.flush()?;
    Ok(f)
}

fn upstream_tls(extra: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>, SetupError> {
    use pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let mut files = vec![PathBuf::from(SYSTEM_BUNDLE)];
    files.extend(extra.iter().cloned());
    for (i, path) in files.iter().enumerate() {
        let certs = match pki_types::CertificateDer::pem_file_iter(path) {
            Ok(it) => it.collect::<Result<Vec<_>, _>>(),
            Err(_) if i == 0 => continue,
            Err(e) => return Err(SetupError::Roots(path.clone(), e.to_string())),
        };
        let certs = certs.map_err(|e| SetupError::Roots(path.clone(), e.to_string()))?;
        for c in certs {
            if roots.add(c).is_err() && i > 0 {
                return Err(SetupError::Roots(
                    path.clone(),
                    "not a CA certificate".into(),
                ));
            }
        }
    }
    let provider = Arc::new(ring_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Single-host helper for the broker: the rule's token, if this session binds it.
pub(crate) fn bound_token<'a>(
    tokens: Option<&'a Tokens>,
    token: Option<&str>,
) -> Option<&'a Tokens> {
    let t = tokens?;
    t.bound.contains_key(token?).then_some(t)
}

/// rustls's ring provider (the workspace builds rustls with ring only).
#[expect(
    deprecated,
    reason = "the workspace builds rustls with ring, which has no post-quantum key exchange"
)]
pub(crate) fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
