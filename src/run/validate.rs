//! `validate`: every selected validator over the deployment, several libraries at once (each in
//! a plugin host of its own), results in load order.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use rolecall_plugin::Options;

use crate::deployment::Deployment;
use crate::plugin::call::{self, Offline};
use crate::plugin::{Plugin, PluginKind, Registry};
use crate::results::{CheckResult, Results};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Run only these plugins (empty = all).
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub online: bool,
    pub allow_nets: Vec<String>,
    /// The deployment as plugins see it: [`super::resolved_fleet_json`], or
    /// [`super::fleet_json`] of settings resolved once for the run.
    pub fleet: crate::plugin::wire::Pieces,
    /// Plugins still running then are stopped (an error result each).
    pub deadline: Option<Instant>,
}

/// Run the validators of `registry` over `d`.
pub fn validate(d: &Deployment, registry: &Registry, opts: ValidateOptions) -> Results {
    let mut results = Results::default();
    let plugins = super::select_plugins(
        registry,
        PluginKind::Validator,
        &opts.only,
        &opts.skip,
        &mut results,
    );
    let expect_keys = super::expect_keys(registry);
    let options = Options {
        online: opts.online,
        allow_nets: opts.allow_nets.clone(),
        ..Options::default()
    };
    let input = call::RunInput {
        deployment: &opts.fleet,
        options: &options,
        expect_keys: &expect_keys,
        configs: &d.plugins,
    };
    let mut locator = d.locator();
    // The validators of one library run in one plugin host, one after another (the deployment
    // crosses to it once); libraries run at once, `at_once(n)` of them at a time.
    let groups = super::by_library(&plugins);
    let ran = each_at_once(
        &groups,
        at_once(groups.len()),
        |group| call::call(group, &input, &mut Offline, opts.deadline),
        // `call` contains what a plugin does; a panic there is rolecall's own.
        |group| group.iter().map(|_| call::Outcome::lost()).collect(),
    );
    let mut outcomes: Vec<(&Plugin, call::Outcome)> = groups
        .iter()
        .zip(ran)
        .flat_map(|(group, ran)| group.iter().copied().zip(ran))
        .collect();
    // Back to load order.
    outcomes.sort_by_key(|(p, _)| plugins.iter().position(|q| std::ptr::eq(*q, *p)));
    locator.prepare(
        outcomes
            .iter()
            .flat_map(|(_, o)| o.findings.iter().filter_map(|(f, _)| f.path.as_deref())),
    );
    for (plugin, outcome) in outcomes {
        results.ran.push((plugin.name.clone(), outcome.elapsed));
        results.add_logs(&plugin.name, outcome.logs);
        let findings = call::with_plugin_error(outcome.findings, outcome.code);
        for (f, took) in findings {
            let f = super::refuse_foreign(&plugin.name, f, d, None);
            let position = f.path.as_deref().and_then(|p| locator.at(p));
            results
                .items
                .push(CheckResult::from_finding(&plugin.name, f, position, took));
        }
    }
    results
}

/// Plugin hosts of `libraries` run at once: one per core, and at least [`MIN_AT_ONCE`]. A
/// host's work is in its own process (parsing the deployment, mostly), so a library left for a
/// second round kept a core idle (at 100,000 hosts, three libraries on two cores took two
/// rounds of 90 ms); and each host holds its own copy of the deployment, so not all of many
/// libraries at once.
fn at_once(libraries: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.max(MIN_AT_ONCE).min(libraries)
}

/// See [`at_once`].
const MIN_AT_ONCE: usize = 4;

/// `f` of every item, on `width` threads that take the next item as they finish one, the
/// answers in the items' order; an item whose `f` panicked answers `lost(item)`.
fn each_at_once<T: Sync, R: Send + Sync>(
    items: &[T],
    width: usize,
    f: impl Fn(&T) -> R + Sync,
    lost: impl Fn(&T) -> R,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let answers: Vec<OnceLock<R>> = items.iter().map(|_| OnceLock::new()).collect();
    std::thread::scope(|scope| {
        for _ in 0..width.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Ok(answer) = std::panic::catch_unwind(AssertUnwindSafe(|| f(item))) {
                    let _ = answers[i].set(answer);
                }
            });
        }
    });
    items
        .iter()
        .zip(answers)
        .map(|(item, a)| a.into_inner().unwrap_or_else(|| lost(item)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More items than threads: each is done once, answers in order, a panic is that item's
    /// `lost` and the others still finish.
    #[test]
    fn each_item_once_in_order_a_panic_is_lost() {
        let items: Vec<usize> = (0..23).collect();
        let calls = AtomicUsize::new(0);
        let answers = each_at_once(
            &items,
            4,
            |&i| {
                calls.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis((i % 3) as u64));
                assert_ne!(i, 7, "item 7 panics");
                i * 10
            },
            |&i| i + 1000,
        );
        let mut expected: Vec<usize> = items.iter().map(|i| i * 10).collect();
        expected[7] = 1007;
        assert_eq!(answers, expected);
        assert_eq!(calls.load(Ordering::Relaxed), items.len());
        assert_eq!(at_once(1), 1);
        assert!(at_once(100) >= MIN_AT_ONCE);
    }
}
