//! The SSH executor's promises, end to end against real sshd processes: no lost wakeups, stdin
//! empty unless `--stdin`, timed-out commands stopped on the host and their sessions freed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rolecall::remote::settings::HostSettings;
use rolecall::remote::ssh::{SshConfig, SshExecutor};
use rolecall::remote::{AllowList, Endpoint, Executor, Outcome};
use rolecall_fleet::{whoami, Fleet};

use crate::support::{fixture, Output, Test};

const DEADLINE: Duration = Duration::from_secs(90);

fn run(fleet: &Fleet, extra: &[&str], command: &str) -> Test {
    Test::new()
        .yaml(&fleet.yaml(""))
        .args(["run", "--all"])
        .args(fleet.args())
        .args(["--connect-timeout", "30"])
        .args(extra)
        .args(["--", command])
        .deadline(DEADLINE)
}

/// The `slow_recv` LD_PRELOAD shim, built with the system C compiler into `dir`.
fn slow_recv_shim(dir: &Path) -> PathBuf {
    let so = dir.join("slow_recv.so");
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(fixture("shims/slow_recv.c"))
        .arg("-ldl")
        .status()
        .expect("cc (install gcc)");
    assert!(st.success(), "building the slow_recv shim failed");
    so
}

fn durations_ms(out: &Output) -> Vec<u64> {
    let v = out.json();
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["duration_ms"].as_u64().expect("duration_ms"))
        .collect()
}

/// Regression: a read of one stream pulled the other's data, EOF, exit status and close into
/// libssh2's buffers; the executor then waited on an empty socket until the command timeout,
/// and reported `ok` ~10 s late. With every empty recv slowed down, 14 of 20 runs of the old
/// executor stalled (3 hosts): 8 runs here leave it no chance.
#[test]
fn slow_recv_never_waits_for_the_timeout() {
    let fleet = Fleet::start(3);
    let tmp = tempfile::tempdir().expect("temp dir");
    let shim = slow_recv_shim(tmp.path());
    let shim = shim.to_str().expect("utf-8 path");
    for command in ["echo hi"; 7]
        .into_iter()
        .chain(["for i in 1 2 3; do echo $i; echo $i >&2; done"])
    {
        let out = run(&fleet, &["--command-timeout", "10", "--format", "json"], command)
            .env("LD_PRELOAD", shim)
            .run();
        out.code(0);
        let ms = durations_ms(&out);
        assert!(
            ms.iter().all(|&d| d < 5_000),
            "a command waited for its timeout: {ms:?} ms\n{}",
            out.stdout
        );
    }
}

/// The command's stdin is empty: a `read` returns at once instead of waiting for the timeout.
#[test]
fn stdin_is_empty_unless_given() {
    let fleet = Fleet::start(2);
    let out = run(&fleet, &["--command-timeout", "20"], "read x; echo \"got:$x:$?\"").run();
    out.code(0).stdout_has("==> h[01-02] (2 hosts): exit 0\ngot::1\n");
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    // `--stdin -`: rolecall's own stdin, to every host.
    let out = run(&fleet, &["--stdin", "-"], "cat; echo .")
        .stdin(b"hello\nworld\n")
        .run();
    out.code(0)
        .stdout_has("==> h[01-02] (2 hosts): exit 0\nhello\nworld\n.\n");
    // `--stdin FILE`, bigger than one SSH window.
    let big = "x".repeat(3 << 20);
    let t = run(&fleet, &["--stdin", "big.txt"], "wc -c").file("big.txt", big.as_bytes());
    t.run()
        .code(0)
        .stdout_has(&format!("==> h[01-02] (2 hosts): exit 0\n{}\n", big.len()));
    let out = run(&fleet, &["--stdin", "missing.txt"], "cat").run();
    out.code(2).stderr_has("reading `--stdin` file `missing.txt`");
}

/// A timed-out command is stopped on the host (with what it printed kept), with or without
/// `--stdin`.
#[test]
fn timed_out_commands_are_stopped_on_the_host() {
    let fleet = Fleet::start(1);
    let marker = format!("sleep 60{}", std::process::id() % 1000);
    // `grep -c` prints the count, and exits 1 when it is 0.
    let still_running = |fleet: &Fleet| {
        run(
            fleet,
            &[],
            &format!("ps -eo args | grep -c '^[{}]{}'", &marker[..1], &marker[1..]),
        )
        .run()
        .stdout
    };
    let none = "==> h01 (1 host): exit 1\n0\n";
    // The check must be able to see something: ps lists the host's own sshd.
    run(&fleet, &[], "ps -eo args | grep -c '^[s]shd'").run().code(0);
    let out = run(
        &fleet,
        &["--command-timeout", "2"],
        &format!("echo started; {marker}"),
    )
    .run();
    out.code(3)
        .stdout_has("==> h01 (1 host): timed out after 2.0s\nstarted\n")
        .stdout_has("0 ok, 0 failed, 1 timed out, 0 not run");
    assert!(out.elapsed < Duration::from_secs(12), "{:?}", out.elapsed);
    let left = still_running(&fleet);
    assert!(left.starts_with(none), "left running on the host: {left}");
    let out = run(
        &fleet,
        &["--command-timeout", "2", "--stdin", "-"],
        &format!("cat; {marker}"),
    )
    .stdin(b"in\n")
    .run();
    out.code(3).stdout_has("timed out after 2.0s\nin\n");
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    std::thread::sleep(Duration::from_secs(2));
    let left = still_running(&fleet);
    assert!(
        left.starts_with(none),
        "left running on the host (--stdin): {left}"
    );
}

/// Regression: a timed-out command kept its server session, so after `MaxSessions` timeouts
/// every later command on that host failed with "Channel open failure".
#[test]
fn timed_out_commands_free_their_sessions_under_max_sessions_10() {
    let mut fleet = Fleet::start(1);
    fleet.max_sessions(0, 10);
    let h = &fleet.hosts[0];
    let config = SshConfig {
        command_timeout: Duration::from_secs(1),
        allow: AllowList::parse(&["127.0.0.0/8"]).expect("allow-list"),
        ..SshConfig::default()
    };
    let ep = Endpoint {
        address: h.address.clone(),
        port: h.port,
        user: whoami(),
    };
    let mut target = HostSettings::direct(&h.name, ep);
    target.connect_timeout.value = Duration::from_secs(30);
    target.known_hosts.value = vec![fleet.known_hosts.clone()];
    target.identities.value = vec![fleet.user_key.clone()];
    let ex = SshExecutor::new(vec![target], config).expect("executor");
    let hosts = vec![h.name.clone()];
    // 12 at once: batches of 8 channels, each command timing out.
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| ex.run("sleep 300", &hosts).remove(0).outcome))
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Timeout(_))),
        "{outcomes:?}"
    );
    let r = ex.run("echo still-fine", &hosts).remove(0);
    assert_eq!(r.outcome, Outcome::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "still-fine\n");
}

/// A passphrase-protected identity says so (not "Unsupported private key format"), and is used
/// with the passphrase from the environment.
#[test]
fn passphrase_protected_key_says_so_and_works_with_the_passphrase() {
    let fleet = Fleet::start(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("locked");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "open sesame", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let auth = fleet.dir().join("authorized_keys");
    let mut keys = std::fs::read_to_string(&auth).expect("authorized_keys");
    keys.push_str(&public);
    std::fs::write(&auth, keys).expect("authorized_keys");
    let key = key.to_str().expect("utf-8 path");
    let base = |t: Test| {
        t.yaml(&fleet.yaml(""))
            .args(["run", "--all", "-i", key, "--known-hosts"])
            .args([fleet.known_hosts.to_str().expect("utf-8 path")])
            .args(["--user", &whoami(), "--connect-timeout", "30", "--", "echo in"])
            .deadline(DEADLINE)
    };
    base(Test::new())
        .run()
        .code(3)
        .stdout_has("auth-failed")
        .stdout_has("(protected by a passphrase: add it to ssh-agent with `ssh-add");
    base(Test::new())
        .env("ROLECALL_SSH_PASSPHRASE", "open sesame")
        .run()
        .code(0)
        .stdout_has("exit 0\nin\n");
}
