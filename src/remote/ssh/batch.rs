//! Many commands for one host in one exec channel: a small POSIX `sh` script that runs them one
//! after another, each in a subshell of its own with stdin from `/dev/null`, its stdout and
//! stderr going straight to the channel's, and writes a token after each on both streams.
//!
//! ```text
//! stdout: NONCE:dir:DIR\n NONCE:go\n  <stdout of 0> NONCE:end:0:STATUS\n  <stdout of 1> ...
//! stderr: NONCE:go:PID\n NONCE:job:0\n <stderr of 0> NONCE:end:0\n NONCE:job:1\n ...
//! ```
//!
//! **Nothing a host's other users can see or write decides a result.** The script reaches the
//! shell on its stdin (`exec sh -s`), never in an argv that every user can read in
//! `/proc/*/cmdline`; the nonce is 128 bits from the operating system's generator, in a shell
//! variable that is neither exported nor visible to the commands (their subshell unsets it),
//! so no output can imitate a token. Tokens are also positional: each names the command it
//! belongs to and is accepted only where the protocol expects it; one out of place fails the
//! batch closed (its commands get an error), never shifts a result.
//!
//! The script keeps its records in a private directory it makes with `mktemp -d` (mode 0700,
//! an unpredictable name; removed by the script on every exit, and by rolecall when the shell
//! died without doing so): the process id of each command it starts (`jK`, emptied when the
//! command ends) and the skip mark. What a timeout kills and what a split looks at are read
//! from there on the host, never from a number the stream carried.
//!
//! One command after another means one that hangs would hold back those queued behind it, so
//! it may not for long: once a command has run for [`SPLIT_AFTER`] with others waiting, a second
//! channel creates the skip mark the script looks for (a shell test, no process) before each
//! command, and checks that the slow command is still running. If it is, the script cannot have
//! started the next one, so the waiting commands move to a batch of their own at once. If it
//! ended meanwhile, the script either ran the next one (its result comes as usual) or says it
//! skipped it (`NONCE:skip:K`), and skipped commands move then. No command runs twice, none is
//! lost. A host without `mktemp` runs its batches without splits.
//!
//! A command's timeout stops its subshell and the subshell's descendants on a second channel.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant, SystemTime};

use super::chan::Channel;
use super::running::Ran;
use super::stop::{Kill, Stopper, Via, STOP_GRACE};
use crate::remote::{shell_quote, Capture, Outcome, RoundTrip};

/// The most commands one batch carries.
pub(super) const MAX_BATCH: usize = 64;
/// How long a command may hold back the commands queued behind it in its batch.
pub(super) const SPLIT_AFTER: Duration = Duration::from_secs(1);
/// Longest token line (with its nonce and the private directory's path).
const MAX_TOKEN: usize = 4096 + 64;
/// Noise kept (what a login shell printed before the script), for an error.
const NOISE_CAP: usize = 2048;
/// What the batch channel runs: a shell that reads the script from stdin, so the script (and
/// its nonce) is in no process's argv.
pub(super) const BATCH_COMMAND: &str = "exec sh -s";

/// A random token for one batch: 128 bits from the operating system.
pub(super) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom (a chroot): std's hasher keys come from the OS generator too.
        use std::hash::{BuildHasher, Hasher};
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    let mut s = String::from("rc");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What the script does before and around the commands; `@N@` is the nonce. Names start with
/// `_rc_` so they do not meet the commands' own; the commands' subshell unsets the nonce and
/// the directory, so a command cannot print a token even by mistake.
const SETUP: &str = r#"_rc_n=@N@
_rc_d=$(umask 077; mktemp -d "${TMPDIR:-/tmp}/rolecall.XXXXXXXXXX" 2>/dev/null) || _rc_d=
case $_rc_d in /*) [ -d "$_rc_d" ] && [ ! -h "$_rc_d" ] || _rc_d= ;; *) _rc_d= ;; esac
_rc_bye() { [ -n "$_rc_d" ] && rm -rf -- "$_rc_d"; _rc_d=; }
trap '_rc_bye' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
echo "$_rc_n:dir:$_rc_d"; echo "$_rc_n:go"; echo "$_rc_n:go:$$" >&2
_rc_skip=
_rc_run() {
  if [ -z "$_rc_skip" ] && [ -n "$_rc_d" ] && [ -d "$_rc_d/skip" ]; then _rc_skip=1; fi
  if [ -n "$_rc_skip" ]; then
    echo "$_rc_n:skip:$1"
    return
  fi
  _rc_c=$2
  ( unset _rc_n _rc_d _rc_skip _rc_s _rc_j; set --; eval "$_rc_c" ) </dev/null &
  _rc_j=$!
  if [ -n "$_rc_d" ]; then echo "$_rc_j" >"$_rc_d/j$1"; fi
  echo "$_rc_n:job:$1" >&2
  wait "$_rc_j"
  _rc_s=$?
  if [ -n "$_rc_d" ]; then : >"$_rc_d/j$1"; fi
  echo "$_rc_n:end:$1:$_rc_s"; echo "$_rc_n:end:$1" >&2
}
"#;

/// The script that runs `commands` one after another (see the module docs), sent on the
/// channel's stdin to [`BATCH_COMMAND`].
pub(super) fn script(nonce: &str, commands: &[&str]) -> String {
    let mut s = SETUP.replace("@N@", nonce);
    for (k, command) in commands.iter().enumerate() {
        let _ = writeln!(s, "_rc_run {k} {}", shell_quote(command));
    }
    s
}

/// What the second channel runs to move the commands behind member `k` of the batch whose
/// private directory is `dir`: the skip mark (a directory: `mkdir` creates or fails, it never
/// opens what is there, a FIFO say), then `alive` if member `k` still runs (so the script has
/// not passed its next check). Its process id is read from the script's own record.
pub(super) fn split_script(dir: &str, k: usize) -> String {
    format!(
        "d={}; if [ -d \"$d\" ] && [ ! -h \"$d\" ] && mkdir \"$d/skip\" 2>/dev/null; then \
         p=; read -r p <\"$d/j{k}\" 2>/dev/null; case $p in ''|*[!0-9]*) ;; *) kill -0 \"$p\" 2>/dev/null && echo alive;; esac; fi",
        shell_quote(dir)
    )
}

/// A private directory's path as the script printed it: absolute, printable, no quoting games.
fn valid_dir(dir: &str) -> bool {
    dir.starts_with('/')
        && dir.len() < 4096
        && dir.split('/').all(|c| c != "..")
        && dir
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
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
    /// Its index among the specs of the host's [`super::exec::Exec`].
    index: usize,
    /// Run through sudo as this user: stopped the same way.
    via: Option<Via>,
    timeout: Duration,
    state: State,
    /// Past its deadline, stopped: its end is awaited until then.
    stopping: Option<Instant>,
    /// The script started it (and recorded its process id in the private directory).
    started: bool,
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
    /// The script's private directory (empty: it has none).
    Dir(String),
    /// stdout: commands follow; stderr: the script's process id.
    Go(Option<u32>),
    /// stderr: member K started.
    Job(usize),
    /// Member K ended: with its status on stdout, without on stderr.
    End(usize, Option<i32>),
    /// stdout: member K was passed by.
    Skip(usize),
}

fn token(text: &str) -> Option<Token> {
    if let Some(dir) = text.strip_prefix("dir:") {
        return Some(Token::Dir(dir.to_string()));
    }
    let mut f = text.split(':');
    let num = |s: Option<&str>| -> Option<usize> {
        let s = s?;
        (!s.is_empty() && s.len() < 10 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some(match (f.next()?, f.next(), f.next(), f.next()) {
        ("go", None, ..) => Token::Go(None),
        ("go", Some(pid), None, _) => Token::Go(Some(num(Some(pid))?.try_into().ok()?)),
        ("job", k, None, _) => Token::Job(num(k)?),
        ("end", k, None, _) => Token::End(num(k)?, None),
        ("end", k, Some(s), None) => Token::End(num(k)?, Some(s.parse().ok()?)),
        ("skip", k, None, _) => Token::Skip(num(k)?),
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
    channel: Channel,
    nonce: String,
    members: Vec<Member>,
    out: Stream,
    err: Stream,
    /// The script's own pid (its process group).
    pid: Option<u32>,
    /// The script's private directory on the host, once it said (`None`: not yet, or none).
    dir: Option<String>,
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
    /// A token out of place: the stream cannot be trusted further.
    broken: Option<String>,
    /// The run was interrupted: the running member is stopped, the script with it.
    interrupted: bool,
    script_stopped: bool,
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
        channel: Channel,
        nonce: &str,
        sent: SystemTime,
        members: &[(usize, Duration, Option<Via>)],
        out_cap: usize,
        err_cap: usize,
    ) -> Self {
        let members = members
            .iter()
            .map(|(index, timeout, via)| Member {
                index: *index,
                via: via.clone(),
                timeout: *timeout,
                state: State::Waiting,
                stopping: None,
                started: false,
                out: Capture::new(out_cap),
                err: Capture::new(err_cap),
                status: None,
                err_ended: false,
                skipped: false,
            })
            .collect();
        Self {
            channel,
            nonce: nonce.to_string(),
            members,
            out: Stream::new(),
            err: Stream::new(),
            pid: None,
            dir: None,
            noise: Vec::new(),
            sent,
            out_at: 0,
            err_at: 0,
            split: None,
            closing: None,
            broken: None,
            interrupted: false,
            script_stopped: false,
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
        now: Instant,
        done: &mut dyn FnMut(usize, Ran),
    ) -> Pass {
        let mut moved = false;
        for is_err in [true, false] {
            loop {
                let stream = if is_err { &mut self.err } else { &mut self.out };
                if stream.eof {
                    break;
                }
                let r = self.channel.read(is_err, buf);
                let stream = if is_err { &mut self.err } else { &mut self.out };
                match r {
                    Ok(0) if self.channel.eof() => stream.eof = true,
                    Ok(0) => break,
                    Ok(n) => stream.held.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return self.lost(format!("reading output: {e}"), done),
                }
                moved = true;
                self.drain(is_err, asks, now, done);
                if let Some(why) = self.broken.take() {
                    return self.abandon(&why, stopper, now, done);
                }
            }
        }
        self.deadlines(now, stopper, next, asks, done);
        if self.out.eof && self.err.eof {
            match self.channel.wait_close() {
                Err(e) if super::codes::code(&e) == super::codes::LIBSSH2_ERROR_EAGAIN => {}
                _ => return self.ended(stopper, now, done),
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
                self.kill_script(stopper, now);
                self.channel.close();
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

    /// The run was interrupted: the running member is stopped now, as on its timeout, and the
    /// script with it (the members behind it are not run).
    pub(super) fn interrupt(&mut self) {
        self.interrupted = true;
    }

    /// End the script's process group, and remove its private directory (a killed shell does
    /// not run its own clean-up).
    fn kill_script(&mut self, stopper: &mut Stopper, now: Instant) {
        if let Some(pid) = self.pid {
            stopper.stop(Kill::Group(pid), None, now);
        }
        if let Some(dir) = self.dir.take() {
            stopper.stop(Kill::Remove(dir), None, now);
        }
    }

    /// The stream broke the protocol: stop the script, and every member without a result gets
    /// an error (never a result read from a stream that cannot be trusted).
    fn abandon(
        &mut self,
        why: &str,
        stopper: &mut Stopper,
        now: Instant,
        done: &mut dyn FnMut(usize, Ran),
    ) -> Pass {
        self.kill_script(stopper, now);
        self.channel.close();
        for m in &mut self.members {
            if matches!(m.state, State::Waiting | State::Running(_)) {
                m.state = State::Done;
                done(m.index, Ran::Failed(format!("the batch was abandoned: {why}")));
            }
        }
        Pass::Closed
    }

    /// Act on what stream `is_err` holds. The script reports on its commands in order, on each
    /// stream: `out_at` / `err_at` is the member the next bytes and end token belong to. A token
    /// for any other member, or one out of its place, breaks the batch.
    fn drain(&mut self, is_err: bool, asks: &mut Asks, now: Instant, done: &mut dyn FnMut(usize, Ran)) {
        let mut pieces = Vec::new();
        let stream = if is_err { &mut self.err } else { &mut self.out };
        let mut going = stream.going;
        stream.pieces(self.nonce.as_bytes(), &mut pieces);
        for piece in pieces {
            if self.broken.is_some() {
                return;
            }
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
                Piece::Token(Token::Dir(dir)) if !is_err && !going && self.dir.is_none() => {
                    self.dir = valid_dir(&dir).then_some(dir);
                }
                Piece::Token(Token::Go(pid)) if !going && pid.is_some() == is_err => {
                    going = true;
                    if pid.is_some() {
                        self.pid = pid;
                    }
                    self.start(0, now);
                }
                Piece::Token(Token::Job(k)) if is_err && going && k == at => {
                    if let Some(m) = self.members.get_mut(k) {
                        m.started = true;
                    }
                    self.start(k, now);
                }
                Piece::Token(Token::End(k, status))
                    if going && k == at && k < self.members.len() && status.is_some() != is_err =>
                {
                    let m = &mut self.members[k];
                    match status {
                        Some(s) => m.status = Some(s),
                        None => m.err_ended = true,
                    }
                    if is_err {
                        self.err_at += 1;
                        self.pass_skipped();
                    } else {
                        self.out_at += 1;
                    }
                    self.finish_ready(now, done);
                }
                Piece::Token(Token::Skip(k)) if !is_err && going && k == at && k < self.members.len() => {
                    // The script passed this command by: it runs elsewhere, unless it moved
                    // there already when the split was answered.
                    let m = &mut self.members[k];
                    m.skipped = true;
                    if matches!(m.state, State::Waiting | State::Running(_)) {
                        m.state = State::Moved;
                        asks.moved.push(m.index);
                    }
                    self.out_at += 1;
                    self.pass_skipped();
                }
                Piece::Token(t) => {
                    let stream = if is_err { "stderr" } else { "stdout" };
                    self.broken = Some(format!(
                        "a control token out of place on {stream} ({t:?} where command {at} was due)"
                    ));
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
    fn finish_ready(&mut self, now: Instant, done: &mut dyn FnMut(usize, Ran)) {
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
        self.start(next, now);
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
        let mut kill_all = false;
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
                None if now >= since + m.timeout || self.interrupted => {
                    m.stopping = Some(now + STOP_GRACE);
                    match (&self.dir, m.started) {
                        // By the script's own record of the process it started.
                        (Some(dir), true) => {
                            stopper.stop(Kill::Job { dir: dir.clone(), k }, m.via.as_ref(), now)
                        }
                        // No record to go by: the whole script goes (the rest are not run).
                        _ => kill_all = true,
                    }
                    soonest(now + STOP_GRACE);
                }
                None => soonest(since + m.timeout),
            }
            if waiting && self.split.is_none() && m.stopping.is_none() {
                match &self.dir {
                    Some(dir) if m.started && now >= since + SPLIT_AFTER => {
                        self.split = Some(k);
                        asks.split = Some(split_script(dir, k));
                    }
                    Some(_) => soonest(since + SPLIT_AFTER),
                    // No private directory, no skip mark: the commands wait their turn.
                    None => {}
                }
            }
        }
        if kill_all || (self.interrupted && !self.script_stopped) {
            if let Some(pid) = self.pid {
                // Through sudo when a member ran through it: its processes are in the group.
                let via = self.members.iter().find_map(|m| m.via.clone());
                stopper.stop(Kill::Group(pid), via.as_ref(), now);
                self.script_stopped = true;
            }
        }
        if stuck {
            for m in self.members.iter_mut().filter(|m| m.state == State::Waiting) {
                m.state = State::Done;
                let why = "the command before it in its batch did not end on the host";
                done(m.index, Ran::NotRun(why.into()));
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

    /// The channel closed: members without a result get why. A shell that was killed (by a
    /// command, or on the host) is told as that: the command it ran has no result of its own,
    /// the ones behind it were not run, and the host was reached.
    fn ended(&mut self, stopper: &mut Stopper, now: Instant, done: &mut dyn FnMut(usize, Ran)) -> Pass {
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
        let signal = self.channel.exit_signal();
        let status = self.channel.exit_status().unwrap_or(-1);
        if pending || signal.is_some() {
            // The script did not get to its own clean-up.
            if let Some(dir) = self.dir.take() {
                stopper.stop(Kill::Remove(dir), None, now);
            }
        }
        let ending = match &signal {
            Some(sig) => format!("the batch shell on the host was killed by signal {sig}"),
            None => format!("the batch shell on the host ended (exit {status})"),
        };
        let noise = String::from_utf8_lossy(&self.noise).trim().to_string();
        for m in &mut self.members {
            if !matches!(m.state, State::Waiting | State::Running(_)) {
                continue;
            }
            let stopped = m.stopping.is_some();
            let running = matches!(m.state, State::Running(_));
            m.state = State::Done;
            let (out, mut err) = take(m);
            if stopped {
                done(
                    m.index,
                    Ran::Finished(Outcome::Timeout(m.timeout), out, err, None),
                );
                continue;
            }
            match (&signal, running) {
                // The command (or something on the host) killed the shell it ran under: what
                // happened to it is that signal.
                (Some(sig), true) => {
                    err.push(format!("\nrolecall: {ending} while this command ran\n").as_bytes());
                    done(
                        m.index,
                        Ran::Finished(Outcome::Signal(sig.clone()), out, err, None),
                    );
                }
                _ => {
                    let mut why = if running {
                        format!("{ending} while this command ran: it has no result")
                    } else {
                        format!("{ending} before this command started")
                    };
                    if !noise.is_empty() {
                        why.push_str(&format!(": {}", noise.escape_debug()));
                    }
                    if running {
                        done(m.index, Ran::Failed(why));
                    } else {
                        done(m.index, Ran::NotRun(why));
                    }
                }
            }
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
    use std::io::Write;
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
                    going |= matches!(t, Token::Go(_));
                    if matches!(t, Token::End(..)) {
                        per.push(Vec::new());
                    }
                    tokens.push(t);
                }
            }
        }
        (per, tokens, noise)
    }

    /// The script as the host gets it: a login shell that greets, then `sh -s` reading it.
    fn run_with(shell: &str, n: &str, commands: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut child = Command::new(shell)
            .arg("-c")
            .arg(format!("echo greeting from a login shell; {BATCH_COMMAND}"))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(script(n, commands).as_bytes()).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    fn run(shell: &str, n: &str, commands: &[&str]) -> std::process::Output {
        run_with(shell, n, commands, &[])
    }

    fn shells() -> Vec<&'static str> {
        ["/bin/sh", "/bin/dash", "/bin/bash"]
            .into_iter()
            .filter(|s| std::path::Path::new(s).exists())
            .collect()
    }

    fn dir_of(tokens: &[Token]) -> String {
        match &tokens[0] {
            Token::Dir(d) => d.clone(),
            t => panic!("no dir token first: {t:?}"),
        }
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
                    "cat; echo \"[$1][$_rc_n][$_rc_d]\"; echo x >/dev/null; set | grep -c '^_rc_[nd]=' || true",
                    "kill -TERM $(sh -c 'echo $PPID')",
                ],
            );
            let (stdout, tokens, noise) = split_stream(&n, &out.stdout);
            assert_eq!(noise, b"greeting from a login shell\n", "{sh}");
            let dir = dir_of(&tokens);
            assert!(valid_dir(&dir), "{sh}: {dir}");
            assert_eq!(
                tokens[1..],
                [
                    Token::Go(None),
                    Token::End(0, Some(3)),
                    Token::End(1, Some(0)),
                    Token::End(2, Some(0)),
                    Token::End(3, Some(143))
                ],
                "{sh}"
            );
            assert_eq!(stdout[0], b"one\n");
            assert_eq!(stdout[1], b"no newline");
            // stdin is empty, no positional parameters; neither the nonce nor the private
            // directory is visible to a command.
            assert_eq!(String::from_utf8_lossy(&stdout[2]), "[][][]\n0\n", "{sh}");
            assert_eq!(outcome_of(143), Outcome::Signal("TERM".into()));
            let (stderr, tokens, _) = split_stream(&n, &out.stderr);
            assert!(matches!(tokens[0], Token::Go(Some(_))), "{tokens:?}");
            assert_eq!(tokens.iter().filter(|t| matches!(t, Token::Job(_))).count(), 4);
            assert_eq!(stderr[0], b"e1\n");
            assert_eq!(stderr[1], b"err, no newline");
            assert!(
                !std::path::Path::new(&dir).exists(),
                "{sh}: the private directory is left"
            );
        }
    }

    /// Regression (forged results): the script and its nonce were in the remote shell's argv,
    /// readable by every user of the host. Now neither the command line nor the environment of
    /// any process the batch starts holds the nonce.
    #[test]
    fn the_nonce_is_in_no_argv_or_environment() {
        let n = nonce();
        let needle = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(needle.path(), &n).unwrap();
        let probe = format!(
            "for p in /proc/[0-9]*; do cat $p/cmdline $p/environ 2>/dev/null; done | grep -c -F -f {} || true",
            needle.path().display()
        );
        for sh in shells() {
            let out = run(sh, &n, &[&probe, "true"]);
            let (stdout, ..) = split_stream(&n, &out.stdout);
            assert_eq!(String::from_utf8_lossy(&stdout[0]), "0\n", "{sh}");
        }
    }

    /// With the skip mark there, the script runs nothing more and says so for each command; it
    /// removes its directory at the end. The split script answers `alive` only while the
    /// member it names still runs, by the script's own record of its process.
    #[test]
    fn a_split_skips_the_rest_and_no_command_runs_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let ran = tmp.path().join("ran");
        let n = nonce();
        let touch = format!("echo x >> {}", ran.display());
        let marker = tmp.path().join("started");
        let first = format!("touch {}; sleep 2", marker.display());
        let tmpdir = tmp.path().to_str().unwrap().to_string();
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(BATCH_COMMAND)
            .env("TMPDIR", &tmpdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(script(&n, &[&first, &touch, &touch]).as_bytes())
            .unwrap();
        drop(stdin);
        while !marker.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let dir = std::fs::read_dir(&tmpdir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("rolecall."))
            .expect("a private directory");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700);
        let split = |k: usize| {
            Command::new("/bin/sh")
                .arg("-c")
                .arg(split_script(dir.to_str().unwrap(), k))
                .output()
                .unwrap()
        };
        assert_eq!(String::from_utf8_lossy(&split(0).stdout), "alive\n");
        // Member 1 has not started: nothing recorded, not alive.
        assert_eq!(String::from_utf8_lossy(&split(1).stdout), "");
        let out = child.wait_with_output().unwrap();
        let (_, tokens, _) = split_stream(&n, &out.stdout);
        assert_eq!(
            tokens[1..],
            [
                Token::Go(None),
                Token::End(0, Some(0)),
                Token::Skip(1),
                Token::Skip(2)
            ]
        );
        assert!(!ran.exists(), "a skipped command ran");
        assert!(!dir.exists(), "the private directory is left");
    }

    /// Regression (a FIFO at the skip file's predictable name hung the split shell): the
    /// split only ever makes a directory (never opens a name), inside the batch's own one; a directory
    /// that is not one (a planted symlink) is not written through.
    #[test]
    fn a_split_never_writes_through_a_planted_name() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        let planted = tmp.path().join("rolecall.planted");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(split_script(planted.to_str().unwrap(), 0))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(!victim.join("skip").exists(), "wrote through a symlink");
        // A FIFO where the skip mark goes: never opened, so nothing blocks.
        let real = tmp.path().join("rolecall.real");
        std::fs::create_dir(&real).unwrap();
        let st = Command::new("mkfifo").arg(real.join("skip")).status().unwrap();
        assert!(st.success());
        let start = Instant::now();
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(split_script(real.to_str().unwrap(), 0))
            .output()
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    }

    #[test]
    fn tokens_parse_strictly() {
        assert_eq!(token("go"), Some(Token::Go(None)));
        assert_eq!(token("go:12"), Some(Token::Go(Some(12))));
        assert_eq!(token("dir:/tmp/a:b"), Some(Token::Dir("/tmp/a:b".into())));
        assert_eq!(token("job:2"), Some(Token::Job(2)));
        assert_eq!(token("end:3:7"), Some(Token::End(3, Some(7))));
        assert_eq!(token("end:3"), Some(Token::End(3, None)));
        assert_eq!(token("skip:4"), Some(Token::Skip(4)));
        assert_eq!(token("end:x"), None);
        assert_eq!(token("end:1:x"), None);
        assert_eq!(token("job:2:345"), None);
        assert_eq!(token("job:+2"), None);
        assert_eq!(token("skip"), None);
        assert_eq!(token("nope"), None);
        assert_eq!(outcome_of(137), Outcome::Signal("KILL".into()));
        assert_eq!(outcome_of(1), Outcome::Exited(1));
        assert_eq!(outcome_of(200), Outcome::Exited(200));
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 34);
        assert!(valid_dir("/tmp/rolecall.AbC123xyz_"));
        for bad in ["tmp/x", "/tmp/x y", "/tmp/'x", "/tmp/../etc", "/tmp/x\n", ""] {
            assert!(!valid_dir(bad), "{bad:?}");
        }
    }

    /// Bytes split anywhere (a nonce cut in two across reads) come out the same.
    #[test]
    fn pieces_survive_any_read_boundary() {
        let n = nonce();
        let whole = format!("noise\n{n}:go\nab{n}:end:0:0\n{n}x{n}:end:1:1\n").into_bytes();
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
