//! Every bad-input path: a clear message naming the file (and line, column, YAML path where
//! there is one), exit code 2, nothing on stdout, and no hang.

use std::time::Duration;

use crate::support::{fixture, Test};

fn roles(t: Test) -> crate::support::Output {
    let out = t.subcommand("roles").run();
    out.code(2).stdout_empty();
    out
}

#[test]
fn empty_file() {
    roles(Test::new().yaml("# nothing here\n---\n")).stderr_has("error: deploy.yaml: the file is empty");
}

#[test]
fn a_list_instead_of_a_mapping() {
    roles(Test::new().yaml("- web01\n- web02\n"))
        .stderr_has("deploy.yaml:1:1: wrong type: found sequence, expected a mapping at the top level");
}

#[test]
fn tabs_for_indentation() {
    roles(Test::new().yaml("hosts:\n\tweb01: 127.0.0.2\n"))
        .stderr_has("deploy.yaml:2:1: ")
        .stderr_has("hint: YAML does not allow tabs for indentation; use spaces");
}

#[test]
fn duplicate_keys() {
    roles(Test::new().yaml("hosts:\n  web01: 127.0.0.2\n  web01: 127.0.0.3\n"))
        .stderr_has("deploy.yaml:")
        .stderr_has("hosts: duplicate key `web01`");
    roles(Test::new().yaml("hosts:\n  web01:\n    address: 127.0.0.2\n    address: 127.0.0.3\n"))
        .stderr_has("duplicate key `address`");
}

#[test]
fn invalid_utf8() {
    roles(Test::new().file("deploy.yaml", b"hosts:\n  web\xff01: 127.0.0.2\n"))
        .stderr_has("deploy.yaml:2:6: invalid UTF-8 (byte 0xff at offset 12)");
}

#[test]
fn directory_or_missing_file() {
    let t = Test::new();
    std::fs::create_dir(t.dir().join("conf")).expect("mkdir");
    roles(t.args(["-c", "conf"])).stderr_has("`conf` is a directory, not a deployment file");
    roles(Test::new().args(["-c", "nope.yaml"]))
        .stderr_has("deployment file `nope.yaml` does not exist")
        .stderr_has("hint:");
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut doc = String::from("hosts:\n  web01: 127.0.0.2\nplugins:\n");
    doc.push_str("  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        doc.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let out = roles(Test::new().yaml(&doc).deadline(Duration::from_secs(10)));
    out.stderr_has("expands too many aliases");
    eprintln!("alias bomb refused in {:?}", out.elapsed);
}

#[test]
fn unknown_key_suggests_the_nearest() {
    roles(Test::new().yaml("hosts:\n  nc03:\n    adress: 127.0.0.2\n"))
        .stderr_has("deploy.yaml:3:5: hosts.nc03.adress: unknown key `adress`, expected `address`, `port`, `user`, `jump` or `vars`")
        .stderr_has("hint: did you mean `address`?");
    roles(Test::new().yaml("hosts: {a: }\nrole: {}\n")).stderr_has("hint: did you mean `roles`?");
}

#[test]
fn role_naming_an_unknown_host() {
    roles(Test::new().yaml("hosts:\n  web01: 127.0.0.2\nroles:\n  web: [web01, web1]\n"))
        .stderr_has("deploy.yaml:4:16: roles.web[1]: role `web` lists host `web1`, which is not defined under `hosts`")
        .stderr_has("hint: did you mean `web01`?");
}

#[test]
fn unset_variable_without_default() {
    roles(Test::new().yaml("hosts:\n  web01: ${RC_SURELY_UNSET_VAR}\n"))
        .stderr_has("deploy.yaml:2:10: hosts.web01: environment variable `RC_SURELY_UNSET_VAR` is not set");
}

#[test]
fn bad_host_range() {
    roles(Test::new().yaml("hosts:\n  nc[0:9999999]:\n"))
        .stderr_has("invalid host range `nc[0:9999999]`: host range expands to 10000000 names");
}

#[test]
fn calyptos_deployer_config_is_not_a_deployment() {
    let path = fixture("calyptos/etc-config.yaml");
    roles(Test::new().args(["-c", path.to_str().expect("utf-8")])).stderr_has(
        "etc-config.yaml:1:1: this is not a deployment: it looks like a Calyptos deployer configuration",
    );
}

#[test]
fn cookbook_template_is_not_valid_json() {
    let path = fixture("calyptos/cookbook-faststart-ciab-template.json");
    roles(Test::new().args(["-c", path.to_str().expect("utf-8")]))
        .stderr_has("cookbook-faststart-ciab-template.json:7:32: not valid JSON: expected value")
        .stderr_has("hint: `EXTRASERVICES` is not a JSON value: if this is a template, fill in its placeholders first");
}

#[test]
fn unrecognised_shape() {
    roles(Test::new().yaml("servers:\n  a: 1\n"))
        .stderr_has("this is not a deployment: found top-level keys `servers`; expected `hosts`");
}

#[test]
fn bad_flag_value_is_a_usage_error() {
    Test::new()
        .args(["roles", "--connect-timeout", "soon"])
        .run()
        .code(2)
        .stderr_has("not a number of seconds");
    Test::new()
        .args(["roles", "--format", "xml"])
        .run()
        .code(2)
        .stderr_has("invalid value 'xml'");
}

#[test]
fn ten_thousand_hosts_load() {
    let mut doc = String::from("hosts:\n");
    for i in 0..10_000 {
        doc.push_str(&format!("  h{i:05}: 127.0.{}.{}\n", i / 250, i % 250 + 1));
    }
    doc.push_str("roles:\n  web:\n    - h[00000:09999]\n");
    let out = Test::new().yaml(&doc).args(["roles", "--format", "json"]).run();
    out.code(0);
    assert_eq!(out.json()["roles"]["web"].as_array().map(Vec::len), Some(10_000));
}

/// Regression: a 1.3 KB Ansible inventory of ranges (each under the per-range limit) expanded
/// to 5,000,000 hosts (35 s, 5.7 GB); the total is now held while the file is read.
#[test]
fn a_small_inventory_cannot_expand_to_millions_of_hosts() {
    let mut many_hosts = String::new();
    for g in 0..50 {
        many_hosts.push_str(&format!("[g{g}]\nh{g}x[00000:99999]\n"));
    }
    assert!(many_hosts.len() < 1400, "{}", many_hosts.len());
    let mut many_groups = String::from("[g0]\nh[00000:99999]\n");
    for g in 1..50 {
        many_groups.push_str(&format!("[g{g}]\nh[00000:99999]\n"));
    }
    let product = "[g]\nh[00000:99999]-[00000:99999]\n";
    for (inventory, message) in [
        (
            many_hosts.as_str(),
            "the inventory defines more than 100000 hosts, the limit (raise it with `--max-hosts N`",
        ),
        (
            many_groups.as_str(),
            "the inventory lists more than 1600000 host names (hosts times their groups)",
        ),
        (
            product,
            "`h[00000:99999]-[00000:99999]` expands to 10000000000 names, more than the limit of 100000",
        ),
    ] {
        let out = Test::new()
            .file("inventory.ini", inventory.as_bytes())
            .args(["roles", "-c", "inventory.ini"])
            .deadline(Duration::from_secs(30))
            .run();
        out.code(2)
            .stdout_empty()
            .stderr_has(message)
            .stderr_has("inventory.ini:");
        eprintln!("refused in {:?}", out.elapsed);
    }
}

/// Regression: the roles table was quadratic in a host name's length (a 60 MB name: over
/// 120 s) and did not cut its cells.
#[test]
fn a_huge_host_name_is_cut_in_the_roles_table_quickly() {
    let name = "h".repeat(8 << 20);
    let out = Test::new()
        .file("inventory.ini", format!("[web]\n{name}\n").as_bytes())
        .args(["roles", "-c", "inventory.ini"])
        .deadline(Duration::from_secs(30))
        .run();
    out.code(0).stdout_has(&format!(
        "{} [... cut: {} more bytes; --format json has it all]",
        "h".repeat(2000),
        (8 << 20) - 2000
    ));
    assert!(out.stdout.len() < 30_000, "{} bytes of table", out.stdout.len());
    eprintln!("8 MB host name: {:?}", out.elapsed);
}

/// Habits from ansible and pssh meet a helpful answer (newcomer issue): `-u`, `-f`, a
/// positional pattern, `--list-hosts` without a command, and a command without `--` gets the
/// hint to put it after `--`.
#[test]
fn habits_of_neighbouring_tools() {
    let yaml = "hosts:\n  web01: 127.0.0.2\n  web02: 127.0.0.3\n  db01: 127.0.0.4\nroles:\n  web: [web01, web02]\n  db: [db01]\n";
    Test::new()
        .yaml(yaml)
        .args(["run", "-u", "root", "-f", "4", "web", "--list-hosts"])
        .run()
        .code(0)
        .stdout_has("web01\nweb02\n");
    Test::new()
        .yaml(yaml)
        .args(["run", "web", "uptime"])
        .run()
        .code(2)
        .stderr_has("unexpected argument 'uptime'")
        .stderr_has("hint: the remote command goes after `--`");
    Test::new()
        .yaml(yaml)
        .args(["run", "web"])
        .run()
        .code(2)
        .stderr_has("<COMMAND>")
        .stderr_has("hint: the remote command goes after `--`");
    Test::new()
        .yaml(yaml)
        .args(["debug", "db", "--list-hosts"])
        .run()
        .code(0)
        .stdout_has("db01\n");
}

/// A plugin of the other kind is named as such, with the command that runs it (it got a
/// "did you mean" pointing at itself).
#[test]
fn a_debugger_given_to_validate_says_so() {
    Test::new()
        .yaml("hosts:\n  web01: 127.0.0.2\nroles:\n  web: [web01]\n")
        .args(["validate", "--only", "checks"])
        .run()
        .code(2)
        .stderr_has(
            "`checks` is a debugger, not a validator\nhint: run it with `rolecall debug --only checks`",
        );
}

/// Files named on the command line that are not there are errors naming them (they were a
/// `host-key-unknown` or an authentication failure on every host later).
#[test]
fn missing_identity_and_known_hosts_files_are_named() {
    let yaml = "hosts:\n  web01: 127.0.0.2\nroles:\n  web: [web01]\n";
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "-i", "no-such-key", "--", "true"])
        .run()
        .code(2)
        .stderr_has("the identity file `no-such-key` (-i) does not exist");
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "--known-hosts", "no-such-file", "--", "true"])
        .run()
        .code(2)
        .stderr_has("the known_hosts file `no-such-file` (--known-hosts) does not exist")
        .stderr_has("ssh-keyscan -p PORT HOST >> no-such-file");
}

/// An empty role is a warning in `roles` and `validate`, and `--roles` naming only it says so.
#[test]
fn an_empty_role_is_named() {
    let yaml = "hosts:\n  web01: 127.0.0.2\nroles:\n  web: [web01]\n  spare: []\n";
    Test::new()
        .yaml(yaml)
        .args(["roles"])
        .run()
        .code(0)
        .stderr_has("warning: role `spare` has no hosts");
    Test::new()
        .yaml(yaml)
        .args(["run", "--roles", "spare", "--", "true"])
        .run()
        .code(2)
        .stderr_has("role `spare` has no hosts in deploy.yaml");
}

/// A malformed package version constraint is a load error with its place (regression: `> = 1`
/// passed on the host as `>` of `= 1`; `latest` was read as a version).
#[test]
fn a_malformed_version_constraint_is_refused_at_load() {
    for bad in ["> = 1", "latest"] {
        let yaml = format!(
            "hosts:\n  web01: 127.0.0.2\nroles:\n  web:\n    hosts: [web01]\n    checks:\n      - {{id: ng, package: nginx, version: \"{bad}\"}}\n"
        );
        roles(Test::new().yaml(&yaml))
            .stderr_has("deploy.yaml:7:")
            .stderr_has(&format!("version `{bad}` is not a constraint"));
    }
}

/// `-c DIR` is read as an Ansible inventory directory: an error in one of its files says so
/// and lists the files (it failed on an unrelated file with no word of why it was read).
#[test]
fn a_directory_says_it_is_read_as_an_inventory() {
    let t = Test::new()
        .file("conf/notes.yaml", b"hosts:\n  web01: 127.0.0.2\n")
        .file("conf/readme", b"just some text = not an inventory\n");
    t.args(["roles", "-c", "conf"])
        .run()
        .code(2)
        .stderr_has("conf/readme:1:1")
        .stderr_has("`conf` is read as an Ansible inventory directory (each file in it is an inventory source); its files: notes.yaml, readme");
}

/// `run --output` takes only json or html to a file; `--watch` refuses a dry run and `--rounds`
/// needs `--watch`: usage errors, exit 2, before anything runs.
#[test]
fn run_outputs_and_watch_flags_that_cannot_be_are_usage_errors() {
    let yaml = "hosts:\n  a: 127.0.0.2\nroles:\n  web: [a]\n";
    for bad in [&["--output", "table=t.txt"][..], &["--output", "html"][..]] {
        Test::new()
            .yaml(yaml)
            .args(["run", "--all"])
            .args(bad.iter().copied())
            .args(["--", "true"])
            .run()
            .code(2)
            .stderr_has("`run --output` takes json=FILE or html=FILE");
    }
    Test::new()
        .yaml(yaml)
        .args(["debug", "--watch", "1", "--dry-run"])
        .run()
        .code(2)
        .stderr_has("'--watch <SECS>' cannot be used with '--dry-run'");
    Test::new()
        .yaml(yaml)
        .args(["debug", "--rounds", "2"])
        .run()
        .code(2)
        .stderr_has("--watch <SECS>");
    Test::new()
        .yaml(yaml)
        .args(["debug", "--watch", "1", "--rounds", "0"])
        .run()
        .code(2)
        .stderr_has("'--rounds <N>'");
}
