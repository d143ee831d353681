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
//!   SANs and not sent as SNI (RFC 6066 §3: rustls sends no SNI for an IP address server
//!   name). U-labels are converted to A-labels first. A relay reached by address can be
//!   verified against a name instead ([`TlsConnector::with_server_name`], `Relay::tls_name`),
//!   which is then also sent as SNI.
//! - **Pinned certificates** ([`certificate`]): a server certificate given as a CA file
//!   (or PEM) is accepted when the server presents exactly it, even when it is self-signed
//!   with CA:TRUE as `openssl req -x509` and Debian's snakeoil make them; its dates and name
//!   are still checked. **Fingerprints** ([`pin`], [`TlsOptions::fingerprints`]): the
//!   certificate's SHA-256 (`sha256:`, as msmtp's `tls_fingerprint`) or its public key's
//!   (`spki-sha256:`); when any is given, the certificate must match one and nothing else
//!   decides.
//! - **Client certificates** ([`ClientCertificate`]) for servers that authenticate clients by
//!   certificate (Postfix `smtpd_tls_ask_ccert`), in every mode that uses TLS.
//! - **A caller's own configuration** ([`TlsOptions::client_config`]): used as given for
//!   every TLS connection (its verifier, roots and client authentication decide).
//! - **Errors** ([`TlsError`]): typed (rustls' own errors, with the refused certificate's
//!   facts), and displayed with their cause and fix.
//! - **Opportunistic**: under [`TlsMode::Opportunistic`] any certificate is accepted (chain,
//!   name and dates are not checked), but the handshake signatures still are, with the
//!   provider's algorithms: the session is encrypted against a passive eavesdropper, and
//!   the peer proved it holds the key of the certificate it sent. That is RFC 7435's
//!   "opportunistic security": protection against passive attacks, no claim about active ones.
//!   [`crate::transcript::TranscriptEvent::TlsStarted`] says `verified: false` for such a session.
//!
//! What happens when TLS fails is the session pump's business (see [`crate::advanced::Delivery`]): under
//! `Required` and `Implicit` the attempt fails; under `Opportunistic` a failed handshake is
//! retried once on a new connection to the same address without STARTTLS, as Postfix does for
//! `smtp_tls_security_level = may`.

pub mod certificate;
pub mod dane;
mod error;
pub mod pin;
mod verify;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use mxsend_core::session::TlsPolicy;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

pub use certificate::CertificateInfo;
pub use error::{date, CertificateRefusal, Problem, RefusalReason, TlsError};
pub use pin::{Fingerprint, FingerprintError, PinTarget};
use verify::{Policy, Verifier, Verifying};

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

/// TLS settings: which server certificates to trust, and the client's own certificate.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// The built-in trust anchors.
    pub roots: Roots,
    /// PEM files of further CA certificates to trust (every certificate in each file). A
    /// server presenting one of these certificates itself is accepted (pinned), its dates and
    /// name still checked: the way to trust a self-signed server.
    pub ca_files: Vec<PathBuf>,
    /// Further CA certificates as PEM text in memory, trusted like [`TlsOptions::ca_files`].
    pub ca_pems: Vec<Vec<u8>>,
    /// When not empty, the server's certificate must match one of these in the verifying
    /// modes, and roots and CA files are not consulted (see [`pin`]). Opportunistic TLS
    /// accepts any certificate, pinned or not.
    pub fingerprints: Vec<Fingerprint>,
    /// The client certificate to present when the server asks for one.
    pub client_certificate: Option<ClientCertificate>,
    /// The caller's own rustls configuration, used as given for every TLS connection in
    /// every mode (the fields above are then ignored).
    pub client_config: Option<Arc<ClientConfig>>,
}

impl TlsOptions {
    /// Also trust the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> TlsOptions {
        self.ca_files.push(path.into());
        self
    }

    /// Also trust the CA certificates in this PEM text.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> TlsOptions {
        self.ca_pems.push(pem.into());
        self
    }

    /// Accept a certificate matching this fingerprint (and, once one is given, only those).
    pub fn fingerprint(mut self, pin: Fingerprint) -> TlsOptions {
        self.fingerprints.push(pin);
        self
    }

    /// Present this client certificate.
    pub fn client_certificate(mut self, identity: ClientCertificate) -> TlsOptions {
        self.client_certificate = Some(identity);
        self
    }

    /// Use this rustls configuration for every TLS connection.
    pub fn client_config(mut self, config: Arc<ClientConfig>) -> TlsOptions {
        self.client_config = Some(config);
        self
    }

    /// Verify against these built-in roots.
    pub fn roots(mut self, roots: Roots) -> TlsOptions {
        self.roots = roots;
        self
    }
}

/// A client certificate chain and its private key, PEM (the chain's first certificate is
/// the client's). Its `Debug` never shows the key.
#[derive(Clone)]
pub struct ClientCertificate {
    source: IdentitySource,
}

#[derive(Clone)]
enum IdentitySource {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Vec<u8>, key: Vec<u8> },
}

impl ClientCertificate {
    /// From a PEM certificate (chain) file and a PEM private key file (PKCS #8, PKCS #1 or
    /// SEC 1), read when the connector is built.
    pub fn from_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> ClientCertificate {
        ClientCertificate {
            source: IdentitySource::Files {
                cert: cert.into(),
                key: key.into(),
            },
        }
    }

    /// From PEM text in memory.
    pub fn from_pem(cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> ClientCertificate {
        ClientCertificate {
            source: IdentitySource::Pem {
                cert: cert.into(),
                key: key.into(),
            },
        }
    }

    /// The chain and key, read and parsed.
    fn load(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
        let (cert_pem, key_pem, cert_origin, key_origin) = match &self.source {
            IdentitySource::Files { cert, key } => {
                let read = |path: &PathBuf| {
                    std::fs::read(path).map_err(|error| TlsConfigError::ClientCertificateFile {
                        path: path.clone(),
                        error,
                    })
                };
                (
                    read(cert)?,
                    read(key)?,
                    cert.display().to_string(),
                    key.display().to_string(),
                )
            }
            IdentitySource::Pem { cert, key } => (
                cert.clone(),
                key.clone(),
                "the client certificate PEM".to_string(),
                "the client key PEM".to_string(),
            ),
        };
        let bad = |origin: &str, why: String| TlsConfigError::ClientCertificate {
            origin: origin.to_string(),
            why,
        };
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&cert_origin, e.to_string()))?;
        if chain.is_empty() {
            return Err(bad(&cert_origin, "no PEM certificate in it".to_string()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            bad(
                &key_origin,
                format!("no usable PEM private key in it ({e})"),
            )
        })?;
        Ok((chain, key))
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            IdentitySource::Files { cert, key } => f
                .debug_struct("ClientCertificate")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            IdentitySource::Pem { .. } => f.write_str("ClientCertificate(<PEM in memory>)"),
        }
    }
}

/// Why a TLS configuration could not be built, or a name cannot be used with TLS.
#[derive(Debug)]
#[non_exhaustive]
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
    /// In-memory CA PEM text holds no certificate, or one that is not valid PEM.
    CaPem {
        /// What is wrong with it.
        why: String,
    },
    /// A client certificate or key file could not be read.
    ClientCertificateFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The client certificate or key is not usable.
    ClientCertificate {
        /// The file (or "the client key PEM").
        origin: String,
        /// What is wrong with it.
        why: String,
    },
    /// The operating system's store could not be loaded, or holds nothing usable.
    SystemRoots(String),
    /// The verifying configuration could not be built (no trust anchor at all, for one).
    Verifier(String),
    /// rustls refused the configuration (no protocol version in common with the provider).
    Rustls(rustls::Error),
    /// A handshake was asked for in a mode without TLS (a bug in the caller).
    NoTlsInMode(TlsMode),
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
            TlsConfigError::CaPem { why } => write!(f, "CA certificates (PEM): {why}"),
            TlsConfigError::ClientCertificateFile { path, error } => write!(
                f,
                "cannot read client certificate file {}: {error}",
                path.display()
            ),
            TlsConfigError::ClientCertificate { origin, why } => {
                write!(f, "client certificate: {origin}: {why}")
            }
            TlsConfigError::SystemRoots(why) => write!(f, "system trust store: {why}"),
            TlsConfigError::Verifier(why) => write!(f, "certificate verifier: {why}"),
            TlsConfigError::Rustls(error) => write!(f, "TLS configuration: {error}"),
            TlsConfigError::NoTlsInMode(mode) => {
                write!(f, "no TLS configuration for TLS mode {mode}")
            }
            TlsConfigError::InvalidServerName { name, why } => {
                write!(f, "{name:?} cannot be used as a TLS server name: {why}")
            }
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsConfigError::CaFile { error, .. }
            | TlsConfigError::ClientCertificateFile { error, .. } => Some(error),
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
    /// Verifies the certificate (chain, dates and name, or a pin). Built for a mode that
    /// does not verify, it refuses every certificate: a connector never answers a verifying
    /// mode with a configuration that accepts anything.
    verifying: Arc<ClientConfig>,
    /// Accepts any certificate, checks handshake signatures.
    opportunistic: Arc<ClientConfig>,
    /// The name to verify and send as SNI instead of the host connected to.
    server_name: Option<ServerName<'static>>,
    /// Per exchange name, the configuration that authenticates it by its secure TLSA
    /// records (DANE, RFC 7672): used instead of `verifying` for that host, registered by
    /// the MX delivery once the records are known ([`TlsConnector::use_dane`]).
    dane: Arc<std::sync::Mutex<std::collections::HashMap<String, DaneConfig>>>,
    /// The verifying checks (when the mode verifies), for [`TlsConnector::report_verification`].
    checks: Option<Arc<Verifying>>,
    /// Per exchange name, the opportunistic configuration that also records what the
    /// verifying checks refuse (MTA-STS `testing`), and those refusals.
    testing: Arc<std::sync::Mutex<std::collections::HashMap<String, TestingConfig>>>,
}

/// A DANE exchange's configuration, the name sent as its SNI (the TLSA base domain) and the
/// reference identifiers its checks accept.
#[derive(Clone, Debug)]
struct DaneConfig {
    config: Arc<ClientConfig>,
    sni: Option<ServerName<'static>>,
    names: Vec<String>,
}

/// An MTA-STS `testing` host's configuration and the refusals it recorded.
type TestingConfig = (Arc<ClientConfig>, Arc<std::sync::Mutex<Vec<String>>>);

/// The connector's per-host tables, locked (a poisoned lock still holds usable data).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TlsConnector {
    /// Configurations for connections in `mode`. The trust anchors are loaded only when
    /// `mode` verifies certificates, so an opportunistic delivery never reads a CA file; a
    /// client certificate is loaded whenever TLS is used.
    pub fn new(options: &TlsOptions, mode: TlsMode) -> Result<TlsConnector, TlsConfigError> {
        if let Some(config) = &options.client_config {
            return Ok(TlsConnector {
                verifying: config.clone(),
                opportunistic: config.clone(),
                server_name: None,
                dane: Default::default(),
                checks: None,
                testing: Default::default(),
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let identity = match (&options.client_certificate, mode) {
            (_, TlsMode::None) | (None, _) => None,
            (Some(identity), _) => Some(identity.load()?),
        };
        let checks = if mode.verifies() {
            Some(Arc::new(verifying(options, &provider)?))
        } else {
            None
        };
        let policy = match &checks {
            Some(checks) => Policy::Verify(checks.clone()),
            None => Policy::RefuseAll,
        };
        let verifier = Arc::new(Verifier {
            policy,
            provider: provider.clone(),
        });
        let any = Arc::new(Verifier {
            policy: Policy::AcceptAny,
            provider: provider.clone(),
        });
        Ok(TlsConnector {
            verifying: Arc::new(client_config(
                &provider,
                verifier,
                identity
                    .as_ref()
                    .map(|(chain, key)| (chain.clone(), key.clone_key())),
            )?),
            opportunistic: Arc::new(client_config(&provider, any, identity)?),
            server_name: None,
            dane: Default::default(),
            checks,
            testing: Default::default(),
        })
    }

    /// Check `host`'s certificate on its opportunistic connections from now on, and keep
    /// what the verifying checks refuse ([`TlsConnector::verification_failures`]) without
    /// failing the handshake: MTA-STS `testing` (RFC 8461 §5). Nothing happens for a
    /// connector whose mode does not verify (it has no trust anchors loaded).
    pub fn report_verification(&self, host: &str) {
        let Some(checks) = &self.checks else {
            return;
        };
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        let mut testing = lock(&self.testing);
        if testing.contains_key(&key) {
            return;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let refusals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let verifier = Arc::new(Verifier {
            policy: Policy::Testing {
                checks: checks.clone(),
                refusals: refusals.clone(),
            },
            provider: provider.clone(),
        });
        if let Ok(config) = client_config(&provider, verifier, None) {
            testing.insert(key, (Arc::new(config), refusals));
        }
    }

    /// What the verifying checks refused for `host` since
    /// [`TlsConnector::report_verification`], one text per refusal.
    pub fn verification_failures(&self, host: &str) -> Vec<String> {
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        match lock(&self.testing).get(&key) {
            Some((_, refusals)) => lock(refusals).clone(),
            None => Vec::new(),
        }
    }

    /// Verify every server against `name` (and send it as SNI) instead of the host
    /// connected to: a relay reached by address whose certificate names it.
    pub fn with_server_name(mut self, name: Option<&str>) -> Result<TlsConnector, TlsConfigError> {
        self.server_name = name.map(server_name).transpose()?;
        Ok(self)
    }

    /// The configuration for a connection in `mode`, or `None` for [`TlsMode::None`].
    ///
    /// Async runtimes hand it to their TLS wrapper (futures-rustls) with
    /// [`TlsConnector::server_name`].
    pub fn config(&self, mode: TlsMode) -> Option<Arc<ClientConfig>> {
        match mode {
            TlsMode::None => None,
            TlsMode::Opportunistic => Some(self.opportunistic.clone()),
            TlsMode::Required | TlsMode::Implicit => Some(self.verifying.clone()),
        }
    }

    /// Authenticate `host` by these TLSA records from now on (DANE, RFC 7672 §3): its
    /// verifying connections send the TLSA base domain as SNI (§8.1) and check the
    /// certificate against the records alone, a DANE-TA(2) one for any of the reference
    /// identifiers (§3.2.2). Records with no usable entry give mandatory TLS without
    /// authentication (§2.2). Registered again for another recipient domain (another
    /// next-hop domain), the host accepts the reference identifiers of both.
    pub fn use_dane(&self, host: &str, found: &crate::dane::DaneRecords) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        let mut table = lock(&self.dane);
        let mut names = found.reference_identifiers.clone();
        if let Some(previous) = table.get(&key) {
            for name in &previous.names {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        let usable: Vec<_> = found
            .records
            .iter()
            .filter(|r| dane::usable(r))
            .cloned()
            .collect();
        let policy = if usable.is_empty() {
            Policy::AcceptAny
        } else {
            Policy::Dane(dane::DaneCheck {
                records: usable,
                names: names.iter().filter_map(|n| server_name(n).ok()).collect(),
            })
        };
        let verifier = Arc::new(Verifier {
            policy,
            provider: provider.clone(),
        });
        if let Ok(config) = client_config(&provider, verifier, None) {
            let entry = DaneConfig {
                config: Arc::new(config),
                sni: server_name(&found.base_domain).ok(),
                names,
            };
            table.insert(key, entry);
        }
    }

    /// [`TlsConnector::config`] for a connection to `host`: a verifying mode uses the
    /// host's DANE configuration when one was registered ([`TlsConnector::use_dane`]).
    pub fn config_for(&self, mode: TlsMode, host: &str) -> Option<Arc<ClientConfig>> {
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        let registered = match mode {
            _ if mode.verifies() => lock(&self.dane).get(&key).map(|d| d.config.clone()),
            TlsMode::Opportunistic => lock(&self.testing).get(&key).map(|(c, _)| c.clone()),
            _ => None,
        };
        registered.or_else(|| self.config(mode))
    }

    /// The TLS server name for a connection to `host`: the configured name if any, else
    /// the TLSA base domain when DANE authenticates `host` (RFC 7672 §8.1; it differs from
    /// `host` when `host` is a CNAME, RFC 7671 §7), else [`server_name`] of `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsConfigError> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        match lock(&self.dane).get(&key).and_then(|d| d.sni.clone()) {
            Some(name) => Ok(name),
            None => server_name(host),
        }
    }

    /// The name a connection to `host` is verified against, as text (for errors).
    pub fn name_for(&self, host: &str) -> String {
        match self.server_name(host) {
            Ok(name) => name.to_str().into_owned(),
            Err(_) => host.to_string(),
        }
    }

    /// A rustls client connection to `host` in `mode` (`None` for [`TlsMode::None`]).
    pub fn connect(
        &self,
        mode: TlsMode,
        host: &str,
    ) -> Result<Option<rustls::ClientConnection>, TlsConfigError> {
        let Some(config) = self.config_for(mode, host) else {
            return Ok(None);
        };
        let name = self.server_name(host)?;
        rustls::ClientConnection::new(config, name)
            .map(Some)
            .map_err(TlsConfigError::Rustls)
    }
}

/// A client configuration with `verifier` and the client's identity, if any.
fn client_config(
    provider: &Arc<CryptoProvider>,
    verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, TlsConfigError> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            TlsConfigError::ClientCertificate {
                origin: "the client certificate and key".to_string(),
                why: e.to_string(),
            }
        }),
    }
}

/// The verifier of the verifying modes: fingerprints alone when given, else the roots and
/// CA certificates (a presented CA-file certificate is pinned).
fn verifying(
    options: &TlsOptions,
    provider: &Arc<CryptoProvider>,
) -> Result<Verifying, TlsConfigError> {
    if !options.fingerprints.is_empty() {
        return Ok(Verifying {
            webpki: None,
            given: Vec::new(),
            fingerprints: options.fingerprints.clone(),
        });
    }
    let mut given = Vec::new();
    let store = root_store_with(options, &mut given)?;
    let webpki = if store.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| TlsConfigError::Verifier(e.to_string()))?,
        )
    };
    Ok(Verifying {
        webpki,
        given,
        fingerprints: Vec::new(),
    })
}

/// The trust anchors `options` names.
pub fn root_store(options: &TlsOptions) -> Result<RootCertStore, TlsConfigError> {
    root_store_with(options, &mut Vec::new())
}

/// The trust anchors `options` names; the certificates of its CA files and PEMs are also
/// collected into `given`.
fn root_store_with(
    options: &TlsOptions,
    given: &mut Vec<CertificateDer<'static>>,
) -> Result<RootCertStore, TlsConfigError> {
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
        let bytes = std::fs::read(path).map_err(|error| TlsConfigError::CaFile {
            path: path.to_path_buf(),
            error,
        })?;
        add_ca_pem(&mut store, given, &bytes).map_err(|why| match why {
            CaPemError::Pem(why) => TlsConfigError::CaFileContents {
                path: path.to_path_buf(),
                why,
            },
            CaPemError::Anchor(error) => TlsConfigError::BadCaCertificate {
                path: path.to_path_buf(),
                error,
            },
        })?;
    }
    for pem in &options.ca_pems {
        add_ca_pem(&mut store, given, pem).map_err(|why| TlsConfigError::CaPem {
            why: match why {
                CaPemError::Pem(why) => why,
                CaPemError::Anchor(error) => format!("unusable certificate: {error}"),
            },
        })?;
    }
    Ok(store)
}

enum CaPemError {
    Pem(String),
    Anchor(rustls::Error),
}

/// Adds every certificate of `pem` to `store` (and to `given`); at least one is needed.
fn add_ca_pem(
    store: &mut RootCertStore,
    given: &mut Vec<CertificateDer<'static>>,
    pem: &[u8],
) -> Result<(), CaPemError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| CaPemError::Pem(e.to_string()))?;
        store.add(cert.clone()).map_err(CaPemError::Anchor)?;
        given.push(cert);
        count += 1;
    }
    if count == 0 {
        return Err(CaPemError::Pem("no PEM certificate in it".to_string()));
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

#[cfg(test)]
mod verification_tests;

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
            ..TlsOptions::default()
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
            ..TlsOptions::default()
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
            ..TlsOptions::default()
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
