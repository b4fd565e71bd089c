//! What one host runs on its open session, as a state machine the engine advances without ever
//! blocking: commands that may share a channel as one [`batch`] (one channel, one remote
//! shell), the others each on a channel of their own, at most [`CHANNELS_PER_HOST`] at
//! once; channels opened one step at a time (libssh2 opens one channel per session at a time);
//! every stream read as data arrives, so no stream can block another; each command bounded by
//! its own deadline and stopped on the host when it passes it ([`super::stop`]).
//!
//! [`Exec::pass`] does everything that can be done now and says whether anything moved and when
//! something is next due; the engine waits on the session's socket (or that instant) and calls
//! it again. It never waits itself.

use std::io::ErrorKind;
use std::time::{Duration, Instant, SystemTime};

use super::chan::{Channel, Sess};

use super::batch::{self, Asks, Batch, Pass};
use super::codes::{code, LIBSSH2_ERROR_EAGAIN};
use super::running::{is_socket_error, remote_script, Progress, Ran, Running, Spec};
use super::shared::CHANNELS_PER_HOST;
use super::stop::{Stopper, STOP_GRACE};
use crate::remote::Capture;

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Status {
    /// Something moved: pass again before waiting.
    pub(super) moved: bool,
    /// The earliest instant something is due (a deadline, a split, a stop's grace).
    pub(super) next: Option<Instant>,
    /// Every command has had its result and nothing is left open: the session is free.
    pub(super) finished: bool,
}

/// A batch, and the channel asking the host to split it, while that runs.
struct Group {
    id: u64,
    batch: Batch,
    control: Option<Running>,
}

/// What a channel being opened is for.
enum Purpose {
    /// Spec `i`, alone.
    Alone(usize),
    /// Specs `indices` as one batch (its script is the channel's stdin).
    Batch { indices: Vec<usize>, nonce: String },
    /// The split question of group `id`.
    Control(u64),
}

/// Where the opening of one channel stands.
enum Stage {
    /// Asking the server for a channel (one request per session at a time).
    Channel,
    Exec(Channel),
    /// Sending `input` from this offset, then EOF.
    Input(Channel, usize),
}

/// One channel being opened and started.
struct Opening {
    purpose: Purpose,
    /// What the channel runs, and the spec its reader goes by.
    command: String,
    spec: Spec,
    /// Bytes sent as the command's whole stdin, then EOF (a batch's script); empty: none here.
    input: Vec<u8>,
    stage: Stage,
    deadline: Instant,
    sent: SystemTime,
}

/// Why a channel did not start.
#[derive(Clone)]
enum Unopened {
    /// Not within the command's timeout.
    Timeout,
    /// The connection failed.
    Lost(String),
    /// The server refused the channel (`MaxSessions`) or the command.
    Refused(String),
}

impl Unopened {
    /// The result of a command whose channel did not start.
    fn ran(self, timeout: Duration) -> Ran {
        match self {
            Unopened::Timeout => Ran::Finished(
                crate::remote::Outcome::Timeout(timeout),
                Capture::new(0),
                Capture::new(0),
                None,
            ),
            Unopened::Lost(why) => Ran::Lost(why, Capture::new(0), Capture::new(0)),
            Unopened::Refused(why) => Ran::Failed(format!("cannot run the command: {why}")),
        }
    }

    fn of(e: &ssh2::Error) -> Self {
        if is_socket_error(e) {
            Unopened::Lost(e.message().to_string())
        } else {
            Unopened::Refused(e.message().to_string())
        }
    }
}

/// Everything running on one host's session; see the module docs.
pub(super) struct Exec {
    specs: Vec<Spec>,
    running: Vec<(usize, Running)>,
    groups: Vec<Group>,
    opening: Vec<Opening>,
    stopper: Stopper,
    /// False once a batch could not start on this host: its later commands go alone.
    supported: bool,
    buf: Vec<u8>,
    next_group: u64,
    interrupted: bool,
    /// The clock as of the current pass (or the start): deadlines count from it.
    now: Instant,
}

impl Exec {
    /// Start `specs` (numbered from 0); results go to `done` as passes find them.
    pub(super) fn new(specs: Vec<Spec>, now: Instant, done: &mut dyn FnMut(usize, Ran)) -> Self {
        let mut exec = Exec {
            specs: Vec::new(),
            running: Vec::new(),
            groups: Vec::new(),
            opening: Vec::new(),
            stopper: Stopper::default(),
            supported: true,
            buf: vec![0u8; 32 << 10],
            next_group: 0,
            interrupted: false,
            now,
        };
        exec.add(specs, done);
        exec
    }

    /// Whether the host can run batches (false: a batch's script never started there).
    pub(super) fn supported(&self) -> bool {
        self.supported
    }

    /// Stop everything: what runs is stopped on the host as on its timeout; what has not been
    /// sent is not sent. Results follow on the next passes.
    pub(super) fn interrupt(&mut self) {
        self.interrupted = true;
    }

    /// Channels in use or being opened on the session.
    fn channels(&self) -> usize {
        self.running.len()
            + self.opening.len()
            + self
                .groups
                .iter()
                .map(|g| 1 + usize::from(g.control.is_some()))
                .sum::<usize>()
    }

    /// Append `specs` (numbered on from those already here) and start them.
    fn add(&mut self, specs: Vec<Spec>, done: &mut dyn FnMut(usize, Ran)) {
        let first = self.specs.len();
        self.specs.extend(specs);
        let added: Vec<usize> = (first..self.specs.len()).collect();
        self.launch(&added, done);
    }

    /// Start the specs at `indices`: those that may share a channel as one batch when there are
    /// two or more, the others each on a channel of their own while the host has channels to
    /// spare (the rest are [`Ran::Later`]).
    fn launch(&mut self, indices: &[usize], done: &mut dyn FnMut(usize, Ran)) {
        let (batched, alone): (Vec<usize>, Vec<usize>) = indices
            .iter()
            .partition(|&&i| self.specs[i].batch && self.supported);
        let (batched, alone) = if batched.len() >= 2 {
            (batched, alone)
        } else {
            (Vec::new(), indices.to_vec())
        };
        if let Some(&first) = batched.first() {
            let nonce = batch::nonce();
            let commands: Vec<&str> = batched.iter().map(|&i| self.specs[i].command.as_str()).collect();
            let script = batch::script(&nonce, &commands);
            let lead = Spec {
                command: batch::BATCH_COMMAND.to_string(),
                timeout: batched
                    .iter()
                    .map(|&i| self.specs[i].timeout)
                    .max()
                    .unwrap_or_default(),
                out_cap: self.specs[first].out_cap,
                err_cap: self.specs[first].err_cap,
                stdin: None,
                batch: false,
                via: None,
            };
            self.open(
                Purpose::Batch {
                    indices: batched,
                    nonce,
                },
                lead,
                script.into_bytes(),
            );
        }
        for i in alone {
            if self.channels() >= CHANNELS_PER_HOST {
                done(i, Ran::Later);
            } else {
                let spec = self.specs[i].clone();
                self.open(Purpose::Alone(i), spec, Vec::new());
            }
        }
    }

    fn open(&mut self, purpose: Purpose, spec: Spec, input: Vec<u8>) {
        let command = match purpose {
            Purpose::Batch { .. } => spec.command.clone(),
            _ => remote_script(&spec),
        };
        self.opening.push(Opening {
            purpose,
            command,
            input,
            deadline: self.now + spec.timeout,
            spec,
            stage: Stage::Channel,
            // Before the channel opens: the command may run before `exec` returns, and a clock
            // reading's window must hold the moment it ran.
            sent: SystemTime::now(),
        });
    }

    /// Everything that can be done now; see the module docs. `more(room)` is asked for up to
    /// `room` commands queued for the host since: they start at once, beside what runs.
    pub(super) fn pass(
        &mut self,
        session: &dyn Sess,
        now: Instant,
        more: &mut dyn FnMut(usize) -> Vec<Spec>,
        done: &mut dyn FnMut(usize, Ran),
    ) -> Status {
        self.now = now;
        let mut moved = false;
        let mut next: Option<Instant> = None;
        if self.interrupted {
            for (_, r) in &mut self.running {
                r.expire(now);
            }
            for g in &mut self.groups {
                g.batch.interrupt();
            }
            // Not sent yet: never sent.
            let (unsent, rest): (Vec<Opening>, Vec<Opening>) = std::mem::take(&mut self.opening)
                .into_iter()
                .partition(|o| matches!(o.stage, Stage::Channel));
            self.opening = rest;
            for o in unsent {
                moved = true;
                for i in o.members() {
                    done(
                        i,
                        Ran::NotRun("the run was interrupted before it was sent".into()),
                    );
                }
            }
        }
        moved |= self.advance_openings(session, now, &mut next, done);
        let buf = &mut self.buf;
        let stopper = &mut self.stopper;
        self.running
            .retain_mut(|(i, r)| match r.pass(buf, stopper, &mut next, now) {
                Progress::Done(result) => {
                    done(*i, result);
                    moved = true;
                    false
                }
                Progress::Moved => {
                    moved = true;
                    true
                }
                Progress::Idle => true,
            });
        let mut asks = Asks::default();
        let mut kept = Vec::with_capacity(self.groups.len());
        let mut splits = Vec::new();
        for mut g in std::mem::take(&mut self.groups) {
            // The split's answer, when its channel is done.
            if let Some(control) = &mut g.control {
                match control.pass(buf, stopper, &mut next, now) {
                    Progress::Done(Ran::Finished(_, out, _, _)) => {
                        g.batch.split_answer(&out.into_text(), &mut asks);
                        g.control = None;
                        moved = true;
                    }
                    Progress::Done(_) => {
                        g.control = None;
                        moved = true;
                    }
                    Progress::Moved => moved = true,
                    Progress::Idle => {}
                }
            }
            let mut own = Asks::default();
            let pass = g.batch.step(buf, stopper, &mut next, &mut own, now, done);
            if let Some(script) = own.split.take() {
                splits.push((g.id, script));
            }
            asks.moved.append(&mut own.moved);
            match pass {
                Pass::Idle => kept.push(g),
                Pass::Moved => {
                    moved = true;
                    kept.push(g);
                }
                Pass::Closed => moved = true,
                Pass::Unsupported => {
                    self.supported = false;
                    moved = true;
                }
            }
        }
        self.groups = kept;
        for (id, script) in splits {
            let spec = Spec {
                command: script,
                timeout: STOP_GRACE,
                out_cap: 4096,
                err_cap: 4096,
                stdin: None,
                batch: false,
                via: None,
            };
            self.open(Purpose::Control(id), spec, Vec::new());
            moved = true;
        }
        // Commands queued since: in a batch of their own, beside what runs.
        let busy = !self.running.is_empty() || !self.groups.is_empty() || !self.opening.is_empty();
        if busy && !self.interrupted && self.channels() < CHANNELS_PER_HOST {
            let new = more(batch::MAX_BATCH);
            if !new.is_empty() {
                moved = true;
                self.add(new, done);
            }
        }
        if !asks.moved.is_empty() {
            moved = true;
            if self.interrupted {
                for i in asks.moved {
                    done(
                        i,
                        Ran::NotRun("the run was interrupted before it was sent".into()),
                    );
                }
            } else {
                self.launch(&asks.moved, done);
            }
        }
        moved |= self.stopper.step(session, &mut self.buf, now);
        let finished = self.running.is_empty()
            && self.groups.is_empty()
            && self.opening.is_empty()
            && !self.stopper.busy();
        Status {
            moved,
            next,
            finished,
        }
    }

    /// Move every channel being opened as far as it goes now. One channel request at a time
    /// per session: a later one waits while an earlier one is in progress.
    fn advance_openings(
        &mut self,
        session: &dyn Sess,
        now: Instant,
        next: &mut Option<Instant>,
        done: &mut dyn FnMut(usize, Ran),
    ) -> bool {
        let mut moved = false;
        let mut requesting = false;
        let mut k = 0;
        while k < self.opening.len() {
            let o = &mut self.opening[k];
            if now >= o.deadline {
                let o = self.opening.remove(k);
                self.failed(o, Unopened::Timeout, done);
                moved = true;
                continue;
            }
            *next = Some(next.map_or(o.deadline, |d| d.min(o.deadline)));
            let stage = std::mem::replace(&mut o.stage, Stage::Channel);
            let before = stage.progress();
            let step = match stage {
                Stage::Channel if requesting => Ok(Stage::Channel),
                Stage::Channel => {
                    requesting = true;
                    match session.channel() {
                        Ok(ch) => Ok(Stage::Exec(ch)),
                        Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => Ok(Stage::Channel),
                        Err(e) => Err(Unopened::of(&e)),
                    }
                }
                Stage::Exec(mut ch) => match ch.exec(&o.command) {
                    Ok(()) => Ok(Stage::Input(ch, 0)),
                    Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => Ok(Stage::Exec(ch)),
                    Err(e) => Err(Unopened::of(&e)),
                },
                Stage::Input(mut ch, at) if at < o.input.len() => match ch.write(&o.input[at..]) {
                    Ok(n) => Ok(Stage::Input(ch, at + n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Stage::Input(ch, at)),
                    Err(e) => Err(Unopened::Lost(format!("sending the batch script: {e}"))),
                },
                Stage::Input(mut ch, at) if !o.input.is_empty() => match ch.send_eof() {
                    Ok(()) => {
                        let o = self.opening.remove(k);
                        self.started(o, ch, now);
                        moved = true;
                        continue;
                    }
                    Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => Ok(Stage::Input(ch, at)),
                    Err(e) => Err(Unopened::of(&e)),
                },
                Stage::Input(ch, _) => {
                    let o = self.opening.remove(k);
                    self.started(o, ch, now);
                    moved = true;
                    continue;
                }
            };
            match step {
                Ok(stage) => {
                    moved |= stage.progress() != before;
                    self.opening[k].stage = stage;
                    k += 1;
                }
                Err(why) => {
                    let o = self.opening.remove(k);
                    self.failed(o, why, done);
                    moved = true;
                }
            }
        }
        moved
    }

    /// A channel is open and its command started: from now on its reader drives it.
    fn started(&mut self, o: Opening, channel: Channel, now: Instant) {
        match o.purpose {
            Purpose::Alone(i) => {
                let mut r = Running::new(channel, &o.spec, o.sent, now);
                if self.interrupted {
                    r.expire(now);
                }
                self.running.push((i, r));
            }
            Purpose::Batch { indices, nonce } => {
                let members: Vec<_> = indices
                    .iter()
                    .map(|&i| (i, self.specs[i].timeout, self.specs[i].via.clone()))
                    .collect();
                let mut batch = Batch::new(channel, &nonce, o.sent, &members, o.spec.out_cap, o.spec.err_cap);
                if self.interrupted {
                    batch.interrupt();
                }
                self.next_group += 1;
                self.groups.push(Group {
                    id: self.next_group,
                    batch,
                    control: None,
                });
            }
            Purpose::Control(id) => match self.groups.iter_mut().find(|g| g.id == id) {
                Some(g) => g.control = Some(Running::new(channel, &o.spec, o.sent, now)),
                None => {
                    let mut channel = channel;
                    channel.close();
                }
            },
        }
    }

    /// A channel that did not start: its commands' results (or, when the server only refused
    /// another channel while others are open, [`Ran::Later`]).
    fn failed(&mut self, o: Opening, why: Unopened, done: &mut dyn FnMut(usize, Ran)) {
        let others_open = self.channels() > 0;
        let members = o.members();
        if let Purpose::Control(_) = o.purpose {
            // No channel for it now: the commands wait for the slow one, as they would alone.
            return;
        }
        match why {
            Unopened::Refused(_) if others_open => members.into_iter().for_each(|i| done(i, Ran::Later)),
            why => {
                for i in members {
                    done(i, why.clone().ran(self.specs[i].timeout));
                }
            }
        }
    }
}

impl Stage {
    /// How far along: a stage that moved compares greater.
    fn progress(&self) -> usize {
        match self {
            Stage::Channel => 0,
            Stage::Exec(_) => 1,
            Stage::Input(_, at) => 2 + at,
        }
    }
}

impl Opening {
    /// The specs whose results depend on this channel.
    fn members(&self) -> Vec<usize> {
        match &self.purpose {
            Purpose::Alone(i) => vec![*i],
            Purpose::Batch { indices, .. } => indices.clone(),
            Purpose::Control(_) => Vec::new(),
        }
    }
}

/// The state machines without a socket: a scripted session whose channels the tests play as
/// the server, and a clock the tests move.
#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::remote::ssh::chan::Chan;
    use crate::remote::ssh::stop::Via;
    use crate::remote::Outcome;

    /// One channel as the server plays it.
    #[derive(Default)]
    struct Wire {
        command: Option<String>,
        input: Vec<u8>,
        out: VecDeque<u8>,
        err: VecDeque<u8>,
        eof: bool,
        closed: bool,
        status: Option<i32>,
        signal: Option<String>,
    }

    type Shared = Arc<Mutex<Wire>>;

    struct FakeChan(Shared);

    fn would_block() -> ssh2::Error {
        ssh2::Error::new(ssh2::ErrorCode::Session(LIBSSH2_ERROR_EAGAIN), "would block")
    }

    impl Chan for FakeChan {
        fn exec(&mut self, command: &str) -> Result<(), ssh2::Error> {
            self.0.lock().unwrap().command = Some(command.to_string());
            Ok(())
        }
        fn read(&mut self, stderr: bool, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut w = self.0.lock().unwrap();
            let eof = w.eof;
            let q = if stderr { &mut w.err } else { &mut w.out };
            if q.is_empty() {
                return if eof {
                    Ok(0)
                } else {
                    Err(std::io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(q.len());
            for (b, x) in buf.iter_mut().zip(q.drain(..n)) {
                *b = x;
            }
            Ok(n)
        }
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().input.extend_from_slice(data);
            Ok(data.len())
        }
        fn send_eof(&mut self) -> Result<(), ssh2::Error> {
            Ok(())
        }
        fn eof(&self) -> bool {
            self.0.lock().unwrap().eof
        }
        fn wait_close(&mut self) -> Result<(), ssh2::Error> {
            if self.0.lock().unwrap().closed {
                Ok(())
            } else {
                Err(would_block())
            }
        }
        fn exit_status(&self) -> Option<i32> {
            self.0.lock().unwrap().status
        }
        fn exit_signal(&self) -> Option<String> {
            self.0.lock().unwrap().signal.clone()
        }
        fn close(&mut self) {
            self.0.lock().unwrap().closed = true;
        }
    }

    /// A session that opens at most `max` channels at once (`MaxSessions`).
    struct FakeSession {
        wires: Mutex<Vec<Shared>>,
        max: usize,
    }

    impl FakeSession {
        fn new(max: usize) -> Self {
            FakeSession {
                wires: Mutex::new(Vec::new()),
                max,
            }
        }
        fn wire(&self, i: usize) -> Shared {
            Arc::clone(&self.wires.lock().unwrap()[i])
        }
        fn opened(&self) -> usize {
            self.wires.lock().unwrap().len()
        }
    }

    impl Sess for FakeSession {
        fn channel(&self) -> Result<Channel, ssh2::Error> {
            let mut wires = self.wires.lock().unwrap();
            if wires.iter().filter(|w| !w.lock().unwrap().closed).count() >= self.max {
                return Err(ssh2::Error::new(
                    ssh2::ErrorCode::Session(-21),
                    "Channel open failure (administratively prohibited)",
                ));
            }
            let w = Shared::default();
            wires.push(Arc::clone(&w));
            Ok(Box::new(FakeChan(w)))
        }
    }

    /// The server's side of one channel: output, then the end.
    fn say(w: &Shared, out: &str, err: &str) {
        let mut w = w.lock().unwrap();
        w.out.extend(out.bytes());
        w.err.extend(err.bytes());
    }

    fn end(w: &Shared, status: Option<i32>, signal: Option<&str>) {
        let mut w = w.lock().unwrap();
        w.eof = true;
        w.closed = true;
        w.status = status;
        w.signal = signal.map(str::to_string);
    }

    fn spec(command: &str, batch: bool) -> Spec {
        Spec {
            command: command.into(),
            timeout: Duration::from_secs(5),
            out_cap: 1 << 10,
            err_cap: 1 << 10,
            stdin: None,
            batch,
            via: None,
        }
    }

    /// Pass until nothing moves; every result so far.
    fn settle(exec: &mut Exec, s: &FakeSession, now: Instant, got: &mut Vec<(usize, Ran)>) -> Status {
        loop {
            let st = exec.pass(s, now, &mut |_| Vec::new(), &mut |i, r| got.push((i, r)));
            if !st.moved || st.finished {
                return st;
            }
        }
    }

    fn finished(r: &Ran) -> (Outcome, String, String) {
        match r {
            Ran::Finished(o, out, err, _) => (o.clone(), out.clone().into_text(), err.clone().into_text()),
            _ => panic!("not finished"),
        }
    }

    #[test]
    fn a_command_alone_its_output_and_exit_status() {
        let s = FakeSession::new(10);
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut exec = Exec::new(vec![spec("exit 3", false)], t0, &mut |i, r| got.push((i, r)));
        settle(&mut exec, &s, t0, &mut got);
        let w = s.wire(0);
        assert_eq!(
            w.lock().unwrap().command.as_deref(),
            Some("echo rolecall:pid=$$ >&2\nexit 3")
        );
        say(&w, "hi\n", "rolecall:pid=42\nwarn\n");
        end(&w, Some(3), None);
        let st = settle(&mut exec, &s, t0, &mut got);
        assert!(st.finished);
        assert_eq!(got.len(), 1);
        assert_eq!(
            finished(&got[0].1),
            (Outcome::Exited(3), "hi\n".into(), "warn\n".into())
        );
    }

    #[test]
    fn eof_without_an_exit_status_is_no_result() {
        let s = FakeSession::new(10);
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut exec = Exec::new(vec![spec("true", false)], t0, &mut |i, r| got.push((i, r)));
        settle(&mut exec, &s, t0, &mut got);
        end(&s.wire(0), None, None);
        settle(&mut exec, &s, t0, &mut got);
        match &got[0].1 {
            Ran::Failed(why) => assert!(why.contains("without an exit status"), "{why}"),
            _ => panic!("a channel closed without a status is not `exit 0`"),
        }
    }

    #[test]
    fn a_refused_channel_at_max_sessions_waits_for_later() {
        let s = FakeSession::new(1);
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut exec = Exec::new(vec![spec("a", false), spec("b", false)], t0, &mut |i, r| {
            got.push((i, r))
        });
        settle(&mut exec, &s, t0, &mut got);
        assert_eq!(s.opened(), 1);
        assert!(matches!(got.as_slice(), [(1, Ran::Later)]), "the second waits");
        // Alone, a refusal is the command's result.
        let s = FakeSession::new(0);
        let mut got = Vec::new();
        let mut exec = Exec::new(vec![spec("a", false)], t0, &mut |i, r| got.push((i, r)));
        settle(&mut exec, &s, t0, &mut got);
        assert!(
            matches!(&got[0].1, Ran::Failed(why) if why.contains("administratively prohibited")),
            "refused alone"
        );
    }

    #[test]
    fn a_timeout_stops_the_command_through_sudo_then_gives_up_on_the_close() {
        let s = FakeSession::new(10);
        let t0 = Instant::now();
        let mut sp = spec("sleep 100", false);
        sp.via = Some(Via {
            user: "root".into(),
            password: None,
        });
        let mut got = Vec::new();
        let mut exec = Exec::new(vec![sp], t0, &mut |i, r| got.push((i, r)));
        settle(&mut exec, &s, t0, &mut got);
        say(&s.wire(0), "", "rolecall:pid=42\n");
        let st = settle(&mut exec, &s, t0, &mut got);
        assert_eq!(st.next, Some(t0 + Duration::from_secs(5)), "due at its deadline");
        // The clock passes the deadline: a second channel stops it, through sudo.
        let t1 = t0 + Duration::from_secs(5);
        settle(&mut exec, &s, t1, &mut got);
        assert!(got.is_empty());
        let stop = s.wire(1);
        let script = stop.lock().unwrap().command.clone().unwrap_or_default();
        assert!(script.contains("sudo -n -u 'root' -- kill"), "{script}");
        assert!(script.contains("K -s TERM -- -42 $t"), "{script}");
        assert!(script.contains("sleep 1; K -s KILL -- -42 $t"), "{script}");
        end(&stop, Some(0), None);
        // The host never closes the command's channel: given up after the grace.
        let st = settle(&mut exec, &s, t1 + Duration::from_secs(1), &mut got);
        assert!(got.is_empty() && !st.finished);
        settle(&mut exec, &s, t1 + STOP_GRACE, &mut got);
        assert_eq!(finished(&got[0].1).0, Outcome::Timeout(Duration::from_secs(5)));
        assert!(s.wire(0).lock().unwrap().closed, "closed on our side");
    }

    #[test]
    fn a_batch_whose_shell_dies_mid_way() {
        let s = FakeSession::new(10);
        let t0 = Instant::now();
        let mut got = Vec::new();
        let specs = vec![spec("echo a", true), spec("sleep 9", true), spec("echo c", true)];
        let mut exec = Exec::new(specs, t0, &mut |i, r| got.push((i, r)));
        settle(&mut exec, &s, t0, &mut got);
        let w = s.wire(0);
        let (command, input) = {
            let w = w.lock().unwrap();
            (w.command.clone(), String::from_utf8_lossy(&w.input).into_owned())
        };
        assert_eq!(command.as_deref(), Some(batch::BATCH_COMMAND));
        let nonce = input
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("_rc_n="))
            .expect("the script names its nonce first")
            .to_string();
        let n = &nonce;
        say(
            &w,
            &format!("{n}:dir:/tmp/rolecall.x\n{n}:go\na\n{n}:end:0:0\n"),
            &format!("{n}:go:77\n{n}:job:0\n{n}:end:0\n{n}:job:1\n"),
        );
        settle(&mut exec, &s, t0, &mut got);
        assert_eq!(got.len(), 1);
        assert_eq!(
            finished(&got[0].1),
            (Outcome::Exited(0), "a\n".into(), String::new())
        );
        // The server closes the channel with the second command running.
        end(&w, Some(255), None);
        settle(&mut exec, &s, t0, &mut got);
        assert!(
            matches!(&got[1], (1, Ran::Failed(why)) if why.contains("ended (exit 255) while this command ran")),
            "the running one has no result"
        );
        assert!(
            matches!(&got[2], (2, Ran::NotRun(why)) if why.contains("before this command started")),
            "the one behind it never ran"
        );
        // The shell did not clean up: its private directory is removed on a second channel.
        let cleanup = s.wire(1).lock().unwrap().command.clone().unwrap_or_default();
        assert!(cleanup.contains("rm -rf -- '/tmp/rolecall.x'"), "{cleanup}");
    }

    #[test]
    fn an_interrupt_sends_nothing_more_and_stops_what_runs() {
        let s = FakeSession::new(10);
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut exec = Exec::new(vec![spec("sleep 100", false)], t0, &mut |i, r| got.push((i, r)));
        settle(&mut exec, &s, t0, &mut got);
        say(&s.wire(0), "", "rolecall:pid=42\n");
        settle(&mut exec, &s, t0, &mut got);
        exec.interrupt();
        let t1 = t0 + Duration::from_millis(10);
        settle(&mut exec, &s, t1, &mut got);
        let script = s.wire(1).lock().unwrap().command.clone().unwrap_or_default();
        assert!(script.contains("K -s TERM -- -42"), "{script}");
        end(&s.wire(0), None, Some("TERM"));
        settle(&mut exec, &s, t1, &mut got);
        assert!(
            matches!(finished(&got[0].1).0, Outcome::Timeout(_)),
            "stopped, as on a timeout"
        );
    }
}
