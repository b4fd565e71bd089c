//! Host patterns, read as Ansible reads them (`ansible PATTERN --list-hosts`, `--limit`), with
//! rolecall's few extensions where Ansible's rules select nothing. docs/patterns.md sets each
//! rule beside Ansible's.
//!
//! Ansible's rules (ansible-core's `InventoryManager`):
//! - a pattern string holding a `,` is split at `,` only; otherwise it is one pattern when it
//!   reads as an address (IPv6 kept whole, `host:port`, ranges), else it is split at `:`
//!   outside `[...]`;
//! - terms are taken plain first, then `&` (narrow), then `!` (take out); only `&`/`!` terms
//!   start from `all`;
//! - a term is a host name, or else matched against every group name (fnmatch glob, or a
//!   regex anchored at the start with `~`), a group giving its hosts; hosts are matched too
//!   when no group matched or the term is a regex or holds `.`, `?`, `*` or `[`;
//! - a trailing `[i]`, `[i:j]` (inclusive), `[i:]` or `[i-j]` subscripts the hosts a term
//!   matched, in Ansible's order;
//! - a term that matches nothing is skipped with a warning; the order of the selection is the
//!   order the terms found the hosts in.
//!
//! rolecall's extensions, used only for a term Ansible's rules find nothing for: a host's
//! address (`10.0.5.81`), a range as the inventory or rolecall writes it (`nc[01-04,07]`,
//! `web[1:3].example.com`, `db[001:003]`), matched against names then addresses; clusters
//! (Calyptos) as groups. A selection that is empty is an error, never "nothing to do".

use std::collections::HashSet;
use std::path::Path;

use crate::deployment::error::did_you_mean;
use crate::deployment::{range, Deployment, ALL_ROLE};

/// How deep `@FILE` may include `@FILE`.
const MAX_FILE_DEPTH: usize = 8;

/// The group Ansible makes for hosts in no other group.
const UNGROUPED: &str = "ungrouped";

/// What a set of patterns selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected {
    /// The hosts, in Ansible's order.
    pub hosts: Vec<String>,
    /// Terms that matched nothing (skipped, as Ansible does), and readings worth knowing.
    pub warnings: Vec<String>,
    /// For `--list-hosts -v`: terms whose hosts came from a rolecall extension, not from
    /// Ansible's rules.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

/// Ansible's `split_host_pattern`, except that a `,` inside `[...]` does not split (a
/// rolecall extension: `nc[01-04,07]`, as rolecall prints folded names; Ansible would cut it
/// into two pieces that match nothing).
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let outside = split_outside_brackets(pattern, ',');
    let pieces: Vec<String> = if outside.len() > 1 {
        outside
    } else if parses_as_address(pattern.trim()) {
        vec![pattern.to_string()]
    } else {
        split_colons(pattern)
    };
    pieces
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
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

/// The `:`-separated pieces of `s`: runs of characters other than whitespace, `:`, `[`, `]`,
/// or whole `[...]` groups (Ansible's fallback, kept for old patterns).
fn split_colons(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '[' {
            if let Some(end) = chars[i..].iter().position(|&x| x == ']') {
                cur.extend(&chars[i..=i + end]);
                i += end + 1;
                continue;
            }
            flush(&mut cur, &mut out);
        } else if c == ':' || c == ']' || c.is_whitespace() {
            flush(&mut cur, &mut out);
        } else {
            cur.push(c);
        }
        i += 1;
    }
    flush(&mut cur, &mut out);
    out
}

/// Whether `s` reads as Ansible's `parse_address(s, allow_ranges=True)` reads a host: an
/// IPv4 or IPv6 address or a host name (ranges allowed), with an optional `:port` (`[..]:port`
/// for IPv6).
fn parses_as_address(s: &str) -> bool {
    let mut host = s;
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((inner, port)) = rest.rsplit_once("]:") {
            if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                host = inner;
            }
        }
    } else if let Some((h, port)) = s.rsplit_once(':') {
        let bare = h.chars().all(|c| c != ':') || bracket_balanced_without_colon(h);
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && bare {
            host = h;
        }
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() || is_ipv4_with_ranges(host) {
        return true;
    }
    is_hostname_with_ranges(host)
}

/// `h` has `:` only inside `[...]` groups.
fn bracket_balanced_without_colon(h: &str) -> bool {
    let mut depth = 0i32;
    for c in h.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => return false,
            _ => {}
        }
    }
    depth == 0
}

/// A `[a:b]` or `[a:b:step]` range of digits (or single letters when `letters`) at the start
/// of `s`: its length.
fn range_len(s: &str, letters: bool) -> Option<usize> {
    let end = s.find(']')?;
    let body = s.strip_prefix('[')?.get(..end - 1)?;
    let parts: Vec<&str> = body.split(':').collect();
    let num = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let letter = |p: &str| p.len() == 1 && p.bytes().all(|b| b.is_ascii_lowercase());
    let ok = match parts.as_slice() {
        [a, b] | [a, b, _] if parts.len() == 2 || num(parts[2]) => {
            (num(a) && num(b)) || (letters && letter(a) && letter(b))
        }
        _ => false,
    };
    ok.then_some(end + 1)
}

fn is_ipv4_with_ranges(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (p.starts_with('[') && range_len(p, false) == Some(p.len()))
                || (!p.is_empty()
                    && p.len() <= 3
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && p.parse::<u16>().is_ok_and(|n| n <= 255))
        })
}

/// Labels of word characters (and `-`, not at the end), or ranges, separated by dots.
fn is_hostname_with_ranges(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            let mut chars = label.char_indices().peekable();
            let mut first = true;
            let mut last = ' ';
            while let Some((i, c)) = chars.next() {
                if c == '[' {
                    let Some(n) = range_len(&label[i..], true) else {
                        return false;
                    };
                    while chars.peek().is_some_and(|(j, _)| *j < i + n) {
                        chars.next();
                    }
                    last = ']';
                } else if c.is_alphanumeric() || c == '_' || (!first && c == '-') {
                    last = c;
                } else {
                    return false;
                }
                first = false;
            }
            !first && last != '-' && last != '_'
        })
}

/// Python's `fnmatch.translate`, as a regex for the `regex` crate (whole-string match).
fn fnmatch_regex(pat: &str) -> String {
    let p: Vec<char> = pat.chars().collect();
    let mut out = String::from("(?s)^");
    let hex = |c: char| format!("\\x{{{:x}}}", c as u32);
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                while i < p.len() && p[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < p.len() && p[j] == '!' {
                    j += 1;
                }
                if j < p.len() && p[j] == ']' {
                    j += 1;
                }
                while j < p.len() && p[j] != ']' {
                    j += 1;
                }
                if j >= p.len() {
                    out.push_str(&hex('['));
                    continue;
                }
                let body: Vec<char> = p[i..j].to_vec();
                i = j + 1;
                if body == ['!'] {
                    out.push('.');
                    continue;
                }
                let (negate, items) = match body.first() {
                    Some('!') => (true, &body[1..]),
                    _ => (false, &body[..]),
                };
                // Ranges `a-b` (a reversed one is dropped, as Python drops it); a `-` first or
                // last is itself.
                let mut ranges: Vec<(char, char)> = Vec::new();
                let mut k = 0;
                while k < items.len() {
                    if k + 2 < items.len() && items[k + 1] == '-' {
                        if items[k] <= items[k + 2] {
                            ranges.push((items[k], items[k + 2]));
                        }
                        k += 3;
                    } else {
                        ranges.push((items[k], items[k]));
                        k += 1;
                    }
                }
                if ranges.is_empty() {
                    // Nothing can match an empty set (`(?!)` in Python).
                    out.push_str(if negate { "." } else { "[^\\x{0}-\\x{10ffff}]" });
                    continue;
                }
                out.push('[');
                if negate {
                    out.push('^');
                }
                for (a, b) in ranges {
                    out.push_str(&hex(a));
                    if a != b {
                        out.push('-');
                        out.push_str(&hex(b));
                    }
                }
                out.push(']');
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

/// A term's matcher: fnmatch, or a `~regex` anchored at the start (Python's `re.match`).
fn matcher(term: &str) -> Result<regex::Regex, String> {
    let source = match term.strip_prefix('~') {
        Some(re) => format!("^(?:{re})"),
        None => fnmatch_regex(term),
    };
    regex::Regex::new(&source).map_err(|e| {
        format!("`{term}` is not a valid host pattern: {e} (rolecall's regexes have no look-around or back-references)")
    })
}

/// A trailing subscript, as Ansible splits it: `[i]`, `[i:j]`, `[i:]`, `[i-j]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    /// Start, and end (inclusive); `None` for "to the last".
    Slice(usize, Option<usize>),
}

fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    if term.starts_with('~') || !term.ends_with(']') {
        return (term, None);
    }
    let Some(open) = term.rfind('[') else {
        return (term, None);
    };
    let (expr, body) = (&term[..open], &term[open + 1..term.len() - 1]);
    if expr.is_empty() {
        return (term, None);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(body.strip_prefix('-').unwrap_or(body)) {
        return match body.parse() {
            Ok(i) => (expr, Some(Subscript::Index(i))),
            Err(_) => (term, None),
        };
    }
    let Some(sep) = body.find([':', '-']) else {
        return (term, None);
    };
    let (start, end) = (&body[..sep], &body[sep + 1..]);
    if !digits(start) || !(end.is_empty() || digits(end)) {
        return (term, None);
    }
    let Ok(start) = start.parse() else {
        return (term, None);
    };
    let end = if end.is_empty() { None } else { end.parse().ok() };
    (expr, Some(Subscript::Slice(start, end)))
}

/// Ansible's `_apply_subscript`; `Err` when an index is out of range.
fn apply_subscript<'d>(
    hosts: Vec<&'d str>,
    sub: Option<Subscript>,
    term: &str,
) -> Result<Vec<&'d str>, String> {
    let Some(sub) = sub else { return Ok(hosts) };
    if hosts.is_empty() {
        return Ok(hosts);
    }
    let out_of_range = || {
        format!(
            "no host matched the subscripted pattern `{term}` (the index is past its {} hosts)",
            hosts.len()
        )
    };
    let index = |i: i64| -> Option<usize> {
        let n = i64::try_from(hosts.len()).ok()?;
        let i = if i < 0 { n + i } else { i };
        usize::try_from(i).ok().filter(|&i| i < hosts.len())
    };
    match sub {
        Subscript::Index(i) => Ok(vec![hosts[index(i).ok_or_else(out_of_range)?]]),
        // Python reads an end of 0 as "none given": one host, as `[i]`.
        Subscript::Slice(start, Some(0)) => {
            let i = i64::try_from(start).unwrap_or(i64::MAX);
            Ok(vec![hosts[index(i).ok_or_else(out_of_range)?]])
        }
        Subscript::Slice(start, end) => {
            let end = end.map_or(hosts.len(), |e| (e + 1).min(hosts.len()));
            Ok(hosts.get(start.min(end)..end).unwrap_or_default().to_vec())
        }
    }
}

/// Group names in Ansible's order (`all`, `ungrouped`, then as written), with their hosts in
/// Ansible's order; then clusters (a rolecall extension: Calyptos has them, Ansible does not).
fn groups(d: &Deployment) -> Vec<(&str, &[String])> {
    let mut out: Vec<(&str, &[String])> = Vec::new();
    let all = d
        .roles
        .get(ALL_ROLE)
        .map(|r| r.hosts.as_slice())
        .unwrap_or_default();
    out.push((ALL_ROLE, all));
    if let Some(u) = d.roles.get(UNGROUPED) {
        out.push((UNGROUPED, u.hosts.as_slice()));
    }
    for (name, r) in &d.roles {
        if name != ALL_ROLE && name != UNGROUPED {
            out.push((name.as_str(), r.hosts.as_slice()));
        }
    }
    out
}

/// The hosts `patterns` select (several are one union), in Ansible's order.
pub fn select_pattern(d: &Deployment, patterns: &[String]) -> Result<Selected, String> {
    let mut terms: Vec<String> = Vec::new();
    for p in patterns {
        collect(p, &mut terms, 0)?;
    }
    // Ansible's `order_patterns`: plain terms first, then `&`, then `!`; `all` when only
    // `&`/`!` terms are given.
    let op = |t: &str| match t.as_bytes().first() {
        Some(b'!') => Op::Exclude,
        Some(b'&') => Op::Intersect,
        _ => Op::Union,
    };
    let mut ordered: Vec<&str> = Vec::new();
    for want in [Op::Union, Op::Intersect, Op::Exclude] {
        ordered.extend(terms.iter().map(String::as_str).filter(|t| op(t) == want));
    }
    if !ordered.iter().any(|t| op(t) == Op::Union) {
        ordered.insert(0, ALL_ROLE);
    }
    let mut sel = Selected::default();
    let mut hosts: Vec<&str> = Vec::new();
    for term in ordered {
        let kind = op(term);
        let body = term.trim_start_matches(['!', '&']);
        if body.is_empty() {
            return Err(format!("`{term}` is an empty pattern"));
        }
        if kind == Op::Union {
            if let Some((name, _)) = d.hosts.get_key_value(body) {
                if !hosts.contains(&name.as_str()) {
                    hosts.push(name);
                }
                continue;
            }
        }
        let that = match_term(d, body, &mut sel)?;
        match kind {
            Op::Exclude => {
                let that: HashSet<&str> = that.into_iter().collect();
                hosts.retain(|h| !that.contains(h));
            }
            Op::Intersect => {
                let that: HashSet<&str> = that.into_iter().collect();
                hosts.retain(|h| that.contains(h));
            }
            Op::Union => {
                let have: HashSet<&str> = hosts.iter().copied().collect();
                let mut seen = HashSet::new();
                hosts.extend(that.into_iter().filter(|h| !have.contains(h) && seen.insert(*h)));
            }
        }
    }
    if hosts.is_empty() {
        let mut why = format!(
            "the pattern{} `{}` select{} no host of {}",
            if patterns.len() == 1 { "" } else { "s" },
            patterns.join("` `"),
            if patterns.len() == 1 { "s" } else { "" },
            d.source.display()
        );
        for w in &sel.warnings {
            why.push_str(&format!("\n  {w}"));
        }
        return Err(why);
    }
    sel.hosts = hosts.into_iter().map(str::to_string).collect();
    Ok(sel)
}

fn collect(pattern: &str, out: &mut Vec<String>, depth: usize) -> Result<(), String> {
    for term in split_host_pattern(pattern) {
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
                    collect(line, out, depth + 1)?;
                }
            }
            continue;
        }
        out.push(term);
    }
    Ok(())
}

/// The hosts one term (without `!`/`&`) matches, duplicates and all, as Ansible's
/// `_match_one_pattern`; extensions when Ansible's rules find nothing; a warning when
/// nothing does.
fn match_term<'d>(d: &'d Deployment, term: &str, sel: &mut Selected) -> Result<Vec<&'d str>, String> {
    let (expr, sub) = split_subscript(term);
    let re = matcher(expr)?;
    let mut found: Vec<&str> = Vec::new();
    let mut any_group = false;
    for (name, members) in groups(d) {
        if re.is_match(name) {
            any_group = true;
            found.extend(members.iter().map(String::as_str));
        }
    }
    let special = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
    if !any_group || special {
        found.extend(d.hosts.keys().map(String::as_str).filter(|h| re.is_match(h)));
    }
    if !found.is_empty() || any_group {
        if expr.contains('[') && !expr.starts_with('~') && looks_like_range(expr) && sub.is_none() {
            sel.warnings.push(format!(
                "`{term}`: read as Ansible reads it, `[...]` is a character class (one character of \
                 the set), not a range; for a range list the names or use `~regex`"
            ));
        }
        return apply_subscript(found, sub, term);
    }
    if let Some(ext) = extension(d, term) {
        sel.extensions.push(format!(
            "`{term}` selected {} host(s) by {} (a rolecall extension; Ansible matches nothing)",
            ext.1.len(),
            ext.0
        ));
        return Ok(ext.1);
    }
    let candidates = d
        .hosts
        .keys()
        .map(String::as_str)
        .chain(d.roles.keys().map(String::as_str))
        .chain(d.clusters.keys().map(String::as_str));
    let hint = did_you_mean(term, candidates)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    sel.warnings.push(format!(
        "pattern `{term}` matches no host or group: skipped{hint}"
    ));
    Ok(Vec::new())
}

/// `[` ... `:` or `-` between digits ... `]`: what an operator means as a range.
fn looks_like_range(expr: &str) -> bool {
    expr.match_indices('[').any(|(i, _)| {
        let rest = &expr[i + 1..];
        rest.find(']').is_some_and(|end| {
            let body = &rest[..end];
            body.contains([':', '-', ',']) && body.bytes().any(|b| b.is_ascii_digit())
        })
    })
}

/// rolecall's extensions, for a term Ansible's rules match nothing with: a cluster, an
/// address, or a range as the inventory or rolecall writes it (names, then addresses).
fn extension<'d>(d: &'d Deployment, term: &str) -> Option<(&'static str, Vec<&'d str>)> {
    if let Some(c) = d.clusters.get(term) {
        return Some(("cluster", c.iter().map(String::as_str).collect()));
    }
    // `nc0[12]` is subscript 12 of `nc0` to Ansible; when that is nothing, the glob it looks
    // like (nc01, nc02).
    if split_subscript(term).1.is_some() {
        if let Ok(re) = matcher(term) {
            let names: Vec<&str> = d
                .hosts
                .keys()
                .map(String::as_str)
                .filter(|h| re.is_match(h))
                .collect();
            if !names.is_empty() {
                return Some(("glob (Ansible reads `[..]` at the end as a subscript)", names));
            }
        }
    }
    let by_address: Vec<&str> = d
        .hosts
        .values()
        .filter(|h| h.address == term)
        .map(|h| h.name.as_str())
        .collect();
    if !by_address.is_empty() {
        return Some(("address", by_address));
    }
    if !range::is_pattern(term) {
        return None;
    }
    let expanded = range::expand(term)
        .ok()
        .or_else(|| crate::deployment::ansible::expand_range(term).ok())?;
    let wanted: HashSet<&str> = expanded.iter().map(String::as_str).collect();
    let names: Vec<&str> = d
        .hosts
        .keys()
        .map(String::as_str)
        .filter(|h| wanted.contains(h))
        .collect();
    if !names.is_empty() {
        return Some(("range over host names", names));
    }
    let addrs: Vec<&str> = d
        .hosts
        .values()
        .filter(|h| wanted.contains(h.address.as_str()))
        .map(|h| h.name.as_str())
        .collect();
    (!addrs.is_empty()).then_some(("range over addresses", addrs))
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
        select_pattern(&d(), &p).map(|s| s.hosts)
    }

    #[test]
    fn splitting_as_ansible_splits() {
        assert_eq!(
            split_host_pattern("a,b[1], c[2:3] , d"),
            ["a", "b[1]", "c[2:3]", "d"]
        );
        assert_eq!(split_host_pattern("web:&east:!web02"), ["web", "&east", "!web02"]);
        assert_eq!(split_host_pattern("::1"), ["::1"]);
        assert_eq!(split_host_pattern("nc[01:04]"), ["nc[01:04]"]);
        assert_eq!(split_host_pattern("web:db"), ["web", "db"]);
        // Once there is a comma, `:` no longer splits.
        assert_eq!(split_host_pattern("a:b,c"), ["a:b", "c"]);
    }

    #[test]
    fn fnmatch_as_python() {
        let m = |p: &str, s: &str| regex::Regex::new(&fnmatch_regex(p)).unwrap().is_match(s);
        assert!(m("nc0*", "nc01"));
        assert!(m("web[1:3].x", "web1.x") && m("web[1:3].x", "web:.x") && !m("web[1:3].x", "web2.x"));
        assert!(m("h[!a]", "hb") && !m("h[!a]", "ha"));
        assert!(m("a[", "a["));
        assert!(m("x[]]", "x]"));
        assert!(!m("x[z-a]", "xm"));
        assert!(m("a.b", "a.b") && !m("a.b", "axb"));
    }

    #[test]
    fn subscripts_as_ansible() {
        assert_eq!(split_subscript("g[0]"), ("g", Some(Subscript::Index(0))));
        assert_eq!(split_subscript("g[-1]"), ("g", Some(Subscript::Index(-1))));
        assert_eq!(
            split_subscript("g[1:3]"),
            ("g", Some(Subscript::Slice(1, Some(3))))
        );
        assert_eq!(split_subscript("g[2:]"), ("g", Some(Subscript::Slice(2, None))));
        assert_eq!(split_subscript("g[:2]"), ("g[:2]", None));
        assert_eq!(split_subscript("~g[0]"), ("~g[0]", None));
        assert_eq!(sel(&["node-controller[0]"]).unwrap(), ["nc01"]);
        assert_eq!(sel(&["node-controller[-1]"]).unwrap(), ["nc08"]);
        assert_eq!(sel(&["node-controller[1:3]"]).unwrap(), ["nc02", "nc03", "nc04"]);
        assert_eq!(sel(&["node-controller[6:]"]).unwrap(), ["nc07", "nc08"]);
        assert!(sel(&["node-controller[9]"]).unwrap_err().contains("subscripted"));
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
        // Ansible's order: the order the terms found the hosts in.
        assert_eq!(sel(&["db01,web02"]).unwrap(), ["db01", "web02"]);
        assert_eq!(
            sel(&["!node-controller"]).unwrap(),
            ["web01", "web02", "db01", "::1"]
        );
        assert_eq!(sel(&["~web0[2-9]$"]).unwrap(), ["web02"]);
        // `~` is anchored at the start (Python's `re.match`) and matches group names too.
        assert!(sel(&["~eb"]).unwrap_err().contains("select"));
        assert_eq!(sel(&["~node"]).unwrap().len(), 8);
        assert_eq!(sel(&["all:!nc*:!web*"]).unwrap(), ["db01", "::1"]);
        assert_eq!(sel(&["::1"]).unwrap(), ["::1"]);
        assert_eq!(sel(&["web01", "db"]).unwrap(), ["web01", "db01"]);
        assert!(sel(&["~(unclosed"])
            .unwrap_err()
            .contains("not a valid host pattern"));
    }

    #[test]
    fn a_term_matching_nothing_is_skipped_with_a_warning() {
        let s = select_pattern(&d(), &["web,nosuch".to_string()]).unwrap();
        assert_eq!(s.hosts, ["web01", "web02"]);
        assert!(
            s.warnings[0].contains("pattern `nosuch` matches no host or group: skipped"),
            "{:?}",
            s.warnings
        );
        let e = sel(&["web03"]).unwrap_err();
        assert!(e.contains("select") && e.contains("did you mean"), "{e}");
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
