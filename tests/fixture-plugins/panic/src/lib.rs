//! Test fixture: a validator that reports once and then panics.

use rolecall_plugin::{export_plugins, Context, Result, Validator};

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

export_plugins! {
    module: "fixture-panic",
    version: "0.0.1",
    validators: [Panics],
    debuggers: [],
}
