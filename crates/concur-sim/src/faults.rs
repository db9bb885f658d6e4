//! Fault knobs: latency, server errors, throttling, a forced 401, a token endpoint outage and
//! a whole-Concur outage.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::Family;

/// Faults applied to the Concur surface (token endpoint, JWKS and the expense APIs; never to
/// the `/_sim/` admin API). Every field defaults to "off", so a partial JSON object turns on
/// just what it names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every answer, in milliseconds.
    pub latency_ms: u64,
    /// Share of calls (0–100) answered with `error_status`. Deterministic: with 25, exactly
    /// every fourth call fails, so tests and benchmarks are repeatable.
    pub error_percent: u8,
    /// The next N calls are answered with `error_status`.
    pub fail_next: u32,
    /// Status of injected server errors: 500, 502, 503 or 504 (503 when 0).
    pub error_status: u16,
    /// The next N calls are answered `429 Too Many Requests` with `Retry-After`.
    pub throttle_next: u32,
    /// `Retry-After` seconds sent with 429 and injected 503 answers (1 when 0).
    pub retry_after_secs: u64,
    /// The next N API calls (not token calls) are answered 401 as if the token had expired.
    pub unauthorized_next: u32,
    /// While set, the token endpoint answers 503.
    pub token_endpoint_down: bool,
    /// The next N field writes (v4 PATCH, v3 PUT, Travel Request PUT) are refused with
    /// `write_error_status`, after authentication and before anything changes (recorded like
    /// any write).
    pub refuse_writes_next: u32,
    /// Status of refused writes: 400 (a validation error saying `write_error_message`), 403,
    /// or a server error (500 when 0 or anything else).
    pub write_error_status: u16,
    /// Concur's message for refused writes with status 400.
    pub write_error_message: String,
    /// The next N authorization-code grants succeed but with the `id_token` spoilt as
    /// `id_token_fault` says (to test that the connector refuses such launches).
    pub bad_id_token_next: u32,
    /// How `bad_id_token_next` spoils the `id_token`.
    pub id_token_fault: IdTokenFault,
    /// Field writes (v4 PATCH, v3 PUT, Travel Request PUT) are applied at once but answered
    /// this many milliseconds later: Concur saved the value while the caller may have given up.
    pub write_answer_delay_ms: u64,
    /// The next N Event Notifications of submitted reports are not delivered: they go
    /// straight to the failed-notification list, as if the connector never got them.
    pub drop_notifications_next: u32,
    /// Concur is down for this many seconds, counted from when the knobs are set: every call
    /// to the Concur surface (the token endpoint and JWKS included, as in a real outage)
    /// answers 503 with `Retry-After` = the seconds left, and notifications of reports
    /// submitted meanwhile are not delivered: they join the failed-notification list, where
    /// the connector finds them once Concur is back. Read back, it is the seconds left.
    pub down_for_secs: u64,
    /// The next N token grants (of the `grant_type` `elsewhere_grant`; any grant when empty)
    /// that arrive at another host than `elsewhere_geolocation`'s are answered `400` with
    /// OAuth error 16, "user lives elsewhere", naming `elsewhere_geolocation` (off while it
    /// is empty). A grant at the named host is served as usual and consumes nothing.
    pub elsewhere_next: u32,
    /// The geolocation error 16 names (a base URL, e.g. `https://localhost:8443`).
    pub elsewhere_geolocation: String,
    /// The `grant_type` error 16 is answered to; empty: every grant.
    pub elsewhere_grant: String,
    /// Authorization-code grants that arrive at this host (`host:port` as the `Host` header
    /// names it; empty: off) are refused with `code_refusal_status` and OAuth code
    /// `code_refusal_code`, the code left unused: an auth base (GLZ) that does not serve
    /// this client, while the application's geolocation does.
    pub refuse_code_grants_at: String,
    /// Status of refused code grants: a 4xx (401 when 0 or not a 4xx).
    pub code_refusal_status: u16,
    /// OAuth code of refused code grants (61, "client not found", when 0).
    pub code_refusal_code: u32,
}

/// What is wrong with a spoilt `id_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdTokenFault {
    /// The token response carries no `id_token`.
    #[default]
    Missing,
    /// `aud` is another client id.
    WrongAudience,
    /// `iss` is not a Concur geolocation (nor the simulator).
    WrongIssuer,
    /// `exp` lies an hour in the past.
    Expired,
}

/// What the fault knobs decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub latency: Duration,
    pub inject: Option<Injected>,
}

/// An answer that replaces the simulated service's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Injected {
    pub status: StatusCode,
    pub retry_after: Option<u64>,
}

/// The knobs plus the running state that makes `error_percent` deterministic.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub knobs: Faults,
    accumulator: u32,
    /// When the outage `down_for_secs` started ends.
    down_until: Option<Instant>,
}

impl FaultState {
    pub fn set(&mut self, knobs: Faults) {
        self.set_at(knobs, Instant::now());
    }

    fn set_at(&mut self, knobs: Faults, now: Instant) {
        self.down_until =
            (knobs.down_for_secs > 0).then(|| now + Duration::from_secs(knobs.down_for_secs));
        self.knobs = knobs;
        self.accumulator = 0;
    }

    /// The knobs as they stand now: `down_for_secs` is the seconds of the outage left.
    pub fn current(&self) -> Faults {
        Faults {
            down_for_secs: self.down_left(Instant::now()).unwrap_or(0),
            ..self.knobs.clone()
        }
    }

    /// While Concur is down: the seconds left, rounded up (at least 1).
    pub fn down_left(&self, now: Instant) -> Option<u64> {
        let left = self.down_until?.checked_duration_since(now)?;
        if left.is_zero() {
            return None;
        }
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Whether the next write is refused, and how; consumes `refuse_writes_next`.
    pub fn take_write_refusal(&mut self) -> Option<(StatusCode, String)> {
        let knobs = &mut self.knobs;
        if knobs.refuse_writes_next == 0 {
            return None;
        }
        knobs.refuse_writes_next -= 1;
        let status = match StatusCode::from_u16(knobs.write_error_status) {
            Ok(s) if s == StatusCode::BAD_REQUEST || s == StatusCode::FORBIDDEN => s,
            Ok(s) if s.is_server_error() => s,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if knobs.write_error_message.is_empty() {
            "The value is not valid for this field.".to_owned()
        } else {
            knobs.write_error_message.clone()
        };
        Some((status, message))
    }

    /// The geolocation a token grant of `grant_type` arriving at `host` is told to go to
    /// (OAuth error 16); consumes `elsewhere_next`.
    pub fn take_elsewhere(
        &mut self,
        host: Option<&str>,
        grant_type: Option<&str>,
    ) -> Option<String> {
        let knobs = &mut self.knobs;
        if knobs.elsewhere_next == 0 || knobs.elsewhere_geolocation.is_empty() {
            return None;
        }
        if !knobs.elsewhere_grant.is_empty() && grant_type != Some(knobs.elsewhere_grant.as_str()) {
            return None;
        }
        let named = authority_of(&knobs.elsewhere_geolocation);
        if host.is_some_and(|h| named.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(h))) {
            return None;
        }
        knobs.elsewhere_next -= 1;
        Some(knobs.elsewhere_geolocation.clone())
    }

    /// How an authorization-code grant arriving at `host` is refused, if it is: the status
    /// and the OAuth code.
    pub fn code_refusal(&self, host: Option<&str>) -> Option<(StatusCode, u32)> {
        let knobs = &self.knobs;
        let at = knobs.refuse_code_grants_at.trim();
        if at.is_empty() || !host.is_some_and(|h| h.eq_ignore_ascii_case(at)) {
            return None;
        }
        let status = StatusCode::from_u16(knobs.code_refusal_status)
            .ok()
            .filter(StatusCode::is_client_error)
            .unwrap_or(StatusCode::UNAUTHORIZED);
        let code = match knobs.code_refusal_code {
            0 => 61,
            code => code,
        };
        Some((status, code))
    }

    /// Whether this notification is dropped; consumes `drop_notifications_next`.
    pub fn take_dropped_notification(&mut self) -> bool {
        let knobs = &mut self.knobs;
        if knobs.drop_notifications_next == 0 {
            return false;
        }
        knobs.drop_notifications_next -= 1;
        true
    }

    /// Whether the `id_token` of this authorization-code grant is spoilt, and how; consumes
    /// `bad_id_token_next`.
    pub fn take_id_token_fault(&mut self) -> Option<IdTokenFault> {
        let knobs = &mut self.knobs;
        if knobs.bad_id_token_next == 0 {
            return None;
        }
        knobs.bad_id_token_next -= 1;
        Some(knobs.id_token_fault)
    }

    /// Decides one call and consumes the "next N" counters it used. Precedence: Concur down,
    /// token endpoint down, `fail_next`, `throttle_next`, `unauthorized_next`,
    /// `error_percent`.
    pub fn decide(&mut self, family: Family, is_token_call: bool) -> Decision {
        self.decide_at(family, is_token_call, Instant::now())
    }

    fn decide_at(&mut self, family: Family, is_token_call: bool, now: Instant) -> Decision {
        let down_left = self.down_left(now);
        let knobs = &mut self.knobs;
        let latency = Duration::from_millis(knobs.latency_ms);
        let retry_after = knobs.retry_after_secs.max(1);
        let error_status = StatusCode::from_u16(knobs.error_status)
            .ok()
            .filter(StatusCode::is_server_error)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let server_error = Injected {
            status: error_status,
            retry_after: (error_status == StatusCode::SERVICE_UNAVAILABLE).then_some(retry_after),
        };
        let inject = if let Some(left) = down_left {
            Some(Injected {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after: Some(left),
            })
        } else if is_token_call && knobs.token_endpoint_down {
            Some(Injected {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after: Some(retry_after),
            })
        } else if knobs.fail_next > 0 {
            knobs.fail_next -= 1;
            Some(server_error)
        } else if knobs.throttle_next > 0 {
            knobs.throttle_next -= 1;
            Some(Injected {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after: Some(retry_after),
            })
        } else if family.is_api() && knobs.unauthorized_next > 0 {
            knobs.unauthorized_next -= 1;
            Some(Injected {
                status: StatusCode::UNAUTHORIZED,
                retry_after: None,
            })
        } else if knobs.error_percent > 0 {
            self.accumulator += u32::from(knobs.error_percent.min(100));
            if self.accumulator >= 100 {
                self.accumulator -= 100;
                Some(server_error)
            } else {
                None
            }
        } else {
            None
        };
        Decision { latency, inject }
    }
}

/// `host:port` of a base URL (the port always written), as a `Host` header names it.
fn authority_of(base: &str) -> Option<String> {
    let url = reqwest::Url::parse(base.trim()).ok()?;
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_16_is_answered_only_away_from_the_named_host_and_for_the_named_grant() {
        let mut s = state(Faults {
            elsewhere_next: 2,
            elsewhere_geolocation: "https://localhost:8443".to_owned(),
            elsewhere_grant: "authorization_code".to_owned(),
            ..Faults::default()
        });
        assert_eq!(
            s.take_elsewhere(Some("127.0.0.1:8443"), Some("refresh_token")),
            None
        );
        assert_eq!(
            s.take_elsewhere(Some("LOCALHOST:8443"), Some("authorization_code")),
            None
        );
        assert_eq!(s.knobs.elsewhere_next, 2, "nothing consumed");
        for _ in 0..2 {
            assert_eq!(
                s.take_elsewhere(Some("127.0.0.1:8443"), Some("authorization_code"))
                    .as_deref(),
                Some("https://localhost:8443")
            );
        }
        assert_eq!(
            s.take_elsewhere(Some("127.0.0.1:8443"), Some("authorization_code")),
            None
        );
    }

    #[test]
    fn code_grants_are_refused_only_at_the_named_host() {
        let mut s = state(Faults {
            refuse_code_grants_at: "127.0.0.1:9443".to_owned(),
            ..Faults::default()
        });
        assert_eq!(s.code_refusal(Some("localhost:9443")), None);
        assert_eq!(s.code_refusal(None), None);
        assert_eq!(
            s.code_refusal(Some("127.0.0.1:9443")),
            Some((StatusCode::UNAUTHORIZED, 61))
        );
        s.knobs.code_refusal_status = 503;
        s.knobs.code_refusal_code = 103;
        assert_eq!(
            s.code_refusal(Some("127.0.0.1:9443")),
            Some((StatusCode::UNAUTHORIZED, 103)),
            "a refusal is a 4xx"
        );
        s.knobs.code_refusal_status = 404;
        assert_eq!(
            s.code_refusal(Some("127.0.0.1:9443")),
            Some((StatusCode::NOT_FOUND, 103))
        );
    }

    fn state(knobs: Faults) -> FaultState {
        let mut s = FaultState::default();
        s.set(knobs);
        s
    }

    #[test]
    fn error_percent_is_an_exact_share() {
        let mut s = state(Faults {
            error_percent: 25,
            ..Faults::default()
        });
        let failed: Vec<bool> = (0..8)
            .map(|_| s.decide(Family::V4, false).inject.is_some())
            .collect();
        assert_eq!(
            failed,
            [false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn next_n_counters_are_consumed() {
        let mut s = state(Faults {
            fail_next: 1,
            unauthorized_next: 1,
            ..Faults::default()
        });
        let first = s.decide(Family::V4, false).inject.unwrap();
        assert_eq!(first.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(first.retry_after, Some(1));
        assert_eq!(
            s.decide(Family::V3, false).inject.unwrap().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(s.decide(Family::V3, false).inject, None);
    }

    #[test]
    fn unauthorized_next_skips_token_calls() {
        let mut s = state(Faults {
            unauthorized_next: 1,
            ..Faults::default()
        });
        assert_eq!(s.decide(Family::OAuth, true).inject, None);
        assert_eq!(
            s.decide(Family::V4, false).inject.unwrap().status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn token_endpoint_down_only_hits_the_token_endpoint() {
        let mut s = state(Faults {
            token_endpoint_down: true,
            ..Faults::default()
        });
        assert_eq!(
            s.decide(Family::OAuth, true).inject.unwrap().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(s.decide(Family::OAuth, false).inject, None);
        assert_eq!(s.decide(Family::V4, false).inject, None);
    }

    #[test]
    fn refused_writes_are_counted_and_keep_their_status() {
        let mut s = state(Faults {
            refuse_writes_next: 1,
            write_error_status: 403,
            ..Faults::default()
        });
        assert_eq!(
            s.take_write_refusal().map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(s.take_write_refusal(), None);
        s.knobs.refuse_writes_next = 1;
        s.knobs.write_error_status = 418;
        assert_eq!(
            s.take_write_refusal().map(|r| r.0),
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
    }

    #[test]
    fn concur_down_answers_everything_503_until_its_time_is_up() {
        let start = Instant::now();
        let mut s = FaultState::default();
        s.set_at(
            Faults {
                down_for_secs: 30,
                fail_next: 1,
                ..Faults::default()
            },
            start,
        );
        for (family, token) in [
            (Family::OAuth, true),
            (Family::OAuth, false),
            (Family::V4, false),
            (Family::V1, false),
        ] {
            let injected = s.decide_at(family, token, start).inject.unwrap();
            assert_eq!(injected.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(injected.retry_after, Some(30));
        }
        let later = start + Duration::from_millis(20_500);
        assert_eq!(s.down_left(later), Some(10), "rounded up");
        assert_eq!(
            s.decide_at(Family::V4, false, later)
                .inject
                .unwrap()
                .retry_after,
            Some(10)
        );
        assert_eq!(s.knobs.fail_next, 1, "an outage consumes no counters");

        let over = start + Duration::from_secs(30);
        assert_eq!(s.down_left(over), None);
        assert_eq!(
            s.decide_at(Family::V4, false, over)
                .inject
                .map(|i| i.retry_after),
            Some(Some(1)),
            "back up: the other knobs apply again"
        );
        assert_eq!(s.decide_at(Family::V4, false, over).inject, None);
    }

    #[test]
    fn setting_the_knobs_again_ends_or_restarts_an_outage() {
        let start = Instant::now();
        let mut s = FaultState::default();
        s.set_at(
            Faults {
                down_for_secs: 60,
                ..Faults::default()
            },
            start,
        );
        assert!(s.down_left(start).is_some());
        s.set_at(Faults::default(), start);
        assert_eq!(s.down_left(start), None);
        assert_eq!(s.decide_at(Family::V4, false, start).inject, None);
    }

    #[test]
    fn error_status_falls_back_to_503_unless_5xx() {
        let mut s = state(Faults {
            fail_next: 2,
            error_status: 404,
            ..Faults::default()
        });
        assert_eq!(
            s.decide(Family::V4, false).inject.unwrap().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        s.knobs.error_status = 502;
        let injected = s.decide(Family::V4, false).inject.unwrap();
        assert_eq!(injected.status, StatusCode::BAD_GATEWAY);
        assert_eq!(injected.retry_after, None);
    }
}
