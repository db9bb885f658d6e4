//! concur-connector: an SAP Concur application connector for the Launch External URL callout.

/// The Concur web-services client: tokens, reading the launched item, writing a field.
pub mod concur;
/// Typed settings: defaults, TOML file, environment; validated once at start-up.
pub mod config;
/// The connector's registered user name and password.
pub mod credentials;
/// The Launch External URL protocol: parsing, verification and signing (pure).
pub mod launch;
