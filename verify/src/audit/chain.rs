//! Writing a chained log: the state between one line and the next.

use super::{hash, END, FORMAT, GENESIS, HEADER, SEAL_KEY, START, VERSION};
use serde_json::{json, Map, Value};

/// Why a log cannot be continued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The file's last line is not a record of this format.
    #[error("its last line is not a policyc audit record (version {VERSION}): {0}")]
    NotALog(String),
    /// The file does not end with a newline: a line was cut while being written.
    #[error("its last line is incomplete (no newline at the end)")]
    Incomplete,
}

/// The writer's state: what the next line must carry to continue the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    session: String,
    policy_hash: String,
    seq: u64,
    prev: String,
    events: u64,
}

impl Chain {
    /// A chain for `session` enforcing the policy whose source hashes to `policy_hash`,
    /// continuing a file whose contents end with `tail` (its last line, or more; empty for
    /// a new file).
    pub fn resume(session: &str, policy_hash: &str, tail: &[u8]) -> Result<Chain, ResumeError> {
        let mut chain = Chain {
            session: session.to_string(),
            policy_hash: policy_hash.to_string(),
            seq: 0,
            prev: GENESIS.to_string(),
            events: 0,
        };
        if tail.is_empty() {
            return Ok(chain);
        }
        let body = tail.strip_suffix(b"\n").ok_or(ResumeError::Incomplete)?;
        let last = body.rsplit(|b| *b == b'\n').next().unwrap_or_default();
        let seq = serde_json::from_slice::<Value>(last)
            .map_err(|e| ResumeError::NotALog(e.to_string()))?
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| ResumeError::NotALog("no `seq`".to_string()))?;
        chain.seq = seq.saturating_add(1);
        chain.prev = hash(last);
        Ok(chain)
    }

    /// The session-start line (without its newline); `fields` describe the run.
    pub fn start(&mut self, time: u64, fields: Map<String, Value>) -> String {
        self.events = 0;
        let mut m = Map::new();
        m.insert("kind".into(), json!(START));
        m.insert("format".into(), json!(FORMAT));
        m.insert("version".into(), json!(VERSION));
        extend(&mut m, fields);
        self.line(time, m)
    }

    /// One event's line (without its newline): its `kind` (neither [`START`] nor [`END`]),
    /// then `fields`.
    pub fn event(&mut self, time: u64, kind: &str, fields: Map<String, Value>) -> String {
        self.events = self.events.saturating_add(1);
        let kind = if kind == START || kind == END {
            "event"
        } else {
            kind
        };
        let mut m = Map::new();
        m.insert("kind".into(), json!(kind));
        extend(&mut m, fields);
        self.line(time, m)
    }

    /// The session-end line (without its newline): the number of events, `fields`, and the
    /// seal.
    pub fn end(&mut self, time: u64, fields: Map<String, Value>) -> String {
        let mut m = Map::new();
        m.insert("kind".into(), json!(END));
        m.insert("count".into(), json!(self.events));
        extend(&mut m, fields);
        m.remove("seal");
        let mut m = self.header(time, m);
        let body = Value::Object(std::mem::take(&mut m)).to_string();
        let open = body.strip_suffix('}').unwrap_or(&body);
        let line = format!("{open}{SEAL_KEY}{}\"}}", hash(body.as_bytes()));
        self.advance(&line);
        line
    }

    /// The `seq` the next line gets.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// The hash of the last line written (or continued from): what an anchor keeps.
    pub fn last_hash(&self) -> &str {
        &self.prev
    }

    /// The events written since the session started.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn header(&self, time: u64, fields: Map<String, Value>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("seq".into(), json!(self.seq));
        m.insert("prev".into(), json!(self.prev));
        m.insert("session".into(), json!(self.session));
        m.insert("policy_hash".into(), json!(self.policy_hash));
        m.insert("time".into(), json!(time));
        m.extend(fields);
        m
    }

    fn line(&mut self, time: u64, fields: Map<String, Value>) -> String {
        let line = Value::Object(self.header(time, fields)).to_string();
        self.advance(&line);
        line
    }

    fn advance(&mut self, line: &str) {
        self.seq = self.seq.saturating_add(1);
        self.prev = hash(line.as_bytes());
    }
}

/// Add `fields` to `m`, except the header's keys (an event cannot forge them).
fn extend(m: &mut Map<String, Value>, fields: Map<String, Value>) {
    for (k, v) in fields {
        if !HEADER.contains(&k.as_str()) && !m.contains_key(&k) {
            m.insert(k, v);
        }
    }
}
