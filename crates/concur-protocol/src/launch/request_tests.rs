//! Concur Request launches through `verify_v4` and `diagnose_v4`, with the vectors of
//! docs/protocol.md §14.5 and §14.6.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use super::sign::{Encoding, V4Launch, v4_query};
use super::vectors::*;
use super::{
    ErrorClass, ItemUrlPolicy, LaunchContext, LaunchError, Product, Source, VerifiedLaunch,
    WrongReading, diagnose_v4, verify_v4,
};

fn v4(query: &str) -> Result<VerifiedLaunch, LaunchError> {
    verify_v4(query, &ex2_creds(), &ItemUrlPolicy::concur_only())
}

fn signed(launch: &V4Launch) -> String {
    v4_query(launch, &ex2_creds(), Encoding::Rfc3986)
}

/// Example 4 with the employee id under its documented name instead of the misspelling.
fn ex4_canonical() -> String {
    renamed(
        query(EX4_URL),
        "repquest_owner_employee_id",
        "request_owner_employee_id",
    )
}

#[test]
fn accepts_example_4_request_header_sent_with_the_misspelt_employee_id() {
    let launch = v4(query(EX4_URL)).unwrap();
    assert_eq!(launch.product(), Product::Request);
    assert_eq!(launch.company_domain(), "acmecorp.com");
    assert_eq!(launch.user_id(), EX2_USER_ID);
    assert_eq!(launch.report_owner_user_id(), Some(EX2_USER_ID));
    assert_eq!(launch.report_owner_employee_id(), Some("E12345"));
    assert_eq!(launch.item_url().as_str(), EX4_ITEM_URL);
    assert_eq!(launch.nonce(), EX4_NONCE);
    assert_eq!(launch.source(), Source::Header);
    assert_eq!(launch.custom_field_launched_from(), Some("custom1"));
    assert_eq!(launch.language(), "fr-FR");
    assert_eq!(
        launch.client_auth_code().map(|c| c.expose_secret()),
        Some(EX4_AUTH_CODE)
    );
    assert_eq!(launch.context().product, Product::Request);
}

#[test]
fn accepts_the_request_owner_employee_id_under_either_spelling_as_one_launch() {
    let misspelt = v4(query(EX4_URL)).unwrap();
    let documented = v4(&ex4_canonical()).unwrap();
    assert_eq!(documented.report_owner_employee_id(), Some("E12345"));
    assert_eq!(documented.context(), misspelt.context());
    // One signed launch, one use, whichever spelling carried it.
    assert_eq!(documented.replay_key(), misspelt.replay_key());
}

#[test]
fn accepts_example_5_request_allocation_by_a_delegate_with_request_ids() {
    let launch = v4(query(EX5_URL)).unwrap();
    assert_eq!(launch.product(), Product::Request);
    assert_eq!(launch.user_id(), EX3_DELEGATE_ID);
    assert_eq!(launch.report_owner_user_id(), Some(EX2_USER_ID));
    assert_eq!(launch.report_owner_employee_id(), Some(EX3_EMPLOYEE_ID));
    assert_eq!(launch.item_url().as_str(), EX5_ITEM_URL);
    assert_eq!(launch.source(), Source::Allocation);
    assert_eq!(launch.expense_ids(), [EX5_REQUEST_ID]);
    assert!(launch.is_mobile());
    // An Expense launch's `expense_ids` is not a Request parameter.
    let expense_name = renamed(query(EX5_URL), "request_ids", "expense_ids");
    assert!(v4(&expense_name).unwrap().expense_ids().is_empty());
}

#[test]
fn infers_the_source_of_a_request_launch_from_its_item_url() {
    assert_eq!(
        v4(&without(query(EX4_URL), "source")).unwrap().source(),
        Source::Header
    );
    assert_eq!(
        v4(&without(query(EX5_URL), "source")).unwrap().source(),
        Source::Allocation
    );
    let mut entry = ex4_launch();
    entry.item_url = "https://us2.api.concursolutions.com/travelrequest/v4/expenses/A1F3C5E7092B4D6F8A0C2E4B6D8F0A13".into();
    assert_eq!(
        v4(&without(&signed(&entry), "source")).unwrap().source(),
        Source::Entry
    );
}

#[test]
fn refuses_both_spellings_of_the_request_owner_employee_id_at_once() {
    let both = LaunchError::BothSpellings {
        name: "request_owner_employee_id",
        alias: "repquest_owner_employee_id",
    };
    for extra in [
        "request_owner_employee_id=E12345",
        "request_owner_employee_id=",
        "REQUEST_OWNER_EMPLOYEE_ID=E12345",
    ] {
        let q = format!("{}&{extra}", query(EX4_URL));
        assert_eq!(v4(&q).unwrap_err(), both, "{extra}");
    }
    assert_eq!(both.class(), ErrorClass::Malformed);
    // The alias twice is a duplicate like any other.
    let twice = format!("{}&repquest_owner_employee_id=E12345", query(EX4_URL));
    assert_eq!(
        v4(&twice).unwrap_err(),
        LaunchError::DuplicateParameter("repquest_owner_employee_id")
    );
}

#[test]
fn refuses_a_query_mixing_the_owner_names_of_both_products() {
    let cases = [
        format!("{}&report_owner_user_id={EX2_USER_ID}", query(EX4_URL)),
        format!("{}&report_owner_employee_id=E12345", ex4_canonical()),
        format!("{}&request_owner_user_id={EX2_USER_ID}", query(EX2_URL)),
        format!("{}&repquest_owner_employee_id=E12345", query(EX2_URL)),
        // Empty values count: the name alone says which set was meant.
        format!("{}&request_owner_employee_id=", query(EX2_URL)),
    ];
    for q in cases {
        let err = v4(&q).unwrap_err();
        assert_eq!(err, LaunchError::MixedOwnerFamilies, "{q}");
        assert_eq!(err.class(), ErrorClass::Malformed);
    }
}

#[test]
fn refuses_a_query_naming_neither_products_owner() {
    let neither = without(
        &without(query(EX2_URL), "report_owner_user_id"),
        "report_owner_employee_id",
    );
    assert_eq!(v4(&neither).unwrap_err(), LaunchError::NoOwnerFamily);
    assert_eq!(LaunchError::NoOwnerFamily.class(), ErrorClass::Malformed);
    // One of a product's owner names is enough to pick it; the other is then missing.
    assert_eq!(
        v4(&without(query(EX4_URL), "request_owner_user_id")).unwrap_err(),
        LaunchError::MissingParameter("request_owner_user_id")
    );
    assert_eq!(
        v4(&without(query(EX4_URL), "repquest_owner_employee_id")).unwrap_err(),
        LaunchError::MissingParameter("request_owner_employee_id")
    );
}

#[test]
fn refuses_a_tampered_value_in_each_signed_position_of_a_request_launch() {
    let cases = [
        ("company_domain", "acmecorp.org"),
        ("logged_in_user_id", EX3_DELEGATE_ID),
        (
            "request_owner_user_id",
            "32c2fcc3-b2e8-4907-9672-5b3f49b1c644",
        ),
        ("repquest_owner_employee_id", "E12346"),
        (
            "item_url",
            "https%3A%2F%2Fus2.api.concursolutions.com%2Ftravelrequest%2Fv4%2Frequests%2FE82B0B803671004B9A5D952F34FBD01F",
        ),
        ("nonce", "6a0d3c2e-8f1b-4d7a-9c5e-000000000005"),
    ];
    for (name, value) in cases {
        let err = v4(&with_raw(query(EX4_URL), name, value)).unwrap_err();
        assert_eq!(err, LaunchError::SignatureMismatch, "{name}");
    }
}

#[test]
fn checks_the_request_owner_user_id_is_a_uuid() {
    let mut launch = ex4_launch();
    launch.report_owner_user_id = "jane.doe@acmecorp.com".into();
    assert_eq!(
        v4(&signed(&launch)).unwrap_err(),
        LaunchError::InvalidSignedValue {
            name: "request_owner_user_id",
            reason: "must be a UUID (8-4-4-4-12 hexadecimal digits)"
        }
    );
}

#[test]
fn names_request_ids_when_they_are_malformed() {
    match v4(&with_raw(query(EX5_URL), "request_ids", "a%3Bb")) {
        Err(LaunchError::InvalidParameter { name, .. }) => assert_eq!(name, "request_ids"),
        other => panic!("{other:?}"),
    }
}

/// The MAC covers the values, not the names: renaming an Expense launch's owner
/// parameters to the Request names (or back) keeps the signature valid. The signed item
/// URL then decides: one recognisably of the other product is refused, so a launch can only
/// ever be verified as the product its item belongs to.
#[test]
fn an_expense_launch_renamed_as_a_request_is_refused_by_its_item_url() {
    let as_request = renamed(
        &renamed(
            query(EX2_URL),
            "report_owner_user_id",
            "request_owner_user_id",
        ),
        "report_owner_employee_id",
        "request_owner_employee_id",
    );
    let err = v4(&as_request).unwrap_err();
    assert_eq!(
        err,
        LaunchError::ItemOfOtherProduct {
            launched: Product::Request,
            item: Product::Expense
        }
    );
    assert_eq!(err.class(), ErrorClass::Malformed);
    let as_expense = renamed(
        &renamed(
            &ex4_canonical(),
            "request_owner_user_id",
            "report_owner_user_id",
        ),
        "request_owner_employee_id",
        "report_owner_employee_id",
    );
    assert_eq!(
        v4(&as_expense).unwrap_err(),
        LaunchError::ItemOfOtherProduct {
            launched: Product::Expense,
            item: Product::Request
        }
    );
}

#[test]
fn a_renamed_launch_whose_item_is_of_no_known_shape_keeps_its_one_replay_key() {
    // Neither product's item: the names are all there is, and the launch verifies under
    // both; the replay key is the MAC, so it is still one launch with one use.
    let mut launch = ex4_launch();
    launch.item_url = "https://us2.api.concursolutions.com/unknown/v9/things/T1".into();
    let request = v4(&signed(&launch)).unwrap();
    launch.product = Product::Expense;
    let expense = v4(&signed(&launch)).unwrap();
    assert_eq!(request.product(), Product::Request);
    assert_eq!(expense.product(), Product::Expense);
    assert_eq!(request.replay_key(), expense.replay_key());
}

#[test]
fn the_context_carries_the_product_and_old_sessions_read_as_expense() {
    let context = v4(query(EX5_URL)).unwrap().context();
    let json = serde_json::to_value(&context).unwrap();
    assert_eq!(json["product"], "request");
    let back: LaunchContext = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, context);
    let mut old = json;
    old.as_object_mut().unwrap().remove("product");
    let old: LaunchContext = serde_json::from_value(old).unwrap();
    assert_eq!(old.product, Product::Expense);
    assert!(format!("{context:?}").contains("Request"));
}

#[test]
fn diagnoses_wrong_readings_of_a_request_launch() {
    let tag = STANDARD.decode(EX4_SIGNATURE).unwrap();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let q = with_signature(query(EX4_URL), &hex);
    assert_eq!(v4(&q).unwrap_err().class(), ErrorClass::SignatureMismatch);
    assert_eq!(
        diagnose_v4(&q, &ex2_creds()),
        Some(WrongReading::SignatureInHex)
    );
    // The item URL signed still encoded, computed here from the documented message.
    let encoded_item = "https%3A%2F%2Fus2.api.concursolutions.com%2Ftravelrequest%2Fv4%2Frequests%2FE82B0B803671004B9A5D952F34FBD01E";
    let mut launch = ex4_launch();
    launch.item_url = encoded_item.into();
    let wrong = super::sign::sign_v4(&launch, &ex2_creds());
    let q = with_signature(query(EX4_URL), &wrong);
    assert_eq!(
        diagnose_v4(&q, &ex2_creds()),
        Some(WrongReading::ItemUrlLeftEncoded)
    );
    assert_eq!(diagnose_v4(query(EX4_URL), &ex2_creds()), None);
    assert_eq!(diagnose_v4(query(EX5_URL), &ex2_creds()), None);
}
