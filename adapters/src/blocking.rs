//! The blocking adapter: std::net sockets, rustls streams, one thread.
//!
//! Everything protocol-shaped lives elsewhere and is shared with the async adapters: the
//! session in the core, the fallback rules in [`crate::advanced::Delivery`], the preparation
//! and finishing of a send or delivery in `job.rs`, the per-session bookkeeping, the pump's
//! decisions and transcript events in `attempt.rs`, TLS configuration in [`crate::tls`],
//! the transcript in [`crate::transcript`]. What is left here is the loop that moves bytes:
//!
//! - connect with [`std::net::TcpStream::connect_timeout`] (or to a Unix domain socket,
//!   [`std::os::unix::net::UnixStream`], for a relay `unix:/path`); `TCP_NODELAY` on every socket, and
//!   whatever the session hands over goes out in one `write` call, so the final `.` always
//!   shares a segment with the end of the body (and, pipelined, with the next MAIL/RCPT/DATA):
//!   no 40 ms Nagle/delayed-ACK stall per message;
//! - STARTTLS upgrades the same `TcpStream` in place; implicit TLS handshakes before the
//!   session starts;
//! - deadlines: before each read or write, the socket's timeout is set to the time left until
//!   [`mxsend_core::session::Session::poll_timeout`], so each command's reply (and each body
//!   write) is bounded by the wall clock, not by idle time between bytes;
//! - the body is read in 64 KiB chunks only while the session wants more. A source that can
//!   stall (a file, which may be a FIFO, or any reader: [`BodySource::open_owned`]) is read on
//!   a thread of its own, each chunk awaited no longer than the session's deadline, so a
//!   stalled pipe defers that message instead of hanging the attempt; in-memory content is
//!   read in place.
//!
//! ```no_run
//! use mxsend::blocking;
//! use mxsend::protocol::address::{Mailbox, ReversePath};
//! use mxsend::protocol::command::BodyType;
//! use mxsend::protocol::session::{DsnOptions, Envelope};
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
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mxsend_core::address::Domain;

use crate::attempt::{
    implicit_tls_deadline, lookup_host, mx_shuffle, Clock, HookSink, Negotiated, Next, SessionRun,
    Tap, BODY_CHUNK, QUIT_COURTESY,
};
use crate::config::{MxDelivery, Relay, Settings};
use crate::delivery::{Action, Attempt, AttemptResult, Candidate, Report};
use crate::error::Error;
use crate::job::{first_report, Content, Job, RelayStart, Routes, SecuredRoute, Shared};
use crate::message::{BodySource, Message};
use crate::spool::{SpoolWriter, Spooled};
use crate::tls::{TlsConnector, TlsError, TlsMode};

mod client;
pub use client::Client;

/// Time left until `deadline`, never zero (a zero socket timeout means "forever" to std): a
/// deadline already past gives one millisecond, after which the timeout fires.
fn time_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Send one message through a relay.
pub fn send<B: BodySource>(relay: &Relay, message: &Message<B>) -> Result<Report, Error> {
    send_all(relay, std::slice::from_ref(message)).map(first_report)
}

/// Send many messages through a relay over one connection (pipelined when the server
/// offers PIPELINING); one report per message, in order. When a connection fails, the
/// messages it did not settle go to the relay's next address, if it has one.
///
/// ```no_run
/// use mxsend::protocol::address::{Mailbox, ReversePath};
/// use mxsend::protocol::session::Envelope;
/// use mxsend::{blocking, Message, Relay};
///
/// let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
/// let mut messages = Vec::new();
/// for to in ["bob@example.com", "carol@example.net"] {
///     let envelope = Envelope::new(ReversePath::parse("alice@example.org")?, [Mailbox::parse(to)?]);
///     let content = format!("To: {to}\r\nSubject: hello\r\n\r\nHi.\r\n");
///     messages.push(Message::new(envelope, content.into_bytes()));
/// }
/// // One connection for both; one report per message, in the order given.
/// let reports = blocking::send_all(&relay, &messages)?;
/// for report in &reports {
///     for recipient in &report.recipients {
///         println!("{recipient}");
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_all<B: BodySource>(
    relay: &Relay,
    messages: &[Message<B>],
) -> Result<Vec<Report>, Error> {
    crate::trace::Span::call("mxsend.send", messages.len()).in_scope(|| {
        read_ahead(messages, relay.timeouts.data_block);
        match crate::dkim::sign_messages(&relay.dkim, messages)? {
            Some(signed) => relay_all(relay, &signed),
            None => relay_all(relay, messages),
        }
    })
}

/// [`send_all`] once the messages are signed (or need not be).
fn relay_all<B: BodySource>(relay: &Relay, messages: &[Message<B>]) -> Result<Vec<Report>, Error> {
    let mut job = match Job::relay(relay, messages, Content::blocking())? {
        RelayStart::Ready(job) => *job,
        RelayStart::Lookup(lookup) => {
            let answer = lookup_host(&lookup.name, lookup.port);
            lookup.answered(answer)?
        }
    };
    drive(&mut job, |_, _| Shared::<B>::relay_route())?;
    Ok(job.into_reports())
}

/// Deliver one message to each recipient domain's MX hosts, one domain after the other.
pub fn deliver<B: BodySource>(mx: &MxDelivery, message: &Message<B>) -> Result<Report, Error> {
    crate::trace::Span::call("mxsend.deliver", 1).in_scope(|| {
        read_ahead(std::slice::from_ref(message), mx.timeouts.data_block);
        let signed = crate::dkim::sign_messages(&mx.dkim, std::slice::from_ref(message))?;
        match signed.and_then(|signed| signed.into_iter().next()) {
            Some(signed) => deliver_one(mx, &signed),
            None => deliver_one(mx, message),
        }
    })
}

/// [`deliver`] once the message is signed (or need not be).
fn deliver_one<B: BodySource>(mx: &MxDelivery, message: &Message<B>) -> Result<Report, Error> {
    let tls_optional = crate::requiretls::tls_optional(mx, &message.body);
    let mut job = Job::mx(mx, message, Content::blocking(), tls_optional)?;
    drive(&mut job, |shared, domain| {
        let Routes::Mx { resolver, .. } = &shared.routes else {
            return Shared::<B>::relay_route();
        };
        let route = resolver.plan_up_to(domain, mx_shuffle, mx.address_limit());
        let Some((route, policy)) = shared.mx_candidates(route) else {
            return Shared::<B>::relay_route();
        };
        let plan = match &route {
            Ok(candidates) if policy => shared.policy(domain, candidates),
            _ => None,
        };
        shared.secured(domain, route, plan)
    })?;
    Ok(job.into_report())
}

/// Spool the content that wants it ([`BodySource::wants_read_ahead`]) before connecting,
/// each chunk awaited no longer than `stall`; a failure is kept by the body and reported
/// when it is opened (its message deferred, the others sent).
fn read_ahead<B: BodySource>(messages: &[Message<B>], stall: Duration) {
    for message in messages.iter().filter(|m| m.body.wants_read_ahead()) {
        let spool = || -> io::Result<Spooled> {
            let mut spool = SpoolWriter::new()?;
            let mut reader = open_body(&message.body)?;
            let mut chunk = Vec::new();
            loop {
                let piece = reader.read(&mut chunk, Instant::now() + stall)?;
                if piece.is_empty() {
                    return spool.finish();
                }
                spool.push(piece)?;
            }
        };
        let result = spool();
        message.body.spooled(result);
    }
}

/// Run the job's delivery machine to the end with blocking I/O; `resolve` finds a domain's
/// route (blocking DNS).
fn drive<B: BodySource>(
    job: &mut Job<'_, B>,
    mut resolve: impl FnMut(&Shared<'_, B>, &Domain) -> SecuredRoute,
) -> Result<(), Error> {
    let Job { delivery, shared } = job;
    loop {
        match delivery.poll() {
            Action::Done => return Ok(()),
            Action::Resolve(domain) => {
                let (route, plan) = resolve(shared, &domain);
                delivery.route_secured(route, plan);
            }
            Action::Attempt(attempt) => {
                let mut sink = HookSink(shared.settings.transcript.as_ref());
                let mut tap = Tap::new(&mut sink);
                let result = crate::trace::Span::connection(&attempt.candidate)
                    .in_scope(|| run_attempt(&attempt, shared, &mut tap))?;
                delivery.attempt_done(result);
            }
        }
    }
}

/// The socket under the connection: TCP, or a Unix domain socket.
enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    /// Connect to the candidate's Unix socket or TCP address, within `timeout` (a Unix
    /// socket connects at once or fails).
    fn connect(candidate: &Candidate, timeout: Duration) -> io::Result<Socket> {
        match &candidate.unix {
            #[cfg(unix)]
            Some(path) => UnixStream::connect(path).map(Socket::Unix),
            #[cfg(not(unix))]
            Some(_) => Err(io::ErrorKind::Unsupported.into()),
            // The overall deadline has passed (std refuses a zero timeout).
            None if timeout.is_zero() => Err(io::ErrorKind::TimedOut.into()),
            None => {
                let tcp = TcpStream::connect_timeout(&candidate.addr, timeout)?;
                // Nagle's algorithm only delays our already coalesced writes.
                let _ = tcp.set_nodelay(true);
                Ok(Socket::Tcp(tcp))
            }
        }
    }

    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Socket::Tcp(tcp) => {
                tcp.set_read_timeout(Some(timeout))?;
                tcp.set_write_timeout(Some(timeout))
            }
            #[cfg(unix)]
            Socket::Unix(unix) => {
                unix.set_read_timeout(Some(timeout))?;
                unix.set_write_timeout(Some(timeout))
            }
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(tcp) => tcp.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => tcp.read(buf),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => tcp.write(buf),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Tcp(tcp) => tcp.flush(),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.flush(),
        }
    }
}

/// The connection, plaintext or TLS.
enum Stream {
    Plain(Socket),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
    /// Between taking the plaintext stream for STARTTLS and the handshake's end.
    Gone,
}

impl Stream {
    fn socket(&self) -> Option<&Socket> {
        match self {
            Stream::Plain(tcp) => Some(tcp),
            Stream::Tls(tls) => Some(tls.get_ref()),
            Stream::Gone => None,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Hand `buf` over: to the socket, or (TLS) to rustls, which encrypts it and tries to
    /// write the records; [`Stream::flush`] finishes that. What this returns was taken, even
    /// if the flush then fails.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) | Stream::Gone => Ok(()),
            Stream::Tls(tls) => tls.flush(),
        }
    }

    fn close(&mut self) {
        if let Stream::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        if let Some(socket) = self.socket() {
            socket.shutdown();
        }
    }
}

/// How late past its deadline a read or write may return: the socket timeout is only
/// changed when the one already set could overshoot the deadline by more than this.
const DEADLINE_SLACK: Duration = Duration::from_millis(10);

/// The socket timeouts set on a connection, so they are changed only when needed: two
/// `setsockopt` calls before every read and write cost about 8% of a pipelined session's
/// client time (BENCHMARKS.md).
#[derive(Default)]
struct SocketDeadline {
    /// The read and write timeout currently set on the socket.
    set: Option<Duration>,
}

impl SocketDeadline {
    /// Bound the next read, write or flush on `stream` by `deadline`: each call may block
    /// up to the socket's timeout from when it starts, so the timeout must not exceed the
    /// time left (plus [`DEADLINE_SLACK`]), and is not kept when it is less than half of it
    /// (a timeout left from an earlier, nearer deadline would wake the pump for nothing).
    fn bound(&mut self, stream: &Stream, deadline: Instant) -> io::Result<()> {
        let left = time_left(deadline);
        if let Some(set) = self.set {
            if set <= left + DEADLINE_SLACK && set >= left / 2 {
                return Ok(());
            }
        }
        if let Some(socket) = stream.socket() {
            socket.set_timeouts(left)?;
            self.set = Some(left);
        }
        Ok(())
    }
}

/// A TLS handshake over `tcp` before `deadline`.
fn handshake(
    tcp: Socket,
    connector: &TlsConnector,
    mode: TlsMode,
    host: &str,
    deadline: Instant,
) -> Result<(Stream, Negotiated), TlsError> {
    let mut conn = match connector.connect(mode, host) {
        Ok(Some(conn)) => conn,
        Ok(None) => return Err(TlsError::no_configuration(mode)),
        Err(error) => return Err(TlsError::Setup(Arc::new(error))),
    };
    let mut tcp = tcp;
    while conn.is_handshaking() {
        let timeout = time_left(deadline);
        tcp.set_timeouts(timeout)
            .and_then(|()| conn.complete_io(&mut tcp))
            .map_err(|e| TlsError::from_io(e, &connector.name_for(host)))?;
    }
    let negotiated = Negotiated::of(&conn);
    Ok((
        Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))),
        negotiated,
    ))
}

/// Connect to the attempt's candidate and, for implicit TLS, run the handshake: the stream
/// and our local address, or the attempt's result when that failed.
fn connect(
    attempt: &Attempt,
    settings: &Settings,
    connector: &TlsConnector,
    tap: &mut Tap<'_>,
) -> Result<(Stream, std::net::SocketAddr), AttemptResult> {
    let candidate = &attempt.candidate;
    tap.connecting(candidate);
    let tcp = match Socket::connect(candidate, settings.connect_limit()) {
        Ok(socket) => socket,
        Err(error) => return Err(tap.connect_failed(candidate, error)),
    };
    let local = match &tcp {
        Socket::Tcp(tcp) => tap.connected_from(candidate, Some(tcp.local_addr())),
        #[cfg(unix)]
        Socket::Unix(_) => tap.connected_from(candidate, None),
    };
    let Some(deadline) = implicit_tls_deadline(attempt, settings) else {
        return Ok((Stream::Plain(tcp), local));
    };
    let secured = handshake(tcp, connector, attempt.tls, &candidate.host, deadline);
    Ok((tap.implicit_tls(secured, attempt.tls)?, local))
}

/// One connection and session: connect, TLS as the mode says, the pump loop, close.
fn run_attempt<B: BodySource>(
    attempt: &Attempt,
    shared: &Shared<'_, B>,
    tap: &mut Tap<'_>,
) -> Result<AttemptResult, Error> {
    let clock = Clock::start();
    let (mut stream, local) = match connect(attempt, &shared.settings, &shared.connector, tap) {
        Ok(connected) => connected,
        Err(result) => return Ok(result),
    };
    let mut run = shared.session(attempt, local, &clock)?;
    let result = pump(&mut stream, &mut run, &clock, tap, shared, attempt);
    stream.close();
    tap.closed();
    Ok(run.finish(result))
}

/// A message's content as the pump reads it: in place, or from a reader thread.
enum BodyReader<'a> {
    /// Read on the pump's thread (in-memory content cannot stall).
    Inline(Box<dyn Read + 'a>),
    /// Read on a thread of its own; each chunk awaited until the deadline.
    Thread(ReaderThread),
}

impl BodyReader<'_> {
    /// The next chunk into `chunk`, or an error ([`io::ErrorKind::TimedOut`] at `deadline`).
    fn read<'c>(&mut self, chunk: &'c mut Vec<u8>, deadline: Instant) -> io::Result<&'c [u8]> {
        match self {
            BodyReader::Inline(reader) => {
                chunk.resize(BODY_CHUNK, 0);
                let n = reader.read(chunk)?;
                Ok(chunk.get(..n).unwrap_or_default())
            }
            BodyReader::Thread(thread) => {
                *chunk = thread.next(deadline)?;
                Ok(chunk.as_slice())
            }
        }
    }
}

/// A reader on a thread of its own, handing over one chunk at a time (a channel of one, so
/// at most two chunks are in memory). Dropping it lets the thread end at its next chunk; a
/// thread stuck in a read that never returns ends with the process.
struct ReaderThread {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl ReaderThread {
    fn spawn(mut reader: Box<dyn Read + Send>) -> io::Result<ReaderThread> {
        let (sender, chunks) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("mxsend-body".into())
            .spawn(move || loop {
                let mut chunk = vec![0u8; BODY_CHUNK];
                let read = match reader.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    read => read,
                };
                let last = !matches!(read, Ok(n) if n > 0);
                let sent = sender.send(read.map(|n| {
                    chunk.truncate(n);
                    chunk
                }));
                if last || sent.is_err() {
                    return;
                }
            })?;
        Ok(ReaderThread { chunks })
    }

    fn next(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        use std::sync::mpsc::RecvTimeoutError;
        match self.chunks.recv_timeout(time_left(deadline)) {
            Ok(read) => read,
            Err(RecvTimeoutError::Timeout) => Err(io::ErrorKind::TimedOut.into()),
            Err(RecvTimeoutError::Disconnected) => {
                Err(io::Error::other("the content's reader thread ended"))
            }
        }
    }
}

/// Open message content for the pump: on a reader thread when the source can give an
/// owned reader, else in place.
fn open_body<B: BodySource>(source: &B) -> io::Result<BodyReader<'_>> {
    match source.open_owned() {
        Some(reader) => Ok(BodyReader::Thread(ReaderThread::spawn(reader?)?)),
        None => Ok(BodyReader::Inline(source.open()?)),
    }
}

/// Move bytes between the session and the stream until the session closes. `Some(error)`
/// when a STARTTLS handshake failed.
fn pump<B: BodySource>(
    stream: &mut Stream,
    run: &mut SessionRun,
    clock: &Clock,
    tap: &mut Tap<'_>,
    shared: &Shared<'_, B>,
    attempt: &Attempt,
) -> Option<TlsError> {
    let mut input = vec![0u8; BODY_CHUNK];
    let mut chunk = vec![0u8; BODY_CHUNK];
    let mut body: Option<BodyReader<'_>> = None;
    let mut deadline = SocketDeadline::default();
    loop {
        match run.next() {
            Next::StartTls => {
                let Stream::Plain(tcp) = std::mem::replace(stream, Stream::Gone) else {
                    return Some(TlsError::AlreadyEncrypted);
                };
                let host = &attempt.candidate.host;
                let connector = &shared.connector;
                let secured = handshake(tcp, connector, attempt.tls, host, run.deadline(clock))
                    .map(|(secured, negotiated)| {
                        *stream = secured;
                        negotiated
                    });
                // The handshake set the socket's timeouts itself.
                deadline = SocketDeadline::default();
                if let Some(error) = run.tls_done(secured, attempt.tls, tap, clock) {
                    return Some(error);
                }
            }
            // A long-lived connection with nothing to do: it is kept as it is.
            Next::Idle => return None,
            Next::Closed => {
                courtesy(stream, run, tap, &mut deadline);
                return None;
            }
            Next::Body { message, open } => {
                if open {
                    // The last reader goes before the next opens.
                    drop(body.take());
                    let opened = shared.body(message).map(open_body);
                    body = run.body_opened(opened, clock);
                }
                if let Some(reader) = body.as_mut() {
                    let read = reader.read(&mut chunk, run.deadline(clock));
                    run.body_read(read, clock);
                }
            }
            Next::Transmit => {
                if let Err(error) = deadline.bound(stream, run.deadline(clock)) {
                    run.io_failed(&error, clock);
                    continue;
                }
                let written = stream.write(run.session.pending_transmit());
                let taken = matches!(written, Ok(n) if n > 0);
                run.wrote(written, tap, clock);
                if taken {
                    if let Err(error) = stream.flush() {
                        run.io_failed(&error, clock);
                    }
                }
            }
            Next::Receive => {
                if let Err(error) = deadline.bound(stream, run.deadline(clock)) {
                    run.io_failed(&error, clock);
                    continue;
                }
                let read = stream.read(&mut input);
                run.received(read.map(|n| input.get(..n).unwrap_or_default()), tap, clock);
            }
        }
    }
}

/// Write what the session queued as it ended ([`SessionRun::courtesy`]: a QUIT), within
/// [`QUIT_COURTESY`], errors ignored.
fn courtesy(
    stream: &mut Stream,
    run: &SessionRun,
    tap: &mut Tap<'_>,
    deadline: &mut SocketDeadline,
) {
    let Some(pending) = run.courtesy() else {
        return;
    };
    if deadline
        .bound(stream, Instant::now() + QUIT_COURTESY)
        .is_ok()
    {
        if let Ok(n) = stream.write(pending) {
            run.courtesy_written(n, tap);
            let _ = stream.flush();
        }
    }
}
