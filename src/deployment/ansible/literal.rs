//! Values of INI inventories, as Ansible reads them: Python literals where they are one.

use serde_json::{Map, Value};

/// An INI value as Ansible reads it: a Python literal when it is one (`5`, `1.5`, `True`,
/// `None`, `[1, 2]`, `{'a': 1}`, `'text'`), else the text itself.
pub(super) fn literal(v: &str) -> Value {
    let mut p = Literal {
        s: v.trim().as_bytes(),
        i: 0,
    };
    match p.value() {
        Some(val) if p.rest_is_blank() => val,
        _ => Value::String(v.to_string()),
    }
}

struct Literal<'a> {
    s: &'a [u8],
    i: usize,
}

impl Literal<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn rest_is_blank(&mut self) -> bool {
        self.skip_ws();
        self.i == self.s.len()
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_ws();
        match *self.s.get(self.i)? {
            b'[' | b'(' => self.seq(),
            b'{' => self.dict(),
            b'\'' | b'"' => self.string().map(Value::String),
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'_'))
        {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match word {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            w => {
                let digits = w.trim_start_matches(['-', '+']).replace('_', "");
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    // Python ints have no leading zeros (`010` is a syntax error).
                    if digits.len() > 1 && digits.starts_with('0') {
                        return None;
                    }
                    return w.replace('_', "").parse::<i64>().ok().map(Value::from);
                }
                let looks_float = w.contains(['.', 'e', 'E'])
                    && w.bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
                    && w.bytes().any(|b| b.is_ascii_digit());
                if looks_float {
                    return w
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number);
                }
                None
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let q = self.s[self.i];
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            if c == q {
                return String::from_utf8(out).ok();
            }
            if c == b'\\' {
                let n = *self.s.get(self.i)?;
                self.i += 1;
                out.push(match n {
                    b'n' => b'\n',
                    b't' => b'\t',
                    other => other,
                });
            } else {
                out.push(c);
            }
        }
        None
    }

    fn seq(&mut self) -> Option<Value> {
        let close = if self.s[self.i] == b'[' { b']' } else { b')' };
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if *self.s.get(self.i)? == close {
                self.i += 1;
                return Some(Value::Array(items));
            }
            items.push(self.value()?);
            self.skip_ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                c if c == close => {}
                _ => return None,
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        self.i += 1;
        let mut map = Map::new();
        loop {
            self.skip_ws();
            if *self.s.get(self.i)? == b'}' {
                self.i += 1;
                return Some(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.skip_ws();
            if *self.s.get(self.i)? != b':' {
                return None;
            }
            self.i += 1;
            let v = self.value()?;
            map.insert(key, v);
            self.skip_ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }
}
