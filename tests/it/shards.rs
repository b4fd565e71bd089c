//! A part of the fleet (`--shard`, `--limit`) still sees the whole deployment: checks that
//! look at other hosts (connectivity targets, NC to CC pairs) give on a part what they give on
//! the whole, and merged shards give the whole run's report in every output.

use crate::support::Test;

/// NCs that must reach the CLC and the CC: every target is in another shard than most sources.
const YAML: &str =
    "hosts:\n  clc: 127.0.0.2\n  cc01: 127.0.0.4\n  nc[01:09]:\n    address: 127.0.0.[11:19]\n\
roles:\n  clc: [clc]\n  cluster-controller: [cc01]\n  node-controller:\n    hosts: ['nc[01:09]']\n    \
expect:\n      connect: ['clc:8773', 'cluster-controller:8774']\n    \
checks:\n      - {id: kernel, command: uname, stdout: Linux}\n";

/// nc01-nc04 reach the CLC but not the CC; the others the other way round.
const CANNED: &str = "- host: \"nc0[1-4]\"\n  command: /dev/tcp\n  stdout: \"127.0.0.2 8773 open\\n127.0.0.4 8774 closed\\n\"\n\
- command: /dev/tcp\n  stdout: \"127.0.0.2 8773 closed\\n127.0.0.4 8774 open\\n\"\n\
- command: /sys/class/net\n  stdout: \"eth0 1000\\n\"\n\
- command: uname\n  stdout: \"Linux\\n\"\n";

const PLUGINS: &str = "connectivity,euca-networking,checks,euca-clc,euca-cc";

fn debug(args: &[&str]) -> crate::support::Output {
    Test::new()
        .yaml(YAML)
        .file("canned.yaml", CANNED.as_bytes())
        .args(["debug", "--replay", "canned.yaml", "--only", PLUGINS])
        .args(args.iter().copied())
        .run()
}

/// What differs between two runs of the same work: how long things took.
fn timeless(text: &str) -> String {
    let durations = regex::Regex::new(r#"("duration_ms": )[0-9.e-]+|(time=")[0-9.]+"#).expect("regex");
    durations.replace_all(text, "$1$2").into_owned()
}

/// Regression: three merged shards reported 170 checks with 81 failures where the whole run
/// had 173 with 94: the connectivity failures between hosts of different shards were missing,
/// and "no `clc` hosts" skips came from the shards without one.
#[test]
fn merged_shards_equal_the_whole_run_in_every_output() {
    let keep = tempfile::tempdir().expect("tmp");
    let at = |name: &str| keep.path().join(name).display().to_string();
    let outputs = |prefix: &str| {
        [
            format!("table={}", at(&format!("{prefix}.txt"))),
            format!("json={}", at(&format!("{prefix}.json"))),
            format!("junit={}", at(&format!("{prefix}.xml"))),
        ]
    };
    let mut whole = vec![];
    for o in outputs("whole") {
        whole.extend(["--output".to_string(), o]);
    }
    let whole_args: Vec<&str> = whole.iter().map(String::as_str).collect();
    debug(&whole_args).code(1);
    let mut shards = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let out = debug(&["--shard", &shard, "--run-id", "r1", "--format", "json"]);
        out.code(1);
        let file = at(&format!("shard{i}.json"));
        std::fs::write(&file, &out.stdout).expect("write");
        shards.push(file);
    }
    let mut merge = Test::new().yaml(YAML).args(["merge"]).args(&shards);
    for o in outputs("merged") {
        merge = merge.args(["--output", &o]);
    }
    merge.run().code(1);
    for ext in ["txt", "json", "xml"] {
        let read = |p: &str| timeless(&std::fs::read_to_string(at(&format!("{p}.{ext}"))).expect("output"));
        let (merged, whole) = (read("merged"), read("whole"));
        let first = merged.lines().zip(whole.lines()).position(|(m, w)| m != w);
        assert!(
            merged == whole,
            "the merged {ext} differs from the whole run's at line {first:?}: {:?} vs {:?}",
            first.and_then(|i| merged.lines().nth(i)),
            first.and_then(|i| whole.lines().nth(i)),
        );
    }
    // The crossing checks are there: every NC probed the CLC and the CC, wherever they ran.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(at("merged.json")).expect("json")).expect("parse");
    let connect: Vec<&serde_json::Value> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["plugin"] == "connectivity" && r["check"] == "connect")
        .collect();
    assert_eq!(connect.len(), 18, "9 NCs x 2 targets");
    assert_eq!(connect.iter().filter(|r| r["status"] == "fail").count(), 9);
    let cc_to_nc = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["check"] == "cc-to-nc")
        .count();
    assert_eq!(cc_to_nc, 9, "the CC probes every NC, in its shard or not");
}

/// Regression: `--limit nc01` with a `connect:` towards another role said "nothing was
/// checked": the target role was narrowed to the selection.
#[test]
fn a_limit_narrows_where_checks_run_not_what_they_look_at() {
    let out = debug(&["--limit", "nc01", "--format", "json"]);
    out.code(1);
    let json = out.json();
    let mut got: Vec<String> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["check"].as_str().unwrap_or("-"),
                r["host"].as_str().unwrap_or("-"),
                r["status"].as_str().unwrap_or("-"),
                r["message"].as_str().unwrap_or("-")
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "connect nc01 fail cannot reach cc01:8774 (127.0.0.4:8774)",
            "connect nc01 pass reaches clc:8773",
            "kernel nc01 pass `uname`: exit 0",
            "nc-to-cc nc01 fail cannot reach CC cc01:8774 (127.0.0.4:8774)",
            "nc-to-clc nc01 pass reaches CLC clc:8773",
            "nic nc01 pass eth0: 1000 Mb/s",
        ]
    );
    // Commands went to nc01 only.
    for (plugin, sent) in json["commands"].as_object().expect("commands") {
        for s in sent.as_array().expect("list") {
            assert_eq!(s["hosts"], serde_json::json!(["nc01"]), "{plugin}: {s}");
        }
    }
}

/// `merge VALIDATE.json DEBUG.json` gives what `rolecall check` gives: one report, one summary,
/// one exit code; results of another deployment, two validate results or a validate result
/// alone are refused.
#[test]
fn merge_joins_a_validate_and_a_debug_result_as_check_does() {
    let keep = tempfile::tempdir().expect("tmp");
    let at = |name: &str| keep.path().join(name).display().to_string();
    let run = |args: &[&str]| {
        Test::new()
            .yaml(YAML)
            .file("canned.yaml", CANNED.as_bytes())
            .args(args.iter().copied())
            .run()
    };
    let only = format!("{PLUGINS},cardinality,addresses");
    let check = run(&[
        "check",
        "--replay",
        "canned.yaml",
        "--only",
        &only,
        "--format",
        "json",
    ]);
    check.code(1);
    let v = run(&["validate", "--only", "cardinality,addresses", "--format", "json"]);
    v.code(0);
    std::fs::write(at("validate.json"), &v.stdout).expect("write");
    let d = debug(&["--format", "json"]);
    d.code(1);
    std::fs::write(at("debug.json"), &d.stdout).expect("write");
    let merged = Test::new()
        .yaml(YAML)
        .args([
            "merge",
            "--format",
            "json",
            &at("validate.json"),
            &at("debug.json"),
        ])
        .run();
    merged.code(1);
    let (m, c) = (merged.json(), check.json());
    let strip = |v: &serde_json::Value| timeless(&serde_json::to_string_pretty(&v["results"]).expect("json"));
    assert_eq!(strip(&m), strip(&c));
    assert_eq!(m["summary"], c["summary"]);
    assert_eq!(m["deployment_sha256"], c["deployment_sha256"]);
    assert_eq!(m["schema_version"], 2);
    // The table and JUnit say the same.
    Test::new()
        .yaml(YAML)
        .args(["merge", &at("validate.json"), &at("debug.json")])
        .run()
        .code(1)
        .stdout_has("from 7 plugins");

    // Refusals, each naming the file and why (exit 2).
    let merge = |files: &[&str]| {
        Test::new()
            .yaml(YAML)
            .args(["merge"])
            .args(files.iter().copied())
            .run()
    };
    merge(&[&at("validate.json")])
        .code(2)
        .stderr_has("validate.json: nothing to join it with");
    merge(&[&at("validate.json"), &at("validate.json"), &at("debug.json")])
        .code(2)
        .stderr_has("two `validate` results");
    let mut other: serde_json::Value = serde_json::from_str(&v.stdout).expect("json");
    other["deployment_sha256"] = "00".into();
    std::fs::write(at("other.json"), other.to_string()).expect("write");
    merge(&[&at("other.json"), &at("debug.json")])
        .code(2)
        .stderr_has("other.json: it ran on another deployment than `deploy.yaml`");
    other.as_object_mut().expect("object").remove("deployment_sha256");
    std::fs::write(at("old.json"), other.to_string()).expect("write");
    merge(&[&at("old.json"), &at("debug.json")])
        .code(2)
        .stderr_has("old.json: it records no deployment SHA-256");
    // A newer schema than this rolecall reads is refused; the previous one is read.
    let mut newer: serde_json::Value = serde_json::from_str(&v.stdout).expect("json");
    newer["schema_version"] = 3.into();
    std::fs::write(at("newer.json"), newer.to_string()).expect("write");
    merge(&[&at("newer.json"), &at("debug.json")])
        .code(2)
        .stderr_has("newer.json: schema_version 3; this rolecall reads 1 to 2");
    let mut ghost: serde_json::Value = serde_json::from_str(&d.stdout).expect("json");
    ghost["hosts"]
        .as_array_mut()
        .expect("hosts")
        .push("ghost01".into());
    std::fs::write(at("ghost.json"), ghost.to_string()).expect("write");
    merge(&[&at("validate.json"), &at("ghost.json")])
        .code(2)
        .stderr_has("ghost.json: host `ghost01` is not in the deployment");
    let mut older: serde_json::Value = serde_json::from_str(&d.stdout).expect("json");
    older["schema_version"] = 1.into();
    std::fs::write(at("older.json"), older.to_string()).expect("write");
    merge(&[&at("validate.json"), &at("older.json")]).code(1);
}
