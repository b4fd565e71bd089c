//! Test fixture: a validator that reports once and then panics, and a debugger that panics
//! after its first command.

use rolecall_plugin::{export_plugins, Context, Debugger, Result, Validator};

#[derive(Debug, Default)]
pub struct Panics;

impl Validator for Panics {
    const NAME: &'static str = "fixture-panic";
    const DESCRIPTION: &'static str = "reports one pass, then panics";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        ctx.pass("before-panic", "reported before the panic");
        let hosts = ctx.all_hosts().len();
        panic!("fixture panic with {hosts} hosts");
    }
}

#[derive(Debug, Default)]
pub struct PanicsMidRun;

impl Debugger for PanicsMidRun {
    const NAME: &'static str = "fixture-panic-debug";
    const DESCRIPTION: &'static str = "runs `true` on every host, then panics";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let n = ctx.run("true", &names)?.len();
        panic!("fixture debugger panic after {n} results");
    }
}

export_plugins! {
    module: "fixture-panic",
    version: "0.0.1",
    validators: [Panics],
    debuggers: [PanicsMidRun],
}
