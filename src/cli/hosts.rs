//! `rolecall hosts [PATTERN..]`: how each host will be reached, and why (the source of every
//! value: flag, host entry, role, `ssh:` defaults, ssh_config file:line, or built in).

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
use rolecall::remote::settings::{HostSettings, Sourced};
use rolecall::report::safe::escape;
use rolecall::report::Printer;
use serde_json::{json, Value};

use super::connect::ConnectArgs;
use super::{DeploymentArgs, ListFormat};

#[derive(Debug, Args)]
pub struct HostsArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Host patterns (as for --limit); every host when none are given
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: HostsArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let HostsArgs {
        deployment: super::DeploymentArgs { config, profile },
        patterns,
        format,
        connect,
    } = args;
    let d = super::load_deployment(&config, profile, printer)?;
    let hosts = if patterns.is_empty() {
        d.hosts.keys().cloned().collect()
    } else {
        let selected = rolecall::run::pattern::select_pattern(&d, &patterns).map_err(anyhow::Error::msg)?;
        for w in &selected.warnings {
            printer.warn(w);
        }
        if printer.verbose() > 0 {
            for e in &selected.extensions {
                printer.note(e);
            }
        }
        selected.hosts
    };
    let (reach, _) = connect.into_reach()?;
    let (settings, warnings, notes) = reach.resolve_noting(&d, &hosts);
    if printer.verbose() >= 2 {
        for n in &notes {
            printer.note(n);
        }
    }
    for w in &warnings {
        printer.warn(w);
    }
    let text = match format {
        ListFormat::Table => table(&settings),
        ListFormat::Json => {
            let doc: Vec<Value> = settings.iter().map(to_json).collect();
            let doc = json!({ "schema_version": rolecall::results::SCHEMA_VERSION, "hosts": doc });
            let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    printer.out(&text).context("writing to stdout")?;
    Ok(Exit::Ok)
}

fn paths(v: &[std::path::PathBuf]) -> String {
    if v.is_empty() {
        return "(none)".into();
    }
    v.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// (label, value, source) rows for one host.
fn rows(s: &HostSettings) -> Vec<(&'static str, String, String)> {
    fn row<T>(label: &'static str, v: &Sourced<T>, shown: String) -> (&'static str, String, String) {
        (label, shown, v.from.to_string())
    }
    let jump = if s.jump.value.is_empty() {
        "(direct)".to_string()
    } else {
        s.jump
            .value
            .iter()
            .map(HostSettings::describe)
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    let sudo = match &s.sudo.value {
        Some(b) => format!("sudo -u {}", b.user),
        None => "no".into(),
    };
    vec![
        row("address", &s.address, s.address.value.clone()),
        row("port", &s.port, s.port.value.to_string()),
        row("user", &s.user, s.user.value.clone()),
        row("identities", &s.identities, paths(&s.identities.value)),
        row(
            "agent",
            &s.identities_only,
            if s.identities_only.value {
                "not used (IdentitiesOnly)".into()
            } else {
                "used when SSH_AUTH_SOCK is set".into()
            },
        ),
        row("jump", &s.jump, jump),
        row(
            "host keys",
            &s.host_key_checking,
            s.host_key_checking.value.name().into(),
        ),
        row("known_hosts", &s.known_hosts, paths(&s.known_hosts.value)),
        row(
            "global known",
            &s.global_known_hosts,
            paths(&s.global_known_hosts.value),
        ),
        row(
            "timeout",
            &s.connect_timeout,
            format!("{:.1}s to connect", s.connect_timeout.value.as_secs_f64()),
        ),
        row("become", &s.sudo, sudo),
    ]
}

fn table(settings: &[HostSettings]) -> String {
    let mut out = String::new();
    for s in settings {
        out.push_str(&escape(&s.name));
        out.push('\n');
        let rows = rows(s);
        let w = rows
            .iter()
            .map(|(_, v, _)| v.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for (label, value, from) in rows {
            out.push_str(&format!(
                "  {label:<13} {:<w$}  {}\n",
                escape(&value),
                escape(&from)
            ));
        }
        if let Some(p) = &s.proxy_command {
            out.push_str(&format!(
                "  {:<13} {:<w$}  {}\n",
                "proxy command",
                escape(&p.value),
                escape(&p.from.to_string())
            ));
        }
        for hop in &s.jump.value {
            out.push_str(&format!("  via {}\n", escape(&hop.name)));
            for (label, value, from) in rows_of_hop(hop) {
                out.push_str(&format!(
                    "    {label:<11} {:<w$}  {}\n",
                    escape(&value),
                    escape(&from)
                ));
            }
        }
    }
    out
}

fn rows_of_hop(s: &HostSettings) -> Vec<(&'static str, String, String)> {
    rows(s)
        .into_iter()
        .filter(|(l, _, _)| matches!(*l, "address" | "port" | "user" | "identities" | "host keys"))
        .collect()
}

fn to_json(s: &HostSettings) -> Value {
    fn v<T: serde::Serialize>(x: &Sourced<T>) -> Value {
        json!({"value": x.value, "from": x.from.to_string()})
    }
    let paths = |p: &Sourced<Vec<std::path::PathBuf>>| {
        let list: Vec<String> = p.value.iter().map(|p| p.display().to_string()).collect();
        json!({"value": list, "from": p.from.to_string()})
    };
    json!({
        "name": s.name,
        "address": v(&s.address),
        "port": v(&s.port),
        "user": v(&s.user),
        "identities": paths(&s.identities),
        "identities_only": v(&s.identities_only),
        "host_key_checking": {"value": s.host_key_checking.value.name(), "from": s.host_key_checking.from.to_string()},
        "known_hosts": paths(&s.known_hosts),
        "global_known_hosts": paths(&s.global_known_hosts),
        "connect_timeout_seconds": {"value": s.connect_timeout.value.as_secs_f64(), "from": s.connect_timeout.from.to_string()},
        "become": {"value": s.sudo.value.as_ref().map(|b| b.user.clone()), "from": s.sudo.from.to_string()},
        "jump": {
            "value": s.jump.value.iter().map(HostSettings::describe).collect::<Vec<_>>(),
            "from": s.jump.from.to_string(),
        },
        "jump_hosts": s.jump.value.iter().map(to_json).collect::<Vec<_>>(),
        "proxy_command": s.proxy_command.as_ref().map(|p| json!({"value": p.value, "from": p.from.to_string()})),
    })
}
