//! `rolecall plugin new NAME`: a plugin to start from, that builds, passes its unit test and
//! loads from its build directory at once. Rust (a cdylib crate on the `rolecall-plugin` SDK,
//! with a test on the SDK's testing kit) or C (one file, the ABI header and a Makefile).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use rolecall::exit::Exit;
use rolecall::report::Printer;

/// The `rolecall-plugin` SDK this rolecall was built with, shipped inside the binary: a new
/// Rust plugin gets its own copy (`rolecall-plugin/`), so it builds from an installed rolecall
/// with no source checkout and no build path.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../sdk/src/lib.rs")),
    ("src/abi.rs", include_str!("../../sdk/src/abi.rs")),
    ("src/checks.rs", include_str!("../../sdk/src/checks.rs")),
    ("src/context.rs", include_str!("../../sdk/src/context.rs")),
    ("src/ffi.rs", include_str!("../../sdk/src/ffi.rs")),
    ("src/model.rs", include_str!("../../sdk/src/model.rs")),
    ("src/testing.rs", include_str!("../../sdk/src/testing.rs")),
    ("ABI.md", include_str!("../../sdk/ABI.md")),
];

/// The vendored SDK's manifest: the workspace's values written out.
fn sdk_manifest() -> String {
    format!(
        r#"# The rolecall-plugin SDK {version}, as shipped inside the rolecall that wrote this plugin.
[package]
name = "rolecall-plugin"
description = "SDK for rolecall validator and debugger plugins: the C ABI, safe traits, a testing kit"
version = "{version}"
edition = "2021"
license = "MIT OR Apache-2.0"
publish = false

[features]
testing = ["dep:serde_yaml"]

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
serde_json = {{ version = "1", features = ["preserve_order"] }}
serde_yaml = {{ version = "0.9", optional = true }}
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}
/// The ABI header, shipped inside the binary for C plugins.
const HEADER: &str = include_str!("../../sdk/include/rolecall_plugin.h");

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a new plugin (a Rust crate, or a C file with a Makefile) that builds and loads
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and `-` (`ntp-offset`)
    pub name: String,
    /// What it is
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// What it is written in
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// Directory to create it in (default: ./NAME)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The `rolecall-plugin` SDK crate for a Rust plugin's path dependency (default: a copy of
    /// the SDK this rolecall ships, written into the plugin as `rolecall-plugin/`)
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Validator,
    Debugger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    C,
}

pub fn run(command: PluginCommand, printer: &Printer) -> anyhow::Result<Exit> {
    let PluginCommand::New(args) = command;
    let name = &args.name;
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        printer.error(&format!(
            "`{name}` cannot be a plugin name: use lowercase letters, digits and `-`, starting with a letter"
        ));
        return Ok(Exit::Error);
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        printer.error(&format!(
            "{} already exists and is not empty; nothing written",
            dir.display()
        ));
        return Ok(Exit::Error);
    }
    let files = match args.lang {
        Lang::Rust => match &args.sdk {
            Some(p) => {
                let sdk =
                    std::fs::canonicalize(p).with_context(|| format!("the SDK directory {}", p.display()))?;
                if !sdk.join("Cargo.toml").exists() {
                    bail!("{} has no Cargo.toml: not the rolecall-plugin SDK", sdk.display());
                }
                rust_files(name, args.kind, &sdk.display().to_string())
            }
            None => {
                let mut files = rust_files(name, args.kind, "rolecall-plugin");
                files.push(("rolecall-plugin/Cargo.toml".into(), sdk_manifest()));
                files.extend(
                    SDK_SOURCES
                        .iter()
                        .map(|(rel, text)| (format!("rolecall-plugin/{rel}"), (*text).to_string())),
                );
                files
            }
        },
        Lang::C => c_files(name, args.kind),
    };
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let (build, load) = match args.lang {
        Lang::Rust => ("cargo test && cargo build --release", "target/release"),
        Lang::C => ("make", "."),
    };
    printer.out(&format!(
        "wrote {} ({} {}, {} files)\nnext: cd {} && {build} && rolecall plugins --plugin-dir {load}\n",
        dir.display(),
        match args.lang {
            Lang::Rust => "Rust",
            Lang::C => "C",
        },
        kind_word(args.kind),
        files.len(),
        dir.display()
    ))?;
    Ok(Exit::Ok)
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Validator => "validator",
        Kind::Debugger => "debugger",
    }
}

/// `ntp-offset` -> `NtpOffset`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn rust_files(name: &str, kind: Kind, sdk: &str) -> Vec<(String, String)> {
    let ty = type_name(name);
    let lib = format!("rolecall_{}", name.replace('-', "_"));
    let sdk = sdk.replace('\\', "\\\\").replace('"', "\\\"");
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

# A plugin of its own, not a member of an enclosing workspace.
[workspace]

[lib]
# rolecall loads `lib{lib}.so`; in a cargo build directory it only looks at `librolecall_*`.
name = "{lib}"
crate-type = ["cdylib", "rlib"]

[dependencies]
rolecall-plugin = {{ path = "{sdk}" }}

[dev-dependencies]
rolecall-plugin = {{ path = "{sdk}", features = ["testing"] }}
"#
    );
    let body = match kind {
        Kind::Validator => format!(
            r#"//! `{name}`: a rolecall validator. It reads the deployment through `ctx` and reports a
//! result per role. See the SDK's `docs/plugins.md` for the whole context.

use rolecall_plugin::{{export_plugins, Context, Result, Validator}};

#[derive(Debug, Default)]
pub struct {ty};

impl Validator for {ty} {{
    const NAME: &'static str = "{name}";
    const DESCRIPTION: &'static str = "every role has at least one host";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {{
        let roles: Vec<(String, usize)> = ctx.roles().iter().map(|r| (r.name.clone(), r.hosts.len())).collect();
        for (role, n) in roles {{
            if n == 0 {{
                ctx.fail("non-empty", format!("role `{{role}}` has no hosts")).path(format!("roles.{{role}}"));
            }} else {{
                ctx.pass("non-empty", format!("role `{{role}}` has {{n}} hosts")).path(format!("roles.{{role}}"));
            }}
        }}
        Ok(())
    }}
}}

export_plugins! {{
    module: "{name}",
    version: env!("CARGO_PKG_VERSION"),
    validators: [{ty}],
    debuggers: [],
}}

#[cfg(test)]
mod tests {{
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    #[test]
    fn roles_with_hosts_pass() {{
        let kit = Kit::from_deployment("hosts: {{web01: 127.0.0.2}}\nroles: {{web: [web01]}}\n");
        let r = kit.validate(&{ty});
        r.assert_status("non-empty", None, Status::Pass);
    }}
}}
"#
        ),
        Kind::Debugger => format!(
            r#"//! `{name}`: a rolecall debugger. It runs a command on every host (over SSH, through
//! rolecall) and reports a result per host. See the SDK's `docs/plugins.md` for the context.

use rolecall_plugin::{{export_plugins, Context, Debugger, Result}};

#[derive(Debug, Default)]
pub struct {ty};

impl Debugger for {ty} {{
    const NAME: &'static str = "{name}";
    const DESCRIPTION: &'static str = "every host answers `uname -s`";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {{
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        for r in ctx.run("uname -s", &names)? {{
            if r.success() {{
                ctx.pass("uname", format!("runs {{}}", r.stdout.trim())).host(&r.host);
            }} else {{
                let why = r.error.clone().unwrap_or_else(|| format!("exit {{:?}}", r.exit_code));
                ctx.fail("uname", format!("{{}}: {{why}}", r.outcome)).host(&r.host);
            }}
        }}
        Ok(())
    }}
}}

export_plugins! {{
    module: "{name}",
    version: env!("CARGO_PKG_VERSION"),
    validators: [],
    debuggers: [{ty}],
}}

#[cfg(test)]
mod tests {{
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{{CommandResult, Status}};

    #[test]
    fn every_host_that_answers_passes() {{
        let mut kit = Kit::from_deployment("hosts: {{web01: 127.0.0.2}}\n");
        kit.canned("web01", "uname", CommandResult::exited("web01", 0, "Linux\n", ""));
        let r = kit.debug(&{ty});
        r.assert_status("uname", Some("web01"), Status::Pass);
    }}
}}
"#
        ),
    };
    let readme = format!(
        "# {name}\n\nA rolecall {} plugin.\n\n```sh\ncargo test                 # the unit test, on the SDK's testing kit\n\
         cargo build --release\nrolecall plugins --plugin-dir target/release\nrolecall {} --plugin-dir target/release --only {name}\n```\n",
        kind_word(kind),
        match kind {
            Kind::Validator => "validate",
            Kind::Debugger => "debug",
        }
    );
    // The testing kit reads deployments with rolecall itself: this one.
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .map(|p| p.display().to_string().replace('\\', "\\\\").replace('"', "\\\""))
        .unwrap_or_else(|| "rolecall".into());
    let config = format!(
        "# The SDK's testing kit reads deployments with the rolecall binary (the same code as a real\n\
         # run): the one that wrote this plugin. Change it when rolecall moves.\n[env]\nROLECALL_BIN = \"{bin}\"\n"
    );
    vec![
        ("Cargo.toml".into(), cargo),
        (".cargo/config.toml".into(), config),
        ("src/lib.rs".into(), body),
        ("README.md".into(), readme),
        (".gitignore".into(), "/target\n".into()),
    ]
}

fn c_files(name: &str, kind: Kind) -> Vec<(String, String)> {
    let file = name.replace('-', "_");
    let (kind_const, what, message) = match kind {
        Kind::Validator => (
            "RC_KIND_VALIDATOR",
            "reads the deployment (the JSON input) and reports",
            "the deployment was read",
        ),
        Kind::Debugger => (
            "RC_KIND_DEBUGGER",
            "runs a command on the hosts through rolecall and reports",
            "the hosts were asked",
        ),
    };
    let run_body = match kind {
        Kind::Validator => String::new(),
        Kind::Debugger => {
            r#"    /* Run `uname -s` on every host of the deployment: rolecall calls `answered` once per
     * host, with that host's JSON result, before run_command returns. */
    char *hosts = malloc(input.len + 3);
    if (hosts == NULL || !host_names(input, hosts, input.len + 3)) {
        free(hosts);
        return RC_INVALID;
    }
    Count count = {0, 0};
    RcCode ran = host->run_command(host->ctx, RC_STR("uname -s"), str(hosts), answered, &count);
    free(hosts);
    if (ran != RC_OK) {
        return ran;
    }
"#
            .to_string()
        }
    };
    let helper = match kind {
        Kind::Validator => String::new(),
        Kind::Debugger => r#"static RcStr str(const char *s) {
    RcStr r = {(const uint8_t *)s, strlen(s)};
    return r;
}

/* Where `key` first occurs in s[from..n], or n. */
static size_t find(const char *s, size_t n, size_t from, const char *key) {
    size_t k = strlen(key);
    for (size_t i = from; i + k <= n; i++) {
        if (memcmp(s + i, key, k) == 0) {
            return i;
        }
    }
    return n;
}

/* The host names of the input's "deployment" "hosts", as the JSON array run_command takes.
 * rolecall's input is compact JSON and host names need no escaping; a plugin that reads more of
 * the input should use a JSON library. Returns 0 when they do not fit in `cap` bytes. */
static int host_names(RcStr input, char *out, size_t cap) {
    const char *s = (const char *)input.ptr, *key = "\"hosts\":[";
    size_t n = input.len, k = strlen(key), len = 0;
    int depth = 0, first = 1;
    /* The deployment's own "hosts", not a plugin setting of that name before it. */
    size_t i = find(s, n, find(s, n, 0, "\"deployment\":{"), key);
    if (i + k > n || cap < 3) {
        return 0;
    }
    out[len++] = '[';
    for (i += k; i < n; i++) {
        if (s[i] == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') {
                j += (s[j] == '\\') ? 2 : 1;
            }
            /* "name":"..." directly inside a host object */
            if (depth == 1 && j - i - 1 == 4 && memcmp(s + i + 1, "name", 4) == 0 && j + 2 < n &&
                s[j + 1] == ':' && s[j + 2] == '"') {
                size_t a = j + 3, b = a;
                while (b < n && s[b] != '"') {
                    b++;
                }
                if (len + (b - a) + 4 > cap) {
                    return 0;
                }
                if (!first) {
                    out[len++] = ',';
                }
                first = 0;
                out[len++] = '"';
                memcpy(out + len, s + a, b - a);
                len += b - a;
                out[len++] = '"';
                j = b;
            }
            i = j;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if (s[i] == '}') {
            depth--;
        } else if (s[i] == ']' && depth-- == 0) {
            break;
        }
    }
    out[len++] = ']';
    out[len] = '\0';
    return 1;
}

typedef struct {
    size_t hosts;
    size_t ok; /* "outcome":"ok" and "exit_code":0 */
} Count;

static void answered(void *user, RcStr result) {
    Count *c = user;
    const char *s = (const char *)result.ptr, *key = "\"exit_code\":0";
    size_t k = strlen(key);
    c->hosts++;
    for (size_t i = 0; i + k < result.len; i++) {
        if (memcmp(s + i, key, k) == 0 && (s[i + k] == ',' || s[i + k] == '}')) {
            c->ok++;
            break;
        }
    }
}

"#
        .to_string(),
    };
    let c = format!(
        r#"/* {name}: a rolecall {kind} written in C: it {what}. Build with `make`; then
 * `rolecall plugins --plugin-dir .`. The rules every entry point follows: sdk/ABI.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rolecall_plugin.h"

{helper}static RcCode run(const RcHostApi *host, RcStr input) {{
    /* A host built for an older ABI has a shorter table: only call what it has. */
    if (host == NULL || host->struct_size < sizeof(RcHostApi)) {{
        return RC_INVALID;
    }}
{run_body}    char message[160];
    {message_line}
    RcReport report = {{
        .struct_size = sizeof(RcReport),
        .status = {status},
        .check = RC_STR("{name}"),
        .host = {{NULL, 0}},
        .message = {{(const uint8_t *)message, strlen(message)}},
        .yaml_path = {{NULL, 0}},
    }};
    return host->report(host->ctx, &report);
}}

static const RcPluginDescriptor plugins[] = {{{{
    .struct_size = sizeof(RcPluginDescriptor),
    .kind = {kind_const},
    .name = RC_STR("{name}"),
    .description = RC_STR("{what}"),
    .run = run,
}}}};

static const RcModuleDescriptor module = {{
    .abi_version = RC_ABI_VERSION,
    .struct_size = sizeof(RcModuleDescriptor),
    .name = RC_STR("{name}"),
    .version = RC_STR("0.1.0"),
    .plugins = plugins,
    .plugin_count = sizeof plugins / sizeof plugins[0],
    .expect_keys = NULL,
}};

__attribute__((visibility("default"))) const RcModuleDescriptor *rolecall_plugin_v1(void) {{
    return &module;
}}
"#,
        kind = kind_word(kind),
        // A debugger passes only when every host answered with exit 0.
        status = match kind {
            Kind::Validator => "RC_STATUS_PASS",
            Kind::Debugger => "count.hosts > 0 && count.ok == count.hosts ? RC_STATUS_PASS : RC_STATUS_FAIL",
        },
        message_line = match kind {
            Kind::Validator => format!(
                "snprintf(message, sizeof message, \"{message} (%zu bytes of input)\", input.len);"
            ),
            Kind::Debugger => format!(
                "snprintf(message, sizeof message, \"{message}: %zu answered, %zu exited 0\", count.hosts, count.ok);"
            ),
        }
    );
    let makefile = format!(
        "# {name}: a rolecall plugin in C. `make`, then `rolecall plugins --plugin-dir .`\n\
         CC ?= cc\nCFLAGS ?= -O2 -Wall -Wextra -std=c11\n\n\
         librolecall_{file}.so: {file}.c rolecall_plugin.h\n\
         \t$(CC) $(CFLAGS) -shared -fPIC -fvisibility=hidden -I. -o $@ {file}.c\n\n\
         clean:\n\trm -f librolecall_{file}.so\n"
    );
    vec![
        (format!("{file}.c"), c),
        ("rolecall_plugin.h".into(), HEADER.to_string()),
        ("Makefile".into(), makefile),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(type_name("ntp-offset"), "NtpOffset");
        assert_eq!(type_name("x"), "X");
    }
}
