//! Fuzz target: see `checks::grubenv` for what one input must satisfy.
#![no_main]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::grubenv(data));
