//! TLS for SMTP: modes, trust anchors, server names and rustls client configurations,
//! shared by every runtime.
//!
//! RFC 3207 (STARTTLS), RFC 8314 (implicit TLS on port 465), RFC 7435 (opportunistic
//! security), RFC 6125 (checking the server's identity against the name connected to).
//!
//! rustls 0.23 with the `ring` provider does the cryptography. What this module decides:
//!
//! - **Modes** ([`TlsMode`]): `None`, `Opportunistic`, `Required`, `Implicit`, mapped onto the
//!   core's [`TlsPolicy`]. Defaults: MX delivery is opportunistic (most MX certificates are
//!   self-signed or name the wrong host, and refusing them would mean sending in plaintext
//!   instead, which is worse, RFC 7435 §1.3); a relay on port 465 is implicit; a relay on any
//!   other port (587 above all) is required ([`TlsMode::for_relay_port`]).
//! - **Trust anchors** ([`TlsOptions`]): Mozilla's roots from `webpki-roots` by default (the
//!   same everywhere, no file system needed), or the operating system's store on request
//!   ([`Roots::System`]), plus any PEM CA files given (a private CA, a test PKI).
//! - **Identity**: the certificate must be valid for the name the caller connected to: the relay
//!   host as configured, or the MX exchange name from DNS (not the recipient domain: RFC 7672
//!   §3.2.2 explains why nothing better is available without DANE or MTA-STS). The same name is
//!   sent as SNI when it is a DNS name; an IP address is checked against the certificate's IP
//!   SANs and not sent as SNI (RFC 6066 §3). U-labels are converted to A-labels first.
//! - **Opportunistic**: under [`TlsMode::Opportunistic`] any certificate is accepted (chain,
//!   name and dates are not checked), but the handshake signatures still are, with the
//!   provider's algorithms: the session is encrypted against a passive eavesdropper, and
//!   the peer proved it holds the key of the certificate it sent. That is RFC 7435's
//!   "opportunistic security": protection against passive attacks, no claim about active ones.
//!   [`crate::transcript::TranscriptEvent::TlsStarted`] says `verified: false` for such a session.
//!
//! What happens when TLS fails is the session pump's business (see [`crate::delivery`]): under
//! `Required` and `Implicit` the attempt fails; under `Opportunistic` a failed handshake is
//! retried once on a new connection to the same address without STARTTLS, as Postfix does for
//! `smtp_tls_security_level = may`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mxsend_core::session::TlsPolicy;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The port of SMTP submission over implicit TLS (RFC 8314 §7.3).
pub const SUBMISSIONS_PORT: u16 = 465;

/// How a connection uses TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Plaintext only; STARTTLS is never sent.
    None,
    /// STARTTLS when the server offers it, any certificate accepted (RFC 7435); plaintext
    /// when it is not offered, refused, or the handshake fails. The default for MX delivery.
    Opportunistic,
    /// STARTTLS must be offered and succeed, and the certificate must verify for the host
    /// name; otherwise nothing is sent but QUIT. The default for a relay on port 587.
    Required,
    /// TLS from the first byte (RFC 8314), the certificate verified as for `Required`. The
    /// default for a relay on port 465.
    Implicit,
}

impl TlsMode {
    /// The core session's policy for this mode.
    pub fn policy(self) -> TlsPolicy {
        match self {
            TlsMode::None => TlsPolicy::Disabled,
            TlsMode::Opportunistic => TlsPolicy::Opportunistic,
            TlsMode::Required => TlsPolicy::Required,
            TlsMode::Implicit => TlsPolicy::Implicit,
        }
    }

    /// The default for a relay (submission server) on `port`: implicit on 465, required
    /// everywhere else. Credentials and mail to a relay deserve a verified channel; a caller
    /// who really wants plaintext (a local test server) says [`TlsMode::None`].
    pub fn for_relay_port(port: u16) -> TlsMode {
        if port == SUBMISSIONS_PORT {
            TlsMode::Implicit
        } else {
            TlsMode::Required
        }
    }

    /// True when the server's certificate must verify.
    pub fn verifies(self) -> bool {
        matches!(self, TlsMode::Required | TlsMode::Implicit)
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::None => "none",
            TlsMode::Opportunistic => "opportunistic",
            TlsMode::Required => "required",
            TlsMode::Implicit => "implicit",
        })
    }
}

/// Which built-in trust anchors verify servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Roots {
    /// Mozilla's root program, compiled in (`webpki-roots`).
    #[default]
    WebPki,
    /// The operating system's store (`rustls-native-certs`: the OpenSSL directories on
    /// Unix, the system keychain on macOS, the certificate store on Windows).
    System,
    /// None: only the CA files in [`TlsOptions::ca_files`] are trusted.
    Empty,
}

/// Trust settings for the certificates of servers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// The built-in trust anchors.
    pub roots: Roots,
    /// PEM files of further CA certificates to trust (every certificate in each file).
    pub ca_files: Vec<PathBuf>,
}

/// Why a TLS configuration could not be built, or a name cannot be used with TLS.
#[derive(Debug)]
pub enum TlsConfigError {
    /// A CA file could not be read.
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A CA file holds no certificate, or one that is not valid PEM.
    CaFileContents {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A certificate in a CA file is not a usable trust anchor.
    BadCaCertificate {
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        error: rustls::Error,
    },
    /// The operating system's store could not be loaded, or holds nothing usable.
    SystemRoots(String),
    /// The verifying configuration could not be built (no trust anchor at all, for one).
    Verifier(String),
    /// rustls refused the configuration (no protocol version in common with the provider).
    Rustls(rustls::Error),
    /// The host name is not usable as a TLS server name.
    InvalidServerName {
        /// The name as given.
        name: String,
        /// Why.
        why: String,
    },
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsConfigError::CaFile { path, error } => {
                write!(f, "cannot read CA file {}: {error}", path.display())
            }
            TlsConfigError::CaFileContents { path, why } => {
                write!(f, "CA file {}: {why}", path.display())
            }
            TlsConfigError::BadCaCertificate { path, error } => {
                write!(
                    f,
                    "CA file {}: unusable certificate: {error}",
                    path.display()
                )
            }
            TlsConfigError::SystemRoots(why) => write!(f, "system trust store: {why}"),
            TlsConfigError::Verifier(why) => write!(f, "certificate verifier: {why}"),
            TlsConfigError::Rustls(error) => write!(f, "TLS configuration: {error}"),
            TlsConfigError::InvalidServerName { name, why } => {
                write!(f, "{name:?} cannot be used as a TLS server name: {why}")
            }
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsConfigError::CaFile { error, .. } => Some(error),
            TlsConfigError::BadCaCertificate { error, .. } | TlsConfigError::Rustls(error) => {
                Some(error)
            }
            _ => None,
        }
    }
}

/// The rustls client configurations one delivery needs, built once and shared by all its
/// connections (loading the system's roots is slow; a handshake is not the place for it).
#[derive(Clone, Debug)]
pub struct TlsConnector {
    /// Verifies chain, dates and name; `None` until a verifying mode needs it.
    verifying: Option<Arc<ClientConfig>>,
    /// Accepts any certificate, checks handshake signatures.
    opportunistic: Arc<ClientConfig>,
}

impl TlsConnector {
    /// Configurations for connections in `mode`. The trust anchors are loaded only when
    /// `mode` verifies certificates, so an opportunistic delivery never reads a CA file.
    pub fn new(options: &TlsOptions, mode: TlsMode) -> Result<TlsConnector, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifying = if mode.verifies() {
            let roots = Arc::new(root_store(options)?);
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(TlsConfigError::Rustls)?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            None
        };
        let verifier = Arc::new(AnyCertificate {
            provider: provider.clone(),
        });
        let opportunistic = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::Rustls)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsConnector {
            verifying,
            opportunistic: Arc::new(opportunistic),
        })
    }

    /// The configuration for a connection in `mode`, or `None` for [`TlsMode::None`].
    ///
    /// Async runtimes hand it to their TLS wrapper (futures-rustls) with [`server_name`].
    pub fn config(&self, mode: TlsMode) -> Option<Arc<ClientConfig>> {
        match mode {
            TlsMode::None => None,
            TlsMode::Opportunistic => Some(self.opportunistic.clone()),
            // `new` was given a verifying mode, or this connector was built for another mode
            // and the caller changed its mind: fail closed, with a configuration that trusts
            // nothing, rather than fall back to accepting anything.
            TlsMode::Required | TlsMode::Implicit => Some(
                self.verifying
                    .clone()
                    .unwrap_or_else(|| Arc::new(trust_nothing(&self.opportunistic))),
            ),
        }
    }

    /// A rustls client connection to `host` in `mode` (`None` for [`TlsMode::None`]).
    pub fn connect(
        &self,
        mode: TlsMode,
        host: &str,
    ) -> Result<Option<rustls::ClientConnection>, TlsConfigError> {
        let Some(config) = self.config(mode) else {
            return Ok(None);
        };
        let name = server_name(host)?;
        rustls::ClientConnection::new(config, name)
            .map(Some)
            .map_err(TlsConfigError::Rustls)
    }
}

/// A configuration that verifies against an empty root store: every certificate fails.
fn trust_nothing(like: &ClientConfig) -> ClientConfig {
    ClientConfig::builder_with_provider(like.crypto_provider().clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| like.clone())
}

/// The trust anchors `options` names.
pub fn root_store(options: &TlsOptions) -> Result<RootCertStore, TlsConfigError> {
    let mut store = RootCertStore::empty();
    match options.roots {
        Roots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::System => {
            let loaded = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(loaded.certs);
            if added == 0 {
                let why = match loaded.errors.first() {
                    Some(error) => error.to_string(),
                    None => "no certificate found".to_string(),
                };
                return Err(TlsConfigError::SystemRoots(why));
            }
        }
        Roots::Empty => {}
    }
    for path in &options.ca_files {
        add_ca_file(&mut store, path)?;
    }
    Ok(store)
}

fn add_ca_file(store: &mut RootCertStore, path: &Path) -> Result<(), TlsConfigError> {
    let bytes = std::fs::read(path).map_err(|error| TlsConfigError::CaFile {
        path: path.to_path_buf(),
        error,
    })?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| TlsConfigError::CaFileContents {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        store
            .add(cert)
            .map_err(|error| TlsConfigError::BadCaCertificate {
                path: path.to_path_buf(),
                error,
            })?;
        count += 1;
    }
    if count == 0 {
        return Err(TlsConfigError::CaFileContents {
            path: path.to_path_buf(),
            why: "no PEM certificate in it".to_string(),
        });
    }
    Ok(())
}

/// The TLS server name for `host`: an IP address as such (checked against IP SANs, not sent
/// as SNI), a DNS name in its A-label form (U-labels converted, UTS #46), one trailing dot
/// dropped. Brackets around an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) are
/// accepted.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsConfigError> {
    let invalid = |why: String| TlsConfigError::InvalidServerName {
        name: host.to_string(),
        why,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map(|h| h.strip_prefix("IPv6:").unwrap_or(h))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    let ascii = to_ascii_host(host).map_err(invalid)?;
    ServerName::try_from(ascii).map_err(|e| invalid(e.to_string()))
}

/// `host` in A-labels (RFC 5891 §4 via UTS #46), lowercased, without a trailing dot.
pub fn to_ascii_host(host: &str) -> Result<String, String> {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() {
        return Err("empty host name".to_string());
    }
    idna::domain_to_ascii(trimmed).map_err(|e| format!("not a valid IDNA name ({e})"))
}

/// The opportunistic verifier (RFC 7435): every certificate is accepted as the server's,
/// and the handshake's signatures are still checked against it, so the peer must hold the
/// certificate's private key. Protects against passive eavesdropping only.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_on_465_is_implicit_and_elsewhere_required() {
        assert_eq!(TlsMode::for_relay_port(465), TlsMode::Implicit);
        assert_eq!(TlsMode::for_relay_port(587), TlsMode::Required);
        assert_eq!(TlsMode::for_relay_port(25), TlsMode::Required);
    }

    #[test]
    fn modes_map_to_core_policies() {
        assert_eq!(TlsMode::None.policy(), TlsPolicy::Disabled);
        assert_eq!(TlsMode::Opportunistic.policy(), TlsPolicy::Opportunistic);
        assert_eq!(TlsMode::Required.policy(), TlsPolicy::Required);
        assert_eq!(TlsMode::Implicit.policy(), TlsPolicy::Implicit);
    }

    #[test]
    fn ip_address_host_is_an_ip_server_name() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[IPv6:::1]"),
            Ok(ServerName::IpAddress(_))
        ));
    }

    #[test]
    fn u_labels_become_a_labels_in_the_server_name() {
        let name = server_name("mx.bücher.example.").unwrap();
        assert_eq!(name.to_str(), "mx.xn--bcher-kva.example");
    }

    #[test]
    fn rejects_a_host_name_with_spaces() {
        assert!(server_name("bad host").is_err());
    }

    #[test]
    fn opportunistic_connector_loads_no_roots() {
        let options = TlsOptions {
            roots: Roots::Empty,
            ca_files: vec![PathBuf::from("/nonexistent/ca.pem")],
        };
        // The missing CA file is not read: opportunistic TLS does not verify.
        let connector = TlsConnector::new(&options, TlsMode::Opportunistic).unwrap();
        assert!(connector
            .connect(TlsMode::None, "mx.example")
            .unwrap()
            .is_none());
        assert!(connector
            .connect(TlsMode::Opportunistic, "mx.example")
            .unwrap()
            .is_some());
    }

    #[test]
    fn missing_ca_file_is_a_configuration_error() {
        let options = TlsOptions {
            roots: Roots::WebPki,
            ca_files: vec![PathBuf::from("/nonexistent/ca.pem")],
        };
        assert!(matches!(
            TlsConnector::new(&options, TlsMode::Required),
            Err(TlsConfigError::CaFile { .. })
        ));
    }

    #[test]
    fn ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("mxsend-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, b"not a certificate\n").unwrap();
        let options = TlsOptions {
            roots: Roots::Empty,
            ca_files: vec![path],
        };
        assert!(matches!(
            root_store(&options),
            Err(TlsConfigError::CaFileContents { .. })
        ));
    }

    #[test]
    fn webpki_roots_are_the_default() {
        let store = root_store(&TlsOptions::default()).unwrap();
        assert!(store.len() > 50);
    }
}
