//! Test fixture: a well-behaved library with one validator and one debugger.

use rolecall_plugin::{export_plugins, Context, Debugger, Expect, Result, Validator};

#[derive(Debug, Default)]
pub struct AlwaysOk;

impl Validator for AlwaysOk {
    const NAME: &'static str = "fixture-ok";
    const DESCRIPTION: &'static str = "always passes; reports each role";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let roles: Vec<String> = ctx.roles().iter().map(|r| r.name.clone()).collect();
        for role in roles {
            ctx.pass("role-seen", format!("saw role `{role}`"))
                .path(format!("roles.{role}"));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Echo;

impl Debugger for Echo {
    const NAME: &'static str = "fixture-echo";
    const DESCRIPTION: &'static str = "runs `echo` on every host";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "greeting",
        kind: "string",
        description: "what echo should say",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        for r in ctx.run("echo hello", &names)? {
            if r.success() {
                ctx.pass("echo", r.stdout.trim()).host(&r.host);
            } else {
                ctx.fail("echo", format!("{}: {}", r.outcome, r.error.unwrap_or_default()))
                    .host(&r.host);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct AsRoot;

impl Debugger for AsRoot {
    const NAME: &'static str = "fixture-root";
    const DESCRIPTION: &'static str = "runs `id -un` through sudo as root on every host";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        for r in ctx.run_as("root", "id -un", &names)? {
            if r.success() {
                ctx.pass("as-root", r.stdout.trim()).host(&r.host);
            } else {
                ctx.fail(
                    "as-root",
                    format!("{}: {}", r.outcome, r.error.unwrap_or_default()),
                )
                .host(&r.host);
            }
        }
        Ok(())
    }
}

export_plugins! {
    module: "fixture-ok",
    version: "1.2.3",
    validators: [AlwaysOk],
    debuggers: [Echo, AsRoot],
}
