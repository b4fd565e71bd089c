//! What every generic debugger shares: finding the roles that expect something, and turning a
//! command that did not run into a result.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{CommandResult, Context};

/// A role that sets `expect.<key>`: its name, hosts and that value.
#[derive(Debug)]
pub struct Expecting {
    pub role: String,
    pub hosts: Vec<String>,
    pub value: Value,
}

/// Roles with `expect.<key>` set (the derived `all` included if it has one), in file order.
pub fn expecting(ctx: &Context<'_>, key: &str) -> Vec<Expecting> {
    ctx.roles()
        .iter()
        .filter_map(|r| {
            let v = r.expect.get(key)?;
            (!v.is_null()).then(|| Expecting {
                role: r.name.clone(),
                hosts: r.hosts.clone(),
                value: v.clone(),
            })
        })
        .collect()
}

/// Run `command` on `hosts` (names).
pub fn run(
    ctx: &mut Context<'_>,
    command: &str,
    hosts: &[String],
) -> rolecall_plugin::Result<Vec<CommandResult>> {
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    ctx.run(command, &names)
}

/// When `r` did not run to an exit code: report an error for its host and return true.
pub fn not_run(ctx: &mut Context<'_>, check: &str, r: &CommandResult) -> bool {
    if r.outcome == "ok" {
        return false;
    }
    let why = r.error.clone().unwrap_or_default();
    let msg = match r.outcome.as_str() {
        "signal" => format!(
            "the command was killed by signal {}",
            r.signal.clone().unwrap_or_default()
        ),
        "dry-run" => "not run (dry run)".to_string(),
        o => format!("{o}: {why}"),
    };
    ctx.error(check, msg).host(&r.host);
    true
}

/// Single-quote for a POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A number from a YAML value (integer or float).
pub fn number(v: &Value) -> Option<f64> {
    v.as_f64()
}
