//! Reaching real fleets: ssh_config, jump hosts (one and two hops), sudo, host patterns. Real
//! OpenSSH servers on loopback; the sudo tests log in as the users `scripts/test-users` makes.

use std::time::Duration;

use rolecall_fleet::{whoami, Fleet};

use crate::support::{Output, Test};

const DEADLINE: Duration = Duration::from_secs(90);

/// Deployment names `t1..tN` for the fleet's hosts from index `from`, with no address: where
/// they are comes from ssh_config.
fn bare_names(fleet: &Fleet, from: usize) -> String {
    let mut y = String::from("hosts:\n");
    for i in from..fleet.hosts.len() {
        y.push_str(&format!("  t{}:\n", i - from + 1));
    }
    y.push_str("roles:\n  targets:\n");
    for i in from..fleet.hosts.len() {
        y.push_str(&format!("    - t{}\n", i - from + 1));
    }
    y
}

/// ssh_config giving each `tN` its fleet host's address and port (from index `from`), with
/// `extra` for every host.
fn ssh_config(fleet: &Fleet, from: usize, extra: &str) -> String {
    let mut c = String::new();
    for (i, h) in fleet.hosts.iter().enumerate().skip(from) {
        c.push_str(&format!(
            "Host t{}\n  HostName {}\n  Port {}\n",
            i - from + 1,
            h.address,
            h.port
        ));
    }
    c.push_str(&format!(
        "Host *\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n{extra}",
        whoami(),
        fleet.user_key.display(),
        fleet.known_hosts.display()
    ));
    c
}

fn run_with(t: Test, args: &[&str]) -> Output {
    t.args(["run", "--all", "-F", "ssh_config", "--connect-timeout", "30"])
        .args(args)
        .deadline(DEADLINE)
        .run()
}

#[test]
fn ssh_config_gives_names_their_address_port_user_and_key() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let t = Test::new()
        .yaml(&bare_names(&fleet, 0))
        .file("ssh_config", ssh_config(&fleet, 0, "").as_bytes());
    let out = run_with(t, &["--", "echo $(id -un) at $SSH_CONNECTION"]);
    out.code(0).stdout_has("2 ok");
    for (i, h) in fleet.hosts.iter().enumerate() {
        out.stdout_has(&format!("t{}", i + 1))
            .stdout_has(&format!("{} at 127.", whoami()))
            .stdout_has(&format!("{} {}", h.address, h.port));
    }
    // `rolecall hosts` says where each value came from.
    let t = Test::new().yaml(&bare_names(&fleet, 0)).file(
        "ssh_config",
        ssh_config(&fleet, 0, "  ControlMaster auto\n").as_bytes(),
    );
    let out = t.args(["hosts", "-F", "ssh_config", "t1"]).run();
    out.code(0)
        .stdout_has(&format!("address       {}", fleet.hosts[0].address))
        .stdout_has("ssh_config:2")
        .stdout_has("ssh_config:3")
        .stdout_has(&format!("user          {}", whoami()))
        .stdout_has("ssh_config:8")
        .stdout_has("ssh_config:9")
        .stderr_has("ssh_config:11: `ControlMaster` in the ssh configuration is not supported");
    // Without the file the names are not addresses: nothing is guessed.
    let t = Test::new().yaml(&bare_names(&fleet, 0));
    let out = t
        .args(["run", "--all", "--no-ssh-config", "--", "true"])
        .deadline(DEADLINE)
        .run();
    out.code(3);
}

#[test]
fn targets_behind_a_bastion_answer_through_it_and_fail_naming_it_when_it_is_down() {
    let Some(mut fleet) = crate::support::fleet(4) else {
        return;
    };
    let bastion = format!("{}:{}", fleet.hosts[0].address, fleet.hosts[0].port);
    let cfg = ssh_config(&fleet, 1, &format!("Host t*\n  ProxyJump {bastion}\n"));
    let yaml = bare_names(&fleet, 1);
    let t = Test::new().yaml(&yaml).file("ssh_config", cfg.as_bytes());
    let out = run_with(t, &["--", "echo up"]);
    out.code(0).stdout_has("t[1-3]").stdout_has("up");

    // Two hops: the first fleet host, then the second, then the target.
    let chain = format!("{bastion},{}:{}", fleet.hosts[1].address, fleet.hosts[1].port);
    let t = Test::new().yaml(&yaml).file("ssh_config", cfg.as_bytes());
    let out = run_with(t, &["-J", &chain, "--limit", "t3", "--", "echo two hops"]);
    out.code(0).stdout_has("two hops");

    fleet.stop(0);
    let t = Test::new().yaml(&yaml).file("ssh_config", cfg.as_bytes());
    let out = run_with(t, &["--retries", "0", "--", "echo up"]);
    out.code(3)
        .stdout_has("unreachable")
        .stdout_has(&format!("jump host {}@{bastion}", whoami()));
    assert!(!out.stdout.contains("up\n"), "{}", out.stdout);
    // `debug` names the jump host as the likely cause, once, first; the errors behind it are
    // counted, not listed per plugin and host.
    let debug = |format: &[&str]| {
        Test::new()
            .yaml(&yaml)
            .file("ssh_config", cfg.as_bytes())
            .args(["debug", "--all", "-F", "ssh_config", "--connect-timeout", "30"])
            .args(["--retries", "0", "--only", "facts,clock"])
            .args(format)
            .deadline(DEADLINE)
            .run()
    };
    let out = debug(&["--format", "json"]);
    out.code(3);
    let causes = out.json()["causes"].clone();
    assert_eq!(causes[0]["kind"], "jump-host", "{causes}");
    assert_eq!(causes[0]["subject"], format!("{}@{bastion}", whoami()));
    assert_eq!(causes[0]["affected"], serde_json::json!(["t1", "t2", "t3"]));
    assert_eq!(causes.as_array().map(Vec::len), Some(1), "{causes}");
    let out = debug(&[]);
    out.code(3);
    let first = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        first.starts_with(&format!("  1. jump host {}@{bastion} unreachable (", whoami()))
            && first.ends_with("): 3 hosts not reached: t[1-3]"),
        "{}",
        out.stdout
    );
    out.stdout_has("facts 3 results on hosts not reached: see cause 1")
        .stdout_has("clock 3 results on hosts not reached: see cause 1");
    assert!(
        !out.stdout.contains("│ Check"),
        "no error row per check: {}",
        out.stdout
    );
    // Told not to jump, the targets are reached directly again.
    let t = Test::new().yaml(&yaml).file("ssh_config", cfg.as_bytes());
    run_with(t, &["-J", "none", "--", "echo direct"])
        .code(0)
        .stdout_has("direct");
}

#[test]
fn jump_hosts_and_targets_are_held_to_the_allow_list() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let cfg = ssh_config(&fleet, 0, "Host t*\n  ProxyJump 10.9.9.9\n");
    let t = Test::new()
        .yaml(&bare_names(&fleet, 0))
        .file("ssh_config", cfg.as_bytes())
        .env("ROLECALL_ALLOW_NETS", "127.0.0.0/8");
    let out = run_with(t, &["--", "true"]);
    out.code(3)
        .stdout_has("jump host")
        .stdout_has("10.9.9.9 is outside the allowed networks");
}

fn become_as(fleet: &Fleet, user: &str, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut t = Test::new().yaml(&fleet.yaml(""));
    for (k, v) in env {
        t = t.env(k, v);
    }
    let args: Vec<String> = fleet
        .args()
        .into_iter()
        .map(|a| if a == whoami() { user.to_string() } else { a })
        .collect();
    t.args(["run", "--all"])
        .args(args)
        .args(["--connect-timeout", "30"])
        .args(extra)
        .args(["--", "id -un; cat"])
        .deadline(DEADLINE)
        .run()
}

#[test]
fn sudo_runs_as_root_and_its_refusals_are_told_apart() {
    if !crate::support::sudo_users() {
        return;
    }
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    become_as(&fleet, "rc-nopw", &[], &["--become"])
        .code(0)
        .stdout_has("root");
    become_as(&fleet, "rc-nopw", &[], &["--become-user", "rc-pw"])
        .code(0)
        .stdout_has("rc-pw");
    become_as(&fleet, "rc-nopw", &[], &[])
        .code(0)
        .stdout_has("rc-nopw");

    let pw = [("ROLECALL_BECOME_PASSWORD", "rc-pw-secret")];
    let out = become_as(&fleet, "rc-pw", &pw, &["--become"]);
    out.code(0).stdout_has("root");
    assert!(!out.stdout.contains("rc-pw-secret") && !out.stderr.contains("rc-pw-secret"));
    // A NOPASSWD user given a password: the password never reaches the command's stdin.
    let out = become_as(&fleet, "rc-nopw", &pw, &["--become"]);
    out.code(0).stdout_has("root");
    assert!(!out.stdout.contains("rc-pw-secret"), "{}", out.stdout);

    become_as(&fleet, "rc-pw", &[], &["--become"])
        .code(3)
        .stdout_has("become-failed")
        .stdout_has("sudo needs a password for rc-pw");
    become_as(
        &fleet,
        "rc-pw",
        &[("ROLECALL_BECOME_PASSWORD", "wrong")],
        &["--become"],
    )
    .code(3)
    .stdout_has("sudo did not accept the password for rc-pw");
    become_as(
        &fleet,
        "rc-nosudo",
        &[("ROLECALL_BECOME_PASSWORD", "rc-nosudo-secret")],
        &["--become"],
    )
    .code(3)
    .stdout_has("rc-nosudo is not in sudoers");
}

#[test]
fn a_plugin_can_ask_for_root_per_command() {
    if !crate::support::sudo_users() {
        return;
    }
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let debug = |user: &str| {
        let t = Test::new().yaml(&fleet.yaml(""));
        let dir = crate::plugins::plugin_dir(&t, &[("libfixture_ok.so", &crate::plugins::lib("fixture_ok"))]);
        let args: Vec<String> = fleet
            .args()
            .into_iter()
            .map(|a| if a == whoami() { user.to_string() } else { a })
            .collect();
        t.args(["debug", "--only", "fixture-root,fixture-echo", "--format", "json"])
            .args(["--plugin-dir", &dir.display().to_string()])
            .args(args)
            .deadline(DEADLINE)
            .run()
    };
    let out = debug("rc-nopw");
    out.code(0);
    let text = out.json().to_string();
    assert!(text.contains(r#""message":"root""#), "{text}");
    // Only the command the plugin asked for runs as root.
    assert!(text.contains(r#""message":"hello""#), "{text}");
    // sudo refusing is a host not worked on as asked: incomplete, as for unreachable hosts.
    let out = debug("rc-pw");
    out.code(3);
    let text = out.json().to_string();
    assert!(
        text.contains("become-failed: sudo needs a password for rc-pw"),
        "{text}"
    );
}

#[test]
fn become_in_the_deployment_is_per_role() {
    if !crate::support::sudo_users() {
        return;
    }
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let mut yaml = fleet.yaml("");
    yaml.push_str(&format!(
        "  admin:\n    hosts: [{}]\n    become: true\n",
        fleet.hosts[0].name
    ));
    let args: Vec<String> = fleet
        .args()
        .into_iter()
        .map(|a| if a == whoami() { "rc-nopw".to_string() } else { a })
        .collect();
    let out = Test::new()
        .yaml(&yaml)
        .args(["run", "--all", "--format", "json"])
        .args(args)
        .args(["--", "id -un"])
        .deadline(DEADLINE)
        .run();
    out.code(0);
    let j = out.json();
    let text = j.to_string();
    assert!(text.contains("root"), "{text}");
    assert!(text.contains("rc-nopw"), "{text}");
}

#[test]
fn run_needs_a_pattern_and_patterns_list_hosts() {
    let yaml = "hosts:\n  nc[01:08]:\n    address: 127.0.0.[11:18]\n  web01: 127.0.0.20\nroles:\n  node-controller: ['nc[01:08]']\n  web: [web01]\n";
    Test::new()
        .yaml(yaml)
        .args(["run", "--", "true"])
        .run()
        .code(2)
        .stderr_has("say which hosts: --limit PATTERN, --roles ROLE,.. or --all");
    let out = Test::new()
        .yaml(yaml)
        .args([
            "run",
            "--limit",
            "nc[01-04,07]:web:!nc02",
            "--list-hosts",
            "--",
            "true",
        ])
        .run();
    out.code(0);
    assert_eq!(out.stdout, "nc01\nnc03\nnc04\nnc07\nweb01\n");
    let out = Test::new()
        .yaml(yaml)
        .args(["debug", "-l", "node-controller:&nc0[1-3]", "--list-hosts"])
        .run();
    out.code(0);
    assert_eq!(out.stdout, "nc01\nnc02\nnc03\n");
    Test::new()
        .yaml(yaml)
        .args(["run", "--limit", "nc09", "--", "true"])
        .run()
        .code(2)
        .stderr_has("the pattern `nc09` selects no host of deploy.yaml")
        .stderr_has("pattern `nc09` matches no host or group: skipped (did you mean");
}

#[test]
fn a_deployment_host_can_be_the_jump_host_and_its_key_is_checked() {
    let Some(mut fleet) = crate::support::fleet(2) else {
        return;
    };
    let (bastion, target) = (fleet.hosts[0].name.clone(), fleet.hosts[1].name.clone());
    let yaml = fleet.yaml(&format!(
        "  behind:\n    hosts: [{target}]\n    jump: {bastion}\n"
    ));
    let run = |fleet: &Fleet| {
        Test::new()
            .yaml(&yaml)
            .args([
                "run",
                "--limit",
                "behind",
                "--connect-timeout",
                "30",
                "--retries",
                "0",
            ])
            .args(fleet.args())
            .args(["--", "echo through"])
            .deadline(DEADLINE)
            .run()
    };
    run(&fleet).code(0).stdout_has("through");
    let shown = Test::new()
        .yaml(&yaml)
        .args(["hosts", &target])
        .args(fleet.args())
        .run();
    shown
        .code(0)
        .stdout_has("role behind")
        .stdout_has(&format!("via {bastion}"));
    // A bastion whose key changed is refused like any host; its targets say why.
    fleet.change_host_key(0);
    let out = run(&fleet);
    out.code(3)
        .stdout_has(&format!(
            "jump host {}@{}:{}",
            whoami(),
            fleet.hosts[0].address,
            fleet.hosts[0].port
        ))
        .stdout_has("host-key-changed");
}

/// Regression: libssh2 opens one channel at a time per session, so a target the bastion could
/// not reach (a black-holed address) held up every target queued behind it until its connect
/// timed out.
#[test]
fn a_black_holed_target_does_not_hold_up_the_others_behind_the_same_bastion() {
    let Some(fleet) = crate::support::fleet(7) else {
        return;
    };
    let hole = rolecall_fleet::BlackHole::new(&fleet.hosts[0].address);
    let bastion = format!("{}:{}", fleet.hosts[0].address, fleet.hosts[0].port);
    // The black-holed target first, so that its channel is the first one opened.
    let mut cfg = format!("Host t0\n  HostName {}\n  Port {}\n", hole.address, hole.port);
    cfg.push_str(&ssh_config(
        &fleet,
        1,
        &format!("Host t*\n  ProxyJump {bastion}\n"),
    ));
    let mut yaml = String::from("hosts:\n  t0:\n");
    yaml.push_str(bare_names(&fleet, 1).trim_start_matches("hosts:\n"));
    let out = Test::new()
        .yaml(&yaml)
        .file("ssh_config", cfg.as_bytes())
        .args([
            "run",
            "--all",
            "-F",
            "ssh_config",
            "--connect-timeout",
            "8",
            "--forks",
            "8",
        ])
        .args(["--format", "json", "--", "echo up"])
        .deadline(DEADLINE)
        .run();
    out.code(3);
    let j = out.json();
    let hosts = j["results"].as_array().expect("results");
    let up = hosts.iter().filter(|h| h["outcome"] == "ok").count();
    assert_eq!(up, 6, "{j:#}");
    // Each target answered long before the black hole's own 8 s timeout.
    let slowest = hosts
        .iter()
        .filter(|h| h["outcome"] == "ok")
        .filter_map(|h| h["duration_ms"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(slowest < 6000, "{j:#}");
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
}

#[test]
fn bad_reach_flags_are_usage_errors_with_their_reason() {
    let yaml = "hosts:\n  a: 127.0.0.2\n  b: 127.0.0.3\n";
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "--shard", "4/3", "--", "true"])
        .run()
        .code(2)
        .stderr_has("`4/3` is not a shard: give I/N with 1 <= I <= N");
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "--shard", "3/3", "--list-hosts", "--", "true"])
        .run()
        .code(2)
        .stderr_has("shard 3/3 of the 2 selected hosts is empty");
    Test::new()
        .yaml(yaml)
        .args(["hosts", "-F", "no-such-config"])
        .run()
        .code(2)
        .stderr_has("cannot read the ssh configuration `no-such-config`");
    // A value ssh_config cannot mean is a warning naming its line; the default stands.
    let out = Test::new()
        .yaml(yaml)
        .file("cfg", b"Host *\n  Port twenty-two\n")
        .args(["hosts", "-F", "cfg", "a"])
        .run();
    out.code(0)
        .stderr_has("cfg:2: `Port twenty-two` is not a valid value; the default is used")
        .stdout_has("port          22");
}

/// Batches travel through jump hosts: declarative checks (one probe per check, all of a host's
/// in one channel) on targets behind a bastion, every check answered per target.
#[test]
fn batched_checks_reach_targets_behind_a_bastion() {
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
    let bastion = format!("{}:{}", fleet.hosts[0].address, fleet.hosts[0].port);
    let cfg = ssh_config(&fleet, 1, &format!("Host t*\n  ProxyJump {bastion}\n"));
    let yaml = bare_names(&fleet, 1).replace(
        "roles:\n  targets:\n",
        "roles:\n  targets:\n    checks:\n      - {id: os, command: uname -s, stdout: Linux}\n      \
         - {id: etc, file: /etc, type: directory}\n      - {id: not-there, file: /rolecall-absent}\n    hosts:\n",
    ).replace("\n    - t", "\n      - t");
    let out = Test::new()
        .yaml(&yaml)
        .file("ssh_config", cfg.as_bytes())
        .args([
            "debug",
            "--only",
            "checks",
            "--format",
            "json",
            "-F",
            "ssh_config",
            "--connect-timeout",
            "30",
        ])
        .deadline(DEADLINE)
        .run();
    let v = out.code(1).json();
    let results = v["results"].as_array().expect("results");
    for t in ["t1", "t2"] {
        for (check, status) in [("os", "pass"), ("etc", "pass"), ("not-there", "fail")] {
            assert!(
                results
                    .iter()
                    .any(|r| r["host"] == t && r["check"] == check && r["status"] == status),
                "{check} on {t}: {v}"
            );
        }
    }
}

/// Every host name of every configuration in tests/fixtures/ssh_config, resolved by `rolecall
/// hosts -F FILE` and by OpenSSH's own `ssh -G` (tests/fixtures/ssh_config/expected, made by
/// `scripts/ssh-expected`): the same value for every field the configuration decides; a file
/// ssh refuses, rolecall refuses. (`ProxyCommand` is compared once rolecall runs it.)
#[test]
fn ssh_config_resolves_as_ssh_g_does() {
    let dir = crate::support::fixture("ssh_config/expected");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("expected/")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    let (mut fields, mut files) = (0, 0);
    let mut wrong: Vec<String> = Vec::new();
    for path in entries {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let cfg = crate::support::fixture(&format!("ssh_config/{name}"));
        let hosts = doc["hosts"].as_object().expect("hosts");
        let mut yaml = String::from("hosts:\n");
        for h in hosts.keys() {
            yaml.push_str(&format!("  {h:?}: {{}}\n"));
        }
        yaml.push_str("roles:\n  all-of-them: [");
        yaml.push_str(
            &hosts
                .keys()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        yaml.push_str("]\n");
        if hosts.is_empty() {
            yaml = "hosts:\n  somewhere: {}\nroles:\n  r: [somewhere]\n".into();
        }
        let t = Test::new().yaml(&yaml);
        let home = t.dir().display().to_string();
        let out = t
            .args([
                "hosts",
                "--format",
                "json",
                "-F",
                cfg.to_str().expect("utf-8 path"),
            ])
            .env("USER", doc["local_user"].as_str().unwrap_or("root"))
            .run();
        files += 1;
        if let Some(why) = doc["refused"].as_str() {
            if out.code != 2 || !out.stderr.contains("bad configuration option") {
                wrong.push(format!(
                    "{name}: ssh refuses it ({why}); rolecall: exit {} {}",
                    out.code, out.stderr
                ));
            }
            continue;
        }
        if out.code != 0 {
            wrong.push(format!("{name}: rolecall failed: {}", out.stderr));
            continue;
        }
        let got = out.json();
        let tilde = |s: &str| s.replacen(&format!("{home}/"), "~/", 1);
        for r in got["hosts"].as_array().expect("hosts") {
            let host = r["name"].as_str().expect("name");
            let want = &hosts[host];
            let s = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let list = |v: &serde_json::Value| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| tilde(p.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
            };
            let address = s(&r["address"]["value"]);
            for (field, value) in want.as_object().expect("fields") {
                fields += 1;
                let ours = match field.as_str() {
                    "hostname" => address.clone(),
                    "user" => s(&r["user"]["value"]),
                    "port" => s(&r["port"]["value"]),
                    "identitiesonly" => if r["identities_only"]["value"] == true {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_string(),
                    "stricthostkeychecking" => match r["host_key_checking"]["value"].as_str() {
                        Some("strict") => "true".into(),
                        Some("off") => "false".into(),
                        other => other.unwrap_or_default().to_string(),
                    },
                    "userknownhostsfile" => list(&r["known_hosts"]["value"]).join(" "),
                    "globalknownhostsfile" => list(&r["global_known_hosts"]["value"]).join(" "),
                    "connecttimeout" => format!(
                        "{}",
                        r["connect_timeout_seconds"]["value"].as_f64().unwrap_or(0.0) as u64
                    ),
                    "proxyjump" => r["jump_hosts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|j| s(&j["name"]))
                        .collect::<Vec<_>>()
                        .join(","),
                    "identityfile" => list(&r["identities"]["value"]).join("\n"),
                    "proxycommand" => s(&r["proxy_command"]["value"]),
                    _ => continue,
                };
                let theirs = match (field.as_str(), value) {
                    // ssh -G prints these before expanding `%` tokens.
                    ("identityfile", serde_json::Value::Array(a)) => a
                        .iter()
                        .map(|p| {
                            p.as_str()
                                .unwrap_or_default()
                                .replace("%h", &address)
                                .replace("%n", host)
                                .replace("%r", &s(&r["user"]["value"]))
                                .replace("%p", &s(&r["port"]["value"]))
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    (_, v) => s(v),
                };
                if ours != theirs {
                    wrong.push(format!(
                        "{name}: {host}: {field}: ssh -G `{theirs}`, rolecall `{ours}`"
                    ));
                }
            }
        }
    }
    assert!(files >= 7, "only {files} configurations");
    assert!(fields >= 100, "only {fields} fields compared");
    assert!(
        wrong.is_empty(),
        "{} of {fields} fields differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// ssh_config's ProxyCommand, as ssh runs it: `ssh -W %h:%p` through another host of the
/// fleet reaches the target (tokens expanded, the stream bridged to the session); a command
/// that fails makes that host unreachable with the command's own words; `ProxyCommand none`
/// turns an inherited one off. (It was only warned about: such hosts could not be reached.)
#[test]
fn proxy_command_reaches_hosts_as_ssh_does() {
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
    let (bastion, target, direct) = (&fleet.hosts[0], &fleet.hosts[1], &fleet.hosts[2]);
    let me = whoami();
    let config = format!(
        "Host behind\n  HostName {}\n  Port {}\n  ProxyCommand touch proxied-%n; exec ssh -F /dev/null -i {} -o UserKnownHostsFile={} \
         -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -p {} {me}@{} -W %h:%p\n\
         Host broken\n  HostName {}\n  Port {}\n  ProxyCommand echo no route to the bastion >&2; exit 3\n\
         Host plain\n  HostName {}\n  Port {}\n  ProxyCommand none\nHost *\n  ProxyCommand false\n",
        target.address,
        target.port,
        fleet.user_key.display(),
        fleet.known_hosts.display(),
        bastion.port,
        bastion.address,
        target.address,
        target.port,
        direct.address,
        direct.port,
    );
    let yaml = "hosts:\n  behind: {}\n  broken: {}\n  plain: {}\nroles:\n  r: [behind, broken, plain]\n";
    let t = Test::new().yaml(yaml).file("ssh_config", config.as_bytes());
    let cfg = t.dir().join("ssh_config");
    let t = t
        .args([
            "run",
            "--all",
            "--format",
            "json",
            "-F",
            cfg.to_str().expect("utf-8 path"),
        ])
        .args(["-i", fleet.user_key.to_str().expect("utf-8 path")])
        .args(["--known-hosts", fleet.known_hosts.to_str().expect("utf-8 path")])
        .args(["--user", &me, "--connect-timeout", "30", "--", "echo reached"])
        .deadline(Duration::from_secs(90));
    let out = t.run();
    let t_dir = t.dir().to_path_buf();
    out.code(3);
    let j = out.json();
    let result = |h: &str| crate::support::host_result(&j, h);
    assert_eq!(result("behind")["stdout"], "reached\n", "{j}");
    assert!(
        t_dir.join("proxied-behind").exists(),
        "the ProxyCommand ran, with %n expanded"
    );
    assert_eq!(result("plain")["stdout"], "reached\n", "{j}");
    let broken = result("broken");
    assert!(
        broken["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no route to the bastion"),
        "{broken}"
    );
}

/// A jump host's own ProxyJump from ssh_config is followed, as OpenSSH follows it: the target
/// names only `hopb`, ssh_config says `hopb` is reached through `hopa`; `hosts` shows the whole
/// chain, and with `hopa` stopped, the error names `hopa`.
#[test]
fn a_jump_hosts_own_proxy_jump_is_followed() {
    let Some(mut fleet) = crate::support::fleet(3) else {
        return;
    };
    let me = whoami();
    let (a_address, a_port) = (fleet.hosts[0].address.clone(), fleet.hosts[0].port);
    let target = fleet.hosts[2].name.clone();
    let config = format!(
        "Host hopb\n  HostName {}\n  Port {}\n  ProxyJump {me}@{a_address}:{a_port}\n",
        fleet.hosts[1].address, fleet.hosts[1].port
    );
    let yaml = fleet.yaml(&format!("  behind:\n    hosts: [{target}]\n    jump: hopb\n"));
    let run = |fleet: &Fleet, args: &[&str], tail: &[&str]| {
        let t = Test::new().yaml(&yaml).file("ssh_config", config.as_bytes());
        let cfg = t.dir().join("ssh_config").display().to_string();
        t.args(args.iter().copied())
            .args(["-F", &cfg, "--connect-timeout", "30"])
            .args(fleet.args())
            .args(tail.iter().copied())
            .deadline(DEADLINE)
            .run()
    };
    let go = ["--retries", "0", "--", "echo through two hops"];
    run(&fleet, &["run", "--limit", "behind"], &go)
        .code(0)
        .stdout_has("through two hops");
    run(&fleet, &["hosts", &target], &[])
        .code(0)
        .stdout_has(&format!("via {me}@{a_address}:{a_port}"))
        .stdout_has("via hopb");
    fleet.stop(0);
    let out = run(&fleet, &["run", "--limit", "behind"], &go);
    out.code(3)
        .stdout_has(&format!("jump host {me}@{a_address}:{a_port}"));
}

/// `Match exec` is evaluated as ssh evaluates it (the user's shell, tokens expanded, exit 0
/// matches) and decides the user here; `-vv` shows each command and its result. (It was
/// skipped with a warning.)
#[test]
fn match_exec_decides_the_user() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let me = whoami();
    let (chosen, other) = (fleet.hosts[0].name.clone(), fleet.hosts[1].name.clone());
    // `%n` is what ssh would be given: the deployment's address.
    let (ca, oa) = (fleet.hosts[0].address.clone(), fleet.hosts[1].address.clone());
    let config = format!("Match exec \"test %n = {ca}\"\n  User {me}\nHost *\n  User nobody-such-user\n");
    let yaml = fleet.yaml("");
    let t = Test::new().yaml(&yaml).file("ssh_config", config.as_bytes());
    let cfg = t.dir().join("ssh_config").display().to_string();
    let t = t
        .args(["run", "--all", "--format", "json", "-F", &cfg, "-vv"])
        .args(["-i", fleet.user_key.to_str().expect("utf-8 path")])
        .args(["--known-hosts", fleet.known_hosts.to_str().expect("utf-8 path")])
        .args(["--connect-timeout", "30", "--retries", "0", "--", "id -un"])
        .deadline(DEADLINE);
    let out = t.run();
    out.code(3)
        .stderr_has(&format!("Match exec `test {ca} = {ca}`: exit 0: matched"))
        .stderr_has(&format!("Match exec `test {oa} = {ca}`: exit 1: no match"));
    let j = out.json();
    let result = |h: &str| crate::support::host_result(&j, h);
    assert_eq!(result(&chosen)["stdout"], format!("{me}\n"), "{j}");
    assert_eq!(result(&other)["outcome"], "auth-failed", "{j}");
}

/// What ssh refuses in a configuration, rolecall refuses before connecting: exit 2, naming the
/// file and line (an Include loop, an unknown option, a FIFO).
#[test]
fn ssh_configurations_ssh_refuses_are_exit_2() {
    let yaml = "hosts:\n  web01: 127.0.0.2\nroles:\n  web: [web01]\n";
    // Relative Includes are relative to ~/.ssh, as in ssh: these name files here in full.
    let t = Test::new()
        .yaml(yaml)
        .file("odd.conf", b"Host *\n  Frobnicate yes\n");
    let dir = t.dir().to_path_buf();
    let inc = |name: &str| format!("Include {}\n", dir.join(name).display());
    std::fs::write(dir.join("a.conf"), inc("b.conf")).expect("write");
    std::fs::write(dir.join("b.conf"), inc("a.conf")).expect("write");
    std::fs::write(dir.join("top.conf"), format!("Host *\n  {}", inc("a.conf"))).expect("write");
    let _ = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo.conf"))
        .status();
    std::fs::write(
        dir.join("viafifo.conf"),
        format!("Include {}\n", dir.join("fifo.conf").display()),
    )
    .expect("write");
    for (file, message) in [
        ("top.conf", "too many recursive configuration includes"),
        (
            "odd.conf",
            "odd.conf:2: `Frobnicate yes`: bad configuration option `Frobnicate`",
        ),
        ("viafifo.conf", "not a regular file"),
    ] {
        Test::new()
            .yaml(yaml)
            .args(["hosts", "-F", dir.join(file).to_str().expect("utf-8 path")])
            .deadline(Duration::from_secs(20))
            .run()
            .code(2)
            .stderr_has(message);
    }
    drop(t);
}

/// Regression: a run resolved each host's settings twice (for the executor, then for the
/// plugins' view of the fleet), so every `Match exec` command ran twice per host. Now once per
/// host per run, for `run`, `debug` and `check` alike; `hosts` resolves through the same code.
#[test]
fn match_exec_runs_once_per_host_per_run() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let count_file = |t: &Test| t.dir().join("count");
    for command in [
        &["run", "-F", "ssh_config", "--all", "--", "true"][..],
        &["debug", "-F", "ssh_config", "--all", "--only", "facts"][..],
        &[
            "check",
            "-F",
            "ssh_config",
            "--all",
            "--only",
            "facts,cardinality",
        ][..],
        &["hosts", "-F", "ssh_config"][..],
    ] {
        let t = Test::new().yaml(&bare_names(&fleet, 0));
        let path = count_file(&t).display().to_string();
        let extra = format!("Match exec \"echo %n >> {path}\"\n  ServerAliveInterval 30\n");
        let counter = count_file(&t);
        // `t` lives on: its directory holds the counter.
        let t = t
            .file("ssh_config", ssh_config(&fleet, 0, &extra).as_bytes())
            .args(command)
            .deadline(DEADLINE);
        let out = t.run();
        assert!(
            out.code == 0 || out.code == 1,
            "{command:?}: exit {}: {}",
            out.code,
            out.stderr
        );
        let mut ran: Vec<String> = std::fs::read_to_string(&counter)
            .unwrap_or_else(|e| panic!("{command:?}: Match exec did not run ({e}): {}", out.stderr))
            .lines()
            .map(str::to_string)
            .collect();
        ran.sort();
        assert_eq!(ran, ["t1", "t2"], "{command:?}: Match exec runs per host");
    }
}

/// `rolecall hosts` shows what a run uses: for each host, the address, port and user `hosts`
/// reports (each from its own source: ssh_config, the host entry, a flag) are the ones the run's
/// session reached (`$SSH_CONNECTION` and `id -un` on the host).
#[test]
fn hosts_shows_the_settings_a_run_uses() {
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
    // t1 and t2 from ssh_config; t3's port from its entry (ssh_config's is shadowed).
    let mut yaml = bare_names(&fleet, 0);
    yaml = yaml.replace("  t3:\n", &format!("  t3:\n    port: {}\n", fleet.hosts[2].port));
    let cfg = ssh_config(&fleet, 0, "").replace(
        &format!(
            "Host t3\n  HostName {}\n  Port {}\n",
            fleet.hosts[2].address, fleet.hosts[2].port
        ),
        &format!("Host t3\n  HostName {}\n  Port 1\n", fleet.hosts[2].address),
    );
    let shown = Test::new()
        .yaml(&yaml)
        .file("ssh_config", cfg.as_bytes())
        .args(["hosts", "-F", "ssh_config", "--format", "json"])
        .run();
    shown.code(0);
    let hosts = shown.json()["hosts"].clone();
    let t = Test::new().yaml(&yaml).file("ssh_config", cfg.as_bytes());
    let ran = run_with(t, &["--format", "json", "--", "echo $(id -un) $SSH_CONNECTION"]);
    ran.code(0);
    let j = ran.json();
    for h in hosts.as_array().expect("hosts") {
        let name = h["name"].as_str().expect("name");
        let out = crate::support::host_result(&j, name)["stdout"]
            .as_str()
            .expect("stdout")
            .to_string();
        let words: Vec<&str> = out.split_whitespace().collect();
        // user client_ip client_port server_ip server_port
        assert_eq!(words[0], h["user"]["value"], "{name}: {out}");
        assert_eq!(words[3], h["address"]["value"], "{name}: {out}");
        assert_eq!(words[4], h["port"]["value"].to_string(), "{name}: {out}");
    }
    assert_eq!(hosts[2]["port"]["from"], "host entry", "{hosts}");
    assert!(
        hosts[0]["port"]["from"]
            .as_str()
            .is_some_and(|f| f.contains("ssh_config:")),
        "{hosts}"
    );
}
