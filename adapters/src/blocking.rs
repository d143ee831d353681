//! The blocking adapter: std::net sockets, rustls streams, one thread.
//!
//! Everything protocol-shaped lives elsewhere and is shared with the async adapters: the
//! session in the core, the fallback rules in [`crate::delivery`], the per-session
//! bookkeeping in `attempt.rs`, TLS configuration in [`crate::tls`], the transcript in
//! [`crate::transcript`]. What is left here is the loop that moves bytes:
//!
//! - connect with [`std::net::TcpStream::connect_timeout`]; `TCP_NODELAY` on every socket, and
//!   whatever the session hands over goes out in one `write` call, so the final `.` always
//!   shares a segment with the end of the body (and, pipelined, with the next MAIL/RCPT/DATA):
//!   no 40 ms Nagle/delayed-ACK stall per message;
//! - STARTTLS upgrades the same `TcpStream` in place; implicit TLS handshakes before the
//!   session starts;
//! - deadlines: before each read or write, the socket's timeout is set to the time left until
//!   [`mxsend_core::session::Session::poll_timeout`], so each command's reply (and each body
//!   write) is bounded by the wall clock, not by idle time between bytes;
//! - the body is read in 64 KiB chunks only while the session wants more.
//!
//! ```no_run
//! use mxsend::blocking;
//! use mxsend::core::address::{Mailbox, ReversePath};
//! use mxsend::core::command::BodyType;
//! use mxsend::core::session::{DsnOptions, Envelope};
//! use mxsend::{Message, Relay};
//!
//! let envelope = Envelope {
//!     from: ReversePath::parse("alice@example.org")?,
//!     recipients: vec![Mailbox::parse("bob@example.com")?],
//!     size: None,
//!     body: BodyType::SevenBit,
//!     utf8_headers: false,
//!     dsn: DsnOptions::default(),
//! };
//! let message = Message::new(envelope, b"Subject: hello\r\n\r\nHi Bob.\r\n".to_vec());
//! let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
//! let report = blocking::send(&relay, &message)?;
//! for recipient in &report.recipients {
//!     println!("{}: {:?} via {:?}", recipient.mailbox, recipient.outcome, recipient.host);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::PoisonError;
use std::time::Duration;

use mxsend_core::address::Domain;

use crate::attempt::{validate, Clock, SessionRun, Step, BODY_CHUNK};
use crate::config::{MxDelivery, Relay, Settings};
use crate::delivery::{
    candidates, route_without_candidates, Action, Attempt, AttemptResult, Candidate, Delivery,
    Report,
};
use crate::dns::{Resolver, RouteError};
use crate::error::Error;
use crate::message::{BodySource, Message};
use crate::tls::{to_ascii_host, TlsConnector, TlsMode};
use crate::transcript::{Transcript, TranscriptEvent, Wiretap};

/// How long the QUIT after a failed session may take to write: it is a courtesy.
const QUIT_COURTESY: Duration = Duration::from_secs(1);

/// Send one message through a relay.
pub fn send<B: BodySource>(relay: &Relay, message: &Message<B>) -> Result<Report, Error> {
    let mut reports = send_all(relay, std::slice::from_ref(message))?;
    Ok(reports.pop().unwrap_or(Report {
        recipients: Vec::new(),
    }))
}

/// Send many messages through a relay over one connection (pipelined when the server
/// offers PIPELINING); one report per message, in order. When a connection fails, the
/// messages it did not settle go to the relay's next address, if it has one.
pub fn send_all<B: BodySource>(
    relay: &Relay,
    messages: &[Message<B>],
) -> Result<Vec<Report>, Error> {
    validate(messages, relay.chunking)?;
    let connector = TlsConnector::new(&relay.tls_options, relay.tls)?;
    let candidates = relay_candidates(relay)?;
    let recipients = messages
        .iter()
        .map(|m| m.envelope.recipients.clone())
        .collect();
    let mut delivery = Delivery::relay(candidates, recipients, relay.tls);
    let settings = relay.settings();
    drive(&mut delivery, &settings, &connector, messages, |_| {
        // A relay has no domain to resolve; the machine never asks.
        Err(RouteError {
            reason: mxsend_core::mx::NoRoute::NoUsableExchange,
            dns: None,
        })
    })?;
    Ok(delivery.into_reports())
}

/// Deliver one message to each recipient domain's MX hosts.
pub fn deliver<B: BodySource>(mx: &MxDelivery, message: &Message<B>) -> Result<Report, Error> {
    let messages = std::slice::from_ref(message);
    validate(messages, mx.chunking)?;
    let connector = TlsConnector::new(&mx.tls_options, mx.tls)?;
    let resolver = match &mx.resolver {
        Some(resolver) => resolver.clone(),
        None => Resolver::from_system().map_err(Error::Resolver)?,
    };
    let mut delivery = Delivery::mx(&message.envelope.recipients, mx.tls);
    let settings = mx.settings();
    drive(&mut delivery, &settings, &connector, messages, |domain| {
        let route = resolver.plan(domain, || fastrand::u64(..))?;
        let list = candidates(&route, mx.port, mx.family_order, mx.address_limit);
        if list.is_empty() {
            return Err(route_without_candidates(&route));
        }
        Ok(list)
    })?;
    Ok(delivery.into_reports().pop().unwrap_or(Report {
        recipients: Vec::new(),
    }))
}

/// The relay's addresses: the literal, or the system resolver's answer (which knows
/// /etc/hosts, as a relay name like `localhost` or `mail` often needs).
fn relay_candidates(relay: &Relay) -> Result<Vec<Candidate>, Error> {
    if let Some(ip) = relay.literal() {
        return Ok(vec![Candidate {
            host: relay.host.clone(),
            addr: SocketAddr::new(ip, relay.port),
        }]);
    }
    let lookup_error = |error: io::Error| Error::RelayHost {
        host: relay.host.clone(),
        error,
    };
    let ascii = to_ascii_host(&relay.host)
        .map_err(|why| lookup_error(io::Error::new(io::ErrorKind::InvalidInput, why)))?;
    let addrs: Vec<SocketAddr> = (ascii.as_str(), relay.port)
        .to_socket_addrs()
        .map_err(lookup_error)?
        .collect();
    if addrs.is_empty() {
        return Err(lookup_error(io::Error::new(
            io::ErrorKind::NotFound,
            "no address",
        )));
    }
    Ok(addrs
        .into_iter()
        .map(|addr| Candidate {
            host: relay.host.clone(),
            addr,
        })
        .collect())
}

/// Run the delivery machine to the end with blocking I/O.
fn drive<B: BodySource>(
    delivery: &mut Delivery,
    settings: &Settings,
    connector: &TlsConnector,
    messages: &[Message<B>],
    mut resolve: impl FnMut(&Domain) -> Result<Vec<Candidate>, RouteError>,
) -> Result<(), Error> {
    loop {
        match delivery.poll() {
            Action::Done => return Ok(()),
            Action::Resolve(domain) => {
                let route = resolve(&domain);
                delivery.route_found(route);
            }
            Action::Attempt(attempt) => {
                let result = with_transcript(settings, |sink| {
                    let mut tap = Wiretap::new(sink);
                    run_attempt(&attempt, settings, connector, messages, &mut tap)
                })?;
                delivery.attempt_done(result);
            }
        }
    }
}

fn with_transcript<T>(settings: &Settings, f: impl FnOnce(&mut dyn Transcript) -> T) -> T {
    match &settings.transcript {
        Some(hook) => {
            let mut guard = hook.0.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut *guard)
        }
        None => f(&mut ()),
    }
}

/// The connection, plaintext or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Between taking the plaintext stream for STARTTLS and the handshake's end.
    Gone,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(tcp) => Some(tcp),
            Stream::Tls(tls) => Some(tls.get_ref()),
            Stream::Gone => None,
        }
    }

    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        if let Some(tcp) = self.tcp() {
            tcp.set_read_timeout(Some(timeout))?;
            tcp.set_write_timeout(Some(timeout))?;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => {
                let n = tls.write(buf)?;
                tls.flush()?;
                Ok(n)
            }
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn close(&mut self) {
        if let Stream::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        if let Some(tcp) = self.tcp() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
}

/// What a finished handshake negotiated, for the transcript.
struct Negotiated {
    protocol: String,
    cipher: String,
}

/// A TLS handshake over `tcp` within `timeout`; the error in rustls' words.
fn handshake(
    tcp: TcpStream,
    connector: &TlsConnector,
    mode: TlsMode,
    host: &str,
    timeout: Duration,
) -> Result<(Stream, Negotiated), String> {
    let Some(mut conn) = connector.connect(mode, host).map_err(|e| e.to_string())? else {
        return Ok((
            Stream::Plain(tcp),
            Negotiated {
                protocol: String::new(),
                cipher: String::new(),
            },
        ));
    };
    let mut tcp = tcp;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                "timed out during the TLS handshake".to_string()
            }
            _ => e.to_string(),
        })?;
    }
    let negotiated = Negotiated {
        protocol: conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default(),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
    };
    Ok((
        Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))),
        negotiated,
    ))
}

fn tls_started(tap: &mut Wiretap<'_>, negotiated: &Negotiated, mode: TlsMode) {
    tap.event(TranscriptEvent::TlsStarted {
        protocol: &negotiated.protocol,
        cipher: &negotiated.cipher,
        verified: mode.verifies(),
    });
}

/// One connection and session: connect, TLS as the mode says, the pump loop, close.
fn run_attempt<B: BodySource>(
    attempt: &Attempt,
    settings: &Settings,
    connector: &TlsConnector,
    messages: &[Message<B>],
    tap: &mut Wiretap<'_>,
) -> Result<AttemptResult, Error> {
    let clock = Clock::start();
    let Candidate { host, addr } = &attempt.candidate;
    tap.event(TranscriptEvent::Connecting { host, addr: *addr });
    let tcp = match TcpStream::connect_timeout(addr, settings.connect_timeout) {
        Ok(tcp) => tcp,
        Err(error) => {
            tap.event(TranscriptEvent::ConnectFailed {
                addr: *addr,
                error: &error,
            });
            return Ok(AttemptResult::ConnectFailed(error));
        }
    };
    // Nagle's algorithm only delays our already coalesced writes.
    let _ = tcp.set_nodelay(true);
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    tap.event(TranscriptEvent::Connected { local, peer: *addr });

    let mut stream = if attempt.tls == TlsMode::Implicit {
        match handshake(
            tcp,
            connector,
            attempt.tls,
            host,
            settings.timeouts.greeting,
        ) {
            Ok((stream, negotiated)) => {
                tls_started(tap, &negotiated, attempt.tls);
                stream
            }
            Err(error) => {
                tap.event(TranscriptEvent::TlsFailed { error: &error });
                tap.event(TranscriptEvent::Closed);
                return Ok(AttemptResult::TlsFailed(error));
            }
        }
    } else {
        Stream::Plain(tcp)
    };

    let config = settings.session_config(local, attempt.tls);
    let mut run = SessionRun::start(config, &clock, attempt, messages)?;
    let result = pump(
        &mut stream,
        &mut run,
        &clock,
        tap,
        messages,
        connector,
        attempt,
        settings,
    );
    stream.close();
    tap.event(TranscriptEvent::Closed);
    match result? {
        Some(tls_error) => Ok(AttemptResult::TlsFailed(tls_error)),
        None => Ok(AttemptResult::Ran(run.into_outcomes(attempt))),
    }
}

/// The body being read: which transaction it is for, and the reader.
struct BodyReader<'a> {
    position: usize,
    message: usize,
    reader: Box<dyn Read + 'a>,
}

/// Move bytes between the session and the stream until the session closes. `Some(error)`
/// when a STARTTLS handshake failed.
#[allow(clippy::too_many_arguments)]
fn pump<'m, B: BodySource>(
    stream: &mut Stream,
    run: &mut SessionRun,
    clock: &Clock,
    tap: &mut Wiretap<'_>,
    messages: &'m [Message<B>],
    connector: &TlsConnector,
    attempt: &Attempt,
    settings: &Settings,
) -> Result<Option<String>, Error> {
    let mut input = vec![0u8; BODY_CHUNK];
    let mut chunk = vec![0u8; BODY_CHUNK];
    let mut body: Option<BodyReader<'m>> = None;
    loop {
        match run.poll_events() {
            Step::StartTls => {
                let timeout = run
                    .session
                    .poll_timeout()
                    .map_or(settings.timeouts.command, |d| clock.until(d));
                let Stream::Plain(tcp) = std::mem::replace(stream, Stream::Gone) else {
                    return Ok(Some("STARTTLS on a connection already secured".into()));
                };
                match handshake(
                    tcp,
                    connector,
                    attempt.tls,
                    &attempt.candidate.host,
                    timeout,
                ) {
                    Ok((secured, negotiated)) => {
                        *stream = secured;
                        tls_started(tap, &negotiated, attempt.tls);
                        run.session.tls_established(clock.now());
                    }
                    Err(error) => {
                        tap.event(TranscriptEvent::TlsFailed { error: &error });
                        return Ok(Some(error));
                    }
                }
                continue;
            }
            Step::Closed => {
                // A QUIT the session queued when it gave up: a courtesy, errors ignored.
                let pending = run.session.pending_transmit();
                if !pending.is_empty() && stream.set_timeouts(QUIT_COURTESY).is_ok() {
                    if let Ok(n) = stream.write(pending) {
                        tap.sent(pending.get(..n).unwrap_or_default());
                    }
                }
                return Ok(None);
            }
            Step::Continue => {}
        }

        // Fill the transmit buffer with body up to the session's watermark first, so that the
        // end of the body, the final dot and what follows leave in one write.
        if let Some((position, message)) = run.body_wanted() {
            if body.as_ref().is_none_or(|b| b.position != position) {
                let source = messages
                    .get(message)
                    .map(|m| &m.body)
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
                    .and_then(|b| b.open())
                    .map_err(|error| Error::Body { message, error })?;
                body = Some(BodyReader {
                    position,
                    message,
                    reader: source,
                });
            }
            if let Some(reader) = body.as_mut() {
                let n = match reader.reader.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => {
                        return Err(Error::Body {
                            message: reader.message,
                            error,
                        })
                    }
                };
                let now = clock.now();
                // `body_wanted` said yes, so neither call can be refused.
                if n == 0 {
                    let _ = run.session.finish_body(now);
                    run.body_finished(position);
                    body = None;
                } else {
                    let _ = run
                        .session
                        .send_body(chunk.get(..n).unwrap_or_default(), now);
                }
            }
            continue;
        }

        let timeout = run
            .session
            .poll_timeout()
            .map_or(settings.timeouts.command, |d| clock.until(d));
        if stream.set_timeouts(timeout).is_err() {
            run.session.handle_eof(clock.now());
            continue;
        }

        let pending = run.session.pending_transmit();
        if !pending.is_empty() {
            match stream.write(pending) {
                Ok(0) => run.session.handle_eof(clock.now()),
                Ok(n) => {
                    tap.sent(pending.get(..n).unwrap_or_default());
                    run.session.advance_transmit(n);
                }
                Err(e) => io_error(run, clock, &e),
            }
            continue;
        }

        match stream.read(&mut input) {
            Ok(0) => run.session.handle_eof(clock.now()),
            Ok(n) => {
                let bytes = input.get(..n).unwrap_or_default();
                tap.received(bytes);
                run.session.handle_input(bytes, clock.now());
            }
            Err(e) => io_error(run, clock, &e),
        }
    }
}

/// A read or write failed: a timeout is the session's deadline (it decides whether it has
/// passed), anything else ends the connection.
fn io_error(run: &mut SessionRun, clock: &Clock, error: &io::Error) {
    match error.kind() {
        io::ErrorKind::Interrupted => {}
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            run.session.handle_timeout(clock.now())
        }
        _ => run.session.handle_eof(clock.now()),
    }
}
