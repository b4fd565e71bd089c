//! `rolecall check`: validate, then debug, as one report with one exit code; validation errors
//! stop it before any host is contacted.

use crate::support::Test;

fn deployment(fleet: &rolecall_fleet::Fleet, min: usize) -> String {
    let mut y = fleet.hosts_yaml();
    y.push_str(&format!(
        "roles:\n  fleet:\n    hosts: [h01]\n    min: {min}\n    checks:\n      - {{id: shell, command: \"echo hi\", stdout: hi}}\n"
    ));
    y
}

fn check(fleet: &rolecall_fleet::Fleet, yaml: &str, extra: &[&str]) -> crate::support::Output {
    Test::new()
        .yaml(yaml)
        .args(["check", "--all", "--format", "json"])
        .args(fleet.args())
        .args(extra)
        .run()
}

fn plugins(doc: &serde_json::Value) -> Vec<String> {
    let mut p: Vec<String> = doc["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["plugin"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    p.dedup();
    p
}

#[test]
fn check_validates_then_debugs_in_one_report() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let out = check(&fleet, &deployment(&fleet, 1), &["--only", "cardinality,checks"]);
    out.code(0);
    let doc = out.json();
    assert_eq!(plugins(&doc), ["cardinality", "checks"], "{doc:#}");
    assert_eq!(doc["summary"]["total"]["pass"], 2);
    assert_eq!(doc["summary"]["exit_code"], 0);
    // A failed validation check is a result like any other: the hosts are still debugged.
    let out = check(&fleet, &deployment(&fleet, 2), &["--only", "cardinality,checks"]);
    out.code(1);
    let doc = out.json();
    assert_eq!(plugins(&doc), ["cardinality", "checks"], "{doc:#}");
    assert_eq!(doc["summary"]["total"]["fail"], 1);
}

#[test]
fn validation_errors_stop_check_before_any_host() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let out = check(
        &fleet,
        &deployment(&fleet, 1),
        &["--only", "cardinality,checks,nope"],
    );
    out.code(2)
        .stderr_has("no plugin named `nope`")
        .stderr_has("validation found errors: the hosts are not debugged");
    let doc = out.json();
    assert_eq!(plugins(&doc), ["cardinality"], "no debugger ran: {doc:#}");
    assert_eq!(doc["reached"], serde_json::json!([]), "no host was contacted");
}
