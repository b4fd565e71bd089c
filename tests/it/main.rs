//! Integration tests: one binary, so the CLI and fixtures build once.

mod ansible;
mod bad_input;
mod browser;
mod calyptos;
mod check_cmd;
mod checks;
mod crash;
mod docs;
mod executor;
mod hostile;
mod html;
mod install;
mod integrity;
mod interrupt;
mod plugins;
mod reach;
mod roles;
mod schemas;
mod shards;
mod snapshots;
mod ssh;
mod support;
mod waivers;
