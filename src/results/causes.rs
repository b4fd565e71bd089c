//! Root-cause hints: one line for what many results have in common, so that the likely cause
//! comes before its symptoms. Found from the results themselves, each saying what it is based
//! on; a hint never hides a result: the results stay, marked as explained by it.
//!
//! - **jump host**: hosts not reached because the jump host in front of them was not (their
//!   reason names it) -> "jump host X unreachable: N hosts not reached";
//! - **not reached**: the other hosts not reached, one hint per kind of reason (an unknown host
//!   key, a refused connection...), instead of one error per plugin and host; for unknown host
//!   keys, the `ssh-keyscan` line that records them;
//! - **target**: two or more hosts failing a connectivity check towards the same address and
//!   port -> "X unreachable from N hosts" (with the target's own failing result about that
//!   port, when it has one);
//! - **role**: the same failure on every host of a role (two or more) -> one role-level line.

use std::collections::{BTreeSet, HashMap, HashSet};

use indexmap::IndexMap;
use rolecall_plugin::Status;

use super::Results;
use crate::deployment::range::fold;

/// What kind of cause a hint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    JumpHost,
    NotReached,
    Target,
    Role,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JumpHost => "jump-host",
            Self::NotReached => "not-reached",
            Self::Target => "target-unreachable",
            Self::Role => "role",
        }
    }

    /// Whether the hint is about hosts not worked on (its results are connection errors).
    pub fn unreached(self) -> bool {
        matches!(self, Self::JumpHost | Self::NotReached)
    }
}

/// One hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub kind: Kind,
    /// What it is about: a jump host, a reason, a target, a role.
    pub subject: String,
    /// The one line an operator reads.
    pub message: String,
    /// What the hint rests on.
    pub based_on: String,
    /// The hosts it affects, in run order.
    pub affected: Vec<String>,
    /// The results that are its evidence (indices into `Results::items`).
    pub evidence: Vec<usize>,
    /// A command that would fix it, when there is one.
    pub fix: Option<String>,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn folded(hosts: &[String]) -> String {
    fold(hosts.iter().map(String::as_str)).join(",")
}

/// The jump host a "not reached" reason blames, when it blames one: `jump host NAME: ...`,
/// not `through jump host NAME: ...` (that one was reached; the target was not).
fn blamed_jump_host(why: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(i) = why[from..].find("jump host ") {
        let at = from + i;
        if !why[..at].ends_with("through ") {
            let rest = &why[at + "jump host ".len()..];
            let (name, detail) = rest.split_once(": ")?;
            return Some((name, detail));
        }
        from = at + 1;
    }
    None
}

/// `cannot reach LABEL (ADDRESS:PORT)`, as the connectivity checks word a failure.
fn unreachable_target(message: &str) -> Option<(&str, &str, &str)> {
    let rest = message.strip_prefix("cannot reach ")?;
    let (label, target) = rest.strip_suffix(')')?.rsplit_once(" (")?;
    let (address, port) = target.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    Some((label, address, port))
}

/// The `ssh-keyscan` line of an unknown-host-key reason: (port, address, file).
fn keyscan(why: &str) -> Option<(String, String, String)> {
    let rest = &why[why.find("ssh-keyscan -p ")? + "ssh-keyscan -p ".len()..];
    let mut words = rest.split_whitespace();
    let port = words.next()?.to_string();
    let address = words.next()?.to_string();
    (words.next()? == ">>").then_some(())?;
    let file = words.next()?.to_string();
    Some((port, address, file))
}

/// A target's label, the failing results naming it, and the hosts they failed from.
type Towards<'a> = (&'a str, Vec<usize>, Vec<String>);

/// The hints for `results`, whose run worked on `hosts` of a deployment with `roles` (name,
/// hosts; the derived `all` left out).
pub fn find(results: &Results, hosts: &[String], roles: &[(String, Vec<String>)]) -> Vec<Cause> {
    let mut causes = Vec::new();
    // What a plugin reported on a host that was not reached stands for that, whatever status
    // the plugin gave it.
    let errors_on = |affected: &HashSet<&str>| -> Vec<usize> {
        results
            .items
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.status, Status::Error | Status::Fail | Status::Warn))
            .filter(|(_, r)| r.host.as_deref().is_some_and(|h| affected.contains(h)))
            .map(|(i, _)| i)
            .collect()
    };

    // Hosts behind a jump host that was not reached.
    let mut by_jump: IndexMap<&str, (Vec<String>, &str)> = IndexMap::new();
    let mut explained: HashSet<&str> = HashSet::new();
    for (host, why) in &results.unreached {
        if let Some((jump, detail)) = blamed_jump_host(why) {
            by_jump
                .entry(jump)
                .or_insert((Vec::new(), detail))
                .0
                .push(host.clone());
            explained.insert(host);
        }
    }
    for (jump, (affected, detail)) in by_jump {
        let set: HashSet<&str> = affected.iter().map(String::as_str).collect();
        causes.push(Cause {
            kind: Kind::JumpHost,
            subject: jump.to_string(),
            message: format!(
                "jump host {jump} unreachable ({detail}): {} not reached: {}",
                plural(affected.len(), "host", "hosts"),
                folded(&affected)
            ),
            based_on: format!(
                "the reason each of {} was not reached names this jump host",
                plural(affected.len(), "host", "hosts")
            ),
            evidence: errors_on(&set),
            affected,
            fix: None,
        });
    }

    // The other hosts not reached, by kind of reason.
    let mut by_kind: IndexMap<&str, Vec<(&str, &str)>> = IndexMap::new();
    for (host, why) in &results.unreached {
        if explained.contains(host.as_str()) {
            continue;
        }
        let kind = why.split(':').next().unwrap_or(why).trim();
        by_kind.entry(kind).or_default().push((host, why));
    }
    for (kind, list) in by_kind {
        let affected: Vec<String> = list.iter().map(|(h, _)| h.to_string()).collect();
        let set: HashSet<&str> = affected.iter().map(String::as_str).collect();
        let evidence = errors_on(&set);
        let (first_host, first_why) = list[0];
        let fix = (kind == "host-key-unknown")
            .then(|| {
                // One ssh-keyscan per port and known_hosts file, every address on it.
                let mut lines: IndexMap<(String, String), Vec<String>> = IndexMap::new();
                for (_, why) in &list {
                    if let Some((port, address, file)) = keyscan(why) {
                        let on = lines.entry((port, file)).or_default();
                        if !on.contains(&address) {
                            on.push(address);
                        }
                    }
                }
                let cmds: Vec<String> = lines
                    .into_iter()
                    .map(|((port, file), addresses)| {
                        format!("ssh-keyscan -p {port} {} >> {file}", addresses.join(" "))
                    })
                    .collect();
                (!cmds.is_empty()).then(|| cmds.join("; "))
            })
            .flatten();
        // With a fix to show, the reason's first sentence is enough.
        let reason = match (&fix, first_why.split_once(". ")) {
            (Some(_), Some((first, _))) => first,
            _ => first_why,
        };
        let like = if list.len() == 1 {
            String::new()
        } else {
            format!(" (as on {first_host})")
        };
        causes.push(Cause {
            kind: Kind::NotReached,
            subject: kind.to_string(),
            message: format!(
                "{} not reached ({}): {reason}{like}",
                plural(affected.len(), "host", "hosts"),
                folded(&affected)
            ),
            based_on: format!(
                "how the connection to each host ended; {} on {} {} for this",
                plural(evidence.len(), "result", "results"),
                if affected.len() == 1 { "it" } else { "them" },
                if evidence.len() == 1 { "stands" } else { "stand" }
            ),
            affected,
            evidence,
            fix,
        });
    }

    // Connectivity failures towards one target from several hosts.
    // (address, port) -> (label, failing results, hosts they failed from)
    let mut by_target: IndexMap<(&str, &str), Towards<'_>> = IndexMap::new();
    for (i, r) in results.items.iter().enumerate() {
        if r.status != Status::Fail {
            continue;
        }
        let (Some(host), Some((label, address, port))) = (&r.host, unreachable_target(&r.message)) else {
            continue;
        };
        let entry = by_target
            .entry((address, port))
            .or_insert((label, Vec::new(), Vec::new()));
        entry.1.push(i);
        if !entry.2.contains(host) {
            entry.2.push(host.clone());
        }
    }
    for ((address, port), (label, mut evidence, affected)) in by_target {
        if affected.len() < 2 {
            continue;
        }
        // The target's own word on that port, when a check of it failed.
        let target_host = label
            .rsplit(' ')
            .next()
            .and_then(|l| l.split(':').next())
            .unwrap_or("");
        let own: Vec<usize> = results
            .items
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == Status::Fail && r.host.as_deref() == Some(target_host))
            .filter(|(_, r)| r.message.starts_with(&format!("{port}/")))
            .map(|(i, _)| i)
            .collect();
        let also = own
            .first()
            .map(|i| format!("; {target_host} itself: {}", results.items[*i].message))
            .unwrap_or_default();
        let checks: BTreeSet<String> = evidence
            .iter()
            .map(|i| format!("{}/{}", results.items[*i].plugin, results.items[*i].check))
            .collect();
        let based_on = format!(
            "{} ({}) naming {address}:{port}",
            plural(
                evidence.len(),
                "failed connectivity check",
                "failed connectivity checks"
            ),
            checks.into_iter().collect::<Vec<_>>().join(", ")
        );
        evidence.extend(own);
        causes.push(Cause {
            kind: Kind::Target,
            subject: format!("{label} ({address}:{port})"),
            message: format!(
                "{label} ({address}:{port}) unreachable from {}: {}{also}",
                plural(affected.len(), "host", "hosts"),
                folded(&affected)
            ),
            based_on,
            affected,
            evidence,
            fix: None,
        });
    }

    // The same failure on every host of a role.
    let worked: HashSet<&str> = hosts.iter().map(String::as_str).collect();
    let already: HashSet<usize> = causes.iter().flat_map(|c| c.evidence.iter().copied()).collect();
    let mut by_failure: IndexMap<(&str, &str, &str), HashMap<&str, usize>> = IndexMap::new();
    for (i, r) in results.items.iter().enumerate() {
        if r.status != Status::Fail || r.waived.is_some() {
            continue;
        }
        if let Some(h) = &r.host {
            by_failure
                .entry((&r.plugin, &r.check, &r.message))
                .or_default()
                .entry(h)
                .or_insert(i);
        }
    }
    for ((plugin, check, message), failing) in by_failure {
        if failing.values().all(|i| already.contains(i)) {
            continue;
        }
        // Roles (of two or more worked-on hosts) whose every host has this failure; the
        // largest only, when one holds another.
        let mut whole: Vec<(&str, Vec<&str>)> = roles
            .iter()
            .map(|(name, members)| {
                let here: Vec<&str> = members
                    .iter()
                    .map(String::as_str)
                    .filter(|h| worked.contains(h))
                    .collect();
                (name.as_str(), here)
            })
            .filter(|(_, here)| here.len() >= 2 && here.iter().all(|h| failing.contains_key(h)))
            .collect();
        whole.sort_by_key(|(_, here)| std::cmp::Reverse(here.len()));
        let mut kept: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, here) in whole {
            if !kept.iter().any(|(_, k)| here.iter().all(|h| k.contains(h))) {
                kept.push((name, here));
            }
        }
        for (role, here) in kept {
            let affected: Vec<String> = here.iter().map(|h| h.to_string()).collect();
            causes.push(Cause {
                kind: Kind::Role,
                subject: role.to_string(),
                message: format!(
                    "every host of role {role} ({}) fails {plugin}/{check}: {message}",
                    folded(&affected)
                ),
                based_on: format!("the same failure on all {} hosts of the role", affected.len()),
                evidence: here.iter().filter_map(|h| failing.get(h).copied()).collect(),
                affected,
                fix: None,
            });
        }
    }
    causes
}

/// For each result, the causes (1-based, as shown) whose evidence it is.
pub fn explained_by(causes: &[Cause], items: usize) -> Vec<Vec<usize>> {
    let mut by = vec![Vec::new(); items];
    for (n, c) in causes.iter().enumerate() {
        for &i in &c.evidence {
            if let Some(list) = by.get_mut(i) {
                list.push(n + 1);
            }
        }
    }
    by
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::CheckResult;

    fn item(plugin: &str, check: &str, status: Status, host: &str, message: &str) -> CheckResult {
        CheckResult::sample(plugin, check, status, Some(host), message)
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_jump_host_down_is_one_cause_not_one_error_per_host() {
        let mut r = Results::default();
        for h in ["a1", "a2", "a3"] {
            r.unreached.insert(
                h.into(),
                "unreachable: jump host ops@10.0.0.1:22: refused: connection refused".into(),
            );
            r.items.push(item("p", "c", Status::Error, h, "unreachable: ..."));
        }
        r.unreached.insert(
            "b1".into(),
            "unreachable: through jump host ops@10.0.0.1:22: no route".into(),
        );
        let c = find(&r, &names(&["a1", "a2", "a3", "b1"]), &[]);
        assert_eq!(c[0].kind, Kind::JumpHost);
        assert_eq!(
            c[0].message,
            "jump host ops@10.0.0.1:22 unreachable (refused: connection refused): 3 hosts not reached: a[1-3]"
        );
        assert_eq!(c[0].evidence, [0, 1, 2]);
        // Through a reached jump host: the target was not reached, not the jump host.
        assert_eq!(c[1].kind, Kind::NotReached);
        assert_eq!(c[1].affected, ["b1"]);
    }

    #[test]
    fn unknown_host_keys_are_one_cause_with_the_keyscan_line() {
        let mut r = Results::default();
        for (h, a) in [("n1", "127.0.0.11"), ("n2", "127.0.0.12")] {
            r.unreached.insert(
                h.into(),
                format!("host-key-unknown: {h} is not in /k; it offered ssh-ed25519 SHA256:x. Verify it, then record it with: ssh-keyscan -p 2222 {a} >> /k (or use --host-key-checking accept-new)"),
            );
            for p in ["p1", "p2", "p3"] {
                r.items
                    .push(item(p, "c", Status::Error, h, "host-key-unknown: ..."));
            }
        }
        let c = find(&r, &names(&["n1", "n2"]), &[]);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].message,
            "2 hosts not reached (n[1-2]): host-key-unknown: n1 is not in /k; it offered ssh-ed25519 SHA256:x (as on n1)"
        );
        assert_eq!(
            c[0].fix.as_deref(),
            Some("ssh-keyscan -p 2222 127.0.0.11 127.0.0.12 >> /k")
        );
        assert_eq!(c[0].evidence.len(), 6);
    }

    #[test]
    fn many_hosts_failing_to_reach_one_target_and_a_whole_role() {
        let mut r = Results::default();
        for h in ["w1", "w2", "w3"] {
            r.items.push(item(
                "connectivity",
                "connect",
                Status::Fail,
                h,
                "cannot reach db01:15432 (127.0.0.21:15432)",
            ));
            r.items.push(item("memory", "memory", Status::Fail, h, "low"));
        }
        r.items.push(item(
            "ports",
            "port",
            Status::Fail,
            "db01",
            "15432/tcp: nothing listening",
        ));
        // One host alone is no pattern.
        r.items.push(item(
            "connectivity",
            "connect",
            Status::Fail,
            "w1",
            "cannot reach x:1 (10.0.0.9:1)",
        ));
        let roles = vec![("web".to_string(), names(&["w1", "w2", "w3"]))];
        let c = find(&r, &names(&["w1", "w2", "w3", "db01"]), &roles);
        assert_eq!(c.len(), 2, "{c:#?}");
        assert_eq!(
            c[0].message,
            "db01:15432 (127.0.0.21:15432) unreachable from 3 hosts: w[1-3]; db01 itself: 15432/tcp: nothing listening"
        );
        assert_eq!(c[0].evidence, [0, 2, 4, 6]);
        // The connectivity failures are the target's; the memory one is the role's.
        assert_eq!(c[1].kind, Kind::Role);
        assert_eq!(
            c[1].message,
            "every host of role web (w[1-3]) fails memory/memory: low"
        );
        let by = explained_by(&c, r.items.len());
        assert_eq!(by[0], [1]);
        assert_eq!(by[1], [2]);
        assert!(by[7].is_empty());
    }
}
