//! Text: what may be shown (and [`safe`] escapes the rest), capped reads.
//!
//! Characters that must not reach a terminal, or a name, unseen: controls (C0, DEL, C1) and the
//! invisible or direction-changing ones (zero-width spaces and joiners, bidirectional marks,
//! embeddings, overrides and isolates, the byte-order mark). Newline and tab are ordinary.

pub mod safe;

/// Whether `c` is a control or an invisible formatting character.
pub fn is_unsafe_char(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' => true,
        _ => false,
    }
}

/// Why a name could fool a reader, if it could: invisible characters, or ASCII letters mixed
/// with letters of another script (`nс01` with a Cyrillic `с`).
pub fn suspicious_name(name: &str) -> Option<&'static str> {
    if name.chars().any(is_unsafe_char) {
        return Some("contains invisible or control characters");
    }
    let ascii = name.chars().any(|c| c.is_ascii_alphabetic());
    let other = name.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
    (ascii && other).then_some("mixes ASCII letters with letters of another script (look-alikes?)")
}

/// The text of `path`, read up to `max` bytes: `Ok(None)` when the file is longer (nothing past
/// the limit is read into memory).
pub fn read_capped(path: &std::path::Path, max: u64) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    Ok((text.len() as u64 <= max).then_some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_and_invisibles_are_named() {
        assert_eq!(suspicious_name("nc01"), None);
        assert_eq!(suspicious_name("データ"), None);
        assert!(suspicious_name("n\u{0441}01").is_some_and(|w| w.contains("another script")));
        assert!(suspicious_name("nc\u{200b}01").is_some_and(|w| w.contains("invisible")));
    }
}
