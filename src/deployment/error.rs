//! Load errors: every one names the file, and where it can the line, column and YAML path, says
//! what was expected, and carries a `hint:` when there is a fix the user can make.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::locate::{Position, YamlPath};

/// A deployment file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("deployment file `{}` does not exist\nhint: pass one with `-c FILE`, or start from `deploy.example.yaml`", path.display())]
    NotFound { path: PathBuf },
    #[error("`{}` is a directory, not a deployment file (nor an Ansible inventory directory: it has no inventory files)\nhint: pass the YAML file inside it with `-c FILE`", path.display())]
    IsDirectory { path: PathBuf },
    #[error("cannot read deployment file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl From<Diagnostic> for LoadError {
    fn from(d: Diagnostic) -> Self {
        Self::Invalid(Box::new(d))
    }
}

/// What is wrong, and where: `deploy.yaml:12:5: hosts.nc03.adress: unknown key ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub position: Option<Position>,
    pub path: Option<YamlPath>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            position: None,
            path: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    pub fn path(mut self, path: YamlPath) -> Self {
        if !path.0.is_empty() {
            self.path = Some(path);
        }
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        f.write_str(": ")?;
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Render a list of names as `` `a`, `b` or `c` ``.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => String::from("nothing"),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_like_a_compiler_error() {
        let d = Diagnostic::new("deploy.yaml", "unknown key `adress`")
            .at(Some(Position { line: 3, column: 5 }))
            .path(YamlPath::keys(["hosts", "nc03", "adress"]))
            .hint("did you mean `address`?");
        assert_eq!(
            d.to_string(),
            "deploy.yaml:3:5: hosts.nc03.adress: unknown key `adress`\nhint: did you mean `address`?"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            did_you_mean("adress", ["address", "port"]).as_deref(),
            Some("did you mean `address`?")
        );
        assert_eq!(did_you_mean("zzz", ["address", "port"]), None);
    }
}

/// How a value from the input is quoted in a message: at most a short excerpt, and never
/// anything that looks like key material (a private key given as `-c`, say).
pub fn excerpt(value: &str) -> String {
    const KEEP: usize = 40;
    let looks_secret = value.contains("PRIVATE KEY")
        || value.contains("BEGIN ") && value.contains("-----")
        || value
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
            .any(|run| run.len() >= 40);
    if looks_secret {
        return format!(
            "<{} characters that look like key material, not shown>",
            value.chars().count()
        );
    }
    let n = value.chars().count();
    if n <= KEEP {
        return value.to_string();
    }
    let head: String = value.chars().take(KEEP).collect();
    format!("{head}... ({n} characters)")
}

#[cfg(test)]
mod excerpt_tests {
    use super::excerpt;

    #[test]
    fn short_values_whole_long_ones_cut_keys_never() {
        assert_eq!(excerpt("nc01"), "nc01");
        let long = "a ".repeat(50);
        assert_eq!(excerpt(&long), format!("{}... (100 characters)", &long[..40]));
        let key = "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ -----END";
        let e = excerpt(key);
        assert!(e.contains("look like key material") && !e.contains("b3Bl"), "{e}");
        let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
        assert!(!excerpt(token).contains("0123"), "{}", excerpt(token));
    }
}
