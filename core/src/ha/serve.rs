//! The HA link, server side: the one program the link's sshd runs for every session
//! (ForceCommand). It reads the request from SSH_ORIGINAL_COMMAND and answers one JSON
//! document. Requests, and nothing else:
//! - `state`: this node's `NodeState`;
//! - `receive SHA256 SIZE`: the firmware image on stdin, exactly SIZE bytes, kept only
//!   when its SHA-256 is SHA256; then verified (payload hash, vendor signature against
//!   this node's own trust anchors), upgrade-tested against this node's configuration,
//!   written to the inactive slot, read back and armed, as `activate` does;
//! - `role primary|secondary`: this node's HA role (the "activate slave" swap).

use crate::appliance::config::{Config, HaRole};
use crate::appliance::root::ApplianceRoot;
use crate::ha::link::{Received, role_name};
use crate::image::hash_forms::hashes_equal;
use crate::upgrade::journal::UpgradeState;
use sha2::Digest;
use std::io::{Read, Write};
use std::path::PathBuf;

/// The largest image accepted (the appliance's images are a few GiB).
pub const MAX_IMAGE: u64 = 64 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "unknown request {0:?}: this node answers \"state\", \"receive SHA256 SIZE\" and \"role primary|secondary\""
    )]
    Unknown(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

impl ServeError {
    pub fn is_refusal(&self) -> bool {
        !matches!(self, ServeError::Io(_))
    }
}

/// var/lib/upgrade-console/ha/incoming: images received from the other node.
pub fn incoming_dir(root: &ApplianceRoot) -> PathBuf {
    root.state_dir().join("ha").join("incoming")
}

pub fn handle(
    root: &ApplianceRoot,
    request: &str,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), ServeError> {
    let words: Vec<&str> = request.split_ascii_whitespace().collect();
    let config = Config::load(root).map_err(|e| ServeError::Io(e.to_string()))?;
    if config.ha.is_none() {
        return Err(ServeError::Refused(format!(
            "this node has no [ha] section in {}",
            root.config_file().display()
        )));
    }
    let answer = match words.as_slice() {
        ["state"] => serde_json::to_string(&crate::ha::node::gather(root, &config)),
        ["receive", sha, size] => {
            let r = receive(root, &config, sha, size, input)?;
            serde_json::to_string(&r)
        }
        ["role", role] => {
            let role = match *role {
                "primary" => HaRole::Primary,
                "secondary" => HaRole::Secondary,
                other => return Err(ServeError::Unknown(format!("role {other}"))),
            };
            crate::ha::role::set(root, role).map_err(ServeError::Io)?;
            let config = Config::load(root).map_err(|e| ServeError::Io(e.to_string()))?;
            serde_json::to_string(&crate::ha::node::gather(root, &config))
        }
        _ => {
            let shown: String = request.chars().take(80).collect();
            return Err(ServeError::Unknown(shown));
        }
    }
    .map_err(|e| ServeError::Io(e.to_string()))?;
    writeln!(out, "{answer}").map_err(|e| ServeError::Io(e.to_string()))
}

fn receive(
    root: &ApplianceRoot,
    config: &Config,
    sha: &str,
    size: &str,
    input: &mut dyn Read,
) -> Result<Received, ServeError> {
    let expected = crate::image::hash_forms::parse_expected(sha, None)
        .map_err(|e| ServeError::Refused(format!("receive: {e}")))?;
    let sha = hex::encode(expected);
    let size: u64 = size
        .parse()
        .ok()
        .filter(|s| *s > 0 && *s <= MAX_IMAGE)
        .ok_or_else(|| {
            ServeError::Refused(format!(
                "receive: size {size:?} is not a number of bytes between 1 and {MAX_IMAGE}"
            ))
        })?;
    let dir = incoming_dir(root);
    std::fs::create_dir_all(&dir).map_err(|e| ServeError::Io(format!("{}: {e}", dir.display())))?;
    // Only the image being received is kept: earlier ones (and their parts) go.
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if !e.file_name().to_string_lossy().starts_with(&sha) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    // Room for the image and 10 % of the filesystem left over.
    let st = nix::sys::statvfs::statvfs(&dir).map_err(|e| ServeError::Io(e.to_string()))?;
    let frsize = st.fragment_size() as u64;
    let free = st.blocks_available() as u64 * frsize;
    let total = st.blocks() as u64 * frsize;
    if size.saturating_add(total / 10) > free {
        return Err(ServeError::Refused(format!(
            "receive: the image needs {size} bytes and {} holds {free} free of {total}; at least 10 % must stay free: remove old images there",
            dir.display()
        )));
    }
    let final_path = dir.join(format!("{sha}.iso"));
    let already =
        final_path.is_file() && std::fs::metadata(&final_path).is_ok_and(|m| m.len() == size);
    if !already {
        let part = dir.join(format!("{sha}.iso.part"));
        let _ = std::fs::remove_file(&part);
        let mut f = crate::appliance::safe_open::create_truncate(&part)
            .map_err(|e| ServeError::Io(format!("{}: {e}", part.display())))?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        let mut limited = input.take(size);
        let result: Result<(), ServeError> = loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(ServeError::Io(e.to_string())),
            };
            h.update(&buf[..n]);
            if let Err(e) = f.write_all(&buf[..n]) {
                break Err(ServeError::Io(format!("{}: {e}", part.display())));
            }
            got += n as u64;
        };
        let fail = |e: ServeError| {
            let _ = std::fs::remove_file(&part);
            e
        };
        result.map_err(fail)?;
        if got != size {
            return Err(fail(ServeError::Refused(format!(
                "receive: the transfer stopped after {got} of {size} bytes; nothing was kept: send the image again"
            ))));
        }
        let digest: [u8; 32] = h.finalize().into();
        if !hashes_equal(&digest, &expected) {
            return Err(fail(ServeError::Refused(format!(
                "receive: the image arrived with SHA-256 {} instead of {sha}; nothing was kept: send it again",
                hex::encode(digest)
            ))));
        }
        f.sync_all()
            .map_err(|e| fail(ServeError::Io(e.to_string())))?;
        std::fs::rename(&part, &final_path).map_err(|e| fail(ServeError::Io(e.to_string())))?;
        let _ = crate::appliance::durable::sync_dir(&dir);
        log::info!("ha: received image {sha} ({size} bytes) from the other node");
    }
    // This node checks the image on its own, as its own `verify` and `check` would.
    let (image, report) =
        crate::image::verify::verify_image(root, &final_path, &expected, &mut |_, _| {})
            .map_err(|e| ServeError::Refused(format!("receive: {e}")))?;
    if !report.ok() {
        let why = if !report.image_ok {
            "the image hash does not match".to_string()
        } else if !report.payload_ok {
            "the payload inside the image does not match its manifest: the image is damaged".into()
        } else {
            format!(
                "the signature was refused: {}",
                report.signature_error.clone().unwrap_or_default()
            )
        };
        let _ = std::fs::remove_file(&final_path);
        return Err(ServeError::Refused(format!("receive: {why}")));
    }
    let version = image.manifest.firmware.version;
    let payload = image.manifest.payload.sha256.to_ascii_lowercase();
    // Already armed with this firmware (a repeated request after a lost answer).
    let state =
        crate::upgrade::journal::current_state(root).map_err(|e| ServeError::Io(e.to_string()))?;
    if let UpgradeState::Activated { target } = &state
        && target.sha256 == payload
    {
        return Ok(Received {
            bytes: size,
            sha256: sha,
            version,
            slot: target.slot.to_string(),
            state: crate::ha::node::gather(root, config),
        });
    }
    crate::upgrade::journal::record_verified(root, &final_path, &sha, &image.manifest)
        .map_err(|e| ServeError::Io(e.to_string()))?;
    let test = crate::check::upgrade_test(root, config, &image)
        .map_err(|e| ServeError::Refused(format!("receive: upgrade test: {e}")))?;
    if !test.passed() {
        let first = test
            .findings()
            .find(|f| f.severity == crate::check::finding::Severity::Blocker)
            .map(|f| format!("{}: {} ({})", f.rule, f.message, f.fix))
            .unwrap_or_default();
        return Err(ServeError::Refused(format!(
            "receive: the upgrade test on this node found {} blocker(s); first: {first}",
            test.blockers()
        )));
    }
    crate::upgrade::journal::record_check_passed(root, &final_path, Some(&sha), &image.manifest)
        .map_err(|e| ServeError::Io(e.to_string()))?;
    drop(image);
    let plan = crate::upgrade::activate::prepare(root, config, &final_path)
        .map_err(|e| ServeError::Refused(format!("receive: {e}")))?;
    let report = crate::upgrade::activate::run(root, &plan, crate::slots::slot_io::CHUNK)
        .map_err(|e| ServeError::Refused(format!("receive: {e}")))?;
    log::info!(
        "ha: firmware {} is in slot {} and boots after the next power-up",
        report.version,
        report.slot
    );
    Ok(Received {
        bytes: size,
        sha256: sha,
        version,
        slot: report.slot.to_string(),
        state: crate::ha::node::gather(root, config),
    })
}

/// For logs: the role a request sets.
pub fn describe_role(role: HaRole) -> &'static str {
    role_name(role)
}
