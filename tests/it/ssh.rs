//! End to end over real SSH: the rolecall binary against real OpenSSH `sshd` processes on
//! loopback (tests/fleet), with real keys, known_hosts files and timeouts.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rolecall_fleet::{free_port, fresh_address, Fleet};

use crate::plugins::{lib, plugin_dir};
use crate::support::{Output, Test};

/// `rolecall run` on `fleet` with `extra` flags and `command`. Unless a test sets its own, the
/// connect timeout is generous: the whole suite's sshd fleets share two cores.
fn run(fleet: &Fleet, yaml: &str, extra: &[&str], command: &str) -> Output {
    let patient: &[&str] = if extra.contains(&"--connect-timeout") {
        &[]
    } else {
        &["--connect-timeout", "30"]
    };
    Test::new()
        .yaml(yaml)
        .args(["run", "--all"])
        .args(fleet.args())
        .args(patient)
        .args(extra)
        .args(["--", command])
        .deadline(DEADLINE)
        .run()
}

/// `fleet`'s deployment with one more host, `name` at `address:port`, in role `fleet`.
fn with_host(fleet: &Fleet, name: &str, address: &str, port: u16) -> String {
    fleet.yaml("").replace(
        "roles:\n  fleet:\n",
        &format!("  {name}:\n    address: {address}\n    port: {port}\nroles:\n  fleet:\n    - {name}\n"),
    )
}

/// Generous: several sshd fleets share two cores while the whole suite runs in parallel.
const DEADLINE: Duration = Duration::from_secs(90);

#[test]
fn fan_out_to_20_hosts_groups_identical_answers() {
    let Some(fleet) = crate::support::fleet(20) else {
        return;
    };
    let out = run(&fleet, &fleet.yaml(""), &[], "echo same");
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr (no progress line off a terminal): {}",
        out.stderr
    );
    out.code(0)
        .stdout_has("==> h[01-20] (20 hosts): exit 0\nsame\n")
        .stdout_has("on 20 hosts: 20 ok, 0 failed, 0 not run");
    let out = run(
        &fleet,
        &fleet.yaml(""),
        &["--format", "json", "--roles", "fleet"],
        "hostname >/dev/null",
    );
    let v = out.code(0).json();
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 20);
    assert!(
        results
            .iter()
            .all(|r| r["outcome"] == "ok" && r["exit_code"] == 0),
        "{v}"
    );
    assert_eq!(results[19]["host"], "h20");
}

#[test]
fn changed_host_key_is_refused_and_the_others_run() {
    let Some(mut fleet) = crate::support::fleet(3) else {
        return;
    };
    fleet.change_host_key(1);
    let out = run(&fleet, &fleet.yaml(""), &[], "echo fine");
    out.code(3)
        .stdout_has("==> h[01,03] (2 hosts): exit 0")
        .stdout_has(
            "==> h02 (1 host): host-key-changed: the ssh-ed25519 key differs from the one recorded at",
        )
        .stdout_has("ssh-keygen -f");
}

#[test]
fn unknown_host_key_strict_refuses_and_accept_new_records() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    std::fs::write(&fleet.known_hosts, "# kept\n").expect("reset known_hosts");
    let out = run(&fleet, &fleet.yaml(""), &[], "true");
    out.code(3)
        .stdout_has("host-key-unknown: ")
        .stdout_has("--host-key-checking accept-new")
        .stdout_has("0 ok, 0 failed, 2 not run");
    let out = run(
        &fleet,
        &fleet.yaml(""),
        &["--host-key-checking", "accept-new"],
        "true",
    );
    out.code(0);
    let text = std::fs::read_to_string(&fleet.known_hosts).expect("known_hosts");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "# kept");
    assert!(
        lines.contains(&fleet.hosts[0].known_hosts_line().as_str()),
        "{text}"
    );
    // Recorded keys are now known: strict passes.
    run(&fleet, &fleet.yaml(""), &[], "true").code(0);
}

#[test]
fn off_warns_and_connects() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    std::fs::write(&fleet.known_hosts, "").expect("reset known_hosts");
    let out = run(&fleet, &fleet.yaml(""), &["--host-key-checking", "off"], "true");
    out.code(0).stderr_has("warning: host key checking is off");
}

#[test]
fn wrong_user_key_is_auth_failed() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let t = Test::new().yaml(&fleet.yaml(""));
    let other = t.dir().join("other_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let mut args = fleet.args();
    args[1] = other.display().to_string();
    let out = t.args(["run", "--all"]).args(args).args(["--", "true"]).run();
    out.code(3)
        .stdout_has("auth-failed: as ")
        .stdout_has("other_key (")
        .stdout_has("the server accepts publickey");
}

#[test]
fn port_with_no_listener_is_unreachable_quickly() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let address = fresh_address(77);
    let port = free_port(&address);
    let yaml = with_host(&fleet, "dead", &address, port);
    let out = run(&fleet, &yaml, &["--retries", "1"], "true");
    out.code(3)
        .stdout_has("==> h01 (1 host): exit 0")
        .stdout_has(&format!(
            "==> dead (1 host): unreachable: {address}:{port}: Connection refused"
        ));
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn silent_listener_is_a_bounded_handshake_timeout() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let address = fresh_address(77);
    let listener = TcpListener::bind((address.as_str(), 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s); // accept, never speak
        }
    });
    let yaml = with_host(&fleet, "mute", &address, port);
    let out = run(&fleet, &yaml, &["--connect-timeout", "1"], "true");
    out.code(3)
        .stdout_has("==> h01 (1 host): exit 0")
        .stdout_has("==> mute (1 host): SSH handshake timed out after 1.0s");
    assert!(out.elapsed < Duration::from_secs(8), "{:?}", out.elapsed);
}

#[test]
fn command_timeout_closes_the_command() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let yaml = fleet.yaml("");
    let out = Test::new()
        .yaml(&yaml)
        .args(["run", "--all", "--limit", "h01"])
        .args(fleet.args())
        .args(["--command-timeout", "2", "--", "echo started; sleep 600"])
        .deadline(DEADLINE)
        .run();
    out.code(3)
        .stdout_has("==> h01 (1 host): timed out after 2.0s\nstarted\n");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn five_megabytes_on_each_stream_at_once() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let cmd = "head -c 5000000 /dev/zero | tr '\\0' o & head -c 5000000 /dev/zero | tr '\\0' e >&2; wait";
    let out = run(
        &fleet,
        &fleet.yaml(""),
        &["--max-output", "8M", "--format", "json"],
        cmd,
    );
    let v = out.code(0).json();
    let r = &v["results"][0];
    assert_eq!(r["stdout"].as_str().map(str::len), Some(5_000_000));
    assert_eq!(r["stderr"].as_str().map(str::len), Some(5_000_000));
    assert!(r["stdout"]
        .as_str()
        .unwrap_or_default()
        .bytes()
        .all(|b| b == b'o'));
    // Default cap: 1 MiB kept per stream, the rest counted and marked.
    let out = run(&fleet, &fleet.yaml(""), &["--format", "json"], cmd);
    let v = out.code(0).json();
    let stdout = v["results"][0]["stdout"].as_str().unwrap_or_default();
    assert!(stdout.ends_with(
        "[rolecall: output truncated: kept 1048576 of 5000000 bytes; raise --max-output to see more]\n"
    ));
    let stderr = v["results"][0]["stderr"].as_str().unwrap_or_default();
    assert!(stderr.contains("kept 1048576 of 5000000 bytes"));
}

#[test]
fn signal_and_non_zero_exit_are_results() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let yaml = fleet.yaml("");
    let out = run(&fleet, &yaml, &["--limit", "h01"], "kill -9 $$");
    out.code(1).stdout_has("==> h01 (1 host): killed by signal KILL");
    let out = run(&fleet, &yaml, &[], "echo out; echo err >&2; exit 7");
    out.code(1)
        .stdout_has("==> h[01-02] (2 hosts): exit 7\nout\n--- stderr\nerr\n")
        .stdout_has("0 ok, 2 failed, 0 not run");
}

#[test]
fn target_outside_the_allow_list_is_never_contacted() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    // A loopback listener outside the allow-list, counting connections.
    let address = fresh_address(77);
    let listener = TcpListener::bind((address.as_str(), 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let contacted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&contacted);
    std::thread::spawn(move || {
        for _ in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let yaml = with_host(&fleet, "outside", &address, port);
    let allow = format!("{}/32", fleet.hosts[0].address);
    let out = Test::new()
        .yaml(&yaml)
        .args(["run", "--all"])
        .args(fleet.args())
        .env("ROLECALL_ALLOW_NETS", &allow)
        .args(["--", "true"])
        .run();
    out.code(3)
        .stdout_has("==> h01 (1 host): exit 0")
        .stdout_has(&format!(
        "==> outside (1 host): refused: {address} is outside the allowed networks ({allow}); not contacted"
    ));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        contacted.load(Ordering::SeqCst),
        0,
        "the refused target was contacted"
    );
}

#[test]
fn malformed_allow_list_is_a_usage_error() {
    let out = Test::new()
        .yaml("hosts:\n  a: 127.0.0.2\n")
        .args(["run", "--all", "--allow-nets", "127.0.0.0/40", "--", "true"])
        .run();
    out.code(2)
        .stdout_empty()
        .stderr_has("`127.0.0.0/40`: the prefix length must be 0 to 32");
}

#[test]
fn debug_runs_plugins_over_shared_sessions_and_reports_unreached_hosts() {
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
    let address = fresh_address(77);
    let port = free_port(&address);
    let yaml = with_host(&fleet, "gone", &address, port);
    let t = Test::new().yaml(&yaml);
    let dir = plugin_dir(
        &t,
        &[
            ("libfixture_ok.so", &lib("fixture_ok")),
            ("libfixture_panic.so", &lib("fixture_panic")),
        ],
    );
    let out = t
        .args([
            "debug",
            "--plugin-dir",
            &dir.display().to_string(),
            "--only",
            "fixture-echo,fixture-panic-debug",
            "--retries",
            "0",
        ])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    out.code(2) // the panicking debugger is a plugin error; it outranks the unreached host
        .stdout_has("fixture-echo")
        .stdout_has("hosts x plugins")
        .stdout_has("likely causes")
        .stdout_has(&format!(
            "1. 1 host not reached (gone): unreachable: {address}:{port}: Connection refused"
        ))
        .stdout_has("1 result on hosts not reached: see cause 1")
        .stdout_has("fixture debugger panic after 4 results");
    let t = Test::new().yaml(&yaml);
    let dir = plugin_dir(&t, &[("libfixture_ok.so", &lib("fixture_ok"))]);
    let v = t
        .args([
            "debug",
            "--plugin-dir",
            &dir.display().to_string(),
            "--retries",
            "0",
        ])
        .args(["--only", "fixture-echo", "--format", "json"])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let json = v.code(3).json();
    let passes = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "pass")
        .count();
    assert_eq!(passes, 3, "{json}");
    assert_eq!(json["unreached"][0]["host"], "gone");
    assert_eq!(json["summary"]["exit_code"], 3);
}

#[test]
fn debug_dry_run_lists_commands_and_connects_to_nothing() {
    // No fleet at all: a dry run must not need one.
    let t =
        Test::new().yaml("hosts:\n  nc[01:04]: 127.0.0.[11:14]\nroles:\n  node-controller: ['nc[01:04]']\n");
    let dir = plugin_dir(&t, &[("libfixture_ok.so", &lib("fixture_ok"))]);
    let out = t
        .args([
            "debug",
            "--dry-run",
            "--only",
            "fixture-echo",
            "--plugin-dir",
            &dir.display().to_string(),
            "--limit",
            "nc0[12],nc[04:04]",
        ])
        .run();
    out.code(0)
        .stdout_has("fixture-echo")
        .stdout_has("echo hello")
        .stdout_has("nc[01-02,04]")
        .stdout_has("dry run: 1 command from 1 plugin for 3 hosts; nothing was sent");
    // The JSON summary's exit code is the process's: a dry run checks nothing, by design.
    let t = Test::new().yaml("hosts:\n  nc01: 127.0.0.11\nroles:\n  node-controller: [nc01]\n");
    let dir = plugin_dir(&t, &[("libfixture_ok.so", &lib("fixture_ok"))]);
    let out = t
        .args(["debug", "--dry-run", "--format", "json", "--only", "fixture-echo"])
        .args(["--plugin-dir", &dir.display().to_string()])
        .run();
    out.code(0);
    assert_eq!(out.json()["summary"]["exit_code"], 0);
}

#[test]
fn unknown_role_and_empty_limit_are_usage_errors() {
    let yaml = "hosts:\n  nc01: 127.0.0.11\nroles:\n  node-controller: [nc01]\n";
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "--roles", "node-controler", "--", "true"])
        .run()
        .code(2)
        .stdout_empty()
        .stderr_has("no role `node-controler` in deploy.yaml")
        .stderr_has("did you mean `node-controller`");
    Test::new()
        .yaml(yaml)
        .args(["debug", "--limit", "web*"])
        .run()
        .code(2)
        .stdout_empty()
        .stderr_has("the pattern `web*` selects no host of deploy.yaml")
        .stderr_has("pattern `web*` matches no host or group: skipped");
}

#[test]
fn agent_identities_are_tried() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let t = Test::new().yaml(&fleet.yaml(""));
    let sock = t.dir().join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(&fleet.user_key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add");
    assert!(added.status.success(), "{added:?}");
    // No -i: only the agent holds the key (HOME points at an empty directory).
    let home = t.dir().display().to_string();
    let out = t
        .args([
            "run",
            "--all",
            "--known-hosts",
            &fleet.known_hosts.display().to_string(),
        ])
        .args(["--user", &rolecall_fleet::whoami(), "--", "echo via-agent"])
        .env("SSH_AUTH_SOCK", &sock.display().to_string())
        .env("HOME", &home)
        .deadline(DEADLINE)
        .run();
    out.code(0).stdout_has("via-agent");
}

#[test]
fn replayed_outputs_drive_the_shipped_debuggers() {
    // The scripted executor: EL6-era answers, one node controller stopped. A stopped service is
    // a FAIL on that host; the run goes on and other hosts and plugins report.
    let canned = "\
- host: nc02
  command: chkconfig
  exit: 0
  stdout: \"manager: sysv\\neucalyptus-nc 3\\n--\\neucalyptus-nc 0:off 1:off 2:on 3:on 4:on 5:on 6:off\\n\"
- host: nc03
  outcome: unreachable
  message: 127.0.0.13:22 connection refused
- command: chkconfig
  stdout: \"manager: sysv\\neucalyptus-nc 0\\n--\\neucalyptus-nc 0:off 1:off 2:on 3:on 4:on 5:on 6:off\\n\"
";
    let out = Test::new()
        .yaml(
            "hosts:\n  nc[01:03]: 127.0.0.[11:13]\nroles:\n  node-controller:\n    hosts: ['nc[01:03]']\n    \
             expect: {services: [eucalyptus-nc]}\n",
        )
        .file("canned.yaml", canned.as_bytes())
        .args(["debug", "--replay", "canned.yaml", "--only", "services", "--show", "all"])
        .run();
    out.code(3)
        // Locations as `validate` gives them: file:line:column, then the YAML path.
        .stdout_has("deploy.yaml:6:24 (roles.node-controller.expect.services)")
        .stdout_has("eucalyptus-nc (active, enabled)")
        .stdout_has("eucalyptus-nc (inactive, enabled): not running")
        .stdout_has("unreachable: 127.0.0.13:22 connection refused")
        .stdout_has("1 passed, 1 failed, 0 warnings, 0 skipped, 1 error; 1 host not reached");
    // A malformed canned file names its line.
    Test::new()
        .yaml("hosts:\n  a: 127.0.0.2\n")
        .file("canned.yaml", b"- host: a\n  outcom: ok\n")
        .args(["run", "--all", "--replay", "canned.yaml", "--", "true"])
        .run()
        .code(2)
        .stderr_has("canned.yaml:2:")
        .stderr_has("outcom");
}

/// An EL6 node controller as seen through `service`/`chkconfig` and `netstat`: `nc_state` is
/// `service eucalyptus-nc status`'s exit code (0 running, 3 stopped). Other commands run for real.
fn el6_node_controller(nc_state: u8) -> String {
    format!(
        "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n\
         'exec sh -s') echo 'canned answers only' >&2; exit 1 ;;\n\
         *chkconfig*) printf 'manager: sysv\\neucalyptus-nc {nc_state}\\nlibvirtd 0\\n--\\n\
         eucalyptus-nc 0:off 1:off 2:on 3:on 4:on 5:on 6:off\\nlibvirtd 0:off 1:off 2:on 3:on 4:on 5:on 6:off\\n' ;;\n\
         *'tool: ss'*) printf 'tool: netstat\\ntcp 0 0 0.0.0.0:8775 0.0.0.0:* LISTEN 2212/httpd-nc\\n' ;;\n\
         *) exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\" ;;\nesac\n"
    )
}

#[test]
fn eucalyptus_debuggers_over_ssh_report_a_stopped_node_controller_and_go_on() {
    let Some(mut fleet) = crate::support::fleet(3) else {
        return;
    };
    for (i, state) in [0, 3, 0].into_iter().enumerate() {
        fleet.force_command(i, &el6_node_controller(state));
    }
    let yaml = fleet
        .yaml("")
        .replace("roles:\n  fleet:\n", "roles:\n  node-controller:\n");
    let out = Test::new()
        .yaml(&yaml)
        .args(["debug", "--only", "euca-nc,euca-files", "--format", "json"])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let v = out.code(1).json();
    let results = v["results"].as_array().expect("results");
    let find = |plugin: &str, host: &str, status: &str, needle: &str| {
        results.iter().any(|r| {
            r["plugin"] == plugin
                && r["host"] == host
                && r["status"] == status
                && r["message"].as_str().is_some_and(|m| m.contains(needle))
        })
    };
    assert!(
        find(
            "euca-nc",
            "h02",
            "fail",
            "eucalyptus-nc (inactive, enabled): not running"
        ),
        "{v}"
    );
    assert!(find("euca-nc", "h01", "pass", "eucalyptus-nc (active, enabled)"));
    assert!(find("euca-nc", "h03", "pass", "eucalyptus-nc (active, enabled)"));
    assert!(find("euca-nc", "h02", "pass", "8775/tcp listening by httpd-nc"));
    // The other plugin ran its real commands on every host, stopped NC or not.
    for h in ["h01", "h02", "h03"] {
        assert!(find("euca-files", h, "fail", "/var/log/eucalyptus: "), "{h}: {v}");
    }
    assert_eq!(v["unreached"].as_array().map(Vec::len), Some(0));
}

#[test]
fn generic_debuggers_run_real_commands_on_the_fleet() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let (a, b) = (&fleet.hosts[0], &fleet.hosts[1]);
    let expect = format!(
        "    expect:\n      ports: [{}/tcp, 1/udp]\n      memory: {{min_total_mb: 64}}\n      disk: {{/: {{max_used_percent: 100}}}}\n      \
         files: {{/etc: {{mode: '0755'}}, /nonexistent-rolecall: {{}}}}\n      connect: ['fleet:{}']\n",
        a.port, b.port
    );
    let yaml = fleet.yaml("").replacen(
        "roles:\n  fleet:\n",
        &format!("roles:\n  fleet:\n{expect}    hosts:\n"),
        1,
    );
    let yaml = yaml.replace("    - h0", "      - h0");
    let out = Test::new()
        .yaml(&yaml)
        .args([
            "debug",
            "--only",
            "facts,ports,memory,disk,files,connectivity,clock",
            "--format",
            "json",
        ])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let v = out.code(1).json();
    let results = v["results"].as_array().expect("results");
    let status = |plugin: &str, host: &str, needle: &str| -> Vec<String> {
        results
            .iter()
            .filter(|r| r["plugin"] == plugin && r["host"] == host)
            .filter(|r| r["message"].as_str().is_some_and(|m| m.contains(needle)))
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    for h in ["h01", "h02"] {
        assert_eq!(status("facts", h, "CPUs"), ["pass"], "{v}");
        assert_eq!(status("memory", h, "MB total"), ["pass"]);
        assert_eq!(status("disk", h, "/ on /"), ["pass"]);
        assert_eq!(status("clock", h, "s (±"), ["pass"]);
        // Every host shares this machine's sockets: h01's sshd port is listening everywhere.
        assert_eq!(status("ports", h, &format!("{}/tcp listening", a.port)), ["pass"]);
        assert_eq!(status("ports", h, "1/udp: nothing listening"), ["fail"]);
        assert_eq!(status("files", h, "/etc: directory"), ["pass"]);
        assert_eq!(status("files", h, "/nonexistent-rolecall: missing"), ["fail"]);
        assert_eq!(status("connectivity", h, "reaches h02"), ["pass"]);
    }
}

#[test]
fn malformed_execution_flags_are_usage_errors() {
    let yaml = "hosts:\n  a: 127.0.0.2\n";
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "--max-output", "lots", "--", "true"])
        .run()
        .code(2)
        .stdout_empty()
        .stderr_has("`lots` is not a size in bytes (such as 65536, 64K or 1M)");
    Test::new()
        .yaml(yaml)
        .args(["debug", "--forks", "0"])
        .run()
        .code(2)
        .stdout_empty()
        .stderr_has("--forks");
    Test::new()
        .yaml(yaml)
        .args(["run", "--all", "--command-timeout", "0", "--", "true"])
        .run()
        .code(2)
        .stderr_has("`0` is not a positive number of seconds");
}

/// 200 hosts, three planted faults: the faults and their hosts come first, everything else
/// folds, and the whole table stays short.
#[test]
fn two_hundred_hosts_read_faults_first_within_the_line_budget() {
    let df = |pct: u32| {
        format!(
            "    stdout: \"Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/vda1 41152736 {} {} {pct}% /\\n\"\n",
            41152736 / 100 * pct as u64,
            41152736 - 41152736 / 100 * pct as u64
        )
    };
    let mut canned =
        String::from("- host: h200\n  outcome: unreachable\n  message: 127.0.0.200:22 connection refused\n");
    canned.push_str(&format!(
        "- host: h017\n  command: df -Pk\n{}",
        df(97).replacen("    ", "  ", 1)
    ));
    for (glob, pct) in [("h0*", 41), ("h1*", 57)] {
        canned.push_str(&format!(
            "- host: \"{glob}\"\n  command: df -Pk\n{}",
            df(pct).replacen("    ", "  ", 1)
        ));
    }
    canned.push_str("- host: h123\n  command: /proc/meminfo\n  stdout: \"MemTotal: 262144 kB\\nMemAvailable: 100000 kB\\n\"\n");
    canned.push_str(
        "- command: /proc/meminfo\n  stdout: \"MemTotal: 8388608 kB\\nMemAvailable: 4194304 kB\\n\"\n",
    );
    let yaml = "hosts:\n  h[001:200]:\n    address: 127.0.[0:1].[1:100]\nroles:\n  fleet:\n    hosts: ['h[001:200]']\n    \
                expect: {disk: {/: {max_used_percent: 90}}, memory: {min_total_mb: 1024}}\n";
    let out = Test::new()
        .yaml(yaml)
        .file("canned.yaml", canned.as_bytes())
        .args(["debug", "--replay", "canned.yaml", "--only", "disk,memory"])
        .run();
    out.code(3);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() <= 60, "{} lines:\n{}", lines.len(), out.stdout);
    let head = lines[..25.min(lines.len())].join("\n");
    for fault in ["h017", "h123", "h200"] {
        assert!(head.contains(fault), "{fault} not in the first 25 lines:\n{head}");
    }
    // The healthy hosts fold, with the used % as a range.
    assert!(
        out.stdout.contains("41..57%") || out.stdout.contains("passed on h"),
        "{}",
        out.stdout
    );
}

#[test]
fn run_streams_prefixed_lines_and_saves_each_hosts_output() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    // `t` lives to the end: its directory holds the files written.
    let t = Test::new()
        .yaml(&fleet.yaml(""))
        .args(["run", "--all", "--stream", "--output-dir", "out"])
        .args(fleet.args())
        .args([
            "--connect-timeout",
            "30",
            "--",
            "echo one; echo two; echo oops >&2; exit 3",
        ])
        .deadline(DEADLINE);
    let dir = t.dir().join("out");
    let out = t.run();
    out.code(1)
        .stdout_has("h01: one\nh01: two\nh01! oops\nh01: [exit 3]")
        .stdout_has("h02: one\nh02: two\n")
        .stdout_has("on 2 hosts: 0 ok, 2 failed");
    assert_eq!(
        std::fs::read_to_string(dir.join("h01.stdout")).expect("file"),
        "one\ntwo\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("h02.stderr")).expect("file"),
        "oops\n"
    );
}

/// Three shards, merged, say what one run says: same results, same exit code.
#[test]
fn shards_merge_into_the_single_runs_report() {
    let canned = "- host: h007\n  outcome: unreachable\n  message: refused\n- host: h013\n  command: /proc/meminfo\n  stdout: \"MemTotal: 262144 kB\\n\"\n- command: /proc/meminfo\n  stdout: \"MemTotal: 8388608 kB\\nMemAvailable: 4194304 kB\\n\"\n- command: uname\n  stdout: \"Linux\\n\"\n";
    let yaml = "hosts:\n  h[001:030]:\n    address: 127.0.1.[1:30]\nroles:\n  fleet:\n    hosts: ['h[001:030]']\n    expect: {memory: {min_total_mb: 1024}}\n";
    let keep = tempfile::tempdir().expect("tmp");
    let dir = keep.path().to_path_buf();
    let base = ["--replay", "canned.yaml", "--format", "json"];
    let run = |args: &[&str]| {
        Test::new()
            .yaml(yaml)
            .file("canned.yaml", canned.as_bytes())
            .args(args.iter().copied())
            .run()
    };
    // Whole runs.
    let whole_debug = run(&["debug", "--only", "memory", base[0], base[1], base[2], base[3]]);
    whole_debug.code(3);
    let whole_run = run(&["run", "--all", base[0], base[1], base[2], base[3], "--", "uname"]);
    whole_run.code(3);
    // Shards, saved next to each other.
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let d = run(&[
            "debug", "--only", "memory", "--shard", &shard, base[0], base[1], base[2], base[3],
        ]);
        std::fs::write(dir.join(format!("debug{i}.json")), &d.stdout).expect("write");
        let r = run(&[
            "run", "--all", "--shard", &shard, base[0], base[1], base[2], base[3], "--", "uname",
        ]);
        std::fs::write(dir.join(format!("run{i}.json")), &r.stdout).expect("write");
    }
    let files = |kind: &str| {
        (1..=3)
            .map(|i| dir.join(format!("{kind}{i}.json")).display().to_string())
            .collect::<Vec<_>>()
    };
    let merge = || Test::new().yaml(yaml).args(["merge"]);
    let merged = merge().args(["--format", "json"]).args(files("debug")).run();
    merged.code(3);
    let key = |v: &serde_json::Value| {
        let mut items: Vec<String> = v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| format!("{} {} {} {}", r["host"], r["check"], r["status"], r["message"]))
            .collect();
        items.sort();
        items
    };
    assert_eq!(key(&merged.json()), key(&whole_debug.json()));
    assert_eq!(
        merged.json()["summary"]["exit_code"],
        whole_debug.json()["summary"]["exit_code"]
    );
    assert_eq!(
        merged.json()["summary"]["total"],
        whole_debug.json()["summary"]["total"]
    );
    let merged_run = merge().args(["--format", "json"]).args(files("run")).run();
    merged_run.code(3);
    let outcomes = |v: &serde_json::Value| {
        let mut o: Vec<String> = v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| format!("{} {} {}", r["host"], r["outcome"], r["stdout"]))
            .collect();
        o.sort();
        o
    };
    assert_eq!(outcomes(&merged_run.json()), outcomes(&whole_run.json()));
    assert_eq!(merged_run.json()["summary"], whole_run.json()["summary"]);
    // A missing shard, a shard twice: errors.
    let two = &files("debug")[..2];
    merge().args(two).run().code(2).stderr_has("missing shard 3/3");
    let twice = [
        files("debug")[0].clone(),
        files("debug")[0].clone(),
        files("debug")[1].clone(),
    ];
    merge()
        .args(&twice)
        .run()
        .code(2)
        .stderr_has("shard 1/3 is given twice");
    // Shards that do not make up one run are refused, each naming the shard and why
    // (regression: each of these merged with exit 0).
    let forged = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| -> Vec<String> {
        let mut list = files("debug");
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&list[1]).expect("read")).expect("json");
        edit(&mut doc);
        let path = dir.join(name);
        std::fs::write(&path, doc.to_string()).expect("write");
        list[1] = path.display().to_string();
        list
    };
    let refused = |files: Vec<String>, why: &str| {
        merge().args(&files).run().code(2).stderr_has(why);
    };
    let other = |args: &[&str]| {
        let d = run(&[&["debug", "--only", "memory", "--shard", "2/3"], args, &base[..]].concat());
        let path = dir.join(format!(
            "other{}.json",
            args.join("_").replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        std::fs::write(&path, &d.stdout).expect("write");
        let mut list = files("debug");
        list[1] = path.display().to_string();
        list
    };
    refused(
        other(&["--limit", "h00*"]),
        "other__limit_h00_.json: its selection (--roles, --limit) differs from",
    );
    refused(other(&["--run-id", "42"]), "its run id (--run-id) differs from");
    refused(
        forged("dry.json", &|d| d["dry_run"] = true.into()),
        "dry.json: a dry run (--dry-run): it checked nothing",
    );
    refused(
        forged("otherdeploy.json", &|d| {
            d["shard"]["deployment_sha256"] = "00".into()
        }),
        "otherdeploy.json: its deployment (SHA-256 of the file) differs from",
    );
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files("debug")[0]).expect("read")).expect("json");
    let stolen = first["hosts"][0].clone();
    refused(
        forged("overlap.json", &|d| {
            d["hosts"].as_array_mut().expect("hosts").push(stolen.clone());
            let mut pass = d["results"][0].clone();
            pass["host"] = stolen.clone();
            pass["status"] = "pass".into();
            d["results"].as_array_mut().expect("results").push(pass);
        }),
        &format!(
            "overlap.json: host `{}` is not in shard 2/3 of the selection",
            stolen.as_str().expect("name")
        ),
    );
    refused(
        forged("stranger.json", &|d| {
            d["hosts"].as_array_mut().expect("hosts").push("intruder".into())
        }),
        "stranger.json: host `intruder` is not in the deployment",
    );
    refused(
        forged("short.json", &|d| {
            let gone = d["hosts"].as_array_mut().expect("hosts").pop().expect("a host");
            d["results"]
                .as_array_mut()
                .expect("results")
                .retain(|r| r["host"] != gone);
        }),
        "short.json: shard 2/3 lacks host",
    );
    refused(
        forged("old.json", &|d| {
            d["shard"] = serde_json::json!({"index": 2, "count": 3})
        }),
        "old.json: it does not record its run",
    );
    let huge = dir.join("huge.json");
    let f = std::fs::File::create(&huge).expect("create");
    f.set_len((64 << 20) + 1).expect("grow");
    let mut list = files("debug");
    list[1] = huge.display().to_string();
    refused(
        list,
        "huge.json` is over the 67108864-byte limit for a shard's result",
    );
    let other_yaml = Test::new()
        .yaml(&yaml.replace("1024", "2048"))
        .args(["merge"])
        .args(files("debug"))
        .run();
    other_yaml
        .code(2)
        .stderr_has("it ran on another deployment than `deploy.yaml`");
}

/// Regression: output that is not UTF-8 became U+FFFD in `--format json` and `--output-dir`
/// files, and hosts `x/y` and `x_y` wrote one file.
#[test]
fn run_keeps_every_byte_and_a_file_per_host() {
    use base64::Engine;
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    // An Ansible inventory: Ansible takes `x/y` as a host name (rolecall's own format does not).
    let mut inventory = String::from("[fleet]\n");
    for (name, h) in ["x/y", "x_y"].iter().zip(&fleet.hosts) {
        inventory.push_str(&format!(
            "{name} ansible_host={} ansible_port={}\n",
            h.address, h.port
        ));
    }
    let sent: &[u8] = b"caf\xe9\n\xff\xfe end\n";
    let test = |extra: &[&str]| {
        Test::new()
            .file("inventory.ini", inventory.as_bytes())
            .args(["run", "-c", "inventory.ini", "--all"])
            .args(extra.iter().copied())
            .args(fleet.args())
            .args([
                "--connect-timeout",
                "30",
                "--",
                r"printf 'caf\351\n\377\376 end\n'; printf '\377' >&2",
            ])
            .deadline(DEADLINE)
    };
    let out = test(&["--format", "json"]).run();
    out.code(0);
    let b64 = base64::engine::general_purpose::STANDARD;
    for r in out.json()["results"].as_array().expect("results") {
        let decode = |k: &str| b64.decode(r[k].as_str().expect(k)).expect("base64");
        assert_eq!(decode("stdout_base64"), sent, "{r}");
        assert_eq!(decode("stderr_base64"), b"\xff", "{r}");
        assert!(r["stdout"].as_str().expect("text").contains('\u{fffd}'), "{r}");
    }
    let t = test(&["--output-dir", "out"]);
    let dir = t.dir().join("out");
    t.run().code(0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["x%2Fy.stderr", "x%2Fy.stdout", "x_y.stderr", "x_y.stdout"]
    );
    for host in ["x%2Fy", "x_y"] {
        assert_eq!(
            std::fs::read(dir.join(format!("{host}.stdout"))).expect("file"),
            sent
        );
        assert_eq!(
            std::fs::read(dir.join(format!("{host}.stderr"))).expect("file"),
            b"\xff"
        );
    }
}

/// Jinja in an Ansible inventory: a template made of inventory values is rendered (as Ansible
/// renders it when used) and the host is reached; one that needs a lookup cannot be rendered:
/// that host fails with the reason and the rest of the fleet still runs. (Regression: either
/// template rejected the whole inventory.)
#[test]
fn inventory_templates_render_or_fail_only_their_host() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let (a, b) = (&fleet.hosts[0], &fleet.hosts[1]);
    let (net, last) = a.address.rsplit_once('.').expect("an IPv4 address");
    let inventory = format!(
        "[fleet]\nrendered ansible_host=\"{{{{ net }}}}.{{{{ last }}}}\" ansible_port={} net={net} last={last}\n\
         looked_up ansible_host=\"{{{{ lookup('env', 'NOPE') }}}}\" ansible_port={}\n",
        a.port, b.port
    );
    let out = Test::new()
        .file("inventory.ini", inventory.as_bytes())
        .args(["run", "-c", "inventory.ini", "--all", "--format", "json"])
        .args(fleet.args())
        .args(["--connect-timeout", "30", "--", "echo reached"])
        .deadline(DEADLINE)
        .run();
    out.code(3)
        .stderr_has("host `looked_up`: `ansible_host` is a Jinja template rolecall cannot render");
    let j = out.json();
    let by_host = |h: &str| crate::support::host_result(&j, h);
    assert_eq!(by_host("rendered")["stdout"], "reached\n", "{j}");
    let failed = by_host("looked_up");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no lookups or facts"),
        "{failed}"
    );
}
