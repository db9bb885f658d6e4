//! The report owner's identity (docs/protocol.md §12.6): v1.1 report details name the owner
//! by login only, and the v4 report is addressed by the owner's UUID, so the worker looks
//! the login up in Identity v4 (SCIM) with the company token.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Deserialize;

use super::client::{Auth, Call, ConcurClient, RetryClass, Target};
use super::error::ConcurError;
use super::user::ConcurUser;

const USERS_OPERATION: &str = "/profile/identity/v4/Users";
/// Everything but RFC 3986's unreserved characters is percent-encoded in the query.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The SCIM `ListResponse` members read.
#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "Resources", default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    id: Option<String>,
    user_name: Option<String>,
    preferred_language: Option<String>,
}

/// A SCIM filter matching `login` exactly: `userName eq "<login>"`, with `"` and `\`
/// backslash-escaped inside the quoted value.
pub(crate) fn user_name_filter(login: &str) -> String {
    let mut filter = String::with_capacity(login.len() + 16);
    filter.push_str("userName eq \"");
    for c in login.chars() {
        if matches!(c, '"' | '\\') {
            filter.push('\\');
        }
        filter.push(c);
    }
    filter.push('"');
    filter
}

/// The path and query of the lookup, the filter percent-encoded.
pub(crate) fn users_query(login: &str) -> String {
    format!(
        "{USERS_OPERATION}?filter={}",
        utf8_percent_encode(&user_name_filter(login), QUERY_VALUE)
    )
}

impl ConcurClient {
    /// The user whose login is `login`: `GET {geo}/profile/identity/v4/Users?filter=userName
    /// eq "<login>"` with the company token (scope `identity.user.core.read`). `None` when
    /// Concur knows no such user. Found users are cached in memory (bounded, 15 minutes), so
    /// deciding many reports of one owner costs one lookup.
    #[tracing::instrument(name = "concur.user_by_login", skip_all)]
    pub async fn user_by_login(&self, login: &str) -> Result<Option<ConcurUser>, ConcurError> {
        let login = login.trim();
        let key = login.to_lowercase();
        // Workers deciding reports of one owner at the same time share one lookup; a
        // miss (no such user, or a failure) is not remembered.
        let ran = std::sync::atomic::AtomicBool::new(false);
        let failure = std::sync::Mutex::new(None);
        let found = self
            .user_cache()
            .0
            .optionally_get_with(key, async {
                ran.store(true, std::sync::atomic::Ordering::Relaxed);
                self.look_up_user(login).await.unwrap_or_else(|error| {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                    None
                })
            })
            .await;
        match found {
            Some(user) => Ok(Some(user)),
            None if ran.load(std::sync::atomic::Ordering::Relaxed) => {
                match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
                    Some(error) => Err(error),
                    None => Ok(None),
                }
            }
            // Another caller's lookup missed, for a reason it cannot hand over: ask alone.
            None => self.look_up_user(login).await,
        }
    }

    /// One Identity v4 lookup, uncached.
    async fn look_up_user(&self, login: &str) -> Result<Option<ConcurUser>, ConcurError> {
        let key = login.to_lowercase();
        let query = users_query(login);
        let reply = self
            .call(Call {
                operation: USERS_OPERATION,
                method: Method::GET,
                target: Target::OnGeolocation(&query),
                auth: Auth::Company,
                accept: "application/json",
                json: None,
                company_json: None,
                company_query: None,
                language: None,
                retry: RetryClass::Idempotent,
            })
            .await?;
        let list: ListResponse =
            serde_json::from_slice(&reply.body).map_err(|e| ConcurError::UnexpectedBody {
                operation: USERS_OPERATION,
                detail: e.to_string(),
            })?;
        // The filter is exact, but a server that ignores it must not hand us someone else.
        Ok(list.resources.into_iter().find_map(|r| {
            let user_name = r.user_name?;
            (user_name.to_lowercase() == key).then_some(ConcurUser {
                id: r.id.filter(|id| !id.trim().is_empty())?,
                user_name,
                preferred_language: r.preferred_language.filter(|l| !l.trim().is_empty()),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_value_is_quoted_and_escaped() {
        assert_eq!(
            user_name_filter("jane.doe@acme.com"),
            r#"userName eq "jane.doe@acme.com""#
        );
        assert_eq!(user_name_filter(r#"a"b\c"#), r#"userName eq "a\"b\\c""#);
    }

    #[test]
    fn the_whole_query_is_percent_encoded() {
        assert_eq!(
            users_query("jane+x@acme.com"),
            "/profile/identity/v4/Users?filter=userName%20eq%20%22jane%2Bx%40acme.com%22"
        );
        assert_eq!(
            users_query("a&b=\"c"),
            "/profile/identity/v4/Users?filter=userName%20eq%20%22a%26b%3D%5C%22c%22"
        );
    }
}
