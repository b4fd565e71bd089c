//! The process groups of the live plugin hosts, killed when rolecall itself is told to stop.
//!
//! Each plugin host runs in a process group of its own (so a grandchild a plugin forks goes with
//! it, and a terminal's Ctrl-C reaches it only through rolecall). When rolecall gets SIGINT,
//! SIGTERM or SIGHUP, a signal handler kills every group recorded here with SIGKILL, then lets
//! the signal do what it would have done (the default action), so rolecall's exit status still
//! says which signal ended it. Only groups rolecall started are ever recorded. While a run is
//! armed to be interrupted ([`crate::interrupt`]), the first such signal only stops the run.

#![allow(unsafe_code)] // sigaction(2) and the async-signal-safe handler

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

/// Plugin hosts alive at once: one per plugin run in parallel plus the loads; more than this
/// many are still killed by their deadlines and at their end, just not by the signal handler.
const SLOTS: usize = 256;

#[allow(clippy::declare_interior_mutable_const)] // the initialiser of the array below
const EMPTY: AtomicI32 = AtomicI32::new(0);
static GROUPS: [AtomicI32; SLOTS] = [EMPTY; SLOTS];
static INSTALL: Once = Once::new();

/// The signals that stop rolecall and take its plugin hosts with it.
const STOPS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// A recorded group; removed from the record when dropped.
#[derive(Debug)]
pub struct Recorded(Option<usize>);

/// Record process group `pgid` (a plugin host rolecall just started) until the returned guard
/// is dropped, installing the signal handler on first use.
pub fn record(pgid: i32) -> Recorded {
    INSTALL.call_once(install);
    for (i, slot) in GROUPS.iter().enumerate() {
        if slot
            .compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Recorded(Some(i));
        }
    }
    Recorded(None)
}

impl Drop for Recorded {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            GROUPS[i].store(0, Ordering::SeqCst);
        }
    }
}

/// Install the signal handler now (a run that starts no plugin host may still be stopped).
pub(crate) fn install_handler() {
    INSTALL.call_once(install);
}

fn install() {
    for sig in STOPS {
        // SAFETY: `sigaction` with a zeroed struct, an empty mask and a handler that only calls
        // async-signal-safe functions (kill, signal, raise) and reads atomics. A signal that was
        // ignored when rolecall started (`nohup`) stays ignored.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut act.sa_mask);
            act.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

extern "C" fn on_stop(sig: libc::c_int) {
    // The first signal of an armed run stops it in order (crate::interrupt).
    if crate::interrupt::on_signal() {
        return;
    }
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: async-signal-safe; `pgid` is a group rolecall started and still records.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
    // SAFETY: async-signal-safe; back to the default action, then the signal again, so the
    // process ends the way it would have without this handler.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}
