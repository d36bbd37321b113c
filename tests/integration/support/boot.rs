//! The boot/activate/power-cut lab: real xorriso firmware images, appliance roots
//! with slot image files or GPT partitions on loop devices.

use super::{LoopLock, loop_lock, require_tool};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::iso::FirmwareImage;
use upgrade_core::slots::grubenv::GrubEnv;
use upgrade_core::slots::slot_status::{SlotName, SlotRecord, SlotState, SlotStatus};

pub const OLD_VERSION: &str = "7.0.1";
pub const NEW_VERSION: &str = "7.3.1";
pub const CONFIG_TAIL: &str = "\n[licence]\nlts = 7\n";
pub const DB_V1: &str = "alpha\nbravo\ncharlie\ndelta\necho\n";

pub fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A deterministic payload of `n` bytes (differs per seed).
pub fn payload(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut x: u32 = 0x9e37_79b9 ^ seed as u32;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Phase-1 step 1 (reversible): converts db.v1 into db.v2 line by line, resumable
/// from its checkpoint (the number of lines done). Keeps db.v1.
pub const CONVERT_SH: &str = r#"#!/bin/sh
set -e
cd "$UPGRADE_CONSOLE_ROOT/var/lib/appliance"
if [ -f db.v2 ]; then echo '{"log": "already converted"}'; exit 0; fi
i=${UPGRADE_CONSOLE_CHECKPOINT:-0}
[ -f db.v2.tmp ] || : > db.v2.tmp
head -n "$i" db.v2.tmp > db.v2.cut; mv db.v2.cut db.v2.tmp
n=$(wc -l < db.v1)
while [ "$i" -lt "$n" ]; do
  i=$((i+1))
  sed -n "${i}p" db.v1 | tr a-z A-Z >> db.v2.tmp
  echo "{\"checkpoint\": \"$i\"}"
  echo "{\"progress\": 0.$((i*19)), \"text\": \"converted $i of $n records\"}"
done
sync
mv db.v2.tmp db.v2
echo "converted $n records"
exit 0
"#;

/// Phase-1 step 2 (irreversible): drops the old format.
pub const FINALIZE_SH: &str = r#"#!/bin/sh
set -e
cd "$UPGRADE_CONSOLE_ROOT/var/lib/appliance"
[ -f db.v2 ]
rm -f db.v1
echo '{"log": "old format removed"}'
"#;

/// Phase 2: rebuilds the search index newest record first, resumable.
pub const REINDEX_SH: &str = r#"#!/bin/sh
set -e
cd "$UPGRADE_CONSOLE_ROOT/var/lib/appliance"
echo "start ${UPGRADE_CONSOLE_CHECKPOINT:-none}" >> phase2.runs
# Killed after the final rename but before exiting: already done.
if [ -n "$UPGRADE_CONSOLE_CHECKPOINT" ] && [ -f index ] && [ ! -f index.tmp ]; then exit 0; fi
i=${UPGRADE_CONSOLE_CHECKPOINT:-0}
[ -f index.tmp ] || : > index.tmp
head -n "$i" index.tmp > index.cut; mv index.cut index.tmp
n=$(wc -l < db.v2)
while [ "$i" -lt "$n" ]; do
  i=$((i+1))
  tail -n "$i" db.v2 | head -n 1 >> index.tmp
  echo "{\"checkpoint\": \"$i\"}"
  echo "{\"progress\": 0.$((i*19))}"
done
mv index.tmp index
"#;

pub const FAIL_SH: &str = "#!/bin/sh\necho '{\"log\": \"simulated migration failure\"}'\necho 'something broke' >&2\nexit 1\n";

pub struct IsoSpec<'a> {
    pub version: &'a str,
    pub payload: &'a [u8],
    /// (name, script, irreversible)
    pub phase1: Vec<(&'a str, &'a str, bool)>,
    pub phase2: Vec<(&'a str, &'a str)>,
}

impl<'a> IsoSpec<'a> {
    /// The normal upgrade image: convert, then the irreversible finalize; reindex in phase 2.
    pub fn standard(payload: &'a [u8]) -> IsoSpec<'a> {
        IsoSpec {
            version: NEW_VERSION,
            payload,
            phase1: vec![
                ("Convert database", CONVERT_SH, false),
                ("Remove old database format", FINALIZE_SH, true),
            ],
            phase2: vec![("Rebuild search index", REINDEX_SH)],
        }
    }
}

/// Builds a firmware ISO with xorriso.
pub fn build_iso(dir: &Path, spec: &IsoSpec) -> PathBuf {
    require_tool("xorriso", "xorriso");
    let tree = dir.join(format!("iso-tree-{}", spec.version));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("firmware/migrations")).unwrap();
    std::fs::write(tree.join("firmware/rootfs.img"), spec.payload).unwrap();
    let mut m = format!(
        "[firmware]\nproduct = \"sps\"\nversion = \"{}\"\nkind = \"maintenance\"\n\n[upgrade]\nfrom = [\"{OLD_VERSION}\"]\nlicence_lts = 7\n\n[payload]\nfile = \"firmware/rootfs.img\"\nsize = {}\nsha256 = \"{}\"\n",
        spec.version,
        spec.payload.len(),
        sha_hex(spec.payload)
    );
    for (i, (name, script, irr)) in spec.phase1.iter().enumerate() {
        let f = format!("p1_{i}.sh");
        std::fs::write(tree.join("firmware/migrations").join(&f), script).unwrap();
        m.push_str(&format!(
            "\n[[phase1]]\nname = \"{name}\"\ncommand = [\"migrations/{f}\"]\nweight = {}\nirreversible = {irr}\n",
            i + 1
        ));
    }
    for (i, (name, script)) in spec.phase2.iter().enumerate() {
        let f = format!("p2_{i}.sh");
        std::fs::write(tree.join("firmware/migrations").join(&f), script).unwrap();
        m.push_str(&format!(
            "\n[[phase2]]\nname = \"{name}\"\ncommand = [\"migrations/{f}\"]\n"
        ));
    }
    // The programs' hashes, so the signature covers them.
    m.push_str("\n[programs]\n");
    for (i, (_, script, _)) in spec.phase1.iter().enumerate() {
        m.push_str(&format!(
            "\"migrations/p1_{i}.sh\" = \"{}\"\n",
            sha_hex(script.as_bytes())
        ));
    }
    for (i, (_, script)) in spec.phase2.iter().enumerate() {
        m.push_str(&format!(
            "\"migrations/p2_{i}.sh\" = \"{}\"\n",
            sha_hex(script.as_bytes())
        ));
    }
    std::fs::write(tree.join("firmware/manifest.toml"), m).unwrap();
    super::signing::sign_manifest(&tree.join("firmware/manifest.toml"), "sps", spec.version);
    let iso = dir.join(format!("fw-{}.iso", spec.version));
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-V", "FW", "-J", "-R"])
        .arg(&tree)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xorriso: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&tree).unwrap();
    iso
}

/// Records that verify and check passed for the image (what the lead's verify and
/// check commands do through the same journal calls).
pub fn record_passed(root: &Path, iso: &Path) {
    let r = ApplianceRoot::new(root);
    let img = FirmwareImage::open(iso).unwrap();
    let sha = sha_hex(&std::fs::read(iso).unwrap());
    upgrade_core::upgrade::journal::record_verified(&r, iso, &sha, &img.manifest).unwrap();
    upgrade_core::upgrade::journal::record_check_passed(&r, iso, Some(&sha), &img.manifest)
        .unwrap();
}

/// An appliance root running `OLD_VERSION` from slot A, with slot paths as given
/// (absolute paths are taken under the root; the files/links must exist).
pub fn make_root(root: &Path, slot_a: &str, slot_b: &str, old_payload: &[u8]) {
    let r = ApplianceRoot::new(root);
    let cfg = format!(
        "[appliance]\nproduct = \"sps\"\nhostname = \"sps-1\"\n\n[slots]\nA = \"{slot_a}\"\nB = \"{slot_b}\"\n{CONFIG_TAIL}"
    );
    std::fs::create_dir_all(r.config_file().parent().unwrap()).unwrap();
    std::fs::write(r.config_file(), cfg).unwrap();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    super::signing::trust_vendor_key(root);
    std::fs::write(r.cmdline(), "quiet upgrade_console.slot=A\n").unwrap();
    GrubEnv::initial(SlotName::A).save(&r.grubenv()).unwrap();
    let mut st = SlotStatus::default();
    st.slots.insert(
        SlotName::A,
        SlotRecord {
            state: SlotState::Good,
            version: Some(OLD_VERSION.parse().unwrap()),
            product: Some("sps".into()),
            sha256: Some(sha_hex(old_payload)),
            size: Some(old_payload.len() as u64),
            changed: None,
        },
    );
    st.save(&r).unwrap();
    let data = root.join("var/lib/appliance");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("db.v1"), DB_V1).unwrap();
}

/// A root whose slots are image files under ROOT/slots.
pub fn make_file_root(root: &Path, old_payload: &[u8], slot_size: usize) {
    std::fs::create_dir_all(root.join("slots")).unwrap();
    std::fs::write(root.join("slots/A.img"), old_payload).unwrap();
    std::fs::write(root.join("slots/B.img"), vec![0u8; slot_size]).unwrap();
    make_root(root, "/slots/A.img", "/slots/B.img", old_payload);
}

pub fn env_of(root: &Path) -> GrubEnv {
    GrubEnv::load(&ApplianceRoot::new(root).grubenv()).unwrap()
}

pub fn state_of(root: &Path) -> upgrade_core::upgrade::journal::UpgradeState {
    upgrade_core::upgrade::journal::current_state(&ApplianceRoot::new(root)).unwrap()
}

pub fn booted(root: &Path) -> SlotName {
    upgrade_core::slots::slot_status::booted_slot(&ApplianceRoot::new(root))
}

pub fn slot_status(root: &Path) -> SlotStatus {
    SlotStatus::load(&ApplianceRoot::new(root)).unwrap()
}

/// A GPT disk image on a loop device with partitions boot, slotA, slotB, data;
/// released on drop.
pub struct LoopDisk {
    pub dev: String,
    pub image: PathBuf,
    _lock: LoopLock,
}

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

impl LoopDisk {
    /// `slot_mib` per slot, `data_mib` for data.
    pub fn new(dir: &Path, slot_mib: u32, data_mib: u32) -> LoopDisk {
        require_tool("sgdisk", "gdisk");
        require_tool("losetup", "mount");
        require_tool("partx", "util-linux");
        let lock = loop_lock();
        let image = dir.join("disk.img");
        let total = 1 + 4 + 2 * slot_mib + data_mib + 1;
        sh(&format!("truncate -s {total}M {}", image.display()));
        sh(&format!(
            "sgdisk -n1:0:+4M -c1:boot -n2:0:+{slot_mib}M -c2:slotA -n3:0:+{slot_mib}M -c3:slotB -n4:0:0 -c4:data {}",
            image.display()
        ));
        let dev = sh(&format!("losetup -f --show {}", image.display()));
        let disk = LoopDisk {
            dev: dev.clone(),
            image,
            _lock: lock,
        };
        sh(&format!("partx -a {dev}"));
        for p in 1..=4 {
            assert!(
                Path::new(&disk.part(p)).exists(),
                "partx did not create {}",
                disk.part(p)
            );
        }
        disk
    }

    pub fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("partx").args(["-d", &self.dev]).output();
        let _ = Command::new("losetup").args(["-d", &self.dev]).output();
    }
}

/// SHA-256 of the first `len` bytes of a device or file.
pub fn hash_prefix(path: &Path, len: usize) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).unwrap();
    sha_hex(&buf)
}
