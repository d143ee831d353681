//! What stops a delivery as a whole, as opposed to one recipient's outcome.

use std::fmt;
use std::io;

use mxsend_core::sasl::SaslError;
use mxsend_core::session::UsageError;

use crate::dns::DnsError;
use crate::tls::TlsConfigError;

/// Why a send or delivery could not be carried out at all, found before any connection.
/// Everything about one recipient (refused, deferred, no route, server down, its message's
/// content unreadable) is in its report instead, so no settled outcome is ever lost to an
/// `Err`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A message's envelope cannot be sent (no recipients, a parameter that cannot be
    /// encoded, BINARYMIME without chunking). Nothing was sent.
    InvalidMessage {
        /// The message's index in the caller's list (0 for a single message).
        message: usize,
        /// What is wrong with it.
        error: UsageError,
    },
    /// The TLS configuration cannot be built (a CA file unreadable, no trust anchor).
    Tls(TlsConfigError),
    /// The relay host name could not be resolved (system resolver).
    RelayHost {
        /// The host as configured.
        host: String,
        /// The resolver's error, by kind.
        error: HostLookupError,
    },
    /// The DNS resolver configuration could not be read (for MX delivery).
    Resolver(DnsError),
    /// A message could not be DKIM-signed (its content unreadable or read-once, no From,
    /// a key that cannot sign). Nothing was sent.
    Dkim {
        /// The message's index in the caller's list.
        message: usize,
        /// Why.
        error: crate::dkim::DkimError,
    },
    /// The credentials cannot be sent with any mechanism that suits them (a NUL in a
    /// password, a 0x01 in a token). Nothing was sent.
    Credentials(SaslError),
    /// A message whose delivery ended temporarily could not be stored in the queue
    /// ([`crate::queue::QueueingTransport`]): it is not queued.
    Queue(crate::queue::QueueError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidMessage { message, error } => {
                write!(f, "message {message} cannot be sent: {error}")
            }
            Error::Tls(error) => write!(f, "{error}"),
            Error::RelayHost { host, error } => write!(f, "cannot resolve relay {host}: {error}"),
            Error::Resolver(error) => write!(f, "DNS resolver: {error}"),
            Error::Dkim { message, error } => write!(f, "cannot sign message {message}: {error}"),
            Error::Credentials(error) => write!(f, "unusable credentials: {error}"),
            Error::Queue(error) => write!(f, "cannot queue the message: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // UsageError does not implement Error (yet): its Display is in ours.
            Error::InvalidMessage { .. } => None,
            Error::Tls(error) => Some(error),
            Error::RelayHost { error, .. } => Some(error),
            Error::Credentials(error) => Some(error),
            Error::Queue(error) => Some(error),
            Error::Resolver(error) => Some(error),
            Error::Dkim { error, .. } => Some(error),
        }
    }
}

/// Why the system resolver (getaddrinfo) gave no address for a host, by kind, so callers
/// can tell "try again" from "fix the name" without reading the message.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostLookupError {
    /// A temporary failure (EAI_AGAIN: no answer now, or SERVFAIL): try again later.
    Temporary(io::Error),
    /// The name does not exist or has no address (EAI_NONAME, EAI_NODATA).
    NotFound(io::Error),
    /// The name cannot be a host name (it does not convert to A-labels).
    InvalidName(String),
    /// Anything else the resolver reported.
    Other(io::Error),
}

impl HostLookupError {
    /// True when trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, HostLookupError::Temporary(_))
    }
}

impl fmt::Display for HostLookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostLookupError::Temporary(e) => write!(f, "temporary failure: {e}"),
            HostLookupError::NotFound(e) => write!(f, "no such host: {e}"),
            HostLookupError::InvalidName(why) => write!(f, "not a host name: {why}"),
            HostLookupError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HostLookupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HostLookupError::Temporary(e)
            | HostLookupError::NotFound(e)
            | HostLookupError::Other(e) => Some(e),
            HostLookupError::InvalidName(_) => None,
        }
    }
}

impl From<TlsConfigError> for Error {
    fn from(error: TlsConfigError) -> Error {
        Error::Tls(error)
    }
}
