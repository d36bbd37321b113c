//! Runs only the configuration rules (`rules::evaluate`) of a manifest over an
//! appliance root, for benches/check_rules.sh: `rules_bench ROOT RULES.toml [RUNS]`.
//! Prints the counts and the time of each run; peak memory is measured outside.

use std::time::Instant;
use upgrade_console::config::Config;
use upgrade_console::manifest::Manifest;
use upgrade_console::root::ApplianceRoot;
use upgrade_console::rules::{RuleInput, evaluate};

const MANIFEST: &str = r#"[firmware]
product = "sps"
version = "7.3.1"
kind = "maintenance"
[upgrade]
from = ["7.0.1"]
[payload]
file = "firmware/rootfs.img"
size = 4096
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
"#;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(rules)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: rules_bench ROOT RULES.toml [RUNS]");
    };
    let runs: usize = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(1);
    let root = ApplianceRoot::new(dir);
    for _ in 0..runs {
        let t = Instant::now();
        let config = Config::load(&root)?;
        let manifest =
            Manifest::parse(&format!("{MANIFEST}\n{}", std::fs::read_to_string(rules)?))?;
        let out = evaluate(&RuleInput {
            root: &root,
            config: &config,
            manifest: &manifest,
            current: Some("7.0.1".parse()?),
        })?;
        let findings: usize = out.iter().map(|c| c.findings.len()).sum();
        let secs = t.elapsed().as_secs_f64();
        let tls = out
            .iter()
            .find(|c| c.check == "tls-keys")
            .map(|c| c.summary.clone());
        let ssh = out
            .iter()
            .find(|c| c.check == "ssh-keys")
            .map(|c| c.summary.clone());
        println!(
            "{secs:.4} s, {findings} findings; tls-keys: {}; ssh-keys: {}",
            tls.unwrap_or_default(),
            ssh.unwrap_or_default()
        );
    }
    Ok(())
}
