//! The version floor: no replay of old signed releases. Every commit raises it to the
//! committed firmware's own floor (its manifest's `firmware.floor`, else its
//! version), never lowers it; `check` and `activate` refuse an image below it.
//!
//! The floor is written twice: in the journal's `committed` record (one atomic,
//! fsynced append, so a power cut at commit keeps it) and then in `floor.json` (so
//! it outlives the journal's compaction). The floor in force is the higher of the
//! two; a damaged `floor.json` refuses every image rather than guess.

use crate::appliance::root::ApplianceRoot;
use crate::image::manifest::Manifest;
use crate::image::version::Version;
use crate::state::{Loaded, read_json, write_json};
use crate::upgrade::journal::{Journal, JournalError};
use serde::{Deserialize, Serialize};

/// `floor.json`: the highest floor a commit raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloorRecord {
    pub floor: Version,
    /// The firmware whose commit raised it.
    pub raised_by: Version,
    pub time: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error(
        "the version floor {} ; no image can be checked against it: create a support bundle and contact support",
        problem
    )]
    Damaged { problem: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(
        "cannot write the version floor \"{path}\": {source}; check free space on the state partition"
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The floor a committed firmware sets.
pub fn floor_of(manifest: &Manifest) -> Version {
    manifest.firmware.floor.unwrap_or(manifest.firmware.version)
}

/// The floor in force: the higher of `floor.json` and the journal's commits; `None`
/// when no commit ever raised one.
pub fn current(root: &ApplianceRoot) -> Result<Option<Version>, FloorError> {
    let path = crate::state::floor(root);
    let file = match read_json::<FloorRecord>(&path) {
        Loaded::Present(r) => Some(r.floor),
        Loaded::Missing => None,
        damaged @ Loaded::Damaged(_) => {
            return Err(FloorError::Damaged {
                problem: damaged.problem(&path).unwrap_or_default(),
            });
        }
    };
    let journal = Journal::open(root)?.floor();
    Ok(file.max(journal))
}

/// Raises `floor.json` to `to` if it is lower (never lowers it).
pub fn raise(root: &ApplianceRoot, to: Version, raised_by: Version) -> Result<(), FloorError> {
    let path = crate::state::floor(root);
    if let Loaded::Present(r) = read_json::<FloorRecord>(&path)
        && r.floor >= to
    {
        return Ok(());
    }
    write_json(
        &path,
        &FloorRecord {
            floor: to,
            raised_by,
            time: crate::appliance::console_log::now_rfc3339(),
        },
    )
    .map_err(|source| FloorError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Why an image is refused by the floor, or `None` when it may be installed.
pub fn refusal(floor: Option<Version>, manifest: &Manifest) -> Option<String> {
    let floor = floor?;
    let v = manifest.firmware.version;
    (v < floor).then(|| {
        format!(
            "firmware {v} is below this appliance's version floor {floor}: an older release is never installed again once a newer one was committed (it may carry fixed security holes); download firmware {floor} or later"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_only_rises_and_a_damaged_file_refuses() {
        let d = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(d.path());
        assert_eq!(current(&root).unwrap(), None);
        let v = |s: &str| s.parse::<Version>().unwrap();
        raise(&root, v("7.3.1"), v("7.3.1")).unwrap();
        raise(&root, v("7.0.1"), v("7.0.1")).unwrap();
        assert_eq!(current(&root).unwrap(), Some(v("7.3.1")));
        std::fs::write(crate::state::floor(&root), "{").unwrap();
        let e = current(&root).unwrap_err().to_string();
        assert!(e.contains("floor.json\" is damaged"), "{e}");
    }
}
