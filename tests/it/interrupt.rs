//! Interrupted runs, over real sshd hosts: the first Ctrl-C (SIGINT) stops what runs on the
//! hosts as a timeout does, writes every requested output marked `interrupted` and exits 130;
//! a second one ends rolecall at once. And a timed-out command run as root through sudo that
//! ignores TERM is stopped as root.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rolecall_fleet::{whoami, Fleet};

use crate::support::BIN;

/// A marker no other test's command carries: `sleep 7NNNNN`.
fn marker(tag: u32) -> String {
    format!("sleep {}", 700_000 + tag * 1000 + std::process::id() % 1000)
}

/// Processes whose command line is `needle` (the fleet's hosts are this machine; rolecall's
/// own command line, which holds it too, does not count).
fn running(needle: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", "-c", &format!("^{needle}$")])
        .output()
        .expect("pgrep (procps)");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

/// Wait until `n` processes carry `needle`, at most 20 s.
fn wait_running(needle: &str, n: usize) {
    let start = Instant::now();
    while running(needle) < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "`{needle}` never started on {n} hosts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// rolecall in `dir` with `args` (output piped).
fn spawn(dir: &std::path::Path, args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rolecall")
}

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(st.success());
}

/// Wait for `child` at most `limit`; its exit status and output.
fn finish(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                status,
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("rolecall did not end within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn fleet_args(fleet: &Fleet) -> Vec<String> {
    let mut a = vec!["-c".to_string(), "deploy.yaml".to_string()];
    a.extend(fleet.args());
    a
}

#[test]
fn ctrl_c_stops_a_run_on_every_host_and_reports_what_it_has() {
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.yaml"), fleet.yaml("")).expect("write");
    let mark = marker(1);
    let mut args = vec![
        "run".to_string(),
        "--all".into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(fleet_args(&fleet));
    args.extend(["--".to_string(), format!("echo started; {mark}")]);
    let child = spawn(dir.path(), &args);
    wait_running(&mark, 3);
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let (status, stdout, stderr) = finish(child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(10), "{:?}", sent.elapsed());
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(doc["interrupted"], true, "{stdout}");
    assert_eq!(doc["summary"]["exit_code"], 130);
    for r in doc["results"].as_array().expect("results") {
        assert_eq!(r["outcome"], "interrupted", "{r}");
        // What the command printed before it was stopped is kept.
        assert_eq!(r["stdout"], "started\n", "{r}");
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(running(&mark), 0, "left running on the hosts");
}

#[test]
fn ctrl_c_stops_a_debug_run_and_writes_every_output() {
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mark = marker(2);
    let mut yaml = fleet.hosts_yaml();
    yaml.push_str(&format!(
        "roles:\n  fleet:\n    hosts: [h01, h02, h03]\n    checks:\n      - {{id: slow, command: \"{mark}\"}}\n"
    ));
    std::fs::write(dir.path().join("deploy.yaml"), yaml).expect("write");
    let mut args = vec![
        "debug".to_string(),
        "--all".into(),
        "--only".into(),
        "checks".into(),
        "--output".into(),
        "json=report.json".into(),
        "--output".into(),
        "junit=report.xml".into(),
        "--output".into(),
        "table".into(),
    ];
    args.extend(fleet_args(&fleet));
    let child = spawn(dir.path(), &args);
    wait_running(&mark, 3);
    signal(&child, libc::SIGINT);
    let (status, stdout, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("interrupted: these results are partial"),
        "{stdout}"
    );
    let json = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json written");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(doc["interrupted"], true);
    assert_eq!(doc["summary"]["exit_code"], 130);
    assert!(dir.path().join("report.xml").is_file(), "JUnit written");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(running(&mark), 0, "left running on the hosts");
}

#[test]
fn a_second_ctrl_c_ends_rolecall_at_once() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.yaml"), fleet.yaml("")).expect("write");
    let mark = marker(3);
    let mut args = vec!["run".to_string(), "--all".into()];
    args.extend(fleet_args(&fleet));
    // The command ignores TERM: the first Ctrl-C's stop takes a second (TERM, then KILL).
    args.extend(["--".to_string(), format!("trap '' TERM; {mark}")]);
    let child = spawn(dir.path(), &args);
    wait_running(&mark, 1);
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let (status, _, _) = finish(child, Duration::from_secs(5));
    assert!(sent.elapsed() < Duration::from_secs(1), "{:?}", sent.elapsed());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(running(&mark), 0, "left running on the host");
}

#[test]
fn a_timed_out_command_run_as_root_that_ignores_term_is_stopped_as_root() {
    if !crate::support::sudo_users() {
        return;
    }
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.yaml"), fleet.yaml("")).expect("write");
    for (tag, batch) in [(4, false), (5, true)] {
        let mark = marker(tag);
        let mut args = vec![
            "run".to_string(),
            "--all".into(),
            "--become".into(),
            "--command-timeout".into(),
            "2".into(),
        ];
        args.extend(fleet_args(&fleet).into_iter().map(|a| {
            if a == whoami() {
                "rc-nopw".to_string()
            } else {
                a
            }
        }));
        if !batch {
            args.push("--no-batch".into());
        }
        args.extend(["--".to_string(), format!("trap '' TERM; id -un; {mark}")]);
        let child = spawn(dir.path(), &args);
        let (status, stdout, stderr) = finish(child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(3), "{stdout}\n{stderr}");
        assert!(stdout.contains("timed out after 2.0s\nroot\n"), "{stdout}");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            running(&mark),
            0,
            "the root command outlived its timeout (batch: {batch})"
        );
    }
}

/// A deployment whose one check fails on its first run and passes on every later one (a
/// counter in `dir`), on the fleet's first host.
fn settling_check(fleet: &Fleet, dir: &std::path::Path) -> String {
    let count = dir.join("count").display().to_string();
    let mut yaml = fleet.hosts_yaml();
    yaml.push_str(&format!(
        "roles:\n  fleet:\n    hosts: [h01]\n    checks:\n      - id: settled\n        \
         command: \"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; test $n -ge 1\"\n"
    ));
    yaml
}

/// `debug --watch`: the first round in full, then only what changed (a fix), then a heartbeat;
/// the last round's full report and exit code at the end.
#[test]
fn watch_prints_what_changed_then_a_heartbeat() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.yaml"), settling_check(&fleet, dir.path())).expect("write");
    let mut args: Vec<String> = [
        "debug", "--all", "--only", "checks", "--watch", "0.2", "--rounds", "3",
    ]
    .map(String::from)
    .to_vec();
    args.extend(fleet_args(&fleet));
    let (status, stdout, stderr) = finish(spawn(dir.path(), &args), Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    let first = stdout.find("1 failed").expect("the first round in full");
    let change = stdout.find("round 2: 1 change [+").expect("the change");
    assert!(
        stdout[change..].contains("]\n  fixed    checks/settled on h01:"),
        "the fix, under its round: {stdout}"
    );
    let beat = stdout
        .find("round 3: no change (0 of 1 checks failing)")
        .expect("a heartbeat");
    let last = stdout
        .rfind("1 passed, 0 failed")
        .expect("the last round in full");
    assert!(first < change && change < beat && beat < last, "{stdout}");
}

/// Ctrl-C ends a watch with the last complete round's report and exit code.
#[test]
fn ctrl_c_ends_a_watch_with_the_last_full_round() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.yaml"), settling_check(&fleet, dir.path())).expect("write");
    let mut args: Vec<String> = [
        "debug",
        "--all",
        "--only",
        "checks",
        "--watch",
        "0.2",
        "--output",
        "json=report.json",
    ]
    .map(String::from)
    .to_vec();
    args.extend(fleet_args(&fleet));
    let child = spawn(dir.path(), &args);
    // Wait for a third round to have run.
    let start = Instant::now();
    while std::fs::read_to_string(dir.path().join("count")).map_or(0, |c| c.trim().parse().unwrap_or(0)) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the watch never reached round 3"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT);
    let (status, stdout, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(0),
        "the last round passed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("round 2: 1 change [+"), "{stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect("json"))
            .expect("JSON");
    assert_eq!(doc["interrupted"], false, "a complete round, not the cut one");
    assert_eq!(doc["summary"]["total"]["pass"], 1);
}
