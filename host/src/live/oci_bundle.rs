//! The OCI layer's bundle: a busybox rootfs (see [`crate::runc`]) with the probe script
//! and the objects the probes need in the image, run to completion under runc.

use super::fixture::PROBE_CONTENT;
use crate::runc;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

pub use crate::runc::Tools;

/// The busybox applets the probe script uses.
const APPLETS: &[&str] = &[
    "sh", "cat", "ls", "mkdir", "chmod", "stat", "nc", "nslookup", "timeout", "printf", "echo",
];

/// Where the probe script lives in the image.
pub const SCRIPT: &str = "/.policyc-probe.sh";

/// How long a container may run.
const TIMEOUT: Duration = Duration::from_secs(180);

/// An object the probes need in the image, at a guest path.
#[derive(Debug, Clone)]
pub struct ImageObject {
    pub guest: String,
    pub dir: bool,
}

/// A bundle directory, removed on drop.
#[derive(Debug)]
pub struct Bundle {
    bundle: runc::Bundle,
    /// The image objects that were made (guest paths).
    pub made: Vec<String>,
}

impl Bundle {
    /// A busybox rootfs with the script and the image objects, and `config` as
    /// `config.json` (already edited by the caller).
    pub fn new(
        tools: &Tools,
        config: &serde_json::Value,
        script: &str,
        objects: &[ImageObject],
    ) -> io::Result<Bundle> {
        let bundle = runc::Bundle::new(tools, APPLETS)?;
        let rootfs = bundle.rootfs();
        std::fs::write(rootfs.join(SCRIPT.trim_start_matches('/')), script)?;
        let made = objects
            .iter()
            .filter(|o| make_image_object(&rootfs, o))
            .map(|o| o.guest.clone())
            .collect();
        bundle.write_config(config)?;
        Ok(Bundle { bundle, made })
    }

    /// Run the container to completion: its stdout, or why it did not run.
    pub fn run(&self, tools: &Tools) -> Result<String, String> {
        let run = self.bundle.run(tools, TIMEOUT)?;
        let done = run.stdout.contains("\nDONE") || run.stdout.starts_with("DONE");
        match run.status {
            Some(_) if done => Ok(run.stdout),
            Some(s) => Err(format!(
                "the container did not run its probes ({s}): {}",
                run.stderr.trim()
            )),
            None => Err("the container did not finish in time".to_string()),
        }
    }
}

/// Make an object in the image unless something is there already; true when made.
fn make_image_object(rootfs: &Path, o: &ImageObject) -> bool {
    let rel = o.guest.trim_start_matches('/');
    if rel.is_empty() {
        return false;
    }
    let p = rootfs.join(rel);
    if std::fs::symlink_metadata(&p).is_ok() {
        return false;
    }
    if o.dir {
        return std::fs::create_dir_all(&p).is_ok();
    }
    let parent_ok = p
        .parent()
        .is_some_and(|d| std::fs::create_dir_all(d).is_ok());
    parent_ok
        && std::fs::write(&p, PROBE_CONTENT).is_ok()
        && std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).is_ok()
}
