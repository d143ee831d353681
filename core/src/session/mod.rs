//! One SMTP client session as a sans-IO state machine.
//!
//! RFC 5321 (the session), RFC 2920 (PIPELINING), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
//! RFC 3030 (CHUNKING/BINARYMIME), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531
//! (SMTPUTF8), RFC 3461 (DSN), RFC 2034 (enhanced codes).
//!
//! The caller owns the connection and the clock, and drives the session:
//! - bytes from the server: [`Session::handle_input`]; end of stream: [`Session::handle_eof`];
//! - bytes for the server: [`Session::pending_transmit`], then [`Session::advance_transmit`];
//! - events: [`Session::poll_event`] (TLS to start, session established, transaction
//!   results, close);
//! - message bodies, while [`Session::wants_body`]: [`Session::send_body`], then
//!   [`Session::finish_body`];
//! - time: [`Session::poll_timeout`] says when, [`Session::handle_timeout`] is called then.
//!
//! Every reply is matched against a queue of expected replies, one per command sent, so a
//! pipelined batch (MAIL, every RCPT, DATA in one write, RFC 2920 §3.1) is checked reply by
//! reply exactly like a lock-step one. The end of one message and the next MAIL/RCPT/DATA
//! share a write under PIPELINING (message content may be the first "command" of a group),
//! so a message can cost one round trip. When the server also offers CHUNKING, whole
//! transactions stream (MAIL, RCPT, BDAT LAST and the content, then the next one at once)
//! up to [`SessionConfig::window`], so a message costs no round trip of its own
//! ([`TransactionWindow`]).
//!
//! Security stance (RFC 3207 §4.2, §5):
//! - after STARTTLS's 220, any byte already received is a protocol error
//!   ([`SessionError::DataAfterStartTls`]): nothing is pipelined after STARTTLS, and the
//!   capabilities learned before TLS are discarded and asked for again over TLS;
//! - under [`TlsPolicy::Required`], a missing or refused STARTTLS ends the session before
//!   any AUTH, MAIL or message byte is sent (only QUIT goes out); HELO fallback is refused;
//! - AUTH never goes out without TLS unless [`SessionConfig::allow_plaintext_auth`].
//!
//! Replies are held to what RFC 5321 §4.3.2 lists: 220 greeting, 250 to MAIL, any 2yz to
//! RCPT (250, 251, 252: §4.2.1 has the client test the first digit), 354 to DATA and 250 to
//! the end of data. Anything else from the right class is a failure, never "positive
//! enough". 421 at any point ends the session and defers what is pending. A reply is taken
//! as the answer to a command only once that command has been handed to the transport: any
//! byte before (an unsolicited `250` right after the greeting) is a protocol violation
//! ([`SessionError::DataBeforeCommand`]), so replies can never be off by one.
//!
//! Recipients per transaction (RFC 5321 §4.5.3.1.8, §4.5.3.1.10): at most
//! [`RCPT_PER_TRANSACTION`] RCPTs go in one transaction (100, the minimum every server must
//! take) unless the server's LIMITS RCPTMAX says otherwise; recipients answered `452`
//! while others in the same transaction were accepted (the server's limit) and those not yet
//! sent go in further transactions on the same connection, with the body sent again. The
//! caller still gets one [`Event::TransactionDone`] per [`Session::send_mail`], with one
//! outcome per recipient in envelope order ([`Session::outcomes`]).
//!
//! Message content: with DATA, and BDAT without BINARYMIME, the content is checked as it is
//! handed over ([`crate::transparency::ContentScan`]): a NUL or a line over 998 octets
//! (RFC 5322 §2.3, §2.1.1) never goes on the wire; the transaction is abandoned instead. A
//! caller that cannot read the content ([`Session::body_failed`]) abandons it the same way.
//! An abandoned BDAT transaction is reset with RSET and the session goes on; after DATA's
//! 354 every octet is content, so the session closes without another byte (and the
//! transactions after it are deferred, for the caller to send on a new connection).
//!
//! Outcomes: each recipient of each transaction ends exactly once as delivered, rejected,
//! deferred or ambiguous ([`Outcome`]). [`Event::TransactionDone`] names the transaction;
//! [`Session::outcomes`] lends its outcomes, each with its recipient's index in the envelope
//! ([`RecipientOutcome`]), until the next [`Session::poll_event`] (`settled.rs`: how that
//! keeps a transaction whose recipients are all accepted free of heap allocations). Ambiguous means the final `.` (or BDAT LAST) was
//! fully handed to the transport and its reply never came (RFC 1047): the message may have
//! been delivered, and retrying could duplicate it. Rejected and deferred follow one rule: a
//! reply's first digit (5 rejects, 4 defers), and for a session that ended,
//! [`SessionError::is_permanent`].
//!
//! Deliberate deviations: VRFY, EXPN, ETRN, TURN and SEND/SOML/SAML are not spoken; a 2yz
//! reply to the end of data other than 250 is reported as ambiguous rather than delivered.

mod envelope;
mod error;
mod idle;
mod labels;
mod lmtp;
mod outcome;
mod settled;
mod timeouts;
mod transitions;
mod window;

pub use envelope::encoded_size;
pub use error::{Phase, SessionError, UsageError};
pub use labels::{TransmitLabel, TransmitSpan, TransmitSpans};
pub use lmtp::Protocol;
pub use settled::{OutcomeRef, Outcomes, RecipientOutcome};
pub use window::TransactionWindow;

use crate::transparency::{ContentError, ContentScan};
use settled::{Buffers, Settled, Verdict};

use crate::address::{Domain, Mailbox, ReversePath};
use crate::command::{BodyType, Notify, Ret};
use crate::reply::{Reply, ReplyParser, StatusRef};
use crate::sasl::{Credentials, ScramSetup};
use crate::time::{Duration, Instant};
use alloc::string::String;
use alloc::vec::Vec;

/// When to use TLS, and how much to insist on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Use BDAT for every message when CHUNKING is offered (off by default; streamed
    /// transactions and BINARYMIME bodies use it anyway).
    pub chunking: bool,
    /// How many transactions may be in flight when the server offers CHUNKING and
    /// PIPELINING ([`TransactionWindow::DEFAULT`]; [`TransactionWindow::OFF`] for one round
    /// trip per message).
    pub window: TransactionWindow,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// SMTP, or LMTP (RFC 2033) to a delivery agent.
    pub protocol: Protocol,
    /// Hash functions and a nonce for SCRAM-SHA-256 (preferred over PLAIN when offered);
    /// without them SCRAM is never chosen.
    pub scram: Option<ScramSetup>,
    /// REQUIRETLS (RFC 8689 §4.2.1): every transaction carries the `REQUIRETLS` MAIL
    /// parameter, and goes out only when the session is on TLS whose certificate the caller
    /// verified ([`TlsPolicy::Required`] or [`TlsPolicy::Implicit`]) and the server offers
    /// REQUIRETLS there; otherwise it ends in [`Failure::RequireTlsUnavailable`] before MAIL.
    pub require_tls: bool,
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
#[non_exhaustive]
pub enum Event {
    /// Start TLS on the connection now, then call [`Session::tls_established`].
    StartTls,
    /// Greeting, EHLO, TLS and AUTH are done: transactions go ahead from here.
    Established,
    /// A transaction ended: [`Session::outcomes`] has one outcome per recipient, in envelope
    /// order, until the next [`Session::poll_event`].
    TransactionDone(TransactionId),
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
#[non_exhaustive]
pub enum Failure {
    /// The server's reply about this recipient (to RCPT, DATA, the end of data).
    Reply(Reply),
    /// The server refused MAIL FROM with this reply: an answer about the whole transaction
    /// (the sender, or the server's state), not about the recipient.
    SenderRefused(Reply),
    /// No server answered at all (no route, no connection, the TLS handshake failed), so
    /// there is no reply: the adapters' report says why.
    Unreached,
    /// The message content did not go out: the caller's content, not the server.
    Body(BodyError),
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
    /// The body is BINARYMIME and the server does not offer BINARYMIME with CHUNKING.
    BinaryUnsupported,
    /// REQUIRETLS was asked ([`SessionConfig::require_tls`]) and this server does not offer
    /// it over verified TLS: the message was not sent to it (RFC 8689 §4.2.1). Another MX
    /// host may do; when none does, the message is undeliverable (5.7.30).
    RequireTlsUnavailable {
        /// The session was on TLS with a certificate the caller verified.
        verified_tls: bool,
        /// The server offered REQUIRETLS.
        offered: bool,
    },
}

/// Why a message's content did not go out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The content cannot go out as text (a NUL, a line over 998 octets): refused for
    /// good.
    Content(ContentError),
    /// The caller could not read it, in its words (a file removed, a pipe error, a reader
    /// that stalled past the deadline): deferred.
    Unreadable(String),
}

impl core::fmt::Display for BodyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BodyError::Content(e) => write!(f, "{e}"),
            BodyError::Unreadable(why) => write!(f, "cannot read the message content: {why}"),
        }
    }
}

impl Failure {
    /// The server's reply, where there is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Failure::Reply(reply) | Failure::SenderRefused(reply) => Some(reply),
            Failure::Session(error) => error.reply(),
            _ => None,
        }
    }
}

impl Default for Timeouts {
    /// The RFC 5321 §4.5.3.2 values.
    fn default() -> Timeouts {
        Timeouts {
            greeting: Duration::from_secs(5 * 60),
            command: Duration::from_secs(5 * 60),
            mail: Duration::from_secs(5 * 60),
            rcpt: Duration::from_secs(5 * 60),
            data_initiation: Duration::from_secs(2 * 60),
            data_block: Duration::from_secs(3 * 60),
            data_termination: Duration::from_secs(10 * 60),
            quit: Duration::from_secs(30),
        }
    }
}

impl SessionConfig {
    /// A configuration with the defaults: opportunistic TLS, no AUTH, PIPELINING used,
    /// transactions streamed when CHUNKING is offered too, RFC 5321 timeouts.
    pub fn new(client_id: Domain) -> SessionConfig {
        SessionConfig {
            client_id,
            tls: TlsPolicy::Opportunistic,
            credentials: None,
            allow_plaintext_auth: false,
            pipelining: true,
            chunking: false,
            window: TransactionWindow::DEFAULT,
            timeouts: Timeouts::default(),
            protocol: Protocol::Smtp,
            scram: None,
            require_tls: false,
        }
    }
}

/// Most body octets buffered for transmission before the session stops asking for more:
/// the watermark that keeps memory flat whatever the message size.
pub const BODY_WATERMARK: usize = 64 * 1024;

/// Most RCPTs in one transaction when the server states no limit: the 100 that RFC 5321
/// §4.5.3.1.8 has every server accept.
pub const RCPT_PER_TRANSACTION: usize = 100;

/// Smallest BDAT chunk sent before the end of a message (RFC 3030 sets no size; this keeps
/// the command overhead negligible while staying well under [`BODY_WATERMARK`]).
pub const BDAT_CHUNK: usize = 16 * 1024;

/// What the next reply from the server will answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail(TransactionId),
    Rcpt(TransactionId, usize),
    Data(TransactionId),
    /// The reply to the final `.`; `end` is the transmit offset just after it.
    DataEnd(TransactionId, u64),
    /// The reply to a BDAT chunk; `end` as for `DataEnd`.
    Bdat(TransactionId, bool, u64),
    /// LMTP: the reply for recipient `index` (in envelope order) after the end of data
    /// (RFC 2033 §4.2); one per recipient accepted at RCPT. `end` as for `DataEnd`.
    LmtpDataEnd(TransactionId, usize, u64),
    /// The reply to a `.` that ended an empty DATA after every recipient failed.
    DiscardedData,
    Rset,
    Quit,
}

/// Where the session stands, outside of transactions.
#[derive(Debug)]
enum State {
    /// Greeting, EHLO/HELO, STARTTLS, AUTH: see the expectation queue.
    Opening,
    /// Waiting for the caller's TLS handshake.
    TlsHandshake,
    /// An AUTH exchange is running.
    Authenticating(AuthState),
    /// Transactions may run.
    Established,
    /// QUIT sent.
    Quitting,
    /// Over.
    Closed,
}

struct AuthState {
    client: crate::sasl::SaslClient,
    /// The initial response, when it did not fit on the AUTH line and waits for the first 334.
    deferred_initial: Option<Vec<u8>>,
    /// The exchange was cancelled with `*` for this reason; the server's reply (501) ends it.
    cancelled: Option<crate::sasl::SaslError>,
}

impl core::fmt::Debug for AuthState {
    /// Names the mechanism only: the exchange holds secrets.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthState")
            .field("mechanism", self.client.mechanism())
            .finish_non_exhaustive()
    }
}

/// Where one recipient stands inside a running transaction.
#[derive(Clone, Debug)]
enum RecipientState {
    Pending,
    Accepted,
    /// Settled: delivered (the reply kept in the transaction's text buffer) or otherwise.
    Done(Verdict),
    /// Answered 452 (too many recipients, RFC 5321 §4.5.3.1.10): sent again in a later
    /// transaction if another recipient of this one was accepted, else settled so.
    TooMany(Outcome),
    /// Not sent in this transaction: over the per-transaction limit, for a later one.
    Later,
}

/// Where a running transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// MAIL, RCPT and DATA (or the wait before BDAT) are under way.
    Commands,
    /// The caller is handing over the body.
    Body,
    /// The whole message is sent; waiting for the final reply.
    Finishing,
}

#[derive(Debug)]
struct Transaction {
    id: TransactionId,
    envelope: Envelope,
    stage: Stage,
    recipients: Vec<RecipientState>,
    /// Set when MAIL, DATA or a BDAT chunk failed, or the end of data was answered: every
    /// recipient not yet decided gets this.
    failed: Option<Verdict>,
    /// The text of the replies kept in `recipients` and `failed` ([`settled::KeptReply`]).
    text: String,
    /// BDAT framing (CHUNKING) rather than DATA.
    chunked: bool,
    /// BINARYMIME: the body goes out untouched.
    binary: bool,
    /// RCPT replies still awaited (BDAT waits for all of them before the first chunk, unless
    /// the transaction is streamed).
    rcpt_outstanding: usize,
    /// Streamed ([`TransactionWindow`]): the content went out without waiting for the RCPT
    /// replies; the reply to BDAT decides a transaction whose recipients were all refused.
    streamed: bool,
    /// The transmit offset where the transaction's first command starts (for the window's
    /// octets in flight).
    start: u64,
    /// How many recipients, from the first, go in this SMTP transaction.
    round: usize,
    /// For a later transaction of a split one: each recipient's index in the caller's
    /// envelope (`None`: the envelope is the caller's).
    origin: Option<Vec<usize>>,
}

/// A caller's transaction that went out as several SMTP transactions: the caller's
/// envelope and the outcomes settled so far, by the caller's recipient index
/// ([`RecipientState::Done`] once settled, [`RecipientState::Pending`] until then).
#[derive(Debug)]
struct Split {
    id: TransactionId,
    envelope: Envelope,
    recipients: Vec<RecipientState>,
    text: String,
}

/// One SMTP client session: the caller moves bytes and time, the session decides (see the
/// module docs).
///
/// ```
/// use mxsend_core::address::{Domain, Mailbox, ReversePath};
/// use mxsend_core::session::{Envelope, Event, Session, SessionConfig, TlsPolicy};
/// use mxsend_core::time::Instant;
///
/// let mut config = SessionConfig::new(Domain::parse("client.example")?);
/// config.tls = TlsPolicy::Disabled;
/// let now = Instant::ZERO; // the caller's monotonic clock
/// let mut session = Session::new(config, now);
/// let to = ["bob@example.test", "eve@example.test"].map(|r| Mailbox::parse(r).unwrap());
/// let id = session.send_mail(Envelope::new(ReversePath::parse("alice@example.org")?, to), now)?;
/// session.quit(now);
///
/// // A server, scripted: what it says after each write of the client's.
/// let mut server = [
///     &b"220 mx.example.test ESMTP\r\n"[..],
///     b"250-mx.example.test\r\n250 PIPELINING\r\n",
///     b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 unknown user\r\n354 go ahead\r\n",
///     b"250 2.0.0 queued as 4F2A\r\n221 2.0.0 bye\r\n",
/// ]
/// .into_iter();
/// let mut wire = Vec::new();
/// let mut report = Vec::new();
/// loop {
///     // Events first: a finished transaction lends its outcomes until the next poll.
///     while let Some(event) = session.poll_event() {
///         if let Event::TransactionDone(done) = event {
///             for o in session.outcomes(done).into_iter().flatten() {
///                 report.push(format!("{} {}", o.recipient, o.outcome));
///             }
///         }
///     }
///     if session.is_closed() {
///         break;
///     }
///     if session.wants_body() {
///         session.send_body(b"Subject: hi\n\nhello\n", now)?;
///         session.finish_body(now)?;
///     }
///     // Write everything pending (a socket would take part of it and say how much) ...
///     let pending = session.pending_transmit();
///     wire.extend_from_slice(pending);
///     let written = pending.len();
///     session.advance_transmit(written);
///     // ... then read (here: the script; end of stream when it is over).
///     match server.next() {
///         Some(bytes) => session.handle_input(bytes, now),
///         None => session.handle_eof(now),
///     }
/// }
/// assert_eq!(
///     report,
///     [
///         "bob@example.test delivered: 250 2.0.0 queued as 4F2A",
///         "eve@example.test rejected: 550 5.1.1 unknown user",
///     ]
/// );
/// assert!(String::from_utf8(wire)?.ends_with(".\r\nQUIT\r\n"));
/// # let _ = id;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    /// TLS is up (STARTTLS done, or implicit).
    secure: bool,
    capabilities: Option<crate::capabilities::Capabilities>,
    parser: ReplyParser,
    expect: alloc::collections::VecDeque<Expect>,
    /// When the reply to the front of `expect` (or the TLS handshake, or body progress) is due.
    deadline: Option<(Instant, Phase)>,
    transmit: Vec<u8>,
    /// Offset in `transmit` of the first byte not yet written.
    transmit_start: usize,
    /// Bytes ever handed to the caller's transport (advanced).
    transmitted: u64,
    /// Which pending bytes are content or secrets ([`Session::pending_transmit_spans`]).
    labels: labels::Labels,
    events: alloc::collections::VecDeque<Event>,
    queued: alloc::collections::VecDeque<(TransactionId, Envelope)>,
    /// The recipients of split transactions still to send (envelope, caller's indices);
    /// they go before `queued`.
    continuations: alloc::collections::VecDeque<(TransactionId, Envelope, Vec<usize>)>,
    splits: Vec<Split>,
    running: alloc::collections::VecDeque<Transaction>,
    /// For each reply awaited in `expect`, the transmit offset just after its command: a
    /// reply before that octet was handed over answers nothing.
    expect_after: alloc::collections::VecDeque<u64>,
    /// The checks on the current body ([`ContentScan`]).
    content: ContentScan,
    /// The transmit offset where the current DATA body starts.
    body_start: u64,
    encoder: crate::transparency::DataEncoder,
    next_id: u64,
    quit_requested: bool,
    /// Scratch space for BDAT chunks (reused, so steady state does not allocate).
    scratch: Vec<u8>,
    /// Ended transactions whose outcomes the caller may still borrow, in event order.
    settled: alloc::collections::VecDeque<Settled>,
    /// The transaction whose [`Event::TransactionDone`] `poll_event` returned last: its
    /// outcomes are released at the next call.
    handed_out: Option<TransactionId>,
    /// Per-transaction buffers to reuse.
    pool: Vec<Buffers>,
}

impl Session {
    /// A session for a connection that was just opened (for [`TlsPolicy::Implicit`], after the
    /// TLS handshake). The greeting deadline starts at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let secure = config.tls == TlsPolicy::Implicit;
        let mut session = Session {
            state: State::Opening,
            secure,
            capabilities: None,
            parser: ReplyParser::new(),
            expect: alloc::collections::VecDeque::new(),
            deadline: None,
            transmit: Vec::new(),
            transmit_start: 0,
            transmitted: 0,
            labels: labels::Labels::default(),
            events: alloc::collections::VecDeque::new(),
            queued: alloc::collections::VecDeque::new(),
            continuations: alloc::collections::VecDeque::new(),
            splits: Vec::new(),
            running: alloc::collections::VecDeque::new(),
            expect_after: alloc::collections::VecDeque::new(),
            content: ContentScan::new(),
            body_start: 0,
            encoder: crate::transparency::DataEncoder::new(crate::transparency::Framing::Data),
            next_id: 0,
            quit_requested: false,
            scratch: Vec::new(),
            settled: alloc::collections::VecDeque::new(),
            handed_out: None,
            pool: Vec::new(),
            config,
        };
        session.expect_reply(Expect::Greeting, now);
        session
    }

    /// Bytes received from the server, in any split.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        // The parser is taken out while its borrowed replies are handled (they point into
        // its buffer, and the transitions need the whole session); an empty parser costs
        // no allocation, and none of the transitions uses it.
        let mut parser = core::mem::take(&mut self.parser);
        self.parse_replies(&mut parser, data, now);
        self.parser = parser;
    }

    fn parse_replies(&mut self, parser: &mut ReplyParser, data: &[u8], now: Instant) {
        let mut rest = data;
        loop {
            match self.state {
                State::Closed => return,
                State::TlsHandshake => {
                    // Anything arriving before the caller reports TLS up is plaintext the
                    // server (or an attacker in the path) sent after the 220.
                    if !rest.is_empty() {
                        self.fail(SessionError::DataAfterStartTls, now, false);
                    }
                    return;
                }
                _ => {}
            }
            if rest.is_empty() {
                return;
            }
            if self
                .expect_after
                .front()
                .is_some_and(|&end| self.transmitted < end)
            {
                // Bytes before the command they would answer was sent: no further command
                // goes out (a line already begun is finished, so nothing is left cut).
                let phase = self.current_phase();
                self.keep_only_the_line_begun();
                self.fail(SessionError::DataBeforeCommand(phase), now, false);
                return;
            }
            match parser.parse_ref(rest) {
                Ok(StatusRef::Partial) => return,
                Ok(StatusRef::Complete(reply, used)) => {
                    rest = rest.get(used..).unwrap_or(&[]);
                    self.on_reply(reply, now);
                    if matches!(self.state, State::TlsHandshake)
                        && (!rest.is_empty() || !parser.is_idle())
                    {
                        self.fail(SessionError::DataAfterStartTls, now, false);
                        return;
                    }
                }
                Err(e) => {
                    self.fail(SessionError::MalformedReply(e), now, true);
                    return;
                }
            }
        }
    }

    /// Drop what waits to be written, except the rest of a command line whose start was
    /// already handed over.
    fn keep_only_the_line_begun(&mut self) {
        let start = self.transmit_start;
        let mid_line = start > 0 && self.transmit.get(start - 1) != Some(&b'\n');
        let keep = match self.transmit.get(start..) {
            Some(pending) if mid_line => pending
                .iter()
                .position(|&b| b == b'\n')
                .map_or(pending.len(), |lf| lf + 1),
            _ => 0,
        };
        self.transmit.truncate(start + keep);
        self.labels.truncate(self.transmit_end());
    }

    /// The server closed the connection (or reading from it failed).
    pub fn handle_eof(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Quitting if self.only_quit_pending() => self.close(None),
            _ => {
                let phase = self.current_phase();
                self.fail(SessionError::ConnectionClosed(phase), now, false);
            }
        }
    }

    /// The deadline from [`Session::poll_timeout`] may have passed; does nothing if it has not.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((at, phase)) = self.deadline {
            if now >= at && !matches!(self.state, State::Closed) {
                if matches!(self.state, State::Quitting) && self.only_quit_pending() {
                    self.close(None);
                } else {
                    self.fail(SessionError::Timeout(phase), now, false);
                }
            }
        }
    }

    /// When the session next needs [`Session::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            _ => self.deadline.map(|(at, _)| at),
        }
    }

    /// Bytes waiting to be written to the server. After [`Event::Closed`] this may still hold
    /// a final QUIT, which the caller may write on a best-effort basis.
    pub fn pending_transmit(&self) -> &[u8] {
        self.transmit.get(self.transmit_start..).unwrap_or(&[])
    }

    /// What the bytes of [`Session::pending_transmit`] are, span by span: command lines,
    /// message content, secrets (a SASL response, the initial response on an `AUTH` line).
    /// A transcript shows commands, abbreviates content and redacts secrets by these labels,
    /// without parsing SMTP. The spans cover exactly the pending bytes, in order; after
    /// [`Session::advance_transmit`] they describe what is left.
    ///
    /// ```
    /// use mxsend_core::session::{TransmitLabel, TransmitSpan};
    /// # use mxsend_core::{address::Domain, session::{Session, SessionConfig}, time::Instant};
    /// # let mut session = Session::new(SessionConfig::new(Domain::parse("client.example")?), Instant::ZERO);
    /// # session.handle_input(b"220 mx.example ESMTP\r\n", Instant::ZERO);
    /// let pending = session.pending_transmit(); // EHLO client.example
    /// let spans: Vec<TransmitSpan> = session.pending_transmit_spans().collect();
    /// assert_eq!(spans, [TransmitSpan { label: TransmitLabel::Command, len: pending.len() }]);
    /// # Ok::<(), mxsend_core::address::AddressError>(())
    /// ```
    pub fn pending_transmit_spans(&self) -> TransmitSpans<'_> {
        self.labels.spans(self.transmitted, self.transmit_end())
    }

    /// `n` bytes of [`Session::pending_transmit`] were written (more than are pending is
    /// taken as all of them).
    pub fn advance_transmit(&mut self, n: usize) {
        let n = n.min(self.transmit.len() - self.transmit_start);
        self.transmit_start += n;
        self.transmitted += n as u64;
        self.labels.written(self.transmitted);
        if self.transmit_start == self.transmit.len() {
            self.transmit.clear();
            self.transmit_start = 0;
        } else if self.transmit_start > BODY_WATERMARK
            && self.transmit_start * 2 > self.transmit.len()
        {
            self.transmit.drain(..self.transmit_start);
            self.transmit_start = 0;
        }
    }

    /// The next event, if any. The outcomes lent for the event it returned last, if that was
    /// an [`Event::TransactionDone`], are released ([`Session::outcomes`]).
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(id) = self.handed_out.take() {
            self.release_settled(id);
        }
        let event = self.events.pop_front()?;
        if let Event::TransactionDone(id) = event {
            self.handed_out = Some(id);
        }
        Some(event)
    }

    /// TLS is up after [`Event::StartTls`]; the session sends EHLO again and forgets what it
    /// learned before TLS (RFC 3207 §4.2).
    pub fn tls_established(&mut self, now: Instant) {
        if matches!(self.state, State::TlsHandshake) {
            self.secure = true;
            self.capabilities = None;
            self.state = State::Opening;
            self.deadline = None;
            self.send_hello(Expect::Ehlo, now);
        }
    }

    /// The TLS handshake after [`Event::StartTls`] failed: the session ends with
    /// [`SessionError::TlsHandshake`] and every open transaction is deferred. Nothing more is
    /// sent (the connection is in an unknown state).
    pub fn tls_failed(&mut self, reason: String, now: Instant) {
        if matches!(self.state, State::TlsHandshake) {
            self.fail(SessionError::TlsHandshake(reason), now, false);
        }
    }

    /// Abandon the session now, for instance when the message body cannot be read: every
    /// open transaction is deferred (a message cut short must never reach its end of data),
    /// [`Event::Closed`] carries [`SessionError::Aborted`], and nothing more is sent. The
    /// caller closes the connection.
    pub fn abort(&mut self, now: Instant) {
        if !matches!(self.state, State::Closed) {
            self.transmit.clear();
            self.transmit_start = 0;
            self.labels.clear();
            self.fail(SessionError::Aborted, now, false);
        }
    }

    /// Queue a transaction. It starts once the session is established and the transactions
    /// before it have gone out. The envelope is checked now: it must have recipients and
    /// encode as commands.
    pub fn send_mail(
        &mut self,
        envelope: Envelope,
        now: Instant,
    ) -> Result<TransactionId, UsageError> {
        if self.quit_requested || matches!(self.state, State::Closed | State::Quitting) {
            return Err(UsageError::Closed);
        }
        if envelope.recipients.is_empty() {
            return Err(UsageError::NoRecipients);
        }
        // BINARYMIME goes only with BDAT, which the transaction then uses whatever the
        // configuration says (RFC 3030 §3); a server without CHUNKING refuses it locally.
        // Encode once with every parameter the server could ask for, so that no command
        // can fail to encode once the transaction starts.
        // The probe lands in the reused scratch buffer: nothing is kept from it, and a
        // fresh vector here cost allocations on every transaction.
        let mut probe = core::mem::take(&mut self.scratch);
        probe.clear();
        let caps = crate::capabilities::Capabilities {
            size: Some(0),
            eight_bit_mime: true,
            smtputf8: true,
            dsn: true,
            ..Default::default()
        };
        let (mail, rcpt) = transitions::parameters(&envelope, &caps);
        let checked = crate::command::encode(
            &crate::command::Command::Mail(&envelope.from, &mail),
            &mut probe,
        )
        .and_then(|()| {
            envelope.recipients.iter().try_for_each(|to| {
                probe.clear();
                crate::command::encode(&crate::command::Command::Rcpt(to, &rcpt), &mut probe)
            })
        });
        probe.clear();
        self.scratch = probe;
        checked.map_err(UsageError::InvalidEnvelope)?;
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        self.queued.push_back((id, envelope));
        self.advance(now);
        Ok(id)
    }

    /// True while the session wants more of the current message's body: a message is being
    /// sent and less than [`BODY_WATERMARK`] octets wait for the transport.
    pub fn wants_body(&self) -> bool {
        let Some(tx) = self.running.iter().find(|t| t.stage == Stage::Body) else {
            return false;
        };
        if self.pending_transmit().len() >= BODY_WATERMARK {
            return false;
        }
        // Without PIPELINING, each BDAT chunk waits for its reply.
        !(tx.chunked
            && !self.pipelining()
            && self.expect.iter().any(|e| matches!(e, Expect::Bdat(..))))
    }

    /// The transaction whose body [`Session::wants_body`] asks for (also while the
    /// watermark holds it back).
    pub fn body_transaction(&self) -> Option<TransactionId> {
        self.running
            .iter()
            .find(|t| t.stage == Stage::Body)
            .map(|t| t.id)
    }

    /// The next piece of the current message's body, any size; the session encodes it
    /// (CRLF normalisation and dot-stuffing, or BDAT framing).
    pub fn send_body(&mut self, chunk: &[u8], now: Instant) -> Result<(), UsageError> {
        let Some(index) = self.running.iter().position(|t| t.stage == Stage::Body) else {
            return Err(UsageError::BodyNotWanted);
        };
        let (chunked, binary, id) = {
            let tx = &self.running[index];
            (tx.chunked, tx.binary, tx.id)
        };
        if !binary {
            if let Err(e) = self.content.push(chunk) {
                self.abandon_body(BodyError::Content(e), now);
                return Err(UsageError::Content(e));
            }
        }
        if chunked {
            // Small pieces are gathered into chunks of at least BDAT_CHUNK octets, so a
            // caller handing over a byte at a time does not cost a BDAT command per byte.
            if binary {
                self.scratch.extend_from_slice(chunk);
            } else {
                self.encoder.encode(chunk, &mut self.scratch);
            }
            if self.scratch.len() >= BDAT_CHUNK {
                self.send_bdat_chunk(id, false, now);
            }
        } else {
            let start = self.transmit_end();
            self.encoder.encode(chunk, &mut self.transmit);
            self.labels
                .mark(start, self.transmit_end(), TransmitLabel::Content);
        }
        self.body_progress(now);
        Ok(())
    }

    /// The current message's body is complete: the end of data goes out, and with
    /// PIPELINING the next transaction's commands follow in the same write.
    pub fn finish_body(&mut self, now: Instant) -> Result<(), UsageError> {
        let Some(index) = self.running.iter().position(|t| t.stage == Stage::Body) else {
            return Err(UsageError::BodyNotWanted);
        };
        let (chunked, binary, id) = {
            let tx = &mut self.running[index];
            tx.stage = Stage::Finishing;
            (tx.chunked, tx.binary, tx.id)
        };
        if chunked {
            if !binary {
                self.encoder.finish(&mut self.scratch);
            }
            self.send_bdat_chunk(id, true, now);
        } else {
            let start = self.transmit_end();
            self.encoder.finish(&mut self.transmit);
            let end = self.transmit_end();
            // The CRLF that ends an unfinished last line is content; the final `.` is not.
            let dot = crate::transparency::END_OF_DATA.len() as u64;
            self.labels
                .mark(start, end.saturating_sub(dot), TransmitLabel::Content);
            if self.config.protocol == Protocol::Lmtp {
                self.expect_lmtp_replies(id, end, now);
            } else {
                self.expect_reply(Expect::DataEnd(id, end), now);
            }
        }
        self.encoder = crate::transparency::DataEncoder::new(crate::transparency::Framing::Data);
        self.advance(now);
        Ok(())
    }

    /// The current message's content cannot be read (`reason`, in the caller's words): its
    /// recipients are deferred with [`BodyError::Unreadable`] and nothing of it is
    /// completed. Under BDAT the transaction is reset and the session goes on; after DATA's
    /// 354 the session closes without another byte, and the transactions after it are
    /// deferred with [`SessionError::Aborted`] (send them on a new connection).
    pub fn body_failed(&mut self, reason: String, now: Instant) {
        self.abandon_body(BodyError::Unreadable(reason), now);
    }

    /// Send QUIT once every queued transaction is done, then close.
    pub fn quit(&mut self, now: Instant) {
        self.quit_requested = true;
        self.advance(now);
    }

    /// True once [`Event::Closed`] has been produced.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// True once greeting, EHLO, TLS and AUTH are done and transactions can run.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// True when the connection is protected by TLS (STARTTLS done, or implicit).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The server's capabilities from its latest EHLO, once known.
    pub fn capabilities(&self) -> Option<&crate::capabilities::Capabilities> {
        self.capabilities.as_ref()
    }
}

#[cfg(test)]
mod tests;
