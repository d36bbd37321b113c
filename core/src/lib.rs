//! upgrade-console's core: everything the product does, with no terminal and no
//! command line. The appliance and its files, the firmware image, the upgrade test,
//! the slots, the upgrade state machine, recovery, the boot log server, the support
//! bundle and the reports. Front ends (the CLI and the console) sit on top of it.
#![forbid(unsafe_code)]

pub mod appliance;
pub mod check;
pub mod image;
pub mod logserver;
pub mod recovery;
pub mod report;
pub mod slots;
pub mod state;
pub mod support;
pub mod upgrade;
