//! The hostile bodies every server-to-server callout must refuse with a 4xx (the shared
//! callout rules: one safe, well-formed XML document, bounded in size and depth), built
//! around each callout's own root so that only the hostile part differs.

use std::path::Path;

use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, TestApp, USERNAME};

/// Text a hostile body's entity would expand to, or read from the file: never to be seen
/// in an answer or a log line.
pub const SECRET: &str = "local-file-secret-content";

/// One hostile body, its content type and the status it must get.
pub struct Hostile {
    pub what: &'static str,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub status: StatusCode,
}

impl Hostile {
    /// Posts the body to `path` with the connector's credentials and its content type: the
    /// answer's status and text.
    pub async fn post(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let response = app
            .client
            .post(app.url(path))
            .basic_auth(USERNAME, Some(PASSWORD))
            .header(header::CONTENT_TYPE, self.content_type)
            .body(self.body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }
}

/// The bodies, each `wrap(value)` (a well-formed request with `value` where a text field
/// goes) made hostile. Writes [`SECRET`] into a file under `dir` for the external entity.
pub fn hostile_bodies(dir: &Path, wrap: impl Fn(&str) -> String) -> Vec<Hostile> {
    let secret_file = dir.join("secret.txt");
    std::fs::write(&secret_file, SECRET).unwrap();
    let external = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file://{}\">]>{}",
        secret_file.display(),
        wrap("&x;")
    );
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\">\
         <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\
         <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>{}",
        wrap("&d;")
    );
    let deep = wrap(&format!("{}{}", "<x>".repeat(40), "</x>".repeat(40)));
    let whole = wrap("");
    let malformed = whole[..whole.len() - 2].to_owned();
    let marked = wrap("\u{1}");
    let (head, tail) = marked.split_once('\u{1}').unwrap();
    let not_utf8 = [head.as_bytes(), b"\xff\xfe", tail.as_bytes()].concat();
    let too_big = wrap(&"a".repeat(2 * 1024 * 1024));
    let xml = "application/xml";
    let bad = StatusCode::BAD_REQUEST;
    let case = |what, body: Vec<u8>, content_type, status| Hostile {
        what,
        body,
        content_type,
        status,
    };
    vec![
        case("malformed", malformed.into_bytes(), xml, bad),
        case("entity expansion", laughs.into_bytes(), xml, bad),
        case("external entity", external.into_bytes(), xml, bad),
        case("too deep", deep.into_bytes(), xml, bad),
        case("not utf-8", not_utf8, xml, bad),
        case(
            "json",
            b"{\"query\": \"*\"}".to_vec(),
            "application/json",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        case(
            "2 MB",
            too_big.into_bytes(),
            xml,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ]
}
