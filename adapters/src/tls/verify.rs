//! The server certificate verifiers mxsend installs in rustls.
//!
//! One [`Verifier`], three policies:
//! - [`Policy::Verify`] for `Required` and `Implicit`: with fingerprints configured, the
//!   certificate must match one ([`super::pin`]) and nothing else is consulted; otherwise a
//!   certificate byte for byte equal to one given in a CA file (or PEM) is pinned and checked
//!   for dates and name only ([`super::certificate`]), and any other goes through rustls'
//!   webpki verifier (chain to a trust anchor, dates, name, RFC 5280 and RFC 6125).
//! - [`Policy::AcceptAny`] for `Opportunistic` (RFC 7435).
//! - [`Policy::Testing`] for MTA-STS `testing` hosts: accepts any certificate, and keeps
//!   what [`Policy::Verify`] would have refused, for the report (RFC 8461 §5).
//! - [`Policy::RefuseAll`]: what a connector built for a mode that does not verify hands out
//!   if asked for a verifying one (fail closed).
//!
//! Every policy checks the handshake signatures with the provider's algorithms, so the peer must
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

/// The one server certificate verifier mxsend installs: a [`Policy`] and the provider whose
/// algorithms check the handshake signatures, whatever the policy.
#[derive(Debug)]
pub(crate) struct Verifier {
    pub policy: Policy,
    pub provider: Arc<CryptoProvider>,
}

/// What a [`Verifier`] accepts.
#[derive(Debug)]
pub(crate) enum Policy {
    /// Every certificate: the opportunistic verifier (RFC 7435), protection against passive
    /// eavesdropping only.
    AcceptAny,
    /// No certificate: no trust anchor at all, built without a fallible step, so there is
    /// nothing to fall back from.
    RefuseAll,
    /// The verifying modes; see the module documentation.
    Verify(Arc<Verifying>),
    /// DANE: the exchange's secure TLSA records alone decide ([`super::dane`]).
    Dane(super::dane::DaneCheck),
    /// MTA-STS `testing` (RFC 8461 §5): every certificate is accepted, as opportunistic
    /// TLS does, but the verifying checks run and what they would refuse is kept for the
    /// report.
    Testing {
        /// The verifying checks.
        checks: Arc<Verifying>,
        /// What they refused, one text per refusal.
        refusals: Arc<std::sync::Mutex<Vec<String>>>,
    },
}

/// The checks of the verifying modes.
#[derive(Debug)]
pub(crate) struct Verifying {
    /// Chain verification; `None` when fingerprints decide alone.
    pub webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The certificates of the CA files and PEMs: a server presenting one of them is pinned.
    pub given: Vec<CertificateDer<'static>>,
    /// When not empty, the only certificates accepted.
    pub fingerprints: Vec<Fingerprint>,
}

impl Verifying {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<(), RefusalReason> {
        if !self.fingerprints.is_empty() {
            let spki = public_key_info(end_entity);
            return if self
                .fingerprints
                .iter()
                .any(|pin| pin.matches(end_entity, spki.as_deref()))
            {
                Ok(())
            } else {
                Err(RefusalReason::NotPinned(self.fingerprints.clone()))
            };
        }
        if self.given.iter().any(|cert| cert == end_entity) {
            return match CertificateInfo::parse(end_entity) {
                Some(info) => info.check_pinned(end_entity, server_name, now),
                None => Err(CertificateError::BadEncoding.into()),
            }
            .map_err(reason);
        }
        match &self.webpki {
            Some(webpki) => webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(reason),
            None => Err(RefusalReason::Invalid(CertificateError::UnknownIssuer)),
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.policy {
            Policy::AcceptAny => Ok(()),
            Policy::RefuseAll => Err(RefusalReason::Invalid(CertificateError::UnknownIssuer)),
            Policy::Verify(verifying) => {
                verifying.verify(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Policy::Dane(check) => {
                check.verify(end_entity, intermediates, server_name, now, &self.provider)
            }
            Policy::Testing { checks, refusals } => {
                let verdict =
                    checks.verify(end_entity, intermediates, server_name, ocsp_response, now);
                if let Err(reason) = verdict {
                    let refusal = CertificateRefusal {
                        reason,
                        reached_as: server_name.to_str().into_owned(),
                        certificate: CertificateInfo::parse(end_entity),
                    };
                    refusals
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(refusal.cause());
                }
                Ok(())
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
