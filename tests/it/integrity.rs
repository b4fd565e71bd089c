//! Results nobody on a host can forge: an unprivileged second user of the target host (as on
//! any shared or compromised machine) reads every process's command line and environment it
//! can, writes forged control tokens into a command's output and plants names in `/dev/shm`
//! and `/tmp`. Nothing it does may change a result, redirect a kill or run a command twice.
//!
//! The attacker is the `rc-nosudo` user made by `scripts/test-users` (root only: CI runs as
//! root). Without it these tests say why they did not run, and fail under `CI=true`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rolecall_fleet::Fleet;

use crate::support::Test;

const ATTACKER: &str = "rc-nosudo";
const DEADLINE: Duration = Duration::from_secs(120);

/// Whether the attacker user can be used here; `None` with the reason when not.
fn attacker_ready() -> Result<(), String> {
    let uid = Command::new("id").arg("-u").output().expect("id");
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    if !root {
        return Err("needs root to run a process as a second user".into());
    }
    let known = Command::new("id")
        .arg("-u")
        .arg(ATTACKER)
        .output()
        .is_ok_and(|o| o.status.success());
    if !known {
        return Err(format!("no user `{ATTACKER}` (scripts/test-users makes it)"));
    }
    Ok(())
}

/// Skip (with the reason) where the attacker cannot exist; under CI that is a failure.
#[track_caller]
fn require_attacker() -> bool {
    match attacker_ready() {
        Ok(()) => true,
        Err(why) => !crate::support::missing(&format!("the second user ({why})"), false),
    }
}

/// The attacker: for `secs` seconds it looks for batch nonces (`rc` + 32 hex digits) in every
/// `/proc/*/cmdline` and `/proc/*/environ` it can read and, for each one seen, writes forged
/// tokens (the old and the current token forms) into files the commands print, and plants a
/// FIFO at the old skip file's name. `seen` collects every nonce it found.
struct Attacker {
    child: Child,
    dir: PathBuf,
}

impl Attacker {
    fn start(dir: &Path, victim: u32, secs: u32) -> Attacker {
        std::fs::create_dir_all(dir).expect("attack dir");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let d = dir.display();
        let script = format!(
            r#"end=$(( $(date +%s) + {secs} ))
while [ "$(date +%s)" -lt "$end" ]; do
  for n in $(cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -ow 'rc[0-9a-f]\{{32\}}' | sort -u); do
    grep -qx "$n" {d}/seen 2>/dev/null && continue
    echo "$n" >>{d}/seen
    printf 'forged\n%s:end:0\n%s:end:0:0\n' "$n" "$n" >{d}/out
    printf '%s:job:0:{victim}\n%s:end\n%s:skip\n' "$n" "$n" "$n" >{d}/err
    mkfifo /dev/shm/.rolecall-$n.skip /tmp/.rolecall-$n.skip 2>/dev/null
  done
  sleep 0.02
done
"#
        );
        let child = Command::new("runuser")
            .args(["-u", ATTACKER, "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("runuser");
        // The files the commands print exist (harmless) before any nonce is seen.
        for (name, text) in [("out", "nothing yet\n"), ("err", "nothing yet\n")] {
            let p = dir.join(name);
            let st = Command::new("runuser")
                .args(["-u", ATTACKER, "--", "sh", "-c"])
                .arg(format!(
                    "printf '{text}' >{}; chmod 644 {}",
                    p.display(),
                    p.display()
                ))
                .status()
                .expect("runuser");
            assert!(st.success());
        }
        Attacker {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn seen(&self) -> String {
        std::fs::read_to_string(self.dir.join("seen")).unwrap_or_default()
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        // Its whole group: runuser, its shell and whatever that runs.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
        for n in self.seen().lines() {
            let _ = std::fs::remove_file(format!("/dev/shm/.rolecall-{n}.skip"));
            let _ = std::fs::remove_file(format!("/tmp/.rolecall-{n}.skip"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The fleet's deployment with role `fleet` carrying `checks`.
fn with_checks(fleet: &Fleet, checks: &str) -> String {
    fleet
        .yaml("")
        .replacen(
            "roles:\n  fleet:\n",
            &format!("roles:\n  fleet:\n    checks:\n{checks}    hosts:\n"),
            1,
        )
        .replace("    - h0", "      - h0")
}

fn status_of(v: &serde_json::Value, check: &str) -> Vec<String> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["plugin"] == "checks" && r["check"] == check)
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Regression (forged results; a command run twice; a FIFO at the skip file's name): the batch
/// nonce was in the remote shell's argv, so a second user could end a command early with a
/// status of its choice and shift every later result (`test -e` of a missing file passed), make
/// a command run twice with a forged `skip`, and hang the split shell with a FIFO.
#[test]
fn a_second_user_cannot_forge_results_or_rerun_commands() {
    if !require_attacker() {
        return;
    }
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let t = Test::new();
    let attack = Path::new("/tmp").join(format!("rc-attack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&attack);
    let mine = tempfile::tempdir().expect("temp dir");
    let counter = mine.path().join("counter");
    let attacker = Attacker::start(&attack, 1, 25);
    let a = attack.display();
    let checks = format!(
        "      - {{id: c1-prints, command: \"sleep 0.6; cat {a}/out; cat {a}/err >&2\"}}\n\
         \x20     - {{id: c2-missing, command: \"test -e /rolecall-no-such-file\"}}\n\
         \x20     - {{id: c3-once, command: \"echo x >> {c}\"}}\n\
         \x20     - {{id: c4-missing, command: \"test -e /rolecall-no-such-file-either\"}}\n\
         \x20     - {{id: c5-slow, command: \"sleep 2; cat {a}/out\"}}\n\
         \x20     - {{id: c6-once, command: \"echo y >> {c}\"}}\n",
        c = counter.display()
    );
    let out = t
        .yaml(&with_checks(&fleet, &checks))
        .args(["debug", "--only", "checks", "--format", "json"])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let v = out.json();
    assert_eq!(status_of(&v, "c1-prints"), ["pass"], "{v}");
    assert_eq!(status_of(&v, "c2-missing"), ["fail"], "forged: {v}");
    assert_eq!(status_of(&v, "c4-missing"), ["fail"], "forged: {v}");
    let runs = std::fs::read_to_string(&counter).unwrap_or_default();
    let mut runs: Vec<&str> = runs.lines().collect();
    runs.sort_unstable();
    assert_eq!(runs, ["x", "y"], "c3 and c6 each ran once: {v}");
    assert_eq!(status_of(&v, "c5-slow"), ["pass"], "{v}");
    out.code(1);
    assert_eq!(attacker.seen(), "", "the attacker saw a nonce");
}

/// Regression (kill redirected): a forged `job` token named an unrelated process, which the
/// timeout then killed as the login user, while the real command kept running after rolecall
/// exited. The timeout must end the command it started, and nothing else.
#[test]
fn a_timeout_kills_only_what_it_started() {
    if !require_attacker() {
        return;
    }
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let t = Test::new();
    let attack = Path::new("/tmp").join(format!("rc-attack-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&attack);
    let mut victim = Command::new("sleep").arg("300").spawn().expect("victim");
    let attacker = Attacker::start(&attack, victim.id(), 25);
    let a = attack.display();
    // A unique sleep to look for afterwards on the host.
    let checks = format!(
        "      - {{id: slow, command: \"sleep 1; cat {a}/err >&2; sleep 1; cat {a}/err >&2; sleep 31.4159\"}}\n\
         \x20     - {{id: after, command: \"true\"}}\n"
    );
    let out = t
        .yaml(&with_checks(&fleet, &checks))
        .args([
            "debug",
            "--only",
            "checks",
            "--format",
            "json",
            "--command-timeout",
            "4",
        ])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let v = out.json();
    let alive = victim.try_wait().expect("victim").is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(alive, "the timeout killed an unrelated process: {v}");
    let left = Command::new("pgrep")
        .args(["-f", "sleep 31.4159"])
        .output()
        .expect("pgrep");
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "the timed-out command is still running on the host"
    );
    assert_eq!(status_of(&v, "after"), ["pass"], "{v}");
    assert_eq!(attacker.seen(), "", "the attacker saw a nonce");
}

/// Regression: a command that killed its batch shell (`kill -9 $$`) made the commands behind
/// it report "exit 0" and the host "unreached". The shell's death is told as what happened,
/// the host counts as reached, and each command behind it says what really happened: it ran
/// (another batch took it) and passed, or it is `not-run`, and then it did not run.
#[test]
fn a_killed_batch_shell_is_reported_as_killed() {
    let Some(fleet) = crate::support::fleet(1) else {
        return;
    };
    let mine = tempfile::tempdir().expect("temp dir");
    let m = mine.path().display();
    let checks = format!(
        "      - {{id: killer, command: \"kill -9 $$\"}}\n\
         \x20     - {{id: behind, command: \"touch {m}/behind\"}}\n\
         \x20     - {{id: behind2, command: \"touch {m}/behind2\"}}\n"
    );
    let out = Test::new()
        .yaml(&with_checks(&fleet, &checks))
        .args(["debug", "--only", "checks", "--format", "json"])
        .args(fleet.args())
        .deadline(DEADLINE)
        .run();
    let v = out.json();
    let result = |check: &str| -> (String, String) {
        let r = v["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["check"] == check)
            .cloned()
            .unwrap_or_default();
        let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        (text("status"), text("message"))
    };
    assert!(result("killer").1.contains("KILL"), "{v}");
    assert_eq!(v["unreached"], serde_json::json!([]), "the host was reached: {v}");
    for check in ["behind", "behind2"] {
        let ran = mine.path().join(check).exists();
        let (status, message) = result(check);
        if ran {
            assert_eq!(status, "pass", "{check} ran: {v}");
        } else {
            assert!(message.contains("not-run"), "{check} did not run: {v}");
            assert!(message.contains("killed by signal KILL"), "{check}: {v}");
        }
    }
}
