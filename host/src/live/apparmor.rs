//! The AppArmor layer: `apparmor_parser -Q -K -M <pinned features>` must compile the emitted
//! profile (`-Q`: do not load it, `-K`: no cache, `-M`: the features file policyc pins, so
//! the result does not depend on this machine). The profile is never loaded (this machine's
//! kernel has no AppArmor, and loading profiles is the launcher's business), so every
//! request is not mediated: the layer is compiled only.

use super::{LayerStatus, LiveLayer, LiveRun, Seen};
use policyc_targets::apparmor;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn run(layer: &LiveLayer<'_>) -> LiveRun {
    let n = layer.requests.len();
    let not_run = |s: LayerStatus| LiveRun::not_run(layer.name, s, n);
    let Some(parser) = parser() else {
        return not_run(LayerStatus::Unavailable(
            "apparmor_parser is not installed (apt-get install apparmor)".to_string(),
        ));
    };
    let Some(profile) = layer.artifacts.get(apparmor::FILE) else {
        return not_run(LayerStatus::Failed(format!("no `{}`", apparmor::FILE)));
    };
    match compile(&parser, profile) {
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
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if enabled {
        "live runs do not load profiles into the kernel"
    } else {
        "this kernel does not enforce AppArmor"
    }
}

/// `apparmor_parser`: `POLICYC_APPARMOR_PARSER`, the usual places, or the `PATH`.
fn parser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POLICYC_APPARMOR_PARSER") {
        let p = PathBuf::from(p);
        return p.exists().then_some(p);
    }
    let fixed = ["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    fixed
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path).map(|d| d.join("apparmor_parser")))
        .find(|p| p.is_file())
}

/// Compile a profile offline against the pinned features; the parser's stderr on failure.
fn compile(parser: &std::path::Path, profile: &[u8]) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("policyc-live-apparmor-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let features = dir.path().join("features");
    let file = dir.path().join("apparmor.profile");
    std::fs::write(&features, apparmor::FEATURES).map_err(|e| format!("features: {e}"))?;
    std::fs::write(&file, profile).map_err(|e| format!("profile: {e}"))?;
    let out = Command::new(parser)
        .args(["-Q", "-K", "-M"])
        .arg(&features)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", parser.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "apparmor_parser rejects the profile ({}): {}",
            out.status,
            stderr.trim()
        ))
    }
}
