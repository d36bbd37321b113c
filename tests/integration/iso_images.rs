//! Firmware images made by the project's builder and by xorriso, good and hostile:
//! every broken one is refused with a clear error and exit 2.

use crate::support::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use upgrade_console::demo::iso_build::build_iso;
use upgrade_core::image::iso::{FirmwareImage, IsoError};

fn manifest(payload: &[u8], file: &str, size: Option<u64>) -> String {
    format!(
        "[firmware]\nproduct = \"sps\"\nversion = \"7.3.1\"\nkind = \"maintenance\"\n\n[upgrade]\nfrom = [\"7.0\", \"7.0.1\"]\n\n[payload]\nfile = \"{file}\"\nsize = {}\nsha256 = \"{}\"\n",
        size.unwrap_or(payload.len() as u64),
        hex::encode(Sha256::digest(payload))
    )
}

fn build(dir: &Path, name: &str, files: Vec<(&str, Vec<u8>)>) -> PathBuf {
    let p = dir.join(name);
    build_iso(
        &p,
        "FW",
        files.into_iter().map(|(n, c)| (n.to_string(), c)).collect(),
    )
    .unwrap();
    p
}

fn expect_exit_2(root: &Path, iso: &Path, needle: &str) {
    for cmd in ["verify", "check"] {
        let mut args = vec![cmd, iso.to_str().unwrap()];
        if cmd == "verify" {
            args.extend([
                "--sha256",
                "57df2b88e910e6ab098801ab74c929238b97c629af26815dfc6295786a4f62ef",
            ]);
        }
        let o = run(root, &args);
        assert_eq!(code(&o), 2, "{cmd} {}: {}", iso.display(), text(&o));
        assert!(
            text(&o).contains(needle),
            "{cmd} {}: expected {needle:?} in {}",
            iso.display(),
            text(&o)
        );
    }
}

#[test]
fn builder_images_open_and_hostile_ones_are_refused() {
    let (_d, root) = demo();
    let dir = root.join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let payload = vec![7u8; 300_000];

    let good = build(
        &dir,
        "good.iso",
        vec![
            (
                "firmware/manifest.toml",
                manifest(&payload, "firmware/rootfs.img", None).into_bytes(),
            ),
            ("firmware/rootfs.img", payload.clone()),
        ],
    );
    let img = FirmwareImage::open(&good).unwrap();
    assert_eq!(
        img.payload.iter().map(|r| r.len).sum::<u64>(),
        payload.len() as u64
    );
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut img.payload_reader().unwrap(), &mut bytes).unwrap();
    assert_eq!(bytes, payload);

    let not_iso = dir.join("random.iso");
    std::fs::write(&not_iso, vec![0x5au8; 100_000]).unwrap();
    expect_exit_2(&root, &not_iso, "is not an ISO9660 image");

    let tiny = dir.join("tiny.iso");
    std::fs::write(&tiny, b"hello").unwrap();
    expect_exit_2(&root, &tiny, "too small");

    let truncated = dir.join("truncated.iso");
    let whole = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    expect_exit_2(&root, &truncated, "truncated");

    let no_manifest = build(
        &dir,
        "no-manifest.iso",
        vec![("firmware/rootfs.img", payload.clone())],
    );
    expect_exit_2(&root, &no_manifest, "has no firmware/manifest.toml");

    let garbage = build(
        &dir,
        "garbage-manifest.iso",
        vec![
            ("firmware/manifest.toml", b"this is [not toml".to_vec()),
            ("firmware/rootfs.img", payload.clone()),
        ],
    );
    expect_exit_2(&root, &garbage, "manifest.toml in the image is not valid");

    let missing = build(
        &dir,
        "missing-payload.iso",
        vec![(
            "firmware/manifest.toml",
            manifest(&payload, "firmware/rootfs.img", None).into_bytes(),
        )],
    );
    expect_exit_2(&root, &missing, "has no such file");

    let size = build(
        &dir,
        "size-mismatch.iso",
        vec![
            (
                "firmware/manifest.toml",
                manifest(&payload, "firmware/rootfs.img", Some(1234)).into_bytes(),
            ),
            ("firmware/rootfs.img", payload.clone()),
        ],
    );
    expect_exit_2(&root, &size, "but the manifest says 1234");

    let absurd = build(
        &dir,
        "absurd.iso",
        vec![
            (
                "firmware/manifest.toml",
                manifest(&payload, "firmware/rootfs.img", Some(1 << 50)).into_bytes(),
            ),
            ("firmware/rootfs.img", payload.clone()),
        ],
    );
    expect_exit_2(&root, &absurd, "payload.size");

    for trick in ["../../etc/shadow", "/etc/shadow", "firmware/../../x"] {
        let p = build(
            &dir,
            "trick.iso",
            vec![
                (
                    "firmware/manifest.toml",
                    manifest(&payload, trick, None).into_bytes(),
                ),
                ("firmware/rootfs.img", payload.clone()),
            ],
        );
        expect_exit_2(&root, &p, "payload.file");
    }

    let huge_manifest = format!(
        "{}\n# {}\n",
        manifest(&payload, "firmware/rootfs.img", None),
        "x".repeat(2 << 20)
    );
    let big = build(
        &dir,
        "big-manifest.iso",
        vec![
            ("firmware/manifest.toml", huge_manifest.into_bytes()),
            ("firmware/rootfs.img", payload.clone()),
        ],
    );
    expect_exit_2(&root, &big, "larger than 1 MiB");

    // Flipping bytes all over the image must never crash the reader.
    for (i, step) in [4099usize, 2048 * 16 + 156, 2048 * 17 + 3]
        .into_iter()
        .enumerate()
    {
        let mut b = whole.clone();
        let mut k = step;
        while k < b.len() {
            b[k] ^= 0xff;
            k += step * 7;
        }
        let p = dir.join(format!("flipped-{i}.iso"));
        std::fs::write(&p, &b).unwrap();
        let _ = FirmwareImage::open(&p);
    }
}

#[test]
fn xorriso_images_are_read_like_ours() {
    require_tool("xorriso", "xorriso");
    let (_d, root) = demo();
    let src = root.join("xsrc");
    std::fs::create_dir_all(src.join("firmware/migrations")).unwrap();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(src.join("firmware/rootfs.img"), &payload).unwrap();
    std::fs::write(
        src.join("firmware/manifest.toml"),
        manifest(&payload, "firmware/rootfs.img", None)
            + &format!(
                "\n[programs]\n\"migrations/a-long-name-step.sh\" = \"{}\"\n",
                hex::encode(Sha256::digest(b"#!/bin/sh\n"))
            ),
    )
    .unwrap();
    std::fs::write(
        src.join("firmware/migrations/a-long-name-step.sh"),
        "#!/bin/sh\n",
    )
    .unwrap();
    crate::support::signing::sign_manifest(&src.join("firmware/manifest.toml"), "sps", "7.3.1");
    crate::support::signing::trust_vendor_key(&root);
    let iso = root.join("x.iso");
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-V", "FW_7_3_1", "-J", "-R"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = FirmwareImage::open(&iso).unwrap();
    assert_eq!(img.manifest.firmware.version.to_string(), "7.3.1");
    assert_eq!(
        img.list_files("firmware/migrations").unwrap(),
        vec!["a-long-name-step.sh".to_string()]
    );
    let h = hex::encode(Sha256::digest(std::fs::read(&iso).unwrap()));
    let o = run(&root, &["verify", iso.to_str().unwrap(), "--sha256", &h]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// A payload over 4 GiB is stored in several extents (ISO level 3); it must be found
/// whole and hashed in one pass with the image.
#[test]
fn payload_over_4_gib_in_several_extents() {
    require_tool("xorriso", "xorriso");
    let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("firmware")).unwrap();
    let size: u64 = (4 << 30) + (3 << 20) + 12345;
    let f = std::fs::File::create(src.join("firmware/rootfs.img")).unwrap();
    f.set_len(size).unwrap();
    drop(f);
    // The payload is sparse (zeros), so its digest is known without reading 4 GiB twice.
    let mut h = Sha256::new();
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        h.update(&zeros[..n]);
        left -= n as u64;
    }
    let payload_hash = hex::encode(h.finalize());
    let m = format!(
        "[firmware]\nproduct = \"sps\"\nversion = \"7.3.1\"\nkind = \"maintenance\"\n[upgrade]\nfrom = [\"7.0.1\"]\n[payload]\nfile = \"firmware/rootfs.img\"\nsize = {size}\nsha256 = \"{payload_hash}\"\n"
    );
    std::fs::write(src.join("firmware/manifest.toml"), m).unwrap();
    let iso = d.path().join("big.iso");
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-iso-level", "3", "-o"])
        .arg(&iso)
        .args(["-J", "-R"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = FirmwareImage::open(&iso).unwrap();
    assert_eq!(img.payload.iter().map(|r| r.len).sum::<u64>(), size);
    let (_, report) = upgrade_core::image::verify::verify_image(
        &upgrade_core::appliance::root::ApplianceRoot::new(d.path()),
        &iso,
        &[0u8; 32],
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.payload_ok, "payload hash over several extents");
    assert!(!report.image_ok);
}

#[test]
fn errors_are_typed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("missing.iso");
    assert!(matches!(FirmwareImage::open(&p), Err(IsoError::Io { .. })));
}
