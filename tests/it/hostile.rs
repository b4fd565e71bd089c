//! Hostile or careless input, bounded: secrets never echoed, terminal escapes never passed
//! through, sizes and nesting refused before they cost time or memory.

use std::time::Duration;

use crate::support::Test;

/// Regression: `roles -c ~/.ssh/id_ed25519` printed the whole private key in the parse error.
#[test]
fn a_private_key_given_as_the_deployment_is_not_echoed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("id_ed25519");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let text = std::fs::read_to_string(&key).expect("key");
    let body = text.lines().nth(1).expect("a base64 line");
    let out = Test::new()
        .args(["roles", "-c", key.to_str().expect("utf-8 path")])
        .run();
    out.code(2)
        .stderr_has("look like key material, not shown")
        .stdout_empty();
    assert!(!out.stderr.contains(&body[..20]), "{}", out.stderr);
}

/// Regression: a `${ROLECALL_SSH_PASSWORD}` interpolated into the YAML was printed by `roles`.
#[test]
fn values_from_the_environment_are_shown_by_name() {
    let yaml = "hosts:\n  a:\n    address: 127.0.0.2\n    vars: {token: \"${TEST_TOKEN}\", user: \"x-${TEST_TOKEN}-y\"}\nroles:\n  r: [a]\n";
    for format in ["json", "table"] {
        let out = Test::new()
            .yaml(yaml)
            .env("TEST_TOKEN", "hunter2\"s3cret")
            .args(["roles", "--format", format])
            .run();
        out.code(0);
        assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
        if format == "json" {
            out.stdout_has("\"token\": \"${TEST_TOKEN}\"")
                .stdout_has("\"user\": \"x-${TEST_TOKEN}-y\"");
        }
    }
}

/// Regression: fifty `g-[0:99999]` lines (997 bytes) aborted the process at 3.5 GB.
#[test]
fn host_ranges_are_bounded_in_total() {
    let mut yaml = String::from("hosts:\n");
    for i in 0..50 {
        yaml.push_str(&format!("  g{i}-[0:99999]: {{}}\n"));
    }
    yaml.push_str("roles:\n  r: [g0-0]\n");
    let out = Test::new()
        .yaml(&yaml)
        .args(["roles"])
        .deadline(Duration::from_secs(20))
        .run();
    out.code(2)
        .stderr_has("deploy.yaml:3:")
        .stderr_has("make 200000, more than the limit of 100000")
        .stderr_has("hint: raise the limit with `--max-hosts N` or ROLECALL_MAX_HOSTS");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    // Raised, a big fleet loads.
    let yaml = "hosts:\n  g-[0:149999]: {}\nroles:\n  r: [g-0]\n";
    Test::new()
        .yaml(yaml)
        .args(["roles", "--max-hosts", "150000", "--format", "json"])
        .deadline(Duration::from_secs(60))
        .run()
        .code(0);
}

/// Regression: `[` x 100,000 (200 KB) took 38 s in the YAML parser before its depth error.
#[test]
fn hostile_nesting_fails_fast() {
    let yaml = format!("hosts: {}", "[".repeat(100_000));
    let out = Test::new().yaml(&yaml).args(["roles"]).run();
    out.code(2)
        .stderr_has("deploy.yaml:1:")
        .stderr_has("nest more than 1000 levels deep");
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
}

#[test]
fn look_alike_and_invisible_names_are_warned_about() {
    let yaml = "hosts:\n  n\u{0441}01: 127.0.0.2\n  \"nc\u{200b}02\": 127.0.0.3\nroles:\n  r: [n\u{0441}01, \"nc\u{200b}02\"]\n";
    let out = Test::new().yaml(yaml).args(["roles"]).run();
    out.code(0)
        .stderr_has("warning: host name `n\u{0441}01` mixes ASCII letters with letters of another script")
        .stderr_has("warning: host name `nc\\u{200b}02` contains invisible or control characters");
}

/// Secret-looking variables are hidden from every command's output, others only from `roles`
/// (a host that prints the login name is not rewritten).
#[test]
fn secret_named_values_are_hidden_everywhere_others_only_in_roles() {
    let yaml = "hosts:\n  a:\n    address: 127.0.0.2\n    vars: {who: \"${TEST_WHO}\", pw: \"${TEST_DB_PASSWORD}\"}\nroles:\n  r: [a]\n";
    let canned = "- stdout: \"operator hunter22\\n\"\n";
    let out = Test::new()
        .yaml(yaml)
        .file("canned.yaml", canned.as_bytes())
        .env("TEST_WHO", "operator")
        .env("TEST_DB_PASSWORD", "hunter22")
        .args(["run", "--all", "--replay", "canned.yaml", "--", "true"])
        .run();
    out.code(0).stdout_has("operator ${TEST_DB_PASSWORD}\n");
}
