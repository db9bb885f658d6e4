//! Identity v4: the owner lookup by login the connector's worker makes.

use super::*;

const USERS: &str = "/profile/identity/v4/Users";

fn users_url(ctx: &Ctx, filter: &str) -> String {
    let mut url = Url::parse(&ctx.url(USERS)).unwrap();
    url.query_pairs_mut().append_pair("filter", filter);
    url.to_string()
}

#[tokio::test]
async fn users_are_found_by_login_with_the_company_token() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let body = ctx
        .get_json(
            &users_url(&ctx, r#"userName eq "MAX.Mustermann@acmecorp.com""#),
            &company,
        )
        .await;
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(body["totalResults"], 1);
    let user = &body["Resources"][0];
    assert_eq!(user["id"], MAX);
    assert_eq!(user["userName"], "max.mustermann@acmecorp.com");
    assert_eq!(user["preferredLanguage"], "de");

    let none = ctx
        .get_json(
            &users_url(&ctx, r#"userName eq "nobody@acmecorp.com""#),
            &company,
        )
        .await;
    assert_eq!(none["totalResults"], 0);
    assert_eq!(none["Resources"], json!([]));
}

#[tokio::test]
async fn other_filters_and_user_tokens_are_refused() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    for filter in [
        r#"userName co "max""#,
        "userName eq max",
        r#"emails eq "x""#,
    ] {
        let response = ctx.get(&users_url(&ctx, filter), &company).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{filter}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(error["status"], "400");
    }
    let missing = ctx.get(&ctx.url(USERS), &company).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    let (user, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Header, REPORT))
        .await;
    let response = ctx
        .get(
            &users_url(&ctx, r#"userName eq "jane.doe@acmecorp.com""#),
            &user,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let anonymous = ctx
        .http
        .get(users_url(&ctx, r#"userName eq "x""#))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
