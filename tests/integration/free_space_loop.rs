//! Free space measured on a real ext4 filesystem on a loop device, filled to just
//! above and just below the 10 % the upgrade needs. Needs root (loop devices, mount).

use crate::support::*;
use std::path::Path;
use std::process::Command;

fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Loop device + mount, released on drop, serialised with the other loop-device tests.
struct LoopMount {
    dev: String,
    mnt: std::path::PathBuf,
    _lock: LoopLock,
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn loop_ext4(image: &Path, mnt: &Path) -> LoopMount {
    let lock = loop_lock();
    std::fs::File::create(image)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    sh(
        "mkfs.ext4",
        &["-q", "-F", "-m", "5", image.to_str().unwrap()],
    );
    let dev = sh("losetup", &["-f", "--show", image.to_str().unwrap()]);
    std::fs::create_dir_all(mnt).unwrap();
    let guard = LoopMount {
        dev: dev.clone(),
        mnt: mnt.to_path_buf(),
        _lock: lock,
    };
    sh("mount", &[&dev, mnt.to_str().unwrap()]);
    guard
}

/// Grows the fill file until the filesystem has `target` percent free for an
/// unprivileged writer (f_bavail / f_blocks), as close as blocks allow.
fn fill_to(mnt: &Path, target: f64) -> f64 {
    let s = nix::sys::statvfs::statvfs(mnt).unwrap();
    let blocks = s.blocks() as f64;
    let want_avail = (blocks * target / 100.0).round() as u64;
    let avail = s.blocks_available() as u64;
    let fill = mnt.join("fill");
    let current = std::fs::metadata(&fill).map(|m| m.len()).unwrap_or(0);
    let extra = avail.saturating_sub(want_avail) * s.fragment_size() as u64;
    sh(
        "fallocate",
        &["-l", &(current + extra).to_string(), fill.to_str().unwrap()],
    );
    sh("sync", &[]);
    let s = nix::sys::statvfs::statvfs(mnt).unwrap();
    s.blocks_available() as f64 * 100.0 / s.blocks() as f64
}

fn free_space_check(root: &Path) -> (i32, serde_json::Value) {
    let o = run(
        root,
        &[
            "--json",
            "check",
            root.join("images/sps-7.3.1.iso").to_str().unwrap(),
        ],
    );
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "free-space")
        .unwrap()
        .clone();
    (code(&o), c)
}

#[test]
fn ten_percent_boundary_on_a_real_ext4() {
    require_root();
    require_tool("mkfs.ext4", "e2fsprogs");
    require_tool("losetup", "mount");
    let (d, root) = demo();
    let cfg = root.join("etc/appliance/appliance.toml");
    let text_ = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text_}\n[storage]\npaths = [\"data\"]\n")).unwrap();
    let _m = loop_ext4(&d.path().join("data.img"), &root.join("data"));

    let above = fill_to(&root.join("data"), 10.6);
    assert!((10.0..11.5).contains(&above), "filled to {above}");
    let (rc, c) = free_space_check(&root);
    assert_eq!(
        c["findings"].as_array().unwrap().len(),
        0,
        "{above} % free: {c}"
    );
    assert_eq!(rc, 0, "{c}");

    let below = fill_to(&root.join("data"), 9.4);
    assert!((8.5..10.0).contains(&below), "filled to {below}");
    let (rc, c) = free_space_check(&root);
    assert_eq!(rc, 1);
    let f = &c["findings"][0];
    assert_eq!(f["rule"], "free-space");
    assert_eq!(f["severity"], "blocker");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("needs at least 10 %"),
        "{f}"
    );
    assert!(f["fix"].as_str().unwrap().contains("archive"), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("virtual disk"), "{f}");
}
