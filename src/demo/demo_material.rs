//! The demo's material for the upgrade test: throwaway certificates and SSH keys
//! (assets/demo/, made by assets/demo/make.sh and committed, so the demo needs only
//! Rust), the `[product]` table that names them, the System Monitor state and, for
//! the broken variant, a core dump. The good variant passes `DEMO_RULES`; the
//! broken one trips blockers and warnings of most rule kinds.

use upgrade_core::appliance::durable::write_atomic;
use upgrade_core::appliance::root::ApplianceRoot;

/// The `[[rules]]` the demo's 7.3.1 image carries in its manifest.
pub const DEMO_RULES: &str = include_str!("../../assets/demo/rules.toml");

const CERTS: &str = "etc/appliance/certs";
const KEYS: &str = "etc/appliance/keys";

/// (file name, bytes, use) of the good material.
const GOOD_CERTS: &[(&str, &[u8], &str)] = &[
    (
        "web.pem",
        include_bytes!("../../assets/demo/good/web.pem"),
        "web",
    ),
    (
        "ldap-client.pem",
        include_bytes!("../../assets/demo/good/ldap-client.pem"),
        "ldap-client",
    ),
    (
        "demo-root-ca.pem",
        include_bytes!("../../assets/demo/good/demo-root-ca.pem"),
        "trusted-ca",
    ),
    (
        "legacy-root-ca.pem",
        include_bytes!("../../assets/demo/good/legacy-root-ca.pem"),
        "trusted-ca",
    ),
];
const GOOD_KEYS: &[(&str, &[u8], &str)] = &[
    (
        "ssh_host_ed25519_key.pub",
        include_bytes!("../../assets/demo/good/ssh_host_ed25519_key.pub"),
        "ssh-host",
    ),
    (
        "ssh_host_rsa_key.pub",
        include_bytes!("../../assets/demo/good/ssh_host_rsa_key.pub"),
        "ssh-host",
    ),
];
const BROKEN_CERTS: &[(&str, &[u8], &str)] = &[
    (
        "web.pem",
        include_bytes!("../../assets/demo/broken/web.pem"),
        "web",
    ),
    (
        "smtp-client.pem",
        include_bytes!("../../assets/demo/broken/smtp-client.pem"),
        "smtp-client",
    ),
    (
        "syslog-client.pem",
        include_bytes!("../../assets/demo/broken/syslog-client.pem"),
        "syslog-client",
    ),
    (
        "timestamping.pem",
        include_bytes!("../../assets/demo/broken/timestamping.pem"),
        "timestamping",
    ),
    (
        "demo-root-ca.pem",
        include_bytes!("../../assets/demo/broken/demo-root-ca.pem"),
        "trusted-ca",
    ),
];
const BROKEN_KEYS: &[(&str, &[u8], &str)] = &[
    (
        "ssh_host_rsa_key.pub",
        include_bytes!("../../assets/demo/broken/ssh_host_rsa_key.pub"),
        "ssh-host",
    ),
    (
        "ssh_host_dsa_key.pub",
        include_bytes!("../../assets/demo/broken/ssh_host_dsa_key.pub"),
        "ssh-host",
    ),
];

const GOOD_SETTINGS: &str = r#"
disk_fillup_prevention_percent = 80
ldap_response_timeout_s = 120
rdp_settings = ["default", "custom"]
inband_hostnames = ["server.example.com", "bücher.example"]
plugins = [{ name = "credstore", version = "2.2.0" }]
external_indexers = [{ host = "idx-1", version = "7.3.1" }]
"#;

const BROKEN_SETTINGS: &str = r#"
disk_fillup_prevention_percent = 99
ldap_response_timeout_s = 60
rdp_settings = ["default_nla", "custom"]
inband_hostnames = ["server.example.com", "file_server.example"]
plugins = [{ name = "credstore", version = "2.1.0" }]
external_indexers = [{ host = "idx-1", version = "7.0.1" }]
"#;

/// Writes the demo's certificates, keys and status files under `root` and returns
/// the `[product]` table for appliance.toml: `broken` picks the variant that fails
/// the upgrade test (the caller merges its own `[product]` keys into the table).
pub fn install_demo_material(root: &ApplianceRoot, broken: bool) -> std::io::Result<toml::Table> {
    let (certs, keys, settings) = if broken {
        (BROKEN_CERTS, BROKEN_KEYS, BROKEN_SETTINGS)
    } else {
        (GOOD_CERTS, GOOD_KEYS, GOOD_SETTINGS)
    };
    let mut product: toml::Table = settings
        .parse()
        .map_err(|e| std::io::Error::other(format!("demo [product] settings: {e}")))?;
    for (key, dir, files) in [("certificates", CERTS, certs), ("ssh_keys", KEYS, keys)] {
        let mut list = toml::value::Array::new();
        for (name, bytes, usage) in files {
            let rel = format!("{dir}/{name}");
            write_atomic(&root.resolve(&rel), bytes)?;
            let mut entry = toml::Table::new();
            entry.insert("path".into(), rel.into());
            entry.insert("use".into(), (*usage).into());
            list.push(entry.into());
        }
        product.insert(key.into(), list.into());
    }
    let monitor = if broken {
        r#"{"alerts":[{"id":"raid-degraded","text":"RAID array md0 is degraded (disk 2 missing)"}]}"#
    } else {
        r#"{"alerts":[]}"#
    };
    write_atomic(
        &root.resolve("var/lib/appliance/monitor.json"),
        monitor.as_bytes(),
    )?;
    if broken {
        // A small stand-in for a core dump: the rule counts files and bytes.
        write_atomic(
            &root.resolve("var/crash/core.sshd.4242"),
            &vec![0u8; 64 * 1024],
        )?;
    }
    Ok(product)
}
