//! Conformance of the Eucalyptus profile with Calyptos's own role builder, on real environment
//! files (tests/fixtures/calyptos, provenance in its README). The expected maps are Calyptos's
//! output minus its two known bugs: only the last cluster kept, and `host:port` used as a host.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{fixture, mutations, Test};

const ENVIRONMENTS: &[&str] = &[
    "etc-environment",
    "examples-environment.vpc",
    "examples-ceph_euca",
    "examples-riak_euca",
    "examples-edge-source",
    "etc-cephenv",
    "etc-riakcsenv",
    "new-schema-edge",
    "new-schema-vpcmido",
];

fn roles_json(name: &str) -> Value {
    let path = fixture(&format!("calyptos/{name}.yaml"));
    let out = Test::new()
        .args(["roles", "--format", "json", "-c"])
        .args([path.to_str().expect("utf-8 path")])
        .run();
    out.code(0);
    out.json()
}

/// Calyptos's expected answers for `name` that are not crashes.
fn expectations(name: &str) -> Vec<(String, Value)> {
    ["v1-5f09e6e", "head"]
        .iter()
        .filter_map(|v| {
            let path = fixture(&format!("calyptos/expected_roles/{name}.roles.{v}.json"));
            // A fixture written for one schema has the answer of that schema's Calyptos only.
            let text = std::fs::read_to_string(&path).ok()?;
            let json: Value = serde_json::from_str(&text).expect("expected roles JSON");
            json.get("__error__").is_none().then(|| (v.to_string(), json))
        })
        .collect()
}

/// Upstream bug 2: `host:port` is a host plus a service port, not a host.
fn host_only(entry: &str) -> String {
    match entry.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.contains(':') => h.to_string(),
        _ => entry.to_string(),
    }
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(host_only).collect())
        .unwrap_or_default()
}

#[test]
fn every_environment_matches_calyptos_roles() {
    for name in ENVIRONMENTS {
        let ours = roles_json(name);
        let expected = expectations(name);
        assert!(!expected.is_empty(), "{name}: no usable expectation");
        let our_roles = ours["roles"].as_object().expect("roles object");
        for (version, exp) in &expected {
            for (role, hosts) in exp.as_object().expect("object") {
                if role == "cluster" {
                    for (cluster, members) in hosts.as_object().expect("cluster map") {
                        assert_eq!(
                            set(&ours["clusters"][cluster]),
                            set(members),
                            "{name} ({version}): cluster `{cluster}`"
                        );
                    }
                    continue;
                }
                let mine = our_roles.get(role).map(set).unwrap_or_default();
                if role == "all" {
                    // Upstream bug 3: hosts only in the midolman host mapping were left out of
                    // `all` (Calyptos HEAD). rolecall keeps every host.
                    let theirs = set(hosts);
                    let midolman = our_roles.get("midolman").map(set).unwrap_or_default();
                    assert!(theirs.is_subset(&mine), "{name} ({version}): role `all`");
                    let extra: BTreeSet<String> = mine.difference(&theirs).cloned().collect();
                    assert!(
                        extra.is_subset(&midolman),
                        "{name} ({version}): `all` has {extra:?}"
                    );
                    continue;
                }
                assert_eq!(mine, set(hosts), "{name} ({version}): role `{role}`");
            }
        }
        // Nothing invented: every role we emit is one Calyptos knew.
        for role in our_roles.keys() {
            assert!(
                expected.iter().any(|(_, e)| e.get(role).is_some()),
                "{name}: role `{role}` is not a Calyptos role"
            );
        }
    }
}

#[test]
fn every_cluster_is_kept() {
    // Regression guard for upstream bug 1 (only the last cluster survived).
    for name in ["examples-environment.vpc", "new-schema-edge"] {
        let ours = roles_json(name);
        let clusters: Vec<&String> = ours["clusters"].as_object().expect("clusters").keys().collect();
        assert_eq!(clusters, ["one", "two"], "{name}");
    }
    let vpc = roles_json("examples-environment.vpc");
    assert_eq!(
        set(&vpc["clusters"]["two"]),
        set(&serde_json::json!([
            "10.111.1.135",
            "10.111.5.101",
            "10.111.5.151"
        ]))
    );
}

#[test]
fn host_port_entries_become_a_host_and_a_service_port() {
    // Regression guard for upstream bug 2 (SSH silently aimed at the cassandra port).
    let vpc = roles_json("examples-environment.vpc");
    assert_eq!(vpc["roles"]["mido-cassandra"], serde_json::json!(["10.111.1.41"]));
    assert_eq!(vpc["service_ports"]["mido-cassandra"]["10.111.1.41"], 9160);
    assert_eq!(vpc["service_ports"]["mido-zookeeper"]["10.111.1.41"], 2181);
    assert_eq!(vpc["hosts"]["10.111.1.41"]["port"], 22);
    assert!(vpc["hosts"].get("10.111.1.41:9160").is_none());
}

#[test]
fn calyptos_hosts_default_to_root_and_flags_override() {
    let path = fixture("calyptos/etc-environment.yaml");
    let out = Test::new()
        .args([
            "roles", "--format", "json", "--user", "ops", "--port", "2200", "-c",
        ])
        .args([path.to_str().expect("utf-8 path")])
        .run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["hosts"]["10.113.10.1"]["user"], "ops");
    assert_eq!(json["hosts"]["10.113.10.1"]["port"], 2200);
    assert_eq!(json["profile"], "eucalyptus");
    let plain = roles_json("etc-environment");
    assert_eq!(plain["hosts"]["10.113.10.1"]["user"], "root");
}

#[test]
fn forcing_the_native_profile_on_an_environment_explains_the_unknown_key() {
    let path = fixture("calyptos/etc-environment.yaml");
    Test::new()
        .args(["roles", "--profile", "native", "-c"])
        .args([path.to_str().expect("utf-8 path")])
        .run()
        .code(2)
        .stderr_has("etc-environment.yaml:5:1: default_attributes: ")
        .stderr_has("unknown key `default_attributes`")
        .stdout_empty();
}

/// The Eucalyptus validators over every Calyptos environment, offline: no crash, no error, and
/// the real problems of each file reported with their line.
#[test]
fn eucalyptus_validators_report_the_real_problems_offline() {
    let euca = "euca-structure,euca-topology,euca-storage,euca-vpc,euca-repos,euca-reachability";
    let run = |file: &str| {
        let out = Test::new()
            .args([
                "validate",
                "-c",
                &fixture(&format!("calyptos/{file}")).display().to_string(),
            ])
            .args(["--only", euca, "--format", "json"])
            .run();
        let v = out.json();
        let errors: Vec<&serde_json::Value> = v["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|r| r["status"] == "error")
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        (out.code, v)
    };
    let has = |v: &serde_json::Value, status: &str, needle: &str| {
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["status"] == status && r["message"].as_str().is_some_and(|m| m.contains(needle)))
    };
    for file in [
        "etc-environment.yaml",
        "examples-ceph_euca.yaml",
        "examples-edge-source.yaml",
        "examples-riak_euca.yaml",
    ] {
        let (code, v) = run(file);
        assert_eq!(code, 0, "{file}: {v}");
    }
    // Not Eucalyptus environments: every Eucalyptus check skips, which checks nothing (exit 2).
    for file in ["etc-cephenv.yaml", "etc-riakcsenv.yaml"] {
        let (code, v) = run(file);
        assert_eq!(code, 2, "{file}: {v}");
        assert!(
            v["results"]
                .as_array()
                .expect("results")
                .iter()
                .all(|r| r["status"] == "skip"
                    && r["message"] == "not a Eucalyptus environment (no default_attributes.eucalyptus)"),
            "{file}: {v}"
        );
    }
    let (code, v) = run("examples-environment.vpc.yaml");
    assert_eq!(code, 1);
    assert!(
        has(
            &v,
            "fail",
            "cluster `one` uses netapp but lacks one.storage.vservername"
        ),
        "{v}"
    );
    // The Midonet mapping covers the CLC and all four NCs; the gateway is complete.
    assert!(has(&v, "pass", "CLC 10.111.1.41 is in the midolman host mapping"));
    assert!(has(&v, "pass", "NC 10.111.5.151 is in the midolman host mapping"));
    assert!(has(
        &v,
        "pass",
        "gateway c-06.qa1.eucalyptus-systems.com has a host, an IP and an interface"
    ));
    assert!(has(
        &v,
        "skip",
        "2 service endpoints; pass --online to probe them"
    ));
    let (code, v) = run("new-schema-edge.yaml");
    assert_eq!(code, 1);
    assert!(has(
        &v,
        "fail",
        "cluster `two` uses ceph-rbd but lacks two.storage.cephkeyringfile"
    ));
    // `console` is a valid section: the structure passes.
    assert!(has(&v, "pass", "the environment has every required section"));
    let storage = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["plugin"] == "euca-storage" && r["status"] == "fail")
        .expect("storage finding");
    assert_eq!(storage["location"]["line"], 36);
}

#[test]
fn ceph_bootstrap_monitor_in_every_form() {
    let env = |topology: &str| format!("name: c\ndefault_attributes:\n  ceph:\n{topology}");
    let roles = |yaml: &str| {
        let out = Test::new()
            .file("env.yml", yaml.as_bytes())
            .args(["roles", "--format", "json", "-c", "env.yml"])
            .run();
        out.code(0);
        out.json()["roles"].clone()
    };
    // `mon_bootstrap` as a mapping (older Calyptos): that host, even when not among `mons`.
    let r = roles(&env(
        "    topology:\n      mon_bootstrap: {ipaddr: 10.0.0.9, hostname: boot}\n      mons:\n        - {ipaddr: 10.0.0.1}\n      osds:\n        - {ipaddr: 10.0.0.2}\n",
    ));
    assert_eq!(r["mon-bootstrap"], serde_json::json!(["10.0.0.9"]));
    assert!(r["all"]
        .as_array()
        .expect("all")
        .contains(&serde_json::json!("10.0.0.9")));
    // Inline.
    let r = roles(&env("    topology:\n      mon_bootstrap: 10.0.0.8\n      mons: [{ipaddr: 10.0.0.1}]\n      osds: [{ipaddr: 10.0.0.2}]\n"));
    assert_eq!(r["mon-bootstrap"], serde_json::json!(["10.0.0.8"]));
    // The `init` mon otherwise; none at all is an error, as in Calyptos.
    let r = roles(&env("    topology:\n      mons: [{ipaddr: 10.0.0.1}, {ipaddr: 10.0.0.3, init: true}]\n      osds: [{ipaddr: 10.0.0.2}]\n"));
    assert_eq!(r["mon-bootstrap"], serde_json::json!(["10.0.0.3"]));
    Test::new()
        .file(
            "env.yml",
            env("    topology:\n      mons: [{ipaddr: 10.0.0.1}]\n      osds: [{ipaddr: 10.0.0.2}]\n")
                .as_bytes(),
        )
        .args(["roles", "-c", "env.yml"])
        .run()
        .code(2)
        .stderr_has("env.yml:5:13: default_attributes.ceph.topology.mons: no bootstrap monitor");
    Test::new()
        .file("env.yml", env("    config: {fsid: x}\n").as_bytes())
        .args(["roles", "-c", "env.yml"])
        .run()
        .code(2)
        .stderr_has("default_attributes.ceph: the `ceph` section has no `topology`");
}

#[test]
fn mutated_environments_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    for name in [
        "new-schema-vpcmido",
        "examples-environment.vpc",
        "examples-ceph_euca",
    ] {
        let text = std::fs::read_to_string(fixture(&format!("calyptos/{name}.yaml"))).expect("fixture");
        // Truncation, a dropped key, a list swapped for a scalar.
        let swap = |l: &str| l.replace("- ", "").replace(['[', ']'], "");
        for (cut, variant, mutated) in mutations(&text, swap) {
            let p = dir.path().join(format!("{name}-{cut}-{variant}.yaml"));
            std::fs::write(&p, mutated).expect("write");
            let _ = rolecall::deployment::load(&p, None);
        }
    }
}

/// Regression: Calyptos's role builder reads `eucalyptus.midonet.Gateways`; rolecall read only
/// `gateways` and silently left `midonet-gateway` empty. A key it does not read is a warning.
#[test]
fn vpcmido_gateways_in_either_spelling_and_unknown_keys_warned() {
    let text = std::fs::read_to_string(fixture("calyptos/new-schema-vpcmido.yaml")).expect("fixture");
    let gateways = |out: &crate::support::Output| {
        out.json()["roles"]["midonet-gateway"]
            .as_array()
            .expect("midonet-gateway role")
            .iter()
            .map(|h| h.as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let run = |yaml: &str| Test::new().yaml(yaml).args(["roles", "--format", "json"]).run();
    let lower = run(&text);
    lower.code(0);
    assert_eq!(gateways(&lower), ["10.111.1.190"]);
    let capital = run(&text.replace("      gateways:", "      Gateways:"));
    capital.code(0);
    assert_eq!(gateways(&capital), ["10.111.1.190"]);
    let unknown = run(&text.replace("      gateways:", "      gateway-hosts:"));
    unknown.stderr_has(
        "`gateway-hosts` in eucalyptus.midonet is not a key rolecall reads: any hosts it lists are not in the roles",
    );
}
