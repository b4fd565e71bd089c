//! `euca-structure`: the environment has what a Eucalyptus deployment needs, in either schema:
//! a name, a network mode, a CLC, user-facing hosts, clusters, repositories, and the right types
//! for the optional sections. Unlike Calyptos's schema, sections it did not list (`console`,
//! `objectstorage`, `midonet`, ...) are accepted.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Result, Validator};

use crate::env::{self, EUCA, TOPOLOGY};

#[derive(Debug, Default)]
pub struct Structure;

const CHECK: &str = "euca-structure";

/// (path, kind, required) for the keys whose type is checked.
const TYPED: &[(&str, &str, bool)] = &[
    ("name", "string", true),
    ("description", "string", false),
    ("cookbook_versions", "mapping", false),
    ("override_attributes", "mapping", false),
    ("default_attributes.eucalyptus.network", "mapping", true),
    ("default_attributes.eucalyptus.network.mode", "string", true),
    (
        "default_attributes.eucalyptus.network.bridge-interface",
        "string",
        false,
    ),
    (
        "default_attributes.eucalyptus.network.config-json",
        "mapping",
        false,
    ),
    (
        "default_attributes.eucalyptus.network.config-json.PublicIps",
        "list",
        false,
    ),
    (
        "default_attributes.eucalyptus.network.config-json.InstanceDnsServers",
        "list",
        false,
    ),
    ("default_attributes.eucalyptus.topology", "mapping", true),
    ("default_attributes.eucalyptus.topology.clusters", "mapping", true),
    ("default_attributes.eucalyptus.topology.user-facing", "list", true),
    ("default_attributes.eucalyptus.eucalyptus-repo", "string", false),
    ("default_attributes.eucalyptus.euca2ools-repo", "string", false),
    (
        "default_attributes.eucalyptus.system-properties",
        "mapping",
        false,
    ),
    ("default_attributes.eucalyptus.nc", "mapping", false),
];

fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

fn kind_ok(v: &Value, kind: &str) -> bool {
    match kind {
        "string" => v.is_string(),
        "mapping" => v.is_object(),
        "list" => v.is_array(),
        _ => true,
    }
}

impl Validator for Structure {
    const NAME: &'static str = "euca-structure";
    const DESCRIPTION: &'static str = "Eucalyptus environment structure, legacy and new topology schemas";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let Some(doc) = crate::environment(ctx, CHECK) else {
            return Ok(());
        };
        let mut problems = 0;
        for (path, kind, required) in TYPED {
            match at(&doc, path) {
                Some(v) if kind_ok(v, kind) => {}
                Some(v) => {
                    problems += 1;
                    let got = if v.is_null() {
                        "nothing".to_string()
                    } else {
                        format!("{v}")
                    };
                    ctx.fail(CHECK, format!("`{path}` must be a {kind}, not {got}"))
                        .path(*path);
                }
                None if *required => {
                    problems += 1;
                    ctx.fail(CHECK, format!("`{path}` is missing")).path(*path);
                }
                None => {}
            }
        }
        if let Some(topology) = env::topology(&doc) {
            if env::clc(topology).is_empty() {
                problems += 1;
                ctx.fail(
                    CHECK,
                    "no CLC: set `topology.clc-1` (legacy) or `topology.clc: [..]`",
                )
                .path(TOPOLOGY);
            }
            for c in env::clusters(topology) {
                let base = format!("{TOPOLOGY}.clusters.{}", c.name);
                for (key, hosts) in [(c.cc_key, &c.cc), (c.sc_key, &c.sc), ("nodes", &c.nodes)] {
                    if hosts.is_empty() {
                        problems += 1;
                        ctx.fail(CHECK, format!("cluster `{}` has no `{key}`", c.name))
                            .path(format!("{base}.{key}"));
                    }
                }
            }
        }
        for repo in ["eucalyptus-repo", "euca2ools-repo"] {
            if at(&doc, &format!("{EUCA}.{repo}")).is_none()
                && at(&doc, &format!("{EUCA}.install-type")).is_none()
            {
                ctx.warn(
                    CHECK,
                    format!("no `{repo}`: packages come from the hosts' default repositories"),
                )
                .path(format!("{EUCA}.{repo}"));
            }
        }
        if problems == 0 {
            ctx.pass(
                CHECK,
                "the environment has every required section, with the right types",
            );
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
    fn new_schema_with_console_passes_and_gaps_fail() {
        let ok = "name: x\ndefault_attributes:\n  eucalyptus:\n    eucalyptus-repo: http://r/\n    euca2ools-repo: http://t/\n    \
                  network: {mode: EDGE}\n    topology:\n      clc: [10.0.0.1]\n      user-facing: [10.0.0.1]\n      console: [10.0.0.9]\n      \
                  clusters:\n        one: {cc: [10.0.0.2], sc: [10.0.0.2], nodes: [10.0.0.3]}\n";
        let r = Kit::from_yaml(ok).validate(&Structure);
        r.assert_status(CHECK, None, Status::Pass);
        let bad = "name: x\ndefault_attributes:\n  eucalyptus:\n    network: {}\n    topology:\n      user-facing: 10.0.0.1\n      \
                   clusters:\n        one: {cc-1: 10.0.0.2, nodes: ''}\n";
        let r = Kit::from_yaml(bad).validate(&Structure);
        let msgs: Vec<String> = r.find(CHECK, None).iter().map(|f| f.message.clone()).collect();
        for want in [
            "`default_attributes.eucalyptus.network.mode` is missing",
            "`default_attributes.eucalyptus.topology.user-facing` must be a list, not \"10.0.0.1\"",
            "no CLC",
            "cluster `one` has no `sc-1`",
            "cluster `one` has no `nodes`",
            "no `eucalyptus-repo`",
        ] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want:?} not in {msgs:#?}");
        }
    }

    #[test]
    fn other_documents_are_skipped() {
        Kit::from_yaml("hosts: {a: 127.0.0.2}\n")
            .validate(&Structure)
            .assert_status(CHECK, None, Status::Skip);
    }
}
