//! Checking a whole log: the chain, the order, the sessions, and optionally an anchor.

use super::{hash, END, FORMAT, GENESIS, SEAL_KEY, START, VERSION};
use policyc_compiler::Code;
use serde_json::{Map, Value};

/// Where a log stops being intact, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first line that is not intact (1-based).
    pub line: usize,
    /// `P1701` to `P1705`.
    pub code: Code,
    pub message: String,
    pub hint: &'static str,
}

/// What an intact log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Lines (records) in the log.
    pub records: u64,
    /// Sessions in it, each with its start and end.
    pub sessions: u64,
    /// Its last line: the anchor to keep elsewhere.
    pub last: Anchor,
}

/// A line's `seq` and hash, kept apart from the log (`--audit-anchor`) so that a log
/// rewritten as a whole, or cut after a session's end, is detected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

const EDITED_HINT: &str =
    "the log was changed after it was written; keep the original, and compare it with the anchor kept elsewhere";
const TRUNCATED_HINT: &str =
    "the log was cut (or its writer was killed or is still running); a later session cannot repair it: start a new log";

/// The header of one line.
struct Line<'a> {
    seq: u64,
    prev: &'a str,
    session: &'a str,
    policy_hash: &'a str,
    kind: &'a str,
    fields: &'a Map<String, Value>,
}

/// The session being read.
struct Open {
    line: usize,
    session: String,
    policy_hash: String,
    events: u64,
}

/// Check `log` from its first line to its last: every line a record, `seq` counting up
/// from 0, each `prev` the hash of the line before, sessions that start, carry their own id
/// and policy hash, and end with the right count and seal; with `anchor`, the record it
/// names is there with its hash. The error names the first line that is not intact.
pub fn verify(log: &[u8], anchor: Option<&Anchor>) -> Result<Summary, Broken> {
    let mut state = Verifier::default();
    let mut lines = log.split(|b| *b == b'\n').enumerate().peekable();
    while let Some((i, bytes)) = lines.next() {
        let n = i.saturating_add(1);
        if lines.peek().is_none() {
            if !bytes.is_empty() {
                return Err(truncated(n, "the last line is incomplete (no newline)"));
            }
            return state.finish(n, anchor);
        }
        state.line(n, bytes)?;
    }
    state.finish(1, anchor)
}

#[derive(Default)]
struct Verifier {
    hashes: Vec<String>,
    open: Option<Open>,
    sessions: u64,
}

impl Verifier {
    fn line(&mut self, n: usize, bytes: &[u8]) -> Result<(), Broken> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| malformed(n, &format!("not JSON ({e})")))?;
        let line = header(&value).map_err(|why| malformed(n, why))?;
        let expected = u64::try_from(self.hashes.len()).unwrap_or(u64::MAX);
        if line.seq != expected {
            return Err(match n {
                1 => truncated(
                    1,
                    &format!(
                        "the first line has seq {} (not 0): the log's beginning was cut",
                        line.seq
                    ),
                ),
                _ => reordered(n, line.seq, expected),
            });
        }
        let prev = self.hashes.last().map_or(GENESIS, String::as_str);
        if line.prev != prev {
            return Err(match n {
                1 => truncated(1, "the first line does not start the chain: the log's beginning was cut"),
                _ => edited(
                    n.saturating_sub(1),
                    format!("its hash is not the `prev` line {n} records (or line {n}'s `prev` was edited)"),
                ),
            });
        }
        self.session(n, &line)?;
        if line.kind == END {
            check_seal(n, bytes)?;
        }
        self.hashes.push(hash(bytes));
        Ok(())
    }

    fn session(&mut self, n: usize, line: &Line<'_>) -> Result<(), Broken> {
        match (&mut self.open, line.kind) {
            (None, START) => {
                let format = line.fields.get("format").and_then(Value::as_str);
                let version = line.fields.get("version").and_then(Value::as_u64);
                if format != Some(FORMAT) || version != Some(VERSION) {
                    return Err(malformed(n, "a session-start of another format or version"));
                }
                self.open = Some(Open {
                    line: n,
                    session: line.session.to_string(),
                    policy_hash: line.policy_hash.to_string(),
                    events: 0,
                });
                Ok(())
            }
            (None, kind) => Err(match n {
                1 => truncated(1, "the log does not begin with a session-start record"),
                _ => edited(n, format!("a `{kind}` record outside any session")),
            }),
            (Some(open), START) => Err(truncated(
                n,
                &format!(
                    "a new session starts, but the session started on line {} has no end record",
                    open.line
                ),
            )),
            (Some(open), kind) => {
                if line.session != open.session || line.policy_hash != open.policy_hash {
                    return Err(edited(
                        n,
                        format!("its session or policy hash is not that of the session started on line {}", open.line),
                    ));
                }
                if kind != END {
                    open.events = open.events.saturating_add(1);
                    return Ok(());
                }
                let count = line.fields.get("count").and_then(Value::as_u64);
                if count != Some(open.events) {
                    return Err(edited(
                        n,
                        format!(
                            "the session-end counts {} events; the session has {}",
                            count.map_or("no".to_string(), |c| c.to_string()),
                            open.events
                        ),
                    ));
                }
                self.open = None;
                self.sessions = self.sessions.saturating_add(1);
                Ok(())
            }
        }
    }

    fn finish(self, n: usize, anchor: Option<&Anchor>) -> Result<Summary, Broken> {
        if let Some(open) = &self.open {
            return Err(truncated(
                n,
                &format!(
                    "the log ends without a session-end record for the session started on line {}",
                    open.line
                ),
            ));
        }
        let Some(last) = self.hashes.last() else {
            return Err(truncated(1, "the log is empty"));
        };
        let records = u64::try_from(self.hashes.len()).unwrap_or(u64::MAX);
        if let Some(a) = anchor {
            check_anchor(&self.hashes, a)?;
        }
        Ok(Summary {
            records,
            sessions: self.sessions,
            last: Anchor {
                seq: records.saturating_sub(1),
                hash: last.clone(),
            },
        })
    }
}

fn check_anchor(hashes: &[String], a: &Anchor) -> Result<(), Broken> {
    let at = usize::try_from(a.seq).unwrap_or(usize::MAX);
    match hashes.get(at) {
        Some(h) if *h == a.hash => Ok(()),
        Some(_) => Err(Broken {
            line: at.saturating_add(1),
            code: Code::AuditAnchorMismatch,
            message: format!("line {} is not the record the anchor keeps (its hash differs): the log was rewritten", at.saturating_add(1)),
            hint: EDITED_HINT,
        }),
        None => Err(Broken {
            line: hashes.len().saturating_add(1),
            code: Code::AuditAnchorMismatch,
            message: format!("the log ends before the record the anchor keeps (seq {}): its tail was cut", a.seq),
            hint: TRUNCATED_HINT,
        }),
    }
}

/// The end record's seal: the hash of the line without `,"seal":"…"` (the object closed
/// where the seal began).
fn check_seal(n: usize, bytes: &[u8]) -> Result<(), Broken> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(n, "not UTF-8"))?;
    let at = text
        .rfind(SEAL_KEY)
        .ok_or_else(|| edited(n, "the session-end has no seal".to_string()))?;
    let (open, seal) = text.split_at(at);
    let seal = seal
        .strip_prefix(SEAL_KEY)
        .and_then(|s| s.strip_suffix("\"}"))
        .unwrap_or_default();
    if hash(format!("{open}}}").as_bytes()) != seal {
        return Err(edited(
            n,
            "the session-end's seal is not its hash".to_string(),
        ));
    }
    Ok(())
}

fn header(v: &Value) -> Result<Line<'_>, &'static str> {
    let fields = v.as_object().ok_or("not a JSON object")?;
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    fields
        .get("time")
        .and_then(Value::as_u64)
        .ok_or("no `time`")?;
    Ok(Line {
        seq: fields
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or("no `seq`")?,
        prev: text("prev").ok_or("no `prev`")?,
        session: text("session").ok_or("no `session`")?,
        policy_hash: text("policy_hash").ok_or("no `policy_hash`")?,
        kind: text("kind").ok_or("no `kind`")?,
        fields,
    })
}

/// Every line of `log` that is a JSON object, with its line number (1-based), for display;
/// lines that are not are skipped (`verify` reports them).
pub fn records(log: &[u8]) -> Vec<(usize, Map<String, Value>)> {
    log.split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(i, l)| match serde_json::from_slice(l) {
            Ok(Value::Object(m)) => Some((i.saturating_add(1), m)),
            _ => None,
        })
        .collect()
}

fn malformed(line: usize, why: &str) -> Broken {
    Broken {
        line,
        code: Code::AuditMalformed,
        message: format!("line {line} is not an audit record: {why}"),
        hint: EDITED_HINT,
    }
}

fn edited(line: usize, why: String) -> Broken {
    Broken {
        line,
        code: Code::AuditEdited,
        message: format!("line {line} was edited: {why}"),
        hint: EDITED_HINT,
    }
}

fn reordered(line: usize, seq: u64, expected: u64) -> Broken {
    Broken {
        line,
        code: Code::AuditReordered,
        message: format!("line {line} has seq {seq} where {expected} was expected: lines were removed, inserted or moved"),
        hint: EDITED_HINT,
    }
}

fn truncated(line: usize, why: &str) -> Broken {
    Broken {
        line,
        code: Code::AuditTruncated,
        message: format!("line {line}: {why}"),
        hint: TRUNCATED_HINT,
    }
}
