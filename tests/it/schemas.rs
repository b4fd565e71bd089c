//! Real output of each command against the JSON Schemas in `docs/schemas/`.

use serde_json::Value;

use crate::plugins::{lib, plugin_dir};
use crate::support::{repo, Test};

const FLEET: &str = "hosts:\n  web[01:02]:\n    address: 127.0.0.[2:3]\n  db01: 127.0.0.4\nroles:\n  web:\n    hosts: ['web[01:02]']\n    max: 1\n  db: [db01]\nclusters:\n  east: [web01, db01]\n";

fn check(schema: &str, doc: &Value) {
    check_in("docs/schemas", schema, doc);
}

/// `doc` against the schema file `schema` in the repository directory `dir`.
fn check_in(dir: &str, schema: &str, doc: &Value) {
    let path = repo().join(dir).join(schema);
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}\n{doc:#}", path.display());
}

#[test]
fn every_json_document_matches_its_schema() {
    let validate = Test::new()
        .yaml(FLEET)
        .args(["validate", "--format", "json"])
        .run();
    validate.code(1);
    check("results.schema.json", &validate.json());

    let t = Test::new().yaml(FLEET);
    let dir = plugin_dir(&t, &[("libfixture_ok.so", &lib("fixture_ok"))]);
    let debug = t
        .args(["debug", "--dry-run", "--format", "json", "--only", "fixture-echo"])
        .args(["--plugin-dir", &dir.display().to_string()])
        .run();
    debug.code(0);
    check("results.schema.json", &debug.json());
    check("debug.schema.json", &debug.json());

    let canned =
        "- host: web02\n  outcome: unreachable\n  message: refused\n- command: echo\n  stdout: \"hi\\n\"\n";
    let run = Test::new()
        .yaml(FLEET)
        .file("canned.yaml", canned.as_bytes())
        .args([
            "run",
            "--all",
            "--replay",
            "canned.yaml",
            "--format",
            "json",
            "--",
            "echo",
            "hi",
        ])
        .run();
    run.code(3);
    check("run.schema.json", &run.json());

    let roles = Test::new().yaml(FLEET).args(["roles", "--format", "json"]).run();
    roles.code(0);
    check("roles.schema.json", &roles.json());
    let calyptos = Test::new()
        .args(["roles", "--format", "json", "-c"])
        .args([crate::support::fixture("calyptos/examples-environment.vpc.yaml")
            .display()
            .to_string()])
        .run();
    calyptos.code(0);
    check("roles.schema.json", &calyptos.json());

    let hosts = Test::new()
        .yaml(FLEET)
        .args([
            "hosts",
            "--format",
            "json",
            "--no-ssh-config",
            "-J",
            "ops@127.0.0.9:2200",
            "--become",
        ])
        .run();
    hosts.code(0);
    check("hosts.schema.json", &hosts.json());

    // The schemas do reject: a document without its version, or with an unknown outcome.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/schemas/run.schema.json")).expect("schema"),
    )
    .expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let mut bad = run.json();
    bad["results"][0]["outcome"] = Value::from("fine");
    assert!(!validator.is_valid(&bad));
    if let Some(m) = bad.as_object_mut() {
        m.remove("schema_version");
    }
    assert!(!validator.is_valid(&bad));
}

/// A document against one of the SDK's schemas (`sdk/schemas/`).
fn check_sdk(schema: &str, doc: &Value) {
    check_in("sdk/schemas", schema, doc);
}

/// What plugins receive and what they report, as the host makes it and as the SDK's types make
/// it, against the SDK's schemas: the input for deployments of every profile, a command result
/// of every outcome, a finding of every status.
#[test]
fn plugin_input_results_and_findings_match_the_sdk_schemas() {
    use rolecall::remote::{HostResult, Outcome};
    use std::time::Duration;
    for file in [
        "deploy.example.yaml",
        "examples/demo.yaml",
        "tests/fixtures/calyptos/new-schema-vpcmido.yaml",
        "tests/fixtures/ansible/kubespray-inventory-local-hosts.ini",
    ] {
        let d = rolecall::deployment::load(&repo().join(file), None).expect("deployment");
        let hosts: Vec<String> = d.hosts.keys().cloned().collect();
        let reach = rolecall::remote::settings::Reach::default();
        // A part of the fleet (as `--limit` makes it): `others` and `members` are in the input.
        let (settings, _) = reach.resolve(&d, &hosts[..hosts.len().div_ceil(2)]);
        let fleet = serde_json::to_string(&rolecall::run::fleet_of(&d, &settings)).expect("fleet");
        let options = rolecall_plugin::Options {
            online: true,
            allow_nets: vec!["127.0.0.0/8".into()],
            ..Default::default()
        };
        let expect = [rolecall_plugin::ExpectKey {
            key: "services".into(),
            kind: "list".into(),
            description: "services running".into(),
            plugin: "services".into(),
        }];
        let run = rolecall::plugin::wire::PluginRun {
            plugin: "checks".into(),
            config: d.plugins.get("checks").cloned().unwrap_or_default(),
        };
        // As a plugin host gives it: the deployment named for the SDK's reuse.
        let input =
            rolecall::plugin::wire::plugin_input(&run, &options, &expect, Some("plugin-host-1"), &fleet);
        let doc: Value = serde_json::from_str(&input).expect("input JSON");
        check_sdk("plugin-input.schema.json", &doc);
        let read: rolecall_plugin::Input = serde_json::from_str(&input).expect("the SDK reads the input");
        assert_eq!(read.deployment.hosts.len(), hosts.len().div_ceil(2), "{file}");
        assert_eq!(
            read.deployment.hosts.len() + read.deployment.others.len(),
            hosts.len(),
            "{file}: the others are the rest"
        );
    }
    let outcomes = [
        Outcome::Exited(0),
        Outcome::Exited(3),
        Outcome::Signal("KILL".into()),
        Outcome::Timeout(Duration::from_secs(60)),
        Outcome::Lost("reset".into()),
        Outcome::Refused("outside".into()),
        Outcome::Unreachable("no route".into()),
        Outcome::HandshakeTimeout(Duration::from_secs(10)),
        Outcome::AuthFailed("publickey".into()),
        Outcome::BecomeFailed("needs a password".into()),
        Outcome::HostKeyUnknown("not known".into()),
        Outcome::HostKeyChanged("changed".into()),
        Outcome::Cancelled,
        Outcome::DryRun,
        Outcome::Error("internal".into()),
    ];
    for o in outcomes {
        let mut r = HostResult::failed("web01", o);
        r.stdout = "out\n".into();
        let doc = serde_json::to_value(r.to_command_result()).expect("JSON");
        check_sdk("command-result.schema.json", &doc);
    }
    let sdk = rolecall_plugin::CommandResult::exited("web01", 0, "ok\n", "");
    check_sdk(
        "command-result.schema.json",
        &serde_json::to_value(sdk).expect("JSON"),
    );
    for status in ["pass", "fail", "warn", "skip", "error"] {
        let f = rolecall_plugin::Finding {
            status: serde_json::from_value(Value::String(status.into())).expect("status"),
            check: "c".into(),
            host: Some("web01".into()),
            message: "m".into(),
            path: Some("roles.web".into()),
        };
        check_sdk("finding.schema.json", &serde_json::to_value(f).expect("JSON"));
    }
    // The schemas can fail: a made-up outcome, an `ok` without its exit code.
    let bad = serde_json::json!({"host": "a", "outcome": "exploded"});
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sdk/schemas/command-result.schema.json")).expect("schema"),
    )
    .expect("JSON");
    let v = jsonschema::validator_for(&schema).expect("schema");
    assert!(!v.is_valid(&bad));
    assert!(!v.is_valid(&serde_json::json!({"host": "a", "outcome": "ok"})));
}

/// The testing kit reads a deployment with the same code as a real run (the rolecall binary):
/// for deployments of every profile, the input a plugin gets under the kit equals the input
/// `validate` builds.
#[test]
fn the_testing_kit_gives_plugins_the_input_a_real_run_gives() {
    for file in [
        "deploy.example.yaml",
        "examples/demo.yaml",
        "tests/fixtures/calyptos/new-schema-vpcmido.yaml",
        "tests/fixtures/ansible/kubespray-inventory-local-hosts.ini",
    ] {
        let kit = rolecall_plugin::testing::Kit::from_file(repo().join(file));
        let kit_input = serde_json::to_value(kit.input_for("expectations")).expect("JSON");
        let d = rolecall::deployment::load(&repo().join(file), None).expect("deployment");
        let all: Vec<String> = d.hosts.keys().cloned().collect();
        let (settings, _) = rolecall::remote::settings::Reach::default().resolve(&d, &all);
        let fleet = serde_json::to_string(&rolecall::run::fleet(&d, &settings)).expect("fleet");
        let options = rolecall_plugin::Options {
            allow_nets: rolecall::run::allow_nets_from_env(),
            ..Default::default()
        };
        let run = rolecall::plugin::wire::PluginRun {
            plugin: "expectations".into(),
            config: d.plugins.get("expectations").cloned().unwrap_or_default(),
        };
        let mut host: Value = serde_json::from_str(&rolecall::plugin::wire::plugin_input(
            &run,
            &options,
            &[],
            None,
            &fleet,
        ))
        .expect("JSON");
        // No plugin is loaded here: no declared keys, which the SDK writes by leaving them out.
        assert_eq!(host["expect_keys"], serde_json::json!([]));
        host.as_object_mut().expect("object").remove("expect_keys");
        // The same document, key for key (the SDK's types keep every field rolecall sends).
        assert_eq!(kit_input, host, "{file}");
    }
}

/// SARIF against the format owner's schema (OASIS SARIF 2.1.0, tests/fixtures/sarif): a run with
/// failures and a waived one, and a deployment that does not load.
#[test]
fn sarif_matches_the_sarif_2_1_0_schema() {
    let waived = format!(
        "{FLEET}waivers:\n  - check: cardinality\n    hosts: \"web*\"\n    reason: known\n    expires: 2099-12-31\n  - check: cardinality\n    reason: known too\n"
    );
    for yaml in [FLEET.to_string(), waived] {
        let out = Test::new()
            .yaml(&yaml)
            .args(["validate", "--format", "sarif"])
            .run();
        check_in("tests/fixtures/sarif", "sarif-schema-2.1.0.json", &out.json());
    }
    let broken = Test::new()
        .yaml("hosts:\n  web01: {addres: 127.0.0.2}\n")
        .args(["validate", "--format", "sarif"])
        .run();
    broken.code(2);
    check_in("tests/fixtures/sarif", "sarif-schema-2.1.0.json", &broken.json());
}

/// The JSON names every reason for its exit code, the deciding one first.
#[test]
fn the_json_names_every_reason_for_its_exit_code() {
    let reasons = |doc: &Value| -> Vec<(u64, String)> {
        doc["summary"]["exit_reasons"]
            .as_array()
            .expect("exit_reasons")
            .iter()
            .map(|r| {
                (
                    r["exit_code"].as_u64().unwrap_or(0),
                    r["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let out = Test::new()
        .yaml(FLEET)
        .args(["validate", "--format", "json", "--only", "cardinality,nope"])
        .run();
    out.code(2);
    let doc = out.json();
    check("results.schema.json", &doc);
    assert_eq!(doc["summary"]["exit_code"], 2);
    let r = reasons(&doc);
    assert_eq!(
        r[0],
        (2, "no plugin is named `nope` (--only, --skip)".to_string()),
        "{r:?}"
    );
    assert!(
        r.iter().any(|(c, why)| *c == 1 && why.ends_with("failed check")),
        "{r:?}"
    );
    let ok = Test::new()
        .yaml("hosts:\n  web01: 127.0.0.2\nroles:\n  web:\n    hosts: [web01]\n    min: 1\n")
        .args(["validate", "--format", "json", "--only", "cardinality"])
        .run();
    ok.code(0);
    assert!(reasons(&ok.json()).is_empty());
    let broken = Test::new()
        .yaml("hosts:\n  web01: {addres: 127.0.0.2}\n")
        .args(["validate", "--format", "json"])
        .run();
    broken.code(2);
    let r = reasons(&broken.json());
    assert!(r[0].1.starts_with("the deployment did not load:"), "{r:?}");
}
