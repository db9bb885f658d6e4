//! The public host as Concur reaches it: DNS, the TLS versions and suites it negotiates, and
//! the certificate it presents (chain to a public CA, RSA key, expiry, name).

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, SupportedProtocolVersion,
};
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::{Options, Report};

/// A certificate must stay valid longer than this (renewals fail; Concur does not warn).
const MIN_DAYS_LEFT: i64 = 30;

/// Reads `--ca-file` (PEM certificates).
pub(super) fn read_ca_file(path: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let unreadable = |e: rustls::pki_types::pem::Error| {
        format!("--ca-file: cannot read {}: {e}", path.display())
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-file: {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// Runs the host checks; false when the host cannot be reached at all (the endpoint checks
/// are then left out: they could only repeat that).
pub(super) async fn check(
    base: &Url,
    extra_roots: &[CertificateDer<'static>],
    options: &Options,
    report: &mut Report,
) -> bool {
    let host = base
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = base.port_or_known_default().unwrap_or(443);
    let Some(addrs) = resolve(&host, port, options.timeout, report).await else {
        return false;
    };
    let verifier = match Recorder::new(extra_roots) {
        Ok(verifier) => Arc::new(verifier),
        Err(error) => {
            report.fail(
                "tls",
                format!("cannot load the trusted CAs: {error}"),
                "check the system's CA bundle (Debian: ca-certificates) and --ca-file",
            );
            return false;
        }
    };
    let Ok(server_name) = ServerName::try_from(host.clone()) else {
        report.fail(
            "tls",
            format!("{host} is not a name TLS can check"),
            "register a DNS name as the Host Name",
        );
        return false;
    };
    let timeout = options.timeout;
    let probe = {
        let verifier = verifier.clone();
        let server_name = server_name.clone();
        tokio::task::spawn_blocking(move || probe(&addrs, &server_name, &verifier, timeout))
    };
    let probes = match probe.await {
        Ok(Ok(probes)) => probes,
        Ok(Err(error)) => {
            report.fail(
                "tls",
                format!("cannot connect to {host}:{port}: {error}"),
                format!(
                    "start the connector, and let Concur reach port {port} (firewall, load balancer)"
                ),
            );
            return false;
        }
        Err(error) => {
            report.fail("tls", format!("the probe failed: {error}"), "run it again");
            return false;
        }
    };
    judge_versions(&probes, report);
    let seen = verifier.seen.lock().ok().and_then(|mut seen| seen.take());
    match seen {
        Some(seen) => judge_certificate(&seen, &server_name, &host, options, report),
        None => report.fail(
            "certificate",
            "no TLS handshake completed, so no certificate was seen",
            "fix the TLS line above first",
        ),
    }
    true
}

async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
    report: &mut Report,
) -> Option<Vec<SocketAddr>> {
    let fix = || {
        format!(
            "publish an A or AAAA record for {host} in public DNS (Concur resolves the Host Name \
             from the internet), or correct connector.public_url / --host"
        )
    };
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await;
    let addrs: Vec<SocketAddr> = match found {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(error)) => {
            report.fail("dns", format!("{host} does not resolve ({error})"), fix());
            return None;
        }
        Err(_) => {
            report.fail(
                "dns",
                format!(
                    "no answer for {host} within {}",
                    humantime::format_duration(timeout)
                ),
                fix(),
            );
            return None;
        }
    };
    if addrs.is_empty() {
        report.fail("dns", format!("{host} has no address"), fix());
        return None;
    }
    let mut ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    ips.dedup();
    let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
    report.ok("dns", format!("{host} resolves to {}", ips.join(", ")));
    Some(addrs)
}

/// What one handshake negotiated.
struct Handshake {
    version: String,
    suite: String,
}

/// The outcome of every connection made to the host.
struct Probes {
    tls12: Result<Handshake, String>,
    /// TLS 1.3 or 1.2, whichever the server prefers (as a current client offers).
    modern: Result<Handshake, String>,
    /// The answers to TLS 1.0 and 1.1 hellos: the old version the server chose, if any.
    old: Vec<(&'static str, Result<Option<u16>, String>)>,
}

/// Connects (to the first address that answers) and runs every handshake. `Err` when no
/// address accepts a TCP connection.
fn probe(
    addrs: &[SocketAddr],
    name: &ServerName<'static>,
    verifier: &Arc<Recorder>,
    timeout: Duration,
) -> Result<Probes, String> {
    let mut last_error = String::from("no address");
    let addr = addrs
        .iter()
        .copied()
        .find(|addr| match TcpStream::connect_timeout(addr, timeout) {
            Ok(_) => true,
            Err(error) => {
                last_error = format!("{addr}: {error}");
                false
            }
        })
        .ok_or(last_error)?;
    let sni = match name {
        ServerName::DnsName(dns) => Some(dns.as_ref().to_owned()),
        _ => None,
    };
    let old = [("TLS 1.0", 0x0301), ("TLS 1.1", 0x0302)]
        .into_iter()
        .map(|(label, version)| {
            (
                label,
                old_version_accepted(addr, sni.as_deref(), version, timeout),
            )
        })
        .collect();
    let tls12 = handshake(addr, name, &[&rustls::version::TLS12], verifier, timeout);
    let modern = handshake(
        addr,
        name,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
        verifier,
        timeout,
    );
    Ok(Probes { tls12, modern, old })
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

/// One rustls handshake offering `versions` (rustls offers ECDHE suites only: a TLS 1.2
/// handshake that completes proves the server negotiates one).
fn handshake(
    addr: SocketAddr,
    name: &ServerName<'static>,
    versions: &[&'static SupportedProtocolVersion],
    verifier: &Arc<Recorder>,
    timeout: Duration,
) -> Result<Handshake, String> {
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| e.to_string())?
    .dangerous()
    .with_custom_certificate_verifier(verifier.clone())
    .with_no_client_auth();
    let mut connection =
        ClientConnection::new(Arc::new(config), name.clone()).map_err(|e| e.to_string())?;
    let mut stream = connect(addr, timeout)?;
    while connection.is_handshaking() {
        connection
            .complete_io(&mut stream)
            .map_err(|e| e.to_string())?;
    }
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
        _ => "?",
    }
    .to_owned();
    let suite = connection
        .negotiated_cipher_suite()
        .map_or_else(|| "?".to_owned(), |s| format!("{:?}", s.suite()));
    connection.send_close_notify();
    let _ = connection.complete_io(&mut stream);
    Ok(Handshake { version, suite })
}

/// Sends a ClientHello for TLS 1.0 or 1.1 (rustls speaks neither) and reads which old
/// version the server's ServerHello chose, if it chose one. An alert, a closed connection or
/// no answer is a refusal (`None`).
fn old_version_accepted(
    addr: SocketAddr,
    sni: Option<&str>,
    version: u16,
    timeout: Duration,
) -> Result<Option<u16>, String> {
    let mut stream = connect(addr, timeout)?;
    stream
        .write_all(&old_client_hello(version, sni))
        .map_err(|e| e.to_string())?;
    let mut header = [0u8; 5];
    if stream.read_exact(&mut header).is_err() || header[0] != 0x16 {
        return Ok(None);
    }
    // Handshake type (1 byte), length (3 bytes), then the ServerHello's version.
    let mut start = [0u8; 6];
    if stream.read_exact(&mut start).is_err() || start[0] != 0x02 {
        return Ok(None);
    }
    let chosen = u16::from_be_bytes([start[4], start[5]]);
    Ok((chosen <= 0x0302).then_some(chosen))
}

/// A ClientHello offering only `version`, with the suites servers of that age speak.
fn old_client_hello(version: u16, sni: Option<&str>) -> Vec<u8> {
    const SUITES: [u16; 10] = [
        0xc014, 0xc013, 0xc00a, 0xc009, 0x0039, 0x0033, 0x0035, 0x002f, 0x000a, 0x00ff,
    ];
    let be16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes();
    let mut extensions = Vec::new();
    if let Some(name) = sni.map(str::as_bytes) {
        extensions.extend([0, 0]);
        extensions.extend(be16(name.len() + 5));
        extensions.extend(be16(name.len() + 3));
        extensions.push(0);
        extensions.extend(be16(name.len()));
        extensions.extend(name);
    }
    // supported_groups x25519, secp256r1, secp384r1; ec_point_formats uncompressed.
    extensions.extend([0, 0x0a, 0, 8, 0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]);
    extensions.extend([0, 0x0b, 0, 2, 1, 0]);
    let mut body = Vec::new();
    body.extend(version.to_be_bytes());
    body.extend(rand::random::<[u8; 32]>());
    body.push(0);
    body.extend(be16(SUITES.len() * 2));
    for suite in SUITES {
        body.extend(suite.to_be_bytes());
    }
    body.extend([1, 0]);
    body.extend(be16(extensions.len()));
    body.extend(extensions);
    let mut handshake = vec![1];
    handshake.extend(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(be16(handshake.len()));
    record.extend(handshake);
    record
}

fn judge_versions(probes: &Probes, report: &mut Report) {
    match (&probes.tls12, &probes.modern) {
        (Ok(tls12), modern) => {
            let preferred = match modern {
                Ok(m) if m.version != tls12.version => format!("; TLS {} preferred", m.version),
                _ => String::new(),
            };
            report.ok(
                "tls",
                format!("TLS 1.2 negotiates {}{preferred}", tls12.suite),
            );
        }
        (Err(error), _) => report.fail(
            "tls",
            format!("no TLS 1.2 handshake with an ECDHE suite ({error})"),
            "Concur needs TLS 1.2 or newer with ECDHE suites, preferred by the server: enable \
             TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 and ECDHE-RSA-AES256-GCM-SHA384 (the \
             connector's own TLS does; check the proxy in front of it)",
        ),
    }
    let mut accepted: Vec<&str> = probes
        .old
        .iter()
        .filter_map(|(_, answer)| match answer {
            Ok(Some(0x0301)) => Some("TLS 1.0"),
            Ok(Some(0x0302)) => Some("TLS 1.1"),
            Ok(Some(_)) => Some("SSL 3 or older"),
            _ => None,
        })
        .collect();
    accepted.sort_unstable();
    accepted.dedup();
    let unknown: Vec<String> = probes
        .old
        .iter()
        .filter_map(|(label, answer)| answer.as_ref().err().map(|e| format!("{label}: {e}")))
        .collect();
    if !accepted.is_empty() {
        report.fail(
            "old tls",
            format!("{} accepted", accepted.join(" and ")),
            "switch off TLS 1.0 and 1.1 (Concur requires TLS 1.2 or newer; the connector's \
             own TLS never offers them: check the proxy in front of it)",
        );
    } else if !unknown.is_empty() {
        report.fail(
            "old tls",
            format!("cannot tell: {}", unknown.join("; ")),
            "run it again once the host answers",
        );
    } else {
        report.ok("old tls", "TLS 1.0 and 1.1 refused");
    }
}

fn judge_certificate(
    seen: &Seen,
    name: &ServerName<'_>,
    host: &str,
    options: &Options,
    report: &mut Report,
) {
    let Some(leaf_der) = seen.chain.first() else {
        report.fail(
            "certificate",
            "the server sent no certificate",
            "configure a certificate",
        );
        return;
    };
    let leaf = match X509Certificate::from_der(leaf_der.as_ref()) {
        Ok((_, leaf)) => leaf,
        Err(error) => {
            report.fail(
                "certificate",
                format!("not a readable X.509 certificate: {error}"),
                "serve a PEM certificate from a public CA",
            );
            return;
        }
    };
    judge_chain(seen, &leaf, options, report);
    judge_key(&leaf, report);
    judge_expiry(&leaf, report);
    judge_name(leaf_der, &leaf, name, host, report);
}

fn judge_chain(seen: &Seen, leaf: &X509Certificate<'_>, options: &Options, report: &mut Report) {
    let issuer = leaf.issuer().to_string();
    let verified = |result: &Result<(), rustls::Error>| match result {
        Ok(()) => true,
        // The name is judged on its own line.
        Err(rustls::Error::InvalidCertificate(e)) => matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        Err(_) => false,
    };
    if verified(&seen.public) {
        report.ok(
            "chain",
            format!(
                "complete chain to a public CA ({} certificates sent; issuer {issuer})",
                seen.chain.len()
            ),
        );
        return;
    }
    if let (Some(with_extra), Some(ca_file)) = (&seen.with_extra, &options.ca_file)
        && verified(with_extra)
    {
        report.ok(
            "chain",
            format!(
                "complete chain to the CA of --ca-file {} (issuer {issuer}): a private CA, for \
                 tests only; Concur trusts public CAs",
                ca_file.display()
            ),
        );
        return;
    }
    let error = seen
        .with_extra
        .as_ref()
        .unwrap_or(&seen.public)
        .as_ref()
        .err();
    let unknown_issuer = matches!(
        error,
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    );
    let self_signed = leaf.subject().as_raw() == leaf.issuer().as_raw();
    if unknown_issuer && self_signed {
        report.fail(
            "chain",
            format!("the certificate is self-signed ({issuer})"),
            "Concur refuses self-signed certificates: get one from a public CA (e.g. Let's \
             Encrypt with certbot) and serve its fullchain.pem as tls.cert_file",
        );
    } else if unknown_issuer && seen.chain.len() == 1 {
        report.fail(
            "chain",
            format!("incomplete chain: only the certificate was sent, not the intermediates up to a public CA (issuer {issuer})"),
            "serve the full chain (the certificate, then its intermediates: certbot's \
             fullchain.pem) as tls.cert_file",
        );
    } else {
        let why = error.map_or_else(|| "not verified".to_owned(), ToString::to_string);
        report.fail(
            "chain",
            format!(
                "the chain ({} certificates, issuer {issuer}) does not verify against the public CAs: {why}",
                seen.chain.len()
            ),
            "serve a certificate from a public CA with its full chain (fullchain.pem) as \
             tls.cert_file",
        );
    }
}

fn judge_key(leaf: &X509Certificate<'_>, report: &mut Report) {
    match leaf.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= 2048 => {
            report.ok("key", format!("RSA {} bits", rsa.key_size()));
        }
        Ok(PublicKey::RSA(rsa)) => report.fail(
            "key",
            format!("RSA {} bits, weaker than Concur's 2048", rsa.key_size()),
            "issue the certificate with an RSA key of 2048 bits or more",
        ),
        other => {
            let kind = match other {
                Ok(PublicKey::EC(point)) => format!("ECDSA ({} bits)", point.key_size()),
                Ok(_) => "not RSA".to_owned(),
                Err(error) => format!("unreadable ({error})"),
            };
            report.fail(
                "key",
                format!("the certificate's key is {kind}; Concur requires an RSA certificate"),
                "issue it with an RSA key (certbot --key-type rsa --rsa-key-size 2048)",
            );
        }
    }
}

fn judge_expiry(leaf: &X509Certificate<'_>, report: &mut Report) {
    let not_after = leaf.validity().not_after;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let days = (not_after.timestamp() - now).div_euclid(86_400);
    let finding = if days < 0 {
        format!("expired on {not_after}")
    } else {
        format!("expires in {days} days ({not_after})")
    };
    if days > MIN_DAYS_LEFT {
        report.ok("expiry", finding);
    } else {
        report.fail(
            "expiry",
            finding,
            format!(
                "renew the certificate (certbot renew) so it stays valid more than \
                 {MIN_DAYS_LEFT} days; the connector reloads it without a restart"
            ),
        );
    }
}

fn judge_name(
    leaf_der: &CertificateDer<'_>,
    leaf: &X509Certificate<'_>,
    name: &ServerName<'_>,
    host: &str,
    report: &mut Report,
) {
    let matches = ParsedCertificate::try_from(leaf_der)
        .and_then(|parsed| verify_server_name(&parsed, name))
        .is_ok();
    if matches {
        report.ok("name", format!("the certificate is valid for {host}"));
        return;
    }
    let names: Vec<String> = leaf
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => ip_text(bytes),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let names = if names.is_empty() {
        "no subjectAltName".to_owned()
    } else {
        names.join(", ")
    };
    report.fail(
        "name",
        format!("the certificate is for {names}, not {host}"),
        format!("get a certificate whose subjectAltName includes {host}"),
    );
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::from(b).to_string()),
        _ => None,
    }
}

/// What the server presented, and how it verified.
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    /// Against the public CAs (webpki roots and the system's).
    public: Result<(), rustls::Error>,
    /// Against those and `--ca-file`, when given.
    with_extra: Option<Result<(), rustls::Error>>,
}

/// Verifies the presented chain against the public CAs (and `--ca-file`), records the
/// verdict and lets the handshake finish whatever it is, so that each finding about the
/// certificate can be told. Nothing but the handshake happens on these connections: no
/// request, no credential.
#[derive(Debug)]
struct Recorder {
    public: Arc<WebPkiServerVerifier>,
    with_extra: Option<Arc<WebPkiServerVerifier>>,
    seen: Mutex<Option<Seen>>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seen")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    fn new(extra_roots: &[CertificateDer<'static>]) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut public = RootCertStore::empty();
        public.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        public.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        let build = |roots: RootCertStore| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| e.to_string())
        };
        let with_extra = if extra_roots.is_empty() {
            None
        } else {
            let mut roots = public.clone();
            roots.add_parsable_certificates(extra_roots.iter().cloned());
            Some(build(roots)?)
        };
        Ok(Self {
            public: build(public)?,
            with_extra,
            seen: Mutex::new(None),
        })
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |verifier: &WebPkiServerVerifier| {
            verifier
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(drop)
        };
        let seen = Seen {
            chain: std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect(),
            public: verify(&self.public),
            with_extra: self.with_extra.as_deref().map(verify),
        };
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.public.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.public.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.public.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_client_hello_is_one_well_formed_record() {
        let hello = old_client_hello(0x0301, Some("connector.example.com"));
        assert_eq!(hello[0], 0x16, "a handshake record");
        let record_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(hello.len(), 5 + record_len);
        assert_eq!(hello[5], 1, "a ClientHello");
        let body_len = usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(record_len, 4 + body_len);
        assert_eq!(&hello[9..11], &[0x03, 0x01], "offers TLS 1.0 only");
        let sni = b"connector.example.com";
        assert!(hello.windows(sni.len()).any(|w| w == sni), "names the host");
        let without = old_client_hello(0x0302, None);
        assert_eq!(&without[9..11], &[0x03, 0x02]);
        assert!(!without.windows(sni.len()).any(|w| w == sni));
    }
}
