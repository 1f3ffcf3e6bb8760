//! Statement bodies: policy statements, fs/net/syscalls/limits/audit/test rules and token
//! fields. One rule per line; lists (`threats a, b`) stay on one line.

use super::build::Builder;
use super::lit;
use crate::ast::{
    DenyTarget, EgressRule, EgressVia, Endpoint, EnvRule, Expectation, FsRule, Limit, LimitValue,
    Name, NetRule, RequestSyntax, Stmt, SysRule, SysTarget, TestBlock, TokenField,
};
use crate::span::Spanned;

/// Names as list items: where each stands, and its text.
fn name_items(ns: &[Name]) -> Vec<(u32, String)> {
    ns.iter().map(|n| (n.span.start, n.node.clone())).collect()
}

/// Block statements are set off from their neighbours by an empty line.
fn is_block(s: &Stmt) -> bool {
    !matches!(
        s,
        Stmt::Isolation(_) | Stmt::Threats(..) | Stmt::Data(..) | Stmt::Include(_)
    )
}

impl Builder<'_> {
    /// The statements of a policy or fragment.
    pub(super) fn stmts(&mut self, stmts: &[Stmt]) {
        let mut prev_block: Option<bool> = None;
        for s in stmts {
            let block = is_block(s);
            if prev_block.is_some_and(|prev| prev || block) {
                self.blank_line();
            }
            self.stmt(s);
            prev_block = Some(block);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Isolation(n) => self.line(n.span.start, format!("isolation {}", n.node)),
            Stmt::Include(n) => self.line(n.span.start, format!("include {}", n.node)),
            Stmt::Threats(ns, span) => self.list(span.start, "threats", &name_items(ns), None),
            Stmt::Data(ns, span) => self.list(span.start, "data", &name_items(ns), None),
            Stmt::Fs(rules, span) => self.rules(*span, "fs", rules, Self::fs_rule),
            Stmt::Net(rules, span) => self.rules(*span, "net", rules, Self::net_rule),
            Stmt::Token(t) => self.token(t),
            Stmt::Syscalls(rules, span) => self.rules(*span, "syscalls", rules, Self::sys_rule),
            Stmt::Limits(limits, span) => self.rules(*span, "limits", limits, Self::limit),
            Stmt::Audit(ns, span) => self.rules(*span, "audit", ns, |b, n| {
                b.line(n.span.start, n.node.clone());
            }),
            Stmt::Env(rules, span) => self.rules(*span, "env", rules, Self::env_rule),
            Stmt::Test(t) => self.test(t),
        }
    }

    fn env_rule(&mut self, r: &EnvRule) {
        let text = match r {
            EnvRule::Pass(names, _) => format!(
                "pass {}",
                names
                    .iter()
                    .map(|n| n.node.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            EnvRule::Set { name, value, .. } => format!("set {} {}", name.node, self.string(value)),
        };
        self.line(r.span().start, text);
    }

    fn fs_rule(&mut self, r: &FsRule) {
        let text = match r {
            FsRule::Mount {
                access,
                host,
                guest,
                ..
            } => {
                let mut text = format!("{} {}", access.keyword(), self.string(host));
                if let Some(g) = guest {
                    text.push_str(" at ");
                    text.push_str(&self.string(g));
                }
                text
            }
            FsRule::Scratch { path, size, .. } => self.sized("scratch", path, size.as_ref()),
            FsRule::Tmpfs { path, size, .. } => self.sized("tmpfs", path, size.as_ref()),
            FsRule::Deny { access, target, .. } => {
                let mut text = "deny ".to_string();
                if let Some(a) = access {
                    text.push_str(a.keyword());
                    text.push(' ');
                }
                match target {
                    DenyTarget::Path(p) => text.push_str(&self.string(p)),
                    DenyTarget::List(n) => text.push_str(&n.node),
                }
                text
            }
        };
        self.line(r.span().start, text);
    }

    /// `scratch "/s" size 64MiB`, `tmpfs "/tmp"`.
    fn sized(
        &mut self,
        keyword: &str,
        path: &Spanned<String>,
        size: Option<&Spanned<u64>>,
    ) -> String {
        let mut text = format!("{keyword} {}", self.string(path));
        if let Some(s) = size {
            text.push_str(" size ");
            text.push_str(&lit::size(s.node));
        }
        text
    }

    fn net_rule(&mut self, r: &NetRule) {
        match r {
            NetRule::EgressNone(span) => self.line(span.start, "egress none".into()),
            NetRule::Egress { via, rules, span } => {
                let header = match via {
                    EgressVia::Proxy => "egress via proxy",
                    EgressVia::Direct => "egress direct",
                };
                self.rules(*span, header, rules, Self::egress_rule);
            }
            NetRule::Dns(mode) => {
                self.line(mode.span.start, format!("dns {}", mode.node.keyword()))
            }
        }
    }

    fn egress_rule(&mut self, r: &EgressRule) {
        match r {
            EgressRule::Allow {
                endpoint,
                token,
                span,
            } => {
                let mut text = format!("allow {}", self.endpoint(endpoint));
                if let Some(t) = token {
                    text.push_str(" with token ");
                    text.push_str(&t.node);
                }
                self.line(span.start, text);
            }
            EgressRule::Deny { endpoint, span } => {
                let text = format!("deny {}", self.endpoint(endpoint));
                self.line(span.start, text);
            }
        }
    }

    fn endpoint(&mut self, e: &Endpoint) -> String {
        self.record_literal(e.host.span);
        lit::endpoint(e)
    }

    pub(super) fn token_field(&mut self, f: &TokenField) {
        let text = match f {
            TokenField::Audience(s) => format!("audience {}", self.string(s)),
            TokenField::Scope(scopes, span) => {
                let items: Vec<(u32, String)> = scopes
                    .iter()
                    .map(|s| (s.span.start, self.string(s)))
                    .collect();
                return self.list(span.start, "scope", &items, None);
            }
            TokenField::Ttl(t) => format!("ttl {}", lit::duration(t.node)),
            TokenField::Approval(a) => {
                format!("approval {}", if a.node { "required" } else { "none" })
            }
        };
        self.line(f.span().start, text);
    }

    fn sys_rule(&mut self, r: &SysRule) {
        match r {
            SysRule::Default(a) => {
                self.line(a.span.start, format!("default {}", lit::action(&a.node)));
            }
            SysRule::Allow(targets, span) => {
                let items: Vec<(u32, String)> = targets
                    .iter()
                    .map(|t| (t.span.start, sys_target(t)))
                    .collect();
                self.list(span.start, "allow", &items, None);
            }
            SysRule::Deny {
                names: ns,
                condition,
                action,
                span,
            } => {
                let mut tail = lit::condition(condition);
                if let Some(a) = action {
                    tail.push(' ');
                    tail.push_str(&lit::action(&a.node));
                }
                let at = condition
                    .first()
                    .map(|c| c.span.start)
                    .or(action.as_ref().map(|a| a.span.start));
                let tail = at.map(|at| (at, tail.trim_start().to_string()));
                self.list(span.start, "deny", &name_items(ns), tail);
            }
        }
    }

    /// `head a, b, c` (then `tail`) on one line; or, when a `#` comment stands between
    /// the first item and the last, `head` alone, each item on a line of its own (with a
    /// comma after all but the last) and `tail` on the line after them, so that every
    /// comment stays after the item it follows. Items and `tail` come with their anchors.
    fn list(
        &mut self,
        anchor: u32,
        head: &str,
        items: &[(u32, String)],
        tail: Option<(u32, String)>,
    ) {
        let split = match (items.first(), items.last()) {
            (Some((first, _)), Some((last, _))) => self.has_comment_between(*first, *last),
            _ => false,
        };
        if !split {
            let texts: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
            let mut text = format!("{head} {}", texts.join(", "));
            if let Some((_, t)) = &tail {
                text.push(' ');
                text.push_str(t);
            }
            self.line(anchor, text);
            return;
        }
        self.line(anchor, head.to_string());
        self.indented(|b| {
            for (i, (at, text)) in items.iter().enumerate() {
                let comma = if i + 1 < items.len() { "," } else { "" };
                b.line(*at, format!("{text}{comma}"));
            }
            if let Some((at, t)) = tail {
                b.line(at, t);
            }
        });
    }

    fn limit(&mut self, l: &Limit) {
        let value = match &l.value.node {
            LimitValue::Size(bytes) => lit::size(*bytes),
            LimitValue::Number(n) => n.clone(),
        };
        self.line(l.span.start, format!("{} {value}", l.name.node));
    }

    fn test(&mut self, t: &TestBlock) {
        let header = format!("test {}", self.string(&t.name));
        self.rules(t.span, &header, &t.expectations, Self::expectation);
    }

    fn expectation(&mut self, e: &Expectation) {
        let verdict = if e.allow { "allow" } else { "deny" };
        let request = match &e.request {
            RequestSyntax::Fs(access, path) => {
                format!("{} {}", access.keyword(), self.string(path))
            }
            RequestSyntax::Meta(op, path) => format!("{} {}", op.keyword(), self.string(path)),
            RequestSyntax::Connect(endpoint) => format!("connect {}", self.endpoint(endpoint)),
            RequestSyntax::Resolve(host) => format!("resolve {}", self.string(host)),
            RequestSyntax::Syscall(name, args) => match args {
                Some(args) => {
                    let args: Vec<String> = args.iter().map(|a| lit::number(*a)).collect();
                    format!("syscall {}({})", name.node, args.join(", "))
                }
                None => format!("syscall {}", name.node),
            },
        };
        let limit = e
            .unenforced
            .as_ref()
            .map(|why| format!(" unenforced {}", self.string(why)))
            .unwrap_or_default();
        self.line(e.span.start, format!("{verdict} {request}{limit}"));
    }
}

/// `socket if arg0 == 2`.
fn sys_target(t: &SysTarget) -> String {
    format!("{}{}", t.name.node, lit::condition(&t.condition))
}
