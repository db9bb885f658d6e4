//! Opt-in diagnostics for a signature mismatch: which known wrong reading (docs/protocol.md §14.4) would
//! have produced the signature that arrived. Never used to accept a launch.
//!
//! An administrator who sees "signature mismatch" usually has a credentials or
//! configuration problem on one side; naming the reading that matches (say, "the signer
//! used HMAC-SHA1") turns hours of guessing into one log line.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::query::ValueEncoding;
use super::verify::{Parsed, SIGNATURE_BASE64, Spec, V1, message_parts, v4_spec};
use crate::credentials::ConnectorCredentials;

/// A known way of computing the launch MAC that differs from the documented one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrongReading {
    /// docs/protocol.md §14.4(b), docs/protocol.md T9: the user name was lower-cased in the message, not only in the key.
    UsernameLowerCasedInMessage,
    /// docs/protocol.md §14.4(c), docs/protocol.md T8: the key used the user name in its registered case.
    KeyNotLowerCased,
    /// docs/protocol.md §14.4(d), docs/protocol.md T7: a v4 launch signed with HMAC-SHA1 (the stale pre-release page).
    Sha1OnV4,
    /// A v1 launch signed with HMAC-SHA256.
    Sha256OnV1,
    /// docs/protocol.md §14.4(e): the right MAC, sent as hex instead of base64.
    SignatureInHex,
    /// docs/protocol.md §14.4(g), docs/protocol.md T2: the item URL entered the message still percent-encoded.
    ItemUrlLeftEncoded,
    /// docs/protocol.md §14.3: a `+` inside a value became a space before signing (a second decoding).
    PlusReadAsSpace,
}

impl WrongReading {
    /// A sentence for the administrator's log.
    pub fn description(self) -> &'static str {
        match self {
            WrongReading::UsernameLowerCasedInMessage => {
                "the signer lower-cased the connector user name in the message as well as in the key"
            }
            WrongReading::KeyNotLowerCased => {
                "the signer built the key from the user name without lower-casing it"
            }
            WrongReading::Sha1OnV4 => {
                "the signer used HMAC-SHA1 on a v4 launch instead of HMAC-SHA256"
            }
            WrongReading::Sha256OnV1 => {
                "the signer used HMAC-SHA256 on a v1 launch instead of HMAC-SHA1"
            }
            WrongReading::SignatureInHex => {
                "the signature is the right MAC written in hex instead of base64"
            }
            WrongReading::ItemUrlLeftEncoded => {
                "the signer put the item url into the message still percent-encoded"
            }
            WrongReading::PlusReadAsSpace => {
                "the signer turned `+` inside a signed value into a space (decoded twice)"
            }
        }
    }
}

impl fmt::Display for WrongReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Which wrong reading reproduces the signature of a v4 launch (either product, by its
/// owner parameter names) that failed verification; `None` when none does, when the query
/// cannot be read, or when the signature is right.
pub fn diagnose_v4(raw_query: &str, creds: &ConnectorCredentials) -> Option<WrongReading> {
    diagnose(v4_spec(raw_query).ok()?, Hash::Sha256, raw_query, creds)
}

/// Which wrong reading reproduces the signature of a v1 launch that failed verification;
/// `None` when none does, when the query cannot be read, or when the signature is right.
pub fn diagnose_v1(raw_query: &str, creds: &ConnectorCredentials) -> Option<WrongReading> {
    diagnose(&V1, Hash::Sha1, raw_query, creds)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn other(self) -> Self {
        match self {
            Hash::Sha1 => Hash::Sha256,
            Hash::Sha256 => Hash::Sha1,
        }
    }

    fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac =
                <M as KeyInit>::new_from_slice(key).expect("hmac accepts keys of any length");
            parts.iter().for_each(|part| mac.update(part));
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Hash::Sha1 => run::<Hmac<Sha1>>(key, parts),
            Hash::Sha256 => run::<Hmac<Sha256>>(key, parts),
        }
    }
}

fn diagnose(
    spec: &'static Spec,
    hash: Hash,
    raw_query: &str,
    creds: &ConnectorCredentials,
) -> Option<WrongReading> {
    let parsed = Parsed::new(spec, raw_query).ok()?;
    let text = parsed.signature_text().ok()?;
    let sent_base64 = SIGNATURE_BASE64.decode(text.as_bytes()).ok();
    let sent_hex = hex(&text);
    let sent = |reading_hex: bool| {
        if reading_hex {
            sent_hex.as_deref()
        } else {
            sent_base64.as_deref()
        }
    };

    let username = creds.username();
    let lower_username = username.to_ascii_lowercase();
    let password = creds.password().expose_secret();
    let key = Zeroizing::new(creds.hmac_key());
    let exact_case_key = Zeroizing::new([username, password].concat().into_bytes());

    let mut candidates = vec![parsed.signed_values(ValueEncoding::Rfc3986).ok()?];
    if parsed.signed_values_contain_plus() {
        candidates.push(parsed.signed_values(ValueEncoding::Form).ok()?);
    }

    let matches = |hash: Hash, key: &[u8], parts: &[&[u8]], tag: Option<&[u8]>| {
        tag.is_some_and(|tag| bool::from(hash.mac(key, parts).as_slice().ct_eq(tag)))
    };

    for values in &candidates {
        if matches(
            hash,
            &key,
            &message_parts(values, username, password),
            sent(false),
        ) {
            return None;
        }
    }

    for values in &candidates {
        let parts = message_parts(values, username, password);
        // When the user name is already lower-case these readings equal the right one.
        if lower_username != username {
            let lowered = message_parts(values, &lower_username, password);
            if matches(hash, &key, &lowered, sent(false)) {
                return Some(WrongReading::UsernameLowerCasedInMessage);
            }
            if matches(hash, &exact_case_key, &parts, sent(false)) {
                return Some(WrongReading::KeyNotLowerCased);
            }
        }
        if matches(hash.other(), &key, &parts, sent(false)) {
            return Some(match hash {
                Hash::Sha256 => WrongReading::Sha1OnV4,
                Hash::Sha1 => WrongReading::Sha256OnV1,
            });
        }
        if matches(hash, &key, &parts, sent(true)) {
            return Some(WrongReading::SignatureInHex);
        }
        if let Some(raw_item) = parsed.raw(spec.item) {
            let mut encoded = values.clone();
            encoded[spec.item] = Cow::Borrowed(raw_item);
            let parts = message_parts(&encoded, username, password);
            if matches(hash, &key, &parts, sent(false)) {
                return Some(WrongReading::ItemUrlLeftEncoded);
            }
        }
        if values.iter().any(|v| v.contains('+')) {
            let spaced: Vec<Cow<'_, str>> = values
                .iter()
                .map(|v| Cow::Owned(v.replace('+', " ")))
                .collect();
            let parts = message_parts(&spaced, username, password);
            if matches(hash, &key, &parts, sent(false)) {
                return Some(WrongReading::PlusReadAsSpace);
            }
        }
    }
    None
}

/// Hex in either case, as a signer mistaking the hex digest for the signature sends it.
fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::vectors::*;

    #[test]
    fn names_each_wrong_reading_of_section_14_4() {
        let cases = [
            (
                EX2_SIG_B_USERNAME_LOWERED,
                WrongReading::UsernameLowerCasedInMessage,
            ),
            (EX2_SIG_C_KEY_EXACT_CASE, WrongReading::KeyNotLowerCased),
            (EX2_SIG_D_SHA1, WrongReading::Sha1OnV4),
            (EX2_SIG_E_HEX, WrongReading::SignatureInHex),
            (EX2_SIG_G_ITEM_URL_ENCODED, WrongReading::ItemUrlLeftEncoded),
        ];
        for (signature, expected) in cases {
            let q = with_signature(query(EX2_URL), signature);
            assert_eq!(
                diagnose_v4(&q, &ex2_creds()),
                Some(expected),
                "{expected:?}"
            );
        }
    }

    #[test]
    fn names_the_plus_as_space_reading_of_example_3() {
        let q = with_signature(query(EX3_URL), EX3_SIG_PLUS_AS_SPACE);
        assert_eq!(
            diagnose_v4(&q, &ex2_creds()),
            Some(WrongReading::PlusReadAsSpace)
        );
    }

    #[test]
    fn names_the_wrong_readings_of_example_1() {
        let cases = [
            (
                EX1_SIG_USERNAME_LOWERED,
                WrongReading::UsernameLowerCasedInMessage,
            ),
            (EX1_SIG_KEY_EXACT_CASE, WrongReading::KeyNotLowerCased),
        ];
        for (signature, expected) in cases {
            let q = with_signature(query(EX1_URL), signature);
            assert_eq!(
                diagnose_v1(&q, &ex1_creds()),
                Some(expected),
                "{expected:?}"
            );
        }
    }

    #[test]
    fn names_sha256_on_a_v1_launch() {
        // The v1 message of example 1 under HMAC-SHA256, with the right key.
        let message = [
            "acmecorp.com",
            "jane.doe@acmecorp.com",
            EX1_ITEM_URL,
            EX1_USER,
            EX1_PASS,
            EX1_NONCE,
        ]
        .concat();
        let tag = Hash::Sha256.mac(&ex1_creds().hmac_key(), &[message.as_bytes()]);
        let q = with_signature(
            query(EX1_URL),
            &base64::engine::general_purpose::STANDARD.encode(tag),
        );
        assert_eq!(
            diagnose_v1(&q, &ex1_creds()),
            Some(WrongReading::Sha256OnV1)
        );
    }

    #[test]
    fn finds_nothing_for_a_right_signature_or_a_random_one() {
        assert_eq!(diagnose_v4(query(EX2_URL), &ex2_creds()), None);
        assert_eq!(diagnose_v1(query(EX1_URL), &ex1_creds()), None);
        let random = with_signature(query(EX2_URL), &"A".repeat(43));
        assert_eq!(diagnose_v4(&random, &ex2_creds()), None);
        assert_eq!(diagnose_v4("garbage", &ex2_creds()), None);
    }

    #[test]
    fn does_not_blame_the_user_name_case_when_the_name_is_lower_case() {
        // With a lower-case name readings (b) and (c) equal the right one; a wrong
        // password must not be reported as a case problem.
        let lower = creds("launchconnectoruser", EX2_PASS);
        assert_eq!(diagnose_v4(query(EX2_URL), &lower), None);
    }

    #[test]
    fn descriptions_are_lower_case_sentences_without_a_period() {
        let all = [
            WrongReading::UsernameLowerCasedInMessage,
            WrongReading::KeyNotLowerCased,
            WrongReading::Sha1OnV4,
            WrongReading::Sha256OnV1,
            WrongReading::SignatureInHex,
            WrongReading::ItemUrlLeftEncoded,
            WrongReading::PlusReadAsSpace,
        ];
        for reading in all {
            let text = reading.to_string();
            assert!(text.starts_with("the "), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
    }
}
