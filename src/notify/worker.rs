//! The workers that decide queued notifications (docs/protocol.md §12.6).
//!
//! `notification.workers` tasks per instance claim jobs from the work queue, each for
//! `queue.lease`. One job, one report:
//!
//! 1. The payload is read; a notification that is not about an expense report workflow
//!    step (a travel request, another object, another event) is logged and completed.
//! 2. The report the `ObjectURI` names is read (v1.1 Report Full Details). A report no
//!    longer pending external validation was decided already (a late duplicate, a
//!    redelivery after a crash, another instance): logged and completed.
//! 3. The owner's UUID and language are looked up by the login the details give (Identity
//!    v4, cached), and the v4 report with its expenses and allocations is read.
//! 4. The validation rules decide; the report is approved, or sent back with the rules'
//!    comment, with `expectedStepCode = notification.step_code`, so Concur refuses an
//!    action on a report that moved on; such a refusal is logged and the job dropped (never
//!    retried). Each decision writes one audit line.
//! 5. A job that came from Concur's FAILED list has its entry deleted in Concur once the
//!    report is decided or dropped.
//!
//! A failure is sorted by [`Failure::of`]: a transient one (Concur down or slow, the
//! decision hook or a value source failing) is retried with [`Backoff`] until
//! `queue.retry_for` has passed since the first delivery, then dead-lettered; a permanent
//! one (an untrusted URL, Concur refusing the request with a 4xx other than 401/408/429, an
//! unreadable payload, an owner Concur does not know) is dead-lettered at once. What to do
//! with an outcome ([`disposition`]) is pure, apart from the I/O loop ([`run`]).

use std::sync::Arc;
use std::time::Duration;

use concur_protocol::callout::notification::{Notification, ObjectType};
use tokio::sync::watch;

use super::Payload;
use super::audit::{self, Action, Decision, DropReason};
use crate::concur::{
    ConcurClient, ConcurError, ReportApproveRequest, ReportSendBackRequest, V4Report,
};
use crate::state::AppState;
use crate::store::queue::{Backoff, Claimed, Job, QueueError, UnixMillis, WorkQueue, now_millis};
use crate::validation::{Review, Verdict};

/// `ApsKey` of a report waiting in an external validation step.
const PENDING_EXTERNAL_VALIDATION: &str = "A_EXTV";

/// What the workers need besides the shared state.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `notification.step_code`, sent as `expectedStepCode`.
    pub step_code: String,
    /// `notification.workers`.
    pub workers: usize,
    /// `notification.poll_interval`.
    pub poll_interval: Duration,
    /// `queue.lease`.
    pub lease: Duration,
    pub backoff: Backoff,
    /// This instance's name in the queue's claims (each worker adds its number).
    pub instance: String,
}

impl WorkerConfig {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self {
            step_code: settings.notification.step_code.clone(),
            workers: settings.notification.workers,
            poll_interval: settings.notification.poll_interval,
            lease: settings.queue.lease,
            backoff: Backoff::from_settings(&settings.queue),
            instance: instance_name(),
        }
    }
}

/// `<pid>-<8 random hex digits>`: unique among the instances sharing a queue, and readable
/// in `notifications list`.
fn instance_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", std::process::id(), &random[..8])
}

/// Why a job was not settled this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// May succeed later: retried with backoff until `queue.retry_for`, then dead-lettered.
    Transient(String),
    /// Cannot succeed: dead-lettered at once.
    Permanent(String),
}

impl Failure {
    /// Sorts a failed Concur call: an untrusted or malformed URL and a 4xx refusal other
    /// than 401 (token), 408 (timeout) and 429 (throttling) will fail the same way again.
    pub fn of(error: &ConcurError) -> Self {
        let permanent = match error {
            ConcurError::UntrustedUrl { .. }
            | ConcurError::InvalidUrl { .. }
            | ConcurError::MissingItemId(_)
            | ConcurError::CommentRequired
            | ConcurError::UnrecognisedItemUrl => true,
            ConcurError::Api(e) => {
                (400..500).contains(&e.status) && !matches!(e.status, 401 | 408 | 429)
            }
            _ => false,
        };
        if permanent {
            Self::Permanent(error.to_string())
        } else {
            Self::Transient(error.to_string())
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Transient(reason) | Self::Permanent(reason) => reason,
        }
    }
}

/// What the queue is told about a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Decided or dropped: the job is removed.
    Complete,
    /// Tried again at this time.
    RetryAt(UnixMillis),
    /// Parked for an administrator.
    DeadLetter,
}

/// The disposition of a job whose attempt `job.attempts` ended with `outcome` at `now`
/// (`random` is uniform over `u64`, for the backoff's jitter).
pub fn disposition(
    outcome: &Result<(), Failure>,
    job: &Job,
    backoff: &Backoff,
    now: UnixMillis,
    random: u64,
) -> Disposition {
    match outcome {
        Ok(()) => Disposition::Complete,
        Err(Failure::Permanent(_)) => Disposition::DeadLetter,
        Err(Failure::Transient(_)) => {
            match backoff.next_attempt(job.attempts.max(1), job.first_seen, now, random) {
                Some(at) => Disposition::RetryAt(at),
                None => Disposition::DeadLetter,
            }
        }
    }
}

/// Whether a notification is one the worker acts on: an expense report entering a
/// workflow step. `Err` says why not.
pub fn actionable(n: &Notification) -> Result<&str, DropReason> {
    match &n.object_type {
        ObjectType::ExpenseReport => {}
        ObjectType::TravelRequest => return Err(DropReason::TravelRequest),
        ObjectType::Other(_) => return Err(DropReason::NotAnExpenseReport),
    }
    n.workflow_step().ok_or(DropReason::NotAWorkflowStep)
}

/// Whether the report details say the report waits for external validation. A report
/// whose details give no status at all is taken as pending: `expectedStepCode` still
/// stops an action on a report elsewhere.
pub fn is_pending(details: &crate::concur::ReportDetails) -> bool {
    match (&details.approval_status_code, &details.approval_status_name) {
        (None, None) => true,
        (code, name) => {
            code.as_deref()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case(PENDING_EXTERNAL_VALIDATION))
                || name
                    .as_deref()
                    .is_some_and(|n| n.to_ascii_lowercase().contains("external validation"))
        }
    }
}

/// Starts the workers when the queue and the Concur client exist; they stop when `stop`
/// turns true (a decision under way is finished first).
pub fn spawn(
    state: &Arc<AppState>,
    config: &WorkerConfig,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    if state.notifications.is_none() || state.concur.is_none() {
        return Vec::new();
    }
    tracing::info!(
        workers = config.workers,
        instance = config.instance.as_str(),
        "event notification workers started"
    );
    (1..=config.workers)
        .map(|n| {
            let worker = Worker {
                name: format!("{}/{n}", config.instance),
                state: state.clone(),
                config: config.clone(),
            };
            tokio::spawn(run(worker, stop.clone()))
        })
        .collect()
}

struct Worker {
    name: String,
    state: Arc<AppState>,
    config: WorkerConfig,
}

/// One worker's loop: claim, settle, report; when idle, wait for a local enqueue or the
/// poll interval.
async fn run(worker: Worker, mut stop: watch::Receiver<bool>) {
    let Some(notifications) = worker.state.notifications.clone() else {
        return;
    };
    let queue = notifications.queue.clone();
    while !*stop.borrow() {
        let claimed = queue
            .claim(&worker.name, worker.config.lease, now_millis())
            .await;
        match claimed {
            Ok(Some(claimed)) => {
                worker.handle(queue.as_ref(), claimed).await;
                continue;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(worker = worker.name.as_str(), %error, "cannot claim from the work queue");
            }
        }
        tokio::select! {
            () = notifications.wakeup.notified() => {}
            () = tokio::time::sleep(worker.config.poll_interval) => {}
            // The server is gone when the sender is: stop too.
            changed = stop.changed() => if changed.is_err() { return },
        }
    }
}

impl Worker {
    async fn handle(&self, queue: &dyn WorkQueue, claimed: Claimed) {
        let Claimed { ticket, job } = claimed;
        // No request caused the job: its Concur calls share a fresh correlation id.
        let correlation_id = concur_client::observe::fresh();
        tracing::info!(
            job = job.id,
            attempt = job.attempts,
            correlation_id,
            "deciding a notification"
        );
        let outcome = concur_client::observe::scope(correlation_id, self.settle(&job)).await;
        let now = now_millis();
        let random = uuid::Uuid::new_v4().as_u64_pair().0;
        let disposition = disposition(&outcome, &job, &self.config.backoff, now, random);
        crate::metrics::notification_job(match disposition {
            Disposition::Complete => "complete",
            Disposition::RetryAt(_) => "retry",
            Disposition::DeadLetter => "dead_letter",
        });
        let reported = match disposition {
            Disposition::Complete => queue.complete(ticket).await,
            Disposition::RetryAt(at) => {
                let reason = outcome.as_ref().err().map_or("", Failure::reason);
                tracing::warn!(
                    job = job.id,
                    attempt = job.attempts,
                    reason,
                    retry_in_ms = at.saturating_sub(now),
                    "notification not decided; retrying later"
                );
                queue.retry_later(ticket, reason, at).await
            }
            Disposition::DeadLetter => {
                let reason = outcome.as_ref().err().map_or("", Failure::reason);
                tracing::error!(
                    job = job.id,
                    attempt = job.attempts,
                    reason,
                    "notification not decided; parked as a dead letter (concur-connector notifications list)"
                );
                queue.dead_letter(ticket, reason).await
            }
        };
        match reported {
            Ok(()) => {}
            Err(QueueError::LostClaim(id)) => tracing::warn!(
                job = id,
                "the job's lease expired while deciding; another worker has it"
            ),
            Err(error) => tracing::warn!(job = job.id, %error, "cannot report the job's outcome"),
        }
    }

    /// Decides or drops the job's report; deletes its FAILED-list entry afterwards.
    async fn settle(&self, job: &Job) -> Result<(), Failure> {
        let Some(concur) = &self.state.concur else {
            return Err(Failure::Transient("no concur client".to_owned()));
        };
        let payload = Payload::from_json(&job.payload)
            .map_err(|e| Failure::Permanent(format!("unreadable job payload: {e}")))?;
        let notification = payload
            .notification()
            .map_err(|e| Failure::Permanent(format!("unreadable notification: {e}")))?;
        self.decide(concur, &notification).await?;
        if let Some(uri) = &payload.failed_uri {
            delete_failed_entry(concur, uri).await?;
        }
        Ok(())
    }

    async fn decide(&self, concur: &ConcurClient, n: &Notification) -> Result<(), Failure> {
        let step = match actionable(n) {
            Ok(step) => step,
            Err(reason) => {
                audit::dropped(&n.object_uri, n.workflow_step().unwrap_or_default(), reason);
                return Ok(());
            }
        };
        let details = concur
            .report_details(&n.object_uri)
            .await
            .map_err(|e| Failure::of(&e))?;
        let report_id = details.report_id.as_str();
        if !is_pending(&details) {
            audit::dropped(report_id, step, DropReason::NotPending);
            return Ok(());
        }
        let login = details
            .owner_login
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| Failure::Permanent("the report details name no owner".to_owned()))?;
        let owner = concur
            .user_by_login(login)
            .await
            .map_err(|e| Failure::of(&e))?
            .ok_or_else(|| {
                Failure::Permanent(format!(
                    "concur knows no user with the owner's login of report {report_id}"
                ))
            })?;
        let report = concur
            .report_v4(&V4Report {
                user_id: Some(owner.id.clone()),
                context_type: None,
                report_id: details.report_id.clone(),
            })
            .await
            .map_err(|e| Failure::of(&e))?;
        let review = Review {
            details: &details,
            report: &report,
            owner_language: owner.preferred_language.as_deref(),
        };
        let verdict = self
            .state
            .validator
            .decide(&review, &self.state.values)
            .await
            .map_err(|e| Failure::Transient(format!("no decision: {e}")))?;
        let expected_step_code = Some(self.config.step_code.clone());
        let (action, failed_rules, result) = match verdict {
            Verdict::Approve => {
                let request = ReportApproveRequest {
                    expected_step_code,
                    ..ReportApproveRequest::default()
                };
                (
                    Action::Approve,
                    Vec::new(),
                    concur.approve(report_id, &request).await,
                )
            }
            Verdict::SendBack {
                failed_rules,
                comment,
            } => {
                let request = ReportSendBackRequest {
                    comment,
                    expected_step_code,
                    ..ReportSendBackRequest::default()
                };
                let result = concur.send_back(report_id, &request).await;
                (Action::SendBack, failed_rules, result)
            }
        };
        let mut decision = Decision {
            report: report_id,
            step,
            action,
            failed_rules: &failed_rules,
            reason: None,
            correlation_id: None,
        };
        match result {
            Ok(outcome) => {
                decision.correlation_id = outcome.correlation_id.as_deref();
                audit::decision(&decision);
                Ok(())
            }
            Err(error @ ConcurError::StepMoved(_)) => {
                decision.action = Action::Dropped;
                decision.reason = Some(DropReason::StepMoved);
                decision.correlation_id = error.correlation_id();
                audit::decision(&decision);
                audit::dropped(report_id, step, DropReason::StepMoved);
                Ok(())
            }
            Err(error) => Err(Failure::of(&error)),
        }
    }
}

/// Deletes a FAILED-list entry once its report is settled. Already gone (404: another
/// instance deleted it) is fine; any other failure retries the job, whose next attempt finds
/// the report decided, drops it, and deletes again.
async fn delete_failed_entry(concur: &ConcurClient, uri: &str) -> Result<(), Failure> {
    match concur.delete_notification(uri).await {
        Ok(()) => {
            tracing::info!("failed notification deleted in concur");
            Ok(())
        }
        Err(error) if error.status() == Some(404) => Ok(()),
        Err(error) => Err(Failure::of(&error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concur::ApiError;
    use crate::store::queue::JobState;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
        retry_for: Duration::from_secs(600),
    };

    fn job(attempts: u32, first_seen: UnixMillis) -> Job {
        Job {
            id: 1,
            key: "k".to_owned(),
            payload: String::new(),
            attempts,
            redeliveries: 0,
            first_seen,
            next_attempt: first_seen,
            last_error: None,
            state: JobState::Claimed {
                worker: "w".to_owned(),
                until: first_seen + 30_000,
            },
        }
    }

    fn api(status: u16) -> ConcurError {
        ConcurError::Api(Box::new(ApiError {
            status,
            ..ApiError::default()
        }))
    }

    #[test]
    fn a_settled_job_completes_and_a_permanent_failure_is_parked_at_once() {
        let j = job(1, 0);
        assert_eq!(
            disposition(&Ok(()), &j, &BACKOFF, 10, 0),
            Disposition::Complete
        );
        let permanent = Err(Failure::Permanent("x".into()));
        assert_eq!(
            disposition(&permanent, &j, &BACKOFF, 10, 0),
            Disposition::DeadLetter
        );
    }

    #[test]
    fn a_transient_failure_retries_with_backoff_until_the_deadline() {
        let transient = Err(Failure::Transient("down".into()));
        assert_eq!(
            disposition(&transient, &job(1, 0), &BACKOFF, 10_000, u64::MAX),
            Disposition::RetryAt(11_000)
        );
        assert_eq!(
            disposition(&transient, &job(3, 0), &BACKOFF, 10_000, u64::MAX),
            Disposition::RetryAt(14_000)
        );
        assert_eq!(
            disposition(&transient, &job(3, 0), &BACKOFF, 600_000, 0),
            Disposition::DeadLetter
        );
    }

    #[test]
    fn refusals_that_will_repeat_are_permanent() {
        for status in [400, 403, 404, 409, 422] {
            assert!(
                matches!(Failure::of(&api(status)), Failure::Permanent(_)),
                "{status}"
            );
        }
        for status in [401, 408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(Failure::of(&api(status)), Failure::Transient(_)),
                "{status}"
            );
        }
        let untrusted = ConcurError::UntrustedUrl {
            what: "report",
            reason: "not https".into(),
        };
        assert!(matches!(Failure::of(&untrusted), Failure::Permanent(_)));
        let timeout = ConcurError::Timeout { operation: "x" };
        assert!(matches!(Failure::of(&timeout), Failure::Transient(_)));
    }

    fn notification(object_type: &str, event_type: &str) -> Notification {
        let xml = format!(
            "<Notification><EventType>{event_type}</EventType><ObjectType>{object_type}</ObjectType>\
             <ObjectURI>https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/K</ObjectURI></Notification>"
        );
        Notification::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn only_expense_reports_entering_a_workflow_step_are_acted_on() {
        let step = "Report Entered Expense Report Workflow Step - SUBMIT";
        assert_eq!(actionable(&notification("EXPRPT", step)), Ok("SUBMIT"));
        assert_eq!(
            actionable(&notification("TRAVELREQ", step)),
            Err(DropReason::TravelRequest)
        );
        assert_eq!(
            actionable(&notification("INVOICE", step)),
            Err(DropReason::NotAnExpenseReport)
        );
        assert_eq!(
            actionable(&notification("EXPRPT", "Report Approved")),
            Err(DropReason::NotAWorkflowStep)
        );
    }

    #[test]
    fn pending_means_waiting_for_external_validation() {
        let details = |code: Option<&str>, name: Option<&str>| crate::concur::ReportDetails {
            report_id: "R".into(),
            report_key: None,
            report_name: None,
            approval_status_name: name.map(str::to_owned),
            approval_status_code: code.map(str::to_owned),
            owner_login: None,
            owner_employee_id: None,
            currency: None,
            workflow_action_url: None,
            entries: Vec::new(),
        };
        assert!(is_pending(&details(Some("A_EXTV"), None)));
        assert!(is_pending(&details(
            None,
            Some("Pending External Validation")
        )));
        assert!(is_pending(&details(None, None)));
        assert!(!is_pending(&details(Some("A_APPR"), Some("Approved"))));
        assert!(!is_pending(&details(
            Some("A_RESU"),
            Some("Sent Back to Employee")
        )));
    }
}
