//! How one layer did on one request, simulated or live, against the verdict expected of it
//! (a test case's expectation, or for live runs also the layer's simulator).

use policyc_targets::Verdict;
use serde::Serialize;

/// How one layer did on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The layer does not decide this kind of request; another layer must.
    NotMediated,
    /// The target emitted nothing (its build errors are reported separately); a failure.
    NotBuilt,
    /// A live probe that could not be made safely, or was inconclusive.
    Unverified,
    /// A deny the reference semantics makes and the test expects, which no layer of the
    /// stack enforces (every layer leaves it unmediated), and which the policy does not
    /// state as a limit (`unenforced "why"`); a failure: a PASS must mean enforced.
    Unenforced,
}

impl Outcome {
    /// A layer's verdict (`None`: the target emitted nothing) against the verdict expected
    /// of it. A layer that allows what was expected denied fails (it leaks, whatever the
    /// other layers do), and so does one that denies what was expected allowed. When either
    /// side does not mediate the request there is nothing to compare.
    pub fn judge(expected: Verdict, verdict: Option<Verdict>) -> Outcome {
        match (expected, verdict) {
            (_, None) => Outcome::NotBuilt,
            (Verdict::NotMediated, _) | (_, Some(Verdict::NotMediated)) => Outcome::NotMediated,
            (e, Some(v)) if e == v => Outcome::Pass,
            (_, Some(_)) => Outcome::Fail,
        }
    }

    /// True for the outcomes that fail a test run: `Fail`, `NotBuilt` and `Unenforced`.
    pub fn fails(self) -> bool {
        matches!(
            self,
            Outcome::Fail | Outcome::NotBuilt | Outcome::Unenforced
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use policyc_targets::Verdict::{Allow, Deny, NotMediated};

    #[test]
    fn judge_compares_allow_and_deny_only() {
        assert_eq!(Outcome::judge(Allow, Some(Allow)), Outcome::Pass);
        assert_eq!(Outcome::judge(Deny, Some(Deny)), Outcome::Pass);
        assert_eq!(Outcome::judge(Deny, Some(Allow)), Outcome::Fail);
        assert_eq!(Outcome::judge(Allow, Some(Deny)), Outcome::Fail);
        assert_eq!(
            Outcome::judge(Deny, Some(NotMediated)),
            Outcome::NotMediated
        );
        assert_eq!(
            Outcome::judge(NotMediated, Some(Deny)),
            Outcome::NotMediated
        );
        assert_eq!(Outcome::judge(Allow, None), Outcome::NotBuilt);
        assert!(Outcome::NotBuilt.fails() && Outcome::Fail.fails() && Outcome::Unenforced.fails());
        assert!(!Outcome::Unverified.fails() && !Outcome::NotMediated.fails());
    }
}
