//! The one order of a run's results, whoever produced which part: a whole run and the merge of
//! its shards list (and so render) their results alike.
//!
//! Plugins come in run order; each plugin's checks in the order it reported them; within a
//! check, results about no host first, then hosts in deployment order; ties keep their order.
//! The order of checks is what each list of results shows (a whole run: one list; shards: one
//! list each), joined so that every list's own order holds: each shard reports its checks in
//! the order the plugin reports them, as a subsequence of what one whole run reports.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use super::CheckResult;

/// A plugin's check, as `(plugin, check)`.
type Key = (String, String);

/// The order of checks across `lists` (each in the order its run reported them): every list's
/// first appearances, joined so that each list's order holds (see [`join`]).
pub fn check_order<'a>(lists: impl IntoIterator<Item = &'a [CheckResult]>) -> Vec<Key> {
    join(
        lists
            .into_iter()
            .map(|l| l.iter().map(|r| (r.plugin.clone(), r.check.clone())).collect()),
    )
}

/// One order of everything in `lists`, each list's order of first appearances kept: how a
/// whole run orders what its shards each saw a part of. Where the lists do not decide (two
/// things no one list holds both of), the one seen first (earlier list, earlier place) comes
/// first; a contradiction (two lists ordering the same things differently) is settled the same
/// way.
pub fn join<K: Clone + Eq + Hash + Ord>(lists: impl IntoIterator<Item = Vec<K>>) -> Vec<K> {
    // Each thing: its first sighting (list, place), its successors, its unplaced predecessors.
    let mut first: HashMap<K, (usize, usize)> = HashMap::new();
    let mut after: HashMap<K, Vec<K>> = HashMap::new();
    let mut waiting: HashMap<K, usize> = HashMap::new();
    for (l, list) in lists.into_iter().enumerate() {
        let mut seen: Vec<&K> = Vec::new();
        for key in &list {
            if seen.contains(&key) {
                continue;
            }
            first.entry(key.clone()).or_insert((l, seen.len()));
            waiting.entry(key.clone()).or_insert(0);
            if let Some(prev) = seen.last() {
                let next = after.entry((*prev).clone()).or_default();
                if !next.contains(key) {
                    next.push(key.clone());
                    *waiting.entry(key.clone()).or_insert(0) += 1;
                }
            }
            seen.push(key);
        }
    }
    // Kahn's algorithm, the earliest sighting first among the ready ones; on a cycle, the
    // earliest sighting not placed yet.
    let mut ready: BTreeSet<((usize, usize), K)> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| (first[k], k.clone()))
        .collect();
    let mut placed: HashSet<K> = HashSet::new();
    let mut out = Vec::with_capacity(first.len());
    while out.len() < first.len() {
        let next = match ready.pop_first() {
            Some((_, k)) => k,
            None => {
                let mut rest: Vec<((usize, usize), &K)> = first
                    .iter()
                    .filter(|(k, _)| !placed.contains(*k))
                    .map(|(k, p)| (*p, k))
                    .collect();
                rest.sort();
                rest[0].1.clone()
            }
        };
        if !placed.insert(next.clone()) {
            continue;
        }
        for n in after.get(&next).into_iter().flatten() {
            if placed.contains(n) {
                continue;
            }
            if let Some(c) = waiting.get_mut(n) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    ready.insert((first[n], n.clone()));
                }
            }
        }
        out.push(next);
    }
    out
}

/// Sort `items` into the run's order (see the module): `plugins` in run order, `checks` from
/// [`check_order`], `host_rank` a host's place in the deployment.
pub fn sort(
    items: &mut [CheckResult],
    plugins: &[String],
    checks: &[Key],
    host_rank: impl Fn(&str) -> Option<usize>,
) {
    let plugin_rank: HashMap<&str, usize> =
        plugins.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
    let check_rank: HashMap<(&str, &str), usize> = checks
        .iter()
        .enumerate()
        .map(|(i, (p, c))| ((p.as_str(), c.as_str()), i))
        .collect();
    items.sort_by_cached_key(|r| {
        (
            plugin_rank.get(r.plugin.as_str()).copied().unwrap_or(usize::MAX),
            check_rank
                .get(&(r.plugin.as_str(), r.check.as_str()))
                .copied()
                .unwrap_or(usize::MAX),
            r.host
                .as_deref()
                .map_or(0, |h| host_rank(h).map_or(usize::MAX, |i| i + 1)),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(check: &str, host: Option<&str>) -> CheckResult {
        CheckResult::sample("p", check, rolecall_plugin::Status::Pass, host, "")
    }

    fn names(order: &[Key]) -> Vec<&str> {
        order.iter().map(|(_, c)| c.as_str()).collect()
    }

    /// Shards that each saw some of a plugin's checks give back the whole run's order.
    #[test]
    fn shard_orders_join_into_the_whole_runs() {
        let whole = [
            item("nic", None),
            item("a", None),
            item("b", None),
            item("c", None),
        ];
        let s1 = [item("nic", None), item("a", None), item("c", None)];
        let s2 = [item("nic", None), item("b", None), item("c", None)];
        assert_eq!(names(&check_order([&whole[..]])), ["nic", "a", "b", "c"]);
        assert_eq!(names(&check_order([&s1[..], &s2[..]])), ["nic", "a", "b", "c"]);
        assert_eq!(names(&check_order([&s2[..], &s1[..]])), ["nic", "b", "a", "c"]);
        // A contradiction still places every check once.
        let x = [item("a", None), item("b", None)];
        let y = [item("b", None), item("a", None)];
        assert_eq!(names(&check_order([&x[..], &y[..]])), ["a", "b"]);
    }

    #[test]
    fn sorted_by_plugin_check_then_host_in_deployment_order() {
        let mut items = vec![
            item("b", Some("h2")),
            item("a", Some("h3")),
            item("a", None),
            item("a", Some("h1")),
            item("b", Some("zz")),
        ];
        let checks = vec![
            ("p".to_string(), "a".to_string()),
            ("p".to_string(), "b".to_string()),
        ];
        let rank = |h: &str| ["h1", "h2", "h3"].iter().position(|x| *x == h);
        sort(&mut items, &["p".to_string()], &checks, rank);
        let got: Vec<String> = items
            .iter()
            .map(|r| format!("{}:{}", r.check, r.host.as_deref().unwrap_or("-")))
            .collect();
        assert_eq!(got, ["a:-", "a:h1", "a:h3", "b:h2", "b:zz"]);
    }
}
