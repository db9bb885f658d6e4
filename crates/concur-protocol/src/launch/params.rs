//! Validation of the unsigned v4 parameters (docs/protocol.md §5.1, §5.6).
//!
//! Anyone can change these values without breaking the signature (docs/protocol.md T11), so they are
//! checked for shape only; nothing here may decide access.

use url::Url;

use super::{LaunchError, Source};

/// The language used when `language_code` is absent (docs/protocol.md §5.1).
pub const DEFAULT_LANGUAGE: &str = "en";

/// `source`, or when absent, what the item URL's path says (docs/protocol.md §6.1 shapes):
/// `…/allocations/{id}` is an allocation, `…/expenses/{id}` an entry (an expected expense
/// for Request), `…/reports/{id}` and `…/requests/{id}` a header.
pub(super) fn source(raw: Option<&str>, item_url: &Url) -> Result<Source, LaunchError> {
    match raw {
        Some(value) => Source::parse(value).ok_or(LaunchError::InvalidParameter {
            name: "source",
            reason: "must be HEADER, ENTRY or ALLOCATION",
        }),
        None => source_from_path(item_url).ok_or(LaunchError::InvalidParameter {
            name: "source",
            reason: "absent, and the item url path names no header, expense or allocation",
        }),
    }
}

fn source_from_path(url: &Url) -> Option<Source> {
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let has_item_after = |name: &str| {
        segments
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name))
            .is_some_and(|i| i + 1 < segments.len())
    };
    if has_item_after("allocations") {
        Some(Source::Allocation)
    } else if has_item_after("expenses") {
        Some(Source::Entry)
    } else if let [.., parent, _id] = segments.as_slice()
        && (parent.eq_ignore_ascii_case("reports") || parent.eq_ignore_ascii_case("requests"))
    {
        Some(Source::Header)
    } else {
        None
    }
}

/// `expense_ids` (Expense) or `request_ids` (Request, `name`): comma-separated Concur ids;
/// absent or empty means none.
pub(super) fn item_ids(name: &'static str, raw: Option<&str>) -> Result<Vec<String>, LaunchError> {
    let Some(list) = raw.filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .map(|id| {
            let valid = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'$' || b == b'-');
            if valid {
                Ok(id.to_owned())
            } else {
                Err(LaunchError::InvalidParameter {
                    name,
                    reason: "must be a comma-separated list of ids made of letters, digits, `$` and `-`",
                })
            }
        })
        .collect()
}

/// `is_mobile`: `true` or `false` in any case; absent means false.
pub(super) fn is_mobile(raw: Option<&str>) -> Result<bool, LaunchError> {
    match raw {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(LaunchError::InvalidParameter {
            name: "is_mobile",
            reason: "must be true or false",
        }),
    }
}

/// `language_code`: `xx`, `xx-XX` or the pre-2020 `xx_XX`, normalised to `xx-XX`.
pub(super) fn language(raw: Option<&str>) -> Result<String, LaunchError> {
    let Some(code) = raw else {
        return Ok(DEFAULT_LANGUAGE.to_owned());
    };
    let invalid = LaunchError::InvalidParameter {
        name: "language_code",
        reason: "must look like xx, xx-XX or xx_XX",
    };
    let letters = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic());
    match code.split_once(['-', '_']) {
        None if letters(code) => Ok(code.to_ascii_lowercase()),
        Some((lang, region)) if letters(lang) && letters(region) => Ok(format!(
            "{}-{}",
            lang.to_ascii_lowercase(),
            region.to_ascii_uppercase()
        )),
        _ => Err(invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const BASE: &str =
        "https://us2.api.concursolutions.com/expensereports/v4/users/U/context/TRAVELER/reports/R1";
    const REQUEST: &str = "https://us2.api.concursolutions.com/travelrequest/v4/requests/R1";

    #[test]
    fn source_is_read_case_insensitively() {
        let u = url(BASE);
        assert_eq!(source(Some("entry"), &u), Ok(Source::Entry));
        assert_eq!(source(Some("Allocation"), &u), Ok(Source::Allocation));
        assert_eq!(source(Some("HEADER"), &u), Ok(Source::Header));
        assert!(source(Some("REPORT"), &u).is_err());
        assert!(source(Some(""), &u).is_err());
    }

    #[test]
    fn absent_source_is_inferred_from_the_item_url() {
        let cases = [
            (format!("{BASE}/expenses/E1"), Some(Source::Entry)),
            (format!("{BASE}/allocations/A1"), Some(Source::Allocation)),
            (BASE.to_owned(), Some(Source::Header)),
            (format!("{BASE}/"), Some(Source::Header)),
            (format!("{BASE}/expenses"), None),
            (format!("{BASE}/comments/C1"), None),
            ("https://x.concursolutions.com/".to_owned(), None),
            (REQUEST.to_owned(), Some(Source::Header)),
            (
                format!("{REQUEST}/allocations/A1"),
                Some(Source::Allocation),
            ),
            (
                "https://us2.api.concursolutions.com/travelrequest/v4/expenses/E1".to_owned(),
                Some(Source::Entry),
            ),
            (format!("{REQUEST}/comments"), None),
        ];
        for (item, expected) in cases {
            assert_eq!(source(None, &url(&item)).ok(), expected, "{item}");
        }
    }

    #[test]
    fn item_ids_are_split_and_trimmed() {
        let ids = |raw| item_ids("expense_ids", raw);
        assert_eq!(
            ids(Some("29EE3C62, 84FC$BB-92 ")).unwrap(),
            ["29EE3C62", "84FC$BB-92"]
        );
        assert_eq!(ids(None).unwrap(), Vec::<String>::new());
        assert_eq!(ids(Some("")).unwrap(), Vec::<String>::new());
        for bad in ["a,,b", "a,", "a b", "a;b", "<script>", "é"] {
            assert!(ids(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_item_id_list_is_named_as_it_was_sent() {
        match item_ids("request_ids", Some("a;b")) {
            Err(LaunchError::InvalidParameter { name, .. }) => assert_eq!(name, "request_ids"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn is_mobile_accepts_booleans_in_any_case_and_defaults_to_false() {
        assert_eq!(is_mobile(None), Ok(false));
        assert_eq!(is_mobile(Some("True")), Ok(true));
        assert_eq!(is_mobile(Some("FALSE")), Ok(false));
        for bad in ["", "1", "yes", "truex"] {
            assert!(is_mobile(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn language_is_normalised_to_the_hyphen_form() {
        assert_eq!(language(None).unwrap(), "en");
        assert_eq!(language(Some("de")).unwrap(), "de");
        assert_eq!(language(Some("en-GB")).unwrap(), "en-GB");
        assert_eq!(language(Some("en_AU")).unwrap(), "en-AU");
        assert_eq!(language(Some("EN-gb")).unwrap(), "en-GB");
        for bad in ["", "e", "eng", "en-", "en-GBR", "e1", "en GB", "en-G1", "é"] {
            assert!(language(Some(bad)).is_err(), "{bad}");
        }
    }
}
