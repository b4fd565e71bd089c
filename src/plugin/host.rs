//! The plugin-host process: the rolecall binary re-executed (`rolecall __plugin-host`) to load
//! one plugin library and either describe it or run some of its plugins, one after another.
//! Whatever a plugin does (abort, SIGSEGV, `exit()`, spin, print) happens here, where rolecall
//! can see it end and report it, never in the process that holds the run's results and SSH
//! sessions; the library's plugins that had not run yet then run in a fresh host
//! ([`super::call`]).
//!
//! The plugin calls the same C ABI as ever; each callback becomes a message on stdout (a dup of
//! the original fd 1; fd 1 itself is pointed at stderr first, so a plugin's `printf` never
//! reaches the pipe), answered on stdin when it asks something (run, fetch, cancelled?).
#![allow(unsafe_code)] // the boundary: callbacks called from plugin code, one dup2

use std::ffi::c_void;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Mutex;

use rolecall_plugin::abi::{self, Code, DeliverFn, HostApi, Report, RunFn, Str};
use rolecall_plugin::{Finding, Status};

use super::library;
use super::wire::{self, Event, Frame, Request};

/// What a plugin may send in one message before it is cut (with a mark).
const MAX_TEXT: usize = 16 << 20;

/// The pipe to rolecall: requests and answers in, events out.
struct Pipe {
    input: BufReader<File>,
    output: File,
}

impl Pipe {
    fn send(&mut self, e: &Event) -> io::Result<()> {
        wire::write_json(&mut self.output, e)
    }

    fn ask(&mut self, e: &Event) -> io::Result<Frame> {
        self.send(e)?;
        wire::read_frame(&mut self.input, usize::MAX)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }
}

/// Entry point of `rolecall __plugin-host`.
pub fn serve() -> ExitCode {
    match serve_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "rolecall plugin host: {e}");
            ExitCode::from(70)
        }
    }
}

fn serve_inner() -> io::Result<()> {
    let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let input = BufReader::new(File::from(io::stdin().as_fd().try_clone_to_owned()?));
    // SAFETY: dup2 on two descriptors this process owns (0..2 are open in a child rolecall
    // spawned); afterwards fd 1 is another name for stderr.
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut pipe = Pipe { input, output };
    let next = |pipe: &mut Pipe| {
        wire::read_frame(&mut pipe.input, usize::MAX)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    };
    // Hello first, always answered with ours; another version: stop there (rolecall says why).
    let theirs = match wire::decode::<Request>(next(&mut pipe)?)? {
        Request::Hello { protocol } => protocol,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no hello, but {other:?}"),
            ))
        }
    };
    pipe.send(&Event::Hello {
        protocol: wire::PROTOCOL,
    })?;
    if theirs != wire::PROTOCOL {
        return Ok(());
    }
    match wire::decode::<Request>(next(&mut pipe)?)? {
        Request::Describe { library } => {
            let event = match library::load(&library) {
                Ok(m) => Event::Described {
                    module: m.name,
                    version: m.version,
                    plugins: m.plugins.into_iter().map(|p| p.described).collect(),
                },
                Err(e) => Event::LoadFailed {
                    reason: e.to_string(),
                },
            };
            pipe.send(&event)
        }
        Request::Call {
            library,
            runs,
            options,
            expect_keys,
        } => {
            let deployment = match next(&mut pipe)? {
                Frame::Bytes(b) => {
                    String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                }
                Frame::Json(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a message where the deployment was expected",
                    ))
                }
            };
            let module = match library::load(&library) {
                Ok(m) => m,
                Err(e) => {
                    let reason = e.to_string();
                    for _ in &runs {
                        pipe.send(&Event::LoadFailed {
                            reason: reason.clone(),
                        })?;
                    }
                    return Ok(());
                }
            };
            // One deployment per plugin host: the SDK parses it for the first plugin and
            // hands the same parse to the next ones.
            let id = format!("plugin-host-{}", std::process::id());
            let mut inputs = wire::Inputs::new(&deployment);
            drop(deployment);
            let pipe = Mutex::new(pipe);
            for run in &runs {
                let found = module.plugins.iter().find(|p| p.described.name == run.plugin);
                let event = match found {
                    Some(p) => {
                        let input = inputs.input(run, &options, &expect_keys, Some(&id));
                        Event::Done {
                            code: invoke(p.run, input, &pipe).0,
                        }
                    }
                    None => Event::LoadFailed {
                        reason: library::LibraryError::Gone(run.plugin.clone()).to_string(),
                    },
                };
                pipe.lock().unwrap_or_else(|p| p.into_inner()).send(&event)?;
            }
            Ok(())
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected first request {other:?}"),
        )),
    }
}

/// Run the plugin's `run` with a callback table that forwards to `pipe`.
fn invoke(run: RunFn, input: &str, pipe: &Mutex<Pipe>) -> Code {
    let api = HostApi {
        struct_size: size_of::<HostApi>() as u32,
        abi_version: abi::ABI_VERSION,
        ctx: std::ptr::from_ref(pipe).cast_mut().cast(),
        report: cb_report,
        log: cb_log,
        run_command: cb_run,
        fetch_file: cb_fetch,
        is_cancelled: cb_cancelled,
    };
    // SAFETY: `run` comes from a checked, non-NULL v1 descriptor of a never-unloaded library;
    // `api`, `pipe` and `input` outlive the call. The plugin may do anything: that is why this
    // is a process of its own.
    unsafe { run(&api, Str::new(input)) }
}

/// # Safety
/// `ctx` must be the `Mutex<Pipe>` of `invoke`, alive for the call.
unsafe fn pipe<'a>(ctx: *mut c_void) -> Option<&'a Mutex<Pipe>> {
    // SAFETY: per this function's contract; NULL is refused.
    unsafe { ctx.cast_const().cast::<Mutex<Pipe>>().as_ref() }
}

fn with_pipe<T>(ctx: *mut c_void, f: impl FnOnce(&mut Pipe) -> io::Result<T>) -> Option<T> {
    // SAFETY: `ctx` is what `invoke` put in the callback table.
    let m = unsafe { pipe(ctx) }?;
    let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
    match f(&mut guard) {
        Ok(v) => Some(v),
        // rolecall is gone (or stopped listening): nothing this process does matters any more.
        Err(_) => std::process::exit(75),
    }
}

fn guard(f: impl FnOnce() -> Code) -> Code {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(Code::FAILED)
}

/// The text of a `Str`, lossily, cut to [`MAX_TEXT`] with a visible mark.
fn text(s: &Str<'_>) -> String {
    // SAFETY: a `Str` handed to a callback is valid for that call (ABI rule).
    let bytes = unsafe { s.as_bytes() };
    if bytes.len() <= MAX_TEXT {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut t = String::from_utf8_lossy(&bytes[..MAX_TEXT]).into_owned();
    t.push_str(&format!(
        " [rolecall: cut: kept {MAX_TEXT} of {} bytes]",
        bytes.len()
    ));
    t
}

/// What is wrong with what a plugin handed to a callback.
#[derive(Debug, thiserror::Error)]
enum CallbackError {
    #[error("report struct is {0} bytes")]
    ReportTooSmall(u32),
    #[error("unknown status {0}")]
    UnknownStatus(u32),
    #[error("{what} is not UTF-8 ({source})")]
    NotUtf8 {
        what: &'static str,
        #[source]
        source: std::str::Utf8Error,
    },
}

fn strict(s: &Str<'_>, what: &'static str) -> Result<String, CallbackError> {
    // SAFETY: as in `text`.
    let bytes = unsafe { s.as_bytes() };
    std::str::from_utf8(bytes)
        .map(|_| text(s))
        .map_err(|source| CallbackError::NotUtf8 { what, source })
}

unsafe extern "C" fn cb_report(ctx: *mut c_void, report: *const Report<'_>) -> Code {
    guard(|| {
        if report.is_null() {
            return Code::INVALID;
        }
        // Check the size before forming a reference to anything past it.
        // SAFETY: non-NULL; `struct_size` is the first field of every version's `Report`.
        let size = unsafe { report.cast::<u32>().read_unaligned() };
        let event = (|| -> Result<Event, CallbackError> {
            if (size as usize) < size_of::<Report<'_>>() {
                return Err(CallbackError::ReportTooSmall(size));
            }
            // SAFETY: large enough, and valid for this call (ABI rule).
            let r = unsafe { &*report };
            let status = Status::from_abi(r.status).ok_or(CallbackError::UnknownStatus(r.status.0))?;
            let host = strict(&r.host, "host")?;
            let path = strict(&r.yaml_path, "YAML path")?;
            Ok(Event::Finding(Finding {
                status,
                check: strict(&r.check, "check id")?,
                host: (!host.is_empty()).then_some(host),
                message: strict(&r.message, "message")?,
                path: (!path.is_empty()).then_some(path),
            }))
        })();
        let (event, code) = match event {
            Ok(e) => (e, Code::OK),
            Err(why) => (
                Event::Finding(Finding {
                    status: Status::Error,
                    check: "plugin-report".into(),
                    host: None,
                    message: format!("the plugin reported a malformed result: {why}"),
                    path: None,
                }),
                Code::INVALID,
            ),
        };
        with_pipe(ctx, |p| p.send(&event)).map_or(Code::INVALID, |()| code)
    })
}

unsafe extern "C" fn cb_log(ctx: *mut c_void, level: u32, message: Str<'_>) -> Code {
    guard(|| {
        if !(abi::level::ERROR..=abi::level::DEBUG).contains(&level) {
            return Code::INVALID;
        }
        let event = Event::Log {
            level,
            message: text(&message),
        };
        with_pipe(ctx, |p| p.send(&event)).map_or(Code::INVALID, |()| Code::OK)
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
        let (Ok(command), Ok(hosts)) = (strict(&command, "command"), strict(&hosts, "hosts")) else {
            return Code::INVALID;
        };
        // A list of hosts, `{"hosts": [..], "become": "USER"}` to run through sudo, or
        // `{"many": [{"command": .., "hosts": [..], "become": ..}, ..]}` for several at once.
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Hosts {
            List(Vec<String>),
            As {
                hosts: Vec<String>,
                #[serde(rename = "become")]
                sudo: String,
            },
            Many {
                many: Vec<wire::RunItem>,
            },
        }
        let event = match serde_json::from_str::<Hosts>(&hosts) {
            Ok(Hosts::List(hosts)) => Event::Run {
                command,
                hosts,
                sudo: None,
            },
            Ok(Hosts::As { hosts, sudo }) if !sudo.is_empty() => Event::Run {
                command,
                hosts,
                sudo: Some(sudo),
            },
            Ok(Hosts::Many { many }) if many.iter().all(|r| r.sudo.as_deref() != Some("")) => {
                Event::RunMany { runs: many }
            }
            _ => return Code::INVALID,
        };
        let answer = with_pipe(ctx, |p| p.ask(&event));
        match answer.map(wire::decode::<Request>) {
            Some(Ok(Request::RunResults { results })) => {
                for value in &results {
                    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
                    // SAFETY: `deliver`/`user` are the plugin's pair for this call; the bytes
                    // live until it returns, and the plugin copies them.
                    unsafe { deliver(user, Str::new(&json)) };
                }
                Code::OK
            }
            Some(Ok(Request::Cancelled)) => Code::CANCELLED,
            Some(Ok(Request::Unavailable)) => Code::UNAVAILABLE,
            _ => Code::FAILED,
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
        let (Ok(host), Ok(path)) = (strict(&host, "host"), strict(&path, "path")) else {
            return Code::INVALID;
        };
        match with_pipe(ctx, |p| p.ask(&Event::Fetch { host, path })) {
            Some(Frame::Bytes(bytes)) => {
                for chunk in bytes.chunks(1 << 20) {
                    // SAFETY: as in `cb_run`.
                    unsafe { deliver(user, Str::bytes(chunk)) };
                }
                Code::OK
            }
            Some(frame) => match wire::decode::<Request>(frame) {
                Ok(Request::Unavailable) => Code::UNAVAILABLE,
                _ => Code::FAILED,
            },
            None => Code::FAILED,
        }
    })
}

unsafe extern "C" fn cb_cancelled(ctx: *mut c_void) -> u32 {
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        match with_pipe(ctx, |p| p.ask(&Event::IsCancelled)).map(wire::decode::<Request>) {
            Some(Ok(Request::CancelledIs { cancelled })) => cancelled,
            _ => true,
        }
    }));
    u32::from(r.unwrap_or(true))
}
