//! Reading a deployment file and turning parser errors into [`Diagnostic`]s that name the file,
//! line, column and YAML path in the user's words rather than serde's.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::de::DeserializeOwned;

use super::de::CUSTOM;
use super::error::{did_you_mean, one_of, Diagnostic, LoadError};
use super::locate::{locate, locate_in_file, Position, Segment, YamlPath};

/// The text of a deployment file, checked to be UTF-8 and not empty.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Largest deployment file rolecall reads.
pub const MAX_SOURCE_BYTES: usize = 64 << 20;
/// Deepest nesting of flow collections accepted (YAML parsers give up at 128 anyway, after
/// spending time quadratic in the depth).
pub const MAX_FLOW_DEPTH: usize = 1000;

impl Source {
    /// Read `path`, refusing directories, invalid UTF-8 and files with no content.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LoadError::NotFound {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::IsADirectory || path.is_dir() => {
                return Err(LoadError::IsDirectory {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(LoadError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.as_bytes();
                let prefix = String::from_utf8_lossy(&bytes[..valid]);
                let line = prefix.matches('\n').count() + 1;
                let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                return Err(Diagnostic::new(
                    path,
                    format!("invalid UTF-8 (byte 0x{:02x} at offset {valid})", bytes[valid]),
                )
                .at(Some(Position { line, column }))
                .hint("save the file as UTF-8")
                .into());
            }
        };
        let source = Self {
            path: path.to_path_buf(),
            text,
        };
        source.check_not_blank()?;
        source.check_bounds()?;
        Ok(source)
    }

    /// A source from text already in memory (tests, stdin).
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Refuse a file with no content: serde_yaml's "EOF while parsing" would not say that.
    /// Refuse, before any parser sees it, a file too large or nested too deeply to be a
    /// deployment: hostile input fails in milliseconds, not in minutes of parsing.
    pub fn check_bounds(&self) -> Result<(), Diagnostic> {
        if self.text.len() > MAX_SOURCE_BYTES {
            return Err(Diagnostic::new(
                &self.path,
                format!(
                    "the file is {} bytes, over the {MAX_SOURCE_BYTES}-byte limit for a deployment",
                    self.text.len()
                ),
            ));
        }
        // Net open `[`/`{` (quotes are not tracked: brackets inside strings only make this
        // stricter, and no real file comes near the limit).
        let mut depth = 0usize;
        for (i, b) in self.text.bytes().enumerate() {
            match b {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => continue,
            }
            if depth > MAX_FLOW_DEPTH {
                let prefix = &self.text[..i];
                let line = prefix.matches('\n').count() + 1;
                let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                return Err(Diagnostic::new(
                    &self.path,
                    format!("flow collections (`[`, `{{`) nest more than {MAX_FLOW_DEPTH} levels deep"),
                )
                .at(Some(Position { line, column }))
                .hint("a deployment never nests this deep; is this the right file?"));
            }
        }
        Ok(())
    }

    pub fn check_not_blank(&self) -> Result<(), Diagnostic> {
        if self.is_blank() {
            return Err(
                Diagnostic::new(&self.path, "the file is empty: no deployment in it")
                    .hint("a deployment needs at least a `hosts` mapping; see `deploy.example.yaml`"),
            );
        }
        Ok(())
    }

    /// Only whitespace, comments and document markers.
    pub fn is_blank(&self) -> bool {
        self.text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
        })
    }

    /// Deserialize the first YAML document into `T`, with errors as diagnostics.
    ///
    /// YAML 1.1 merge keys (`<<: *base`) are applied, and top-level `x-*` keys (a place to park
    /// anchors, as in compose files) are dropped, through a generic value first: errors then
    /// carry no parser position, and are located by their YAML path instead.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        let de = serde_yaml::Deserializer::from_str(&self.text);
        if !self.needs_value_pass() {
            return serde_path_to_error::deserialize(de).map_err(|e| self.translate(e));
        }
        let mut value: serde_yaml::Value =
            serde_path_to_error::deserialize(de).map_err(|e| self.translate(e))?;
        value.apply_merge().map_err(|e| {
            Diagnostic::new(&self.path, format!("merge key `<<`: {e}"))
                .hint("`<<` takes an alias of a mapping (`<<: *base`) or a list of them")
        })?;
        if let serde_yaml::Value::Mapping(top) = &mut value {
            top.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
        }
        serde_path_to_error::deserialize(value).map_err(|e| self.translate(e))
    }

    /// Merge keys or top-level `x-` keys: the document is read as a value first.
    fn needs_value_pass(&self) -> bool {
        self.text.contains("<<") || self.text.lines().any(|l| l.starts_with("x-"))
    }

    /// The first YAML document as a generic value (aliases expanded, bounded by serde_yaml).
    pub fn value(&self) -> Result<serde_yaml::Value, Diagnostic> {
        self.deserialize()
    }

    /// The line of `path` in this file (1-based), when it is written there.
    pub fn line_of(&self, path: &YamlPath) -> Option<usize> {
        locate_in_file(&self.text, path).map(|p| p.line)
    }

    /// A diagnostic at `path`, located in this file.
    pub fn error_at(&self, path: &YamlPath, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, message)
            .at(locate_in_file(&self.text, path))
            .path(path.clone())
    }

    fn translate(&self, err: serde_path_to_error::Error<serde_yaml::Error>) -> Diagnostic {
        let path = convert_path(err.path());
        let inner = err.into_inner();
        let serde_pos = inner
            .location()
            .map(|l| Position {
                line: l.line(),
                column: l.column(),
            })
            .or_else(|| locate_in_file(&self.text, &path));
        let raw = strip_decorations(&inner.to_string(), &path);

        if let Some(msg) = raw.strip_prefix(CUSTOM) {
            let (message, hint) = split_hint(msg);
            let pos = locate(&self.text, &path).or(serde_pos);
            return Diagnostic::new(&self.path, message)
                .at(pos)
                .path(path)
                .maybe_hint(hint);
        }
        let (message, hint) = self.reword(&raw, serde_pos);
        Diagnostic::new(&self.path, message)
            .at(serde_pos)
            .path(path)
            .maybe_hint(hint)
    }

    /// The alias name (`*name`) at `pos`, if one is there.
    fn alias_at(&self, pos: Position) -> Option<String> {
        let line = self.text.lines().nth(pos.line.checked_sub(1)?)?;
        let rest: String = line.chars().skip(pos.column.saturating_sub(1)).collect();
        let rest = rest.strip_prefix('*')?;
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
            .collect();
        (!name.is_empty()).then_some(name)
    }

    fn reword(&self, raw: &str, pos: Option<Position>) -> (String, Option<String>) {
        static UNKNOWN: OnceLock<Regex> = OnceLock::new();
        let unknown = UNKNOWN.get_or_init(|| {
            Regex::new(r"^unknown field `([^`]*)`, (?:expected (.*)|there are no fields)$")
                .expect("static regex")
        });
        if let Some(c) = unknown.captures(raw) {
            let key = &c[1];
            let expected: Vec<&str> = c
                .get(2)
                .map_or(Vec::new(), |m| m.as_str().split('`').skip(1).step_by(2).collect());
            return (
                format!("unknown key `{key}`, expected {}", one_of(&expected)),
                did_you_mean(key, expected.iter().copied()),
            );
        }
        if let Some(rest) = raw.strip_prefix("missing field ") {
            return (format!("missing key {rest}"), None);
        }
        if let Some(rest) = raw.strip_prefix("duplicate field ") {
            return (
                format!("duplicate key {rest}"),
                Some("each key may appear once per mapping".into()),
            );
        }
        if raw.contains("repetition limit exceeded") {
            return (
                "the document expands too many aliases (a \"billion laughs\" document?)".into(),
                Some("rolecall caps alias expansion; write the values out or use fewer aliases".into()),
            );
        }
        if raw.starts_with("unknown anchor") {
            let name = pos.and_then(|p| self.alias_at(p));
            return match name {
                Some(n) => (
                    format!("`*{n}` refers to an anchor `&{n}` that is not defined before it"),
                    Some(format!(
                        "define `&{n}` on a value above this line (anchors must come first)"
                    )),
                ),
                None => (
                    "an alias refers to an anchor that is not defined before it".into(),
                    None,
                ),
            };
        }
        if raw.contains("recursion limit exceeded") {
            return ("the document nests too deeply".into(), None);
        }
        if raw.contains("cannot start any token") && self.line_has_tab(pos) {
            return (
                "a tab character where YAML expects indentation or a value".into(),
                Some("YAML does not allow tabs for indentation; use spaces".into()),
            );
        }
        static FLOW_RANGE: OnceLock<Regex> = OnceLock::new();
        let flow_range = FLOW_RANGE.get_or_init(|| Regex::new(r"\w\[[0-9]").expect("static regex"));
        if raw.contains("flow sequence") && self.line_at(pos).is_some_and(|l| flow_range.is_match(l)) {
            return (
                raw.to_string(),
                Some("quote host ranges inside `[...]` lists (`[\"nc[01:04]\"]`), or write the list one `- item` per line".into()),
            );
        }
        static STRUCT: OnceLock<Regex> = OnceLock::new();
        let structure = STRUCT.get_or_init(|| Regex::new(r"struct \w+|a map\b").expect("static regex"));
        let message = structure.replace_all(raw, "a mapping").into_owned();
        let message = message.replace("invalid type: ", "wrong type: found ");
        // serde quotes the offending value whole: keep an excerpt, never key material.
        static QUOTED: OnceLock<Regex> = OnceLock::new();
        let quoted = QUOTED.get_or_init(|| Regex::new(r#""((?:[^"\\]|\\.)*)""#).expect("static regex"));
        let message = quoted
            .replace_all(&message, |c: &regex::Captures<'_>| {
                format!("\"{}\"", super::error::excerpt(&c[1]))
            })
            .into_owned();
        (message, None)
    }

    fn line_has_tab(&self, pos: Option<Position>) -> bool {
        self.line_at(pos).is_some_and(|l| l.contains('\t'))
    }

    fn line_at(&self, pos: Option<Position>) -> Option<&str> {
        pos.and_then(|p| self.text.lines().nth(p.line.saturating_sub(1)))
    }
}

fn convert_path(path: &serde_path_to_error::Path) -> YamlPath {
    use serde_path_to_error::Segment as S;
    YamlPath(
        path.iter()
            .filter_map(|s| match s {
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Enum { variant } => Some(Segment::Key(variant.clone())),
                S::Unknown => None,
            })
            .collect(),
    )
}

/// serde_yaml decorates its messages with `path: ` in front and ` at line L column C` behind;
/// we print both ourselves.
fn strip_decorations(msg: &str, path: &YamlPath) -> String {
    static AT: OnceLock<Regex> = OnceLock::new();
    let at = AT.get_or_init(|| Regex::new(r" at line \d+ column \d+").expect("static regex"));
    let mut msg = at.replace_all(msg, "").into_owned();
    let full = path.to_string();
    if let Some((head, tail)) = msg.split_once(": ") {
        if !head.is_empty() && !head.contains(' ') && full.starts_with(head) {
            msg = tail.to_string();
        }
    }
    msg
}

pub(crate) fn split_hint(msg: &str) -> (String, Option<String>) {
    match msg.split_once("\nhint: ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (msg.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        hosts: indexmap::IndexMap<String, Host>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Host {
        address: String,
        port: Option<u16>,
    }

    fn err(text: &str) -> String {
        Source::from_text("d.yaml", text)
            .deserialize::<Doc>()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_suggests_the_nearest() {
        assert_eq!(
            err("hosts:\n  a:\n    adress: x\n"),
            "d.yaml:3:5: hosts.a.adress: unknown key `adress`, expected `address` or `port`\n\
             hint: did you mean `address`?"
        );
    }

    #[test]
    fn wrong_types_name_the_path() {
        assert_eq!(
            err("hosts:\n  a:\n    address: x\n    port: 99999\n"),
            "d.yaml:4:11: hosts.a.port: invalid value: integer `99999`, expected u16"
        );
        assert_eq!(
            err("- a\n"),
            "d.yaml:1:1: wrong type: found sequence, expected a mapping"
        );
    }

    #[test]
    fn tabs_get_a_hint() {
        let e = err("hosts:\n\ta:\n    address: x\n");
        assert!(e.starts_with("d.yaml:2:1: "), "{e}");
        assert!(e.contains("hint: YAML does not allow tabs"), "{e}");
    }
}
