//! The SMTP client session as a sans-IO state machine (RFC 5321, 2920, 3207, 3030, 4954).
//!
//! SKELETON: the public API here is the contract the adapters code against (issue 3).
//!
//! The caller drives it:
//! - bytes from the server: [`Session::handle_input`]; end of stream: [`Session::handle_eof`];
//! - bytes for the server: [`Session::pending_transmit`], then [`Session::advance_transmit`];
//! - events: [`Session::poll_event`] (TLS to start, transaction results, close);
//! - the body, while [`Session::wants_body`]: [`Session::send_body`], [`Session::finish_body`];
//! - time: [`Session::poll_timeout`], [`Session::handle_timeout`].

use crate::address::{Domain, Mailbox, ReversePath};
use crate::command::{BodyType, Notify, Ret};
use crate::reply::Reply;
use crate::sasl::Credentials;
use crate::time::{Duration, Instant};
use alloc::string::String;
use alloc::vec::Vec;

/// When to use TLS, and how much to insist on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Never STARTTLS.
    Disabled,
    /// STARTTLS when offered; go on in plaintext when not (RFC 7435).
    Opportunistic,
    /// STARTTLS must be offered and succeed before anything else is sent.
    Required,
    /// The connection is already TLS from its first byte (port 465, RFC 8314).
    Implicit,
}

/// Per-phase deadlines (RFC 5321 §4.5.3.2). Each applies to one command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for the 220 greeting (5 min).
    pub greeting: Duration,
    /// EHLO, HELO, STARTTLS, AUTH, RSET, NOOP (5 min, like MAIL).
    pub command: Duration,
    /// MAIL FROM (5 min).
    pub mail: Duration,
    /// Each RCPT TO (5 min).
    pub rcpt: Duration,
    /// DATA's 354 (2 min).
    pub data_initiation: Duration,
    /// Each write of body data to complete (3 min).
    pub data_block: Duration,
    /// The reply to the final `.` or BDAT LAST (10 min).
    pub data_termination: Duration,
    /// QUIT's reply (not in RFC 5321; short, since nothing depends on it).
    pub quit: Duration,
}

/// How a session should behave.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The name this client gives in EHLO/HELO.
    pub client_id: Domain,
    /// TLS policy.
    pub tls: TlsPolicy,
    /// Credentials for AUTH, if the session should authenticate.
    pub credentials: Option<Credentials>,
    /// Allow AUTH over a connection that is not TLS (off by default).
    pub allow_plaintext_auth: bool,
    /// Use PIPELINING when offered (on by default).
    pub pipelining: bool,
    /// Use BDAT when CHUNKING is offered (off by default).
    pub chunking: bool,
    /// Deadlines.
    pub timeouts: Timeouts,
}

/// DSN options for one transaction (RFC 3461), sent only when the server offers DSN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DsnOptions {
    /// RET=
    pub ret: Option<Ret>,
    /// ENVID=
    pub envid: Option<String>,
    /// NOTIFY= for every recipient.
    pub notify: Option<Notify>,
}

/// One message's envelope: who it is from, to whom, and what its body needs.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// MAIL FROM.
    pub from: ReversePath,
    /// One RCPT TO each.
    pub recipients: Vec<Mailbox>,
    /// The encoded message size, when known (SIZE=, and the refusal of messages that exceed
    /// the server's limit).
    pub size: Option<u64>,
    /// Whether the body has 8-bit octets.
    pub body: BodyType,
    /// Whether a header holds UTF-8 (the addresses are checked by the session).
    pub utf8_headers: bool,
    /// DSN options.
    pub dsn: DsnOptions,
}

/// Identifies a transaction handed to [`Session::send_mail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u64);

/// What happens next, told to the caller.
#[derive(Clone, Debug)]
pub enum Event {
    /// Start TLS on the connection now, then call [`Session::tls_established`].
    StartTls,
    /// Greeting, EHLO, TLS and AUTH are done: transactions go ahead from here.
    Established,
    /// A transaction ended; one outcome per recipient, in envelope order.
    TransactionDone(TransactionId, Vec<Outcome>),
    /// The session is over. `None` after a clean QUIT.
    Closed(Option<SessionError>),
}

/// Where one recipient of one transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server took responsibility (250 to the end of data).
    Delivered(Reply),
    /// Refused for good (5xx).
    Rejected(Failure),
    /// Not done this time (4xx, connection lost, timeout): try later.
    Deferred(Failure),
    /// The connection ended after the end of data and before its reply: the message may
    /// have been delivered (RFC 1047).
    Ambiguous(Failure),
}

/// Why a recipient did not get the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server's reply.
    Reply(Reply),
    /// The session ended first, for this reason.
    Session(SessionError),
    /// The message was refused locally before sending: larger than the server's SIZE.
    TooLarge {
        /// The message size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The body has 8-bit octets and the server does not offer 8BITMIME.
    EightBitUnsupported,
    /// An address or header needs SMTPUTF8 and the server does not offer it.
    Utf8Unsupported,
}

/// Why a session ended badly. Says who broke the protocol where someone did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// Placeholder until the session lands.
    Todo,
}

/// The caller used the API wrongly (h11's LocalProtocolError).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// Placeholder until the session lands.
    Todo,
}

/// One SMTP client session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
}

impl Session {
    /// A session for a connection that was just opened (for [`TlsPolicy::Implicit`], after the
    /// TLS handshake). The greeting deadline starts at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        todo!("{config:?} {now:?}")
    }

    /// Bytes received from the server.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        todo!("{} {now:?}", data.len())
    }

    /// The server closed the connection (or reading failed).
    pub fn handle_eof(&mut self, now: Instant) {
        todo!("{now:?}")
    }

    /// The deadline from [`Session::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        todo!("{now:?}")
    }

    /// When the session next needs [`Session::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Bytes waiting to be written to the server.
    pub fn pending_transmit(&self) -> &[u8] {
        todo!()
    }

    /// `n` bytes of [`Session::pending_transmit`] were written.
    pub fn advance_transmit(&mut self, n: usize) {
        todo!("{n}")
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        todo!()
    }

    /// TLS is up after [`Event::StartTls`]; the session re-sends EHLO.
    pub fn tls_established(&mut self, now: Instant) {
        todo!("{now:?}")
    }

    /// Queue a transaction. It starts when the session is established and earlier ones are done.
    pub fn send_mail(&mut self, envelope: Envelope, now: Instant) -> Result<TransactionId, UsageError> {
        todo!("{envelope:?} {now:?}")
    }

    /// True while the session wants more of the current message's body.
    pub fn wants_body(&self) -> bool {
        todo!()
    }

    /// The next piece of the current message's body (any size; the session encodes it).
    pub fn send_body(&mut self, chunk: &[u8], now: Instant) -> Result<(), UsageError> {
        todo!("{} {now:?}", chunk.len())
    }

    /// The current message's body is complete.
    pub fn finish_body(&mut self, now: Instant) -> Result<(), UsageError> {
        todo!("{now:?}")
    }

    /// Send QUIT once every queued transaction is done, then close.
    pub fn quit(&mut self, now: Instant) {
        todo!("{now:?}")
    }

    /// True once [`Event::Closed`] has been produced.
    pub fn is_closed(&self) -> bool {
        todo!()
    }

    /// The server's capabilities from its latest EHLO, once known.
    pub fn capabilities(&self) -> Option<&crate::capabilities::Capabilities> {
        todo!()
    }
}
