//! The minimal reproducing policy for a leak: the policy's source with every statement,
//! rule, test and unrelated item removed that can be removed while the same target still
//! allows the same request and the policy still denies it. Greedy one-at-a-time deletion
//! over the syntax tree, repeated until nothing more can go; the result is printed by the
//! canonical formatter (comments and docs dropped).

use crate::probe::{self, Probe};
use policyc_compiler::ast::{File, Item, NetRule, Stmt, SysRule};
use policyc_compiler::fmt::format;
use policyc_compiler::syntax::parse;
use policyc_compiler::{compile, ModuleLoader, SourceMap};
use policyc_targets::{EmitContext, Target, Verdict};

/// What is being minimised.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    /// The policy file's text.
    pub source: &'a str,
    /// The policy whose artifacts leak.
    pub policy: &'a str,
    pub loader: &'a dyn ModuleLoader,
    pub target: &'static dyn Target,
    pub ctx: &'a EmitContext,
    pub probe: &'a Probe,
}

impl std::fmt::Debug for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("policy", &self.policy)
            .field("target", &self.target.name())
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

/// At most this many deletion passes (each pass tries every node once).
const MAX_PASSES: usize = 8;

/// The smallest source found that still leaks, or `None` when the given source does not
/// leak (nothing to minimise).
pub fn minimize(s: &Subject<'_>) -> Option<String> {
    let (file, diags) = parse(policyc_compiler::FileId(0), s.source);
    if diags.has_errors() {
        return None;
    }
    let mut best = strip(file);
    if !leaks(s, &best) {
        return None;
    }
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        let mut k = 0;
        while k < count(&best) {
            match remove(&best, k) {
                Some(smaller) if leaks(s, &smaller) => {
                    best = smaller;
                    changed = true;
                }
                _ => k += 1,
            }
        }
        if !changed {
            break;
        }
    }
    Some(format(&best, ""))
}

/// Drop comments and docs: they cannot matter and would need the original text.
fn strip(mut file: File) -> File {
    file.comments.clear();
    for item in &mut file.items {
        match item {
            Item::Paths(p) => p.docs.clear(),
            Item::SyscallSet(s) => s.docs.clear(),
            Item::Fragment(b) | Item::Policy(b) => {
                b.docs.clear();
                for st in &mut b.stmts {
                    if let Stmt::Token(t) = st {
                        t.docs.clear();
                    }
                }
            }
            Item::Token(t) => t.docs.clear(),
            Item::Use(_) => {}
        }
    }
    file
}

/// True when `file`, printed and compiled, still has policy `s.policy`, whose `s.target`
/// artifacts allow the probe while the policy denies it.
fn leaks(s: &Subject<'_>, file: &File) -> bool {
    let text = format(file, "");
    let mut sources = SourceMap::new();
    let id = sources.add("minimal.policy", &text);
    let out = compile(&mut sources, id, s.loader);
    if out.diagnostics.has_errors() {
        return false;
    }
    let Some(policy) = out.policies.iter().find(|p| p.name == s.policy) else {
        return false;
    };
    let Ok(emitted) = s.target.emit(policy, s.ctx) else {
        return false;
    };
    if probe::simulate(s.target, &emitted.artifacts, s.probe) != Verdict::Allow {
        return false;
    }
    !probe::reference_at(policy, s.ctx.home.as_deref(), s.probe).allow
}

/// The number of deletable nodes, in the order [`remove`] numbers them.
fn count(file: &File) -> usize {
    let mut n = 0;
    visit(file, &mut |_| {
        n += 1;
        false
    });
    n
}

/// `file` without deletable node number `k`.
fn remove(file: &File, k: usize) -> Option<File> {
    let mut copy = file.clone();
    let mut i = 0;
    let mut done = false;
    visit_mut(&mut copy, &mut |_| {
        let hit = i == k && !done;
        i += 1;
        if hit {
            done = true;
        }
        hit
    });
    done.then_some(copy)
}

/// A node that can be deleted.
#[derive(Debug, Clone, Copy)]
enum Node {
    Item,
    Stmt,
    Rule,
}

fn visit(file: &File, f: &mut dyn FnMut(Node) -> bool) {
    let mut copy = file.clone();
    visit_mut(&mut copy, f);
}

/// Walk deletable nodes; `f` returns true to delete the node it is shown. Items first
/// (every item but `use` lines), then each policy or fragment's statements (all but
/// `isolation`), then the rules inside `fs`, `net`, egress blocks and `syscalls`.
fn visit_mut(file: &mut File, f: &mut dyn FnMut(Node) -> bool) {
    file.items
        .retain(|it| matches!(it, Item::Use(_)) || !f(Node::Item));
    for item in &mut file.items {
        let (Item::Policy(b) | Item::Fragment(b)) = item else {
            continue;
        };
        b.stmts
            .retain(|st| matches!(st, Stmt::Isolation(_)) || !f(Node::Stmt));
        for st in &mut b.stmts {
            rules(st, f);
        }
    }
}

fn rules(st: &mut Stmt, f: &mut dyn FnMut(Node) -> bool) {
    match st {
        Stmt::Fs(rs, _) => rs.retain(|_| !f(Node::Rule)),
        Stmt::Net(rs, _) => {
            rs.retain(|_| !f(Node::Rule));
            for r in rs.iter_mut() {
                if let NetRule::Egress { rules, .. } = r {
                    rules.retain(|_| !f(Node::Rule));
                }
            }
        }
        Stmt::Syscalls(rs, _) => {
            rs.retain(|_| !f(Node::Rule));
            for r in rs.iter_mut() {
                match r {
                    SysRule::Allow(ts, _) => ts.retain(|_| !f(Node::Rule)),
                    SysRule::Deny { names, .. } if names.len() > 1 => {
                        names.retain(|_| !f(Node::Rule));
                    }
                    _ => {}
                }
            }
        }
        Stmt::Test(t) => t.expectations.retain(|_| !f(Node::Rule)),
        _ => {}
    }
}
