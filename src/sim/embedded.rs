//! The simulator started by `serve` beside the connector (`[simulator] enabled = true`,
//! development only): the first run shows the whole flow in a browser.
//!
//! [`start`] runs before the connector is built and adjusts its settings so the two find each
//! other: launches are signed with the connector's credentials and point at its public URL
//! (`https://localhost:<server.bind port>`), and a submitted report is notified at its
//! `notification.path` when `notification.enabled`; without a `[concur]` table the connector's Concur
//! client uses the simulator (OAuth client, company request token, trust in the simulator's
//! CA, token state under `<certs>/state`); the simulator's host is an allowed item host.
//!
//! One certificate for both: when the connector would generate a self-signed certificate
//! (`tls.self_signed`), it serves the simulator's leaf instead (issued by the simulator's CA
//! for `localhost`, `127.0.0.1` and `::1`). A browser then shows one warning for both servers
//! (its exception covers the host and certificate, not the port), or none once `ca.pem` is
//! trusted; the popup never opens on a certificate warning of its own.

use anyhow::Context as _;
use reqwest::Url;

use super::{RunningSim, SimConfig, SimTls};
use crate::concur::{ConcurSettings, STATE_FILE_NAME};
use crate::config::{Mode, Problems, Settings, TlsSettings, secret};
use crate::launch::ItemUrlPolicy;

/// The host name the demo uses for both servers (the certificates name it).
const HOST: &str = "localhost";

/// Starts the simulator when `settings.simulator` is set, and points the connector's settings
/// at it (see the module documentation). Returns `None` when the simulator is off.
pub async fn start(settings: &mut Settings) -> anyhow::Result<Option<RunningSim>> {
    let Some(simulator) = settings.simulator.clone() else {
        return Ok(None);
    };
    let scheme = match settings.tls {
        TlsSettings::Enabled { .. } => "https",
        TlsSettings::Disabled => "http",
    };
    let connector_url = Url::parse(&format!(
        "{scheme}://{HOST}:{}/",
        settings.server.bind.port()
    ))
    .context("building the connector's URL")?;

    let tls = SimTls::generate_in(&simulator.certs);
    let mut config = SimConfig::new(settings.credentials.clone(), &connector_url, tls)?;
    config.bind = simulator.bind;
    config.public_host = Some(HOST.to_owned());
    config.seed = simulator.seed.clone();
    if let Some(path) = &settings.launch.v4_path {
        config.launch_url_v4 = connector_url
            .join(path.trim_start_matches('/'))
            .context("building the v4 launch URL")?;
        config.redirect_uri = config.launch_url_v4.to_string();
    }
    if let Some(path) = &settings.launch.v1_path {
        config.launch_url_v1 = connector_url
            .join(path.trim_start_matches('/'))
            .context("building the v1 launch URL")?;
    }
    if let Some(path) = &settings.launch.request_path {
        config.launch_url_request = connector_url
            .join(path.trim_start_matches('/'))
            .context("building the Request launch URL")?;
    }
    // Concur calls the connector's Fetch List and Fetch Attendee endpoints at their
    // registered paths.
    if settings.fetch_list.enabled {
        config.fetch_list_url = connector_url
            .join(settings.fetch_list.path.trim_start_matches('/'))
            .context("building the Fetch List URL")?;
    }
    if settings.fetch_attendee.enabled {
        config.fetch_attendee_url = connector_url
            .join(settings.fetch_attendee.path.trim_start_matches('/'))
            .context("building the Fetch Attendee URL")?;
    }
    // Submitting a report on the demo page notifies the connector's Event Notification
    // endpoint, as Concur's Send Notification service does.
    if settings.notification.enabled {
        config.notify_url = Some(
            connector_url
                .join(settings.notification.path.trim_start_matches('/'))
                .context("building the Event Notification URL")?,
        );
    }
    let request_token = uuid::Uuid::new_v4().to_string();
    config.company_request_token = secret(&request_token);
    let company_id = config.seed.company.id.clone();
    let redirect_uri = config.redirect_uri.clone();

    let running = super::start(config)
        .await
        .context("starting the Concur simulator")?;

    // The simulator's item URLs and token geolocations carry its port, which an allowed
    // host must name.
    let sim_host = format!(
        "{HOST}:{}",
        running.base_url().port_or_known_default().unwrap_or(443)
    );
    share_certificate(settings, &simulator.certs);
    if settings.concur.is_none() {
        let base = running.base_url().as_str().trim_end_matches('/').to_owned();
        let state_dir = simulator.certs.join("state");
        // The simulator forgets its tokens when it stops; a refresh token kept from an earlier
        // run would win over the request token below and be refused.
        match std::fs::remove_file(state_dir.join(STATE_FILE_NAME)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).context("removing the demo's Concur token state of an earlier run");
            }
        }
        let concur = ConcurSettings {
            client_id: Some(super::DEFAULT_CLIENT_ID.to_owned()),
            client_secret: Some(secret(super::DEFAULT_CLIENT_SECRET)),
            redirect_uri: Some(redirect_uri),
            auth_base_url: base.clone(),
            api_base_url: Some(base.clone()),
            allowed_geolocation_hosts: vec![sim_host.clone()],
            jwks_url: format!("{base}/oauth2/v0/jwks"),
            company_id: Some(company_id),
            company_request_token: Some(secret(&request_token)),
            state_dir,
            extra_ca_file: Some(running.ca_pem_path().to_path_buf()),
            ..ConcurSettings::default()
        };
        let mut problems = Problems::default();
        // The simulator speaks https, so the production rules hold for it too.
        let client = concur.validate(&mut problems, Mode::of(settings.development));
        match client {
            Some(client) if problems.is_empty() => settings.concur = Some(client),
            _ => anyhow::bail!(
                "cannot point the Concur client at the simulator: {}",
                problems
                    .into_vec()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
    let mut hosts = settings.launch.item_urls.extra_hosts();
    hosts.push(sim_host);
    settings.launch.item_urls = ItemUrlPolicy::with_extra_hosts(hosts);
    Ok(Some(running))
}

/// Serves the simulator's leaf from the connector too, instead of a self-signed one of its own.
fn share_certificate(settings: &mut Settings, certs: &std::path::Path) {
    if let TlsSettings::Enabled {
        cert_file,
        key_file,
        generate_self_signed,
        ..
    } = &mut settings.tls
        && *generate_self_signed
    {
        *cert_file = certs.join("cert.pem");
        *key_file = certs.join("key.pem");
        *generate_self_signed = false;
        tracing::info!(
            cert = %cert_file.display(),
            "the connector serves the simulator's certificate (one certificate for the demo)"
        );
    }
}
