//! Firmware versions as the vendor names them: `x.0` is an LTS release ("7 LTS"),
//! `x.y` a feature release ("5 F9"), `x.y.z` a maintenance release of either.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// `x.0`: long-term supported.
    Lts,
    /// `x.y`: a feature release.
    Feature,
    /// `x.y.z`: bug and security fixes of an LTS or feature release.
    Maintenance,
}

impl fmt::Display for ReleaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseKind::Lts => "lts",
            ReleaseKind::Feature => "feature",
            ReleaseKind::Maintenance => "maintenance",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a firmware version: write it as 7.3.1, 7.0, \"7 LTS\" or \"5 F9\"")]
pub struct VersionError(pub String);

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    pub fn kind(&self) -> ReleaseKind {
        match (self.minor, self.patch) {
            (0, 0) => ReleaseKind::Lts,
            (_, 0) => ReleaseKind::Feature,
            _ => ReleaseKind::Maintenance,
        }
    }

    /// The release this version belongs to: 7.0.1 → 7.0, 6.1.1 → 6.1.
    pub fn release(&self) -> Version {
        Version::new(self.major, self.minor, 0)
    }

    /// The vendor's marketing name of the release line: "7 LTS", "5 F9".
    pub fn release_name(&self) -> String {
        if self.minor == 0 {
            format!("{} LTS", self.major)
        } else {
            format!("{} F{}", self.major, self.minor)
        }
    }

    /// "7.3.1", or "7.0 (7 LTS)" — the number operators type and the name the guides use.
    pub fn long_name(&self) -> String {
        format!("{} ({})", self, self.release_name())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(input.to_string());
        let s = input.trim();
        let s = s
            .strip_prefix("SPS ")
            .or_else(|| s.strip_prefix('v'))
            .unwrap_or(s)
            .trim();
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            [major, tag] if tag.eq_ignore_ascii_case("lts") => {
                Ok(Version::new(num(major).ok_or_else(err)?, 0, 0))
            }
            [major, tag] if tag.len() > 1 && tag.as_bytes()[0].eq_ignore_ascii_case(&b'f') => {
                // "5 F9" and "5 F9.1" (a maintenance release of feature 9).
                let (minor, patch) = match tag[1..].split_once('.') {
                    Some((m, p)) => (num(m).ok_or_else(err)?, num(p).ok_or_else(err)?),
                    None => (num(&tag[1..]).ok_or_else(err)?, 0),
                };
                if minor == 0 {
                    return Err(err());
                }
                Ok(Version::new(num(major).ok_or_else(err)?, minor, patch))
            }
            [dotted] => {
                let parts: Vec<&str> = dotted.split('.').collect();
                let n: Vec<u32> = parts
                    .iter()
                    .map(|p| num(p))
                    .collect::<Option<_>>()
                    .ok_or_else(err)?;
                match n.as_slice() {
                    [a, b] => Ok(Version::new(*a, *b, 0)),
                    [a, b, c] => Ok(Version::new(*a, *b, *c)),
                    _ => Err(err()),
                }
            }
            _ => Err(err()),
        }
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_form_the_guides_use() {
        assert_eq!(v("7.3.1"), Version::new(7, 3, 1));
        assert_eq!(v("7.0"), Version::new(7, 0, 0));
        assert_eq!(v("7 LTS"), Version::new(7, 0, 0));
        assert_eq!(v("5 F9"), Version::new(5, 9, 0));
        assert_eq!(v("SPS 5 F9"), Version::new(5, 9, 0));
        assert_eq!(v("5 f6.2"), Version::new(5, 6, 2));
        for bad in [
            "",
            "7",
            "7.x",
            "7.3.1.2",
            "5 F0",
            "-1.0",
            "7..1",
            "5 Fx",
            "99999999.1",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn kinds_and_names() {
        assert_eq!(v("7.0").kind(), ReleaseKind::Lts);
        assert_eq!(v("5.9").kind(), ReleaseKind::Feature);
        assert_eq!(v("7.0.1").kind(), ReleaseKind::Maintenance);
        assert_eq!(v("7.0.1").release_name(), "7 LTS");
        assert_eq!(v("5.9").release_name(), "5 F9");
        assert_eq!(v("7.0").to_string(), "7.0");
        assert!(v("7.0.1") > v("7.0") && v("6.12") > v("6.9"));
    }
}
