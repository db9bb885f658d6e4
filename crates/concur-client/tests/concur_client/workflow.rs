//! The calls behind an Event Notification: report details, v4 report, approve / send back,
//! the failed-notification status API.

use concur_client::{ConcurError, Failure, ReportApproveRequest, ReportSendBackRequest, V4Report};
use serde_json::json;
use wiremock::matchers::{bearer_token, body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use super::support::*;

const DETAILS_PATH: &str =
    "/api/expense/expensereport/v1.1/reportfulldetails/nxxKgLlnROzz$sHcpnRHQ$pALxamClaFfdC";
const FAILED_PATH: &str = "/api/platform/notifications/v1.0/notification";
const NOTIFICATION_PATH: &str =
    "/api/platform/notifications/v1.0/notification/nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s";

fn details_body() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ReportDetails xmlns:ns="http://www.concursolutions.com/api/expense/expensereport/2011/03">
  <ReportId>{REPORT_ID}</ReportId>
  <ReportName>March trip</ReportName>
  <ApvStatusName>Pending External Validation</ApvStatusName>
  <X_UserID>chris@example.com</X_UserID>
  <CrnCode>EUR</CrnCode>
  <ExpenseEntriesList><ExpenseEntry><ReportEntryID>E1</ReportEntryID><ExpKey>TAXI</ExpKey>
  <TransactionAmount>40.00</TransactionAmount><Custom3>(P7) Seven</Custom3></ExpenseEntry></ExpenseEntriesList>
</ReportDetails>"#
    )
}

fn patch(action: &str) -> wiremock::MockBuilder {
    Mock::given(method("PATCH")).and(path(format!(
        "/expensereports/v4/reports/{REPORT_ID}/{action}"
    )))
}

fn approve_request() -> ReportApproveRequest {
    ReportApproveRequest {
        comment: Some("Validated".into()),
        expected_step_code: Some("EXTVAL".into()),
        ..ReportApproveRequest::default()
    }
}

#[tokio::test]
async fn report_details_are_read_at_the_object_uri_with_the_company_token() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(DETAILS_PATH)
        .and(bearer_token("company-access"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/xml")
                .set_body_string(details_body()),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let details = h
        .client()
        .report_details(&h.url(DETAILS_PATH))
        .await
        .unwrap();
    assert_eq!(details.report_id, REPORT_ID);
    assert_eq!(details.report_name.as_deref(), Some("March trip"));
    assert_eq!(details.owner_login.as_deref(), Some("chris@example.com"));
    assert_eq!(
        details.approval_status_name.as_deref(),
        Some("Pending External Validation")
    );
    let entry = &details.entries[0];
    assert_eq!(entry.expense_type_code.as_deref(), Some("TAXI"));
    assert_eq!(entry.amount.as_deref(), Some("40.00"));
    assert_eq!(entry.field("custom3").unwrap().code.as_deref(), Some("P7"));
}

#[tokio::test]
async fn an_object_uri_on_the_legacy_host_is_read_at_the_geolocation() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(DETAILS_PATH)
        .respond_with(ResponseTemplate::new(200).set_body_string(details_body()))
        .expect(1)
        .mount(&h.server)
        .await;
    let uri = format!("https://www.concursolutions.com{DETAILS_PATH}");
    let details = h.client().report_details(&uri).await.unwrap();
    assert_eq!(details.report_id, REPORT_ID);
}

#[tokio::test]
async fn a_notification_naming_a_refused_host_is_not_called() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let client = h.client();
    for uri in [
        format!("https://attacker.example.net{DETAILS_PATH}"),
        "http://www.concursolutions.com/api/x".to_owned(),
        "not a url".to_owned(),
    ] {
        let error = client.report_details(&uri).await.unwrap_err();
        assert!(
            matches!(error, ConcurError::UntrustedUrl { what: "report", .. }),
            "{uri}: {error}"
        );
        let error = client.delete_notification(&uri).await.unwrap_err();
        assert!(
            matches!(
                error,
                ConcurError::UntrustedUrl {
                    what: "notification",
                    ..
                }
            ),
            "{uri}: {error}"
        );
    }
    assert!(h.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn report_details_retry_a_503_and_not_a_404() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    first_only(get(DETAILS_PATH), ResponseTemplate::new(503))
        .mount(&h.server)
        .await;
    get(DETAILS_PATH)
        .respond_with(ResponseTemplate::new(200).set_body_string(details_body()))
        .expect(1)
        .mount(&h.server)
        .await;
    let client = h.client();
    assert!(client.report_details(&h.url(DETAILS_PATH)).await.is_ok());

    let missing = "/api/expense/expensereport/v1.1/reportfulldetails/gone";
    get(missing)
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&h.server)
        .await;
    let error = client.report_details(&h.url(missing)).await.unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.classify(), Failure::Other);
}

#[tokio::test]
async fn approve_sends_the_documented_body_and_takes_204() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    patch("approve")
        .and(bearer_token("company-access"))
        .and(body_json(
            json!({"comment": "Validated", "expectedStepCode": "EXTVAL"}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    let outcome = h
        .client()
        .approve(REPORT_ID, &approve_request())
        .await
        .unwrap();
    assert_eq!(outcome.status, 204);
}

#[tokio::test]
async fn send_back_needs_a_comment_and_cuts_it_at_2000_characters() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let client = h.client();
    let blank = ReportSendBackRequest {
        comment: "  ".into(),
        ..ReportSendBackRequest::default()
    };
    assert!(matches!(
        client.send_back(REPORT_ID, &blank).await,
        Err(ConcurError::CommentRequired)
    ));
    assert!(h.server.received_requests().await.unwrap().is_empty());

    patch("sendBack")
        .and(body_json(json!({
            "comment": "é".repeat(2000),
            "expectedStepCode": "EXTVAL",
            "expectedStepSequence": 2,
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    let long = ReportSendBackRequest {
        comment: "é".repeat(2100),
        expected_step_code: Some("EXTVAL".into()),
        expected_step_sequence: Some(2),
    };
    assert_eq!(
        client.send_back(REPORT_ID, &long).await.unwrap().status,
        204
    );
}

#[tokio::test]
async fn a_report_no_longer_at_the_step_is_step_moved() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    patch("approve")
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "errorId": "workflow.step",
            "errorMessage": "The report is not at the expected workflow step EXTVAL",
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let error = h
        .client()
        .approve(REPORT_ID, &approve_request())
        .await
        .unwrap_err();
    assert!(matches!(error, ConcurError::StepMoved(_)), "{error}");
}

#[tokio::test]
async fn other_refusals_and_5xx_keep_their_class_and_a_patch_is_not_repeated() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    patch("approve")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorMessage": "expenseRejectedComment is required",
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    patch("sendBack")
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&h.server)
        .await;
    let client = h.client();
    let error = client
        .approve(REPORT_ID, &approve_request())
        .await
        .unwrap_err();
    assert!(matches!(error, ConcurError::Api(_)), "{error}");
    let send_back = ReportSendBackRequest {
        comment: "Fix the project".into(),
        ..ReportSendBackRequest::default()
    };
    let error = client.send_back(REPORT_ID, &send_back).await.unwrap_err();
    assert_eq!(error.classify(), Failure::Unavailable);
}

#[tokio::test]
async fn a_report_id_that_would_change_the_path_is_refused() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let error = h
        .client()
        .approve("../../v4/users", &approve_request())
        .await
        .unwrap_err();
    assert!(matches!(error, ConcurError::InvalidUrl { .. }), "{error}");
}

#[tokio::test]
async fn failed_notifications_are_read_as_xml_and_as_json() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<NotificationList xmlns="http://www.concursolutions.com/api/notification/2012/06" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
    <Notification>
        <Context i:nil="true" />
        <EventDateTime>2012-11-14T19:45:25</EventDateTime>
        <EventType>Report Entered Expense Report Workflow Step - REPORT SUBMITTED</EventType>
        <NotificationURI>https://www.concursolutions.com/api/platform/notifications/v1.0/notification/nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s</NotificationURI>
        <ObjectType>EXPRPT</ObjectType>
        <ObjectURI>https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/nxxKgLlnROzz$sHcpnRHQ$pALxamClaFfdC</ObjectURI>
    </Notification>
    <Notification><ObjectType>EXPRPT</ObjectType></Notification>
</NotificationList>"#;
    let json_body = json!([{
        "Context": null,
        "EventDateTime": "2012-11-14T19:45:25",
        "EventType": "Report Entered Expense Report Workflow Step - REPORT SUBMITTED",
        "NotificationURI": "https://www.concursolutions.com/api/platform/notifications/v1.0/notification/nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s",
        "ObjectType": "EXPRPT",
        "ObjectURI": "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/nxxKgLlnROzz$sHcpnRHQ$pALxamClaFfdC"
    }]);
    for response in [
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/xml")
            .set_body_string(xml),
        ResponseTemplate::new(200).set_body_json(json_body.clone()),
    ] {
        let h = Harness::start().await;
        h.mount_company_token("company-access").await;
        get(FAILED_PATH)
            .and(query_param("status", "FAILED"))
            .and(bearer_token("company-access"))
            .respond_with(response)
            .expect(1)
            .mount(&h.server)
            .await;
        let failed = h.client().failed_notifications().await.unwrap();
        assert_eq!(failed.len(), 1, "the entry without URIs is skipped");
        assert!(
            failed[0]
                .notification_uri
                .ends_with("nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s")
        );
        assert_eq!(
            failed[0].notification.workflow_step(),
            Some("REPORT SUBMITTED")
        );
    }
}

#[tokio::test]
async fn a_failed_notification_is_deleted_at_the_geolocation() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    Mock::given(method("DELETE"))
        .and(path(NOTIFICATION_PATH))
        .and(bearer_token("company-access"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&h.server)
        .await;
    let uri = format!("https://www.concursolutions.com{NOTIFICATION_PATH}");
    h.client().delete_notification(&uri).await.unwrap();
}

#[tokio::test]
async fn a_v4_report_is_read_with_its_expenses_and_allocations() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let mut header = v4_report_body();
    header["approvalStatus"] = "Pending External Validation".into();
    header["approvalStatusId"] = "A_EXTV".into();
    get(v4_report_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(header))
        .expect(1)
        .mount(&h.server)
        .await;
    get(format!("{}/expenses", v4_report_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([v4_expense_body()])))
        .expect(1)
        .mount(&h.server)
        .await;
    get(format!(
        "{}/expenses/{EXPENSE_ID}/allocations",
        v4_report_path()
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(json!([v4_allocation_body()])))
    .expect(1)
    .mount(&h.server)
    .await;
    let report = h
        .client()
        .report_v4(&V4Report {
            user_id: Some(USER_ID.into()),
            context_type: None,
            report_id: REPORT_ID.into(),
        })
        .await
        .unwrap();
    assert_eq!(report.header.report_name.as_deref(), Some("March trip"));
    assert_eq!(report.approval_status_id.as_deref(), Some("A_EXTV"));
    assert_eq!(report.expenses.len(), 1);
    let expense = &report.expenses[0];
    assert_eq!(expense.expense.entry_id.as_deref(), Some(EXPENSE_ID));
    assert_eq!(expense.allocations.len(), 1);
    assert!(expense.allocations[0].amount.is_some());
}

#[tokio::test]
async fn an_object_uri_with_stray_percent_signs_is_sent_verbatim() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let key_path =
        "/api/expense/expensereport/v1.1/reportfulldetails/3%Rek29$wsIY12Di3LS9$gjei%KL23";
    get(key_path)
        .respond_with(ResponseTemplate::new(200).set_body_string(details_body()))
        .expect(1)
        .mount(&h.server)
        .await;
    let uri = format!("https://www.concursolutions.com{key_path}");
    assert!(h.client().report_details(&uri).await.is_ok());
}
