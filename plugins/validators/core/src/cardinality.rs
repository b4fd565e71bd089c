use rolecall_plugin::{Context, Result, Validator};

/// Each role's host count within its `min`/`max`.
#[derive(Debug, Default)]
pub struct Cardinality;

impl Validator for Cardinality {
    const NAME: &'static str = "cardinality";
    const DESCRIPTION: &'static str = "each role has between `min` and `max` hosts";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let rules: Vec<_> = ctx
            .roles()
            .iter()
            .filter(|r| r.min.is_some() || r.max.is_some())
            .map(|r| (r.name.clone(), r.hosts.len(), r.min, r.max))
            .collect();
        if rules.is_empty() {
            ctx.skip("role-cardinality", "no role sets `min` or `max`");
        }
        for (role, n, min, max) in rules {
            let hosts = if n == 1 { "host" } else { "hosts" };
            match (min, max) {
                (Some(min), _) if n < min => {
                    ctx.fail(
                        "role-cardinality",
                        format!("role `{role}` has {n} {hosts}, fewer than min {min}"),
                    )
                    .path(format!("roles.{role}.min"));
                }
                (_, Some(max)) if n > max => {
                    ctx.fail(
                        "role-cardinality",
                        format!("role `{role}` has {n} {hosts}, more than max {max}"),
                    )
                    .path(format!("roles.{role}.max"));
                }
                _ => {
                    ctx.pass("role-cardinality", format!("role `{role}` has {n} {hosts}"))
                        .path(format!("roles.{role}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    #[test]
    fn below_min_above_max_and_within() {
        let kit = Kit::from_yaml(
            "hosts: {a: 127.0.0.2, b: 127.0.0.3, c: 127.0.0.4}\n\
             roles:\n  clc: {hosts: [a, b], max: 1}\n  nc: {hosts: [c], min: 2}\n  web: {hosts: [a], min: 1, max: 1}\n",
        );
        let r = kit.validate(&Cardinality);
        r.assert_ok();
        assert_eq!(r.count(Status::Fail), 2);
        let f = &r.findings[0];
        assert_eq!(f.message, "role `clc` has 2 hosts, more than max 1");
        assert_eq!(f.path.as_deref(), Some("roles.clc.max"));
        assert_eq!(r.findings[1].message, "role `nc` has 1 host, fewer than min 2");
        assert_eq!(r.findings[2].status, Status::Pass);
    }

    #[test]
    fn nothing_to_check_is_a_skip() {
        let r = Kit::from_yaml("hosts: {a: 127.0.0.2}\nroles: {web: [a]}\n").validate(&Cardinality);
        r.assert_status("role-cardinality", None, Status::Skip);
    }
}
