//! `validate`: every selected validator over the deployment, several at once (each in its own
//! plugin host), results in load order.

use std::time::Instant;

use rayon::prelude::*;
use rolecall_plugin::Options;

use crate::deployment::Deployment;
use crate::plugin::call::{self, Offline};
use crate::plugin::{PluginKind, Registry};
use crate::results::{CheckResult, Results};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Run only these plugins (empty = all).
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub online: bool,
    pub allow_nets: Vec<String>,
    /// Every host's resolved settings (resolved once per run).
    pub settings: Vec<crate::remote::settings::HostSettings>,
    /// Plugins still running then are stopped (an error result each).
    pub deadline: Option<Instant>,
}

/// Run the validators of `registry` over `d`. `opts` is taken: its resolved settings are
/// dropped once the plugins' fleet is serialized (at 100,000 hosts they weigh ~50 MB).
pub fn validate(d: &Deployment, registry: &Registry, mut opts: ValidateOptions) -> Results {
    let mut results = Results::default();
    let plugins = super::select_plugins(
        registry,
        PluginKind::Validator,
        &opts.only,
        &opts.skip,
        &mut results,
    );
    let fleet = serde_json::to_string(&super::fleet(d, &opts.settings)).unwrap_or_default();
    opts.settings = Vec::new();
    let expect = super::expect_keys_json(registry);
    let options = Options {
        online: opts.online,
        allow_nets: opts.allow_nets.clone(),
        ..Options::default()
    };
    let mut locator = d.locator();
    // Each validator runs in a plugin host of its own, so they can run at once (rayon's pool:
    // as many as there are cores); `collect` keeps load order.
    let outcomes: Vec<call::Outcome> = plugins
        .par_iter()
        .map(|plugin| {
            let input = super::input_json(d, &plugin.name, &fleet, &options, &expect);
            call::call(plugin, &input, &mut Offline, opts.deadline)
        })
        .collect();
    for (plugin, outcome) in plugins.into_iter().zip(outcomes) {
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
