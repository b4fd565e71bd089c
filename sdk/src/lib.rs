//! The `rolecall-plugin` SDK: what a rolecall validator or debugger plugin is built against.
//!
//! The plugin boundary (C ABI, safe traits, testing kit) lands here; see `ABI.md`.
