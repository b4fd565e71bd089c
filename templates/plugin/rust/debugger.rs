//! `{{name}}`: a rolecall debugger. It runs a command on every host (over SSH, through
//! rolecall) and reports a result per host. See the SDK's `docs/plugins.md` for the context.

use rolecall_plugin::{export_plugins, Context, Debugger, Result};

#[derive(Debug, Default)]
pub struct {{type}};

impl Debugger for {{type}} {
    const NAME: &'static str = "{{name}}";
    const DESCRIPTION: &'static str = "every host answers `uname -s`";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        for r in ctx.run("uname -s", &names)? {
            if r.success() {
                ctx.pass("uname", format!("runs {}", r.stdout.trim())).host(&r.host);
            } else {
                let why = r.error.clone().unwrap_or_else(|| format!("exit {:?}", r.exit_code));
                ctx.fail("uname", format!("{}: {why}", r.outcome)).host(&r.host);
            }
        }
        Ok(())
    }
}

export_plugins! {
    module: "{{name}}",
    version: env!("CARGO_PKG_VERSION"),
    validators: [],
    debuggers: [{{type}}],
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{CommandResult, Status};

    #[test]
    fn every_host_that_answers_passes() {
        let mut kit = Kit::from_deployment("hosts: {web01: 127.0.0.2}\n");
        kit.canned("web01", "uname", CommandResult::exited("web01", 0, "Linux\n", ""));
        let r = kit.debug(&{{type}});
        r.assert_status("uname", Some("web01"), Status::Pass);
    }
}
