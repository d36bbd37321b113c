//! One module per command of SPEC §1; each turns core results into text or JSON and
//! an exit code.

pub mod activate;
pub mod boot;
pub mod bundle;
pub mod check;
pub mod cluster;
pub mod console;
pub mod demo;
pub mod phase2;
pub mod reboot;
pub mod recover;
pub mod serve_log;
pub mod status;
pub mod verify;
