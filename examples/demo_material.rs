//! Installs the rules demo material into an appliance root and merges its
//! `[product]` into etc/appliance/appliance.toml:
//! `cargo run --example demo_material -- ROOT good|broken`.

use upgrade_console::root::ApplianceRoot;
use upgrade_console::rules::demo_material::install_demo_material;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(which)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: demo_material ROOT good|broken");
    };
    let root = ApplianceRoot::new(dir);
    let product = install_demo_material(&root, which == "broken")?;
    let path = root.config_file();
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
    let mut merged = doc
        .get("product")
        .and_then(|p| p.as_table())
        .cloned()
        .unwrap_or_default();
    merged.extend(product);
    doc.insert("product".into(), toml::Value::Table(merged));
    upgrade_console::durable::write_atomic(&path, toml::to_string(&doc)?.as_bytes())?;
    println!("{which} demo material installed under {dir}");
    Ok(())
}
