//! `explain` agrees with every simulator on every stdlib test case: the reference decision
//! is `decide`'s, each layer's verdict is what the target's simulator says when asked
//! afresh of the emitted bytes, and the deciding rule points at a real source line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policyc_targets::stack_for;
use policyc_testkit::stdlib::{ctx, policies, HOME};
use policyc_verify::explain::explain;
use policyc_verify::probe::reference_at;
use policyc_verify::run::emit_layers;
use policyc_verify::Outcome;
use policyc_verify::Probe;

#[test]
fn explain_agrees_with_every_simulator_on_every_stdlib_test_case() {
    let mut cases = 0usize;
    for (sources, policy) in policies() {
        let layers = emit_layers(&policy, &stack_for(&policy), &ctx());
        for case in policy.tests.iter().flat_map(|t| &t.cases) {
            let e = explain(&policy, &sources, &layers, Some(HOME), &case.request);
            let asked = Probe::Request(case.request.clone());
            assert_eq!(
                e.reference,
                reference_at(&policy, Some(HOME), &asked),
                "{}",
                case.request
            );
            assert_eq!(
                e.reference.allow, case.expect_allow,
                "{}: {}",
                policy.name, case.request
            );
            assert_eq!(e.layers.len(), layers.len());
            for (answer, layer) in e.layers.iter().zip(&layers) {
                let artifacts = &layer.emitted.as_ref().unwrap().artifacts;
                let fresh = layer.target.simulate(artifacts, &case.request);
                assert_eq!(answer.target, layer.name());
                assert_eq!(
                    answer.verdict,
                    Some(fresh),
                    "{} on {}: {}",
                    layer.name(),
                    policy.name,
                    case.request
                );
                assert_ne!(
                    answer.outcome,
                    Outcome::Fail,
                    "{}: {}",
                    layer.name(),
                    case.request
                );
            }
            if let Some(rule) = &e.rule {
                assert!(!rule.line.is_empty(), "{}: {rule:?}", case.request);
                assert!(rule.item.is_some(), "{}: {rule:?}", case.request);
            }
            cases += 1;
        }
    }
    assert!(cases > 100, "only {cases} stdlib test cases");
}
