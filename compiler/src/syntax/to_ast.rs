//! Concrete syntax (pest pairs) to the syntax tree. Literal errors (numbers out of range,
//! bad escapes) become diagnostics here; everything else is the checker's business.

use super::Rule;
use crate::ast::*;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::span::{FileId, Span, Spanned};
use pest::iterators::Pair;

type P<'i> = Pair<'i, Rule>;

/// Builds the syntax tree of one file from its pest pairs, reporting literal errors.
pub(super) struct AstBuilder<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
    /// Suppressions read at the current level that wait for the rule they precede.
    pending: Vec<(Name, Option<Spanned<String>>, Span)>,
    /// The current block's suppressions, with their rules.
    suppressions: Vec<Suppression>,
}

impl<'d> AstBuilder<'d> {
    pub(super) fn new(file: FileId, diags: &'d mut Diagnostics) -> Self {
        AstBuilder {
            file,
            diags,
            pending: Vec::new(),
            suppressions: Vec::new(),
        }
    }

    /// Build one statement or rule with `build`, or record the suppression `p` is; the
    /// suppressions just before a rule apply to it.
    fn with_suppressions<'i, T>(
        &mut self,
        p: P<'i>,
        build: impl FnOnce(&mut Self, P<'i>) -> Option<T>,
        span: impl FnOnce(&T) -> Span,
    ) -> Option<T> {
        if p.as_rule() == Rule::allow_warning {
            let whole = self.span(&p);
            let mut inner = p.into_inner().filter(|c| c.as_rule() != Rule::warning_kw);
            let code = self.name(&inner.next()?);
            let reason = inner.next().map(|r| self.string(r));
            self.pending.push((code, reason, whole));
            return None;
        }
        let outer = std::mem::take(&mut self.pending);
        let built = build(self, p);
        let inner = std::mem::replace(&mut self.pending, outer);
        let target = built.as_ref().map(span);
        for (code, reason, at) in std::mem::take(&mut self.pending).into_iter().chain(inner) {
            self.suppressions.push(Suppression {
                code,
                reason,
                span: at,
                target: target.unwrap_or(at),
            });
        }
        built
    }

    /// The pair's span without the whitespace an optional trailing part let it swallow.
    fn span(&self, p: &P<'_>) -> Span {
        let s = p.as_span();
        let len = s.as_str().trim_end().len();
        Span::new(self.file, s.start(), s.start() + len)
    }

    fn name(&self, p: &P<'_>) -> Name {
        Spanned::new(p.as_str().to_string(), self.span(p))
    }

    fn error(&mut self, code: Code, span: Span, msg: String, hint: &str) {
        self.diags
            .push(Diagnostic::new(code, span, msg).with_hint(hint));
    }

    pub(super) fn file(&mut self, p: P<'_>) -> Vec<Item> {
        p.into_inner().filter_map(|item| self.item(item)).collect()
    }

    fn item(&mut self, p: P<'_>) -> Option<Item> {
        Some(match p.as_rule() {
            Rule::use_decl => Item::Use(self.use_decl(p)),
            Rule::paths_decl => Item::Paths(self.paths_decl(p)),
            Rule::sysset_decl => Item::SyscallSet(self.sysset_decl(p)),
            Rule::fragment_decl => Item::Fragment(self.block(p)),
            Rule::policy_decl => Item::Policy(self.block(p)),
            Rule::token_decl => Item::Token(self.token(p)),
            _ => return None,
        })
    }

    fn use_decl(&mut self, p: P<'_>) -> Use {
        let span = self.span(&p);
        let path = p
            .into_inner()
            .flat_map(Pair::into_inner)
            .map(|seg| self.name(&seg))
            .collect();
        Use { path, span }
    }

    /// Split leading `///` docs from the rest of an item's children.
    fn docs_and_rest<'i>(&mut self, p: P<'i>) -> (Vec<String>, Span, Vec<P<'i>>) {
        let span = self.span(&p);
        let mut docs = Vec::new();
        let mut rest = Vec::new();
        for child in p.into_inner() {
            if child.as_rule() == Rule::docs {
                docs.extend(child.into_inner().map(|d| {
                    let text = d.as_str().trim_start_matches("///");
                    text.strip_prefix(' ')
                        .unwrap_or(text)
                        .trim_end()
                        .to_string()
                }));
            } else {
                rest.push(child);
            }
        }
        (docs, span, rest)
    }

    fn paths_decl(&mut self, p: P<'_>) -> PathsDecl {
        let (docs, span, rest) = self.docs_and_rest(p);
        let mut it = rest.into_iter();
        let name = it
            .next()
            .map(|n| self.name(&n))
            .unwrap_or_default_name(span);
        let paths = it.map(|s| self.string(s)).collect();
        PathsDecl {
            docs,
            name,
            paths,
            span,
        }
    }

    fn sysset_decl(&mut self, p: P<'_>) -> SyscallSetDecl {
        let (docs, span, rest) = self.docs_and_rest(p);
        let mut it = rest.into_iter();
        let name = it
            .next()
            .map(|n| self.name(&n))
            .unwrap_or_default_name(span);
        let members = it.map(|m| self.name(&m)).collect();
        SyscallSetDecl {
            docs,
            name,
            members,
            span,
        }
    }

    fn block(&mut self, p: P<'_>) -> Block {
        let (docs, span, rest) = self.docs_and_rest(p);
        let mut it = rest.into_iter();
        let name = it
            .next()
            .map(|n| self.name(&n))
            .unwrap_or_default_name(span);
        let outer = std::mem::take(&mut self.suppressions);
        let stmts = it
            .filter_map(|s| self.with_suppressions(s, Self::stmt, Stmt::span))
            .collect();
        let mut suppressions = std::mem::replace(&mut self.suppressions, outer);
        suppressions.sort_by_key(|s| s.span.start);
        Block {
            docs,
            name,
            stmts,
            suppressions,
            span,
        }
    }

    fn stmt(&mut self, p: P<'_>) -> Option<Stmt> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.clone().into_inner();
        Some(match rule {
            Rule::isolation_stmt => Stmt::Isolation(self.name(&inner.next()?)),
            Rule::include_stmt => Stmt::Include(self.name(&inner.next()?)),
            Rule::threats_stmt => Stmt::Threats(self.ident_list(inner.next()?), span),
            Rule::data_stmt => Stmt::Data(self.ident_list(inner.next()?), span),
            Rule::fs_block => Stmt::Fs(
                inner
                    .filter_map(|r| self.with_suppressions(r, Self::fs_rule, FsRule::span))
                    .collect(),
                span,
            ),
            Rule::net_block => Stmt::Net(
                inner
                    .filter_map(|r| self.with_suppressions(r, Self::net_rule, NetRule::span))
                    .collect(),
                span,
            ),
            Rule::token_decl => Stmt::Token(self.token(p)),
            Rule::syscalls_block => {
                let rules = inner
                    .filter_map(|r| self.with_suppressions(r, Self::sys_rule, SysRule::span))
                    .collect();
                Stmt::Syscalls(rules, span)
            }
            Rule::limits_block => Stmt::Limits(inner.filter_map(|l| self.limit(l)).collect(), span),
            Rule::audit_block => Stmt::Audit(inner.map(|n| self.name(&n)).collect(), span),
            Rule::env_block => Stmt::Env(
                inner
                    .filter_map(|r| self.with_suppressions(r, Self::env_rule, EnvRule::span))
                    .collect(),
                span,
            ),
            Rule::test_block => Stmt::Test(self.test(p)?),
            _ => return None,
        })
    }

    fn ident_list(&mut self, p: P<'_>) -> Vec<Name> {
        p.into_inner().map(|n| self.name(&n)).collect()
    }

    fn fs_rule(&mut self, p: P<'_>) -> Option<FsRule> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.into_inner().peekable();
        Some(match rule {
            Rule::fs_mount => {
                let access = access(&inner.next()?);
                let host = self.string(inner.next()?);
                let guest = inner.next().map(|g| self.string(g));
                FsRule::Mount {
                    access,
                    host,
                    guest,
                    span,
                }
            }
            Rule::fs_scratch | Rule::fs_tmpfs => {
                let path = self.string(inner.next()?);
                let size = inner.next().and_then(|s| self.size(s));
                if rule == Rule::fs_scratch {
                    FsRule::Scratch { path, size, span }
                } else {
                    FsRule::Tmpfs { path, size, span }
                }
            }
            Rule::fs_deny => {
                let access = match inner.peek() {
                    Some(a) if a.as_rule() == Rule::fs_access => inner.next().map(|a| access(&a)),
                    _ => None,
                };
                let t = inner.next()?;
                let target = if t.as_rule() == Rule::string {
                    DenyTarget::Path(self.string(t))
                } else {
                    DenyTarget::List(self.name(&t))
                };
                FsRule::Deny {
                    access,
                    target,
                    span,
                }
            }
            _ => return None,
        })
    }

    fn net_rule(&mut self, p: P<'_>) -> Option<NetRule> {
        let span = self.span(&p);
        Some(match p.as_rule() {
            Rule::egress_none => NetRule::EgressNone(span),
            Rule::egress_proxy | Rule::egress_direct => {
                let via = if p.as_rule() == Rule::egress_proxy {
                    EgressVia::Proxy
                } else {
                    EgressVia::Direct
                };
                let rules = p
                    .into_inner()
                    .filter_map(|r| self.with_suppressions(r, Self::egress_rule, EgressRule::span))
                    .collect();
                NetRule::Egress { via, rules, span }
            }
            Rule::dns_stmt => {
                let mode = p.into_inner().next()?;
                let m = match mode.as_str() {
                    "none" => DnsMode::None,
                    "any" => DnsMode::Any,
                    _ => DnsMode::AllowListedOnly,
                };
                NetRule::Dns(Spanned::new(m, self.span(&mode)))
            }
            _ => return None,
        })
    }

    fn egress_rule(&mut self, p: P<'_>) -> Option<EgressRule> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.into_inner();
        let endpoint = self.endpoint(inner.next()?)?;
        Some(if rule == Rule::egress_allow {
            let token = inner.next().map(|t| self.name(&t));
            EgressRule::Allow {
                endpoint,
                token,
                span,
            }
        } else {
            EgressRule::Deny { endpoint, span }
        })
    }

    /// `"host":443`, `"host":*`, `"host"`, or the one-string form `"host:443"`.
    fn endpoint(&mut self, p: P<'_>) -> Option<Endpoint> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let host = self.string(inner.next()?);
        let port = inner.next().map(|port| self.port(port));
        if port.is_none() {
            if let Some((h, pnum)) = split_host_port(&host.node) {
                return Some(Endpoint {
                    host: Spanned::new(h, host.span),
                    port: Some(Spanned::new(pnum, host.span)),
                    span,
                });
            }
        }
        Some(Endpoint { host, port, span })
    }

    fn port(&mut self, p: P<'_>) -> Spanned<PortSpec> {
        let span = self.span(&p);
        match p.into_inner().next() {
            Some(n) => Spanned::new(PortSpec::Number(self.int(&n).unwrap_or(0)), span),
            None => Spanned::new(PortSpec::Any, span),
        }
    }

    fn token(&mut self, p: P<'_>) -> TokenDecl {
        let (docs, span, rest) = self.docs_and_rest(p);
        let mut it = rest.into_iter();
        let name = it
            .next()
            .map(|n| self.name(&n))
            .unwrap_or_default_name(span);
        let fields = it.filter_map(|f| self.token_field(f)).collect();
        TokenDecl {
            docs,
            name,
            fields,
            span,
        }
    }

    fn token_field(&mut self, p: P<'_>) -> Option<TokenField> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.into_inner();
        Some(match rule {
            Rule::audience => TokenField::Audience(self.string(inner.next()?)),
            Rule::scope => TokenField::Scope(inner.map(|s| self.string(s)).collect(), span),
            Rule::ttl => TokenField::Ttl(self.duration(inner.next()?)?),
            Rule::approval => {
                let m = inner.next()?;
                TokenField::Approval(Spanned::new(m.as_str() == "required", self.span(&m)))
            }
            _ => return None,
        })
    }

    fn sys_rule(&mut self, p: P<'_>) -> Option<SysRule> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let inner = p.into_inner();
        Some(match rule {
            Rule::sys_default => SysRule::Default(self.action(inner.into_iter().next()?)),
            Rule::sys_allow => {
                SysRule::Allow(inner.filter_map(|t| self.sys_target(t)).collect(), span)
            }
            Rule::sys_deny => {
                let mut names = Vec::new();
                let mut condition = Vec::new();
                let mut action = None;
                for c in inner {
                    match c.as_rule() {
                        Rule::action => action = Some(self.action(c)),
                        Rule::condition => {
                            condition = c.into_inner().filter_map(|a| self.arg_cmp(a)).collect();
                        }
                        _ => names.push(self.name(&c)),
                    }
                }
                SysRule::Deny {
                    names,
                    condition,
                    action,
                    span,
                }
            }
            _ => return None,
        })
    }

    fn sys_target(&mut self, p: P<'_>) -> Option<SysTarget> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.name(&inner.next()?);
        let condition = match inner.next() {
            Some(c) => c.into_inner().filter_map(|a| self.arg_cmp(a)).collect(),
            None => Vec::new(),
        };
        Some(SysTarget {
            name,
            condition,
            span,
        })
    }

    fn arg_cmp(&mut self, p: P<'_>) -> Option<ArgCmp> {
        let span = self.span(&p);
        let mut arg = 0u8;
        let mut mask = None;
        let mut op = CmpOp::Eq;
        let mut value = 0;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::arg => {
                    arg = c
                        .as_str()
                        .get(3..)
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                }
                Rule::mask => mask = c.into_inner().next().and_then(|m| self.int(&m)),
                Rule::cmp_op => op = cmp_op(c.as_str()),
                Rule::int => value = self.int(&c).unwrap_or(0),
                _ => {}
            }
        }
        Some(ArgCmp {
            arg,
            mask,
            op,
            value,
            span,
        })
    }

    fn action(&mut self, p: P<'_>) -> Spanned<Action> {
        let span = self.span(&p);
        let a = match p.into_inner().next() {
            Some(k) if k.as_rule() == Rule::action_errno => match k.into_inner().next() {
                Some(v) if v.as_rule() == Rule::int => {
                    Action::Errno(ErrnoSpec::Number(self.int(&v).unwrap_or(0)))
                }
                Some(v) => Action::Errno(ErrnoSpec::Name(v.as_str().to_string())),
                None => Action::Errno(ErrnoSpec::Name(String::new())),
            },
            _ => Action::Kill,
        };
        Spanned::new(a, span)
    }

    fn limit(&mut self, p: P<'_>) -> Option<Limit> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.name(&inner.next()?);
        let v = inner.next()?;
        let vspan = self.span(&v);
        let value = if v.as_rule() == Rule::size {
            LimitValue::Size(self.size(v)?.node)
        } else {
            LimitValue::Number(v.as_str().to_string())
        };
        Some(Limit {
            name,
            value: Spanned::new(value, vspan),
            span,
        })
    }

    fn env_rule(&mut self, p: P<'_>) -> Option<EnvRule> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.into_inner();
        Some(match rule {
            Rule::env_pass => EnvRule::Pass(inner.map(|n| self.name(&n)).collect(), span),
            Rule::env_set => {
                let name = self.name(&inner.next()?);
                let value = self.string(inner.next()?);
                EnvRule::Set { name, value, span }
            }
            _ => return None,
        })
    }

    fn test(&mut self, p: P<'_>) -> Option<TestBlock> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.string(inner.next()?);
        let expectations = inner.filter_map(|e| self.expectation(e)).collect();
        Some(TestBlock {
            name,
            expectations,
            span,
        })
    }

    fn expectation(&mut self, p: P<'_>) -> Option<Expectation> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let allow = inner.next()?.as_str() == "allow";
        let r = inner.next()?;
        let rule = r.as_rule();
        let mut parts = r.into_inner();
        let request = match rule {
            Rule::req_fs => {
                let a = access(&parts.next()?);
                RequestSyntax::Fs(a, self.string(parts.next()?))
            }
            Rule::req_meta => {
                let op = MetaOp::from_keyword(parts.next()?.as_str())?;
                RequestSyntax::Meta(op, self.string(parts.next()?))
            }
            Rule::req_connect => RequestSyntax::Connect(self.endpoint(parts.next()?)?),
            Rule::req_resolve => RequestSyntax::Resolve(self.string(parts.next()?)),
            Rule::req_syscall => {
                let name = self.name(&parts.next()?);
                let args: Vec<u64> = parts.filter_map(|a| self.int(&a)).collect();
                RequestSyntax::Syscall(name, (!args.is_empty()).then_some(args))
            }
            _ => return None,
        };
        let unenforced = inner
            .next()
            .filter(|u| u.as_rule() == Rule::unenforced)
            .and_then(|u| u.into_inner().next())
            .map(|s| self.string(s));
        Some(Expectation {
            allow,
            request,
            unenforced,
            span,
        })
    }

    fn string(&mut self, p: P<'_>) -> Spanned<String> {
        let span = self.span(&p);
        let raw = p.into_inner().next().map_or("", |i| i.as_str());
        match unescape(raw) {
            Ok(s) => Spanned::new(s, span),
            Err(bad) => {
                self.error(
                    Code::BadEscape,
                    span,
                    format!("invalid escape `{bad}`"),
                    "strings accept \\\" \\\\ \\n \\t \\r \\0 and \\u{HEX} escapes",
                );
                Spanned::new(raw.to_string(), span)
            }
        }
    }

    fn int(&mut self, p: &P<'_>) -> Option<u64> {
        let s = p.as_str();
        let parsed = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        };
        match parsed {
            Ok(v) => Some(v),
            Err(_) => {
                let span = self.span(p);
                self.error(
                    Code::BadLiteral,
                    span,
                    format!("number `{s}` does not fit in 64 bits"),
                    "numbers are unsigned 64-bit integers",
                );
                None
            }
        }
    }

    fn size(&mut self, p: P<'_>) -> Option<Spanned<u64>> {
        let span = self.span(&p);
        let text = p.as_str().to_string();
        let mut inner = p.into_inner();
        let num: Option<u64> = inner.next().and_then(|n| n.as_str().parse().ok());
        let unit = inner.next().map_or("B", |u| u.as_str());
        let shift = match unit {
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            "TiB" => 40,
            _ => 0,
        };
        match num.and_then(|n| n.checked_mul(1u64 << shift)) {
            Some(v) => Some(Spanned::new(v, span)),
            None => {
                self.error(
                    Code::BadLiteral,
                    span,
                    format!("size `{text}` does not fit in 64 bits"),
                    "sizes are at most 16 EiB",
                );
                None
            }
        }
    }

    fn duration(&mut self, p: P<'_>) -> Option<Spanned<u64>> {
        let span = self.span(&p);
        let text = p.as_str().to_string();
        let mut inner = p.into_inner();
        let num: Option<u64> = inner.next().and_then(|n| n.as_str().parse().ok());
        let unit = inner.next().map_or("s", |u| u.as_str());
        let factor = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => 86_400_000,
        };
        match num.and_then(|n| n.checked_mul(factor)) {
            Some(v) => Some(Spanned::new(v, span)),
            None => {
                self.error(
                    Code::BadLiteral,
                    span,
                    format!("duration `{text}` is too long"),
                    "durations are at most 2^64 milliseconds",
                );
                None
            }
        }
    }
}

trait NameOr {
    fn unwrap_or_default_name(self, span: Span) -> Name;
}
impl NameOr for Option<Name> {
    fn unwrap_or_default_name(self, span: Span) -> Name {
        self.unwrap_or_else(|| Spanned::new(String::new(), span))
    }
}

fn access(p: &P<'_>) -> Access {
    match p.as_str() {
        "write" => Access::Write,
        "exec" => Access::Exec,
        _ => Access::Read,
    }
}

fn cmp_op(s: &str) -> CmpOp {
    match s {
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        _ => CmpOp::Eq,
    }
}

/// Split `host:port` written as one string; IPv6 must be bracketed (`[::1]:443`).
fn split_host_port(s: &str) -> Option<(String, PortSpec)> {
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    let port = if port == "*" {
        PortSpec::Any
    } else {
        PortSpec::Number(port.parse().ok()?)
    };
    Some((host.to_string(), port))
}

/// Resolve escapes; on failure return the offending escape.
pub(crate) fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let open = chars.next();
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let ch = (open == Some('{') && (1..=6).contains(&hex.len()))
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match ch {
                    Some(ch) => out.push(ch),
                    None => {
                        return Err(format!(
                            "\\u{}{hex}}}",
                            open.map(String::from).unwrap_or_default()
                        ))
                    }
                }
            }
            Some(other) => return Err(format!("\\{other}")),
            None => return Err("\\".to_string()),
        }
    }
    Ok(out)
}
