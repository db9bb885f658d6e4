//! What the server needs behind its endpoints: the Concur company token, the value, list and
//! attendee sources, Redis and the Event Notification queue. Each is built exactly as the
//! server builds it and asked one cheap real question.

use std::time::Duration;

use concur_protocol::callout::fetch_list::{FetchListRequest, Query, SearchBy};

use super::{Options, Report};
use crate::attendees::{AttendeeSourceKind, Attendees};
use crate::concur::{ConcurClient, ConcurError, Failure};
use crate::config::{ConfigProblem, Mode, QueueBackend, Settings};
use crate::lists::Lists;
use crate::store::queue::{self, JobState};
use crate::values::{ItemFacts, SourceKind, Values};

pub(super) async fn check(settings: &Settings, options: &Options, report: &mut Report) {
    token(settings, options.no_refresh, report).await;
    values(settings, options.timeout, report).await;
    lists(settings, options.timeout, report).await;
    attendees(settings, report).await;
    redis(settings, options.timeout, report).await;
    work_queue(settings, options.timeout, report).await;
}

/// The company token: read from the server's store, refreshed at Concur, the rotated
/// refresh token saved back through that store.
async fn token(settings: &Settings, no_refresh: bool, report: &mut Report) {
    const NAME: &str = "concur token";
    let Some(config) = settings.concur.clone() else {
        report.skip(NAME, "[concur] is not configured");
        return;
    };
    // With Redis the cluster's state; a Redis that cannot be set up is the Redis line's.
    let shared = match settings.store.backend {
        crate::config::StoreBackend::Redis => crate::state::redis_store(settings).ok(),
        crate::config::StoreBackend::Memory => None,
    };
    let (store, place) = crate::state::company_token_store(&config, shared.as_ref());
    let saved = match store.load().await {
        Ok(saved) => saved,
        Err(error) => {
            report.fail(
                NAME,
                format!("the saved token state cannot be read: {error}"),
                format!(
                    "restore {place} from a backup, or move it away and set \
                     concur.company_id and concur.company_request_token (a new one from \
                     Concur's App Center) so that the connector gets a new token"
                ),
            );
            return;
        }
    };
    if no_refresh {
        match &saved {
            Some(saved) => report.ok(
                NAME,
                format!(
                    "saved in {place} (geolocation {}{}); not refreshed (--no-refresh)",
                    saved.geolocation.as_deref().unwrap_or("(none named)"),
                    refresh_lifetime(saved.refresh_expires_at)
                ),
            ),
            None => report.fail(
                NAME,
                format!("no company token saved in {place} (--no-refresh: nothing exchanged)"),
                "run doctor without --no-refresh to exchange the configured company \
                 credential, or start the server once",
            ),
        }
        return;
    }
    let source = match (&saved, &config.company_grant) {
        (Some(_), _) => "the saved refresh token was refreshed",
        (None, Some(_)) => "none was saved: the configured company credential was exchanged",
        (None, None) => {
            report.fail(
                NAME,
                format!("no company token saved in {place} and none configured"),
                "set concur.company_id and concur.company_request_token (App Center → the \
                 app → Company Request Token), or concur.refresh_token",
            );
            return;
        }
    };
    let client = match ConcurClient::new(config, store.clone()) {
        Ok(client) => client,
        Err(error) => {
            report.fail(NAME, error.to_string(), "check the [concur] settings");
            return;
        }
    };
    // No timer of ours around this: cancelling a refresh after Concur has rotated the
    // refresh token would drop the new one before it is saved. The client bounds each call
    // with its own connect and request timeouts and retries.
    if let Err(error) = client.ensure_company_token().await {
        let fix = token_fix(&error, saved.is_some());
        report.fail(NAME, format!("no company token: {error}"), fix);
        return;
    }
    let after = store.load().await.ok().flatten();
    let geolocation = after
        .as_ref()
        .and_then(|c| c.geolocation.clone())
        .unwrap_or_else(|| "(none named; concur.api_base_url)".to_owned());
    let lifetime = refresh_lifetime(after.as_ref().and_then(|c| c.refresh_expires_at));
    // A server running on the same store reads it again before its next refresh, so the
    // rotation made here is the one it uses (docs/protocol.md §11.3).
    report.ok(
        NAME,
        format!("{source} (geolocation {geolocation}{lifetime}) and saved to {place}"),
    );
}

/// `", the refresh token is valid N more days"`, when its expiry is known.
fn refresh_lifetime(expires_at: Option<u64>) -> String {
    expires_at
        .map(|at| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!(
                ", the refresh token is valid {} more days",
                at.saturating_sub(now) / 86_400
            )
        })
        .unwrap_or_default()
}

fn token_fix(error: &ConcurError, had_saved: bool) -> String {
    match (error, error.classify()) {
        (ConcurError::NoCompanyCredentials, _) => {
            "set concur.company_id and concur.company_request_token, or concur.refresh_token"
                .to_owned()
        }
        (_, Failure::Forbidden) if had_saved => "Concur refused the saved refresh token: get a \
             new company request token in Concur's App Center, set concur.company_id and \
             concur.company_request_token, and move the saved token file away"
            .to_owned(),
        (_, Failure::Forbidden) => "Concur refused the configured company credential: check \
             concur.client_id and concur.client_secret, and get a new company request token \
             (valid 24 hours) in Concur's App Center"
            .to_owned(),
        (_, Failure::Unavailable) => {
            "Concur did not answer: check this machine's way out to Concur (proxy, firewall, \
             DNS) and concur.auth_base_url / concur.api_base_url"
                .to_owned()
        }
        _ => "check the [concur] settings".to_owned(),
    }
}

fn problems_text(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

async fn values(settings: &Settings, timeout: Duration, report: &mut Report) {
    const NAME: &str = "values";
    let values = match Values::from_settings(&settings.values, Mode::of(settings.development)) {
        Ok(values) => values,
        Err(problems) => {
            report.fail(
                NAME,
                problems_text(&problems),
                "fix the [values] source (a readable CSV file, a reachable lookup)",
            );
            return;
        }
    };
    let kind = match values.source_kind() {
        SourceKind::Inline => "inline list",
        SourceKind::Csv => "CSV file",
        SourceKind::Http => "HTTP lookup",
        SourceKind::FreeText => {
            report.ok(NAME, "free text: the user types the value, nothing to read");
            return;
        }
    };
    let found = tokio::time::timeout(timeout, values.search("", &ItemFacts::default())).await;
    match found {
        Ok(Ok(choices)) => report.ok(NAME, format!("{kind}: {} values", choices.len())),
        Ok(Err(error)) => report.fail(
            NAME,
            format!("the {kind} failed: {error}"),
            "make the [values] lookup answer (values.http.url, its credentials)",
        ),
        Err(_) => report.fail(
            NAME,
            format!(
                "the {kind} did not answer within {}",
                humantime::format_duration(timeout)
            ),
            "make the [values] lookup answer faster than values.http.timeout",
        ),
    }
}

async fn lists(settings: &Settings, timeout: Duration, report: &mut Report) {
    const NAME: &str = "fetch list source";
    if !settings.fetch_list.enabled {
        report.skip(NAME, "fetch_list.enabled = false");
        return;
    }
    let lists = match Lists::from_settings(&settings.fetch_list, Mode::of(settings.development)) {
        Ok(lists) => lists,
        Err(problems) => {
            report.fail(
                NAME,
                problems_text(&problems),
                "fix the [[fetch_list.lists]] sources (readable CSV files, reachable lookups)",
            );
            return;
        }
    };
    let request = FetchListRequest {
        parents: Vec::new(),
        query: Query::new("*"),
        search_by: SearchBy::Text,
        lang: None,
        limit: 100,
        list_name: None,
    };
    let mut answered = Vec::new();
    for (index, name) in lists.names().iter().enumerate() {
        let found = tokio::time::timeout(timeout, lists.search(index, &request)).await;
        match found {
            Ok(Ok(items)) => answered.push(format!("{name}: {} items", items.len())),
            Ok(Err(error)) => {
                report.fail(
                    NAME,
                    format!("list {name:?}: {error}"),
                    "make the list's source answer (its CSV file, its lookup URL)",
                );
                return;
            }
            Err(_) => {
                report.fail(
                    NAME,
                    format!("list {name:?} did not answer in time"),
                    "make the list's lookup answer faster than fetch_list.timeout",
                );
                return;
            }
        }
    }
    if answered.is_empty() {
        report.ok(NAME, "no list configured: every search answers nothing");
    } else {
        report.ok(NAME, answered.join(", "));
    }
}

async fn attendees(settings: &Settings, report: &mut Report) {
    const NAME: &str = "attendee source";
    if !settings.fetch_attendee.enabled {
        report.skip(NAME, "fetch_attendee.enabled = false");
        return;
    }
    let attendees =
        match Attendees::from_settings(&settings.fetch_attendee, Mode::of(settings.development)) {
            Ok(attendees) => attendees,
            Err(problems) => {
                report.fail(
                    NAME,
                    problems_text(&problems),
                    "fix the [fetch_attendee] source (a readable CSV file, a reachable lookup)",
                );
                return;
            }
        };
    let kind = match attendees.source_kind() {
        AttendeeSourceKind::Inline => "inline list",
        AttendeeSourceKind::Csv => "CSV file",
        AttendeeSourceKind::Http => "HTTP lookup",
    };
    // Bounded by fetch_attendee.timeout, as the server's searches are.
    match attendees.probe().await {
        Ok(count) => report.ok(NAME, format!("{kind}: {count} attendees")),
        Err(error) => report.fail(
            NAME,
            format!("the {kind} failed: {error}"),
            "make the [fetch_attendee] lookup answer (fetch_attendee.http.url, its credentials)",
        ),
    }
}

async fn redis(settings: &Settings, timeout: Duration, report: &mut Report) {
    const NAME: &str = "redis";
    let Some(redis) = settings.store.redis.as_ref() else {
        report.skip(NAME, "store.backend = \"memory\"");
        return;
    };
    let answer = match crate::store::redis::RedisStore::new(redis) {
        Ok(store) => tokio::time::timeout(timeout, store.ping())
            .await
            .unwrap_or_else(|_| {
                Err(crate::store::StoreError::Unavailable(
                    "no answer in time".to_owned(),
                ))
            }),
        Err(error) => Err(error),
    };
    match answer {
        Ok(()) => report.ok(NAME, "PING answered PONG"),
        Err(error) => {
            let error = error.to_string();
            let (error, fix) = redis_failure(
                &error,
                "start Redis, or correct store.redis_url (host, port, password)",
            );
            report.fail(NAME, format!("PING failed: {error}"), fix);
        }
    }
}

/// A Redis failure's finding and fix: the setting its message names (a CA that did not sign
/// the server's certificate, a refused ACL login), else `otherwise`.
fn redis_failure<'a>(error: &'a str, otherwise: &'static str) -> (&'a str, &'static str) {
    crate::store::redis::split_hint(error).unwrap_or((error, otherwise))
}

async fn work_queue(settings: &Settings, timeout: Duration, report: &mut Report) {
    const NAME: &str = "queue";
    if !settings.notification.enabled {
        report.skip(NAME, "notification.enabled = false");
        return;
    }
    let backend = match settings.queue.backend {
        QueueBackend::Embedded => "embedded",
        QueueBackend::Redis => "redis",
    };
    // Opening a missing file would create it here, perhaps relative to another directory
    // than the server's.
    if settings.queue.backend == QueueBackend::Embedded && !settings.queue.path.exists() {
        report.ok(
            NAME,
            format!(
                "no queue file yet at {}: the server creates it at start",
                crate::config::display_path(&settings.queue.path)
            ),
        );
        return;
    }
    let counted = tokio::time::timeout(timeout, count_jobs(settings)).await;
    let (jobs, dead) = match counted {
        Ok(Ok(counts)) => counts,
        Ok(Err(error)) => {
            let (error, fix) = match settings.queue.backend {
                QueueBackend::Embedded => (
                    error.as_str(),
                    "check queue.path (a writable file of this instance) and that the server \
                     holding it answers on its admin socket",
                ),
                QueueBackend::Redis => {
                    redis_failure(&error, "start Redis, or correct store.redis_url")
                }
            };
            report.fail(
                NAME,
                format!("the {backend} queue cannot be read: {error}"),
                fix,
            );
            return;
        }
        Err(_) => {
            report.fail(
                NAME,
                format!("the {backend} queue did not answer in time"),
                "check the queue's Redis or file",
            );
            return;
        }
    };
    let finding = format!("the {backend} queue answers: {jobs} jobs");
    if dead == 0 {
        report.ok(NAME, format!("{finding}, no dead letter"));
    } else {
        report.push(
            super::Status::Ok,
            NAME,
            format!("{finding}; warning: {dead} dead letters"),
            Some(
                "look at them with `concur-connector notifications list`, then replay or drop \
                 each"
                    .to_owned(),
            ),
        );
    }
}

/// Jobs and dead letters of the configured queue; a file held by a running server is asked
/// over its administration socket.
async fn count_jobs(settings: &Settings) -> Result<(usize, usize), String> {
    match queue::open(settings).await {
        Ok(queue) => {
            let jobs = queue.jobs().await.map_err(|e| e.to_string())?;
            let dead = jobs
                .iter()
                .filter(|j| matches!(j.state, JobState::Dead))
                .count();
            Ok((jobs.len(), dead))
        }
        Err(error) if settings.queue.backend == QueueBackend::Embedded => {
            let listing = queue::administer(settings, queue::admin::Action::List)
                .await
                .map_err(|_| error.to_string())?;
            Ok(queue::admin::count(&listing))
        }
        Err(error) => Err(error.to_string()),
    }
}
