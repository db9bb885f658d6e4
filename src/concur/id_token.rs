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
    /// Bad format, algorithm, signature, expiry or missing `sub`.
    Invalid(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// Verifies signature (RS256 only) and expiry; returns the `sub` claim.
///
/// Issuer and audience are not checked: Concur documents neither value for `id_token`s,
/// and the subject comparison with the signed launch is what binds the code to the user.
pub(crate) fn verify(id_token: &str, keys: &[VerifyingKey]) -> Result<String, Rejection> {
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
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);

    let mut last_error = String::new();
    for candidate in candidates {
        match decode::<Claims>(id_token, &candidate.key, &validation) {
            Ok(data) => return Ok(data.claims.sub),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(Rejection::Invalid(last_error))
}
