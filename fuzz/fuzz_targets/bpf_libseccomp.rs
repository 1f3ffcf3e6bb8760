#![no_main]
#![expect(
    clippy::panic,
    reason = "a failed check is a crash for libFuzzer to record"
)]
libfuzzer_sys::fuzz_target!(|case: policyc_fuzz::BpfCase| {
    if let Err(e) = policyc_fuzz::check_bpf_libseccomp(&case) {
        panic!("{e}");
    }
});
