//! libseccomp as runc drives it ([`policyc_testkit::libseccomp`]), failing the test on an
//! error, for the differential test.

use libseccomp::ScmpFilterContext;
use oci_spec::runtime::LinuxSeccomp;

/// The filter runc would build from this document.
pub fn runc_filter(doc: &LinuxSeccomp, optimize: u32) -> ScmpFilterContext {
    policyc_testkit::libseccomp::runc_filter(doc, optimize).unwrap()
}

/// Export a filter's BPF.
pub fn export(ctx: &ScmpFilterContext) -> Vec<u8> {
    policyc_testkit::libseccomp::export(ctx).unwrap()
}
