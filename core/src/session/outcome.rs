//! What callers ask of an [`Outcome`] (and of its borrowed form, [`OutcomeRef`]) and a
//! [`Failure`]: was it delivered, is it final, which reply decided it, and one line of text
//! saying so (`Display`).
//!
//! The rule for "permanent" is the session's own (RFC 5321 §4.2.1: the first digit of the
//! reply; [`SessionError::is_permanent`] for a session that ended): a rejected recipient
//! will not be accepted by retrying, a deferred or ambiguous one may be.

use core::fmt;

use super::{Failure, Outcome, OutcomeRef, SessionError};
use crate::reply::{Reply, ReplyRef};

impl Outcome {
    /// True when the server took responsibility for the message (250 to the end of data).
    ///
    /// ```
    /// use mxsend_core::reply::{Reply, ReplyCode};
    /// use mxsend_core::session::{Failure, Outcome};
    ///
    /// let reply = |code, text: &str| Reply::new(ReplyCode::new(code).unwrap(), vec![text.into()]);
    /// let ok = Outcome::Delivered(reply(250, "2.0.0 Ok"));
    /// assert!(ok.is_delivered());
    /// assert_eq!(ok.to_string(), "delivered: 250 2.0.0 Ok");
    /// let refused = Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 no such user")));
    /// assert!(!refused.is_delivered() && refused.is_permanent());
    /// assert_eq!(refused.reply().map(|r| r.code().get()), Some(550));
    /// assert_eq!(refused.to_string(), "rejected: 550 5.1.1 no such user");
    /// ```
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered(_))
    }

    /// True when retrying cannot help: the recipient was rejected (5xx, or a failure that
    /// every server would meet). Deferred and ambiguous outcomes are not permanent.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Outcome::Rejected(_))
    }

    /// True when the message was not delivered this time but may be later (deferred), or
    /// may already have been (ambiguous): the outcomes a queue keeps.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Outcome::Deferred(_) | Outcome::Ambiguous(_))
    }

    /// The server's reply that decided this outcome, when a server gave one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Outcome::Delivered(reply) => Some(reply),
            Outcome::Rejected(failure)
            | Outcome::Deferred(failure)
            | Outcome::Ambiguous(failure) => failure.reply(),
        }
    }

    /// Why the recipient did not get the message; `None` when it did.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Delivered(_) => None,
            Outcome::Rejected(failure)
            | Outcome::Deferred(failure)
            | Outcome::Ambiguous(failure) => Some(failure),
        }
    }

    /// One word for the outcome: `delivered`, `rejected`, `deferred` or `ambiguous` (the
    /// words of the CLI's `--json` and the delivery log).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered(_) => "delivered",
            Outcome::Rejected(_) => "rejected",
            Outcome::Deferred(_) => "deferred",
            Outcome::Ambiguous(_) => "ambiguous",
        }
    }
}

impl fmt::Display for Outcome {
    /// `delivered: 250 2.0.0 Ok`, `rejected: 550 5.1.1 ...`, `deferred: the server closed
    /// the connection during RCPT TO`, `ambiguous: ...`: the outcome's word, then the reply
    /// or the reason (server text escaped as [`Reply`]'s `Display` does).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Delivered(reply) => write!(f, "delivered: {reply}"),
            Outcome::Rejected(failure)
            | Outcome::Deferred(failure)
            | Outcome::Ambiguous(failure) => {
                write!(f, "{}: {failure}", self.name())
            }
        }
    }
}

impl<'a> OutcomeRef<'a> {
    /// The owned outcome, to keep: a delivered one copies its reply's text (one
    /// allocation), a failure is cloned.
    pub fn to_outcome(&self) -> Outcome {
        match *self {
            OutcomeRef::Delivered(reply) => Outcome::Delivered(reply.to_reply()),
            OutcomeRef::Rejected(failure) => Outcome::Rejected(failure.clone()),
            OutcomeRef::Deferred(failure) => Outcome::Deferred(failure.clone()),
            OutcomeRef::Ambiguous(failure) => Outcome::Ambiguous(failure.clone()),
        }
    }

    /// As [`Outcome::is_delivered`].
    pub fn is_delivered(&self) -> bool {
        matches!(self, OutcomeRef::Delivered(_))
    }

    /// As [`Outcome::is_permanent`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, OutcomeRef::Rejected(_))
    }

    /// As [`Outcome::is_temporary`].
    pub fn is_temporary(&self) -> bool {
        matches!(self, OutcomeRef::Deferred(_) | OutcomeRef::Ambiguous(_))
    }

    /// The server's reply that decided this outcome, when a server gave one.
    pub fn reply(&self) -> Option<ReplyRef<'a>> {
        match *self {
            OutcomeRef::Delivered(reply) => Some(reply),
            OutcomeRef::Rejected(failure)
            | OutcomeRef::Deferred(failure)
            | OutcomeRef::Ambiguous(failure) => failure.reply().map(Reply::as_reply_ref),
        }
    }

    /// Why the recipient did not get the message; `None` when it did.
    pub fn failure(&self) -> Option<&'a Failure> {
        match *self {
            OutcomeRef::Delivered(_) => None,
            OutcomeRef::Rejected(failure)
            | OutcomeRef::Deferred(failure)
            | OutcomeRef::Ambiguous(failure) => Some(failure),
        }
    }

    /// As [`Outcome::name`].
    pub fn name(&self) -> &'static str {
        match self {
            OutcomeRef::Delivered(_) => "delivered",
            OutcomeRef::Rejected(_) => "rejected",
            OutcomeRef::Deferred(_) => "deferred",
            OutcomeRef::Ambiguous(_) => "ambiguous",
        }
    }
}

impl fmt::Display for OutcomeRef<'_> {
    /// As [`Outcome`]'s `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomeRef::Delivered(reply) => write!(f, "delivered: {reply}"),
            OutcomeRef::Rejected(failure)
            | OutcomeRef::Deferred(failure)
            | OutcomeRef::Ambiguous(failure) => write!(f, "{}: {failure}", self.name()),
        }
    }
}

impl Failure {
    /// True when every server would give the same answer: a 5xx reply, content that cannot
    /// go out, a message over the server's limit, an extension the message needs and the
    /// server lacks, or a session ended for a permanent reason.
    pub fn is_permanent(&self) -> bool {
        match self {
            Failure::Reply(reply) | Failure::SenderRefused(reply) => reply.code().is_permanent(),
            Failure::Session(error) => error.is_permanent(),
            Failure::Body(super::BodyError::Content(_))
            | Failure::TooLarge { .. }
            | Failure::EightBitUnsupported
            | Failure::Utf8Unsupported
            | Failure::BinaryUnsupported
            | Failure::RequireTlsUnavailable { .. } => true,
            Failure::Body(super::BodyError::Unreadable(_)) | Failure::Unreached => false,
        }
    }

    /// The session error behind this failure, if the session ended first.
    pub fn session_error(&self) -> Option<&SessionError> {
        match self {
            Failure::Session(error) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    /// The server's reply as it was on the wire, or the reason in words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Reply(reply) => write!(f, "{reply}"),
            Failure::SenderRefused(reply) => write!(f, "sender refused: {reply}"),
            Failure::Unreached => f.write_str("no server answered"),
            Failure::Body(error) => write!(f, "{error}"),
            Failure::Session(error) => write!(f, "{error}"),
            Failure::TooLarge { size, limit } => write!(
                f,
                "the message ({size} octets) is larger than the server's limit ({limit} octets)"
            ),
            Failure::EightBitUnsupported => {
                f.write_str("the message has 8-bit content and the server does not offer 8BITMIME")
            }
            Failure::Utf8Unsupported => {
                f.write_str("an address or header needs SMTPUTF8 and the server does not offer it")
            }
            Failure::BinaryUnsupported => f.write_str(
                "the message is BINARYMIME and the server does not offer BINARYMIME with CHUNKING",
            ),
            Failure::RequireTlsUnavailable {
                verified_tls,
                offered,
            } => match (verified_tls, offered) {
                (false, _) => f.write_str(
                    "REQUIRETLS: not sent, the connection is not on TLS with a verified certificate",
                ),
                (true, false) => {
                    f.write_str("REQUIRETLS: not sent, the server does not offer REQUIRETLS")
                }
                (true, true) => f.write_str("REQUIRETLS: not sent"),
            },
        }
    }
}

impl core::error::Error for Failure {}
