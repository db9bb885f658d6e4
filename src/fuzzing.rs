//! Entry points for the `cargo fuzz` targets in `fuzz/`; nothing else calls them.
//!
//! Each function takes the fuzzer's bytes, feeds them to one parser that reads input from
//! outside the process (a launch query, a Concur response body, a request header, the
//! values CSV) and checks what any result must satisfy. A panic here is a bug: the
//! parsers must answer every input with a value or an error. The module only forwards to
//! the crate's private parsers, so they can stay private.

use axum::http::{HeaderMap, HeaderValue, header};
use secrecy::SecretString;

use crate::concur::ItemRef;
use crate::credentials::ConnectorCredentials;
use crate::launch::sign::{self, Encoding, V1Launch, V4Launch};
use crate::launch::{self, ItemUrlPolicy, LaunchError, Product, Source};

/// The published credentials of the protocol's worked examples: the seed launch URLs are
/// signed with them, so mutations of their unsigned parameters still verify.
const V1_USER: &str = "AcmeConnector01";
const V1_PASS: &str = "S3cr3t-Pa$$w0rd!";
const V4_USER: &str = "LaunchConnectorUser";
const V4_PASS: &str = "Tr0ub4dor&3-Horse";

/// The extra item URL hosts the simulator and the tests use.
const EXTRA_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

fn creds(user: &str, pass: &str) -> ConnectorCredentials {
    ConnectorCredentials::new(user, SecretString::from(pass.to_owned()))
        .expect("the example credentials are valid")
}

fn policy() -> ItemUrlPolicy {
    ItemUrlPolicy::with_extra_hosts(EXTRA_HOSTS)
}

/// The raw launch query parser: names, duplicates, both percent-decoding readings.
pub fn launch_query(data: &[u8]) {
    if let Ok(raw) = std::str::from_utf8(data) {
        launch::read_query(raw);
    }
}

/// v4 and v1 verification (and the wrong-reading diagnosis run after a mismatch) of a raw
/// query string.
pub fn launch_verify(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let raw = raw.split_once('?').map_or(raw, |(_, query)| query);
    let policy = policy();
    for (creds, v4) in [
        (creds(V4_USER, V4_PASS), true),
        (creds(V1_USER, V1_PASS), false),
    ] {
        let verified = if v4 {
            launch::verify_v4(raw, &creds, &policy)
        } else {
            launch::verify_v1(raw, &creds, &policy)
        };
        match verified {
            Ok(launch) => {
                assert!(
                    policy.check(launch.item_url().as_str()).is_ok(),
                    "a verified item url passes the policy again"
                );
                let context = launch.context();
                let json = serde_json::to_string(&context).expect("a context serialises");
                let back: launch::LaunchContext =
                    serde_json::from_str(&json).expect("a serialised context reads back");
                assert_eq!(back, context);
            }
            Err(LaunchError::SignatureMismatch) => {
                let _ = if v4 {
                    launch::diagnose_v4(raw, &creds)
                } else {
                    launch::diagnose_v1(raw, &creds)
                };
            }
            Err(_) => {}
        }
    }
}

/// Splits the fuzzer's bytes into a flag byte and text fields separated by newlines.
struct Fields<'a> {
    flags: u8,
    parts: std::str::Split<'a, char>,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let (&flags, rest) = data.split_first()?;
        let text = std::str::from_utf8(rest).ok()?;
        Some(Self {
            flags,
            parts: text.split('\n'),
        })
    }

    fn next(&mut self) -> String {
        self.parts.next().unwrap_or_default().to_owned()
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags & (1 << bit) != 0
    }
}

/// Launches built from arbitrary values and signed exactly as Concur does must verify
/// (unless the item URL or an unsigned value is refused) and give the values back.
pub fn launch_signed(data: &[u8]) {
    let Some(mut fields) = Fields::new(data) else {
        return;
    };
    let encoding = if fields.flag(0) {
        Encoding::Form
    } else {
        Encoding::Rfc3986
    };
    let mut item_url = fields.next();
    if fields.flag(1) {
        item_url = format!("https://us2.api.concursolutions.com/{item_url}");
    }
    let policy = policy();
    if fields.flag(2) {
        let creds = creds(V1_USER, V1_PASS);
        let signed = V1Launch {
            company_domain: fields.next(),
            user_id: fields.next(),
            item_url,
            nonce: fields.next(),
        };
        let raw = sign::v1_query(&signed, &creds, encoding);
        match launch::verify_v1(&raw, &creds, &policy) {
            Ok(got) => {
                assert_eq!(got.company_domain(), signed.company_domain);
                assert_eq!(got.user_id(), signed.user_id);
                assert_eq!(got.nonce(), signed.nonce);
            }
            Err(error) => assert_acceptable(&error, &raw),
        }
    } else {
        let creds = creds(V4_USER, V4_PASS);
        let optional = |fields: &mut Fields<'_>, bit: u8| {
            let value = fields.next();
            fields.flag(bit).then_some(value)
        };
        let source = match fields.flags >> 6 {
            0 => Source::Header,
            1 => Source::Entry,
            _ => Source::Allocation,
        };
        let mut signed = V4Launch {
            product: Product::Expense,
            company_domain: fields.next(),
            logged_in_user_id: fields.next(),
            report_owner_user_id: fields.next(),
            report_owner_employee_id: fields.next(),
            item_url,
            nonce: fields.next(),
            custom_field_launched_from: optional(&mut fields, 3),
            source,
            expense_ids: fields
                .next()
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect(),
            is_mobile: fields.flag(4),
            client_auth_code: optional(&mut fields, 5),
            language_code: Some(fields.next()).filter(|l| !l.is_empty()),
        };
        // The same values under both products' parameter names.
        for product in [Product::Expense, Product::Request] {
            signed.product = product;
            v4_signed_round_trip(&signed, &creds, encoding, &policy);
        }
    }
}

/// One signed v4 launch must verify and give its values back (or be refused for content).
fn v4_signed_round_trip(
    signed: &V4Launch,
    creds: &ConnectorCredentials,
    encoding: Encoding,
    policy: &ItemUrlPolicy,
) {
    let raw = sign::v4_query(signed, creds, encoding);
    match launch::verify_v4(&raw, creds, policy) {
        Ok(got) => {
            assert_eq!(got.product(), signed.product);
            assert_eq!(got.company_domain(), signed.company_domain);
            assert_eq!(got.user_id(), signed.logged_in_user_id);
            assert_eq!(
                got.report_owner_user_id(),
                Some(signed.report_owner_user_id.as_str())
            );
            // An empty employee id is signed as such and carried as absent.
            assert_eq!(
                got.report_owner_employee_id(),
                Some(signed.report_owner_employee_id.as_str()).filter(|id| !id.is_empty())
            );
            assert_eq!(got.nonce(), signed.nonce);
            assert_eq!(got.source(), signed.source);
            assert_eq!(got.is_mobile(), signed.is_mobile);
        }
        Err(error) => assert_acceptable(&error, &raw),
    }
}

/// A correctly signed launch may be refused for its content, never for its signature or
/// its encoding.
fn assert_acceptable(error: &LaunchError, raw: &str) {
    assert!(
        matches!(
            error,
            LaunchError::QueryTooLong { .. }
                | LaunchError::InvalidParameter { .. }
                | LaunchError::InvalidSignedValue { .. }
                | LaunchError::ItemUrlNotAllowed(_)
                | LaunchError::ItemOfOtherProduct { .. }
        ),
        "a correctly signed launch was refused with {error:?}: {raw}"
    );
}

/// The item URL allow-list and the item URL shapes.
pub fn item_url(data: &[u8]) {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    for policy in [ItemUrlPolicy::concur_only(), policy()] {
        if let Ok(checked) = policy.check(url) {
            assert_eq!(checked.scheme(), "https");
            assert!(checked.username().is_empty() && checked.password().is_none());
            let host = checked.host_str().expect("an allowed url has a host");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            assert!(
                host.ends_with(".concursolutions.com") || policy.lists_host(host),
                "{host} passed"
            );
            assert!(
                policy.check(checked.as_str()).is_ok(),
                "a checked url stays allowed"
            );
        }
    }
    if let Some(item) = ItemRef::parse(url) {
        let _ = (item.api(), item.kind(), item.report_id());
    }
}

// The client's parsers have their entry points in the client crate.
pub use concur_client::fuzzing::{
    error_body, item_v3_json, item_v4_json, item_v11_xml, token_response,
};

/// The `Authorization: Basic` header of the test-connection route.
pub fn basic_auth(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    if let Some((user, _password)) = crate::routes::basic_auth::basic_credentials(&headers) {
        assert!(!user.contains(':'), "the user name ends at the first colon");
    }
}

/// The values CSV loader.
pub fn values_csv(data: &[u8]) {
    if let Ok(entries) = crate::values::parse_csv(data) {
        for entry in entries.iter() {
            assert!(!entry.choice.code.is_empty(), "an accepted row has a code");
        }
    }
}

/// The Fetch List request reader and the response renderer: an accepted request never asks
/// for more than the system limit, and an answer echoing its parents and query parses back.
pub fn fetch_list_request(data: &[u8]) {
    use concur_protocol::callout::fetch_list::{
        FetchListRequest, ListItem, MAX_ITEMS, item_code, render_response,
    };
    let Ok(root) = concur_protocol::callout::xml::parse(data) else {
        return;
    };
    let Ok(request) = FetchListRequest::from_element(&root) else {
        return;
    };
    assert!(request.limit <= MAX_ITEMS, "at most the system limit");
    assert!(
        request
            .parents
            .iter()
            .all(|p| !p.is_empty() && !p.contains('-'))
    );
    let term = request.query.term();
    let item = ListItem {
        short_code: "X".to_owned(),
        text: term.to_owned(),
        match_value: term.to_owned(),
    };
    let long_code = request.long_code();
    let answer = render_response(&long_code, std::slice::from_ref(&item));
    let parsed = concur_protocol::callout::xml::parse(answer.as_bytes())
        .expect("the rendered answer is one safe document");
    let code = parsed.child("item").and_then(|i| i.child_text("code"));
    assert_eq!(code, Some(item_code(&long_code, "X").as_str()));
}

/// The Fetch Attendee request reader, then the answer built from what it read: the answer
/// always parses back, with every element in order and within its limit.
pub fn attendee_request(data: &[u8]) {
    use concur_protocol::callout::attendee::{self, Attendee, AttendeeSearch, FIELDS};
    use concur_protocol::callout::xml;
    let Ok(root) = xml::parse(data) else {
        return;
    };
    let Ok(search) = AttendeeSearch::from_element(&root) else {
        return;
    };
    assert!((1..=attendee::MAX_RECORDS).contains(&search.max_records));
    let mut record = Attendee::default();
    for (name, value) in FIELDS.iter().zip(&search.fields) {
        record.set(name, value.as_str());
    }
    let complete = record.missing_required().is_none();
    let answer = attendee::render_response(&[search.complete(record)]);
    let parsed = xml::parse(answer.as_bytes()).expect("the answer is well-formed");
    assert_eq!(parsed.children.len(), usize::from(complete));
    for element in &parsed.children {
        let names: Vec<&str> = element.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, FIELDS, "every element, in order");
        for (i, value) in element.children.iter().enumerate() {
            assert!(value.text.chars().count() <= attendee::max_chars(i));
        }
    }
}

/// The Event Notification body and the failed-notification lists (XML and JSON).
pub fn notification(data: &[u8]) {
    use concur_protocol::callout::notification::{
        Notification, parse_failed_list_json, parse_failed_list_xml,
    };
    if let Ok(n) = Notification::parse(data) {
        assert!(
            !n.object_uri.is_empty(),
            "an accepted notification has an ObjectURI"
        );
        assert_eq!(
            Notification::parse(n.render().as_bytes()).as_ref(),
            Ok(&n),
            "a notification renders to a body that reads back the same"
        );
    }
    for entries in [parse_failed_list_xml(data), parse_failed_list_json(data)]
        .into_iter()
        .flatten()
    {
        for failed in entries.into_iter().flatten() {
            assert!(!failed.notification_uri.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fetch_list_seeds_and_hostile_inputs_hold_the_target_s_invariants() {
        let seeds = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/seeds/fetch_list_request"
        ))
        .unwrap();
        let mut count = 0;
        for seed in seeds {
            super::fetch_list_request(&std::fs::read(seed.unwrap().path()).unwrap());
            count += 1;
        }
        assert_eq!(count, 2, "Concur's two example requests");
        for input in [
            &b"<fetch-list-request><long-code>-A--B-</long-code><query>]]&gt;&amp;</query></fetch-list-request>"[..],
            b"<fetch-list-request><code-by-level><level1>A-B</level1><level2> </level2></code-by-level></fetch-list-request>",
            b"<fetch-list-request><query>\x01</query></fetch-list-request>",
        ] {
            super::fetch_list_request(input);
        }
    }

    #[test]
    fn the_attendee_request_seeds_pass_the_target() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/attendee_request");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            super::attendee_request(&std::fs::read(entry.unwrap().path()).unwrap());
            seen += 1;
        }
        assert!(seen >= 2, "{seen} seeds");
    }

    #[test]
    fn signed_launches_of_either_products_items_hold_the_target_s_invariants() {
        // Flag bit 1: the item URL is a path on a Concur host; bits 6-7 = 1: ENTRY. Each
        // input is signed under both products' names, so one of the two readings meets an
        // item of the other product.
        for item in [
            "travelrequest/v4/expenses/A1F3C5E7092B4D6F8A0C2E4B6D8F0A13",
            "expensereports/v4/reports/R1/expenses/E1",
            "unknown/v9/things/T1",
        ] {
            let fields = [
                item,
                "acmecorp.com",
                "32c2fcc3-b2e8-4907-9672-5b3f49b1c643",
                "32c2fcc3-b2e8-4907-9672-5b3f49b1c643",
                "E 1+2",
                "nonce",
                "custom1",
                "",
                "",
                "fr-FR",
            ]
            .join("\n");
            for flags in [0b0100_0010u8, 0b0100_0011] {
                let mut data = vec![flags];
                data.extend_from_slice(fields.as_bytes());
                super::launch_signed(&data);
            }
        }
    }

    #[test]
    fn the_launch_seeds_are_genuine_v4_launches_of_both_products() {
        use super::{V4_PASS, V4_USER, creds, launch, policy};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/launch_verify");
        let mut products = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            super::launch_verify(text.as_bytes());
            let raw = text
                .split_once('?')
                .map_or(text.as_str(), |(_, query)| query);
            if let Ok(verified) = launch::verify_v4(raw, &creds(V4_USER, V4_PASS), &policy()) {
                products.push(verified.product());
            }
        }
        for product in [launch::Product::Expense, launch::Product::Request] {
            assert!(products.contains(&product), "{product:?}: {products:?}");
        }
    }
}
