//! `validate`: every selected validator over the deployment, several libraries at once (each in
//! a plugin host of its own), results in load order.

use std::time::Instant;

use rayon::prelude::*;
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
    /// Every host as plugins see it ([`super::host_infos`], or [`super::host_info`] of
    /// settings resolved once for the run).
    pub hosts: Vec<rolecall_plugin::HostInfo>,
    /// Plugins still running then are stopped (an error result each).
    pub deadline: Option<Instant>,
}

/// Run the validators of `registry` over `d`. `opts` is taken: its hosts go into the plugins'
/// fleet, dropped once that is serialized.
pub fn validate(d: &Deployment, registry: &Registry, mut opts: ValidateOptions) -> Results {
    let mut results = Results::default();
    let plugins = super::select_plugins(
        registry,
        PluginKind::Validator,
        &opts.only,
        &opts.skip,
        &mut results,
    );
    let fleet = super::fleet_json(d, &std::mem::take(&mut opts.hosts));
    let expect_keys = super::expect_keys(registry);
    let options = Options {
        online: opts.online,
        allow_nets: opts.allow_nets.clone(),
        ..Options::default()
    };
    let input = call::RunInput {
        deployment: &fleet,
        options: &options,
        expect_keys: &expect_keys,
        configs: &d.plugins,
    };
    let mut locator = d.locator();
    // The validators of one library run in one plugin host, one after another (the deployment
    // crosses to it once); libraries run at once (rayon's pool: as many as there are cores).
    let mut outcomes: Vec<(&Plugin, call::Outcome)> = super::by_library(&plugins)
        .par_iter()
        .flat_map_iter(|group| {
            let ran = call::call(group, &input, &mut Offline, opts.deadline);
            group.iter().copied().zip(ran)
        })
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
