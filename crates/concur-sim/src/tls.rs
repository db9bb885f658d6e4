//! The simulator's HTTPS identity: its own CA and a leaf for localhost, or operator-given files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the simulator's certificate comes from. Clients trust it through the CA file
/// ([`super::RunningSim::ca_pem_path`]); nothing needs certificate checks turned off.
#[derive(Debug, Clone)]
pub enum SimTls {
    /// Use (or create) a private development CA in `dir` and a leaf for `localhost`,
    /// `127.0.0.1`, `::1` and `extra_names`. Files: `ca.pem` (trust this), `ca-key.pem`,
    /// `cert.pem`, `key.pem`; keys are written with mode 0600. The CA is made on this machine,
    /// lives a year and is name-constrained to `localhost` (and names under it), 127.0.0.1
    /// and ::1, so `extra_names` must be such names. An existing `ca.pem` + `ca-key.pem` pair
    /// is reused, so a browser that trusts it once keeps trusting it, unless it has fewer than
    /// 30 days left, lacks those constraints, or is the CA whose key was once published in
    /// this repository (then it is replaced, with a log line saying why). The leaf (at most 90
    /// days, never past the CA) is reused while it was issued by that CA for the same names
    /// and stays valid for 30 more days (a browser's "accept this certificate" decision
    /// survives restarts).
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

/// How long a new development CA lives: a browser trusts it for a year at most.
const CA_LIFETIME: time::Duration = time::Duration::days(365);
/// How long a new leaf lives (never past its CA).
const LEAF_LIFETIME: time::Duration = time::Duration::days(90);
/// A CA or leaf with fewer days left than this is replaced at start.
const RENEW_BEFORE: time::Duration = time::Duration::days(30);
/// Certificates start a little in the past, so a client whose clock lags accepts them.
const BACKDATE: time::Duration = time::Duration::minutes(5);

/// SHA-256 of the public key (SubjectPublicKeyInfo, DER) of the development CA whose private
/// key was once committed to this repository (serial 7afcf840…, valid until 4096, without
/// name constraints). Anyone can sign with that key, so a local copy is never reused.
const LEAKED_CA_SPKI_SHA256: &str =
    "65f853cc286b0c1c27f60a31ed011113e65d67b4132a571b912260dd1de6484f";
/// SHA-256 of that leaked CA certificate itself (DER).
const LEAKED_CA_CERT_SHA256: &str =
    "1fbbb9dd1228d8c3e61c7c01dffb3dfc3926bae7a4da65f8fe2eab410f2ce31f";

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
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    for name in extra_names {
        anyhow::ensure!(
            within_constraints(name),
            "the simulator's development CA only certifies localhost, names under .localhost, \
             127.0.0.1 and ::1, not {name:?}; give the simulator certificate files of your own \
             for other names"
        );
        names.push(name.clone());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");
    let now = time::OffsetDateTime::now_utc();

    let existing = (
        std::fs::read(&ca_path).ok(),
        std::fs::read(&ca_key_path).ok(),
    );
    let (ca_key, ca_not_after, kept_ca) =
        match assess_ca(existing.0.as_deref(), existing.1.as_deref(), now) {
            Ok((key, not_after)) => (key, not_after, true),
            Err(reason) => {
                reason.log(&ca_path);
                let key = KeyPair::generate().context("generating the CA key")?;
                let params = ca_params(now - BACKDATE)?;
                let not_after = params.not_after;
                let ca_cert = params.self_signed(&key).context("self-signing the CA")?;
                write(&ca_key_path, key.serialize_pem().as_bytes(), true)?;
                write(&ca_path, ca_cert.pem().as_bytes(), false)?;
                (key, not_after, false)
            }
        };
    // Same subject and same key as the stored CA certificate, so leaves chain to it.
    let issuer = Issuer::new(ca_params(now)?, ca_key);

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
    leaf.not_before = now - BACKDATE;
    leaf.not_after = (leaf.not_before + LEAF_LIFETIME).min(ca_not_after);
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

/// Whether the CA's name constraints allow `name` in a leaf: `localhost` and the names under
/// it (a DNS constraint covers its subdomains), `127.0.0.1` and `::1`.
fn within_constraints(name: &str) -> bool {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip == std::net::Ipv4Addr::LOCALHOST || ip == std::net::Ipv6Addr::LOCALHOST,
        Err(_) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// Why a stored development CA is not reused (a new one is made and logged with the reason).
#[derive(Debug, PartialEq, Eq)]
enum ReplaceCa {
    /// No `ca.pem` or no `ca-key.pem` yet: the first run on this machine.
    Missing,
    /// The CA whose private key was published in this repository's history.
    Leaked,
    /// Unreadable PEM or certificate, or a key that is not the certificate's.
    Unusable(&'static str),
    /// Made by an older version: not limited to the loopback names, or living too long.
    Unconstrained,
    /// Expires within the renewal margin (or has expired).
    Expiring { days_left: i64 },
}

impl ReplaceCa {
    fn log(&self, ca_path: &Path) {
        let path = ca_path.display();
        match self {
            ReplaceCa::Missing => {
                tracing::info!(ca = %path, "creating this machine's development CA");
            }
            ReplaceCa::Leaked => tracing::warn!(
                ca = %path,
                "replacing the development CA: it is the one whose private key was published \
                 in the project's repository, so anyone could sign certificates it vouches \
                 for; remove it from every browser or trust store that trusts it and trust \
                 the new one"
            ),
            ReplaceCa::Unusable(why) => tracing::warn!(
                ca = %path,
                "replacing the development CA: {why}"
            ),
            ReplaceCa::Unconstrained => tracing::warn!(
                ca = %path,
                "replacing the development CA: it is not limited to localhost, 127.0.0.1 and \
                 ::1 or lives longer than a year (made by an older version); remove it from \
                 every browser or trust store that trusts it and trust the new one"
            ),
            ReplaceCa::Expiring { days_left } => tracing::info!(
                ca = %path,
                days_left,
                "renewing the development CA before it expires; trust the new one"
            ),
        }
    }
}

/// Decides whether the stored CA (`ca.pem`, `ca-key.pem`) is reused: not the leaked one, a CA
/// with this version's name constraints, at most a year long, with more than the renewal
/// margin left, and with its own key. Returns the key and the CA's expiry.
fn assess_ca(
    ca_pem: Option<&[u8]>,
    key_pem: Option<&[u8]>,
    now: time::OffsetDateTime,
) -> Result<(KeyPair, time::OffsetDateTime), ReplaceCa> {
    use sha2::Digest as _;
    let hex = |bytes: &[u8]| {
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let Some(ca_pem) = ca_pem else {
        return Err(ReplaceCa::Missing);
    };
    let ca_der = CertificateDer::from_pem_slice(ca_pem)
        .map_err(|_| ReplaceCa::Unusable("ca.pem holds no PEM certificate"))?;
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der)
        .map_err(|_| ReplaceCa::Unusable("ca.pem is not a readable certificate"))?;
    let key = key_pem
        .and_then(|pem| std::str::from_utf8(pem).ok())
        .and_then(|pem| KeyPair::from_pem(pem).ok());
    let key_spki = key
        .as_ref()
        .map(rcgen::PublicKeyData::subject_public_key_info);
    if hex(&ca_der) == LEAKED_CA_CERT_SHA256
        || hex(ca.public_key().raw) == LEAKED_CA_SPKI_SHA256
        || key_spki
            .as_deref()
            .is_some_and(|spki| hex(spki) == LEAKED_CA_SPKI_SHA256)
    {
        return Err(ReplaceCa::Leaked);
    }
    let Some(key) = key else {
        return Err(match key_pem {
            None => ReplaceCa::Missing,
            Some(_) => ReplaceCa::Unusable("ca-key.pem is not a readable private key"),
        });
    };
    if key_spki.as_deref() != Some(ca.public_key().raw) {
        return Err(ReplaceCa::Unusable("ca-key.pem is not the key of ca.pem"));
    }
    let validity = ca.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if !has_loopback_constraints(&ca) || not_after - not_before > CA_LIFETIME.whole_seconds() {
        return Err(ReplaceCa::Unconstrained);
    }
    let left = time::Duration::seconds(not_after - now.unix_timestamp());
    if left < RENEW_BEFORE {
        return Err(ReplaceCa::Expiring {
            days_left: left.whole_days(),
        });
    }
    let not_after = time::OffsetDateTime::from_unix_timestamp(not_after)
        .map_err(|_| ReplaceCa::Unusable("ca.pem has an unreadable expiry"))?;
    Ok((key, not_after))
}

/// The CA is a CA whose critical name constraints permit exactly `localhost`, 127.0.0.1/32
/// and ::1/128 (what [`ca_params`] writes).
fn has_loopback_constraints(ca: &x509_parser::certificate::X509Certificate<'_>) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(constraints)) = ca.name_constraints() else {
        return false;
    };
    let Some(permitted) = &constraints.value.permitted_subtrees else {
        return false;
    };
    let mut v4 = [0u8; 8];
    v4[..4].copy_from_slice(&std::net::Ipv4Addr::LOCALHOST.octets());
    v4[4..].copy_from_slice(&[0xff; 4]);
    let mut v6 = [0u8; 32];
    v6[..16].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v6[16..].copy_from_slice(&[0xff; 16]);
    let bases: Vec<_> = permitted.iter().map(|subtree| &subtree.base).collect();
    constraints.critical
        && bases.len() == 3
        && bases
            .iter()
            .any(|b| matches!(b, GeneralName::DNSName("localhost")))
        && bases
            .iter()
            .any(|b| matches!(b, GeneralName::IPAddress(ip) if *ip == v4.as_slice()))
        && bases
            .iter()
            .any(|b| matches!(b, GeneralName::IPAddress(ip) if *ip == v6.as_slice()))
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

/// The development CA, valid for [`CA_LIFETIME`] from `not_before`. Its name constraints
/// (critical) let it vouch only for `localhost` (and names under it), 127.0.0.1 and ::1: a
/// browser that trusts it accepts nothing it signs for any other site.
fn ca_params(not_before: time::OffsetDateTime) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
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
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".to_owned()),
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                std::net::Ipv4Addr::LOCALHOST.into(),
                32,
            )),
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                std::net::Ipv6Addr::LOCALHOST.into(),
                128,
            )),
        ],
        excluded_subtrees: Vec::new(),
    });
    params.not_before = not_before;
    params.not_after = not_before + CA_LIFETIME;
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

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    const LEAKED_CA_PEM: &str = include_str!("../tests/fixtures/leaked-ca.pem");

    fn parse(pem: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem).unwrap()
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A CA of the given parameters with its key, written where `generate` looks.
    fn store_ca(dir: &Path, params: CertificateParams) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("ca-key.pem"), key.serialize_pem()).unwrap();
        cert.pem().into_bytes()
    }

    fn verifier(ca: &CertificateDer<'static>) -> Arc<rustls::client::WebPkiServerVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .build()
        .unwrap()
    }

    #[test]
    fn a_new_development_ca_is_name_constrained_to_loopback_and_lives_at_most_a_year() {
        let dir = tempfile::tempdir().unwrap();
        let before = time::OffsetDateTime::now_utc();
        generate(dir.path(), &[]).unwrap();
        let ca_der = parse(&std::fs::read(dir.path().join("ca.pem")).unwrap());
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();

        let constraints = ca.name_constraints().unwrap().expect("name constraints");
        assert!(constraints.critical);
        assert!(constraints.value.excluded_subtrees.is_none());
        let permitted: Vec<_> = constraints
            .value
            .permitted_subtrees
            .as_ref()
            .expect("permitted subtrees")
            .iter()
            .map(|subtree| subtree.base.clone())
            .collect();
        let mut v6 = vec![0u8; 15];
        v6.push(1);
        v6.extend([0xff; 16]);
        assert_eq!(
            permitted,
            vec![
                GeneralName::DNSName("localhost"),
                GeneralName::IPAddress(&[127, 0, 0, 1, 255, 255, 255, 255]),
                GeneralName::IPAddress(&v6),
            ]
        );
        assert!(ca.is_ca());
        let validity = ca.validity();
        let life = validity.not_after.timestamp() - validity.not_before.timestamp();
        assert!(life <= 365 * 86_400, "{life}");
        assert!(
            validity.not_after.timestamp() <= (before + time::Duration::days(365)).unix_timestamp()
        );

        let leaf_der = parse(&std::fs::read(dir.path().join("cert.pem")).unwrap());
        let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
        assert!(leaf.validity().not_after.timestamp() <= validity.not_after.timestamp());
        let leaf_life =
            leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
        assert!(leaf_life <= 90 * 86_400, "{leaf_life}");
    }

    #[test]
    fn a_client_trusting_the_development_ca_refuses_its_signature_for_other_names() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[]).unwrap();
        let ca_pem = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let ca_key =
            KeyPair::from_pem(&std::fs::read_to_string(dir.path().join("ca-key.pem")).unwrap())
                .unwrap();
        let issuer = Issuer::new(ca_params(time::OffsetDateTime::now_utc()).unwrap(), ca_key);
        let verifier = verifier(&parse(&ca_pem));
        let now = rustls::pki_types::UnixTime::now();
        use rustls::client::danger::ServerCertVerifier as _;

        let served = parse(&std::fs::read(dir.path().join("cert.pem")).unwrap());
        for name in ["localhost", "127.0.0.1", "::1"] {
            let name = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&served, &[], &name, &[], now)
                .unwrap();
        }

        // Anyone holding this machine's CA key still cannot vouch for a real site.
        let mut params = CertificateParams::new(vec!["www.example.com".to_owned()]).unwrap();
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let forged = params.signed_by(&key, &issuer).unwrap();
        let name = rustls::pki_types::ServerName::try_from("www.example.com").unwrap();
        let refused = verifier
            .verify_server_cert(forged.der(), &[], &name, &[], now)
            .unwrap_err();
        // webpki reports the violated name constraint as its own error kind.
        assert!(
            format!("{refused:?}").contains("NameConstraintViolation"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_fitting_ca_is_kept_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[]).unwrap();
        let first = std::fs::read(dir.path().join("ca.pem")).unwrap();
        generate(dir.path(), &[]).unwrap();
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), first);
    }

    #[test]
    fn an_expiring_ca_is_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let now = time::OffsetDateTime::now_utc();
        // Made 340 days ago: 25 days left, under the 30-day margin.
        let old = store_ca(
            dir.path(),
            ca_params(now - time::Duration::days(340)).unwrap(),
        );
        let assessed = assess_ca(
            Some(&old),
            Some(&std::fs::read(dir.path().join("ca-key.pem")).unwrap()),
            now,
        );
        assert!(
            matches!(assessed, Err(ReplaceCa::Expiring { days_left: 24 | 25 })),
            "{:?}",
            assessed.map(|_| ())
        );

        generate(dir.path(), &[]).unwrap();
        let renewed = std::fs::read(dir.path().join("ca.pem")).unwrap();
        assert_ne!(renewed, old);
        let der = parse(&renewed);
        let (_, ca) = x509_parser::parse_x509_certificate(&der).unwrap();
        let left = ca.validity().not_after.timestamp() - now.unix_timestamp();
        assert!(left > 364 * 86_400, "{left}");
        // The new leaf chains to the new CA.
        let leaf = parse(&std::fs::read(dir.path().join("cert.pem")).unwrap());
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        use rustls::client::danger::ServerCertVerifier as _;
        verifier(&der)
            .verify_server_cert(&leaf, &[], &name, &[], rustls::pki_types::UnixTime::now())
            .unwrap();
    }

    #[test]
    fn a_ca_without_name_constraints_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // What earlier versions made: the same subject, no constraints, valid until 4096.
        let mut params = ca_params(time::OffsetDateTime::now_utc()).unwrap();
        params.name_constraints = None;
        params.not_before = rcgen::date_time_ymd(1975, 1, 1);
        params.not_after = rcgen::date_time_ymd(4096, 1, 1);
        let old = store_ca(dir.path(), params);
        let key = std::fs::read(dir.path().join("ca-key.pem")).unwrap();
        assert!(matches!(
            assess_ca(Some(&old), Some(&key), time::OffsetDateTime::now_utc()),
            Err(ReplaceCa::Unconstrained)
        ));
        generate(dir.path(), &[]).unwrap();
        assert_ne!(std::fs::read(dir.path().join("ca.pem")).unwrap(), old);
    }

    #[test]
    fn the_leaked_ca_is_recognised_and_replaced() {
        let leaked = parse(LEAKED_CA_PEM.as_bytes());
        let (_, cert) = x509_parser::parse_x509_certificate(&leaked).unwrap();
        assert_eq!(sha256_hex(&leaked), LEAKED_CA_CERT_SHA256);
        assert_eq!(sha256_hex(cert.public_key().raw), LEAKED_CA_SPKI_SHA256);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), LEAKED_CA_PEM).unwrap();
        // Its key is gone from the repository; any key beside it must not make it reusable.
        let key = KeyPair::generate().unwrap().serialize_pem();
        std::fs::write(dir.path().join("ca-key.pem"), &key).unwrap();
        let now = time::OffsetDateTime::now_utc();
        for key in [Some(key.as_bytes()), None] {
            assert!(matches!(
                assess_ca(Some(LEAKED_CA_PEM.as_bytes()), key, now),
                Err(ReplaceCa::Leaked)
            ));
        }

        generate(dir.path(), &[]).unwrap();
        let replaced = parse(&std::fs::read(dir.path().join("ca.pem")).unwrap());
        let (_, ca) = x509_parser::parse_x509_certificate(&replaced).unwrap();
        assert_ne!(sha256_hex(ca.public_key().raw), LEAKED_CA_SPKI_SHA256);
        assert!(has_loopback_constraints(&ca));
    }

    #[test]
    fn extra_names_must_be_within_the_name_constraints() {
        let dir = tempfile::tempdir().unwrap();
        let error = generate(dir.path(), &["demo.test".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("\"demo.test\""), "{error}");
        for fits in ["demo.localhost", "LOCALHOST", "::1"] {
            generate(dir.path(), &[fits.to_owned()]).unwrap();
        }
        for outside in [
            "127.0.0.2",
            "10.0.0.1",
            "localhost.example.com",
            "notlocalhost",
        ] {
            assert!(!within_constraints(outside), "{outside}");
        }
    }
}
