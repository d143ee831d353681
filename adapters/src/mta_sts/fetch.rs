//! Fetching a policy: `GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt` (RFC 8461 §3.3).
//!
//! With ureq over rustls: the certificate verified for `mta-sts.DOMAIN` against WebPKI (or
//! the CA certificates given, for tests), redirects not followed, only `200` taken, the body
//! capped at [`MAX_POLICY_SIZE`], every step under one short timeout, no proxy, and the host
//! resolved by mxsend's own resolver (so `--dns` and a test's DNS server apply).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver as UreqResolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::dns::Resolver;

/// The largest policy file taken: 64 KiB (RFC 8461 §3.3 suggests senders limit the size;
/// real policies are a few hundred octets).
pub const MAX_POLICY_SIZE: u64 = 64 * 1024;

/// The whole fetch's timeout by default: 10 s (RFC 8461 §3.3: "a short timeout").
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTPS port.
pub const HTTPS_PORT: u16 = 443;

/// Why no policy came back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered with another status than 200 (a redirect included: they are not
    /// followed, §3.3).
    Status(u16),
    /// The content type is not `text/plain` (§3.2).
    ContentType(String),
    /// The body is larger than [`MAX_POLICY_SIZE`] or not UTF-8.
    Body(String),
    /// Resolving, connecting, TLS (the certificate) or HTTP failed.
    Http(Arc<ureq::Error>),
    /// The CA certificates for the fetch could not be read.
    Roots(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status(code) => write!(f, "HTTP status {code}, not 200"),
            FetchError::ContentType(t) => write!(f, "content type {t:?}, not text/plain"),
            FetchError::Body(why) => write!(f, "policy body: {why}"),
            FetchError::Http(e) => write!(f, "{e}"),
            FetchError::Roots(why) => write!(f, "CA certificates: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// How policies are fetched: trust anchors, the port (443 but for tests), the timeout.
#[derive(Clone, Debug)]
pub struct Fetcher {
    pub(super) roots: Option<Vec<ureq::tls::Certificate<'static>>>,
    pub(super) port: u16,
    pub(super) timeout: Duration,
}

impl Default for Fetcher {
    fn default() -> Fetcher {
        Fetcher {
            roots: None,
            port: HTTPS_PORT,
            timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}

/// mxsend's resolver, as ureq's: the policy host's addresses from our DNS servers.
#[derive(Debug)]
struct OwnResolver {
    resolver: Resolver,
    port: u16,
}

impl UreqResolver for OwnResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let addresses = self
            .resolver
            .ip_addrs(host)
            .map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
        let mut out = self.empty();
        for ip in addresses {
            if out.try_push(SocketAddr::new(ip, self.port)).is_err() {
                break;
            }
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

impl Fetcher {
    /// The URL of `domain`'s policy.
    pub fn url(&self, domain: &str) -> String {
        let domain = domain.trim_end_matches('.');
        match self.port {
            HTTPS_PORT => format!("https://mta-sts.{domain}/.well-known/mta-sts.txt"),
            port => format!("https://mta-sts.{domain}:{port}/.well-known/mta-sts.txt"),
        }
    }

    /// Fetch `domain`'s policy text through `resolver`.
    pub fn fetch(&self, domain: &str, resolver: &Resolver) -> Result<String, FetchError> {
        let roots = match &self.roots {
            Some(certs) => ureq::tls::RootCerts::new_with_certs(certs),
            None => ureq::tls::RootCerts::WebPki,
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(roots)
            .build();
        let config = ureq::Agent::config_builder()
            .https_only(true)
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(self.timeout))
            .user_agent(concat!("mxsend/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            DefaultConnector::new(),
            OwnResolver {
                resolver: resolver.clone(),
                port: self.port,
            },
        );
        let mut response = agent
            .get(self.url(domain))
            .call()
            .map_err(|e| FetchError::Http(Arc::new(e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        let mime = response.body().mime_type().unwrap_or_default().to_string();
        if !mime.eq_ignore_ascii_case("text/plain") {
            return Err(FetchError::ContentType(mime));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_POLICY_SIZE)
            .read_to_string()
            .map_err(|e| FetchError::Body(e.to_string()))
    }
}

/// The certificates in PEM `bytes`.
pub(super) fn pem_certificates(
    bytes: &[u8],
) -> Result<Vec<ureq::tls::Certificate<'static>>, FetchError> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(bytes) {
        match item.map_err(|e| FetchError::Roots(e.to_string()))? {
            ureq::tls::PemItem::Certificate(cert) => certs.push(cert),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(FetchError::Roots("no certificate in the PEM data".into()));
    }
    Ok(certs)
}
