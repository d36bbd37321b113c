//! Keeps a demo or test appliance root from reconfiguring the machine it runs on.
//! Recovery changes interfaces, routes and starts sshd: on the real root (`/`) that is
//! the point; on a directory root it is done only inside a network namespace of its
//! own (as the tests do with `ip netns exec`), never in the host's.

use crate::appliance::root::ApplianceRoot;
use std::os::unix::fs::MetadataExt;

/// Why the network may not be touched, or `None` when it may.
pub fn network_off_limits(root: &ApplianceRoot) -> Option<String> {
    if root.is_system_root() {
        return None;
    }
    let ns = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    // thread-self: setns acts per thread, and a caller may have joined a namespace
    // in one thread only (as the library test does).
    let Ok(mine) = ns(std::path::Path::new("/proc/thread-self/ns/net")) else {
        return Some(format!(
            "cannot tell which network namespace \"{}\" runs in: interfaces and SSH were left alone",
            root.dir().display()
        ));
    };
    // A namespace made with `ip netns add` (how the tests and a lab run it) is its own.
    let named = std::fs::read_dir("/run/netns")
        .map(|rd| rd.flatten().any(|e| ns(&e.path()).is_ok_and(|n| n == mine)))
        .unwrap_or(false);
    // Otherwise compare with init's; in some containers even root may not read it.
    let differs_from_init =
        ns(std::path::Path::new("/proc/1/ns/net")).is_ok_and(|init| init != mine);
    if named || differs_from_init {
        return None;
    }
    Some(format!(
        "\"{}\" is a demo or test root, not in a network namespace of its own (`ip netns`): interfaces and SSH were left alone (run `ip netns exec NS upgrade-console --root {} recover` to do it for real)",
        root.dir().display(),
        root.dir().display()
    ))
}
