//! Every pasted-hash form, one fixture file each, and wrong ones that must be refused.

use std::path::Path;
use upgrade_core::image::hash_forms::{HashFormError, read_hash_file};

const H: &str = "57df2b88e910e6ab098801ab74c929238b97c629af26815dfc6295786a4f62ef";

fn dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/integration/fixtures/hash-forms"
    ))
}

#[test]
fn each_form_gives_the_hash() {
    let mut n = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let got = read_hash_file(&p, Some("sps-7.3.1.iso"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(hex::encode(got), H, "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 9, "only {n} fixtures");
}

#[test]
fn wrong_forms_are_refused_with_the_reason() {
    let expect = [
        ("short-63-digits.txt", "63 hexadecimal digits"),
        ("long-66-digits.txt", "66 hexadecimal digits"),
        ("sha1-not-sha256.txt", "40 hexadecimal digits"),
        ("no-hash.txt", "no SHA-256 found"),
        ("empty.txt", "no SHA-256 found"),
        ("several-none-matching.txt", "several hashes"),
    ];
    for (file, why) in expect {
        let e: HashFormError =
            read_hash_file(&dir().join("wrong").join(file), Some("sps-7.3.1.iso")).unwrap_err();
        assert!(e.to_string().contains(why), "{file}: {e}");
    }
}
