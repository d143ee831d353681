//! The core alone over a real socket: one message sent with `std::net` and nothing else from
//! mxsend (no adapters crate), to show how an I/O loop maps onto the [`Session`]'s calls.
//!
//! ```sh
//! cargo run -p mxsend-core --example std_net -- 127.0.0.1:2525 alice@example.org bob@example.net
//! ```
//!
//! The mapping, which every runtime's loop follows (the `mxsend` crate's adapters do exactly
//! this, with TLS, DNS and fallback around it):
//!
//! | what the socket says | what the session is told |
//! |---|---|
//! | bytes read | [`Session::handle_input`] (any split: the session buffers partial replies) |
//! | a read of 0 bytes (end of stream) | [`Session::handle_eof`]: open transactions end deferred, or ambiguous after the end of data |
//! | a read or write error (reset, broken pipe) | [`Session::handle_eof`] too: the connection is gone either way |
//! | a write of `n` bytes | [`Session::advance_transmit`]`(n)`; a write of 0 is the end of stream |
//! | the read deadline passes | [`Session::handle_timeout`]; the deadline is [`Session::poll_timeout`], set per command (RFC 5321 §4.5.3.2) |
//!
//! Body bytes go in only while [`Session::wants_body`] says so (a 64 KiB watermark), so memory
//! stays flat for any size; STARTTLS is refused here ([`TlsPolicy::Disabled`]): a loop with a
//! TLS stack answers [`Event::StartTls`] with [`Session::tls_established`] after its handshake.
//!
//! The test `tests/tests/core_example.rs` runs [`send`] against smtp-sink.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::session::{
    DsnOptions, Envelope, Event, Outcome, Session, SessionConfig, SessionError, Timeouts, TlsPolicy,
};
use mxsend_core::time::Instant;

/// How much of the body is handed to the session at a time.
const BODY_CHUNK: usize = 64 * 1024;

/// How a session ended: the outcome of each recipient, and why it closed (`None`: a clean
/// QUIT).
#[derive(Debug)]
pub struct Sent {
    /// One outcome per recipient, in envelope order.
    pub outcomes: Vec<Outcome>,
    /// Why the session closed, when it was not a clean QUIT.
    pub error: Option<SessionError>,
}

/// The core's clock is whatever the caller says: here, microseconds since the session began.
struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// How long until `deadline` (zero if it has passed).
    fn until(&self, deadline: Instant) -> StdDuration {
        deadline.saturating_duration_since(self.now())
    }
}

/// Send `body` from `from` to `to` through the server at `server`, in plaintext. Every
/// command's reply is awaited for at most `timeout`.
pub fn send(
    server: SocketAddr,
    from: ReversePath,
    to: Vec<Mailbox>,
    body: &[u8],
    timeout: StdDuration,
) -> io::Result<Sent> {
    let stream = TcpStream::connect_timeout(&server, timeout)?;
    // The session already coalesces its writes: Nagle's algorithm would only delay them.
    stream.set_nodelay(true)?;
    let client = Domain::parse("client.invalid").map_err(io::Error::other)?;
    let mut config = SessionConfig::new(client);
    config.tls = TlsPolicy::Disabled;
    config.timeouts = uniform_timeouts(timeout);
    let envelope = Envelope {
        from,
        recipients: to,
        size: Some(body.len() as u64),
        body: BodyType::EightBitMime,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let clock = Clock(StdInstant::now());
    let mut session = Session::new(config, clock.now());
    session
        .send_mail(envelope, clock.now())
        .map_err(io::Error::other)?;
    session.quit(clock.now());
    Ok(pump(stream, &mut session, body, &clock))
}

/// Every phase bounded by the same `timeout` (the RFC's minutes are for real servers).
fn uniform_timeouts(timeout: StdDuration) -> Timeouts {
    Timeouts {
        greeting: timeout,
        command: timeout,
        mail: timeout,
        rcpt: timeout,
        data_initiation: timeout,
        data_block: timeout,
        data_termination: timeout,
        quit: timeout,
    }
}

/// The loop: events out, body in, bytes out, bytes in, until the session closes.
fn pump(mut stream: TcpStream, session: &mut Session, body: &[u8], clock: &Clock) -> Sent {
    let mut sent = Sent {
        outcomes: Vec::new(),
        error: None,
    };
    let mut body_rest = body;
    let mut input = vec![0u8; 16 * 1024];
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                // The outcomes are lent until the next poll_event: keep owned copies.
                Event::TransactionDone(id) => {
                    if let Some(outcomes) = session.outcomes(id) {
                        sent.outcomes.extend(outcomes.to_vec());
                    }
                }
                Event::Closed(error) => sent.error = error,
                // TLS is disabled; a loop with a TLS stack would handshake here.
                Event::StartTls => session.tls_failed("no TLS in this example".into(), clock.now()),
                Event::Established => {}
                // Event is non_exhaustive: a later version's events are not this loop's.
                _ => {}
            }
        }
        if session.is_closed() {
            // A QUIT queued as the session gave up is a courtesy: errors ignored.
            let _ = stream.write_all(session.pending_transmit());
            return sent;
        }
        // Body: only while the session wants more, so at most ~2 chunks are buffered.
        while session.wants_body() {
            let (chunk, rest) = body_rest.split_at(body_rest.len().min(BODY_CHUNK));
            body_rest = rest;
            let now = clock.now();
            let fed = if chunk.is_empty() {
                session.finish_body(now)
            } else {
                session.send_body(chunk, now)
            };
            if fed.is_err() {
                // Cannot happen with `wants_body` checked; a real loop reports it.
                session.abort(now);
            }
        }
        if !session.pending_transmit().is_empty() {
            write_pending(&mut stream, session, clock);
        } else {
            read_input(&mut stream, session, &mut input, clock);
        }
    }
}

/// One write of everything pending (so pipelined commands share a segment).
fn write_pending(stream: &mut TcpStream, session: &mut Session, clock: &Clock) {
    let deadline = session.poll_timeout().map(|d| clock.until(d));
    // A zero timeout is an error for std: the deadline has passed, which the session decides.
    if deadline == Some(StdDuration::ZERO) {
        session.handle_timeout(clock.now());
        return;
    }
    let _ = stream.set_write_timeout(deadline);
    match stream.write(session.pending_transmit()) {
        Ok(0) => session.handle_eof(clock.now()),
        Ok(n) => session.advance_transmit(n),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) if is_timeout(&e) => session.handle_timeout(clock.now()),
        // Reset, broken pipe: the server is gone, as at the end of the stream.
        Err(_) => session.handle_eof(clock.now()),
    }
}

/// One read, bounded by the session's deadline.
fn read_input(stream: &mut TcpStream, session: &mut Session, input: &mut [u8], clock: &Clock) {
    let deadline = session.poll_timeout().map(|d| clock.until(d));
    if deadline == Some(StdDuration::ZERO) {
        session.handle_timeout(clock.now());
        return;
    }
    let _ = stream.set_read_timeout(deadline);
    match stream.read(input) {
        Ok(0) => session.handle_eof(clock.now()),
        Ok(n) => session.handle_input(input.get(..n).unwrap_or_default(), clock.now()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        // The socket's timeout is the session's deadline: the session decides what it means
        // (it may also be a few microseconds early, in which case nothing happens).
        Err(e) if is_timeout(&e) => session.handle_timeout(clock.now()),
        Err(_) => session.handle_eof(clock.now()),
    }
}

/// std reports a socket timeout as `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[allow(dead_code)] // The test includes this file as a module and calls `send` only.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, from, to] = args.as_slice() else {
        return Err("usage: std_net HOST:PORT FROM TO".into());
    };
    let body = format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: mxsend-core over std::net\r\n\r\nHello from the core alone.\r\n");
    let sent = send(
        server.parse()?,
        ReversePath::parse(from)?,
        vec![Mailbox::parse(to)?],
        body.as_bytes(),
        StdDuration::from_secs(30),
    )?;
    for outcome in &sent.outcomes {
        println!("{to}: {outcome:?}");
    }
    if let Some(error) = sent.error {
        println!("session ended: {error}");
    }
    Ok(())
}
