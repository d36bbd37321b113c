//! Keeps a demo or test appliance root from reconfiguring the machine it runs on.
//! Recovery changes interfaces, routes and starts sshd: on the real root (`/`) that is
//! the point; on a directory root it is done only inside a network namespace of its
//! own (as the tests do with `ip netns exec`), never in the host's.
//!
//! "Of its own" is judged against the host's namespace, never by a name in /run/netns:
//! `ip netns attach NAME PID` can give the host's namespace any name.

use crate::appliance::root::ApplianceRoot;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

type NsId = (u64, u64);

fn ns_of(p: &Path) -> Option<NsId> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// The host's network namespace: init's, or, where init's cannot be read (a sandbox
/// whose pid 1 is not dumpable), that of the outermost ancestor whose can. `None`
/// when no ancestor's can be read.
fn host_namespace() -> Option<NsId> {
    if let Some(init) = ns_of(Path::new("/proc/1/ns/net")) {
        return Some(init);
    }
    let mut outermost = None;
    let mut pid = parent_of(std::process::id());
    // A bound walk: the chain cannot be longer than the pid space, and a loop in a
    // racing /proc must not hang recovery.
    for _ in 0..4096 {
        let Some(p) = pid.filter(|&p| p > 1) else {
            break;
        };
        if let Some(n) = ns_of(Path::new(&format!("/proc/{p}/ns/net"))) {
            outermost = Some(n);
        }
        pid = parent_of(p);
    }
    outermost
}

/// Why the network may not be touched, or `None` when it may.
pub fn network_off_limits(root: &ApplianceRoot) -> Option<String> {
    if root.is_system_root() {
        return None;
    }
    let dir = root.dir().display();
    // thread-self: setns acts per thread, and a caller may have joined a namespace
    // in one thread only (as the library test does).
    let (Some(mine), Some(host)) = (
        ns_of(Path::new("/proc/thread-self/ns/net")),
        host_namespace(),
    ) else {
        return Some(format!(
            "cannot tell whether \"{dir}\" runs in a network namespace of its own (/proc/1/ns/net and every ancestor's are unreadable): interfaces and SSH were left alone (run it with `ip netns exec NS` on a machine where /proc is readable)"
        ));
    };
    if mine != host {
        return None;
    }
    Some(format!(
        "\"{dir}\" is a demo or test root, not in a network namespace of its own (it runs in the host's, whatever /run/netns calls it): interfaces and SSH were left alone (make a namespace of its own with `ip netns add NS` and run `ip netns exec NS upgrade-console --root {dir} recover` to do it for real)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_root_in_the_host_namespace_is_off_limits() {
        let root = ApplianceRoot::new("/srv/appl");
        let why = network_off_limits(&root).expect("the host namespace must be off limits");
        assert!(why.contains("/srv/appl"), "{why}");
    }
}
