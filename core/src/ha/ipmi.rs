//! The other node's BMC, through ipmitool over IPMI v2.0 (lanplus, cipher suite 3).
//!
//! Why ipmitool and not a Rust IPMI crate: it is the client every BMC vendor tests
//! against and every appliance image already carries; the Rust crates seen (ipmi-rs,
//! rust-ipmi) speak only part of RMCP+ and have no cipher-suite negotiation. The
//! password goes to ipmitool through its environment (`-E`, IPMI_PASSWORD), never on
//! a command line another user could read in /proc.

use crate::appliance::config::Bmc;
use crate::appliance::root::ApplianceRoot;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const IPMITOOL: &str = "ipmitool";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    On,
    Off,
}

impl std::fmt::Display for Power {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Power::On => "on",
            Power::Off => "off",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IpmiError {
    #[error(
        "the BMC password file \"{path}\" (ha.bmc.password_file) {why}; write the password of BMC user \"{user}\" into it (one line, mode 0600)"
    )]
    Password {
        path: String,
        user: String,
        why: String,
    },
    #[error("cannot run {IPMITOOL}: {0} (install the ipmitool package)")]
    NoClient(String),
    #[error(
        "the BMC at {host}:{port} refused the password of user \"{user}\"; correct the password in ha.bmc.password_file (it is the BMC's, not the appliance's)"
    )]
    BadPassword {
        host: String,
        port: u16,
        user: String,
    },
    #[error(
        "the BMC at {host}:{port} does not know user \"{user}\"; set ha.bmc.user to a BMC user with administrator rights"
    )]
    UnknownUser {
        host: String,
        port: u16,
        user: String,
    },
    #[error(
        "the BMC at {host}:{port} does not answer (IPMI over LAN, UDP); check that the other node's IPMI interface is cabled, configured and reachable from this node (ha.bmc.host)"
    )]
    Unreachable { host: String, port: u16 },
    #[error("the BMC at {host}:{port} did not answer \"{what}\" within {secs} s")]
    Timeout {
        host: String,
        port: u16,
        what: String,
        secs: u64,
    },
    #[error("the BMC at {host}:{port} refused \"{what}\": {message}")]
    Failed {
        host: String,
        port: u16,
        what: String,
        message: String,
    },
}

/// One BMC, with the password read from its file.
pub struct Ipmi {
    host: String,
    port: u16,
    user: String,
    password: String,
    /// Per attempt (ipmitool -N); a whole call also has a hard deadline.
    pub attempt_timeout: Duration,
    pub retries: u32,
}

impl std::fmt::Debug for Ipmi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log or an error.
        f.debug_struct("Ipmi")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// How long one call took and what it answered (for the figures and the log).
#[derive(Debug, Clone)]
pub struct Timed<T> {
    pub value: T,
    pub elapsed: Duration,
}

impl Ipmi {
    pub fn from_config(root: &ApplianceRoot, bmc: &Bmc) -> Result<Ipmi, IpmiError> {
        let path = root.resolve(&bmc.password_file);
        let pw_err = |why: String| IpmiError::Password {
            path: bmc.password_file.clone(),
            user: bmc.user.clone(),
            why,
        };
        let mut text = String::new();
        std::fs::File::open(&path)
            .map_err(|e| pw_err(format!("cannot be read: {e}")))?
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| pw_err(format!("cannot be read: {e}")))?;
        let password = text.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(pw_err("is empty".into()));
        }
        if password.contains('\n') {
            return Err(pw_err("holds more than one line".into()));
        }
        Ok(Ipmi {
            host: bmc.host.clone(),
            port: bmc.port,
            user: bmc.user.clone(),
            password,
            attempt_timeout: Duration::from_secs(2),
            retries: 2,
        })
    }

    pub fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn power_status(&self) -> Result<Timed<Power>, IpmiError> {
        let t = self.chassis("status")?;
        let text = t.value.to_ascii_lowercase();
        let value = if text.contains("power is on") {
            Power::On
        } else if text.contains("power is off") {
            Power::Off
        } else {
            return Err(self.failed("power status", format!("unexpected answer {:?}", t.value)));
        };
        Ok(Timed {
            value,
            elapsed: t.elapsed,
        })
    }

    pub fn power_on(&self) -> Result<Timed<()>, IpmiError> {
        self.chassis("on").map(|t| Timed {
            value: (),
            elapsed: t.elapsed,
        })
    }

    /// Cuts the power at once (what "power off" on a BMC means).
    pub fn power_off(&self) -> Result<Timed<()>, IpmiError> {
        self.chassis("off").map(|t| Timed {
            value: (),
            elapsed: t.elapsed,
        })
    }

    /// Asks the operating system to shut down (ACPI power button).
    pub fn soft_shutdown(&self) -> Result<Timed<()>, IpmiError> {
        self.chassis("soft").map(|t| Timed {
            value: (),
            elapsed: t.elapsed,
        })
    }

    fn failed(&self, what: &str, message: String) -> IpmiError {
        IpmiError::Failed {
            host: self.host.clone(),
            port: self.port,
            what: what.into(),
            message,
        }
    }

    fn chassis(&self, action: &str) -> Result<Timed<String>, IpmiError> {
        let what = format!("chassis power {action}");
        let start = Instant::now();
        let mut child = Command::new(IPMITOOL)
            .args(["-v", "-I", "lanplus", "-C", "3", "-H", &self.host])
            .args(["-p", &self.port.to_string(), "-U", &self.user, "-E"])
            .args(["-N", &self.attempt_timeout.as_secs().max(1).to_string()])
            .args(["-R", &self.retries.max(1).to_string()])
            .args(["chassis", "power", action])
            .env("IPMI_PASSWORD", &self.password)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| IpmiError::NoClient(e.to_string()))?;
        // ipmitool's own timeouts bound it; this deadline catches a client that hangs.
        let deadline = self.attempt_timeout * (self.retries + 1) * 2 + Duration::from_secs(5);
        let mut out = child.stdout.take().map(reader_thread);
        let mut err = child.stderr.take().map(reader_thread);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(IpmiError::Timeout {
                        host: self.host.clone(),
                        port: self.port,
                        what,
                        secs: deadline.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(self.failed(&what, e.to_string())),
            }
        };
        let stdout = out
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = err
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let elapsed = start.elapsed();
        log::info!(
            "ipmi {}: {what}: {} in {} ms",
            self.target(),
            if status.success() { "ok" } else { "failed" },
            elapsed.as_millis()
        );
        if status.success() {
            return Ok(Timed {
                value: stdout.trim().to_string(),
                elapsed,
            });
        }
        Err(classify(&self.host, self.port, &self.user, &what, &stderr))
    }
}

fn reader_thread(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.by_ref().take(1 << 20).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// ipmitool says "Unable to establish IPMI v2 / RMCP+ session" for every session
/// failure; its verbose lines before that tell which.
fn classify(host: &str, port: u16, user: &str, what: &str, stderr: &str) -> IpmiError {
    let (host, user) = (host.to_string(), user.to_string());
    if stderr.contains("HMAC is invalid") || stderr.contains("unauthorized role") {
        IpmiError::BadPassword { host, port, user }
    } else if stderr.contains("unauthorized name") {
        IpmiError::UnknownUser { host, port, user }
    } else if stderr.contains("Get Auth Capabilities error")
        || stderr.contains("Error issuing Get Channel Authentication")
        || stderr.contains("No response")
        || stderr.contains("Insufficient resources for session")
    {
        IpmiError::Unreachable { host, port }
    } else {
        let message = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.contains("IANA PEN"))
            .unwrap_or("no message")
            .trim()
            .to_string();
        IpmiError::Failed {
            host,
            port,
            what: what.into(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_failures_are_told_apart() {
        let bad = "Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        assert!(matches!(
            classify("h", 623, "admin", "x", bad),
            IpmiError::BadPassword { .. }
        ));
        let user = "RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        assert!(matches!(
            classify("h", 623, "admin", "x", user),
            IpmiError::UnknownUser { .. }
        ));
        let gone = "Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        assert!(matches!(
            classify("h", 623, "admin", "x", gone),
            IpmiError::Unreachable { .. }
        ));
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/appliance")).unwrap();
        std::fs::write(dir.path().join("etc/appliance/bmc.pass"), "s3cret-pw\n").unwrap();
        let root = ApplianceRoot::new(dir.path());
        let bmc = Bmc {
            host: "10.0.1.2".into(),
            port: 623,
            user: "admin".into(),
            password_file: "etc/appliance/bmc.pass".into(),
        };
        let i = Ipmi::from_config(&root, &bmc).unwrap();
        assert!(!format!("{i:?}").contains("s3cret"));
        std::fs::write(dir.path().join("etc/appliance/bmc.pass"), "\n").unwrap();
        let e = Ipmi::from_config(&root, &bmc).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
    }
}
