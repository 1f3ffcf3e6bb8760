//! `policyc explain`: why a policy allows or denies one request, by the reference semantics
//! (with the deciding rule's `file:line`) and by each layer's simulator (with the artifact
//! parts that decide). The explanation itself is `policyc_verify::explain`.

use super::{compile_file, Home};
use crate::inputs;
use crate::output::{print_diagnostics, print_usage_error, ErrorFormat, Status};
use policyc_compiler::{compile, Request, Severity, SourceMap};
use policyc_targets::{stack_for, Verdict};
use policyc_verify::explain::{explain, Explanation};
use policyc_verify::run::emit_layers;
use policyc_verify::Outcome;
use std::path::PathBuf;

/// Explain how a policy and each layer of its stack decide one request, written as in a
/// test block: `read "~/.ssh/id_rsa"`, `connect "api.example.com":443`,
/// `resolve "example.com"`, `syscall ioctl(1, 0x5412)`. Exits 1 when a layer disagrees
/// with the policy.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file.
    policy_file: PathBuf,
    /// The request, in test-block syntax.
    request: String,
    /// The policy to ask, when the file holds several.
    #[arg(long)]
    policy: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Human)]
    format: ExplainFormat,
    #[command(flatten)]
    home: Home,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    Human,
    Json,
}

pub fn run(args: &Args, format: ErrorFormat) -> Status {
    let Some(request) = parse_request(&args.request, format) else {
        return Status::Usage;
    };
    let Some((out, sources)) = compile_file(&args.policy_file, format) else {
        return Status::Usage;
    };
    if out.diagnostics.has_errors() {
        return Status::Failed;
    }
    let chosen: Vec<_> = out
        .policies
        .iter()
        .filter(|p| args.policy.as_ref().is_none_or(|n| *n == p.name))
        .collect();
    let policy = match chosen.as_slice() {
        [p] => *p,
        [] => {
            print_usage_error(
                &format!(
                    "no policy {}in `{}`",
                    args.policy
                        .as_ref()
                        .map_or(String::new(), |n| format!("named `{n}` ")),
                    inputs::display(&args.policy_file)
                ),
                format,
            );
            return Status::Usage;
        }
        _ => {
            let names: Vec<&str> = chosen.iter().map(|p| p.name.as_str()).collect();
            print_usage_error(
                &format!(
                    "`{}` holds several policies ({}); choose one with `--policy`",
                    inputs::display(&args.policy_file),
                    names.join(", ")
                ),
                format,
            );
            return Status::Usage;
        }
    };
    let ctx = args.home.ctx();
    let layers = emit_layers(policy, &stack_for(policy), &ctx);
    let e = explain(policy, &sources, &layers, ctx.home.as_deref(), &request);
    match args.format {
        ExplainFormat::Human => print!("{}", human(&e)),
        ExplainFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
        }
    }
    if e.layers.iter().any(|l| l.outcome == Outcome::Fail) {
        Status::Failed
    } else {
        Status::Ok
    }
}

/// The request parsed and normalised exactly as a test block's is: compiled as the one
/// case of a policy that grants nothing.
fn parse_request(text: &str, format: ErrorFormat) -> Option<Request> {
    if text.contains(['\n', '{', '}']) {
        print_usage_error(
            "the request must be one test-block line, e.g. `read \"~/.ssh/id_rsa\"`",
            format,
        );
        return None;
    }
    let source =
        format!("policy request {{\n    isolation process\n    test \"request\" {{\n        allow {text}\n    }}\n}}\n");
    let mut sources = SourceMap::new();
    let id = sources.add("<request>", source);
    let out = compile(&mut sources, id, &policyc_stdlib::Loader);
    let errors: Vec<_> = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .cloned()
        .collect();
    if !errors.is_empty() {
        print_diagnostics(&policyc_compiler::Diagnostics(errors), &sources, format);
        return None;
    }
    let request = out
        .policies
        .first()
        .and_then(|p| p.tests.first())
        .and_then(|t| t.cases.first())
        .map(|c| c.request.clone());
    if request.is_none() {
        print_usage_error(&format!("`{text}` is not a request"), format);
    }
    request
}

fn word(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Allow) => "allow",
        Some(Verdict::Deny) => "deny",
        Some(Verdict::NotMediated) => "not mediated",
        None => "not built",
    }
}

fn human(e: &Explanation) -> String {
    let mut out = format!("policy {}: {}\n", e.policy, e.request);
    out.push_str(&format!(
        "reference: {} ({})\n",
        word(Some(e.reference.verdict())),
        e.reference.reason
    ));
    match &e.rule {
        Some(r) => {
            let item = r
                .item
                .as_ref()
                .map_or(String::new(), |i| format!(" in {i}"));
            out.push_str(&format!("  rule: {}{item}: {}\n", r.at, r.line));
        }
        None => out.push_str("  rule: none (the built-in default)\n"),
    }
    out.push_str("layers:\n");
    for l in &e.layers {
        let agrees = match l.outcome {
            Outcome::Pass => "agrees",
            Outcome::Fail => "DISAGREES",
            Outcome::NotMediated => "left to other layers",
            _ => "not checked",
        };
        out.push_str(&format!(
            "  {:<9} {:<13} {agrees}\n",
            l.target,
            word(l.verdict)
        ));
        for ev in &l.evidence {
            out.push_str(&format!("      {ev}\n"));
        }
    }
    out
}
