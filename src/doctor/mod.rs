//! `concur-connector doctor`: checks a deployment from this machine as Concur sees it
//! (docs/protocol.md §11.3), one line per check:
//! `ok|FAIL|skip  <check>: <finding>; <what to fix>`.
//!
//! The public host (DNS, TLS versions and suites, the chain, the key type, expiry, the name),
//! Test Connection and every enabled endpoint's empty probe (sent with the `try` command's
//! client and judged by its judge), then what the server needs behind them: the Concur
//! company token, the value, list and attendee sources, Redis and the work queue. Secrets are
//! never printed; every network check is bounded by `--timeout`.

mod callouts;
mod host;
mod services;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::cli::DoctorArgs;
use crate::config::Settings;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    /// The service is not enabled: nothing to check.
    Skip,
}

/// One printed line.
#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub name: String,
    pub finding: String,
    /// What to do about a failure (or a warning on a passing check).
    pub fix: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        write!(f, "{status:<4}  {}: {}", self.name, self.finding)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

/// Every check, in the order they ran.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn push(
        &mut self,
        status: Status,
        name: &str,
        finding: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            status,
            name: name.to_owned(),
            finding: finding.into(),
            fix,
        });
    }

    fn ok(&mut self, name: &str, finding: impl Into<String>) {
        self.push(Status::Ok, name, finding, None);
    }

    fn fail(&mut self, name: &str, finding: impl Into<String>, fix: impl Into<String>) {
        self.push(Status::Fail, name, finding, Some(fix.into()));
    }

    fn skip(&mut self, name: &str, finding: impl Into<String>) {
        self.push(Status::Skip, name, finding, None);
    }

    /// True when no check failed (skips pass).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        if failed == 0 {
            writeln!(f, "all {} checks passed", self.checks.len())
        } else {
            writeln!(f, "{failed} of {} checks failed", self.checks.len())
        }
    }
}

/// What the checks need besides the settings.
pub(crate) struct Options {
    /// The Host Name as Concur calls it.
    pub host: Option<Url>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    /// `--no-refresh`: the company token is read, not refreshed.
    pub no_refresh: bool,
}

/// Runs every check. `Err` is a usage problem (a bad `--host`, an unreadable `--ca-file`).
pub async fn run(settings: &Settings, args: &DoctorArgs) -> Result<Report, String> {
    let host = match &args.host {
        Some(text) => {
            Some(crate::config::public_url(text).map_err(|why| format!("--host `{text}` {why}"))?)
        }
        None => settings.public_url.clone(),
    };
    if args.timeout.is_zero() {
        return Err("--timeout must be greater than zero".to_owned());
    }
    let options = Options {
        host,
        ca_file: args.ca_file.clone(),
        timeout: args.timeout,
        no_refresh: args.no_refresh,
    };
    let mut report = Report::default();
    match &options.host {
        Some(base) => {
            let extra_roots = host::read_ca_file(options.ca_file.as_deref())?;
            let reachable = host::check(base, &extra_roots, &options, &mut report).await;
            if reachable {
                callouts::check(settings, base, &options, &mut report).await?;
            }
        }
        None => report.fail(
            "public host",
            "no host name to check",
            "set [connector] public_url = \"https://connector.example.com\" (the Host Name \
             registered in Concur) or pass --host",
        ),
    }
    services::check(settings, &options, &mut report).await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_is_one_line_and_only_a_failure_fails_the_report() {
        let mut report = Report::default();
        report.ok("dns", "example.com resolves to 192.0.2.1");
        report.skip("redis", "store.backend = \"memory\"");
        assert!(report.passed(), "skips pass");
        report.fail("key", "the key is ECDSA", "issue an RSA certificate");
        assert!(!report.passed());
        let text = report.to_string();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "ok    dns: example.com resolves to 192.0.2.1",
                "skip  redis: store.backend = \"memory\"",
                "FAIL  key: the key is ECDSA; issue an RSA certificate",
                "1 of 3 checks failed",
            ]
        );
    }
}
