//! An independent Concur-side launch signer for tests: its own message building, key,
//! percent-encoder and base64, with HMAC from aws-lc-rs, so that a bug shared by the
//! production signer and verifier cannot hide. Shared by several test binaries.
#![allow(dead_code)]

use aws_lc_rs::hmac;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 3986 component encoding, hex digits in upper or lower case.
    Rfc3986 { lower_hex: bool },
    /// `application/x-www-form-urlencoded`.
    Form,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Style {
    StandardPadded,
    UrlSafePadded,
    StandardUnpadded,
    UrlSafeUnpadded,
}

#[derive(Debug, Clone)]
pub struct Creds {
    pub username: String,
    pub password: String,
}

impl Creds {
    /// docs/protocol.md §5.2: ASCII letters of the user name lower-cased, the password untouched.
    fn key(&self) -> Vec<u8> {
        let mut key: Vec<u8> = self
            .username
            .bytes()
            .map(|b| if b.is_ascii_uppercase() { b + 32 } else { b })
            .collect();
        key.extend(self.password.bytes());
        key
    }
}

/// The values of one launch, decoded; `unsigned` goes on the wire unsigned.
#[derive(Debug, Clone)]
pub struct Launch {
    pub signed: Vec<(&'static str, String)>,
    pub unsigned: Vec<(&'static str, String)>,
}

impl Launch {
    pub fn set(&mut self, name: &str, value: &str) {
        let slot = self
            .signed
            .iter_mut()
            .chain(self.unsigned.iter_mut())
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        slot.1 = value.to_owned();
    }

    /// Renames a parameter, keeping its value and its place (the signature does not change:
    /// the message holds values only).
    pub fn rename(&mut self, name: &str, to: &'static str) {
        let slot = self
            .signed
            .iter_mut()
            .chain(self.unsigned.iter_mut())
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        slot.0 = to;
    }

    /// Documented message: signed values but the nonce, user name, password, nonce.
    fn message(&self, creds: &Creds) -> String {
        let (nonce, leading) = self.signed.split_last().expect("nonce is last");
        assert_eq!(nonce.0, "nonce");
        let mut message = String::new();
        for (_, value) in leading {
            message.push_str(value);
        }
        message.push_str(&creds.username);
        message.push_str(&creds.password);
        message.push_str(&nonce.1);
        message
    }

    fn mac(&self, creds: &Creds) -> Vec<u8> {
        let algorithm = if self.signed.len() == 6 {
            hmac::HMAC_SHA256
        } else {
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY
        };
        let key = hmac::Key::new(algorithm, &creds.key());
        hmac::sign(&key, self.message(creds).as_bytes())
            .as_ref()
            .to_vec()
    }

    pub fn signature(&self, creds: &Creds, style: Base64Style) -> String {
        base64(&self.mac(creds), style)
    }

    /// The query string, parameters in the given order of names (all by default).
    pub fn query(&self, creds: &Creds, encoding: Encoding, style: Base64Style) -> String {
        self.query_with(&self.signature(creds, style), encoding)
    }

    /// The query with an arbitrary signature text.
    pub fn query_with(&self, signature: &str, encoding: Encoding) -> String {
        self.pairs(signature)
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value, encoding)))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn pairs(&self, signature: &str) -> Vec<(String, String)> {
        self.signed
            .iter()
            .chain(&self.unsigned)
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .chain([("signature".to_owned(), signature.to_owned())])
            .collect()
    }
}

pub fn encode(value: &str, encoding: Encoding) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        match encoding {
            Encoding::Rfc3986 { .. } if unreserved => out.push(byte as char),
            Encoding::Form if byte == b' ' => out.push('+'),
            Encoding::Form if byte.is_ascii_alphanumeric() || b"*-._".contains(&byte) => {
                out.push(byte as char)
            }
            Encoding::Rfc3986 { lower_hex: true } => out.push_str(&format!("%{byte:02x}")),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub fn base64(bytes: &[u8], style: Base64Style) -> String {
    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let url_safe = matches!(
        style,
        Base64Style::UrlSafePadded | Base64Style::UrlSafeUnpadded
    );
    let padded = matches!(
        style,
        Base64Style::StandardPadded | Base64Style::UrlSafePadded
    );
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            let mut c = STANDARD[(n >> (18 - 6 * i) & 63) as usize] as char;
            if url_safe {
                c = match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                };
            }
            out.push(c);
        }
        if padded {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

pub fn v4(item_url: &str, source: &str) -> Launch {
    Launch {
        signed: vec![
            ("company_domain", "acmecorp.com".into()),
            (
                "logged_in_user_id",
                "32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into(),
            ),
            (
                "report_owner_user_id",
                "32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into(),
            ),
            ("report_owner_employee_id", "E12345".into()),
            ("item_url", item_url.into()),
            ("nonce", "9b2f6c1e-4d7a-4f3b-8e21-000000000002".into()),
        ],
        unsigned: vec![
            ("custom_field_launched_from", "custom12".into()),
            ("source", source.into()),
            ("is_mobile", "false".into()),
            (
                "client_auth_code",
                "c0ffee00-1234-4abc-8def-0123456789ab".into(),
            ),
            ("language_code", "en-GB".into()),
        ],
    }
}

/// A Concur Request launch as Concur's Request documentation describes it: the Expense v4
/// algorithm with `request_owner_user_id` and `request_owner_employee_id` in the owner
/// positions; values of the Request vector of docs/protocol.md §14.5.
pub fn v4_request(item_url: &str, source: &str) -> Launch {
    Launch {
        signed: vec![
            ("company_domain", "acmecorp.com".into()),
            (
                "logged_in_user_id",
                "32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into(),
            ),
            (
                "request_owner_user_id",
                "32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into(),
            ),
            ("request_owner_employee_id", "E12345".into()),
            ("item_url", item_url.into()),
            ("nonce", "6a0d3c2e-8f1b-4d7a-9c5e-000000000004".into()),
        ],
        unsigned: vec![
            ("custom_field_launched_from", "custom1".into()),
            ("source", source.into()),
            ("is_mobile", "false".into()),
            (
                "client_auth_code",
                "5eed0000-1234-4abc-8def-0123456789ab".into(),
            ),
            ("language_code", "fr-FR".into()),
        ],
    }
}

pub fn v1(item_url: &str) -> Launch {
    Launch {
        signed: vec![
            ("xcompanydomain", "acmecorp.com".into()),
            ("xuserid", "jane.doe@acmecorp.com".into()),
            ("itemurl", item_url.into()),
            ("nonce", "5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90".into()),
        ],
        unsigned: vec![],
    }
}
