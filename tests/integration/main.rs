//! The integration tests, one program: one module per topic, and `support`, the one
//! module of helpers they share (the binary, a demo root, waits with deadlines, the
//! boot, recovery and rules labs). Fixtures live in fixtures/.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod activate_loop;
mod ansible_fleet;
mod ansible_ha;
mod appliance_vm;
mod boot_demo;
mod boot_flow;
mod boot_grubenv;
mod bundle_concurrent;
mod bundle_secrets;
mod cli_snapshots;
mod cli_spine;
mod error_text;
mod fixture_loaders;
mod free_space_loop;
mod fuzz_corpus;
mod ha_pair;
mod hash_form_fixtures;
mod hostile_paths;
mod iso_images;
mod json_schemas;
mod logserver_chromium;
mod logserver_hostile;
mod logserver_http;
mod powercut;
mod progress_cli;
mod recovery_hardening;
mod recovery_netns;
mod rules_config;
mod rules_demo;
mod rules_ssh;
mod rules_tls;
mod secrets_declared;
mod signed_firmware;
mod state_trust;
mod tui_serial;
mod tui_tmux;
