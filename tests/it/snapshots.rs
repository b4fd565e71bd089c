//! What users read, pinned: the table (healthy, faulty with its likely causes, 10,000 hosts
//! folded), JSON, JUnit, SARIF, the HTML page and `run`'s grouped answers, rendered by the
//! binary on fixed inputs (canned answers, no network). A change to any of them shows as a
//! snapshot diff: review it with `cargo insta review` (snapshots in tests/it/snapshots/).
//! Durations, and the test's own temporary directory, are the only parts masked.

use crate::support::{Output, Test};

/// A small shop: a load balancer, three web servers that must reach the database's port, and
/// a database.
const YAML: &str = "name: snapshot-shop\nhosts:\n  lb01: 127.0.0.2\n  web[01:03]:\n    address: 127.0.0.[11:13]\n  db01: 127.0.0.21\n\
roles:\n  load-balancer:\n    hosts: [lb01]\n    expect:\n      ports: [80/tcp]\n  web:\n    hosts: ['web[01:03]']\n    min: 2\n    expect:\n      memory: {min_total_mb: 1024}\n      connect: ['db:5432']\n  \
db:\n    hosts: [db01]\n    expect:\n      ports: [5432/tcp]\n";

/// Every host healthy.
const HEALTHY: &str =
    "- command: /proc/meminfo\n  stdout: \"MemTotal: 8388608 kB\\nMemAvailable: 4194304 kB\\n\"\n\
- command: /dev/tcp\n  stdout: \"127.0.0.21 5432 open\\n\"\n\
- host: db01\n  command: ss\n  stdout: \"tool: ss\\ntcp LISTEN 0 128 0.0.0.0:5432 0.0.0.0:*\\n\"\n\
- host: lb01\n  command: ss\n  stdout: \"tool: ss\\ntcp LISTEN 0 128 0.0.0.0:80 0.0.0.0:*\\n\"\n";

/// lb01's host key unknown; db01 not listening, so no web server reaches it; web03 short of
/// memory.
const FAULTY: &str = "- host: lb01\n  outcome: host-key-unknown\n  message: \"lb01 is not in /k/known_hosts; it offered ssh-ed25519 SHA256:x. Verify it, then record it with: ssh-keyscan -p 22 127.0.0.2 >> /k/known_hosts (or use --host-key-checking accept-new)\"\n\
- host: web03\n  command: /proc/meminfo\n  stdout: \"MemTotal: 262144 kB\\nMemAvailable: 131072 kB\\n\"\n\
- command: /proc/meminfo\n  stdout: \"MemTotal: 8388608 kB\\nMemAvailable: 4194304 kB\\n\"\n\
- command: /dev/tcp\n  stdout: \"127.0.0.21 5432 closed\\n\"\n\
- host: db01\n  command: ss\n  stdout: \"tool: ss\\ntcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\\n\"\n";

const PLUGINS: &str = "memory,connectivity,ports";

fn debug(canned: &str, args: &[&str]) -> (Output, std::path::PathBuf, Test) {
    let t = Test::new()
        .yaml(YAML)
        .file("canned.yaml", canned.as_bytes())
        .args(["debug", "--replay", "canned.yaml", "--only", PLUGINS])
        .args(args.iter().copied());
    let out = t.run();
    let dir = t.dir().to_path_buf();
    (out, dir, t)
}

/// Mask what differs from run to run: durations, and the temporary directory.
fn settled(text: &str, dir: &std::path::Path) -> String {
    let duration = regex::Regex::new(r#""duration_ms": ?[0-9.e-]+"#).expect("regex");
    let time = regex::Regex::new(r#" time="[0-9.]+""#).expect("regex");
    let text = duration.replace_all(text, r#""duration_ms": 0"#);
    let text = time.replace_all(&text, r#" time="0""#);
    text.replace(&dir.display().to_string(), "[DIR]")
}

#[test]
fn debug_table_of_a_healthy_fleet() {
    let (out, dir, _t) = debug(HEALTHY, &[]);
    out.code(0);
    insta::assert_snapshot!("debug_table_healthy", settled(&out.stdout, &dir));
}

#[test]
fn debug_table_of_a_faulty_fleet_with_its_causes() {
    let (out, dir, _t) = debug(FAULTY, &[]);
    out.code(3);
    insta::assert_snapshot!("debug_table_faulty", settled(&out.stdout, &dir));
}

#[test]
fn debug_json_of_a_faulty_fleet() {
    let (out, dir, _t) = debug(FAULTY, &["--format", "json"]);
    out.code(3);
    insta::assert_snapshot!("debug_json_faulty", settled(&out.stdout, &dir));
}

#[test]
fn debug_junit_of_a_faulty_fleet() {
    let (out, dir, _t) = debug(FAULTY, &["--format", "junit"]);
    out.code(3);
    insta::assert_snapshot!("debug_junit_faulty", settled(&out.stdout, &dir));
}

#[test]
fn debug_html_page_of_a_faulty_fleet() {
    let (out, dir, _t) = debug(FAULTY, &["--format", "html"]);
    out.code(3);
    insta::assert_snapshot!("debug_html_faulty", settled(&out.stdout, &dir));
}

/// A deployment the validators fault: a role below its minimum, an address that is not one.
const INVALID: &str = "hosts:\n  web01: 127.0.0.11\n  web02: 300.1.1.1\nroles:\n  web:\n    hosts: [web01]\n    min: 2\n  db: [web02]\n";

#[test]
fn validate_table_and_sarif_of_a_faulty_deployment() {
    let t = Test::new()
        .yaml(INVALID)
        .args(["validate", "--only", "cardinality,addresses"]);
    let out = t.run();
    out.code(1);
    insta::assert_snapshot!("validate_table_faulty", settled(&out.stdout, t.dir()));
    let t =
        Test::new()
            .yaml(INVALID)
            .args(["validate", "--only", "cardinality,addresses", "--format", "sarif"]);
    let out = t.run();
    out.code(1);
    insta::assert_snapshot!("validate_sarif_faulty", settled(&out.stdout, t.dir()));
}

/// 10,000 hosts, one in a hundred short of memory: the table folds them into a few rows.
#[test]
fn debug_table_of_10000_hosts_folded() {
    let yaml = "hosts:\n  n[00001:10000]:\n    address: 127.1.[0:39].[1:250]\nroles:\n  fleet:\n    hosts: ['n[00001:10000]']\n    expect: {memory: {min_total_mb: 1024}}\n";
    let canned = "- host: \"n*00\"\n  command: /proc/meminfo\n  stdout: \"MemTotal: 262144 kB\\nMemAvailable: 131072 kB\\n\"\n\
                  - command: /proc/meminfo\n  stdout: \"MemTotal: 8388608 kB\\nMemAvailable: 4194304 kB\\n\"\n";
    let t = Test::new()
        .yaml(yaml)
        .file("canned.yaml", canned.as_bytes())
        .args(["debug", "--replay", "canned.yaml", "--only", "memory"])
        .deadline(std::time::Duration::from_secs(120));
    let out = t.run();
    out.code(1);
    insta::assert_snapshot!("debug_table_10000_folded", settled(&out.stdout, t.dir()));
}

#[test]
fn run_table_groups_identical_answers() {
    let canned = "- host: \"web0[1-2]\"\n  command: uname\n  stdout: \"Linux x86_64\\n\"\n\
                  - host: web03\n  command: uname\n  exit: 1\n  stderr: \"uname: cannot\\n\"\n\
                  - host: db01\n  outcome: unreachable\n  message: \"127.0.0.21:22: Connection refused\"\n";
    let t = Test::new()
        .yaml(YAML)
        .file("canned.yaml", canned.as_bytes())
        .args([
            "run",
            "--replay",
            "canned.yaml",
            "--limit",
            "web,db",
            "--",
            "uname",
            "-sm",
        ]);
    let out = t.run();
    out.code(3);
    insta::assert_snapshot!("run_table", settled(&out.stdout, t.dir()));
}
