//! The AppArmor layer: `apparmor_parser -Q -K -M <pinned features>` must compile the emitted
//! profile (`-Q`: do not load it, `-K`: no cache, `-M`: the features file policyc pins, so
//! the result does not depend on this machine). The profile is never loaded (this machine's
//! kernel has no AppArmor, and loading profiles is the launcher's business), so every
//! request is not mediated: the layer is compiled only.

use super::{LayerStatus, LiveLayer, LiveRun, Seen};
use crate::apparmor as host;
use policyc_targets::apparmor;

pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
    let n = layer.requests.len();
    let not_run = |s: LayerStatus| LiveRun::not_run(layer.name, s, n);
    let Some(parser) = host::parser() else {
        return not_run(LayerStatus::Unavailable(
            "apparmor_parser is not installed (apt-get install apparmor)".to_string(),
        ));
    };
    let Some(profile) = layer.artifacts.get(apparmor::FILE) else {
        return not_run(LayerStatus::Failed(format!("no `{}`", apparmor::FILE)));
    };
    match host::compile(&parser, profile) {
        Ok(()) => {
            let why = format!("apparmor_parser compiled the profile; {}", kernel());
            let seen = (0..n).map(|_| Seen::not_mediated(why.clone())).collect();
            LiveRun::from_seen(layer.name, LayerStatus::CompiledOnly, seen, Vec::new())
        }
        Err(why) => not_run(LayerStatus::Failed(layer.fixture.hide(&why))),
    }
}

/// Why the compiled profile enforces nothing here.
fn kernel() -> &'static str {
    if host::enabled() {
        "live runs do not load profiles into the kernel"
    } else {
        "this kernel does not enforce AppArmor"
    }
}
