//! What each fuzz target asserts about one input. Shared by the fuzz targets
//! (fuzz_targets/*.rs) and by `cargo test`, which runs every committed seed and
//! regression input through the same checks (tests/integration/fuzz_corpus.rs).
// Each fuzz target includes this file and uses one of the checks.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use upgrade_core::appliance::config::Config;
use upgrade_core::image::hash_forms::parse_expected;
use upgrade_core::image::iso::FirmwareImage;
use upgrade_core::image::manifest::Manifest;
use upgrade_core::logserver::http::parse_head;
use upgrade_core::slots::grubenv::GrubEnv;
use upgrade_core::support::secrets::{Secrets, redact_config};
use upgrade_core::upgrade::journal::Journal;

/// appliance.toml: the loader and the redaction that feeds the bundle and the log
/// server. A config that parses redacts to TOML that still parses; a secret long
/// enough to be matched anywhere is gone from text scrubbed with the secrets found.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::parse(text, Path::new("appliance.toml"));
    let parsed = text.parse::<toml_edit::DocumentMut>().is_ok();
    let (redacted, found) = redact_config(text);
    if parsed {
        assert!(
            redacted.parse::<toml_edit::DocumentMut>().is_ok(),
            "redacted config no longer parses:\n{redacted}"
        );
    }
    let secrets = Secrets::from_values(found.values.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let scrubbed = secrets.scrub_str(text);
    let _ = secrets.scrub(redacted.as_bytes());
    for (_, v) in &found.values {
        if v.len() >= 16 && !v.contains("redacted") {
            assert!(
                !scrubbed.contains(v.as_str()),
                "secret survived scrubbing: {v:?}"
            );
        }
    }
}

/// The firmware manifest, read from an untrusted ISO: one that parses writes back to
/// TOML that parses to the same manifest.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Manifest::parse(text) {
        let again = Manifest::parse(&m.to_toml()).expect("to_toml output parses");
        assert_eq!(m, again, "manifest changed through to_toml");
        let _ = m.payload_sha256();
        // A BLAKE3 that passed validation always decodes.
        assert_eq!(m.payload.blake3.is_some(), m.payload_blake3().is_some());
    }
}

/// The journal: any bytes, torn or corrupt, give records or an error, and replaying
/// them never panics.
pub fn journal(data: &[u8]) {
    if let Ok(j) = Journal::from_bytes(data) {
        let state = j.state();
        let _ = state.describe();
        let _ = state.rollback_possible();
        let _ = j.floor();
        let _ = j.records().count();
    }
}

/// The GRUB environment block: one that parses writes back to a block that parses to
/// the same variables, and choosing the boot slot from it never panics.
pub fn grubenv(data: &[u8]) {
    if let Ok(env) = GrubEnv::parse(data) {
        if let Ok(bytes) = env.to_bytes() {
            let again = GrubEnv::parse(&bytes).expect("to_bytes output parses");
            assert_eq!(
                env.vars(),
                again.vars(),
                "variables changed through to_bytes"
            );
        }
        let _ = env.order();
        let _ = env.next_boot();
        let mut env = env;
        let _ = env.select_boot();
    }
}

/// Pasted or published hashes in any form: parsing never panics, and a hash found is
/// found again when pasted alone as hex.
pub fn hash_forms(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_expected(text, None);
    if let Ok(h) = parse_expected(text, Some("sps-7.3.1.iso")) {
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_expected(&hex, None).ok(), Some(h));
    }
}

/// The log server's request head, as any client on the network may send it: accepted
/// or refused with a status code the server can send.
pub fn http_head(data: &[u8]) {
    match parse_head(data) {
        Ok(head) => {
            let _ = (head.method, head.route, head.resume_from);
        }
        Err(e) => {
            let code = e.status();
            assert!((400..600).contains(&code), "refusal answered {code}");
        }
    }
}

/// Opening a firmware ISO: any bytes give an image or an error, and an image that
/// opens lists and reads its files within bounds.
pub fn iso_open(data: &[u8], scratch: &Path) {
    if std::fs::write(scratch, data).is_err() {
        return;
    }
    if let Ok(img) = FirmwareImage::open(scratch) {
        let _ = img.list_files("/firmware/migrations");
        let _ = img.read_small_file("/firmware/manifest.toml");
        if let Ok(mut r) = img.payload_reader() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    }
}
