//! The command line: `serve`, `check-config` and the admin tools.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Origin;

#[derive(Debug, Parser)]
#[command(
    name = "concur-connector",
    version,
    about = "SAP Concur application connector for the Launch External URL callout"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server (without --config: development mode on https://localhost:8443).
    Serve(ConfigArg),
    /// Validate the configuration, print the effective settings with secrets redacted.
    CheckConfig(ConfigArg),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// TOML configuration file; without it, the embedded development profile is used.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        env = "CONCUR_CONNECTOR_CONFIG"
    )]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn origin(&self) -> Origin {
        match &self.config {
            Some(path) => Origin::File(path.clone()),
            None => Origin::Embedded,
        }
    }
}
