//! Host patterns, as Ansible's `--limit` reads them: host names, globs (`nc0*`), regexes
//! (`~nc0[0-9]+`), folded ranges as rolecall prints them (`nc[01-04,07]`, `10.0.5.[88,101]`),
//! role and cluster names, `all`; unions (`a:b` or `a,b`), intersections (`&role`),
//! exclusions (`!host`), and `@FILE` (one pattern per line).
//!
//! The selection is (union of the plain terms, or every host when there are none) narrowed by
//! each `&` term, minus each `!` term, in the deployment's host order. A term that matches
//! nothing is an error naming the closest names: a typo never silently means "nothing".

use std::collections::HashSet;
use std::path::Path;

use crate::deployment::error::did_you_mean;
use crate::deployment::{range, Deployment, ALL_ROLE};
use crate::remote::glob_match;

/// How deep `@FILE` may include `@FILE`.
const MAX_FILE_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

/// Split one pattern string into terms at `,` and `:`, except inside `[...]` (ranges) and in
/// IPv6 addresses.
fn terms(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in split_outside_brackets(pattern, ',') {
        let bare = piece.trim_start_matches(['!', '&']);
        if bare.parse::<std::net::Ipv6Addr>().is_ok() {
            out.push(piece);
        } else {
            out.extend(split_outside_brackets(&piece, ':'));
        }
    }
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn split_outside_brackets(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The hosts `patterns` select (several patterns are a union), in file order.
pub fn select_pattern(d: &Deployment, patterns: &[String]) -> Result<Vec<String>, String> {
    let mut ops: Vec<(Op, String)> = Vec::new();
    for p in patterns {
        collect(p, &mut ops, 0)?;
    }
    let mut base: Option<HashSet<&str>> = None;
    let mut narrow: Vec<HashSet<&str>> = Vec::new();
    let mut minus: HashSet<&str> = HashSet::new();
    for (op, term) in &ops {
        let hosts = term_hosts(d, term)?;
        match op {
            Op::Union => base.get_or_insert_with(HashSet::new).extend(hosts),
            Op::Intersect => narrow.push(hosts.into_iter().collect()),
            Op::Exclude => minus.extend(hosts),
        }
    }
    Ok(d.hosts
        .keys()
        .map(String::as_str)
        .filter(|h| base.as_ref().is_none_or(|b| b.contains(h)))
        .filter(|h| narrow.iter().all(|n| n.contains(h)))
        .filter(|h| !minus.contains(h))
        .map(str::to_string)
        .collect())
}

fn collect(pattern: &str, ops: &mut Vec<(Op, String)>, depth: usize) -> Result<(), String> {
    for term in terms(pattern) {
        if let Some(file) = term.strip_prefix('@') {
            if depth >= MAX_FILE_DEPTH {
                return Err(format!(
                    "`@{file}`: pattern files nest more than {MAX_FILE_DEPTH} deep"
                ));
            }
            let text = std::fs::read_to_string(Path::new(file))
                .map_err(|e| format!("cannot read the pattern file `{file}`: {e}"))?;
            for line in text.lines().map(str::trim) {
                if !line.is_empty() && !line.starts_with('#') {
                    collect(line, ops, depth + 1)?;
                }
            }
            continue;
        }
        let (op, body) = if let Some(b) = term.strip_prefix('!') {
            (Op::Exclude, b)
        } else if let Some(b) = term.strip_prefix('&') {
            (Op::Intersect, b)
        } else {
            (Op::Union, term.as_str())
        };
        if body.is_empty() {
            return Err(format!("`{term}` is an empty pattern"));
        }
        ops.push((op, body.to_string()));
    }
    Ok(())
}

/// The hosts one term names; an error when it names nothing.
fn term_hosts<'d>(d: &'d Deployment, term: &str) -> Result<Vec<&'d str>, String> {
    let names = || d.hosts.keys().map(String::as_str);
    if term == ALL_ROLE || term == "*" {
        return Ok(names().collect());
    }
    let mut found: Vec<&str> = Vec::new();
    if let Some(r) = d.roles.get(term) {
        found.extend(r.hosts.iter().map(String::as_str));
    }
    if let Some(c) = d.clusters.get(term) {
        found.extend(c.iter().map(String::as_str));
    }
    if let Some((name, _)) = d.hosts.get_key_value(term) {
        found.push(name);
    }
    if let Some(re) = term.strip_prefix('~') {
        let re = regex::Regex::new(re).map_err(|e| format!("`{term}` is not a valid regex: {e}"))?;
        found.extend(names().filter(|h| re.is_match(h)));
    } else if let Some(expanded) = (found.is_empty() && range::is_pattern(term) && !term.contains(['*', '?']))
        .then(|| range::expand(term).ok())
        .flatten()
    {
        let wanted: HashSet<&str> = expanded.iter().map(String::as_str).collect();
        found.extend(names().filter(|h| wanted.contains(h)));
        if found.is_empty() {
            // Ranges of addresses (`10.0.5.[88,101]`) name hosts by address.
            found.extend(
                d.hosts
                    .values()
                    .filter(|h| wanted.contains(h.address.as_str()))
                    .map(|h| h.name.as_str()),
            );
        }
    }
    if found.is_empty() && term.contains(['*', '?', '[']) && !term.starts_with('~') {
        found.extend(names().filter(|h| glob_match(term, h)));
        for r in d.roles.values().filter(|r| glob_match(term, &r.name)) {
            found.extend(r.hosts.iter().map(String::as_str));
        }
    } else if found.is_empty() {
        found.extend(
            d.hosts
                .values()
                .filter(|h| h.address == term)
                .map(|h| h.name.as_str()),
        );
    }
    if found.is_empty() {
        let candidates = names()
            .chain(d.roles.keys().map(String::as_str))
            .chain(d.clusters.keys().map(String::as_str));
        let hint = did_you_mean(term, candidates)
            .map(|h| format!("\nhint: {h}"))
            .unwrap_or_default();
        return Err(format!(
            "pattern `{term}` matches no host, role or cluster in {}{hint}",
            d.source.display()
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Deployment {
        crate::deployment::load_str(
            "deploy.yaml",
            "hosts:\n  nc[01:08]:\n    address: 10.0.5.[81:88]\n  web[01:02]:\n  db01:\n  \"::1\":\n\
             roles:\n  node-controller: [\"nc[01:08]\"]\n  web: [\"web[01:02]\"]\n  db: [db01]\n\
             clusters:\n  east: [nc01, nc02, web01]\n",
            None,
        )
        .unwrap()
    }

    fn sel(p: &[&str]) -> Result<Vec<String>, String> {
        let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
        select_pattern(&d(), &p)
    }

    #[test]
    fn terms_split_outside_ranges_and_v6() {
        assert_eq!(terms("nc[01:04]:web,db"), ["nc[01:04]", "web", "db"]);
        assert_eq!(terms("::1,!db"), ["::1", "!db"]);
        assert_eq!(terms("web:&east:!web02"), ["web", "&east", "!web02"]);
    }

    #[test]
    fn every_form() {
        assert_eq!(
            sel(&["nc[01-04,07]"]).unwrap(),
            ["nc01", "nc02", "nc03", "nc04", "nc07"]
        );
        assert_eq!(sel(&["10.0.5.[81,88]"]).unwrap(), ["nc01", "nc08"]);
        assert_eq!(sel(&["web"]).unwrap(), ["web01", "web02"]);
        assert_eq!(sel(&["east:&web"]).unwrap(), ["web01"]);
        assert_eq!(sel(&["node-controller:!nc0[2-8]"]).unwrap(), ["nc01"]);
        assert_eq!(sel(&["db01,web02"]).unwrap(), ["web02", "db01"]);
        assert_eq!(
            sel(&["!node-controller"]).unwrap(),
            ["web01", "web02", "db01", "::1"]
        );
        assert_eq!(sel(&["~^web0[2-9]$"]).unwrap(), ["web02"]);
        assert_eq!(sel(&["all:!nc*:!web*"]).unwrap(), ["db01", "::1"]);
        assert_eq!(sel(&["::1"]).unwrap(), ["::1"]);
        assert_eq!(sel(&["web01", "db"]).unwrap(), ["web01", "db01"]);
    }

    #[test]
    fn no_match_names_the_closest() {
        let e = sel(&["web03"]).unwrap_err();
        assert!(
            e.contains("pattern `web03` matches no host, role or cluster"),
            "{e}"
        );
        assert!(e.contains("did you mean"), "{e}");
        assert!(sel(&["nc[09:10]"]).is_err());
        assert!(sel(&["!"]).is_err());
    }

    #[test]
    fn pattern_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts.txt");
        std::fs::write(&f, "# canaries\nnc01\nweb:&east\n").unwrap();
        let p = format!("@{}", f.display());
        assert_eq!(sel(&[&p]).unwrap(), ["nc01", "web01"]);
        assert!(sel(&["@/nonexistent/x"])
            .unwrap_err()
            .contains("cannot read the pattern file"));
    }
}
