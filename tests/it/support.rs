//! A small builder for end-to-end cases: files in a temp dir, args, env -> exit code, stdout,
//! stderr. Every run has a deadline, so a hang is a test failure, not a stuck CI job.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rolecall");

/// Repository root (fixtures live under `tests/fixtures`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    deadline: Duration,
    stdin: Option<Vec<u8>>,
    program: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
            deadline: Duration::from_secs(30),
            stdin: None,
            program: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write `deploy.yaml` (the default `-c`) in the test's directory.
    pub fn yaml(self, text: &str) -> Self {
        self.file("deploy.yaml", text.as_bytes())
    }

    pub fn file(self, name: &str, bytes: &[u8]) -> Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, bytes).expect("write fixture");
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args.extend(args.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// Put `name` before every argument given so far (`-c FILE` then `roles`).
    pub fn subcommand(mut self, name: &str) -> Self {
        self.args.insert(0, name.to_string());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run this copy of the binary instead of the build's own.
    pub fn program(mut self, path: &Path) -> Self {
        self.program = Some(path.to_path_buf());
        self
    }

    /// Feed `bytes` to rolecall's stdin (default: none, stdin is `/dev/null`).
    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    pub fn run(&self) -> Output {
        let start = Instant::now();
        let mut cmd = Command::new(self.program.as_deref().unwrap_or(Path::new(BIN)));
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("ROLECALL_PLUGIN_PATH")
            .env_remove("SSH_AUTH_SOCK")
            // The machine's own ~/.ssh/config never decides what a test connects to.
            .env("HOME", self.dir.path())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn rolecall");
        if let (Some(mut input), Some(bytes)) = (child.stdin.take(), self.stdin.clone()) {
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = input.write_all(&bytes);
            });
        }
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > self.deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rolecall {:?} did not finish within {:?}",
                    self.args, self.deadline
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: t_out.join().expect("stdout thread"),
            stderr: t_err.join().expect("stderr thread"),
            elapsed: start.elapsed(),
        }
    }
}

impl Output {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stdout_empty(&self) -> &Self {
        assert!(self.stdout.is_empty(), "stdout should be empty:\n{}", self.stdout);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).expect("stdout is JSON")
    }
}

/// The result for `host` in a JSON document's `results` (the first one).
pub fn host_result(doc: &serde_json::Value, host: &str) -> serde_json::Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["host"] == host)
        .cloned()
        .unwrap_or_else(|| panic!("no result for {host}: {doc}"))
}

/// Every mutation of `text` at each line: truncated before it, the line dropped, and the line
/// rewritten by `swap`, as (line, variant 0..3, mutated text).
pub fn mutations<'a>(
    text: &'a str,
    swap: impl Fn(&str) -> String + 'a,
) -> impl Iterator<Item = (usize, usize, String)> + 'a {
    let lines: Vec<&str> = text.lines().collect();
    (0..lines.len()).flat_map(move |cut| {
        let lines = lines.clone();
        let swap = &swap;
        (0..3)
            .map(|variant| {
                let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
                match variant {
                    0 => l.truncate(cut),
                    1 => {
                        l.remove(cut);
                    }
                    _ => l[cut] = swap(&l[cut]),
                }
                (cut, variant, l.join("\n"))
            })
            .collect::<Vec<_>>()
    })
}

/// Whether this is CI (`CI` set, and not `0` or `false`): there, a test whose real parts are
/// missing fails; elsewhere it is skipped with the reason.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// True when `what` is missing: the test is then skipped, saying why (or, in CI, fails).
#[track_caller]
pub fn missing(what: &str, present: bool) -> bool {
    if present {
        return false;
    }
    assert!(
        !in_ci(),
        "{what} is missing, and CI runs every test (scripts/setup and scripts/test-users provide it)"
    );
    // Straight to stderr, not through the test harness's capture: a skip is seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: {what} is missing (in CI this fails; scripts/setup and, as root, scripts/test-users provide it)",
        std::panic::Location::caller()
    );
    true
}

/// A fleet of `n` real sshd hosts, or `None` (test skipped) where OpenSSH's sshd is missing.
#[track_caller]
pub fn fleet(n: usize) -> Option<rolecall_fleet::Fleet> {
    if missing(
        &format!("OpenSSH's sshd ({})", rolecall_fleet::SSHD),
        Path::new(rolecall_fleet::SSHD).exists(),
    ) {
        return None;
    }
    Some(rolecall_fleet::Fleet::start(n))
}

/// Whether the sudo users of scripts/test-users exist (else the test is skipped, or fails in
/// CI).
#[track_caller]
pub fn sudo_users() -> bool {
    let present = Command::new("id")
        .args(["-u", "rc-nopw"])
        .output()
        .is_ok_and(|o| o.status.success());
    !missing(
        "the sudo test users of scripts/test-users (rc-nopw, rc-pw, rc-nosudo)",
        present,
    )
}
