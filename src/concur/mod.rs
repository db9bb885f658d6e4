//! The Concur web-services client: company and user tokens, reading the launched item,
//! writing a field back (protocol §6.3, §8, §9, §10).
//!
//! [`ConcurSettings`](crate::concur::ConcurSettings) is the `[concur]` config table;
//! [`validate`](crate::concur::ConcurSettings::validate) yields a
//! [`ClientConfig`](crate::concur::ClientConfig), from which
//! [`ConcurClient::new`](crate::concur::ConcurClient::new) builds the one client of the process.

mod client;
mod error;
mod id_token;
mod item;
mod parse;
mod settings;
mod store;
mod token;
mod write;

pub use client::{ConcurClient, WriteOutcome};
pub use error::{ApiError, ConcurError, Failure, ValidationError};
pub use item::{CustomField, ExpenseItem, ItemApi, ItemRef, V4Report};
pub use settings::{
    ClientConfig, CompanyGrant, ConcurSettings, DEFAULT_AUTH_BASE_URL, DEFAULT_JWKS_URL,
};
pub use store::{
    CompanyCredentials, FileTokenStore, MemoryTokenStore, STATE_FILE_NAME, StoreError, StoreFuture,
    TokenStore,
};
pub use token::{GeolocationPolicy, UserToken};
pub use write::{FieldValue, MAX_VALUE_CHARS};

// For the fuzz targets (`crate::fuzzing`).
pub(crate) use parse::{Format, parse_item, xml_error};
pub(crate) use token::TokenResponse;
