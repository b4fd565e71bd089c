//! The testing kit: run a plugin against a mock host, with a deployment written as YAML or
//! built in code, canned command outputs per host, and assertions on what it reported.
//!
//! ```
//! use rolecall_plugin::testing::Kit;
//! use rolecall_plugin::{CommandResult, Context, Debugger, Result, Status};
//!
//! #[derive(Default)]
//! struct Uptime;
//! impl Debugger for Uptime {
//!     const NAME: &'static str = "uptime";
//!     const DESCRIPTION: &'static str = "hosts answer `uptime`";
//!     fn debug(&self, ctx: &mut Context<'_>) -> Result {
//!         let hosts: Vec<String> = ctx.hosts("web").iter().map(|h| h.name.clone()).collect();
//!         let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
//!         for r in ctx.run("uptime", &names)? {
//!             if r.success() { ctx.pass("uptime", r.stdout.trim()).host(&r.host); }
//!             else { ctx.fail("uptime", r.stderr.trim()).host(&r.host); }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut kit = Kit::from_yaml("hosts: {web01: 127.0.0.2, web02: 127.0.0.3}\nroles: {web: [web01, web02]}\n");
//! kit.canned("web01", "uptime", CommandResult::exited("web01", 0, "up 3 days\n", ""));
//! kit.canned("web02", "uptime", CommandResult::exited("web02", 1, "", "boom\n"));
//! let report = kit.debug(&Uptime);
//! report.assert_status("uptime", Some("web01"), Status::Pass);
//! report.assert_status("uptime", Some("web02"), Status::Fail);
//! ```

use serde_json::{Map, Value};

use crate::context::{Backend, Context, Level};
use crate::model::{ClusterInfo, CommandResult, Finding, Fleet, HostInfo, Input, Options, RoleInfo, Status};
use crate::{Debugger, Result, Validator};

/// A mock host for one plugin run.
#[derive(Debug, Clone, Default)]
pub struct Kit {
    input: Input,
    canned: Vec<(String, String, CommandResult)>,
    files: Vec<(String, String, Vec<u8>)>,
    /// `select`: the hosts the run works on (`None`: all).
    selected: Option<Vec<String>>,
}

/// What a plugin reported, and what it asked the host to do.
#[derive(Debug, Clone)]
pub struct Reported {
    pub findings: Vec<Finding>,
    pub logs: Vec<String>,
    /// Every `ctx.run`: the command and the hosts it targeted.
    pub commands: Vec<(String, Vec<String>)>,
    /// What the plugin function returned.
    pub outcome: std::result::Result<(), String>,
}

struct MockBackend<'k> {
    kit: &'k Kit,
    out: Reported,
}

impl Backend for MockBackend<'_> {
    fn report(&mut self, finding: &Finding) {
        self.out.findings.push(finding.clone());
    }
    fn log(&mut self, level: Level, message: &str) {
        self.out.logs.push(format!("{level:?}: {message}"));
    }
    fn run(&mut self, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>> {
        self.out
            .commands
            .push((command.into(), hosts.iter().map(|h| h.to_string()).collect()));
        Ok(hosts
            .iter()
            .map(|h| {
                if self
                    .kit
                    .selected
                    .as_ref()
                    .is_some_and(|s| !s.iter().any(|x| x == h))
                {
                    // As rolecall answers a command for a host outside the selection.
                    return CommandResult {
                        host: h.to_string(),
                        outcome: "error".into(),
                        error: Some("not among the selected hosts (see --roles, --limit)".into()),
                        ..CommandResult::default()
                    };
                }
                self.kit
                    .canned
                    .iter()
                    .find(|(host, pat, _)| (host == h || host == "*") && command.contains(pat.as_str()))
                    .map(|(_, _, r)| CommandResult {
                        host: h.to_string(),
                        ..r.clone()
                    })
                    .unwrap_or_else(|| CommandResult {
                        host: h.to_string(),
                        outcome: "error".into(),
                        error: Some(format!("testing kit: no canned output for `{command}` on `{h}`")),
                        ..CommandResult::default()
                    })
            })
            .collect())
    }
    fn run_as(&mut self, user: &str, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>> {
        let results = self.run(command, hosts)?;
        if let Some(last) = self.out.commands.last_mut() {
            last.0 = format!("sudo -u {user} {}", last.0);
        }
        Ok(results)
    }
    fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>> {
        self.kit
            .files
            .iter()
            .find(|(h, p, _)| h == host && p == path)
            .map(|(_, _, b)| b.clone())
            .ok_or_else(|| format!("testing kit: no file `{path}` on `{host}`").into())
    }
    fn cancelled(&self) -> bool {
        false
    }
}

impl Kit {
    /// The input rolecall itself gives a plugin for the deployment file at `path` (rolecall
    /// YAML, a Calyptos environment or an Ansible inventory): read by the `rolecall` binary, the
    /// same code as a real run, so hosts, roles, vars, `document` and plugin settings are what
    /// the plugin will see. The binary is `$ROLECALL_BIN`, else the `rolecall` beside the test
    /// executable's directory (a cargo build of rolecall), else `rolecall` on the PATH. Panics
    /// when there is none, or when rolecall refuses the file (its message says why): this is
    /// test set-up.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref();
        let bin = rolecall_binary();
        let out = std::process::Command::new(&bin)
            .arg("__plugin-input")
            .arg(path)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "testing kit: cannot run {} to read {} ({e}); set ROLECALL_BIN to a rolecall binary",
                    bin.display(),
                    path.display()
                )
            });
        assert!(
            out.status.success(),
            "testing kit: rolecall refused {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let input: Input = serde_json::from_slice(&out.stdout).expect("testing kit: rolecall's input JSON");
        Self {
            input,
            ..Self::default()
        }
    }

    /// [`Kit::from_file`] for deployment text (rolecall's own YAML format, or any format
    /// rolecall detects), written to a temporary file first.
    pub fn from_deployment(text: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rolecall-kit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("testing kit: temporary directory");
        let file = dir.join("deploy.yaml");
        std::fs::write(&file, text).expect("testing kit: temporary deployment file");
        let kit = Self::from_file(&file);
        let _ = std::fs::remove_dir_all(&dir);
        kit
    }

    /// The input this kit gives plugin `name` (what [`Kit::validate`] and [`Kit::debug`] run
    /// with).
    pub fn input_for(&self, name: &str) -> Input {
        self.prepare(name)
    }

    /// An empty fleet; add hosts and roles with the builder methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// A quick builder from a small subset of the native format, without the rolecall binary;
    /// prefer [`Kit::from_deployment`], which reads the text as a real run does. The subset:
    /// `hosts` (name: address, or a mapping
    /// with `address`, `port`, `user`, `vars`), `roles` (a list, or a mapping with `hosts`,
    /// `min`, `max`, `expect`), `clusters`, and `plugins` (each plugin's `config`). Host ranges
    /// are not expanded here. The whole YAML is also the document (`ctx.document()`), so other
    /// sections (a Calyptos `default_attributes`) reach the plugin. Panics on malformed YAML:
    /// this is test set-up.
    pub fn from_yaml(yaml: &str) -> Self {
        let doc: Value = serde_yaml::from_str(yaml).expect("testing kit: invalid YAML");
        let mut kit = Self::new();
        if let Some(hosts) = doc.get("hosts").and_then(Value::as_object) {
            for (name, spec) in hosts {
                let address = match spec {
                    Value::String(s) => s.clone(),
                    Value::Object(o) => o
                        .get("address")
                        .and_then(Value::as_str)
                        .unwrap_or(name)
                        .to_string(),
                    _ => name.clone(),
                };
                kit = kit.host(name, &address);
                if let Some(o) = spec.as_object() {
                    let h = kit.input.deployment.hosts.last_mut().expect("just added");
                    if let Some(p) = o.get("port").and_then(Value::as_u64) {
                        h.port = u16::try_from(p).expect("testing kit: port out of range");
                    }
                    if let Some(u) = o.get("user").and_then(Value::as_str) {
                        h.user = u.to_string();
                    }
                    if let Some(v) = o.get("vars").and_then(Value::as_object) {
                        h.vars = v.clone();
                    }
                }
            }
        }
        if let Some(roles) = doc.get("roles").and_then(Value::as_object) {
            for (name, spec) in roles {
                let list = |v: Option<&Value>| -> Vec<String> {
                    match v {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => {
                            a.iter().filter_map(Value::as_str).map(String::from).collect()
                        }
                        _ => Vec::new(),
                    }
                };
                let role = match spec {
                    Value::Object(o) => RoleInfo {
                        name: name.clone(),
                        hosts: list(o.get("hosts")),
                        min: o.get("min").and_then(Value::as_u64).map(|n| n as usize),
                        max: o.get("max").and_then(Value::as_u64).map(|n| n as usize),
                        expect: o.get("expect").cloned().unwrap_or(Value::Null),
                        ..RoleInfo::default()
                    },
                    other => RoleInfo {
                        name: name.clone(),
                        hosts: list(Some(other)),
                        ..RoleInfo::default()
                    },
                };
                kit.input.deployment.roles.push(role);
            }
        }
        if let Some(clusters) = doc.get("clusters").and_then(Value::as_object) {
            for (name, hosts) in clusters {
                let hosts = hosts.as_array().map_or_else(Vec::new, |a| {
                    a.iter().filter_map(Value::as_str).map(String::from).collect()
                });
                kit.input.deployment.clusters.push(ClusterInfo {
                    name: name.clone(),
                    hosts,
                    ..ClusterInfo::default()
                });
            }
        }
        // The whole YAML is the document, as rolecall sends it (`ctx.document()`).
        // Every plugin's section, as rolecall sends it for every profile.
        if let Some(plugins) = doc.get("plugins").and_then(Value::as_object) {
            kit.input.deployment.plugins = plugins.clone();
        }
        kit.input.deployment.document = doc;
        kit
    }

    /// Add a host (port 22, user `root`).
    pub fn host(mut self, name: &str, address: &str) -> Self {
        self.input.deployment.hosts.push(HostInfo {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: "root".into(),
            vars: Map::new(),
        });
        self
    }

    /// Add a role.
    pub fn role(mut self, name: &str, hosts: &[&str]) -> Self {
        self.input.deployment.roles.push(RoleInfo {
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..RoleInfo::default()
        });
        self
    }

    /// Run on `hosts` only, as `--limit` or `--shard` narrow a run: the other hosts are in
    /// [`Fleet::others`] (see [`Fleet::select`]), and a command sent to one of them fails as
    /// rolecall fails it.
    pub fn select(mut self, hosts: &[&str]) -> Self {
        self.selected = Some(hosts.iter().map(|h| h.to_string()).collect());
        self
    }

    /// Mutable access to the whole fleet, for anything the builders do not cover.
    pub fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.input.deployment
    }

    /// Set the plugin's configuration section.
    pub fn config(mut self, config: Value) -> Self {
        self.input.config = config;
        self
    }

    /// Set the run's options (`online`, `dry_run`, `allow_nets`, ...).
    pub fn options(mut self, options: Options) -> Self {
        self.input.options = options;
        self
    }

    /// Answer commands containing `pattern` on `host` (`"*"` for any host) with `result`.
    pub fn canned(&mut self, host: &str, pattern: &str, result: CommandResult) -> &mut Self {
        self.canned.push((host.into(), pattern.into(), result));
        self
    }

    /// Serve `bytes` as the file `path` on `host`.
    pub fn file(&mut self, host: &str, path: &str, bytes: &[u8]) -> &mut Self {
        self.files.push((host.into(), path.into(), bytes.to_vec()));
        self
    }

    fn prepare(&self, name: &str) -> Input {
        let mut input = self.input.clone();
        input.plugin = name.into();
        if !input.deployment.roles.iter().any(|r| r.name == "all") {
            let all = input.deployment.hosts.iter().map(|h| h.name.clone()).collect();
            input.deployment.roles.push(RoleInfo {
                name: "all".into(),
                hosts: all,
                ..RoleInfo::default()
            });
        }
        if let Some(selected) = &self.selected {
            input.deployment.select(|h| selected.iter().any(|s| s == h));
        }
        if input.config.is_null() {
            let own = input
                .deployment
                .plugins
                .get(name)
                .or_else(|| input.deployment.document.get("plugins").and_then(|p| p.get(name)));
            if let Some(c) = own {
                input.config = c.clone();
            }
        }
        input
    }

    fn run_with(&self, name: &str, f: impl FnOnce(&mut Context<'_>) -> Result) -> Reported {
        let input = self.prepare(name);
        let out = Reported {
            findings: Vec::new(),
            logs: Vec::new(),
            commands: Vec::new(),
            outcome: Ok(()),
        };
        let mut backend = MockBackend { kit: self, out };
        let outcome = {
            let mut ctx = Context::new(&input, &mut backend);
            f(&mut ctx)
        };
        backend.out.outcome = outcome.map_err(|e| e.0);
        backend.out
    }

    /// Run a validator against this fleet.
    pub fn validate<V: Validator>(&self, v: &V) -> Reported {
        self.run_with(V::NAME, |ctx| v.validate(ctx))
    }

    /// Run a debugger against this fleet and the canned outputs.
    pub fn debug<D: Debugger>(&self, d: &D) -> Reported {
        self.run_with(D::NAME, |ctx| d.debug(ctx))
    }
}

impl Reported {
    /// Findings of `check` (and `host`, when given).
    pub fn find(&self, check: &str, host: Option<&str>) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.check == check && (host.is_none() || f.host.as_deref() == host))
            .collect()
    }

    /// Assert that `check` (on `host`) was reported, every time, with `status`.
    #[track_caller]
    pub fn assert_status(&self, check: &str, host: Option<&str>, status: Status) {
        let found = self.find(check, host);
        assert!(
            !found.is_empty(),
            "no `{check}` result for {host:?}; reported: {:#?}",
            self.findings
        );
        for f in found {
            assert_eq!(f.status, status, "`{check}` on {host:?}: {}", f.message);
        }
    }

    /// How many findings have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    /// Assert that the plugin returned `Ok`.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.outcome, Ok(()), "plugin returned an error");
    }
}

/// The rolecall binary [`Kit::from_file`] runs.
fn rolecall_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ROLECALL_BIN").filter(|p| !p.is_empty()) {
        return p.into();
    }
    // A test executable lives in target/<profile>/deps; rolecall in target/<profile>.
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("rolecall")))
        .filter(|p| p.is_file())
    {
        return beside;
    }
    "rolecall".into()
}
