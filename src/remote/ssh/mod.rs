//! The SSH executor (ssh2/libssh2).
//!
//! - One session per host, opened by the first command for that host and reused by every
//!   later command of every plugin in the run. A host whose connection failed answers every
//!   later command at once with the same outcome (no second wait for a dead host).
//! - An event-driven `engine`: a few driver threads each drive the non-blocking sessions of
//!   their share of the hosts from one `poll(2)` loop, so a host that waits (connect, handshake,
//!   a silent server, a hung command) costs a socket and a deadline, not a thread. `--forks`
//!   bounds the hosts with work in flight.
//! - Work is queued per host; what is queued together (by different plugins) shares one
//!   channel and one remote shell (`batch`), the rest get a channel each (`exec`). Each
//!   command's result goes back as soon as it has one.
//! - Timeouts: TCP connect per resolved address; handshake + authentication; each command
//!   (stopped on the host, result `timeout`: `stop`); an optional deadline for the whole run.
//!   Connection-level failures that may be transient (refused, reset, closed during key
//!   exchange) are retried with backoff; nothing else is (`connect`).
//! - [`SshExecutor::interrupt`] stops a run: nothing more is sent, what runs is stopped as on
//!   its timeout.
//!
//! Layers, one way (no module imports one that imports it): this module (the executor) uses
//! `engine`, which drives `connect` (using `auth`, `jump`, `proxy`) and `exec` (using `batch`
//! and `running`, both using `stop`), and turns work into specs and answers with `work`. Below
//! them all: `shared` (the run's settings and state), `session`, `recv` and `codes`.

mod auth;
mod batch;
mod chan;
mod codes;
mod connect;
mod engine;
mod exec;
mod jump;
mod proxy;
mod recv;
mod running;
mod session;
mod shared;
mod stop;
mod work;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use self::codes::lock;
use self::shared::{Hubs, Shared, PLAN_WAIT};
pub use self::shared::{PasswordPrompt, SshConfig};
use self::work::{Job, Reply, Work};
use super::known_hosts::KnownHosts;
use super::settings::HostSettings;
use super::{Executor, HostResult, Outcome};
use crate::deployment::HostKeyChecking;

/// Handshakes in progress at once, per core of this machine.
const HANDSHAKES_PER_CORE: usize = 32;

/// Runs commands over SSH; see the module docs.
pub struct SshExecutor {
    shared: Arc<Shared>,
    drivers: Vec<engine::DriverHandle>,
    /// Which driver owns each host.
    owner: HashMap<String, usize>,
}

impl std::fmt::Debug for SshExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshExecutor")
            .field("hosts", &self.shared.targets.len())
            .field("drivers", &self.drivers.len())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl SshExecutor {
    /// An executor for `hosts` (each host's settings, jump hosts included). Reads the
    /// known_hosts files now, so a bad file is an error before anything connects.
    pub fn new(hosts: Vec<HostSettings>, config: SshConfig) -> anyhow::Result<Self> {
        let mut known = HashMap::new();
        for h in hosts.iter().flat_map(|h| std::iter::once(h).chain(&h.jump.value)) {
            if h.host_key_checking.value == HostKeyChecking::Off {
                continue;
            }
            let files = h.known_hosts_files();
            if let std::collections::hash_map::Entry::Vacant(e) = known.entry(files) {
                let k = KnownHosts::load(e.key())?;
                e.insert(Mutex::new(k));
            }
        }
        engine::raise_open_files_limit();
        let count = engine::drivers_for(hosts.len(), config.forks);
        let owner = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), i % count))
            .collect();
        let targets = hosts
            .into_iter()
            .map(|target| (target.name.clone(), Arc::new(target)))
            .collect();
        let shared = Arc::new(Shared {
            config,
            targets,
            interrupted: AtomicBool::new(false),
            handshakes: Arc::default(),
            handshake_places: HANDSHAKES_PER_CORE
                * std::thread::available_parallelism().map_or(2, usize::from),
            plan: Mutex::new((0, None)),
            known,
            password: OnceLock::new(),
            hubs: Mutex::new(Hubs::default()),
        });
        let drivers = (0..count)
            .map(|i| engine::start(Arc::clone(&shared), i, count))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            shared,
            drivers,
            owner,
        })
    }

    /// Stop the run: nothing more is sent; what runs is stopped on its host as a timeout
    /// stops it (through sudo where it runs through sudo), and answers `interrupted`.
    pub fn interrupt(&self) {
        self.shared.interrupted.store(true, Ordering::SeqCst);
        for d in &self.drivers {
            d.send(engine::Event::Interrupt);
        }
    }

    /// Queue `job` for `host`; false when the host is not part of this run.
    fn submit(&self, host: &str, job: Job) -> Result<(), Job> {
        let Some(&i) = self.owner.get(host) else {
            return Err(job);
        };
        // A driver cannot be gone while this executor lives; were it, the job's dropped reply
        // would end the wait for it.
        self.drivers[i].send(engine::Event::Job(host.to_string(), job));
        Ok(())
    }

    fn dispatch(
        &self,
        work: impl Fn() -> Work,
        hosts: &[String],
        queued: Option<&(dyn Fn() + Sync)>,
        each: &mut dyn FnMut(usize, Reply),
    ) {
        let (tx, rx) = mpsc::channel();
        let mut pending = 0usize;
        for (index, host) in hosts.iter().enumerate() {
            let job = Job {
                work: work(),
                index,
                reply: tx.clone(),
            };
            match self.submit(host, job) {
                Ok(()) => pending += 1,
                Err(_) => {
                    let why = Outcome::Error(format!("`{host}` is not one of this run's hosts"));
                    each(index, Reply::Run(HostResult::failed(host, why)));
                }
            }
        }
        drop(tx);
        if let Some(queued) = queued {
            queued();
        }
        while pending > 0 {
            // Every job is answered exactly once (a panic while working on a host answers the
            // jobs in hand), so this ends; a dropped job ends it too.
            let Ok((index, reply)) = rx.recv() else {
                break;
            };
            pending -= 1;
            each(index, reply);
        }
    }
}

impl Drop for SshExecutor {
    /// The drivers end once their work is done (none is left: every `submit` has returned),
    /// closing every session; they hold a sender of their own, so they must be told.
    fn drop(&mut self) {
        for d in &self.drivers {
            d.send(engine::Event::Shutdown);
        }
    }
}

impl Executor for SshExecutor {
    fn submit(&self, job: super::Job<'_>, each: &mut dyn FnMut(&HostResult)) -> Vec<HostResult> {
        let hosts = job.hosts;
        let command: Arc<str> = job.command.into();
        let sudo_user: Option<Arc<str>> = job.sudo.map(Into::into);
        let mut out: Vec<Option<HostResult>> = vec![None; hosts.len()];
        let work = || Work::Run(Arc::clone(&command), sudo_user.clone());
        self.dispatch(work, hosts, job.queued, &mut |index, reply| {
            if let Reply::Run(r) = reply {
                each(&r);
                out[index] = Some(r);
            }
        });
        out.into_iter()
            .zip(hosts)
            .map(|(r, h)| {
                r.unwrap_or_else(|| HostResult::failed(h, Outcome::Error("internal error: no result".into())))
            })
            .collect()
    }

    fn fetch(&self, host: &str, path: &str) -> Result<Vec<u8>, super::FetchError> {
        let mut out = Err(super::FetchError::NotAHost(host.to_string()));
        self.dispatch(
            || Work::Fetch(path.to_string()),
            &[host.to_string()],
            None,
            &mut |_, reply| {
                if let Reply::Fetch(r) = reply {
                    out = r;
                }
            },
        );
        out
    }

    fn interrupt(&self) {
        SshExecutor::interrupt(self);
    }

    fn plan(&self, parties: usize) {
        *lock(&self.shared.plan) = (parties, (parties > 0).then(|| Instant::now() + PLAN_WAIT));
    }

    fn arrive(&self) {
        let open = {
            let mut plan = lock(&self.shared.plan);
            plan.0 = plan.0.saturating_sub(1);
            plan.0 == 0 && plan.1.take().is_some()
        };
        if open {
            for d in &self.drivers {
                d.send(engine::Event::Poke);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{shell_quote, AllowList};
    use std::time::Duration;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/var/log/a b"), "'/var/log/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn refused_targets_are_never_contacted() {
        let config = SshConfig {
            allow: AllowList::parse(&["127.0.0.0/8"]).unwrap(),
            ..SshConfig::default()
        };
        let ep = crate::remote::Endpoint {
            address: "10.1.2.3".into(),
            port: 22,
            user: "u".into(),
        };
        let mut target = HostSettings::direct("far", ep);
        target.host_key_checking.value = HostKeyChecking::Off;
        let ex = SshExecutor::new(vec![target], config).unwrap();
        let start = Instant::now();
        let r = ex.run("true", &["far".into(), "nope".into()]);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(r[0].outcome.name(), "refused", "{r:?}");
        assert!(r[0]
            .outcome
            .describe()
            .contains("10.1.2.3 is outside the allowed networks"));
        assert!(r[1].outcome.describe().contains("not one of this run's hosts"));
    }
}
