//! An installed rolecall (`scripts/install`'s layout): the binary in PREFIX/bin finds the
//! shipped plugins in PREFIX/lib/rolecall/plugins with no flag or variable; completions parse;
//! the man page renders.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Test, BIN};

#[test]
fn installed_binary_finds_its_plugins() {
    let t = Test::new();
    let prefix = t.dir().join("prefix");
    let plugins = prefix.join("lib/rolecall/plugins");
    std::fs::create_dir_all(prefix.join("bin")).expect("mkdir");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    for d in [
        &prefix,
        &prefix.join("lib"),
        &prefix.join("lib/rolecall"),
        &plugins,
    ] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let bin = prefix.join("bin/rolecall");
    std::fs::copy(BIN, &bin).expect("copy binary");
    let build = Path::new(BIN).parent().expect("build dir");
    let mut copied = 0;
    for entry in std::fs::read_dir(build).expect("build dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.starts_with("librolecall_") && name.ends_with(".so") {
            std::fs::copy(&path, plugins.join(&name)).expect("copy plugin");
            std::fs::set_permissions(plugins.join(&name), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
            copied += 1;
        }
    }
    assert!(copied >= 5, "the shipped packs are built");
    let empty = t.dir().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = t
        .args(["plugins", "--format", "json"])
        .env("XDG_DATA_HOME", empty.to_str().expect("utf-8 path"))
        .program(&bin)
        .run();
    out.code(0);
    let j = out.json();
    let names: Vec<&str> = j["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"cardinality") && names.contains(&"services"),
        "{names:?}"
    );
    let searched = j["searched"].to_string();
    assert!(searched.contains("prefix/lib/rolecall/plugins"), "{searched}");
}

#[test]
fn completions_parse_and_the_man_page_renders() {
    let out = Test::new().args(["completions", "bash"]).run();
    out.code(0).stdout_has("_rolecall()");
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .expect("bash");
    {
        use std::io::Write;
        let mut stdin = bash.stdin.take().expect("stdin");
        stdin.write_all(out.stdout.as_bytes()).expect("write");
    }
    assert!(
        bash.wait().expect("bash -n").success(),
        "bash -n rejects the script"
    );
    Test::new()
        .args(["completions", "zsh"])
        .run()
        .code(0)
        .stdout_has("#compdef rolecall");
    Test::new()
        .args(["completions", "fish"])
        .run()
        .code(0)
        .stdout_has("complete -c rolecall");
    Test::new()
        .args(["man"])
        .run()
        .code(0)
        .stdout_has(".TH rolecall 1")
        .stdout_has("validate")
        .stdout_has("rolecall\\-debug(1)");
    // Every page the top page refers to exists, with its command's own flags (regression:
    // rolecall-debug(1) was referred to and not installed).
    let t = Test::new().args(["man", "--dir", "pages"]);
    let dir = t.dir().join("pages");
    t.run().code(0);
    for sub in [
        "roles",
        "validate",
        "debug",
        "run",
        "hosts",
        "merge",
        "plugins",
        "plugin-new",
        "completions",
    ] {
        let page = std::fs::read_to_string(dir.join(format!("rolecall-{sub}.1")))
            .unwrap_or_else(|e| panic!("rolecall-{sub}.1: {e}"));
        assert!(page.contains(&format!(".TH rolecall-{sub} 1")), "{sub}: {page}");
    }
    let run_page = std::fs::read_to_string(dir.join("rolecall-run.1")).expect("run page");
    assert!(
        run_page.contains("\\-\\-list\\-hosts") && run_page.contains("\\-\\-forks"),
        "{run_page}"
    );
    Test::new()
        .args(["completions", "tcsh"])
        .run()
        .code(2)
        .stderr_has("invalid value 'tcsh'");
}

/// Completing `--roles`, `--only` and `--limit` offers names from the deployment on the
/// command line and from the plugin directories (not file names), comma lists included, and a
/// deployment that does not load offers nothing, quietly.
#[test]
fn completions_offer_roles_plugins_and_hosts_of_the_command_line() {
    let t = Test::new().args(["completions", "bash"]);
    let script = t.run();
    script.code(0);
    std::fs::write(t.dir().join("rc.bash"), &script.stdout).expect("write");
    let bin_dir = std::path::Path::new(crate::support::BIN).parent().expect("dir");
    let complete = |words: &[&str]| -> Vec<String> {
        let line = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source rc.bash; COMP_WORDS=({line}); COMP_CWORD={}; _rolecall_values rolecall \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                words.len() - 1
            ))
            .current_dir(t.dir())
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env_remove("ROLECALL_PLUGIN_PATH")
            .output()
            .expect("bash");
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let example = crate::support::repo().join("deploy.example.yaml");
    let c = example.to_str().expect("utf-8");
    assert_eq!(
        complete(&["rolecall", "debug", "-c", c, "--roles", "clc,node"]),
        ["clc,node-controller"]
    );
    assert_eq!(
        complete(&["rolecall", "run", "-c", c, "--limit", "nc0"]),
        ["nc01", "nc02", "nc03", "nc04"]
    );
    let plugins = complete(&["rolecall", "debug", "--only", "euca-c"]);
    assert!(plugins.contains(&"euca-clc".to_string()), "{plugins:?}");
    assert!(plugins.iter().all(|p| p.starts_with("euca-c")), "{plugins:?}");
    // No deployment at all: nothing, no message.
    assert!(complete(&["rolecall", "debug", "-c", "nope.yaml", "--roles", ""]).is_empty());
}
