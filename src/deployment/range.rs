//! Host ranges: `nc[01:16]` expands to `nc01` .. `nc16`, and a list of names folds back into
//! the same compact form for display (`nc[01-04,07]`).
//!
//! A pattern may hold several bracket groups (`rack[1:2]-nc[01:04]`, expanded left-major), and a
//! group may list items and ranges separated by commas (`nc[01:03,07]`). The width of a zero-padded
//! start (`01`) sets the width of every number of that range.

use std::fmt;

/// Expanding more names than the deployment's host limit ([`super::max_hosts`], 100,000 unless
/// raised) from one pattern is refused: a typo such as `nc[0:99999999]` must be an error, not an
/// out-of-memory kill.
fn max_expansion() -> usize {
    super::max_hosts()
}

/// Why a host pattern could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    Unclosed,
    Empty,
    BadBound(String),
    Reversed { start: u64, end: u64 },
    TooMany { count: u128, limit: usize },
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unclosed => write!(f, "unclosed `[` in host range"),
            Self::Empty => write!(f, "empty `[]` in host range"),
            Self::BadBound(s) => write!(f, "`{s}` is not a number or `start:end` range"),
            Self::Reversed { start, end } => {
                write!(f, "range `{start}:{end}` runs backwards")
            }
            Self::TooMany { count, limit } => write!(
                f,
                "host range expands to {count} names, more than the limit of {limit} (see `--max-hosts`)"
            ),
        }
    }
}

/// Does `s` contain a range group at all?
pub fn is_pattern(s: &str) -> bool {
    s.contains('[')
}

/// Expand a pattern into names, in order. A string without `[` expands to itself.
pub fn expand(pattern: &str) -> Result<Vec<String>, RangeError> {
    if !pattern.contains(['[', ']']) {
        return Ok(vec![pattern.to_string()]);
    }
    let mut parts: Vec<Vec<String>> = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        parts.push(vec![rest[..open].to_string()]);
        let close = rest[open..].find(']').ok_or(RangeError::Unclosed)? + open;
        parts.push(expand_group(&rest[open + 1..close])?);
        rest = &rest[close + 1..];
    }
    if rest.contains(']') {
        return Err(RangeError::BadBound(rest.to_string()));
    }
    parts.push(vec![rest.to_string()]);

    cross(parts, max_expansion()).map_err(|count| RangeError::TooMany {
        count,
        limit: max_expansion(),
    })
}

/// Every concatenation of one item of each part, left-major; `Err(count)` when there would
/// be more than `limit`, counted before any name is made.
pub(crate) fn cross(parts: Vec<Vec<String>>, limit: usize) -> Result<Vec<String>, u128> {
    let total: u128 = parts.iter().map(|p| p.len() as u128).product();
    if total > limit as u128 {
        return Err(total);
    }
    let mut out = vec![String::new()];
    for part in parts {
        if let [item] = part.as_slice() {
            // One item (the text around a group): appended in place, no new names.
            if !item.is_empty() {
                out.iter_mut().for_each(|name| name.push_str(item));
            }
            continue;
        }
        let mut next = Vec::with_capacity(out.len() * part.len());
        for prefix in &out {
            for item in &part {
                let mut name = String::with_capacity(prefix.len() + item.len());
                name.push_str(prefix);
                name.push_str(item);
                next.push(name);
            }
        }
        out = next;
    }
    Ok(out)
}

fn expand_group(group: &str) -> Result<Vec<String>, RangeError> {
    if group.trim().is_empty() {
        return Err(RangeError::Empty);
    }
    let mut out = Vec::new();
    for item in group.split(',').map(str::trim) {
        match item.split_once([':', '-']) {
            None => {
                if item.is_empty() || !item.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(RangeError::BadBound(item.to_string()));
                }
                out.push(item.to_string());
            }
            Some((a, b)) => {
                let start = parse_bound(a)?;
                let end = parse_bound(b)?;
                if end < start {
                    return Err(RangeError::Reversed { start, end });
                }
                let count = u128::from(end - start) + 1;
                if count + out.len() as u128 > max_expansion() as u128 {
                    return Err(RangeError::TooMany {
                        count,
                        limit: max_expansion(),
                    });
                }
                let width = if a.len() > 1 && a.starts_with('0') {
                    a.len()
                } else {
                    0
                };
                out.extend((start..=end).map(|n| format!("{n:0width$}")));
            }
        }
    }
    Ok(out)
}

fn parse_bound(s: &str) -> Result<u64, RangeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::BadBound(s.to_string()));
    }
    s.parse().map_err(|_| RangeError::BadBound(s.to_string()))
}

/// Fold host names back into compact patterns, keeping first-appearance order of the groups:
/// `nc01 nc02 nc03 nc04 nc07 web` -> `nc[01-04,07]`, `web`.
///
/// Names are grouped by (prefix, digit width, suffix) where the number is the last run of digits.
///
/// Linear in the total length of the names (a hash finds each name's group).
pub fn fold<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    struct Group<'a> {
        prefix: &'a str,
        suffix: &'a str,
        width: usize,
        numbers: Vec<u64>,
    }
    /// What the output holds, in first-appearance order.
    enum Entry<'a> {
        Group(usize),
        Single(&'a str),
    }
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut entries: Vec<Entry<'a>> = Vec::new();
    // (prefix, suffix, width) -> group; width 0 for unpadded numbers.
    let mut index: std::collections::HashMap<(&'a str, &'a str, usize), usize> =
        std::collections::HashMap::new();
    for name in names {
        let parsed = split_number(name).and_then(|(p, d, s)| Some((p, d, s, d.parse::<u64>().ok()?)));
        let Some((prefix, digits, suffix, n)) = parsed else {
            entries.push(Entry::Single(name));
            continue;
        };
        let padded = digits.len() > 1 && digits.starts_with('0');
        // `nc10` joins a zero-padded `nc01` group of width 2 or an unpadded `nc9` group,
        // whichever came first; a padded `nc01` joins only a group of its width.
        let same_width = index.get(&(prefix, suffix, digits.len())).copied();
        let unpadded = if padded {
            None
        } else {
            index.get(&(prefix, suffix, 0)).copied()
        };
        let found = match (same_width, unpadded) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match found {
            Some(g) => groups[g].numbers.push(n),
            None => {
                let width = if padded { digits.len() } else { 0 };
                index.insert((prefix, suffix, width), groups.len());
                entries.push(Entry::Group(groups.len()));
                groups.push(Group {
                    prefix,
                    suffix,
                    width,
                    numbers: vec![n],
                });
            }
        }
    }
    let render = |g: &mut Group<'_>| -> String {
        if g.numbers.len() == 1 {
            return format!("{}{:0w$}{}", g.prefix, g.numbers[0], g.suffix, w = g.width);
        }
        let nums = &mut g.numbers;
        nums.sort_unstable();
        nums.dedup();
        let mut spans: Vec<String> = Vec::new();
        let mut i = 0;
        while i < nums.len() {
            let start = nums[i];
            let mut end = start;
            while i + 1 < nums.len() && nums[i + 1] == end + 1 {
                i += 1;
                end = nums[i];
            }
            let w = g.width;
            spans.push(if start == end {
                format!("{start:0w$}")
            } else {
                format!("{start:0w$}-{end:0w$}")
            });
            i += 1;
        }
        format!("{}[{}]{}", g.prefix, spans.join(","), g.suffix)
    };
    entries
        .into_iter()
        .map(|e| match e {
            Entry::Group(g) => render(&mut groups[g]),
            Entry::Single(name) => name.to_string(),
        })
        .collect()
}

fn split_number(name: &str) -> Option<(&str, &str, &str)> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    Some((&name[..start], &name[start..end], &name[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_name_expands_to_itself() {
        assert_eq!(expand("web").unwrap(), ["web"]);
    }

    #[test]
    fn zero_padded_range_keeps_width() {
        assert_eq!(expand("nc[01:03]").unwrap(), ["nc01", "nc02", "nc03"]);
        assert_eq!(expand("nc[8:10]").unwrap(), ["nc8", "nc9", "nc10"]);
    }

    #[test]
    fn groups_lists_and_products() {
        assert_eq!(expand("n[1,3:4]").unwrap(), ["n1", "n3", "n4"]);
        assert_eq!(
            expand("r[1:2]-n[1:2].lan").unwrap(),
            ["r1-n1.lan", "r1-n2.lan", "r2-n1.lan", "r2-n2.lan"]
        );
        assert_eq!(
            expand("127.0.0.[2:4]").unwrap(),
            ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        );
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert_eq!(expand("nc[01:03"), Err(RangeError::Unclosed));
        assert_eq!(expand("nc[]"), Err(RangeError::Empty));
        assert_eq!(expand("nc[5:1]"), Err(RangeError::Reversed { start: 5, end: 1 }));
        assert!(matches!(expand("nc[a:b]"), Err(RangeError::BadBound(_))));
        assert!(matches!(expand("nc]"), Err(RangeError::BadBound(_))));
    }

    #[test]
    fn huge_ranges_are_refused_without_allocating() {
        assert!(matches!(
            expand("nc[0:99999999999]"),
            Err(RangeError::TooMany { .. })
        ));
        assert!(matches!(
            expand("a[1:1000]b[1:1000]"),
            Err(RangeError::TooMany {
                count: 1_000_000,
                limit: 100_000
            })
        ));
    }

    #[test]
    fn fold_compacts_runs_and_keeps_order() {
        let names = ["web", "nc01", "nc02", "nc03", "nc04", "nc07", "db"];
        assert_eq!(fold(names), ["web", "nc[01-04,07]", "db"]);
        assert_eq!(fold(["a1"]), ["a1"]);
        assert_eq!(fold(["10.0.0.1", "10.0.0.2"]), ["10.0.0.[1-2]"]);
    }

    #[test]
    fn fold_inverts_expand() {
        let names = expand("nc[01:16]").unwrap();
        assert_eq!(fold(names.iter().map(String::as_str)), ["nc[01-16]"]);
    }
}
