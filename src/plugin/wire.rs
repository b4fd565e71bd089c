//! The pipe between rolecall and a plugin-host process (rolecall re-executed to load one plugin
//! library): length-prefixed frames, each one JSON message ([`Request`] to the host, [`Event`]
//! from it) or one block of raw bytes (the deployment, a fetched file). Both ends are
//! rolecall's own code; the plugin only ever sees the C ABI.
//!
//! Each end says [`PROTOCOL`] first (`Hello`): rolecall then its request, the host its answer;
//! a host of another version (the binary replaced during a run) is an error naming both. A
//! `Call` names every plugin of the library the run wants, and the deployment follows it once,
//! as a raw frame: the host gives each plugin in turn its input ([`plugin_input`]), so a
//! library of six validators reads a 100,000-host deployment once, not six times. Command
//! results travel as JSON values, so no JSON document is ever escaped into a string of another.
//!
//! A plugin host's stdout is this pipe (the plugin's own writes to fd 1 are sent to stderr
//! before the library is loaded), its stdin carries rolecall's requests and answers.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use rolecall_plugin::{ExpectKey, Finding, Options};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The argument that makes the rolecall binary a plugin host instead of the CLI.
pub const PLUGIN_HOST_ARG: &str = "__plugin-host";

/// The largest frame a plugin host may send: a plugin that floods is stopped, not buffered.
pub const MAX_FROM_HOST: usize = 64 << 20;

/// The version of this protocol; version 1 had no `Hello` and sent the input inside `Call`,
/// version 2 ran one plugin per host.
pub const PROTOCOL: u32 = 3;

/// rolecall -> plugin host.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum Request {
    /// The first message: the protocol rolecall speaks.
    Hello { protocol: u32 },
    /// Load the library and describe its plugins.
    Describe { library: PathBuf },
    /// Load the library and run `runs`, one after another; the deployment (the JSON of the
    /// fleet plugins see) follows as a raw frame. Each run ends with `Done` or `LoadFailed`.
    Call {
        library: PathBuf,
        runs: Vec<PluginRun>,
        options: Options,
        expect_keys: Vec<ExpectKey>,
    },
    /// The answer to [`Event::Run`]: one command result per host, as JSON values (not JSON
    /// text in strings; a raw value cannot cross serde's tagged enums).
    RunResults { results: Vec<serde_json::Value> },
    /// The answer to [`Event::Fetch`] when it failed (the bytes come as a raw frame).
    FetchFailed { reason: String },
    /// The answer to [`Event::Run`] or [`Event::Fetch`] in a run that cannot do it (validate).
    Unavailable,
    /// The answer to [`Event::Run`] once the run is past its deadline.
    Cancelled,
    /// The answer to [`Event::IsCancelled`].
    CancelledIs { cancelled: bool },
}

/// One plugin of a [`Request::Call`]: its name and its own section of the deployment
/// (`plugins.<name>`, or `null`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginRun {
    pub plugin: String,
    pub config: Value,
}

/// The input a plugin's run function is given (the C ABI's JSON): its name and config, the
/// run's options and `expect` keys, and the deployment, spliced in as the text it already is.
/// `deployment_id` names the deployment for the SDK, which parses a deployment once per
/// process and reuses it for the next plugin given the same id (the deployment comes last, so
/// a plugin can read the rest before it).
pub fn plugin_input(
    run: &PluginRun,
    options: &Options,
    expect_keys: &[ExpectKey],
    deployment_id: Option<&str>,
    deployment: &str,
) -> String {
    let mut inputs = Inputs::new(deployment);
    inputs.input(run, options, expect_keys, deployment_id).to_string()
}

/// What comes before the deployment in a plugin's input: `{"plugin":..,"deployment":`.
fn input_head(
    run: &PluginRun,
    options: &Options,
    expect_keys: &[ExpectKey],
    deployment_id: Option<&str>,
) -> String {
    let id = deployment_id.map_or_else(String::new, |id| format!(r#","deployment_id":{}"#, text(id)));
    format!(
        r#"{{"plugin":{},"config":{},"options":{},"expect_keys":{}{id},"deployment":"#,
        text(run.plugin.as_str()),
        text(&run.config),
        text(options),
        text(expect_keys),
    )
}

/// The inputs ([`plugin_input`]) of the plugins of one call, in one buffer: the deployment is
/// copied in once, and each plugin's own fields are written just before it, the input being
/// the buffer from there on (a copy of a 10 MB deployment per plugin was an eighth of a
/// plugin host's time).
#[derive(Debug)]
pub struct Inputs {
    /// `room` bytes for a head, ending where the deployment starts; then the deployment, `}`.
    buf: String,
    room: usize,
}

impl Inputs {
    pub fn new(deployment: &str) -> Self {
        Self::with_room(deployment, 4096)
    }

    fn with_room(deployment: &str, room: usize) -> Self {
        let mut buf = String::with_capacity(room + deployment.len() + 1);
        buf.extend(std::iter::repeat_n(' ', room));
        buf.push_str(deployment);
        buf.push('}');
        Self { buf, room }
    }

    /// The input of `run`.
    pub fn input(
        &mut self,
        run: &PluginRun,
        options: &Options,
        expect_keys: &[ExpectKey],
        deployment_id: Option<&str>,
    ) -> &str {
        let head = input_head(run, options, expect_keys, deployment_id);
        if head.len() > self.room {
            *self = Self::with_room(
                &self.buf[self.room..self.buf.len() - 1],
                head.len().next_power_of_two(),
            );
        }
        // The whole room is written (spaces, then the head), so no earlier head's character is
        // left cut where this one starts.
        let start = self.room - head.len();
        let mut room = " ".repeat(start);
        room.push_str(&head);
        self.buf.replace_range(..self.room, &room);
        &self.buf[start..]
    }
}

/// JSON text of a value [`plugin_input`] writes (strings, JSON values, plain structs: none can
/// fail to serialize).
fn text<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// One command of [`Event::RunMany`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunItem {
    pub command: String,
    pub hosts: Vec<String>,
    #[serde(default, rename = "become", skip_serializing_if = "Option::is_none")]
    pub sudo: Option<String>,
}

/// One plugin as its library describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Described {
    pub name: String,
    /// `validator` or `debugger`.
    pub kind: String,
    pub description: String,
    /// The `expect` keys it declares it reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<rolecall_plugin::ExpectKey>,
}

/// Plugin host -> rolecall.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum Event {
    /// The first message: the protocol the host speaks (it stops after it when it differs
    /// from rolecall's).
    Hello { protocol: u32 },
    Described {
        module: String,
        version: String,
        plugins: Vec<Described>,
    },
    /// The library (or the plugin in it) could not be used; one line.
    LoadFailed { reason: String },
    /// `host->report`, already checked (a malformed report arrives as an `error` finding).
    Finding(Finding),
    /// `host->log`.
    Log { level: u32, message: String },
    /// `host->run_command`; answered by `RunResults`, `Unavailable` or `Cancelled`.
    Run {
        command: String,
        hosts: Vec<String>,
        /// Through sudo as this user (the plugin asked with `run_as`).
        #[serde(default, rename = "become", skip_serializing_if = "Option::is_none")]
        sudo: Option<String>,
    },
    /// `host->run_command` with `{"many": [...]}`: every run at once; answered by `RunResults`
    /// (one result per host of each run, in order), `Unavailable` or `Cancelled`.
    RunMany { runs: Vec<RunItem> },
    /// `host->fetch_file`; answered by a raw frame, `FetchFailed` or `Unavailable`.
    Fetch { host: String, path: String },
    /// `host->is_cancelled`; answered by `CancelledIs`.
    IsCancelled,
    /// The plugin's run function returned this code.
    Done { code: u32 },
}

/// One frame: a message, or raw bytes.
#[derive(Debug)]
pub enum Frame {
    Json(Vec<u8>),
    Bytes(Vec<u8>),
}

const JSON: u8 = b'J';
const BYTES: u8 = b'B';

pub fn write_json<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    write_frame(w, JSON, &[&body])
}

pub fn write_bytes(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    write_frame(w, BYTES, &[bytes])
}

/// One raw frame of `text`'s pieces, one after another.
pub fn write_pieces(w: &mut impl Write, text: &Pieces) -> io::Result<()> {
    let parts: Vec<&[u8]> = text.0.iter().map(|p| p.as_bytes()).collect();
    write_frame(w, BYTES, &parts)
}

fn write_frame(w: &mut impl Write, kind: u8, body: &[&[u8]]) -> io::Result<()> {
    let len = u32::try_from(body.iter().map(|b| b.len()).sum::<usize>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&[kind])?;
    for part in body {
        w.write_all(part)?;
    }
    w.flush()
}

/// A text kept in pieces, whole when they are put one after another: a 10 MB deployment is
/// sent as it was written, by several threads, without being copied into one string first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces(Vec<std::borrow::Cow<'static, str>>);

impl Pieces {
    pub fn push(&mut self, piece: impl Into<std::borrow::Cow<'static, str>>) {
        let piece = piece.into();
        if !piece.is_empty() {
            self.0.push(piece);
        }
    }

    /// The whole text.
    pub fn concat(&self) -> String {
        self.0.concat()
    }
}

impl From<String> for Pieces {
    fn from(text: String) -> Self {
        let mut p = Self::default();
        p.push(text);
        p
    }
}

/// The next frame; `Ok(None)` at a clean end of stream (between frames).
pub fn read_frame(r: &mut impl Read, max: usize) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {len}-byte message, over the {max}-byte limit"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    match head[4] {
        JSON => Ok(Some(Frame::Json(body))),
        BYTES => Ok(Some(Frame::Bytes(body))),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown frame kind {other}"),
        )),
    }
}

/// Say hello: `msg` is this end's `Hello`.
pub fn hello<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    write_json(w, msg)
}

/// Why the other end's first message is not a hello in [`PROTOCOL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error(
        "the plugin host speaks plugin-host protocol {0}, this rolecall {ours}: the rolecall binary \
         changed during the run (an upgrade?); run again",
        ours = PROTOCOL
    )]
    Mismatch(u32),
    #[error("the plugin host did not say hello (a rolecall older than plugin-host protocol {ours}?)", ours = PROTOCOL)]
    NoHello,
}

/// Check the host's first event.
pub fn check_hello(first: &Event) -> Result<(), HelloError> {
    match first {
        Event::Hello { protocol } if *protocol == PROTOCOL => Ok(()),
        Event::Hello { protocol } => Err(HelloError::Mismatch(*protocol)),
        _ => Err(HelloError::NoHello),
    }
}

/// Decode a JSON frame as `T`.
pub fn decode<T: for<'de> Deserialize<'de>>(frame: Frame) -> io::Result<T> {
    match frame {
        Frame::Json(body) => serde_json::from_slice(&body).map_err(io::Error::other),
        Frame::Bytes(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "raw bytes where a message was expected",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each plugin's input from the one buffer is its whole input: after a longer head with
    /// characters of several bytes, after a head too long for the room (the buffer is rebuilt).
    #[test]
    fn inputs_from_one_buffer_are_each_plugins_input() {
        let deployment = r#"{"hosts":[{"name":"é"}]}"#;
        let whole = |run: &PluginRun, id: Option<&str>| {
            let head = input_head(run, &Options::default(), &[], id);
            let input = format!("{head}{deployment}}}");
            serde_json::from_str::<Value>(&input).expect("JSON");
            input
        };
        let run = |name: &str, config: Value| PluginRun {
            plugin: name.into(),
            config,
        };
        let mut inputs = Inputs::new(deployment);
        for (r, id) in [
            (
                run("long", serde_json::json!({"note": "ünïcödé ".repeat(40)})),
                Some("x"),
            ),
            (run("p", Value::Null), Some("x")),
            (run("huge", serde_json::json!({"k": "é".repeat(5000)})), None),
            (run("short", serde_json::json!(1)), None),
        ] {
            assert_eq!(
                inputs.input(&r, &Options::default(), &[], id),
                whole(&r, id),
                "{}",
                r.plugin
            );
        }
        let r = run("p", Value::Null);
        assert_eq!(
            plugin_input(&r, &Options::default(), &[], Some("x"), deployment),
            whole(&r, Some("x"))
        );
    }

    #[test]
    fn frames_round_trip_and_are_bounded() {
        let mut buf = Vec::new();
        write_json(&mut buf, &Event::Done { code: 3 }).unwrap();
        write_bytes(&mut buf, b"\x00raw").unwrap();
        let mut r = buf.as_slice();
        let e: Event = decode(read_frame(&mut r, 1024).unwrap().unwrap()).unwrap();
        assert!(matches!(e, Event::Done { code: 3 }));
        assert!(matches!(read_frame(&mut r, 1024).unwrap(), Some(Frame::Bytes(b)) if b == b"\x00raw"));
        assert!(read_frame(&mut r, 1024).unwrap().is_none());
        let mut big = Vec::new();
        write_bytes(&mut big, &[0u8; 100]).unwrap();
        let e = read_frame(&mut big.as_slice(), 10).unwrap_err();
        assert!(e.to_string().contains("over the 10-byte limit"), "{e}");
        // Cut in the middle of a frame: an error, not a clean end.
        assert!(read_frame(&mut &big[..3], 1024).is_err());
    }
}
