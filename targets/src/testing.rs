//! Scaffolding the targets' unit tests share: emitting a policy written in the test, with
//! the test home directory or another, and the requests the tests ask about.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::{EmitContext, Emitted, Target};
use policyc_compiler::ast::Access;
use policyc_compiler::hosts::Host;
use policyc_compiler::ir::Policy;
use policyc_compiler::paths::CanonPath;
use policyc_compiler::{Code, Diagnostic, Request};
use policyc_testkit::stdlib::{policy, HOME};

/// Emitting policies as the unit tests do, with any target.
pub(crate) trait EmitText: Target {
    /// Emit `policy` with `home` as the home directory.
    fn emit_home(&self, policy: &Policy, home: Option<&str>) -> Result<Emitted, Vec<Diagnostic>> {
        let ctx = EmitContext {
            home: home.map(str::to_string),
        };
        self.emit(policy, &ctx)
    }

    /// Emit the policy `src`, with [`HOME`] as the home directory.
    fn emit_text(&self, src: &str) -> Result<Emitted, Vec<Diagnostic>> {
        self.emit_home(&policy(src), Some(HOME))
    }

    /// What `src` emits, panicking with the messages of its errors.
    fn emitted(&self, src: &str) -> Emitted {
        match self.emit_text(src) {
            Ok(e) => e,
            Err(d) => panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()),
        }
    }

    /// The errors `src` fails with, panicking when it emits.
    fn errors(&self, src: &str) -> Vec<Diagnostic> {
        match self.emit_text(src) {
            Ok(e) => panic!("emitted {:?}", e.artifacts.keys().collect::<Vec<_>>()),
            Err(d) => d,
        }
    }

    /// The codes of the errors `src` fails with (none when it emits).
    fn codes(&self, src: &str) -> Vec<Code> {
        match self.emit_text(src) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.code).collect(),
        }
    }
}

impl<T: Target> EmitText for T {}

/// The messages of the report entries with this code.
pub(crate) fn messages(e: &Emitted, code: Code) -> Vec<&str> {
    e.report
        .iter()
        .filter(|d| d.code == code)
        .map(|d| d.message.as_str())
        .collect()
}

/// A file-system request for a path as a program would write it.
pub(crate) fn fs(access: Access, path: &str) -> Request {
    Request::Fs {
        access,
        path: CanonPath::parse_request(path).unwrap(),
    }
}

/// A connect request.
pub(crate) fn connect(host: &str, port: u16) -> Request {
    Request::Connect {
        host: Host::parse(host).unwrap(),
        port,
    }
}

/// A name resolution request.
pub(crate) fn resolve(host: &str) -> Request {
    Request::Resolve {
        host: Host::parse(host).unwrap(),
    }
}
