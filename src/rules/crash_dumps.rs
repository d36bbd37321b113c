//! Always-on `crash-dumps` check: the upgrade removes the core dumps under var/crash,
//! so the operator is warned (count and size) and can save them first.

use crate::finding::{CheckOutcome, Finding};
use crate::root::ApplianceRoot;
use std::path::Path;

pub const CHECK: &str = "crash-dumps";
/// Bounds the walk on a pathological directory.
const MAX_ENTRIES: usize = 100_000;

/// Count and total size of the regular files under `dir` (recursively, symlinks not
/// followed); (0, 0) when the directory does not exist.
pub fn dumps(dir: &Path) -> (usize, u64) {
    let mut count = 0usize;
    let mut bytes = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return (count, bytes);
            }
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                count += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (count, bytes)
}

/// Bytes as an operator reads them: "64 KiB", "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else if v.fract() < 0.05 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn check(root: &ApplianceRoot) -> CheckOutcome {
    let (count, bytes) = dumps(&root.crash_dir());
    let summary = if count == 0 {
        "no core dumps".to_string()
    } else {
        format!("{count} core dump(s), {}", human(bytes))
    };
    let findings = if count == 0 {
        vec![]
    } else {
        vec![
            Finding::warning(
                CHECK,
                format!(
                    "the upgrade removes {count} core dump(s) ({}) under var/crash",
                    human(bytes)
                ),
            )
            .value(format!("{count} file(s), {}", human(bytes)))
            .at("var/crash")
            .fix("If support needs them, save them first: run upgrade-console bundle, or download them from Basic Settings > Troubleshooting > Core files."),
        ]
    };
    CheckOutcome {
        check: CHECK.into(),
        summary,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes() {
        assert_eq!(human(10), "10 bytes");
        assert_eq!(human(64 << 10), "64 KiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
