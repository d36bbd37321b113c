//! Hostile and unusual paths (issue 9, defects 1, 5 and 6): a relative --root, an
//! image whose directory tree loops, and every way a write could leave the root
//! (planted symlinks, config paths with `..`, predictable temp names).

use crate::support::{bin, code, text};
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary in `cwd` with exactly these arguments (stdin not a terminal).
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(cwd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run upgrade-console")
}

/// Defect 1: the README's "A whole upgrade from the command line", word for word,
/// with `R=demo-appliance` relative to a fresh working directory.
#[test]
fn readme_upgrade_with_a_relative_root_commits() {
    let cwd = tempfile::tempdir().unwrap();
    let c = cwd.path();
    let o = run_in(c, &["demo", "demo-appliance"]);
    assert_eq!(code(&o), 0, "demo: {}", text(&o));
    let r = "demo-appliance";
    let i = "demo-appliance/images/sps-7.3.1.iso";
    let steps: [&[&str]; 7] = [
        &["--root", r, "status"],
        &["--root", r, "verify", i],
        &["--root", r, "check", i],
        &["--root", r, "activate", "--yes", i],
        &["--root", r, "reboot"],
        &["--root", r, "phase2"],
        &["--root", r, "status"],
    ];
    let mut last = String::new();
    for args in steps {
        let o = run_in(c, args);
        assert_eq!(code(&o), 0, "`{}` failed: {}", args.join(" "), text(&o));
        last = text(&o);
    }
    assert!(
        last.contains("firmware 7.3.1"),
        "status after the upgrade does not show 7.3.1 running:\n{last}"
    );
    let root = upgrade_core::appliance::root::ApplianceRoot::new(c.join(r));
    let state = upgrade_core::upgrade::journal::current_state(&root).unwrap();
    assert!(
        matches!(
            state,
            upgrade_core::upgrade::journal::UpgradeState::Committed { .. }
        ),
        "the upgrade did not commit: {state:?}"
    );
    let running = upgrade_core::slots::slot_status::running_version(&root)
        .unwrap()
        .map(|v| v.to_string());
    assert_eq!(running.as_deref(), Some("7.3.1"));
}

/// A demo appliance and, beside it (outside its root), a directory a planted link
/// points into.
fn demo_with_outside() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let (d, root) = crate::support::demo();
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    (d, root, outside)
}

fn verify_and_check(root: &Path, iso: &str) {
    for args in [["verify", iso], ["check", iso]] {
        let o = crate::support::run(root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
}

/// Defect 6: a console.log link gets no log line; the command says why.
#[test]
fn a_console_log_link_is_not_followed() {
    let (_d, root, outside) = demo_with_outside();
    let target = outside.join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let log = root.join("var/log/upgrade-console/console.log");
    let _ = std::fs::remove_file(&log);
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let iso = root.join("images/sps-7.3.1.iso");
    let o = crate::support::run(&root, &["check", iso.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(
        text(&o).contains("is a symbolic link"),
        "no word about the link: {}",
        text(&o)
    );
}

/// Defect 6: dangling links for the three locks create nothing at their targets.
#[test]
fn dangling_lock_links_create_nothing() {
    let (_d, root, outside) = demo_with_outside();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let state = root.join("var/lib/upgrade-console");
    std::fs::create_dir_all(&state).unwrap();
    verify_and_check(&root, iso);
    let cases: [(&str, &[&str]); 3] = [
        ("activate.lock", &["activate", "--yes", iso]),
        ("boot.lock", &["boot"]),
        ("phase2.lock", &["phase2"]),
    ];
    for (lock, args) in cases {
        let target = outside.join(lock);
        let link = state.join(lock);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let o = crate::support::run(&root, args);
        let t = text(&o);
        assert!(
            !target.exists(),
            "{args:?} created {}: {t}",
            target.display()
        );
        assert_ne!(code(&o), 0, "{args:?} ran through a {lock} link: {t}");
        assert!(
            t.contains("is a symbolic link") && t.contains(lock),
            "{args:?}: the error does not name the link: {t}"
        );
        std::fs::remove_file(&link).unwrap();
    }
}

/// Defect 6: a slot path that climbs out of the root is refused at load, by key.
#[test]
fn a_slot_outside_the_root_is_refused() {
    let (_d, root, outside) = demo_with_outside();
    let slot_b = root.join("var/lib/demo/slotB.img");
    let planted = outside.join("slotB.img");
    std::fs::copy(&slot_b, &planted).unwrap();
    let before = std::fs::read(&planted).unwrap();
    let cfg = root.join("etc/appliance/appliance.toml");
    let text0 = std::fs::read_to_string(&cfg).unwrap();
    let old = "B = \"var/lib/demo/slotB.img\"";
    assert!(
        text0.contains(old),
        "the demo configuration changed: {text0}"
    );
    let escape = format!("B = \"/../{}/slotB.img\"", "outside");
    std::fs::write(&cfg, text0.replace(old, &escape)).unwrap();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let _ = crate::support::run(&root, &["verify", iso]);
    for args in [
        vec!["check", iso],
        vec!["activate", "--yes", iso],
        vec!["status"],
    ] {
        let o = crate::support::run(&root, &args);
        let t = text(&o);
        assert_eq!(code(&o), 2, "{args:?}: {t}");
        assert!(
            t.contains("slots.B") && t.contains("leaves the appliance root"),
            "{args:?}: the error does not name the key: {t}"
        );
    }
    assert!(
        std::fs::read(&planted).unwrap() == before,
        "slot B outside the root was written"
    );
}

/// Defect 6: the durable helper's temp file is not at a guessable name, so a link
/// planted there (for this very process id, the old name) is left alone.
#[test]
fn a_planted_temp_link_is_not_written_through() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let dir = d.path().join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let pid = std::process::id();
    std::os::unix::fs::symlink(&target, dir.join(format!(".slot-status.json.tmp.{pid}"))).unwrap();
    upgrade_core::appliance::durable::write_atomic(&dir.join("slot-status.json"), b"{}").unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(std::fs::read(dir.join("slot-status.json")).unwrap(), b"{}");
}

/// Defect 6: `bundle -o FILE` likewise (in this process, so its old temp name is known).
#[test]
fn a_planted_bundle_temp_link_is_not_written_through() {
    let (d, root, outside) = demo_with_outside();
    let target = outside.join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let out_dir = d.path().join("bundles");
    std::fs::create_dir_all(&out_dir).unwrap();
    let pid = std::process::id();
    std::os::unix::fs::symlink(&target, out_dir.join(format!(".b.zip.tmp.{pid}"))).unwrap();
    let r = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    let out = out_dir.join("b.zip");
    let written = upgrade_core::support::bundle::write_bundle(&r, Some(&out)).unwrap();
    assert_eq!(written, out);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
}

/// Rewrites every directory record named `name` (ISO9660 and Joliet trees) to point
/// at the directory that holds it, so the tree loops: `dir/name` is `dir` again.
fn make_directory_loop(iso: &Path, name: &str) -> usize {
    let mut img = std::fs::read(iso).unwrap();
    let le32 = |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let mut roots = Vec::new();
    let mut sector = 16;
    loop {
        let d = &img[sector * 2048..(sector + 1) * 2048];
        match d[0] {
            1 | 2 => roots.push((le32(d, 156 + 2), le32(d, 156 + 10))),
            255 => break,
            _ => {}
        }
        sector += 1;
    }
    let mut patched = 0;
    let mut seen = std::collections::HashSet::new();
    let mut stack = roots;
    while let Some((extent, len)) = stack.pop() {
        if !seen.insert(extent) {
            continue;
        }
        let start = extent as usize * 2048;
        let mut off = 0usize;
        while off < len as usize {
            let rec = start + off;
            let rlen = img[rec] as usize;
            if rlen == 0 {
                off = (off / 2048 + 1) * 2048;
                continue;
            }
            let nlen = img[rec + 32] as usize;
            let raw = &img[rec + 33..rec + 33 + nlen];
            let is_dir = img[rec + 25] & 2 != 0;
            let text: String = if nlen >= 2 && raw[0] == 0 {
                raw.chunks(2).map(|c| c[1] as char).collect()
            } else {
                String::from_utf8_lossy(raw).into_owned()
            };
            if is_dir && nlen > 0 && raw != [0] && raw != [1] {
                if text.eq_ignore_ascii_case(name) {
                    img[rec + 2..rec + 6].copy_from_slice(&extent.to_le_bytes());
                    img[rec + 6..rec + 10].copy_from_slice(&extent.to_be_bytes());
                    img[rec + 10..rec + 14].copy_from_slice(&len.to_le_bytes());
                    img[rec + 14..rec + 18].copy_from_slice(&len.to_be_bytes());
                    patched += 1;
                } else {
                    stack.push((le32(&img, rec + 2), le32(&img, rec + 10)));
                }
            }
            off += rlen;
        }
    }
    std::fs::write(iso, &img).unwrap();
    patched
}

/// The demo's good image rebuilt with `firmware/migrations/loop/`, then patched so
/// that `loop` is `firmware/migrations` again; with its `.sha256` beside it.
fn looping_image(root: &Path) -> std::path::PathBuf {
    use upgrade_core::image::iso::FirmwareImage;
    let good = FirmwareImage::open(&root.join("images/sps-7.3.1.iso")).unwrap();
    let mut payload = Vec::new();
    std::io::Read::read_to_end(&mut good.payload_reader().unwrap(), &mut payload).unwrap();
    let mut files = vec![
        (
            "firmware/manifest.toml".to_string(),
            good.manifest_text.clone().into_bytes(),
        ),
        ("firmware/rootfs.img".to_string(), payload),
        (
            "firmware/migrations/loop/x.sh".to_string(),
            b"#!/bin/sh\n".to_vec(),
        ),
    ];
    for f in ["step.sh", "import.sh"] {
        let p = format!("firmware/migrations/{f}");
        let bytes = good.read_small_file(&p).unwrap().unwrap();
        files.push((p, bytes));
    }
    let iso = root.join("images/sps-7.3.1-loop.iso");
    upgrade_console::demo::iso_build::build_iso(&iso, "SPS_LOOP", files).unwrap();
    assert!(
        make_directory_loop(&iso, "loop") > 0,
        "no directory \"loop\" to patch"
    );
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&iso).unwrap()));
    std::fs::write(
        root.join("images/sps-7.3.1-loop.iso.sha256"),
        format!("{digest}  sps-7.3.1-loop.iso\n"),
    )
    .unwrap();
    iso
}

/// Defect 5: a looping migrations tree is refused when the image is opened (verify,
/// check and activate all say so), and slot B is never written.
#[test]
fn a_looping_image_is_refused_before_anything_is_written() {
    let (_d, root) = crate::support::demo();
    let iso = looping_image(&root);
    let i = iso.to_str().unwrap();
    let slot_b = root.join("var/lib/demo/slotB.img");
    let before = std::fs::read(&slot_b).unwrap();
    for args in [
        vec!["verify", i],
        vec!["check", i],
        vec!["activate", "--yes", i],
    ] {
        let o = crate::support::run(&root, &args);
        let t = text(&o);
        assert_ne!(code(&o), 0, "{args:?} accepted a looping image: {t}");
        assert!(
            t.contains("loops") && t.contains("firmware/migrations/loop"),
            "{args:?}: the error does not say where the tree loops: {t}"
        );
    }
    assert!(
        std::fs::read(&slot_b).unwrap() == before,
        "slot B was written"
    );
    let st = std::fs::read_to_string(root.join("var/lib/upgrade-console/slot-status.json"))
        .unwrap_or_default();
    assert!(!st.contains("writing"), "slot status says writing: {st}");
}

/// Defect 5: when staging fails after the slot was written, the failure is recorded,
/// slot B is marked bad and not armed, nothing half-staged stays, and the journal
/// is not left "activating" (which the console shows as an interrupted write).
#[test]
fn a_failure_after_the_write_marks_the_slot_bad() {
    use upgrade_core::slots::slot_status::{SlotName, SlotState, SlotStatus};
    let (_d, root) = crate::support::demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let i = iso.to_str().unwrap();
    verify_and_check(&root, i);
    let sha = upgrade_core::image::iso::FirmwareImage::open(&iso)
        .unwrap()
        .manifest
        .payload
        .sha256
        .to_ascii_lowercase();
    // A file where the staging directory goes: staging fails after the slot write.
    let staged = root.join("var/lib/upgrade-console/staged").join(&sha);
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, "in the way").unwrap();
    let o = crate::support::run(&root, &["activate", "--yes", i]);
    let t = text(&o);
    assert_ne!(code(&o), 0, "activate succeeded: {t}");
    let r = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    let rec = SlotStatus::load(&r).unwrap().get(SlotName::B);
    assert_eq!(
        rec.state,
        SlotState::Bad,
        "slot B after a failed staging: {rec:?}"
    );
    let env = upgrade_core::slots::grubenv::GrubEnv::load(&r.grubenv()).unwrap();
    assert_eq!(env.next_boot(), SlotName::A, "slot B is armed: {env:?}");
    assert!(!env.ok(SlotName::B), "slot B is marked bootable: {env:?}");
    let state = upgrade_core::upgrade::journal::current_state(&r).unwrap();
    assert!(
        !matches!(
            state,
            upgrade_core::upgrade::journal::UpgradeState::Activating { .. }
        ),
        "the journal still says activating: {state:?}"
    );
    let status = crate::support::run(&root, &["status"]);
    assert!(
        !text(&status).contains("interrupted"),
        "status speaks of an interrupted write: {}",
        text(&status)
    );
}

/// Defect 6: the file the console captures a detached child's errors in is not
/// written through a planted link.
#[test]
fn a_planted_stderr_link_is_not_followed() {
    use upgrade_console::tui::worker::{Op, spawn_detached, stderr_file};
    let (_d, root, outside) = demo_with_outside();
    let target = outside.join("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let r = upgrade_core::appliance::root::ApplianceRoot::new(&root);
    let link = stderr_file(&r, Op::Bundle);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (tx, _rx) = std::sync::mpsc::channel();
    let e = spawn_detached(Path::new(bin()), &r, Op::Bundle, vec!["status".into()], tx)
        .expect_err("the console started a child with its errors going through a link");
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
}

/// Defect 5, the other way round: the walk that refuses loops accepts real images
/// with deep trees (xorriso relocates directories past ISO9660's eight levels with
/// Rock Ridge; those must not be taken for a loop) and empty directories.
#[test]
fn an_xorriso_image_with_deep_and_empty_directories_opens() {
    use upgrade_core::image::iso::FirmwareImage;
    crate::support::require_tool("xorriso", "xorriso");
    let (_d, root) = crate::support::demo();
    let good = FirmwareImage::open(&root.join("images/sps-7.3.1.iso")).unwrap();
    let src = root.join("xsrc");
    let fw = src.join("firmware");
    std::fs::create_dir_all(fw.join("migrations/lib/a/b/c/d/e/f/g/h/i/j")).unwrap();
    std::fs::create_dir_all(fw.join("migrations/empty1")).unwrap();
    std::fs::create_dir_all(fw.join("migrations/empty2")).unwrap();
    std::fs::write(
        fw.join("migrations/lib/a/b/c/d/e/f/g/h/i/j/deep.sh"),
        "#!/bin/sh\n",
    )
    .unwrap();
    std::fs::write(fw.join("manifest.toml"), &good.manifest_text).unwrap();
    let mut payload = Vec::new();
    std::io::Read::read_to_end(&mut good.payload_reader().unwrap(), &mut payload).unwrap();
    std::fs::write(fw.join("rootfs.img"), &payload).unwrap();
    for f in ["step.sh", "import.sh"] {
        let b = good
            .read_small_file(&format!("firmware/migrations/{f}"))
            .unwrap()
            .unwrap();
        std::fs::write(fw.join("migrations").join(f), b).unwrap();
    }
    let iso = root.join("deep.iso");
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-V", "FW_DEEP", "-J", "-R"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = FirmwareImage::open(&iso).unwrap();
    let names: Vec<&str> = img.migrations.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        names,
        ["import.sh", "lib/a/b/c/d/e/f/g/h/i/j/deep.sh", "step.sh"]
    );
}

/// Every file and directory under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// A directory the console writes into (state, logs, boot environment, or one above
/// them) replaced by a link out of the root: every command refuses before writing,
/// names the link, and the place it points to is left as it was.
#[test]
fn a_written_directory_linked_out_of_the_root_is_refused() {
    for rel in [
        "var/lib/upgrade-console",
        "var/log/upgrade-console",
        "var",
        "boot/grub",
    ] {
        let (_d, root, outside) = demo_with_outside();
        let iso = root.join("images/sps-7.3.1.iso");
        // The directory's contents move out; the link takes its place.
        let moved = outside.join("moved");
        std::fs::rename(root.join(rel), &moved).unwrap();
        std::os::unix::fs::symlink(&moved, root.join(rel)).unwrap();
        let before = listing(&outside);
        for args in [
            vec!["status"],
            vec!["verify", iso.to_str().unwrap()],
            vec!["activate", "--yes", iso.to_str().unwrap()],
            vec!["reboot"],
            vec!["bundle"],
        ] {
            let o = crate::support::run(&root, &args);
            assert_eq!(code(&o), 2, "{rel} linked out, {args:?}: {}", text(&o));
            assert!(
                text(&o).contains("outside the appliance root") && text(&o).contains(rel),
                "{rel} linked out, {args:?}: no word about the link: {}",
                text(&o)
            );
        }
        assert_eq!(
            listing(&outside),
            before,
            "{rel} linked out: something was written outside the root"
        );
    }
}

/// A link that stays inside the root is layout, not an escape: the commands work.
#[test]
fn a_written_directory_linked_inside_the_root_is_fine() {
    let (_d, root, _outside) = demo_with_outside();
    std::fs::rename(root.join("var/log/upgrade-console"), root.join("logs")).unwrap();
    std::os::unix::fs::symlink("../../logs", root.join("var/log/upgrade-console")).unwrap();
    let iso = root.join("images/sps-7.3.1.iso");
    verify_and_check(&root, iso.to_str().unwrap());
    assert!(root.join("logs/console.log").exists());
}
