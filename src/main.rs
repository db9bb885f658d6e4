//! Entry point: parse the command line, load settings, start telemetry, run.

use std::process::ExitCode;

use clap::Parser as _;
#[cfg(feature = "simulator")]
use concur_connector::cli::SimulateArgs;
use concur_connector::cli::{
    Cli, Command, ConfigArg, DoctorArgs, NotificationsCommand, SignLaunchArgs, TokenCommand,
    TryCallout,
};
use concur_connector::config::{self, ConfigProblem, Settings};
use concur_connector::startup::{self, Application, StartupError};
use concur_connector::{telemetry, tls};

/// The memory allocator of the server: mimalloc serves the many small allocations of the
/// request path faster than the system allocator (the README's cluster benchmark has the
/// figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for an invalid configuration (as `check-config` documents).
const EXIT_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    tls::install_default_provider();
    match Cli::parse().command {
        Command::Serve(args) => serve(&args).await,
        Command::CheckConfig(args) => check_config(&args),
        Command::SignLaunch(args) => sign_launch(&args),
        Command::Try(callout) => try_callout(&callout).await,
        Command::Doctor(args) => doctor(&args).await,
        Command::Notifications(command) => notifications(command).await,
        Command::Token(TokenCommand::Migrate(args)) => token_migrate(&args).await,
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => simulate(&args).await,
    }
}

async fn serve(args: &ConfigArg) -> ExitCode {
    let settings = match config::load(&args.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    // The embedded simulator's wiring points the `[concur]` settings at it.
    #[cfg(feature = "simulator")]
    let mut settings = settings;
    // Written when `serve` returns, however it returns.
    let (logs, _flush_logs) = telemetry::BufferedLog::stdout();
    telemetry::init(&settings.log, logs);
    #[cfg(feature = "simulator")]
    let simulator = match concur_connector::sim::embedded::start(&mut settings).await {
        Ok(simulator) => simulator,
        Err(error) => {
            tracing::error!("cannot start: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(feature = "simulator")]
    let banner = settings.development.then(|| match &simulator {
        Some(sim) => simulator_banner(sim),
        None => development_banner(&settings),
    });
    #[cfg(not(feature = "simulator"))]
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
    let served = app.run_until_stopped().await;
    #[cfg(feature = "simulator")]
    if let Some(sim) = simulator
        && let Err(error) = sim.shutdown().await
    {
        tracing::warn!("the simulator stopped with an error: {error:#}");
    }
    match served {
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
    if let Err(problems) = concur_connector::state::AppState::build(&settings) {
        return report(&problems);
    }
    print!("{}", settings.redacted_toml());
    eprintln!("configuration is valid");
    ExitCode::SUCCESS
}

/// Runs every check and prints one line each; exit status 0 only when none failed, 1 when
/// one did, 2 for a configuration that does not load or a bad argument.
async fn doctor(args: &DoctorArgs) -> ExitCode {
    let settings = match config::load(&args.config.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    match concur_connector::doctor::run(&settings, args).await {
        Ok(checks) => {
            print!("{checks}");
            if checks.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(usage) => {
            eprintln!("{usage}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// `notifications list|replay|drop` over the configured queue.
async fn notifications(command: NotificationsCommand) -> ExitCode {
    use concur_connector::store::queue::{self, admin::Action};
    let (config, action) = match command {
        NotificationsCommand::List(config) => (config, Action::List),
        NotificationsCommand::Replay(job) => (job.config, Action::Replay(job.id)),
        NotificationsCommand::Drop(job) => (job.config, Action::Drop(job.id)),
    };
    let settings = match config::load(&config.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    match queue::administer(&settings, action).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("notifications: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `token migrate`: the file token state into Redis.
async fn token_migrate(args: &concur_connector::cli::MigrateArgs) -> ExitCode {
    let settings = match config::load(&args.config.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    match concur_connector::token_migrate::migrate(&settings, args.from.as_deref(), args.force)
        .await
    {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("token migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a signed launch URL for the configured credentials and endpoint path.
fn sign_launch(args: &SignLaunchArgs) -> ExitCode {
    use concur_connector::launch::sign::{self, Encoding, V1Launch, V4Launch};
    use concur_connector::launch::{Product, Source};
    let settings = match config::load(&args.config.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    let encoding = if args.form_encoding {
        Encoding::Form
    } else {
        Encoding::Rfc3986
    };
    let nonce = uuid::Uuid::new_v4().to_string();
    let (path, query) = if args.v4 || args.request {
        let Some(source) = Source::parse(&args.source) else {
            eprintln!("--source must be HEADER, ENTRY or ALLOCATION");
            return ExitCode::from(EXIT_CONFIG);
        };
        let (product, path) = if args.request {
            (Product::Request, &settings.launch.request_path)
        } else {
            (Product::Expense, &settings.launch.v4_path)
        };
        let launch = V4Launch {
            product,
            company_domain: args.company_domain.clone(),
            logged_in_user_id: args.user.clone(),
            report_owner_user_id: args
                .owner_user_id
                .clone()
                .unwrap_or_else(|| args.user.clone()),
            report_owner_employee_id: args.employee_id.clone(),
            item_url: args.item_url.clone(),
            nonce,
            custom_field_launched_from: Some(args.field.clone()),
            source,
            expense_ids: args
                .expense_ids
                .iter()
                .flat_map(|ids| ids.split(','))
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect(),
            is_mobile: false,
            client_auth_code: args.auth_code.clone(),
            language_code: Some(args.language.clone()),
        };
        (
            path.clone(),
            sign::v4_query(&launch, &settings.credentials, encoding),
        )
    } else {
        let launch = V1Launch {
            company_domain: args.company_domain.clone(),
            user_id: args.user.clone(),
            item_url: args.item_url.clone(),
            nonce,
        };
        (
            settings.launch.v1_path.clone(),
            sign::v1_query(&launch, &settings.credentials, encoding),
        )
    };
    let Some(path) = path else {
        eprintln!(
            "that launch endpoint is switched off in the configuration (launch.{}_enabled)",
            if args.request {
                "request"
            } else if args.v1 {
                "v1"
            } else {
                "v4"
            }
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let base = args
        .base_url
        .clone()
        .unwrap_or_else(|| format!("https://localhost:{}", settings.server.bind.port()));
    println!("{}{path}?{query}", base.trim_end_matches('/'));
    ExitCode::SUCCESS
}

/// Sends the callout Concur sends and prints the judge's report; exit status 0 only when
/// Concur would accept the answer.
async fn try_callout(callout: &TryCallout) -> ExitCode {
    use concur_connector::tryout::{self, TryError};
    let target = match callout {
        TryCallout::FetchList(args) => &args.target,
        TryCallout::FetchAttendee(args) => &args.target,
        TryCallout::Notify(args) => &args.target,
    };
    let settings = match config::load(&target.config.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    let outcome = match callout {
        TryCallout::FetchList(args) => tryout::fetch_list(args, &settings.credentials).await,
        TryCallout::FetchAttendee(args) => {
            tryout::fetch_attendee(args, &settings.credentials).await
        }
        TryCallout::Notify(args) => tryout::notify(args, &settings.credentials).await,
    };
    match outcome {
        Ok(outcome) => {
            print!("{}", outcome.report);
            if outcome.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error @ TryError::Usage(_)) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "simulator")]
/// Runs the simulator until Ctrl-C, after printing how to point the connector at it.
async fn simulate(args: &SimulateArgs) -> ExitCode {
    use concur_connector::launch::Source;
    use concur_connector::sim::{self, SimConfig, SimTls, V1LaunchRequest, V4LaunchRequest};
    let settings = match config::load(&args.config.origin()) {
        Ok(settings) => settings,
        Err(problems) => return report(&problems),
    };
    if let Err(problems) = simulator_guards(&settings, args.bind) {
        return report(&problems);
    }
    telemetry::init(&settings.log, std::io::stderr);
    let started = async {
        let connector_url = reqwest::Url::parse(&args.connector_url)?;
        let tls = SimTls::Generate {
            dir: args.certs.clone(),
            extra_names: Vec::new(),
        };
        let mut config = SimConfig::new(settings.credentials.clone(), &connector_url, tls)?;
        config.bind = args.bind;
        config.company_request_token = config::secret(&args.company_request_token);
        if let Some(path) = &args.seed {
            config.seed = sim::Seed::from_file(path)?;
        }
        // Submitted reports are notified at the connector's Event Notification endpoint.
        if settings.notification.enabled {
            config.notify_url =
                Some(connector_url.join(settings.notification.path.trim_start_matches('/'))?);
        }
        if let Some(path) = &args.connector_ca {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--connector-ca {}: {e}", path.display()))?;
            config.connector_ca_pem = Some(pem);
        }
        anyhow::Ok((sim::start(config).await?, connector_url))
    };
    let (running, connector_url) = match started.await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("cannot start the simulator: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let seed = running.snapshot();
    let mut launches = Vec::new();
    if let Some(report) = seed.reports.first() {
        launches.push((
            "v4 HEADER",
            running.mint_v4(&V4LaunchRequest::new(Source::Header, &report.id)),
        ));
        if let Some(expense) = report.expenses.first() {
            launches.push((
                "v4 ENTRY",
                running.mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id)),
            ));
            launches.push((
                "v1 entry",
                running.mint_v1(&V1LaunchRequest::new(&expense.id)),
            ));
        }
        if let Some(allocation) = report.expenses.iter().flat_map(|e| &e.allocations).next() {
            launches.push((
                "v4 ALLOCATION",
                running.mint_v4(&V4LaunchRequest::new(Source::Allocation, &allocation.id)),
            ));
        }
    }
    if let Some(request) = seed.requests.first() {
        launches.push((
            "Request HEADER",
            running.mint_v4(&V4LaunchRequest::request(Source::Header, &request.id)),
        ));
    }
    let base = running.base_url().to_string();
    let base = base.trim_end_matches('/');
    // Both lists want host:port: the simulator does not listen on the https default port.
    let host = format!(
        "{}:{}",
        running.base_url().host_str().unwrap_or("127.0.0.1"),
        running.base_url().port_or_known_default().unwrap_or(443)
    );
    println!(
        "Concur simulator on {base}\n\n\
         Point the connector at it (add to its configuration):\n\n\
         [launch]\nallowed_item_hosts = [\"{host}\"]\n\n\
         [concur]\nclient_id = \"{client_id}\"\nclient_secret = \"{client_secret}\"\n\
         redirect_uri = \"{redirect}\"\nauth_base_url = \"{base}\"\napi_base_url = \"{base}\"\n\
         allowed_geolocation_hosts = [\"{host}\"]\n\
         jwks_url = \"{base}/oauth2/v0/jwks\"\ncompany_id = \"{company}\"\n\
         company_request_token = \"{token}\"\nextra_ca_file = \"{ca}\"\n\n\
         One-time launch URLs (mint more: POST {base}/_sim/launch/v4 or /v1):",
        client_id = sim::DEFAULT_CLIENT_ID,
        client_secret = sim::DEFAULT_CLIENT_SECRET,
        redirect = connector_url
            .join("launchexternalurl/v4/form")
            .map(|u| u.to_string())
            .unwrap_or_default(),
        company = seed.company.id,
        token = args.company_request_token,
        ca = config::display_path(running.ca_pem_path()),
    );
    for (label, minted) in launches {
        match minted {
            Ok(minted) => println!("  {label:<14} {}", minted.url),
            Err(error) => println!("  {label:<14} (cannot mint: {error})"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    match running.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("simulator stopped with an error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The simulator signs launches with the connector's credentials and hands out tokens to
/// anyone who asks: it runs with a development configuration on a loopback address only.
#[cfg(feature = "simulator")]
fn simulator_guards(
    settings: &Settings,
    bind: std::net::SocketAddr,
) -> Result<(), Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    if !settings.development {
        problems.push(ConfigProblem::new(
            "development",
            "the simulator runs with a development configuration only (development = true, or \
             no --config for the embedded one), never with a production configuration",
        ));
    }
    if !bind.ip().is_loopback() {
        problems.push(ConfigProblem::new(
            "--bind",
            format!(
                "{bind} is not a loopback address; the simulator listens on 127.0.0.1 or [::1] only"
            ),
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// One line per problem on stderr, then exit status 2.
fn report(problems: &[ConfigProblem]) -> ExitCode {
    eprintln!("invalid configuration:");
    for problem in problems {
        eprintln!("  {problem}");
    }
    ExitCode::from(EXIT_CONFIG)
}

#[cfg(feature = "simulator")]
/// The one thing to do on a first run: open the simulator's page.
fn simulator_banner(sim: &concur_connector::sim::RunningSim) -> String {
    format!(
        "\n  DEVELOPMENT MODE — not for production (a Concur simulator, development certificates)\n\
         \n  Open {url} in your browser (accept the development certificate once,\n  \
         or trust {ca})\n",
        url = sim.base_url(),
        ca = config::display_path(sim.ca_pem_path()),
    )
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
