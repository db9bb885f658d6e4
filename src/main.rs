//! Entry point: parse the command line, load settings, start telemetry, run.

use std::process::ExitCode;

use clap::Parser as _;
use concur_connector::cli::{Cli, Command, ConfigArg};
use concur_connector::config::{self, ConfigProblem, Settings};
use concur_connector::startup::{self, Application, StartupError};
use concur_connector::{telemetry, tls};

/// Exit status for an invalid configuration (as `check-config` documents).
const EXIT_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    tls::install_default_provider();
    match Cli::parse().command {
        Command::Serve(args) => serve(&args).await,
        Command::CheckConfig(args) => check_config(&args),
    }
}

async fn serve(args: &ConfigArg) -> ExitCode {
    let settings = match config::load(&args.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    telemetry::init(&settings.log, std::io::stdout);
    let banner = settings.development.then(|| development_banner(&settings));
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(StartupError::Config(problems)) => return report(&problems),
        Err(StartupError::Other(error)) => {
            tracing::error!("cannot start: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(banner) = banner {
        eprintln!("{banner}");
    }
    tracing::info!(address = %app.local_addr(), "listening");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("server failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(args: &ConfigArg) -> ExitCode {
    let settings = match config::load(&args.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    if let Err(problems) = startup::prepare_tls(&settings) {
        return report(&problems);
    }
    print!("{}", settings.redacted_toml());
    eprintln!("configuration is valid");
    ExitCode::SUCCESS
}

/// One line per problem on stderr, then exit status 2.
fn report(problems: &[ConfigProblem]) -> ExitCode {
    eprintln!("invalid configuration:");
    for problem in problems {
        eprintln!("  {problem}");
    }
    ExitCode::from(EXIT_CONFIG)
}

/// The development credentials are public (they are in the repository), so printing them
/// here is safe; production credentials never reach stdout or the logs.
fn development_banner(settings: &Settings) -> String {
    use secrecy::ExposeSecret as _;
    let user = settings.credentials.username();
    let password = settings.credentials.password().expose_secret();
    format!(
        "\n  DEVELOPMENT MODE — not for production (self-signed certificate, public credentials)\n\
         \n    URL       https://localhost:{port}\n    user name {user}\n    password  {password}\n\
         \n  Try: curl -k -u '{user}:{password}' https://localhost:{port}/system/v1.0/testconnection\n",
        port = settings.server.bind.port()
    )
}
