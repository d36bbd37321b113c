//! Shared by the rules tests: real keys and certificates made once per test binary
//! with openssl and ssh-keygen, a temporary appliance root, a manifest with rules.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use upgrade_core::appliance::config::Config;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::check::finding::{CheckOutcome, Finding, Severity};
use upgrade_core::check::rules::{RuleError, RuleInput, evaluate};
use upgrade_core::image::manifest::Manifest;
use upgrade_core::image::version::Version;

fn make(script: &str, name: &str) -> PathBuf {
    super::require_tool("openssl", "openssl");
    super::require_tool("ssh-keygen", "openssh-client");
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rules-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/support")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash for {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "making the {name} fixtures needs openssl and ssh-keygen on PATH; {} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Certificates from make_tls.sh (made once per test binary).
pub fn tls() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| make("make_tls.sh", "tls"))
}

/// Keys from make_ssh.sh (made once per test binary).
pub fn ssh() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| make("make_ssh.sh", "ssh"))
}

pub struct Appliance {
    pub dir: tempfile::TempDir,
    pub root: ApplianceRoot,
}

pub fn appliance() -> Appliance {
    let dir = tempfile::tempdir().unwrap();
    let root = ApplianceRoot::new(dir.path());
    Appliance { dir, root }
}

const BASE: &str = r#"
[appliance]
product = "sps"
hostname = "sps-test"
platform = "physical"

[[network.interfaces]]
name = "eth0"
addresses = ["192.0.2.10/24"]
management = true

[web]
listen = ["127.0.0.1:8480"]

[slots]
A = "var/lib/test/slotA.img"
B = "var/lib/test/slotB.img"

[licence]
lts = 7
"#;

impl Appliance {
    /// Copies a fixture into the root's `sub` directory; returns the path as written
    /// in appliance.toml.
    pub fn install(&self, from: &Path, name: &str, sub: &str) -> String {
        let rel = format!("{sub}/{name}");
        let dest = self.root.resolve(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(name), &dest)
            .unwrap_or_else(|e| panic!("fixture {name} from {}: {e}", from.display()));
        rel
    }

    pub fn cert(&self, name: &str) -> String {
        self.install(tls(), name, "etc/appliance/certs")
    }

    pub fn key(&self, name: &str) -> String {
        self.install(ssh(), name, "etc/appliance/keys")
    }

    /// Writes appliance.toml (base, `extra` sections, then `[product]`) and loads it.
    pub fn config(&self, extra: &str, product: &str) -> Config {
        let text = format!("{BASE}\n{extra}\n[product]\n{product}\n");
        let path = self.root.config_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        Config::load(&self.root).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Writes appliance.toml with `product` as its `[product]` table and loads it.
    pub fn config_product(&self, product: &toml::Table) -> Config {
        let mut doc = toml::Table::new();
        doc.insert("product".into(), product.clone().into());
        let text = format!("{BASE}\n{}", toml::to_string(&doc).unwrap());
        let path = self.root.config_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        Config::load(&self.root).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.root.resolve(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn eval(
        &self,
        config: &Config,
        rules: &str,
        current: Option<&str>,
    ) -> Result<Vec<CheckOutcome>, RuleError> {
        let m = manifest(rules);
        let input = RuleInput {
            root: &self.root,
            config,
            manifest: &m,
            current: current.map(|c| c.parse::<Version>().unwrap()),
        };
        evaluate(&input)
    }

    /// Evaluates and returns every finding.
    pub fn findings(&self, config: &Config, rules: &str, current: Option<&str>) -> Vec<Finding> {
        self.eval(config, rules, current)
            .unwrap()
            .into_iter()
            .flat_map(|c| c.findings)
            .collect()
    }
}

pub fn manifest(rules: &str) -> Manifest {
    let text = format!(
        r#"
[firmware]
product = "sps"
version = "7.3.1"
kind = "maintenance"

[upgrade]
from = ["7.0", "7.0.1"]
licence_lts = 7

[payload]
file = "firmware/rootfs.img"
size = 4096
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

{rules}
"#
    );
    Manifest::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Asserts one finding's fields; `value`, `at` and `fix` are substrings.
pub fn assert_finding(f: &Finding, rule: &str, sev: Severity, value: &str, at: &str, fix: &str) {
    assert_eq!(f.rule, rule, "{f:#?}");
    assert_eq!(f.severity, sev, "{f:#?}");
    assert!(
        f.value.contains(value),
        "value {:?} lacks {value:?}",
        f.value
    );
    assert!(
        f.location.contains(at),
        "location {:?} lacks {at:?}",
        f.location
    );
    assert!(f.fix.contains(fix), "fix {:?} lacks {fix:?}", f.fix);
    assert!(!f.message.is_empty());
}
