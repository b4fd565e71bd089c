//! Real output of each command against the JSON Schemas in `docs/schemas/`.

use serde_json::Value;

use crate::plugins::{lib, plugin_dir};
use crate::support::{repo, Test};

const FLEET: &str = "hosts:\n  web[01:02]:\n    address: 127.0.0.[2:3]\n  db01: 127.0.0.4\nroles:\n  web:\n    hosts: ['web[01:02]']\n    max: 1\n  db: [db01]\nclusters:\n  east: [web01, db01]\n";

fn check(schema: &str, doc: &Value) {
    let path = repo().join("docs/schemas").join(schema);
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
