//! Server-side TLS: TLS 1.2+ with ECDHE/AEAD suites only, certificate loading and live reload.
//!
//! Concur only talks to connectors with TLS 1.2 or newer that use and prioritise ECDHE suites
//! (docs/protocol.md §11). rustls offers no non-ECDHE or CBC suites at all; the list is still spelled
//! out so that a rustls upgrade cannot widen it silently.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use notify::{RecursiveMode, Watcher};
use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, SupportedCipherSuite};

/// Why a certificate or key could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read private key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("certificate {cert} and key {key} cannot be used together: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot write the self-signed certificate to {path}: {reason}")]
    Generate { path: PathBuf, reason: String },
}

/// Cipher suites in server preference order: TLS 1.3 suites, then TLS 1.2 ECDHE with AEAD.
const SUITES: &[SupportedCipherSuite] = &[
    cipher_suite::TLS13_AES_256_GCM_SHA384,
    cipher_suite::TLS13_AES_128_GCM_SHA256,
    cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// The aws-lc-rs provider restricted to [`SUITES`].
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: SUITES.to_vec(),
        ..aws_lc_rs::default_provider()
    }
}

/// Installs the process-wide default provider once (reqwest and rcgen rely on it).
pub fn install_default_provider() {
    // A second call (tests start many apps in one process) returns Err: that is fine.
    let _ = aws_lc_rs::default_provider().install_default();
}

/// What the server tells about its certificate at start-up and on reload.
#[derive(Debug, Clone)]
pub struct LeafInfo {
    pub subject: String,
    pub issuer: String,
    pub self_signed: bool,
    /// Whole days until `notAfter`; negative when expired.
    pub expires_in_days: i64,
    /// `notAfter`, in Unix seconds.
    pub not_after: i64,
}

/// A loaded certificate chain and key, ready to serve, with facts about the leaf.
pub struct LoadedCert {
    pub config: Arc<ServerConfig>,
    pub leaf: LeafInfo,
}

/// Reads a full-chain PEM certificate and a PKCS#8, PKCS#1 or SEC1 key and builds the
/// rustls server configuration.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<LoadedCert, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: cert_file.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    let leaf_der = chain
        .first()
        .ok_or_else(|| cert_error("no PEM CERTIFICATE block found".to_owned()))?;
    let leaf = inspect(leaf_der).map_err(cert_error)?;

    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Key {
        path: key_file.to_path_buf(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no supported private key found (expected a PEM PKCS#8, PKCS#1 RSA or SEC1 EC key)"
                    .to_owned()
            }
            other => other.to_string(),
        },
    })?;

    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| cert_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch {
            cert: cert_file.to_path_buf(),
            key: key_file.to_path_buf(),
            reason: e.to_string(),
        })?;
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(LoadedCert {
        config: Arc::new(config),
        leaf,
    })
}

fn inspect(der: &CertificateDer<'_>) -> Result<LeafInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let not_after = cert.validity().not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    Ok(LeafInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        expires_in_days: (not_after - now).div_euclid(86_400),
        not_after,
    })
}

/// Writes a self-signed certificate for `localhost` (and 127.0.0.1, ::1) unless both files
/// already exist. Returns true when it generated one.
pub fn ensure_self_signed(cert_file: &Path, key_file: &Path) -> Result<bool, TlsError> {
    if cert_file.exists() && key_file.exists() {
        return Ok(false);
    }
    let generate_error = |path: &Path, reason: String| TlsError::Generate {
        path: path.to_path_buf(),
        reason,
    };
    let names = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let (cert_pem, key_pem) =
        development_certificate(names).map_err(|e| generate_error(cert_file, e.to_string()))?;
    for (path, pem, private) in [(cert_file, cert_pem, false), (key_file, key_pem, true)] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| generate_error(path, e.to_string()))?;
        }
        write_file(path, pem.as_bytes(), private)
            .map_err(|e| generate_error(path, e.to_string()))?;
    }
    Ok(true)
}

/// A localhost certificate valid for one year, clearly named, so nobody mistakes it.
fn development_certificate(names: Vec<String>) -> Result<(String, String), rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "concur-connector development certificate (localhost)",
    );
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write_file(path: &Path, content: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    options.open(path)?.write_all(content)
}

/// Keeps serving the newest valid certificate: reloads on changes to the certificate's or
/// key's directory (certbot renewals, Kubernetes secret swaps) and on SIGHUP. A bad new
/// pair is logged and the old certificate stays. Open connections are never touched:
/// rustls applies a new config to new handshakes only.
pub fn spawn_reloader(
    rustls: RustlsConfig,
    cert_file: PathBuf,
    key_file: PathBuf,
    watch: bool,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(16);
    let watcher = if watch {
        let tx = tx.clone();
        let names = watched_names(&cert_file, &key_file);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| {
                    !e.kind.is_access() && e.paths.iter().any(|p| concerns(&names, p))
                }) {
                    let _ = tx.try_send("file change");
                }
            })?;
        for dir in watch_dirs(&cert_file, &key_file) {
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        }
        Some(watcher)
    } else {
        None
    };
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hangup.recv() => { let _ = tx.try_send("SIGHUP"); }
                else => break,
            }
        }
    });
    Ok(tokio::spawn(async move {
        let _watcher = watcher; // dropping it stops the watch
        while let Some(reason) = rx.recv().await {
            // Debounce: writers replace cert and key in several steps.
            tokio::time::sleep(Duration::from_millis(250)).await;
            while rx.try_recv().is_ok() {}
            match load(&cert_file, &key_file) {
                Ok(loaded) => {
                    rustls.reload_from_config(loaded.config);
                    crate::metrics::certificate_served(loaded.leaf.not_after);
                    tracing::info!(
                        reason,
                        subject = %loaded.leaf.subject,
                        expires_in_days = loaded.leaf.expires_in_days,
                        "tls certificate reloaded"
                    );
                }
                Err(error) => {
                    tracing::error!(reason, %error, "tls certificate reload failed; still serving the previous certificate")
                }
            }
        }
    }))
}

/// The file names whose changes matter: the certificate's and the key's.
fn watched_names(cert_file: &Path, key_file: &Path) -> Vec<std::ffi::OsString> {
    [cert_file, key_file]
        .iter()
        .filter_map(|f| f.file_name().map(ToOwned::to_owned))
        .collect()
}

/// Whether a change to `path` may have changed the pair: the files themselves, or a
/// Kubernetes secret volume's `..data` swap (its files are symlinks into `..data`). Other
/// files sharing the directory (a state file, an editor's backup) do not reload.
fn concerns(names: &[std::ffi::OsString], path: &Path) -> bool {
    path.file_name().is_some_and(|name| {
        names.iter().any(|n| n == name) || name.to_string_lossy().starts_with("..")
    })
}

fn watch_dirs(cert_file: &Path, key_file: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [cert_file, key_file]
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.dedup();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pair_and_kubernetes_swaps_trigger_a_reload() {
        let names = watched_names(Path::new("/c/fullchain.pem"), Path::new("/c/privkey.pem"));
        for (path, reloads) in [
            ("/c/fullchain.pem", true),
            ("/c/privkey.pem", true),
            ("/c/..data", true),
            ("/c/..2026_11_23_10_00_00.123", true),
            ("/c/fullchain.tmp", false),
            ("/c/state", false),
            ("/c/concur-token.json", false),
        ] {
            assert_eq!(concerns(&names, Path::new(path)), reloads, "{path}");
        }
    }
}
