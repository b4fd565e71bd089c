//! The Ansible profile against `ansible-inventory --list` itself, on real inventories
//! (tests/fixtures/ansible, with provenance): the same groups (as roles, children included),
//! hosts, variables and SSH endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use rolecall::deployment::{self, Profile};
use serde_json::Value;

use crate::support::{fixture, mutations, Test};

/// `ansible-inventory -i PATH --list`, which the test set-up installs (ansible-core).
fn ansible_list(path: &Path) -> Value {
    let out = Command::new("ansible-inventory")
        .arg("-i")
        .arg(path)
        .arg("--list")
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("ansible-inventory (ansible-core; scripts/setup installs it with pip)");
    assert!(
        out.status.success(),
        "ansible-inventory failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ansible-inventory JSON")
}

/// `v` without ansible-inventory's `{"__ansible_unsafe": X}` wrappers (how its listing marks a
/// value a template made, such as a `constructed` `compose` result): the value is X.
fn plain(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("__ansible_unsafe") => {
            plain(&m["__ansible_unsafe"])
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), plain(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(plain).collect()),
        other => other.clone(),
    }
}

/// Every host of `group` in Ansible's listing, through its children.
fn members(list: &Value, group: &str, out: &mut BTreeSet<String>) {
    let g = &list[group];
    for h in g["hosts"].as_array().into_iter().flatten() {
        out.insert(h.as_str().unwrap_or_default().to_string());
    }
    for c in g["children"].as_array().into_iter().flatten() {
        members(list, c.as_str().unwrap_or_default(), out);
    }
}

fn conforms(path: &Path) {
    let d =
        deployment::load(path, Some(Profile::Ansible)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let list = plain(&ansible_list(path));
    let groups: Vec<&String> = list
        .as_object()
        .expect("listing")
        .keys()
        .filter(|k| *k != "_meta")
        .collect();
    for g in groups {
        let mut want = BTreeSet::new();
        members(&list, g, &mut want);
        let role = g.as_str();
        if want.is_empty() {
            // Ansible lists empty groups too; rolecall keeps them as empty roles (but not an
            // empty `ungrouped`).
            let got = d.roles.get(role).map(|r| r.hosts.len()).unwrap_or(0);
            assert_eq!(got, 0, "{}: group {role}", path.display());
            continue;
        }
        let got: BTreeSet<String> = d
            .role_hosts(role)
            .unwrap_or_else(|| panic!("{}: no role {role}", path.display()))
            .iter()
            .cloned()
            .collect();
        assert_eq!(got, want, "{}: hosts of {role}", path.display());
    }
    let mut all = BTreeSet::new();
    members(&list, "all", &mut all);
    let got: BTreeSet<String> = d.hosts.keys().cloned().collect();
    assert_eq!(got, all, "{}: hosts", path.display());
    let empty = serde_json::Map::new();
    for (name, host) in &d.hosts {
        let want = list["_meta"]["hostvars"][name].as_object().unwrap_or(&empty);
        let want: BTreeMap<&String, &Value> = want.iter().collect();
        let got: BTreeMap<&String, &Value> = host.vars.iter().collect();
        assert_eq!(got, want, "{}: variables of {name}", path.display());
        let var = |keys: [&str; 2]| {
            keys.iter()
                .find_map(|k| want.get(&k.to_string()).map(|v| v.to_string()))
        };
        let address = var(["ansible_host", "ansible_ssh_host"]).map(|a| a.trim_matches('"').to_string());
        assert_eq!(host.address, address.unwrap_or_else(|| name.clone()), "{name}");
        let port = var(["ansible_port", "ansible_ssh_port"])
            .map(|p| p.trim_matches('"').parse::<u16>().expect("a port"));
        assert_eq!(host.port, port, "{name}");
        let user = var(["ansible_user", "ansible_ssh_user"]).map(|u| u.trim_matches('"').to_string());
        assert_eq!(host.user, user, "{name}");
    }
}

#[test]
fn real_inventories_read_as_ansible_reads_them() {
    let dir = fixture("ansible");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") || path.ends_with("expected") {
            continue;
        }
        conforms(&path);
        n += 1;
    }
    assert!(n >= 14, "only {n} inventories compared");
}

#[test]
fn saved_listings_read_like_their_source() {
    // `ansible-inventory --list` output, the form a dynamic inventory's result is saved in.
    let dir = tempfile::tempdir().expect("tmp");
    for name in ["lab", "AllYouZombies-k8s-cluster-inventory-hosts.yml"] {
        let src = fixture(&format!("ansible/{name}"));
        let saved = dir.path().join(format!("{name}.json"));
        std::fs::write(&saved, ansible_list(&src).to_string()).expect("write");
        let a = deployment::load(&src, Some(Profile::Ansible)).expect("source");
        let b = deployment::load(&saved, Some(Profile::Ansible)).expect("listing");
        let roles = |d: &deployment::Deployment| -> BTreeMap<String, BTreeSet<String>> {
            d.roles
                .iter()
                .filter(|(_, r)| !r.hosts.is_empty())
                .map(|(n, r)| (n.clone(), r.hosts.iter().cloned().collect()))
                .collect()
        };
        assert_eq!(roles(&a), roles(&b), "{name}");
        for (h, host) in &a.hosts {
            assert_eq!(host.vars, b.hosts[h].vars, "{name}: {h}");
            assert_eq!((&host.address, host.port), (&b.hosts[h].address, b.hosts[h].port));
        }
    }
}

#[test]
fn inventories_are_detected_and_shown() {
    let out = Test::new()
        .args(["roles", "-c", &fixture("ansible/lab").display().to_string()])
        .run();
    out.code(0)
        .stdout_has("web[01-03].example.com")
        .stderr_has("ansible profile");
    let out = Test::new()
        .args([
            "hosts",
            "-c",
            &fixture("ansible/lab").display().to_string(),
            "gw1",
        ])
        .run();
    out.code(0)
        .stdout_has("address       10.0.1.1")
        .stdout_has("port          2022");
}

#[test]
fn unsupported_inventory_forms_are_errors_with_a_place() {
    // A template rolecall cannot render is kept (as Ansible keeps it) and only that host fails.
    let t = Test::new().file(
        "inv.ini",
        b"[web]\nweb01 ansible_host={{lookup('env','IP')}}\nweb02\n",
    );
    t.args(["roles", "-c", "inv.ini"])
        .run()
        .code(0)
        .stdout_has("web[01-02]")
        .stderr_has("inv.ini:2: host `web01`: `ansible_host` is a Jinja template rolecall cannot render");
    let t = Test::new().file(
        "aws_ec2.yml",
        b"plugin: amazon.aws.aws_ec2\nregions: [us-east-1]\n",
    );
    t.args(["roles", "-c", "aws_ec2.yml", "--profile", "ansible"])
        .run()
        .code(2)
        .stderr_has("the inventory defines no hosts")
        .stderr_has(
            "an inventory plugin configuration (`plugin: amazon.aws.aws_ec2`), which rolecall does not run",
        );
    let t = Test::new().file("vaulted", b"$ANSIBLE_VAULT;1.1;AES256\n6162\n");
    t.args(["roles", "-c", "vaulted", "--profile", "ansible"])
        .run()
        .code(2)
        .stderr_has("encrypted with ansible-vault");
    let t = Test::new().file("bad.ini", b"[web]\nweb01 ansible_port\n");
    t.args(["roles", "-c", "bad.ini"])
        .run()
        .code(2)
        .stderr_has("bad.ini:2:1")
        .stderr_has("expected key=value");
    let t = Test::new().file("orphan.ini", b"[web]\nw1\n[db:vars]\nx=1\n");
    t.args(["roles", "-c", "orphan.ini"])
        .run()
        .code(2)
        .stderr_has("orphan.ini:3:1")
        .stderr_has("`[db:vars]` is for a group that is never defined");
}

#[test]
fn mutated_inventories_never_panic() {
    let base = std::fs::read_to_string(fixture("ansible/lab/10-hosts.ini")).expect("fixture");
    let yaml = std::fs::read_to_string(fixture("ansible/lab/20-more.yml")).expect("fixture");
    let dir = tempfile::tempdir().expect("tmp");
    for (i, text) in [base, yaml].iter().enumerate() {
        // Truncation, a dropped line, a line without its `:`, `[` and `=`.
        let swap = |l: &str| l.replace([':', '['], "").replace('=', " ");
        for (cut, variant, mutated) in mutations(text, swap) {
            let p = dir.path().join(format!(
                "inv{i}-{cut}-{variant}.{}",
                if i == 0 { "ini" } else { "yml" }
            ));
            std::fs::write(&p, mutated).expect("write");
            let _ = deployment::load(&p, Some(Profile::Ansible));
        }
    }
}

/// Every inventory and every pattern of tests/fixtures/ansible/expected (made by
/// `scripts/ansible-expected` from ansible-core's own answers): rolecall selects the same hosts
/// in the same order (or the same set where Ansible's own order varies between runs); where
/// Ansible selects nothing or fails, rolecall refuses (a selection of no host is an error,
/// never "nothing to do": a deliberate difference, docs/patterns.md).
#[test]
fn patterns_select_what_ansible_selects() {
    let dir = fixture("ansible/expected");
    let mut checked = 0;
    let mut wrong: Vec<String> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("expected/")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let inv = fixture(&format!("ansible/{name}"));
        let d = deployment::load(&inv, Some(Profile::Ansible)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for case in doc["patterns"].as_array().into_iter().flatten() {
            let pattern = case["pattern"].as_str().expect("pattern");
            let got = rolecall::run::pattern::select_pattern(&d, &[pattern.to_string()]);
            let want: Option<Vec<String>> = case["hosts"].as_array().map(|a| {
                a.iter()
                    .map(|h| h.as_str().unwrap_or_default().to_string())
                    .collect()
            });
            checked += 1;
            let ok = match (&want, &got) {
                (None, Err(_)) => true,
                (Some(w), Err(_)) => w.is_empty(),
                (Some(w), Ok(s)) if case["ordered"] == true => *w == s.hosts,
                (Some(w), Ok(s)) => {
                    let (mut a, mut b) = (w.clone(), s.hosts.clone());
                    a.sort();
                    b.sort();
                    a == b
                }
                (None, Ok(_)) => false,
            };
            if !ok {
                wrong.push(format!(
                    "{name}: `{pattern}`: ansible {want:?}, rolecall {:?}",
                    got.map(|s| s.hosts)
                ));
            }
        }
    }
    assert!(checked >= 15 * 12, "only {checked} patterns");
    assert!(
        wrong.is_empty(),
        "{} of {checked} patterns differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Forms ansible-core reads that rolecall refused or misread (each compared with
/// `ansible-inventory --list` itself, so the test says what Ansible says).
#[test]
fn forms_ansible_reads_load_as_ansible_reads_them() {
    for (name, text) in [
        // A section header with a comment after it.
        (
            "comment.ini",
            "[web]   # front ends\nw1\n[db:children]  # tiers\nweb\n",
        ),
        // A range with no start (from 0), letters running into capitals.
        ("ranges.ini", "[mail]\nmail[:3].example.com\n[x]\nn[y:B]\n"),
        // A host in an explicit `ungrouped` section and in a real group.
        ("ungrouped.ini", "[ungrouped]\nh1\nh2\n[web]\nh1\n"),
    ] {
        let t = Test::new().file(name, text.as_bytes());
        let path = t.dir().join(name);
        conforms(&path);
    }
}

/// What ansible-core refuses, rolecall refuses, saying where.
#[test]
fn forms_ansible_refuses_are_refused_with_a_place() {
    let t = Test::new().file("loop.ini", b"[top]\nh1\n[a:children]\nb\n[b:children]\na\n");
    t.args(["roles", "-c", "loop.ini"])
        .run()
        .code(2)
        .stderr_has("groups are their own children (Ansible: a recursive dependency loop): a -> b -> a");
    let t = Test::new().file("undefined.ini", b"[web]\nh1\n[all_web:children]\nweb\nghost\n");
    t.args(["roles", "-c", "undefined.ini"])
        .run()
        .code(2)
        .stderr_has("undefined.ini:5:1")
        .stderr_has("`[all_web:children]` includes `ghost`, a group that is never defined");
    let t = Test::new().file("padded.ini", b"[w]\nweb[01:100]\n");
    t.args(["roles", "-c", "padded.ini"])
        .run()
        .code(2)
        .stderr_has("a zero-padded start needs an end of the same length");
    // Regression: a YAML syntax error in a `.yml` inventory was re-read as INI and reported at
    // 1:1 as an INI error.
    let t = Test::new().file(
        "broken.yml",
        b"all:\n  hosts:\n    h1:\n      ansible_host: [1.2.3.4\n",
    );
    t.args(["roles", "-c", "broken.yml", "--profile", "ansible"])
        .run()
        .code(2)
        .stderr_has("broken.yml:5:1");
}
