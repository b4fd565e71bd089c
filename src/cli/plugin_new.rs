//! `rolecall plugin new NAME`: a plugin to start from, that builds, passes its unit test and
//! loads from its build directory at once. Rust (a cdylib crate on the `rolecall-plugin` SDK,
//! with a test on the SDK's testing kit) or C (the SDK's own C example, a copy of the ABI
//! header and a Makefile). What it writes lives as files under `templates/` (see its README),
//! included here at build time.

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
    ("src/calyptos.rs", include_str!("../../sdk/src/calyptos.rs")),
    ("src/checks.rs", include_str!("../../sdk/src/checks.rs")),
    ("src/context.rs", include_str!("../../sdk/src/context.rs")),
    ("src/ffi.rs", include_str!("../../sdk/src/ffi.rs")),
    ("src/model.rs", include_str!("../../sdk/src/model.rs")),
    ("src/testing.rs", include_str!("../../sdk/src/testing.rs")),
    ("ABI.md", include_str!("../../sdk/ABI.md")),
];

/// The templates (`templates/plugin/`), with `{{key}}` placeholders.
const SDK_MANIFEST: &str = include_str!("../../templates/plugin/rust/sdk-Cargo.toml");
const RUST_MANIFEST: &str = include_str!("../../templates/plugin/rust/Cargo.toml");
const RUST_VALIDATOR: &str = include_str!("../../templates/plugin/rust/validator.rs");
const RUST_DEBUGGER: &str = include_str!("../../templates/plugin/rust/debugger.rs");
const RUST_README: &str = include_str!("../../templates/plugin/rust/README.md");
const RUST_CONFIG: &str = include_str!("../../templates/plugin/rust/config.toml");
const C_MAKEFILE: &str = include_str!("../../templates/plugin/c/Makefile");
/// The C plugins are the SDK's compiled and tested examples, renamed.
const C_VALIDATOR: &str = include_str!("../../sdk/examples/c/hello.c");
const C_DEBUGGER: &str = include_str!("../../sdk/examples/c/uname.c");
/// The ABI header, shipped inside the binary for C plugins.
const HEADER: &str = include_str!("../../sdk/include/rolecall_plugin.h");

/// `template` with each `{{key}}` of `values` replaced.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{{{k}}}}}"), v)
    })
}

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
                files.push((
                    "rolecall-plugin/Cargo.toml".into(),
                    fill(SDK_MANIFEST, &[("version", env!("CARGO_PKG_VERSION"))]),
                ));
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
    // The testing kit reads deployments with rolecall itself: this one.
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .map(|p| p.display().to_string().replace('\\', "\\\\").replace('"', "\\\""))
        .unwrap_or_else(|| "rolecall".into());
    let (body, command) = match kind {
        Kind::Validator => (RUST_VALIDATOR, "validate"),
        Kind::Debugger => (RUST_DEBUGGER, "debug"),
    };
    let values = [
        ("name", name),
        ("type", &ty),
        ("lib", &lib),
        ("sdk", &sdk),
        ("kind", kind_word(kind)),
        ("command", command),
        ("bin", &bin),
    ];
    vec![
        ("Cargo.toml".into(), fill(RUST_MANIFEST, &values)),
        (".cargo/config.toml".into(), fill(RUST_CONFIG, &values)),
        ("src/lib.rs".into(), fill(body, &values)),
        ("README.md".into(), fill(RUST_README, &values)),
        (".gitignore".into(), "/target\n".into()),
    ]
}

/// The SDK's C example of `kind`, renamed `name`, with its Makefile and the ABI header.
fn c_files(name: &str, kind: Kind) -> Vec<(String, String)> {
    let file = name.replace('-', "_");
    let (example, example_name) = match kind {
        Kind::Validator => (C_VALIDATOR, "c-hello"),
        Kind::Debugger => (C_DEBUGGER, "c-uname"),
    };
    let source = example
        .replace(&format!("\"{example_name}\""), &format!("\"{name}\""))
        .replace("\"c-example\"", &format!("\"{name}\""))
        .replace(example_name, name)
        .replace(&example_name.replace('-', "_"), &file)
        .replace("-I../../include ", "-I. ");
    let makefile = fill(C_MAKEFILE, &[("name", name), ("file", &file)]);
    vec![
        (format!("{file}.c"), source),
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

    /// Regression: a new SDK module was missing from the copy, and plugins did not build.
    #[test]
    fn the_sdk_copy_holds_every_source_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/src");
        for entry in std::fs::read_dir(&dir).expect("sdk/src") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            let rel = format!("src/{name}");
            assert!(
                SDK_SOURCES.iter().any(|(p, _)| *p == rel),
                "{rel} is not in SDK_SOURCES"
            );
        }
    }

    /// Every placeholder of every template is filled; the C example is renamed throughout.
    #[test]
    fn templates_are_filled_completely() {
        for kind in [Kind::Validator, Kind::Debugger] {
            for (path, text) in rust_files("ntp-offset", kind, "rolecall-plugin") {
                assert!(!text.contains("{{"), "{path}: {text}");
            }
            for (path, text) in c_files("ntp-offset", kind) {
                assert!(!text.contains("c-hello") && !text.contains("c-uname"), "{path}");
                assert!(!text.contains("c-example"), "{path}");
                if path.ends_with(".c") {
                    assert!(text.contains("RC_STR(\"ntp-offset\")"), "{text}");
                }
                // (C initialisers open with `{{`: only the placeholders count.)
                assert!(!text.contains("{{name}}") && !text.contains("{{file}}"), "{path}");
            }
        }
        assert!(!fill(SDK_MANIFEST, &[("version", "1")]).contains("{{"));
    }
}
