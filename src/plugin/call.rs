//! Calling a plugin: in a plugin-host process of its own ([`super::host`]), whose callbacks
//! arrive here as messages. Reports and logs are kept as they come, so whatever a plugin said
//! before it crashed, hung or called `exit()` is kept too; how it ended becomes an error result
//! that names it.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use rolecall_plugin::abi::Code;
use rolecall_plugin::{Finding, Status};
use serde_json::Value;

use super::process::HostProcess;
use super::wire::{self, Described, Event, Request, RunItem, MAX_FROM_HOST};
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

/// Run `plugin` with `input` (the run's JSON) in a plugin host, answering its requests from
/// `services`; at `deadline` the host is killed.
pub fn call(plugin: &Plugin, input: &str, services: &mut dyn Services, deadline: Option<Instant>) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome {
        findings: Vec::new(),
        logs: Vec::new(),
        code: Code::FAILED,
        elapsed: Duration::ZERO,
    };
    let mut last = start;
    let error =
        |out: &mut Outcome, message: String| out.findings.push((plugin_error(message), Duration::ZERO));
    let mut host = match HostProcess::spawn(deadline) {
        Ok(h) => h,
        Err(e) => {
            error(&mut out, format!("cannot start a plugin host: {e}"));
            out.elapsed = start.elapsed();
            return out;
        }
    };
    let request = Request::Call {
        library: plugin.library.clone(),
        plugin: plugin.name.clone(),
    };
    let mut done = None;
    let mut problem: Option<String> = None;
    if let Some(w) = host.stdin.as_mut() {
        // A host that died before reading shows as an early end below.
        let _ = wire::hello(
            w,
            &Request::Hello {
                protocol: wire::PROTOCOL,
            },
        )
        .and_then(|()| wire::write_json(w, &request))
        .and_then(|()| wire::write_bytes(w, input.as_bytes()));
    }
    let mut greeted = false;
    loop {
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
                problem = Some(format!("could not be started: {e}"));
                host.kill();
                break;
            }
            greeted = true;
            continue;
        }
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
                done = Some(Code(code));
                break;
            }
            Event::LoadFailed { reason } => {
                problem = Some(format!("could not be loaded: {reason}"));
                break;
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
    }
    let ended = host.finish();
    match (done, problem) {
        (Some(code), None) => out.code = code,
        (_, Some(p)) => error(&mut out, format!("plugin `{}` {p}", plugin.name)),
        (None, None) => error(&mut out, format!("plugin `{}` {}", plugin.name, ended.describe())),
    }
    out.elapsed = start.elapsed();
    out
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
