//! Many commands for one host in one exec channel: a small POSIX `sh` script that runs them one
//! after another, each in a subshell of its own with stdin from `/dev/null`, its stdout and
//! stderr going straight to the channel's, and writes a token after each on both streams. The
//! tokens carry a nonce that is random per batch, so no output can end a command by chance:
//!
//! ```text
//! stdout: NONCE:go\n  <stdout of 0> NONCE:end:STATUS\n  <stdout of 1> NONCE:end:STATUS\n ...
//! stderr: NONCE:go:PID\n NONCE:job:0:PID\n <stderr of 0> NONCE:end\n ...
//! ```
//!
//! The script starts no process of its own: a batch costs the host one shell and one subshell
//! per command, where separate channels cost a login shell per command (and sshd's session work).
//!
//! One command after another means one that hangs would hold back those queued behind it, so
//! it may not for long: once a command has run for [`SPLIT_AFTER`] with others waiting, a second
//! channel creates a skip file the script looks for (a shell test, no process) before each
//! command, and checks that the slow command is still running. If it is, the script cannot have
//! started the next one, so the waiting commands move to a batch of their own at once. If it
//! ended meanwhile, the script either ran the next one (its result comes as usual) or says it
//! skipped it (`NONCE:skip`), and skipped commands move then. No command runs twice, none is lost.
//!
//! A command's timeout stops its subshell and the subshell's descendants (named by its `job`
//! token) on a second channel.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant, SystemTime};

use super::channel::{Kill, Ran, Stopper, STOP_GRACE};
use crate::remote::{shell_quote, Capture, Outcome, RoundTrip};

/// The most commands one batch carries.
pub(super) const MAX_BATCH: usize = 64;
/// How long a command may hold back the commands queued behind it in its batch.
pub(super) const SPLIT_AFTER: Duration = Duration::from_secs(1);
/// Longest token line (with its nonce).
const MAX_TOKEN: usize = 128;
/// Noise kept (what a login shell printed before the script), for an error.
const NOISE_CAP: usize = 2048;

/// A random token for one batch.
pub(super) fn nonce() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let a = h.finish();
    h.write_u64(a);
    format!("rc{a:016x}{:016x}", h.finish())
}

/// Where the skip file of batch `nonce` may be: the first of these that is a writable directory
/// gets it (`set -C`: never through an existing file or a planted symlink).
const SKIP_DIRS: &str = r#"/dev/shm "${TMPDIR:-/tmp}" /tmp"#;

/// What the script does before and around the commands; `@N@` is the nonce. Names start with
/// `_rc_` so they do not meet the commands' own.
const SETUP: &str = r#"_rc_n=@N@
echo "$_rc_n:go"; echo "$_rc_n:go:$$" >&2
_rc_skip=
_rc_run() {
  if [ -z "$_rc_skip" ]; then
    for _rc_d in @DIRS@; do
      [ -e "$_rc_d/.rolecall-$_rc_n.skip" ] && _rc_skip=1
    done
  fi
  if [ -n "$_rc_skip" ]; then
    echo "$_rc_n:skip"
    return
  fi
  _rc_c=$2
  ( set --; eval "$_rc_c" ) </dev/null &
  echo "$_rc_n:job:$1:$!" >&2
  wait $!
  _rc_s=$?
  echo "$_rc_n:end:$_rc_s"; echo "$_rc_n:end" >&2
}
"#;

/// The script that runs `commands` one after another (see the module docs).
pub(super) fn script(nonce: &str, commands: &[&str]) -> String {
    let mut s = SETUP.replace("@N@", nonce).replace("@DIRS@", SKIP_DIRS);
    for (k, command) in commands.iter().enumerate() {
        let _ = writeln!(s, "_rc_run {k} {}", shell_quote(command));
    }
    let _ = writeln!(
        s,
        "if [ -n \"$_rc_skip\" ]; then for _rc_d in {SKIP_DIRS}; do rm -f \"$_rc_d/.rolecall-$_rc_n.skip\"; done; fi"
    );
    s
}

/// What the second channel runs to move the commands behind `pid` (batch `nonce`): the skip
/// file, then `alive` if `pid` still runs (so the script has not passed its next check).
pub(super) fn split_script(nonce: &str, pid: u32) -> String {
    format!(
        "set -C; for d in {SKIP_DIRS}; do if [ -d \"$d\" ] && [ -w \"$d\" ] && \
         {{ true >\"$d/.rolecall-{nonce}.skip\"; }} 2>/dev/null; then kill -0 {pid} 2>/dev/null && echo alive; break; fi; done"
    )
}

/// An exit status from the script: `wait` folds a signal into 128 + its number. The signals
/// whose numbers are the same on every Unix are told back as signals; any other status is an
/// exit code.
fn outcome_of(status: i32) -> Outcome {
    let name = match status - 128 {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        6 => "ABRT",
        9 => "KILL",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return Outcome::Exited(status),
    };
    Outcome::Signal(name.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started yet.
    Waiting,
    /// Started at this instant (as seen from here).
    Running(Instant),
    Done,
    /// Handed to another batch.
    Moved,
}

/// One command of a batch.
struct Member {
    /// Its index among the specs of `exec_batch`.
    index: usize,
    timeout: Duration,
    state: State,
    /// Past its deadline, stopped: its end is awaited until then.
    stopping: Option<Instant>,
    /// Its subshell on the host.
    job: Option<u32>,
    out: Capture,
    err: Capture,
    /// Its exit status, once stdout's end token came; stderr's end token came.
    status: Option<i32>,
    err_ended: bool,
    /// The script said it passed this one by.
    skipped: bool,
}

/// A token found in a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Go(Option<u32>),
    Job(usize, u32),
    End(Option<i32>),
    Skip,
}

fn token(text: &str) -> Option<Token> {
    let mut f = text.split(':');
    Some(match (f.next()?, f.next(), f.next(), f.next()) {
        ("go", None, ..) => Token::Go(None),
        ("go", Some(pid), None, _) => Token::Go(Some(pid.parse().ok()?)),
        ("job", Some(k), Some(pid), None) => Token::Job(k.parse().ok()?, pid.parse().ok()?),
        ("end", None, ..) => Token::End(None),
        ("end", Some(s), None, _) => Token::End(Some(s.parse().ok()?)),
        ("skip", None, ..) => Token::Skip,
        _ => return None,
    })
}

/// Splits one stream into the bytes between tokens and the tokens.
struct Stream {
    held: Vec<u8>,
    /// The `go` token came: bytes now belong to commands (before it: a login shell's noise).
    going: bool,
    eof: bool,
}

/// What a stream gave: bytes for the current command (or noise), or a token.
enum Piece {
    Bytes(Vec<u8>),
    Token(Token),
}

impl Stream {
    fn new() -> Self {
        Self {
            held: Vec::new(),
            going: false,
            eof: false,
        }
    }

    /// Take what is complete from `held`: bytes up to a nonce, whole token lines.
    fn pieces(&mut self, nonce: &[u8], out: &mut Vec<Piece>) {
        loop {
            let at = self.held.windows(nonce.len()).position(|w| w == nonce);
            let Some(at) = at else {
                // All but what may be the start of a nonce.
                let keep = if self.eof { 0 } else { nonce.len() - 1 };
                let upto = self.held.len().saturating_sub(keep);
                if upto > 0 {
                    out.push(Piece::Bytes(self.held.drain(..upto).collect()));
                }
                return;
            };
            if at > 0 {
                out.push(Piece::Bytes(self.held.drain(..at).collect()));
            }
            let rest = &self.held[nonce.len()..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > MAX_TOKEN && !self.eof {
                    // Not a token of ours after all: output that happens to hold the nonce.
                    out.push(Piece::Bytes(self.held.drain(..nonce.len()).collect()));
                    continue;
                }
                if self.eof {
                    out.push(Piece::Bytes(std::mem::take(&mut self.held)));
                }
                return;
            };
            let parsed = rest
                .strip_prefix(b":")
                .and_then(|r| std::str::from_utf8(&r[..nl - 1]).ok())
                .and_then(token);
            match parsed {
                Some(t) => {
                    self.held.drain(..nonce.len() + nl + 1);
                    if matches!(t, Token::Go(_)) {
                        self.going = true;
                    }
                    out.push(Piece::Token(t));
                }
                None => out.push(Piece::Bytes(self.held.drain(..nonce.len()).collect())),
            }
        }
    }
}

/// A batch running on its channel.
pub(super) struct Batch {
    channel: ssh2::Channel,
    stderr: ssh2::Stream,
    nonce: String,
    members: Vec<Member>,
    out: Stream,
    err: Stream,
    /// The script's own pid (its process group).
    pid: Option<u32>,
    /// What came before the `go` tokens (a login shell's greeting, an error), for an error.
    noise: Vec<u8>,
    sent: SystemTime,
    /// The member the script reports on next, on stdout and on stderr.
    out_at: usize,
    err_at: usize,
    /// A split was asked for (behind this member).
    split: Option<usize>,
    /// Every member has its result; waiting (until then) for the channel to close.
    closing: Option<Instant>,
}

/// What one pass over a batch did.
pub(super) enum Pass {
    Idle,
    Moved,
    /// The channel is done with: every member has had its result or moved.
    Closed,
    /// The script never started (a shell that cannot run it): every member was given
    /// [`Ran::Later`].
    Unsupported,
}

/// What the batch asks of `exec_batch` after a pass.
#[derive(Default)]
pub(super) struct Asks {
    /// Run this on a second channel and hand its stdout to [`Batch::split_answer`].
    pub(super) split: Option<String>,
    /// Run these specs elsewhere (they will not run here).
    pub(super) moved: Vec<usize>,
}

impl Batch {
    /// A batch on `channel` (its script already sent at `sent`) for the specs at `indices`.
    pub(super) fn new(
        channel: ssh2::Channel,
        nonce: &str,
        sent: SystemTime,
        members: &[(usize, Duration)],
        out_cap: usize,
        err_cap: usize,
    ) -> Self {
        let members = members
            .iter()
            .map(|&(index, timeout)| Member {
                index,
                timeout,
                state: State::Waiting,
                stopping: None,
                job: None,
                out: Capture::new(out_cap),
                err: Capture::new(err_cap),
                status: None,
                err_ended: false,
                skipped: false,
            })
            .collect();
        Self {
            stderr: channel.stderr(),
            channel,
            nonce: nonce.to_string(),
            members,
            out: Stream::new(),
            err: Stream::new(),
            pid: None,
            noise: Vec::new(),
            sent,
            out_at: 0,
            err_at: 0,
            split: None,
            closing: None,
        }
    }

    /// Read what is there, hand finished members to `done`, stop members past their deadline
    /// (through `stopper`), ask for a split when one holds others back; `next` gets the earliest
    /// instant something is due.
    pub(super) fn step(
        &mut self,
        buf: &mut [u8],
        stopper: &mut Stopper,
        next: &mut Option<Instant>,
        asks: &mut Asks,
        done: &mut dyn FnMut(usize, Ran),
    ) -> Pass {
        let mut moved = false;
        for is_err in [true, false] {
            loop {
                let stream = if is_err { &mut self.err } else { &mut self.out };
                if stream.eof {
                    break;
                }
                let r = if is_err {
                    self.stderr.read(buf)
                } else {
                    self.channel.read(buf)
                };
                let stream = if is_err { &mut self.err } else { &mut self.out };
                match r {
                    Ok(0) if self.channel.eof() => stream.eof = true,
                    Ok(0) => break,
                    Ok(n) => stream.held.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return self.lost(format!("reading output: {e}"), done),
                }
                moved = true;
                self.drain(is_err, asks, done);
            }
        }
        let now = Instant::now();
        self.deadlines(now, stopper, next, asks, done);
        if self.out.eof && self.err.eof {
            match self.channel.wait_close() {
                Err(e) if super::code(&e) == super::LIBSSH2_ERROR_EAGAIN => {}
                _ => return self.ended(done),
            }
        }
        if self
            .members
            .iter()
            .all(|m| matches!(m.state, State::Done | State::Moved))
        {
            // All answered; the script ends on its own unless something of its own hangs.
            let until = *self.closing.get_or_insert(now + STOP_GRACE);
            if now >= until {
                if let Some(pid) = self.pid {
                    stopper.stop(Kill::Group(pid), now);
                }
                let _ = self.channel.close();
                return Pass::Closed;
            }
            *next = Some(next.map_or(until, |d| d.min(until)));
        }
        if moved {
            Pass::Moved
        } else {
            Pass::Idle
        }
    }

    /// Act on what stream `is_err` holds. The script reports on its commands in order, on each
    /// stream: `out_at` / `err_at` is the member the next bytes and end token belong to.
    fn drain(&mut self, is_err: bool, asks: &mut Asks, done: &mut dyn FnMut(usize, Ran)) {
        let mut pieces = Vec::new();
        let stream = if is_err { &mut self.err } else { &mut self.out };
        let mut going = stream.going;
        stream.pieces(self.nonce.as_bytes(), &mut pieces);
        for piece in pieces {
            let at = if is_err { self.err_at } else { self.out_at };
            match piece {
                Piece::Bytes(b) if !going => {
                    let room = NOISE_CAP.saturating_sub(self.noise.len());
                    self.noise.extend_from_slice(&b[..b.len().min(room)]);
                }
                Piece::Bytes(b) => {
                    if let Some(m) = self.members.get_mut(at) {
                        if is_err { &mut m.err } else { &mut m.out }.push(&b);
                    }
                }
                Piece::Token(Token::Go(pid)) => {
                    going = true;
                    if pid.is_some() {
                        self.pid = pid;
                    }
                    self.start(0, Instant::now());
                }
                Piece::Token(Token::Job(k, pid)) => {
                    if let Some(m) = self.members.get_mut(k) {
                        m.job = Some(pid);
                    }
                    self.start(k, Instant::now());
                }
                Piece::Token(Token::End(status)) => {
                    if let Some(m) = self.members.get_mut(at) {
                        match status {
                            Some(s) => m.status = Some(s),
                            None => m.err_ended = true,
                        }
                    }
                    if is_err {
                        self.err_at += 1;
                        self.pass_skipped();
                    } else {
                        self.out_at += 1;
                    }
                    self.finish_ready(done);
                }
                Piece::Token(Token::Skip) => {
                    // The script passed this command by (skip tokens come on stdout only): it
                    // runs elsewhere, unless it moved there already when the split was answered.
                    if let Some(m) = self.members.get_mut(at) {
                        m.skipped = true;
                        if matches!(m.state, State::Waiting | State::Running(_)) {
                            m.state = State::Moved;
                            asks.moved.push(m.index);
                        }
                    }
                    self.out_at += 1;
                    self.pass_skipped();
                }
            }
        }
    }

    /// Skipped members say nothing on stderr: its reader passes them by.
    fn pass_skipped(&mut self) {
        while self.members.get(self.err_at).is_some_and(|m| m.skipped) {
            self.err_at += 1;
        }
    }

    /// Member `k` runs now, if it was waiting and none runs (the script began it, or the one
    /// before it ended).
    fn start(&mut self, k: usize, now: Instant) {
        if self.members.iter().any(|m| matches!(m.state, State::Running(_))) {
            return;
        }
        if let Some(m) = self.members.get_mut(k).filter(|m| m.state == State::Waiting) {
            m.state = State::Running(now);
        }
    }

    /// Members whose both end tokens came are done.
    fn finish_ready(&mut self, done: &mut dyn FnMut(usize, Ran)) {
        let answered = SystemTime::now();
        for m in &mut self.members {
            let (Some(status), true) = (m.status, m.err_ended) else {
                continue;
            };
            if !matches!(m.state, State::Waiting | State::Running(_)) {
                continue;
            }
            m.state = State::Done;
            let outcome = if m.stopping.is_some() {
                Outcome::Timeout(m.timeout)
            } else {
                outcome_of(status)
            };
            let has_output = m.out.total() > 0;
            let (out, err) = take(m);
            let round_trip = has_output.then_some(RoundTrip {
                sent: self.sent,
                answered,
            });
            done(m.index, Ran::Finished(outcome, out, err, round_trip));
        }
        let next = self.out_at.min(self.err_at);
        self.start(next, Instant::now());
    }

    /// Stop the running member past its deadline; give up on one the host did not end within
    /// the grace (the ones behind it then cannot run here); ask for a split when the running
    /// member holds others back.
    fn deadlines(
        &mut self,
        now: Instant,
        stopper: &mut Stopper,
        next: &mut Option<Instant>,
        asks: &mut Asks,
        done: &mut dyn FnMut(usize, Ran),
    ) {
        let mut soonest = |t: Instant| *next = Some(next.map_or(t, |d| d.min(t)));
        let waiting = self.members.iter().any(|m| m.state == State::Waiting);
        let mut stuck = false;
        for k in 0..self.members.len() {
            let m = &mut self.members[k];
            let State::Running(since) = m.state else { continue };
            match m.stopping {
                Some(until) if now >= until => {
                    m.state = State::Done;
                    let (out, err) = take(m);
                    done(
                        m.index,
                        Ran::Finished(Outcome::Timeout(m.timeout), out, err, None),
                    );
                    stuck = true;
                    continue;
                }
                Some(until) => soonest(until),
                None if now >= since + m.timeout => {
                    m.stopping = Some(now + STOP_GRACE);
                    if let Some(job) = m.job {
                        stopper.stop(Kill::Tree(job), now);
                    }
                    soonest(now + STOP_GRACE);
                }
                None => soonest(since + m.timeout),
            }
            if waiting && self.split.is_none() && m.stopping.is_none() {
                match m.job {
                    Some(pid) if now >= since + SPLIT_AFTER => {
                        self.split = Some(k);
                        asks.split = Some(split_script(&self.nonce, pid));
                    }
                    _ => soonest(since + SPLIT_AFTER),
                }
            }
        }
        if stuck {
            for m in self.members.iter_mut().filter(|m| m.state == State::Waiting) {
                m.state = State::Done;
                let why = "not run: the command before it in its batch did not end on the host";
                done(m.index, Ran::Failed(why.into()));
            }
        }
    }

    /// The second channel's answer to a split: `alive` means the script is still in the slow
    /// command, so every command behind it moves now.
    pub(super) fn split_answer(&mut self, stdout: &str, asks: &mut Asks) {
        if stdout.lines().any(|l| l.trim() == "alive") {
            for m in self.members.iter_mut().filter(|m| m.state == State::Waiting) {
                m.state = State::Moved;
                asks.moved.push(m.index);
            }
        }
    }

    /// The channel closed: members without a result get why.
    fn ended(&mut self, done: &mut dyn FnMut(usize, Ran)) -> Pass {
        let pending = self
            .members
            .iter()
            .any(|m| matches!(m.state, State::Waiting | State::Running(_)));
        if pending && !self.out.going && !self.err.going {
            for m in &mut self.members {
                if matches!(m.state, State::Waiting | State::Running(_)) {
                    m.state = State::Moved;
                    done(m.index, Ran::Later);
                }
            }
            return Pass::Unsupported;
        }
        let status = self.channel.exit_status().unwrap_or(-1);
        let noise = String::from_utf8_lossy(&self.noise).trim().to_string();
        for m in &mut self.members {
            if !matches!(m.state, State::Waiting | State::Running(_)) {
                continue;
            }
            let stopped = m.stopping.is_some();
            m.state = State::Done;
            let (out, err) = take(m);
            if stopped {
                done(
                    m.index,
                    Ran::Finished(Outcome::Timeout(m.timeout), out, err, None),
                );
                continue;
            }
            let mut why = format!("the batch script ended (exit {status}) before this command's result");
            if !noise.is_empty() {
                why.push_str(&format!(": {}", noise.escape_debug()));
            }
            done(m.index, Ran::Failed(why));
        }
        Pass::Closed
    }

    fn lost(&mut self, why: String, done: &mut dyn FnMut(usize, Ran)) -> Pass {
        for m in &mut self.members {
            if matches!(m.state, State::Waiting | State::Running(_)) {
                m.state = State::Done;
                let (out, err) = take(m);
                done(m.index, Ran::Lost(why.clone(), out, err));
            }
        }
        Pass::Closed
    }
}

fn take(m: &mut Member) -> (Capture, Capture) {
    (
        std::mem::replace(&mut m.out, Capture::new(0)),
        std::mem::replace(&mut m.err, Capture::new(0)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// One stream's pieces: per command, its bytes; and the tokens in order.
    fn split_stream(n: &str, bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<Token>, Vec<u8>) {
        let mut s = Stream::new();
        s.held.extend_from_slice(bytes);
        s.eof = true;
        let mut pieces = Vec::new();
        s.pieces(n.as_bytes(), &mut pieces);
        group(pieces)
    }

    /// Pieces grouped: per command its bytes, the tokens, and the noise before `go`.
    fn group(pieces: Vec<Piece>) -> (Vec<Vec<u8>>, Vec<Token>, Vec<u8>) {
        let (mut per, mut tokens, mut noise) = (vec![Vec::new()], Vec::new(), Vec::new());
        let mut going = false;
        for p in pieces {
            match p {
                Piece::Bytes(b) if !going => noise.extend_from_slice(&b),
                Piece::Bytes(b) => per.last_mut().unwrap().extend_from_slice(&b),
                Piece::Token(t) => {
                    going = true;
                    if matches!(t, Token::End(_)) {
                        per.push(Vec::new());
                    }
                    tokens.push(t);
                }
            }
        }
        (per, tokens, noise)
    }

    fn run(shell: &str, n: &str, commands: &[&str]) -> std::process::Output {
        Command::new(shell)
            .arg("-c")
            .arg(format!(
                "echo greeting from a login shell\n{}",
                script(n, commands)
            ))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn shells() -> Vec<&'static str> {
        ["/bin/sh", "/bin/dash", "/bin/bash"]
            .into_iter()
            .filter(|s| std::path::Path::new(s).exists())
            .collect()
    }

    #[test]
    fn each_command_keeps_its_own_status_and_streams() {
        for sh in shells() {
            let n = nonce();
            let out = run(
                sh,
                &n,
                &[
                    "echo one; echo e1 >&2; exit 3",
                    "printf 'no newline'; printf 'err, no newline' >&2",
                    "cat; echo \"[$1][$_rc_unset]\"; echo x >/dev/null; echo \"$_rc_n\"",
                    "kill -TERM $(sh -c 'echo $PPID')",
                ],
            );
            let (stdout, tokens, noise) = split_stream(&n, &out.stdout);
            assert_eq!(noise, b"greeting from a login shell\n", "{sh}");
            assert_eq!(
                tokens,
                vec![
                    Token::Go(None),
                    Token::End(Some(3)),
                    Token::End(Some(0)),
                    Token::End(Some(0)),
                    Token::End(Some(143))
                ],
                "{sh}"
            );
            assert_eq!(stdout[0], b"one\n");
            assert_eq!(stdout[1], b"no newline");
            // stdin is empty, no positional parameters; the nonce alone is just output.
            assert_eq!(
                String::from_utf8_lossy(&stdout[2]),
                format!("[][]\n{n}\n"),
                "{sh}"
            );
            assert_eq!(outcome_of(143), Outcome::Signal("TERM".into()));
            let (stderr, tokens, _) = split_stream(&n, &out.stderr);
            assert!(matches!(tokens[0], Token::Go(Some(_))), "{tokens:?}");
            assert_eq!(tokens.iter().filter(|t| matches!(t, Token::Job(..))).count(), 4);
            assert_eq!(stderr[0], b"e1\n");
            assert_eq!(stderr[1], b"err, no newline");
        }
    }

    /// With the skip file there, the script runs nothing more and says so for each command; it
    /// removes the file at the end. The split script answers `alive` only for a live process.
    #[test]
    fn a_split_skips_the_rest_and_no_command_runs_twice() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let n = nonce();
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let split = |pid: u32| {
            Command::new("/bin/sh")
                .arg("-c")
                .arg(split_script(&n, pid))
                .env("TMPDIR", dir.path())
                .output()
                .unwrap()
        };
        let answer = split(sleeper.id());
        assert_eq!(String::from_utf8_lossy(&answer.stdout), "alive\n");
        let marked: Vec<_> = ["/dev/shm", dir.path().to_str().unwrap(), "/tmp"]
            .iter()
            .map(|d| format!("{d}/.rolecall-{n}.skip"))
            .filter(|p| std::path::Path::new(p).exists())
            .collect();
        assert_eq!(marked.len(), 1, "{marked:?}");
        let touch = format!("echo x >> {}", ran.display());
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(script(&n, &[&touch, &touch]))
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (_, tokens, _) = split_stream(&n, &out.stdout);
        assert_eq!(tokens, vec![Token::Go(None), Token::Skip, Token::Skip]);
        assert!(!ran.exists(), "a skipped command ran");
        assert!(
            !std::path::Path::new(&marked[0]).exists(),
            "the skip file is left"
        );
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        let answer = split(sleeper.id());
        assert_eq!(
            String::from_utf8_lossy(&answer.stdout),
            "",
            "a dead process is not alive"
        );
        for d in ["/dev/shm", dir.path().to_str().unwrap(), "/tmp"] {
            let _ = std::fs::remove_file(format!("{d}/.rolecall-{n}.skip"));
        }
    }

    /// A planted skip-file name (a symlink to a file that must not be written) is never written
    /// through.
    #[test]
    fn a_planted_skip_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let n = nonce();
        let planted = dir.path().join(format!(".rolecall-{n}.skip"));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(split_script(&n, std::process::id()))
            .env("TMPDIR", dir.path())
            .output()
            .unwrap();
        for d in ["/dev/shm", "/tmp"] {
            let _ = std::fs::remove_file(format!("{d}/.rolecall-{n}.skip"));
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let _ = out;
    }

    #[test]
    fn tokens_parse_strictly() {
        assert_eq!(token("go"), Some(Token::Go(None)));
        assert_eq!(token("go:12"), Some(Token::Go(Some(12))));
        assert_eq!(token("job:2:345"), Some(Token::Job(2, 345)));
        assert_eq!(token("end:7"), Some(Token::End(Some(7))));
        assert_eq!(token("end"), Some(Token::End(None)));
        assert_eq!(token("skip"), Some(Token::Skip));
        assert_eq!(token("end:x"), None);
        assert_eq!(token("job:2"), None);
        assert_eq!(token("nope"), None);
        assert_eq!(outcome_of(137), Outcome::Signal("KILL".into()));
        assert_eq!(outcome_of(1), Outcome::Exited(1));
        assert_eq!(outcome_of(200), Outcome::Exited(200));
        assert_ne!(nonce(), nonce());
    }

    /// Bytes split anywhere (a nonce cut in two across reads) come out the same.
    #[test]
    fn pieces_survive_any_read_boundary() {
        let n = nonce();
        let whole = format!("noise\n{n}:go\nab{n}:end:0\n{n}x{n}:end:1\n").into_bytes();
        let (want, want_tokens, _) = split_stream(&n, &whole);
        for cut in 1..whole.len() {
            let mut s = Stream::new();
            let mut pieces = Vec::new();
            s.held.extend_from_slice(&whole[..cut]);
            s.pieces(n.as_bytes(), &mut pieces);
            s.held.extend_from_slice(&whole[cut..]);
            s.eof = true;
            s.pieces(n.as_bytes(), &mut pieces);
            let (per, tokens, _) = group(pieces);
            assert_eq!((per, tokens), (want.clone(), want_tokens.clone()), "cut at {cut}");
        }
        assert_eq!(want[1], format!("{n}x").into_bytes());
    }
}
