//! Running commands through `sudo` (`--become`, `become:`), and telling sudo's own failures
//! ("needs a password", "not in sudoers", "not installed", wrong password) apart from the
//! command's.
//!
//! The command runs as `sudo -n -u USER -- sh -c '...'`. With a password, the remote shell
//! reads it from the first line of stdin (never argv, never a file) and gives it to `sudo -S`
//! only if sudo asks for one; the command's own stdin follows. The inner shell first writes a
//! marker line to stderr: without it, sudo stopped before the command started, and sudo's
//! message says why. The marker (and anything sudo printed before it) is taken out of stderr.

use super::{shell_quote as quote, Outcome};

/// Written to stderr by the shell sudo starts, before the command.
pub const MARKER: &str = "rolecall:became";

/// Environment variable holding the sudo password (never a flag: argv is visible to all).
pub const PASSWORD_ENV: &str = "ROLECALL_BECOME_PASSWORD";

/// The shell text that runs `command` as `user` through sudo; `with_password`: the password
/// is the first line of stdin.
pub fn wrap(command: &str, user: &str, with_password: bool) -> String {
    let script = quote(&format!("echo {MARKER} >&2\n{command}"));
    let user = quote(user);
    if !with_password {
        return format!("exec sudo -n -u {user} -- sh -c {script}");
    }
    format!(
        "IFS= read -r rolecall_pw\n\
         if sudo -n -u {user} true 2>/dev/null; then\n  unset rolecall_pw\n  exec sudo -n -u {user} -- sh -c {script}\n\
         else\n  {{ printf '%s\\n' \"$rolecall_pw\"; unset rolecall_pw; exec cat; }} | sudo -S -k -p '' -u {user} -- sh -c {script}\nfi"
    )
}

/// The command's stderr without sudo's part, or why sudo did not run the command.
/// `login` and `user` name the users for the message.
pub fn settle(outcome: &Outcome, stderr: &str, login: &str, user: &str) -> Result<String, Outcome> {
    let line = format!("{MARKER}\n");
    if let Some(at) = stderr.find(&line) {
        return Ok(stderr[at + line.len()..].to_string());
    }
    let Outcome::Exited(code) = outcome else {
        // Timed out, lost, killed: the outcome says what happened.
        return Ok(stderr.to_string());
    };
    if *code == 0 {
        // A host that answers through a ForceCommand, say: nothing to take out.
        return Ok(stderr.to_string());
    }
    let lower = stderr.to_ascii_lowercase();
    let first = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    let why = if *code == 127 && (lower.contains("not found") || lower.contains("no such file")) {
        "sudo is not installed on this host (or not on the PATH)".to_string()
    } else if lower.contains("a password is required") || lower.contains("a terminal is required") {
        format!(
            "sudo needs a password for {login} (or {login} may not use sudo: sudo does not say \
             which before a password): set {PASSWORD_ENV} or use --ask-become-pass"
        )
    } else if lower.contains("incorrect password")
        || lower.contains("sorry, try again")
        || lower.contains("no password was provided")
    {
        format!("sudo did not accept the password for {login} (from {PASSWORD_ENV} or the prompt)")
    } else if lower.contains("not in the sudoers") || lower.contains("may not run sudo") {
        format!("{login} is not in sudoers on this host, so cannot run commands as {user}")
    } else if lower.contains("is not allowed to execute") || lower.contains("not allowed to run") {
        format!("sudoers does not allow {login} to run commands as {user}")
    } else if lower.contains("unknown user") {
        format!("sudo: there is no user {user} on this host")
    } else {
        format!("sudo failed before running the command: {first}")
    };
    Err(Outcome::BecomeFailed(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_commands_are_valid_shell() {
        for pw in [false, true] {
            let text = wrap("echo 'it''s' \"$HOME\" | wc -c", "o'brien", pw);
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &text])
                .status()
                .expect("sh");
            assert!(st.success(), "{text}");
            assert!(!text.contains("s3cret"));
        }
    }

    #[test]
    fn sudo_failures_are_told_apart() {
        let fail = Outcome::Exited(1);
        let why = |o: &Outcome, err: &str| match settle(o, err, "ops", "root") {
            Err(Outcome::BecomeFailed(w)) => w,
            other => panic!("{other:?}"),
        };
        assert!(why(&fail, "sudo: a password is required\n").contains("needs a password for ops"));
        assert!(why(
            &fail,
            "ops is not in the sudoers file.  This incident will be reported.\n"
        )
        .contains("not in sudoers"));
        assert!(why(&fail, "sudo: 1 incorrect password attempt\n").contains("did not accept the password"));
        assert!(why(&Outcome::Exited(127), "sh: 1: sudo: not found\n").contains("not installed"));
        // The command's own failure, after the marker, is the command's.
        let own = settle(&fail, "lecture\nrolecall:became\nboom\n", "ops", "root");
        assert_eq!(own, Ok("boom\n".to_string()));
        assert_eq!(
            settle(&Outcome::Exited(0), "x\n", "ops", "root"),
            Ok("x\n".into())
        );
    }
}
