//! Stopping what a timeout (or an interrupt) ends on the host: a second channel of the same
//! session runs a short script that sends TERM, then KILL a second later, to the process groups
//! and trees rolecall started, and removes a batch's private directory a killed shell left.
//! A command run through sudo is stopped through sudo as the same user (its processes are not
//! the login user's to signal); the trees are still listed as the login user, from records
//! only rolecall's own shells wrote.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chan::{Channel, Sess};
use super::codes::{code, LIBSSH2_ERROR_EAGAIN};
use crate::remote::shell_quote;

/// After a timeout: how long the host gets to end the command and close its channel.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);

/// Through `sudo` as `user` (with the become password on the stop script's stdin, when sudo
/// asks for one): how a command was run, hence how it is stopped.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Via {
    pub(super) user: Arc<str>,
    pub(super) password: Option<Arc<str>>,
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Via")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// What a timeout stops on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kill {
    /// A process group: a command sent alone (sshd makes its shell a group leader), or a
    /// batch's shell.
    Group(u32),
    /// Command `k` of the batch whose private directory is `dir`, and its descendants: the
    /// process is the one the batch shell recorded there, never a number read from output.
    Job { dir: String, k: usize },
    /// A batch's private directory, left by a shell that did not get to remove it.
    Remove(String),
}

/// What a timeout sends on a second channel: TERM to each process group and to every process
/// of the trees below the recorded jobs (and below the groups' leaders, through sudo), KILL a
/// second later (through sudo as `via` says). The trees are listed once, before the TERM (`ps` and `awk`, both POSIX);
/// a job's root is read from the batch shell's record (a number, else nothing).
pub(super) fn stop_script(kills: &[Kill], via: Option<&Via>) -> String {
    let mut groups = String::new();
    let mut records = String::new();
    let mut removes = String::new();
    for k in kills {
        match k {
            Kill::Group(p) => {
                groups.push_str(&format!(" -{p}"));
                // Through sudo, the command may run in a session of its own (sudo's
                // `use_pty`), outside the group: its tree goes too.
                if via.is_some() {
                    records.push_str(&format!("r=\"$r {p}\"; "));
                }
            }
            Kill::Job { dir, k } => records.push_str(&format!(
                "p=; read -r p <{} 2>/dev/null; case $p in ''|*[!0-9]*) ;; *) r=\"$r $p\";; esac; ",
                shell_quote(&format!("{dir}/j{k}"))
            )),
            Kill::Remove(dir) => removes.push_str(&format!(" {}", shell_quote(dir))),
        }
    }
    let mut script = String::new();
    let mut targets = groups;
    if let Some(via) = via {
        let user = shell_quote(&via.user);
        if via.password.is_some() {
            // The password is the first line of stdin: in no argv, in no environment.
            script.push_str(&format!(
                "IFS= read -r _rc_pw; K() {{ printf '%s\\n' \"$_rc_pw\" | sudo -S -p '' -u {user} -- kill \"$@\"; }}; "
            ));
        } else {
            script.push_str(&format!("K() {{ sudo -n -u {user} -- kill \"$@\"; }}; "));
        }
    } else {
        script.push_str("K() { kill \"$@\"; }; ");
    }
    if !records.is_empty() {
        script.push_str("r=; ");
        script.push_str(&records);
        script.push_str(&format!(
            "t=; [ -n \"$r\" ] && t=$(ps -A -o pid= -o ppid= | awk -v r=\"$r\" '{TREE_AWK}'); "
        ));
        targets.push_str(" $t");
    }
    if !targets.trim().is_empty() {
        script.push_str(&format!(
            "K -s TERM --{targets} 2>/dev/null; sleep 1; K -s KILL --{targets} 2>/dev/null; "
        ));
    }
    if !removes.is_empty() {
        script.push_str(&format!("rm -rf --{removes}; "));
    }
    script.push_str("true");
    script
}

/// Prints the pids given in `r` and all their descendants, from `ps`'s `PID PPID` lines.
const TREE_AWK: &str =
    "BEGIN{n=split(r,a,\" \");for(i=1;i<=n;i++)if(a[i]!=\"\")k[a[i]]=1} {p[NR]=$1;q[NR]=$2} \
END{do{c=0;for(i=1;i<=NR;i++)if(!(p[i] in k)&&(q[i] in k)){k[p[i]]=1;c=1}}while(c);for(x in k)print x}";

/// Where the channel that stops timed-out commands stands.
#[derive(Default)]
enum StopState {
    #[default]
    None,
    Opening(String, Vec<u8>),
    Starting(Channel, String, Vec<u8>),
    /// Sending the stop script's stdin (a sudo password), from this offset; then EOF.
    Feeding(Channel, Vec<u8>, usize),
    Running(Channel),
}

/// The second channel that ends timed-out commands' processes: one at a time, taking every
/// kill queued meanwhile that runs as the same user (a batch's commands usually time out
/// together).
#[derive(Default)]
pub(super) struct Stopper {
    queued: Vec<(Kill, Option<Via>)>,
    state: StopState,
    /// Past this, an unfinished stopper is abandoned (the server would not open a channel).
    give_up: Option<Instant>,
}

impl Stopper {
    /// Stop `kill` on the host, through sudo as `via` says.
    pub(super) fn stop(&mut self, kill: Kill, via: Option<&Via>, now: Instant) {
        self.queued.push((kill, via.cloned()));
        self.give_up = Some(now + STOP_GRACE);
    }

    pub(super) fn busy(&self) -> bool {
        !self.queued.is_empty() || !matches!(self.state, StopState::None)
    }

    /// The script (and its stdin) for the queued kills that run as the first one's user.
    fn take_script(&mut self) -> (String, Vec<u8>) {
        let via = self.queued.first().and_then(|(_, v)| v.clone());
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queued)
            .into_iter()
            .partition(|(_, v)| *v == via);
        self.queued = later;
        let kills: Vec<Kill> = now.into_iter().map(|(k, _)| k).collect();
        let input = via
            .as_ref()
            .and_then(|v| v.password.as_ref())
            .map(|pw| format!("{pw}\n").into_bytes())
            .unwrap_or_default();
        (stop_script(&kills, via.as_ref()), input)
    }

    /// Advance without blocking; true when something moved. A server that will not open
    /// another channel now (`MaxSessions`) is asked again on the next pass.
    pub(super) fn step(&mut self, session: &dyn Sess, buf: &mut [u8], now: Instant) -> bool {
        if self.give_up.is_some_and(|t| now >= t) && self.busy() {
            *self = Stopper::default();
            return true;
        }
        let eagain = |e: &ssh2::Error| code(e) == LIBSSH2_ERROR_EAGAIN;
        match std::mem::take(&mut self.state) {
            StopState::None if self.queued.is_empty() => false,
            StopState::None => {
                let (script, input) = self.take_script();
                self.state = StopState::Opening(script, input);
                true
            }
            StopState::Opening(script, input) => match session.channel() {
                Ok(ch) => {
                    self.state = StopState::Starting(ch, script, input);
                    true
                }
                Err(_) => {
                    self.state = StopState::Opening(script, input);
                    false
                }
            },
            StopState::Starting(mut ch, script, input) => match ch.exec(&script) {
                Ok(()) => {
                    self.state = StopState::Feeding(ch, input, 0);
                    true
                }
                Err(e) if eagain(&e) => {
                    self.state = StopState::Starting(ch, script, input);
                    false
                }
                Err(_) => true,
            },
            StopState::Feeding(mut ch, input, at) if at < input.len() => match ch.write(&input[at..]) {
                Ok(n) => {
                    self.state = StopState::Feeding(ch, input, at + n);
                    n > 0
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.state = StopState::Feeding(ch, input, at);
                    false
                }
                Err(_) => true,
            },
            StopState::Feeding(mut ch, input, at) => match ch.send_eof() {
                Err(e) if eagain(&e) => {
                    self.state = StopState::Feeding(ch, input, at);
                    false
                }
                _ => {
                    self.state = StopState::Running(ch);
                    true
                }
            },
            StopState::Running(mut ch) => {
                let mut moved = false;
                for stream in [0, 1] {
                    loop {
                        let r = ch.read(stream == 1, buf);
                        match r {
                            Ok(n) if n > 0 => moved = true,
                            _ => break,
                        }
                    }
                }
                match ch.wait_close() {
                    Err(e) if eagain(&e) => {
                        self.state = StopState::Running(ch);
                        moved
                    }
                    // Closed (or failed): done with this one.
                    _ => true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_their_trees_are_stopped() {
        let s = stop_script(&[Kill::Group(12), Kill::Group(34)], None);
        assert_eq!(
            s,
            "K() { kill \"$@\"; }; K -s TERM -- -12 -34 2>/dev/null; sleep 1; K -s KILL -- -12 -34 2>/dev/null; true"
        );
        let via = Via {
            user: "root".into(),
            password: None,
        };
        let s = stop_script(&[Kill::Group(12)], Some(&via));
        assert!(
            s.starts_with("K() { sudo -n -u 'root' -- kill \"$@\"; }; r=; r=\"$r 12\"; t=;"),
            "{s}"
        );
        assert!(s.contains("K -s TERM -- -12 $t 2>/dev/null"), "{s}");
        let via = Via {
            user: "root".into(),
            password: Some("pw".into()),
        };
        let s = stop_script(&[Kill::Group(12)], Some(&via));
        assert!(s.starts_with("IFS= read -r _rc_pw; K() {"), "{s}");
        assert!(!s.contains("pw'"), "the password is never in the script: {s}");
    }

    /// The script in a real shell: a process that ignores TERM is gone after it, with its child.
    #[test]
    fn a_process_that_ignores_term_is_killed() {
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg("trap '' TERM; sleep 30 & wait")
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let pid = child.id();
        let st = Command::new("/bin/sh")
            .arg("-c")
            .arg(stop_script(&[Kill::Group(pid)], None))
            .status()
            .unwrap();
        assert!(st.success());
        let waited = child.wait().unwrap();
        assert!(!waited.success());
    }
}
