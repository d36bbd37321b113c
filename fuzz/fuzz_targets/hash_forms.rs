//! Fuzz target: see `checks::hash_forms` for what one input must satisfy.
#![no_main]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::hash_forms(data));
