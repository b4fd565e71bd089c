//! `{{name}}`: a rolecall validator. It reads the deployment through `ctx` and reports a
//! result per role. See the SDK's `docs/plugins.md` for the whole context.

use rolecall_plugin::{export_plugins, Context, Result, Validator};

#[derive(Debug, Default)]
pub struct {{type}};

impl Validator for {{type}} {
    const NAME: &'static str = "{{name}}";
    const DESCRIPTION: &'static str = "every role has at least one host";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let roles: Vec<(String, usize)> = ctx.roles().iter().map(|r| (r.name.clone(), r.hosts.len())).collect();
        for (role, n) in roles {
            if n == 0 {
                ctx.fail("non-empty", format!("role `{role}` has no hosts")).path(format!("roles.{role}"));
            } else {
                ctx.pass("non-empty", format!("role `{role}` has {n} hosts")).path(format!("roles.{role}"));
            }
        }
        Ok(())
    }
}

export_plugins! {
    module: "{{name}}",
    version: env!("CARGO_PKG_VERSION"),
    validators: [{{type}}],
    debuggers: [],
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    #[test]
    fn roles_with_hosts_pass() {
        let kit = Kit::from_deployment("hosts: {web01: 127.0.0.2}\nroles: {web: [web01]}\n");
        let r = kit.validate(&{{type}});
        r.assert_status("non-empty", None, Status::Pass);
    }
}
