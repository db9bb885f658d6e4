//! Issued credentials: access tokens, rotating refresh tokens, one-time authorization codes, and
//! the RSA key that signs JWTs (published as JWKS).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::record::Principal;

/// Signs access and id tokens with a key generated at start.
pub(crate) struct JwtSigner {
    key: EncodingKey,
    kid: String,
    jwks: JwkSet,
}

impl JwtSigner {
    pub fn generate() -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
            .context("generating the simulator's RSA signing key")?;
        let pkcs1 = pkcs1_from_pkcs8(pair.serialized_der())?;
        let key = EncodingKey::from_rsa_der(&pkcs1);
        let kid = uuid::Uuid::new_v4().to_string();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)
            .context("deriving the JWK of the signing key")?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            key,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    pub fn sign(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).context("signing a JWT")
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

/// jsonwebtoken's aws-lc backend takes the PKCS#1 `RSAPrivateKey`; rcgen hands out PKCS#8,
/// whose third element is that structure wrapped in an OCTET STRING.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> anyhow::Result<Vec<u8>> {
    use x509_parser::der_parser::parse_der;
    let (_, info) = parse_der(pkcs8).map_err(|e| anyhow::anyhow!("parsing PKCS#8: {e}"))?;
    let fields = info
        .as_sequence()
        .map_err(|e| anyhow::anyhow!("PKCS#8 is not a sequence: {e}"))?;
    let key = fields
        .get(2)
        .context("PKCS#8 has no private key")?
        .as_slice()
        .map_err(|e| anyhow::anyhow!("PKCS#8 private key is not an octet string: {e}"))?;
    Ok(key.to_vec())
}

/// Claims of the simulator's JWTs (`id_token` and access tokens alike).
#[derive(Debug, Serialize)]
pub(crate) struct Claims<'a> {
    pub aud: &'a str,
    pub sub: &'a str,
    pub iss: &'a str,
    #[serde(rename = "concur.type")]
    pub concur_type: &'a str,
    #[serde(rename = "concur.version")]
    pub concur_version: u32,
    #[serde(rename = "concur.profile", skip_serializing_if = "Option::is_none")]
    pub concur_profile: Option<String>,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
}

struct AccessEntry {
    principal: Principal,
    expires: Instant,
}

struct RefreshEntry {
    principal: Principal,
    expires: SystemTime,
}

struct CodeEntry {
    user_id: String,
    expires: Instant,
}

/// Why a token, refresh token or code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    Unknown,
    Expired,
}

/// All live credentials. Access tokens are looked up by their exact string.
#[derive(Default)]
pub(crate) struct TokenStore {
    access: HashMap<String, AccessEntry>,
    refresh: HashMap<String, RefreshEntry>,
    codes: HashMap<String, CodeEntry>,
}

impl TokenStore {
    pub fn add_access(&mut self, token: String, principal: Principal, lifetime: Duration) {
        let now = Instant::now();
        // Expired tokens are dropped as new ones arrive so long benchmark runs stay bounded.
        self.access.retain(|_, entry| entry.expires > now);
        self.access.insert(
            token,
            AccessEntry {
                principal,
                expires: now + lifetime,
            },
        );
    }

    pub fn check_access(&self, token: &str) -> Result<Principal, Rejected> {
        let entry = self.access.get(token).ok_or(Rejected::Unknown)?;
        if entry.expires <= Instant::now() {
            return Err(Rejected::Expired);
        }
        Ok(entry.principal.clone())
    }

    /// Makes every issued access token expired (refresh tokens stay valid).
    pub fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for entry in self.access.values_mut() {
            entry.expires = now;
        }
    }

    pub fn add_refresh(&mut self, token: String, principal: Principal, expires: SystemTime) {
        self.refresh
            .insert(token, RefreshEntry { principal, expires });
    }

    /// Takes a refresh token out of circulation: rotation makes every refresh token single-use.
    pub fn take_refresh(&mut self, token: &str) -> Result<Principal, Rejected> {
        let entry = self.refresh.remove(token).ok_or(Rejected::Unknown)?;
        if entry.expires <= SystemTime::now() {
            return Err(Rejected::Expired);
        }
        Ok(entry.principal)
    }

    pub fn add_code(&mut self, code: String, user_id: String, lifetime: Duration) {
        let now = Instant::now();
        self.codes.retain(|_, entry| entry.expires > now);
        self.codes.insert(
            code,
            CodeEntry {
                user_id,
                expires: now + lifetime,
            },
        );
    }

    /// Whether `code` is live, without using it up.
    pub fn peek_code(&self, code: &str) -> Result<(), Rejected> {
        let entry = self.codes.get(code).ok_or(Rejected::Unknown)?;
        if entry.expires <= Instant::now() {
            return Err(Rejected::Expired);
        }
        Ok(())
    }

    /// Uses up a live code; returns the user it was issued for.
    pub fn take_code(&mut self, code: &str) -> Result<String, Rejected> {
        self.peek_code(code)?;
        self.codes
            .remove(code)
            .map(|entry| entry.user_id)
            .ok_or(Rejected::Unknown)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn epoch_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_single_use() {
        let mut store = TokenStore::default();
        let later = SystemTime::now() + Duration::from_secs(60);
        store.add_refresh("r1".into(), Principal::Company, later);
        assert_eq!(store.take_refresh("r1"), Ok(Principal::Company));
        assert_eq!(store.take_refresh("r1"), Err(Rejected::Unknown));
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let mut store = TokenStore::default();
        store.add_code("c1".into(), "u1".into(), Duration::from_secs(60));
        store.add_code("c2".into(), "u2".into(), Duration::ZERO);
        assert_eq!(store.take_code("c2"), Err(Rejected::Expired));
        assert_eq!(store.take_code("c1"), Ok("u1".to_owned()));
        assert_eq!(store.take_code("c1"), Err(Rejected::Unknown));
    }

    #[test]
    fn expired_access_tokens_are_refused() {
        let mut store = TokenStore::default();
        store.add_access("a1".into(), Principal::App, Duration::from_secs(60));
        assert_eq!(store.check_access("a1"), Ok(Principal::App));
        store.expire_access_tokens();
        assert_eq!(store.check_access("a1"), Err(Rejected::Expired));
        assert_eq!(store.check_access("nope"), Err(Rejected::Unknown));
    }
}
