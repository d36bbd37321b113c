//! The demo appliance's certificates, keys and `[product]` configuration, embedded in
//! the binary (assets/demo/): a good set that passes the demo firmware's rules and a
//! broken set that shows them at work. Throwaway keys, never for real use.

use crate::durable::write_atomic;
use crate::root::ApplianceRoot;

/// The `[[rules]]` of the demo's 7.3.1 firmware manifest (TOML, only `[[rules]]`).
pub const DEMO_RULES: &str = include_str!("../../assets/demo/rules.toml");
pub const PRODUCT_GOOD: &str = include_str!("../../assets/demo/product-good.toml");
pub const PRODUCT_BROKEN: &str = include_str!("../../assets/demo/product-broken.toml");

const CERTS: &str = "etc/appliance/certs";
const KEYS: &str = "etc/appliance/keys";

/// (directory under the root, file name, contents)
type DemoFile = (&'static str, &'static str, &'static [u8]);

macro_rules! demo_file {
    ($set:literal, $dir:expr, $name:literal) => {
        (
            $dir,
            $name,
            include_bytes!(concat!("../../assets/demo/", $set, "/", $name)),
        )
    };
}

const GOOD_FILES: &[DemoFile] = &[
    demo_file!("good", CERTS, "web.pem"),
    demo_file!("good", CERTS, "web.key"),
    demo_file!("good", CERTS, "internal-ca.pem"),
    demo_file!("good", CERTS, "ldap-client.pem"),
    demo_file!("good", CERTS, "timestamping.pem"),
    demo_file!("good", KEYS, "host_ed25519.pub"),
    demo_file!("good", KEYS, "host_ecdsa.pub"),
    demo_file!("good", KEYS, "backup_rsa.pub"),
];

// splunk-server.pem is named in product-broken.toml but deliberately not installed.
const BROKEN_FILES: &[DemoFile] = &[
    demo_file!("broken", CERTS, "web.pem"),
    demo_file!("broken", CERTS, "connection-policy.pem"),
    demo_file!("broken", CERTS, "smtp-server.pem"),
    demo_file!("broken", CERTS, "syslog-client.pem"),
    demo_file!("broken", CERTS, "timestamping.pem"),
    demo_file!("broken", KEYS, "host_ed25519.pub"),
    demo_file!("broken", KEYS, "host_dsa.pub"),
    demo_file!("broken", KEYS, "legacy_rsa768.pub"),
    demo_file!("broken", KEYS, "host_x509.pub"),
];

/// The `[product]` table of the good or broken demo configuration.
pub fn demo_product(broken: bool) -> std::io::Result<toml::Table> {
    let text = if broken { PRODUCT_BROKEN } else { PRODUCT_GOOD };
    let doc: toml::Table = toml::from_str(text)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    match doc.get("product") {
        Some(toml::Value::Table(t)) => Ok(t.clone()),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "demo product configuration has no [product] table",
        )),
    }
}

/// Writes the demo certificates (`etc/appliance/certs/`) and SSH keys
/// (`etc/appliance/keys/`) under `root`, good or broken, and returns the `[product]`
/// table that names them (with the other product settings the demo rules read).
pub fn install_demo_material(root: &ApplianceRoot, broken: bool) -> std::io::Result<toml::Table> {
    let files = if broken { BROKEN_FILES } else { GOOD_FILES };
    for (dir, name, bytes) in files {
        write_atomic(&root.resolve(dir).join(name), bytes)?;
    }
    demo_product(broken)
}
