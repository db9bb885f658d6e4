//! Travel Request v4 (Concur Request): reads, `PUT`s and their refusals, over HTTPS.

use super::*;

pub const REQUEST: &str = "E82B0B803671004B9A5D952F34FBD01E";
pub const FLIGHT: &str = "76932E5DD111435BB1B5EEB9E3D42E36";
pub const HOTEL: &str = "E81EACAFC8C54402A0E0F568D6FD5118";
pub const REQUEST_ALLOCATION: &str = "43E2B352E55B44F0938A89E53C218CD8";
const SALES_ID: &str = "88EACA3116581248BCE27956DE67647D";

fn request_path() -> String {
    format!("/travelrequest/v4/requests/{REQUEST}")
}

fn expense_path(id: &str) -> String {
    format!("/travelrequest/v4/expenses/{id}")
}

fn allocation_path() -> String {
    format!("/travelrequest/v4/requests/{REQUEST}/allocations/{REQUEST_ALLOCATION}")
}

impl Ctx {
    async fn put(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.send_json(Method::PUT, path, token, body).await
    }

    /// Jane's user token (from a launch on her expense report).
    async fn jane_token(&self) -> String {
        self.user_token(&V4LaunchRequest::new(Source::Header, REPORT))
            .await
            .0
    }

    /// The Travel Request `errorCode` of a refused call, after checking its status.
    async fn refused(&self, response: reqwest::Response, status: u16, case: &str) -> String {
        assert_eq!(response.status().as_u16(), status, "{case}");
        let body: Value = response.json().await.unwrap();
        assert!(body["errorMessage"].is_string(), "{case}: {body}");
        body["errorCode"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: {body}"))
            .to_owned()
    }
}

#[tokio::test]
async fn request_reads_return_the_documented_shapes() {
    let ctx = start().await;
    let user = ctx.jane_token().await;
    let header = ctx.get_json(&ctx.url(&request_path()), &user).await;
    assert_eq!(header["id"], REQUEST);
    assert_eq!(header["name"], "Customer visit Lyon");
    assert_eq!(header["startDate"], "2026-06-15");
    assert_eq!(header["endDate"], "2026-06-17");
    assert_eq!(header["owner"]["id"], JANE);
    assert_eq!(header["approvalStatus"]["code"], "NOT_SUBMITTED");
    let expenses: Vec<&str> = header["expenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(expenses, [FLIGHT, HOTEL]);
    assert_eq!(
        header["expenses"][0]["href"],
        ctx.url(&expense_path(FLIGHT)).as_str()
    );
    // A list field: the item id as value, its code and link beside it.
    assert_eq!(header["custom2"]["value"], ENGINEERING_ID);
    assert_eq!(header["custom2"]["code"], "CC-100");
    assert!(header.get("custom1").is_none(), "empty fields are left out");

    let flight = ctx.get_json(&ctx.url(&expense_path(FLIGHT)), &user).await;
    assert_eq!(flight["expenseType"]["id"], "AIRFR");
    assert_eq!(flight["transactionAmount"]["value"], 412.5);
    assert_eq!(flight["transactionAmount"]["currency"], "EUR");
    assert_eq!(flight["transactionDate"], "2026-06-15T00:00:00.000Z");
    assert_eq!(flight["parentRequest"]["id"], REQUEST);
    assert_eq!(flight["custom7"]["code"], "D-10");
    let hotel = ctx.get_json(&ctx.url(&expense_path(HOTEL)), &user).await;
    assert_eq!(hotel["expenseType"]["id"], "LODNG");
    assert_eq!(hotel["allocations"][0]["allocationId"], REQUEST_ALLOCATION);

    // As Concur's examples show, an allocation comes as an array of one.
    let allocation = ctx.get_json(&ctx.url(&allocation_path()), &user).await;
    let allocation = allocation.as_array().expect("an array");
    assert_eq!(allocation.len(), 1);
    assert_eq!(allocation[0]["allocationId"], REQUEST_ALLOCATION);
    assert_eq!(allocation[0]["expenseId"], HOTEL);
    assert_eq!(allocation[0]["percentage"], 100.0);
    assert_eq!(allocation[0]["custom4"]["value"], SALES_ID);

    // A company token reads without userId (as "Concur System").
    let company = ctx.company_token().await;
    assert_eq!(
        ctx.get(&ctx.url(&request_path()), &company).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn request_reads_refuse_strangers_app_tokens_and_unknown_items() {
    let ctx = start().await;
    let (max, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Header, MAX_REPORT))
        .await;
    let (_, app) = ctx.grant(&[("grant_type", "client_credentials")]).await;
    let app = app["access_token"].as_str().unwrap().to_owned();
    let user = ctx.jane_token().await;
    let other_request_allocation =
        format!("/travelrequest/v4/requests/{REPORT}/allocations/{REQUEST_ALLOCATION}");
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "another user",
            request_path(),
            &max,
            403,
            "userIsNotAllowed",
        ),
        (
            "another user's expense",
            expense_path(HOTEL),
            &max,
            403,
            "userIsNotAllowed",
        ),
        ("app token", request_path(), &app, 403, "permissionDenied"),
        (
            "no such request",
            "/travelrequest/v4/requests/0000".into(),
            &user,
            404,
            "notFound",
        ),
        (
            "no such expense",
            expense_path(LUNCH),
            &user,
            404,
            "notFound",
        ),
        (
            "allocation of another request",
            other_request_allocation,
            &user,
            404,
            "notFound",
        ),
        (
            "unknown token",
            request_path(),
            "not-a-token",
            401,
            "invalidUser",
        ),
    ];
    for (case, path, token, status, code) in cases {
        let response = ctx.get(&ctx.url(&path), token).await;
        assert_eq!(ctx.refused(response, status, case).await, code, "{case}");
    }
}

#[tokio::test]
async fn request_header_put_is_partial_answers_200_with_the_request_and_is_recorded() {
    let ctx = start().await;
    let user = ctx.jane_token().await;
    let body = json!({"custom1": {"value": "PRJ-2001"}});
    let response = ctx.put(&request_path(), &user, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let correlation = response.headers()["concur-correlationid"]
        .to_str()
        .unwrap()
        .to_owned();
    let answered: Value = response.json().await.unwrap();
    assert_eq!(answered["id"], REQUEST);
    assert_eq!(answered["custom1"]["value"], "PRJ-2001");
    assert_eq!(answered["custom2"]["value"], ENGINEERING_ID, "untouched");
    assert_eq!(answered["name"], "Customer visit Lyon", "untouched");

    let writes = ctx.sim.writes();
    assert_eq!(writes.len(), 1);
    let write = &writes[0];
    assert_eq!(write.api, WriteApi::RequestHeader);
    assert_eq!(write.method, "PUT");
    assert_eq!(write.path, request_path());
    assert_eq!(write.body.as_ref(), Some(&body));
    assert_eq!(write.status, 200);
    assert_eq!(write.correlation_id, correlation);
    assert_eq!(
        write.principal,
        Some(Principal::User {
            user_id: JANE.to_owned()
        })
    );

    let read = ctx.get_json(&ctx.url(&request_path()), &user).await;
    assert_eq!(read["custom1"]["value"], "PRJ-2001");

    // `null` clears; the header's other documented members update too.
    let body = json!({
        "custom1": null,
        "custom2": {"value": SALES_ID},
        "name": "Customer visit Lyon (2 days)",
        "endDate": "2026-06-16",
        "comment": null,
    });
    let response = ctx.put(&request_path(), &user, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let read = ctx.get_json(&ctx.url(&request_path()), &user).await;
    assert!(read.get("custom1").is_none(), "{read}");
    assert_eq!(read["custom2"]["code"], "CC-300");
    assert_eq!(read["name"], "Customer visit Lyon (2 days)");
    assert_eq!(read["endDate"], "2026-06-16");
    assert!(read.get("comment").is_none());
}

#[tokio::test]
async fn request_expense_put_with_a_company_token_needs_a_user_id() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let body = json!({"custom2": {"value": "PRJ-3003"}});
    let path = expense_path(FLIGHT);

    let response = ctx.put(&path, &company, &body).await;
    let code = ctx.refused(response, 400, "no userId").await;
    assert_eq!(code, "missingRequiredParam");
    let response = ctx
        .put(&format!("{path}?userId={MAX}"), &company, &body)
        .await;
    let code = ctx.refused(response, 403, "not the owner").await;
    assert_eq!(code, "userIsNotAllowed");
    let response = ctx
        .put(
            &format!("{path}?userId=6f0e3a52-0000-4000-8000-000000000000"),
            &company,
            &body,
        )
        .await;
    let code = ctx.refused(response, 400, "unknown user").await;
    assert_eq!(code, "userNotFound");
    assert!(
        !ctx.sim
            .snapshot()
            .expected_expense(FLIGHT)
            .unwrap()
            .1
            .custom_data
            .contains_key("custom2"),
        "nothing applied"
    );

    // As a query parameter (the documented place) or as a body member.
    let response = ctx
        .put(&format!("{path}?userId={JANE}"), &company, &body)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answered: Value = response.json().await.unwrap();
    assert_eq!(answered["custom2"]["value"], "PRJ-3003");
    assert_eq!(answered["custom7"]["code"], "D-10", "untouched");
    let body = json!({"custom2": {"value": "PRJ-3004"}, "userId": JANE});
    let response = ctx.put(&path, &company, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    // A delegate acts for the owner too.
    let response = ctx
        .put(
            &format!("{path}?userId={ALEX}"),
            &company,
            &json!({"custom2": {"value": "PRJ-3005"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let read = ctx.get_json(&ctx.url(&path), &company).await;
    assert_eq!(read["custom2"]["value"], "PRJ-3005");

    let writes = ctx.sim.writes();
    assert_eq!(writes.len(), 6);
    assert!(writes.iter().all(|w| w.api == WriteApi::RequestExpense));
    assert_eq!(ctx.sim.successful_writes().len(), 3);

    // A user token needs no userId.
    let user = ctx.jane_token().await;
    let response = ctx
        .put(
            &expense_path(HOTEL),
            &user,
            &json!({"custom2": {"value": "X"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_allocation_put_answers_an_array_of_one() {
    let ctx = start().await;
    let user = ctx.jane_token().await;
    let body = json!({"custom3": {"value": "PRJ-4004"}});
    let response = ctx.put(&allocation_path(), &user, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answered: Value = response.json().await.unwrap();
    let answered = answered.as_array().expect("an array");
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["allocationId"], REQUEST_ALLOCATION);
    assert_eq!(answered[0]["custom3"]["value"], "PRJ-4004");
    assert_eq!(answered[0]["custom4"]["value"], SALES_ID, "untouched");
    let write = &ctx.sim.writes()[0];
    assert_eq!(write.api, WriteApi::RequestAllocation);
    assert_eq!(write.method, "PUT");
    assert_eq!(write.path, allocation_path());
    let data = ctx.sim.snapshot();
    let (_, _, allocation) = data.request_allocation(REQUEST_ALLOCATION).unwrap();
    assert_eq!(allocation.custom_data["custom3"], "PRJ-4004");
}

#[tokio::test]
async fn request_put_refusals_change_nothing_and_are_recorded() {
    let ctx = start().await;
    let user = ctx.jane_token().await;
    let header = request_path();
    let flight = expense_path(FLIGHT);
    let allocation = allocation_path();
    // (case, path, body, errorCode)
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "id of another request (the documented example's mistake)",
            &header,
            json!({"id": "053A479B3C9DD847B02A203C657AE26B", "custom1": {"value": "x"}}),
            "badParam",
        ),
        (
            "not an updatable member",
            &header,
            json!({"approved": true}),
            "unsupportedParam",
        ),
        (
            "policy instead of expensePolicy",
            &header,
            json!({"policy": {"id": "X"}}),
            "unsupportedParam",
        ),
        (
            "list code instead of item id",
            &header,
            json!({"custom2": {"value": "CC-100"}}),
            "listValidationError",
        ),
        (
            "49 characters",
            &header,
            json!({"custom1": {"value": "x".repeat(49)}}),
            "badParam",
        ),
        (
            "not a header field",
            &header,
            json!({"custom3": {"value": "x"}}),
            "badParam",
        ),
        (
            "beyond custom20",
            &header,
            json!({"custom21": {"value": "x"}}),
            "badParam",
        ),
        (
            "read-only code sent",
            &header,
            json!({"custom2": {"value": SALES_ID, "code": "CC-300"}}),
            "badParam",
        ),
        ("bare string", &header, json!({"custom1": "x"}), "badParam"),
        (
            "bad date",
            &header,
            json!({"startDate": "2026-02-30"}),
            "invalidDate",
        ),
        (
            "end before start",
            &header,
            json!({"endDate": "2026-06-01"}),
            "badParam",
        ),
        (
            "user id of someone else",
            &header,
            json!({"userId": MAX, "custom1": {"value": "x"}}),
            "badParam",
        ),
        (
            "expense id mismatch",
            &flight,
            json!({"id": HOTEL}),
            "badParam",
        ),
        (
            "not an entry field",
            &flight,
            json!({"custom1": {"value": "x"}}),
            "badParam",
        ),
        (
            "allocation over 100%",
            &allocation,
            json!({"percentage": 150}),
            "badParam",
        ),
        (
            "allocation of another expense",
            &allocation,
            json!({"expenseId": FLIGHT}),
            "badParam",
        ),
    ];
    let before = ctx.sim.snapshot();
    for (case, path, body, code) in &cases {
        let response = ctx.put(path, &user, body).await;
        assert!(
            response.headers().contains_key("concur-correlationid"),
            "{case}"
        );
        assert_eq!(ctx.refused(response, 400, case).await, *code, "{case}");
    }
    let malformed = ctx
        .http
        .put(ctx.url(&header))
        .bearer_auth(&user)
        .header("Content-Type", "application/json")
        .body("{\"custom1\":")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ctx.refused(malformed, 400, "malformed").await,
        "invalidJson"
    );
    let no_json = ctx
        .http
        .put(ctx.url(&header))
        .bearer_auth(&user)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(ctx.sim.snapshot(), before, "nothing applied");
    let writes = ctx.sim.writes();
    assert_eq!(
        writes.len(),
        cases.len() + 2,
        "refused attempts are recorded too"
    );
    assert!(writes.iter().all(|w| w.method == "PUT" && !w.succeeded()));
}

#[tokio::test]
async fn faults_apply_to_the_request_api() {
    let ctx = start().await;
    let user = ctx.jane_token().await;
    ctx.sim.set_faults(Faults {
        fail_next: 1,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let response = ctx.get(&ctx.url(&request_path()), &user).await;
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        ctx.refused(response, 503, "injected").await,
        "circuitBreaker"
    );
    assert_eq!(
        ctx.get(&ctx.url(&request_path()), &user).await.status(),
        StatusCode::OK,
        "recovered"
    );
    assert!(
        ctx.sim
            .requests()
            .iter()
            .any(|r| r.injected && r.path == request_path())
    );

    ctx.sim.set_faults(Faults {
        refuse_writes_next: 1,
        write_error_status: 400,
        write_error_message: "Project closed".into(),
        ..Faults::default()
    });
    let body = json!({"custom1": {"value": "PRJ-1"}});
    let response = ctx.put(&request_path(), &user, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Project closed"),
        "{error}"
    );
    assert_eq!(ctx.sim.writes()[0].status, 400);
    let response = ctx.put(&request_path(), &user, &body).await;
    assert_eq!(response.status(), StatusCode::OK, "only the next write");
}

/// Concur Request's signature: the Expense positions with the `request_owner_*` values,
/// computed here without the crate's signer.
fn expected_request_signature(q: &std::collections::HashMap<String, String>) -> String {
    let key = format!("{}{CONNECTOR_PASSWORD}", CONNECTOR_USER.to_lowercase());
    let message = format!(
        "{}{}{}{}{}{CONNECTOR_USER}{CONNECTOR_PASSWORD}{}",
        q["company_domain"],
        q["logged_in_user_id"],
        q["request_owner_user_id"],
        q["request_owner_employee_id"],
        q["item_url"],
        q["nonce"]
    );
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn request_launches_for_each_level_are_signed_with_the_request_owner_names() {
    let ctx = start().await;
    let cases = [
        (Source::Header, REQUEST, request_path(), "custom1"),
        (Source::Entry, HOTEL, expense_path(HOTEL), "custom2"),
        (
            Source::Allocation,
            REQUEST_ALLOCATION,
            allocation_path(),
            "custom3",
        ),
    ];
    for (source, id, path, field) in cases {
        let launch = ctx
            .sim
            .mint_v4(&V4LaunchRequest::request(source, id))
            .unwrap();
        assert!(
            launch
                .url
                .starts_with("https://connector.example.com/request/launchexternalurl/v4/form?"),
            "{}",
            launch.url
        );
        let q = query_map(&launch.url);
        assert_eq!(q["signature"], expected_request_signature(&q), "{source:?}");
        assert_eq!(q["item_url"], ctx.url(&path));
        assert_eq!(q["item_url"], launch.item_url);
        assert_eq!(q["request_owner_user_id"], JANE);
        assert_eq!(q["request_owner_employee_id"], "E12345");
        assert_eq!(q["logged_in_user_id"], JANE);
        assert_eq!(q["source"], source.as_str());
        assert_eq!(q["custom_field_launched_from"], field);
        for expense_name in [
            "report_owner_user_id",
            "report_owner_employee_id",
            "expense_ids",
        ] {
            assert!(!q.contains_key(expense_name), "{source:?}: {expense_name}");
        }
        match source {
            Source::Allocation => assert_eq!(q["request_ids"], HOTEL),
            _ => assert!(!q.contains_key("request_ids")),
        }
        // The launch's code gives Jane's user token, which reads the item.
        let (status, token) = ctx
            .exchange(launch.client_auth_code.as_deref().unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{token}");
        let token = token["access_token"].as_str().unwrap();
        assert_eq!(
            ctx.get(&launch.item_url, token).await.status(),
            StatusCode::OK
        );
    }

    // Over the admin API, with a delegate clicking; an Expense id is no Request item.
    let response = ctx
        .admin(
            Method::POST,
            "/_sim/launch/v4",
            Some(&json!({"product": "request", "source": "ENTRY", "id": FLIGHT, "logged_in_user_id": ALEX})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let minted: MintedLaunch = response.json().await.unwrap();
    let q = query_map(&minted.url);
    assert_eq!(q["signature"], expected_request_signature(&q));
    assert_eq!(q["logged_in_user_id"], ALEX);
    assert_eq!(q["request_owner_user_id"], JANE);
    assert_eq!(q["language_code"], "fr");
    let response = ctx
        .admin(
            Method::POST,
            "/_sim/launch/v4",
            Some(&json!({"product": "request", "source": "HEADER", "id": REPORT})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = ctx
        .admin(
            Method::POST,
            "/_sim/launch/v4",
            Some(&json!({"product": "request", "source": "HEADER", "id": REQUEST, "logged_in_user_id": MAX})),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "Max is no delegate of Jane"
    );
}

#[tokio::test]
async fn demo_lists_the_request_and_shows_it_with_a_launch_field_on_each_level() {
    let ctx = start().await;
    let (status, _, index) = demo_page(&ctx, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(index.contains("Customer visit Lyon"), "{index}");
    assert!(
        index.contains(&format!("&#x2f;request&#x2f;{REQUEST}")),
        "{index}"
    );

    // A value written through the API shows on the page.
    let user = ctx.jane_token().await;
    let response = ctx
        .put(
            &request_path(),
            &user,
            &json!({"custom1": {"value": "PRJ-7001"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, headers, html) = demo_page(&ctx, &format!("/request/{REQUEST}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(
        html.contains("<span class=\"brand-app\">Request</span>"),
        "{html}"
    );
    for hook in [
        format!("data-launch=\"request-header-{REQUEST}\""),
        format!("data-launch=\"request-entry-{FLIGHT}\""),
        format!("data-launch=\"request-entry-{HOTEL}\""),
        format!("data-launch=\"request-allocation-{REQUEST_ALLOCATION}\""),
        format!("data-field=\"request-header-{REQUEST}-custom1\""),
        format!("data-field=\"request-entry-{HOTEL}-custom2\""),
        format!("data-field=\"request-allocation-{REQUEST_ALLOCATION}-custom3\""),
    ] {
        assert!(html.contains(&hook), "missing {hook}");
    }
    assert!(
        html.contains(&format!(
            "data-field=\"request-header-{REQUEST}-custom1\" aria-labelledby=\"label-request-header-{REQUEST}-custom1\">PRJ-7001</span>"
        )),
        "{html}"
    );
    assert!(
        !html.contains("data-launch=\"v1-"),
        "Concur Request has no v1 launch"
    );
    for text in [
        "2026-06-15 07:30",
        "2026-06-17 19:00",
        "Kick-off with the customer&#x27;s engineering team",
        "Airfare",
        "412.50 EUR",
        "Hotel",
        "CC-300 — Sales",
        "D-10 — Research",
        "100%",
    ] {
        assert!(html.contains(text), "missing {text}: {html}");
    }
    assert!(
        html.contains(
            "&#x2f;_sim&#x2f;demo&#x2f;open?v=4&amp;product=request&amp;source=ALLOCATION"
        ),
        "{html}"
    );

    let (status, _, html) = demo_page(&ctx, "/request/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such request"), "{html}");
    let (status, _, _) = demo_page(&ctx, &format!("/request/{REQUEST}?as={MAX}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "Max is no delegate of Jane"
    );
    let (status, _, html) = demo_page(&ctx, &format!("/request/{REQUEST}?as={ALEX}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("as={ALEX}")),
        "launches carry the acting user"
    );
}

#[tokio::test]
async fn demo_open_mints_request_launches_for_the_request_endpoint() {
    let ctx = start().await;
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ctx.sim.ca_pem().as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let open = |query: String| {
        let url = ctx.url(&format!("/_sim/demo/open?{query}"));
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    for (source, id) in [
        ("HEADER", REQUEST),
        ("ENTRY", FLIGHT),
        ("ALLOCATION", REQUEST_ALLOCATION),
    ] {
        let query = format!("v=4&product=request&source={source}&id={id}");
        let response = open(query.clone()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{query}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(
            location
                .starts_with("https://connector.example.com/request/launchexternalurl/v4/form?"),
            "{location}"
        );
        let q = query_map(location);
        assert_eq!(q["signature"], expected_request_signature(&q), "{query}");
        assert_eq!(q["source"], source);
    }
    for (query, status) in [
        (
            format!("v=1&product=request&id={FLIGHT}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("v=4&product=travel&source=ENTRY&id={FLIGHT}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("v=4&product=request&source=ENTRY&id={LUNCH}"),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(open(query.clone()).await.status(), status, "{query}");
    }
}
