//! The plugin boundary end to end: the real binary loading real cdylibs (the shipped validator
//! pack and the fixture plugins in tests/fixture-plugins, built by `cargo build --workspace`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Test, BIN};

const FLEET: &str = "\
hosts:
  web01: 127.0.0.2
  web02: 127.0.0.3
roles:
  web:
    hosts: [web01, web02]
    max: 1
";

/// A built fixture library from the workspace's build output.
pub fn lib(name: &str) -> PathBuf {
    let dir = Path::new(BIN).parent().expect("target dir");
    let path = dir.join(format!("lib{name}.so"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A private plugin directory holding copies of `libs` (as `(file name, source)`).
pub fn plugin_dir(t: &Test, libs: &[(&str, &Path)]) -> PathBuf {
    let dir = t.dir().join("plugins");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (name, src) in libs {
        std::fs::copy(src, dir.join(name)).expect("copy lib");
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

fn validate(t: Test, dir: &Path, extra: &[&str]) -> crate::support::Output {
    t.args(["validate", "--plugin-dir", dir.to_str().expect("utf-8")])
        .args(extra)
        .run()
}

/// The first `fail` result of a results document.
fn first_failure(doc: &serde_json::Value) -> serde_json::Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["status"] == "fail")
        .expect("a failure")
        .clone()
}

#[test]
fn shipped_validators_report_failures_with_locations_and_exit_1() {
    let out = Test::new()
        .yaml(FLEET)
        .args(["validate", "--format", "json"])
        .run();
    out.code(1);
    let j = out.json();
    let fail = first_failure(&j);
    assert_eq!(fail["plugin"], "cardinality");
    assert_eq!(fail["message"], "role `web` has 2 hosts, more than max 1");
    assert_eq!(fail["location"]["path"], "roles.web.max");
    assert_eq!(fail["location"]["line"], 7);
    assert_eq!(j["summary"]["exit_code"], 1);
}

#[test]
fn only_skip_and_unknown_names() {
    let out = Test::new()
        .yaml(FLEET)
        .args(["validate", "--only", "addresses,clusters", "--format", "json"])
        .run();
    out.code(0);
    let j = out.json();
    let plugins: Vec<&String> = j["summary"]["plugins"]
        .as_object()
        .expect("plugins")
        .keys()
        .collect();
    assert_eq!(plugins, ["clusters", "addresses"]);
    Test::new()
        .yaml(FLEET)
        .args(["validate", "--skip", "cardinalty"])
        .run()
        .code(2)
        .stderr_has("no validator named `cardinalty`")
        .stderr_has("hint: did you mean `cardinality`?");
}

#[test]
fn panicking_plugin_is_an_error_result_and_the_others_still_run() {
    let t = Test::new().yaml(FLEET);
    let dir = plugin_dir(&t, &[("libfixture_panic.so", &lib("fixture_panic"))]);
    let out = validate(t, &dir, &["--format", "json"]);
    out.code(2);
    let j = out.json();
    let results = j["results"].as_array().expect("results");
    let of = |plugin: &str| {
        results
            .iter()
            .filter(|r| r["plugin"] == plugin)
            .cloned()
            .collect::<Vec<_>>()
    };
    let panic = of("fixture-panic");
    assert_eq!(
        panic[0]["status"], "pass",
        "what was reported before the panic is kept"
    );
    assert_eq!(panic[1]["status"], "error");
    let msg = panic[1]["message"].as_str().expect("message");
    assert!(
        msg.starts_with("plugin panicked: fixture panic with 2 hosts at "),
        "{msg}"
    );
    assert!(
        !of("cardinality").is_empty() && !of("addresses").is_empty(),
        "others ran"
    );
}

#[test]
fn library_for_another_abi_version_names_both_versions() {
    let t = Test::new().yaml(FLEET);
    let dir = plugin_dir(&t, &[("libfixture_abi_v2.so", &lib("fixture_abi_v2"))]);
    validate(t, &dir, &["--show", "all"])
        .code(2)
        .stderr_has(
            "libfixture_abi_v2.so: built against plugin ABI v2; this rolecall speaks v1: rebuild the plugin",
        )
        // The shipped validators still ran.
        .stdout_has("role-cardinality")
        .stdout_has("address-valid");
}

#[test]
fn not_a_plugin_empty_and_truncated_libraries_name_the_file() {
    let t = Test::new().yaml(FLEET);
    let system = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists())
    .expect("a system library to copy");
    let ok = std::fs::read(lib("fixture_ok")).expect("read");
    let dir = plugin_dir(&t, &[("libsystem.so", system)]);
    std::fs::write(dir.join("libempty.so"), b"").expect("write");
    std::fs::write(dir.join("libtruncated.so"), &ok[..4096]).expect("write");
    let out = validate(t, &dir, &["--format", "json"]);
    out.code(2)
        .stderr_has("libsystem.so: not a rolecall plugin: no `rolecall_plugin_v1` symbol")
        .stderr_has("libempty.so: the file is empty")
        .stderr_has("libtruncated.so: the file is truncated (4096 bytes)");
    let errors = out.json()["load_errors"].as_array().expect("load_errors").len();
    assert_eq!(errors, 3);
    // The shipped validators still ran.
    let ran = out.json()["summary"]["plugins"].clone();
    for name in [
        "cardinality",
        "clusters",
        "addresses",
        "reachability",
        "expectations",
    ] {
        assert!(ran.get(name).is_some(), "{name} did not run: {ran}");
    }
}

#[test]
fn non_utf8_plugin_name_is_refused() {
    let t = Test::new().yaml(FLEET);
    let dir = plugin_dir(&t, &[("libfixture_bad_name.so", &lib("fixture_bad_name"))]);
    validate(t, &dir, &[])
        .code(2)
        .stderr_has("libfixture_bad_name.so: plugin #0 name is not UTF-8");
}

#[test]
fn duplicate_plugin_names_first_wins_with_a_warning() {
    let t = Test::new().yaml(FLEET);
    let ok = lib("fixture_ok");
    let dir = plugin_dir(&t, &[("liba_ok.so", &ok), ("libb_ok.so", &ok)]);
    let out = t
        .args([
            "plugins",
            "--format",
            "json",
            "--plugin-dir",
            dir.to_str().expect("utf-8"),
        ])
        .run();
    out.code(0)
        .stderr_has("warning: plugin `fixture-ok` from `")
        .stderr_has("libb_ok.so` is ignored: `");
    let j = out.json();
    let ok_plugins: Vec<_> = j["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter(|p| p["name"] == "fixture-ok")
        .collect();
    assert_eq!(ok_plugins.len(), 1);
    assert!(ok_plugins[0]["library"]
        .as_str()
        .expect("library")
        .ends_with("liba_ok.so"));
    assert_eq!(ok_plugins[0]["version"], "1.2.3");
}

#[test]
fn world_writable_plugin_directory_is_refused_unless_allowed() {
    let t = Test::new().yaml(FLEET);
    let dir = plugin_dir(&t, &[("libfixture_ok.so", &lib("fixture_ok"))]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = t
        .args(["validate", "--plugin-dir", dir.to_str().expect("utf-8")])
        .run();
    out.code(2).stderr_has("refused: it is writable by every user");
    assert!(!out.stdout.contains("fixture-ok"));
    let t2 = Test::new().yaml(FLEET);
    let dir2 = plugin_dir(&t2, &[("libfixture_ok.so", &lib("fixture_ok"))]);
    std::fs::set_permissions(&dir2, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = t2
        .args([
            "validate",
            "--allow-insecure-plugins",
            "--plugin-dir",
            dir2.to_str().expect("utf-8"),
        ])
        .run();
    out.stderr_has("warning: loading plugins from")
        .stdout_has("fixture-ok");
    assert_eq!(out.code, 1, "the cardinality failure remains; loading succeeded");
}

#[test]
fn online_reachability_on_loopback() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = open.local_addr().expect("addr").port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let yaml = format!("hosts:\n  up: {{address: 127.0.0.1, port: {port}}}\n  down: {{address: 127.0.0.1, port: {closed}}}\n");
    let out = Test::new()
        .yaml(&yaml)
        .env("ROLECALL_ALLOW_NETS", "127.0.0.0/8")
        .args([
            "validate",
            "--online",
            "--only",
            "reachability",
            "--format",
            "json",
        ])
        .run();
    out.code(1);
    let j = out.json();
    let by_host = |h: &str| crate::support::host_result(&j, h);
    assert_eq!(by_host("up")["status"], "pass");
    assert_eq!(by_host("down")["status"], "fail");
}

#[test]
fn junit_output_is_well_formed_enough_for_ci() {
    let out = Test::new()
        .yaml(FLEET)
        .args(["validate", "--format", "junit"])
        .run();
    out.code(1)
        .stdout_has("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .stdout_has("<testsuite name=\"cardinality\"");
    assert_eq!(
        out.stdout.matches("<testsuite ").count(),
        out.stdout.matches("</testsuite>").count()
    );
    assert!(out
        .stdout
        .contains("<failure message=\"role `web` has 2 hosts, more than max 1\">"));
}

#[test]
fn shipped_expectations_validator_locates_mistakes() {
    let out = Test::new()
        .yaml("hosts:\n  a: 127.0.0.2\nroles:\n  web:\n    hosts: [a]\n    expect:\n      ports: [80/tcp, htp]\n      servises: [nginx]\n")
        .args(["validate", "--only", "expectations"])
        .run();
    out.code(1)
        .stdout_has("`htp` is not PORT/tcp or PORT/udp (1-65535)")
        .stdout_has("deploy.yaml:7:23 (roles.web.expect.ports[1])")
        .stdout_has("unknown expectation `servises`; did you mean `services`?");
}

/// Findings about a host point where the host is written: the range that defines it, or the
/// Calyptos topology entry (whose host name holds dots).
#[test]
fn host_findings_point_at_the_line_that_defines_the_host() {
    let location = |t: Test, config: &str| {
        let out = t
            .args([
                "validate",
                "-c",
                config,
                "--only",
                "addresses",
                "--format",
                "json",
            ])
            .run();
        out.code(1);
        let fail = first_failure(&out.json());
        (
            fail["location"]["line"].clone(),
            fail["location"]["column"].clone(),
        )
    };
    let native = "hosts:\n  cc01: 127.0.0.5\n  web01: 127.0.0.9\n  nc[01:02]:\n    address: 127.0.0.[5:6]\nroles:\n  r: [cc01]\n";
    assert_eq!(
        location(Test::new().yaml(native), "deploy.yaml"),
        (5.into(), 14.into())
    );
    let calyptos = "name: e\ndefault_attributes:\n  eucalyptus:\n    topology:\n      clc: [10.0.0.300]\n      user-facing: [10.0.0.2]\n      clusters:\n        one: {cc: [10.0.0.3], sc: [10.0.0.3], nodes: [10.0.0.4]}\n";
    let t = Test::new().file("env.yml", calyptos.as_bytes());
    assert_eq!(location(t, "env.yml"), (5.into(), 12.into()));
}

#[test]
fn three_outputs_in_one_run_and_sarif_for_code_scanning() {
    // `t` lives to the end: its directory holds the files written.
    let t = Test::new()
        .yaml(FLEET)
        .args(["validate", "--output", "table", "--output", "json=out.json"])
        .args(["--output", "junit=junit.xml", "--output", "sarif=rolecall.sarif"]);
    let dir = t.dir().to_path_buf();
    let out = t.run();
    out.code(1).stdout_has("role-cardinality");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).expect("json file"))
            .expect("JSON");
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["summary"]["exit_code"], 1);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit file");
    assert!(
        junit.starts_with("<?xml") && junit.contains("<testsuite name=\"cardinality\""),
        "{junit}"
    );
    assert!(!junit.contains('\u{1b}'));
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("rolecall.sarif")).expect("sarif"))
            .expect("SARIF JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "cardinality/role-cardinality");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        7
    );
    // Relative to the run's directory, so code scanning can place it in the repository.
    let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], "deploy.yaml", "{artifact}");
    assert_eq!(artifact["uriBaseId"], "SRCROOT");
    let base = sarif["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"]
        .as_str()
        .expect("base");
    assert!(base.starts_with("file:///") && base.ends_with('/'), "{base}");
    // Two outputs to stdout are refused before anything runs.
    Test::new()
        .yaml(FLEET)
        .args(["validate", "--output", "table", "--output", "json"])
        .run()
        .code(2)
        .stderr_has("more than one --output goes to stdout");
    Test::new()
        .yaml(FLEET)
        .args(["debug", "--dry-run", "--output", "sarif"])
        .run()
        .code(2)
        .stderr_has("SARIF is for `validate`");
}

/// The C header and the Rust ABI types agree on every size and offset: a C program built
/// against `sdk/include/rolecall_plugin.h` prints them, and they must equal the Rust ones (the
/// header's own `_Static_assert`s hold too, or it would not compile).
#[test]
fn c_header_layout_matches_the_rust_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = rolecall_plugin::abi::layout();
    let mut program = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"rolecall_plugin.h\"\nint main(void) {\n",
    );
    for (name, _) in &layout {
        let expr = match name.split_once('.') {
            Some((ty, field)) => format!("offsetof({ty}, {field})"),
            None => format!("sizeof({name})"),
        };
        program.push_str(&format!("    printf(\"{name} %zu\\n\", (size_t){expr});\n"));
    }
    program.push_str("    return 0;\n}\n");
    let src = dir.path().join("layout.c");
    std::fs::write(&src, program).expect("write");
    let exe = dir.path().join("layout");
    let include = crate::support::repo().join("sdk/include");
    let cc = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("cc");
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let out = Command::new(&exe).output().expect("run");
    let printed = String::from_utf8_lossy(&out.stdout);
    let c: Vec<(String, usize)> = printed
        .lines()
        .map(|l| {
            let (n, v) = l.split_once(' ').expect("name value");
            (n.to_string(), v.parse().expect("number"))
        })
        .collect();
    let rust: Vec<(String, usize)> = layout.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(c, rust);
    // C++ sees the same header (extern "C", static_assert).
    if Command::new("c++")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let cpp = dir.path().join("layout.cpp");
        std::fs::write(&cpp, "#include \"rolecall_plugin.h\"\nint main() { return 0; }\n").expect("write");
        let out = Command::new("c++")
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(dir.path().join("layout-cpp"))
            .arg(&cpp)
            .output()
            .expect("c++");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The SDK's C example builds with its own flags, loads from a plugin directory and runs.
#[test]
fn the_c_example_builds_loads_and_runs() {
    let t = Test::new().yaml("hosts:\n  a: 127.0.0.2\n");
    let dir = t.dir().join("c-plugins");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let example = crate::support::repo().join("sdk/examples/c");
    for name in ["hello", "uname"] {
        let so = dir.join(format!("librolecall_c_{name}.so"));
        let cc = Command::new("cc")
            .args([
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-std=c11",
                "-shared",
                "-fPIC",
                "-fvisibility=hidden",
                "-I",
            ])
            .arg(crate::support::repo().join("sdk/include"))
            .arg("-o")
            .arg(&so)
            .arg(example.join(format!("{name}.c")))
            .output()
            .expect("cc");
        assert!(
            cc.status.success(),
            "{name}.c: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
        std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let d = dir.to_str().expect("utf-8");
    let listed = Test::new().args(["plugins", "--plugin-dir", d]).run();
    listed.code(0).stdout_has("c-hello").stdout_has("c-uname");
    let out = t
        .args([
            "validate",
            "--plugin-dir",
            d,
            "--only",
            "c-hello",
            "--show",
            "all",
            "-v",
        ])
        .run();
    out.code(0)
        .stdout_has("the C example read")
        .stderr_has("hello from C");
}

/// The header's JSON functions, built with warnings as errors and run on the JSON rolecall
/// sends (sdk/include/json_test.c).
#[test]
fn the_c_headers_json_functions_read_rolecalls_json() {
    let work = tempfile::tempdir().expect("tmp");
    let bin = work.path().join("json_test");
    let include = crate::support::repo().join("sdk/include");
    let cc = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&bin)
        .arg(include.join("json_test.c"))
        .output()
        .expect("cc");
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let run = Command::new(&bin).output().expect("json_test");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

/// A plugin declares the `expect` keys it reads: `plugins --expect` lists them, and the
/// `expectations` validator takes them as known (checking their type) once that plugin is
/// loaded, where before they were "unknown expectation".
#[test]
fn plugins_declare_their_expect_keys() {
    let yaml = |greeting: &str| {
        format!("hosts:\n  web01: 127.0.0.2\nroles:\n  web:\n    hosts: [web01]\n    expect:\n      greeting: {greeting}\n")
    };
    let t = Test::new();
    let both = plugin_dir(
        &t,
        &[
            ("libfixture_ok.so", &lib("fixture_ok")),
            (
                "librolecall_validators_generic.so",
                &lib("rolecall_validators_generic"),
            ),
        ],
    );
    let d = both.to_str().expect("utf-8");
    let listed = Test::new()
        .args(["plugins", "--expect", "--format", "json", "--plugin-dir", d])
        .run();
    let v = listed.code(0).json();
    let keys = v["expect_keys"].as_array().expect("keys");
    assert!(
        keys.iter()
            .any(|k| k["key"] == "greeting" && k["type"] == "string" && k["plugin"] == "fixture-echo"),
        "{v}"
    );
    let known = Test::new()
        .yaml(&yaml("hello"))
        .args([
            "validate",
            "--only",
            "expectations",
            "--format",
            "json",
            "--plugin-dir",
            d,
        ])
        .run();
    let v = known.code(0).json();
    assert!(
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["status"] == "pass"),
        "{v}"
    );
    let wrong = Test::new()
        .yaml(&yaml("[1, 2]"))
        .args(["validate", "--only", "expectations", "--plugin-dir", d])
        .run();
    wrong
        .code(1)
        .stdout_has("plugin `fixture-echo` reads `greeting` as a string");
    // Without the plugin that reads it, the key is unknown.
    let t = Test::new();
    let alone = plugin_dir(
        &t,
        &[(
            "librolecall_validators_generic.so",
            &lib("rolecall_validators_generic"),
        )],
    );
    let out = t
        .yaml(&yaml("hello"))
        .args([
            "validate",
            "--only",
            "expectations",
            "--plugin-dir",
            alone.to_str().expect("utf-8"),
        ])
        .run();
    out.code(0).stdout_has("unknown expectation `greeting`");
}

/// The SDK a Rust scaffold ships (templates/plugin/rust/sdk-Cargo.toml) depends on what the SDK
/// itself does, features and all: a feature the SDK's code needs and the copy lacks would only
/// show when a user builds their new plugin.
#[test]
fn the_scaffolds_sdk_has_the_sdks_dependencies() {
    let section = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| l.trim() != "[dependencies]")
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let read = |p: &str| std::fs::read_to_string(crate::support::repo().join(p)).expect("read");
    let sdk = section(&read("sdk/Cargo.toml"));
    assert!(!sdk.is_empty());
    assert_eq!(section(&read("templates/plugin/rust/sdk-Cargo.toml")), sdk);
}

/// `plugin new` writes plugins that build, pass their own test and load straight away: a Rust
/// validator and debugger (on the SDK's testing kit), a C validator and debugger (with their
/// Makefile), the C debugger also run against a real loopback fleet.
#[test]
fn plugin_new_scaffolds_build_pass_their_tests_and_load() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    let new = |name: &str, kind: &str, lang: &str| {
        let out = Command::new(BIN)
            .args(["plugin", "new", name, "--kind", kind, "--lang", lang, "--dir"])
            .arg(dir.join(name))
            .output()
            .expect("rolecall");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("next: cd"));
    };
    let target = dir.join("target");
    for kind in ["validator", "debugger"] {
        let name = format!("rs-{kind}");
        new(&name, kind, "rust");
        // It carries its own copy of the SDK: no path into a rolecall checkout or build
        // (regression: it pointed at the directory rolecall was built in).
        let manifest = std::fs::read_to_string(dir.join(&name).join("Cargo.toml")).expect("Cargo.toml");
        assert!(manifest.contains("path = \"rolecall-plugin\""), "{manifest}");
        assert!(dir.join(&name).join("rolecall-plugin/src/lib.rs").exists());
        let root = crate::support::repo().display().to_string();
        assert!(!manifest.contains(&root), "{manifest}");
        for step in [&["test", "--offline"][..], &["build", "--offline"][..]] {
            let out = Command::new(env!("CARGO"))
                .args(step)
                .current_dir(dir.join(&name))
                .env("CARGO_TARGET_DIR", &target)
                .output()
                .expect("cargo");
            assert!(
                out.status.success(),
                "{name}: cargo {step:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if step[0] == "test" {
                assert!(
                    String::from_utf8_lossy(&out.stdout).contains("1 passed"),
                    "{name}"
                );
            }
        }
        let c = format!("c-{kind}");
        new(&c, kind, "c");
        let out = Command::new("make")
            .current_dir(dir.join(&c))
            .output()
            .expect("make");
        assert!(
            out.status.success(),
            "{c}: make: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for d in ["c-validator", "c-debugger"] {
        std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let listed = Command::new(BIN)
        .arg("plugins")
        .args(["--format", "json", "--plugin-dir"])
        .arg(target.join("debug"))
        .arg("--plugin-dir")
        .arg(dir.join("c-validator"))
        .arg("--plugin-dir")
        .arg(dir.join("c-debugger"))
        .output()
        .expect("rolecall");
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let names: Vec<&str> = v["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in ["rs-validator", "rs-debugger", "c-validator", "c-debugger"] {
        assert!(names.contains(&want), "{want} not loaded: {v}");
    }
    assert_eq!(v["load_errors"].as_array().map(Vec::len), Some(0), "{v}");
    // The C debugger asks every host of a real fleet.
    let Some(mut fleet) = crate::support::fleet(2) else {
        return;
    };
    let debug = |fleet: &rolecall_fleet::Fleet| {
        Test::new()
            .yaml(&fleet.yaml(""))
            .args(["debug", "--only", "c-debugger", "--show", "all", "--plugin-dir"])
            .args([dir.join("c-debugger").to_str().expect("utf-8")])
            .args(fleet.args())
            .run()
    };
    debug(&fleet).code(0).stdout_has("2 answered, 2 exited 0");
    // Regression: it passed with "2 answered, 1 exited 0".
    fleet.force_command(1, "exit 3");
    debug(&fleet)
        .code(1)
        .stdout_has("2 answered, 1 exited 0")
        .stdout_has("FAIL");
}

#[test]
fn plugin_new_refuses_bad_names_and_existing_directories() {
    let work = tempfile::tempdir().expect("temp dir");
    let out = Test::new()
        .args(["plugin", "new", "Bad_Name", "--kind", "validator"])
        .run();
    out.code(2).stderr_has("`Bad_Name` cannot be a plugin name");
    std::fs::write(work.path().join("file"), "x").expect("write");
    let out = Test::new()
        .args(["plugin", "new", "ok-name", "--kind", "validator", "--dir"])
        .args([work.path().to_str().expect("utf-8")])
        .run();
    out.code(2)
        .stderr_has("already exists and is not empty; nothing written");
}

/// A validator checking another plugin's settings sees them on a native file too (they used to
/// reach plugins only through `document`, which is null for native files: the check never ran
/// outside the testing kit).
#[test]
fn another_plugins_settings_are_checked_on_a_native_file() {
    let yaml = "hosts:\n  a: 127.0.0.2\nroles:\n  web:\n    hosts: [a]\n    expect: {services: [sshd]}\nplugins:\n  clock: {max_skew_seconds: -1}\n";
    let t = Test::new().yaml(yaml);
    let dir = plugin_dir(
        &t,
        &[(
            "librolecall_validators_generic.so",
            &lib("rolecall_validators_generic"),
        )],
    );
    let out = t
        .args([
            "validate",
            "--only",
            "expectations",
            "--plugin-dir",
            dir.to_str().expect("utf-8"),
        ])
        .run();
    out.code(1)
        .stdout_has("clock: max_skew_seconds -1 is not a positive number");
}

/// Every requested output is written even when the deployment does not load (regression:
/// `--format json` printed nothing and `--output sarif=FILE` left no file, so a pipeline's
/// upload step failed with "file not found" instead of pointing at the line).
#[test]
fn every_output_is_written_when_the_deployment_does_not_load() {
    let t = Test::new()
        .yaml("hosts:\n  web01:\n    adress: 127.0.0.2\nroles:\n  web: [web01]\n")
        .args(["validate", "--output", "table", "--output", "json=out.json"])
        .args(["--output", "junit=junit.xml", "--output", "sarif=out.sarif"]);
    let dir = t.dir().to_path_buf();
    let out = t.run();
    out.code(2).stderr_has("deploy.yaml:3:5");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).expect("json file"))
            .expect("JSON");
    assert_eq!(json["summary"]["exit_code"], 2);
    let e = &json["errors"][0];
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(3), Some(5)),
        "{e}"
    );
    assert!(
        e["message"].as_str().unwrap_or_default().contains("adress"),
        "{e}"
    );
    assert_eq!(e["path"], "hosts.web01.adress", "{e}");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.sarif")).expect("sarif file"))
            .expect("SARIF");
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let loc = &run["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "deploy.yaml");
    assert_eq!(loc["region"]["startLine"], 3);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit file");
    assert!(
        junit.contains("errors=\"1\"") && junit.contains("<error message="),
        "{junit}"
    );
    // `debug` too (JSON to stdout).
    let out = Test::new()
        .yaml("hosts: [\n")
        .args(["debug", "--format", "json"])
        .run();
    out.code(2);
    assert_eq!(out.json()["summary"]["exit_code"], 2);
    assert!(out.json()["errors"][0]["line"].is_u64(), "{}", out.stdout);
}

/// Baselines (`--baseline PREVIOUS.json`, `--fail-on new`, `rolecall diff`): each failure is
/// new, unchanged or updated against a previous run, and what no longer fails is fixed.
#[test]
fn baselines_mark_new_unchanged_and_fixed_failures() {
    let yaml = |a_min: u32, b_min: u32| {
        format!(
            "hosts:\n  h1: 127.0.0.2\n  h2: 127.0.0.3\nroles:\n  a:\n    hosts: [h1]\n    min: {a_min}\n  b:\n    hosts: [h2]\n    min: {b_min}\n"
        )
    };
    let keep = tempfile::tempdir().expect("tmp");
    let before = keep.path().join("before.json");
    // Before: role `a` fails its minimum.
    let first = Test::new()
        .yaml(&yaml(2, 1))
        .args(["validate", "--only", "cardinality", "--format", "json"])
        .run();
    first.code(1);
    std::fs::write(&before, &first.stdout).expect("write");
    let base = before.to_str().expect("utf-8 path");
    // The same failure again: unchanged; with --fail-on new it does not fail the run.
    let same = Test::new()
        .yaml(&yaml(2, 1))
        .args([
            "validate",
            "--only",
            "cardinality",
            "--baseline",
            base,
            "--fail-on",
            "new",
        ])
        .run();
    same.code(0)
        .stdout_has("since the baseline: 0 new, 0 updated, 1 unchanged failure; 0 fixed (only new failures fail this run: --fail-on new)");
    // After: `a` fixed, `b` fails: new.
    let t = Test::new().yaml(&yaml(1, 3)).args([
        "validate",
        "--only",
        "cardinality",
        "--format",
        "json",
        "--baseline",
        base,
    ]);
    let after_dir = t.dir().to_path_buf();
    let after = t.run();
    after.code(1);
    let j = after.json();
    let failing: Vec<&serde_json::Value> = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert_eq!(failing.len(), 1, "{j}");
    assert_eq!(failing[0]["baseline"], "new", "{j}");
    assert_eq!(j["fixed"].as_array().map(Vec::len), Some(1), "{j}");
    Test::new()
        .yaml(&yaml(1, 3))
        .args(["validate", "--only", "cardinality", "--baseline", base])
        .run()
        .code(1)
        .stdout_has("[new]")
        .stdout_has("since the baseline: 1 new, 0 updated, 0 unchanged failures; 1 fixed");
    let after_file = after_dir.join("after.json");
    std::fs::write(&after_file, &after.stdout).expect("write");
    // `diff` says the same without running anything, exit 1 for the new failure.
    Test::new()
        .args(["diff", base, after_file.to_str().expect("utf-8 path")])
        .run()
        .code(1)
        .stdout_has("new      cardinality/")
        .stdout_has("fixed    cardinality/")
        .stdout_has("1 new, 0 updated, 0 unchanged, 1 fixed");
    // A later run that checked nothing is not "nothing new".
    let empty = after_dir.join("empty.json");
    std::fs::write(&empty, r#"{"schema_version": 1, "results": []}"#).expect("write");
    Test::new()
        .args(["diff", base, empty.to_str().expect("utf-8 path")])
        .run()
        .code(2)
        .stderr_has("holds no results: that run checked nothing");
    Test::new()
        .yaml(&yaml(1, 1))
        .args(["validate", "--baseline", "no-such.json"])
        .run()
        .code(2)
        .stderr_has("cannot read the baseline `no-such.json`");
}
