//! Travel Request v4: the header, an expected expense and an allocation read and written
//! with `PUT`, bodies exactly as documented.

use concur_client::{ConcurError, ExpenseItem, FieldValue, ItemApi, UserToken};
use concur_protocol::launch::{Product, Source};
use serde_json::{Value, json};
use wiremock::matchers::{
    bearer_token, body_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, ResponseTemplate};

use super::support::*;

const REQUEST_ID: &str = "E82B0B803671004B9A5D952F34FBD01E";
const REQUEST_EXPENSE_ID: &str = "C286A46A2DDF984EA28E41CEA278667D";
const REQUEST_ALLOCATION_ID: &str = "79249903DC18464AAAD61062EA383BD4";

fn header_path() -> String {
    format!("/travelrequest/v4/requests/{REQUEST_ID}")
}

fn expense_path() -> String {
    format!("/travelrequest/v4/expenses/{REQUEST_EXPENSE_ID}")
}

fn allocation_path() -> String {
    format!("/travelrequest/v4/requests/{REQUEST_ID}/allocations/{REQUEST_ALLOCATION_ID}")
}

fn header_body() -> Value {
    json!({
        "id": REQUEST_ID,
        "name": "Customer visit Lyon",
        "startDate": "2026-03-02",
        "endDate": "2026-03-04",
        "owner": {"id": USER_ID, "firstName": "Jane", "lastName": "Doe"},
        "custom1": {"code": "", "value": "", "href": ""},
    })
}

fn expense_body() -> Value {
    json!({
        "id": REQUEST_EXPENSE_ID,
        "expenseType": {"id": "AIRFR", "name": "Airfare"},
        "transactionAmount": {"value": 324.56, "currency": "EUR"},
        "transactionDate": "2026-03-02T00:00:00.000Z",
        "parentRequest": {"id": REQUEST_ID},
        "custom2": {"code": "CC1", "value": "6A1E0000000000000000000000000000", "href": "https://h/list/v1/items/6A1E"},
    })
}

fn allocation_body() -> Value {
    json!([{
        "allocationId": REQUEST_ALLOCATION_ID,
        "expenseId": REQUEST_EXPENSE_ID,
        "allocationAmount": {"value": 324.56, "currency": "EUR"},
        "percentage": 100,
        "custom3": {"value": "old"},
    }])
}

async fn read(h: &Harness, at: &str, body: Value, user: Option<&UserToken>) -> ExpenseItem {
    get(at)
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.server)
        .await;
    h.client()
        .read_item(&h.url(at), user, Some("fr"))
        .await
        .expect("the travel request item reads")
}

#[tokio::test]
async fn a_request_header_is_read_with_the_user_token() {
    let h = Harness::start().await;
    let user = super::user_token(&h, "user-access").await;
    get(header_path())
        .and(bearer_token("user-access"))
        .and(header("accept", "application/json"))
        .and(header("accept-language", "fr"))
        .respond_with(ResponseTemplate::new(200).set_body_json(header_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let item = h
        .client()
        .read_item(&h.url(&header_path()), Some(&user), Some("fr"))
        .await
        .unwrap();

    assert_eq!(item.location.api(), ItemApi::Request);
    assert_eq!(item.location.product(), Product::Request);
    assert_eq!(item.kind, Source::Header);
    assert_eq!(item.report_id.as_deref(), Some(REQUEST_ID));
    assert_eq!(item.report_name.as_deref(), Some("Customer visit Lyon"));
    assert_eq!(item.start_date.as_deref(), Some("2026-03-02"));
    assert_eq!(item.end_date.as_deref(), Some("2026-03-04"));
    assert_eq!(item.owner.as_deref(), Some(USER_ID));
    assert!(item.field("custom1").is_some());
}

#[tokio::test]
async fn a_request_header_put_carries_only_the_field_and_200_with_a_body_is_success() {
    let h = Harness::start().await;
    let user = super::user_token(&h, "user-access").await;
    let item = read(&h, &header_path(), header_body(), Some(&user)).await;
    Mock::given(method("PUT"))
        .and(path(header_path()))
        .and(bearer_token("user-access"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "custom1": { "value": "PRJ-0042" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(header_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let outcome = h
        .client()
        .write_field(
            &item,
            "custom1",
            &FieldValue::Text("PRJ-0042".into()),
            Some(&user),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
}

#[tokio::test]
async fn an_expected_expense_put_with_the_company_token_names_the_owner() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let mut item = read(&h, &expense_path(), expense_body(), None).await;
    assert_eq!(item.kind, Source::Entry);
    assert_eq!(item.expense_type_code.as_deref(), Some("AIRFR"));
    assert_eq!(item.amount.as_deref(), Some("324.56"));
    assert_eq!(item.currency.as_deref(), Some("EUR"));
    assert_eq!(item.transaction_date.as_deref(), Some("2026-03-02"));
    assert_eq!(item.report_id.as_deref(), Some(REQUEST_ID));
    // The connector takes the owner from the signed launch.
    item.owner = Some(USER_ID.to_owned());
    Mock::given(method("PUT"))
        .and(path(expense_path()))
        .and(bearer_token("company-access"))
        .and(query_param("userId", USER_ID))
        .and(body_json(json!({
            "custom2": { "value": "058713001E2CD943824280D9275FDC3F" },
            "userId": USER_ID
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;

    let value = FieldValue::ListItem {
        item_id: Some("058713001E2CD943824280D9275FDC3F".into()),
        code: Some("CC-100".into()),
    };
    let outcome = h
        .client()
        .write_field(&item, "custom2", &value, None)
        .await
        .unwrap();
    assert_eq!(outcome.status, 204);
}

#[tokio::test]
async fn an_expected_expense_put_with_the_user_token_names_no_one() {
    let h = Harness::start().await;
    let user = super::user_token(&h, "user-access").await;
    let mut item = read(&h, &expense_path(), expense_body(), Some(&user)).await;
    item.owner = Some(USER_ID.to_owned());
    Mock::given(method("PUT"))
        .and(path(expense_path()))
        .and(bearer_token("user-access"))
        .and(query_param_is_missing("userId"))
        .and(body_json(json!({ "custom2": { "value": "F00D" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(expense_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let value = FieldValue::ListItem {
        item_id: Some("F00D".into()),
        code: None,
    };
    h.client()
        .write_field(&item, "custom2", &value, Some(&user))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_request_allocation_read_as_an_array_is_put_at_its_request() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read(&h, &allocation_path(), allocation_body(), None).await;
    assert_eq!(item.kind, Source::Allocation);
    assert_eq!(item.allocation_id.as_deref(), Some(REQUEST_ALLOCATION_ID));
    assert_eq!(item.field("custom3").unwrap().value.as_deref(), Some("old"));
    Mock::given(method("PUT"))
        .and(path(allocation_path()))
        .and(bearer_token("company-access"))
        .and(body_json(json!({ "custom3": { "value": "new" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(allocation_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    h.client()
        .write_field(&item, "custom3", &FieldValue::Text("new".into()), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_request_put_is_not_repeated_after_a_503() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read(&h, &header_path(), header_body(), None).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h
        .client()
        .write_field(&item, "custom1", &FieldValue::Text("x".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
}

#[tokio::test]
async fn a_request_put_is_repeated_after_a_429() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read(&h, &header_path(), header_body(), None).await;
    first_only(Mock::given(method("PUT")), ResponseTemplate::new(429))
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(header_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    h.client()
        .write_field(&item, "custom1", &FieldValue::Text("x".into()), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurs_refusal_of_a_request_put_keeps_its_details() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read(&h, &header_path(), header_body(), None).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorId": "invalidListItem",
            "errorMessage": "The list item is not valid for custom1",
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h
        .client()
        .write_field(&item, "custom1", &FieldValue::Text("x".into()), None)
        .await
        .unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.code.as_deref(), Some("invalidListItem"));
}

#[tokio::test]
async fn a_refused_user_token_repeats_the_expected_expense_put_with_the_owner() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let user = super::user_token(&h, "user-access").await;
    let mut item = read(&h, &expense_path(), expense_body(), Some(&user)).await;
    item.owner = Some(USER_ID.to_owned());
    Mock::given(method("PUT"))
        .and(bearer_token("user-access"))
        .and(query_param_is_missing("userId"))
        .and(body_json(json!({ "custom2": { "value": "F00D" } })))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(bearer_token("company-access"))
        .and(query_param("userId", USER_ID))
        .and(body_json(
            json!({ "custom2": { "value": "F00D" }, "userId": USER_ID }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(expense_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let value = FieldValue::ListItem {
        item_id: Some("F00D".into()),
        code: None,
    };
    h.client()
        .write_field(&item, "custom2", &value, Some(&user))
        .await
        .unwrap();
}
