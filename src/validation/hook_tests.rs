//! The decision hook against a real local HTTP server (wiremock on 127.0.0.1).

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::tests::{allocation, details, expense, header as report_header, report, rules, values};
use super::*;

/// A hook rule at `server`'s `/decide`, with a short backoff and `extra` keys.
fn hook(server: &MockServer, extra: &str) -> Validator {
    let settings = ValidationSettings {
        rules: rules(&format!(
            "[[rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"{}/decide\"\nbackoff = \"10ms\"\n{extra}",
            server.uri()
        )),
        ..ValidationSettings::default()
    };
    Validator::from_settings(&settings, Mode::Development).unwrap()
}

fn sample() -> ReportV4 {
    let mut lunch = expense("E1", "LUNCH", "60.00", &[("custom12", "PRJ-1")]);
    lunch.expense.vendor = Some("Café Einstein".into());
    lunch.allocations = vec![allocation("A1", &[("Custom12", "PRJ-2")])];
    report(
        report_header(&[("custom12", "PRJ-1"), ("orgUnit1", "Sales")]),
        vec![lunch, expense("E2", "TAXI", "12.5", &[])],
    )
}

async fn decide(validator: &Validator, language: Option<&str>) -> Result<Verdict, DecideError> {
    let details = details();
    let report = sample();
    let review = Review {
        details: &details,
        report: &report,
        owner_language: language,
    };
    validator.decide(&review, &values()).await
}

async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/decide"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

fn hook_error(result: Result<Verdict, DecideError>) -> HookError {
    match result {
        Err(DecideError::Hook { rule, error }) => {
            assert_eq!(rule, "erp");
            error
        }
        other => panic!("expected a hook error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_approving_hook_approves() {
    let server =
        answering(ResponseTemplate::new(200).set_body_json(json!({"decision": "approve"}))).await;
    assert_eq!(
        decide(&hook(&server, ""), None).await.unwrap(),
        Verdict::Approve
    );
}

#[tokio::test]
async fn the_hook_receives_the_documented_request() {
    let server = MockServer::start().await;
    let expected = json!({
        "version": 1,
        "rule": "erp",
        "language": "de",
        "report": {
            "id": "R20CHARACTERSxxxxxxx",
            "name": "Berlin trip",
            "currency": "USD",
            "owner": {
                "login": "cm@example.com",
                "employee_id": "E-42",
                "user_id": "owner-uuid",
                "language": "de-DE"
            },
            "fields": {"custom12": "PRJ-1", "orgunit1": "Sales"},
            "expenses": [
                {
                    "id": "E1",
                    "expense_type": "LUNCH",
                    "expense_type_name": "Lunch",
                    "date": "2026-11-02",
                    "amount": "60.00",
                    "currency": "USD",
                    "vendor": "Café Einstein",
                    "business_purpose": null,
                    "fields": {"custom12": "PRJ-1"},
                    "allocations": [
                        {"id": "A1", "amount": null, "currency": null, "fields": {"custom12": "PRJ-2"}}
                    ]
                },
                {
                    "id": "E2",
                    "expense_type": "TAXI",
                    "expense_type_name": "Taxi",
                    "date": "2026-11-02",
                    "amount": "12.5",
                    "currency": "USD",
                    "vendor": null,
                    "business_purpose": null,
                    "fields": {},
                    "allocations": []
                }
            ]
        }
    });
    Mock::given(method("POST"))
        .and(path("/decide"))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(header("authorization", "Bearer hook-token"))
        .and(body_json(&expected))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"decision": "approve"})))
        .expect(1)
        .mount(&server)
        .await;
    let verdict = decide(
        &hook(&server, "bearer_token = \"hook-token\"\n"),
        Some("de-DE"),
    )
    .await;
    assert_eq!(
        verdict.unwrap(),
        Verdict::Approve,
        "the request matched the documented body"
    );
}

#[tokio::test]
async fn basic_credentials_are_sent_when_configured() {
    let server = MockServer::start().await;
    // base64("concur:s3cret")
    Mock::given(method("POST"))
        .and(header("authorization", "Basic Y29uY3VyOnMzY3JldA=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"decision": "approve"})))
        .expect(1)
        .mount(&server)
        .await;
    let v = hook(&server, "username = \"concur\"\npassword = \"s3cret\"\n");
    assert_eq!(decide(&v, None).await.unwrap(), Verdict::Approve);
}

#[tokio::test]
async fn a_send_back_with_a_comment_lists_its_lines_after_the_rules() {
    let server = answering(ResponseTemplate::new(200).set_body_json(json!({
        "decision": "send_back",
        "comment": "Project PRJ-1 is closed.\n\nBudget exceeded by 10.00 USD."
    })))
    .await;
    let settings = ValidationSettings {
        rules: rules(&format!(
            "[[rules]]\nname = \"lunch\"\nkind = \"amount_limit\"\nlimits = {{ LUNCH = 50 }}\n\
             [[rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"{}/decide\"\n",
            server.uri()
        )),
        ..ValidationSettings::default()
    };
    let v = Validator::from_settings(&settings, Mode::Development).unwrap();
    let Verdict::SendBack {
        failed_rules,
        comment,
    } = decide(&v, None).await.unwrap()
    else {
        panic!("approved");
    };
    assert_eq!(failed_rules, ["lunch", "erp"]);
    assert_eq!(
        comment.lines().skip(1).collect::<Vec<_>>(),
        [
            "- Project PRJ-1 is closed.",
            "- Budget exceeded by 10.00 USD.",
            "- Expense Lunch, 2026-11-02, 60.00 USD: the amount 60.00 USD exceeds the limit of 50.00 USD for Lunch",
        ]
    );
}

#[tokio::test]
async fn a_send_back_may_list_problems() {
    let server = answering(ResponseTemplate::new(200).set_body_json(json!({
        "decision": "send_back",
        "problems": ["Cost center CC-9 is blocked", "  "],
        "extra": "ignored"
    })))
    .await;
    let Verdict::SendBack { comment, .. } = decide(&hook(&server, ""), None).await.unwrap() else {
        panic!("approved");
    };
    assert!(
        comment.ends_with("\n- Cost center CC-9 is blocked"),
        "{comment}"
    );
}

#[tokio::test]
async fn a_slow_hook_times_out_after_its_retries_and_never_approves() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"decision": "approve"}))
                .set_delay(Duration::from_secs(30)),
        )
        .expect(2)
        .mount(&server)
        .await;
    let v = hook(&server, "timeout = \"200ms\"\nretries = 1\n");
    let error = hook_error(decide(&v, None).await);
    assert!(matches!(error, HookError::Timeout { .. }), "{error}");
}

#[tokio::test]
async fn a_failing_hook_is_retried_and_its_later_answer_counts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"decision": "approve"})))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    assert_eq!(
        decide(&hook(&server, ""), None).await.unwrap(),
        Verdict::Approve
    );
}

#[tokio::test]
async fn a_hook_failing_every_attempt_is_no_decision() {
    for status in [500, 503, 429] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .expect(3)
            .mount(&server)
            .await;
        let error = hook_error(decide(&hook(&server, "retries = 2\n"), None).await);
        assert!(
            matches!(error, HookError::Unavailable { .. }),
            "{status}: {error}"
        );
        assert!(error.to_string().contains(&status.to_string()), "{error}");
    }
}

#[tokio::test]
async fn a_hook_that_refuses_connections_is_no_decision() {
    let settings = ValidationSettings {
        rules: rules(
            // Port 9 (discard) on loopback: nothing listens, the connection is refused.
            "[[rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"http://127.0.0.1:9/decide\"\nbackoff = \"10ms\"\nretries = 1\n",
        ),
        ..ValidationSettings::default()
    };
    let v = Validator::from_settings(&settings, Mode::Development).unwrap();
    let error = hook_error(decide(&v, None).await);
    assert!(matches!(error, HookError::Unavailable { .. }), "{error}");
}

#[tokio::test]
async fn nonsense_answers_are_no_decision_and_not_retried_at_once() {
    let cases: Vec<(&str, ResponseTemplate)> = vec![
        (
            "not json",
            ResponseTemplate::new(200).set_body_string("<html>ok</html>"),
        ),
        (
            "unknown decision",
            ResponseTemplate::new(200).set_body_json(json!({"decision": "maybe"})),
        ),
        (
            "no decision",
            ResponseTemplate::new(200).set_body_json(json!({"comment": "x"})),
        ),
        (
            "send_back without comment",
            ResponseTemplate::new(200).set_body_json(json!({"decision": "send_back"})),
        ),
        (
            "send_back with a blank comment",
            ResponseTemplate::new(200)
                .set_body_json(json!({"decision": "send_back", "comment": " \n "})),
        ),
        (
            "an array",
            ResponseTemplate::new(200).set_body_json(json!(["approve"])),
        ),
        (
            "too large",
            ResponseTemplate::new(200)
                .set_body_json(json!({"decision": "send_back", "comment": "x".repeat(2000)})),
        ),
        ("a 404", ResponseTemplate::new(404)),
        (
            "a redirect",
            ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
        ),
    ];
    for (case, template) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        let v = hook(&server, "max_response_bytes = 1024\n");
        let error = hook_error(decide(&v, None).await);
        assert!(
            matches!(error, HookError::BadAnswer { .. }),
            "{case}: {error}"
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn the_error_names_neither_the_url_nor_the_token() {
    let server = answering(ResponseTemplate::new(200).set_body_string("nonsense")).await;
    let v = hook(&server, "bearer_token = \"very-secret-token\"\n");
    let text = decide(&v, None).await.unwrap_err().to_string();
    assert!(
        !text.contains("very-secret-token") && !text.contains(&server.uri()),
        "{text}"
    );
    assert!(
        text.starts_with("decision hook `erp`: unusable answer"),
        "{text}"
    );
}
