//! The container's AppArmor profile: whether the host enforces AppArmor, the rules the
//! launcher's image needs, and loading the profile with `apparmor_parser`.
//!
//! The emitted profile allows only the policy's mounts ("everything not allowed here is
//! denied"), so the programs of the image could not even be mapped under it;
//! [`with_image_rules`] adds read, map and inherit-execute (`mrix`) on the image's system
//! folders, never write. A loaded profile stays loaded (as `policyc.NAME`, replaced by the
//! next run): unloading it could strip the confinement of another run of the same policy.

use std::path::Path;
use std::process::{Command, Stdio};

/// The image's folders the profile must let the program read, map and run.
const IMAGE_RULES: &[&str] = &[
    "/usr/** mrix,",
    "/{bin,sbin,lib,lib32,lib64,libx32}/** mrix,",
    "/etc/** r,",
];

/// Why this host does not enforce AppArmor; `Ok` when it does.
pub fn host_enforces() -> Result<(), String> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled");
    match enabled {
        Ok(s) if s.trim() == "Y" => {}
        Ok(_) => return Err("the kernel's AppArmor module is disabled".into()),
        Err(_) => {
            return Err(
                "the kernel has no AppArmor (/sys/module/apparmor/parameters/enabled is missing)"
                    .into(),
            )
        }
    }
    if !Path::new("/sys/kernel/security/apparmor").is_dir() {
        return Err("securityfs has no /sys/kernel/security/apparmor".into());
    }
    crate::apparmor::parser()
        .map(|_| ())
        .ok_or_else(|| "apparmor_parser is not installed (apt-get install apparmor)".into())
}

/// The profile with the image's rules added before its closing brace.
pub fn with_image_rules(profile: &str) -> String {
    let Some(end) = profile.rfind('}') else {
        return profile.to_string();
    };
    let (head, tail) = profile.split_at(end);
    let mut out = head.to_string();
    out.push_str(
        "\n  # The image policyc exec runs the program from: read, map and run, never write.\n",
    );
    for r in IMAGE_RULES {
        out.push_str("  ");
        out.push_str(r);
        out.push('\n');
    }
    out.push_str(tail);
    out
}

/// The profile's rules, one per line (comments and the profile's header left out): what is
/// not enforced when the host has no AppArmor.
pub fn rules(profile: &str) -> Vec<&str> {
    profile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("profile "))
        .filter(|l| *l != "}")
        .collect()
}

/// Load (or replace) the profile into the kernel: `apparmor_parser -r -K`.
pub fn load(profile: &str) -> Result<(), String> {
    let parser = crate::apparmor::parser().ok_or("apparmor_parser is not installed")?;
    let dir = tempfile::Builder::new()
        .prefix("policyc-exec-apparmor-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let file = dir.path().join("apparmor.profile");
    std::fs::write(&file, profile).map_err(|e| format!("profile: {e}"))?;
    let out = Command::new(&parser)
        .args(["-r", "-K"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", parser.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "apparmor_parser could not load the profile ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "# c\nprofile policyc.p flags=(mediate_deleted) {\n  deny mount,\n  # m\n  \"/mnt/x/**\" r,\n}\n";

    #[test]
    fn image_rules_go_inside_the_profile() {
        let p = with_image_rules(PROFILE);
        assert!(p.trim_end().ends_with('}'));
        let usr = p.find("/usr/** mrix,").unwrap_or(usize::MAX);
        assert!(usr < p.rfind('}').unwrap_or(0));
        assert!(!p.contains(" w,"));
    }

    #[test]
    fn rules_are_the_profile_lines_that_say_something() {
        assert_eq!(rules(PROFILE), ["deny mount,", "\"/mnt/x/**\" r,"]);
    }
}
