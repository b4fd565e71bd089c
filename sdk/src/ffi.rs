//! Plugin-side shims behind the export macro: the `extern "C"` run functions and the backend
//! that talks to the host through [`HostApi`]. Every path that can panic runs inside
//! `catch_unwind`; a panic becomes an `error` result and [`Code::PANICKED`].
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::abi::{self, Code, HostApi, Report, Str};
use crate::context::{Backend, Context, Level};
use crate::model::{CommandResult, ExpectKey, Finding, Fleet, Input, Options, Status};
use crate::{Debugger, Result, Validator};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keep panics quiet on stderr (the host reports them) but remember the message and location.
/// This library has its own copy of std, so the hook is this plugin's alone.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
        }));
    });
}

struct FfiBackend<'h> {
    api: &'h HostApi,
}

impl FfiBackend<'_> {
    fn send(&self, f: &Finding) {
        let host = f.host.as_deref().unwrap_or("");
        let path = f.path.as_deref().unwrap_or("");
        let report = Report {
            struct_size: size_of::<Report<'_>>() as u32,
            status: f.status.to_abi(),
            check: Str::new(&f.check),
            host: Str::new(host),
            message: Str::new(&f.message),
            yaml_path: Str::new(path),
        };
        // SAFETY: `api` was checked non-NULL and versioned by `run_plugin`; `report` and the
        // strings it borrows live until the call returns.
        let _ = unsafe { (self.api.report)(self.api.ctx, &report) };
    }
}

/// Collects what a host callback delivers.
unsafe extern "C" fn collect(user: *mut c_void, data: Str<'_>) {
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        if user.is_null() {
            return;
        }
        // SAFETY: `user` is the `&mut Vec<Vec<u8>>` we passed alongside this function, alive for
        // the duration of the host call that invokes us; `data` is valid for this call.
        let (sink, bytes) = unsafe { (&mut *user.cast::<Vec<Vec<u8>>>(), data.as_bytes()) };
        sink.push(bytes.to_vec());
    }));
}

impl FfiBackend<'_> {
    fn run_command(&mut self, command: &str, hosts_json: String) -> Result<Vec<CommandResult>> {
        self.run_command_code(command, hosts_json)?.map_err(Self::refused)
    }

    /// Why the host did not run a command, from its code.
    fn refused(code: Code) -> crate::Error {
        match code {
            Code::UNAVAILABLE => "running commands is not available in this run".into(),
            Code::CANCELLED => "the run was cancelled".into(),
            other => format!("the host could not run the command (code {})", other.0).into(),
        }
    }

    /// The results, or the host's code when it did not run the command.
    fn run_command_code(
        &mut self,
        command: &str,
        hosts_json: String,
    ) -> Result<std::result::Result<Vec<CommandResult>, Code>> {
        let mut sink: Vec<Vec<u8>> = Vec::new();
        // SAFETY: see `send`; `sink` outlives the call and matches what `collect` expects.
        let code = unsafe {
            (self.api.run_command)(
                self.api.ctx,
                Str::new(command),
                Str::new(&hosts_json),
                collect,
                (&mut sink as *mut Vec<Vec<u8>>).cast(),
            )
        };
        match code {
            Code::OK => sink
                .iter()
                .map(|b| Ok(serde_json::from_slice(b)?))
                .collect::<Result<Vec<_>>>()
                .map(Ok),
            other => Ok(Err(other)),
        }
    }
}

impl Backend for FfiBackend<'_> {
    fn report(&mut self, finding: &Finding) {
        self.send(finding);
    }

    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Error => abi::level::ERROR,
            Level::Warn => abi::level::WARN,
            Level::Info => abi::level::INFO,
            Level::Debug => abi::level::DEBUG,
        };
        // SAFETY: see `send`.
        let _ = unsafe { (self.api.log)(self.api.ctx, level, Str::new(message)) };
    }

    fn run(&mut self, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>> {
        self.run_command(command, serde_json::to_string(hosts)?)
    }

    fn run_as(&mut self, user: &str, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>> {
        // The hosts argument as an object asks for sudo (ABI v1, rolecall 0.2 and later).
        let hosts_json = serde_json::to_string(&serde_json::json!({"hosts": hosts, "become": user}))?;
        self.run_command(command, hosts_json)
    }

    fn run_many(&mut self, runs: &[crate::Run<'_>]) -> Result<Vec<Vec<CommandResult>>> {
        // The hosts argument `{"many": [...]}` asks for every run at once (ABI v1, rolecall 0.3
        // and later); the results come one per host of each run, in order. An older host
        // refuses the shape: then one run after another.
        let many: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| match r.become_user {
                Some(user) => serde_json::json!({"command": r.command, "hosts": r.hosts, "become": user}),
                None => serde_json::json!({"command": r.command, "hosts": r.hosts}),
            })
            .collect();
        let hosts_json = serde_json::to_string(&serde_json::json!({ "many": many }))?;
        match self.run_command_code("", hosts_json)? {
            Ok(mut flat) => {
                let mut out = Vec::with_capacity(runs.len());
                for r in runs {
                    let rest = flat.split_off(r.hosts.len().min(flat.len()));
                    out.push(std::mem::replace(&mut flat, rest));
                }
                Ok(out)
            }
            Err(Code::INVALID) => crate::context::one_by_one(self, runs),
            Err(code) => Err(Self::refused(code)),
        }
    }
    fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>> {
        let mut sink: Vec<Vec<u8>> = Vec::new();
        // SAFETY: as in `run`.
        let code = unsafe {
            (self.api.fetch_file)(
                self.api.ctx,
                Str::new(host),
                Str::new(path),
                collect,
                (&mut sink as *mut Vec<Vec<u8>>).cast(),
            )
        };
        match code {
            Code::OK => Ok(sink.concat()),
            Code::UNAVAILABLE => Err("fetching files is not available in this run".into()),
            other => Err(format!("could not fetch `{path}` from `{host}` (code {})", other.0).into()),
        }
    }

    fn cancelled(&self) -> bool {
        // SAFETY: see `send`.
        unsafe { (self.api.is_cancelled)(self.api.ctx) != 0 }
    }
}

/// The run's input with the deployment as `D` (its text, or `()` where the text is known):
/// [`Input`]'s fields, and the id under which the host names the deployment (rolecall's plugin
/// host gives every plugin it runs the same deployment under the same id).
#[derive(Deserialize)]
struct Parts<D> {
    plugin: String,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    options: Options,
    #[serde(default)]
    expect_keys: Vec<ExpectKey>,
    #[serde(default)]
    deployment_id: Option<String>,
    deployment: D,
}

/// The deployment last parsed in this process: its id, its JSON text and the parse. The next
/// plugin of this library given the same text under the same id takes the parse instead of
/// reading the text again.
struct Parsed {
    id: String,
    text: String,
    fleet: Fleet,
}

static PARSED: Mutex<Option<Parsed>> = Mutex::new(None);

/// What [`keep`] needs to keep an input's deployment: its id and text.
struct Kept {
    id: String,
    text: String,
}

/// Parse the run's input; the deployment comes from [`PARSED`] when the input gives the same
/// text under the same id. What to keep is returned, for [`keep`].
fn read_input(text: &str) -> serde_json::Result<(Input, Option<Kept>)> {
    if let Some(reused) = reuse(text) {
        return Ok(reused);
    }
    let parts: Parts<&RawValue> = serde_json::from_str(text)?;
    let deployment = serde_json::from_str(parts.deployment.get())?;
    let kept = parts.deployment_id.map(|id| Kept {
        id,
        text: parts.deployment.get().to_string(),
    });
    let input = Input {
        plugin: parts.plugin,
        deployment,
        config: parts.config,
        options: parts.options,
        expect_keys: parts.expect_keys,
    };
    Ok((input, kept))
}

/// The input with the kept deployment, when `text` ends with that deployment's text as the
/// value of its last key, `deployment`, and names it by the same id (as rolecall's host writes
/// every plugin's input). Only the text before the deployment is read: finding where a 10 MB
/// deployment ends took a plugin as long as its own work (a comparison of the bytes takes 1 ms).
///
/// Sound for any text: when `HEAD` + `null}` is a JSON object whose last entry, and only one
/// named `deployment`, is that `null`, with no name twice, `HEAD` + `D` + `}` is the same
/// object with `deployment` D (D is one whole value: it was parsed before).
fn reuse(text: &str) -> Option<(Input, Option<Kept>)> {
    let mut parsed = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    let kept = parsed.as_ref()?;
    let head = text.strip_suffix('}')?.strip_suffix(kept.text.as_str())?;
    if !head.ends_with(r#""deployment":"#) {
        return None;
    }
    let Entries(entries) = serde_json::from_str(&format!("{head}null}}")).ok()?;
    let names: std::collections::HashSet<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    match entries.last() {
        Some((last, Value::Null)) if last == "deployment" && names.len() == entries.len() => {}
        _ => return None,
    }
    let rest: Parts<()> = serde_json::from_value(Value::Object(entries.into_iter().collect())).ok()?;
    if rest.deployment_id.as_deref() != Some(kept.id.as_str()) {
        return None;
    }
    let Parsed { id, text, fleet } = parsed.take()?;
    let input = Input {
        plugin: rest.plugin,
        deployment: fleet,
        config: rest.config,
        options: rest.options,
        expect_keys: rest.expect_keys,
    };
    Some((input, Some(Kept { id, text })))
}

/// A JSON object's entries in order, names written twice kept twice.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(V)
    }
}

/// Keep `input`'s deployment for the next plugin given the same one.
fn keep(kept: Option<Kept>, input: Input) {
    if let Some(Kept { id, text }) = kept {
        *PARSED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Parsed {
            id,
            text,
            fleet: input.deployment,
        });
    }
}

/// Body of every exported run function.
///
/// # Safety
/// `host` must be NULL or point to a valid `HostApi` for the duration of the call; `input` must
/// be valid for the call.
pub unsafe fn run_plugin(
    host: *const HostApi,
    input: Str<'_>,
    body: impl FnOnce(&mut Context<'_>) -> Result<()>,
) -> Code {
    install_panic_hook();
    let outer = panic::catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() {
            return Code::INVALID;
        }
        // SAFETY: non-NULL, and valid for the call per this function's contract.
        let api = unsafe { &*host };
        if api.abi_version != abi::ABI_VERSION || (api.struct_size as usize) < size_of::<HostApi>() {
            return Code::INVALID;
        }
        let mut backend = FfiBackend { api };
        let error = |backend: &mut FfiBackend<'_>, check: &str, message: String| {
            let f = Finding {
                status: Status::Error,
                check: check.into(),
                host: None,
                message,
                path: None,
            };
            backend.send(&f);
        };
        // SAFETY: valid for the call per this function's contract.
        let text = match unsafe { input.to_str() } {
            Ok(t) => t,
            Err(e) => {
                error(&mut backend, "plugin-input", format!("input is not UTF-8: {e}"));
                return Code::INVALID;
            }
        };
        let (input, kept) = match read_input(text) {
            Ok(i) => i,
            Err(e) => {
                error(
                    &mut backend,
                    "plugin-input",
                    format!("input is not the expected JSON: {e}"),
                );
                return Code::INVALID;
            }
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut ctx = Context::new(&input, &mut backend);
            body(&mut ctx)
        }));
        // The plugin only ever saw `&input`: what it leaves is the deployment as it came.
        keep(kept, input);
        match result {
            Ok(Ok(())) => Code::OK,
            Ok(Err(e)) => {
                error(&mut backend, "plugin-error", e.0);
                Code::FAILED
            }
            Err(_) => {
                let msg = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "unknown panic".into());
                error(&mut backend, "panic", format!("plugin panicked: {msg}"));
                Code::PANICKED
            }
        }
    }));
    outer.unwrap_or(Code::PANICKED)
}

/// The run function of validator `V`.
///
/// # Safety
/// Called by the host only, per the ABI.
pub unsafe extern "C" fn run_validator<V: Validator>(host: *const HostApi, input: Str<'_>) -> Code {
    // SAFETY: forwarded from the host, per the ABI.
    unsafe { run_plugin(host, input, |ctx| V::default().validate(ctx)) }
}

/// The run function of debugger `D`.
///
/// # Safety
/// Called by the host only, per the ABI.
pub unsafe extern "C" fn run_debugger<D: Debugger>(host: *const HostApi, input: Str<'_>) -> Code {
    // SAFETY: forwarded from the host, per the ABI.
    unsafe { run_plugin(host, input, |ctx| D::default().debug(ctx)) }
}

pub const fn validator<V: Validator>() -> abi::PluginDescriptor {
    abi::PluginDescriptor {
        struct_size: size_of::<abi::PluginDescriptor>() as u32,
        kind: abi::Kind::VALIDATOR,
        name: Str::new(V::NAME),
        description: Str::new(V::DESCRIPTION),
        run: run_validator::<V>,
    }
}

pub const fn debugger<D: Debugger>() -> abi::PluginDescriptor {
    abi::PluginDescriptor {
        struct_size: size_of::<abi::PluginDescriptor>() as u32,
        kind: abi::Kind::DEBUGGER,
        name: Str::new(D::NAME),
        description: Str::new(D::DESCRIPTION),
        run: run_debugger::<D>,
    }
}

/// `{"PLUGIN": [{"key", "type", "description"}, ..]}` for [`abi::ModuleDescriptor::expect_keys`].
pub fn expect_json(plugins: &[(&str, &[crate::Expect])]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = plugins
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(name, keys)| {
            let list = keys
                .iter()
                .map(|k| serde_json::json!({"key": k.key, "type": k.kind, "description": k.description}))
                .collect();
            (name.to_string(), serde_json::Value::Array(list))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

pub const fn module(
    name: &'static str,
    version: &'static str,
    plugins: &'static [abi::PluginDescriptor],
    expect_keys: Option<abi::ExpectKeysFn>,
) -> abi::ModuleDescriptor {
    abi::ModuleDescriptor {
        abi_version: abi::ABI_VERSION,
        struct_size: size_of::<abi::ModuleDescriptor>() as u32,
        name: Str::new(name),
        version: Str::new(version),
        plugins: plugins.as_ptr(),
        plugin_count: plugins.len(),
        expect_keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin's input as rolecall's host writes it: the deployment last.
    fn input(plugin: &str, id: Option<&str>, deployment: &str) -> String {
        let id = id.map_or_else(String::new, |id| format!(r#","deployment_id":"{id}""#));
        format!(
            r#"{{"plugin":"{plugin}","config":{{"k":[1,2]}},"options":{{"online":true,"allow_changes":true,"dry_run":true,"allow_nets":["127.0.0.0/8"]}},"expect_keys":[{{"key":"ports","type":"list","description":"d","plugin":"p"}}]{id},"deployment":{deployment}}}"#
        )
    }

    fn fleet(hosts: &[&str]) -> String {
        let hosts: Vec<Value> = hosts
            .iter()
            .map(|h| serde_json::json!({"name": h, "address": "127.0.0.2", "port": 22, "user": "u"}))
            .collect();
        serde_json::json!({"name": "n", "profile": "native", "source": "d.yaml", "hosts": hosts,
                           "roles": [], "clusters": []})
        .to_string()
    }

    fn text(id: Option<&str>, hosts: &[&str]) -> String {
        input("p", id, &fleet(hosts))
    }

    /// The tests that keep a deployment, one at a time ([`PARSED`] is the process's).
    fn alone() -> std::sync::MutexGuard<'static, ()> {
        static ONE: Mutex<()> = Mutex::new(());
        ONE.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Parts` reads every field `Input` has: the two parses of one input agree.
    #[test]
    fn the_input_read_in_parts_is_the_input() {
        let t = text(None, &["a", "b"]);
        let (parts, kept) = read_input(&t).expect("reads");
        let whole: Input = serde_json::from_str(&t).expect("reads");
        assert!(kept.is_none());
        assert_eq!(
            serde_json::to_value(&parts).expect("json"),
            serde_json::to_value(&whole).expect("json")
        );
    }

    /// A deployment given again (the same text under the same id) is not parsed again, and
    /// the rest of the input is still read: the kept parse moves back, so its hosts are where
    /// they were. Another id, another text or none is parsed.
    #[test]
    fn a_deployment_is_parsed_once_per_text_and_id() {
        let _alone = alone();
        let names =
            |i: &Input| -> Vec<String> { i.deployment.hosts.iter().map(|h| h.name.clone()).collect() };
        let at = |i: &Input| i.deployment.hosts.as_ptr();
        let a = fleet(&["a"]);
        let (first, kept) = read_input(&input("p", Some("one"), &a)).expect("reads");
        let was = at(&first);
        keep(kept, first);
        let (again, kept) = read_input(&input("q", Some("one"), &a)).expect("reads");
        assert_eq!(again.plugin, "q", "the rest of the input is read");
        assert_eq!(at(&again), was, "the kept parse is reused");
        let whole: Input = serde_json::from_str(&input("q", Some("one"), &a)).expect("reads");
        assert_eq!(
            serde_json::to_value(&again).expect("json"),
            serde_json::to_value(&whole).expect("json")
        );
        keep(kept, again);
        let (other_id, kept) = read_input(&input("p", Some("two"), &a)).expect("reads");
        assert_ne!(at(&other_id), was, "another id is parsed");
        keep(kept, other_id);
        let (other_text, kept) = read_input(&text(Some("two"), &["b"])).expect("reads");
        assert_eq!(names(&other_text), ["b"]);
        keep(kept, other_text);
        let (none, _) = read_input(&text(None, &["d"])).expect("reads");
        assert_eq!(names(&none), ["d"]);
    }

    /// Text that ends with the kept deployment but gives another as `deployment` is read as it
    /// is: the kept one follows another key (whose name ends in `deployment`), or is not last.
    #[test]
    fn only_the_deployment_itself_is_reused() {
        let _alone = alone();
        let a = fleet(&["a"]);
        let (first, kept) = read_input(&input("p", Some("one"), &a)).expect("reads");
        keep(kept, first);
        let b = fleet(&["b"]);
        let names = |t: &str| -> Vec<String> {
            let (i, kept) = read_input(t).expect("reads");
            let n = i.deployment.hosts.iter().map(|h| h.name.clone()).collect();
            keep(kept, i);
            n
        };
        let tricky =
            format!(r#"{{"plugin":"p","deployment_id":"one","deployment":{b},"x\"deployment":{a}}}"#);
        assert_eq!(names(&tricky), ["b"]);
        let (first, kept) = read_input(&input("p", Some("one"), &a)).expect("reads");
        keep(kept, first);
        let nested =
            format!(r#"{{"plugin":"p","deployment_id":"one","deployment":{b},"c":{{"deployment":{a}}}}}"#);
        assert_eq!(names(&nested), ["b"]);
        // No deployment at all (`null`), the kept one's text under another key: an error, as
        // reading it whole says; and a name written twice, which reading it whole refuses.
        let (first, kept) = read_input(&input("p", Some("one"), &a)).expect("reads");
        keep(kept, first);
        let none = format!(r#"{{"plugin":"p","deployment_id":"one","deployment":null,"x\"deployment":{a}}}"#);
        assert!(serde_json::from_str::<Input>(&none).is_err());
        assert!(read_input(&none).is_err());
        let twice = format!(r#"{{"plugin":"p","plugin":"q","deployment_id":"one","deployment":{a}}}"#);
        assert!(read_input(&twice).is_err());
    }
}
