//! The SSH executor's promises, end to end against real sshd processes: no lost wakeups, stdin
//! empty unless `--stdin`, timed-out commands stopped on the host and their sessions freed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rolecall::remote::settings::HostSettings;
use rolecall::remote::ssh::{SshConfig, SshExecutor};
use rolecall::remote::{AllowList, Endpoint, Executor, HostResult, Job, Outcome};
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
    let Some(fleet) = crate::support::fleet(3) else {
        return;
    };
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
    let Some(fleet) = crate::support::fleet(2) else {
        return;
    };
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
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
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
    let Some(mut fleet) = crate::support::fleet(1) else {
        return;
    };
    fleet.max_sessions(0, 10);
    let ex = executor(&fleet, Duration::from_secs(1), 1 << 20);
    let hosts = vec![fleet.hosts[0].name.clone()];
    // 12 at once, each command timing out (in one batch, or 8 channels at a time).
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

/// An executor for the fleet's hosts, with this command timeout and output cap.
fn executor(fleet: &Fleet, command_timeout: Duration, max_output: usize) -> SshExecutor {
    let config = SshConfig {
        command_timeout,
        max_output,
        allow: AllowList::parse(&["127.0.0.0/8"]).expect("allow-list"),
        ..SshConfig::default()
    };
    let targets = fleet
        .hosts
        .iter()
        .map(|h| {
            let ep = Endpoint {
                address: h.address.clone(),
                port: h.port,
                user: whoami(),
            };
            let mut target = HostSettings::direct(&h.name, ep);
            target.connect_timeout.value = Duration::from_secs(30);
            target.known_hosts.value = vec![fleet.known_hosts.clone()];
            target.identities.value = vec![fleet.user_key.clone()];
            target
        })
        .collect();
    SshExecutor::new(targets, config).expect("executor")
}

/// `commands` sent to `host` at the same moment from threads of their own (as plugins do), each
/// result with the time it took to come back.
fn at_once(ex: &SshExecutor, host: &str, commands: &[&str]) -> Vec<(HostResult, Duration)> {
    let hosts = vec![host.to_string()];
    let start = std::sync::Barrier::new(commands.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = commands
            .iter()
            .map(|c| {
                let (hosts, start, ex) = (&hosts, &start, ex);
                s.spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    let r = ex.run(c, hosts).remove(0);
                    (r, t.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    })
}

/// Commands queued for one host together travel in one channel (one remote shell: the same
/// `$$`), and each keeps its own exit status, stdout and stderr.
#[test]
fn commands_queued_together_share_one_shell_and_keep_their_own_results() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let ex = executor(&fleet, Duration::from_secs(30), 1 << 20);
    let host = &fleet.hosts[0].name;
    let rs = at_once(
        &ex,
        host,
        &[
            "echo $$; echo to-stderr >&2; exit 3",
            "echo $$; printf 'no newline'",
            "echo $$; cat",
            "echo $$; kill -KILL $(sh -c 'echo $PPID')",
        ],
    );
    let shells: std::collections::BTreeSet<&str> =
        rs.iter().filter_map(|(r, _)| r.stdout.lines().next()).collect();
    assert_eq!(shells.len(), 1, "one shell for all four: {rs:?}");
    assert_eq!(rs[0].0.outcome, Outcome::Exited(3));
    assert_eq!(rs[0].0.stderr, "to-stderr\n");
    assert!(rs[1].0.stdout.ends_with("\nno newline"), "{:?}", rs[1].0);
    assert_eq!(
        (rs[2].0.outcome.clone(), rs[2].0.stdout.lines().count()),
        (Outcome::Exited(0), 1)
    );
    assert_eq!(rs[3].0.outcome, Outcome::Signal("KILL".into()), "{:?}", rs[3].0);
    // Alone, a command still gets a shell of its own.
    let alone = ex.run("echo $$", std::slice::from_ref(host)).remove(0);
    assert!(!shells.contains(alone.stdout.trim()), "{alone:?}");
}

/// In a batch, a command that hangs holds back the ones queued behind it for about a second,
/// not for its timeout: they move to a batch of their own and come back at once. The hung one
/// times out on its own and is stopped on the host, and none runs twice. A flood is cut at the
/// output cap without touching the others.
#[test]
fn a_hung_or_flooding_command_does_not_hold_back_or_garble_its_batch() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let ex = executor(&fleet, Duration::from_secs(6), 1000);
    let host = &fleet.hosts[0].name;
    let hosts = vec![host.clone()];
    let marker = format!("sleep 7{}", std::process::id() % 1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let count = dir.path().join("count");
    let hung = format!("echo started; {marker}");
    let quick = format!("echo quick >> {}; echo quick", count.display());
    let flood = "head -c 5000000 /dev/zero | tr '\\0' x; echo after-flood >&2".to_string();
    // The host is busy with a warm-up while the three queue up in this order: they then go out
    // as one batch with the hung one first.
    let rs: Vec<(HostResult, Duration)> = std::thread::scope(|s| {
        let (ex, hosts) = (&ex, &hosts);
        let warm = s.spawn(move || ex.run("sleep 1", hosts));
        std::thread::sleep(Duration::from_millis(300));
        let mut handles = Vec::new();
        for c in [&hung, &quick, &flood] {
            handles.push(s.spawn(move || {
                let t = Instant::now();
                let r = ex.run(c, hosts).remove(0);
                (r, t.elapsed())
            }));
            std::thread::sleep(Duration::from_millis(50));
        }
        warm.join().expect("warm-up");
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let (hung, took) = &rs[0];
    assert_eq!(hung.outcome, Outcome::Timeout(Duration::from_secs(6)), "{hung:?}");
    assert_eq!(hung.stdout, "started\n");
    assert!(*took < Duration::from_secs(14), "{took:?}");
    let (quick, took) = &rs[1];
    assert_eq!(
        (quick.outcome.clone(), quick.stdout.as_str()),
        (Outcome::Exited(0), "quick\n")
    );
    // Queued behind the warm-up (under a second), then held back about a second: without the
    // split it would be 6 s more.
    assert!(
        *took < Duration::from_secs(4),
        "held back by the hung command: {took:?}"
    );
    let (flood, _) = &rs[2];
    assert_eq!(flood.outcome, Outcome::Exited(0), "{flood:?}");
    assert!(
        flood.stdout.starts_with(&"x".repeat(1000))
            && flood
                .stdout
                .contains("[rolecall: output truncated: kept 1000 of 5000000 bytes"),
        "{}",
        &flood.stdout[flood.stdout.len().saturating_sub(200)..]
    );
    assert_eq!(flood.stderr, "after-flood\n");
    // The hung command is gone from the host (a second to let the KILL land), and the quick one
    // ran once, although its first batch went on after the hung one ended.
    std::thread::sleep(Duration::from_secs(2));
    let pattern = format!("^[{}]{}", &marker[..1], &marker[1..]);
    let left = ex.run(&format!("ps -eo args | grep -c '{pattern}'"), &hosts);
    assert_eq!(left[0].stdout, "0\n", "left running on the host: {:?}", left[0]);
    assert_eq!(std::fs::read_to_string(&count).expect("count"), "quick\n");
}

/// A host that will not run the batch script (here its answer script refuses it, as an
/// allow-listing `ForceCommand` would) runs the same commands one channel each, with the same
/// results, and is not asked to run a batch again.
#[test]
fn a_host_that_cannot_run_a_batch_gets_one_channel_per_command() {
    let Some(mut fleet) = crate::support::fleet(1) else {
        return;
    };
    fleet.force_command(
        0,
        "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in 'exec sh -s') echo 'not allowed' >&2; exit 1;; esac\n\
         exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
    );
    let ex = executor(&fleet, Duration::from_secs(30), 1 << 20);
    let host = &fleet.hosts[0].name;
    for _ in 0..2 {
        let rs = at_once(&ex, host, &["echo a-$$", "echo b-$$; exit 4", "echo c-$$ >&2"]);
        assert_eq!(rs[0].0.outcome, Outcome::Exited(0), "{rs:?}");
        assert_eq!(rs[1].0.outcome, Outcome::Exited(4), "{rs:?}");
        assert!(rs[2].0.stderr.starts_with("c-"), "{rs:?}");
        let shells: std::collections::BTreeSet<&str> = rs
            .iter()
            .map(|(r, _)| {
                r.stdout
                    .trim()
                    .get(2..)
                    .unwrap_or(r.stderr.trim().get(2..).unwrap_or_default())
            })
            .map(|s| s.trim())
            .collect();
        assert_eq!(shells.len(), 3, "a shell each: {rs:?}");
    }
}

/// A passphrase-protected identity says so (not "Unsupported private key format"), and is used
/// with the passphrase from the environment.
#[test]
fn passphrase_protected_key_says_so_and_works_with_the_passphrase() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
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

/// A command queued for a host while another runs there (a plugin's next phase) starts at once
/// beside it, not after it: one slow command holds back no other plugin.
#[test]
fn a_command_queued_while_another_runs_starts_beside_it() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let ex = executor(&fleet, Duration::from_secs(30), 1 << 20);
    let hosts = vec![fleet.hosts[0].name.clone()];
    // The session is open first, so the slow command runs alone when the quick one arrives.
    assert_eq!(ex.run("true", &hosts)[0].outcome, Outcome::Exited(0));
    let (slow, quick) = std::thread::scope(|s| {
        let (ex, hosts) = (&ex, &hosts);
        let slow = s.spawn(move || {
            let t = Instant::now();
            (ex.run("sleep 4; echo slow", hosts).remove(0), t.elapsed())
        });
        std::thread::sleep(Duration::from_millis(500));
        let t = Instant::now();
        let quick = ex.run("echo quick", hosts).remove(0);
        let quick = (quick, t.elapsed());
        (slow.join().expect("slow"), quick)
    });
    assert_eq!(slow.0.stdout, "slow\n", "{slow:?}");
    assert_eq!(quick.0.stdout, "quick\n", "{quick:?}");
    assert!(
        quick.1 < Duration::from_secs(2),
        "waited for the slow command: {:?}",
        quick.1
    );
}

/// Batching by plan: the first commands of the plan's parties go out in one batch per host,
/// however late a party sends its own (within the plan's wait), and a party that sends nothing
/// holds no one back beyond that wait.
#[test]
fn a_plan_puts_every_partys_first_command_in_one_batch() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let hosts = vec![fleet.hosts[0].name.clone()];
    let shell_of = |with_plan: bool| -> (String, String) {
        let ex = executor(&fleet, Duration::from_secs(20), 1 << 20);
        if with_plan {
            ex.plan(2);
        }
        let arrive = || ex.arrive();
        std::thread::scope(|s| {
            let early = s.spawn(|| {
                let job = Job {
                    queued: Some(&arrive),
                    ..Job::new("echo $$", &hosts)
                };
                ex.submit(job, &mut |_| {}).remove(0).stdout
            });
            let late = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(400));
                let job = Job {
                    queued: Some(&arrive),
                    ..Job::new("echo $$", &hosts)
                };
                ex.submit(job, &mut |_| {}).remove(0).stdout
            });
            (early.join().expect("early"), late.join().expect("late"))
        })
    };
    let (a, b) = shell_of(true);
    assert_eq!(a, b, "one batch, one shell");
    let (a, b) = shell_of(false);
    assert_ne!(
        a, b,
        "without a plan the early command does not wait for the late one"
    );
    // A party that never arrives: the others go on after the plan's wait (1 s).
    let ex = executor(&fleet, Duration::from_secs(20), 1 << 20);
    ex.plan(2);
    let start = Instant::now();
    let r = ex.run("true", &hosts).remove(0);
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}

/// Dropping the executor ends its driver threads, which closes its sessions: the host's sshd
/// has no connection left. (Before, the drivers held a sender of their own and never ended.)
#[test]
fn a_dropped_executor_closes_its_sessions() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let hosts = vec![fleet.hosts[0].name.clone()];
    let listener = fleet.hosts[0].pid().expect("sshd pid");
    // sshd serves each connection in a child process of its listener.
    let connections = || {
        Command::new("pgrep")
            .args(["-c", "-P", &listener.to_string()])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<usize>()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let ex = executor(&fleet, Duration::from_secs(20), 1 << 20);
    assert_eq!(ex.run("true", &hosts)[0].outcome, Outcome::Exited(0));
    assert_eq!(connections(), 1, "one session, kept for the run");
    drop(ex);
    let start = Instant::now();
    while connections() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the session outlived its executor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
