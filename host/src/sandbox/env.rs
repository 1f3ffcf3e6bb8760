//! The environment a sandboxed program starts with: nothing inherited but what the policy
//! names (`env { pass ...; set ... }`), plus `HOME` and `PATH` as the sandbox sees them,
//! plus what the launcher itself adds (an egress supervisor's proxy variables, say).
//!
//! The caller's environment is never copied wholesale: a variable the policy does not name
//! (a cloud key, a token, `SSH_AUTH_SOCK`) never enters.

use policyc_compiler::ir;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// `PATH` when the policy neither passes nor sets one.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The variables of the program's environment, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// The environment for `policy`'s `env` block: `HOME` (the home directory `~` stands
    /// for, when known), `PATH` ([`DEFAULT_PATH`]), then each passed variable that `caller`
    /// has, then each set one. `pass` and `set` override `HOME` and `PATH`.
    pub fn for_policy(
        env: &ir::Env,
        home: Option<&str>,
        caller: impl Fn(&str) -> Option<OsString>,
    ) -> Self {
        let mut vars = BTreeMap::new();
        if let Some(h) = home {
            vars.insert(OsString::from("HOME"), OsString::from(h));
        }
        vars.insert(OsString::from("PATH"), OsString::from(DEFAULT_PATH));
        for name in &env.pass {
            if let Some(v) = caller(name) {
                vars.insert(OsString::from(name), v);
            }
        }
        for (k, v) in &env.set {
            vars.insert(OsString::from(k), OsString::from(v));
        }
        Environment { vars }
    }

    /// Add or replace a variable the launcher provides (for example `HTTP_PROXY` when an
    /// egress supervisor runs); these win over the policy's.
    pub fn add(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        self.vars.insert(name.into(), value.into());
    }

    /// Remove `name`: a variable the launcher must keep from the program (one holding a
    /// secret the egress supervisor injects, or one that would bypass its proxy).
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(OsStr::new(name));
    }

    /// The variables, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// The value of `name`, if the environment holds it.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn caller(name: &str) -> Option<OsString> {
        match name {
            "LANG" => Some("C.UTF-8".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("s3cr3t".into()),
            _ => None,
        }
    }

    #[test]
    fn only_named_variables_enter() {
        let mut env = ir::Env::default();
        env.pass.insert("LANG".into());
        env.pass.insert("TERM".into());
        env.set.insert("A".into(), "1".into());
        let e = Environment::for_policy(&env, Some("/home/u"), caller);
        let names: Vec<_> = e.vars().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, ["A", "HOME", "LANG", "PATH"]);
        assert_eq!(e.get("LANG").unwrap(), "C.UTF-8");
        assert_eq!(e.get("PATH").unwrap(), DEFAULT_PATH);
        assert!(e.get("AWS_SECRET_ACCESS_KEY").is_none());
    }

    #[test]
    fn launcher_entries_win() {
        let mut e = Environment::for_policy(&ir::Env::default(), None, caller);
        assert!(e.get("HOME").is_none());
        e.add("HTTP_PROXY", "http://127.0.0.1:1");
        e.add("PATH", "/bin");
        assert_eq!(e.get("HTTP_PROXY").unwrap(), "http://127.0.0.1:1");
        assert_eq!(e.get("PATH").unwrap(), "/bin");
    }
}
