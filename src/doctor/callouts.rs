//! Test Connection and the empty probe of every enabled service endpoint, sent as Concur
//! sends them (the `try` command's client) and judged as Concur reads the answers.

use concur_protocol::callout::conformance::{self, AttendeeCall, FetchListCall, Received};
use reqwest::{Method, Url};

use super::{Options, Report};
use crate::config::Settings;
use crate::tryout::{self, TryError};

/// How a probe's answer is read.
#[derive(Clone, Copy)]
enum Judge {
    /// `200` and the body `OK` (Test Connection, the launch paths' probe).
    PlainOk,
    FetchList,
    FetchAttendee,
    Notification,
}

/// One endpoint to probe: its check name, path, the setting that switches it and the judge.
struct Probe {
    name: String,
    path: String,
    method: Method,
    /// The settings key of the endpoint's path (named in the fix).
    key: &'static str,
    judge: Judge,
}

pub(super) async fn check(
    settings: &Settings,
    base: &Url,
    options: &Options,
    report: &mut Report,
) -> Result<(), String> {
    let client =
        tryout::client(options.ca_file.as_deref(), options.timeout).map_err(|e| match e {
            TryError::Usage(text) | TryError::Transport(text) => text,
        })?;
    for probe in probes(settings) {
        let Ok(url) = base.join(&probe.path) else {
            report.fail(
                &probe.name,
                format!("{} is not a path", probe.path),
                format!("correct {}", probe.key),
            );
            continue;
        };
        // Test Connection and the launch probe are GETs without a body; the callouts' probe
        // is Concur's POST with an empty body.
        let body = (probe.method == Method::POST).then(String::new);
        let sent = tryout::send(
            &client,
            probe.method.clone(),
            url.clone(),
            &settings.credentials,
            body,
        )
        .await;
        judge(&probe, &url, sent, report);
    }
    Ok(())
}

/// Test Connection, then every enabled endpoint as the configuration serves it.
fn probes(settings: &Settings) -> Vec<Probe> {
    let mut probes = vec![Probe {
        name: "test connection".to_owned(),
        path: "/system/v1.0/testconnection".to_owned(),
        method: Method::GET,
        key: "connector.username and connector.password",
        judge: Judge::PlainOk,
    }];
    let launch = [
        ("launch v4", &settings.launch.v4_path, "launch.v4_path"),
        ("launch v1", &settings.launch.v1_path, "launch.v1_path"),
    ];
    for (name, path, key) in launch {
        if let Some(path) = path {
            probes.push(Probe {
                name: name.to_owned(),
                path: path.clone(),
                method: Method::GET,
                key,
                judge: Judge::PlainOk,
            });
        }
    }
    if settings.fetch_list.enabled {
        for (key, path) in settings.fetch_list.paths() {
            probes.push(Probe {
                name: "fetch list".to_owned(),
                path: path.to_owned(),
                method: Method::POST,
                key: if key == "fetch_list.path" {
                    "fetch_list.path"
                } else {
                    "fetch_list.lists[].path"
                },
                judge: Judge::FetchList,
            });
        }
    }
    if settings.fetch_attendee.enabled {
        probes.push(Probe {
            name: "fetch attendee".to_owned(),
            path: settings.fetch_attendee.path.clone(),
            method: Method::POST,
            key: "fetch_attendee.path",
            judge: Judge::FetchAttendee,
        });
    }
    if settings.notification.enabled {
        probes.push(Probe {
            name: "event notification".to_owned(),
            path: settings.notification.path.clone(),
            method: Method::POST,
            key: "notification.path",
            judge: Judge::Notification,
        });
    }
    probes
}

fn judge(probe: &Probe, url: &Url, sent: Result<Received, TryError>, report: &mut Report) {
    let name = probe.name.as_str();
    let what = format!("{} {}", probe.method, url.path());
    let received = match sent {
        Ok(received) => received,
        Err(error) if error.to_string().contains("certificate") => {
            report.fail(
                name,
                format!("{what}: no answer, the certificate is not trusted"),
                "Concur refuses it too: fix the certificate (see the chain line)",
            );
            return;
        }
        Err(error) => {
            report.fail(
                name,
                format!("{what}: {error}"),
                "make the connector answer at the Host Name (is it running, does the proxy \
                 forward to it?)",
            );
            return;
        }
    };
    let status = received.status;
    if status == 401 {
        report.fail(
            name,
            format!(
                "{what}: 401, the connector refused this configuration's user name and password"
            ),
            "re-enter the user name and password (connector.username, connector.password) in \
             Concur's registration of the connector, and make sure the running connector uses \
             the same configuration",
        );
        return;
    }
    if status == 404 {
        report.fail(
            name,
            format!("{what}: 404, nothing is served there"),
            format!(
                "the connector at the Host Name does not serve this endpoint: enable it, route \
                 {} to the connector (proxy), or register the path it serves ({}) in Concur",
                url.path(),
                probe.key
            ),
        );
        return;
    }
    let answer = received.answer();
    let errors: Vec<String> = match probe.judge {
        Judge::PlainOk => {
            let body = String::from_utf8_lossy(&received.body);
            if status == 200 && body.trim() == "OK" {
                Vec::new()
            } else {
                vec![format!(
                    "status {status}, body {:?} (expected 200 `OK`)",
                    cut(&body)
                )]
            }
        }
        Judge::FetchList => errors(conformance::judge_fetch_list(
            &FetchListCall::new("*"),
            &answer,
        )),
        Judge::FetchAttendee => errors(conformance::judge_attendees(
            &AttendeeCall::default(),
            &answer,
        )),
        Judge::Notification => errors(conformance::judge_notification(&answer)),
    };
    if errors.is_empty() {
        report.ok(
            name,
            format!(
                "{what}: {status} in {} ms, as Concur accepts",
                received.latency.as_millis()
            ),
        );
    } else {
        report.fail(
            name,
            format!(
                "{what}: Concur would refuse the answer: {}",
                errors.join("; ")
            ),
            format!(
                "make {} answer as the connector does (is another server or a proxy answering?)",
                url.path()
            ),
        );
    }
}

fn errors<T>(verdict: conformance::Verdict<T>) -> Vec<String> {
    verdict.errors().map(|f| f.message.clone()).collect()
}

fn cut(text: &str) -> String {
    text.chars().take(60).collect()
}
