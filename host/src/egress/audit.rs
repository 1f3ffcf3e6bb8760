//! The audit log: one JSON object per line for each decision the supervisor makes, when
//! the policy's `audit` block asks for `egress`.

use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a connection reached the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A `CONNECT` through the proxy.
    Connect,
    /// An absolute-form request through the proxy.
    Forward,
    /// A listener at a name's synthetic address.
    Listener,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Connect => "proxy-connect",
            Via::Forward => "proxy-http",
            Via::Listener => "listener",
        }
    }
}

/// One decision: what was asked, what was seen, what was done.
#[derive(Debug, Clone)]
pub struct Record {
    pub via: Via,
    /// The host the client asked for (CONNECT target, request URI, or the name behind the
    /// synthetic address it dialled).
    pub host: Option<String>,
    pub port: u16,
    pub sni: Option<String>,
    pub http_host: Option<String>,
    /// The allow rule that matched, `file:line`.
    pub rule: Option<String>,
    /// The same rule as written.
    pub rule_text: Option<String>,
    /// The address the supervisor dialled.
    pub dialled: Option<SocketAddr>,
    pub allowed: bool,
    pub reason: String,
    /// Bytes from the program to the upstream and back.
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub duration: Duration,
    /// The token the rule binds, when the supervisor verified a capability for it.
    pub token: Option<String>,
    /// The id of the capability presented (never its text).
    pub token_id: Option<String>,
}

impl Record {
    /// A record of `via` to `port`, denied until said otherwise.
    pub fn new(via: Via, port: u16) -> Record {
        Record {
            via,
            host: None,
            port,
            sni: None,
            http_host: None,
            rule: None,
            rule_text: None,
            dialled: None,
            allowed: false,
            reason: String::new(),
            bytes_out: 0,
            bytes_in: 0,
            duration: Duration::ZERO,
            token: None,
            token_id: None,
        }
    }
}

/// Where records go (nowhere when the policy does not ask for them).
#[derive(Debug)]
pub struct Log {
    policy: String,
    file: Option<Mutex<File>>,
    egress: bool,
}

impl Log {
    /// Append to `path` (created if missing) for `policy`, or record nothing; `egress`:
    /// record connections (DNS lines are written when the resolver is given
    /// [`Log::write_dns`]).
    pub fn open(policy: &str, path: Option<&Path>, egress: bool) -> std::io::Result<Log> {
        let file = match path {
            Some(p) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                Some(Mutex::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)?,
                ))
            }
            None => None,
        };
        Ok(Log {
            policy: policy.to_string(),
            file,
            egress,
        })
    }

    /// Write one line for `r` (a failed write is reported on stderr, never fatal to the
    /// connection it describes).
    pub fn write(&self, r: &Record) {
        if self.egress {
            self.append(&self.line(r));
        }
    }

    fn append(&self, v: &Value) {
        let Some(file) = &self.file else {
            return;
        };
        let mut line = v.to_string();
        line.push('\n');
        let result = match file.lock() {
            Ok(mut f) => f.write_all(line.as_bytes()),
            Err(_) => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("policyc exec: cannot write the audit log: {e}");
        }
    }

    /// Write one line for a DNS decision of the resolver.
    pub fn write_dns(&self, e: &super::dns::DnsEvent) {
        let mut m = self.head("dns");
        if let Ok(Value::Object(fields)) = serde_json::to_value(e) {
            m.extend(fields);
        }
        self.append(&Value::Object(m));
    }

    fn head(&self, kind: &str) -> Map<String, Value> {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut m = Map::new();
        m.insert("time".into(), json!(time.as_secs_f64()));
        m.insert("kind".into(), json!(kind));
        m.insert("policy".into(), json!(self.policy));
        m
    }

    fn line(&self, r: &Record) -> Value {
        let mut m = self.head("egress");
        m.insert("via".into(), json!(r.via.as_str()));
        m.insert("rule".into(), json!(r.rule));
        m.insert("rule_text".into(), json!(r.rule_text));
        m.insert("host".into(), json!(r.host));
        m.insert("port".into(), json!(r.port));
        m.insert("sni".into(), json!(r.sni));
        m.insert("http_host".into(), json!(r.http_host));
        m.insert("dialled".into(), json!(r.dialled.map(|a| a.to_string())));
        let decision = if r.allowed { "allow" } else { "deny" };
        m.insert("decision".into(), json!(decision));
        m.insert("reason".into(), json!(r.reason));
        m.insert("bytes_out".into(), json!(r.bytes_out));
        m.insert("bytes_in".into(), json!(r.bytes_in));
        let ms = u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX);
        m.insert("duration_ms".into(), json!(ms));
        if r.token.is_some() {
            m.insert("token".into(), json!(r.token));
            m.insert("token_id".into(), json!(r.token_id));
        }
        Value::Object(m)
    }
}
