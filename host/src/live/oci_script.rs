//! The busybox `sh` script a container runs, and reading its output back.
//!
//! Each probe prints one line, `P|<id>|<status>|<output on one line>`:
//!
//! - `r ID PATH`: open for reading (`exec 3<`), then print the opened file's `dev:ino`;
//! - `w ID PATH`: open for appending (`exec 3>>`: `O_WRONLY|O_APPEND|O_CREAT`, never
//!   truncating, nothing written), then print its `dev:ino`;
//! - `c ID DIR`: create `DIR/.policyc-probe-ID` the same way and print `created`;
//! - `x ID PATH`: execute in a subshell; a fixture file fails `execve` with `ENOEXEC`, and
//!   the shell then reads it as a script that exits 93;
//! - `n ID IP PORT`: `nc` connects; `l ID NAME`: `nslookup`.
//!
//! Preparations print nothing: `m DIR` (`mkdir -p`), `t FILE` (an empty file), `g FILE` (a
//! fixture file). The first line, `N|...`, lists `/sys/class/net`; the last is `DONE`.

use super::fixture::PROBE_CONTENT;
use std::collections::BTreeMap;

const PRELUDE: &str = r#"set -f
say() { echo "P|$1|$2|$(echo $3)"; }
r() { o=$( { exec 3<"$2" && stat -L -c '%d:%i' /proc/self/fd/3; } 2>&1 ); s=$?; say "$1" "$s" "$o"; }
w() { o=$( { exec 3>>"$2" && stat -L -c '%d:%i' /proc/self/fd/3; } 2>&1 ); s=$?; say "$1" "$s" "$o"; }
c() { o=$( { exec 3>>"$2/.policyc-probe-$1" && echo created; } 2>&1 ); s=$?; say "$1" "$s" "$o"; }
x() { o=$( ( exec "$2" ) 2>&1 ); s=$?; say "$1" "$s" "$o"; }
n() { o=$(nc -w 2 "$2" "$3" </dev/null 2>&1); s=$?; say "$1" "$s" "$o"; }
l() { o=$(timeout 5 nslookup "$2" 2>&1); s=$?; say "$1" "$s" "$o"; }
m() { ( mkdir -p "$1" ) 2>/dev/null; }
t() { ( : >>"$1" ) 2>/dev/null; }
echo "N|$(echo $(ls /sys/class/net 2>&1))"
"#;

/// A probe script being written.
#[derive(Debug)]
pub struct Script {
    text: String,
    next: usize,
}

impl Default for Script {
    fn default() -> Self {
        let mut text = PRELUDE.to_string();
        text.push_str("g() { ( printf '%s\\n'");
        for line in String::from_utf8_lossy(PROBE_CONTENT).lines() {
            text.push(' ');
            text.push_str(&quote(line));
        }
        text.push_str(" >\"$1\" && chmod 755 \"$1\" ) 2>/dev/null; }\n");
        Script { text, next: 0 }
    }
}

/// A string as one single-quoted shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Script {
    fn probe(&mut self, f: &str, args: &[&str]) -> usize {
        let id = self.next;
        self.next += 1;
        self.text.push_str(&format!("{f} {id}"));
        for a in args {
            self.text.push(' ');
            self.text.push_str(&quote(a));
        }
        self.text.push('\n');
        id
    }

    fn prep(&mut self, f: &str, arg: &str) {
        self.text.push_str(&format!("{f} {}\n", quote(arg)));
    }

    pub fn read(&mut self, path: &str) -> usize {
        self.probe("r", &[path])
    }

    pub fn write(&mut self, path: &str) -> usize {
        self.probe("w", &[path])
    }

    pub fn create_in(&mut self, dir: &str) -> usize {
        self.probe("c", &[dir])
    }

    pub fn exec(&mut self, path: &str) -> usize {
        self.probe("x", &[path])
    }

    pub fn connect(&mut self, ip: &str, port: u16) -> usize {
        self.probe("n", &[ip, &port.to_string()])
    }

    pub fn lookup(&mut self, name: &str) -> usize {
        self.probe("l", &[name])
    }

    pub fn mkdir(&mut self, dir: &str) {
        self.prep("m", dir);
    }

    pub fn touch(&mut self, file: &str) {
        self.prep("t", file);
    }

    pub fn fixture_file(&mut self, file: &str) {
        self.prep("g", file);
    }

    pub fn finish(mut self) -> String {
        self.text.push_str("echo DONE\n");
        self.text
    }
}

/// One probe's exit status and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutput {
    pub status: i32,
    pub output: String,
}

/// What the script printed.
#[derive(Debug, Default)]
pub struct Output {
    pub probes: BTreeMap<usize, ProbeOutput>,
    /// The network interfaces in the container.
    pub interfaces: Vec<String>,
}

pub fn parse(stdout: &str) -> Output {
    let mut out = Output::default();
    for line in stdout.lines() {
        if let Some(ifaces) = line.strip_prefix("N|") {
            out.interfaces = ifaces.split_whitespace().map(str::to_string).collect();
            continue;
        }
        let mut parts = line.splitn(4, '|');
        if parts.next() != Some("P") {
            continue;
        }
        let id = parts.next().and_then(|i| i.parse().ok());
        let status = parts.next().and_then(|s| s.parse().ok());
        if let (Some(id), Some(status)) = (id, status) {
            let output = parts.next().unwrap_or_default().to_string();
            out.probes.insert(id, ProbeOutput { status, output });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_parsing() {
        assert_eq!(quote("a b'c"), r"'a b'\''c'");
        let mut s = Script::default();
        assert_eq!(s.read("/mnt/x"), 0);
        assert_eq!(s.exec("/mnt/it's"), 1);
        let text = s.finish();
        assert!(text.contains("r 0 '/mnt/x'\n"), "{text}");
        assert!(text.contains(r"x 1 '/mnt/it'\''s'"), "{text}");
        assert!(text.ends_with("echo DONE\n"));
        let out = parse("N|lo\nP|0|0|2049:12\nP|1|126|sh: /x: a|b\nDONE\n");
        assert_eq!(out.interfaces, ["lo"]);
        assert_eq!(
            out.probes.get(&1).map(|o| o.output.as_str()),
            Some("sh: /x: a|b")
        );
    }
}
