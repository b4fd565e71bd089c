//! Waivers: a known failure does not fail the run, an expired waiver fails it with its place,
//! a waiver that covers nothing is a warning, and every output carries them.

use crate::support::{repo, Test};

const DEPLOY: &str =
    "hosts:\n  web1: 127.0.0.2\n  web2: 127.0.0.3\nroles:\n  web:\n    hosts: [web1]\n    min: 2\n";

fn waived(expires: &str) -> String {
    format!(
        "{DEPLOY}waivers:\n  - check: cardinality/role-cardinality\n    reason: the second web node arrives next week\n    expires: {expires}\n  - check: nothing\n    hosts: \"db*\"\n    reason: stale\n"
    )
}

#[test]
fn a_waived_failure_does_not_fail_the_run() {
    Test::new().yaml(DEPLOY).args(["validate"]).run().code(1);
    let out = Test::new().yaml(&waived("2099-01-31")).args(["validate"]).run();
    out.code(0)
        .stdout_has("WAIVED")
        .stdout_has("[waived: the second web node arrives next week (until 2099-01-31; deploy.yaml:9)]")
        .stdout_has("1 waived")
        .stderr_has("warning: waiver for `nothing` on `db*` (deploy.yaml:12) matched no failure or warning");
    let json = Test::new()
        .yaml(&waived("2099-01-31"))
        .args(["validate", "--format", "json"])
        .run();
    json.code(0);
    let doc = json.json();
    let r = doc["results"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["check"] == "role-cardinality"))
        .cloned()
        .expect("the result");
    assert_eq!(r["status"], "fail");
    assert_eq!(r["waived"]["reason"], "the second web node arrives next week");
    assert_eq!(r["waived"]["expires"], "2099-01-31");
    assert_eq!(doc["summary"]["total"]["waived"], 1);
    assert_eq!(doc["summary"]["total"]["fail"], 0);
    let schema = repo().join("docs/schemas/results.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema).expect("schema")).expect("schema JSON");
    let v = jsonschema::validator_for(&schema).expect("schema");
    assert!(v.is_valid(&doc), "{doc:#}");

    let junit = Test::new()
        .yaml(&waived("2099-01-31"))
        .args(["validate", "--format", "junit"])
        .run();
    junit
        .code(0)
        .stdout_has("<skipped message=\"waived: the second web node arrives next week");
    let sarif = Test::new()
        .yaml(&waived("2099-01-31"))
        .args(["validate", "--format", "sarif"])
        .run();
    sarif.code(0);
    let s = sarif.json();
    let suppressions = &s["runs"][0]["results"][0]["suppressions"][0];
    assert_eq!(suppressions["kind"], "external", "{s:#}");
    assert!(suppressions["justification"]
        .as_str()
        .is_some_and(|j| j.starts_with("the second web node")));
}

#[test]
fn an_expired_waiver_fails_with_its_date_and_place() {
    let out = Test::new().yaml(&waived("2020-01-31")).args(["validate"]).run();
    out.code(1)
        .stdout_has("waiver expired on 2020-01-31 (deploy.yaml:9)")
        .stdout_has("FAIL");
}

#[test]
fn waivers_from_a_file_of_their_own() {
    let file = "waivers:\n  - check: cardinality\n    hosts: \"*\"\n    reason: not a host check\n  - check: cardinality\n    reason: known\n";
    let out = Test::new()
        .yaml(DEPLOY)
        .file("known.yaml", file.as_bytes())
        .args(["validate", "--waivers", "known.yaml"])
        .run();
    // The first names hosts, and the finding is about no host: the second covers it.
    out.code(0)
        .stdout_has("[waived: known (known.yaml:5)]")
        .stderr_has("waiver for `cardinality` on `*` (known.yaml:2) matched no failure or warning");
}

#[test]
fn a_malformed_waiver_is_a_load_error_with_its_place() {
    let bad = format!("{DEPLOY}waivers:\n  - check: cardinality\n    reason: r\n    expires: next week\n");
    Test::new()
        .yaml(&bad)
        .args(["validate"])
        .run()
        .code(2)
        .stderr_has("deploy.yaml:9")
        .stderr_has("`expires: next week` is not a date (YYYY-MM-DD)");
    let missing = format!("{DEPLOY}waivers:\n  - check: cardinality\n");
    Test::new()
        .yaml(&missing)
        .args(["validate"])
        .run()
        .code(2)
        .stderr_has("reason");
    Test::new()
        .yaml(DEPLOY)
        .args(["validate", "--waivers", "nope.yaml"])
        .run()
        .code(2)
        .stderr_has("nope.yaml");
}
