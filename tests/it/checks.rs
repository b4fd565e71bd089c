//! Declarative checks (`roles.<role>.checks`) end to end: every kind passing and failing on a
//! loopback fleet through the shipped `checks` debugger, and malformed checks refused at load
//! with their file:line.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::support::Test;

const DEADLINE: Duration = Duration::from_secs(120);

/// An HTTP server on loopback answering every request `200 healthy`; its port.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nhealthy");
        }
    });
    port
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn checks_of_every_kind_pass_and_fail_on_the_fleet() {
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
    let t = Test::new();
    let dir = t.dir().join("srv");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::set_permissions(dir.join("app"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.join("conf"), "listen 8080\n").expect("conf");
    std::fs::set_permissions(dir.join("conf"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let http = http_server();
    let (user, uid, group, gid) = (id("-un"), id("-u"), id("-gn"), id("-g"));
    let d = dir.display();
    let ssh_port = fleet.hosts[0].port;
    let checks = format!(
        r#"    checks:
      - {{id: cmd-ok, command: "echo hello; echo warn >&2", stdout: {{contains: hello}}, stderr: warn}}
      - {{id: cmd-bad, command: "exit 3", description: exits 0 when healthy}}
      - {{id: cmd-goss, command: "echo all good here", stdout: good}}
      - {{id: dir-ok, file: {d}/app, type: directory, mode: "0755", owner: {user}, group: {group}}}
      - {{id: conf-bad, file: {d}/conf, mode: "0600", contains: {{matches: "^listen [0-9]+$"}}}}
      - {{id: pkg-ok, package: bash, version: ">= 3"}}
      - {{id: pkg-bad, package: rolecall-no-such-package}}
      - {{id: svc-ok, service: rolecall-no-such-service, running: false}}
      - {{id: svc-bad, service: rolecall-no-such-service}}
      - {{id: port-ok, port: {ssh_port}}}
      - {{id: port-bad, port: 1/udp}}
      - {{id: http-ok, http: "http://127.0.0.1:{http}/health", body: {{contains: healthy}}}}
      - {{id: http-bad, http: "http://127.0.0.1:{http}/health", status: 404}}
      - {{id: user-ok, user: {user}, uid: {uid}}}
      - {{id: user-bad, user: rolecall-no-such-user}}
      - {{id: group-ok, group: {group}, gid: {gid}}}
      - {{id: group-bad, group: rolecall-no-such-group}}
      - {{id: sysctl-ok, kernel-param: kernel.ostype, value: Linux}}
      - {{id: sysctl-bad, kernel-param: kernel.ostype, value: {{not: {{contains: Lin}}}}}}
      - {{id: mount-ok, mount: /}}
      - {{id: mount-bad, mount: /rolecall-not-mounted}}
      - {{id: proc-ok, process: sshd}}
      - {{id: proc-bad, process: rolecall-no-such-process}}
"#
    );
    let yaml = fleet
        .yaml("")
        .replacen(
            "roles:\n  fleet:\n",
            &format!("roles:\n  fleet:\n{checks}    hosts:\n"),
            1,
        )
        .replace("    - h0", "      - h0");
    let out = t
        .yaml(&yaml)
        .args(["debug", "--only", "checks", "--format", "json"])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let v = out.code(1).json();
    let results = v["results"].as_array().expect("results");
    let kinds = [
        "cmd", "dir", "conf", "pkg", "svc", "port", "http", "user", "group", "sysctl", "mount", "proc",
    ];
    for h in ["h01", "h02"] {
        let status = |check: &str| -> Vec<String> {
            results
                .iter()
                .filter(|r| r["plugin"] == "checks" && r["check"] == check && r["host"] == h)
                .map(|r| r["status"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        for kind in kinds {
            let (ok, bad) = (format!("{kind}-ok"), format!("{kind}-bad"));
            if kind != "dir" && kind != "conf" {
                assert_eq!(status(&ok), ["pass"], "{ok} on {h}: {v}");
                assert_eq!(status(&bad), ["fail"], "{bad} on {h}: {v}");
            }
        }
        assert_eq!(status("dir-ok"), ["pass"], "{v}");
        assert_eq!(status("conf-bad"), ["fail"], "{v}");
    }
    let message = |check: &str| {
        results
            .iter()
            .find(|r| r["check"] == check)
            .and_then(|r| r["message"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        message("cmd-bad"),
        "`exit 3`: exit 3, expected 0 (exits 0 when healthy)"
    );
    assert_eq!(message("conf-bad"), format!("{d}/conf: mode 0644, expected 0600"));
    // A plain string is "equals"; where the output contains it (goss's reading), the failure
    // says how to ask for a part.
    assert!(
        message("cmd-goss")
            .contains("a plain string must equal the whole text; write `{contains: \"good\"}`"),
        "{}",
        message("cmd-goss")
    );
    assert!(message("http-bad").contains("status 200, expected 404"), "{v}");
    // Each result points at its check in the deployment.
    let at = &results.iter().find(|r| r["check"] == "pkg-bad").expect("pkg-bad")["location"];
    let line = yaml
        .lines()
        .position(|l| l.contains("id: pkg-bad"))
        .expect("line")
        + 1;
    assert_eq!(
        (at["path"].as_str(), at["line"].as_u64()),
        (Some("roles.fleet.checks[6]"), Some(line as u64))
    );
}

#[test]
fn malformed_checks_are_load_errors_with_their_place() {
    let cases = [
        (
            "      - {id: a, file: /srv, running: true}\n",
            "roles.web.checks[0].running: `running` does not apply to a `file` check",
        ),
        (
            "      - {id: a, file: /srv, command: ls}\n",
            "check `a` has 2 kinds (`command`, `file`); one check looks at one thing",
        ),
        (
            "      - {id: a, command: ls, stdout: {matches: \"(\"}}\n",
            "roles.web.checks[0].stdout: `(` is not a regular expression",
        ),
        (
            "      - {id: a, command: ls}\n      - {id: a, command: pwd}\n",
            "check id `a` is used twice in this role (first at checks[0])",
        ),
        (
            "      - {id: a, file: /srv, mode: \"0999\"}\n",
            "mode `0999` is not octal permissions",
        ),
        ("      - {id: a, fiel: /srv}\n", "unknown key `fiel`"),
    ];
    for (checks, want) in cases {
        let yaml =
            format!("hosts:\n  web01: 127.0.0.2\nroles:\n  web:\n    hosts: [web01]\n    checks:\n{checks}");
        let out = Test::new().yaml(&yaml).args(["validate"]).run();
        out.code(2).stderr_has(want).stderr_has("deploy.yaml:");
    }
}
