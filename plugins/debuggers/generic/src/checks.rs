//! `checks`: the declarative checks of each role (`roles.<role>.checks` in the deployment; see
//! `docs/checks.md`). Each check becomes one small probe command per host; every probe of the
//! run goes out in one [`Context::run_many`], so all the checks of one host travel in one SSH
//! round trip, and each host's answer is judged here. A result per check and host, named by the
//! check's id and pointing at the check in the deployment.

use std::collections::HashMap;
use std::net::IpAddr;

use regex::RegexBuilder;
use rolecall_plugin::checks::{parse_port, Check, Constraint, Kind, Matcher};
use rolecall_plugin::{CommandResult, Context, Debugger, Finding, Result, Run, Status};
use rolecall_plugin_common::common::quote;
use rolecall_plugin_common::{ports, services};

#[derive(Debug, Default)]
pub struct Checks;

/// One check on one role's hosts.
struct Planned<'a> {
    role: &'a str,
    index: usize,
    check: &'a Check,
    hosts: Vec<&'a str>,
    /// Which run of the batch answers it.
    run: usize,
}

impl Debugger for Checks {
    const NAME: &'static str = "checks";
    const DESCRIPTION: &'static str =
        "the declarative checks of each role (`checks:`), all of a host's in one round trip";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = ctx.roles().to_vec();
        let allow = ctx.options().allow_nets.clone();
        let mut runs: Vec<(String, Option<String>)> = Vec::new();
        let mut run_hosts: Vec<HostList<'_>> = Vec::new();
        let mut by_probe: HashMap<(String, Option<String>), usize> = HashMap::new();
        let mut planned = Vec::new();
        let mut refused = Vec::new();
        for role in &roles {
            for (index, check) in role.checks.iter().enumerate() {
                let hosts: Vec<&str> = role.hosts.iter().map(String::as_str).collect();
                if hosts.is_empty() {
                    continue;
                }
                let probe = match probe(check, &allow) {
                    Ok(p) => p,
                    Err(why) => {
                        refused.push((role.name.as_str(), index, check, why));
                        continue;
                    }
                };
                let key = (
                    probe,
                    check
                        .become_user
                        .as_ref()
                        .and_then(|b| b.user())
                        .map(str::to_string),
                );
                let run = *by_probe.entry(key.clone()).or_insert_with(|| {
                    runs.push(key);
                    run_hosts.push(HostList::default());
                    runs.len() - 1
                });
                for h in &hosts {
                    run_hosts[run].add(h);
                }
                planned.push(Planned {
                    role: &role.name,
                    index,
                    check,
                    hosts,
                    run,
                });
            }
        }
        for (role, index, check, why) in refused {
            ctx.error(&check.id, why)
                .path(format!("roles.{role}.checks[{index}]"));
        }
        if planned.is_empty() {
            // Checks on hosts outside the selection (`--limit`, `--shard`) are the run's that
            // holds them: nothing to say here, so that merged shards equal one whole run.
            if !roles
                .iter()
                .any(|r| !r.checks.is_empty() && !r.members().is_empty())
            {
                ctx.skip("checks", "no role declares `checks`");
            }
            return Ok(());
        }
        let batch: Vec<Run<'_>> = runs
            .iter()
            .zip(&run_hosts)
            .map(|((command, user), hosts)| Run {
                command,
                hosts: &hosts.list,
                become_user: user.as_deref(),
            })
            .collect();
        let answers = ctx.run_many(&batch)?;
        for p in &planned {
            let path = format!("roles.{}.checks[{}]", p.role, p.index);
            for host in &p.hosts {
                let Some(r) = run_hosts[p.run]
                    .position(host)
                    .and_then(|i| answers.get(p.run)?.get(i))
                else {
                    ctx.error(&p.check.id, "no answer for this host")
                        .host(host)
                        .path(path.clone());
                    continue;
                };
                let (status, message) = judge(p.check, r);
                let message = match &p.check.description {
                    Some(d) => format!("{message} ({d})"),
                    None => message,
                };
                ctx.report(Finding {
                    status,
                    check: p.check.id.clone(),
                    host: Some(host.to_string()),
                    message,
                    path: Some(path.clone()),
                });
            }
        }
        Ok(())
    }
}

/// The hosts of one run, each once, in the order first asked for; found by name without a scan
/// (a run may have every host of a large fleet).
#[derive(Default)]
struct HostList<'a> {
    list: Vec<&'a str>,
    at: HashMap<&'a str, usize>,
}

impl<'a> HostList<'a> {
    fn add(&mut self, host: &'a str) {
        if !self.at.contains_key(host) {
            self.at.insert(host, self.list.len());
            self.list.push(host);
        }
    }

    fn position(&self, host: &str) -> Option<usize> {
        self.at.get(host).copied()
    }
}

/// The command that gathers what `check` looks at, or why it cannot be sent.
fn probe(check: &Check, allow: &[String]) -> std::result::Result<String, String> {
    let kind = check.kind()?;
    Ok(match kind {
        Kind::Command => check.command.clone().unwrap_or_default(),
        Kind::File => {
            let p = quote(check.file.as_deref().unwrap_or_default());
            let content = if check.contains.is_some() {
                format!("; cat -- {p}")
            } else {
                String::new()
            };
            // One `stat`; a second, following the link, only for a symlink.
            format!(
                "if [ -e {p} ] || [ -L {p} ]; then stat -c '%F|%a|%U|%G|%s' -- {p}; \
                 if [ -L {p} ]; then stat -L -c '%F|%a|%U|%G|%s' -- {p}; else echo; fi{content}; \
                 else echo MISSING; fi"
            )
        }
        Kind::Package => {
            let n = quote(check.package.as_deref().unwrap_or_default());
            format!(
                "if [ -f /var/lib/dpkg/status ] && command -v dpkg-query >/dev/null 2>&1; then echo dpkg; \
                 dpkg-query -W -f='${{Status}}|${{Version}}\\n' -- {n} 2>&1; \
                 elif command -v rpm >/dev/null 2>&1; then echo rpm; rpm -q --qf '%{{VERSION}}-%{{RELEASE}}\\n' -- {n} 2>&1; \
                 else echo none; fi"
            )
        }
        Kind::Service => services::command(&[check.service.clone().unwrap_or_default()]),
        Kind::Port => ports::COMMAND.to_string(),
        Kind::Http => {
            let url = check.http.as_deref().unwrap_or_default();
            check_url(url, allow)?;
            let t = check.timeout.unwrap_or(5.0);
            format!(
                "if command -v curl >/dev/null 2>&1; then curl -sS -o - --max-time {t} -w '\\n%{{http_code}}' -- {}; \
                 else echo 'rolecall: curl is not installed' >&2; exit 127; fi",
                quote(url)
            )
        }
        Kind::User => {
            let n = quote(check.user.as_deref().unwrap_or_default());
            // `id` only when groups are asked about: every process costs the host.
            let groups = if check.groups.is_some() {
                format!("; id -Gn -- {n} 2>/dev/null")
            } else {
                String::new()
            };
            format!("getent passwd {n}; echo --{groups}; true")
        }
        Kind::Group => format!(
            "getent group {}; true",
            quote(check.group.as_deref().unwrap_or_default())
        ),
        Kind::KernelParam => {
            let name = check.kernel_param.as_deref().unwrap_or_default();
            let path = format!("/proc/sys/{}", name.replace('.', "/"));
            // A shell read: no process.
            format!(
                "if IFS= read -r v < {}; then printf '%s\\n' \"$v\"; else sysctl -n -- {}; fi 2>/dev/null",
                quote(&path),
                quote(name)
            )
        }
        // Shell reads: no process.
        Kind::Mount => "while IFS= read -r l; do printf '%s\\n' \"$l\"; done < /proc/self/mounts".to_string(),
        Kind::Process => "ps -A -o comm=".to_string(),
    })
}

/// An `http` check's URL may only name an allowed address: the host fetches it, but on
/// rolecall's say-so.
fn check_url(url: &str, allow: &[String]) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` is not an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if allow.is_empty() {
        return Ok(());
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if rolecall_plugin::allowed(allow, ip) => Ok(()),
        Ok(ip) => Err(format!(
            "{url}: {ip} is outside the allowed networks; not fetched"
        )),
        Err(_) if host == "localhost" => Ok(()),
        Err(_) => Err(format!(
            "{url}: with an allow-list set, an http check names an address, not `{host}`; not fetched"
        )),
    }
}

/// `matches`: `^` and `$` hold at every line's start and end, as in grep.
fn regex(pattern: &str, text: &str) -> std::result::Result<bool, String> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .build()
        .map(|r| r.is_match(text))
        .map_err(|e| format!("bad regex /{pattern}/: {e}"))
}

/// `matcher` on `text`: `None` when it holds, else what was wrong.
fn mismatch(what: &str, matcher: &Matcher, text: &str) -> Option<String> {
    match matcher.test(text, &regex) {
        Ok(true) => None,
        Ok(false) => {
            let shown: String = text.trim_end().chars().take(120).collect();
            Some(format!("{what} {} (it is {shown:?})", matcher.failure_for(text)))
        }
        Err(why) => Some(why),
    }
}

/// The verdict on `check` from one host's answer.
fn judge(check: &Check, r: &CommandResult) -> (Status, String) {
    if r.outcome != "ok" {
        let why = r.error.clone().or_else(|| r.signal.clone()).unwrap_or_default();
        return (Status::Error, format!("{}: {why}", r.outcome));
    }
    let Ok(kind) = check.kind() else {
        return (Status::Error, "no kind".into());
    };
    let code = r.exit_code.unwrap_or(-1);
    let out = r.stdout.as_str();
    let mut wrong: Vec<String> = Vec::new();
    let summary = match kind {
        Kind::Command => {
            let want = check.exit.unwrap_or(0);
            if code != want {
                let err = r.stderr.lines().next().unwrap_or_default();
                wrong.push(format!("exit {code}, expected {want}{}", tail(err)));
            }
            wrong.extend(check.stdout.as_ref().and_then(|m| mismatch("stdout", m, out)));
            wrong.extend(
                check
                    .stderr
                    .as_ref()
                    .and_then(|m| mismatch("stderr", m, &r.stderr)),
            );
            format!("`{}`: exit {code}", check.command.as_deref().unwrap_or_default())
        }
        Kind::File => judge_file(check, out, &mut wrong),
        Kind::Package => judge_package(check, out, &mut wrong),
        Kind::Service => {
            let name = check.service.clone().unwrap_or_default();
            let s = services::parse(std::slice::from_ref(&name), out).remove(0);
            if s.manager == "unknown" {
                return (
                    Status::Warn,
                    format!("service {name}: no service manager answered"),
                );
            }
            let running = s.active == "active";
            let enabled = s.enabled == "enabled";
            // Running unless the check only asks about boot.
            let want_running = check.running.or(check.enabled.is_none().then_some(true));
            if want_running.is_some_and(|w| w != running) {
                wrong.push(format!(
                    "{} (expected {})",
                    s.active,
                    if running { "stopped" } else { "running" }
                ));
            }
            if let Some(want) = check.enabled {
                if want != enabled {
                    wrong.push(format!(
                        "{} at boot (expected {})",
                        s.enabled,
                        if want { "enabled" } else { "disabled" }
                    ));
                }
            }
            format!("service {name}: {}, {} ({})", s.active, s.enabled, s.manager)
        }
        Kind::Port => {
            let text = check.port.as_ref().map(|p| p.text()).unwrap_or_default();
            let Some((port, proto)) = parse_port(&text) else {
                return (Status::Error, format!("bad port `{text}`"));
            };
            let listening = ports::parse(out);
            if listening.is_empty() && !out.lines().skip(1).any(|l| !l.trim().is_empty()) && code != 0 {
                return (
                    Status::Warn,
                    format!("{port}/{proto}: neither ss nor netstat answered"),
                );
            }
            let found = ports::find(&listening, port, proto);
            let want = check.listening.unwrap_or(true);
            if found.is_some() != want {
                wrong.push(if want {
                    "nothing listening".into()
                } else {
                    format!("listening{}", found.map(|l| l.by()).unwrap_or_default())
                });
            }
            if let (Some(want), Some(l)) = (&check.process, found) {
                match &l.process {
                    Some(p) if p == want => {}
                    Some(p) => wrong.push(format!("the listener is {p}, expected {want}")),
                    None => wrong.push(format!("the listening process cannot be seen (expected {want})")),
                }
            }
            match found {
                Some(l) => format!("{port}/{proto} listening{}", l.by()),
                None => format!("{port}/{proto} not listening"),
            }
        }
        Kind::Http => {
            let url = check.http.as_deref().unwrap_or_default();
            if code == 127 && r.stderr.contains("curl is not installed") {
                // The host cannot say: not a failure of what the check looks at.
                return (Status::Warn, format!("{url}: curl is not installed on this host"));
            }
            if code != 0 {
                let why = r.stderr.trim();
                wrong.push(format!("not fetched (curl exit {code}{})", tail(why)));
                url.to_string()
            } else {
                let (body, status) = out.rsplit_once('\n').unwrap_or(("", out));
                let status: u16 = status.trim().parse().unwrap_or(0);
                let want = check.status.unwrap_or(200);
                if status != want {
                    wrong.push(format!("status {status}, expected {want}"));
                }
                wrong.extend(check.body.as_ref().and_then(|m| mismatch("the body", m, body)));
                format!("{url}: {status}")
            }
        }
        Kind::User => judge_user(check, out, &mut wrong),
        Kind::Group => {
            let name = check.group.clone().unwrap_or_default();
            let entry = out.lines().next().filter(|l| !l.is_empty());
            let exists = entry.is_some();
            if check.exists.unwrap_or(true) != exists {
                wrong.push(if exists {
                    "exists".into()
                } else {
                    "does not exist".into()
                });
            }
            let gid: Option<u32> = entry.and_then(|l| l.split(':').nth(2)?.parse().ok());
            if let (Some(want), Some(gid)) = (check.gid, gid) {
                if want != gid {
                    wrong.push(format!("gid {gid}, expected {want}"));
                }
            }
            match gid {
                Some(g) => format!("group {name}: gid {g}"),
                None => format!("group {name}: absent"),
            }
        }
        Kind::KernelParam => {
            let name = check.kernel_param.clone().unwrap_or_default();
            if code != 0 {
                return (Status::Fail, format!("{name}: no such kernel parameter"));
            }
            let value = out.split_whitespace().collect::<Vec<_>>().join(" ");
            wrong.extend(check.value.as_ref().and_then(|m| mismatch(&name, m, &value)));
            format!("{name} = {value}")
        }
        Kind::Mount => judge_mount(check, out, &mut wrong),
        Kind::Process => {
            let name = check.process.clone().unwrap_or_default();
            // `comm` is cut at 15 characters on Linux.
            let short: String = name.chars().take(15).collect();
            let count = out.lines().filter(|l| l.trim() == short).count();
            if check.running.unwrap_or(true) != (count > 0) {
                wrong.push(if count > 0 {
                    format!("{count} running")
                } else {
                    "not running".into()
                });
            }
            format!("process {name}: {count} running")
        }
    };
    if wrong.is_empty() {
        (Status::Pass, summary)
    } else {
        let subject = summary.split(':').next().unwrap_or_default().to_string();
        (Status::Fail, format!("{subject}: {}", wrong.join("; ")))
    }
}

/// `: first line` of a message, when there is one.
fn tail(line: &str) -> String {
    let line = line.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {}", line.chars().take(160).collect::<String>())
    }
}

fn judge_file(check: &Check, out: &str, wrong: &mut Vec<String>) -> String {
    let path = check.file.clone().unwrap_or_default();
    let mut lines = out.splitn(3, '\n');
    let first = lines.next().unwrap_or_default();
    if first == "MISSING" {
        if check.exists.unwrap_or(true) {
            wrong.push("does not exist".into());
        }
        return format!("{path}: absent");
    }
    if check.exists == Some(false) {
        wrong.push("exists".into());
    }
    // `TYPE|mode|owner|group|size` of the path, then of its target (empty unless a symlink).
    let (kind, own) = first.split_once('|').unwrap_or((first, ""));
    let kind = match kind {
        "directory" => "directory",
        "symbolic link" => "symlink",
        t if t.starts_with("regular") => "file",
        other => other,
    };
    let target = lines.next().unwrap_or_default();
    let attrs = target.split_once('|').map_or(own, |(_, a)| a);
    let content = lines.next().unwrap_or_default();
    let mut f = attrs.split('|');
    let (mode, owner, group, size) = (
        f.next().unwrap_or_default(),
        f.next().unwrap_or_default(),
        f.next().unwrap_or_default(),
        f.next().and_then(|s| s.trim().parse::<u64>().ok()),
    );
    if let Some(want) = &check.file_type {
        if want != kind {
            wrong.push(format!("a {kind}, expected a {want}"));
        }
    }
    if let Some(want) = &check.mode {
        let want = want.text();
        let (w, h) = (
            u32::from_str_radix(&want, 8).ok(),
            u32::from_str_radix(mode, 8).ok(),
        );
        if w != h {
            wrong.push(format!("mode {mode:0>4}, expected {want:0>4}"));
        }
    }
    if let Some(want) = &check.owner {
        if want != owner {
            wrong.push(format!("owner {owner}, expected {want}"));
        }
    }
    if let Some(want) = &check.group {
        if want != group {
            wrong.push(format!("group {group}, expected {want}"));
        }
    }
    if let (Some(want), Some(size)) = (check.size, size) {
        if want != size {
            wrong.push(format!("{size} bytes, expected {want}"));
        }
    }
    for m in check.contains.iter().flat_map(|c| c.items()) {
        if let Err(why) | Ok(Some(why)) = match m.test(content, &regex) {
            Ok(true) => Ok(None),
            Ok(false) => Ok(Some(format!("its content {}", m.failure_for(content)))),
            Err(e) => Err(e),
        } {
            wrong.push(why);
        }
    }
    format!("{path}: {kind}, mode {mode:0>4}, {owner}:{group}")
}

fn judge_package(check: &Check, out: &str, wrong: &mut Vec<String>) -> String {
    let name = check.package.clone().unwrap_or_default();
    let mut lines = out.lines();
    let manager = lines.next().unwrap_or_default().trim().to_string();
    let answer = lines.next().unwrap_or_default().trim();
    let version = match manager.as_str() {
        "dpkg" => answer
            .split_once('|')
            .filter(|(status, _)| status.trim().ends_with(" installed"))
            .map(|(_, v)| v.trim().to_string()),
        "rpm" => (!answer.contains("not installed") && !answer.is_empty()).then(|| answer.to_string()),
        _ => {
            wrong.push("neither dpkg nor rpm is on this host".into());
            return format!("package {name}");
        }
    };
    let want = check.installed.unwrap_or(true);
    if want != version.is_some() {
        wrong.push(if want {
            "not installed".into()
        } else {
            format!("installed ({})", version.clone().unwrap_or_default())
        });
    }
    if let (Some(c), Some(v)) = (&check.version, &version) {
        match Constraint::parse(&c.text()) {
            Ok(constraint) if constraint.allows(v) => {}
            Ok(_) => wrong.push(format!("version {v}, expected {}", c.text())),
            Err(why) => wrong.push(why),
        }
    }
    match version {
        Some(v) => format!("package {name}: {v} ({manager})"),
        None => format!("package {name}: not installed ({manager})"),
    }
}

fn judge_user(check: &Check, out: &str, wrong: &mut Vec<String>) -> String {
    let name = check.user.clone().unwrap_or_default();
    let (passwd, groups) = out.split_once("--\n").unwrap_or((out, ""));
    let entry = passwd.lines().next().filter(|l| !l.is_empty());
    if check.exists.unwrap_or(true) != entry.is_some() {
        wrong.push(if entry.is_some() {
            "exists".into()
        } else {
            "does not exist".into()
        });
    }
    let Some(entry) = entry else {
        return format!("user {name}: absent");
    };
    let f: Vec<&str> = entry.split(':').collect();
    let (uid, gid, home, shell) = (
        f.get(2).and_then(|v| v.parse::<u32>().ok()),
        f.get(3).and_then(|v| v.parse::<u32>().ok()),
        f.get(5).copied().unwrap_or_default(),
        f.get(6).copied().unwrap_or_default(),
    );
    if let Some(want) = check.uid {
        if Some(want) != uid {
            wrong.push(format!(
                "uid {}, expected {want}",
                uid.map(|u| u.to_string()).unwrap_or_default()
            ));
        }
    }
    if let Some(want) = check.gid {
        if Some(want) != gid {
            wrong.push(format!(
                "gid {}, expected {want}",
                gid.map(|u| u.to_string()).unwrap_or_default()
            ));
        }
    }
    if let Some(want) = &check.home {
        if want != home {
            wrong.push(format!("home {home}, expected {want}"));
        }
    }
    if let Some(want) = &check.shell {
        if want != shell {
            wrong.push(format!("shell {shell}, expected {want}"));
        }
    }
    let member: Vec<&str> = groups.split_whitespace().collect();
    for g in check.groups.iter().flatten() {
        if !member.contains(&g.as_str()) {
            wrong.push(format!("not in group {g}"));
        }
    }
    format!(
        "user {name}: uid {}, home {home}, shell {shell}",
        uid.map(|u| u.to_string()).unwrap_or_default()
    )
}

/// `/proc/mounts` escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn judge_mount(check: &Check, out: &str, wrong: &mut Vec<String>) -> String {
    let path = check.mount.clone().unwrap_or_default();
    // The last entry for a mount point is the one in effect.
    let entry = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && unescape(f[1]) == path)
                .then(|| (unescape(f[0]), f[2].to_string(), f[3].to_string()))
        })
        .next_back();
    if check.exists.unwrap_or(true) != entry.is_some() {
        wrong.push(if entry.is_some() {
            "mounted".into()
        } else {
            "not mounted".into()
        });
    }
    let Some((source, fs, opts)) = entry else {
        return format!("{path}: not mounted");
    };
    if let Some(want) = &check.filesystem {
        if want != &fs {
            wrong.push(format!("{fs}, expected {want}"));
        }
    }
    if let Some(want) = &check.source {
        if want != &source {
            wrong.push(format!("from {source}, expected {want}"));
        }
    }
    let have: Vec<&str> = opts.split(',').collect();
    for o in check.opts.iter().flatten() {
        if !have.contains(&o.as_str()) {
            wrong.push(format!("without option {o}"));
        }
    }
    format!("{path}: {fs} from {source} ({opts})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;

    fn kit(yaml: &str) -> Kit {
        Kit::from_yaml(yaml)
    }

    #[test]
    fn no_checks_is_a_skip_not_a_pass() {
        let r = kit("hosts: {a: 127.0.0.2}\n").debug(&Checks);
        r.assert_status("checks", None, Status::Skip);
    }

    #[test]
    fn urls_outside_the_allow_list_are_not_fetched() {
        let allow = vec!["127.0.0.0/8".to_string()];
        assert!(check_url("http://127.0.0.1:8080/health", &allow).is_ok());
        assert!(check_url("http://10.0.0.1/", &allow)
            .unwrap_err()
            .contains("outside the allowed"));
        assert!(check_url("http://example.com/", &allow)
            .unwrap_err()
            .contains("names an address"));
        assert!(check_url("ftp://x/", &[]).is_err());
        assert!(check_url("http://example.com/", &[]).is_ok());
    }

    #[test]
    fn files_judged_from_stat() {
        let c: Check = rolecall_plugin::serde_json::from_str(
            r#"{"id": "d", "file": "/srv/app", "mode": "0755", "owner": "app", "type": "directory"}"#,
        )
        .unwrap();
        let r = CommandResult::exited("a", 0, "directory|755|app|app|4096\n\n", "");
        assert_eq!(judge(&c, &r).0, Status::Pass, "{:?}", judge(&c, &r));
        let link = CommandResult::exited(
            "a",
            0,
            "symbolic link|777|root|root|8\ndirectory|755|app|app|4096\n",
            "",
        );
        assert_eq!(judge(&c, &link).1, "/srv/app: a symlink, expected a directory");
        let r = CommandResult::exited("a", 0, "directory|700|root|root|4096\n\n", "");
        let (s, m) = judge(&c, &r);
        assert_eq!(s, Status::Fail);
        assert_eq!(m, "/srv/app: mode 0700, expected 0755; owner root, expected app");
        let r = CommandResult::exited("a", 0, "MISSING\n", "");
        assert_eq!(judge(&c, &r).1, "/srv/app: does not exist");
    }

    #[test]
    fn a_host_without_curl_cannot_say() {
        let c: Check =
            rolecall_plugin::serde_json::from_str(r#"{"id": "h", "http": "http://127.0.0.1:1/"}"#).unwrap();
        let r = CommandResult::exited("a", 127, "", "rolecall: curl is not installed\n");
        assert_eq!(judge(&c, &r).0, Status::Warn);
        let refused = CommandResult::exited("a", 7, "", "curl: (7) Failed to connect\n");
        assert_eq!(judge(&c, &refused).0, Status::Fail);
    }

    #[test]
    fn packages_from_dpkg_and_rpm() {
        let c: Check =
            rolecall_plugin::serde_json::from_str(r#"{"id": "p", "package": "nginx", "version": ">= 1.18"}"#)
                .unwrap();
        let dpkg = CommandResult::exited("a", 0, "dpkg\ninstall ok installed|1.18.0-6ubuntu14\n", "");
        assert_eq!(judge(&c, &dpkg).0, Status::Pass);
        let rpm = CommandResult::exited("a", 1, "rpm\npackage nginx is not installed\n", "");
        assert_eq!(judge(&c, &rpm).1, "package nginx: not installed");
        let old = CommandResult::exited("a", 0, "rpm\n1.16.1-1.el7\n", "");
        assert_eq!(
            judge(&c, &old).1,
            "package nginx: version 1.16.1-1.el7, expected >= 1.18"
        );
    }
}
