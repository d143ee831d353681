//! # mxsend-embedded: SMTP over `embedded-io-async`
//!
//! Sends mail through a relay over any transport that implements
//! [`embedded_io_async::Read`] + [`embedded_io_async::Write`]: embassy-net's `TcpSocket`, a
//! TLS stream from an embedded TLS stack over one, a UART bridge. `#![no_std]` with `alloc`,
//! no `unsafe`: the protocol is [`mxsend_core`]'s [`Session`], and this crate is only the loop
//! that moves its bytes and time, as the `mxsend` crate's adapters are for std runtimes.
//!
//! What is left to the caller, deliberately:
//! - **Connecting.** The transport comes connected to the relay (embassy-net:
//!   `TcpSocket::connect`). No DNS here: a device usually knows its relay's address, or has
//!   its own resolver (embassy-net's `dns_query`).
//! - **TLS.** Either the transport is already TLS from its first byte (port 465, RFC 8314:
//!   [`TlsPolicy::Implicit`]) or the session is plaintext ([`TlsPolicy::Disabled`]). STARTTLS
//!   would need this loop to swap the transport mid-session, so the policies that ask for it
//!   are refused before anything is sent ([`SendError::StartTlsUnsupported`]).
//! - **Time.** A [`Clock`]: the current instant and a timer (embassy-time's `Timer::at`,
//!   for instance). Every read and write is raced against the session's deadline for the
//!   command in flight (RFC 5321 §4.5.3.2).
//!
//! How the transport's results map onto the session (the same table as the core's
//! `examples/std_net.rs`): bytes read go to [`Session::handle_input`]; a read or write of 0
//! bytes, or an error, is the end of the connection ([`Session::handle_eof`]), except an
//! error of kind [`ErrorKind::TimedOut`], which is [`Session::handle_timeout`], as is the
//! timer winning the race. Bodies are read from any [`Read`] (a `&[u8]` is one) only while
//! the session wants more, in [`BODY_CHUNK`] pieces, so memory stays flat whatever the size.
//!
//! ```
//! # use embedded_io_async::{ErrorType, Read, Write};
//! use mxsend_core::address::{Domain, Mailbox, ReversePath};
//! use mxsend_core::command::BodyType;
//! use mxsend_core::session::{DsnOptions, Envelope, Outcome, SessionConfig, TlsPolicy};
//! use mxsend_core::time::Instant;
//! use mxsend_embedded::{send, Clock, Message};
//!
//! # // A server that answers each read with its next reply.
//! # struct Scripted<'a> { replies: &'a [&'a [u8]] }
//! # impl ErrorType for Scripted<'_> { type Error = core::convert::Infallible; }
//! # impl Read for Scripted<'_> {
//! #     async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
//! #         let Some((reply, rest)) = self.replies.split_first() else { return Ok(0) };
//! #         buf[..reply.len()].copy_from_slice(reply);
//! #         self.replies = rest;
//! #         Ok(reply.len())
//! #     }
//! # }
//! # impl Write for Scripted<'_> {
//! #     async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> { Ok(buf.len()) }
//! #     async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! # struct NoTime;
//! # impl Clock for NoTime {
//! #     fn now(&self) -> Instant { Instant::ZERO }
//! #     async fn sleep_until(&self, _: Instant) { core::future::pending().await }
//! # }
//! # let mut socket = Scripted { replies: &[b"220 relay\r\n", b"250 relay\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n", b"221 bye\r\n"] };
//! # let clock = NoTime;
//! // `socket`: connected to the relay (embassy-net: a TcpSocket); `clock`: embassy-time's.
//! let mut config = SessionConfig::new(Domain::parse("sensor-7.example.org").unwrap());
//! config.tls = TlsPolicy::Disabled;
//! let mut messages = [Message {
//!     envelope: Envelope {
//!         from: ReversePath::parse("sensor-7@example.org").unwrap(),
//!         recipients: vec![Mailbox::parse("ops@example.org").unwrap()],
//!         size: None,
//!         body: BodyType::SevenBit,
//!         utf8_headers: false,
//!         dsn: DsnOptions::default(),
//!     },
//!     body: &b"Subject: temperature\r\n\r\n41.5 C\r\n"[..],
//! }];
//! let report = embassy_futures::block_on(send(&mut socket, config, &mut messages, &clock))?;
//! assert!(matches!(report.outcomes[0][..], [Outcome::Delivered(_)]));
//! # Ok::<(), mxsend_embedded::SendError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::time::Duration;

use embassy_futures::select::{select, Either};
use embedded_io_async::{Error as _, ErrorKind, Read, Write};
use mxsend_core::session::{
    Envelope, Event, Outcome, Session, SessionConfig, SessionError, TlsPolicy, TransactionId,
    UsageError,
};
use mxsend_core::time::Instant;

/// How much of a body is read and handed to the session at a time.
pub const BODY_CHUNK: usize = 4 * 1024;

/// How much is read from the transport at a time.
const RECEIVE_CHUNK: usize = 2 * 1024;

/// How long the courtesy QUIT of a session that gave up may take to write.
const QUIT_COURTESY: Duration = Duration::from_secs(1);

/// The caller's time: the session's clock, and a timer to race the transport against.
pub trait Clock {
    /// Now, on a monotonic clock (any origin: only differences matter).
    fn now(&self) -> Instant;

    /// Complete at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()>;
}

/// One message: its envelope and its content (the RFC 5322 message, LF or CRLF line ends;
/// the session dot-stuffs it or frames it for BDAT).
#[derive(Debug)]
pub struct Message<B> {
    /// Sender, recipients, SIZE/BODY/SMTPUTF8/DSN.
    pub envelope: Envelope,
    /// The content, read once, from its first octet.
    pub body: B,
}

/// What happened to each message.
#[derive(Debug)]
pub struct Report {
    /// Per message, in order: one outcome per recipient, in envelope order (delivered,
    /// rejected, deferred or ambiguous, with the reply).
    pub outcomes: Vec<Vec<Outcome>>,
    /// Why the session ended, when it was not a clean QUIT.
    pub closed: Option<SessionError>,
    /// The message whose body could not be read (the session was then abandoned, and every
    /// unsettled recipient deferred), and the error's kind.
    pub body_error: Option<(usize, ErrorKind)>,
}

/// What stops the sending before anything goes out.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The configuration asks for STARTTLS ([`TlsPolicy::Opportunistic`] or
    /// [`TlsPolicy::Required`]), which needs the transport swapped mid-session: connect with
    /// TLS and use [`TlsPolicy::Implicit`], or use [`TlsPolicy::Disabled`].
    StartTlsUnsupported,
    /// The session refused message `index`'s envelope (no recipients, an address that does
    /// not encode, BINARYMIME without chunking).
    InvalidEnvelope {
        /// Which message.
        index: usize,
        /// Why.
        error: UsageError,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::StartTlsUnsupported => f.write_str(
                "STARTTLS is not supported over an embedded-io transport: \
                 connect with TLS (TlsPolicy::Implicit) or send in plaintext (TlsPolicy::Disabled)",
            ),
            SendError::InvalidEnvelope { index, error } => {
                write!(f, "message {index}: {error}")
            }
        }
    }
}

impl core::error::Error for SendError {}

/// Send `messages` through the relay at the other end of `transport`, over one session
/// (pipelined when the server offers PIPELINING), then QUIT. `config.tls` must be
/// [`TlsPolicy::Disabled`] or [`TlsPolicy::Implicit`] (see the crate docs). The transport is
/// left to the caller to close.
pub async fn send<T, B, C>(
    transport: &mut T,
    config: SessionConfig,
    messages: &mut [Message<B>],
    clock: &C,
) -> Result<Report, SendError>
where
    T: Read + Write,
    B: Read,
    C: Clock,
{
    if matches!(config.tls, TlsPolicy::Opportunistic | TlsPolicy::Required) {
        return Err(SendError::StartTlsUnsupported);
    }
    let mut session = Session::new(config, clock.now());
    let mut ids: Vec<TransactionId> = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let id = session
            .send_mail(message.envelope.clone(), clock.now())
            .map_err(|error| SendError::InvalidEnvelope { index, error })?;
        ids.push(id);
    }
    session.quit(clock.now());
    let mut pump = Pump {
        session,
        ids,
        report: Report {
            outcomes: messages.iter().map(|_| Vec::new()).collect(),
            closed: None,
            body_error: None,
        },
    };
    pump.run(transport, messages, clock).await;
    Ok(pump.report)
}

/// One session's loop state.
struct Pump {
    session: Session,
    /// The transaction id of each message, by index.
    ids: Vec<TransactionId>,
    report: Report,
}

impl Pump {
    async fn run<T, B, C>(&mut self, transport: &mut T, messages: &mut [Message<B>], clock: &C)
    where
        T: Read + Write,
        B: Read,
        C: Clock,
    {
        let mut input = vec![0u8; RECEIVE_CHUNK];
        let mut chunk = vec![0u8; BODY_CHUNK];
        loop {
            self.take_events(clock.now());
            if self.session.is_closed() {
                self.courtesy_quit(transport, clock).await;
                return;
            }
            if self.session.wants_body() {
                self.feed_body(messages, &mut chunk, clock).await;
            } else if !self.session.pending_transmit().is_empty() {
                self.write(transport, clock).await;
            } else {
                self.read(transport, &mut input, clock).await;
            }
        }
    }

    fn take_events(&mut self, now: Instant) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::TransactionDone(id) => {
                    // Lent by the session until the next poll_event: kept as owned outcomes.
                    let outcomes = self.session.outcomes(id).map(|o| o.to_vec());
                    if let (Some(slot), Some(outcomes)) = (
                        self.ids
                            .iter()
                            .position(|&t| t == id)
                            .and_then(|index| self.report.outcomes.get_mut(index)),
                        outcomes,
                    ) {
                        *slot = outcomes;
                    }
                }
                Event::Closed(error) => self.report.closed = error,
                // Refused up front for the policies that STARTTLS; a server cannot force it.
                Event::StartTls => self.session.tls_failed(
                    "STARTTLS is not supported over an embedded-io transport".into(),
                    now,
                ),
                Event::Established => {}
                _ => {}
            }
        }
    }

    /// The next piece of the body the session wants, from its message's reader.
    async fn feed_body<B: Read, C: Clock>(
        &mut self,
        messages: &mut [Message<B>],
        chunk: &mut [u8],
        clock: &C,
    ) {
        let index = self
            .session
            .body_transaction()
            .and_then(|id| self.ids.iter().position(|&t| t == id));
        let Some(message) = index.and_then(|i| messages.get_mut(i)) else {
            self.session.abort(clock.now());
            return;
        };
        let fed = match message.body.read(chunk).await {
            Ok(0) => self.session.finish_body(clock.now()),
            Ok(n) => {
                let piece = chunk.get(..n).unwrap_or_default();
                self.session.send_body(piece, clock.now())
            }
            Err(error) => {
                // A message cut short must never reach its end of data: abandon the session.
                self.report.body_error = index.map(|i| (i, error.kind()));
                self.session.abort(clock.now());
                return;
            }
        };
        // Only `BodyNotWanted` can come back, and `wants_body` was checked.
        if fed.is_err() {
            self.session.abort(clock.now());
        }
    }

    /// One write of everything pending, raced against the deadline; a flush once drained.
    async fn write<T: Write, C: Clock>(&mut self, transport: &mut T, clock: &C) {
        let deadline = self.session.poll_timeout();
        let written = race(
            transport.write(self.session.pending_transmit()),
            deadline,
            clock,
        )
        .await;
        match written {
            Some(Ok(0)) => self.session.handle_eof(clock.now()),
            Some(Ok(n)) => {
                self.session.advance_transmit(n);
                if self.session.pending_transmit().is_empty() {
                    match race(transport.flush(), deadline, clock).await {
                        Some(Ok(())) => {}
                        Some(Err(error)) => self.failed(error.kind(), clock),
                        None => self.session.handle_timeout(clock.now()),
                    }
                }
            }
            Some(Err(error)) => self.failed(error.kind(), clock),
            None => self.session.handle_timeout(clock.now()),
        }
    }

    /// One read, raced against the deadline.
    async fn read<T: Read, C: Clock>(&mut self, transport: &mut T, input: &mut [u8], clock: &C) {
        let deadline = self.session.poll_timeout();
        match race(transport.read(input), deadline, clock).await {
            Some(Ok(0)) => self.session.handle_eof(clock.now()),
            Some(Ok(n)) => {
                let bytes = input.get(..n).unwrap_or_default();
                self.session.handle_input(bytes, clock.now());
            }
            Some(Err(error)) => self.failed(error.kind(), clock),
            None => self.session.handle_timeout(clock.now()),
        }
    }

    /// A transport error: a timeout is the session's to judge, anything else ends the
    /// connection.
    fn failed<C: Clock>(&mut self, kind: ErrorKind, clock: &C) {
        match kind {
            ErrorKind::TimedOut => self.session.handle_timeout(clock.now()),
            _ => self.session.handle_eof(clock.now()),
        }
    }

    /// The QUIT a session queues when it gives up: one write, errors ignored.
    async fn courtesy_quit<T: Write, C: Clock>(&mut self, transport: &mut T, clock: &C) {
        let pending = self.session.pending_transmit();
        if pending.is_empty() {
            return;
        }
        let deadline = clock.now().saturating_add(QUIT_COURTESY);
        if let Some(Ok(_)) = race(transport.write(pending), Some(deadline), clock).await {
            let _ = race(transport.flush(), Some(deadline), clock).await;
        }
    }
}

/// `future`'s result, or `None` when `deadline` comes first (no deadline: wait for it).
async fn race<F: Future, C: Clock>(
    future: F,
    deadline: Option<Instant>,
    clock: &C,
) -> Option<F::Output> {
    match deadline {
        None => Some(future.await),
        Some(deadline) => match select(future, clock.sleep_until(deadline)).await {
            Either::First(output) => Some(output),
            Either::Second(()) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::address::{Domain, Mailbox, ReversePath};
    use mxsend_core::command::BodyType;
    use mxsend_core::session::DsnOptions;

    /// A transport that must never be used.
    struct Untouched;

    impl embedded_io_async::ErrorType for Untouched {
        type Error = core::convert::Infallible;
    }

    impl Read for Untouched {
        async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
            panic!("read before the policy was checked")
        }
    }

    impl Write for Untouched {
        async fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
            panic!("wrote before the policy was checked")
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            panic!("flushed before the policy was checked")
        }
    }

    struct Frozen;

    impl Clock for Frozen {
        fn now(&self) -> Instant {
            Instant::ZERO
        }
        async fn sleep_until(&self, _: Instant) {}
    }

    fn message() -> Message<&'static [u8]> {
        Message {
            envelope: Envelope {
                from: ReversePath::parse("a@example.org").unwrap(),
                recipients: vec![Mailbox::parse("b@example.org").unwrap()],
                size: None,
                body: BodyType::SevenBit,
                utf8_headers: false,
                dsn: DsnOptions::default(),
            },
            body: b"x",
        }
    }

    #[test]
    fn starttls_policies_are_refused_before_anything_is_sent() {
        for policy in [TlsPolicy::Opportunistic, TlsPolicy::Required] {
            let mut config = SessionConfig::new(Domain::parse("c.example").unwrap());
            config.tls = policy;
            let result =
                embassy_futures::block_on(send(&mut Untouched, config, &mut [message()], &Frozen));
            assert_eq!(result.unwrap_err(), SendError::StartTlsUnsupported);
        }
    }

    #[test]
    fn an_envelope_without_recipients_is_refused_naming_the_message() {
        let mut config = SessionConfig::new(Domain::parse("c.example").unwrap());
        config.tls = TlsPolicy::Disabled;
        let mut empty = message();
        empty.envelope.recipients.clear();
        let result = embassy_futures::block_on(send(
            &mut Untouched,
            config,
            &mut [message(), empty],
            &Frozen,
        ));
        assert_eq!(
            result.unwrap_err(),
            SendError::InvalidEnvelope {
                index: 1,
                error: UsageError::NoRecipients
            }
        );
    }
}
