//! Launch verification against a second, independent implementation of Concur's signing.
//!
//! The signer below shares no code with `concur_protocol::launch`: its own message
//! building, key derivation, percent-encoders and base64, and HMAC from aws-lc-rs instead
//! of RustCrypto. A mistake made identically in the production signer and verifier
//! cannot hide from it.
#![allow(
    clippy::unwrap_used,
    reason = "a test binary: a panic in a helper is a failed test"
)]

use concur_protocol::credentials::ConnectorCredentials;
use concur_protocol::launch::{
    ItemUrlError, ItemUrlPolicy, LaunchError, Product, Source, ValueEncoding, VerifiedLaunch,
    Version, verify_v1, verify_v4,
};
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

/// The independent Concur-side signer.
#[path = "support/independent_signer.rs"]
mod concur;

use concur::{Base64Style, Encoding};

const RFC: Encoding = Encoding::Rfc3986 { lower_hex: false };
const STD: Base64Style = Base64Style::StandardPadded;

const REPORT: &str = "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/TRAVELER/reports/764428DD6A664AF0BFCB";
const V1_ITEM: &str = "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U";
const V4_USER: &str = "LaunchConnectorUser";
const V4_PASS: &str = "Tr0ub4dor&3-Horse";
const V1_USER: &str = "AcmeConnector01";
const V1_PASS: &str = "S3cr3t-Pa$$w0rd!";

/// The Travel Request v4 request of Concur's own PUT example.
const REQUEST: &str = "https://us2.api.concursolutions.com/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E";

fn request_header() -> concur::Launch {
    concur::v4_request(REQUEST, "HEADER")
}

fn entry_url() -> String {
    format!("{REPORT}/expenses/84FCBB92BD4E5342B849DAC29FD163A1")
}

fn concur_creds(user: &str, pass: &str) -> concur::Creds {
    concur::Creds {
        username: user.to_owned(),
        password: pass.to_owned(),
    }
}

fn connector_creds(user: &str, pass: &str) -> ConnectorCredentials {
    ConnectorCredentials::new(user, SecretString::from(pass.to_owned())).unwrap()
}

fn hosts() -> ItemUrlPolicy {
    ItemUrlPolicy::with_extra_hosts(["127.0.0.1:8443", "localhost"])
}

fn v4_entry() -> concur::Launch {
    concur::v4(&entry_url(), "ENTRY")
}

fn verify_v4_query(query: &str) -> Result<VerifiedLaunch, LaunchError> {
    verify_v4(query, &connector_creds(V4_USER, V4_PASS), &hosts())
}

fn verify_v1_query(query: &str) -> Result<VerifiedLaunch, LaunchError> {
    verify_v1(query, &connector_creds(V1_USER, V1_PASS), &hosts())
}

fn signed_v4(launch: &concur::Launch) -> String {
    launch.query(&concur_creds(V4_USER, V4_PASS), RFC, STD)
}

fn signed_v1(launch: &concur::Launch) -> String {
    launch.query(&concur_creds(V1_USER, V1_PASS), RFC, STD)
}

// ---------------------------------------------------------------------------------------
// The independent signer agrees with the documented vectors, so it is a fair referee.

#[test]
fn the_test_signer_reproduces_the_documented_signatures() {
    let mut ex3 = concur::v4(
        &format!(
            "{}/allocations/3BBB494511E1C74DA04469C45B039871",
            REPORT.replace("TRAVELER", "PROXY")
        ),
        "ALLOCATION",
    );
    ex3.set("logged_in_user_id", "a1b2c3d4-0000-4000-8000-000000000abc");
    ex3.set("report_owner_employee_id", "EMP 00+7&X");
    ex3.set("nonce", "d3f1a7b2-5c4e-4b8a-9e6f-1a2b3c4d5e6f");
    let v4_creds = concur_creds(V4_USER, V4_PASS);
    let cases = [
        (
            v4_entry().signature(&v4_creds, STD),
            "/3dc5XTaUg2dbziVVu+HnIoYwK+nqd4Bk/kyLXOS6bY=",
        ),
        (
            v4_entry().signature(&v4_creds, Base64Style::UrlSafePadded),
            "_3dc5XTaUg2dbziVVu-HnIoYwK-nqd4Bk_kyLXOS6bY=",
        ),
        (
            ex3.signature(&v4_creds, STD),
            "NVsEBGn5rYmkljmZ7n1UhPCQ1BSbz8/GD9M9pAuFzVc=",
        ),
        (
            concur::v1(V1_ITEM).signature(&concur_creds(V1_USER, V1_PASS), STD),
            "b6QVVca2hHc0SkA20ovV1cgu92s=",
        ),
        (
            request_header().signature(&v4_creds, STD),
            "GMa9Ho62Uq/OndKXlrQZ8AV114EUu5TgYOzrVZUv/4A=",
        ),
        (
            request_allocation().signature(&v4_creds, STD),
            "rymcQIu7WbuKN5GIut8de6zAUxkoq3osF8SynzVTDv4=",
        ),
    ];
    for (computed, documented) in cases {
        assert_eq!(computed, documented);
    }
    assert_eq!(concur::encode("EMP 00+7&X", RFC), "EMP%2000%2B7%26X");
    assert_eq!(
        concur::encode("EMP 00+7&X", Encoding::Form),
        "EMP+00%2B7%26X"
    );
}

// ---------------------------------------------------------------------------------------
// Accepted launches.

#[test]
fn v4_accepts_a_header_launch() {
    let launch = verify_v4_query(&signed_v4(&concur::v4(REPORT, "HEADER"))).unwrap();
    assert_eq!(launch.source(), Source::Header);
    assert_eq!(launch.item_url().as_str(), REPORT);
}

#[test]
fn v4_accepts_an_entry_launch() {
    let launch = verify_v4_query(&signed_v4(&v4_entry())).unwrap();
    assert_eq!(launch.version(), Version::V4);
    assert_eq!(launch.source(), Source::Entry);
    assert_eq!(launch.report_owner_employee_id(), Some("E12345"));
}

#[test]
fn v4_accepts_an_allocation_launch_by_a_delegate_with_an_awkward_employee_id() {
    let mut launch = concur::v4(&format!("{REPORT}/allocations/3BBB4945"), "ALLOCATION");
    launch.set("logged_in_user_id", "a1b2c3d4-0000-4000-8000-000000000abc");
    launch.set("report_owner_employee_id", "EMP 00+7&X");
    launch
        .unsigned
        .push(("expense_ids", "29EE3C62,84FCBB92".into()));
    for encoding in [RFC, Encoding::Form] {
        let query = launch.query(&concur_creds(V4_USER, V4_PASS), encoding, STD);
        let verified = verify_v4_query(&query).unwrap();
        assert_eq!(verified.user_id(), "a1b2c3d4-0000-4000-8000-000000000abc");
        assert_eq!(verified.report_owner_employee_id(), Some("EMP 00+7&X"));
        assert_eq!(verified.expense_ids(), ["29EE3C62", "84FCBB92"]);
        assert_eq!(verified.source(), Source::Allocation);
    }
}

/// docs/protocol.md §14.6: a delegate on a request allocation, with `request_ids`.
fn request_allocation() -> concur::Launch {
    let mut launch = concur::v4_request(
        &format!("{REQUEST}/allocations/5D1B3C8E07A54B3F9E2A6C4D8F0B1A27"),
        "ALLOCATION",
    );
    launch.set("logged_in_user_id", "a1b2c3d4-0000-4000-8000-000000000abc");
    launch.set("request_owner_employee_id", "EMP 00+7&X");
    launch.set("nonce", "0f9e8d7c-6b5a-4938-8271-000000000005");
    launch
        .unsigned
        .push(("request_ids", "A1F3C5E7092B4D6F8A0C2E4B6D8F0A13".into()));
    launch
}

#[test]
fn v4_accepts_a_request_header_launch_under_either_spelling_of_the_employee_id() {
    let mut launch = request_header();
    let documented = verify_v4_query(&signed_v4(&launch)).unwrap();
    launch.rename("request_owner_employee_id", "repquest_owner_employee_id");
    let misspelt = verify_v4_query(&signed_v4(&launch)).unwrap();
    for verified in [&documented, &misspelt] {
        assert_eq!(verified.product(), Product::Request);
        assert_eq!(verified.source(), Source::Header);
        assert_eq!(verified.item_url().as_str(), REQUEST);
        assert_eq!(verified.report_owner_employee_id(), Some("E12345"));
        assert_eq!(verified.language(), "fr-FR");
    }
    assert_eq!(documented.replay_key(), misspelt.replay_key());
}

#[test]
fn v4_accepts_a_request_allocation_launch_by_a_delegate_in_every_encoding() {
    let launch = request_allocation();
    for encoding in [RFC, Encoding::Rfc3986 { lower_hex: true }, Encoding::Form] {
        let query = launch.query(&concur_creds(V4_USER, V4_PASS), encoding, STD);
        let verified = verify_v4_query(&query).unwrap();
        assert_eq!(verified.product(), Product::Request);
        assert_eq!(verified.user_id(), "a1b2c3d4-0000-4000-8000-000000000abc");
        assert_eq!(verified.report_owner_employee_id(), Some("EMP 00+7&X"));
        assert_eq!(verified.expense_ids(), ["A1F3C5E7092B4D6F8A0C2E4B6D8F0A13"]);
        assert_eq!(verified.source(), Source::Allocation);
    }
}

#[test]
fn v4_accepts_a_request_expected_expense_launch() {
    let url = "https://us2.api.concursolutions.com/travelrequest/v4/expenses/A1F3C5E7092B4D6F8A0C2E4B6D8F0A13";
    let verified = verify_v4_query(&signed_v4(&concur::v4_request(url, "ENTRY"))).unwrap();
    assert_eq!(verified.product(), Product::Request);
    assert_eq!(verified.source(), Source::Entry);
}

#[test]
fn v1_accepts_a_launch() {
    let launch = verify_v1_query(&signed_v1(&concur::v1(V1_ITEM))).unwrap();
    assert_eq!(launch.version(), Version::V1);
    assert_eq!(launch.user_id(), "jane.doe@acmecorp.com");
    assert_eq!(launch.item_url().as_str(), V1_ITEM);
}

#[test]
fn v4_accepts_upper_case_parameter_names() {
    let query = signed_v4(&v4_entry()).to_uppercase_names();
    assert_eq!(verify_v4_query(&query).unwrap().source(), Source::Entry);
}

#[test]
fn v1_accepts_upper_case_parameter_names() {
    let query = signed_v1(&concur::v1(V1_ITEM)).to_uppercase_names();
    assert!(verify_v1_query(&query).is_ok());
}

#[test]
fn v4_accepts_an_item_url_on_a_configured_local_host() {
    let url = "https://127.0.0.1:8443/expensereports/v4/reports/R1/expenses/E1";
    let launch = verify_v4_query(&signed_v4(&concur::v4(url, "ENTRY"))).unwrap();
    assert_eq!(launch.item_url().as_str(), url);
}

#[test]
fn v4_context_carries_the_signed_values_but_no_secrets() {
    let query = signed_v4(&v4_entry());
    let launch = verify_v4_query(&query).unwrap();
    let context = launch.context();
    assert_eq!(context.company_domain, "acmecorp.com");
    assert_eq!(context.item_url, entry_url());
    let json = serde_json::to_string(&context).unwrap();
    let signature = v4_entry().signature(&concur_creds(V4_USER, V4_PASS), STD);
    assert!(!json.contains(&signature));
    assert!(!json.contains("c0ffee00-1234-4abc-8def-0123456789ab"));
    assert_eq!(
        launch.client_auth_code().map(|c| c.expose_secret()),
        Some("c0ffee00-1234-4abc-8def-0123456789ab")
    );
}

trait UpperNames {
    fn to_uppercase_names(&self) -> String;
}

impl UpperNames for String {
    fn to_uppercase_names(&self) -> String {
        self.split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                format!("{}={value}", name.to_ascii_uppercase())
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

// ---------------------------------------------------------------------------------------
// Refusals: one named test per row.

/// Replaces one parameter's raw (transport) value, keeping everything else.
fn set_raw(query: &str, name: &str, raw: &str) -> String {
    let mut replaced = false;
    let out = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, _)) if n == name => {
                replaced = true;
                format!("{n}={raw}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    assert!(replaced, "no parameter {name}");
    out
}

/// Replaces one parameter's value on the wire, keeping the original signature.
fn tampered(query: &str, name: &str, new_value: &str) -> String {
    set_raw(query, name, &concur::encode(new_value, RFC))
}

/// Appends a second copy of a parameter with the same value.
fn duplicated(query: &str, name: &str) -> String {
    let pair = query
        .split('&')
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no parameter {name}"));
    format!("{query}&{pair}")
}

fn removed(query: &str, name: &str) -> String {
    let out: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with(&format!("{name}=")))
        .collect();
    assert!(out.len() < query.split('&').count(), "no parameter {name}");
    out.join("&")
}

/// Replaces the raw signature text (already in transport form).
fn with_raw_signature(query: &str, raw: &str) -> String {
    set_raw(query, "signature", raw)
}

fn v4_base() -> String {
    signed_v4(&v4_entry())
}

fn v1_base() -> String {
    signed_v1(&concur::v1(V1_ITEM))
}

fn v4_signed_for_item_url(url: &str) -> String {
    signed_v4(&concur::v4(url, "ENTRY"))
}

fn v1_signed_for_item_url(url: &str) -> String {
    signed_v1(&concur::v1(url))
}

/// What must never appear in an error message.
const SECRETS: &[&str] = &[
    V4_PASS,
    V1_PASS,
    "9b2f6c1e-4d7a-4f3b-8e21-000000000002",
    "5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90",
    "c0ffee00-1234-4abc-8def-0123456789ab",
];

fn assert_refused(
    row: &str,
    outcome: Result<VerifiedLaunch, LaunchError>,
    query: &str,
    expected: LaunchError,
) {
    let err = match outcome {
        Ok(launch) => panic!("{row}: accepted {:?}", launch.context()),
        Err(err) => err,
    };
    assert_eq!(err, expected, "{row}");
    let message = err.to_string();
    let signature = query.rsplit_once("signature=").map_or("", |(_, s)| s);
    for secret in SECRETS
        .iter()
        .chain([signature].iter().filter(|s| s.len() > 8))
    {
        assert!(
            !message.contains(secret),
            "{row}: message leaks a secret: {message}"
        );
    }
}

macro_rules! refusals {
    ($verify:ident { $($name:ident: $query:expr => $expected:expr;)* }) => {
        $(
            #[test]
            fn $name() {
                let query: String = $query;
                assert_refused(stringify!($name), $verify(&query), &query, $expected);
            }
        )*
    };
}

refusals!(verify_v4_query {
    v4_rejects_a_tampered_company_domain:
        tampered(&v4_base(), "company_domain", "evilcorp.com") => LaunchError::SignatureMismatch;
    v4_rejects_a_tampered_logged_in_user_id:
        tampered(&v4_base(), "logged_in_user_id", "a1b2c3d4-0000-4000-8000-000000000abc")
        => LaunchError::SignatureMismatch;
    v4_rejects_a_tampered_report_owner_user_id:
        tampered(&v4_base(), "report_owner_user_id", "a1b2c3d4-0000-4000-8000-000000000abc")
        => LaunchError::SignatureMismatch;
    v4_rejects_a_tampered_employee_id:
        tampered(&v4_base(), "report_owner_employee_id", "E12346") => LaunchError::SignatureMismatch;
    v4_rejects_a_tampered_item_url:
        tampered(&v4_base(), "item_url", &format!("{REPORT}/expenses/00000000000000000000000000000000"))
        => LaunchError::SignatureMismatch;
    v4_rejects_a_tampered_nonce:
        tampered(&v4_base(), "nonce", "9b2f6c1e-4d7a-4f3b-8e21-000000000003") => LaunchError::SignatureMismatch;
    v4_rejects_a_foreign_item_url_before_checking_its_host:
        tampered(&v4_base(), "item_url", "https://evil.com/x") => LaunchError::SignatureMismatch;
    v4_rejects_a_launch_signed_with_another_password:
        v4_entry().query(&concur_creds(V4_USER, "Tr0ub4dor&3-Horsf"), RFC, STD)
        => LaunchError::SignatureMismatch;

    v4_rejects_a_duplicated_company_domain:
        duplicated(&v4_base(), "company_domain") => LaunchError::DuplicateParameter("company_domain");
    v4_rejects_a_duplicated_logged_in_user_id:
        duplicated(&v4_base(), "logged_in_user_id") => LaunchError::DuplicateParameter("logged_in_user_id");
    v4_rejects_a_duplicated_report_owner_user_id:
        duplicated(&v4_base(), "report_owner_user_id")
        => LaunchError::DuplicateParameter("report_owner_user_id");
    v4_rejects_a_duplicated_employee_id:
        duplicated(&v4_base(), "report_owner_employee_id")
        => LaunchError::DuplicateParameter("report_owner_employee_id");
    v4_rejects_a_duplicated_item_url:
        duplicated(&v4_base(), "item_url") => LaunchError::DuplicateParameter("item_url");
    v4_rejects_a_duplicated_nonce:
        duplicated(&v4_base(), "nonce") => LaunchError::DuplicateParameter("nonce");
    v4_rejects_a_duplicated_signature:
        duplicated(&v4_base(), "signature") => LaunchError::DuplicateParameter("signature");
    v4_rejects_a_duplicated_unsigned_source:
        duplicated(&v4_base(), "source") => LaunchError::DuplicateParameter("source");
    v4_rejects_a_duplicate_that_differs_only_in_name_case:
        format!("{}&ITEM_URL=https%3A%2F%2Fevil.com%2F", v4_base())
        => LaunchError::DuplicateParameter("item_url");

    v4_rejects_a_missing_company_domain:
        removed(&v4_base(), "company_domain") => LaunchError::MissingParameter("company_domain");
    v4_rejects_a_missing_logged_in_user_id:
        removed(&v4_base(), "logged_in_user_id") => LaunchError::MissingParameter("logged_in_user_id");
    v4_rejects_a_missing_report_owner_user_id:
        removed(&v4_base(), "report_owner_user_id") => LaunchError::MissingParameter("report_owner_user_id");
    v4_rejects_a_missing_employee_id:
        removed(&v4_base(), "report_owner_employee_id")
        => LaunchError::MissingParameter("report_owner_employee_id");
    v4_rejects_a_missing_item_url:
        removed(&v4_base(), "item_url") => LaunchError::MissingParameter("item_url");
    v4_rejects_a_missing_nonce:
        removed(&v4_base(), "nonce") => LaunchError::MissingParameter("nonce");
    v4_rejects_a_missing_signature:
        removed(&v4_base(), "signature") => LaunchError::MissingParameter("signature");
    // Without an owner parameter not even the product, and so the signed names, is known.
    v4_rejects_an_empty_query:
        String::new() => LaunchError::NoOwnerFamily;

    v4_rejects_a_query_over_16_kib:
        format!("{}&padding={}", v4_base(), "a".repeat(16 * 1024))
        => LaunchError::QueryTooLong { limit: 16 * 1024, got: v4_base().len() + 9 + 16 * 1024 };
    v4_rejects_invalid_utf8_in_a_signed_value:
        set_raw(&v4_base(), "report_owner_employee_id", "E%FF")
        => LaunchError::InvalidEncoding("report_owner_employee_id".into());
    v4_rejects_a_broken_percent_escape:
        set_raw(&v4_base(), "company_domain", "acme%G1")
        => LaunchError::InvalidEncoding("company_domain".into());
    v4_rejects_a_truncated_percent_escape_in_the_signature:
        with_raw_signature(&v4_base(), "abc%2") => LaunchError::InvalidEncoding("signature".into());
    v4_rejects_a_signature_that_is_not_base64:
        with_raw_signature(&v4_base(), "not*base64!") => LaunchError::BadSignatureEncoding;
    v4_rejects_a_signature_with_too_much_padding:
        with_raw_signature(&v4_base(), &format!("{}%3D%3D", concur::base64(&[7; 32], STD)))
        => LaunchError::BadSignatureEncoding;
    v4_rejects_a_signature_of_31_bytes:
        with_raw_signature(&v4_base(), &concur::base64(&[7; 31], Base64Style::UrlSafeUnpadded))
        => LaunchError::BadSignatureLength { expected: 32, got: 31 };
    v4_rejects_a_sha1_sized_signature:
        with_raw_signature(&v4_base(), &concur::base64(&[7; 20], Base64Style::UrlSafeUnpadded))
        => LaunchError::BadSignatureLength { expected: 32, got: 20 };
    v4_rejects_an_empty_signature:
        with_raw_signature(&v4_base(), "") => LaunchError::BadSignatureLength { expected: 32, got: 0 };

    v4_refuses_an_item_url_on_plain_http:
        v4_signed_for_item_url("http://us2.api.concursolutions.com/expensereports/v4/reports/R/expenses/E")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::NotHttps);
    v4_refuses_an_item_url_on_a_foreign_host:
        v4_signed_for_item_url("https://evil.com/expensereports/v4/reports/R/expenses/E")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::HostNotAllowed("evil.com".into()));
    v4_refuses_an_item_url_with_the_concur_domain_in_its_path:
        v4_signed_for_item_url("https://evil.com/.concursolutions.com")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::HostNotAllowed("evil.com".into()));
    v4_refuses_an_item_url_with_the_concur_domain_as_a_prefix:
        v4_signed_for_item_url("https://concursolutions.com.evil.com/expenses/E")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::HostNotAllowed("concursolutions.com.evil.com".into()));
    v4_refuses_an_item_url_with_a_userinfo_trick:
        v4_signed_for_item_url("https://x.concursolutions.com@evil.com/expenses/E")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::HasUserInfo);
    v4_refuses_an_unparsable_item_url:
        v4_signed_for_item_url("us2.api.concursolutions.com/expenses/E")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::Unparsable);
    v4_refuses_an_item_url_on_an_unlisted_local_address:
        v4_signed_for_item_url("https://127.0.0.2/expenses/E")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::HostNotAllowed("127.0.0.2".into()));

    v4_rejects_an_unknown_source:
        tampered(&v4_base(), "source", "REPORT")
        => LaunchError::InvalidParameter { name: "source", reason: "must be HEADER, ENTRY or ALLOCATION" };
    v4_rejects_a_non_boolean_is_mobile:
        tampered(&v4_base(), "is_mobile", "1")
        => LaunchError::InvalidParameter { name: "is_mobile", reason: "must be true or false" };
    v4_rejects_a_malformed_language_code:
        tampered(&v4_base(), "language_code", "en-GB-oxendict")
        => LaunchError::InvalidParameter { name: "language_code", reason: "must look like xx, xx-XX or xx_XX" };
});
fn request_base() -> String {
    signed_v4(&request_header())
}

/// The request header launch with the owner's names of an Expense launch (values and
/// signature unchanged).
fn request_as_expense() -> String {
    request_base()
        .replace("request_owner_user_id=", "report_owner_user_id=")
        .replace("request_owner_employee_id=", "report_owner_employee_id=")
}

refusals!(verify_v4_query {
    v4_request_rejects_a_tampered_company_domain:
        tampered(&request_base(), "company_domain", "evilcorp.com") => LaunchError::SignatureMismatch;
    v4_request_rejects_a_tampered_logged_in_user_id:
        tampered(&request_base(), "logged_in_user_id", "a1b2c3d4-0000-4000-8000-000000000abc")
        => LaunchError::SignatureMismatch;
    v4_request_rejects_a_tampered_request_owner_user_id:
        tampered(&request_base(), "request_owner_user_id", "a1b2c3d4-0000-4000-8000-000000000abc")
        => LaunchError::SignatureMismatch;
    v4_request_rejects_a_tampered_request_owner_employee_id:
        tampered(&request_base(), "request_owner_employee_id", "E12346") => LaunchError::SignatureMismatch;
    v4_request_rejects_a_tampered_item_url:
        tampered(&request_base(), "item_url", &format!("{REQUEST}/allocations/5D1B3C8E07A54B3F9E2A6C4D8F0B1A27"))
        => LaunchError::SignatureMismatch;
    v4_request_rejects_a_tampered_nonce:
        tampered(&request_base(), "nonce", "6a0d3c2e-8f1b-4d7a-9c5e-000000000005") => LaunchError::SignatureMismatch;
    v4_request_rejects_a_launch_signed_with_another_password:
        request_header().query(&concur_creds(V4_USER, "Tr0ub4dor&3-Horsf"), RFC, STD)
        => LaunchError::SignatureMismatch;

    v4_request_rejects_both_spellings_of_the_employee_id:
        format!("{}&repquest_owner_employee_id=E12345", request_base())
        => LaunchError::BothSpellings { name: "request_owner_employee_id", alias: "repquest_owner_employee_id" };
    v4_request_rejects_an_expense_owner_added_to_it:
        format!("{}&report_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643", request_base())
        => LaunchError::MixedOwnerFamilies;
    v4_request_rejects_an_expense_launch_with_a_request_owner_added:
        format!("{}&request_owner_employee_id=E12345", v4_base()) => LaunchError::MixedOwnerFamilies;
    v4_rejects_a_launch_naming_neither_owner:
        removed(&removed(&request_base(), "request_owner_user_id"), "request_owner_employee_id")
        => LaunchError::NoOwnerFamily;
    v4_request_rejects_a_missing_request_owner_user_id:
        removed(&request_base(), "request_owner_user_id")
        => LaunchError::MissingParameter("request_owner_user_id");
    v4_request_rejects_a_duplicated_request_owner_user_id:
        duplicated(&request_base(), "request_owner_user_id")
        => LaunchError::DuplicateParameter("request_owner_user_id");
    v4_request_rejects_its_signature_under_the_expense_names:
        request_as_expense()
        => LaunchError::ItemOfOtherProduct { launched: Product::Expense, item: Product::Request };
});

refusals!(verify_v1_query {
    v1_rejects_a_tampered_company_domain:
        tampered(&v1_base(), "xcompanydomain", "evilcorp.com") => LaunchError::SignatureMismatch;
    v1_rejects_a_tampered_user_id:
        tampered(&v1_base(), "xuserid", "john.doe@acmecorp.com") => LaunchError::SignatureMismatch;
    v1_rejects_a_tampered_item_url:
        tampered(&v1_base(), "itemurl", &V1_ITEM.replace("/entry/n", "/entry/m")) => LaunchError::SignatureMismatch;
    v1_rejects_a_tampered_nonce:
        tampered(&v1_base(), "nonce", "5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c91") => LaunchError::SignatureMismatch;

    v1_rejects_a_duplicated_company_domain:
        duplicated(&v1_base(), "xcompanydomain") => LaunchError::DuplicateParameter("xcompanydomain");
    v1_rejects_a_duplicated_user_id:
        duplicated(&v1_base(), "xuserid") => LaunchError::DuplicateParameter("xuserid");
    v1_rejects_a_duplicated_item_url:
        duplicated(&v1_base(), "itemurl") => LaunchError::DuplicateParameter("itemurl");
    v1_rejects_a_duplicated_nonce:
        duplicated(&v1_base(), "nonce") => LaunchError::DuplicateParameter("nonce");
    v1_rejects_a_duplicated_signature:
        duplicated(&v1_base(), "signature") => LaunchError::DuplicateParameter("signature");

    v1_rejects_a_missing_company_domain:
        removed(&v1_base(), "xcompanydomain") => LaunchError::MissingParameter("xcompanydomain");
    v1_rejects_a_missing_user_id:
        removed(&v1_base(), "xuserid") => LaunchError::MissingParameter("xuserid");
    v1_rejects_a_missing_item_url:
        removed(&v1_base(), "itemurl") => LaunchError::MissingParameter("itemurl");
    v1_rejects_a_missing_nonce:
        removed(&v1_base(), "nonce") => LaunchError::MissingParameter("nonce");
    v1_rejects_a_missing_signature:
        removed(&v1_base(), "signature") => LaunchError::MissingParameter("signature");

    v1_rejects_a_query_over_16_kib:
        format!("{}&padding={}", v1_base(), "a".repeat(16 * 1024))
        => LaunchError::QueryTooLong { limit: 16 * 1024, got: v1_base().len() + 9 + 16 * 1024 };
    v1_rejects_invalid_utf8_in_a_signed_value:
        set_raw(&v1_base(), "xuserid", "jane%FF")
        => LaunchError::InvalidEncoding("xuserid".into());
    v1_rejects_a_signature_with_a_stray_percent_sign:
        with_raw_signature(&v1_base(), "%%%") => LaunchError::InvalidEncoding("signature".into());
    v1_rejects_a_signature_that_is_not_base64:
        with_raw_signature(&v1_base(), "b6QVVca2hHc0SkA20ovV1cgu92s%21") => LaunchError::BadSignatureEncoding;
    v1_rejects_a_v4_sized_signature:
        with_raw_signature(&v1_base(), &concur::base64(&[1; 32], STD))
        => LaunchError::BadSignatureLength { expected: 20, got: 32 };

    v1_refuses_an_item_url_on_plain_http:
        v1_signed_for_item_url(&V1_ITEM.replace("https:", "http:"))
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::NotHttps);
    v1_refuses_an_item_url_on_a_foreign_host:
        v1_signed_for_item_url("https://www.concursolutions.com.evil.com/api/expense")
        => LaunchError::ItemUrlNotAllowed(ItemUrlError::HostNotAllowed("www.concursolutions.com.evil.com".into()));
});

// ---------------------------------------------------------------------------------------
// Properties: random values round-trip through both encodings and verify.

/// Free text with the characters that break naive parsers.
fn awkward_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9+&=%$ ?#/.,;:@!*'()~_éß€漢😀-]{0,24}").unwrap()
}

/// Awkward text with at least one character that is not white space (company domains,
/// nonces and v1 user ids must not be blank).
fn awkward_non_blank() -> impl Strategy<Value = String> {
    awkward_text().prop_filter("not blank", |s| !s.trim().is_empty())
}

/// A UUID in random letter case (v4 user ids).
fn uuid_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    )
    .unwrap()
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Rfc3986 { lower_hex: false }),
        Just(Encoding::Rfc3986 { lower_hex: true }),
        Just(Encoding::Form),
    ]
}

fn base64_style() -> impl Strategy<Value = Base64Style> {
    prop_oneof![
        Just(Base64Style::StandardPadded),
        Just(Base64Style::UrlSafePadded),
        Just(Base64Style::StandardUnpadded),
        Just(Base64Style::UrlSafeUnpadded),
    ]
}

/// Connector credentials as Concur allows them: a printable-ASCII user name in any case,
/// any password of 10 to 50 characters.
fn credentials() -> impl Strategy<Value = (String, String)> {
    (
        proptest::string::string_regex("[!-~ ]{10,50}").unwrap(),
        proptest::string::string_regex("[!-~ éß€😀]{10,50}").unwrap(),
    )
}

/// Random order of the wire pairs and random case of their names.
fn wire(
    pairs: Vec<(String, String)>,
    order: &[usize],
    upper: &[bool],
    encoding: Encoding,
) -> String {
    order
        .iter()
        .map(|&i| {
            let (name, value) = &pairs[i];
            let name = if upper[i] {
                name.to_ascii_uppercase()
            } else {
                name.clone()
            };
            format!("{name}={}", concur::encode(value, encoding))
        })
        .collect::<Vec<_>>()
        .join("&")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v4_random_values_round_trip_through_every_encoding(
        (user, pass) in credentials(),
        domain in awkward_non_blank(),
        logged_in in uuid_text(),
        owner in uuid_text(),
        employee in awkward_text(),
        item_tail in awkward_text(),
        nonce in awkward_non_blank(),
        custom in "[a-zA-Z0-9 +&=%é]{1,12}",
        encoding in encoding(),
        style in base64_style(),
        order in Just((0..12).collect::<Vec<usize>>()).prop_shuffle(),
        upper in proptest::collection::vec(any::<bool>(), 12),
        request in any::<bool>(),
    ) {
        let (item_url, mut launch, owner_names) = if request {
            let url = format!("https://us2.api.concursolutions.com/travelrequest/v4/expenses/{item_tail}");
            let launch = concur::v4_request(&url, "ENTRY");
            (url, launch, ["request_owner_user_id", "request_owner_employee_id"])
        } else {
            let url = format!("{REPORT}/expenses/{item_tail}");
            let launch = concur::v4(&url, "ENTRY");
            (url, launch, ["report_owner_user_id", "report_owner_employee_id"])
        };
        for (name, value) in [
            ("company_domain", &domain),
            ("logged_in_user_id", &logged_in),
            (owner_names[0], &owner),
            (owner_names[1], &employee),
            ("nonce", &nonce),
            ("custom_field_launched_from", &custom),
        ] {
            launch.set(name, value);
        }
        let signature = launch.signature(&concur_creds(&user, &pass), style);
        let query = wire(launch.pairs(&signature), &order, &upper, encoding);

        let verified = verify_v4(&query, &connector_creds(&user, &pass), &hosts())
            .map_err(|e| TestCaseError::fail(format!("{e} for {query}")))?;

        prop_assert_eq!(verified.product(), if request { Product::Request } else { Product::Expense });
        prop_assert_eq!(verified.company_domain(), domain.as_str());
        prop_assert_eq!(verified.user_id(), logged_in.as_str());
        prop_assert_eq!(verified.report_owner_user_id(), Some(owner.as_str()));
        // An empty employee id is signed as the empty string and carried as absent.
        prop_assert_eq!(
            verified.report_owner_employee_id(),
            Some(employee.as_str()).filter(|e| !e.is_empty())
        );
        prop_assert_eq!(verified.nonce(), nonce.as_str());
        prop_assert_eq!(verified.item_url(), &url::Url::parse(&item_url).unwrap());
        // Unsigned values decode with the reading that verified, which is only fully
        // determined when a signed value distinguishes the two.
        if encoding != Encoding::Form || !custom.contains(' ') || launch.signed.iter().any(|(_, v)| v.contains(' ')) {
            prop_assert_eq!(verified.custom_field_launched_from(), Some(custom.as_str()));
        }
        if encoding == Encoding::Form && [&domain, &logged_in, &owner, &employee, &nonce, &item_tail].iter().any(|v| v.contains(' ')) {
            prop_assert_eq!(verified.transport().encoding, ValueEncoding::Form);
        }
    }

    #[test]
    fn v1_random_values_round_trip_through_every_encoding(
        (user, pass) in credentials(),
        domain in awkward_non_blank(),
        user_id in awkward_non_blank(),
        item_tail in awkward_text(),
        nonce in awkward_non_blank(),
        encoding in encoding(),
        style in base64_style(),
        order in Just((0..5).collect::<Vec<usize>>()).prop_shuffle(),
        upper in proptest::collection::vec(any::<bool>(), 5),
    ) {
        let item_url = format!("https://www.concursolutions.com/api/expense/expensereport/v1.1/report/{item_tail}");
        let mut launch = concur::v1(&item_url);
        launch.set("xcompanydomain", &domain);
        launch.set("xuserid", &user_id);
        launch.set("nonce", &nonce);
        let signature = launch.signature(&concur_creds(&user, &pass), style);
        let query = wire(launch.pairs(&signature), &order, &upper, encoding);

        let verified = verify_v1(&query, &connector_creds(&user, &pass), &hosts())
            .map_err(|e| TestCaseError::fail(format!("{e} for {query}")))?;

        prop_assert_eq!(verified.company_domain(), domain.as_str());
        prop_assert_eq!(verified.user_id(), user_id.as_str());
        prop_assert_eq!(verified.nonce(), nonce.as_str());
        prop_assert_eq!(verified.item_url(), &url::Url::parse(&item_url).unwrap());
    }

    #[test]
    fn v4_an_item_url_encoded_twice_in_transit_verifies_and_arrives_decoded(
        item_tail in "[a-zA-Z0-9$ +&=é-]{1,16}",
        encoding in encoding(),
    ) {
        let item_url = format!("{REPORT}/expenses/{item_tail}");
        let launch = concur::v4(&item_url, "ENTRY");
        let signature = launch.signature(&concur_creds(V4_USER, V4_PASS), STD);
        let query: String = launch
            .pairs(&signature)
            .into_iter()
            .map(|(name, value)| {
                let once = concur::encode(&value, encoding);
                let wire = if name == "item_url" { concur::encode(&once, encoding) } else { once };
                format!("{name}={wire}")
            })
            .collect::<Vec<_>>()
            .join("&");

        let verified = verify_v4_query(&query)
            .map_err(|e| TestCaseError::fail(format!("{e} for {query}")))?;
        prop_assert_eq!(verified.item_url(), &url::Url::parse(&item_url).unwrap());
        prop_assert!(verified.transport().item_url_encoded_twice);
    }

    #[test]
    fn v4_any_change_to_a_signed_value_is_refused(
        which in 0usize..6,
        replacement in awkward_text(),
        encoding in encoding(),
    ) {
        let launch = v4_entry();
        let (name, original) = launch.signed[which].clone();
        prop_assume!(replacement != original);
        let mut changed = launch.clone();
        changed.set(name, &replacement);
        let signature = launch.signature(&concur_creds(V4_USER, V4_PASS), STD);
        let query = changed.query_with(&signature, encoding);
        match verify_v4_query(&query) {
            Err(LaunchError::SignatureMismatch) => {}
            other => prop_assert!(false, "{name}={replacement:?}: {other:?}"),
        }
    }

    #[test]
    fn arbitrary_query_strings_never_panic(raw in "[a-z_=&%0-9A-F+é]{0,200}") {
        let _ = verify_v4_query(&raw);
        let _ = verify_v1_query(&raw);
    }
}
