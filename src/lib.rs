//! upgrade-console's front ends: the command line (`cli`, `commands`), the full-screen
//! console (`tui`) and the demo appliance (`demo`). Everything they act on is in the
//! terminal-free core crate, `upgrade_core`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod demo;
pub mod output;
pub mod progress_follow;
pub mod progress_view;
pub mod tui;
