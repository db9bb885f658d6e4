//! The keys that encrypt users' Concur tokens inside shared session records
//! (`store.session_keys`, `store.session_key_id`; docs/protocol.md §7.8).
//!
//! AES-256-GCM with a random 96-bit nonce per value. The associated data names the purpose,
//! the key id and the session id, so a ciphertext moved into another session (or relabelled
//! with another key id) fails to open. The key named by `session_key_id` encrypts; every
//! listed key decrypts, so a new key is introduced by listing it first on every instance,
//! then naming it, and the old one is removed once the sessions it sealed have expired.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit as _, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::checks::Problems;

/// What the associated data starts with: the format of a sealed user token.
const PURPOSE: &str = "concur-connector/user-token/v1";
/// Key ids: short and plain, since they travel in every sealed value.
const MAX_ID_LEN: usize = 32;

/// An encrypted value inside a session record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The id of the key that encrypted it.
    pub kid: String,
    /// The 96-bit nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag, base64.
    pub data: String,
}

/// The configured keys: one encrypts, all decrypt.
#[derive(Clone)]
pub struct SessionKeys {
    current: String,
    keys: BTreeMap<String, Key<Aes256Gcm>>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn associated_data(kid: &str, session_id: &str) -> Vec<u8> {
    format!("{PURPOSE}|{kid}|{session_id}").into_bytes()
}

impl SessionKeys {
    /// Encrypts `plaintext` for the session `session_id` with the current key.
    pub fn seal(&self, session_id: &str, plaintext: &[u8]) -> Option<Sealed> {
        let key = self.keys.get(&self.current)?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(&self.current, session_id);
        let data = Aes256Gcm::new(key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .ok()?;
        Some(Sealed {
            kid: self.current.clone(),
            nonce: STANDARD.encode(nonce),
            data: STANDARD.encode(data),
        })
    }

    /// Decrypts a value sealed for `session_id`; `Err` says why it cannot be (never the key).
    pub fn open(&self, session_id: &str, sealed: &Sealed) -> Result<Vec<u8>, &'static str> {
        let key = self
            .keys
            .get(&sealed.kid)
            .ok_or("its key id is not in store.session_keys")?;
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .filter(|n| n.len() == 12)
            .ok_or("its nonce is malformed")?;
        let data = STANDARD
            .decode(&sealed.data)
            .map_err(|_| "its ciphertext is not base64")?;
        let aad = associated_data(&sealed.kid, session_id);
        Aes256Gcm::new(key)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &data,
                    aad: &aad,
                },
            )
            .map_err(|_| "it does not authenticate (altered, or sealed for another session)")
    }

    /// The keys of `[store]`, checked: `None` when none are configured (or on a problem,
    /// recorded under its key; no message repeats a key).
    pub fn from_settings(
        problems: &mut Problems,
        inline: &BTreeMap<String, SecretString>,
        file: Option<&Path>,
        current: Option<&str>,
    ) -> Option<Self> {
        let from_file;
        let (listed, key) = match file {
            Some(_) if !inline.is_empty() => {
                problems.push(
                    "store.session_keys",
                    "set either `store.session_keys` or `store.session_keys_file`, not both",
                );
                return None;
            }
            Some(path) => {
                from_file = read_key_file(problems, path)?;
                (&from_file, "store.session_keys_file")
            }
            None => (inline, "store.session_keys"),
        };
        let (Some(current), false) = (current, listed.is_empty()) else {
            if current.is_some() {
                problems.push(
                    "store.session_key_id",
                    "names a key, but store.session_keys lists none",
                );
            } else if !listed.is_empty() {
                problems.push(
                    "store.session_key_id",
                    "is required with store.session_keys: name the key that encrypts",
                );
            }
            return None;
        };
        let mut keys = BTreeMap::new();
        for (id, value) in listed {
            if id.is_empty()
                || id.len() > MAX_ID_LEN
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                problems.push(
                    key,
                    format!("key id {id:?} must be 1 to {MAX_ID_LEN} letters, digits, `-` or `_`"),
                );
                continue;
            }
            match STANDARD.decode(value.expose_secret().trim()) {
                Ok(bytes) if bytes.len() == 32 => {
                    keys.insert(id.clone(), *Key::<Aes256Gcm>::from_slice(&bytes));
                }
                Ok(bytes) => problems.push(
                    key,
                    format!(
                        "key {id:?} is {} bytes; AES-256 needs 32 (e.g. `openssl rand -base64 32`)",
                        bytes.len()
                    ),
                ),
                Err(_) => problems.push(
                    key,
                    format!("key {id:?} is not base64 (e.g. `openssl rand -base64 32`)"),
                ),
            }
        }
        if !listed.contains_key(current) {
            let ids: Vec<&str> = listed.keys().map(String::as_str).collect();
            problems.push(
                "store.session_key_id",
                format!(
                    "names {current:?}, which store.session_keys does not list (it lists {})",
                    ids.join(", ")
                ),
            );
            return None;
        }
        (keys.len() == listed.len()).then(|| Self {
            current: current.to_owned(),
            keys,
        })
    }
}

/// A secret file of `id = "base64"` lines (TOML), like the inline table.
fn read_key_file(problems: &mut Problems, path: &Path) -> Option<BTreeMap<String, SecretString>> {
    let key = "store.session_keys_file";
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(key, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    match toml::from_str::<BTreeMap<String, String>>(&text) {
        Ok(map) => Some(
            map.into_iter()
                .map(|(id, value)| (id, SecretString::from(value)))
                .collect(),
        ),
        // toml's message quotes the offending line, which may hold a key.
        Err(_) => {
            problems.push(
                key,
                format!(
                    "{} is not a list of `id = \"base64 key\"` lines",
                    path.display()
                ),
            );
            None
        }
    }
}

/// Shows `store.session_keys` with every key redacted.
pub fn redacted_keys<S: serde::Serializer>(
    keys: &BTreeMap<String, SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = serializer.serialize_map(Some(keys.len()))?;
    for id in keys.keys() {
        map.serialize_entry(id, "[REDACTED]")?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    fn keys(listed: &[(&str, &str)], current: &str) -> Result<SessionKeys, Vec<String>> {
        let inline = listed
            .iter()
            .map(|(id, v)| ((*id).to_owned(), SecretString::from((*v).to_owned())))
            .collect();
        let mut problems = Problems::default();
        SessionKeys::from_settings(&mut problems, &inline, None, Some(current)).ok_or_else(|| {
            problems
                .into_vec()
                .into_iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect()
        })
    }

    #[test]
    fn a_sealed_value_opens_for_its_session_only_and_after_a_key_rotation() {
        let old = keys(&[("k1", K1)], "k1").unwrap();
        let sealed = old.seal("session-a", b"token").unwrap();
        assert_eq!(old.open("session-a", &sealed).unwrap(), b"token");
        assert!(old.open("session-b", &sealed).is_err());
        let again = old.seal("session-a", b"token").unwrap();
        assert_ne!(sealed.nonce, again.nonce, "a fresh nonce per value");

        let rotated = keys(&[("k1", K1), ("k2", K2)], "k2").unwrap();
        assert_eq!(rotated.open("session-a", &sealed).unwrap(), b"token");
        assert_eq!(rotated.seal("s", b"x").unwrap().kid, "k2");
        let relabelled = Sealed {
            kid: "k2".to_owned(),
            ..sealed.clone()
        };
        assert!(rotated.open("session-a", &relabelled).is_err());
        let retired = keys(&[("k2", K2)], "k2").unwrap();
        assert!(retired.open("session-a", &sealed).is_err());
    }

    #[test]
    fn the_effective_settings_show_key_ids_but_never_keys() {
        let mut store = crate::config::RawSettings::default();
        store
            .store
            .session_keys
            .insert("k1".to_owned(), SecretString::from(K1.to_owned()));
        let shown = toml::to_string(&store).unwrap();
        assert!(shown.contains("k1 = \"[REDACTED]\""), "{shown}");
        assert!(!shown.contains(K1), "{shown}");
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let keys = keys(&[("k1", K1)], "k1").unwrap();
        let mut sealed = keys.seal("s", b"token").unwrap();
        let mut data = STANDARD.decode(&sealed.data).unwrap();
        data[0] ^= 1;
        sealed.data = STANDARD.encode(data);
        assert!(keys.open("s", &sealed).is_err());
    }

    #[test]
    fn bad_keys_are_configuration_problems_that_never_show_the_key() {
        let short = STANDARD.encode(b"sixteen byte key");
        for (listed, current, expected) in [
            (vec![("k1", short.as_str())], "k1", "16 bytes"),
            (vec![("k1", "not base64!")], "k1", "not base64"),
            (vec![("k 1", K1)], "k 1", "letters, digits"),
            (vec![("k1", K1)], "k9", "does not list"),
        ] {
            let problems = keys(&listed, current).unwrap_err().join("\n");
            assert!(problems.contains(expected), "{problems}");
            for (_, value) in &listed {
                assert!(!problems.contains(value), "{problems}");
            }
        }
        let mut problems = Problems::default();
        let none = SessionKeys::from_settings(&mut problems, &BTreeMap::new(), None, Some("k1"));
        assert!(none.is_none());
        assert_eq!(problems.into_vec()[0].key, "store.session_key_id");
    }
}
