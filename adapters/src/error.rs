//! What stops a delivery as a whole, as opposed to one recipient's outcome.

use std::fmt;
use std::io;

use mxsend_core::session::UsageError;

use crate::dns::DnsError;
use crate::tls::TlsConfigError;

/// Why a send or delivery could not be carried out at all. Everything about one recipient
/// (refused, deferred, no route, server down) is in its report instead.
#[derive(Debug)]
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
        /// The resolver's error.
        error: io::Error,
    },
    /// The DNS resolver configuration could not be read (for MX delivery).
    Resolver(DnsError),
    /// A message's content could not be opened or read. A connection that was sending it
    /// was closed without completing the message, so the server discards it.
    Body {
        /// The message's index in the caller's list.
        message: usize,
        /// The I/O error.
        error: io::Error,
    },
    /// A message could not be DKIM-signed (its content unreadable or read-once, no From,
    /// a key that cannot sign). Nothing was sent.
    Dkim {
        /// The message's index in the caller's list.
        message: usize,
        /// Why.
        error: crate::dkim::DkimError,
    },
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
            Error::Body { message, error } => {
                write!(f, "cannot read the content of message {message}: {error}")
            }
            Error::Dkim { message, error } => write!(f, "cannot sign message {message}: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // UsageError does not implement Error (yet): its Display is in ours.
            Error::InvalidMessage { .. } => None,
            Error::Tls(error) => Some(error),
            Error::RelayHost { error, .. } | Error::Body { error, .. } => Some(error),
            Error::Resolver(error) => Some(error),
            Error::Dkim { error, .. } => Some(error),
        }
    }
}

impl From<TlsConfigError> for Error {
    fn from(error: TlsConfigError) -> Error {
        Error::Tls(error)
    }
}
