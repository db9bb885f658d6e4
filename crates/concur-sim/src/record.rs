//! What the simulator remembers about the calls it served: every write in full, every call in brief.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Who an access token was issued to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// Company token (password grant with `credtype=authtoken`, or its refresh).
    Company,
    /// User token (authorization-code grant of a launch, or its refresh).
    User { user_id: String },
    /// Application token (client-credentials grant): no access to expense data.
    App,
}

/// Which documented write a recorded call was aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteApi {
    /// `PATCH /expensereports/v4/reports/{reportId}/expenses/{expenseId}` (compact schema).
    V4Expense,
    /// `PATCH /expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}`.
    V4Report,
    /// `PATCH /expensereports/v4/reports/{reportId}` (submitted header, company token).
    V4SubmittedReport,
    /// `PATCH /expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}/allocations/{allocationId}`.
    V4Allocation,
    /// `PUT /api/v3.0/expense/entries/{id}`.
    V3Entry,
    /// `PATCH /expensereports/v4/reports/{reportId}/approve`.
    V4Approve,
    /// `PATCH /expensereports/v4/reports/{reportId}/sendBack`.
    V4SendBack,
    /// `PUT /travelrequest/v4/requests/{requestUuid}` (request header).
    RequestHeader,
    /// `PUT /travelrequest/v4/expenses/{expenseUuid}` (expected expense).
    RequestExpense,
    /// `PUT /travelrequest/v4/requests/{requestUuid}/allocations/{allocationUuid}`.
    RequestAllocation,
}

/// One write attempt that reached a write endpoint, accepted or refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedWrite {
    /// Position among all recorded calls (shared counter with [`RecordedRequest::seq`]).
    pub seq: u64,
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    pub api: WriteApi,
    pub method: String,
    /// The request path exactly as received (still percent-encoded).
    pub path: String,
    /// `None` when the token was missing or not valid.
    pub principal: Option<Principal>,
    /// Every `Content-Type` header value, in order (docs/protocol.md T23: there must be one).
    pub content_types: Vec<String>,
    /// The body parsed as JSON; `None` when it was not JSON.
    pub body: Option<serde_json::Value>,
    /// The body as received (lossy UTF-8).
    pub raw_body: String,
    /// The status the simulator answered.
    pub status: u16,
    /// The `concur-correlationid` the simulator answered with.
    pub correlation_id: String,
}

impl RecordedWrite {
    /// Whether the simulator accepted and applied the write.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One call to the Concur surface (token endpoint, JWKS, v4, v3, v1.1), including injected faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub seq: u64,
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    pub method: String,
    /// The request path exactly as received (still percent-encoded).
    pub path: String,
    pub status: u16,
    /// Who the call was authenticated as, when it carried a valid token.
    pub principal: Option<Principal>,
    /// The `grant_type` of a token request.
    pub grant_type: Option<String>,
    /// Whether the answer came from a fault knob instead of the simulated service.
    pub injected: bool,
    /// The caller's `concur-correlationid` request header, if it sent one.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The host the call was addressed to (`host:port` of the `Host` header or the
    /// request's authority): several names of the simulator play several Concur hosts.
    #[serde(default)]
    pub host: Option<String>,
}

/// What the request said about its caller, for the request log.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    /// The `concur-correlationid` request header.
    pub correlation_id: Option<String>,
    /// `host:port` the request was addressed to.
    pub host: Option<String>,
}

/// Facts a handler attaches to its response for the request log.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestNote {
    pub principal: Option<Principal>,
    pub grant_type: Option<String>,
}

/// One delivery attempt of a notification to the connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationDelivery {
    pub report_id: String,
    /// Where it was sent; `None` when no notify URL is configured.
    pub url: Option<String>,
    /// The body as sent.
    pub body: String,
    /// The connector's status; `None` when dropped, unconfigured or not answered.
    pub status: Option<u16>,
    /// `delivered` (200), `failed` (any other answer or none), `dropped` (fault knob
    /// `drop_notifications_next`), `concur_down` (not sent during the `down_for_secs`
    /// outage), or `not_configured`.
    pub outcome: String,
    /// Why a delivery failed (transport error).
    pub error: Option<String>,
}

/// A notification Concur could not deliver, as the status API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailedEntry {
    pub id: String,
    pub notification: concur_protocol::callout::notification::Notification,
}
