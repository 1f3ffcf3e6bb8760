//! What the suites share: snapshots under the names the suites have always given them.

/// Where every suite's snapshots live.
const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");

/// Assert `text` against the snapshot file `snapshots/{name}.snap` (the file name every
/// suite gave its snapshots when each was a test binary of its own).
pub fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(SNAPSHOTS);
    settings.bind(|| insta::assert_snapshot!(name, text));
}
