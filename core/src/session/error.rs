//! What can end a session, and how the caller can misuse it.
//!
//! Following h11, the two are kept apart: a [`SessionError`] is about the server or the
//! network (including a server that broke the protocol, named as such), a [`UsageError`]
//! is the caller's own mistake and never reaches the wire.

use crate::command::CommandError;
use crate::reply::{Reply, ReplyError};
use crate::sasl::{AuthMechanism, SaslError};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The step of the session a deadline or failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO or HELO.
    Hello,
    /// STARTTLS and its 220.
    StartTls,
    /// The TLS handshake the caller performs after [`super::Event::StartTls`].
    TlsHandshake,
    /// AUTH and its challenges.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, waiting for 354.
    DataInitiation,
    /// Writing the message body.
    DataBlock,
    /// Waiting for the reply to the final `.` or to BDAT.
    DataTermination,
    /// RSET.
    Reset,
    /// QUIT.
    Quit,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Greeting => "greeting",
            Phase::Hello => "EHLO/HELO",
            Phase::StartTls => "STARTTLS",
            Phase::TlsHandshake => "TLS handshake",
            Phase::Auth => "AUTH",
            Phase::Mail => "MAIL FROM",
            Phase::Rcpt => "RCPT TO",
            Phase::DataInitiation => "DATA",
            Phase::DataBlock => "message body",
            Phase::DataTermination => "end of data",
            Phase::Reset => "RSET",
            Phase::Quit => "QUIT",
        })
    }
}

/// Why a session ended badly.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// No reply (or no progress writing the body) before the phase's deadline.
    Timeout(Phase),
    /// The server closed the connection in the middle of this phase.
    ConnectionClosed(Phase),
    /// The server's bytes are not a valid reply (protocol violation by the server).
    MalformedReply(ReplyError),
    /// A reply code that is not a valid answer to the command (protocol violation by the server).
    UnexpectedReply {
        /// What the reply answered.
        phase: Phase,
        /// The reply.
        reply: Reply,
    },
    /// A reply arrived when no command was waiting for one (protocol violation by the server).
    UnsolicitedReply(Reply),
    /// The server sent bytes before the command they would answer had gone out: after the
    /// greeting, before EHLO was sent, an unsolicited `250` would otherwise be taken for
    /// EHLO's reply and every later reply be off by one (protocol violation by the server).
    DataBeforeCommand(Phase),
    /// 421: the server is closing the connection.
    ServiceClosing(Reply),
    /// The greeting was not 220 (554: no SMTP service here, or 4xx: busy).
    GreetingRefused(Reply),
    /// EHLO (and HELO, where allowed) was refused.
    HelloRejected(Reply),
    /// TLS is required and the server does not offer STARTTLS.
    StartTlsUnavailable,
    /// TLS is required and the server refused STARTTLS.
    StartTlsRefused(Reply),
    /// The server sent bytes after its 220 to STARTTLS and before TLS began: a response
    /// injection attempt (CVE-2011-0411 class). Nothing more is sent.
    DataAfterStartTls,
    /// TLS is required and EHLO is refused: HELO cannot negotiate STARTTLS.
    EhloRequiredForTls(Reply),
    /// Credentials were given, the connection is not TLS and plaintext AUTH is not allowed.
    AuthRequiresTls,
    /// Credentials were given and no mechanism offered by the server fits them.
    AuthUnavailable {
        /// What the server offered.
        offered: Vec<AuthMechanism>,
    },
    /// The server refused the credentials (535), or AUTH failed with another reply.
    AuthFailed(Reply),
    /// The SASL exchange could not go on because of the server (a challenge the mechanism
    /// has no answer for, not base64, too many rounds); the exchange was cancelled with `*`
    /// (RFC 4954 §4).
    Sasl(SaslError),
    /// The credentials cannot be used with the mechanism chosen (a NUL in a PLAIN password,
    /// a secret of the wrong kind): the caller's mistake, never the server's. The adapters
    /// check credentials before connecting ([`crate::sasl::Credentials::check`]), so this is
    /// reached only by callers driving a session by hand.
    Credentials(SaslError),
    /// A command could not be encoded (only with inputs that bypassed [`super::Session::send_mail`]'s checks).
    Command(CommandError),
    /// The TLS handshake after STARTTLS failed, in the TLS stack's words
    /// ([`super::Session::tls_failed`]).
    TlsHandshake(String),
    /// The caller abandoned the session ([`super::Session::abort`]), for instance because the
    /// message body could not be read; the connection must be closed without another byte.
    Aborted,
}

impl SessionError {
    /// True when the server broke the protocol (as opposed to refusing politely, or the
    /// network failing).
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            SessionError::MalformedReply(_)
                | SessionError::UnexpectedReply { .. }
                | SessionError::UnsolicitedReply(_)
                | SessionError::DataBeforeCommand(_)
                | SessionError::DataAfterStartTls
                | SessionError::Sasl(_)
        )
    }

    /// The server's reply that ended the session, where there is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SessionError::UnexpectedReply { reply, .. }
            | SessionError::UnsolicitedReply(reply)
            | SessionError::ServiceClosing(reply)
            | SessionError::GreetingRefused(reply)
            | SessionError::HelloRejected(reply)
            | SessionError::StartTlsRefused(reply)
            | SessionError::EhloRequiredForTls(reply)
            | SessionError::AuthFailed(reply) => Some(reply),
            _ => None,
        }
    }

    /// True when the failure is permanent: retrying the same session later would fail the
    /// same way. This is the one rule that decides between [`super::Outcome::Rejected`] and
    /// [`super::Outcome::Deferred`] for recipients a session failure settles:
    ///
    /// - permanent (rejected): a 5xx greeting (554: no SMTP service here), a 5xx to EHLO
    ///   (and HELO), a 5xx to AUTH (535: credentials refused), credentials that cannot be
    ///   sent (no TLS and plaintext AUTH not allowed, no mechanism in common, unusable
    ///   credentials);
    /// - temporary (deferred): everything else, notably a 4xx anywhere, 421, timeouts, a lost
    ///   connection, a missing or refused STARTTLS or a failed TLS handshake under a
    ///   required policy (RFC 3207 §4.1 leaves it to the client; Postfix defers, and the
    ///   server may be fixed), and protocol violations.
    pub fn is_permanent(&self) -> bool {
        match self {
            SessionError::GreetingRefused(r)
            | SessionError::HelloRejected(r)
            | SessionError::AuthFailed(r) => r.code().is_permanent(),
            SessionError::AuthRequiresTls
            | SessionError::AuthUnavailable { .. }
            | SessionError::Credentials(_) => true,
            _ => false,
        }
    }

    /// True when the session ended because of the client's own credentials or AUTH
    /// settings, which every server would meet the same way.
    pub fn is_credentials_problem(&self) -> bool {
        matches!(
            self,
            SessionError::AuthFailed(_)
                | SessionError::AuthRequiresTls
                | SessionError::AuthUnavailable { .. }
                | SessionError::Credentials(_)
        )
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Timeout(phase) => write!(f, "timed out waiting during {phase}"),
            SessionError::ConnectionClosed(phase) => {
                write!(f, "the server closed the connection during {phase}")
            }
            SessionError::MalformedReply(e) => write!(f, "the server sent a malformed reply: {e}"),
            SessionError::UnexpectedReply { phase, reply } => {
                write!(f, "unexpected reply to {phase}: {reply}")
            }
            SessionError::UnsolicitedReply(reply) => {
                write!(f, "the server replied when no command was pending: {reply}")
            }
            SessionError::DataBeforeCommand(phase) => write!(
                f,
                "the server sent data before the {phase} command it would answer was sent"
            ),
            SessionError::ServiceClosing(reply) => {
                write!(f, "the server is closing the connection: {reply}")
            }
            SessionError::GreetingRefused(reply) => write!(f, "the server refused the session: {reply}"),
            SessionError::HelloRejected(reply) => write!(f, "EHLO/HELO rejected: {reply}"),
            SessionError::StartTlsUnavailable => {
                f.write_str("TLS is required but the server does not offer STARTTLS")
            }
            SessionError::StartTlsRefused(reply) => {
                write!(f, "TLS is required but the server refused STARTTLS: {reply}")
            }
            SessionError::DataAfterStartTls => f.write_str(
                "the server sent data after its STARTTLS reply, before TLS began (possible injection attack)",
            ),
            SessionError::EhloRequiredForTls(reply) => write!(
                f,
                "TLS is required but the server refused EHLO, so STARTTLS cannot be negotiated: {reply}"
            ),
            SessionError::AuthRequiresTls => f.write_str(
                "refusing to send credentials over a connection without TLS (allow plaintext AUTH to override)",
            ),
            SessionError::AuthUnavailable { offered } => {
                f.write_str("no usable AUTH mechanism; the server offers:")?;
                if offered.is_empty() {
                    f.write_str(" none")?;
                }
                for m in offered {
                    write!(f, " {}", m.name())?;
                }
                Ok(())
            }
            SessionError::AuthFailed(reply) => write!(f, "authentication failed: {reply}"),
            SessionError::Sasl(e) => write!(f, "authentication exchange failed: {e}"),
            SessionError::Credentials(e) => write!(f, "unusable credentials: {e}"),
            SessionError::Command(e) => write!(f, "cannot encode command: {e}"),
            SessionError::TlsHandshake(why) => write!(f, "TLS handshake failed: {why}"),
            SessionError::Aborted => f.write_str("the session was abandoned by the client"),
        }
    }
}

impl core::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SessionError::MalformedReply(e) => Some(e),
            SessionError::Command(e) => Some(e),
            _ => None,
        }
    }
}

/// The caller used the session API wrongly (h11's LocalProtocolError). Nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The session is closed (or QUIT was requested).
    Closed,
    /// An envelope with no recipients.
    NoRecipients,
    /// The envelope cannot be encoded as commands.
    InvalidEnvelope(CommandError),
    /// Body data offered while the session is not asking for it (see `wants_body`).
    BodyNotWanted,
    /// The message content cannot go out as text (a NUL, a line over 998 octets): the
    /// transaction was abandoned and its recipients settled with
    /// [`super::Failure::Body`].
    Content(crate::transparency::ContentError),
    /// [`super::Session::check_idle`] on a session that is not idle (not established, or a
    /// transaction under way).
    NotIdle,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Closed => f.write_str("the session is closed"),
            UsageError::NoRecipients => f.write_str("an envelope needs at least one recipient"),
            UsageError::InvalidEnvelope(e) => write!(f, "invalid envelope: {e}"),
            UsageError::BodyNotWanted => f.write_str("body data offered while none is wanted"),
            UsageError::Content(e) => write!(f, "{e}"),
            UsageError::NotIdle => f.write_str(
                "the session is not idle (not established, or a transaction is under way)",
            ),
        }
    }
}

impl core::error::Error for UsageError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            UsageError::InvalidEnvelope(e) => Some(e),
            _ => None,
        }
    }
}
