//! Child processes rolecall starts in a process group of their own (plugin hosts,
//! `ProxyCommand`s, `Match exec` commands): ended with everything they started.
#![allow(unsafe_code)] // one kill(2)

use std::process::Child;

/// Kill `c`'s whole process group with SIGKILL, then `c` itself. `c` must have been spawned
/// with `process_group(0)` (it leads its group) and not be reaped yet, or reaped just before
/// under the caller's lock, so the group can be no one else's.
pub(crate) fn kill_group(c: &mut Child) {
    if let Ok(pgid) = i32::try_from(c.id()) {
        // SAFETY: plain syscall; per this function's contract the group is the one the
        // caller created for `c`.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = c.kill();
}
