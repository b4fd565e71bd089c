//! `euca-topology`: every cluster has a CC, an SC and node controllers; a CLC and user-facing
//! hosts exist; and no host serves in two clusters. (Calyptos's check looked for the host's
//! address inside the cluster's *name*, so it never found a duplicate.)

use std::collections::BTreeMap;

use rolecall_plugin::{Context, Result, Validator};

use crate::env::{self, TOPOLOGY};

#[derive(Debug, Default)]
pub struct Topology;

const CHECK: &str = "euca-topology";

impl Validator for Topology {
    const NAME: &'static str = "euca-topology";
    const DESCRIPTION: &'static str =
        "clusters complete (CC, SC, NCs), CLC and UFS present, no host in two clusters";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let Some(doc) = crate::environment(ctx, CHECK) else {
            return Ok(());
        };
        let Some(topology) = env::topology(&doc) else {
            ctx.fail(CHECK, "no topology").path(TOPOLOGY);
            return Ok(());
        };
        let clc = env::clc(topology);
        if clc.is_empty() {
            ctx.fail(CHECK, "no CLC").path(TOPOLOGY);
        } else {
            ctx.pass(CHECK, format!("CLC: {}", clc.join(", ")));
        }
        if env::list(topology.get("user-facing")).is_empty() {
            ctx.fail(CHECK, "no user-facing services host")
                .path(format!("{TOPOLOGY}.user-facing"));
        }
        let clusters = env::clusters(topology);
        if clusters.is_empty() {
            ctx.fail(CHECK, "no clusters")
                .path(format!("{TOPOLOGY}.clusters"));
        }
        // host -> clusters it appears in (any component).
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in &clusters {
            let path = format!("{TOPOLOGY}.clusters.{}", c.name);
            if c.cc.is_empty() || c.sc.is_empty() {
                ctx.fail(CHECK, format!("cluster `{}` lacks a CC or an SC", c.name))
                    .path(&path);
            } else if c.nodes.is_empty() {
                ctx.fail(CHECK, format!("cluster `{}` has no node controllers", c.name))
                    .path(format!("{path}.nodes"));
            } else {
                ctx.pass(
                    CHECK,
                    format!("cluster `{}`: CC, SC and {} NCs", c.name, c.nodes.len()),
                )
                .path(&path);
            }
            for h in c.cc.iter().chain(&c.sc).chain(&c.nodes) {
                let list = seen.entry(h.clone()).or_default();
                if !list.contains(&c.name) {
                    list.push(c.name.clone());
                }
            }
        }
        for (host, in_clusters) in seen.iter().filter(|(_, c)| c.len() > 1) {
            ctx.fail(
                CHECK,
                format!("{host} is in several clusters: {}", in_clusters.join(", ")),
            )
            .path(format!("{TOPOLOGY}.clusters.{}", in_clusters[1]))
            .host(host);
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
    fn duplicate_host_across_clusters_is_found() {
        let yaml = "default_attributes:\n  eucalyptus:\n    topology:\n      clc-1: 10.0.0.1\n      user-facing: [10.0.0.1]\n      \
                    clusters:\n        one: {cc-1: 10.0.0.2, sc-1: 10.0.0.2, nodes: 10.0.0.3 10.0.0.4}\n        \
                    two: {cc-1: 10.0.0.5, sc-1: 10.0.0.5, nodes: 10.0.0.4}\n";
        let r = Kit::from_yaml(yaml).validate(&Topology);
        let f = r.find(CHECK, Some("10.0.0.4"));
        assert_eq!(f.len(), 1, "{:?}", r.findings);
        assert_eq!(f[0].message, "10.0.0.4 is in several clusters: one, two");
        assert_eq!(r.count(Status::Fail), 1);
    }

    #[test]
    fn incomplete_cluster_fails() {
        let yaml = "default_attributes:\n  eucalyptus:\n    topology:\n      clc: [10.0.0.1]\n      user-facing: [10.0.0.1]\n      \
                    clusters:\n        one: {cc: [10.0.0.2], sc: [10.0.0.2]}\n";
        let r = Kit::from_yaml(yaml).validate(&Topology);
        assert!(r
            .find(CHECK, None)
            .iter()
            .any(|f| f.message == "cluster `one` has no node controllers"));
    }
}
