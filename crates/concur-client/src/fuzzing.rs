//! Entry points for the fuzz targets in `fuzz/` (not an API): the client's parsers, with the
//! checks any of their results must pass.

use std::time::Instant;

use reqwest::Url;

use crate::error::ApiError;
use crate::item::ItemRef;
use crate::parse::{Format, parse_item, xml_error};
use crate::token::{GeolocationPolicy, TokenResponse};

fn item_ref(url: &str) -> ItemRef {
    ItemRef::parse(url).expect("a recognised item url")
}

/// The v1.1 expense entry XML reader (and the v1.1 XML error body).
pub fn item_v11_xml(data: &[u8]) {
    let location = item_ref(
        "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/R1/entry/E1",
    );
    let _ = Format::detect(None, data);
    let _ = parse_item(&location, Format::Xml, data);
    let _ = xml_error(data);
}

/// The v3 expense entry JSON reader.
pub fn item_v3_json(data: &[u8]) {
    let location = item_ref("https://us.api.concursolutions.com/api/v3.0/expense/entries/E1");
    let _ = parse_item(&location, Format::Json, data);
}

/// The v4 expense, report and allocation JSON readers, and the Travel Request header,
/// expected expense and allocation readers; the first byte picks which.
pub fn item_v4_json(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let base = "https://us2.api.concursolutions.com/expensereports/v4/users/U1/context/TRAVELER/reports/R1";
    let request = "https://us2.api.concursolutions.com/travelrequest/v4";
    let location = match which % 6 {
        0 => item_ref(base),
        1 => item_ref(&format!("{base}/expenses/E1")),
        2 => item_ref(&format!("{base}/allocations/A1")),
        3 => item_ref(&format!("{request}/requests/Q1")),
        4 => item_ref(&format!("{request}/expenses/X1")),
        _ => item_ref(&format!("{request}/requests/Q1/allocations/A1")),
    };
    let _ = parse_item(&location, Format::Json, body);
}

/// The OAuth2 token response, read and turned into expiry times as the client does.
pub fn token_response(data: &[u8]) {
    let Ok(response) = serde_json::from_slice::<TokenResponse>(data) else {
        return;
    };
    // As the client computes a user token's expiry and a company token's renewal time.
    let lifetime = response.lifetime();
    let now = Instant::now();
    let _ = now + lifetime;
    let _ = now + lifetime - (lifetime / 2);
    let _ = response.refresh_expires_at();
    // Only https on a Concur host (or a listed one) may come back as the API base.
    let policy = GeolocationPolicy::new(["sim.localhost:8443"], crate::config::Mode::Production);
    if let Ok(Some(url)) = response.geolocation_url(&policy) {
        assert_eq!(url.scheme(), "https");
        assert!(Url::parse(url.as_str()).is_ok());
    }
}

/// Concur's error bodies: OAuth, v4 and v3 JSON shapes and the v1.1 XML `Error`.
pub fn error_body(data: &[u8]) {
    let error = ApiError::from_body("fuzz", 400, data);
    let _ = error.user_message();
}
