//! Fuzz target: see `checks::iso_open` for what one input must satisfy.
#![no_main]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(init: {
    // The ISO reader's panics are caught and reported as "not an ISO"; libFuzzer's
    // hook would abort on them first. Uncaught panics still abort.
    std::panic::set_hook(Box::new(|_| {}));
}, |data: &[u8]| {
    let scratch = std::env::temp_dir().join(format!("fuzz-iso-{}.iso", std::process::id()));
    checks::iso_open(data, &scratch);
});
