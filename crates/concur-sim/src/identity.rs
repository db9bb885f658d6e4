//! Identity v4 (SCIM): `GET /profile/identity/v4/Users?filter=userName eq "<login>"`, the
//! lookup that turns a report owner's login (v1.1 `X_UserID`) into the UUID the v4 report
//! API needs (docs/protocol.md §12.6). Company token only; the only filter understood is an
//! exact `userName eq "…"` (with `\"` and `\\` escapes); anything else is a 400.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, Family};
use super::read::{self, ReadCall};
use super::record::Principal;
use super::seed::User;
use super::state::SimHandle;

const USERS_PATH: &str = "/profile/identity/v4/Users";

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new().route(USERS_PATH, get(list_users))
}

#[derive(Deserialize)]
struct UsersQuery {
    filter: Option<String>,
}

async fn list_users(
    State(sim): State<SimHandle>,
    Query(query): Query<UsersQuery>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, Family::Identity, &call, |data, principal| {
        if *principal != Principal::Company {
            return Err(ApiError::forbidden(
                Family::Identity,
                path,
                "this operation requires a company access token",
            ));
        }
        let login = query
            .filter
            .as_deref()
            .and_then(user_name_eq)
            .ok_or_else(|| {
                ApiError::bad_request(
                    Family::Identity,
                    path,
                    "invalidFilter: only userName eq \"<login>\" is supported",
                )
            })?;
        let found: Vec<Value> = data
            .users
            .iter()
            .filter(|u| u.login_id.eq_ignore_ascii_case(&login))
            .map(render_user)
            .collect();
        let mut response = axum::Json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": found.len(),
            "itemsPerPage": found.len(),
            "startIndex": 1,
            "Resources": found,
        }))
        .into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/scim+json"),
        );
        Ok(response)
    })
}

fn render_user(user: &User) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": user.id,
        "userName": user.login_id,
        "displayName": format!("{} {}", user.first_name, user.last_name),
        "name": { "givenName": user.first_name, "familyName": user.last_name },
        "active": true,
        "preferredLanguage": user.language.as_deref().unwrap_or("en"),
    })
}

/// The value of `userName eq "<value>"` (attribute and operator in any case), unescaped;
/// `None` for any other filter.
fn user_name_eq(filter: &str) -> Option<String> {
    let filter = filter.trim();
    let (attribute, rest) = filter.split_once(char::is_whitespace)?;
    let (operator, value) = rest.trim_start().split_once(char::is_whitespace)?;
    if !attribute.eq_ignore_ascii_case("userName") || !operator.eq_ignore_ascii_case("eq") {
        return None;
    }
    let quoted = value.trim().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                e @ ('"' | '\\') => out.push(e),
                _ => return None,
            },
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exact_user_name_filter_is_understood() {
        assert_eq!(
            user_name_eq(r#"userName eq "jane@acme.com""#).as_deref(),
            Some("jane@acme.com")
        );
        assert_eq!(
            user_name_eq(r#"USERNAME EQ "a\"b\\c""#).as_deref(),
            Some(r#"a"b\c"#)
        );
        for bad in [
            r#"userName co "jane""#,
            r#"emails eq "jane""#,
            r#"userName eq "jane"#,
            r#"userName eq "ja"ne""#,
            r#"userName eq "a\nb""#,
            "userName eq jane",
            "",
        ] {
            assert_eq!(user_name_eq(bad), None, "{bad}");
        }
    }
}
