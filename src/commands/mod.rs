//! One module per command of SPEC §1; each turns core results into text or JSON and
//! an exit code.

pub mod bundle;
pub mod check;
pub mod cluster;
pub mod console;
pub mod demo;
pub mod recover;
pub mod serve_log;
pub mod status;
pub mod verify;
