//! Environment interpolation in string values: `${VAR}`, `${VAR:-default}`, and `$$` for a
//! literal `$`. Resolved once, at load time, so every plugin sees the same values.

use std::fmt;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    /// `${NAME}` with `NAME` unset and no `:-default`.
    Unset(String),
    /// `${` without a closing `}`, or an empty or invalid variable name.
    Malformed(String),
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset(name) => write!(
                f,
                "environment variable `{name}` is not set\n\
                 hint: export `{name}`, or give a default with `${{{name}:-value}}`"
            ),
            Self::Malformed(s) => write!(
                f,
                "malformed interpolation `{s}`: expected `${{NAME}}` or `${{NAME:-default}}` \
                 (write `$$` for a literal `$`)"
            ),
        }
    }
}

/// `(NAME, value)` of each `${NAME}` / `${NAME:-default}` in `text` that the environment
/// answers (non-empty), once each, in order of appearance.
pub fn from_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        let body = &rest[pos + 2..];
        let Some(close) = body.find('}') else { break };
        let name = body[..close].split(":-").next().unwrap_or_default();
        if !out.iter().any(|(n, _)| n == name) {
            if let Some(value) = lookup(name).filter(|v| !v.is_empty()) {
                out.push((name.to_string(), value));
            }
        }
        rest = &body[close + 1..];
    }
    out
}

/// Interpolate `input` using the process environment.
pub fn interpolate(input: &str) -> Result<String, InterpError> {
    interpolate_with(input, |name| std::env::var(name).ok())
}

/// Interpolate `input`, looking variables up with `lookup`.
pub fn interpolate_with(input: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, InterpError> {
    if !input.contains('$') {
        return Ok(input.to_string());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body
                .find('}')
                .ok_or_else(|| InterpError::Malformed(rest[pos..].to_string()))?;
            let expr = &body[..close];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(InterpError::Malformed(format!("${{{expr}}}")));
            }
            match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(InterpError::Unset(name.to_string())),
            }
            rest = &body[close + 1..];
        } else {
            // A lone `$` (as in a shell command or a price) is kept as written.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_NAME" => Some("ops".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_defaults() {
        assert_eq!(interpolate_with("${USER_NAME}@x", env).unwrap(), "ops@x");
        assert_eq!(interpolate_with("${NOPE:-22}", env).unwrap(), "22");
        assert_eq!(interpolate_with("${EMPTY:-d}", env).unwrap(), "d");
        assert_eq!(interpolate_with("a$$b $x", env).unwrap(), "a$b $x");
        assert_eq!(interpolate_with("plain", env).unwrap(), "plain");
    }

    #[test]
    fn unset_without_default_names_the_variable() {
        let err = interpolate_with("${NOPE}", env).unwrap_err();
        assert_eq!(err, InterpError::Unset("NOPE".into()));
        assert!(err.to_string().contains("`NOPE` is not set"));
    }

    #[test]
    fn malformed_forms_are_errors() {
        assert!(matches!(
            interpolate_with("${NOPE", env),
            Err(InterpError::Malformed(_))
        ));
        assert!(matches!(
            interpolate_with("${}", env),
            Err(InterpError::Malformed(_))
        ));
        assert!(matches!(
            interpolate_with("${1A}", env),
            Err(InterpError::Malformed(_))
        ));
    }
}
