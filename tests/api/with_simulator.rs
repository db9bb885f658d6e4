//! The connector against the Concur simulator: launch, auth-code exchange, item read.

use concur_connector::config;
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::launch::Source;
use concur_connector::sim::{
    self, RunningSim, SimConfig, SimTls, V1LaunchRequest, V4LaunchRequest,
};
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, TestApp, TestPki, USERNAME, spawn_app_with, spawn_app_with_pki};

const REDIRECT: &str = "https://connector.test/launchexternalurl/v4/form";

pub struct World {
    pub sim: RunningSim,
    pub app: TestApp,
    /// The connector's extra TOML, to start another instance wired the same way.
    pub app_toml: String,
    _sim_dir: tempfile::TempDir,
}

async fn world() -> World {
    world_with("").await
}

/// The connector wired to a fresh simulator, plus `extra` TOML (e.g. `[picker]`, `[values]`).
pub async fn world_with(extra_toml: &str) -> World {
    world_with_tables("", "", extra_toml).await
}

/// Like [`world_with`], the simulator playing `seed` instead of its built-in data.
pub async fn world_with_seed(seed: sim::Seed, extra_toml: &str) -> World {
    world_with_sim("", "", extra_toml, Some(seed), None, false).await
}

/// Like [`world_with`], the connector serving a certificate of `pki`.
pub async fn world_with_pki(pki: TestPki, extra_toml: &str) -> World {
    world_with_sim("", "", extra_toml, None, Some(pki), false).await
}

/// Like [`world_with`], with `launch_toml` added to the connector's `[launch]` table.
pub async fn world_with_launch(launch_toml: &str, extra_toml: &str) -> World {
    world_with_tables(launch_toml, "", extra_toml).await
}

/// Like [`world_with`], with `concur_keys` (e.g. `request_timeout = "1s"`) added to `[concur]`.
pub async fn world_with_concur(concur_keys: &str, extra_toml: &str) -> World {
    world_with_tables("", concur_keys, extra_toml).await
}

/// The connector wired to a fresh simulator, with keys added to its `[launch]` and
/// `[concur]` tables and `extra_toml` after them.
async fn world_with_tables(launch_toml: &str, concur_keys: &str, extra_toml: &str) -> World {
    world_with_sim(launch_toml, concur_keys, extra_toml, None, None, false).await
}

/// Like [`world_with`], the simulator playing two Concur hosts: `auth_base_url` (GLZ) is its
/// base URL (`https://127.0.0.1:{port}`), `api_base_url` (the application's geolocation) the
/// same server as `https://localhost:{port}`, and both are trusted geolocations.
pub async fn world_with_two_hosts(extra_toml: &str) -> World {
    world_with_sim("", "", extra_toml, None, None, true).await
}

/// The simulator's second name in [`world_with_two_hosts`]: `https://localhost:{port}`.
pub fn localhost_alias(sim: &RunningSim) -> String {
    format!("https://localhost:{}", sim.base_url().port().unwrap())
}

async fn world_with_sim(
    launch_toml: &str,
    concur_keys: &str,
    extra_toml: &str,
    seed: Option<sim::Seed>,
    pki: Option<TestPki>,
    two_hosts: bool,
) -> World {
    concur_connector::tls::install_default_provider();
    let sim_dir = tempfile::tempdir().unwrap();
    let creds = ConnectorCredentials::new(USERNAME, config::secret(PASSWORD)).unwrap();
    let placeholder = reqwest::Url::parse("https://connector.test/").unwrap();
    let tls = SimTls::Generate {
        dir: sim_dir.path().join("certs"),
        extra_names: vec![],
    };
    let mut cfg = SimConfig::new(creds, &placeholder, tls).unwrap();
    cfg.redirect_uri = REDIRECT.to_owned();
    cfg.company_request_token = config::secret("test-company-request-token");
    if let Some(seed) = seed {
        cfg.seed = seed;
    }
    let company = cfg.seed.company.id.clone();
    let sim = sim::start(cfg).await.unwrap();
    let base = sim.base_url().as_str().trim_end_matches('/').to_owned();
    let host = format!(
        "{}:{}",
        sim.base_url().host_str().unwrap(),
        sim.base_url().port().unwrap()
    );
    let (api_base, geo_hosts) = if two_hosts {
        let alias = localhost_alias(&sim);
        let alias_host = alias.trim_start_matches("https://").to_owned();
        (alias, format!(r#""{host}", "{alias_host}""#))
    } else {
        (base.clone(), format!(r#""{host}""#))
    };
    let extra = format!(
        r#"
[launch]
allowed_item_hosts = ["{host}"]
{launch_toml}
[concur]
client_id = "{client_id}"
client_secret = "{client_secret}"
redirect_uri = "{REDIRECT}"
auth_base_url = "{base}"
api_base_url = "{api_base}"
allowed_geolocation_hosts = [{geo_hosts}]
jwks_url = "{base}/oauth2/v0/jwks"
company_id = "{company}"
company_request_token = "test-company-request-token"
extra_ca_file = "{ca}"
state_dir = "{state}"
{concur_keys}
"#,
        client_id = sim::DEFAULT_CLIENT_ID,
        client_secret = sim::DEFAULT_CLIENT_SECRET,
        ca = sim.ca_pem_path().display(),
        state = sim_dir.path().join("state").display(),
    );
    let (top, extra_toml) = crate::helpers::split_top_level(extra_toml);
    let app_toml = format!("{top}\n{extra}\n{extra_toml}");
    let app = match pki {
        Some(pki) => spawn_app_with_pki(pki, "", &app_toml).await,
        None => spawn_app_with(&app_toml).await,
    };
    World {
        sim,
        app,
        app_toml,
        _sim_dir: sim_dir,
    }
}

/// Sends the minted launch's query to the connector; returns the session cookie.
pub async fn launch(world: &World, minted_url: &str) -> Result<String, (StatusCode, String)> {
    let (path_part, query) = minted_url.split_once('?').unwrap();
    let path = path_part.trim_start_matches("https://connector.test");
    let client = world
        .app
        .pki
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(world.app.url(&format!("{path}?{query}")))
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err((response.status(), response.text().await.unwrap()));
    }
    Ok(crate::helpers::session_cookie(&response))
}

/// The popup's session page, whatever its status.
pub async fn popup(world: &World, cookie: &str) -> (StatusCode, String) {
    let page = world
        .app
        .client
        .get(world.app.url("/launch/session"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (page.status(), page.text().await.unwrap())
}

/// The popup's session page, which must answer 200.
pub async fn session_page(world: &World, cookie: &str) -> String {
    let (status, html) = popup(world, cookie).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    html
}

#[tokio::test]
async fn every_launch_kind_is_verified_exchanged_and_its_item_read_from_concur() {
    // v1 launches name no field: with one configured every kind can save, so no notice shows.
    let world = world_with("[picker.target]\nv1 = \"Custom12\"\n").await;
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    let expense = &report.expenses[0];
    let allocation = report
        .expenses
        .iter()
        .flat_map(|e| &e.allocations)
        .next()
        .unwrap();
    let minted = [
        world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Header, &report.id))
            .unwrap(),
        world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
            .unwrap(),
        world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Allocation, &allocation.id))
            .unwrap(),
        world
            .sim
            .mint_v1(&V1LaunchRequest::new(&expense.id))
            .unwrap(),
    ];
    for (i, launch_url) in minted.iter().enumerate() {
        let cookie = launch(&world, &launch_url.url)
            .await
            .unwrap_or_else(|e| panic!("launch {i}: {e:?}"));
        let html = session_page(&world, &cookie).await;
        assert!(html.contains("name=\"csrf\""), "launch {i}: {html}");
        assert!(
            !html.contains("role=\"alert\""),
            "launch {i}: the item must be readable: {html}"
        );
        assert!(html.contains("id=\"current-value\""), "launch {i}: {html}");
    }
    // The entry page shows what Concur holds for the expense.
    let cookie = launch(
        &world,
        &world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
            .unwrap()
            .url,
    )
    .await
    .unwrap();
    let html = session_page(&world, &cookie).await;
    let type_name = &seed
        .expense_types
        .iter()
        .find(|t| t.id == expense.expense_type)
        .unwrap()
        .name;
    assert!(
        html.contains(&format!("<dd>{type_name}</dd>")) || html.contains(type_name.as_str()),
        "{html}"
    );

    // Many launches, one company token; each v4 launch exchanged its own code once.
    assert_eq!(
        world.sim.token_grants("password"),
        1,
        "exactly one company-token request"
    );
    assert_eq!(
        world.sim.token_grants("authorization_code"),
        4,
        "one code exchange per v4 launch"
    );
}

#[tokio::test]
async fn a_launch_carrying_another_users_auth_code_is_refused() {
    let world = world().await;
    let seed = world.sim.snapshot();
    let expense = &seed.reports[0].expenses[0];
    let owner = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
        .unwrap();
    let other_report = seed
        .reports
        .iter()
        .find(|r| r.owner != seed.reports[0].owner)
        .unwrap();
    let other = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &other_report.id))
        .unwrap();
    // client_auth_code is not signed: swapping it keeps the signature valid.
    let swapped = owner.url.replace(
        owner.client_auth_code.as_deref().unwrap(),
        other.client_auth_code.as_deref().unwrap(),
    );
    let (status, html) = launch(&world, &swapped).await.unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
}
