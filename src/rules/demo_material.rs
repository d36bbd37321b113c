//! placeholder
pub const DEMO_RULES: &str = "";
pub fn install_demo_material(
    _root: &crate::root::ApplianceRoot,
    _broken: bool,
) -> std::io::Result<toml::Table> {
    Ok(toml::Table::new())
}
