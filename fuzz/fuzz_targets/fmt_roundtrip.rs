#![no_main]
#![expect(
    clippy::panic,
    reason = "a failed check is a crash for libFuzzer to record"
)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = policyc_fuzz::check_fmt_roundtrip(data) {
        panic!("{e}");
    }
});
