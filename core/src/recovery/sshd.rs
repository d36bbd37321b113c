//! Recovery SSH: OpenSSH's sshd with a configuration generated from
//! recovery/sshd_config.in — key-only login as the support user (root) with the
//! support keys and nothing else (no forwarding, modern algorithms), listening on
//! every configured address. Host keys are made with ssh-keygen on first use and kept
//! (with the config and the pid file) in var/lib/upgrade-console/recovery/, a 0700
//! directory because sshd's StrictModes insists.

use crate::appliance::config::Config;
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
/// The only account the support keys open (AllowUsers).
pub const SUPPORT_USER: &str = "root";
const TEMPLATE: &str = include_str!("../../../recovery/sshd_config.in");
const HA_LINK_TEMPLATE: &str = include_str!("../../../recovery/ha_link_sshd_config.in");
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
    #[error(
        "the appliance is sealed (sealed = true in \"{config}\"): no SSH; set sealed = false and run `upgrade-console recover` again to let support in"
    )]
    Sealed { config: String },
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
    /// Re-read before each start: a box sealed since recovery began gets no sshd.
    pub(crate) root: ApplianceRoot,
    /// The configuration template and the one account it lets in.
    pub(crate) template: &'static str,
    pub(crate) user: String,
    /// What every session runs, whatever the client asked (the HA link), or none.
    pub(crate) force_command: Option<String>,
    pub(crate) purpose: &'static str,
}

/// The host keys kept in an sshd's own directory, one per type.
fn host_keys(dir: &Path) -> Vec<PathBuf> {
    KEY_TYPES
        .iter()
        .map(|t| dir.join(format!("ssh_host_{t}_key")))
        .collect()
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
            host_keys: host_keys(&dir),
            authorized_keys: root.support_keys(),
            listen,
            port: PORT,
            log: root.log_dir().join("sshd.log"),
            dir,
            root: root.clone(),
            template: TEMPLATE,
            user: SUPPORT_USER.into(),
            force_command: None,
            purpose: "recovery",
        }
    }

    /// The HA link's server: the other node's key only, on this node's HA link
    /// address only, and every session runs `force_command` (the peer requests).
    pub fn ha_link(
        root: &ApplianceRoot,
        listen: IpAddr,
        port: u16,
        user: &str,
        force_command: String,
    ) -> SshdPlan {
        let dir = crate::ha::link::server_dir(root);
        SshdPlan {
            config: dir.join("sshd_config"),
            pidfile: dir.join("sshd.pid"),
            host_keys: host_keys(&dir),
            authorized_keys: crate::ha::link::peer_keys(root),
            listen: vec![listen],
            port,
            log: root.log_dir().join("ha-link-sshd.log"),
            dir,
            root: root.clone(),
            template: HA_LINK_TEMPLATE,
            user: user.into(),
            force_command: Some(force_command),
            purpose: "ha-link",
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
        self.template
            .replace("@PORT@", &self.port.to_string())
            .replace("@SUPPORT_USER@", &self.user)
            .replace(
                "@FORCE_COMMAND@",
                self.force_command.as_deref().unwrap_or_default(),
            )
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
        // sshd refuses to start as root without its privilege-separation directory
        // (one started by another user, as the HA demo's, does not use it).
        if let Err(source) = std::fs::create_dir_all("/run/sshd")
            && nix::unistd::geteuid().is_root()
        {
            return Err(SshdError::Dir {
                path: "/run/sshd".into(),
                source,
            });
        }
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
                    &format!("upgrade-console-{}", self.purpose),
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
            log::info!("{} SSH host key made: {}", self.purpose, key.display());
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

    /// Stops an sshd this plan started earlier (a previous `recover`, perhaps another
    /// process still supervising it), with the sessions it forked: the port is free
    /// and nobody is left logged in. Returns its pid when there was one.
    pub fn stop_previous(&self) -> Option<i32> {
        let pid = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*self.config.to_string_lossy());
        if !ours {
            return None;
        }
        // Sessions first: a listener's death leaves its forked sessions running.
        let mut pids = children_of(pid);
        pids.push(pid);
        for sig in [
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::Signal::SIGKILL,
        ] {
            for &p in &pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if !pids.iter().any(|p| alive(*p)) {
                break;
            }
            log::warn!("recovery sshd (pid {pid}) ignored SIGTERM for 3 s: killing it");
        }
        let _ = std::fs::remove_file(&self.pidfile);
        log::info!("stopped the previous recovery sshd (pid {pid})");
        Some(pid)
    }

    /// Starts `sshd -D -e` and waits until it has bound its addresses (its pid file
    /// appears) or exited. Refused when the appliance is sealed now, so a supervisor
    /// started before the box was sealed cannot bring SSH back.
    pub fn start(&self) -> Result<Child, SshdError> {
        if Config::load(&self.root).is_ok_and(|c| c.appliance.sealed) {
            return Err(SshdError::Sealed {
                config: self.root.config_file().display().to_string(),
            });
        }
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

/// A process exists and is not a zombie (a reaped-later child of ours counts as gone).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|st| {
            st.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Every descendant of `pid` (sshd's per-connection processes and their children).
fn children_of(pid: i32) -> Vec<i32> {
    let mut parent: Vec<(i32, i32)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(st) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // After the ")" that ends the command name: state, then the parent's pid.
        let pp = st
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if let Some(pp) = pp {
            parent.push((p, pp));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let cur = found[i];
        found.extend(parent.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
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
        assert!(c.contains("AllowUsers root\n"), "{c}");
        // Every @PLACEHOLDER@ filled in (algorithm names keep their "@openssh.com").
        assert!(
            !c.split('@')
                .skip(1)
                .any(|r| r.starts_with(|ch: char| ch.is_ascii_uppercase())),
            "{c}"
        );
    }
}
