//! `policyc token mint|inspect|verify|attenuate`: the capabilities `policyc exec` issues, for
//! people and scripts. A key file holds an ed25519 private key (`ed25519-private/<hex>`,
//! mode 0600); its contents are never printed.

use crate::output::{ErrorFormat, Status};
use policyc_compiler::diag::Code;
use policyc_token::{Claims, Grant, Issuer, Narrowing, Refusal, Request};
use sha2::{Digest as _, Sha256};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Mint, inspect, verify or narrow capability tokens.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Mint a capability for a policy's token (or one described by flags) with a key file.
    Mint(Mint),
    /// Show a capability's blocks; with --key, check its signatures and show its claims.
    Inspect(Inspect),
    /// Verify a capability for an audience and a scope now (exit 1 when refused).
    Verify(Verify),
    /// Narrow a capability (fewer scopes, earlier expiry, one audience); needs no key.
    Attenuate(Attenuate),
}

#[derive(Debug, clap::Args)]
struct Mint {
    /// The key file (created, mode 0600, when it does not exist).
    #[arg(long)]
    key: PathBuf,
    /// A policy file whose `token` block to mint.
    #[arg(requires = "token")]
    policy_file: Option<PathBuf>,
    /// The token's name in the policy.
    #[arg(long)]
    token: Option<String>,
    /// Which policy of the file (needed when it holds more than one).
    #[arg(long)]
    policy: Option<String>,
    /// Without a policy file: the token's name.
    #[arg(long, conflicts_with = "policy_file")]
    name: Option<String>,
    /// Without a policy file: the audience (a host).
    #[arg(long, conflicts_with = "policy_file")]
    audience: Option<String>,
    /// Without a policy file: a scope (repeatable).
    #[arg(long = "scope", conflicts_with = "policy_file")]
    scopes: Vec<String>,
    /// Without a policy file: the lifetime (`30s`, `15m`, `2h`).
    #[arg(long, conflicts_with = "policy_file")]
    ttl: Option<String>,
    /// Without a policy file: single-use (`approval required`).
    #[arg(long, conflicts_with = "policy_file")]
    approval: bool,
    /// Print JSON (the capability and its claims).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Inspect {
    /// The capability, `@FILE` to read it from a file, or `-` for stdin.
    capability: String,
    /// Check the signatures with this key file and show the claims.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Verify {
    /// The capability, `@FILE` to read it from a file, or `-` for stdin.
    capability: String,
    /// The key file it was minted with.
    #[arg(long)]
    key: PathBuf,
    /// The host it is presented to.
    #[arg(long)]
    audience: String,
    /// The scope the use needs.
    #[arg(long)]
    scope: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Attenuate {
    /// The capability, `@FILE` to read it from a file, or `-` for stdin.
    capability: String,
    /// Keep only these scopes (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Expire this long from now at the latest (`30s`, `15m`).
    #[arg(long)]
    ttl: Option<String>,
    /// Only for this audience.
    #[arg(long)]
    audience: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A failure with its stable code and a hint.
struct Failure {
    code: Code,
    message: String,
    hint: &'static str,
    status: Status,
}

impl Failure {
    fn new(code: Code, message: impl Into<String>, hint: &'static str) -> Failure {
        let status = if code == Code::TokenRefused {
            Status::Failed
        } else {
            Status::Usage
        };
        Failure {
            code,
            message: message.into(),
            hint,
            status,
        }
    }

    fn print(&self, format: ErrorFormat) -> Status {
        crate::output::print_coded(
            self.code.as_str(),
            &self.message,
            Some(self.hint),
            None,
            None,
            format,
        );
        self.status
    }
}

/// Run one `token` subcommand.
pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let result = match &args.command {
        Command::Mint(a) => mint(a, format),
        Command::Inspect(a) => inspect(a),
        Command::Verify(a) => verify(a),
        Command::Attenuate(a) => attenuate(a),
    };
    result.unwrap_or_else(|f| f.print(format))
}

fn mint(a: &Mint, format: ErrorFormat) -> Result<Status, Failure> {
    let (grant, policy_hash) = match &a.policy_file {
        Some(path) => grant_from_policy(path, a, format)?,
        None => (grant_from_flags(a)?, "none".to_string()),
    };
    let issuer = load_or_create_key(&a.key, &policy_hash)?;
    let (text, claims) = issuer
        .mint(&grant, SystemTime::now())
        .map_err(|e| Failure::new(Code::TokenInvalid, e.to_string(), HINT_GRANT))?;
    if a.json {
        print_json(&serde_json::json!({ "capability": text, "claims": claims }));
    } else {
        println!("{text}");
    }
    Ok(Status::Ok)
}

fn inspect(a: &Inspect) -> Result<Status, Failure> {
    let text = capability(&a.capability)?;
    let issuer = a.key.as_deref().map(|k| load_key(k, "none")).transpose()?;
    let shown = policyc_token::inspect(&text, issuer.as_ref()).map_err(|e| match issuer {
        Some(_) if policyc_token::inspect(&text, None).is_ok() => {
            Failure::new(Code::TokenRefused, e.to_string(), HINT_REFUSED)
        }
        _ => Failure::new(Code::TokenMalformed, e.to_string(), HINT_MALFORMED),
    })?;
    if a.json {
        print_json(&serde_json::to_value(&shown).unwrap_or_default());
        return Ok(Status::Ok);
    }
    match &shown.claims {
        Some(c) => print_claims(c, "signatures: valid"),
        None => println!("signatures: not checked (give --key)"),
    }
    for (i, b) in shown.blocks.iter().enumerate() {
        let what = if i == 0 { "authority" } else { "attenuation" };
        println!("block {i} ({what}):");
        for line in b.lines() {
            println!("    {line}");
        }
    }
    Ok(Status::Ok)
}

fn verify(a: &Verify) -> Result<Status, Failure> {
    let text = capability(&a.capability)?;
    let issuer = load_key(&a.key, "none")?;
    let request = Request {
        audience: &a.audience,
        scope: &a.scope,
        now: SystemTime::now(),
    };
    match issuer.verify(&text, &request) {
        Ok(claims) if a.json => {
            print_json(&serde_json::json!({ "verified": true, "claims": claims }));
            Ok(Status::Ok)
        }
        Ok(claims) => {
            print_claims(&claims, "verified");
            Ok(Status::Ok)
        }
        Err(r) => {
            if a.json {
                print_json(&serde_json::json!({
                    "verified": false, "refusal": r.kind(), "message": r.to_string(),
                }));
            }
            Err(refused(&r))
        }
    }
}

fn attenuate(a: &Attenuate) -> Result<Status, Failure> {
    let text = capability(&a.capability)?;
    let expires = a
        .ttl
        .as_deref()
        .map(|t| parse_duration(t).map(|d| SystemTime::now() + d))
        .transpose()?;
    let narrowing = Narrowing {
        scopes: (!a.scopes.is_empty()).then(|| a.scopes.clone()),
        expires,
        audience: a.audience.clone(),
    };
    let narrowed = policyc_token::attenuate(&text, &narrowing).map_err(|e| match e {
        policyc_token::Error::Malformed(_) => {
            Failure::new(Code::TokenMalformed, e.to_string(), HINT_MALFORMED)
        }
        _ => Failure::new(Code::TokenInvalid, e.to_string(), HINT_NARROW),
    })?;
    if a.json {
        print_json(&serde_json::json!({ "capability": narrowed }));
    } else {
        println!("{narrowed}");
    }
    Ok(Status::Ok)
}

const HINT_KEY: &str = "name a key file `policyc token mint --key FILE` created (it holds `ed25519-private/<hex>`), or a path where mint may create one";
const HINT_MALFORMED: &str =
    "pass the capability exactly as minted (base64url), `@FILE` to read it from a file, or `-` for stdin";
const HINT_REFUSED: &str = "mint a fresh capability with the session's key for this audience and scope; a capability narrowed or expired cannot be widened or renewed";
const HINT_GRANT: &str = "give --audience, at least one --scope and a --ttl such as `15m`, or a policy file and the name of one of its `token` blocks with --token";
const HINT_NARROW: &str =
    "give at least one of --scope, --ttl or --audience; a scope list cannot be empty";

fn refused(r: &Refusal) -> Failure {
    Failure::new(
        Code::TokenRefused,
        format!("{} ({})", r, r.kind()),
        HINT_REFUSED,
    )
}

fn print_claims(c: &Claims, status: &str) {
    println!("{status}");
    println!("token:    {}", c.token);
    println!("id:       {}", c.id);
    println!("audience: {}", c.audience);
    println!("scopes:   {}", c.scopes.join(", "));
    println!("expires:  {} (unix seconds)", c.expires);
    println!("approval: {}", if c.approval { "single-use" } else { "no" });
    println!("policy:   {}", c.policy);
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// The capability text from an argument, `@FILE` or `-` (stdin).
fn capability(arg: &str) -> Result<String, Failure> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            Failure::new(
                Code::TokenMalformed,
                format!("cannot read stdin: {e}"),
                HINT_MALFORMED,
            )
        })?;
        s
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                Code::TokenMalformed,
                format!("cannot read `{path}`: {e}"),
                HINT_MALFORMED,
            )
        })?
    } else {
        arg.to_string()
    };
    Ok(text.trim().to_string())
}

fn load_key(path: &Path, policy: &str) -> Result<Issuer, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            Code::TokenKey,
            format!("cannot read the key file `{}`: {e}", path.display()),
            HINT_KEY,
        )
    })?;
    Issuer::from_key_text(&text, policy).map_err(|e| {
        Failure::new(
            Code::TokenKey,
            format!("`{}`: {e}", path.display()),
            HINT_KEY,
        )
    })
}

fn load_or_create_key(path: &Path, policy: &str) -> Result<Issuer, Failure> {
    if path.exists() {
        return load_key(path, policy);
    }
    let issuer = Issuer::generate(policy);
    let cannot = |e: std::io::Error| {
        Failure::new(
            Code::TokenKey,
            format!("cannot create the key file `{}`: {e}", path.display()),
            HINT_KEY,
        )
    };
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(cannot)?;
    writeln!(f, "{}", issuer.key_text().as_str()).map_err(cannot)?;
    let message = format!(
        "created the key file `{}` (public key {})",
        path.display(),
        issuer.public_key()
    );
    crate::output::print_message(
        crate::output::error_format(),
        &message,
        "token",
        crate::output::Level::Note,
        &message,
        &[("file", path.display().to_string().into())],
    );
    Ok(issuer)
}

fn grant_from_flags(a: &Mint) -> Result<Grant, Failure> {
    let missing = |what: &str| {
        Failure::new(
            Code::TokenInvalid,
            format!("mint without a policy file needs {what}"),
            HINT_GRANT,
        )
    };
    let ttl = a.ttl.as_deref().ok_or_else(|| missing("--ttl"))?;
    Ok(Grant {
        name: a.name.clone().unwrap_or_else(|| "token".into()),
        audience: a.audience.clone().ok_or_else(|| missing("--audience"))?,
        scopes: a.scopes.clone(),
        ttl: parse_duration(ttl)?,
        approval: a.approval,
    })
}

fn grant_from_policy(
    path: &Path,
    a: &Mint,
    format: ErrorFormat,
) -> Result<(Grant, String), Failure> {
    let unusable = |m: String| Failure::new(Code::TokenInvalid, m, HINT_GRANT);
    let (out, sources) = super::compile_file(path, format)
        .ok_or_else(|| unusable(format!("cannot read `{}`", path.display())))?;
    if out.diagnostics.has_errors() {
        return Err(unusable(format!(
            "`{}` has errors (see above)",
            path.display()
        )));
    }
    let policy = match (a.policy.as_deref(), out.policies.as_slice()) {
        (None, [one]) => one,
        (None, _) => {
            return Err(unusable(
                "the file holds several policies; choose one with --policy".into(),
            ))
        }
        (Some(n), ps) => ps
            .iter()
            .find(|p| p.name == n)
            .ok_or_else(|| unusable(format!("no policy `{n}` in `{}`", path.display())))?,
    };
    let name = a.token.clone().unwrap_or_default();
    let t = policy.tokens.get(&name).ok_or_else(|| {
        let known: Vec<&str> = policy.tokens.keys().map(String::as_str).collect();
        unusable(format!(
            "policy `{}` has no token `{name}` (it has: {})",
            policy.name,
            known.join(", ")
        ))
    })?;
    let text = sources
        .get(out.root)
        .map(|s| s.text.clone())
        .unwrap_or_default();
    Ok((grant_of(&name, t), policy_hash(&text)))
}

/// The grant a policy's `token` block describes.
pub(crate) fn grant_of(name: &str, t: &policyc_compiler::ir::Token) -> Grant {
    Grant {
        name: name.to_string(),
        audience: t.audience.clone(),
        scopes: t.scopes.clone(),
        ttl: Duration::from_millis(t.ttl_ms),
        approval: t.approval,
    }
}

/// `sha256:<hex>` of a policy file's text: what a capability says it was minted under.
pub(crate) fn policy_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `500ms`, `30s`, `15m`, `2h`, `1d`.
fn parse_duration(s: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure::new(
            Code::TokenInvalid,
            format!("`{s}` is not a duration"),
            "write a number and a unit: `500ms`, `30s`, `15m`, `2h`, `1d`",
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    };
    match ms {
        Some(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(bad()),
    }
}
