//! The HTML report, rendered in a real browser (headless Chromium): its DOM agrees with the
//! JSON of the same run, a click shows a result's evidence, filters and folds work, nothing
//! is logged as an error; and a page of 1,000 hosts by 30 checks renders (time printed).

use serde_json::{json, Value};

use crate::browser::{available, Browser};
use crate::support::Test;

/// nc01-nc03 not reached (an unknown host key); nc04-nc09 cannot reach the CLC, whose port is
/// closed; the CC reaches everything.
const YAML: &str = "name: html-shop\nhosts:\n  clc: 127.0.0.2\n  cc01: 127.0.0.4\n  nc[01:09]:\n    address: 127.0.0.[11:19]\n\
roles:\n  clc:\n    hosts: [clc]\n    expect: {ports: [8773/tcp]}\n  cluster-controller: [cc01]\n  node-controller:\n    \
hosts: ['nc[01:09]']\n    expect:\n      connect: ['clc:8773']\n";

const CANNED: &str = "- host: \"nc0[1-3]\"\n  outcome: host-key-unknown\n  message: \"nc is not in /k/known_hosts; it offered ssh-ed25519 SHA256:x. Verify it, then record it with: ssh-keyscan -p 22 127.0.0.11 >> /k/known_hosts (or use --host-key-checking accept-new)\"\n\
- command: /dev/tcp\n  stdout: \"127.0.0.2 8773 closed\\n\"\n\
- host: clc\n  command: ss\n  stdout: \"tool: ss\\ntcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\\n\"\n";

/// One result as the page must show it: id, host (empty for none), plugin/check, status.
fn expected(json: &Value) -> Vec<(u64, String, String, String)> {
    let mut v: Vec<_> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_u64().expect("id"),
                r["host"].as_str().unwrap_or("").to_string(),
                format!(
                    "{}/{}",
                    r["plugin"].as_str().unwrap_or(""),
                    r["check"].as_str().unwrap_or("")
                ),
                if r.get("waived").is_some() {
                    "waived".to_string()
                } else {
                    r["status"].as_str().unwrap_or("").to_string()
                },
            )
        })
        .collect();
    v.sort();
    v
}

fn shown(b: &mut Browser) -> Vec<(u64, String, String, String)> {
    let v = b.eval(
        "Array.from(document.querySelectorAll('span.r')).map(e => \
         [Number(e.dataset.id), e.dataset.host, e.dataset.check, e.dataset.status])",
    );
    let mut v: Vec<_> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| {
            (
                x[0].as_u64().expect("id"),
                x[1].as_str().unwrap_or("").to_string(),
                x[2].as_str().unwrap_or("").to_string(),
                x[3].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_html_report_shows_what_the_json_holds_in_a_browser() {
    if !available() {
        return;
    }
    let t = Test::new()
        .yaml(YAML)
        .file("canned.yaml", CANNED.as_bytes())
        .args([
            "debug",
            "--replay",
            "canned.yaml",
            "--only",
            "connectivity,ports,memory",
            "--output",
            "json=r.json",
            "--output",
            "html=r.html",
        ]);
    t.run().code(3);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(t.dir().join("r.json")).expect("json")).expect("parse");
    // The page holds the very document of the run.
    let page = std::fs::read_to_string(t.dir().join("r.html")).expect("html");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing to fetch"
    );
    let mut b = Browser::open(&format!("file://{}", t.dir().join("r.html").display()));
    let embedded = b.eval("JSON.parse(document.getElementById('rolecall-results').textContent)");
    assert_eq!(embedded.to_string(), json.to_string());

    // Every result is one element with its host, check and status, folded rows included.
    assert_eq!(shown(&mut b), expected(&json));
    // The summary and the exit code at the top.
    assert_eq!(
        b.eval("document.querySelector('[data-exit-code]').dataset.exitCode"),
        json!(json["summary"]["exit_code"].to_string())
    );
    for status in ["fail", "error"] {
        let text = b.eval(&format!(
            "document.querySelector('[data-count={status}]').textContent"
        ));
        let n = json["summary"]["total"][status].as_u64().expect("count");
        assert!(
            text.as_str()
                .is_some_and(|t| t.contains(&format!("{n} {status}"))),
            "{status}: {text}"
        );
    }
    // The causes come first, as the JSON lists them.
    let causes = json["causes"].as_array().expect("causes");
    assert!(causes.len() >= 2, "{causes:?}");
    let listed = b.eval("Array.from(document.querySelectorAll('#causes li .msg')).map(e => e.textContent)");
    let messages: Vec<&Value> = causes.iter().map(|c| &c["message"]).collect();
    assert_eq!(
        listed.as_array().expect("list").iter().collect::<Vec<_>>(),
        messages
    );
    assert!(b
        .eval("document.querySelector('#causes').textContent")
        .as_str()
        .is_some_and(|t| t.contains("ssh-keyscan -p 22 127.0.0.11 >> /k/known_hosts")));

    // Folded rows: the not-reached NCs are one row until expanded.
    assert!(b.eval("document.querySelectorAll('tr.group').length").as_u64() > Some(0));
    assert_eq!(
        b.eval("Array.from(document.querySelectorAll('tr.member')).every(r => r.hidden)"),
        json!(true)
    );
    b.click("tr.group button.fold");
    assert_eq!(
        b.eval("Array.from(document.querySelectorAll('tr.group')[0].parentNode.querySelectorAll('tr.member[data-member-of=\"' + document.querySelector('tr.group').dataset.group + '\"]')).every(r => !r.hidden)"),
        json!(true)
    );

    // A click on a result shows its evidence.
    let failing = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["status"] == "fail" && r["plugin"] == "connectivity")
        .expect("a connectivity failure");
    let id = failing["id"].as_u64().expect("id");
    // Its row may be folded: open every fold first.
    b.click("#f-expand");
    b.click(&format!("span.r[data-id=\"{id}\"]"));
    let details = b.eval(
        "document.getElementById('details').hidden ? '' : document.getElementById('details').innerText",
    );
    let details = details.as_str().expect("text");
    assert!(
        details.contains(failing["message"].as_str().expect("message")),
        "{details}"
    );
    assert!(
        details.contains("roles.node-controller.expect.connect"),
        "the YAML place: {details}"
    );
    assert!(details.contains("/dev/tcp"), "the command sent: {details}");
    assert!(
        details.contains("likely cause"),
        "the cause it is evidence of: {details}"
    );

    // Filters: without errors, no error is shown; a host search narrows the rows.
    b.click("input[name=status][value=error]");
    assert_eq!(
        b.eval("document.querySelectorAll('span.r[data-status=error]').length"),
        json!(0)
    );
    assert!(b.eval("document.querySelectorAll('span.r').length").as_u64() > Some(0));
    b.eval("(() => { const s = document.getElementById('f-search'); s.value = 'clc'; s.dispatchEvent(new Event('input', {bubbles: true})); })()");
    assert_eq!(
        b.eval("Array.from(document.querySelectorAll('span.r')).every(e => e.dataset.host === 'clc')"),
        json!(true)
    );
    assert_eq!(b.errors(), Vec::<String>::new(), "the page logged errors");
    // It paints: a screenshot is a PNG.
    let shot = t.dir().join("shot.png");
    b.screenshot(&shot);
    assert!(std::fs::read(&shot).expect("png").starts_with(b"\x89PNG"));
}

/// A deployment that does not load still gets its page, naming the place.
#[test]
fn the_html_report_of_a_deployment_that_does_not_load_names_the_place() {
    if !available() {
        return;
    }
    let t = Test::new()
        .yaml("hosts:\n  a: 127.0.0.2\nroles:\n  web: [a\n")
        .args(["validate", "--output", "html=r.html"]);
    t.run().code(2);
    let mut b = Browser::open(&format!("file://{}", t.dir().join("r.html").display()));
    let text = b.eval("document.getElementById('causes').innerText");
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("The deployment did not load") && t.contains("deploy.yaml:")),
        "{text}"
    );
    assert_eq!(
        b.eval("document.querySelector('[data-exit-code]').dataset.exitCode"),
        json!("2")
    );
    assert_eq!(b.errors(), Vec::<String>::new());
}

/// 1,000 hosts by 30 checks: every result is in the DOM; the render time is printed (measured,
/// not asserted: see scripts/bench html).
#[test]
fn a_report_of_1000_hosts_by_30_checks_renders() {
    if !available() {
        return;
    }
    let (doc, deployment) = big_report(1000, 30);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("big.html");
    std::fs::write(&path, rolecall::report::html::page("debug", &doc, &deployment)).expect("write");
    let start = std::time::Instant::now();
    let mut b = Browser::open(&format!("file://{}", path.display()));
    let wall = start.elapsed();
    assert_eq!(
        b.eval("document.querySelectorAll('span.r').length"),
        json!(30_000)
    );
    let ms = b.eval("window.rolecallRenderMs").as_f64().expect("render time");
    let nav = b.eval("performance.now()").as_f64().expect("now");
    eprintln!(
        "html report 1000 hosts x 30 checks: script {ms:.0} ms; page ready {nav:.0} ms after navigation; \
         browser start to rendered {:.0} ms; {} bytes",
        wall.as_secs_f64() * 1000.0,
        std::fs::metadata(&path).expect("size").len()
    );
    assert_eq!(b.errors(), Vec::<String>::new());
}

/// A debug JSON document of `hosts` hosts by `checks` checks (a few failing here and there)
/// and its deployment, as `rolecall::report::html::page` takes them.
fn big_report(hosts: usize, checks: usize) -> (Value, Value) {
    let names: Vec<String> = (1..=hosts).map(|i| format!("node{i:04}")).collect();
    let mut results = Vec::with_capacity(hosts * checks);
    for (h, host) in names.iter().enumerate() {
        for c in 0..checks {
            let status = match (h * 7 + c * 13) % 97 {
                0 => "fail",
                1 => "error",
                2 | 3 => "warn",
                4 => "skip",
                _ => "pass",
            };
            results.push(json!({
                "id": results.len(), "plugin": format!("plugin{}", c % 6), "check": format!("check{c:02}"),
                "status": status, "host": host, "message": format!("{status} on {host}"),
                "location": null, "duration_ms": 1.5,
            }));
        }
    }
    let doc = json!({
        "schema_version": 2, "results": results,
        "summary": {"plugins": {}, "total": {"pass": 0, "fail": 0, "warn": 0, "skip": 0, "error": 0, "waived": 0, "total": hosts * checks}, "exit_code": 1, "exit_reasons": []},
        "interrupted": false, "load_errors": [], "unreached": [], "logs": [], "dry_run": false,
        "hosts": names, "reached": names, "unchecked": [], "commands": {}, "causes": [],
    });
    let deployment = json!({
        "name": "big", "source": "big.yaml", "hosts": names,
        "roles": {"compute": names[..hosts / 2], "storage": names[hosts / 2..]}, "clusters": {},
    });
    (doc, deployment)
}

/// `run --output html=FILE`: one cell per host, its status from the outcome, its output on a
/// click.
#[test]
fn the_html_report_of_run_shows_each_hosts_outcome() {
    if !available() {
        return;
    }
    let canned = "- host: \"nc0[1-2]\"\n  command: uname\n  stdout: \"Linux\\n\"\n\
                  - host: nc03\n  command: uname\n  exit: 2\n  stderr: \"boom\\n\"\n\
                  - host: nc04\n  outcome: unreachable\n  message: refused\n";
    let t = Test::new()
        .yaml(YAML)
        .file("canned.yaml", canned.as_bytes())
        .args(["run", "--replay", "canned.yaml", "--limit", "nc0[1-4]"])
        .args(["--output", "html=run.html", "--", "uname"]);
    t.run().code(3);
    let mut b = Browser::open(&format!("file://{}", t.dir().join("run.html").display()));
    let cells = b.eval(
        "Array.from(document.querySelectorAll('span.r')).map(e => e.dataset.host + ' ' + e.dataset.status).sort()",
    );
    assert_eq!(
        cells,
        json!(["nc01 pass", "nc02 pass", "nc03 fail", "nc04 error"])
    );
    b.click("span.r[data-host=nc03]");
    let details = b.eval("document.getElementById('details').innerText");
    let details = details.as_str().expect("text");
    assert!(
        details.contains("exit 2") && details.contains("boom"),
        "{details}"
    );
    assert!(details.contains("uname"), "the command: {details}");
    assert_eq!(b.errors(), Vec::<String>::new());
}
