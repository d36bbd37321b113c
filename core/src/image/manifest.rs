//! The firmware manifest (`firmware/manifest.toml` inside the ISO): what the image is,
//! which versions it upgrades from, what it needs, its payload, its configuration
//! rules, its migration steps and its reminders. Everything is validated on load:
//! the manifest comes from a file an operator downloaded and is treated as hostile.

use crate::image::version::{ReleaseKind, Version};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest manifest accepted; a real one is a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
const MAX_LIST: usize = 10_000;
const MAX_STEPS: usize = 200;
const MAX_TEXT: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub firmware: FirmwareInfo,
    pub upgrade: UpgradePolicy,
    pub payload: Payload,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    #[serde(default)]
    pub phase1: Vec<MigrationStep>,
    #[serde(default)]
    pub phase2: Vec<MigrationStep>,
    #[serde(default)]
    pub reminders: Vec<Reminder>,
    /// The SHA-256 of every migration program, by its path as steps name it
    /// (`migrations/step.sh`): the signature covers the programs through it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub programs: BTreeMap<String, String>,
    /// Keys and revocations this firmware brings for the boots after it (covered by
    /// the signature, installed at commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustSection>,
}

/// `[trust]`: public keys (minisign format) and revoked key ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    #[serde(default)]
    pub keys: Vec<TrustKey>,
    /// Key ids as minisign prints them (16 hex digits).
    #[serde(default)]
    pub revoked: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustKey {
    pub name: String,
    /// The key line of a minisign public key file (base64).
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirmwareInfo {
    pub product: String,
    pub version: Version,
    pub kind: ReleaseKind,
    #[serde(default)]
    pub released: Option<String>,
    /// The version floor this firmware sets when it is committed (no older image is
    /// accepted afterwards); absent = its own version. Never above its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Version>,
}

/// Which versions the image upgrades from (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct UpgradePolicy {
    /// Exact versions this image upgrades from ("7.0", "7.0.1").
    #[serde(default)]
    pub from: Vec<Version>,
    /// Also from the LTS release of the same major line (x.0 and its maintenance releases).
    #[serde(default)]
    pub from_lts_line: bool,
    /// Also from the last N feature releases of the same major line.
    #[serde(default)]
    pub from_feature_releases: u32,
    /// The newest maintenance release of each release line ("5.6" = "5.6.2"): an
    /// appliance on an older one is told to install that first.
    #[serde(default)]
    pub latest_maintenance: BTreeMap<String, Version>,
    /// Minimum free space, percent of each filesystem the upgrade writes to.
    #[serde(default = "default_min_free")]
    pub min_free_percent: u8,
    /// The licence LTS line the new firmware needs.
    #[serde(default)]
    pub licence_lts: Option<u32>,
}

fn default_min_free() -> u8 {
    10
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// Path inside the ISO, e.g. `firmware/rootfs.img`.
    pub file: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the payload.
    pub sha256: String,
    /// Hex BLAKE3 of the payload, optional. When the manifest carries it, verify checks
    /// the payload by it (a third of SHA-256's CPU time, so the image's SHA-256 and the
    /// payload's check both fit in one pass on two cores); activate still checks the
    /// SHA-256 while it writes the slot and when it reads it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

/// One configuration rule the new firmware requires: `kind` picks the check,
/// the other keys parameterise it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleSpec {
    pub kind: String,
    #[serde(flatten)]
    pub params: toml::Table,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MigrationStep {
    pub name: String,
    /// Program path relative to the image's `firmware/` directory, then its arguments.
    pub command: Vec<String>,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// After this step has started the old firmware can no longer read the data.
    #[serde(default)]
    pub irreversible: bool,
}

fn default_weight() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    pub title: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "firmware/manifest.toml in the image is not valid: {0}; the image is damaged or not firmware for this console: download it again"
    )]
    Syntax(String),
    #[error(
        "firmware/manifest.toml in the image: {key} = \"{value}\" {problem}; the image is damaged or not firmware for this console: download it again"
    )]
    Invalid {
        key: String,
        value: String,
        problem: String,
    },
}

fn invalid(key: &str, value: impl ToString, problem: &str) -> ManifestError {
    ManifestError::Invalid {
        key: key.to_string(),
        value: truncate(&value.to_string()),
        problem: problem.to_string(),
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 80 {
        let mut end = 77;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

/// Checks a path inside the image or the staged directory: relative, no `..`, no odd bytes.
pub fn is_safe_relative_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 255
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(invalid(
                "(file)",
                format!("{} bytes", text.len()),
                "is larger than 1 MiB",
            ));
        }
        let m: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(one_line(&e.to_string())))?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let fw = &self.firmware;
        if fw.product.is_empty()
            || fw.product.len() > 64
            || !fw
                .product
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "firmware.product",
                &fw.product,
                "is not a product name",
            ));
        }
        if fw.version.kind() != fw.kind {
            return Err(invalid(
                "firmware.kind",
                fw.kind,
                &format!(
                    "does not match version {} (a {} release)",
                    fw.version,
                    fw.version.kind()
                ),
            ));
        }
        if let Some(floor) = fw.floor
            && floor > fw.version
        {
            return Err(invalid(
                "firmware.floor",
                floor,
                &format!("is above the image's own version {}", fw.version),
            ));
        }
        if let Some(t) = &self.trust {
            if t.keys.len() > 64 || t.revoked.len() > MAX_LIST {
                return Err(invalid("trust", t.keys.len(), "lists too many keys"));
            }
            for k in &t.keys {
                if k.name.is_empty() || k.name.len() > 200 || k.name.chars().any(char::is_control) {
                    return Err(invalid("trust.keys.name", &k.name, "is not a key name"));
                }
                if minisign_verify::PublicKey::from_base64(k.key.trim()).is_err() {
                    return Err(invalid(
                        "trust.keys.key",
                        &k.key,
                        "is not a minisign public key",
                    ));
                }
            }
            for r in &t.revoked {
                if r.parse::<crate::image::trust::KeyId>().is_err() {
                    return Err(invalid(
                        "trust.revoked",
                        r,
                        "is not a key id (16 hexadecimal digits)",
                    ));
                }
            }
        }
        if self.programs.len() > MAX_LIST {
            return Err(invalid(
                "programs",
                self.programs.len(),
                "lists too many programs",
            ));
        }
        for (path, sha) in &self.programs {
            if !is_safe_relative_path(path) {
                return Err(invalid(
                    "programs",
                    path,
                    "is not a relative path inside the image",
                ));
            }
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    &format!("programs.\"{path}\""),
                    sha,
                    "is not 64 hexadecimal digits",
                ));
            }
        }
        let up = &self.upgrade;
        if up.from.len() > MAX_LIST || up.latest_maintenance.len() > MAX_LIST {
            return Err(invalid(
                "upgrade.from",
                up.from.len(),
                "lists too many versions",
            ));
        }
        if up.from.is_empty() && !up.from_lts_line && up.from_feature_releases == 0 {
            return Err(invalid(
                "upgrade.from",
                "[]",
                "allows no version to upgrade from",
            ));
        }
        if up.from_feature_releases > 100 {
            return Err(invalid(
                "upgrade.from_feature_releases",
                up.from_feature_releases,
                "is not between 0 and 100",
            ));
        }
        for (line, v) in &up.latest_maintenance {
            let l: Version = line.parse().map_err(|_| {
                invalid("upgrade.latest_maintenance", line, "is not a release line")
            })?;
            if v.release() != l.release() {
                return Err(invalid(
                    &format!("upgrade.latest_maintenance.\"{line}\""),
                    v,
                    "is not a release of that line",
                ));
            }
        }
        if up.min_free_percent == 0 || up.min_free_percent > 90 {
            return Err(invalid(
                "upgrade.min_free_percent",
                up.min_free_percent,
                "is not between 1 and 90",
            ));
        }
        let p = &self.payload;
        if !is_safe_relative_path(&p.file) {
            return Err(invalid(
                "payload.file",
                &p.file,
                "is not a relative path inside the image",
            ));
        }
        if p.size == 0 || p.size > (1 << 44) {
            return Err(invalid(
                "payload.size",
                p.size,
                "is not a plausible payload size",
            ));
        }
        if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "payload.sha256",
                &p.sha256,
                "is not 64 hexadecimal digits",
            ));
        }
        if let Some(b) = &p.blake3
            && (b.len() != 64 || !b.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid("payload.blake3", b, "is not 64 hexadecimal digits"));
        }
        if self.rules.len() > MAX_LIST {
            return Err(invalid("rules", self.rules.len(), "lists too many rules"));
        }
        for r in &self.rules {
            if r.kind.is_empty() || r.kind.len() > 64 {
                return Err(invalid("rules.kind", &r.kind, "is not a rule kind"));
            }
        }
        for (section, steps) in [("phase1", &self.phase1), ("phase2", &self.phase2)] {
            if steps.len() > MAX_STEPS {
                return Err(invalid(section, steps.len(), "has too many steps"));
            }
            for s in steps.iter() {
                if s.name.is_empty() || s.name.len() > 200 {
                    return Err(invalid(
                        &format!("{section}.name"),
                        &s.name,
                        "is empty or too long",
                    ));
                }
                match s.command.first() {
                    Some(prog) if is_safe_relative_path(prog) => {}
                    _ => {
                        return Err(invalid(
                            &format!("{section}.command"),
                            s.command.join(" "),
                            "must start with a relative path inside the image",
                        ));
                    }
                }
                if s.command.len() > 64
                    || s.command
                        .iter()
                        .any(|a| a.len() > MAX_TEXT || a.contains('\0'))
                {
                    return Err(invalid(
                        &format!("{section}.command"),
                        s.command.join(" "),
                        "has too many or too long arguments",
                    ));
                }
                if s.weight == 0 || s.weight > 1_000_000 {
                    return Err(invalid(
                        &format!("{section}.weight"),
                        s.weight,
                        "is not between 1 and 1000000",
                    ));
                }
            }
        }
        if self.reminders.len() > MAX_STEPS {
            return Err(invalid(
                "reminders",
                self.reminders.len(),
                "has too many entries",
            ));
        }
        for r in &self.reminders {
            if r.title.len() > 200 || r.text.len() > MAX_TEXT {
                return Err(invalid("reminders.text", &r.title, "is too long"));
            }
        }
        Ok(())
    }

    /// Payload SHA-256 as bytes (validated on load).
    pub fn payload_sha256(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // Validated as 64 hex digits in `validate`.
        hex::decode_to_slice(&self.payload.sha256, &mut out).unwrap_or_default();
        out
    }

    /// Payload BLAKE3 as bytes, when the manifest carries one (validated on load).
    pub fn payload_blake3(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        let text = self.payload.blake3.as_deref()?;
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(out)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = r#"
[firmware]
product = "sps"
version = "7.3.1"
kind = "maintenance"

[upgrade]
from = ["7.0", "7.0.1"]
licence_lts = 7

[payload]
file = "firmware/rootfs.img"
size = 4096
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[[rules]]
kind = "numeric-range"
key = "disk_fillup_prevention_percent"
min = 50
max = 98

[[phase1]]
name = "Migrate configuration"
command = ["migrations/config.sh", "--fast"]
weight = 2
"#;

    #[test]
    fn good_manifest_loads() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.firmware.version.to_string(), "7.3.1");
        assert_eq!(m.upgrade.min_free_percent, 10);
        assert_eq!(m.rules[0].params["max"].as_integer(), Some(98));
        assert_eq!(m.phase1[0].weight, 2);
    }

    #[test]
    fn floor_trust_and_programs_are_validated() {
        let with = |extra_fw: &str, tail: &str| {
            Manifest::parse(&format!(
                "{}{tail}",
                GOOD.replace(
                    "kind = \"maintenance\"",
                    &format!("kind = \"maintenance\"\n{extra_fw}")
                )
            ))
        };
        let m = with("floor = \"7.3\"", "").unwrap();
        assert_eq!(m.firmware.floor.unwrap().to_string(), "7.3");
        let e = with("floor = \"7.4.1\"", "").unwrap_err().to_string();
        assert!(e.contains("firmware.floor") && e.contains("above"), "{e}");
        let e = with("", "\n[programs]\n\"migrations/x.sh\" = \"zz\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("programs.\"migrations/x.sh\""), "{e}");
        let e = with("", "\n[programs]\n\"../x.sh\" = \"zz\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("programs"), "{e}");
        let e = with("", "\n[trust]\nrevoked = [\"ABC\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trust.revoked"), "{e}");
        let e = with("", "\n[trust]\nkeys = [{ name = \"k\", key = \"nope\" }]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trust.keys.key"), "{e}");
    }

    #[test]
    fn hostile_manifests_are_refused_with_the_key() {
        let cases = [
            (
                "file = \"firmware/rootfs.img\"",
                "file = \"../../etc/shadow\"",
                "payload.file",
            ),
            (
                "file = \"firmware/rootfs.img\"",
                "file = \"/etc/shadow\"",
                "payload.file",
            ),
            ("size = 4096", "size = 0", "payload.size"),
            ("kind = \"maintenance\"", "kind = \"lts\"", "firmware.kind"),
            (
                "\"migrations/config.sh\"",
                "\"../bin/sh\"",
                "phase1.command",
            ),
            ("weight = 2", "weight = 0", "phase1.weight"),
            ("sha256 = \"e3b0", "sha256 = \"zz", "payload.sha256"),
            (
                "sha256 = \"e3b0",
                "blake3 = \"af13\"\nsha256 = \"e3b0",
                "payload.blake3",
            ),
        ];
        for (from, to, key) in cases {
            let text = GOOD.replace(from, to);
            let e = Manifest::parse(&text).unwrap_err().to_string();
            assert!(e.contains(key), "{to}: {e}");
        }
        let e = Manifest::parse("[firmware]\nproduct = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid"), "{e}");
        let e = Manifest::parse(&GOOD.replace("[upgrade]", "[upgrade]\nsurprise = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("surprise"), "{e}");
    }
}
