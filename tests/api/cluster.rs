//! Three connector instances on one Redis and the simulator as Concur: one company token for
//! the cluster (one refresh whichever instance starts it, a stale fence never overwrites),
//! and the user's token on every instance (encrypted in the session, keys rotated, a
//! tampered value refused).

use concur_connector::concur::{
    CompanyCredentials, FencedSave, RefreshLock, SharedAccess, SharedState, TokenStore as _,
};
use concur_connector::config;
use concur_connector::launch::Source;
use concur_connector::sim::{Faults, Principal, V1LaunchRequest, V4LaunchRequest};
use reqwest::{StatusCode, header};
use secrecy::ExposeSecret as _;

use crate::fixtures::seed;
use crate::helpers::{TestApp, spawn_app_with};
use crate::picker::{VALUES, csrf_of};
use crate::redis_server::RedisServer;
use crate::with_simulator::{World, world_with, world_with_concur};
use concur_connector::store::redis_token::RedisTokenStore;

/// A 32-byte key in base64, and a second one for rotation.
const KEY_1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const KEY_2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

pub struct Cluster {
    pub world: World,
    /// Instances 2 and 3 (instance 1 is `world.app`).
    pub others: [TestApp; 2],
    pub redis: RedisServer,
}

impl Cluster {
    pub fn instance(&self, n: usize) -> &TestApp {
        match n {
            1 => &self.world.app,
            n => &self.others[n - 2],
        }
    }
}

fn store_toml(redis: &RedisServer, keys: &str, key_id: &str) -> String {
    format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\nkey_prefix = \"cluster:\"\n\
         session_key_id = \"{key_id}\"\n[store.session_keys]\n{keys}\n",
        redis.url()
    )
}

/// Three instances wired to one simulator and one Redis, all encrypting with `k1`.
async fn cluster() -> Cluster {
    let redis = RedisServer::start();
    let world = world_with(&format!(
        "{VALUES}\n[picker.target]\nv1 = \"Custom12\"\n{}",
        store_toml(&redis, &format!("k1 = \"{KEY_1}\""), "k1")
    ))
    .await;
    let others = [
        spawn_app_with(&world.app_toml).await,
        spawn_app_with(&world.app_toml).await,
    ];
    Cluster {
        world,
        others,
        redis,
    }
}

/// Sends a minted launch to `app`; returns the session cookie.
async fn launch_on(app: &TestApp, minted_url: &str) -> String {
    let (path_part, query) = minted_url.split_once('?').unwrap();
    let path = path_part.trim_start_matches("https://connector.test");
    let client = app
        .pki
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(app.url(&format!("{path}?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    crate::helpers::session_cookie(&response)
}

async fn popup_on(app: &TestApp, cookie: &str) -> (StatusCode, String) {
    let page = app
        .client
        .get(app.url("/launch/session"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (page.status(), page.text().await.unwrap())
}

async fn done_on(app: &TestApp, cookie: &str, csrf: &str, code: &str) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url("/launch/session/done"))
        .header(header::COOKIE, cookie)
        .form(&[("csrf", csrf), ("action", "done"), ("code", code)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Token requests of every grant the simulator saw, answered or refused.
fn token_requests(world: &World) -> Vec<String> {
    world
        .sim
        .requests()
        .into_iter()
        .filter_map(|r| r.grant_type.map(|g| format!("{g} {}", r.status)))
        .collect()
}

#[tokio::test]
async fn three_instances_share_one_company_token_and_a_rotation_refreshes_it_once() {
    let cluster = cluster().await;
    let world = &cluster.world;
    // v1 launches read the entry with the company token.
    let mut cookies = Vec::new();
    for n in 1..=3 {
        let minted = world
            .sim
            .mint_v1(&V1LaunchRequest::new(seed::LUNCH))
            .unwrap();
        cookies.push(launch_on(cluster.instance(n), &minted.url).await);
    }
    // Instances 2 and 3 started after 1 had the token: they took it from Redis.
    assert_eq!(token_requests(world), ["password 200"]);

    // Concur expires the token; all three find out at once and renew it.
    world.sim.expire_access_tokens();
    world.sim.clear_requests();
    let (one, two, three) = tokio::join!(
        popup_on(cluster.instance(1), &cookies[0]),
        popup_on(cluster.instance(2), &cookies[1]),
        popup_on(cluster.instance(3), &cookies[2]),
    );
    let pages = [one, two, three];
    for (n, (status, html)) in pages.iter().enumerate() {
        assert_eq!(*status, StatusCode::OK, "instance {}: {html}", n + 1);
        assert!(
            !html.contains("role=\"alert\""),
            "instance {}: {html}",
            n + 1
        );
    }
    assert_eq!(
        token_requests(world),
        ["refresh_token 200"],
        "exactly one refresh for the cluster"
    );
}

/// The user's token as the simulator saw it: who each write was authenticated as.
fn write_principals(world: &World) -> Vec<Option<Principal>> {
    world
        .sim
        .successful_writes()
        .into_iter()
        .map(|w| w.principal)
        .collect()
}

fn jane() -> Option<Principal> {
    Some(Principal::User {
        user_id: seed::JANE.to_owned(),
    })
}

/// A header launch (its write carries the user's token) verified on instance `n`.
async fn header_launch_on(cluster: &Cluster, n: usize) -> String {
    let minted = cluster
        .world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, seed::REPORT))
        .unwrap();
    launch_on(cluster.instance(n), &minted.url).await
}

/// Picks on instance `pick` and writes with Done on instance `write`.
async fn pick_and_write(app_pick: &TestApp, app_write: &TestApp, cookie: &str, code: &str) {
    let (status, html) = popup_on(app_pick, cookie).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = csrf_of(&html);
    let (status, html) = done_on(app_write, cookie, &csrf, code).await;
    assert_eq!(status, StatusCode::OK, "{html}");
}

#[tokio::test]
async fn a_launch_verified_on_one_instance_is_picked_on_a_second_and_written_on_a_third_as_the_user()
 {
    let cluster = cluster().await;
    let cookie = header_launch_on(&cluster, 1).await;
    cluster.world.sim.clear_requests();

    pick_and_write(
        cluster.instance(2),
        cluster.instance(3),
        &cookie,
        "PRJ-1001",
    )
    .await;

    // Instance 2 read the report as Jane, instance 3 wrote it as Jane.
    let reads: Vec<_> = cluster
        .world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains(seed::REPORT))
        .map(|r| r.principal)
        .collect();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|p| *p == jane()), "{reads:?}");
    assert_eq!(write_principals(&cluster.world), [jane()]);
}

#[tokio::test]
async fn sessions_sealed_with_a_retired_encryption_key_still_open_after_a_rotation() {
    let cluster = cluster().await;
    let old_cookie = header_launch_on(&cluster, 1).await;
    // A fourth instance encrypts with k2 and still decrypts k1.
    let rotated_toml = cluster.world.app_toml.replace(
        "session_key_id = \"k1\"\n[store.session_keys]\n",
        &format!("session_key_id = \"k2\"\n[store.session_keys]\nk2 = \"{KEY_2}\"\n"),
    );
    assert_ne!(rotated_toml, cluster.world.app_toml);
    let rotated = spawn_app_with(&rotated_toml).await;

    pick_and_write(&rotated, &rotated, &old_cookie, "PRJ-1001").await;
    // A session sealed with k2 opens on the instances that list k2 only.
    let new_cookie = launch_on(
        &rotated,
        &cluster
            .world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Header, seed::MAX_REPORT))
            .unwrap()
            .url,
    )
    .await;
    let (status, html) = popup_on(cluster.instance(2), &new_cookie).await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "k2 is unknown to instance 2: {html}"
    );
    let (status, html) = popup_on(&rotated, &new_cookie).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(write_principals(&cluster.world), [jane()]);
}

#[tokio::test]
async fn a_tampered_user_token_ends_the_session_with_a_readable_page() {
    let cluster = cluster().await;
    let cookie = header_launch_on(&cluster, 1).await;
    let id = cookie.split_once('=').unwrap().1;
    let key = format!("cluster:session:{id}");
    let mut raw = crate::redis_store::raw(&cluster.redis).await;
    let stored: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let mut session: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let data = session["user_token"]["data"].as_str().unwrap().to_owned();
    // Flip one base64 digit of the ciphertext.
    let flipped = if data.starts_with('A') { "B" } else { "A" };
    session["user_token"]["data"] = format!("{flipped}{}", &data[1..]).into();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(session.to_string())
        .query_async(&mut raw)
        .await
        .unwrap();

    for n in 1..=3 {
        let (status, html) = popup_on(cluster.instance(n), &cookie).await;
        assert_eq!(status, StatusCode::GONE, "instance {n}: {html}");
        assert!(html.contains("<html"), "instance {n}: {html}");
    }
    assert!(cluster.world.sim.successful_writes().is_empty());
}

#[tokio::test]
async fn no_session_record_holds_the_users_token_in_clear() {
    let cluster = cluster().await;
    let cookie = header_launch_on(&cluster, 1).await;
    let id = cookie.split_once('=').unwrap().1;
    let mut raw = crate::redis_store::raw(&cluster.redis).await;
    let stored: String = redis::cmd("GET")
        .arg(format!("cluster:session:{id}"))
        .query_async(&mut raw)
        .await
        .unwrap();
    let session: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(session["user_token"]["kid"], "k1", "{stored}");
    // The simulator's access tokens are JWTs: none of one is stored readable.
    assert!(!stored.contains("eyJ"), "{stored}");
}

fn shared_state(refresh: &str, access: &str) -> SharedState {
    SharedState {
        credentials: Some(CompanyCredentials {
            refresh_token: config::secret(refresh),
            geolocation: Some("https://us2.api.concursolutions.com".to_owned()),
            refresh_expires_at: None,
        }),
        access: Some(SharedAccess {
            token: config::secret(access),
            geolocation: "https://us2.api.concursolutions.com".to_owned(),
            renew_at_ms: u64::MAX / 2,
            expires_at_ms: u64::MAX / 2,
        }),
        fence: 0,
        saved_at_ms: None,
    }
}

#[tokio::test]
async fn a_save_with_a_stale_fence_cannot_overwrite_a_newer_token_state() {
    let redis = RedisServer::start();
    let store = RedisTokenStore::of(&crate::redis_store::store(&redis));
    let shared = store.shared().unwrap();
    assert!(shared.read().await.unwrap().is_none());

    // Two refreshes started from the same (empty) state: the second to save loses.
    let first = shared
        .save_fenced(&shared_state("r-first", "a-first"), 0)
        .await
        .unwrap();
    assert_eq!(first, FencedSave::Saved { fence: 1 });
    let late = shared
        .save_fenced(&shared_state("r-late", "a-late"), 0)
        .await
        .unwrap();
    assert_eq!(late, FencedSave::Stale { current: 1 });

    let kept = shared.read().await.unwrap().unwrap();
    assert_eq!(kept.fence, 1);
    let kept_refresh = kept.credentials.unwrap().refresh_token;
    assert_eq!(kept_refresh.expose_secret(), "r-first");
    assert_eq!(kept.access.unwrap().token.expose_secret(), "a-first");
    // A save from the newest state goes through.
    let next = shared
        .save_fenced(&shared_state("r-next", "a-next"), 1)
        .await
        .unwrap();
    assert_eq!(next, FencedSave::Saved { fence: 2 });
}

#[tokio::test]
async fn the_refresh_lock_has_one_holder_and_only_its_holder_releases_it() {
    let redis = RedisServer::start();
    let store = RedisTokenStore::of(&crate::redis_store::store(&redis));
    let shared = store.shared().unwrap();
    let minute = std::time::Duration::from_secs(60);
    let held = shared.try_lock(minute).await.unwrap().unwrap();
    assert!(shared.try_lock(minute).await.unwrap().is_none());
    // A holder whose lock expired and was taken over cannot release the new holder's.
    let stranger = RefreshLock {
        value: "not-the-holder".to_owned(),
    };
    shared.unlock(&stranger).await.unwrap();
    assert!(shared.try_lock(minute).await.unwrap().is_none());
    shared.unlock(&held).await.unwrap();
    assert!(shared.try_lock(minute).await.unwrap().is_some());
}

#[tokio::test]
async fn token_migrate_moves_the_state_file_into_redis_and_keeps_a_newer_state_unless_forced() {
    let redis = RedisServer::start();
    let pki = crate::helpers::TestPki::new("migrate");
    let state_dir = tempfile::tempdir().unwrap();
    let (_dir, config_path) = crate::helpers::write_config(
        &pki,
        &format!(
            "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\nkey_prefix = \"test:\"\n\
             [concur]\nclient_id = \"11111111-2222-4333-8444-555555555555\"\n\
             client_secret = \"66666666-7777-4888-9999-aaaaaaaaaaaa\"\n\
             redirect_uri = \"https://leu.example.com/launchexternalurl/v4/form\"\n\
             refresh_token = \"seed-refresh-token\"\nstate_dir = \"{}\"\n",
            redis.url(),
            state_dir.path().display()
        ),
    );
    let file = concur_connector::concur::FileTokenStore::new(state_dir.path());
    file.save(&CompanyCredentials {
        refresh_token: config::secret("refresh-from-the-file"),
        geolocation: Some("https://us2.api.concursolutions.com".to_owned()),
        refresh_expires_at: Some(1_900_000_000),
    })
    .await
    .unwrap();
    let migrate = |force: bool| {
        let mut command = std::process::Command::new(crate::helpers::binary());
        command
            .args(["token", "migrate", "--config"])
            .arg(&config_path);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };

    let moved = migrate(false);
    let stdout = String::from_utf8_lossy(&moved.stdout);
    assert!(
        moved.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert!(!stdout.contains("refresh-from-the-file"), "{stdout}");
    let store = RedisTokenStore::of(&crate::redis_store::store(&redis));
    let saved = store.load().await.unwrap().unwrap();
    assert_eq!(saved.refresh_token.expose_secret(), "refresh-from-the-file");
    assert_eq!(saved.refresh_expires_at, Some(1_900_000_000));

    // An instance rotated the token in Redis since: the file's older state does not win.
    let shared = store.shared().unwrap();
    let fence = shared.read().await.unwrap().unwrap().fence;
    let mut rotated = shared_state("rotated-in-redis", "a");
    rotated.saved_at_ms = Some(concur_connector::session::now_ms());
    assert_eq!(
        shared.save_fenced(&rotated, fence).await.unwrap(),
        FencedSave::Saved { fence: fence + 1 }
    );
    let refused = migrate(false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("--force"), "{stderr}");
    let kept = store.load().await.unwrap().unwrap();
    assert_eq!(kept.refresh_token.expose_secret(), "rotated-in-redis");

    assert!(migrate(true).status.success());
    let forced = store.load().await.unwrap().unwrap();
    assert_eq!(
        forced.refresh_token.expose_secret(),
        "refresh-from-the-file"
    );
}

#[tokio::test]
async fn a_done_held_by_an_instance_killed_mid_write_comes_back_after_its_lease_and_is_not_written_twice()
 {
    // Each Concur call may take two minutes: the write's deadline is many minutes away.
    let redis = RedisServer::start();
    let world = world_with_concur(
        r#"request_timeout = "120s""#,
        &format!(
            "{VALUES}\n{}",
            store_toml(&redis, &format!("k1 = \"{KEY_1}\""), "k1")
        ),
    )
    .await;
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, seed::REPORT))
        .unwrap();
    let cookie = launch_on(&world.app, &minted.url).await;
    let (_, html) = popup_on(&world.app, &cookie).await;
    let csrf = csrf_of(&html);

    // A second instance, the real binary, takes the Done: Concur applies the write and
    // holds its answer, and the instance is killed meanwhile.
    let pki = crate::helpers::TestPki::new("killed-writer");
    let (_dir, config) = crate::helpers::write_config(&pki, &world.app_toml);
    let port = crate::fixtures::free_port();
    let mut writer = crate::helpers::start_binary(&config, port);
    let base = format!("https://localhost:{port}");
    let client = pki
        .client_builder()
        .timeout(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    crate::helpers::wait_until_serving(&client, &base).await;
    world.sim.set_faults(Faults {
        write_answer_delay_ms: 600_000,
        ..Faults::default()
    });
    let impatient = client
        .post(format!("{base}/launch/session/done"))
        .header(header::COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "done"),
            ("code", "PRJ-3003"),
        ])
        .send()
        .await;
    assert!(impatient.is_err(), "the write is still waiting for Concur");
    crate::fixtures::until("Concur has the write", async || {
        !world.sim.writes().is_empty()
    })
    .await;
    writer.kill().await.unwrap(); // SIGKILL

    // The first instance sees the write as running while the dead one's lease lasts, then
    // brings the form back as an uncertain write, the choice kept.
    let (status, html) = popup_on(&world.app, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(crate::saving::is_saving_page(&html), "{html}");
    let (status, html) =
        crate::saving::reload_until_settled(&world, &cookie, std::time::Duration::from_secs(60))
            .await;
    crate::saving::assert_uncertain_form(status, &html, "PRJ-3003");

    // Done again reads the item first: the dead instance's write landed, so nothing more.
    world.sim.set_faults(Faults::default());
    let (status, html) = done_on(&world.app, &cookie, &csrf, "PRJ-3003").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("PRJ-3003 was saved in Concur"), "{html}");
    assert_eq!(world.sim.writes().len(), 1, "never written twice");
}
