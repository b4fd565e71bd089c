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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root, displayed as `hosts.nc03.address` or `roles.web.hosts[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
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
    nearest(path, &mut |p| locate(text, p))
}

/// Where `find` places `path`, else its nearest ancestor it places (the root excepted): the
/// fallback of [`locate_in_file`], with any way of finding a path.
pub fn nearest(path: &YamlPath, find: &mut dyn FnMut(&YamlPath) -> Option<Position>) -> Option<Position> {
    let mut p = path.clone();
    while !p.0.is_empty() {
        if let Some(pos) = find(&p) {
            return Some(pos);
        }
        p.0.pop();
    }
    None
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

/// Where each of `paths` is in `text`, as [`locate`] answers for each, in one walk of the
/// document: a plugin's findings name many paths, and each walk reads the whole file.
pub fn locate_many(text: &str, paths: &[YamlPath]) -> Vec<Option<Position>> {
    let mut trie = Trie::default();
    let ends: Vec<usize> = paths.iter().map(|p| trie.insert(&p.0)).collect();
    let mut walker = ManyWalker {
        trie: &mut trie,
        stack: Vec::new(),
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    // As in `locate`: a syntax error ends the walk; what was found before it counts.
    let _ = parser.load(&mut walker, false);
    ends.iter()
        .map(|&n| trie.nodes[n].value.or(trie.nodes[n].key))
        .collect()
}

/// The paths looked for, as a tree: node 0 is the root; each node's positions once found.
#[derive(Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}

#[derive(Default)]
struct TrieNode {
    children: std::collections::HashMap<Segment, usize>,
    value: Option<Position>,
    key: Option<Position>,
}

impl Trie {
    fn insert(&mut self, path: &[Segment]) -> usize {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut at = 0;
        for seg in path {
            at = match self.nodes[at].children.get(seg) {
                Some(&n) => n,
                None => {
                    self.nodes.push(TrieNode::default());
                    let n = self.nodes.len() - 1;
                    self.nodes[at].children.insert(seg.clone(), n);
                    n
                }
            };
        }
        at
    }

    fn child(&self, node: Option<usize>, seg: &Segment) -> Option<usize> {
        node.and_then(|n| self.nodes[n].children.get(seg).copied())
    }
}

/// [`Walker`] for many paths: each open collection knows its node in the trie (`None`: no path
/// goes through it, and nothing inside it is looked at).
struct ManyWalker<'t> {
    trie: &'t mut Trie,
    stack: Vec<(Frame, Option<usize>)>,
    documents: usize,
}

impl ManyWalker<'_> {
    /// The trie node of the node starting now (the value of the current key or item).
    fn current(&self) -> Option<usize> {
        match self.stack.last() {
            None => Some(0),
            Some((Frame::Map { key: Some(k), .. }, node)) => self.trie.child(*node, &Segment::Key(k.clone())),
            Some((Frame::Seq { next }, node)) => self.trie.child(*node, &Segment::Index(*next)),
            Some((Frame::Map { key: None, .. }, _)) => None,
        }
    }

    fn node_started(&mut self, mark: Marker) -> Option<usize> {
        let node = self.current();
        if let Some(n) = node {
            let v = &mut self.trie.nodes[n].value;
            v.get_or_insert(Walker::at(mark));
        }
        node
    }

    fn node_finished(&mut self) {
        match self.stack.last_mut() {
            Some((Frame::Map { key, awaiting_key }, _)) => {
                *key = None;
                *awaiting_key = true;
            }
            Some((Frame::Seq { next }, _)) => *next += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for ManyWalker<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.documents > 1 {
            return;
        }
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, ..)
                if matches!(
                    self.stack.last(),
                    Some((
                        Frame::Map {
                            awaiting_key: true,
                            ..
                        },
                        _
                    ))
                ) =>
            {
                if let Some((Frame::Map { key, awaiting_key }, node)) = self.stack.last_mut() {
                    if node.is_some() {
                        if let Some(n) = self.trie.child(*node, &Segment::Key(value.clone())) {
                            self.trie.nodes[n].key.get_or_insert(Walker::at(mark));
                        }
                        *key = Some(value);
                    } else {
                        // Untracked: the key only has to be there, not its text.
                        *key = Some(String::new());
                    }
                    *awaiting_key = false;
                }
            }
            Event::Scalar(..) | Event::Alias(_) => {
                self.node_started(mark);
                self.node_finished();
            }
            Event::MappingStart(..) => {
                let node = self.node_started(mark);
                let frame = Frame::Map {
                    key: None,
                    awaiting_key: true,
                };
                self.stack.push((frame, node));
            }
            Event::SequenceStart(..) => {
                let node = self.node_started(mark);
                self.stack.push((Frame::Seq { next: 0 }, node));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.node_finished();
            }
            _ => {}
        }
    }
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

    /// Every path of `v` (and one missing child of each mapping), depth first.
    fn paths_of(v: &serde_yaml::Value, at: &YamlPath, out: &mut Vec<YamlPath>) {
        out.push(at.clone());
        match v {
            serde_yaml::Value::Mapping(m) => {
                out.push(at.key("no-such-key"));
                for (k, v) in m {
                    let k = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
                    paths_of(v, &at.key(k), out);
                }
            }
            serde_yaml::Value::Sequence(items) => {
                out.push(at.index(items.len()));
                for (i, v) in items.iter().enumerate() {
                    paths_of(v, &at.index(i), out);
                }
            }
            _ => {}
        }
    }

    /// One walk for many paths answers what a walk per path answers, on real files and on
    /// the shapes that make walking hard (flow collections, anchors, a second document,
    /// duplicate keys, a syntax error).
    #[test]
    fn locating_many_paths_at_once_answers_as_one_at_a_time() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut docs: Vec<String> = [
            "deploy.example.yaml",
            "examples/demo.yaml",
            "tests/fixtures/calyptos/new-schema-vpcmido.yaml",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(root.join(f)).expect("fixture"))
        .collect();
        docs.push(DOC.to_string());
        docs.push("a: &x {b: [1, {c: 2}], d: e}\nf: *x\ng:\n  - [h, i]\n  - j: k\n".into());
        docs.push("a: 1\na: 2\nb: {c: 3}\n---\nb: {c: 4}\n".into());
        docs.push("a: {b: 1}\nc: [2, 3\n".into());
        for doc in &docs {
            let mut paths = Vec::new();
            let value: serde_yaml::Value =
                serde_yaml::from_str(doc.split("\n---").next().unwrap_or_default()).unwrap_or_default();
            paths_of(&value, &YamlPath::root(), &mut paths);
            // Paths for the documents serde_yaml refuses (duplicate keys, the syntax error).
            for p in ["a", "a.b", "b", "b.c", "c", "c[0]", "c[1]", "f.b[1].c", "g[1].j"] {
                paths.push(YamlPath::parse(p));
            }
            let one_by_one: Vec<Option<Position>> = paths.iter().map(|p| locate(doc, p)).collect();
            assert_eq!(locate_many(doc, &paths), one_by_one, "{doc}");
            assert!(one_by_one.iter().filter(|p| p.is_some()).count() > 3, "{doc}");
        }
    }

    #[test]
    fn survives_syntax_errors() {
        assert_eq!(
            locate("a: [1, 2\n", &YamlPath::keys(["a"])).map(|p| p.line),
            Some(1)
        );
    }
}
