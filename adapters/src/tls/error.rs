//! Why a TLS handshake failed, typed: rustls' own error (`rustls::Error`,
//! `rustls::CertificateError`) with what the refused certificate says, never a string.
//!
//! [`TlsError`]'s `Display` names the cause and the fix in the library's terms (a CA file,
//! a pin, the name to verify); [`TlsError::problem`] gives the same classification to a
//! program that renders its own advice (the command line names its flags). rustls' debug
//! spellings (`Other(OtherError(CaUsedAsEndEntity))`) never reach the text.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError};

use super::certificate::CertificateInfo;
use super::pin::Fingerprint;
use super::TlsConfigError;

/// Why a TLS handshake failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate was refused.
    Certificate(Box<CertificateRefusal>),
    /// The handshake failed otherwise, in rustls' terms: an alert from the server, no
    /// protocol version or cipher suite in common, a server that does not speak TLS.
    Handshake(rustls::Error),
    /// The handshake did not finish before the deadline.
    TimedOut,
    /// STARTTLS was asked for on a connection already in TLS.
    AlreadyEncrypted,
    /// The connection failed during the handshake (reset, closed).
    Io(Arc<io::Error>),
    /// No TLS connection could be set up: the host is not usable as a TLS server name, or
    /// the connector has no configuration for the mode.
    Setup(Arc<TlsConfigError>),
}

/// A refused server certificate: why, the name it was checked against, and what it says.
#[derive(Clone, Debug)]
pub struct CertificateRefusal {
    /// Why.
    pub reason: RefusalReason,
    /// The name the server was reached as (the TLS server name it was checked against).
    pub reached_as: String,
    /// The refused end-entity certificate's facts (`None` when it could not be parsed, or
    /// when a caller's own verifier refused it).
    pub certificate: Option<CertificateInfo>,
}

/// Why a certificate was refused.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RefusalReason {
    /// rustls (webpki) or mxsend's pinned-certificate checks found it invalid.
    Invalid(CertificateError),
    /// Fingerprints were configured and it matches none of them.
    NotPinned(Vec<Fingerprint>),
    /// DANE (RFC 7672): it matches none of the exchange's secure TLSA records (this many),
    /// or a DANE-TA match did not chain to the end-entity certificate for the MX name.
    NoTlsaMatch(usize),
}

/// What went wrong with a certificate or handshake, in the terms of its fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Issued by a CA that is not trusted.
    UnknownIssuer {
        /// The issuer, when known (`CN=Example CA`).
        issuer: Option<String>,
    },
    /// Self-signed and not given as a CA file or pinned.
    SelfSigned {
        /// Its subject.
        subject: String,
        /// Its SHA-256 fingerprint, to pin it.
        fingerprint: Fingerprint,
    },
    /// Not issued for the name the server was reached as.
    WrongName {
        /// The names it is issued for (empty when unknown).
        issued_for: Vec<String>,
        /// The name it was checked against.
        reached_as: String,
    },
    /// Expired.
    Expired {
        /// The end of its validity.
        not_after: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// Not valid yet.
    NotYetValid {
        /// The start of its validity.
        not_before: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// A CA certificate (CA:TRUE) presented as the server's own, not self-signed (a
    /// self-signed one is [`Problem::SelfSigned`]).
    CaUsedAsEndEntity {
        /// Its subject, when known.
        subject: Option<String>,
    },
    /// It matches none of the configured fingerprints.
    NotPinned {
        /// Its own fingerprint, when it could be read.
        fingerprint: Option<Fingerprint>,
    },
    /// The server asked for a client certificate and none (or not an acceptable one) was
    /// given.
    ClientCertificateRequired,
    /// The server answered the ClientHello with something that is not TLS (typically a
    /// plaintext `220` greeting: the port expects STARTTLS, not TLS from the first byte).
    NotTls,
    /// Anything else: [`TlsError`]'s `Display` says what.
    Other,
}

impl TlsError {
    /// The error of a handshake that failed with `error` (what rustls' `complete_io` and
    /// futures-rustls return) for the server reached as `reached_as`.
    pub(crate) fn from_io(error: io::Error, reached_as: &str) -> TlsError {
        if matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return TlsError::TimedOut;
        }
        match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls) => TlsError::from_rustls(rustls.clone(), reached_as),
            None => TlsError::Io(Arc::new(error)),
        }
    }

    /// `error` as typed here: a certificate refusal with its facts when mxsend's verifier
    /// refused it, with the name alone when another verifier did.
    pub(crate) fn from_rustls(error: rustls::Error, reached_as: &str) -> TlsError {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(other))
                if other.0.downcast_ref::<CertificateRefusal>().is_some() =>
            {
                match other.0.downcast_ref::<CertificateRefusal>() {
                    Some(refusal) => TlsError::Certificate(Box::new(refusal.clone())),
                    None => TlsError::Handshake(rustls::Error::InvalidCertificate(
                        CertificateError::Other(other),
                    )),
                }
            }
            rustls::Error::InvalidCertificate(error) => {
                TlsError::Certificate(Box::new(CertificateRefusal {
                    reason: RefusalReason::Invalid(error),
                    reached_as: reached_as.to_string(),
                    certificate: None,
                }))
            }
            error => TlsError::Handshake(error),
        }
    }

    /// The error for a handshake asked for in a mode without TLS.
    pub(crate) fn no_configuration(mode: super::TlsMode) -> TlsError {
        TlsError::Setup(Arc::new(TlsConfigError::NoTlsInMode(mode)))
    }

    /// The rustls error behind this one, if any.
    pub fn rustls(&self) -> Option<&rustls::Error> {
        match self {
            TlsError::Handshake(error) => Some(error),
            _ => None,
        }
    }

    /// What went wrong, in the terms of its fix.
    pub fn problem(&self) -> Problem {
        match self {
            TlsError::Certificate(refusal) => refusal.problem(),
            TlsError::Handshake(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired,
            )) => Problem::ClientCertificateRequired,
            TlsError::Handshake(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType,
            )) => Problem::NotTls,
            _ => Problem::Other,
        }
    }

    /// True when retrying later may succeed (the network, a timeout) rather than needing a
    /// person to fix the certificate or the configuration.
    pub fn is_transient(&self) -> bool {
        matches!(self, TlsError::TimedOut | TlsError::Io(_))
    }
}

impl CertificateRefusal {
    /// The classification of this refusal.
    pub fn problem(&self) -> Problem {
        let info = self.certificate.as_ref();
        let self_signed = || {
            info.filter(|i| i.self_signed).map(|i| Problem::SelfSigned {
                subject: i.subject.clone(),
                fingerprint: i.fingerprint,
            })
        };
        let error = match &self.reason {
            RefusalReason::NotPinned(_) => {
                return Problem::NotPinned {
                    fingerprint: info.map(|i| i.fingerprint),
                }
            }
            RefusalReason::NoTlsaMatch(_) => return Problem::Other,
            RefusalReason::Invalid(error) => error,
        };
        match error {
            CertificateError::UnknownIssuer => self_signed().unwrap_or(Problem::UnknownIssuer {
                issuer: info.map(|i| i.issuer.clone()),
            }),
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                self_signed().unwrap_or(Problem::CaUsedAsEndEntity {
                    subject: info.map(|i| i.subject.clone()),
                })
            }
            CertificateError::NotValidForName => Problem::WrongName {
                issued_for: info.map(|i| i.names.clone()).unwrap_or_default(),
                reached_as: self.reached_as.clone(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => Problem::WrongName {
                issued_for: match info {
                    Some(info) => info.names.clone(),
                    None => presented.clone(),
                },
                reached_as: self.reached_as.clone(),
            },
            CertificateError::ExpiredContext { time, not_after } => Problem::Expired {
                not_after: *not_after,
                now: *time,
            },
            CertificateError::NotValidYetContext { time, not_before } => Problem::NotYetValid {
                not_before: *not_before,
                now: *time,
            },
            CertificateError::Expired | CertificateError::NotValidYet => match info {
                Some(info) => {
                    let now = UnixTime::now();
                    if now.as_secs() > info.not_after.as_secs() {
                        Problem::Expired {
                            not_after: info.not_after,
                            now,
                        }
                    } else {
                        Problem::NotYetValid {
                            not_before: info.not_before,
                            now,
                        }
                    }
                }
                None => Problem::Other,
            },
            _ => Problem::Other,
        }
    }
}

impl CertificateRefusal {
    /// What is wrong, without the fix: the first half of the `Display`.
    pub fn cause(&self) -> String {
        let reached = &self.reached_as;
        match self.problem() {
            Problem::UnknownIssuer { issuer } => format!(
                "the certificate of {reached} was issued by {}, which is not a trusted CA",
                issuer.as_deref().unwrap_or("a CA")
            ),
            Problem::SelfSigned {
                subject,
                fingerprint,
            } => format!("the certificate of {reached} is self-signed ({subject}, {fingerprint})"),
            Problem::WrongName {
                issued_for,
                reached_as,
            } => format!(
                "the certificate was issued for {}, but the server was reached as {reached_as}",
                names(&issued_for)
            ),
            Problem::Expired { not_after, now } => format!(
                "the certificate of {reached} expired on {} (it is now {})",
                date(not_after),
                date(now)
            ),
            Problem::NotYetValid { not_before, now } => format!(
                "the certificate of {reached} is not valid before {} (it is now {})",
                date(not_before),
                date(now)
            ),
            Problem::CaUsedAsEndEntity { subject } => format!(
                "{reached} presented a CA certificate ({}) as its own",
                subject.as_deref().unwrap_or("CA:TRUE")
            ),
            Problem::NotPinned { fingerprint } => match fingerprint {
                Some(fingerprint) => format!(
                    "the certificate of {reached} ({fingerprint}) matches none of the pinned fingerprints"
                ),
                None => format!(
                    "the certificate of {reached} matches none of the pinned fingerprints"
                ),
            },
            Problem::ClientCertificateRequired | Problem::NotTls | Problem::Other => {
                let subject = self
                    .certificate
                    .as_ref()
                    .map(|i| format!(" ({})", i.subject))
                    .unwrap_or_default();
                let why = match &self.reason {
                    RefusalReason::Invalid(error) => describe_certificate_error(error),
                    RefusalReason::NotPinned(_) => "it matches no pin".to_string(),
                    RefusalReason::NoTlsaMatch(count) => format!(
                        "it matches none of the {count} DANE TLSA record(s) published for it (RFC 7672)"
                    ),
                };
                format!("the certificate of {reached}{subject} was refused: {why}")
            }
        }
    }
}

impl fmt::Display for CertificateRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause())?;
        match self.problem().remedy() {
            Some(remedy) => write!(f, "; {remedy}"),
            None => Ok(()),
        }
    }
}

impl Problem {
    /// The fix, in the library's terms (the command line names its own flags instead).
    pub fn remedy(&self) -> Option<&'static str> {
        Some(match self {
            Problem::UnknownIssuer { .. } => {
                "if that CA is yours, trust its certificate (a CA file)"
            }
            Problem::SelfSigned { .. } => {
                "trust it by giving the certificate itself as a CA file, or pin its fingerprint"
            }
            Problem::WrongName { .. } => {
                "connect by a name the certificate has, or verify it against that name (the TLS name)"
            }
            Problem::Expired { .. } => {
                "the server needs a new certificate, or this machine's clock is wrong"
            }
            Problem::NotYetValid { .. } => "check this machine's clock and the server's",
            Problem::CaUsedAsEndEntity { .. } => {
                "if you trust exactly this certificate, give it as a CA file or pin it"
            }
            Problem::NotPinned { .. } => {
                "it is not the certificate that was pinned (it changed, or this is another server)"
            }
            Problem::ClientCertificateRequired => "give a client certificate and its key",
            Problem::NotTls => {
                "the port does not speak TLS from the first byte; if it offers STARTTLS, use that"
            }
            Problem::Other => return None,
        })
    }
}

impl std::error::Error for CertificateRefusal {}

impl TlsError {
    /// What is wrong, without the fix (`Display` adds [`Problem::remedy`]).
    pub fn cause(&self) -> String {
        match self {
            TlsError::Certificate(refusal) => refusal.cause(),
            TlsError::Handshake(error) => describe_rustls(error),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Certificate(refusal) => write!(f, "{refusal}"),
            TlsError::Handshake(error) => {
                f.write_str(&describe_rustls(error))?;
                match self.problem().remedy() {
                    Some(remedy) => write!(f, "; {remedy}"),
                    None => Ok(()),
                }
            }
            TlsError::TimedOut => f.write_str("timed out during the TLS handshake"),
            TlsError::AlreadyEncrypted => f.write_str("STARTTLS on a connection already secured"),
            TlsError::Io(error) => write!(f, "connection lost during the TLS handshake: {error}"),
            TlsError::Setup(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Certificate(refusal) => Some(refusal.as_ref()),
            TlsError::Handshake(error) => Some(error),
            TlsError::Io(error) => Some(error.as_ref()),
            TlsError::Setup(error) => Some(error.as_ref()),
            TlsError::TimedOut | TlsError::AlreadyEncrypted => None,
        }
    }
}

/// `a, b and c`.
pub fn names(names: &[String]) -> String {
    match names {
        [] => "other names".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A certificate date as RFC 5322 writes dates (`Thu, 31 Dec 2020 23:59:59 +0000`).
pub fn date(time: UnixTime) -> String {
    i64::try_from(time.as_secs())
        .ok()
        .and_then(|secs| x509_parser::time::ASN1Time::from_timestamp(secs).ok())
        .and_then(|t| t.to_rfc2822().ok())
        .unwrap_or_else(|| format!("{} seconds after 1970", time.as_secs()))
}

/// rustls' error in words (its own `Display` prints some variants with `{:?}`).
fn describe_rustls(error: &rustls::Error) -> String {
    use rustls::Error as E;
    match error {
        E::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server requires a client certificate".to_string()
        }
        E::AlertReceived(alert) => format!(
            "the server ended the handshake with the TLS alert \"{}\"",
            alert_name(*alert)
        ),
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            "the server's answer is not the TLS handshake expected (does this port speak TLS in this mode?)"
                .to_string()
        }
        E::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher suite that mxsend accepts".to_string()
        }
        E::PeerMisbehaved(_) => "the server broke the TLS protocol".to_string(),
        E::NoCertificatesPresented => "the server sent no certificate".to_string(),
        E::DecryptError => "a TLS record did not decrypt (tampering, or a broken server)".to_string(),
        E::InvalidCertificate(error) => {
            format!("the certificate was refused: {}", describe_certificate_error(error))
        }
        E::General(text) => text.clone(),
        other => format!("TLS failed: {other}"),
    }
}

fn describe_certificate_error(error: &CertificateError) -> String {
    use CertificateError as C;
    match error {
        C::BadEncoding => "it is malformed".to_string(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".to_string(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".to_string(),
        C::Revoked => "it has been revoked".to_string(),
        C::UnknownIssuer => "its issuer is not trusted".to_string(),
        C::BadSignature => "its signature does not verify".to_string(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not valid for this name".to_string()
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not issued for TLS servers (extended key usage)".to_string()
        }
        C::ApplicationVerificationFailure => "the verifier refused it".to_string(),
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "it is signed with an algorithm mxsend does not support".to_string()
        }
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => {
                "it is a CA certificate, presented as the server's own".to_string()
            }
            Some(webpki::Error::EndEntityUsedAsCa) => {
                "its chain uses a server certificate as a CA".to_string()
            }
            Some(webpki::Error::NameConstraintViolation) => {
                "its names are outside what its CA may certify (name constraints)".to_string()
            }
            Some(webpki::Error::PathLenConstraintViolated)
            | Some(webpki::Error::MaximumPathDepthExceeded)
            | Some(webpki::Error::MaximumSignatureChecksExceeded)
            | Some(webpki::Error::MaximumPathBuildCallsExceeded) => {
                "its chain is longer than its CAs or mxsend allow".to_string()
            }
            Some(webpki::Error::UnsupportedCertVersion) => {
                "it is not an X.509 version 3 certificate".to_string()
            }
            _ => format!("it is invalid ({other})"),
        },
        _ => "it is invalid".to_string(),
    }
}

/// An alert's name as RFC 8446 §6 spells it, for the common ones.
fn alert_name(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let name = match alert {
        A::CloseNotify => "close notify",
        A::UnexpectedMessage => "unexpected message",
        A::BadRecordMac => "bad record mac",
        A::HandshakeFailure => "handshake failure",
        A::BadCertificate => "bad certificate",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateRevoked => "certificate revoked",
        A::CertificateExpired => "certificate expired",
        A::CertificateUnknown => "certificate unknown",
        A::IllegalParameter => "illegal parameter",
        A::UnknownCA => "unknown CA",
        A::AccessDenied => "access denied",
        A::DecodeError => "decode error",
        A::DecryptError => "decrypt error",
        A::ProtocolVersion => "protocol version",
        A::InsufficientSecurity => "insufficient security",
        A::InternalError => "internal error",
        A::UnrecognisedName => "unrecognized name",
        A::NoApplicationProtocol => "no application protocol",
        other => return format!("number {}", u8::from(other)),
    };
    name.to_string()
}
