//! Recovery SSH: OpenSSH's sshd with a configuration generated from
//! recovery/sshd_config.in — key-only root login with the support keys, listening on
//! every configured address. Host keys are made with ssh-keygen on first use and kept
//! (with the config and the pid file) in var/lib/upgrade-console/recovery/, a 0700
//! directory because sshd's StrictModes insists.

use crate::appliance::durable::write_atomic;
use crate::appliance::root::ApplianceRoot;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";
pub const SSH_KEYGEN: &str = "ssh-keygen";
/// The recovery SSH port.
pub const PORT: u16 = 22;
const TEMPLATE: &str = include_str!("../../../recovery/sshd_config.in");
/// Host key types made on first use (both are quick to generate).
const KEY_TYPES: [&str; 2] = ["ed25519", "ecdsa"];

#[derive(Debug, thiserror::Error)]
pub enum SshdError {
    #[error("cannot prepare the recovery SSH directory \"{path}\": {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source} (install the openssh-server package)")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("ssh-keygen could not make the host key \"{path}\": {output}")]
    Keygen { path: String, output: String },
    #[error("sshd rejected the generated configuration \"{path}\": {output}")]
    Invalid { path: String, output: String },
    #[error("no address to listen on: no configured interface address came up")]
    NoAddress,
    #[error("sshd exited at once ({status}); see \"{log}\"")]
    Exited { status: String, log: String },
}

/// Everything sshd needs, all under the recovery directory.
#[derive(Debug, Clone)]
pub struct SshdPlan {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub pidfile: PathBuf,
    pub host_keys: Vec<PathBuf>,
    pub authorized_keys: PathBuf,
    pub listen: Vec<IpAddr>,
    pub port: u16,
    /// sshd's own messages go here (the console log directory, so bundles carry it).
    pub log: PathBuf,
}

/// var/lib/upgrade-console/recovery/
pub fn recovery_dir(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("recovery")
}

impl SshdPlan {
    pub fn new(root: &ApplianceRoot, listen: Vec<IpAddr>) -> SshdPlan {
        let dir = recovery_dir(root);
        SshdPlan {
            config: dir.join("sshd_config"),
            pidfile: dir.join("sshd.pid"),
            host_keys: KEY_TYPES
                .iter()
                .map(|t| dir.join(format!("ssh_host_{t}_key")))
                .collect(),
            authorized_keys: root.support_keys(),
            listen,
            port: PORT,
            log: root.log_dir().join("sshd.log"),
            dir,
        }
    }

    /// The sshd configuration text for this plan.
    pub fn render(&self) -> String {
        let listen: Vec<String> = self
            .listen
            .iter()
            .map(|a| format!("ListenAddress {a}"))
            .collect();
        let keys: Vec<String> = self
            .host_keys
            .iter()
            .map(|k| format!("HostKey {}", k.display()))
            .collect();
        TEMPLATE
            .replace("@PORT@", &self.port.to_string())
            .replace("@LISTEN@", &listen.join("\n"))
            .replace("@HOSTKEYS@", &keys.join("\n"))
            .replace("@PIDFILE@", &self.pidfile.display().to_string())
            .replace(
                "@AUTHORIZED_KEYS@",
                &self.authorized_keys.display().to_string(),
            )
    }

    /// Makes the directory (0700) and any missing host key, writes the configuration
    /// and has sshd check it (`sshd -t`).
    pub fn prepare(&self) -> Result<(), SshdError> {
        if self.listen.is_empty() {
            return Err(SshdError::NoAddress);
        }
        let dir_err = |source| SshdError::Dir {
            path: self.dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(dir_err)?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(dir_err)?;
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").map_err(|source| SshdError::Dir {
            path: "/run/sshd".into(),
            source,
        })?;
        for (key, kind) in self.host_keys.iter().zip(KEY_TYPES) {
            if key.is_file() && key.with_extension("pub").is_file() {
                continue;
            }
            let _ = std::fs::remove_file(key);
            let _ = std::fs::remove_file(key.with_extension("pub"));
            let out = Command::new(SSH_KEYGEN)
                .args([
                    "-q",
                    "-t",
                    kind,
                    "-N",
                    "",
                    "-C",
                    "upgrade-console-recovery",
                    "-f",
                ])
                .arg(key)
                .stdin(Stdio::null())
                .output()
                .map_err(|source| SshdError::Spawn {
                    program: SSH_KEYGEN.into(),
                    source,
                })?;
            if !out.status.success() {
                return Err(SshdError::Keygen {
                    path: key.display().to_string(),
                    output: output_text(&out),
                });
            }
            log::info!("recovery SSH host key made: {}", key.display());
        }
        write_atomic(&self.config, self.render().as_bytes()).map_err(dir_err)?;
        let out = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(&self.config)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| SshdError::Spawn {
                program: SSHD.into(),
                source,
            })?;
        if !out.status.success() {
            return Err(SshdError::Invalid {
                path: self.config.display().to_string(),
                output: output_text(&out),
            });
        }
        Ok(())
    }

    /// SHA256 fingerprints of the host keys ("SHA256:...  ED25519").
    pub fn fingerprints(&self) -> Vec<String> {
        self.host_keys
            .iter()
            .filter_map(|k| fingerprint(&k.with_extension("pub")))
            .collect()
    }

    /// Stops an sshd this plan started earlier (a previous `recover`), so the port is free.
    pub fn stop_previous(&self) {
        let Some(pid) = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*self.config.to_string_lossy());
        if !ours {
            return;
        }
        let p = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        log::info!("stopped the previous recovery sshd (pid {pid})");
    }

    /// Starts `sshd -D -e` and waits until it has bound its addresses (its pid file
    /// appears) or exited.
    pub fn start(&self) -> Result<Child, SshdError> {
        let _ = std::fs::remove_file(&self.pidfile);
        let log = crate::appliance::safe_open::open_append(&self.log).map_err(|source| {
            SshdError::Dir {
                path: self.log.display().to_string(),
                source,
            }
        })?;
        let log2 = log.try_clone().map_err(|source| SshdError::Dir {
            path: self.log.display().to_string(),
            source,
        })?;
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&self.config)
            .stdin(Stdio::null())
            // sshd prints some fatal errors on stdout.
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| SshdError::Spawn {
                program: SSHD.into(),
                source,
            })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(SshdError::Exited {
                    status: status.to_string(),
                    log: self.log.display().to_string(),
                });
            }
            if self.pidfile.is_file() || Instant::now() >= deadline {
                return Ok(child);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn output_text(o: &std::process::Output) -> String {
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    s.trim().to_string()
}

/// "SHA256:... ED25519" of an OpenSSH public key file.
pub fn fingerprint(pub_file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(pub_file).ok()?;
    let key = ssh_key::PublicKey::from_openssh(text.trim()).ok()?;
    let fp = key.fingerprint(ssh_key::HashAlg::Sha256);
    let alg = key.algorithm();
    let a = alg.as_str();
    let label = if a.contains("ed25519") {
        "ED25519"
    } else if a.starts_with("ecdsa") {
        "ECDSA"
    } else if a.contains("rsa") {
        "RSA"
    } else {
        a
    };
    Some(format!("{fp} ({label})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_key_only_and_lists_every_address() {
        let root = ApplianceRoot::new("/srv/appl");
        let plan = SshdPlan::new(
            &root,
            vec![
                "192.0.2.10".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            ],
        );
        let c = plan.render();
        assert!(c.contains("ListenAddress 192.0.2.10\nListenAddress 2001:db8::1\n"));
        assert!(c.contains("PasswordAuthentication no"));
        assert!(c.contains("KbdInteractiveAuthentication no"));
        assert!(c.contains("PermitRootLogin prohibit-password"));
        assert!(c.contains("AuthorizedKeysFile /srv/appl/etc/appliance/support_keys"));
        assert!(
            c.contains("HostKey /srv/appl/var/lib/upgrade-console/recovery/ssh_host_ed25519_key")
        );
        assert!(!c.contains('@'), "{c}");
    }
}
