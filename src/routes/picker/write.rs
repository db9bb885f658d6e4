//! Done's write to Concur, run as its own task so that it ends the same way whatever
//! happens to the HTTP request (a slow Concur, a closed popup, a server timeout).
//!
//! Each write is an [`Attempt`] with a number claimed once in the nonce store: two Dones
//! never start the same attempt, and a failed attempt leaves the next number free, so no
//! failure can lock the session. The task records the outcome in the session, where the
//! request that started it, a reload of the popup or another instance finds it.
//!
//! While it writes, the task renews a short lease in the nonce store, and it stops the
//! write (no further Concur call starts) before that lease can lapse. So when the instance
//! running a write dies, the others know within [`LEASE`] that the attempt has ended, not
//! only at its deadline (the write's worst case, minutes): the form comes back, and the
//! next Done reads the item before it writes, as after any uncertain write.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::oneshot;

use crate::concur::{ConcurError, ExpenseItem, Failure, UserToken, WriteOutcome};
use crate::launch::LaunchContext;
use crate::picker::{self, WritePlan};
use crate::session::{Attempt, AttemptState, KeptForm, LaunchSession, Saved, WriteFailure, now_ms};
use crate::state::AppState;
use crate::store::{Freshness, NonceStore, StoreError};

/// Added to the client's write budget before a pending attempt counts as abandoned.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// How often a Done that lost the claim looks for the winner's outcome.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long a write's lease lasts unless renewed: the others stop waiting for an attempt
/// this long after the instance running it last renewed it.
const LEASE: Duration = Duration::from_secs(10);
/// How often the running write renews its lease (a few tries fit in one [`LEASE`]).
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// How a Done ends, as far as the request that asked for it knows.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Concur has the value (written now, or found there after an uncertain attempt).
    Saved(String),
    /// Nothing was saved, or Concur did not say; the form comes back with Retry.
    Failed(WriteFailure),
    /// The write goes on: the page refreshes until it ends.
    StillSaving,
    /// The session store failed; nothing was started.
    StoreDown(StoreError),
}

/// What one write needs; everything is owned, since the task outlives the request.
pub(super) struct WriteJob {
    pub id: String,
    pub session: LaunchSession,
    pub item: ExpenseItem,
    pub plan: WritePlan,
    pub form: KeptForm,
}

/// Starts the write in its own task and waits for its outcome (or, when another Done holds
/// the attempt, for that one's) at most `picker.done_wait` in all.
pub(super) async fn write(state: &Arc<AppState>, job: WriteJob) -> Outcome {
    let (tx, rx) = oneshot::channel();
    let task_state = Arc::clone(state);
    let (id, previous) = (
        job.id.clone(),
        job.session.attempt.as_ref().map(|a| a.number),
    );
    // The write's Concur calls carry the Done request's correlation id.
    tokio::spawn(concur_client::observe::inherit(async move {
        let outcome = run(&task_state, job).await;
        // The request may be gone; the session holds the outcome for the page.
        let _ = tx.send(outcome);
    }));
    // One budget for the whole request: waiting for another Done's outcome uses what is left.
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(state.picker.done_wait, rx).await {
        Ok(Ok(Outcome::StillSaving)) => {
            let next = previous.map_or(1, |n| n + 1);
            let left = state.picker.done_wait.saturating_sub(started.elapsed());
            wait_for(state, &id, next, left).await
        }
        Ok(Ok(outcome)) => outcome,
        // The task died (a bug): its lease lapses, which ends the pending state.
        Ok(Err(_)) | Err(_) => Outcome::StillSaving,
    }
}

/// The nonce-store key of attempt `number`'s lease.
fn lease_key(id: &str, number: u32) -> String {
    format!("lease|{id}|{number}")
}

/// Whether `attempt` may still be running: pending, before its deadline, and, when it is
/// leased, with its lease still held by the instance running it.
pub(super) async fn running(state: &AppState, id: &str, attempt: &Attempt) -> bool {
    if !attempt.is_running(now_ms()) {
        return false;
    }
    if !attempt.leased {
        return true;
    }
    // A store that does not answer cannot tell: keep waiting (the deadline still ends it).
    state
        .nonces
        .holds(&lease_key(id, attempt.number))
        .await
        .unwrap_or(true)
}

/// Runs `work` while renewing `lease` (taken at `taken`). When the lease could not be
/// renewed in time, `work` is dropped (so it starts no further call) before the store can
/// let the lease lapse, and the answer is `None`.
async fn under_lease<T>(
    nonces: &dyn NonceStore,
    lease: &str,
    taken: tokio::time::Instant,
    work: impl Future<Output = T>,
) -> Option<T> {
    let keep = async {
        // The store counts a renewal from when it gets it, never before it was sent.
        let mut valid_until = taken + LEASE;
        loop {
            let renewal = async {
                tokio::time::sleep(RENEW_EVERY).await;
                let sent = tokio::time::Instant::now();
                (sent, nonces.renew(lease, LEASE).await)
            };
            tokio::select! {
                () = tokio::time::sleep_until(valid_until) => return,
                (sent, renewed) = renewal => match renewed {
                    Ok(true) => valid_until = sent + LEASE,
                    Ok(false) => return,
                    Err(error) => tracing::warn!(%error, "could not renew the write's lease; trying again"),
                },
            }
        }
    };
    tokio::select! {
        done = work => Some(done),
        () = keep => None,
    }
}

/// What another request's attempt `number` (or a later one) came to, within `wait`.
pub(super) async fn wait_for(state: &AppState, id: &str, number: u32, wait: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match state.sessions.load(id).await {
            Err(error) => return Outcome::StoreDown(error),
            Ok(None) => return Outcome::StillSaving,
            Ok(Some(session)) => {
                if let Some(saved) = session.saved {
                    return Outcome::Saved(saved.value);
                }
                if let Some(Attempt {
                    number: n,
                    state: AttemptState::Failed(failure),
                    ..
                }) = session.attempt
                    && n >= number
                {
                    return Outcome::Failed(failure);
                }
            }
        }
        if tokio::time::Instant::now() + POLL_EVERY > deadline {
            return Outcome::StillSaving;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The task: confirm or claim, record the attempt, write, record the outcome.
async fn run(state: &AppState, job: WriteJob) -> Outcome {
    let WriteJob {
        id,
        mut session,
        item,
        plan,
        form,
    } = job;
    let Some(concur) = &state.concur else {
        return Outcome::Failed(not_configured());
    };
    let now = now_ms();
    // The attempt before, if any, has ended (the caller found it not running).
    let previous = session.attempt.as_ref();
    // After a timeout or a lost answer Concur may hold the value already: never write twice.
    if previous.is_some_and(Attempt::outcome_uncertain)
        && picker::holds(item.field(&plan.field), &plan.value)
    {
        audit(&session.launch, &item, &plan, &Ok(None));
        return record_saved(state, &id, &mut session, &plan).await;
    }
    let number = previous.map_or(1, |a| a.number + 1);
    let claim = format!("write|{id}|{number}");
    match state
        .nonces
        .remember(&claim, state.sessions.lifetime())
        .await
    {
        Ok(Freshness::Fresh) => {}
        // Another Done started this attempt a moment ago.
        Ok(Freshness::Replayed) => return Outcome::StillSaving,
        Err(error) => return Outcome::StoreDown(error),
    }
    let lease = lease_key(&id, number);
    let taken = tokio::time::Instant::now();
    session.attempt = Some(Attempt {
        number,
        deadline_ms: now + (concur.write_budget() + DEADLINE_MARGIN).as_millis() as u64,
        leased: true,
        form,
        state: AttemptState::Pending,
    });
    // The lease first, so that no instance ever finds the attempt without it while it runs.
    let recorded = match state.nonces.remember(&lease, LEASE).await {
        Ok(_) => state.sessions.save(&id, &session).await,
        Err(error) => Err(error),
    };
    if let Err(error) = recorded {
        // Nothing was written: give the number back so a retry can use it.
        let _ = state.nonces.forget(&claim).await;
        let _ = state.nonces.forget(&lease).await;
        return Outcome::StoreDown(error);
    }

    let token: Option<UserToken> = state.sessions.user_token(&id).await;
    let write = tokio::time::timeout(
        concur.write_budget(),
        concur.write_field(&item, &plan.field, &plan.value, token.as_ref()),
    );
    let timed_out = || ConcurError::Timeout {
        operation: "field write",
    };
    let written = match under_lease(&*state.nonces, &lease, taken, write).await {
        Some(written) => written.unwrap_or_else(|_| Err(timed_out())),
        None => {
            tracing::warn!(
                "the write was stopped: its lease in the shared store could not be renewed"
            );
            Err(timed_out())
        }
    };
    audit(&session.launch, &item, &plan, &written.as_ref().map(Some));
    // Concur's copy has changed (or may have): the next page reads it again.
    state.sessions.remember_item(&id, None).await;
    match written {
        Ok(_) => record_saved(state, &id, &mut session, &plan).await,
        Err(error) => {
            let failure = failure_of(&error);
            if let Some(attempt) = session.attempt.as_mut() {
                attempt.state = AttemptState::Failed(failure.clone());
            }
            if let Err(error) = state.sessions.save(&id, &session).await {
                tracing::warn!(%error, "could not record the failed write in the session");
            }
            Outcome::Failed(failure)
        }
    }
}

async fn record_saved(
    state: &AppState,
    id: &str,
    session: &mut LaunchSession,
    plan: &WritePlan,
) -> Outcome {
    session.saved = Some(Saved {
        field: plan.field.clone(),
        value: plan.shown.clone(),
    });
    session.attempt = None;
    if let Err(error) = state.sessions.save(id, session).await {
        // Concur has the value; the attempt's claim still stops a second write of it.
        tracing::warn!(%error, "could not record the save in the session");
    }
    Outcome::Saved(plan.shown.clone())
}

/// `[concur]` is missing: an administrator's mistake, never a server error.
pub(super) fn not_configured() -> WriteFailure {
    WriteFailure {
        status: StatusCode::CONFLICT.as_u16(),
        message: "not_configured".to_owned(),
        detail: None,
        uncertain: false,
    }
}

/// The page's status and message for a failed write; Concur's own validation text is shown.
fn failure_of(error: &ConcurError) -> WriteFailure {
    let (status, message, detail) = match error.classify() {
        // No answer, or the answer was lost: Concur may or may not have the value.
        _ if matches!(
            error,
            ConcurError::Timeout { .. } | ConcurError::Transport { .. }
        ) =>
        {
            (StatusCode::GATEWAY_TIMEOUT, "write_uncertain", None)
        }
        Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "write_unavailable", None),
        Failure::Forbidden => (StatusCode::BAD_GATEWAY, "write_forbidden", None),
        Failure::Validation(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "write_validation",
            Some(message),
        ),
        Failure::Other => (StatusCode::BAD_GATEWAY, "write_other", None),
    };
    let uncertain = match error {
        ConcurError::Timeout { .. } | ConcurError::Transport { .. } => true,
        ConcurError::Api(api) => api.status >= 500,
        _ => false,
    };
    WriteFailure {
        status: status.as_u16(),
        message: message.to_owned(),
        detail,
        uncertain,
    }
}

/// One line per write attempt, for auditors: who, what, where, before and after.
/// `Ok(None)` is a value found already saved after an uncertain attempt.
fn audit(
    launch: &LaunchContext,
    item: &ExpenseItem,
    plan: &WritePlan,
    written: &Result<Option<&WriteOutcome>, &ConcurError>,
) {
    let item_id = item
        .allocation_id
        .as_deref()
        .or(item.entry_id.as_deref())
        .or(item.report_id.as_deref())
        .unwrap_or_default();
    let old = plan.old.as_deref().unwrap_or_default();
    let (field, new) = (plan.field.as_str(), plan.shown.as_str());
    crate::metrics::field_write(match written {
        Ok(Some(_)) => crate::metrics::WriteOutcome::Written,
        Ok(None) => crate::metrics::WriteOutcome::AlreadySaved,
        Err(_) => crate::metrics::WriteOutcome::Failed,
    });
    match written {
        Ok(outcome) => tracing::info!(
            target: "audit",
            outcome = if outcome.is_some() { "written" } else { "already_saved" },
            company = %launch.company_domain,
            user = %launch.user_id,
            item_kind = item.kind.as_str(),
            item = item_id,
            field,
            old,
            new,
            status = outcome.map(|o| o.status),
            correlation_id = outcome.and_then(|o| o.correlation_id.as_deref()).unwrap_or_default(),
            "concur field write"
        ),
        Err(error) => tracing::warn!(
            target: "audit",
            outcome = "failed",
            company = %launch.company_domain,
            user = %launch.user_id,
            item_kind = item.kind.as_str(),
            item = item_id,
            field,
            old,
            new,
            error = %error,
            correlation_id = error.correlation_id().unwrap_or_default(),
            "concur field write"
        ),
    }
}
