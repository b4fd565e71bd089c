//! INI inventories: `[group]`, `[group:vars]` and `[group:children]` sections, host lines split
//! as Python's `shlex` splits them, values read as Python literals, host ranges and `host:port`.

use indexmap::IndexMap;
use serde_json::Value;

use super::literal::literal;
use super::{Inventory, Vars, UNGROUPED};
use crate::deployment::error::{excerpt, Diagnostic};
use crate::deployment::locate::Position;
use crate::deployment::source::Source;

pub(super) fn read_ini(src: &Source, inv: &mut Inventory) -> Result<(), Diagnostic> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Hosts,
        Vars,
        Children,
    }
    let mut section = (UNGROUPED.to_string(), Kind::Hosts);
    // `[x:vars]` of groups not (yet) defined: applied at the end if the group is defined by
    // then, else refused (as Ansible does).
    let mut deferred: IndexMap<String, (usize, Vars)> = IndexMap::new();
    // Groups named by a section header so far, and children named before any section of
    // their own (line, parent).
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut pending: IndexMap<String, (usize, String)> = IndexMap::new();
    for (i, raw) in src.text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = (src.path.clone(), line_no);
        let err = |msg: String| {
            Diagnostic::new(&src.path, msg).at(Some(Position {
                line: line_no,
                column: raw.len() - raw.trim_start().len() + 1,
            }))
        };
        if let Some((name, kind)) = section_header(line) {
            let kind = match kind {
                None | Some("hosts") => Kind::Hosts,
                Some("vars") => Kind::Vars,
                Some("children") => Kind::Children,
                Some(other) => {
                    return Err(err(format!("`{line}`: unknown section type `:{other}`"))
                        .hint("sections are `[group]`, `[group:vars]` or `[group:children]`"));
                }
            };
            if !matches!(kind, Kind::Vars) {
                pending.shift_remove(name);
            }
            seen.insert(name.to_string());
            match kind {
                Kind::Vars if !inv.groups.contains_key(name) => {
                    deferred.entry(name.to_string()).or_insert((line_no, Vars::new()));
                }
                _ => {
                    inv.group(name, at);
                }
            }
            section = (name.to_string(), kind);
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(err(format!(
                "`{}` is not a valid section header: no spaces or `:`/`]` in a group name",
                excerpt(line)
            )));
        }
        match section.1 {
            Kind::Hosts => {
                let tokens = shlex(line).map_err(|e| err(format!("cannot split this line: {e}")))?;
                let Some((pattern, rest)) = tokens.split_first() else {
                    continue;
                };
                let mut vars = Vars::new();
                for t in rest {
                    let Some((k, v)) = t.split_once('=') else {
                        return Err(err(format!(
                            "`{}`: expected key=value after the host pattern `{}`",
                            excerpt(t),
                            excerpt(pattern)
                        )));
                    };
                    vars.insert(k.to_string(), literal(v));
                }
                let (names, port) =
                    host_pattern(pattern).map_err(|e| err(format!("`{}`: {e}", excerpt(pattern))))?;
                if let Some(p) = port {
                    vars.entry("ansible_port").or_insert(Value::from(p));
                }
                for name in names {
                    inv.add_host(&section.0, &name, vars.clone(), at.clone())
                        .map_err(&err)?;
                }
            }
            Kind::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(format!(
                        "`{}`: expected key=value in `[{}:vars]`",
                        excerpt(line),
                        section.0
                    )));
                };
                let v = shlex(v.trim())
                    .ok()
                    .filter(|t| t.len() == 1)
                    .map_or_else(|| v.trim().to_string(), |mut t| t.remove(0));
                let (k, v) = (k.trim().to_string(), literal(&v));
                match deferred.get_mut(&section.0) {
                    Some((_, vars)) => {
                        vars.insert(k, v);
                    }
                    None => {
                        inv.group(&section.0, at).vars.insert(k, v);
                    }
                }
            }
            Kind::Children => {
                // Ansible's group name: up to whitespace, `:` or `]`, then only a comment.
                let child = line
                    .split(|c: char| c.is_whitespace() || c == '#')
                    .next()
                    .unwrap_or_default();
                let rest = line[child.len()..].trim_start();
                if child.is_empty()
                    || child.contains([':', ']'])
                    || !(rest.is_empty() || rest.starts_with('#'))
                {
                    return Err(err(format!("expected a group name, got `{}`", excerpt(line))));
                }
                if !seen.contains(child) {
                    // Defined later or never: Ansible refuses the latter.
                    pending
                        .entry(child.to_string())
                        .or_insert((line_no, section.0.clone()));
                }
                inv.group(child, at.clone());
                inv.group(&section.0, at).children.insert(child.to_string());
            }
        }
    }
    if let Some((child, (line, parent))) = pending.into_iter().next() {
        return Err(Diagnostic::new(
            &src.path,
            format!("`[{parent}:children]` includes `{child}`, a group that is never defined"),
        )
        .at(Some(Position { line, column: 1 }))
        .hint(format!(
            "define `[{child}]` (it may be empty), as Ansible requires"
        )));
    }
    for (name, (line, vars)) in deferred {
        if let Some(g) = inv.groups.get_mut(&name) {
            g.vars.extend(vars);
        } else {
            return Err(Diagnostic::new(
                &src.path,
                format!("`[{name}:vars]` is for a group that is never defined"),
            )
            .at(Some(Position { line, column: 1 }))
            .hint(format!(
                "define `[{name}]` (or list it under a `:children` section), as Ansible requires"
            )));
        }
    }
    Ok(())
}

/// A section header as Ansible's INI plugin reads it: `[name]` or `[name:tag]`, then only
/// whitespace or a `#` comment. The name holds no whitespace, `:` or `]`; the tag is a word.
fn section_header(line: &str) -> Option<(&str, Option<&str>)> {
    let inner = line.strip_prefix('[')?;
    let close = inner.find(']')?;
    let rest = inner[close + 1..].trim_start();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    let inner = &inner[..close];
    let (name, tag) = match inner.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (inner, None),
    };
    let word = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || c == '_');
    (!name.is_empty() && !name.contains(char::is_whitespace) && tag.is_none_or(word)).then_some((name, tag))
}

/// Python's `shlex.split(s, comments=True)`, enough for inventory lines.
fn shlex(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if !any => break,
            c if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            '\'' => {
                any = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                any = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '\\' => {
                any = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                any = true;
                cur.push(c);
            }
        }
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

/// `name[01:03]:2222` -> names and the port. Ranges: `[a:b]`, `[a:b:step]`, letters `[a:f]`.
pub(super) fn host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = split_port(pattern)?;
    Ok((expand(&name)?, port))
}

fn split_port(pattern: &str) -> Result<(String, Option<u16>), String> {
    // `[v6]:port`, a bare IPv6 address, or `name:port` (a `:` outside brackets).
    if let Some(rest) = pattern.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            if addr.contains(':') {
                let port = match tail.strip_prefix(':') {
                    Some(p) => Some(p.parse().map_err(|_| format!("`{p}` is not a port"))?),
                    None => None,
                };
                return Ok((addr.to_string(), port));
            }
        }
    }
    if pattern.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((pattern.to_string(), None));
    }
    let mut depth = 0usize;
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                let p = &pattern[i + 1..];
                let port = p.parse().map_err(|_| format!("`{p}` is not a port"))?;
                return Ok((pattern[..i].to_string(), Some(port)));
            }
            _ => {}
        }
    }
    Ok((pattern.to_string(), None))
}

/// Every name of `name`'s ranges, left-major. The count (the product of every range's
/// length) is checked against the host limit before any name is made.
fn expand(name: &str) -> Result<Vec<String>, String> {
    let limit = crate::deployment::max_hosts();
    let mut parts: Vec<Vec<String>> = Vec::new();
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| c + open)
            .ok_or("unclosed `[` in host range")?;
        parts.push(vec![rest[..open].to_string()]);
        parts.push(range_items(&rest[open + 1..close], limit)?);
        rest = &rest[close + 1..];
    }
    parts.push(vec![rest.to_string()]);
    crate::deployment::range::cross(parts, limit).map_err(|total| {
        format!("`{name}` expands to {total} names, more than the limit of {limit} (see `--max-hosts`)")
    })
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The items of one `[start:end]` or `[start:end:step]` range (numbers or single letters).
fn range_items(body: &str, limit: usize) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = body.split(':').collect();
    let (start, end, step) = match parts.as_slice() {
        // Ansible: an omitted start is 0 (`db[:5]`).
        ["", b] => ("0", *b, 1u64),
        [a, b] => (*a, *b, 1u64),
        [a, b, s] => (
            if a.is_empty() { "0" } else { *a },
            *b,
            s.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or(format!("`{s}` is not a step"))?,
        ),
        _ => {
            return Err(format!(
                "`[{body}]` is not a range (`[start:end]` or `[start:end:step]`)"
            ))
        }
    };
    if !start.is_empty() && start.bytes().all(|b| b.is_ascii_digit()) {
        let (a, b) = (
            start
                .parse::<u64>()
                .map_err(|_| format!("`{start}` is not a number"))?,
            end.parse::<u64>()
                .map_err(|_| format!("`{end}` is not a number"))?,
        );
        if b < a {
            return Err(format!("range `[{body}]` runs backwards"));
        }
        if (b - a) / step >= limit as u64 {
            return Err(format!(
                "range `[{body}]` expands to more than {limit} names (see `--max-hosts`)"
            ));
        }
        let width = if start.len() > 1 && start.starts_with('0') {
            if end.len() != start.len() {
                return Err(format!(
                    "range `[{body}]`: a zero-padded start needs an end of the same length (as Ansible requires)"
                ));
            }
            start.len()
        } else {
            0
        };
        Ok((a..=b)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .map(|n| format!("{n:0width$}"))
            .collect())
    } else if let (Some(a), Some(b)) = (LETTERS.find(start), LETTERS.find(end)) {
        // Python's `string.ascii_letters`: a-z then A-Z (`[x:B]` runs x, y, z, A, B).
        if start.len() != 1 || end.len() != 1 {
            return Err(format!("`[{body}]` is not a numeric or alphabetic range"));
        }
        if b < a {
            return Err(format!("range `[{body}]` runs backwards"));
        }
        Ok(LETTERS[a..=b]
            .chars()
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .map(String::from)
            .collect())
    } else {
        Err(format!("`[{body}]` is not a numeric or alphabetic range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_ansible() {
        assert_eq!(expand("web[01:03].x").unwrap(), ["web01.x", "web02.x", "web03.x"]);
        assert_eq!(expand("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("n[1:9:4]").unwrap(), ["n1", "n5", "n9"]);
        assert_eq!(expand("r[1:2]-[a:b]").unwrap(), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        assert!(expand("x[3:1]").is_err());
        assert_eq!(
            host_pattern("h:2222").unwrap(),
            (vec!["h".to_string()], Some(2222))
        );
        assert_eq!(host_pattern("h[1:2]:22").unwrap().0, ["h1", "h2"]);
        assert_eq!(
            host_pattern("[::1]:2200").unwrap(),
            (vec!["::1".to_string()], Some(2200))
        );
        assert_eq!(host_pattern("fe80::1").unwrap().1, None);
    }

    #[test]
    fn ini_values_are_python_literals() {
        assert_eq!(literal("5"), Value::from(5));
        assert_eq!(literal("True"), Value::Bool(true));
        assert_eq!(literal("true"), Value::from("true"));
        assert_eq!(literal("[1, 'a']"), serde_json::json!([1, "a"]));
        assert_eq!(literal("{'a': 1}"), serde_json::json!({"a": 1}));
        assert_eq!(literal("010"), Value::from("010"));
        assert_eq!(literal("1.5"), serde_json::json!(1.5));
        assert_eq!(literal("quoted str"), Value::from("quoted str"));
        assert_eq!(literal("10.0.0.1"), Value::from("10.0.0.1"));
        assert_eq!(shlex(r#"a b="x y" c='d' # note"#).unwrap(), ["a", "b=x y", "c=d"]);
    }
}
