//! upgrade-console's core: everything the product does, with no terminal and no
//! command line. The appliance and its files, the firmware image, the upgrade test,
//! the slots, the upgrade state machine, recovery, the boot log server, the support
//! bundle and the reports. Front ends (the CLI and the console) sit on top of it.
#![forbid(unsafe_code)]

pub mod appliance;
pub mod check;
pub mod ha;
pub mod image;
pub mod logserver;
pub mod recovery;
pub mod report;
pub mod slots;
pub mod state;
pub mod support;
pub mod upgrade;

#[cfg(test)]
mod boundary {
    /// The core returns its own error enums; anyhow belongs to the front ends
    /// (STYLE.md habit 7). Its manifest, not a convention, keeps it so.
    #[test]
    fn the_core_depends_on_no_anyhow_and_no_terminal_crate() {
        let manifest: toml::Table = toml::from_str(include_str!("../Cargo.toml")).unwrap();
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(table).and_then(|t| t.as_table()) else {
                continue;
            };
            for banned in [
                "anyhow",
                "color-eyre",
                "eyre",
                "ratatui",
                "crossterm",
                "clap",
            ] {
                assert!(
                    !deps.contains_key(banned),
                    "core/Cargo.toml [{table}] has \"{banned}\": the core must not depend on it"
                );
            }
        }
    }
}
