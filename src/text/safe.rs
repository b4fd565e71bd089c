//! Text from hosts and plugins, made safe for a terminal and a table: control characters
//! (escape sequences that retitle or clear the screen, carriage returns that overwrite a line),
//! C1 controls, and invisible or direction-changing characters are shown escaped (`\x1b`,
//! `\u{202e}`); table cells are cut to a readable length with a mark. JSON keeps the exact text.
//! Everything here is linear in the input.

use std::borrow::Cow;

/// Characters of a table cell beyond which it is cut (`--format json` keeps everything).
pub const MAX_CELL: usize = 2000;

use super::is_unsafe_char as unsafe_char;

/// `text` with every unsafe character escaped; borrowed when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// A table cell of `text`: escaped, and cut to `max` characters with a mark.
pub fn cell(text: &str, max: usize) -> String {
    let mut end = None;
    for (n, (i, _)) in text.char_indices().enumerate() {
        if n == max {
            end = Some(i);
            break;
        }
    }
    match end {
        None => escape(text).into_owned(),
        Some(i) => format!(
            "{} [... cut: {} more bytes; --format json has it all]",
            escape(&text[..i]),
            text.len() - i
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_characters_are_escaped() {
        assert!(matches!(escape("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(escape("\x1b]0;pwned\x07x"), "\\x1b]0;pwned\\x07x");
        assert_eq!(escape("a\rb\x7f"), "a\\x0db\\x7f");
        assert_eq!(escape("\u{202e}cod.exe"), "\\u{202e}cod.exe");
        assert_eq!(escape("nc\u{200b}01"), "nc\\u{200b}01");
        assert_eq!(escape("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape("é ü 日本"), "é ü 日本");
    }

    #[test]
    fn long_cells_are_cut_with_a_mark() {
        assert_eq!(cell("short", 10), "short");
        let c = cell(&"é".repeat(30), 10);
        assert_eq!(
            c,
            format!(
                "{} [... cut: 40 more bytes; --format json has it all]",
                "é".repeat(10)
            )
        );
    }

    /// Regression: a 100 MB plugin message took over 300 s to render as a table.
    #[test]
    fn a_huge_cell_is_cheap() {
        let big = "x".repeat(50 << 20);
        let start = std::time::Instant::now();
        let c = cell(&big, MAX_CELL);
        assert!(c.len() < MAX_CELL + 100);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
