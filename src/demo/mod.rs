//! The demo appliance: a complete appliance root in a directory (configuration, two
//! slot image files, boot environment, kernel command line, slot status, data) and
//! real firmware ISOs built by the project's own ISO writer — a good upgrade and
//! images that fail in each way the console must handle. Needs nothing but Rust.

pub mod demo_material;
pub mod ha_pair;
pub mod iso_build;
pub mod signing;

use crate::demo::iso_build::{ImageFiles, build_iso};
use sha2::{Digest, Sha256 as Hasher};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use upgrade_core::appliance::durable::write_atomic;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::hash_forms::Sha256;
use upgrade_core::image::version::Version;
use upgrade_core::slots::slot_status::{SlotName, SlotRecord, SlotState, SlotStatus};

/// Size of a demo payload (a real one is a root filesystem image).
pub const PAYLOAD_BYTES: usize = 16 << 20;
const SLOT_BYTES: u64 = 32 << 20;
const RUNNING: &str = "7.0.1";
/// What the demo's files look like; a demo of another format is not reused.
const DEMO_FORMAT: &str = "4: signed manifests with program hashes and the payload's BLAKE3";

/// One image the demo built.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoImage {
    pub path: PathBuf,
    pub version: String,
    /// What the image shows.
    pub purpose: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoAppliance {
    pub root: PathBuf,
    pub images: Vec<DemoImage>,
    /// True when an existing demo was reused.
    pub reused: bool,
}

/// Stages `--fail` accepts and the image each makes the default.
pub const FAIL_STAGES: [(&str, &str); 3] = [
    ("check", GOOD_IMAGE),
    ("phase1", FAILS_IN_PHASE1),
    ("irreversible", FAILS_AFTER_NO_RETURN),
];
pub const GOOD_IMAGE: &str = "sps-7.3.1.iso";
const FAILS_IN_PHASE1: &str = "sps-7.3.1-fails-in-phase1.iso";
const FAILS_AFTER_NO_RETURN: &str = "sps-7.3.1-fails-after-point-of-no-return.iso";

/// Deterministic bytes standing in for a root filesystem of `version`.
pub fn payload_for(version: &str) -> Vec<u8> {
    let mut seed = Hasher::digest(version.as_bytes());
    let mut out = Vec::with_capacity(PAYLOAD_BYTES);
    while out.len() < PAYLOAD_BYTES {
        seed = Hasher::digest(seed);
        out.extend_from_slice(&seed);
        // Mostly compressible, like a real filesystem with free blocks.
        out.extend(std::iter::repeat_n(0u8, 224));
    }
    out.truncate(PAYLOAD_BYTES);
    out
}

fn sha(bytes: &[u8]) -> Sha256 {
    Hasher::digest(bytes).into()
}

struct ImageSpec<'a> {
    file: &'a str,
    version: &'a str,
    purpose: &'a str,
    /// from-list override; default the 7.3.1 guide's path (7.0, 7.0.1).
    from: &'a str,
    /// Lie about the payload hash in the manifest.
    wrong_payload_hash: bool,
    /// Tick at which a phase-1 step fails: (step index, tick).
    fail: Option<(usize, u32)>,
}

fn manifest_text(spec: &ImageSpec, payload: &[u8]) -> String {
    let v: Version = spec.version.parse().unwrap_or(Version::new(0, 0, 0));
    let mut hash = hex::encode(sha(payload));
    let mut b3 = blake3::hash(payload).to_hex().to_string();
    if spec.wrong_payload_hash {
        hash = hex::encode(sha(b"not the payload"));
        b3 = blake3::hash(b"not the payload").to_hex().to_string();
    }
    let mut m = String::new();
    let _ = write!(
        m,
        r#"# Firmware manifest of the demo appliance's sample image.
[firmware]
product = "sps"
version = "{version}"
kind = "{kind}"
released = "2026-11-01"

[upgrade]
{from}
min_free_percent = 10
licence_lts = {lts}

[payload]
file = "firmware/rootfs.img"
size = {size}
sha256 = "{hash}"
blake3 = "{b3}"
"#,
        version = spec.version,
        kind = v.kind(),
        from = spec.from,
        lts = v.major,
        size = payload.len(),
    );
    let steps: [(&str, u32, bool); 3] = [
        ("Check configuration", 5, false),
        ("Migrate configuration", 8, false),
        ("Upgrade session database", 10, true),
    ];
    for (i, (name, ticks, irreversible)) in steps.iter().enumerate() {
        let fail = match spec.fail {
            Some((step, tick)) if step == i => format!(", \"{tick}\""),
            _ => String::new(),
        };
        let _ = write!(
            m,
            "\n[[phase1]]\nname = \"{name}\"\ncommand = [\"migrations/step.sh\", \"{name}\", \"{ticks}\"{fail}]\nweight = {ticks}\nirreversible = {irreversible}\n"
        );
    }
    m.push('\n');
    m.push_str(crate::demo::demo_material::DEMO_RULES);
    m.push_str("\n[[phase2]]\nname = \"Import sessions into search\"\ncommand = [\"migrations/import.sh\", \"30\"]\nweight = 1\n");
    for (title, text) in [
        (
            "Desktop player",
            "Upgrade the Desktop Player on operator workstations to the latest version: older players cannot replay audit trails recorded from now on.",
        ),
        (
            "External indexers",
            "Upgrade every external indexer to at least this firmware's version.",
        ),
        (
            "Plugins",
            "Upload the updated credential store and multi-factor authentication plugins.",
        ),
        (
            "Domain membership",
            "If the appliance was joined to a domain, check that it still is and rejoin it if needed.",
        ),
    ] {
        let _ = write!(
            m,
            "\n[[reminders]]\ntitle = \"{title}\"\ntext = \"{text}\"\n"
        );
    }
    // The programs' hashes: the signature covers them through the manifest.
    m.push_str("\n[programs]\n");
    for (path, bytes) in image_files(String::new(), Vec::new()) {
        if let Some(program) = path.strip_prefix("firmware/")
            && program.starts_with("migrations/")
        {
            let _ = writeln!(m, "\"{program}\" = \"{}\"", hex::encode(sha(&bytes)));
        }
    }
    m
}

fn image_files(manifest: String, payload: Vec<u8>) -> ImageFiles {
    vec![
        ("firmware/manifest.toml".into(), manifest.into_bytes()),
        ("firmware/rootfs.img".into(), payload),
        (
            "firmware/migrations/step.sh".into(),
            include_bytes!("../../assets/demo-migrations/step.sh").to_vec(),
        ),
        (
            "firmware/migrations/import.sh".into(),
            include_bytes!("../../assets/demo-migrations/import.sh").to_vec(),
        ),
        (
            "README.TXT".into(),
            b"Demo firmware image for upgrade-console.\n".to_vec(),
        ),
    ]
}

fn config_text() -> &'static str {
    r#"# Demo appliance configuration (upgrade-console demo).
[appliance]
product = "sps"
hostname = "sps-demo"
platform = "virtual"
sealed = false

[[network.interfaces]]
name = "eth0"
addresses = ["192.0.2.10/24"]
gateway = "192.0.2.1"
management = true

[[network.interfaces]]
name = "eth1"
addresses = ["198.51.100.10/24"]
management = false

[web]
listen = ["127.0.0.1:8480"]

[slots]
A = "var/lib/demo/slotA.img"
B = "var/lib/demo/slotB.img"

[licence]
lts = 7
"#
}

/// Writes appliance.toml with the `[product]` part the firmware rules read: good
/// material that passes the upgrade test, or broken material that shows its findings.
fn write_config(root: &ApplianceRoot, broken: bool) -> anyhow::Result<()> {
    let mut product = toml::Table::new();
    product.insert("disk_fillup_prevention_percent".into(), 80.into());
    product.insert("ldap_response_timeout_s".into(), 120.into());
    // A secret, so the support bundle's redaction has something to prove.
    product.insert("ldap_bind_password".into(), "demo-ldap-secret-7f3a".into());
    product.extend(crate::demo::demo_material::install_demo_material(
        root, broken,
    )?);
    let mut doc = toml::Table::new();
    doc.insert("product".into(), toml::Value::Table(product));
    let text = format!("{}\n{}", config_text(), toml::to_string(&doc)?);
    write(root, "etc/appliance/appliance.toml", text.as_bytes())?;
    Ok(())
}

/// A GRUB environment block as grub-editenv writes it (1024 bytes, '#' padded).
pub fn grubenv_block(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::from("# GRUB Environment Block\n");
    for (k, v) in vars {
        let _ = writeln!(s, "{k}={v}");
    }
    let mut b = s.into_bytes();
    b.resize(1024, b'#');
    b
}

fn write(root: &ApplianceRoot, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(&root.resolve(rel), bytes)
}

/// Removes a demo appliance built by `build` so the next build starts afresh.
/// Refuses a directory that is not one (its configuration is not the demo's), so
/// a mistyped path is never deleted.
pub fn reset(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let cfg = ApplianceRoot::new(dir).config_file();
    let is_demo = std::fs::read_to_string(&cfg)
        .is_ok_and(|t| t.starts_with("# Demo appliance configuration"));
    if !is_demo {
        anyhow::bail!(
            "{} is not a demo appliance ({} is missing or not the demo's): not removed; give the demo's directory to --reset",
            dir.display(),
            cfg.display()
        );
    }
    std::fs::remove_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot remove the demo at {}: {e}", dir.display()))
}

/// The command that runs this program as the reader would type it: `cargo run --`
/// when it is a build under a cargo `target/` directory (not on PATH), else its path.
pub fn invocation(exe: &Path) -> String {
    if exe.components().any(|c| c.as_os_str() == "target") {
        "cargo run --".to_string()
    } else {
        exe.display().to_string()
    }
}

/// The slots as they are now ("running 7.3.1 in slot B; slot A: good, 7.0.1").
pub fn slots_line(root: &ApplianceRoot) -> String {
    use upgrade_core::slots::slot_status::booted_slot;
    let st = SlotStatus::load(root).unwrap_or_default();
    let booted = booted_slot(root);
    let describe = |r: &SlotRecord| match (&r.state, r.version) {
        (SlotState::Empty, _) => "empty".to_string(),
        (s, Some(v)) => format!("{} {v}", format!("{s:?}").to_lowercase()),
        (s, None) => format!("{s:?}").to_lowercase(),
    };
    let running = st
        .get(booted)
        .version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "unknown firmware".into());
    format!(
        "running {running} in slot {booted}; slot {}: {}",
        booted.other(),
        describe(&st.get(booted.other()))
    )
}

/// Builds the demo appliance in `dir`, or reuses it when it is already there.
/// `broken_config` installs configuration that the new firmware's rules refuse.
pub fn build(dir: &Path, broken_config: bool) -> anyhow::Result<DemoAppliance> {
    let root = ApplianceRoot::new(dir);
    let images_dir = dir.join("images");
    let specs = [
        ImageSpec {
            file: GOOD_IMAGE,
            version: "7.3.1",
            purpose: "a good upgrade from the running 7.0.1",
            from: "from = [\"7.0\", \"7.0.1\"]",
            wrong_payload_hash: false,
            fail: None,
        },
        ImageSpec {
            file: "sps-7.3.1-bad-payload-hash.iso",
            version: "7.3.1",
            purpose: "verify fails: the payload does not match its manifest",
            from: "from = [\"7.0\", \"7.0.1\"]",
            wrong_payload_hash: true,
            fail: None,
        },
        ImageSpec {
            file: "sps-8.1.iso",
            version: "8.1",
            purpose: "check refuses the path: upgrade to 8 LTS first",
            from: "from_lts_line = true\nfrom_feature_releases = 3",
            wrong_payload_hash: false,
            fail: None,
        },
        ImageSpec {
            file: FAILS_IN_PHASE1,
            version: "7.3.1",
            purpose: "phase 1 fails before the point of no return: rollback",
            from: "from = [\"7.0\", \"7.0.1\"]",
            wrong_payload_hash: false,
            fail: Some((1, 4)),
        },
        ImageSpec {
            file: FAILS_AFTER_NO_RETURN,
            version: "7.3.1",
            purpose: "phase 1 fails after the point of no return: recovery",
            from: "from = [\"7.0\", \"7.0.1\"]",
            wrong_payload_hash: false,
            fail: Some((2, 6)),
        },
    ];
    let untrusted = [
        (signing::TAMPERED_IMAGE, signing::TAMPERED_PURPOSE),
        (signing::UNKNOWN_KEY_IMAGE, signing::UNKNOWN_KEY_PURPOSE),
    ];
    // A demo built by an older version (unsigned images, say) is built afresh.
    let format_file = root.resolve("var/lib/demo/format");
    let reused = root.config_file().is_file()
        && std::fs::read_to_string(&format_file).is_ok_and(|f| f.trim() == DEMO_FORMAT)
        && signing::demo_key_file(&root).is_file()
        && specs.iter().all(|s| images_dir.join(s.file).is_file())
        && untrusted.iter().all(|(f, _)| images_dir.join(f).is_file());
    if !reused {
        std::fs::create_dir_all(&images_dir)?;
        write(
            &root,
            "etc/appliance/appliance.toml",
            config_text().as_bytes(),
        )?;
        write(
            &root,
            "etc/appliance/support_keys",
            b"# Support engineers' SSH public keys, one per line (recovery SSH is key-only).\n",
        )?;
        write(
            &root,
            "boot/grub/grubenv",
            &grubenv_block(&[
                ("ORDER", "A B"),
                ("A_OK", "1"),
                ("A_TRY", "0"),
                ("B_OK", "0"),
                ("B_TRY", "0"),
            ]),
        )?;
        write(
            &root,
            "proc/cmdline",
            b"BOOT_IMAGE=/vmlinuz root=PARTLABEL=rootA ro quiet upgrade_console.slot=A\n",
        )?;
        write(
            &root,
            "var/lib/appliance/monitor.json",
            b"{\"alerts\": []}\n",
        )?;
        write(&root, "var/crash/core.indexer.4242", &vec![0u8; 64 << 10])?;

        let running = payload_for(RUNNING);
        let slot_a = root.resolve("var/lib/demo/slotA.img");
        let slot_b = root.resolve("var/lib/demo/slotB.img");
        let mut a = running.clone();
        a.resize(SLOT_BYTES as usize, 0);
        write_atomic(&slot_a, &a)?;
        let b = std::fs::File::create(&slot_b)?;
        b.set_len(SLOT_BYTES)?;
        b.sync_all()?;

        let mut st = SlotStatus::default();
        st.slots.insert(
            SlotName::A,
            SlotRecord {
                state: SlotState::Good,
                version: Some(RUNNING.parse()?),
                product: Some("sps".into()),
                sha256: Some(hex::encode(sha(&running))),
                size: Some(running.len() as u64),
                changed: Some(upgrade_core::appliance::console_log::now_rfc3339()),
            },
        );
        st.slots.insert(SlotName::B, SlotRecord::empty());
        st.save(&root)?;

        // The demo's vendor key: made now, its public half installed as the running
        // firmware's trust anchor, its secret half dropped when the images are signed.
        let vendor = signing::DemoKey::generate(signing::DEMO_KEY_NAME)?;
        vendor.install(&root)?;
        for s in &specs {
            let payload = payload_for(s.version);
            let manifest = manifest_text(s, &payload);
            let path = images_dir.join(s.file);
            let volume = format!("SPS_{}", s.version.replace('.', "_"));
            let signature = vendor.sign_manifest(&manifest, s.version)?;
            let mut files = image_files(manifest, payload);
            files.push((
                upgrade_core::image::signature::SIGNATURE_IN_IMAGE.into(),
                signature.into_bytes(),
            ));
            build_iso(&path, &volume, files)?;
            let digest = sha(&std::fs::read(&path)?);
            let sidecar = format!("{}  {}\n", hex::encode(digest), s.file);
            write_atomic(
                &images_dir.join(format!("{}.sha256", s.file)),
                sidecar.as_bytes(),
            )?;
        }
        // Two images that look right but are not the vendor's: refused by verify,
        // check and activate (kept beside the others with a .sha256 that matches,
        // so only the signature stops them).
        let good = &specs[0];
        let payload = payload_for(good.version);
        let manifest = manifest_text(good, &payload);
        let signature = vendor.sign_manifest(&manifest, good.version)?;
        let evil = payload_for("not the vendor's");
        let tampered = manifest_text(good, &payload)
            .replace(&hex::encode(sha(&payload)), &hex::encode(sha(&evil)));
        let mut files = image_files(tampered, evil);
        files.push((
            upgrade_core::image::signature::SIGNATURE_IN_IMAGE.into(),
            signature.into_bytes(),
        ));
        let stranger = signing::DemoKey::generate("Someone else's key")?;
        let mut unknown = image_files(manifest.clone(), payload);
        unknown.push((
            upgrade_core::image::signature::SIGNATURE_IN_IMAGE.into(),
            stranger
                .sign_manifest(&manifest, good.version)?
                .into_bytes(),
        ));
        for ((file, _), files) in untrusted.iter().zip([files, unknown]) {
            let path = images_dir.join(file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            build_iso(&path, "SPS_7_3_1", files)?;
            let digest = sha(&std::fs::read(&path)?);
            let sidecar = format!("{}  {file}\n", hex::encode(digest));
            write_atomic(
                &images_dir.join(format!("{file}.sha256")),
                sidecar.as_bytes(),
            )?;
        }
        write_atomic(&format_file, format!("{DEMO_FORMAT}\n").as_bytes())?;
    }
    write_config(&root, broken_config)?;
    Ok(DemoAppliance {
        root: dir.to_path_buf(),
        images: specs
            .iter()
            .map(|s| DemoImage {
                path: images_dir.join(s.file),
                version: s.version.to_string(),
                purpose: s.purpose.to_string(),
            })
            .chain(untrusted.iter().map(|(file, purpose)| DemoImage {
                path: images_dir.join(file),
                version: "7.3.1".to_string(),
                purpose: purpose.to_string(),
            }))
            .collect(),
        reused,
    })
}

#[cfg(test)]
mod front_tests {
    use super::*;

    #[test]
    fn invocation_is_cargo_run_for_a_cargo_build_else_the_path() {
        assert_eq!(
            invocation(Path::new(
                "/src/upgrade-console/target/debug/upgrade-console"
            )),
            "cargo run --"
        );
        assert_eq!(
            invocation(Path::new("/usr/sbin/upgrade-console")),
            "/usr/sbin/upgrade-console"
        );
    }

    #[test]
    fn slots_line_says_the_real_state_and_reset_refuses_a_non_demo() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        std::fs::create_dir_all(d.path().join("proc")).unwrap();
        std::fs::write(root.cmdline(), "upgrade_console.slot=B\n").unwrap();
        let mut st = SlotStatus::default();
        let rec = |state, v: &str| SlotRecord {
            state,
            version: Some(v.parse().unwrap()),
            ..SlotRecord::empty()
        };
        st.slots.insert(SlotName::A, rec(SlotState::Good, "7.0.1"));
        st.slots.insert(SlotName::B, rec(SlotState::Good, "7.3.1"));
        st.save(&root).unwrap();
        let l = slots_line(&root);
        assert!(l.starts_with("running 7.3.1 in slot B"), "{l}");
        assert!(l.contains("slot A: good 7.0.1"), "{l}");
        assert!(!l.contains("empty"), "{l}");
        let e = reset(d.path()).unwrap_err().to_string();
        assert!(e.contains("is not a demo appliance"), "{e}");
        assert!(d.path().join("proc").is_dir(), "nothing removed");
    }
}
