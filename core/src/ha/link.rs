//! The HA link, client side: OpenSSH from this node to the other one, with this node's
//! key and the other node's host key pinned (no trust on first use). The other side
//! runs only the request handler (`ha::serve`), whatever is asked.
//!
//! Files, all under the root:
//! - etc/appliance/ha/node_key(.pub): this node's key (made by `ha link-keys`);
//! - etc/appliance/ha/known_hosts: the other node's link host key;
//! - etc/appliance/ha/peer_keys: the other node's key, allowed to send requests here.

use crate::appliance::config::{Config, Ha, HaRole};
use crate::appliance::root::ApplianceRoot;
use crate::ha::node::NodeState;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const SSH: &str = "ssh";

pub fn ha_dir(root: &ApplianceRoot) -> PathBuf {
    root.resolve("etc/appliance/ha")
}

pub fn node_key(root: &ApplianceRoot) -> PathBuf {
    ha_dir(root).join("node_key")
}

pub fn known_hosts(root: &ApplianceRoot) -> PathBuf {
    ha_dir(root).join("known_hosts")
}

pub fn peer_keys(root: &ApplianceRoot) -> PathBuf {
    ha_dir(root).join("peer_keys")
}

/// var/lib/upgrade-console/ha/link: the link server's host keys and configuration.
pub fn server_dir(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("ha").join("link")
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this node is not part of an HA pair: there is no [ha] section in \"{0}\"")]
    NotHa(String),
    #[error(
        "the HA link's {what} \"{path}\" is missing or unreadable ({why}); run `{cmd} ha link-keys` on both nodes and exchange what it prints"
    )]
    Keys {
        what: &'static str,
        path: String,
        why: String,
        cmd: String,
    },
    #[error("cannot run {SSH}: {0} (install the openssh-client package)")]
    NoClient(String),
    #[error(
        "the other node ({peer}) does not answer on the HA link: {message}; check the HA cable, that the other node is powered on and that its link server runs"
    )]
    Unreachable { peer: String, message: String },
    #[error(
        "the other node ({peer}) refused this node's key or presented a host key other than the pinned one: {message}; exchange the keys again with `ha link-keys`"
    )]
    Auth { peer: String, message: String },
    #[error("the HA link to {peer} dropped during \"{request}\": {message}")]
    Dropped {
        peer: String,
        request: String,
        message: String,
    },
    #[error("the other node ({peer}) refused \"{request}\": {message}")]
    Refused {
        peer: String,
        request: String,
        message: String,
    },
    #[error("the other node ({peer}) answered \"{request}\" with something unreadable: {message}")]
    BadAnswer {
        peer: String,
        request: String,
        message: String,
    },
    #[error("the other node ({peer}) did not finish \"{request}\" within {secs} s")]
    Timeout {
        peer: String,
        request: String,
        secs: u64,
    },
    #[error("cannot read the image \"{path}\": {source}")]
    Image {
        path: String,
        source: std::io::Error,
    },
}

/// What the other node says after it received an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Received {
    pub bytes: u64,
    pub sha256: String,
    pub version: crate::image::version::Version,
    /// The slot it wrote, verified and armed for its next boot.
    pub slot: String,
    pub state: NodeState,
}

/// What one transfer cost.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub received: Received,
    pub image_bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub peer: String,
    pub port: u16,
    pub user: String,
    key: PathBuf,
    known_hosts: PathBuf,
    pub connect_timeout: Duration,
    cmd: String,
}

impl Link {
    pub fn from_config(root: &ApplianceRoot, config: &Config) -> Result<Link, LinkError> {
        let ha = config
            .ha
            .as_ref()
            .ok_or_else(|| LinkError::NotHa(root.config_file().display().to_string()))?;
        Link::new(root, ha)
    }

    pub fn new(root: &ApplianceRoot, ha: &Ha) -> Result<Link, LinkError> {
        let cmd = root.command();
        let check = |what: &'static str, path: PathBuf| -> Result<PathBuf, LinkError> {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() > 0 => Ok(path),
                Ok(_) => Err(LinkError::Keys {
                    what,
                    path: path.display().to_string(),
                    why: "empty or not a file".into(),
                    cmd: cmd.clone(),
                }),
                Err(e) => Err(LinkError::Keys {
                    what,
                    path: path.display().to_string(),
                    why: e.to_string(),
                    cmd: cmd.clone(),
                }),
            }
        };
        Ok(Link {
            peer: ha.peer.to_string(),
            port: ha.link_port,
            user: ha.link_user.clone(),
            key: check("node key", node_key(root))?,
            known_hosts: check("pinned host key of the other node", known_hosts(root))?,
            connect_timeout: Duration::from_secs(5),
            cmd,
        })
    }

    fn command(&self, request: &str) -> Command {
        let mut c = Command::new(SSH);
        c.args(["-F", "/dev/null", "-T", "-x", "-a"])
            .arg("-i")
            .arg(&self.key)
            .args(["-p", &self.port.to_string()])
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "GlobalKnownHostsFile=/dev/null"])
            .arg("-o")
            .arg(format!("ConnectTimeout={}", self.connect_timeout.as_secs()))
            // A cable pulled mid-transfer is noticed in about 6 s, not at TCP's pace.
            .args(["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"])
            .args(["-o", "LogLevel=ERROR", "-o", "ControlMaster=no"])
            .arg(format!("{}@{}", self.user, self.peer))
            .arg(request);
        c
    }

    /// Runs one request, feeding `input` (if any) to it, within `limit`.
    fn request(
        &self,
        request: &str,
        input: Option<(&Path, &mut dyn FnMut(u64))>,
        limit: Duration,
    ) -> Result<String, LinkError> {
        let mut child = self
            .command(request)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LinkError::NoClient(e.to_string()))?;
        let out = child.stdout.take().map(read_all);
        let err = child.stderr.take().map(read_all);
        let started = Instant::now();
        let mut feed_error = None;
        if let Some((path, progress)) = input
            && let Some(mut stdin) = child.stdin.take()
        {
            let mut f = std::fs::File::open(path).map_err(|source| LinkError::Image {
                path: path.display().to_string(),
                source,
            })?;
            let mut buf = vec![0u8; 1 << 20];
            let mut sent = 0u64;
            loop {
                let n = f.read(&mut buf).map_err(|source| LinkError::Image {
                    path: path.display().to_string(),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                if let Err(e) = stdin.write_all(&buf[..n]) {
                    feed_error = Some(e.to_string());
                    break;
                }
                sent += n as u64;
                progress(sent);
                crate::upgrade::killpoint::hit("ha-link-send");
                if started.elapsed() > limit {
                    break;
                }
            }
            drop(stdin);
        }
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() > limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(LinkError::Timeout {
                        peer: self.peer.clone(),
                        request: request.into(),
                        secs: limit.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    return Err(LinkError::Dropped {
                        peer: self.peer.clone(),
                        request: request.into(),
                        message: e.to_string(),
                    });
                }
            }
        };
        let stdout = out
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = err
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let message = last_line(&stderr);
        match status.code() {
            Some(0) => Ok(stdout),
            // ssh's own failures: no connection, authentication, a dropped session.
            Some(255) | None => {
                let lower = stderr.to_ascii_lowercase();
                if lower.contains("permission denied")
                    || lower.contains("host key verification failed")
                    || lower.contains("remote host identification has changed")
                {
                    Err(LinkError::Auth {
                        peer: self.peer.clone(),
                        message,
                    })
                } else if lower.contains("connection refused")
                    || lower.contains("timed out")
                    || lower.contains("no route")
                    || lower.contains("unreachable")
                    || lower.contains("could not resolve")
                    || (lower.contains("connection closed") && started.elapsed().as_secs() < 1)
                {
                    Err(LinkError::Unreachable {
                        peer: self.peer.clone(),
                        message,
                    })
                } else {
                    Err(LinkError::Dropped {
                        peer: self.peer.clone(),
                        request: request.into(),
                        message: feed_error.map_or(message.clone(), |f| format!("{message} ({f})")),
                    })
                }
            }
            Some(_) => Err(LinkError::Refused {
                peer: self.peer.clone(),
                request: request.into(),
                message: if message.is_empty() {
                    feed_error.unwrap_or_else(|| "no message".into())
                } else {
                    message
                },
            }),
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        request: &str,
        text: &str,
    ) -> Result<T, LinkError> {
        serde_json::from_str(text).map_err(|e| LinkError::BadAnswer {
            peer: self.peer.clone(),
            request: request.into(),
            message: e.to_string(),
        })
    }

    /// The other node's state.
    pub fn state(&self) -> Result<NodeState, LinkError> {
        let out = self.request("state", None, Duration::from_secs(30))?;
        self.parse("state", &out)
    }

    /// Sends the image; the other node checks it by `sha256`, verifies it as its own
    /// `verify` and `check` would, and writes and arms its inactive slot.
    pub fn send_image(
        &self,
        iso: &Path,
        sha256: &str,
        limit: Duration,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Transfer, LinkError> {
        let size = std::fs::metadata(iso)
            .map_err(|source| LinkError::Image {
                path: iso.display().to_string(),
                source,
            })?
            .len();
        let request = format!("receive {sha256} {size}");
        let started = Instant::now();
        let out = self.request(&request, Some((iso, &mut |n| progress(n, size))), limit)?;
        let received: Received = self.parse(&request, &out)?;
        Ok(Transfer {
            received,
            image_bytes: size,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Sets the other node's role.
    pub fn set_role(&self, role: HaRole) -> Result<NodeState, LinkError> {
        let request = format!("role {}", role_name(role));
        let out = self.request(&request, None, Duration::from_secs(30))?;
        self.parse(&request, &out)
    }

    pub fn describe(&self) -> String {
        format!("{}@{}:{}", self.user, self.peer, self.port)
    }

    pub fn command_name(&self) -> &str {
        &self.cmd
    }
}

pub fn role_name(role: HaRole) -> &'static str {
    match role {
        HaRole::Primary => "primary",
        HaRole::Secondary => "secondary",
    }
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        // An answer is a small JSON document; a peer that sends more is cut off.
        let _ = r.by_ref().take(1 << 20).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

/// The link server's sshd for this node: on its `ha.address`, every session running
/// `exe --root ROOT ha peer-request`.
pub fn server_plan(
    root: &ApplianceRoot,
    config: &Config,
    exe: &Path,
) -> Result<crate::recovery::sshd::SshdPlan, String> {
    let ha = config.ha.as_ref().ok_or_else(|| {
        format!(
            "this node is not part of an HA pair: there is no [ha] section in \"{}\"",
            root.config_file().display()
        )
    })?;
    let Some(addr) = ha.address else {
        return Err(format!(
            "ha.address is not set in \"{}\": set it to this node's address on the HA link (the link server listens only there)",
            root.config_file().display()
        ));
    };
    let dir = root
        .dir()
        .canonicalize()
        .map_err(|e| format!("\"{}\": {e}", root.dir().display()))?;
    let force = format!("{} --root {} ha peer-request", exe.display(), dir.display());
    Ok(crate::recovery::sshd::SshdPlan::ha_link(
        root,
        addr,
        ha.link_port,
        &ha.link_user,
        force,
    ))
}

/// Makes this node's link key if it has none; returns its public line.
pub fn ensure_node_key(root: &ApplianceRoot) -> Result<String, std::io::Error> {
    let key = node_key(root);
    std::fs::create_dir_all(ha_dir(root))?;
    if !key.is_file() || !key.with_extension("pub").is_file() {
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        let out = Command::new(crate::recovery::sshd::SSH_KEYGEN)
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("ha-link@{}", hostname_of(root)))
            .arg("-f")
            .arg(&key)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "ssh-keygen failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(std::fs::read_to_string(key.with_extension("pub"))?
        .trim()
        .to_string())
}

fn hostname_of(root: &ApplianceRoot) -> String {
    Config::load(root)
        .map(|c| c.appliance.hostname)
        .unwrap_or_else(|_| "node".into())
}
