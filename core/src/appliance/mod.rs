//! The appliance the console runs on: its root, its configuration, the one durable
//! write, the safe opens and the console log.
pub mod config;
pub mod console_log;
pub mod durable;
pub mod root;
pub mod safe_open;
