//! Folding results across hosts, as `clush -b` folds output: rows with the same plugin, check,
//! status and message become one row with the folded host list (`nc[001-180,182-200]`).
//! Numbers that differ per host (a used %, a clock skew) do not defeat the fold: the message
//! keeps its words and shows each such number as the range it spans (`41-63% used`). Rows come
//! worst first: error, fail, warn, then pass, skip.

use rolecall_plugin::Status;

use crate::deployment::range::fold;
use crate::results::CheckResult;

/// Severity order for display: worst first.
pub fn severity(s: Status) -> u8 {
    match s {
        Status::Error => 0,
        Status::Fail => 1,
        Status::Warn => 2,
        Status::Pass => 3,
        Status::Skip => 4,
        _ => 0,
    }
}

/// Results that read the same on several hosts.
#[derive(Debug, Clone)]
pub struct Folded<'a> {
    pub check: &'a str,
    pub status: Status,
    /// The hosts, in the order they were reported (empty for results about no host).
    pub hosts: Vec<&'a str>,
    /// The message, with per-host numbers as ranges and the host's own name as `{host}` when
    /// several hosts share the row.
    pub message: String,
    /// The first result of the row (for its location).
    pub first: &'a CheckResult,
    /// How many results the row stands for.
    pub count: usize,
    /// How many different places in the file they point at.
    pub places: usize,
}

impl Folded<'_> {
    /// The host list folded (`nc[01-04,07]`), comma-separated.
    pub fn hosts_text(&self) -> String {
        hosts_cell(self.hosts.iter().copied())
    }
}

/// Characters of a folded host list a table cell shows before it is cut.
pub const MAX_HOSTS_TEXT: usize = 100;

/// `hosts` folded (`nc[01-04,07]`) for a table cell, each named once: whole when short, else
/// its start and how many hosts it names (`n[00100,00200,…] (100 hosts)`); the JSON and HTML
/// outputs name every host.
pub fn hosts_cell<'a>(hosts: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen = std::collections::HashSet::new();
    let hosts: Vec<&str> = hosts.into_iter().filter(|h| seen.insert(*h)).collect();
    let text = fold(hosts.iter().copied()).join(",");
    if text.chars().count() <= MAX_HOSTS_TEXT {
        return text;
    }
    let start: String = text.chars().take(MAX_HOSTS_TEXT).collect();
    let start = start.rfind(',').map_or(start.as_str(), |i| &start[..i]);
    let open = start.matches('[').count() > start.matches(']').count();
    format!("{start},…{} ({} hosts)", if open { "]" } else { "" }, hosts.len())
}

/// A message split into its words and its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Template {
    /// The text between numbers (one more than the numbers).
    texts: Vec<String>,
}

/// Split `message` into text and standalone numbers (`45`, `-0.03`, `2.5`). Digits inside words,
/// addresses (`10.0.0.5`), versions and names (`nc01`) are text.
fn split(message: &str) -> (Template, Vec<String>) {
    let b = message.as_bytes();
    let mut texts = Vec::new();
    let mut nums = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'/' | b'-');
    while i < b.len() {
        let starts = (b[i].is_ascii_digit()
            || (b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
            && (i == 0 || !word(b[i - 1]));
        if starts {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            // Followed by more of a word (`10.0.0.5`, `3rd`, `1.2.3`): not a number.
            let ends = j == b.len()
                || !(b[j].is_ascii_alphanumeric()
                    || b[j] == b'_'
                    || (b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit)));
            if ends {
                texts.push(std::mem::take(&mut cur));
                nums.push(message[i..j].to_string());
                i = j;
                continue;
            }
            cur.push_str(&message[i..j]);
            i = j;
            continue;
        }
        let ch = message[i..].chars().next().unwrap_or(' ');
        cur.push(ch);
        i += ch.len_utf8();
    }
    texts.push(cur);
    (Template { texts }, nums)
}

/// The numbers of one slot across hosts: the value when all agree, else `min..max`.
fn span(values: &[&str]) -> String {
    let parsed: Vec<(f64, &str)> = values
        .iter()
        .filter_map(|v| v.parse::<f64>().ok().map(|f| (f, *v)))
        .collect();
    let Some(first) = values.first() else {
        return String::new();
    };
    if values.iter().all(|v| v == first) || parsed.len() != values.len() {
        return (*first).to_string();
    }
    let min = parsed
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|p| p.1)
        .unwrap_or(first);
    let max = parsed
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|p| p.1)
        .unwrap_or(first);
    format!("{min}..{max}")
}

/// Fold `items` (one plugin's results) into rows, worst first, first-appearance order within a
/// status.
pub fn fold_results<'a>(items: &[&'a CheckResult]) -> Vec<Folded<'a>> {
    /// What results of one row share: check, status, message template, YAML path (host names
    /// as `{host}`), and the waiver that covers them.
    type Key = (String, Status, Template, Option<String>, Option<String>);
    struct Group<'a> {
        key: Key,
        results: Vec<&'a CheckResult>,
        nums: Vec<Vec<String>>,
    }
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut index: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for r in items {
        // The host's own name in its message or path reads the same on every host.
        let own = |s: &str| match &r.host {
            Some(h) if !h.is_empty() => s.replace(h.as_str(), "{host}"),
            _ => s.to_string(),
        };
        let (template, nums) = split(&own(&r.message));
        // Waived and unwaived results never share a row.
        let key = (
            r.check.clone(),
            r.status,
            template,
            r.path.as_deref().map(own),
            r.waived.as_ref().map(|w| w.at.clone()),
        );
        match index.get(&key) {
            Some(&i) => {
                groups[i].results.push(r);
                groups[i].nums.push(nums);
            }
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    key,
                    results: vec![r],
                    nums: vec![nums],
                });
            }
        }
    }
    let mut rows: Vec<Folded<'a>> = groups
        .into_iter()
        .map(|g| {
            let first = g.results[0];
            let message = if g.results.len() == 1 {
                first.message.clone()
            } else {
                let texts = &g.key.2.texts;
                let mut m = String::new();
                for (i, t) in texts.iter().enumerate() {
                    m.push_str(t);
                    if i + 1 < texts.len() {
                        let slot: Vec<&str> = g
                            .nums
                            .iter()
                            .filter_map(|n| n.get(i).map(String::as_str))
                            .collect();
                        m.push_str(&span(&slot));
                    }
                }
                m
            };
            Folded {
                check: &first.check,
                status: first.status,
                hosts: g.results.iter().filter_map(|r| r.host.as_deref()).collect(),
                message,
                first,
                count: g.results.len(),
                places: g
                    .results
                    .iter()
                    .filter_map(|r| r.position)
                    .collect::<std::collections::HashSet<_>>()
                    .len(),
            }
        })
        .collect();
    rows.sort_by_key(|r| severity(r.status));
    rows
}

#[cfg(test)]
mod cell_tests {
    use super::*;

    #[test]
    fn long_host_lists_are_cut_with_a_count() {
        assert_eq!(hosts_cell(["nc01", "nc02", "nc01"]), "nc[01-02]");
        let many: Vec<String> = (1..=300).map(|i| format!("n{:04}", i * 3)).collect();
        let text = hosts_cell(many.iter().map(String::as_str));
        assert!(text.ends_with(",…] (300 hosts)"), "{text}");
        assert!(text.chars().count() <= MAX_HOSTS_TEXT + 20, "{text}");
        // Names with no number to fold: letters only.
        let plain: Vec<String> = (0..60u8)
            .map(|i| format!("web{}{}", char::from(b'a' + i / 26), char::from(b'a' + i % 26)))
            .collect();
        let text = hosts_cell(plain.iter().map(String::as_str));
        assert!(text.ends_with(",… (60 hosts)"), "{text}");
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn r(check: &str, status: Status, host: &str, message: &str) -> CheckResult {
        CheckResult::sample("p", check, status, Some(host), message)
    }

    #[test]
    fn numbers_words_and_addresses() {
        let (t, n) = split("/ is 45% used (limit 90%), 2.5 GB free on 10.0.0.5 nc01 v1.2.3 -3");
        assert_eq!(n, ["45", "90", "2.5", "-3"]);
        assert!(t.texts.concat().contains("10.0.0.5 nc01 v1.2.3"));
    }

    #[test]
    fn hosts_fold_into_one_row_with_ranges_worst_first() {
        let items: Vec<CheckResult> = (1..=200)
            .map(|i| {
                let h = format!("nc{i:03}");
                if i == 181 {
                    r(
                        "disk",
                        Status::Fail,
                        &h,
                        &format!("{h}: / is 97% used (limit 90%)"),
                    )
                } else {
                    r(
                        "disk",
                        Status::Pass,
                        &h,
                        &format!("{h}: / is {}% used (limit 90%)", 40 + i % 20),
                    )
                }
            })
            .collect();
        let refs: Vec<&CheckResult> = items.iter().collect();
        let rows = fold_results(&refs);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].status, Status::Fail);
        assert_eq!(rows[0].hosts_text(), "nc181");
        assert_eq!(rows[0].message, "nc181: / is 97% used (limit 90%)");
        assert_eq!(rows[1].hosts_text(), "nc[001-180,182-200]");
        assert_eq!(rows[1].message, "{host}: / is 40..59% used (limit 90%)");
        assert_eq!(rows[1].count, 199);
    }

    #[test]
    fn different_words_stay_apart() {
        let items = [
            r("svc", Status::Fail, "a", "sshd is not running"),
            r("svc", Status::Fail, "b", "ntpd is not running"),
            r("svc", Status::Fail, "c", "sshd is not running"),
        ];
        let refs: Vec<&CheckResult> = items.iter().collect();
        let rows = fold_results(&refs);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].hosts, ["a", "c"]);
    }

    /// Regression: rows folded from hosts that share one place in the file said `(+1 more)`.
    #[test]
    fn places_count_distinct_positions_only() {
        let at = |line| Some(crate::deployment::locate::Position { line, column: 3 });
        let mut a = r("disk", Status::Fail, "h1", "full");
        let mut b = r("disk", Status::Fail, "h2", "full");
        a.position = at(7);
        b.position = at(7);
        let (ra, rb) = (&a, &b);
        assert_eq!(fold_results(&[ra, rb])[0].places, 1);
        b.position = at(9);
        let rb = &b;
        assert_eq!(fold_results(&[ra, rb])[0].places, 2);
    }
}
