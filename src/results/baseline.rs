//! Baselines: a run compared with a previous one's JSON (`--baseline PREVIOUS.json`,
//! `rolecall diff OLD.json NEW.json`). A failing result (FAIL or ERROR) is `new` when the
//! previous run had no failing result with the same plugin, check, host and place,
//! `unchanged` when it had one with the same message, `updated` when the message changed;
//! the previous run's failing results that no longer fail are `fixed`.

use std::collections::HashMap;

use rolecall_plugin::Status;
use serde_json::Value;

use crate::results::{CheckResult, Results};

/// How a failing result compares with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    New,
    Unchanged,
    Updated,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Unchanged => "unchanged",
            Self::Updated => "updated",
        }
    }
}

/// A previous failing result that fails no more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub plugin: String,
    pub check: String,
    pub host: Option<String>,
    pub path: Option<String>,
    pub message: String,
}

/// The comparison: a state per current result (aligned with `Results::items`; `None` for
/// results that do not fail), and what was fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    pub states: Vec<Option<State>>,
    pub fixed: Vec<Fixed>,
}

impl Baseline {
    pub fn count(&self, state: State) -> usize {
        self.states.iter().filter(|s| **s == Some(state)).count()
    }
}

type Key = (String, String, Option<String>, Option<String>);

/// The failing results of a previous run, with their keys.
fn previous_failures(previous: &Results) -> Vec<(Key, String)> {
    previous
        .items
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
        .map(|r| (key_of(r), r.message.clone()))
        .collect()
}

fn key_of(r: &CheckResult) -> Key {
    (r.plugin.clone(), r.check.clone(), r.host.clone(), r.path.clone())
}

/// Compare `current` with the previous run's JSON document.
pub fn compare(current: &Results, previous: &Value) -> Result<Baseline, String> {
    Ok(compare_results(current, &results_of(previous)?))
}

/// One line per change of `b` (a comparison of `current`): new and updated failures, then
/// what was fixed, each as `LABEL    plugin/check on host: message`, escaped for a terminal.
pub fn change_lines(current: &Results, b: &Baseline) -> Vec<String> {
    use crate::text::safe::escape;
    let line = |label: &str, plugin: &str, check: &str, host: Option<&str>, message: &str| {
        let host = host.map(|h| format!(" on {h}")).unwrap_or_default();
        format!(
            "{label:<8} {}",
            escape(&format!("{plugin}/{check}{host}: {message}"))
        )
    };
    let mut out = Vec::new();
    for (want, label) in [(State::New, "new"), (State::Updated, "updated")] {
        for (r, s) in current.items.iter().zip(&b.states) {
            if *s == Some(want) {
                out.push(line(label, &r.plugin, &r.check, r.host.as_deref(), &r.message));
            }
        }
    }
    for f in &b.fixed {
        out.push(line("fixed", &f.plugin, &f.check, f.host.as_deref(), &f.message));
    }
    out
}

/// Compare `current` with a previous run's results.
pub fn compare_results(current: &Results, previous: &Results) -> Baseline {
    let before = previous_failures(previous);
    let mut by_key: HashMap<&Key, Vec<&str>> = HashMap::new();
    for (k, m) in &before {
        by_key.entry(k).or_default().push(m.as_str());
    }
    let states = current
        .items
        .iter()
        .map(|r| {
            if !matches!(r.status, Status::Fail | Status::Error) {
                return None;
            }
            Some(match by_key.get(&key_of(r)) {
                None => State::New,
                Some(msgs) if msgs.contains(&r.message.as_str()) => State::Unchanged,
                Some(_) => State::Updated,
            })
        })
        .collect();
    let now: std::collections::HashSet<Key> = current
        .items
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
        .map(key_of)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let fixed = before
        .iter()
        .filter(|(k, _)| !now.contains(k) && seen.insert(k.clone()))
        .map(|((plugin, check, host, path), message)| Fixed {
            plugin: plugin.clone(),
            check: check.clone(),
            host: host.clone(),
            path: path.clone(),
            message: message.clone(),
        })
        .collect();
    Baseline { states, fixed }
}

/// The results of a run's JSON document (`rolecall diff`, `--baseline`).
pub fn results_of(doc: &Value) -> Result<Results, String> {
    let items = doc
        .get("results")
        .and_then(Value::as_array)
        .ok_or("not a rolecall JSON result (no `results` list)")?;
    Ok(Results {
        items: items.iter().map(CheckResult::from_json).collect(),
        ..Results::default()
    })
}

/// Read a previous run's JSON (`--baseline FILE`).
pub fn read(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the baseline `{}`: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("the baseline `{}` is not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(check: &str, status: Status, host: &str, message: &str) -> CheckResult {
        CheckResult::sample("p", check, status, Some(host), message)
    }

    #[test]
    fn new_unchanged_updated_and_fixed() {
        let previous = serde_json::json!({"results": [
            {"plugin": "p", "check": "disk", "status": "fail", "host": "a", "message": "90% used"},
            {"plugin": "p", "check": "port", "status": "fail", "host": "a", "message": "closed"},
            {"plugin": "p", "check": "clock", "status": "error", "host": "b", "message": "no date"},
            {"plugin": "p", "check": "mem", "status": "pass", "host": "a", "message": "ok"},
        ]});
        let now = Results {
            items: vec![
                result("disk", Status::Fail, "a", "95% used"),
                result("port", Status::Fail, "a", "closed"),
                result("mem", Status::Fail, "a", "low"),
                result("clock", Status::Pass, "b", "ok"),
            ],
            ..Results::default()
        };
        let b = compare(&now, &previous).unwrap();
        assert_eq!(
            b.states,
            [
                Some(State::Updated),
                Some(State::Unchanged),
                Some(State::New),
                None
            ]
        );
        assert_eq!(b.fixed.len(), 1);
        assert_eq!(b.fixed[0].check, "clock");
        assert!(compare(&now, &serde_json::json!({})).is_err());
    }
}
