//! The one support module of the integration tests: the binary and its output, a demo
//! appliance, what a test requires of the machine (root, tools), the loop-device lock,
//! and `wait_for`, the one way a test waits. Submodules hold the larger labs: `boot`
//! (xorriso images, slot roots, GPT disks on loop devices), `recovery` (network
//! namespaces, sshd) and `rules` (keys and certificates made with openssl).
#![allow(dead_code)]

pub mod boot;
pub mod fleet;
pub mod ha;
pub mod ha_ansible;
pub mod recovery;
pub mod rules;
pub mod signing;
pub mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_upgrade-console")
}

/// This test program's folder (fixtures, helper scripts).
pub fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration")
}

/// Runs the binary with `--root root` and the arguments; stdin is not a terminal.
pub fn run(root: &Path, args: &[&str]) -> Output {
    run_env(root, args, &[])
}

/// `run` with extra environment variables. The binary gets its own process group, so
/// a kill point takes its migration programs down with it, as a power cut would.
pub fn run_env(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.arg("--root").arg(root).args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.stdin(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    c.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin()))
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// What the command said: stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Status, stdout and stderr apart, for failure messages.
pub fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh demo appliance in a temporary directory (kept alive by the returned guard).
pub fn demo() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("appliance");
    let o = Command::new(bin())
        .arg("demo")
        .arg(&root)
        .stdin(Stdio::null())
        .output()
        .expect("demo");
    assert_eq!(code(&o), 0, "demo failed: {}", describe(&o));
    (d, root)
}

/// Fails the test with a message naming the package when a system tool is missing
/// (`tool` is a name on PATH or an absolute path).
pub fn require_tool(tool: &str, package: &str) {
    let found = Path::new(tool).is_absolute() && Path::new(tool).is_file()
        || std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` (Debian package {package}): apt-get install -y {package}, \
         or run `bash .ci/packages` as root"
    );
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (loop devices, mounts, network namespaces, sshd); run it as \
         root, as CI does"
    );
}

/// Polls `probe` until it returns `Ok`, and returns its value. `Err` carries what the
/// probe saw this time. Past the deadline the test fails naming what it waited for and
/// the last thing seen. The deadline only stops a hang: it is never a performance
/// assertion, so it is set far above any normal wait.
pub fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match probe() {
            Ok(v) => return v,
            Err(seen) => {
                if start.elapsed() >= deadline {
                    panic!("waited {deadline:?} for {what}; last seen: {seen}");
                }
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// The usual deadline of a wait: generous, since six sessions may share two cores.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Serialises loop-device use across tests and test processes (the machine has few
/// loop devices); held until dropped.
pub struct LoopLock(nix::fcntl::Flock<std::fs::File>);

pub fn loop_lock() -> LoopLock {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/upgrade-console-loop.lock")
        .expect("open /tmp/upgrade-console-loop.lock");
    LoopLock(
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("lock /tmp/upgrade-console-loop.lock"),
    )
}

/// A digest of every file under a directory (names, sizes, contents), to prove a
/// command changed nothing.
pub fn tree_digest(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        // The console log records attempts; it is the one file allowed to grow.
        if f.extension().is_some_and(|e| e == "log") {
            continue;
        }
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    hex::encode(h.finalize())
}

/// Reads a socket until the peer closes it and returns what came; a reset ends it too
/// (servers refuse that way). A peer that neither answers nor closes within
/// `PATIENCE` fails the test naming `what`.
pub fn read_until_closed(s: &mut std::net::TcpStream, what: &str) -> Vec<u8> {
    use std::io::{ErrorKind, Read};
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 16 << 10];
    // A peer that keeps sending (keepalives) never lets a read time out: the whole
    // wait has its own deadline too.
    let start = Instant::now();
    loop {
        if start.elapsed() > PATIENCE * 2 {
            panic!(
                "waited {:?} for {what} to close the connection; it kept sending: {:?}",
                PATIENCE * 2,
                String::from_utf8_lossy(&out[out.len().saturating_sub(300)..])
            );
        }
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "waited {PATIENCE:?} for {what} to close the connection; last seen: {:?}",
                    String::from_utf8_lossy(&out)
                )
            }
            Err(_) => return out,
        }
    }
}

/// A wait that never succeeds fails naming what it waited for and the last thing seen.
#[test]
fn wait_for_names_what_it_waited_for_and_the_last_thing_seen() {
    let mut n = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("the answer", Duration::from_millis(50), || {
            n += 1;
            Err::<(), _>(format!("try {n}"))
        })
    }));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("for the answer; last seen: try "), "{msg}");
    assert!(n >= 2, "probed {n} time(s)");
    assert_eq!(
        wait_for("a ready value", PATIENCE, || Ok::<_, String>(7)),
        7
    );
}
