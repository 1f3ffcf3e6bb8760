//! Every stdlib policy verifies cleanly on its stack: each test case passes on the reference
//! semantics and on every layer that mediates it, no layer leaks on any adversarial request
//! aimed at the policy, and every request it denies is denied by some layer (connections and
//! lookups by the egress layer too, wherever the policy has egress rules).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_targets::stack_for;
use policyc_testkit::stdlib::{compile_text, ctx, Loader};
use policyc_verify::run::Outcome;
use policyc_verify::suite::{verify, Origin};

#[test]
fn stdlib_policies_verify_on_their_stacks() {
    for (name, text) in policyc_stdlib::policies() {
        let (_, policies) = compile_text(name, text);
        for p in &policies {
            let origin = Origin {
                source: text,
                loader: &Loader,
            };
            let v = verify(p, &stack_for(p), &ctx(), Some(origin));
            for l in &v.layers {
                assert!(l.emitted.is_ok(), "{name}: {} does not build", l.name());
            }
            assert_eq!(
                v.layers.iter().any(|l| l.name() == "egress"),
                !p.net.egress_none,
                "{name}: the egress layer is in the stack exactly when there are egress rules"
            );
            assert!(v.gaps.is_empty(), "{name}: no gap is declared away");
            let mut failed = Vec::new();
            let mut checks = 0;
            for c in &v.cases {
                assert!(c.reference_passed(), "{name}: {} {}", c.test, c.request);
                for lo in &c.layers {
                    if lo.outcome != Outcome::NotMediated {
                        checks += 1;
                    }
                    if lo.outcome == Outcome::Fail || lo.outcome == Outcome::NotBuilt {
                        failed.push(format!(
                            "{} {} on {}: {:?}",
                            c.test, c.request, lo.target, lo.verdict
                        ));
                    }
                }
            }
            let gaps: Vec<String> = v.undeclared_gaps().map(|g| g.probe.to_string()).collect();
            let leaks: Vec<String> = v
                .leaks
                .iter()
                .map(|l| format!("{} {}", l.leak.target, l.leak.probe))
                .collect();
            eprintln!(
                "{name}: {} cases, {checks} layer checks, {} denied requests checked, {} declared gaps",
                v.cases.len(), v.stack_checked, v.gaps.len() - gaps.len()
            );
            assert!(failed.is_empty(), "{name}: {failed:#?}");
            assert!(
                gaps.is_empty(),
                "{name}: {} gaps: {:#?}",
                gaps.len(),
                &gaps[..gaps.len().min(30)]
            );
            assert!(
                leaks.is_empty(),
                "{name}: {} leaks: {:#?}",
                leaks.len(),
                &leaks[..leaks.len().min(30)]
            );
            assert!(
                v.stack_checked > 1000,
                "{name}: only {} denied requests",
                v.stack_checked
            );
        }
    }
}
