//! The audit trail of Event Notification: one line (tracing target `audit`) per decision
//! the worker took on a report, and one info line for every notification it dropped
//! without acting (docs/protocol.md §12.6).
//!
//! Values come from Concur and from the customer's rules; the log writer escapes every
//! field (control characters included), and nothing secret is ever a field here.

use std::fmt;

/// What the worker did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    SendBack,
    /// Nothing: the action was refused or not needed (see [`DropReason`]).
    Dropped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::SendBack => "send_back",
            Self::Dropped => "dropped",
        }
    }
}

/// Why a notification was acknowledged and then not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A travel request: Concur's follow-up API for them is gone.
    TravelRequest,
    /// Not an expense report (an object type we do not know).
    NotAnExpenseReport,
    /// The `EventType` names no workflow step.
    NotAWorkflowStep,
    /// The report is no longer pending external validation: decided already (a late
    /// duplicate, or another instance), or recalled by its owner.
    NotPending,
    /// Concur refused the action because the report moved on from the expected step.
    StepMoved,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TravelRequest => "travel_request",
            Self::NotAnExpenseReport => "not_an_expense_report",
            Self::NotAWorkflowStep => "not_a_workflow_step",
            Self::NotPending => "not_pending_external_validation",
            Self::StepMoved => "step_moved",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TravelRequest => "a travel request notification is acknowledged, never acted on",
            Self::NotAnExpenseReport => "the notification is not about an expense report",
            Self::NotAWorkflowStep => "the notification's event type names no workflow step",
            Self::NotPending => {
                "the report is no longer pending external validation (already decided)"
            }
            Self::StepMoved => "concur refused the action: the report is no longer at the step",
        })
    }
}

/// One decision, as the audit line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The report's id (`ReportId`), or the notification's ObjectURI before it is known.
    pub report: &'a str,
    /// The step the notification named (`SUBMIT`, …).
    pub step: &'a str,
    pub action: Action,
    /// The names of the rules that failed (send back), else empty.
    pub failed_rules: &'a [String],
    /// Why (for a drop), else empty.
    pub reason: Option<DropReason>,
    /// Concur's `concur-correlationid` of the action call (or of its refusal).
    pub correlation_id: Option<&'a str>,
}

/// Writes the decision's audit line (and counts it; a drop is counted by [`dropped`]).
pub fn decision(d: &Decision<'_>) {
    if d.action != Action::Dropped {
        crate::metrics::notification_decision(d.action.as_str(), None);
    }
    tracing::info!(
        target: "audit",
        report = d.report,
        step = d.step,
        action = d.action.as_str(),
        failed_rules = d.failed_rules.join(",").as_str(),
        reason = d.reason.map_or("", DropReason::as_str),
        correlation_id = d.correlation_id.unwrap_or_default(),
        "external validation decision"
    );
}

/// Writes the info line of a notification dropped without an action.
pub fn dropped(report: &str, step: &str, reason: DropReason) {
    crate::metrics::notification_decision(Action::Dropped.as_str(), Some(reason.as_str()));
    tracing::info!(
        report,
        step,
        reason = reason.as_str(),
        "notification dropped: {reason}"
    );
}
