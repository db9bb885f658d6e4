//! Verifying the `id_token` of an authorization-code exchange against Concur's JWKS (RS256).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

/// One usable key of the JWKS: its `kid` (if any) and the RSA public key.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
}

/// Extracts the RSA signing keys of a JWKS document; other key types are skipped.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| format!("malformed jwks: {e}"))?;
    let keys: Vec<VerifyingKey> = set
        .keys
        .into_iter()
        .filter(|k| k.kty == "RSA")
        .filter(|k| k.usage.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == "RS256"))
        .filter_map(|k| {
            let key = DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
            Some(VerifyingKey { kid: k.kid, key })
        })
        .collect();
    if keys.is_empty() {
        return Err("jwks holds no rsa signing key".to_owned());
    }
    Ok(keys)
}

/// Why an `id_token` was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The token names a `kid` the key set lacks: the keys may have rotated.
    UnknownKey,
    /// Bad format, algorithm, signature, expiry, audience, issuer or missing `sub`.
    Invalid(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
}

/// How far a token's `exp` (and `nbf`) may be off the connector's clock. Concur's tokens
/// live an hour; a minute absorbs ordinary clock drift between Concur and this host without
/// stretching a token's life noticeably.
pub(crate) const CLOCK_SKEW_SECS: u64 = 60;

/// Host suffixes of Concur's API geolocations. Concur's `id_token`s name the geolocation that
/// issued them as `iss` (its published sample shows `https://us.api.concursolutions.com`),
/// so the issuer is an origin on one of these domains.
const CONCUR_ISSUER_SUFFIXES: [&str; 2] = [".api.concursolutions.com", ".api.concurcdc.cn"];

/// What an `id_token` must say besides carrying a valid signature.
pub(crate) struct Expected<'a> {
    /// The connector's OAuth client id: the token must be issued to it (`aud`).
    pub audience: &'a str,
    /// Issuers accepted in addition to Concur's geolocations: the origins of the configured
    /// auth and API base URLs (a simulator, or a Concur host not yet on the list).
    pub extra_issuers: &'a [String],
}

impl Expected<'_> {
    fn issuer_ok(&self, iss: &str) -> bool {
        if self.extra_issuers.iter().any(|i| i == iss) {
            return true;
        }
        let Some(host) = iss.strip_prefix("https://") else {
            return false;
        };
        let host = host.strip_suffix('/').unwrap_or(host);
        host.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && CONCUR_ISSUER_SUFFIXES.iter().any(|suffix| {
                host.strip_suffix(suffix)
                    .is_some_and(|name| !name.is_empty() && !name.ends_with('.'))
            })
    }
}

/// Verifies signature (RS256 only), `exp`, `aud` and `iss`; returns the `sub` claim.
///
/// The caller compares the subject with the signed launch: that is what binds the unsigned
/// `client_auth_code` to the user Concur signed for.
pub(crate) fn verify(
    id_token: &str,
    keys: &[VerifyingKey],
    expected: &Expected<'_>,
) -> Result<String, Rejection> {
    let header = decode_header(id_token).map_err(|e| Rejection::Invalid(e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(Rejection::Invalid(format!(
            "algorithm {:?} is not rs256",
            header.alg
        )));
    }
    let candidates: Vec<&VerifyingKey> = match &header.kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
            .collect(),
        None => keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(Rejection::UnknownKey);
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_audience(&[expected.audience]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);

    let mut last_error = String::new();
    for candidate in candidates {
        match decode::<Claims>(id_token, &candidate.key, &validation) {
            Ok(data) if !expected.issuer_ok(&data.claims.iss) => {
                return Err(Rejection::Invalid(
                    "issuer is not a concur geolocation nor a configured base url".to_owned(),
                ));
            }
            Ok(data) if data.claims.sub.trim().is_empty() => {
                return Err(Rejection::Invalid("subject is empty".to_owned()));
            }
            Ok(data) => return Ok(data.claims.sub),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(Rejection::Invalid(last_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_concur_geolocations_or_configured_origins() {
        let extra = ["https://127.0.0.1:9443".to_owned()];
        let expected = Expected {
            audience: "client",
            extra_issuers: &extra,
        };
        for good in [
            "https://us.api.concursolutions.com",
            "https://us2.api.concursolutions.com/",
            "https://emea-impl.api.concursolutions.com",
            "https://cn.api.concurcdc.cn",
            "https://127.0.0.1:9443",
        ] {
            assert!(expected.issuer_ok(good), "{good}");
        }
        for bad in [
            "",
            "http://us.api.concursolutions.com",
            "https://api.concursolutions.com",
            "https://.api.concursolutions.com",
            "https://evil.com/.api.concursolutions.com",
            "https://us.api.concursolutions.com.evil.com",
            "https://us.api.concursolutions.com:8443",
            "https://us.api.concursolutions.com/oauth2",
            "https://evil.com?x=.api.concursolutions.com",
            "https://127.0.0.1:9444",
            "https://www.concursolutions.com",
        ] {
            assert!(!expected.issuer_ok(bad), "{bad}");
        }
    }
}
