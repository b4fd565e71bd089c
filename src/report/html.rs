//! `--output html=FILE`: one self-contained page (CSS, script and data inline; nothing fetched,
//! works from `file://`) that holds the run's JSON document, exactly as `--format json` prints
//! it, and renders it in the browser: the likely causes and the summary at the top, then a grid
//! of hosts by checks (failures first, identical rows folded, a colour and a symbol per
//! status), filters, and the evidence of a result on a click. Each result is an element with
//! `data-host`, `data-check` (`plugin/check`) and `data-status`, also inside a folded row.
//!
//! The page's parts live as files beside this module (`html/report.css`, `html/report.js`),
//! included at build time.

use serde_json::{json, Value};

use crate::deployment::Deployment;

const CSS: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// JSON text that can sit inside `<script>`: every `<` is written `\u003c`, so neither
/// `</script>` nor `<!--` can appear in it (a `<` only ever occurs inside JSON strings).
fn inline_json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What the page needs of the deployment besides the results: its name and file, and the
/// roles and clusters hosts are grouped and filtered by.
pub fn deployment_json(d: &Deployment) -> Value {
    let roles: serde_json::Map<String, Value> = d
        .roles
        .values()
        .filter(|r| r.name != crate::deployment::ALL_ROLE)
        .map(|r| (r.name.clone(), json!(r.hosts)))
        .collect();
    let clusters: serde_json::Map<String, Value> =
        d.clusters.iter().map(|(n, h)| (n.clone(), json!(h))).collect();
    json!({
        "name": d.name,
        "source": d.source.display().to_string(),
        "hosts": d.hosts.keys().collect::<Vec<_>>(),
        "roles": roles,
        "clusters": clusters,
    })
}

/// The page for `document` (a run's JSON document, as `--format json` prints it) of `command`
/// (`validate`, `debug`, `run`, `check`, `merge`) on the deployment described by `deployment`
/// ([`deployment_json`]).
pub fn page(command: &str, document: &Value, deployment: &Value) -> String {
    let title = format!(
        "rolecall {command}: {}",
        deployment
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| deployment.get("source").and_then(Value::as_str))
            .unwrap_or("deployment")
    );
    let title = escape_html(&title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
         <header><h1>{title}</h1><div id=\"summary\"></div></header>\n\
         <section id=\"causes\" hidden></section>\n\
         <section id=\"controls\"></section>\n\
         <main><div id=\"grid\"></div><aside id=\"details\" hidden></aside></main>\n\
         <noscript>This report renders with JavaScript; its data is in the page source, as JSON.</noscript>\n\
         <script type=\"application/json\" id=\"rolecall-results\">{}</script>\n\
         <script type=\"application/json\" id=\"rolecall-deployment\">{}</script>\n\
         <script type=\"application/json\" id=\"rolecall-command\">{}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        inline_json(document),
        inline_json(deployment),
        inline_json(&json!(command)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression guard: a message holding `</script>` must not end the data block.
    #[test]
    fn data_cannot_close_its_script_element() {
        let doc = json!({"results": [{"message": "</script><script>alert(1)</script><!--"}]});
        let page = page("debug", &doc, &json!({"name": "x"}));
        let start = page.find("id=\"rolecall-results\">").expect("data block");
        let end = page[start..].find("</script>").expect("its end") + start;
        let data = &page[start + "id=\"rolecall-results\">".len()..end];
        let back: Value = serde_json::from_str(data).expect("the block is the JSON");
        assert_eq!(
            back["results"][0]["message"],
            "</script><script>alert(1)</script><!--"
        );
        assert!(!data.contains('<'));
    }

    #[test]
    fn the_title_is_escaped() {
        let page = page("debug", &json!({}), &json!({"name": "<b>shop</b>"}));
        assert!(page.contains("<title>rolecall debug: &lt;b&gt;shop&lt;/b&gt;</title>"));
    }
}
