//! The checks behind policyc's fuzz targets, as plain functions.
//!
//! Each fuzz target in `fuzz_targets/` is a three-line wrapper around one `check_*`
//! function here: the function returns `Err` with a message when a property fails, and the
//! target panics with it. `tests/regressions.rs` replays saved inputs through the same
//! functions with [`run`], which decodes bytes exactly as libFuzzer's `fuzz_target!` does.
//!
//! | target | input | check |
//! |---|---|---|
//! | `parse` | bytes | [`check_parse`] |
//! | `compile` | [`PolicyModel`] | [`check_compile`] |
//! | `fmt_roundtrip` | bytes | [`check_fmt_roundtrip`] |
//! | `emit_simulate` | [`EmitCase`] | [`check_emit_simulate`] |
//! | `bpf_libseccomp` | [`BpfCase`] | [`check_bpf_libseccomp`] |

mod accumulator;
pub mod bpf;
pub mod compile;
pub mod emit;
pub mod fmt;
pub mod parse;
pub mod requests;
pub mod sources;

pub use bpf::{
    check_bpf_libseccomp, check_bpf_libseccomp_with, check_policy_bpf, check_policy_bpf_with,
    BpfCase,
};
pub use compile::{check_compile, check_source};
pub use emit::{check_emit_simulate, check_soundness, EmitCase};
pub use fmt::check_fmt_roundtrip;
pub use parse::check_parse;
pub use policyc_testkit::policies::PolicyModel;

use arbitrary::{Arbitrary, Unstructured};

/// What one check got through, so replay tests can tell a vacuous pass from a real one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Inputs that parsed (or, for model inputs, compiled) without errors.
    pub parsed: usize,
    /// Checked policies.
    pub policies: usize,
    /// Target emissions that succeeded.
    pub emitted: usize,
    /// Requests or BPF inputs compared against the reference.
    pub compared: usize,
    /// Of those, the ones a target allowed (and `decide` agreed).
    pub allowed: usize,
}

impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, o: Summary) {
        self.parsed += o.parsed;
        self.policies += o.policies;
        self.emitted += o.emitted;
        self.compared += o.compared;
        self.allowed += o.allowed;
    }
}

/// How strict a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Report the known gaps too. The fuzz targets excuse them so they keep finding new
    /// bugs; only `bpf_libseccomp` has any at present (libseccomp's, see [`bpf`]).
    pub strict: bool,
}

/// Every fuzz target, by name.
pub const TARGETS: &[&str] = &[
    "parse",
    "compile",
    "fmt_roundtrip",
    "emit_simulate",
    "bpf_libseccomp",
];

/// Decode `data` as `fuzz_target!` does for a typed input; `None` when the bytes do not
/// make a value (libFuzzer rejects such inputs).
fn decode<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// What a structured target's input decodes to, as text: the policy it renders (mended as
/// the target mends it) and its requests or probes. `None` for the byte targets and for
/// bytes that do not decode. The regression test keeps this next to each structured input,
/// so a change to the model that would silently change what an input means is noticed.
pub fn describe(target: &str, data: &[u8]) -> Option<String> {
    match target {
        "compile" => decode::<PolicyModel>(data).map(|m| m.source()),
        "emit_simulate" => decode::<EmitCase>(data).map(|c| {
            let mut s = c.policy.sanitized().source();
            for r in &c.requests {
                s.push_str(&format!("# request {r:?}\n"));
            }
            s
        }),
        "bpf_libseccomp" => decode::<BpfCase>(data).map(|c| {
            let mut s = bpf::policy_model(&c).source();
            for p in &c.probes {
                s.push_str(&format!("# probe {p:?}\n"));
            }
            s
        }),
        _ => None,
    }
}

/// Run one target's check on raw fuzzer bytes, as the fuzz target does.
pub fn run(target: &str, data: &[u8]) -> Result<Summary, String> {
    run_with(target, data, Options::default())
}

/// Run one target's check on raw fuzzer bytes; `opts.strict` also reports the known gaps.
pub fn run_with(target: &str, data: &[u8], opts: Options) -> Result<Summary, String> {
    let none = Ok(Summary::default());
    match target {
        "parse" => check_parse(data),
        "fmt_roundtrip" => check_fmt_roundtrip(data),
        "compile" => decode::<PolicyModel>(data).map_or(none, |m| check_compile(&m)),
        "emit_simulate" => decode::<EmitCase>(data).map_or(none, |c| check_emit_simulate(&c)),
        "bpf_libseccomp" => {
            decode::<BpfCase>(data).map_or(none, |c| check_bpf_libseccomp_with(&c, opts))
        }
        other => Err(format!("no fuzz target `{other}`")),
    }
}
