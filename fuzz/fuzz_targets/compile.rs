#![no_main]
#![expect(
    clippy::panic,
    reason = "a failed check is a crash for libFuzzer to record"
)]
libfuzzer_sys::fuzz_target!(|model: policyc_fuzz::PolicyModel| {
    if let Err(e) = policyc_fuzz::check_compile(&model) {
        panic!("{e}");
    }
});
