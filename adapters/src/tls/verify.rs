//! The server certificate verifiers mxsend installs in rustls.
//!
//! - [`Verifying`] for `Required` and `Implicit`: with fingerprints configured, the
//!   certificate must match one ([`super::pin`]) and nothing else is consulted; otherwise a
//!   certificate byte for byte equal to one given in a CA file (or PEM) is pinned and checked
//!   for dates and name only ([`super::certificate`]), and any other goes through rustls'
//!   webpki verifier (chain to a trust anchor, dates, name, RFC 5280 and RFC 6125).
//! - [`Blanket`] accepting every certificate for `Opportunistic` (RFC 7435), or refusing
//!   every one: what a connector built for a mode that does not verify hands out if asked
//!   for a verifying one (fail closed).
//!
//! Both check the handshake signatures with the provider's algorithms, so the peer must
//! hold the private key of the certificate it sent. A refusal carries a
//! [`CertificateRefusal`] (inside rustls' `CertificateError::Other`) with what the
//! certificate says, so that the error the caller sees can explain it
//! ([`super::error::TlsError`]).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use super::certificate::{public_key_info, CertificateInfo};
use super::error::{CertificateRefusal, RefusalReason};
use super::pin::Fingerprint;

/// The verifier of the verifying modes; see the module documentation.
#[derive(Debug)]
pub(crate) struct Verifying {
    /// Chain verification; `None` when fingerprints decide alone.
    pub webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The certificates of the CA files and PEMs: a server presenting one of them is pinned.
    pub given: Vec<CertificateDer<'static>>,
    /// When not empty, the only certificates accepted.
    pub fingerprints: Vec<Fingerprint>,
    pub provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifying {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = if !self.fingerprints.is_empty() {
            let spki = public_key_info(end_entity);
            if self
                .fingerprints
                .iter()
                .any(|pin| pin.matches(end_entity, spki.as_deref()))
            {
                return Ok(ServerCertVerified::assertion());
            }
            Err(RefusalReason::NotPinned(self.fingerprints.clone()))
        } else if self.given.iter().any(|cert| cert == end_entity) {
            match CertificateInfo::parse(end_entity) {
                Some(info) => info.check_pinned(end_entity, server_name, now),
                None => Err(CertificateError::BadEncoding.into()),
            }
            .map_err(reason)
        } else {
            match &self.webpki {
                Some(webpki) => webpki
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                    .map(|_| ())
                    .map_err(reason),
                None => Err(RefusalReason::Invalid(CertificateError::UnknownIssuer)),
            }
        };
        match verdict {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(reason) => Err(refuse(reason, end_entity, server_name)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        signature_tls12(&self.provider, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        signature_tls13(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes(&self.provider)
    }
}

/// A verdict that does not look at the certificate: accept every one (the opportunistic
/// verifier, RFC 7435: protection against passive eavesdropping only), or refuse every one
/// (no trust anchor at all, built without a fallible step, so there is nothing to fall back
/// from). The handshake's signatures are checked either way.
#[derive(Debug)]
pub(crate) struct Blanket {
    pub accept: bool,
    pub provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Blanket {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(refuse(
                RefusalReason::Invalid(CertificateError::UnknownIssuer),
                end_entity,
                server_name,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        signature_tls12(&self.provider, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        signature_tls13(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes(&self.provider)
    }
}

/// rustls' certificate verdict as a refusal reason; other errors (none are expected from a
/// verifier) are kept as an application failure.
fn reason(error: rustls::Error) -> RefusalReason {
    match error {
        rustls::Error::InvalidCertificate(error) => RefusalReason::Invalid(error),
        _ => RefusalReason::Invalid(CertificateError::ApplicationVerificationFailure),
    }
}

/// The error a verifier returns: rustls' own kind (`InvalidCertificate`), carrying the
/// refusal with what the certificate says.
fn refuse(
    reason: RefusalReason,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> rustls::Error {
    let refusal = CertificateRefusal {
        reason,
        reached_as: server_name.to_str().into_owned(),
        certificate: CertificateInfo::parse(end_entity),
    };
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(refusal))))
}

fn signature_tls12(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls12_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

fn signature_tls13(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

fn schemes(provider: &CryptoProvider) -> Vec<SignatureScheme> {
    provider
        .signature_verification_algorithms
        .supported_schemes()
}
