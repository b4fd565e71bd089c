//! Find where a YAML path (`hosts.nc03.address`, `roles.web.hosts[2]`) sits in the source text.
//!
//! serde_yaml reports positions for syntax errors, but checks made after deserialization (a role
//! naming an unknown host, an unset variable inside free-form `vars`) only know the YAML path.
//! This walks the document's events once, on the error path only, to turn that path into a
//! line and column. Aliases are not expanded, so this is cheap even for hostile documents.

use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a YAML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root, displayed as `hosts.nc03.address` or `roles.web.hosts[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Segment>);

impl YamlPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Key(key.into()));
        Self(v)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Index(index));
        Self(v)
    }

    /// Parse `roles.web.hosts[2]` (as plugins report paths). Keys cannot contain `.` or `[`
    /// in this form; such paths simply locate less precisely.
    pub fn parse(s: &str) -> Self {
        let mut out = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if !key.is_empty() {
                out.push(Segment::Key(key.to_string()));
            }
            for idx in rest.split('[') {
                if let Ok(n) = idx.trim_end_matches(']').parse() {
                    out.push(Segment::Index(n));
                }
            }
        }
        Self(out)
    }

    /// Build from a dotted path such as `hosts.nc03.address` (no indexes; for tests and
    /// callers that only deal with mapping keys).
    pub fn keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self(keys.into_iter().map(|k| Segment::Key(k.to_string())).collect())
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where `path` is in `text`, falling back to its nearest located ancestor (a plugin may name
/// `roles.web.min` where the file only has `roles.web`).
pub fn locate_in_file(text: &str, path: &YamlPath) -> Option<Position> {
    let mut p = path.clone();
    loop {
        if let Some(pos) = locate(text, &p) {
            return Some(pos);
        }
        p.0.pop()?;
        if p.0.is_empty() {
            return None;
        }
    }
}

/// Where `path` is in `text`: the value's position, or the key's when the value has none.
pub fn locate(text: &str, path: &YamlPath) -> Option<Position> {
    let mut walker = Walker {
        target: &path.0,
        stack: Vec::new(),
        value: None,
        key: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    // A syntax error simply ends the walk; whatever was found before it still counts.
    let _ = parser.load(&mut walker, false);
    walker.value.or(walker.key)
}

enum Frame {
    Map { key: Option<String>, awaiting_key: bool },
    Seq { next: usize },
}

struct Walker<'a> {
    target: &'a [Segment],
    stack: Vec<Frame>,
    value: Option<Position>,
    key: Option<Position>,
    documents: usize,
}

impl Walker<'_> {
    fn current_is(&self, extra: Option<&str>) -> bool {
        let depth = self.stack.len() + usize::from(extra.is_some());
        if depth != self.target.len() {
            return false;
        }
        let mut segs = self.target.iter();
        for frame in &self.stack {
            let Some(seg) = segs.next() else { return false };
            let matches = match (frame, seg) {
                (Frame::Map { key: Some(k), .. }, Segment::Key(t)) => k == t,
                (Frame::Seq { next }, Segment::Index(t)) => next == t,
                _ => false,
            };
            if !matches {
                return false;
            }
        }
        match (extra, segs.next()) {
            (Some(k), Some(Segment::Key(t))) => k == t,
            (None, None) => true,
            _ => false,
        }
    }

    fn at(mark: Marker) -> Position {
        // yaml-rust2 lines are 1-based, columns 0-based.
        Position {
            line: mark.line(),
            column: mark.col() + 1,
        }
    }

    fn node_started(&mut self, mark: Marker) {
        if self.value.is_none() && self.current_is(None) {
            self.value = Some(Self::at(mark));
        }
    }

    fn node_finished(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, awaiting_key }) => {
                *key = None;
                *awaiting_key = true;
            }
            Some(Frame::Seq { next }) => *next += 1,
            None => {}
        }
    }

    fn in_key_position(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                awaiting_key: true,
                ..
            })
        )
    }
}

impl MarkedEventReceiver for Walker<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.documents > 1 || self.value.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, ..) if self.in_key_position() => {
                if self.key.is_none() && self.current_is(Some(&value)) {
                    self.key = Some(Self::at(mark));
                }
                if let Some(Frame::Map { key, awaiting_key }) = self.stack.last_mut() {
                    *key = Some(value);
                    *awaiting_key = false;
                }
            }
            Event::Scalar(..) | Event::Alias(_) => {
                self.node_started(mark);
                self.node_finished();
            }
            Event::MappingStart(..) => {
                self.node_started(mark);
                self.stack.push(Frame::Map {
                    key: None,
                    awaiting_key: true,
                });
            }
            Event::SequenceStart(..) => {
                self.node_started(mark);
                self.stack.push(Frame::Seq { next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.node_finished();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
hosts:
  nc01:
    address: 127.0.0.2
  nc02: {address: 127.0.0.3, port: 2222}
roles:
  web:
    hosts: [nc01, nc09]
";

    #[test]
    fn finds_values_keys_and_sequence_items() {
        let p = |s: &YamlPath| locate(DOC, s).map(|p| (p.line, p.column));
        assert_eq!(p(&YamlPath::keys(["hosts", "nc01", "address"])), Some((3, 14)));
        assert_eq!(p(&YamlPath::keys(["hosts", "nc02", "port"])), Some((4, 36)));
        let item = YamlPath::keys(["roles", "web", "hosts"]).index(1);
        assert_eq!(item.to_string(), "roles.web.hosts[1]");
        assert_eq!(p(&item), Some((7, 19)));
        assert_eq!(p(&YamlPath::keys(["hosts", "nope"])), None);
    }

    #[test]
    fn survives_syntax_errors() {
        assert_eq!(
            locate("a: [1, 2\n", &YamlPath::keys(["a"])).map(|p| p.line),
            Some(1)
        );
    }
}
