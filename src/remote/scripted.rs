//! The scripted executor: canned per-host answers instead of SSH. `--dry-run` uses it with no
//! answers (every command is recorded, none is sent); `--replay FILE` and tests give it a file:
//!
//! ```yaml
//! - host: "nc*"                    # host name or glob; every host when left out
//!   command: systemctl is-active   # part of the command; every command when left out
//!   exit: 3
//!   stdout: "inactive\n"
//! - host: nc02
//!   outcome: unreachable           # ok (default), signal, timeout, unreachable, auth-failed, ...
//!   message: connection refused
//! - file: /var/log/messages        # what fetching this path returns
//!   content: "boot ok\n"
//! ```
//!
//! The first entry that matches answers. A command nothing matches exits 127 with a note on
//! stderr, like a missing program.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;

use super::{glob_match, Executor, FetchError, HostResult, Job, Outcome};
use crate::deployment::error::Diagnostic;
use crate::deployment::source::Source;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    host: Option<String>,
    command: Option<String>,
    file: Option<String>,
    content: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    exit: i32,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    signal: Option<String>,
    message: Option<String>,
    /// Pretend the command took this long (milliseconds); nothing sleeps.
    #[serde(default)]
    duration_ms: u64,
}

/// Replays canned answers and records what was asked.
#[derive(Debug, Default)]
pub struct ScriptedExecutor {
    rules: Vec<Rule>,
    /// With no rule matching: `true` answers "dry run", `false` exits 127.
    dry_run: bool,
    calls: Mutex<Vec<(String, String)>>,
}

const OUTCOMES: &[&str] = &[
    "ok",
    "signal",
    "timeout",
    "refused",
    "unreachable",
    "handshake-timeout",
    "auth-failed",
    "host-key-unknown",
    "host-key-changed",
    "cancelled",
    "not-run",
    "error",
];

impl ScriptedExecutor {
    /// Records every command and answers none (`--dry-run`).
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Self::default()
        }
    }

    /// Answers from the YAML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, Diagnostic> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::new(path, format!("cannot read canned outputs: {e}")))?;
        Self::from_source(&Source::from_text(path, text))
    }

    pub fn from_yaml(name: &str, text: &str) -> Result<Self, Diagnostic> {
        Self::from_source(&Source::from_text(name, text))
    }

    fn from_source(src: &Source) -> Result<Self, Diagnostic> {
        if src.is_blank() {
            return Ok(Self::default());
        }
        let rules: Vec<Rule> = src.deserialize()?;
        for (i, r) in rules.iter().enumerate() {
            if let Some(o) = &r.outcome {
                if !OUTCOMES.contains(&o.as_str()) {
                    let path = crate::deployment::locate::YamlPath::parse(&format!("[{i}].outcome"));
                    return Err(src
                        .error_at(&path, format!("unknown outcome `{o}`"))
                        .hint(format!("expected one of {}", OUTCOMES.join(", "))));
                }
            }
        }
        Ok(Self {
            rules,
            ..Self::default()
        })
    }

    /// Every (command, host) asked for, in order.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn answer(&self, command: &str, host: &str) -> HostResult {
        let rule = self.rules.iter().find(|r| {
            r.file.is_none()
                && r.host.as_deref().is_none_or(|h| glob_match(h, host))
                && r.command.as_deref().is_none_or(|c| command.contains(c))
        });
        let Some(r) = rule else {
            return if self.dry_run {
                HostResult::failed(host, Outcome::DryRun)
            } else {
                HostResult {
                    stderr: format!("rolecall: no canned output for `{command}` on {host}\n"),
                    ..HostResult::failed(host, Outcome::Exited(127))
                }
            };
        };
        let message = r.message.clone().unwrap_or_else(|| "canned".into());
        let duration = Duration::from_millis(r.duration_ms);
        let outcome = match r.outcome.as_deref().unwrap_or("ok") {
            "ok" => Outcome::Exited(r.exit),
            "signal" => Outcome::Signal(r.signal.clone().unwrap_or_else(|| "KILL".into())),
            "timeout" => Outcome::Timeout(duration),
            "refused" => Outcome::Refused(message),
            "unreachable" => Outcome::Unreachable(message),
            "handshake-timeout" => Outcome::HandshakeTimeout(duration),
            "auth-failed" => Outcome::AuthFailed(message),
            "host-key-unknown" => Outcome::HostKeyUnknown(message),
            "host-key-changed" => Outcome::HostKeyChanged(message),
            "cancelled" => Outcome::Cancelled,
            "not-run" => Outcome::NotRun(message),
            _ => Outcome::Error(message),
        };
        HostResult {
            host: host.to_string(),
            outcome,
            stdout: r.stdout.clone(),
            stderr: r.stderr.clone(),
            duration,
            round_trip: None,
            raw: super::RawOutput::default(),
        }
    }
}

impl Executor for ScriptedExecutor {
    fn submit(&self, job: Job<'_>, each: &mut dyn FnMut(&HostResult)) -> Vec<HostResult> {
        let results: Vec<HostResult> = {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            job.hosts
                .iter()
                .map(|h| {
                    calls.push((job.command.to_string(), h.clone()));
                    self.answer(job.command, h)
                })
                .collect()
        };
        if let Some(queued) = job.queued {
            queued();
        }
        results.iter().for_each(&mut *each);
        results
    }

    fn fetch(&self, host: &str, path: &str) -> Result<Vec<u8>, FetchError> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((format!("fetch {path}"), host.to_string()));
        if self.dry_run {
            return Err(FetchError::DryRun);
        }
        self.rules
            .iter()
            .find(|r| {
                r.file.as_deref() == Some(path) && r.host.as_deref().is_none_or(|h| glob_match(h, host))
            })
            .map(|r| r.content.clone().unwrap_or_default().into_bytes())
            .ok_or_else(|| FetchError::NoCannedContent(path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_answers() {
        let ex = ScriptedExecutor::from_yaml(
            "canned.yaml",
            "- host: nc02\n  outcome: unreachable\n  message: refused\n\
             - host: 'nc*'\n  command: is-active\n  exit: 3\n  stdout: \"inactive\\n\"\n\
             - file: /etc/hostname\n  content: nc01\n",
        )
        .unwrap();
        let hosts = ["nc01".to_string(), "nc02".to_string(), "web".to_string()];
        let r = ex.run("systemctl is-active eucalyptus-node", &hosts);
        assert_eq!(r[0].outcome, Outcome::Exited(3));
        assert_eq!(r[0].stdout, "inactive\n");
        assert_eq!(r[1].outcome.name(), "unreachable");
        assert_eq!(r[2].outcome, Outcome::Exited(127));
        assert!(r[2].stderr.contains("no canned output"));
        assert_eq!(ex.fetch("nc01", "/etc/hostname").unwrap(), b"nc01");
        assert!(ex.fetch("nc01", "/nope").is_err());
        assert_eq!(ex.calls().len(), 5);
    }

    #[test]
    fn bad_outcome_names_line_and_choices() {
        let e = ScriptedExecutor::from_yaml("c.yaml", "- host: a\n  outcome: borked\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("c.yaml:2:"), "{text}");
        assert!(
            text.contains("unknown outcome `borked`") && text.contains("auth-failed"),
            "{text}"
        );
        let e = ScriptedExecutor::from_yaml("c.yaml", "- hots: a\n").unwrap_err();
        assert!(e.to_string().contains("hots"), "{e}");
    }

    #[test]
    fn dry_run_records_and_sends_nothing() {
        let ex = ScriptedExecutor::dry_run();
        let r = ex.run("uptime", &["a".into()]);
        assert_eq!(r[0].outcome, Outcome::DryRun);
        assert_eq!(ex.calls(), [("uptime".to_string(), "a".to_string())]);
    }
}
