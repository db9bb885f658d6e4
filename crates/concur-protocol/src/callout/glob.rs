//! Case-insensitive `*` patterns, shared by the Fetch List query and the attendee search
//! (docs/protocol.md §12.2, §12.3).
//!
//! A pattern is split at `*` once, lower-cased once; matching a value allocates nothing when
//! the value is ASCII (the common case: codes, names, companies), and lower-cases the value
//! otherwise. Searches run over every row of a source, so this is the inner loop.

/// A pattern: pieces separated by `*` (any run of characters), anchored at the value's
/// start and/or end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// Lower-cased pieces; at least one.
    pieces: Vec<String>,
    start: bool,
    end: bool,
}

impl Glob {
    /// `pattern` split at `*`. With `start`, the first piece must begin the value; with
    /// `end`, the last piece must end it (so a pattern without `*` anchored both ways is an
    /// equality test).
    pub fn new(pattern: &str, start: bool, end: bool) -> Self {
        Self {
            pieces: pattern
                .to_lowercase()
                .split('*')
                .map(str::to_owned)
                .collect(),
            start,
            end,
        }
    }

    /// True when there is no `*` in the pattern.
    pub fn is_literal(&self) -> bool {
        self.pieces.len() == 1
    }

    /// Whether `value` matches, ignoring case.
    pub fn matches(&self, value: &str) -> bool {
        if value.is_ascii() {
            self.matches_bytes(value.as_bytes(), <[u8]>::eq_ignore_ascii_case)
        } else {
            self.matches_bytes(value.to_lowercase().as_bytes(), |a, b| a == b)
        }
    }

    fn matches_bytes(&self, value: &[u8], eq: fn(&[u8], &[u8]) -> bool) -> bool {
        let last = self.pieces.len() - 1;
        let mut rest = value;
        for (i, piece) in self.pieces.iter().enumerate() {
            let piece = piece.as_bytes();
            if i == 0 && self.start {
                if rest.len() < piece.len() || !eq(&rest[..piece.len()], piece) {
                    return false;
                }
                if i == last && self.end {
                    return rest.len() == piece.len();
                }
                rest = &rest[piece.len()..];
            } else if i == last && self.end {
                return rest.len() >= piece.len() && eq(&rest[rest.len() - piece.len()..], piece);
            } else {
                match find(rest, piece, eq) {
                    Some(at) => rest = &rest[at + piece.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}

fn find(haystack: &[u8], needle: &[u8], eq: fn(&[u8], &[u8]) -> bool) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| eq(w, needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious implementation: lower-case both, then walk the pieces.
    fn reference(pattern: &str, value: &str, start: bool, end: bool) -> bool {
        let value = value.to_lowercase();
        let pattern = pattern.to_lowercase();
        let pieces: Vec<&str> = pattern.split('*').collect();
        let mut rest = value.as_str();
        for (i, piece) in pieces.iter().enumerate() {
            let last = i == pieces.len() - 1;
            if i == 0 && start {
                let Some(after) = rest.strip_prefix(piece) else {
                    return false;
                };
                if last && end {
                    return after.is_empty();
                }
                rest = after;
            } else if last && end {
                return rest.ends_with(piece);
            } else {
                match rest.find(piece) {
                    Some(at) => rest = &rest[at + piece.len()..],
                    None => return false,
                }
            }
        }
        true
    }

    #[test]
    fn the_documented_forms() {
        let exact = |p: &str| Glob::new(p, true, true);
        assert!(exact("*").matches("anything"));
        assert!(exact("West*").matches("western region"));
        assert!(!exact("West*").matches("Northwest"));
        assert!(exact("*west").matches("Northwest"));
        assert!(exact("san francisco").matches("San Francisco"));
        assert!(!exact("san").matches("San Francisco"));
        assert!(exact("").matches(""));
        let prefix = Glob::new("mil", true, false);
        assert!(prefix.matches("Miller"));
        assert!(!prefix.matches("Hamill"));
        let anywhere = Glob::new("dev", false, false);
        assert!(anywhere.matches("Len Dev"));
        assert!(Glob::new("MÜ*", true, true).matches("müller"));
        assert!(Glob::new("x", true, true).is_literal());
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(
            pattern in "[abAB*Éé]{0,6}",
            value in "[abAB Éé]{0,10}",
            start: bool,
            end: bool,
        ) {
            prop_assert_eq!(
                Glob::new(&pattern, start, end).matches(&value),
                reference(&pattern, &value, start, end)
            );
        }
    }
}
