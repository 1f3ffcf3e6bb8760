//! What `policyc test` found, per policy, in one shape for the three printers (human lines,
//! one JSON document, JUnit XML).

pub mod human;
pub mod json;
pub mod junit;

use policyc_compiler::ir::Policy;
use policyc_compiler::SourceMap;
use policyc_verify::live::{self, Expected, LayerStatus, LiveRun};
use policyc_verify::run::Enforcement;
use policyc_verify::stack::{table, Gap};
use policyc_verify::suite::Verification;
use policyc_verify::{Outcome, Verdict};
use std::collections::BTreeMap;

/// How to print test results (`policyc test --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// One test case on one layer.
#[derive(Debug, Clone)]
pub struct Row {
    pub test: String,
    /// `allow read "/x"` as written in the test block.
    pub case: String,
    /// `reference`, a target name, or `TARGET/live`.
    pub layer: String,
    pub outcome: Outcome,
    /// Why: the reference's reason, a verdict, a live observation.
    pub detail: String,
    /// `file:line:col` of the case.
    pub location: String,
}

/// A finding outside the per-case rows.
#[derive(Debug, Clone)]
pub struct Block {
    pub kind: BlockKind,
    pub title: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A target could not build the policy.
    BuildError,
    Leak,
    Gap,
    /// Requests left to something outside the stack, as a build report states.
    Limit,
    /// A live layer that could not run, or whose artifact was refused.
    LiveLayer,
    /// A live layer that only compiled its artifact.
    LiveNote,
}

/// Everything about one policy.
#[derive(Debug)]
pub struct PolicyResult {
    pub policy: String,
    pub file: String,
    pub rows: Vec<Row>,
    pub blocks: Vec<(Block, bool)>,
    pub stack_checked: usize,
    pub coverage: Vec<String>,
    pub coverage_json: serde_json::Value,
}

impl PolicyResult {
    pub fn new(
        policy: &Policy,
        v: Verification,
        live: Option<Vec<LiveRun>>,
        sources: &SourceMap,
        require_live: bool,
    ) -> Self {
        let file = sources
            .get(policy.span.file)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let mut rows = case_rows(&v, sources);
        let mut blocks = Vec::new();
        for l in &v.layers {
            if let Err(diags) = &l.emitted {
                let lines = diags
                    .iter()
                    .map(|d| {
                        format!(
                            "{}: [{}] {}",
                            sources.location(d.span),
                            d.code.as_str(),
                            d.message
                        )
                    })
                    .collect();
                let b = Block {
                    kind: BlockKind::BuildError,
                    title: format!(
                        "target `{}` cannot build policy `{}`",
                        l.name(),
                        policy.name
                    ),
                    lines,
                };
                blocks.push((b, true));
            }
        }
        let built = blocks.is_empty();
        blocks.extend(leak_blocks(&v, sources).into_iter().map(|b| (b, true)));
        if built {
            blocks.extend(gap_blocks(&v.gaps, sources).into_iter().map(|b| {
                let fails = b.kind == BlockKind::Gap;
                (b, fails)
            }));
        } else {
            let note = Block {
                kind: BlockKind::LiveNote,
                title: "the stack check needs every layer built; it was skipped".to_string(),
                lines: Vec::new(),
            };
            blocks.push((note, false));
        }
        if let Some(runs) = live {
            live_rows(&v, &runs, sources, &mut rows);
            blocks.extend(live_blocks(&runs, require_live));
        }
        let (coverage, coverage_json) = coverage_lines(&v, sources);
        PolicyResult {
            policy: policy.name.clone(),
            file,
            rows,
            blocks,
            stack_checked: if built { v.stack_checked } else { 0 },
            coverage,
            coverage_json,
        }
    }
}

fn expectation(expect_allow: bool, request: &str) -> String {
    format!("{} {request}", if expect_allow { "allow" } else { "deny" })
}

fn case_rows(v: &Verification, sources: &SourceMap) -> Vec<Row> {
    let mut rows = Vec::new();
    for c in &v.cases {
        let case = expectation(c.expect_allow, &c.request);
        let location = sources.location(c.span);
        let row = |layer: String, outcome: Outcome, detail: String| Row {
            test: c.test.clone(),
            case: case.clone(),
            layer,
            outcome,
            detail,
            location: location.clone(),
        };
        let reference = Outcome::judge(c.expected(), Some(c.reference.verdict()));
        rows.push(row(
            "reference".into(),
            reference,
            c.reference.reason.clone(),
        ));
        for lo in &c.layers {
            let detail = match lo.outcome {
                Outcome::Fail => format!(
                    "the artifact {}s it",
                    if c.expect_allow { "denie" } else { "allow" }
                ),
                Outcome::NotBuilt => "the target did not build".into(),
                Outcome::Pass
                | Outcome::NotMediated
                | Outcome::Unverified
                | Outcome::Unenforced => String::new(),
            };
            rows.push(row(lo.target.to_string(), lo.outcome, detail));
        }
        match &c.enforcement {
            Enforcement::Judged => {}
            Enforcement::Unenforced => rows.push(row(
                "stack".into(),
                Outcome::Unenforced,
                "the policy denies it, but no layer of the stack enforces the deny; state the limit next to the case (`unenforced \"why\"`) if something outside the stack enforces it".into(),
            )),
            Enforcement::Stated(why) => rows.push(row(
                "stack".into(),
                Outcome::NotMediated,
                format!("no layer enforces it; the policy states: {why}"),
            )),
        }
    }
    rows
}

/// One block per leak, up to [`MAX_GAPS_SHOWN`]; above that, a first block gives the
/// total.
fn leak_blocks(v: &Verification, sources: &SourceMap) -> Vec<Block> {
    let header = (v.leaks.len() > MAX_GAPS_SHOWN).then(|| Block {
        kind: BlockKind::Leak,
        title: format!(
            "{} requests the policy denies are allowed by some layer; the first {MAX_GAPS_SHOWN} follow",
            v.leaks.len()
        ),
        lines: Vec::new(),
    });
    let shown = v.leaks.iter().take(MAX_GAPS_SHOWN).map(|r| {
        let l = &r.leak;
        let mut lines = vec![format!("policy: {}", l.reference.reason)];
        if let Some(span) = l.reference.span {
            lines.push(format!(
                "rule that should deny it: {}",
                sources.location(span)
            ));
        }
        lines.push("allowed by:".to_string());
        lines.extend(l.evidence.iter().map(|e| format!("  {e}")));
        if let Some(m) = &r.minimal {
            lines.push("minimal reproducing policy:".to_string());
            lines.extend(m.lines().map(|x| format!("  | {x}")));
        }
        Block {
            kind: BlockKind::Leak,
            title: format!("`{}` allows {}, which the policy denies", l.target, l.probe),
            lines,
        }
    });
    header.into_iter().chain(shown).collect()
}

/// Gap blocks printed in full; the rest are counted in one block.
const MAX_GAPS_SHOWN: usize = 20;

/// Undeclared gaps one block each (up to [`MAX_GAPS_SHOWN`]); declared ones grouped by the
/// report that states them.
fn gap_blocks(gaps: &[Gap], sources: &SourceMap) -> Vec<Block> {
    let mut out = Vec::new();
    let undeclared = gaps.iter().filter(|g| g.declared.is_none()).count();
    if undeclared > MAX_GAPS_SHOWN {
        out.push(Block {
            kind: BlockKind::Gap,
            title: format!(
                "{undeclared} requests the policy denies are denied by no layer; the first {MAX_GAPS_SHOWN} follow"
            ),
            lines: Vec::new(),
        });
    }
    let mut shown = 0;
    let mut limits: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for g in gaps {
        match &g.declared {
            Some((msg, span)) => limits
                .entry((sources.location(*span), msg.clone()))
                .or_default()
                .push(g.probe.to_string()),
            None if shown >= MAX_GAPS_SHOWN => {}
            None => {
                shown += 1;
                let mut lines = vec![format!("policy: {}", g.reference.reason)];
                lines.extend(table(g).into_iter().map(|r| format!("  {r}")));
                out.push(Block {
                    kind: BlockKind::Gap,
                    title: format!("no layer denies {}", g.probe),
                    lines,
                });
            }
        }
    }
    for ((at, msg), reqs) in limits {
        let example = reqs.first().cloned().unwrap_or_default();
        out.push(Block {
            kind: BlockKind::Limit,
            title: format!(
                "{} denied requests (e.g. {example}) are left outside the stack, as the build report states",
                reqs.len()
            ),
            lines: vec![format!("{at}: {msg}")],
        });
    }
    out
}

/// One row per test case and live layer that ran: the live verdict against the case's
/// expectation.
fn live_rows(v: &Verification, runs: &[LiveRun], sources: &SourceMap, rows: &mut Vec<Row>) {
    let cases: Vec<_> = v
        .cases
        .iter()
        .filter(|c| matches!(c.probe, policyc_verify::Probe::Request(_)))
        .collect();
    let expected: Vec<Verdict> = cases.iter().map(|c| c.expected()).collect();
    for r in live::compare(runs, Expected::Cases(&expected)) {
        let Some(c) = cases.get(r.request) else {
            continue;
        };
        rows.push(Row {
            test: c.test.clone(),
            case: expectation(c.expect_allow, &c.request),
            layer: format!("{}/live", r.layer),
            outcome: r.outcome,
            detail: r.detail,
            location: sources.location(c.span),
        });
    }
}

/// A block for each live layer that did not run, or only compiled its artifact.
fn live_blocks(runs: &[LiveRun], require_live: bool) -> Vec<(Block, bool)> {
    let mut out = Vec::new();
    for run in runs {
        let (kind, title) = match &run.status {
            LayerStatus::Ran => continue,
            LayerStatus::CompiledOnly => (
                BlockKind::LiveNote,
                format!("`{}`: the artifact compiled with its real loader; this kernel cannot enforce it", run.layer),
            ),
            LayerStatus::Unavailable(why) => (
                BlockKind::LiveLayer,
                format!("`{}` cannot run live here: {why}", run.layer),
            ),
            LayerStatus::Failed(why) => (
                BlockKind::LiveLayer,
                format!("`{}` failed live: {why}", run.layer),
            ),
        };
        out.push((
            Block {
                kind,
                title,
                lines: run.notes.clone(),
            },
            run.status.fails(require_live),
        ));
    }
    out
}

fn coverage_lines(v: &Verification, sources: &SourceMap) -> (Vec<String>, serde_json::Value) {
    let c = &v.coverage;
    let tested = c.rules_total - c.untested_rules.len().min(c.rules_total);
    let mut lines = vec![format!(
        "{tested} of {} rules exercised by a test",
        c.rules_total
    )];
    for u in &c.untested_rules {
        lines.push(format!(
            "untested rule: {} at {}",
            u.rule,
            sources.location(u.span)
        ));
    }
    let names = |ts: &[policyc_compiler::ir::Threat]| -> Vec<&'static str> {
        ts.iter().map(|t| t.keyword()).collect()
    };
    if !c.untested_threats.is_empty() {
        lines.push(format!(
            "threats no test exercises: {}",
            names(&c.untested_threats).join(", ")
        ));
    }
    if !c.untestable_threats.is_empty() {
        lines.push(format!(
            "threats requests cannot exercise: {}",
            names(&c.untestable_threats).join(", ")
        ));
    }
    let json = serde_json::json!({
        "rules": c.rules_total,
        "untested_rules": c.untested_rules.iter().map(|u| serde_json::json!({
            "rule": u.rule, "location": sources.location(u.span)
        })).collect::<Vec<_>>(),
        "untested_threats": names(&c.untested_threats),
        "untestable_threats": names(&c.untestable_threats),
    });
    (lines, json)
}

/// Counts over every policy.
#[derive(Debug, Default)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub not_mediated: usize,
    /// Of `failed`: expected denies no layer enforces.
    pub unenforced: usize,
    pub unverified: usize,
    pub stack_checked: usize,
    pub findings: usize,
    pub limits: usize,
    pub broken_files: usize,
}

impl Totals {
    pub fn add(&mut self, r: &PolicyResult) {
        for row in &r.rows {
            match row.outcome {
                Outcome::Pass => self.passed += 1,
                Outcome::Fail | Outcome::NotBuilt => self.failed += 1,
                Outcome::Unenforced => {
                    self.failed += 1;
                    self.unenforced += 1;
                }
                Outcome::NotMediated => self.not_mediated += 1,
                Outcome::Unverified => self.unverified += 1,
            }
        }
        self.stack_checked += r.stack_checked;
        for (b, fails) in &r.blocks {
            if *fails {
                self.findings += 1;
            } else if b.kind == BlockKind::Limit {
                self.limits += 1;
            }
        }
    }

    pub fn failed(&self) -> bool {
        self.failed > 0 || self.findings > 0 || self.broken_files > 0
    }

    pub fn line(&self) -> String {
        let mut s = format!(
            "summary: {} passed, {} failed, {} not mediated",
            self.passed, self.failed, self.not_mediated
        );
        if self.unenforced > 0 {
            s.push_str(&format!(" ({} unenforced)", self.unenforced));
        }
        if self.unverified > 0 {
            s.push_str(&format!(", {} not verifiable live", self.unverified));
        }
        s.push_str(&format!(
            "; stack: {} denied requests checked, {} findings (leaks, gaps, build or live errors), {} declared limits",
            self.stack_checked, self.findings, self.limits
        ));
        if self.broken_files > 0 {
            s.push_str(&format!("; {} files with errors", self.broken_files));
        }
        s
    }
}
