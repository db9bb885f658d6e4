//! The allow-list for the signed item URL: where the connector may send a Concur token.
//!
//! The connector reads the item with the user's access token, so a URL that escapes
//! Concur's domain would hand that token to a stranger. Only `https` on a subdomain of
//! `concursolutions.com`, or on a host the configuration names explicitly, passes.

use reqwest::Url;

/// Concur's API and legacy web hosts all live below this domain (protocol §7 step 10).
const CONCUR_SUFFIX: &str = ".concursolutions.com";

/// Why an item URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemUrlError {
    #[error("it is not an absolute url")]
    Unparsable,
    #[error("its scheme is not https")]
    NotHttps,
    /// `https://x.concursolutions.com@evil.com/` puts a Concur-looking name in the user
    /// part; such URLs are refused outright instead of trusting the parser's reading.
    #[error("it carries a user name or password")]
    HasUserInfo,
    #[error("it has no host")]
    NoHost,
    #[error("host {0} is not a concur host nor configured as allowed")]
    HostNotAllowed(String),
}

/// Which item URL hosts verification lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemUrlPolicy {
    /// Lower-cased host names without brackets; matched exactly, any port.
    extra_hosts: Vec<String>,
}

impl ItemUrlPolicy {
    /// Concur's hosts only: what production needs.
    pub fn concur_only() -> Self {
        Self::default()
    }

    /// Concur's hosts plus these exact host names (the simulator and tests use `127.0.0.1`
    /// or `localhost`). Names match case-insensitively and on any port; IPv6 addresses may
    /// be written with or without brackets.
    pub fn with_extra_hosts<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let extra_hosts = hosts
            .into_iter()
            .map(|h| normalise_host(h.as_ref()))
            .filter(|h| !h.is_empty())
            .collect();
        Self { extra_hosts }
    }

    /// The extra hosts, normalised (for start-up logging).
    pub fn extra_hosts(&self) -> &[String] {
        &self.extra_hosts
    }

    /// Parses `url` and checks it against the list.
    pub fn check(&self, url: &str) -> Result<Url, ItemUrlError> {
        let parsed = Url::parse(url).map_err(|_| ItemUrlError::Unparsable)?;
        if parsed.scheme() != "https" {
            return Err(ItemUrlError::NotHttps);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(ItemUrlError::HasUserInfo);
        }
        let host = parsed
            .host_str()
            .map(normalise_host)
            .filter(|h| !h.is_empty())
            .ok_or(ItemUrlError::NoHost)?;
        let is_concur = host.len() > CONCUR_SUFFIX.len() && host.ends_with(CONCUR_SUFFIX);
        if is_concur || self.extra_hosts.contains(&host) {
            Ok(parsed)
        } else {
            Err(ItemUrlError::HostNotAllowed(host))
        }
    }
}

fn normalise_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ItemUrlPolicy {
        ItemUrlPolicy::with_extra_hosts(["127.0.0.1", "LocalHost", "[::1]"])
    }

    #[test]
    fn accepts_concur_subdomains_and_configured_hosts() {
        for url in [
            "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/a$b/entry/c",
            "https://us2.api.concursolutions.com/expensereports/v4/reports/X",
            "https://US2.API.ConcurSolutions.COM/expensereports/v4/reports/X",
            "https://us2.api.concursolutions.com:443/x",
            "https://127.0.0.1:8443/expensereports/v4/reports/X",
            "https://localhost/x",
            "https://[::1]:9000/x",
        ] {
            assert!(policy().check(url).is_ok(), "{url} should be allowed");
        }
    }

    #[test]
    fn refuses_everything_else_with_its_reason() {
        let cases: &[(&str, ItemUrlError, &str)] = &[
            (
                "http://us2.api.concursolutions.com/x",
                ItemUrlError::NotHttps,
                "plain http",
            ),
            (
                "https://evil.com/.concursolutions.com",
                ItemUrlError::HostNotAllowed("evil.com".into()),
                "concur name in the path",
            ),
            (
                "https://concursolutions.com.evil.com/x",
                ItemUrlError::HostNotAllowed("concursolutions.com.evil.com".into()),
                "concur name as a prefix",
            ),
            (
                "https://evilconcursolutions.com/x",
                ItemUrlError::HostNotAllowed("evilconcursolutions.com".into()),
                "suffix without the dot",
            ),
            (
                "https://concursolutions.com/x",
                ItemUrlError::HostNotAllowed("concursolutions.com".into()),
                "the bare apex is not a subdomain",
            ),
            (
                "https://x.concursolutions.com@evil.com/",
                ItemUrlError::HasUserInfo,
                "userinfo trick",
            ),
            (
                "https://user:pw@us2.api.concursolutions.com/",
                ItemUrlError::HasUserInfo,
                "credentials in the url",
            ),
            (
                "https://127.0.0.2/x",
                ItemUrlError::HostNotAllowed("127.0.0.2".into()),
                "an unlisted address",
            ),
            (
                "https://localhost.evil.com/x",
                ItemUrlError::HostNotAllowed("localhost.evil.com".into()),
                "extra hosts match exactly, not as suffix",
            ),
            ("not a url", ItemUrlError::Unparsable, "garbage"),
            (
                "https%3A%2F%2Fus2.api.concursolutions.com%2Fx",
                ItemUrlError::Unparsable,
                "still percent-encoded",
            ),
            ("/relative/path", ItemUrlError::Unparsable, "relative"),
            (
                "javascript:alert(1)",
                ItemUrlError::NotHttps,
                "other scheme",
            ),
        ];
        for (url, expected, why) in cases {
            assert_eq!(policy().check(url).unwrap_err(), *expected, "{why}: {url}");
        }
    }

    #[test]
    fn concur_only_refuses_local_hosts() {
        assert_eq!(
            ItemUrlPolicy::concur_only()
                .check("https://127.0.0.1/x")
                .unwrap_err(),
            ItemUrlError::HostNotAllowed("127.0.0.1".into())
        );
    }
}
