//! concur-client: the client of SAP Concur's web services: company and user tokens, reading
//! the launched item, writing a field back.
//!
//! A [`ClientConfig`] (validated settings in domain types) builds the one
//! [`ConcurClient`] of a process.

/// Answers' bodies read under a ceiling.
pub mod body;
mod client;
mod config;
mod error;
/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing;
mod id_token;
mod identity;
mod item;
/// Correlation ids on outgoing calls, and the observer of calls and token grants.
pub mod observe;
mod parse;
mod retry;
mod store;
mod token;
mod user;
mod workflow;
mod write;

pub use client::{ConcurClient, MAX_RESPONSE_BYTES, WriteOutcome};
pub use config::{ClientConfig, CompanyGrant, DEFAULT_AUTH_BASE_URL, DEFAULT_JWKS_URL, Mode};
pub use error::{ApiError, ConcurError, Failure, ValidationError};
pub use item::{CustomField, ExpenseItem, ItemApi, ItemRef, V4Report};
pub use store::{
    CompanyCredentials, FencedSave, FileTokenStore, MemoryTokenStore, RefreshLock, STATE_FILE_NAME,
    SharedAccess, SharedState, SharedTokenStore, StoreError, StoreFuture, TokenStore,
};
pub use token::{GeolocationPolicy, UserToken};
pub use user::ConcurUser;
pub use workflow::{
    ExpenseV4, MAX_COMMENT_CHARS, ReportApproveRequest, ReportDetails, ReportSendBackRequest,
    ReportV4, cut_chars,
};
pub use write::{FieldValue, MAX_VALUE_CHARS};
