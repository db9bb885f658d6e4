//! Shape checks on the signed values, run once the MAC matched.
//!
//! Concur's MAC covers the signed values concatenated without separators, so a valid
//! signature does not fix where one value ends and the next begins: characters can be moved
//! from a value to its neighbour and the MAC still matches. These checks make such shifted
//! splits fail wherever the documented formats allow it (a v4 user id is exactly a UUID, so
//! it can neither gain nor lose a character); the replay key does the rest (see
//! [`super::VerifiedLaunch::replay_key`]).

use super::LaunchError;

/// `8-4-4-4-12` hexadecimal digits, either case. The case is never changed: the MAC was
/// computed over the value as sent, and ids are compared case-insensitively later.
pub(super) fn is_uuid(value: &str) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut parts = value.split('-');
    let groups_ok = GROUPS.iter().all(|&len| {
        parts
            .next()
            .is_some_and(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    groups_ok && parts.next().is_none()
}

pub(super) fn uuid(name: &'static str, value: &str) -> Result<(), LaunchError> {
    if is_uuid(value) {
        Ok(())
    } else {
        Err(LaunchError::InvalidSignedValue {
            name,
            reason: "must be a UUID (8-4-4-4-12 hexadecimal digits)",
        })
    }
}

/// Non-empty and not only white space.
pub(super) fn non_blank(name: &'static str, value: &str) -> Result<(), LaunchError> {
    if value.trim().is_empty() {
        Err(LaunchError::InvalidSignedValue {
            name,
            reason: "must not be empty",
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_8_4_4_4_12_hex_digits_in_either_case() {
        for good in [
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c643",
            "32C2FCC3-B2E8-4907-9672-5B3F49B1C643",
            "a1b2c3d4-0000-4000-8000-000000000abc",
        ] {
            assert!(is_uuid(good), "{good}");
        }
        for bad in [
            "",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c64",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c6433",
            "32c2fcc3b2e8-4907-9672-5b3f49b1c643-",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c643-",
            "-32c2fcc3-b2e8-4907-9672-5b3f49b1c643",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c64g",
            "32c2fcc3b2e849079672-5b3f49b1c643",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c643 ",
            "{32c2fcc3-b2e8-4907-9672-5b3f49b1c643}",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c6é",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn blank_values_are_refused_with_their_name() {
        assert!(non_blank("nonce", "n").is_ok());
        for bad in ["", " ", "\t"] {
            assert_eq!(
                non_blank("nonce", bad),
                Err(LaunchError::InvalidSignedValue {
                    name: "nonce",
                    reason: "must not be empty"
                })
            );
        }
    }
}
