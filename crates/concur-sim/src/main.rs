//! `concur-sim`: the Concur simulator on its own, until Ctrl-C.
//!
//! The connector's registered credentials (which sign the simulated launches) come from
//! `CONCUR_SIM_CONNECTOR_USER` and `CONCUR_SIM_CONNECTOR_PASSWORD`. Options:
//! `--bind ADDR` (loopback only, default `127.0.0.1:9443`), `--certs DIR` (default
//! `certs/simulator`), `--seed FILE` (default: the built-in seed) and `--connector-url URL`
//! (where launch URLs point, default `https://localhost:8443`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use concur_protocol::credentials::ConnectorCredentials;
use concur_sim::{Seed, SimConfig, SimTls};
use reqwest::Url;
use secrecy::SecretString;

/// Exit status for a bad command line or environment.
const EXIT_USAGE: u8 = 2;

struct Args {
    bind: SocketAddr,
    certs: PathBuf,
    seed: Option<PathBuf>,
    connector_url: Url,
    credentials: ConnectorCredentials,
}

fn parse_args() -> Result<Args, String> {
    let mut bind = "127.0.0.1:9443".to_owned();
    let mut certs = PathBuf::from("certs/simulator");
    let mut seed = None;
    let mut connector_url = "https://localhost:8443".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => bind = value()?,
            "--certs" => certs = PathBuf::from(value()?),
            "--seed" => seed = Some(PathBuf::from(value()?)),
            "--connector-url" => connector_url = value()?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let bind: SocketAddr = bind
        .parse()
        .map_err(|e| format!("--bind: `{bind}` is not an address like 127.0.0.1:9443: {e}"))?;
    if !bind.ip().is_loopback() {
        return Err(format!(
            "--bind: {bind} is not a loopback address; the simulator hands out tokens to anyone \
             and listens on 127.0.0.1 or [::1] only"
        ));
    }
    let connector_url = Url::parse(&connector_url).map_err(|e| format!("--connector-url: {e}"))?;
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let user = env("CONCUR_SIM_CONNECTOR_USER")?;
    let password = SecretString::from(env("CONCUR_SIM_CONNECTOR_PASSWORD")?);
    let credentials = ConnectorCredentials::new(user, password)
        .map_err(|(part, e)| format!("connector {part}: {e}"))?;
    Ok(Args {
        bind,
        certs,
        seed,
        connector_url,
        credentials,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("concur-sim: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let started = async {
        let tls = SimTls::Generate {
            dir: args.certs,
            extra_names: Vec::new(),
        };
        let mut config = SimConfig::new(args.credentials, &args.connector_url, tls)?;
        config.bind = args.bind;
        if let Some(path) = &args.seed {
            config.seed = Seed::from_file(path)?;
        }
        concur_sim::start(config).await
    };
    let running = match started.await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("concur-sim: cannot start: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Concur simulator on {} (CA: {})",
        running.base_url(),
        running.ca_pem_path().display()
    );
    let _ = tokio::signal::ctrl_c().await;
    match running.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("concur-sim: stopped with an error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
