//! Plugins that end their process every way a library can (tests/fixtures/plugins/dies.c, built
//! here with the system C compiler against sdk/include/rolecall_plugin.h): each is an error
//! result naming the plugin and how it ended, what it reported before is kept, the shipped
//! validators still run, and the exit code is 2.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{fixture, repo, Output, Test};

const FLEET: &str = "hosts:\n  web01: 127.0.0.2\nroles:\n  web: [web01]\n";

/// `dies.c` built with `-DDIE_<how>` into the test's own plugin directory.
fn dies(t: &Test, how: &str) -> PathBuf {
    dies_as(t, how, &[])
}

fn dies_as(t: &Test, how: &str, defines: &[&str]) -> PathBuf {
    let dir = t.dir().join("plugins");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let lib = dir.join(format!("libdies_{}.so", how.to_lowercase()));
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo().join("sdk/include"))
        .arg(format!("-DDIE_{how}"))
        .arg(format!("-DNAME=\"dies-{}\"", how.to_lowercase()))
        .args(defines)
        .arg("-o")
        .arg(&lib)
        .arg(fixture("plugins/dies.c"))
        .status()
        .expect("cc (install gcc)");
    assert!(st.success(), "building the {how} fixture failed");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn validate(how: &str, extra: &[&str]) -> Output {
    let t = Test::new().yaml(FLEET);
    let dir = dies(&t, how);
    t.args(["validate", "--format", "json", "--plugin-dir"])
        .args([dir.to_str().expect("utf-8 path")])
        .args(extra)
        .deadline(Duration::from_secs(60))
        .run()
}

/// The dying plugin's rows, and whether the shipped validators' rows are there too.
fn rows(out: &Output, plugin: &str) -> (Vec<(String, String)>, bool) {
    let j = out.json();
    let results = j["results"].as_array().expect("results");
    let mine = results
        .iter()
        .filter(|r| r["plugin"] == plugin)
        .map(|r| {
            (
                r["status"].as_str().unwrap_or_default().to_string(),
                r["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let others = results.iter().any(|r| r["plugin"] == "cardinality");
    (mine, others)
}

#[track_caller]
fn ended_as(how: &str, extra: &[&str], message: &str) {
    let out = validate(how, extra);
    out.code(2);
    let plugin = format!("dies-{}", how.to_lowercase());
    let (mine, others) = rows(&out, &plugin);
    assert!(others, "the other plugins ran:\n{}", out.stdout);
    assert_eq!(
        mine.first().map(|(s, m)| (s.as_str(), m.as_str())),
        Some(("pass", "reported before the end")),
        "what it reported before is kept: {mine:?}"
    );
    let last = mine.last().expect("an error row");
    assert_eq!(last.0, "error", "{mine:?}");
    assert!(
        last.1.starts_with(&format!("plugin `{plugin}` {message}")),
        "{:?}",
        last.1
    );
}

#[test]
fn abort_is_an_error_naming_the_signal() {
    ended_as("ABORT", &[], "crashed: killed by signal SIGABRT (abort)");
}

#[test]
fn segfault_is_an_error_naming_the_signal() {
    ended_as(
        "SEGV",
        &[],
        "crashed: killed by signal SIGSEGV (segmentation fault)",
    );
}

/// Regression: `exit(0)` in a plugin made `validate` exit 0 with no output.
#[test]
fn exit_in_the_run_function_is_an_error() {
    ended_as(
        "EXIT",
        &[],
        "ended its process with exit status 0 before finishing",
    );
}

#[test]
fn spin_loop_is_stopped_at_the_deadline() {
    let start = std::time::Instant::now();
    ended_as("SPIN", &["--deadline", "2"], "stopped at the deadline after ");
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
}

#[test]
fn flood_of_reports_is_stopped() {
    ended_as("FLOOD", &[], "reported more than 100000 results; stopped");
}

/// Regression: `exit(0)` in a library constructor made `plugins` and `validate` exit 0 silently.
#[test]
fn exit_in_a_constructor_is_a_load_error() {
    let out = validate("CTOR_EXIT", &[]);
    out.code(2)
        .stderr_has("libdies_ctor_exit.so: loading it ended its process with exit status 0 before finishing");
    let (_, others) = rows(&out, "dies-ctor_exit");
    assert!(others, "the other plugins ran");
    let t = Test::new();
    let dir = dies(&t, "CTOR_EXIT");
    t.args(["plugins", "--plugin-dir", dir.to_str().expect("utf-8 path")])
        .run()
        .code(2)
        .stdout_has("loading it ended its process with exit status 0");
}

/// Regression: a constructor's `printf` landed in the middle of `--format json`.
#[test]
fn constructor_output_never_reaches_stdout() {
    let out = validate("CTOR_PRINTF", &[]);
    out.code(0);
    let (mine, _) = rows(&out, "dies-ctor_printf");
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(!out.stdout.contains("rolecall's output"), "{}", out.stdout);
}

/// Regression: a descriptor with a NULL `run` loaded, then segfaulted when called.
#[test]
fn null_run_function_is_refused_at_load() {
    let out = validate("NULL_RUN", &[]);
    out.code(2)
        .stderr_has("plugin `dies-null_run`: its run function is NULL");
}

#[test]
fn malformed_report_is_an_error_row() {
    let out = validate("BAD_REPORT", &[]);
    out.code(2);
    let (mine, _) = rows(&out, "dies-bad_report");
    assert!(
        mine.iter()
            .any(|(s, m)| s == "error"
                && m == "the plugin reported a malformed result: report struct is 8 bytes"),
        "{mine:?}"
    );
}

/// Regression: with no plugin found (a wrong `--plugin-dir`, say), `validate` said "0 checks"
/// and exited 0.
#[test]
fn no_plugin_found_is_an_error_saying_where_rolecall_looked() {
    let t = Test::new().yaml(FLEET);
    let empty = t.dir().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    // Without the build directory's shipped plugins: run a copy of the binary from elsewhere.
    let bin = t.dir().join("bin/rolecall");
    std::fs::create_dir_all(bin.parent().expect("parent")).expect("mkdir");
    std::fs::copy(crate::support::BIN, &bin).expect("copy binary");
    let out = t
        .args(["validate", "--plugin-dir", empty.to_str().expect("utf-8 path")])
        .env("XDG_DATA_HOME", empty.to_str().expect("utf-8 path"))
        .program(&bin)
        .run();
    out.code(2)
        .stderr_has("no validator plugin found; searched: ")
        .stderr_has(empty.to_str().expect("utf-8 path"))
        .stderr_has("hint: install the plugin libraries");
}

/// A plugin file owned by another user is refused even with safe permissions (rolecall as root
/// would otherwise run that user's code).
#[test]
fn plugin_owned_by_another_user_is_refused() {
    if rolecall_fleet::whoami() != "root" {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let t = Test::new().yaml(FLEET);
    let dir = dies(&t, "ABORT");
    let lib = dir.join("libdies_abort.so");
    let st = Command::new("chown")
        .arg("nobody")
        .arg(&lib)
        .status()
        .expect("chown");
    assert!(st.success());
    let out = t
        .args(["validate", "--plugin-dir", dir.to_str().expect("utf-8 path")])
        .run();
    out.code(2)
        .stderr_has("libdies_abort.so: refused: it is owned by uid ")
        .stderr_has("neither root nor you");
}

/// A debugger that ran a command through rolecall and then segfaulted: its result before the
/// crash is kept, the other debuggers finish, exit 2.
#[test]
fn crashing_debugger_keeps_what_it_reported_and_the_others_finish() {
    let t = Test::new()
        .yaml(FLEET)
        .file("canned.yaml", b"- stdout: \"hi\\n\"\n");
    let dir = dies_as(&t, "SEGV", &["-DDEBUGGER"]);
    let out = t
        .args([
            "debug",
            "--replay",
            "canned.yaml",
            "--format",
            "json",
            "--plugin-dir",
        ])
        .args([dir.to_str().expect("utf-8 path")])
        .args(["--only", "dies-segv,memory"])
        .run();
    out.code(2);
    let j = out.json();
    let results = j["results"].as_array().expect("results");
    let mine: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| r["plugin"] == "dies-segv")
        .map(|r| {
            (
                r["status"].as_str().unwrap_or(""),
                r["message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(mine.contains(&("pass", "echo answered")), "{mine:?}");
    assert!(
        mine.iter()
            .any(|(s, m)| *s == "error"
                && m.starts_with("plugin `dies-segv` crashed: killed by signal SIGSEGV")),
        "{mine:?}"
    );
    assert!(
        results.iter().any(|r| r["plugin"] == "memory"),
        "the other debugger finished: {}",
        out.stdout
    );
}

/// Plugin log lines reach stderr with `-v` (never stdout), JSON carries them, an invalid level
/// is refused.
#[test]
fn plugin_logs_show_with_verbose_and_in_json() {
    let quiet = validate("BAD_REPORT", &[]);
    assert!(!quiet.stderr.contains("about to end"), "{}", quiet.stderr);
    let logs = quiet.json()["logs"].clone();
    assert_eq!(logs[0]["plugin"], "dies-bad_report", "{logs}");
    assert_eq!(logs[0]["level"], "info");
    assert_eq!(logs[0]["message"], "about to end");
    assert!(!quiet.stdout.contains("level 9"), "{}", quiet.stdout);
    let t = Test::new().yaml(FLEET);
    let dir = dies(&t, "BAD_REPORT");
    let out = t
        .args([
            "validate",
            "-v",
            "--plugin-dir",
            dir.to_str().expect("utf-8 path"),
        ])
        .run();
    out.stderr_has("[dies-bad_report] info: about to end");
    assert!(!out.stdout.contains("about to end"), "{}", out.stdout);
}

/// Regression: a plugin's escape sequences reached the terminal, and a huge message took
/// minutes to render as a table. Tables escape and cut; JSON keeps every byte.
#[test]
fn plugin_text_is_escaped_and_cut_in_tables_exact_in_json() {
    let t = Test::new().yaml(FLEET);
    let dir = dies(&t, "NOISY");
    let dir = dir.to_str().expect("utf-8 path").to_string();
    let out = t
        .args(["validate", "--color", "never", "--plugin-dir", &dir])
        .deadline(Duration::from_secs(30))
        .run();
    out.code(1)
        .stdout_has("\\x1b]0;owned\\x07\\x1b[2J")
        .stdout_has("more bytes; --format json has it all]");
    assert!(!out.stdout.contains('\x1b'), "raw escape on stdout");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    let json = validate("NOISY", &[]);
    let j = json.json();
    let msg = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["check"] == "noisy")
        .and_then(|r| r["message"].as_str())
        .expect("the noisy message")
        .to_string();
    assert_eq!(msg.len(), 5 << 20);
    assert!(msg.starts_with("\x1b]0;owned\x07\x1b[2J"));
}

/// Regression: a run whose plugins reported nothing said "0 checks" and exited 0.
#[test]
fn a_run_that_checked_nothing_is_an_error() {
    let out = validate("SILENT", &["--only", "dies-silent"]);
    out.code(2)
        .stderr_has("nothing was checked: the plugins ran but reported no check");
}

/// The pid a `FORK_SPIN` plugin wrote into `dir/name`, once it is there.
fn noted_pid(dir: &std::path::Path, name: &str) -> i32 {
    let path = dir.join(name);
    let start = std::time::Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaps) within 3 seconds.
fn gone(pid: i32) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

/// Regression: a plugin that forks a grandchild holding the host's pipe, then spins, held the
/// run until the grandchild ended (40 s with `--deadline 5`), and the grandchild outlived it.
#[test]
fn a_grandchild_holding_the_pipe_does_not_hold_the_deadline() {
    let t = Test::new().yaml(FLEET);
    let dir = dies(&t, "FORK_SPIN");
    let pids = tempfile::tempdir().expect("temp dir");
    let out = t
        .env("DIES_PIDS", pids.path().to_str().expect("utf-8 path"))
        .args(["validate", "--format", "json", "--deadline", "3", "--plugin-dir"])
        .args([dir.to_str().expect("utf-8 path")])
        .deadline(Duration::from_secs(90))
        .run();
    out.code(2);
    assert!(out.elapsed < Duration::from_secs(10), "took {:?}", out.elapsed);
    let (mine, others) = rows(&out, "dies-fork_spin");
    assert!(others, "the other plugins ran:\n{}", out.stdout);
    let last = mine.last().expect("an error row");
    assert!(last.1.contains("stopped at the deadline after "), "{mine:?}");
    let grandchild = noted_pid(pids.path(), "grandchild");
    assert!(
        gone(grandchild),
        "the plugin's grandchild {grandchild} outlived the run"
    );
}

/// Regression: the same grandchild forked by a library constructor held `plugins` past the
/// 10 s load timeout.
#[test]
fn a_grandchild_holding_the_pipe_does_not_hold_the_load_timeout() {
    let t = Test::new();
    let dir = dies(&t, "CTOR_FORK_SPIN");
    let pids = tempfile::tempdir().expect("temp dir");
    let out = t
        .env("DIES_PIDS", pids.path().to_str().expect("utf-8 path"))
        .args(["plugins", "--plugin-dir", dir.to_str().expect("utf-8 path")])
        .deadline(Duration::from_secs(90))
        .run();
    out.code(2)
        .stdout_has("loading it stopped at the deadline after 10.");
    assert!(out.elapsed < Duration::from_secs(20), "took {:?}", out.elapsed);
    let grandchild = noted_pid(pids.path(), "grandchild");
    assert!(
        gone(grandchild),
        "the constructor's grandchild {grandchild} outlived the run"
    );
}

/// Whether this process ignores `sig` (and so would the rolecall it starts).
fn ignored(sig: i32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// Regression: SIGTERM (or Ctrl-C) to rolecall left `__plugin-host` and what it forked running.
#[test]
fn a_stopped_run_takes_its_plugin_hosts_with_it() {
    for (sig, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT")] {
        if ignored(sig) {
            // Inherited as ignored (a background job of a shell): rolecall keeps it so, as
            // `nohup` asks, and the signal stops nothing.
            continue;
        }
        let t = Test::new().yaml(FLEET);
        let dir = dies(&t, "FORK_SPIN");
        let pids = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(crate::support::BIN)
            .args(["validate", "--plugin-dir", dir.to_str().expect("utf-8 path")])
            .current_dir(t.dir())
            .env("HOME", t.dir())
            .env("DIES_PIDS", pids.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn rolecall");
        let host = noted_pid(pids.path(), "host");
        let grandchild = noted_pid(pids.path(), "grandchild");
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(sig), "rolecall ends by the signal it got");
        assert!(
            gone(host),
            "signal {sig}: the plugin host {host} outlived rolecall"
        );
        assert!(
            gone(grandchild),
            "signal {sig}: its grandchild {grandchild} outlived rolecall"
        );
    }
}

/// Regression: a run whose every check skipped exited 0.
#[test]
fn a_run_whose_every_check_skipped_is_an_error() {
    let out = validate("SKIP", &["--only", "dies-skip"]);
    out.code(2)
        .stderr_has("nothing was checked: every check was skipped (dies-skip: nothing to do here)");
}

/// Regression: a result for a host outside the deployment was accepted as a pass.
#[test]
fn a_result_for_a_host_outside_the_deployment_is_a_plugin_error() {
    let out = validate("STRANGER", &["--only", "dies-stranger"]);
    out.code(2);
    let (mine, _) = rows(&out, "dies-stranger");
    assert_eq!(
        mine,
        vec![
            (
                "error".to_string(),
                "plugin `dies-stranger` reported a result for `intruder01`, which is not a host of \
                 the deployment (check `stranger`: all good on a host nobody selected)"
                    .to_string()
            ),
            ("pass".to_string(), "all good on web01".to_string()),
        ]
    );
}

/// Regression: raw escapes and carriage returns in a library's file name reached the terminal
/// through the `plugins` table, load errors and error messages.
#[test]
fn escapes_in_file_names_never_reach_the_terminal() {
    let keep = tempfile::tempdir().expect("temp dir");
    let dir = keep.path().join("plugins");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let evil = dir.join("libevil\x1b]0;owned\x07\x1b[2J\rx.so");
    std::fs::write(&evil, b"not an ELF file").expect("write");
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = dir.to_str().expect("utf-8 path");
    let raw = |s: &str| s.contains('\x1b') || s.contains('\r') || s.contains('\x07');
    for args in [
        vec!["plugins", "--plugin-dir", dir],
        vec!["validate", "--plugin-dir", dir],
        vec!["validate", "--plugin-dir", dir, "-c", "missing\x1b[2J.yaml"],
    ] {
        let out = Test::new().yaml(FLEET).args(args.clone()).run();
        assert!(!raw(&out.stdout), "{args:?}: stdout {:?}", out.stdout);
        assert!(!raw(&out.stderr), "{args:?}: stderr {:?}", out.stderr);
        assert!(
            out.stdout.contains("\\x1b]0;owned\\x07\\x1b[2J\\x0dx.so")
                || out.stderr.contains("\\x1b]0;owned\\x07\\x1b[2J\\x0dx.so")
                || out.stderr.contains("missing\\x1b[2J.yaml"),
            "{args:?}: {out:?}"
        );
    }
}

/// A plugin host of another protocol version (the rolecall binary replaced during a run) is a
/// load problem naming both versions; a host that says no hello at all is named as such.
#[test]
fn a_plugin_host_of_another_protocol_is_refused_naming_both_versions() {
    let t = Test::new();
    let dir = crate::plugins::plugin_dir(&t, &[("libfixture_ok.so", &crate::plugins::lib("fixture_ok"))]);
    let d = dir.to_str().expect("utf-8").to_string();
    // A host that answers `hello` with protocol 99, in the wire's framing (u32 LE length, kind).
    let fake = |name: &str, body: &str| {
        let path = t.dir().join(name);
        std::fs::write(
            &path,
            format!(
                "#!/usr/bin/env python3\nimport sys\nb = {body:?}.encode()\n\
                 sys.stdout.buffer.write(len(b).to_bytes(4, 'little') + b'J' + b)\nsys.stdout.flush()\n"
            ),
        )
        .expect("write");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    };
    let newer = fake("newer-host", r#"{"t":"hello","protocol":99}"#);
    Test::new()
        .args(["plugins", "--plugin-dir", &d])
        .env("ROLECALL_PLUGIN_HOST", &newer)
        .run()
        .code(2)
        .stdout_has("the plugin host speaks plugin-host protocol 99, this rolecall 3");
    let mute = fake("old-host", r#"{"t":"done","code":0}"#);
    Test::new()
        .args(["plugins", "--plugin-dir", &d])
        .env("ROLECALL_PLUGIN_HOST", &mute)
        .run()
        .code(2)
        .stdout_has("the plugin host did not say hello");
}

/// `(status, message)` of each plugin's rows in `out`, for `plugins` in order.
fn rows_of(out: &Output, plugins: &[&str]) -> Vec<Vec<(String, String)>> {
    plugins.iter().map(|p| rows(out, p).0).collect()
}

/// The process id a `-DSIBLINGS` plugin passed with, and whether its input named the deployment.
fn sibling_pid(rows: &[(String, String)]) -> (i64, bool) {
    let msg = &rows.first().expect("a row").1;
    let pid = msg
        .strip_prefix("pid ")
        .and_then(|m| m.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {msg:?}"));
    (pid, msg.ends_with("deployment named"))
}

/// `validate --format json` with `dies.c` built `-DSIBLINGS` and `-DDIE_<how>`: the output,
/// and the rows of `dies-<how>-before`, `dies-<how>` and `dies-<how>-after`.
fn siblings(how: &str, extra: &[&str]) -> (Output, Vec<Vec<(String, String)>>) {
    let t = Test::new().yaml(FLEET);
    let dir = dies_as(&t, how, &["-DSIBLINGS"]);
    let out = t
        .args(["validate", "--format", "json", "--plugin-dir"])
        .args([dir.to_str().expect("utf-8")])
        .args(extra)
        .deadline(Duration::from_secs(60))
        .run();
    let name = format!("dies-{}", how.to_lowercase());
    let rows = rows_of(
        &out,
        &[&format!("{name}-before"), &name, &format!("{name}-after")],
    );
    (out, rows)
}

/// The plugins of one library run in one plugin host, the deployment named once for them all;
/// a plugin that crashes it gets its error, and the plugins after it still run, in a fresh host.
#[test]
fn a_library_shares_a_plugin_host_and_a_crash_costs_its_siblings_nothing() {
    let (out, rows) = siblings("SKIP", &[]);
    out.code(0);
    assert_eq!(rows[1], [("skip".to_string(), "nothing to do here".to_string())]);
    let (before, after) = (sibling_pid(&rows[0]), sibling_pid(&rows[2]));
    assert_eq!(before, after, "one plugin host for the library: {rows:?}");
    assert!(before.1, "the deployment is named for the SDK's reuse: {rows:?}");

    let (out, rows) = siblings("SEGV", &[]);
    out.code(2);
    let last = rows[1].last().expect("rows");
    assert_eq!(last.0, "error");
    assert!(
        last.1
            .starts_with("plugin `dies-segv` crashed: killed by signal SIGSEGV"),
        "{rows:?}"
    );
    let (before, after) = (sibling_pid(&rows[0]), sibling_pid(&rows[2]));
    assert_ne!(
        before.0, after.0,
        "the plugin after the crash ran in a fresh host: {rows:?}"
    );
    assert!(
        rows.iter().flatten().filter(|r| r.0 == "error").count() == 1,
        "{rows:?}"
    );
}

/// A plugin still running at the deadline is stopped; the plugins of its library that had not
/// started say so, rather than run past the deadline.
#[test]
fn plugins_queued_behind_one_stopped_at_the_deadline_say_they_did_not_run() {
    let start = std::time::Instant::now();
    let (out, rows) = siblings("SPIN", &["--deadline", "2"]);
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    out.code(2);
    assert_eq!(rows[0][0].0, "pass", "{rows:?}");
    assert!(
        rows[1]
            .last()
            .expect("rows")
            .1
            .contains("stopped at the deadline"),
        "{rows:?}"
    );
    assert_eq!(
        rows[2],
        [(
            "error".to_string(),
            "plugin `dies-spin-after` did not run: the run's deadline passed while `dies-spin` \
             (of the same library, in the same plugin host) was running"
                .to_string()
        )]
    );
}
