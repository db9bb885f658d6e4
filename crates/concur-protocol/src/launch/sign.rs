//! The Concur side of the launch protocol: builds signed launch URLs exactly as Concur does.
//!
//! Used by `concur-connector sign-launch` and by the simulator. The verifier in this module's
//! siblings must never call into this file, so that a mistake on one side shows up as a
//! mismatch instead of cancelling out (the tests add a third, independent signer).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret;
use sha1::Sha1;
use sha2::Sha256;

use super::{Product, Source};
use crate::credentials::ConnectorCredentials;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded
/// (`urllib.parse.quote(v, safe='-._~')`, the encoding of docs/protocol.md §14).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The values of a v4 (HMAC-SHA256) launch, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Launch {
    /// Expense sends the owner as `report_owner_*`, Request as `request_owner_*` (and
    /// `request_ids` for `expense_ids`); the signed message is the same.
    pub product: Product,
    pub company_domain: String,
    pub logged_in_user_id: String,
    /// The owner of the report (Expense) or of the request (Request).
    pub report_owner_user_id: String,
    pub report_owner_employee_id: String,
    pub item_url: String,
    pub nonce: String,
    pub custom_field_launched_from: Option<String>,
    pub source: Source,
    /// Only sent for `ALLOCATION` launches, as `expense_ids` (Expense) or `request_ids`
    /// (Request).
    pub expense_ids: Vec<String>,
    pub is_mobile: bool,
    pub client_auth_code: Option<String>,
    pub language_code: Option<String>,
}

/// The values of a v1 (HMAC-SHA1, legacy) launch, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Launch {
    pub company_domain: String,
    pub user_id: String,
    pub item_url: String,
    pub nonce: String,
}

/// How the query string's values are encoded. Concur's encoder is undocumented (docs/protocol.md T1),
/// so the signer can produce both readings for tests and demos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `%20` for space, `%2B` for plus (RFC 3986).
    #[default]
    Rfc3986,
    /// `+` for space (`application/x-www-form-urlencoded`).
    Form,
}

/// Base64 HMAC-SHA256 signature of a v4 launch (docs/protocol.md §5.2).
pub fn sign_v4(launch: &V4Launch, creds: &ConnectorCredentials) -> String {
    let message = [
        launch.company_domain.as_str(),
        &launch.logged_in_user_id,
        &launch.report_owner_user_id,
        &launch.report_owner_employee_id,
        &launch.item_url,
        creds.username(),
        creds.password().expose_secret(),
        &launch.nonce,
    ]
    .concat();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&creds.hmac_key()).expect("hmac takes any key length");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Base64 HMAC-SHA1 signature of a v1 launch (docs/protocol.md §4.2).
pub fn sign_v1(launch: &V1Launch, creds: &ConnectorCredentials) -> String {
    let message = [
        launch.company_domain.as_str(),
        &launch.user_id,
        &launch.item_url,
        creds.username(),
        creds.password().expose_secret(),
        &launch.nonce,
    ]
    .concat();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(&creds.hmac_key()).expect("hmac takes any key length");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The full query string (without `?`) of a signed v4 launch, parameters in the order of
/// the protocol's example URL (the Expense one for both products; the order is free).
pub fn v4_query(launch: &V4Launch, creds: &ConnectorCredentials, encoding: Encoding) -> String {
    let signature = sign_v4(launch, creds);
    let (owner_user, owner_employee, item_ids) = match launch.product {
        Product::Expense => (
            "report_owner_user_id",
            "report_owner_employee_id",
            "expense_ids",
        ),
        Product::Request => (
            "request_owner_user_id",
            "request_owner_employee_id",
            "request_ids",
        ),
    };
    let mut pairs: Vec<(&str, String)> = vec![
        ("logged_in_user_id", launch.logged_in_user_id.clone()),
        (owner_user, launch.report_owner_user_id.clone()),
        (owner_employee, launch.report_owner_employee_id.clone()),
        ("company_domain", launch.company_domain.clone()),
        ("item_url", launch.item_url.clone()),
    ];
    if let Some(field) = &launch.custom_field_launched_from {
        pairs.push(("custom_field_launched_from", field.clone()));
    }
    if !launch.expense_ids.is_empty() {
        pairs.push((item_ids, launch.expense_ids.join(",")));
    }
    pairs.push(("source", launch.source.as_str().to_owned()));
    pairs.push(("is_mobile", launch.is_mobile.to_string()));
    pairs.push(("nonce", launch.nonce.clone()));
    if let Some(code) = &launch.client_auth_code {
        pairs.push(("client_auth_code", code.clone()));
    }
    if let Some(language) = &launch.language_code {
        pairs.push(("language_code", language.clone()));
    }
    pairs.push(("signature", signature));
    encode_pairs(&pairs, encoding)
}

/// The full query string (without `?`) of a signed v1 launch.
pub fn v1_query(launch: &V1Launch, creds: &ConnectorCredentials, encoding: Encoding) -> String {
    let pairs = [
        ("xcompanydomain", launch.company_domain.clone()),
        ("xuserid", launch.user_id.clone()),
        ("itemurl", launch.item_url.clone()),
        ("nonce", launch.nonce.clone()),
        ("signature", sign_v1(launch, creds)),
    ];
    encode_pairs(&pairs, encoding)
}

fn encode_pairs(pairs: &[(&str, String)], encoding: Encoding) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_value(value, encoding)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode_value(value: &str, encoding: Encoding) -> String {
    match encoding {
        Encoding::Rfc3986 => utf8_percent_encode(value, COMPONENT).to_string(),
        Encoding::Form => form_urlencoded::byte_serialize(value.as_bytes()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::vectors::*;

    #[test]
    fn signs_example_1_as_documented() {
        assert_eq!(sign_v1(&ex1_launch(), &ex1_creds()), EX1_SIGNATURE);
    }

    #[test]
    fn signs_example_2_as_documented() {
        assert_eq!(sign_v4(&ex2_launch(), &ex2_creds()), EX2_SIGNATURE);
    }

    #[test]
    fn signs_example_3_as_documented() {
        assert_eq!(sign_v4(&ex3_launch(), &ex2_creds()), EX3_SIGNATURE);
    }

    #[test]
    fn signs_the_request_examples_4_and_5_as_documented() {
        assert_eq!(sign_v4(&ex4_launch(), &ex2_creds()), EX4_SIGNATURE);
        assert_eq!(sign_v4(&ex5_launch(), &ex2_creds()), EX5_SIGNATURE);
    }

    #[test]
    fn a_request_launch_carries_the_request_names_and_the_expense_message() {
        let request = v4_query(&ex5_launch(), &ex2_creds(), Encoding::Rfc3986);
        assert_eq!(
            format!("https://connector.example.com/request/launchexternalurl/v4/form?{request}"),
            EX5_URL
        );
        let names: Vec<&str> = request
            .split('&')
            .filter_map(|pair| pair.split_once('=').map(|(n, _)| n))
            .collect();
        for name in [
            "report_owner_user_id",
            "report_owner_employee_id",
            "expense_ids",
        ] {
            assert!(!names.contains(&name), "{name} in {request}");
        }
        // The same values as an Expense launch: same names but the owner's, same MAC.
        let mut expense = ex5_launch();
        expense.product = Product::Expense;
        assert_eq!(sign_v4(&expense, &ex2_creds()), EX5_SIGNATURE);
        let expense = v4_query(&expense, &ex2_creds(), Encoding::Rfc3986);
        assert_eq!(
            expense
                .replace("report_owner_", "request_owner_")
                .replace("expense_ids=", "request_ids="),
            request
        );
    }

    #[test]
    fn builds_the_example_launch_urls_byte_for_byte() {
        let cases = [
            (
                "https://connector.example.com/concur/form/v1.0/get?",
                v1_query(&ex1_launch(), &ex1_creds(), Encoding::Rfc3986),
                EX1_URL,
            ),
            (
                "https://connector.example.com/launchexternalurl/v4/form?",
                v4_query(&ex2_launch(), &ex2_creds(), Encoding::Rfc3986),
                EX2_URL,
            ),
            (
                "https://connector.example.com/launchexternalurl/v4/form?",
                v4_query(&ex3_launch(), &ex2_creds(), Encoding::Rfc3986),
                EX3_URL,
            ),
        ];
        for (base, query, documented) in cases {
            assert_eq!(format!("{base}{query}"), documented);
        }
    }

    #[test]
    fn form_encoding_differs_from_the_documented_url_only_in_the_employee_id() {
        let form = v4_query(&ex3_launch(), &ex2_creds(), Encoding::Form);
        let expected = query(EX3_URL).replace(EX3_EMPLOYEE_ID_RFC3986, EX3_EMPLOYEE_ID_FORM);
        assert_eq!(form, expected);
    }
}
