//! The README's console examples run as written: every ```console block whose command needs no
//! fleet (`roles`, `validate`, on files in the repository) is run from the repository's root,
//! and each line it shows must appear in the real output, in order (a line of `...` elides
//! lines; a line ending in `...` shows the start of one).
//! Examples that need hosts are listed, and the test says which ones it did not run.

use std::process::Command;

use crate::support::{repo, BIN};

/// One example: the command's words after `rolecall`, and the output lines shown.
struct Example {
    line: usize,
    args: Vec<String>,
    shown: Vec<String>,
}

/// Whether `text` (a run's stdout and stderr, exit `code`) shows what example `e` shows, in
/// order; else why not.
fn shows(e: &Example, text: &str, code: Option<i32>) -> Option<String> {
    // `$ echo $?` after a command shows its exit code.
    let text = format!("{text}$ echo $?\n{}\n", code.unwrap_or(-1));
    // A measured time (`slowest 0.05s`, `[+1.0s]`, `12ms`) shows that a time is printed there,
    // not which: a run that took 0.06s prints the example as well.
    let time = regex::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b").expect("regex");
    let untimed = |l: &str| time.replace_all(l.trim_end(), "<time>").into_owned();
    let lines: Vec<String> = text.lines().map(untimed).collect();
    let mut at = 0;
    for want in &e.shown {
        let want = untimed(want);
        // A line ending in `...` shows the start of the real one.
        let matches = |l: &String| match want.strip_suffix("...") {
            Some(start) => l.starts_with(start.trim_end()),
            None => *l == want,
        };
        match lines[at..].iter().position(matches) {
            Some(p) => at += p + 1,
            None => {
                return Some(format!(
                    "README.md:{}: `rolecall {}` does not print, in order:\n  {want}\nit printed:\n{text}",
                    e.line,
                    e.args.join(" ")
                ))
            }
        }
    }
    None
}

fn examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut current: Option<Example> = None;
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with("```console") {
            in_block = true;
            continue;
        }
        if in_block && raw.starts_with("```") {
            in_block = false;
            out.extend(current.take());
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = raw.strip_prefix("$ ") {
            if cmd == "echo $?" {
                if let Some(e) = current.as_mut() {
                    e.shown.push(raw.to_string());
                }
                continue;
            }
            out.extend(current.take());
            if let Some(rest) = cmd.strip_prefix("rolecall ") {
                // The one shell expansion the examples use.
                let rest = rest.replace("\"$(id -un)\"", &rolecall_fleet::whoami());
                current = Some(Example {
                    line: i + 1,
                    args: rest.split_whitespace().map(str::to_string).collect(),
                    shown: Vec::new(),
                });
            }
            continue;
        }
        if let Some(e) = current.as_mut() {
            if raw.trim() != "..." && !raw.trim().is_empty() {
                e.shown.push(raw.trim_end().to_string());
            }
        }
    }
    out
}

#[test]
fn readme_examples_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut ran = 0;
    let mut wrong = Vec::new();
    let mut skipped = Vec::new();
    for e in examples(&readme) {
        let offline = matches!(e.args.first().map(String::as_str), Some("roles" | "validate"));
        let files_exist = e
            .args
            .windows(2)
            .filter(|w| w[0] == "-c")
            .all(|w| repo().join(&w[1]).exists());
        if !offline || !files_exist {
            skipped.push(format!("README.md:{}: rolecall {}", e.line, e.args.join(" ")));
            continue;
        }
        let out = Command::new(BIN)
            .args(&e.args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env_remove("ROLECALL_PLUGIN_PATH")
            .output()
            .expect("rolecall");
        ran += 1;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(why) = shows(&e, &text, out.status.code()) {
            wrong.push(why);
        }
    }
    assert!(ran >= 3, "only {ran} README examples ran; skipped: {skipped:#?}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// The README's "rolecall in CI" jobs: valid YAML, and each `rolecall` command in them runs as
/// written (on the shipped example as `deploy.yaml`) and writes every file the job then uses.
#[test]
fn the_ci_jobs_in_the_readme_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let section = readme
        .split("## rolecall in CI")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a \"rolecall in CI\" section");
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 2, "GitHub Actions and GitLab CI");
    let mut ran = 0;
    for block in blocks {
        let _: serde_yaml::Value = serde_yaml::from_str(block).expect("the job is valid YAML");
        for line in block.lines() {
            let Some(at) = line.find("rolecall ") else {
                continue;
            };
            let words: Vec<&str> = line[at..].split_whitespace().skip(1).collect();
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::copy(repo().join("examples/demo.yaml"), dir.path().join("deploy.yaml")).expect("copy");
            let out = Command::new(BIN)
                .args(&words)
                .current_dir(dir.path())
                .env("NO_COLOR", "1")
                .env("HOME", dir.path())
                .output()
                .expect("rolecall");
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for file in ["rolecall.sarif", "rolecall.xml"] {
                if line.contains(file) {
                    let text = std::fs::read_to_string(dir.path().join(file)).expect("the job's file");
                    if file.ends_with(".sarif") {
                        let doc: serde_json::Value = serde_json::from_str(&text).expect("SARIF JSON");
                        assert_eq!(doc["version"], "2.1.0");
                    } else {
                        roxmltree::Document::parse(&text).expect("JUnit XML");
                    }
                }
            }
            ran += 1;
        }
    }
    assert_eq!(ran, 2, "one rolecall command per job");
}

/// The README's examples on the demo fleet (`-c examples/demo.yaml`, the fleet's key and
/// known_hosts in `target/demo-fleet/`) run as written against a fleet started as
/// `scripts/demo --keep` starts it (its hosts on 127.0.0.x:2222, its directories made), and
/// each line they show is printed, in order.
#[test]
fn readme_examples_on_the_demo_fleet_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let on_fleet: Vec<Example> = examples(&readme)
        .into_iter()
        .filter(|e| {
            e.args
                .windows(2)
                .any(|w| w[0] == "-c" && w[1] == "examples/demo.yaml")
        })
        .filter(|e| e.args.iter().any(|a| a.starts_with("target/demo-fleet/")))
        .collect();
    assert!(on_fleet.len() >= 3, "the debug, watch and run examples");
    if crate::support::missing(
        "OpenSSH's sshd",
        std::path::Path::new(rolecall_fleet::SSHD).exists(),
    ) {
        return;
    }
    // The demo's own set-up (scripts/demo).
    for (dir, mode) in [
        ("/tmp/rolecall-demo/srv/www", 0o755),
        ("/tmp/rolecall-demo/srv/db", 0o755),
    ] {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    }
    let d = rolecall::deployment::load(&repo().join("examples/demo.yaml"), None).expect("demo.yaml");
    let specs: Vec<(String, String, u16)> = d
        .hosts
        .values()
        .map(|h| (h.name.clone(), h.address.clone(), 2222))
        .collect();
    let work = tempfile::tempdir().expect("tmp");
    let fleet = match rolecall_fleet::Fleet::start_at(&work.path().join("fleet"), specs) {
        Ok(f) => f,
        Err(why) => {
            // Skipped (failed in CI) when they are taken: `scripts/demo --keep` left running.
            crate::support::missing(
                &format!(
                    "the demo's addresses (127.0.0.x:2222) free; is `scripts/demo --keep` running? ({why})"
                ),
                false,
            );
            return;
        }
    };
    let dir = fleet.dir().display().to_string();
    let mut wrong = Vec::new();
    for e in &on_fleet {
        let args: Vec<String> = e
            .args
            .iter()
            .map(|a| a.replace("target/demo-fleet", &dir))
            .collect();
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env("HOME", work.path())
            .env("ROLECALL_ALLOW_NETS", "127.0.0.0/8,::1/128")
            .env_remove("ROLECALL_PLUGIN_PATH")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("rolecall");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(why) = shows(e, &text, out.status.code()) {
            wrong.push(why);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// Regression: the demo-fleet example failed when `run` took 0.06s where the README shows
/// 0.05s. A time matches any time; everything else still has to match.
#[test]
fn an_example_shows_that_a_time_is_printed_not_which() {
    let e = Example {
        line: 1,
        args: vec!["run".into()],
        shown: vec!["`uname -sm` on 3 hosts: 3 ok, 0 failed, 0 not run; slowest 0.05s".into()],
    };
    let printed = |s: &str| format!("==> web[01-03] (3 hosts): exit 0\n{s}\n");
    assert_eq!(
        shows(
            &e,
            &printed("`uname -sm` on 3 hosts: 3 ok, 0 failed, 0 not run; slowest 1.26s"),
            Some(0)
        ),
        None
    );
    assert!(shows(
        &e,
        &printed("`uname -sm` on 3 hosts: 2 ok, 1 failed, 0 not run; slowest 0.05s"),
        Some(0)
    )
    .is_some());
}
