//! What a server's certificate says, read with `x509-parser` (RFC 5280): who it names, who
//! issued it, when it is valid, whether it is a CA; and the checks mxsend makes itself on a
//! certificate the user pinned by giving it as a CA file.
//!
//! rustls (webpki) verifies chains; it has no way to accept a self-signed server certificate
//! with CA:TRUE (what `openssl req -x509` and Debian's `make-ssl-cert` produce) as its own
//! trust anchor: it refuses it as `CaUsedAsEndEntity`. swaks and msmtp accept one when it is
//! in the trust file, and so does mxsend: the end-entity certificate byte for byte equal to
//! one of the certificates in a CA file is taken as pinned, and then only its validity
//! period and its name are checked here (the handshake signature is checked by the verifier
//! as always). The names follow RFC 6125 §6.4 (subjectAltName DNS and IP entries, via
//! webpki); a certificate without any subjectAltName is matched against its subject's CN,
//! exactly and without wildcards (the RFC 6125 §6.4.4 fallback, kept for pinned certificates
//! only, since old self-signed certificates often have nothing else).

use std::net::IpAddr;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::CertificateError;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::pin::Fingerprint;

/// The facts about a certificate that explain why it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Its subject (`CN=mx.example.com`), RFC 4514 style.
    pub subject: String,
    /// Its issuer, the same way.
    pub issuer: String,
    /// The names it is issued for: its subjectAltName DNS names and IP addresses, or when it
    /// has none, its subject's common name.
    pub names: Vec<String>,
    /// Valid from.
    pub not_before: UnixTime,
    /// Valid until.
    pub not_after: UnixTime,
    /// Marked as a CA (basicConstraints CA:TRUE).
    pub is_ca: bool,
    /// Issuer and subject are the same name: nobody else vouches for it.
    pub self_signed: bool,
    /// The SHA-256 of the whole certificate, for pinning it.
    pub fingerprint: Fingerprint,
    /// True when the names come from a subjectAltName extension.
    has_alt_names: bool,
}

impl CertificateInfo {
    /// The facts of `cert`; `None` when it cannot be parsed (webpki refuses it then anyway).
    pub fn parse(cert: &CertificateDer<'_>) -> Option<CertificateInfo> {
        let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
        let alt_names = alt_names(&parsed);
        let has_alt_names = !alt_names.is_empty();
        let names = if has_alt_names {
            alt_names
        } else {
            common_name(&parsed).into_iter().collect()
        };
        let validity = parsed.validity();
        Some(CertificateInfo {
            subject: parsed.subject().to_string(),
            issuer: parsed.issuer().to_string(),
            names,
            not_before: unix_time(validity.not_before.timestamp()),
            not_after: unix_time(validity.not_after.timestamp()),
            is_ca: parsed
                .basic_constraints()
                .ok()
                .flatten()
                .is_some_and(|ext| ext.value.ca),
            self_signed: parsed.subject().as_raw() == parsed.issuer().as_raw(),
            fingerprint: Fingerprint::of_certificate(cert),
            has_alt_names,
        })
    }

    /// The checks on a certificate the user pinned (see the module documentation): valid at
    /// `now`, and issued for `name`.
    pub(crate) fn check_pinned(
        &self,
        cert: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        if now.as_secs() < self.not_before.as_secs() {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before: self.not_before,
            }
            .into());
        }
        if now.as_secs() > self.not_after.as_secs() {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after: self.not_after,
            }
            .into());
        }
        if self.has_alt_names {
            let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
            return rustls::client::verify_server_name(&parsed, name);
        }
        let matches = match name {
            ServerName::DnsName(dns) => self
                .names
                .iter()
                .any(|cn| cn.trim_end_matches('.').eq_ignore_ascii_case(dns.as_ref())),
            _ => false,
        };
        if matches {
            Ok(())
        } else {
            Err(CertificateError::NotValidForNameContext {
                expected: name.to_owned(),
                presented: self.names.clone(),
            }
            .into())
        }
    }
}

/// The SubjectPublicKeyInfo of `cert` (DER), for public-key pins.
pub(crate) fn public_key_info(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
    Some(parsed.public_key().raw.to_vec())
}

fn alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(extension)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    extension
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(octets) => ip_address(octets).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect()
}

fn ip_address(octets: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(octets).ok().map(IpAddr::from)
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

/// Seconds since 1970 as rustls' time; a date before 1970 as 1970 itself.
fn unix_time(seconds: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}
