//! `policyc audit show`: one readable line per audit record, and its filters.

use serde_json::{Map, Value};

/// Which records `show` prints: with any filter set, events that match every one of them
/// (session records are left out).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub decision: Option<&'static str>,
    pub host: Option<String>,
    pub token: Option<String>,
    /// The record's `kind` (`write`, `denial`, `egress`, `dns`, `token`; `token` selects
    /// the records of connections through token-bound rules).
    pub kind: Option<String>,
}

impl Filter {
    /// True when `record` is shown.
    pub fn keeps(&self, record: &Map<String, Value>) -> bool {
        if self.decision.is_none()
            && self.host.is_none()
            && self.token.is_none()
            && self.kind.is_none()
        {
            return true;
        }
        let kind = self.kind.as_deref().is_none_or(|k| match k {
            "token" => get(record, &["token"]).is_some_and(|t| !t.is_null()),
            k => text(record, &["kind"]) == Some(k),
        });
        let decision = self
            .decision
            .is_none_or(|d| text(record, &["decision"]) == Some(d));
        let host = self.host.as_deref().is_none_or(|h| {
            let want = normal(h);
            [&["dst_endpoint", "hostname"][..], &["query", "hostname"]]
                .iter()
                .any(|p| text(record, p).map(normal) == Some(want.clone()))
        });
        let token = self
            .token
            .as_deref()
            .is_none_or(|t| text(record, &["token", "name"]) == Some(t));
        kind && decision && host && token
    }
}

fn normal(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The string at `path` in `record`.
fn text<'a>(record: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    get(record, path).and_then(Value::as_str)
}

fn get<'a>(record: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(record.get(*first)?, |v, k| v.get(k))
}

/// One record, readably: line number, time (UTC), decision, kind, what and why.
pub fn line(n: usize, r: &Map<String, Value>) -> String {
    let time = get(r, &["time"])
        .and_then(Value::as_u64)
        .map_or_else(|| "?".to_string(), utc);
    let kind = text(r, &["kind"]).unwrap_or("?");
    let decision = text(r, &["decision"]).unwrap_or("-");
    let what = match kind {
        "session-start" => session_start(r),
        "session-end" => session_end(r),
        "dns" => dns(r),
        "write" => write(r),
        "denial" => denial(r),
        _ => connection(r),
    };
    format!("{n:>5}  {time}  {decision:<5}  {kind:<13}  {what}")
}

fn session_start(r: &Map<String, Value>) -> String {
    format!(
        "session {} policy `{}` ({}) process {} (pid {})",
        short(text(r, &["session"])),
        text(r, &["policy"]).unwrap_or("?"),
        short(text(r, &["policy_hash"])),
        text(r, &["process", "name"]).unwrap_or("?"),
        get(r, &["process", "pid"]).map_or("?".to_string(), ToString::to_string),
    )
}

fn session_end(r: &Map<String, Value>) -> String {
    let count = get(r, &["count"]).map_or("?".to_string(), ToString::to_string);
    let mut s = format!("session {}: {count} events", short(text(r, &["session"])));
    if let Some(n) = get(r, &["unfinished"])
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
    {
        s.push_str(&format!(", {n} connections still open (not recorded)"));
    }
    s
}

fn dns(r: &Map<String, Value>) -> String {
    let answers: Vec<&str> = get(r, &["answers"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("rdata").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let mut s = format!(
        "{} {} -> {}",
        text(r, &["query", "hostname"]).unwrap_or("?"),
        text(r, &["query", "type"]).unwrap_or("?"),
        text(r, &["rcode"]).unwrap_or("?"),
    );
    if !answers.is_empty() {
        s.push_str(&format!(" {}", answers.join(",")));
    }
    push_rule_and_reason(&mut s, r);
    s
}

/// `rename OLD -> NEW (folder) (N events)`.
fn write(r: &Map<String, Value>) -> String {
    let mut s = format!(
        "{} {}",
        text(r, &["write"]).unwrap_or("?"),
        text(r, &["file", "path"]).unwrap_or("?")
    );
    if let Some(to) = text(r, &["file_result", "path"]) {
        s.push_str(&format!(" -> {to}"));
    }
    if text(r, &["file", "type"]) == Some("Folder") {
        s.push_str(" (folder)");
    }
    if let Some(n) = get(r, &["count"])
        .and_then(Value::as_u64)
        .filter(|n| *n > 1)
    {
        s.push_str(&format!(" ({n} events)"));
    }
    s
}

/// `seccomp `acct` failed with EPERM (thread 12) rule FILE:LINE: why`.
fn denial(r: &Map<String, Value>) -> String {
    let call = text(r, &["syscall"]).map_or_else(
        || {
            format!(
                "#{}",
                get(r, &["nr"]).map_or("?".to_string(), ToString::to_string)
            )
        },
        str::to_string,
    );
    let mut s = format!(
        "{} `{call}` failed with {} (thread {})",
        text(r, &["layer"]).unwrap_or("?"),
        text(r, &["errno"]).unwrap_or("?"),
        get(r, &["pid"]).map_or("?".to_string(), ToString::to_string),
    );
    push_rule_and_reason(&mut s, r);
    s
}

fn connection(r: &Map<String, Value>) -> String {
    let port = get(r, &["dst_endpoint", "port"]).map_or("?".to_string(), ToString::to_string);
    let mut s = format!(
        "{}:{port} via {}",
        text(r, &["dst_endpoint", "hostname"]).unwrap_or("?"),
        text(r, &["connection_info", "via"]).unwrap_or("?"),
    );
    for (label, path) in [
        ("sni", &["tls", "sni"][..]),
        ("Host", &["http_request", "host"]),
        ("dialled", &["dst_endpoint", "dialled"]),
        ("token", &["token", "name"]),
    ] {
        if let Some(v) = text(r, path) {
            s.push_str(&format!(" {label} {v}"));
        }
    }
    let bytes = |k: &str| get(r, &["traffic", k]).and_then(Value::as_u64).unwrap_or(0);
    let (out, back) = (bytes("bytes_out"), bytes("bytes_in"));
    if out > 0 || back > 0 {
        s.push_str(&format!(" out {out} B in {back} B"));
    }
    if let Some(ms) = get(r, &["duration"]).and_then(Value::as_u64) {
        s.push_str(&format!(" {ms} ms"));
    }
    push_rule_and_reason(&mut s, r);
    s
}

fn push_rule_and_reason(s: &mut String, r: &Map<String, Value>) {
    if let Some(rule) = text(r, &["rule"]) {
        s.push_str(&format!(" rule {rule}"));
    }
    if let Some(why) = text(r, &["reason"]).filter(|w| !w.is_empty()) {
        s.push_str(&format!(": {why}"));
    }
}

/// The first 12 characters of an id or hash (after `sha256:`).
fn short(id: Option<&str>) -> String {
    let id = id.unwrap_or("?");
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .take(12)
        .collect()
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_796_564_889_001), "2026-12-06T13:48:09.001Z");
    }

    #[test]
    fn filters_match_decision_host_and_token() {
        let r: Map<String, Value> = serde_json::from_str(
            r#"{"kind":"egress","decision":"allow","dst_endpoint":{"hostname":"API.example.com"},"token":{"name":"api"}}"#,
        )
        .unwrap();
        let f = |d, h: Option<&str>, t: Option<&str>| Filter {
            decision: d,
            host: h.map(str::to_string),
            token: t.map(str::to_string),
            kind: None,
        };
        assert!(f(None, None, None).keeps(&r));
        assert!(f(Some("allow"), Some("api.example.com."), Some("api")).keeps(&r));
        assert!(!f(Some("deny"), None, None).keeps(&r));
        assert!(!f(None, Some("example.com"), None).keeps(&r));
        assert!(!f(None, None, Some("other")).keeps(&r));
        let k = |k: &str| Filter {
            kind: Some(k.to_string()),
            ..Filter::default()
        };
        assert!(k("egress").keeps(&r));
        assert!(k("token").keeps(&r));
        assert!(!k("write").keeps(&r));
    }

    #[test]
    fn writes_and_denials_read_as_one_line_each() {
        let w: Map<String, Value> = serde_json::from_str(
            r#"{"seq":3,"time":0,"kind":"write","decision":"allow","write":"rename","file":{"path":"/o/b","type":"Regular File"},"file_result":{"path":"/o/c","type":"Regular File"},"count":2}"#,
        )
        .unwrap();
        assert_eq!(
            line(4, &w),
            "    4  1970-01-01T00:00:00.000Z  allow  write          rename /o/b -> /o/c (2 events)"
        );
        let d: Map<String, Value> = serde_json::from_str(
            r#"{"time":0,"kind":"denial","decision":"deny","layer":"seccomp","syscall":"acct","nr":163,"pid":9,"errno":"EPERM","rule":"a.policy:5","reason":"not allowed"}"#,
        )
        .unwrap();
        assert_eq!(
            line(5, &d),
            "    5  1970-01-01T00:00:00.000Z  deny   denial         seccomp `acct` failed with EPERM (thread 9) rule a.policy:5: not allowed"
        );
        let k = Filter {
            kind: Some("denial".into()),
            ..Filter::default()
        };
        assert!(k.keeps(&d) && !k.keeps(&w));
    }
}
