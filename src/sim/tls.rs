//! The simulator's HTTPS identity: its own CA and a leaf for localhost, or operator-given files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the simulator's certificate comes from. Clients trust it through the CA file
/// ([`super::RunningSim::ca_pem_path`]); nothing needs certificate checks turned off.
#[derive(Debug, Clone)]
pub enum SimTls {
    /// Use (or create) a private CA in `dir` and a leaf for `localhost`, `127.0.0.1`, `::1`
    /// and `extra_names`. Files: `ca.pem` (trust this), `ca-key.pem`, `cert.pem`, `key.pem`;
    /// keys are written with mode 0600. An existing `ca.pem` + `ca-key.pem` pair is reused, so
    /// a browser that trusts it once keeps trusting it; so is the leaf while it was issued by
    /// that CA for the same names and stays valid for 30 more days (a browser's "accept this
    /// certificate" decision survives restarts).
    Generate {
        dir: PathBuf,
        extra_names: Vec<String>,
    },
    /// Serve `cert` (PEM chain) with `key` (PEM); clients trust `ca`.
    Files {
        cert: PathBuf,
        key: PathBuf,
        ca: PathBuf,
    },
}

impl SimTls {
    /// Generate into `dir` for the loopback names only.
    pub fn generate_in(dir: impl Into<PathBuf>) -> Self {
        SimTls::Generate {
            dir: dir.into(),
            extra_names: Vec::new(),
        }
    }
}

pub(crate) struct TlsMaterial {
    pub server_config: Arc<ServerConfig>,
    pub ca_pem: String,
    pub ca_pem_path: PathBuf,
}

const CA_COMMON_NAME: &str = "concur-connector simulator CA";

pub(crate) fn prepare(tls: &SimTls) -> anyhow::Result<TlsMaterial> {
    let (chain_pem, key_pem, ca_pem_path) = match tls {
        SimTls::Generate { dir, extra_names } => generate(dir, extra_names)?,
        SimTls::Files { cert, key, ca } => (read(cert)?, read(key)?, ca.clone()),
    };
    let ca_pem = String::from_utf8(read(&ca_pem_path)?)
        .with_context(|| format!("{} is not UTF-8 PEM", ca_pem_path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the simulator's certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).context("parsing the simulator's key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server_config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("certificate and key do not form a usable pair")?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        server_config: Arc::new(server_config),
        ca_pem,
        ca_pem_path,
    })
}

fn generate(dir: &Path, extra_names: &[String]) -> anyhow::Result<(Vec<u8>, Vec<u8>, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");

    let kept_ca = ca_path.exists() && ca_key_path.exists();
    let ca_key = if kept_ca {
        let pem = String::from_utf8(read(&ca_key_path)?).context("ca-key.pem is not UTF-8")?;
        KeyPair::from_pem(&pem).context("parsing ca-key.pem")?
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let ca_cert = ca_params()?
            .self_signed(&key)
            .context("self-signing the CA")?;
        write(&ca_key_path, key.serialize_pem().as_bytes(), true)?;
        write(&ca_path, ca_cert.pem().as_bytes(), false)?;
        key
    };
    // Same subject and same key as the stored CA certificate, so leaves chain to it.
    let issuer = Issuer::new(ca_params()?, ca_key);

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    if kept_ca && let Some(kept) = reusable_leaf(dir, &read(&ca_path)?, &names) {
        return Ok((kept.0, kept.1, ca_path));
    }
    let mut leaf = CertificateParams::new(names).context("invalid extra certificate name")?;
    leaf.distinguished_name
        .push(DnType::CommonName, "concur-connector simulator");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages.push(KeyUsagePurpose::DigitalSignature);
    leaf.extended_key_usages
        .push(ExtendedKeyUsagePurpose::ServerAuth);
    let leaf_key = KeyPair::generate().context("generating the leaf key")?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .context("signing the leaf certificate")?;
    let cert_pem = leaf_cert.pem();
    let key_pem = leaf_key.serialize_pem();
    write(&dir.join("cert.pem"), cert_pem.as_bytes(), false)?;
    write(&dir.join("key.pem"), key_pem.as_bytes(), true)?;
    Ok((cert_pem.into_bytes(), key_pem.into_bytes(), ca_path))
}

/// The leaf of an earlier run, kept when it still fits: issued by this CA (its authority key
/// id is the CA's key id), for every name asked, with its own key, valid for 30 more days.
/// A browser that accepted the certificate once then keeps accepting it across restarts.
fn reusable_leaf(dir: &Path, ca_pem: &[u8], names: &[String]) -> Option<(Vec<u8>, Vec<u8>)> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let cert_pem = std::fs::read(dir.join("cert.pem")).ok()?;
    let key_pem = std::fs::read(dir.join("key.pem")).ok()?;
    let leaf_der = CertificateDer::from_pem_slice(&cert_pem).ok()?;
    let ca_der = CertificateDer::from_pem_slice(ca_pem).ok()?;
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).ok()?;
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).ok()?;
    let key = KeyPair::from_pem(std::str::from_utf8(&key_pem).ok()?).ok()?;
    let ca_key_id = ca
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
            _ => None,
        })?;
    let issuer_key_id = leaf
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })?;
    let san = leaf.subject_alternative_name().ok()??;
    let covers = |name: &String| {
        let ip = name.parse::<std::net::IpAddr>().ok();
        san.value
            .general_names
            .iter()
            .any(|general| match (general, ip) {
                (GeneralName::DNSName(dns), None) => dns.eq_ignore_ascii_case(name),
                (GeneralName::IPAddress(bytes), Some(std::net::IpAddr::V4(v4))) => {
                    *bytes == v4.octets()
                }
                (GeneralName::IPAddress(bytes), Some(std::net::IpAddr::V6(v6))) => {
                    *bytes == v6.octets()
                }
                _ => false,
            })
    };
    let fresh = leaf
        .validity()
        .time_to_expiration()
        .is_some_and(|left| left > time::Duration::days(30));
    let own_key =
        leaf.public_key().raw == rcgen::PublicKeyData::subject_public_key_info(&key).as_slice();
    (ca_key_id == issuer_key_id && names.iter().all(covers) && fresh && own_key)
        .then_some((cert_pem, key_pem))
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "concur-connector");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn write(path: &Path, content: &[u8], private: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(content)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` only applies when the file is created; an older key file keeps its bits.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}
