//! The owner lookup: Identity v4 `Users` filtered by login, with the company token, cached.

use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::{bearer_token, header, query_param};

use super::support::*;

const USERS_PATH: &str = "/profile/identity/v4/Users";

fn list_response(resources: serde_json::Value) -> ResponseTemplate {
    let total = resources.as_array().map_or(0, Vec::len);
    ResponseTemplate::new(200).set_body_json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "itemsPerPage": total,
        "startIndex": 1,
        "Resources": resources,
    }))
}

#[tokio::test]
async fn an_owner_is_found_by_login_once_and_then_cached() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(USERS_PATH)
        .and(bearer_token("company-access"))
        .and(header("accept", "application/json"))
        .and(query_param("filter", r#"userName eq "Jane.Doe@acme.com""#))
        .respond_with(list_response(json!([{
            "id": USER_ID,
            "userName": "jane.doe@acme.com",
            "preferredLanguage": "de-DE",
            "active": true,
        }])))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let user = client
        .user_by_login("Jane.Doe@acme.com")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(user.id, USER_ID);
    assert_eq!(user.user_name, "jane.doe@acme.com");
    assert_eq!(user.preferred_language.as_deref(), Some("de-DE"));
    // The second decision for the same owner (any spelling of the login) costs no call.
    let again = client.user_by_login("jane.doe@ACME.com").await.unwrap();
    assert_eq!(again, Some(user));

    let requests = h.server.received_requests().await.unwrap();
    let lookup = requests
        .iter()
        .find(|r| r.url.path() == USERS_PATH)
        .unwrap();
    assert_eq!(
        lookup.url.query(),
        Some("filter=userName%20eq%20%22Jane.Doe%40acme.com%22")
    );
}

#[tokio::test]
async fn owners_looked_up_at_the_same_time_share_one_call() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    // Slow enough that every caller asks before the first answer arrives.
    get(USERS_PATH)
        .respond_with(
            list_response(json!([{ "id": USER_ID, "userName": "jane.doe@acme.com" }]))
                .set_delay(std::time::Duration::from_millis(300)),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let login = "jane.doe@acme.com";
    let found = tokio::join!(
        client.user_by_login(login),
        client.user_by_login(login),
        client.user_by_login(login),
        client.user_by_login(login),
    );
    for user in [found.0, found.1, found.2, found.3] {
        assert_eq!(user.unwrap().expect("found").id, USER_ID);
    }
    let lookups = h.server.received_requests().await.unwrap();
    assert_eq!(
        lookups
            .iter()
            .filter(|r| r.url.path() == USERS_PATH)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_login_with_quotes_is_escaped_and_an_unknown_login_is_none() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(USERS_PATH)
        .and(query_param("filter", r#"userName eq "a\"b\\c""#))
        .respond_with(list_response(json!([])))
        .expect(2)
        .mount(&h.server)
        .await;
    let client = h.client();
    assert_eq!(client.user_by_login(r#"a"b\c"#).await.unwrap(), None);
    // Not found is not cached: the user may be created meanwhile.
    assert_eq!(client.user_by_login(r#"a"b\c"#).await.unwrap(), None);
}

#[tokio::test]
async fn a_server_ignoring_the_filter_does_not_hand_over_someone_else() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(USERS_PATH)
        .respond_with(list_response(json!([
            {"id": "other", "userName": "someone.else@acme.com"},
        ])))
        .mount(&h.server)
        .await;
    assert_eq!(
        h.client().user_by_login("jane@acme.com").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_failed_lookup_is_an_error_with_the_status() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(USERS_PATH)
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "403",
            "detail": "insufficient scope",
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let error = h.client().user_by_login("jane@acme.com").await.unwrap_err();
    assert_eq!(error.status(), Some(403));
}
