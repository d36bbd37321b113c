//! The node's HA role lives in appliance.toml (`ha.role`); the role swap rewrites that
//! one value in place, keeping the operator's comments and layout, and only after the
//! edited file still parses as a valid configuration.

use crate::appliance::config::{Config, HaRole};
use crate::appliance::root::ApplianceRoot;

pub fn set(root: &ApplianceRoot, role: HaRole) -> Result<(), String> {
    let path = root.config_file();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read \"{}\": {e}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("\"{}\" is not valid TOML: {e}", path.display()))?;
    let name = crate::ha::link::role_name(role);
    let Some(ha) = doc.get_mut("ha").and_then(|h| h.as_table_like_mut()) else {
        return Err(format!("\"{}\" has no [ha] section", path.display()));
    };
    if ha.get("role").and_then(|r| r.as_str()) == Some(name) {
        return Ok(());
    }
    ha.insert("role", toml_edit::value(name));
    let new = doc.to_string();
    // Never write a file the next start could not read.
    let parsed = Config::parse(&new, &path).map_err(|e| e.to_string())?;
    if parsed.ha.map(|h| h.role) != Some(role) {
        return Err(format!("the role in \"{}\" did not change", path.display()));
    }
    crate::appliance::durable::write_atomic(&path, new.as_bytes())
        .map_err(|e| format!("cannot write \"{}\": {e}", path.display()))?;
    log::info!("ha: this node's role is now {name}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swap_keeps_comments_and_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = ApplianceRoot::new(dir.path());
        std::fs::create_dir_all(dir.path().join("etc/appliance")).unwrap();
        let text = "[appliance]\nproduct = \"sps\"\nhostname = \"n1\"\n\n[slots]\nA = \"a.img\"\nB = \"b.img\"\n\n# the pair\n[ha]\nrole = \"secondary\" # set by the swap\npeer = \"10.0.0.1\"\n";
        std::fs::write(root.config_file(), text).unwrap();
        set(&root, HaRole::Primary).unwrap();
        let after = std::fs::read_to_string(root.config_file()).unwrap();
        assert!(after.contains("# the pair"), "{after}");
        assert!(after.contains("role = \"primary\""), "{after}");
        let c = Config::load(&root).unwrap();
        assert_eq!(c.ha.unwrap().role, HaRole::Primary);
    }
}
