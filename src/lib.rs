//! upgrade-console: takes an appliance from one firmware version to the next from its
//! own console without bricking it, and brings it back within reach when it fails.
//!
//! The core (versions, manifest, configuration, checks, slots, journal) has no
//! terminal code; `commands` and the console front end sit on top of it.
#![forbid(unsafe_code)]

pub mod activate;
pub mod boot;
pub mod bundle;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod console_log;
pub mod demo;
pub mod durable;
pub mod finding;
pub mod grubenv;
pub mod hash_forms;
pub mod image_hash;
pub mod iso;
pub mod iso_build;
pub mod journal;
pub mod killpoint;
pub mod logserver;
pub mod manifest;
pub mod phase2;
pub mod progress;
pub mod reboot;
pub mod recovery;
pub mod root;
pub mod rules;
pub mod slot_io;
pub mod slot_status;
pub mod space;
pub mod status;
pub mod steps;
pub mod tui;
pub mod upgrade_path;
pub mod verify;
pub mod version;
