//! Jinja templates in inventory variables. Ansible keeps them verbatim in the inventory and
//! renders them when a value is used; rolecall renders the ones it needs to connect
//! (`ansible_host`, `ansible_port`, `ansible_user`) from the host's own inventory variables,
//! with the filters real inventories use (`default`, `lower`, `upper`, `replace`,
//! `regex_replace`, `join`, `int`, `string`, ...). What needs more than the inventory (a
//! `lookup`, a fact) cannot be rendered here: that host gets its own error, and the rest of
//! the fleet works.

use serde_json::{Map, Value};

/// How many times a value is rendered again while it still holds a template (a variable whose
/// value is itself a template).
const MAX_DEPTH: usize = 8;

/// Whether `s` holds Jinja syntax.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The environment inventory templates and `constructed` expressions are evaluated in.
pub(super) fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("bool", |v: minijinja::Value| -> bool {
        match v.as_str() {
            Some(s) => matches!(s.to_ascii_lowercase().as_str(), "yes" | "on" | "1" | "true"),
            None => v.is_true(),
        }
    });
    env
}

/// Ansible's `regex_replace(pattern, replacement)` (`\1` or `\g<1>` for groups).
fn regex_replace(
    value: String,
    pattern: String,
    replacement: Option<String>,
) -> Result<String, minijinja::Error> {
    let re = regex::Regex::new(&pattern).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("bad regex `{pattern}`: {e}"),
        )
    })?;
    let mut rep = replacement.unwrap_or_default();
    for i in (0..10).rev() {
        rep = rep.replace(&format!("\\g<{i}>"), &format!("${{{i}}}"));
        rep = rep.replace(&format!("\\{i}"), &format!("${{{i}}}"));
    }
    Ok(re.replace_all(&value, rep.as_str()).into_owned())
}

/// `text` rendered with `vars` (and `inventory_hostname`); `Err` says why it cannot be.
pub fn render(text: &str, host: &str, vars: &Map<String, Value>) -> Result<String, String> {
    let env = environment();
    let mut ctx = vars.clone();
    ctx.insert("inventory_hostname".into(), Value::from(host));
    ctx.insert(
        "inventory_hostname_short".into(),
        Value::from(host.split('.').next().unwrap_or(host)),
    );
    let ctx = minijinja::Value::from_serialize(&ctx);
    let mut out = text.to_string();
    for _ in 0..MAX_DEPTH {
        if !is_template(&out) {
            return Ok(out);
        }
        out = env.render_str(&out, &ctx).map_err(|e| {
            let mut why = e.to_string();
            if why.contains("unknown function") {
                why.push_str(" (rolecall renders only what the inventory holds: no lookups or facts)");
            }
            why
        })?;
    }
    Err(format!(
        "still a template after {MAX_DEPTH} renderings (does a variable refer to itself?)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect()
    }

    #[test]
    fn inventory_variables_and_filters_render() {
        let v = vars(&[
            ("net", "10.0.0"),
            ("octet", "5"),
            ("user_base", "Admin"),
            ("h", "{{ net }}.{{ octet }}"),
        ]);
        assert_eq!(render("{{ net }}.{{ octet }}", "web01", &v).unwrap(), "10.0.0.5");
        assert_eq!(render("{{ h }}", "web01", &v).unwrap(), "10.0.0.5");
        assert_eq!(render("{{ user_base | lower }}", "web01", &v).unwrap(), "admin");
        assert_eq!(
            render("{{ missing | default('root') }}", "web01", &v).unwrap(),
            "root"
        );
        assert_eq!(
            render(
                "{{ inventory_hostname | regex_replace('^web(\\\\d+)$', '10.1.0.\\\\1') }}",
                "web01",
                &v
            )
            .unwrap(),
            "10.1.0.01"
        );
        assert_eq!(render("{{ ['a','b'] | join('-') }}", "x", &v).unwrap(), "a-b");
        assert_eq!(render("{{ '22' | int + 1 }}", "x", &v).unwrap(), "23");
        assert_eq!(
            render("{{ inventory_hostname_short }}", "db1.example.com", &v).unwrap(),
            "db1"
        );
    }

    #[test]
    fn what_needs_more_than_the_inventory_is_an_error() {
        let v = vars(&[]);
        let e = render("{{ lookup('env', 'IP') }}", "web01", &v).unwrap_err();
        assert!(e.contains("no lookups or facts"), "{e}");
        assert!(render("{{ undefined_var }}", "web01", &v).is_err());
        let v = vars(&[("a", "{{ a }}")]);
        assert!(render("{{ a }}", "x", &v)
            .unwrap_err()
            .contains("refer to itself"));
    }
}
