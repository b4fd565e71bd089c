//! Generic validators: before a run, check the `expect` sections that the generic debuggers
//! (`plugins/debuggers/generic`) will read, so a typo is a finding with its YAML path now rather
//! than a confusing result on every host later.

mod expectations;

pub use expectations::Expectations;

rolecall_plugin::export_plugins! {
    module: "generic-validators",
    version: env!("CARGO_PKG_VERSION"),
    validators: [Expectations],
    debuggers: [],
}
