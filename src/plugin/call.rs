//! Calling plugins: in a plugin-host process ([`super::host`]) per call, whose callbacks arrive
//! here as messages. Reports and logs are kept as they come, so whatever a plugin said before
//! it crashed, hung or called `exit()` is kept too; how it ended becomes an error result that
//! names it.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use rolecall_plugin::abi::Code;
use rolecall_plugin::{ExpectKey, Finding, Options, Status};
use serde_json::Value;

use super::process::HostProcess;
use super::wire::{self, Described, Event, PluginRun, Request, RunItem, MAX_FROM_HOST};
use super::Plugin;

/// A plugin reporting more results than this in one run is stopped.
pub const MAX_FINDINGS: usize = 100_000;
/// Loading a library and reading its descriptors must not take longer (constructors that spin).
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the host can do for a running plugin beyond reporting: run commands and fetch files.
/// `validate` offers neither (the callbacks answer "unavailable").
pub trait Services {
    /// One command result per host (the ABI's JSON object), in order; `None` when running
    /// commands is unavailable.
    /// `sudo_user`: through sudo as this user (the plugin asked), else as the hosts' settings say.
    fn run(&mut self, command: &str, hosts: &[String], sudo_user: Option<&str>) -> Option<Vec<Value>>;
    /// Every run at once: the results of each, in order, flattened; by default one after another.
    fn run_many(&mut self, runs: &[RunItem]) -> Option<Vec<Value>> {
        let mut all = Vec::new();
        for r in runs {
            all.extend(self.run(&r.command, &r.hosts, r.sudo.as_deref())?);
        }
        Some(all)
    }
    /// The file's bytes; `Err(None)` when unavailable, `Err(Some(why))` when it failed.
    fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>, Option<String>>;
    fn cancelled(&self) -> bool;
}

/// Services of an offline run: nothing remote.
#[derive(Debug, Default)]
pub struct Offline;

impl Services for Offline {
    fn run(&mut self, _: &str, _: &[String], _: Option<&str>) -> Option<Vec<Value>> {
        None
    }
    fn fetch(&mut self, _: &str, _: &str) -> Result<Vec<u8>, Option<String>> {
        Err(None)
    }
    fn cancelled(&self) -> bool {
        false
    }
}

/// What one plugin call produced.
#[derive(Debug)]
pub struct Outcome {
    /// Findings with the time since the previous one (or the start).
    pub findings: Vec<(Finding, Duration)>,
    /// Log lines: level (`abi::level`), text.
    pub logs: Vec<(u32, String)>,
    pub code: Code,
    pub elapsed: Duration,
}

/// A library's module name, version and plugins, as its plugin host read them.
#[derive(Debug, Clone)]
pub struct Description {
    pub module: String,
    pub version: String,
    pub plugins: Vec<Described>,
}

/// Why a library's descriptors were not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    #[error("cannot start a plugin host: {0}")]
    Host(String),
    /// The plugin host's own reason: what the library is not (its words cross a process).
    #[error("{0}")]
    Refused(String),
    #[error("the plugin host answered {0}")]
    Unexpected(String),
    #[error("{0}")]
    Protocol(#[from] wire::HelloError),
    #[error("unreadable answer from the plugin host: {0}")]
    Unreadable(String),
    /// No answer: how the plugin host ended (killed by a signal, timed out...).
    #[error("loading it {0}")]
    Ended(String),
}

/// Load `library` in a plugin host and read its descriptors; the error is one line.
pub fn describe(library: &Path) -> Result<Description, DescribeError> {
    let deadline = Instant::now() + DESCRIBE_TIMEOUT;
    let mut host = HostProcess::spawn(Some(deadline)).map_err(|e| DescribeError::Host(e.to_string()))?;
    let sent = host.stdin.as_mut().map(|w| {
        wire::hello(
            w,
            &Request::Hello {
                protocol: wire::PROTOCOL,
            },
        )?;
        wire::write_json(
            w,
            &Request::Describe {
                library: library.to_path_buf(),
            },
        )
    });
    let mut next = || match sent {
        Some(Ok(())) => wire::read_frame(&mut host.stdout, MAX_FROM_HOST)
            .ok()
            .flatten()
            .map(wire::decode::<Event>),
        _ => None,
    };
    let event = match next() {
        Some(Ok(hello)) => match wire::check_hello(&hello) {
            Ok(()) => next(),
            Err(e) => {
                host.finish();
                return Err(e.into());
            }
        },
        other => other,
    };
    let ended = host.finish();
    match event {
        Some(Ok(Event::Described {
            module,
            version,
            plugins,
        })) => Ok(Description {
            module,
            version,
            plugins,
        }),
        Some(Ok(Event::LoadFailed { reason })) => Err(DescribeError::Refused(reason)),
        Some(Ok(other)) => Err(DescribeError::Unexpected(format!("{other:?}"))),
        Some(Err(e)) => Err(DescribeError::Unreadable(e.to_string())),
        None => Err(DescribeError::Ended(ended.describe())),
    }
}

/// What every plugin of a run is given: the deployment as plugins see it (its JSON, sent to
/// each plugin host once), the run's options and the loaded plugins' `expect` keys.
#[derive(Debug, Clone, Copy)]
pub struct RunInput<'a> {
    pub deployment: &'a wire::Pieces,
    pub options: &'a Options,
    pub expect_keys: &'a [ExpectKey],
    /// Each plugin's own section (`plugins.<name>`); a plugin without one gets `null`.
    pub configs: &'a IndexMap<String, Value>,
}

/// Run `plugins` (all of one library) in a plugin host, one after another, answering their
/// requests from `services`; at `deadline` the host is killed. One outcome per plugin, in order.
///
/// The deployment crosses to the host once for them all. A plugin that ends the host (a crash,
/// `exit()`, a protocol violation) gets the error result that names it, and the plugins after
/// it run in a fresh host, so one plugin's crash costs its siblings nothing but the restart.
pub fn call(
    plugins: &[&Plugin],
    input: &RunInput<'_>,
    services: &mut dyn Services,
    deadline: Option<Instant>,
) -> Vec<Outcome> {
    debug_assert!(plugins.windows(2).all(|w| w[0].library == w[1].library));
    let mut outcomes = Vec::with_capacity(plugins.len());
    while outcomes.len() < plugins.len() {
        let rest = &plugins[outcomes.len()..];
        let stop = session(rest, input, services, deadline, &mut outcomes);
        let past_deadline = deadline.is_some_and(|d| Instant::now() >= d);
        let why_not = match stop {
            Some(why) => why,
            None if past_deadline && outcomes.len() < plugins.len() => {
                let ran = outcomes.len().checked_sub(1).map(|i| plugins[i].name.as_str());
                format!(
                    "did not run: the run's deadline passed while `{}` (of the same library, in \
                     the same plugin host) was running",
                    ran.unwrap_or("another plugin")
                )
            }
            None => continue,
        };
        for p in &plugins[outcomes.len()..] {
            let mut out = Outcome::empty();
            out.error(format!("plugin `{}` {why_not}", p.name));
            outcomes.push(out);
        }
    }
    outcomes
}

impl Outcome {
    /// The outcome of a plugin whose call went wrong on rolecall's side (a thread that
    /// panicked): no findings, code `PANICKED`, which reads as an error result.
    pub fn lost() -> Self {
        Self {
            code: Code::PANICKED,
            ..Self::empty()
        }
    }

    fn empty() -> Self {
        Self {
            findings: Vec::new(),
            logs: Vec::new(),
            code: Code::FAILED,
            elapsed: Duration::ZERO,
        }
    }

    fn error(&mut self, message: String) {
        self.findings.push((plugin_error(message), Duration::ZERO));
    }
}

/// One plugin host running `plugins` until it has run them all or ended. Pushes to `outcomes`
/// each plugin it finished and the one it was running when it ended (at least one: every
/// session makes progress); `Some(why)` when none of the rest can run (the host cannot start or
/// speaks another protocol).
fn session(
    plugins: &[&Plugin],
    input: &RunInput<'_>,
    services: &mut dyn Services,
    deadline: Option<Instant>,
    outcomes: &mut Vec<Outcome>,
) -> Option<String> {
    let mut start = Instant::now();
    let mut host = match HostProcess::spawn(deadline) {
        Ok(h) => h,
        Err(e) => return Some(format!("could not be started: cannot start a plugin host: {e}")),
    };
    let request = Request::Call {
        library: plugins[0].library.clone(),
        runs: plugins
            .iter()
            .map(|p| PluginRun {
                plugin: p.name.clone(),
                config: input.configs.get(&p.name).cloned().unwrap_or(Value::Null),
            })
            .collect(),
        options: input.options.clone(),
        expect_keys: input.expect_keys.to_vec(),
    };
    if let Some(w) = host.stdin.as_mut() {
        // A host that died before reading shows as an early end below.
        let _ = wire::hello(
            w,
            &Request::Hello {
                protocol: wire::PROTOCOL,
            },
        )
        .and_then(|()| wire::write_json(w, &request))
        .and_then(|()| wire::write_pieces(w, input.deployment));
    }
    let mut out = Outcome::empty();
    let mut last = start;
    let mut finished = 0;
    let mut problem: Option<String> = None;
    let mut greeted = false;
    while finished < plugins.len() {
        let frame = match wire::read_frame(&mut host.stdout, MAX_FROM_HOST) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                problem = Some(format!("sent {e}; stopped"));
                host.kill();
                break;
            }
            Err(_) => break,
        };
        let event = match wire::decode::<Event>(frame) {
            Ok(e) => e,
            Err(e) => {
                problem = Some(format!("sent an unreadable message ({e}); stopped"));
                host.kill();
                break;
            }
        };
        if !greeted {
            if let Err(e) = wire::check_hello(&event) {
                host.kill();
                host.finish();
                return Some(format!("could not be started: {e}"));
            }
            greeted = true;
            continue;
        }
        // The plugin running now has ended, with this code: the next one starts.
        let mut closed = None;
        let reply = match event {
            Event::Finding(f) => {
                if out.findings.len() >= MAX_FINDINGS {
                    problem = Some(format!("reported more than {MAX_FINDINGS} results; stopped"));
                    host.kill();
                    break;
                }
                let now = Instant::now();
                out.findings.push((f, now - last));
                last = now;
                None
            }
            Event::Log { level, message } => {
                if out.logs.len() < MAX_FINDINGS {
                    out.logs.push((level, message));
                }
                None
            }
            Event::Run { command, hosts, sudo } => Some(if services.cancelled() {
                Reply::Json(Request::Cancelled)
            } else {
                match services.run(&command, &hosts, sudo.as_deref()) {
                    Some(results) => Reply::Json(Request::RunResults { results }),
                    None => Reply::Json(Request::Unavailable),
                }
            }),
            Event::RunMany { runs } => Some(if services.cancelled() {
                Reply::Json(Request::Cancelled)
            } else {
                match services.run_many(&runs) {
                    Some(results) => Reply::Json(Request::RunResults { results }),
                    None => Reply::Json(Request::Unavailable),
                }
            }),
            Event::Fetch { host, path } => Some(match services.fetch(&host, &path) {
                Ok(bytes) => Reply::Bytes(bytes),
                Err(None) => Reply::Json(Request::Unavailable),
                Err(Some(reason)) => Reply::Json(Request::FetchFailed { reason }),
            }),
            Event::IsCancelled => Some(Reply::Json(Request::CancelledIs {
                cancelled: services.cancelled(),
            })),
            Event::Done { code } => {
                closed = Some(Code(code));
                None
            }
            Event::LoadFailed { reason } => {
                let name = &plugins[finished].name;
                out.error(format!("plugin `{name}` could not be loaded: {reason}"));
                closed = Some(Code::FAILED);
                None
            }
            Event::Described { .. } | Event::Hello { .. } => {
                problem = Some("answered out of turn; stopped".into());
                host.kill();
                break;
            }
        };
        if let (Some(reply), Some(w)) = (reply, host.stdin.as_mut()) {
            let sent = match &reply {
                Reply::Json(r) => wire::write_json(w, r),
                Reply::Bytes(b) => wire::write_bytes(w, b),
            };
            // The host died meanwhile: its end shows when its pipe closes.
            if sent.is_err() {
                host.stdin = None;
            }
        }
        if let Some(code) = closed {
            let now = Instant::now();
            out.code = code;
            out.elapsed = now - start;
            outcomes.push(std::mem::replace(&mut out, Outcome::empty()));
            finished += 1;
            (start, last) = (now, now);
        }
    }
    let ended = host.finish();
    if finished < plugins.len() {
        let name = &plugins[finished].name;
        let why = problem.unwrap_or_else(|| ended.describe());
        out.error(format!("plugin `{name}` {why}"));
        out.elapsed = start.elapsed();
        outcomes.push(out);
    }
    None
}

/// An `error` result of the plugin itself, not of one of its checks.
fn plugin_error(message: String) -> Finding {
    Finding {
        status: Status::Error,
        check: "plugin".into(),
        host: None,
        message,
        path: None,
    }
}

/// The plugin's findings, plus an error result when it ended badly without saying why.
pub fn with_plugin_error(mut findings: Vec<(Finding, Duration)>, code: Code) -> Vec<(Finding, Duration)> {
    if code != Code::OK && !findings.iter().any(|(f, _)| f.status == Status::Error) {
        let message = if code == Code::PANICKED {
            "plugin panicked".to_string()
        } else {
            format!("plugin ended with code {}", code.0)
        };
        findings.push((plugin_error(message), Duration::ZERO));
    }
    findings
}

enum Reply {
    Json(Request),
    Bytes(Vec<u8>),
}
