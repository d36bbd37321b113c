//! Helpers for the configuration-rule tests: an appliance root in a temporary
//! directory, real keys and certificates made with openssl and ssh-keygen, and
//! configuration/manifest builders around them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use upgrade_console::config::Config;
use upgrade_console::finding::{CheckOutcome, Finding, Severity};
use upgrade_console::manifest::Manifest;
use upgrade_console::root::ApplianceRoot;
use upgrade_console::rules::{RuleError, RuleInput, evaluate};
use upgrade_console::version::Version;

/// Fails the test with a message when a tool is missing (never a silent pass).
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` (Debian package {package}) to make real keys and certificates"
    );
}

/// A scratch appliance root; key material goes to etc/appliance/{certs,keys}.
pub struct Lab {
    _dir: tempfile::TempDir,
    pub root: ApplianceRoot,
    pub work: PathBuf,
}

impl Lab {
    pub fn new() -> Lab {
        require_tool("openssl", "openssl");
        require_tool("ssh-keygen", "openssh-client");
        require_tool("python3", "python3");
        let d = tempfile::tempdir().expect("tempdir");
        let work = d.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        for sub in ["etc/appliance/certs", "etc/appliance/keys"] {
            std::fs::create_dir_all(d.path().join("root").join(sub)).unwrap();
        }
        Lab {
            root: ApplianceRoot::new(d.path().join("root")),
            work,
            _dir: d,
        }
    }

    /// Runs a bash script in the work directory; `$CERTS` and `$KEYS` are the
    /// appliance's certificate and key directories. Panics with stderr on failure.
    pub fn sh(&self, script: &str) {
        let o = Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(format!("{HELPERS}\n{script}"))
            .current_dir(&self.work)
            .env("CERTS", self.root.resolve("etc/appliance/certs"))
            .env("KEYS", self.root.resolve("etc/appliance/keys"))
            .output()
            .expect("bash");
        assert!(
            o.status.success(),
            "fixture script failed:\n{script}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.resolve(rel)
    }
}

/// Shell functions for the fixture scripts.
/// `leaf NAME KEYSPEC HASH OUT`: a self-signed end-entity certificate (not a CA).
/// `ca NAME KEYSPEC HASH` -> NAME.key NAME.pem: a self-signed root CA in the work dir.
/// `issue NAME KEYSPEC HASH CA OUT ca|leaf`: a certificate signed by CA (CA.key/CA.pem).
/// `ssh_rsa BITS OUT COMMENT`: an OpenSSH RSA public key of any size (ssh-keygen
/// refuses sizes under 1024, so this encodes an openssl key in the OpenSSH format).
const HELPERS: &str = r#"
leaf() { openssl req -x509 -newkey "$2" -nodes -keyout "$1.key" -out "$4" -"$3" -days 30 \
  -subj "/CN=$1" -addext basicConstraints=CA:FALSE 2>/dev/null; }
ca() { openssl req -x509 -newkey "$2" -nodes -keyout "$1.key" -out "$1.pem" -"$3" -days 30 \
  -subj "/CN=$1" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null; }
issue() {
  openssl req -new -newkey "$2" -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  if [ "$6" = ca ]; then echo "basicConstraints=critical,CA:TRUE" > "$1.ext"; else echo "basicConstraints=CA:FALSE" > "$1.ext"; fi
  openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial -"$3" -days 30 -extfile "$1.ext" -out "$5" 2>/dev/null
}
ssh_rsa() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$1" -out "rsa$1.key" 2>/dev/null
  python3 - "rsa$1.key" "$3" > "$2" <<'PY'
import base64, re, struct, subprocess, sys
out = subprocess.run(["openssl", "rsa", "-in", sys.argv[1], "-noout", "-modulus"], capture_output=True, text=True, check=True).stdout
n = int(re.search(r"Modulus=([0-9A-F]+)", out).group(1), 16)
def mpint(x):
    b = x.to_bytes((x.bit_length() + 8) // 8, "big")
    return struct.pack(">I", len(b)) + b
blob = struct.pack(">I", 7) + b"ssh-rsa" + mpint(65537) + mpint(n)
print("ssh-rsa " + base64.b64encode(blob).decode() + " " + sys.argv[2])
PY
}
"#;

pub const MINIMAL_CONFIG: &str = r#"[appliance]
product = "sps"
hostname = "sps-test"

[slots]
A = "var/lib/slotA.img"
B = "var/lib/slotB.img"

[licence]
lts = 7
"#;

/// A configuration with the given extra TOML (e.g. `[product]` and `[ha]` tables).
pub fn config(extra: &str) -> Config {
    Config::parse(
        &format!("{MINIMAL_CONFIG}\n{extra}"),
        Path::new("appliance.toml"),
    )
    .unwrap_or_else(|e| panic!("test configuration: {e}"))
}

pub const MINIMAL_MANIFEST: &str = r#"[firmware]
product = "sps"
version = "7.3.1"
kind = "maintenance"

[upgrade]
from = ["7.0", "7.0.1"]

[payload]
file = "firmware/rootfs.img"
size = 4096
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
"#;

/// A 7.3.1 manifest carrying `rules` (TOML `[[rules]]` text).
pub fn manifest(rules: &str) -> Manifest {
    Manifest::parse(&format!("{MINIMAL_MANIFEST}\n{rules}"))
        .unwrap_or_else(|e| panic!("test manifest: {e}"))
}

pub fn run(
    root: &ApplianceRoot,
    cfg: &Config,
    rules: &str,
    current: &str,
) -> Result<Vec<CheckOutcome>, RuleError> {
    let m = manifest(rules);
    evaluate(&RuleInput {
        root,
        config: cfg,
        manifest: &m,
        current: Some(current.parse::<Version>().unwrap()),
    })
}

/// The outcome with check id `id`.
pub fn outcome<'a>(all: &'a [CheckOutcome], id: &str) -> &'a CheckOutcome {
    all.iter()
        .find(|c| c.check == id)
        .unwrap_or_else(|| panic!("no check {id} in {all:#?}"))
}

/// Asserts a finding's fields; `value`, `location` and `fix` are substrings.
pub fn assert_finding(
    f: &Finding,
    rule: &str,
    severity: Severity,
    value: &str,
    location: &str,
    fix: &str,
) {
    assert_eq!(f.rule, rule, "{f:#?}");
    assert_eq!(f.severity, severity, "{f:#?}");
    assert!(f.value.contains(value), "value {value:?} not in {f:#?}");
    assert!(
        f.location.contains(location),
        "location {location:?} not in {f:#?}"
    );
    assert!(f.fix.contains(fix), "fix {fix:?} not in {f:#?}");
    assert!(!f.message.is_empty());
}
