//! The upgrade state machine: the journal, activation, the boot phase (phase 1, commit,
//! rollback), phase 2, reboot (and its simulation on demo and test roots), and the
//! progress the running operation reports. The files they share are named in
//! `crate::state`; the boot marks are changed only by `slots::bootchooser`.
pub mod activate;
pub mod boot;
pub mod floor;
pub mod journal;
pub mod killpoint;
pub mod phase2;
pub mod progress;
pub mod reboot;
pub mod simulate;
pub mod steps;
