//! The audit log: one JSON object per line for each decision the supervisor makes, when
//! the policy's `audit` block asks for it (or `policyc exec --audit-log` is given).
//!
//! Lines are chained ([`policyc_verify::audit`]): a session-start record when the program
//! starts, one event per connection (OCSF Network or HTTP Activity) and per name lookup
//! (DNS Activity), and a session-end record with the count when it exits; the last
//! record's hash is printed then, and written to the anchor file when one is given.

use super::rules::Rules;
use policyc_verify::audit::{ocsf, Anchor, Chain};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// The address the supervisor resolved (or was pinned) and dialled.
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

/// What the log is told when it opens.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The policy's name.
    pub policy: String,
    /// `sha256:<hex>` of the policy's source.
    pub policy_hash: String,
    /// Record connections (lookups are recorded when the resolver is given
    /// [`Log::write_dns`]).
    pub egress: bool,
    /// Record refused connections even when `egress` is off, and accept syscall denials
    /// ([`Log::write_denial`]): the audit block asks for `denials`.
    pub denials: bool,
    /// Where to write the last record's `seq` and hash when the session ends.
    pub anchor: Option<PathBuf>,
}

/// A syscall the seccomp filter refused, explained (`audit { denials }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The layer that refused it (`seccomp`).
    pub layer: &'static str,
    /// The syscall's name, when this architecture's table has it.
    pub syscall: Option<String>,
    pub nr: u32,
    /// The thread that made it.
    pub pid: u32,
    pub args: [u64; 6],
    /// The errno's name (`EPERM`), or its number.
    pub errno: String,
    /// Where the rule that refused it was written, `file:line`.
    pub rule: String,
    pub reason: String,
}

/// What a rule adds to the records it matches: where it was written, and its token.
#[derive(Debug, Clone)]
struct RuleInfo {
    at: String,
    token: Option<Value>,
}

/// The file and the chain's state.
#[derive(Debug)]
struct Sink {
    file: File,
    path: PathBuf,
    chain: Chain,
    started: bool,
    ended: bool,
}

/// Where records go (nowhere when no log was asked for).
#[derive(Debug)]
pub struct Log {
    settings: Settings,
    rules: BTreeMap<String, RuleInfo>,
    process: Mutex<Value>,
    sink: Option<Mutex<Sink>>,
    open: AtomicUsize,
    clock: fn() -> u64,
    denials: Denials,
    /// Fields the session-end record carries besides its count.
    end_notes: Mutex<Map<String, Value>>,
}

/// The denial hook, once set.
#[derive(Default)]
struct Denials(std::sync::OnceLock<DenialHook>);

impl std::fmt::Debug for Denials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Denials")
    }
}

/// Told of every connection the supervisor refuses (`policyc exec --trace-denials`),
/// whatever the audit settings.
pub type DenialHook = std::sync::Arc<dyn Fn(&Record) + Send + Sync>;

/// A connection being decided or relayed; the session end waits for it (a while).
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(t.as_millis()).unwrap_or(u64::MAX)
}

/// How many bytes of an existing log are read to find its last line.
const TAIL: u64 = 1 << 20;

impl Log {
    /// Append to `path` (created if missing; an existing log is continued, its chain
    /// unbroken) for a session with a new random id, or record nothing.
    pub fn open(settings: Settings, rules: &Rules, path: Option<&Path>) -> std::io::Result<Log> {
        let sink = match path {
            Some(p) => Some(Mutex::new(open_sink(p, &settings.policy_hash)?)),
            None => None,
        };
        Ok(Log {
            rules: rule_infos(rules),
            settings,
            process: Mutex::new(Value::Null),
            sink,
            open: AtomicUsize::new(0),
            clock: now_ms,
            denials: Denials::default(),
            end_notes: Mutex::new(Map::new()),
        })
    }

    /// A log for a run without an egress supervisor (no network rules to refer to).
    pub fn open_plain(settings: Settings, path: Option<&Path>) -> std::io::Result<Log> {
        let sink = match path {
            Some(p) => Some(Mutex::new(open_sink(p, &settings.policy_hash)?)),
            None => None,
        };
        Ok(Log {
            rules: BTreeMap::new(),
            settings,
            process: Mutex::new(Value::Null),
            sink,
            open: AtomicUsize::new(0),
            clock: now_ms,
            denials: Denials::default(),
            end_notes: Mutex::new(Map::new()),
        })
    }

    /// Add `key` to the session-end record.
    pub fn note_end(&self, key: &str, value: Value) {
        if let Ok(mut m) = self.end_notes.lock() {
            m.insert(key.to_string(), value);
        }
    }

    /// Tell `hook` of every refused connection (the first hook set stays).
    pub fn on_denial(&self, hook: DenialHook) {
        let _ = self.denials.0.set(hook);
    }

    /// The same log with another clock (tests).
    pub fn with_clock(mut self, clock: fn() -> u64) -> Log {
        self.clock = clock;
        self
    }

    /// The path written to, if any.
    pub fn path(&self) -> Option<PathBuf> {
        let sink = self.sink.as_ref()?.lock().ok()?;
        Some(sink.path.clone())
    }

    /// Write the session-start record for the program `policyc exec` started.
    pub fn start(&self, pid: u32, name: &str) {
        let process = json!({ "pid": pid, "name": name });
        if let Ok(mut p) = self.process.lock() {
            *p = process;
        }
        self.with_sink(|_, _| None);
    }

    /// Count a connection in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.open.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.open)
    }

    /// Write one line for `r` (a failed write is reported on stderr, never fatal to the
    /// connection it describes).
    pub fn write(&self, r: &Record) {
        if let Some(hook) = self.denials.0.get().filter(|_| !r.allowed) {
            hook(r);
        }
        if self.settings.egress || (self.settings.denials && !r.allowed) {
            let fields = self.connection(r);
            self.with_sink(|chain, time| Some(chain.event(time, "egress", fields)));
        }
    }

    /// Write one line for a DNS decision of the resolver.
    pub fn write_dns(&self, e: &super::dns::DnsEvent) {
        let fields = self.dns(e);
        self.with_sink(|chain, time| Some(chain.event(time, "dns", fields)));
    }

    /// Write the session-end record (once), after waiting up to `grace` for connections
    /// in flight; print the last record's hash and write the anchor.
    pub fn end(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let Some(sink) = &self.sink else { return };
        let Ok(mut s) = sink.lock() else { return };
        if !s.started || s.ended {
            return;
        }
        let unfinished = self.open.load(Ordering::SeqCst);
        let time = (self.clock)();
        let mut end = fields(json!({ "unfinished": unfinished }));
        if let Ok(notes) = self.end_notes.lock() {
            end.extend(notes.clone());
        }
        let line = s.chain.end(time, end);
        s.ended = true;
        append(&mut s.file, &line);
        // Nothing more is written: the next session may take the log.
        let _ = s.file.unlock();
        let anchor = Anchor {
            seq: s.chain.next_seq().saturating_sub(1),
            hash: s.chain.last_hash().to_string(),
        };
        eprintln!(
            "policyc exec: audit log {}: {} events; it ends at seq {} {}",
            s.path.display(),
            s.chain.events(),
            anchor.seq,
            anchor.hash
        );
        if let Some(p) = &self.settings.anchor {
            let text = format!("{}\n", json!(anchor));
            if let Err(e) = std::fs::write(p, text) {
                eprintln!(
                    "policyc exec: cannot write the audit anchor `{}`: {e}",
                    p.display()
                );
            }
        }
    }

    /// Run `line` on the chain (after the start record, written first if it was not) and
    /// append what it returns.
    fn with_sink(&self, line: impl FnOnce(&mut Chain, u64) -> Option<String>) {
        let Some(sink) = &self.sink else { return };
        let Ok(mut s) = sink.lock() else { return };
        if s.ended {
            return;
        }
        let time = (self.clock)();
        if !s.started {
            let process = self.process.lock().map(|p| p.clone()).unwrap_or_default();
            let start = s.chain.start(
                time,
                fields(json!({ "policy": self.settings.policy, "process": process })),
            );
            s.started = true;
            append(&mut s.file, &start);
        }
        if let Some(l) = line(&mut s.chain, time) {
            append(&mut s.file, &l);
        }
    }

    /// The fields of a connection record: OCSF HTTP Activity for the proxy, Network
    /// Activity for the listeners.
    fn connection(&self, r: &Record) -> Map<String, Value> {
        let (class, activity) = match r.via {
            Via::Connect => (ocsf::HTTP, ocsf::http::CONNECT),
            Via::Forward => (ocsf::HTTP, ocsf::http::OTHER),
            Via::Listener if r.allowed => (ocsf::NETWORK, ocsf::network::CLOSE),
            Via::Listener if r.dialled.is_some() => (ocsf::NETWORK, ocsf::network::FAIL),
            Via::Listener => (ocsf::NETWORK, ocsf::network::REFUSE),
        };
        let mut m = ocsf::classify(class, activity, r.allowed);
        let info = r.rule_text.as_ref().and_then(|t| self.rules.get(t));
        m.insert(
            "decision".into(),
            json!(if r.allowed { "allow" } else { "deny" }),
        );
        m.insert("reason".into(), json!(r.reason));
        m.insert("rule".into(), json!(r.rule));
        m.insert("rule_text".into(), json!(r.rule_text));
        if let Some(token) = info.and_then(|i| i.token.clone()) {
            m.insert("token".into(), token);
        }
        // The id of the capability the supervisor verified (never its value).
        if let Some(id) = &r.token_id {
            m.insert("token_id".into(), json!(id));
        }
        m.insert("process".into(), self.process());
        m.insert(
            "connection_info".into(),
            json!({ "protocol_name": "tcp", "via": r.via.as_str() }),
        );
        m.insert(
            "dst_endpoint".into(),
            json!({
                "hostname": r.host,
                "port": r.port,
                "ip": r.dialled.map(|a| a.ip().to_string()),
                "dialled": r.dialled.map(|a| a.to_string()),
            }),
        );
        m.insert("tls".into(), json!({ "sni": r.sni }));
        m.insert("http_request".into(), json!({ "host": r.http_host }));
        m.insert(
            "traffic".into(),
            json!({ "bytes_out": r.bytes_out, "bytes_in": r.bytes_in }),
        );
        let ms = u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX);
        m.insert("duration".into(), json!(ms));
        m
    }

    /// The fields of a lookup record: OCSF DNS Activity.
    fn dns(&self, e: &super::dns::DnsEvent) -> Map<String, Value> {
        let allowed = e.decision == super::dns::Decision::Allow;
        let mut m = ocsf::classify(ocsf::DNS, ocsf::DNS_RESPONSE, allowed);
        m.insert(
            "decision".into(),
            json!(if allowed { "allow" } else { "deny" }),
        );
        m.insert("reason".into(), json!(e.reason));
        let at = e
            .rule
            .as_ref()
            .map(|t| self.rules.get(t).map_or(t.clone(), |i| i.at.clone()));
        m.insert("rule".into(), json!(at));
        m.insert("rule_text".into(), json!(e.rule));
        m.insert("process".into(), self.process());
        m.insert(
            "connection_info".into(),
            json!({ "protocol_name": e.transport }),
        );
        m.insert(
            "query".into(),
            json!({ "hostname": e.name, "type": e.qtype }),
        );
        m.insert("rcode".into(), json!(e.rcode));
        let answers: Vec<Value> = e
            .answer
            .iter()
            .map(|a| json!({ "type": "A", "rdata": a.to_string() }))
            .collect();
        m.insert("answers".into(), json!(answers));
        m.insert("upstream".into(), json!(e.upstream));
        m
    }

    /// Write one line for a syscall the filter refused (when the audit block asks for
    /// `denials`). Waits briefly for the session to start, so the start record names the
    /// program.
    pub fn write_denial(&self, d: &Denial) {
        if !self.settings.denials {
            return;
        }
        self.await_start(Duration::from_secs(2));
        let fields = records::denial(d, self.process());
        self.with_sink(|chain, time| Some(chain.event(time, "denial", fields)));
    }

    /// Write one line per path the program wrote (`audit { writes }`), sorted as given,
    /// and note in the session end what could not be attributed.
    pub fn write_files(&self, summary: &crate::sandbox::writes::Summary) {
        for w in &summary.writes {
            let fields = records::write(w, self.process());
            self.with_sink(|chain, time| Some(chain.event(time, "write", fields)));
        }
        self.note_end("writes_unattributed", json!(summary.unattributed));
        self.note_end("writes_lost", json!(summary.overflowed));
    }

    fn await_start(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.process().is_null() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn process(&self) -> Value {
        self.process.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Each rule's text, with where it was written and the token it carries (its name, the
/// audience and scopes the policy gives it; never a value).
fn rule_infos(rules: &Rules) -> BTreeMap<String, RuleInfo> {
    let artifact = rules.artifact();
    artifact
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let token = r.token.as_ref().map(|name| {
                let grant = artifact.tokens.get(name);
                json!({
                    "name": name,
                    "audience": grant.map(|g| g.audience.clone()),
                    "scopes": grant.map(|g| g.scopes.clone()),
                })
            });
            let at = rules.location(i).unwrap_or(&r.rule).to_string();
            (r.rule.clone(), RuleInfo { at, token })
        })
        .collect()
}

/// Open `path` for appending, continuing the chain of what it holds.
fn open_sink(path: &Path, policy_hash: &str) -> std::io::Result<Sink> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    // One session at a time: two appending at once would interleave their records and
    // break the chain. The lock lasts as long as the file stays open, the whole session.
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => std::io::Error::other(
            "another `policyc exec` session is writing this audit log; give this one another --audit-log",
        ),
        std::fs::TryLockError::Error(e) => e,
    })?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let chain = Chain::resume(&session_id()?, policy_hash, &tail).map_err(|e| {
        std::io::Error::other(format!(
            "{e}; it cannot be continued: move it away or give another --audit-log"
        ))
    })?;
    Ok(Sink {
        file,
        path: path.to_path_buf(),
        chain,
        started: false,
        ended: false,
    })
}

/// 128 random bits, in hex.
fn session_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn append(file: &mut File, line: &str) {
    let mut bytes = Vec::with_capacity(line.len().saturating_add(1));
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    if let Err(e) = file.write_all(&bytes) {
        eprintln!("policyc exec: cannot write the audit log: {e}");
    }
}

#[path = "audit_records.rs"]
mod records;

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
