//! concur-connector: an SAP Concur application connector for the Launch External URL callout.

/// Typed settings: defaults, TOML file, environment; validated once at start-up.
pub mod config;
/// The connector's registered user name and password.
pub mod credentials;
/// The Launch External URL protocol: parsing, verification and signing (pure).
pub mod launch;
/// A simulator of the SAP Concur services the connector uses (OAuth2, Expense v4/v3/v1.1).
pub mod sim;
