//! Keeps a demo or test appliance root from reconfiguring the machine it runs on.
//! Recovery changes interfaces, routes and starts sshd: on the real root (`/`) that is
//! the point; on a directory root it is done only inside a network namespace of its
//! own (as the tests do with `ip netns exec`), never in the host's.

use crate::root::ApplianceRoot;
use std::os::unix::fs::MetadataExt;

/// Why the network may not be touched, or `None` when it may.
pub fn network_off_limits(root: &ApplianceRoot) -> Option<String> {
    if root.is_system_root() {
        return None;
    }
    let ns = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    match (ns("/proc/self/ns/net"), ns("/proc/1/ns/net")) {
        (Ok(mine), Ok(init)) if mine != init => None,
        (Ok(_), Ok(_)) => Some(format!(
            "\"{}\" is a demo or test root in this machine's own network namespace: interfaces and SSH were left alone (run `ip netns exec NS upgrade-console --root {} recover` to do it for real)",
            root.dir().display(),
            root.dir().display()
        )),
        _ => Some(format!(
            "cannot tell whether \"{}\" runs in a network namespace of its own (reading /proc/1/ns/net needs root): interfaces and SSH were left alone",
            root.dir().display()
        )),
    }
}
