//! The allow-list for the signed item URL: where the connector may send a Concur token.
//!
//! The connector reads the item with the user's access token, so a URL that escapes
//! Concur's domain would hand that token to a stranger. Only `https` on port 443 of a
//! subdomain of `concursolutions.com`, or on a host the configuration names explicitly,
//! passes; another port passes only when the configuration lists that `host:port`.
//! The same list shape serves the Concur client's check of token `geolocation`s.

use url::Url;

/// Concur's API and legacy web hosts all live below this domain.
const CONCUR_SUFFIX: &str = ".concursolutions.com";
/// The only port a host listed without one (and every Concur host) may use.
const HTTPS_PORT: u16 = 443;

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
    /// An allowed host on another port than 443, which the configuration does not list as
    /// `host:port`.
    #[error("port {port} of host {host} is not allowed: only 443, unless {host}:{port} is listed")]
    PortNotAllowed { host: String, port: u16 },
}

/// One configured entry: a host, and the one port it may use (`None`: 443).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    /// Lower-cased, IPv6 addresses without brackets.
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Reads `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address (no port).
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().to_ascii_lowercase();
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{entry}` has a `[` without `]`"))?;
            match after {
                "" => (host.to_owned(), None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host.to_owned(), Some(port)),
                    None => return Err(format!("`{entry}` has text after `]` that is no port")),
                },
            }
        } else if entry.matches(':').count() == 1 {
            let (host, port) = entry.split_once(':').unwrap_or((&entry, ""));
            (host.to_owned(), Some(port))
        } else {
            (entry.clone(), None)
        };
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if !valid_host {
            return Err(format!(
                "`{entry}` is not a host name (give names like sim.example.com, 127.0.0.1 or \
                 127.0.0.1:9443, no scheme or path)"
            ));
        }
        let port = match port {
            None => None,
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(format!("`{entry}` has no valid port after `:`")),
            },
        };
        Ok(Self { host, port })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.unwrap_or(HTTPS_PORT) == port
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

/// Checks one configured entry (`host` or `host:port`); the message suits a config problem.
pub fn check_allowed_host(entry: &str) -> Result<(), String> {
    AllowedHost::parse(entry).map(|_| ())
}

/// Which item URL hosts verification lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemUrlPolicy {
    extra_hosts: Vec<AllowedHost>,
}

impl ItemUrlPolicy {
    /// Concur's hosts only: what production needs.
    pub fn concur_only() -> Self {
        Self::default()
    }

    /// Concur's hosts plus these exact hosts (the simulator and tests use `127.0.0.1:PORT`
    /// or `localhost:PORT`). Names match case-insensitively; an entry without a port allows
    /// port 443 only, `host:port` that port only. IPv6 addresses may be written with or
    /// without brackets (with brackets to give a port). Entries that are no host (see
    /// [`check_allowed_host`]) are ignored.
    pub fn with_extra_hosts<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let extra_hosts = hosts
            .into_iter()
            .filter_map(|h| AllowedHost::parse(h.as_ref()).ok())
            .collect();
        Self { extra_hosts }
    }

    /// The extra hosts as `host` or `host:port` (for start-up logging, and to extend the list).
    pub fn extra_hosts(&self) -> Vec<String> {
        self.extra_hosts.iter().map(ToString::to_string).collect()
    }

    /// Parses `url` and checks it against the list.
    pub fn check(&self, url: &str) -> Result<Url, ItemUrlError> {
        let parsed = Url::parse(url).map_err(|_| ItemUrlError::Unparsable)?;
        if parsed.scheme() != "https" {
            return Err(ItemUrlError::NotHttps);
        }
        self.check_authority(&parsed)?;
        Ok(parsed)
    }

    /// The checks after the scheme: no user info, an allowed host, an allowed port.
    pub fn check_authority(&self, url: &Url) -> Result<(), ItemUrlError> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ItemUrlError::HasUserInfo);
        }
        let host = url
            .host_str()
            .map(normalise_host)
            .filter(|h| !h.is_empty())
            .ok_or(ItemUrlError::NoHost)?;
        let port = url.port_or_known_default().unwrap_or(HTTPS_PORT);
        let is_concur = host.len() > CONCUR_SUFFIX.len() && host.ends_with(CONCUR_SUFFIX);
        if (is_concur && port == HTTPS_PORT)
            || self.extra_hosts.iter().any(|h| h.allows(&host, port))
        {
            Ok(())
        } else if is_concur || self.lists_host(&host) {
            Err(ItemUrlError::PortNotAllowed { host, port })
        } else {
            Err(ItemUrlError::HostNotAllowed(host))
        }
    }

    /// True when the configuration names this host (on any port), as opposed to Concur's domain.
    pub fn lists_host(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.extra_hosts.iter().any(|h| h.host == host)
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
        ItemUrlPolicy::with_extra_hosts(["127.0.0.1:8443", "LocalHost", "[::1]:9000", "::2"])
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
            "https://[::2]/x",
            "https://localhost:443/x",
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
            (
                "https://us2.api.concursolutions.com:8443/x",
                ItemUrlError::PortNotAllowed {
                    host: "us2.api.concursolutions.com".into(),
                    port: 8443,
                },
                "a concur host on another port",
            ),
            (
                "https://localhost:8443/x",
                ItemUrlError::PortNotAllowed {
                    host: "localhost".into(),
                    port: 8443,
                },
                "a host listed without a port allows 443 only",
            ),
            (
                "https://127.0.0.1/x",
                ItemUrlError::PortNotAllowed {
                    host: "127.0.0.1".into(),
                    port: 443,
                },
                "a host listed with a port allows that port only",
            ),
            (
                "https://[::1]:9001/x",
                ItemUrlError::PortNotAllowed {
                    host: "::1".into(),
                    port: 9001,
                },
                "another port of a listed ipv6 address",
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

    #[test]
    fn configured_entries_are_parsed_or_refused() {
        let policy = ItemUrlPolicy::with_extra_hosts(["Sim.Example.com:9443", "[::1]", "::2"]);
        assert_eq!(
            policy.extra_hosts(),
            ["sim.example.com:9443", "[::1]", "[::2]"]
        );
        for good in ["h.example", "127.0.0.1:1", "[::1]:65535", "fe80::1"] {
            assert!(check_allowed_host(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "https://h.example",
            "h.example/path",
            "h.example:0",
            "h.example:99999",
            "h.example:",
            "[::1",
            "[::1]x",
        ] {
            assert!(check_allowed_host(bad).is_err(), "{bad:?}");
        }
    }
}
