//! Calling a plugin: the host's callback table, and the run itself. Every callback body runs
//! inside `catch_unwind`; nothing crosses but C data, and what the plugin passes is copied.
#![allow(unsafe_code)] // the boundary: callbacks called from plugin code

use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rolecall_plugin::abi::{self, Code, DeliverFn, HostApi, Report, Str};
use rolecall_plugin::{Finding, Status};

use super::Plugin;

/// What the host can do for a running plugin beyond reporting: run commands and fetch files.
/// `validate` offers neither (the callbacks answer "unavailable").
pub trait Services {
    /// One JSON result per host, in order; `None` when running commands is unavailable.
    fn run(&mut self, command: &str, hosts: &[String]) -> Option<Vec<String>>;
    /// The file's bytes; `Err(None)` when unavailable, `Err(Some(why))` when it failed.
    fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>, Option<String>>;
    fn cancelled(&self) -> bool;
}

/// Services of an offline run: nothing remote.
#[derive(Debug, Default)]
pub struct Offline;

impl Services for Offline {
    fn run(&mut self, _: &str, _: &[String]) -> Option<Vec<String>> {
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
    pub logs: Vec<(u32, String)>,
    pub code: Code,
    pub elapsed: Duration,
}

struct State<'s> {
    findings: Vec<(Finding, Duration)>,
    logs: Vec<(u32, String)>,
    services: &'s mut dyn Services,
    last: Instant,
}

/// Run `plugin` with `input` (the run's JSON).
pub fn call(plugin: &Plugin, input: &str, services: &mut dyn Services) -> Outcome {
    let start = Instant::now();
    let mut state = State {
        findings: Vec::new(),
        logs: Vec::new(),
        services,
        last: start,
    };
    let api = HostApi {
        struct_size: size_of::<HostApi>() as u32,
        abi_version: abi::ABI_VERSION,
        ctx: (&mut state as *mut State<'_>).cast(),
        report: cb_report,
        log: cb_log,
        run_command: cb_run,
        fetch_file: cb_fetch,
        is_cancelled: cb_cancelled,
    };
    // SAFETY: `run` comes from a checked v1 descriptor of a never-unloaded library; `api` and
    // `input` outlive the call. The plugin's own shims catch its panics (an SDK guarantee); a
    // plugin not built with the SDK that unwinds out of `extern "C"` aborts, which Rust forbids
    // us from catching here.
    let code = unsafe { (plugin.run)(&api, Str::new(input)) };
    Outcome {
        findings: state.findings,
        logs: state.logs,
        code,
        elapsed: start.elapsed(),
    }
}

/// # Safety
/// `ctx` must be the `State` passed in `call`, alive for the call.
unsafe fn state<'a>(ctx: *mut c_void) -> Option<&'a mut State<'a>> {
    // SAFETY: per this function's contract; NULL is refused.
    unsafe { ctx.cast::<State<'a>>().as_mut() }
}

fn guard(f: impl FnOnce() -> Code) -> Code {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(Code::FAILED)
}

fn copy(s: &Str<'_>, what: &str) -> Result<String, String> {
    // SAFETY: a `Str` handed to a callback is valid for that call (ABI rule).
    unsafe { s.to_str() }
        .map(str::to_string)
        .map_err(|e| format!("{what} is not UTF-8 ({e})"))
}

unsafe extern "C" fn cb_report(ctx: *mut c_void, report: *const Report<'_>) -> Code {
    guard(|| {
        // SAFETY: `ctx` is ours (see `call`).
        let Some(st) = (unsafe { state(ctx) }) else {
            return Code::INVALID;
        };
        // SAFETY: NULL is refused; otherwise valid for this call (ABI rule).
        let Some(r) = (unsafe { report.as_ref() }) else {
            return Code::INVALID;
        };
        let now = Instant::now();
        let took = now - st.last;
        st.last = now;
        let fields = (|| -> Result<Finding, String> {
            if (r.struct_size as usize) < size_of::<Report<'_>>() {
                return Err(format!("report struct is {} bytes", r.struct_size));
            }
            let status =
                Status::from_abi(r.status).ok_or_else(|| format!("unknown status {}", r.status.0))?;
            let host = copy(&r.host, "host")?;
            let path = copy(&r.yaml_path, "YAML path")?;
            Ok(Finding {
                status,
                check: copy(&r.check, "check id")?,
                host: (!host.is_empty()).then_some(host),
                message: copy(&r.message, "message")?,
                path: (!path.is_empty()).then_some(path),
            })
        })();
        match fields {
            Ok(f) => {
                st.findings.push((f, took));
                Code::OK
            }
            Err(why) => {
                let f = Finding {
                    status: Status::Error,
                    check: "plugin-report".into(),
                    host: None,
                    message: format!("the plugin reported a malformed result: {why}"),
                    path: None,
                };
                st.findings.push((f, took));
                Code::INVALID
            }
        }
    })
}

unsafe extern "C" fn cb_log(ctx: *mut c_void, level: u32, message: Str<'_>) -> Code {
    guard(|| {
        // SAFETY: `ctx` is ours (see `call`).
        let Some(st) = (unsafe { state(ctx) }) else {
            return Code::INVALID;
        };
        // SAFETY: valid for this call (ABI rule).
        let text = String::from_utf8_lossy(unsafe { message.as_bytes() }).into_owned();
        st.logs.push((level, text));
        Code::OK
    })
}

unsafe extern "C" fn cb_run(
    ctx: *mut c_void,
    command: Str<'_>,
    hosts: Str<'_>,
    deliver: DeliverFn,
    user: *mut c_void,
) -> Code {
    guard(|| {
        // SAFETY: `ctx` is ours (see `call`).
        let Some(st) = (unsafe { state(ctx) }) else {
            return Code::INVALID;
        };
        let (Ok(command), Ok(hosts)) = (copy(&command, "command"), copy(&hosts, "hosts")) else {
            return Code::INVALID;
        };
        let Ok(hosts) = serde_json::from_str::<Vec<String>>(&hosts) else {
            return Code::INVALID;
        };
        if st.services.cancelled() {
            return Code::CANCELLED;
        }
        match st.services.run(&command, &hosts) {
            None => Code::UNAVAILABLE,
            Some(results) => {
                for json in &results {
                    // SAFETY: `deliver`/`user` are the plugin's pair for this call; the bytes
                    // live until it returns, and the plugin copies them.
                    unsafe { deliver(user, Str::new(json)) };
                }
                Code::OK
            }
        }
    })
}

unsafe extern "C" fn cb_fetch(
    ctx: *mut c_void,
    host: Str<'_>,
    path: Str<'_>,
    deliver: DeliverFn,
    user: *mut c_void,
) -> Code {
    guard(|| {
        // SAFETY: `ctx` is ours (see `call`).
        let Some(st) = (unsafe { state(ctx) }) else {
            return Code::INVALID;
        };
        let (Ok(host), Ok(path)) = (copy(&host, "host"), copy(&path, "path")) else {
            return Code::INVALID;
        };
        match st.services.fetch(&host, &path) {
            Ok(bytes) => {
                for chunk in bytes.chunks(1 << 20) {
                    // SAFETY: as in `cb_run`.
                    unsafe { deliver(user, Str::bytes(chunk)) };
                }
                Code::OK
            }
            Err(None) => Code::UNAVAILABLE,
            Err(Some(_)) => Code::FAILED,
        }
    })
}

unsafe extern "C" fn cb_cancelled(ctx: *mut c_void) -> u32 {
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ctx` is ours (see `call`).
        unsafe { state(ctx) }.is_some_and(|st| st.services.cancelled())
    }));
    u32::from(r.unwrap_or(true))
}
