//! Signed firmware (issue 14) with the real minisign CLI: verify names the signer
//! and refuses each bad signature with its own message; a manifest flipped anywhere
//! after signing is refused; check and activate refuse a signed image below the
//! version floor; the floor survives a power cut at commit; a committed firmware's
//! new keys are trusted on the boots after it.

use crate::support::boot::*;
use crate::support::signing::{TEST_KEY_NAME, TestKey, trust_vendor_key, vendor_key};
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::trust::{revoked_keys_file, trusted_keys_dir};

fn manifest(version: &str, payload: &[u8], extra: &str) -> String {
    format!(
        "[firmware]\nproduct = \"sps\"\nversion = \"{version}\"\nkind = \"maintenance\"\n{extra}\n[upgrade]\nfrom = [\"{OLD_VERSION}\"]\nlicence_lts = 7\n\n[payload]\nfile = \"firmware/rootfs.img\"\nsize = {}\nsha256 = \"{}\"\n",
        payload.len(),
        sha_hex(payload)
    )
}

/// How an image's manifest is signed.
enum Sig<'a> {
    /// By the test vendor key, trusted comment as the appliance wants it.
    Vendor,
    /// By `key` with `comment`.
    By(&'a TestKey, &'a str),
    /// Not at all.
    Unsigned,
    /// By the vendor, then the manifest replaced with this text.
    ThenChanged(&'a str),
}

/// Builds a firmware ISO with xorriso, signed with the minisign CLI as `sig` says.
fn image(dir: &Path, name: &str, manifest: &str, payload: &[u8], sig: Sig) -> PathBuf {
    image_with(dir, name, manifest, payload, sig, &[])
}

/// As [`image`], with more files under `firmware/` (path, contents).
fn image_with(
    dir: &Path,
    name: &str,
    manifest: &str,
    payload: &[u8],
    sig: Sig,
    files: &[(&str, &[u8])],
) -> PathBuf {
    require_tool("xorriso", "xorriso");
    let tree = dir.join(format!("tree-{name}"));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("firmware")).unwrap();
    for (path, bytes) in files {
        let p = tree.join("firmware").join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    std::fs::write(tree.join("firmware/rootfs.img"), payload).unwrap();
    let m = tree.join("firmware/manifest.toml");
    let minisig = tree.join("firmware/manifest.toml.minisig");
    std::fs::write(&m, manifest).unwrap();
    let version = upgrade_core::image::manifest::Manifest::parse(manifest)
        .map(|m| m.firmware.version.to_string())
        .unwrap_or_default();
    let vendor_comment = format!("product=sps version={version}");
    match sig {
        Sig::Vendor => vendor_key().sign(&m, &minisig, &vendor_comment),
        Sig::By(key, comment) => key.sign(&m, &minisig, comment),
        Sig::Unsigned => {}
        Sig::ThenChanged(text) => {
            vendor_key().sign(&m, &minisig, &vendor_comment);
            std::fs::write(&m, text).unwrap();
        }
    }
    let iso = dir.join(name);
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-V", "FW", "-J", "-R"])
        .arg(&tree)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "xorriso: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&tree).unwrap();
    iso
}

fn verify(root: &Path, iso: &Path) -> std::process::Output {
    let h = sha_hex(&std::fs::read(iso).unwrap());
    run(root, &["verify", iso.to_str().unwrap(), "--sha256", &h])
}

fn refused_with(root: &Path, iso: &Path, what: &str) {
    let o = verify(root, iso);
    let t = describe(&o);
    assert_eq!(code(&o), 1, "{}: {t}", iso.display());
    assert!(t.contains("Signer   REFUSED"), "{t}");
    assert!(
        t.contains(what),
        "{}: wanted \"{what}\" in {t}",
        iso.display()
    );
}

#[test]
fn verify_names_the_signer_and_refuses_each_bad_signature() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let new = payload(200_000, 7);
    make_file_root(&root, &payload(100_000, 1), 1 << 20);
    let m = manifest(NEW_VERSION, &new, "");
    let key = vendor_key();

    let good = image(d.path(), "good.iso", &m, &new, Sig::Vendor);
    let o = verify(&root, &good);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let line = format!(
        "Signer   key {} ({TEST_KEY_NAME})  OK (firmware/manifest.toml.minisig)",
        key.id()
    );
    assert!(text(&o).contains(&line), "{}", describe(&o));
    let o = run(
        &root,
        &[
            "--json",
            "verify",
            good.to_str().unwrap(),
            "--sha256",
            &sha_hex(&std::fs::read(&good).unwrap()),
        ],
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["signer"]["key_id"], key.id());
    assert_eq!(j["signer"]["name"], TEST_KEY_NAME);

    // The pasted hash stays a second, independent check.
    let o = run(
        &root,
        &[
            "verify",
            good.to_str().unwrap(),
            "--sha256",
            &"ab".repeat(32),
        ],
    );
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("SHA-256  MISMATCH"), "{}", describe(&o));

    let unsigned = image(d.path(), "unsigned.iso", &m, &new, Sig::Unsigned);
    refused_with(&root, &unsigned, "the image is not signed");
    // A detached signature beside the ISO (over the same manifest) is accepted.
    let detached = unsigned.with_extension("iso.minisig");
    let mf = d.path().join("manifest.toml");
    std::fs::write(&mf, &m).unwrap();
    key.sign(&mf, &detached, "product=sps version=7.3.1");
    let o = verify(&root, &unsigned);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        text(&o).contains("unsigned.iso.minisig"),
        "{}",
        describe(&o)
    );
    std::fs::remove_file(&detached).unwrap();

    let stranger = TestKey::generate(&d.path().join("stranger"), "stranger");
    let unknown = image(
        d.path(),
        "unknown.iso",
        &m,
        &new,
        Sig::By(&stranger, "product=sps version=7.3.1"),
    );
    refused_with(
        &root,
        &unknown,
        &format!("signed by an unknown key {}", stranger.id()),
    );

    let other_release = image(
        d.path(),
        "comment.iso",
        &m,
        &new,
        Sig::By(key, "product=sps version=7.0.1"),
    );
    refused_with(
        &root,
        &other_release,
        "trusted comment \"product=sps version=7.0.1\" does not match the manifest",
    );

    let evil = payload(200_000, 66);
    let swapped = manifest(NEW_VERSION, &evil, "");
    let tampered = image(
        d.path(),
        "tampered.iso",
        &m,
        &evil,
        Sig::ThenChanged(&swapped),
    );
    refused_with(&root, &tampered, "does not cover this manifest");

    // Revoked: revocation wins over the key file still being installed.
    stranger.trust(&root, "stranger.pub");
    std::fs::write(
        revoked_keys_file(&ApplianceRoot::new(&root)),
        format!("{}  # leaked\n", key.id()),
    )
    .unwrap();
    refused_with(
        &root,
        &good,
        &format!("key {} ({TEST_KEY_NAME}), which is revoked", key.id()),
    );

    // No trust anchors at all: every image refused, saying where keys belong.
    std::fs::remove_dir_all(root.join("usr")).unwrap();
    refused_with(
        &root,
        &good,
        &format!(
            "no trusted key is installed: \"{}\"",
            trusted_keys_dir(&ApplianceRoot::new(&root)).display()
        ),
    );

    // check and activate refuse as verify does.
    let o = run(&root, &["check", good.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(text(&o).contains("BLOCKER  signature"), "{}", describe(&o));
    let o = run(&root, &["activate", "--yes", good.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        describe(&o).contains("no trusted key is installed"),
        "{}",
        describe(&o)
    );
}

#[test]
fn a_manifest_flipped_anywhere_after_signing_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    trust_vendor_key(&root);
    let store = upgrade_core::image::trust::TrustStore::load(&ApplianceRoot::new(&root)).unwrap();
    let m = manifest(NEW_VERSION, b"payload", "");
    let mf = d.path().join("manifest.toml");
    std::fs::write(&mf, &m).unwrap();
    let sig = d.path().join("manifest.toml.minisig");
    vendor_key().sign(&mf, &sig, "product=sps version=7.3.1");
    let sig = std::fs::read_to_string(&sig).unwrap();
    let check = |bytes: &[u8]| -> bool {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return false;
        };
        let Ok(parsed) = upgrade_core::image::manifest::Manifest::parse(text) else {
            return false;
        };
        upgrade_core::image::signature::check_manifest(&store, bytes, &parsed, &sig, "test").is_ok()
    };
    assert!(
        check(m.as_bytes()),
        "the signed manifest itself is accepted"
    );
    let mut accepted = vec![];
    for i in 0..m.len() {
        for bit in [0x01u8, 0x02, 0x20, 0x80] {
            let mut b = m.as_bytes().to_vec();
            b[i] ^= bit;
            if check(&b) {
                accepted.push((i, bit));
            }
        }
    }
    assert!(accepted.is_empty(), "flips accepted: {accepted:?}");
}

/// Activates `iso` (verify and check on record) and reboots into it; returns the
/// reboot's output.
fn upgrade(root: &Path, iso: &Path, envs: &[(&str, &str)]) -> std::process::Output {
    record_passed(root, iso);
    let o = run(root, &["activate", "--yes", iso.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    run_env(root, &["reboot"], envs)
}

fn floor_of(root: &Path) -> Option<String> {
    upgrade_core::upgrade::floor::current(&ApplianceRoot::new(root))
        .unwrap()
        .map(|v| v.to_string())
}

#[test]
fn check_and_activate_refuse_a_signed_image_below_the_floor_and_new_keys_come_with_the_firmware() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    make_file_root(&root, &payload(100_000, 1), 1 << 20);
    assert_eq!(floor_of(&root), None);
    // 7.3.1 brings a new release key for the boots after it.
    let next = TestKey::generate(&d.path().join("next"), "release key 2027");
    let new = payload(200_000, 2);
    let trust = format!(
        "\n[trust]\nkeys = [{{ name = \"release key 2027\", key = \"{}\" }}]\n",
        next.key_line()
    );
    let m = format!("{}{trust}", manifest(NEW_VERSION, &new, ""));
    let iso = image(d.path(), "new.iso", &m, &new, Sig::Vendor);
    let next_signed = image(
        d.path(),
        "next.iso",
        &manifest(NEW_VERSION, &new, ""),
        &new,
        Sig::By(&next, "product=sps version=7.3.1"),
    );
    refused_with(&root, &next_signed, "unknown key");

    let o = upgrade(&root, &iso, &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        matches!(
            state_of(&root),
            upgrade_core::upgrade::journal::UpgradeState::Committed { .. }
        ),
        "{}",
        describe(&o)
    );
    assert_eq!(floor_of(&root).as_deref(), Some(NEW_VERSION));
    let o = verify(&root, &next_signed);
    assert_eq!(
        code(&o),
        0,
        "the committed firmware's key is trusted now: {}",
        describe(&o)
    );

    // A correctly signed older release: refused by check and activate.
    let old = payload(150_000, 3);
    let older = image(
        d.path(),
        "older.iso",
        &manifest("7.2.1", &old, ""),
        &old,
        Sig::Vendor,
    );
    assert_eq!(code(&verify(&root, &older)), 0, "signed correctly");
    let o = run(&root, &["check", older.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    let t = describe(&o);
    assert!(t.contains("BLOCKER  version-floor"), "{t}");
    assert!(
        t.contains("firmware 7.2.1 is below this appliance's version floor 7.3.1"),
        "{t}"
    );
    record_passed(&root, &older);
    let o = run(&root, &["activate", "--yes", older.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        describe(&o).contains("below this appliance's version floor 7.3.1"),
        "{}",
        describe(&o)
    );
}

#[test]
fn the_floor_survives_a_power_cut_at_commit() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    make_file_root(&root, &payload(100_000, 1), 1 << 20);
    let new = payload(200_000, 2);
    // The manifest sets its own floor below its version.
    let iso = image(
        d.path(),
        "new.iso",
        &manifest(NEW_VERSION, &new, "floor = \"7.2.1\"\n"),
        &new,
        Sig::Vendor,
    );
    // The power fails right after the commit record reached the journal, before
    // anything else was written.
    let o = upgrade(
        &root,
        &iso,
        &[("UPGRADE_CONSOLE_KILL_AT", "journal:committed:after#1")],
    );
    assert_ne!(code(&o), 0, "the reboot was cut: {}", describe(&o));
    assert!(
        !upgrade_core::state::floor(&ApplianceRoot::new(&root)).exists(),
        "cut before floor.json"
    );
    assert_eq!(
        floor_of(&root).as_deref(),
        Some("7.2.1"),
        "the journal holds the floor"
    );
    let old = payload(150_000, 3);
    let older = image(
        d.path(),
        "older.iso",
        &manifest("7.1.1", &old, ""),
        &old,
        Sig::Vendor,
    );
    let o = run(&root, &["check", older.to_str().unwrap()]);
    assert!(
        describe(&o).contains("below this appliance's version floor 7.2.1"),
        "{}",
        describe(&o)
    );
    // The next boot of the committed slot writes what the cut left unwritten.
    let o = run(&root, &["boot"]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(upgrade_core::state::floor(&ApplianceRoot::new(&root))).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["floor"], "7.2.1");
}

#[test]
fn a_migration_program_swapped_after_signing_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    make_file_root(&root, &payload(100_000, 1), 1 << 20);
    let new = payload(200_000, 4);
    let signed: &[u8] = b"#!/bin/sh\necho '{\"log\": \"the vendor's step\"}'\n";
    let swapped: &[u8] = b"#!/bin/sh\necho '{\"log\": \"not the vendor's step\"}'\n";
    let m = format!(
        "{}\n[[phase1]]\nname = \"Step\"\ncommand = [\"migrations/step.sh\"]\n\n[programs]\n\"migrations/step.sh\" = \"{}\"\n",
        manifest(NEW_VERSION, &new, ""),
        sha_hex(signed)
    );
    let good = image_with(
        d.path(),
        "good.iso",
        &m,
        &new,
        Sig::Vendor,
        &[("migrations/step.sh", signed)],
    );
    assert_eq!(
        code(&verify(&root, &good)),
        0,
        "{}",
        describe(&verify(&root, &good))
    );
    let bad = image_with(
        d.path(),
        "bad.iso",
        &m,
        &new,
        Sig::Vendor,
        &[("migrations/step.sh", swapped)],
    );
    refused_with(
        &root,
        &bad,
        "migration program \"firmware/migrations/step.sh\" does not have the SHA-256 the manifest lists",
    );
    let extra = image_with(
        d.path(),
        "extra.iso",
        &m,
        &new,
        Sig::Vendor,
        &[
            ("migrations/step.sh", signed),
            ("migrations/other.sh", swapped),
        ],
    );
    refused_with(
        &root,
        &extra,
        "\"firmware/migrations/other.sh\" is not listed in the manifest's [programs]",
    );
    record_passed(&root, &bad);
    let o = run(&root, &["activate", "--yes", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        describe(&o).contains("does not have the SHA-256 the manifest lists"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        std::fs::read(root.join("slots/B.img")).unwrap(),
        vec![0u8; 1 << 20],
        "slot B untouched"
    );
}

/// The payload's BLAKE3 in the signed manifest: verify checks the payload by it (and
/// says so); a wrong BLAKE3 is a payload mismatch; a manifest whose BLAKE3 is right
/// but whose SHA-256 is not passes verify and is then refused by activate, which
/// checks the SHA-256 while it writes, before anything is armed.
#[test]
fn a_payload_blake3_in_the_signed_manifest_is_what_verify_checks() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let new = payload(300_000, 5);
    make_file_root(&root, &payload(100_000, 1), 1 << 20);
    let b3 = blake3::hash(&new).to_hex().to_string();
    let with_b3 =
        |m: String, b3: &str| m.replace("sha256 = ", &format!("blake3 = \"{b3}\"\nsha256 = "));
    // A vendor-signed image of `new` whose manifest gives the payload's BLAKE3 as `b3`.
    let signed_with_b3 = |name: &str, b3: &str| {
        image(
            d.path(),
            name,
            &with_b3(manifest(NEW_VERSION, &new, ""), b3),
            &new,
            Sig::Vendor,
        )
    };

    let good = signed_with_b3("b3-good.iso", &b3);
    let o = verify(&root, &good);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        text(&o).contains(&format!("Payload  {b3}  OK (firmware/rootfs.img, BLAKE3)")),
        "{}",
        describe(&o)
    );
    let h = sha_hex(&std::fs::read(&good).unwrap());
    let o = run(
        &root,
        &["--json", "verify", good.to_str().unwrap(), "--sha256", &h],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["payload_algorithm"], "blake3", "{v}");
    assert_eq!(v["payload_blake3"], b3.as_str(), "{v}");
    assert_eq!(v["payload_sha256"], serde_json::Value::Null, "{v}");
    assert_eq!(v["payload_expected_sha256"], sha_hex(&new).as_str(), "{v}");

    let other = blake3::hash(b"another payload").to_hex().to_string();
    let wrong = signed_with_b3("b3-wrong.iso", &other);
    let o = verify(&root, &wrong);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    let t = text(&o);
    assert!(
        t.contains("Payload  MISMATCH (firmware/rootfs.img, BLAKE3)")
            && t.contains(&format!("payload has {b3}"))
            && t.contains(&format!("manifest    {other}")),
        "{}",
        describe(&o)
    );

    // Right BLAKE3, wrong SHA-256: a vendor's inconsistent manifest.
    let bad_sha =
        with_b3(manifest(NEW_VERSION, &new, ""), &b3).replace(&sha_hex(&new), &sha_hex(b"x"));
    let split = image(d.path(), "b3-split.iso", &bad_sha, &new, Sig::Vendor);
    let h = sha_hex(&std::fs::read(&split).unwrap());
    let o = run(&root, &["verify", split.to_str().unwrap(), "--sha256", &h]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let o = run(&root, &["check", split.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let o = run(&root, &["activate", "--yes", split.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        describe(&o).contains("has SHA-256") && describe(&o).contains("the image is damaged"),
        "{}",
        describe(&o)
    );
    let env = env_of(&root);
    assert!(!env.ok(upgrade_core::slots::slot_status::SlotName::B));
    assert_eq!(
        env.next_boot(),
        upgrade_core::slots::slot_status::SlotName::A
    );
}
