//! AppArmor on this machine: `apparmor_parser` run offline against the features policyc
//! pins, and what the running kernel says about AppArmor and its loaded profiles.
//!
//! The live engine's AppArmor and OCI layers and the AppArmor live tests all ask here.

use policyc_targets::apparmor::FEATURES;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `apparmor_parser`: `POLICYC_APPARMOR_PARSER` (a path that does not exist counts as not
/// installed), the usual places, or the `PATH`.
pub fn parser() -> Option<PathBuf> {
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

/// Run `parser -Q -K <args> -M <features> <profile>` on a profile: `-Q` does not load it,
/// `-K` skips the cache, and `-M` gives the features file policyc pins
/// ([`FEATURES`]), so the result does not depend on this machine. The parser's output, or
/// why it could not be run.
pub fn run_offline(parser: &Path, profile: &[u8], args: &[&str]) -> Result<Output, String> {
    let dir = tempfile::Builder::new()
        .prefix("policyc-live-apparmor-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let features = dir.path().join("features");
    let file = dir.path().join("apparmor.profile");
    std::fs::write(&features, FEATURES).map_err(|e| format!("features: {e}"))?;
    std::fs::write(&file, profile).map_err(|e| format!("profile: {e}"))?;
    Command::new(parser)
        .args(["-Q", "-K"])
        .args(args)
        .arg("-M")
        .arg(&features)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", parser.display()))
}

/// Compile a profile offline against the pinned features ([`run_offline`] with no other
/// arguments); the parser's stderr on failure.
pub fn compile(parser: &Path, profile: &[u8]) -> Result<(), String> {
    let out = run_offline(parser, profile, &[])?;
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

/// True when the running kernel enforces AppArmor.
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// True when AppArmor is enabled and this profile is loaded (runc refuses to start a
/// bundle naming a profile that is not).
pub fn profile_loaded(name: &str) -> bool {
    enabled()
        && std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
            .is_ok_and(|p| p.lines().any(|l| l.split(' ').next() == Some(name)))
}
