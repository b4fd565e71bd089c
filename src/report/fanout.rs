//! `run` output: hosts with identical (stdout, stderr, outcome) grouped, names folded
//! (`nc[01-04,07]`), successes first and failures last, so 500 identical answers read as one.

use std::fmt::Write as _;
use std::time::Duration;

use colored::Colorize;
use indexmap::IndexMap;
use serde_json::{json, Value};

use super::checks::pretty;
use super::safe::escape;
use crate::deployment::range::fold;
use crate::exit::Exit;
use crate::remote::{HostResult, Outcome};

/// The exit code of a fan-out: 3 when a host did not run the command (unreachable, refused,
/// timed out...), else 1 when one exited non-zero or was killed, else 0.
pub fn exit(results: &[HostResult]) -> Exit {
    if results.iter().any(|r| r.outcome == Outcome::Interrupted) {
        Exit::Interrupted
    } else if results.iter().any(|r| r.outcome.incomplete()) {
        Exit::Incomplete
    } else if results.iter().any(|r| !r.success()) {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    }
}

struct Group<'a> {
    outcome: &'a Outcome,
    stdout: &'a str,
    stderr: &'a str,
    hosts: Vec<&'a str>,
    slowest: Duration,
}

fn groups(results: &[HostResult]) -> Vec<Group<'_>> {
    let mut map: IndexMap<(&Outcome, &str, &str), Group<'_>> = IndexMap::new();
    for r in results {
        let g = map
            .entry((&r.outcome, &r.stdout, &r.stderr))
            .or_insert_with(|| Group {
                outcome: &r.outcome,
                stdout: &r.stdout,
                stderr: &r.stderr,
                hosts: Vec::new(),
                slowest: Duration::ZERO,
            });
        g.hosts.push(&r.host);
        g.slowest = g.slowest.max(r.duration);
    }
    let mut out: Vec<Group<'_>> = map.into_values().collect();
    // Stable: successes, then non-zero exits and signals, then hosts that did not run it.
    out.sort_by_key(|g| match g.outcome {
        Outcome::Exited(0) => 0,
        o if o.finished() => 1,
        _ => 2,
    });
    out
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Grouped text.
pub fn table(command: &str, results: &[HostResult]) -> String {
    let mut out = String::new();
    for g in groups(results) {
        let hosts = fold(g.hosts.iter().copied()).join(",");
        let status = g.outcome.describe();
        let status = escape(&status);
        let hosts = escape(&hosts);
        let head = format!("==> {hosts} ({}): {status}", plural(g.hosts.len(), "host"));
        let head = match g.outcome {
            Outcome::Exited(0) => head.green().bold(),
            o if o.finished() => head.red().bold(),
            _ => head.magenta().bold(),
        };
        let _ = writeln!(out, "{head}");
        // What hosts print is shown escaped: no escape sequence of theirs reaches the terminal.
        out.push_str(&escape(g.stdout));
        if !g.stdout.is_empty() && !g.stdout.ends_with('\n') {
            out.push('\n');
        }
        if !g.stderr.is_empty() {
            let _ = writeln!(out, "{}", "--- stderr".dimmed());
            out.push_str(&escape(g.stderr));
            if !g.stderr.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out.push_str(&summary_line(command, results));
    out
}

/// The closing line: how many hosts ended which way.
pub fn summary_line(command: &str, results: &[HostResult]) -> String {
    format!(
        "`{command}` on {}: {}\n",
        plural(results.len(), "host"),
        Tally::of(results)
    )
}

/// One host's answer as `--stream` prints it: each stdout line as `host: line`, each stderr line
/// as `host! line`, then how it ended when that is not a clean exit.
pub fn stream_lines(r: &HostResult) -> String {
    let mut out = String::new();
    let host = escape(&r.host);
    for line in r.stdout.lines() {
        let _ = writeln!(out, "{}: {}", host.bold(), escape(line));
    }
    for line in r.stderr.lines() {
        let _ = writeln!(out, "{}! {}", host.bold(), escape(line));
    }
    if !r.success() {
        let _ = writeln!(out, "{}: [{}]", host.bold(), escape(&r.outcome.describe()).red());
    }
    out
}

/// How many hosts ended which way, for the closing line and the JSON summary.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    ok: usize,
    /// Exited non-zero or killed by a signal.
    failed: usize,
    timed_out: usize,
    lost: usize,
    /// Never started: unreachable, refused, authentication or host key, cancelled.
    not_run: usize,
    /// Longest run among the hosts where the command started.
    slowest: Option<Duration>,
}

impl Tally {
    fn of(results: &[HostResult]) -> Self {
        let mut t = Tally::default();
        for r in results {
            match &r.outcome {
                Outcome::Exited(0) => t.ok += 1,
                o if o.finished() => t.failed += 1,
                Outcome::Timeout(_) => t.timed_out += 1,
                Outcome::Lost(_) => t.lost += 1,
                Outcome::DryRun => {}
                _ => t.not_run += 1,
            }
            if r.outcome.started() {
                t.slowest = Some(t.slowest.unwrap_or_default().max(r.duration));
            }
        }
        t
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ok, {} failed", self.ok, self.failed)?;
        if self.timed_out > 0 {
            write!(f, ", {} timed out", self.timed_out)?;
        }
        if self.lost > 0 {
            write!(f, ", {} lost the connection", self.lost)?;
        }
        write!(f, ", {} not run", self.not_run)?;
        if let Some(d) = self.slowest {
            write!(f, "; slowest {:.2}s", d.as_secs_f64())?;
        }
        Ok(())
    }
}

/// `{"command", "results": [one object per host], "summary"}`.
pub fn json(
    command: &str,
    results: &[HostResult],
    shard: Option<&crate::results::shard::ShardRun>,
) -> String {
    pretty(&json_value(command, results, shard))
}

/// The document of [`json()`] (the HTML report embeds it).
pub fn json_value(
    command: &str,
    results: &[HostResult],
    shard: Option<&crate::results::shard::ShardRun>,
) -> Value {
    let items: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r.to_command_result()).unwrap_or(Value::Null);
            // rolecall's own names (`failed`, `killed`), not the plugin ABI's.
            v["outcome"] = json!(r.outcome.name());
            // Output that is not UTF-8: its exact bytes beside the (lossy) text.
            use base64::Engine;
            let b64 = &base64::engine::general_purpose::STANDARD;
            if let Some(b) = &r.raw.stdout {
                v["stdout_base64"] = json!(b64.encode(b));
            }
            if let Some(b) = &r.raw.stderr {
                v["stderr_base64"] = json!(b64.encode(b));
            }
            v
        })
        .collect();
    let t = Tally::of(results);
    let mut doc = json!({
        "schema_version": crate::results::SCHEMA_VERSION,
        "command": command,
        "results": items,
        "summary": {
            "hosts": results.len(),
            "ok": t.ok,
            "failed": t.failed,
            "timed_out": t.timed_out,
            "connection_lost": t.lost,
            "not_run": t.not_run,
            "exit_code": exit(results).code(),
        },
        "interrupted": exit(results) == Exit::Interrupted,
    });
    if let Some(shard) = shard {
        doc["shard"] = shard.json();
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(host: &str, outcome: Outcome, stdout: &str) -> HostResult {
        HostResult {
            host: host.into(),
            outcome,
            stdout: stdout.into(),
            stderr: String::new(),
            duration: Duration::from_millis(5),
            round_trip: None,
            raw: crate::remote::RawOutput::default(),
        }
    }

    #[test]
    fn groups_fold_and_failures_go_last() {
        colored::control::set_override(false);
        let res = vec![
            r("nc05", Outcome::Unreachable("refused".into()), ""),
            r("nc01", Outcome::Exited(0), "up\n"),
            r("nc03", Outcome::Exited(1), "down\n"),
            r("nc02", Outcome::Exited(0), "up\n"),
            r("nc04", Outcome::Exited(0), "up\n"),
            r("nc07", Outcome::Exited(0), "up\n"),
        ];
        let t = table("uptime", &res);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "==> nc[01-02,04,07] (4 hosts): exit 0", "{t}");
        assert_eq!(lines[1], "up");
        assert_eq!(lines[2], "==> nc03 (1 host): exit 1");
        assert!(
            lines[4].starts_with("==> nc05 (1 host): unreachable: refused"),
            "{t}"
        );
        assert!(
            t.ends_with("`uptime` on 6 hosts: 4 ok, 1 failed, 1 not run; slowest 0.01s\n"),
            "{t}"
        );
        assert_eq!(exit(&res), Exit::Incomplete);
        assert_eq!(exit(&res[1..]), Exit::ChecksFailed);
        assert_eq!(exit(&res[3..]), Exit::Ok);
    }

    /// Timeouts and lost connections ran: they are named, not counted "not run"; nothing that
    /// did not start sets "slowest".
    #[test]
    fn summary_names_what_ran_and_what_did_not() {
        colored::control::set_override(false);
        let mut lost = r("b", Outcome::Lost("reset".into()), "partial\n");
        lost.duration = Duration::from_millis(1500);
        let res = vec![
            r("a", Outcome::Timeout(Duration::from_secs(3)), ""),
            lost,
            r("c", Outcome::Unreachable("refused".into()), ""),
        ];
        let t = table("x", &res);
        assert!(
            t.ends_with("`x` on 3 hosts: 0 ok, 0 failed, 1 timed out, 1 lost the connection, 1 not run; slowest 1.50s\n"),
            "{t}"
        );
        let mut unreachable = r("c", Outcome::Unreachable("refused".into()), "");
        unreachable.duration = Duration::ZERO;
        let t = table("x", &[unreachable]);
        assert!(t.ends_with("`x` on 1 host: 0 ok, 0 failed, 1 not run\n"), "{t}");
        let v: Value = serde_json::from_str(&json("x", &res, None)).unwrap();
        assert_eq!(v["results"][0]["outcome"], "timeout");
        assert_eq!(v["results"][1]["outcome"], "connection-lost");
        assert_eq!(v["results"][1]["stdout"], "partial\n");
        assert_eq!(v["results"][1]["duration_ms"], 1500);
        assert_eq!(v["summary"]["timed_out"], 1);
        assert_eq!(v["summary"]["exit_code"], 3);
        let v: Value = serde_json::from_str(&json("x", &[r("d", Outcome::Exited(2), "")], None)).unwrap();
        assert_eq!(v["results"][0]["outcome"], "failed");
        assert_eq!(v["results"][0]["exit_code"], 2);
    }

    /// Regression: host output reached the terminal raw (title changes, screen clears) even
    /// with `--color never`; JSON keeps the exact bytes.
    #[test]
    fn host_output_is_escaped_in_text_and_exact_in_json() {
        colored::control::set_override(false);
        let res = vec![r("a", Outcome::Exited(0), "\x1b]0;owned\x07\x1b[2J\u{202e}txt\n")];
        let t = table("x", &res);
        assert!(t.contains("\\x1b]0;owned\\x07\\x1b[2J\\u{202e}txt\n"), "{t}");
        assert!(!t.contains('\x1b'), "{t:?}");
        let v: Value = serde_json::from_str(&json("x", &res, None)).unwrap();
        assert_eq!(v["results"][0]["stdout"], "\x1b]0;owned\x07\x1b[2J\u{202e}txt\n");
    }

    #[test]
    fn json_has_one_object_per_host() {
        let res = vec![
            r("a", Outcome::Exited(0), "x"),
            r("b", Outcome::Signal("KILL".into()), ""),
        ];
        let v: Value = serde_json::from_str(&json("true", &res, None)).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        assert_eq!(v["results"][1]["outcome"], "killed");
        assert_eq!(v["results"][1]["signal"], "KILL");
        assert_eq!(v["summary"]["exit_code"], 1);
    }
}
