//! Raw launch query parsing: names, duplicates and the two percent-decoding readings (docs/protocol.md §5.3).
//!
//! A generic form extractor would silently turn `+` into space, keep the last of two
//! duplicates and accept broken `%` escapes; the signature depends on all three, so the
//! query string is read here by hand.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::LaunchError;

/// Longest raw query string accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 16 * 1024;

/// How the values of a query string were percent-encoded. Concur's encoder is
/// undocumented (docs/protocol.md T1), so verification tries both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueEncoding {
    /// RFC 3986: `+` is a literal plus, space travels as `%20`.
    Rfc3986,
    /// `application/x-www-form-urlencoded`: a raw `+` stands for a space.
    Form,
}

impl ValueEncoding {
    /// The order verification tries them in (docs/protocol.md §5.3).
    pub const ALL: [ValueEncoding; 2] = [ValueEncoding::Rfc3986, ValueEncoding::Form];
}

/// The raw (still-encoded) values of the parameters in `names`, by position.
///
/// Names are percent-decoded and matched ASCII-case-insensitively; unknown parameters are
/// skipped. A known name seen twice is refused, whatever the values.
pub(super) fn pick<'q>(
    raw_query: &'q str,
    names: &[&'static str],
) -> Result<Vec<Option<&'q str>>, LaunchError> {
    if raw_query.len() > MAX_QUERY_LEN {
        return Err(LaunchError::QueryTooLong {
            limit: MAX_QUERY_LEN,
            got: raw_query.len(),
        });
    }
    let mut found = vec![None; names.len()];
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name, ValueEncoding::Rfc3986)
            .map_err(|_| LaunchError::InvalidEncoding("parameter name".to_owned()))?;
        let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(&name)) else {
            continue;
        };
        if found[index].replace(raw_value).is_some() {
            return Err(LaunchError::DuplicateParameter(names[index]));
        }
    }
    Ok(found)
}

/// A value that is not valid percent-encoded UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Undecodable;

/// Strict percent-decoding: every `%` must start a two-hex-digit escape and the result
/// must be UTF-8. `percent_encoding` alone passes `%ZZ` through, which would let two
/// different raw strings decode to the same signed value.
pub(super) fn decode(raw: &str, encoding: ValueEncoding) -> Result<Cow<'_, str>, Undecodable> {
    check_escapes(raw)?;
    if encoding == ValueEncoding::Form && raw.contains('+') {
        let spaced = raw.replace('+', " ");
        let decoded = percent_decode_str(&spaced)
            .decode_utf8()
            .map_err(|_| Undecodable)?;
        return Ok(Cow::Owned(decoded.into_owned()));
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Undecodable)
}

fn check_escapes(raw: &str) -> Result<(), Undecodable> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + offset;
        match bytes.get(at + 1..at + 3) {
            Some([hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => i = at + 3,
            _ => return Err(Undecodable),
        }
    }
    Ok(())
}

/// Whether an item URL still looks percent-encoded after one decoding (docs/protocol.md T2).
pub(super) fn still_encoded_url(value: &str) -> bool {
    let lower = |n: usize| value.get(..n).map(str::to_ascii_lowercase);
    lower(7).as_deref() == Some("http%3a") || lower(8).as_deref() == Some("https%3a")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["alpha", "beta", "signature"];

    #[test]
    fn picks_known_names_case_insensitively_and_skips_unknown_ones() {
        let got = pick("ALPHA=1&other=x&Beta=%32&&flag", &NAMES).unwrap();
        assert_eq!(got, [Some("1"), Some("%32"), None]);
    }

    #[test]
    fn splits_on_the_first_equals_sign_only() {
        let got = pick("signature=ab==&alpha=a=b", &NAMES).unwrap();
        assert_eq!(got, [Some("a=b"), None, Some("ab==")]);
    }

    #[test]
    fn a_name_without_value_is_present_and_empty() {
        assert_eq!(pick("alpha", &NAMES).unwrap()[0], Some(""));
    }

    #[test]
    fn percent_encoded_names_count_as_the_same_parameter() {
        assert_eq!(
            pick("alpha=1&%61lpha=2", &NAMES).unwrap_err(),
            LaunchError::DuplicateParameter("alpha")
        );
    }

    #[test]
    fn refuses_duplicates_even_with_equal_values() {
        assert_eq!(
            pick("signature=a&SIGNATURE=a", &NAMES).unwrap_err(),
            LaunchError::DuplicateParameter("signature")
        );
    }

    #[test]
    fn refuses_broken_parameter_names() {
        assert_eq!(
            pick("%FF=1", &NAMES).unwrap_err(),
            LaunchError::InvalidEncoding("parameter name".into())
        );
    }

    #[test]
    fn refuses_a_query_over_16_kib_and_accepts_exactly_16_kib() {
        let at_limit = format!("alpha={}", "a".repeat(MAX_QUERY_LEN - 6));
        assert!(pick(&at_limit, &NAMES).is_ok());
        let over = format!("{at_limit}a");
        assert_eq!(
            pick(&over, &NAMES).unwrap_err(),
            LaunchError::QueryTooLong {
                limit: MAX_QUERY_LEN,
                got: MAX_QUERY_LEN + 1
            }
        );
    }

    #[test]
    fn rfc3986_keeps_plus_and_form_turns_it_into_space() {
        let raw = "EMP+00%2B7%26X";
        assert_eq!(decode(raw, ValueEncoding::Rfc3986).unwrap(), "EMP+00+7&X");
        assert_eq!(decode(raw, ValueEncoding::Form).unwrap(), "EMP 00+7&X");
        assert_eq!(
            decode("EMP%2000%2B7%26X", ValueEncoding::Rfc3986).unwrap(),
            "EMP 00+7&X"
        );
    }

    #[test]
    fn decodes_utf8_in_both_hex_cases() {
        assert_eq!(
            decode("caf%C3%A9%e2%82%ac", ValueEncoding::Rfc3986).unwrap(),
            "café€"
        );
    }

    #[test]
    fn refuses_broken_escapes_and_invalid_utf8() {
        for raw in ["%FF", "%C3", "%", "abc%", "%4", "%G1", "%%41", "a%2"] {
            for encoding in ValueEncoding::ALL {
                assert_eq!(decode(raw, encoding), Err(Undecodable), "{raw}");
            }
        }
    }

    #[test]
    fn spots_an_item_url_that_is_still_encoded() {
        assert!(still_encoded_url("https%3A%2F%2Fx"));
        assert!(still_encoded_url("HTTP%3a%2f%2fx"));
        assert!(!still_encoded_url("https://x/%3A"));
        assert!(!still_encoded_url("https%2"));
        assert!(!still_encoded_url("é"));
    }
}
