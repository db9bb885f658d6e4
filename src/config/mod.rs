//! Typed settings: embedded defaults, then the TOML file, then `CONCUR_CONNECTOR__*` env.

pub mod problem;
pub mod secret;

pub use problem::{ConfigProblem, Problems};
