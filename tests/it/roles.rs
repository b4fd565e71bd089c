//! `rolecall roles` on the native format: the table, the JSON contract, ordering, flags.

use crate::support::{repo, Test};

const FLEET: &str = "\
ssh:
  user: deploy
hosts:
  web[01:03]:
    address: 127.0.0.[2:4]
  db01: {address: 127.0.0.9, port: 2222, user: postgres}
roles:
  web:
    - web[01:03]
  db: [db01]
  edge: [web03, web01, web03]
clusters:
  east: [web01, db01]
";

#[test]
fn json_has_roles_clusters_and_effective_endpoints_in_file_order() {
    let out = Test::new().yaml(FLEET).args(["roles", "--format", "json"]).run();
    out.code(0);
    let j = out.json();
    let roles: Vec<&String> = j["roles"].as_object().expect("roles").keys().collect();
    assert_eq!(roles, ["web", "db", "edge", "all"]);
    // Duplicates fold, first occurrence wins the position.
    assert_eq!(j["roles"]["edge"], serde_json::json!(["web03", "web01"]));
    assert_eq!(
        j["roles"]["all"],
        serde_json::json!(["web01", "web02", "web03", "db01"])
    );
    assert_eq!(j["clusters"]["east"], serde_json::json!(["web01", "db01"]));
    assert_eq!(
        j["hosts"]["web02"],
        serde_json::json!({"address": "127.0.0.3", "port": 22, "user": "deploy"})
    );
    assert_eq!(
        j["hosts"]["db01"],
        serde_json::json!({"address": "127.0.0.9", "port": 2222, "user": "postgres"})
    );
}

#[test]
fn flags_override_the_file() {
    let out = Test::new()
        .yaml(FLEET)
        .args(["roles", "--format", "json", "--user", "ops", "--port", "2200"])
        .run();
    out.code(0);
    assert_eq!(
        out.json()["hosts"]["db01"],
        serde_json::json!({"address": "127.0.0.9", "port": 2200, "user": "ops"})
    );
}

#[test]
fn table_folds_ranges_and_has_no_colour_off_a_terminal() {
    let out = Test::new().yaml(FLEET).args(["roles"]).run();
    out.code(0).stdout_has("web[01-03]").stdout_has("east");
    assert!(
        !out.stdout.contains('\x1b'),
        "escape codes off a terminal:\n{}",
        out.stdout
    );
    out.stderr_has("4 hosts, 3 roles, 1 cluster (native profile, deploy.yaml)");
}

#[test]
fn color_always_colours_but_no_color_env_wins_for_auto() {
    let out = Test::new().yaml(FLEET).args(["roles", "--color", "always"]).run();
    assert!(out.stdout.contains('\x1b'), "expected colour:\n{}", out.stdout);
    let out = Test::new().yaml(FLEET).args(["roles", "--color", "auto"]).run();
    assert!(!out.stdout.contains('\x1b'));
}

#[test]
fn shipped_example_loads() {
    let example = repo().join("deploy.example.yaml");
    let out = Test::new()
        .args(["roles", "--format", "json", "-c"])
        .args([example.to_str().expect("utf-8")])
        .run();
    out.code(0);
    let j = out.json();
    assert_eq!(
        j["roles"]["node-controller"],
        serde_json::json!(["nc01", "nc02", "nc03", "nc04"])
    );
    // Every address in the example is loopback: README commands are safe anywhere.
    for (name, host) in j["hosts"].as_object().expect("hosts") {
        let addr = host["address"].as_str().expect("address");
        assert!(addr.starts_with("127."), "{name} has non-loopback address {addr}");
    }
}

#[test]
fn interpolation_defaults_and_values() {
    let yaml = "ssh: {user: '${RC_IT_USER:-fallback}'}\nhosts:\n  a: '${RC_IT_ADDR}'\n";
    let out = Test::new()
        .yaml(yaml)
        .env("RC_IT_ADDR", "127.0.0.5")
        .args(["roles", "--format", "json"])
        .run();
    out.code(0);
    // Resolved at load time, but what came from the environment is printed by name (it may be
    // a secret); a default written in the file is printed as is.
    assert_eq!(out.json()["hosts"]["a"]["address"], "${RC_IT_ADDR}");
    assert_eq!(out.json()["hosts"]["a"]["user"], "fallback");
    let d = rolecall::deployment::load_str("d.yaml", "hosts:\n  a: '${RC_IT_ADDR_2:-127.0.0.6}'\n", None)
        .expect("loads");
    assert_eq!(d.hosts["a"].address, "127.0.0.6");
}

#[test]
fn help_documents_exit_codes() {
    let out = Test::new().args(["--help"]).run();
    out.code(0)
        .stdout_has("Exit codes:")
        .stdout_has("3  some hosts were unreachable");
}

#[test]
fn merge_keys_and_x_keys_are_applied_and_errors_still_have_a_place() {
    let yaml = "x-defaults: &defaults\n  min: 1\n  expect:\n    services: [sshd]\nhosts:\n  db01: 127.0.0.5\n  db02: 127.0.0.6\nroles:\n  db:\n    <<: *defaults\n    hosts: [db01, db02]\n";
    let out = Test::new().yaml(yaml).args(["roles", "--format", "json"]).run();
    out.code(0);
    assert_eq!(out.json()["roles"]["db"], serde_json::json!(["db01", "db02"]));
    let bad = format!("{yaml}  web:\n    <<: *defaults\n    hosts: [db01]\n    max: 0\n");
    Test::new()
        .yaml(&bad)
        .args(["roles"])
        .run()
        .code(2)
        .stderr_has("deploy.yaml:13:7: roles.web.min: `min` (1) is greater than `max` (0)");
    Test::new()
        .yaml("hosts:\n  a: 127.0.0.5\nroles:\n  r:\n    hosts: *nope\n")
        .args(["roles"])
        .run()
        .code(2)
        .stderr_has("deploy.yaml:5:12")
        .stderr_has("`*nope` refers to an anchor `&nope` that is not defined before it");
}

/// The demo's deployment loads, passes the shipped validators, and stays on loopback.
#[test]
fn demo_deployment_validates_and_is_loopback_only() {
    let demo = repo().join("examples/demo.yaml");
    let demo = demo.to_str().expect("utf-8");
    let out = Test::new()
        .args(["validate", "-c", demo, "--format", "json"])
        .run();
    out.code(0);
    assert_eq!(out.json()["summary"]["total"]["fail"], 0);
    let roles = Test::new().args(["roles", "--format", "json", "-c", demo]).run();
    roles.code(0);
    for (name, host) in roles.json()["hosts"].as_object().expect("hosts") {
        let addr = host["address"].as_str().expect("address");
        assert!(addr.starts_with("127."), "{name} has non-loopback address {addr}");
    }
}
