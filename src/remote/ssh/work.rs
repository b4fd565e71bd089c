//! One piece of work for one host ([`Job`]), how it is sent ([`spec`]) and what its answer is
//! ([`reply`]): the command text through sudo as the plugin or the host says, and sudo's own
//! failures told apart from the command's.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::running::{Ran, Spec};
use super::shared::{Shared, SshConfig, FETCH_CAP};
use super::stop::Via;
use crate::remote::settings::HostSettings;
use crate::remote::{shell_quote, FetchError, HostResult, Outcome, RawOutput};

#[derive(Clone)]
pub(super) enum Work {
    /// A command, through sudo as this user if given (else as the host's settings say).
    Run(Arc<str>, Option<Arc<str>>),
    Fetch(String),
}

pub(super) enum Reply {
    Run(HostResult),
    Fetch(Result<Vec<u8>, FetchError>),
}

impl Reply {
    /// `work` did not run on `host`: `o` says why.
    pub(super) fn failed(work: &Work, host: &str, o: Outcome) -> Reply {
        match work {
            Work::Run(..) => Reply::Run(HostResult::failed(host, o)),
            Work::Fetch(_) => Reply::Fetch(Err(FetchError::NotRun(o))),
        }
    }

    /// The run was interrupted: what it stopped (or never sent) says so.
    pub(super) fn interrupted(&mut self) {
        if let Reply::Run(r) = self {
            if matches!(
                r.outcome,
                Outcome::Timeout(_) | Outcome::NotRun(_) | Outcome::Cancelled
            ) {
                r.outcome = Outcome::Interrupted;
            }
        }
    }
}

/// One piece of work for one host, and where its answer goes.
pub(super) struct Job {
    pub(super) work: Work,
    pub(super) index: usize,
    pub(super) reply: mpsc::Sender<(usize, Reply)>,
}

impl Job {
    pub(super) fn answer(self, reply: Reply) {
        let _ = self.reply.send((self.index, reply));
    }

    /// The job did not run on `host`: `o` says why.
    pub(super) fn fail(self, host: &str, o: Outcome) {
        let reply = Reply::failed(&self.work, host, o);
        self.answer(reply);
    }
}

/// Through sudo as this user, for `work` on `target`: the plugin's ask, else the host's setting.
pub(super) fn sudo_of(target: &HostSettings, work: &Work) -> Option<Arc<str>> {
    match work {
        Work::Run(_, Some(user)) => Some(Arc::clone(user)),
        Work::Run(_, None) => target.sudo.value.as_ref().map(|b| b.user.as_str().into()),
        Work::Fetch(_) => None,
    }
}

/// What became of `work` on `host`, from how it ran.
pub(super) fn reply(
    shared: &Shared,
    host: &str,
    target: &HostSettings,
    w: &Work,
    ran: Ran,
    start: Instant,
) -> Reply {
    let sudo = sudo_of(target, w);
    match ran {
        Ran::Later => Reply::failed(w, host, Outcome::Error("internal error: not run".into())),
        Ran::Lost(why, out, err) => match w {
            Work::Run(..) => {
                let ((stdout, raw_out), (stderr, raw_err)) = (out.into_parts(), err.into_parts());
                Reply::Run(HostResult {
                    host: host.to_string(),
                    outcome: Outcome::Lost(why),
                    stdout,
                    stderr,
                    duration: start.elapsed(),
                    round_trip: None,
                    raw: RawOutput {
                        stdout: raw_out,
                        stderr: raw_err,
                    },
                })
            }
            Work::Fetch(_) => Reply::failed(w, host, Outcome::Lost(why)),
        },
        Ran::Failed(why) => Reply::failed(w, host, Outcome::Error(why)),
        Ran::NotRun(why) => Reply::failed(w, host, Outcome::NotRun(why)),
        Ran::Finished(outcome, out, err, round_trip) => match w {
            Work::Run(..) => {
                let ((stdout, raw_out), (stderr, raw_err)) = (out.into_parts(), err.into_parts());
                let mut result = HostResult {
                    host: host.to_string(),
                    outcome,
                    stdout,
                    stderr,
                    duration: start.elapsed(),
                    round_trip,
                    raw: RawOutput {
                        stdout: raw_out,
                        stderr: raw_err,
                    },
                };
                if let Some(user) = sudo.as_deref() {
                    let login = &target.user.value;
                    match crate::remote::sudo::settle(&result.outcome, &result.stderr, login, user) {
                        Ok(stderr) => {
                            if stderr != result.stderr {
                                // sudo's own lines were taken out of the text: the bytes no
                                // longer match it.
                                result.raw.stderr = None;
                            }
                            result.stderr = stderr;
                        }
                        Err(o) => result.outcome = o,
                    }
                }
                let _ = shared;
                Reply::Run(result)
            }
            Work::Fetch(path) => Reply::Fetch(match outcome {
                Outcome::Exited(0) if out.total() <= FETCH_CAP as u64 => Ok(out.into_bytes()),
                Outcome::Exited(0) => Err(FetchError::TooLarge {
                    path: path.clone(),
                    size: out.total(),
                    cap: FETCH_CAP,
                }),
                outcome => {
                    let text = err.into_text();
                    Err(FetchError::Failed {
                        outcome,
                        stderr: text.lines().next().unwrap_or_default().to_string(),
                    })
                }
            }),
        },
    }
}

/// How `w` is sent to `target`: its text (through sudo as the plugin or the host says),
/// timeout, caps and stdin. A command may share a channel with others when it reads nothing
/// from stdin (`run --stdin`, a sudo password) and `batching` allows.
pub(super) fn spec(
    config: &SshConfig,
    target: &HostSettings,
    w: &Work,
    timeout: Duration,
    batching: bool,
) -> Spec {
    match w {
        Work::Run(command, _) => {
            let sudo = sudo_of(target, w);
            let via = sudo.as_ref().map(|user| Via {
                user: Arc::clone(user),
                password: config.become_password.as_deref().map(Into::into),
            });
            let (command, stdin) = match (sudo.as_deref(), &config.become_password) {
                (None, _) => (command.to_string(), config.stdin.clone()),
                (Some(user), None) => (
                    crate::remote::sudo::wrap(command, user, false),
                    config.stdin.clone(),
                ),
                (Some(user), Some(pw)) => {
                    let mut bytes = Vec::with_capacity(pw.len() + 1);
                    bytes.extend_from_slice(pw.as_bytes());
                    bytes.push(b'\n');
                    bytes.extend_from_slice(config.stdin.as_deref().unwrap_or_default());
                    (crate::remote::sudo::wrap(command, user, true), Some(bytes.into()))
                }
            };
            Spec {
                command,
                timeout,
                out_cap: config.max_output,
                err_cap: config.max_output,
                batch: batching && stdin.is_none(),
                stdin,
                via,
            }
        }
        Work::Fetch(path) => Spec {
            command: format!("cat -- {}", shell_quote(path)),
            timeout,
            out_cap: FETCH_CAP,
            err_cap: 64 << 10,
            stdin: None,
            batch: false,
            via: None,
        },
    }
}
