//! Upgrade paths: may this appliance go from its running version to the image's?
//! The rules come from the manifest (exact list, the LTS line, the last N feature
//! releases, the newest maintenance release of each line); downgrades and
//! re-installs of the same version are always refused.

use crate::check::finding::Finding;
use crate::image::manifest::UpgradePolicy;
use crate::image::version::Version;

pub const RULE: &str = "upgrade-path";

/// Returns `Ok(())` when the path is supported, else the blocker saying why and
/// naming the version to upgrade to first.
pub fn check_path(
    current: Version,
    target: Version,
    policy: &UpgradePolicy,
) -> Result<(), Box<Finding>> {
    let refuse = |msg: String, fix: String| {
        Err(Box::new(
            Finding::blocker(RULE, msg)
                .value(format!("{current} -> {target}"))
                .at("running firmware")
                .fix(fix),
        ))
    };
    if current == target {
        return refuse(
            format!("{target} is already running"),
            "Nothing to do; choose a newer firmware image.".into(),
        );
    }
    if current > target {
        return refuse(
            format!("{target} is older than the running {current}: downgrades are not supported"),
            "Choose an image newer than the running firmware.".into(),
        );
    }
    let same_major = current.major == target.major;
    let from_list = policy.from.contains(&current);
    let from_lts = policy.from_lts_line && same_major && current.minor == 0;
    let n = policy.from_feature_releases;
    let oldest_feature = target.minor.saturating_sub(n).max(1);
    let from_feature =
        n > 0 && same_major && current.minor >= oldest_feature && current.minor < target.minor;

    if from_list || from_lts || from_feature {
        // Supported release line; is it at the newest maintenance release of that line?
        if let Some(latest) = policy
            .latest_maintenance
            .get(&current.release().to_string())
            && current < *latest
            && !from_list
        {
            return refuse(
                format!(
                    "{current} is not the newest maintenance release of {}",
                    current.release_name()
                ),
                format!("Upgrade to {latest} first, then to {target}."),
            );
        }
        return Ok(());
    }

    let first = if current.major < target.major {
        format!(
            "Upgrade to {} LTS ({}.0) first, then to {target}.",
            target.major, target.major
        )
    } else if n > 0 && current.minor < oldest_feature {
        let step = Version::new(target.major, oldest_feature, 0);
        let latest = policy
            .latest_maintenance
            .get(&step.to_string())
            .copied()
            .unwrap_or(step);
        format!(
            "Upgrade to {latest} ({}) first, then to {target}.",
            step.release_name()
        )
    } else {
        let list: Vec<String> = policy.from.iter().map(|v| v.to_string()).collect();
        format!(
            "{target} upgrades only from {}; contact support for a path from {current}.",
            list.join(", ")
        )
    };
    refuse(
        format!("{target} cannot be installed on {current}: no supported upgrade path"),
        first,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    /// 5 F9: from the 5 LTS line and the last three feature releases (5 F6 and later).
    fn policy_5f9() -> UpgradePolicy {
        UpgradePolicy {
            from_lts_line: true,
            from_feature_releases: 3,
            latest_maintenance: [("5.0".to_string(), v("5.0.6"))].into(),
            ..Default::default()
        }
    }

    /// 7.3.1: from 7 LTS and 7.0.1 only.
    fn policy_731() -> UpgradePolicy {
        UpgradePolicy {
            from: vec![v("7.0"), v("7.0.1")],
            ..Default::default()
        }
    }

    #[test]
    fn the_guides_tables() {
        let ok = |c: &str, t: &str, p: &UpgradePolicy| check_path(v(c), v(t), p).is_ok();
        let fix = |c: &str, t: &str, p: &UpgradePolicy| check_path(v(c), v(t), p).unwrap_err().fix;
        let p5 = policy_5f9();
        assert!(ok("5.0.6", "5.9", &p5));
        assert!(ok("5.6", "5.9", &p5));
        assert!(ok("5.6.2", "5.9", &p5));
        assert!(ok("5.7", "5.9", &p5));
        assert!(ok("5.8", "5.9", &p5));
        assert!(fix("5.5", "5.9", &p5).contains("Upgrade to 5.6 (5 F6) first"));
        assert!(fix("5.0.3", "5.9", &p5).contains("Upgrade to 5.0.6 first"));
        assert!(fix("4.3", "5.9", &p5).contains("5 LTS"));

        let p7 = policy_731();
        assert!(ok("7.0", "7.3.1", &p7));
        assert!(ok("7.0.1", "7.3.1", &p7));
        for old in ["6.0", "6.12", "6.0.3", "5.9"] {
            assert!(
                fix(old, "7.3.1", &p7).contains("Upgrade to 7 LTS (7.0) first"),
                "{old}"
            );
        }
        assert!(fix("7.1", "7.3.1", &p7).contains("only from 7.0, 7.0.1"));
        assert!(
            check_path(v("7.3.1"), v("7.3.1"), &p7)
                .unwrap_err()
                .message
                .contains("already running")
        );
        let down = check_path(v("7.4"), v("7.3.1"), &p7).unwrap_err();
        assert!(down.message.contains("downgrades are not supported"));
        assert_eq!(down.value, "7.4 -> 7.3.1");
    }
}
