//! The async driver, written once over futures-io [`AsyncRead`]/[`AsyncWrite`] and shared by
//! the smol and async-std adapters (and by any runtime a caller plugs in through [`Runtime`]).
//!
//! Like the blocking adapter, this is only the loop that moves bytes: the session is the
//! core's, the fallback rules are [`crate::delivery`]'s, and the setup, transcript events and
//! per-session bookkeeping are shared with the blocking adapter. What a runtime supplies is
//! the [`Runtime`] trait (after quinn's): connecting a TCP stream, a UDP socket for DNS, and
//! a timer (async-io's by default, which serves both smol and async-std).
//!
//! - **Deadlines**: every read, write, flush, connect and handshake races a timer set to the
//!   session's deadline ([`mxsend_core::session::Session::poll_timeout`]), so each command's
//!   reply is bounded by the clock, as in the blocking adapter.
//! - **TLS**: futures-rustls over the same rustls configurations ([`crate::tls::TlsConnector`]),
//!   so modes, trust anchors, the opportunistic verifier and defaults are the blocking
//!   adapter's. STARTTLS upgrades the same TCP stream; implicit TLS handshakes first.
//! - **Writes**: `TCP_NODELAY`, and whatever the session hands over goes out in one write
//!   call, so the final `.` shares a segment with the end of the body.
//! - **Concurrency**: MX delivery works on up to [`MxDelivery::concurrency`] recipient domains
//!   at once ([`Delivery::start_next`]), each domain's exchanges still tried one after the
//!   other; all of it runs inside the caller's task (no spawning, so nothing needs
//!   `'static` and the messages are borrowed). A relay gets many messages over one
//!   connection ([`send_all`]), pipelined when the server allows.
//! - **Bodies**: [`AsyncBodySource`], read in 64 KiB chunks only while the session wants
//!   more: memory stays flat for any size. Each read races the session's deadline, so a
//!   stalled source defers its message instead of hanging the attempt.
//!
//! The runtime-specific modules ([`crate::smol`], [`crate::async_std`]) implement
//! [`Runtime`] and instantiate [`send`], [`send_all`] and [`deliver`] for it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use mxsend_core::address::Domain;

use crate::attempt::{
    handshake_error, local_or_unspecified, lookup_host, mx_candidates, mx_shuffle,
    relay_candidates, relay_delivery, relay_route, resolver, validate, Clock, HookSink, Negotiated,
    Next, RelayRoute, SessionRun, Tap, BODY_CHUNK, QUIT_COURTESY,
};
use crate::config::{MxDelivery, Relay, Settings};
use crate::delivery::{Attempt, AttemptResult, Candidate, Delivery, GroupId, Report, Task};
use crate::dns::{Resolver, RouteError};
use crate::error::Error;
use crate::message::{AsyncBodySource, Message};
use crate::tls::{server_name, TlsConnector, TlsMode};

/// What the async driver needs from a runtime: TCP connections, UDP sockets for DNS, and
/// timers. Everything else is written once over these.
///
/// The smol and async-std adapters are implementations ([`crate::smol::Smol`],
/// [`crate::async_std::AsyncStd`]); another runtime can be plugged in the same way and used
/// with [`send`], [`send_all`] and [`deliver`].
pub trait Runtime: Send + Sync + 'static {
    /// A connected TCP stream.
    type TcpStream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A UDP socket.
    type UdpSocket: Send + Sync + 'static;

    /// Connect to `addr` (the driver bounds it with [`Runtime::sleep_until`]).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Turn off Nagle's algorithm on `stream` (the driver coalesces its writes itself).
    fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()>;

    /// The local address of `stream` (for the automatic EHLO name).
    fn local_addr(stream: &Self::TcpStream) -> io::Result<SocketAddr>;

    /// A UDP socket bound to `local` (port 0: the OS picks a random source port, RFC 5452
    /// §9.2), connected to `server`, so that only its datagrams are received.
    fn udp_connect(
        local: SocketAddr,
        server: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::UdpSocket>> + Send;

    /// Send one datagram on a connected socket.
    fn udp_send(
        socket: &Self::UdpSocket,
        datagram: &[u8],
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// Receive one datagram on a connected socket.
    fn udp_recv(
        socket: &Self::UdpSocket,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// Complete at `deadline`. async-io's timer by default: it serves smol and async-std
    /// alike.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        async move {
            async_io::Timer::at(deadline).await;
        }
    }
}

/// `future`, or a [`io::ErrorKind::TimedOut`] error at `deadline`.
pub(crate) async fn timeout_at<R: Runtime, T>(
    deadline: Instant,
    future: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    future
        .or(async {
            R::sleep_until(deadline).await;
            Err(io::ErrorKind::TimedOut.into())
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// The entry points

/// Send one message through a relay.
pub async fn send<R: Runtime, B: AsyncBodySource>(
    relay: &Relay,
    message: &Message<B>,
) -> Result<Report, Error> {
    let mut reports = send_all::<R, B>(relay, std::slice::from_ref(message)).await?;
    Ok(reports.pop().unwrap_or(Report {
        recipients: Vec::new(),
    }))
}

/// Send many messages through a relay over one connection (pipelined when the server offers
/// PIPELINING); one report per message, in order. When a connection fails, the messages it
/// did not settle go to the relay's next address, if it has one.
pub async fn send_all<R: Runtime, B: AsyncBodySource>(
    relay: &Relay,
    messages: &[Message<B>],
) -> Result<Vec<Report>, Error> {
    let envelopes = || messages.iter().map(|m| &m.envelope);
    validate(envelopes(), &relay.settings())?;
    let connector = TlsConnector::new(&relay.tls_options, relay.tls)?;
    let candidates = match relay_route(relay)? {
        RelayRoute::Known(candidates) => candidates,
        RelayRoute::Lookup(name) => {
            // getaddrinfo blocks: it runs on the blocking thread pool both runtimes share.
            let port = relay.port;
            let answer = blocking::unblock(move || lookup_host(&name, port)).await;
            relay_candidates(relay, answer)?
        }
    };
    let mut delivery = relay_delivery(relay, candidates, envelopes());
    let context = Shared {
        settings: relay.settings(),
        connector,
        messages,
        routes: Routes::Relay,
    };
    drive::<R, B>(&mut delivery, &context, 1).await?;
    Ok(delivery.into_reports())
}

/// Deliver one message to each recipient domain's MX hosts, up to
/// [`MxDelivery::concurrency`] domains at once.
pub async fn deliver<R: Runtime, B: AsyncBodySource>(
    mx: &MxDelivery,
    message: &Message<B>,
) -> Result<Report, Error> {
    let messages = std::slice::from_ref(message);
    validate([&message.envelope], &mx.settings())?;
    let connector = TlsConnector::new(&mx.tls_options, mx.tls)?;
    let resolver = resolver(mx)?;
    let mut delivery = Delivery::mx(&message.envelope.recipients, mx.tls);
    let context = Shared {
        settings: mx.settings(),
        connector,
        messages,
        routes: Routes::Mx { mx, resolver },
    };
    drive::<R, B>(&mut delivery, &context, mx.concurrency.max(1)).await?;
    Ok(delivery.into_reports().pop().unwrap_or(Report {
        recipients: Vec::new(),
    }))
}

/// Define `send`, `send_all` and `deliver` for a runtime: the public API of a runtime module.
macro_rules! entry_points {
    ($runtime:ty) => {
        /// Send one message through a relay.
        pub async fn send<B: $crate::message::AsyncBodySource>(
            relay: &$crate::Relay,
            message: &$crate::Message<B>,
        ) -> Result<$crate::Report, $crate::Error> {
            $crate::aio::send::<$runtime, B>(relay, message).await
        }

        /// Send many messages through a relay over one connection (pipelined when the
        /// server offers PIPELINING); one report per message, in order.
        pub async fn send_all<B: $crate::message::AsyncBodySource>(
            relay: &$crate::Relay,
            messages: &[$crate::Message<B>],
        ) -> Result<Vec<$crate::Report>, $crate::Error> {
            $crate::aio::send_all::<$runtime, B>(relay, messages).await
        }

        /// Deliver one message to each recipient domain's MX hosts, up to
        /// [`MxDelivery::concurrency`](crate::MxDelivery::concurrency) domains at once.
        pub async fn deliver<B: $crate::message::AsyncBodySource>(
            mx: &$crate::MxDelivery,
            message: &$crate::Message<B>,
        ) -> Result<$crate::Report, $crate::Error> {
            $crate::aio::deliver::<$runtime, B>(mx, message).await
        }
    };
}
pub(crate) use entry_points;

// ---------------------------------------------------------------------------------------------
// Driving the delivery machine

/// Where groups get their routes.
enum Routes<'a> {
    /// A relay: the machine never asks.
    Relay,
    /// MX delivery: the domain's MX plan, then its candidates.
    Mx {
        mx: &'a MxDelivery,
        resolver: Resolver,
    },
}

/// What every task of one delivery reads.
struct Shared<'a, B> {
    settings: Settings,
    connector: TlsConnector,
    messages: &'a [Message<B>],
    routes: Routes<'a>,
}

/// A finished task.
enum Finished {
    Route(GroupId, Result<Vec<Candidate>, RouteError>),
    Attempt(GroupId, Result<AttemptResult, Error>),
}

type TaskFuture<'a> = Pin<Box<dyn Future<Output = Finished> + Send + 'a>>;

/// Run the delivery machine to the end, up to `concurrency` tasks at once, all in this task.
async fn drive<R: Runtime, B: AsyncBodySource>(
    delivery: &mut Delivery,
    shared: &Shared<'_, B>,
    concurrency: usize,
) -> Result<(), Error> {
    let mut running: Vec<TaskFuture<'_>> = Vec::new();
    loop {
        while running.len() < concurrency {
            let Some(task) = delivery.start_next() else {
                break;
            };
            running.push(match task {
                Task::Resolve(id, domain) => {
                    Box::pin(
                        async move { Finished::Route(id, route::<R, B>(shared, domain).await) },
                    )
                }
                Task::Attempt(id, attempt) => Box::pin(async move {
                    Finished::Attempt(id, run_attempt::<R, B>(&attempt, shared).await)
                }),
            });
        }
        if running.is_empty() {
            return Ok(());
        }
        match first_finished(&mut running).await {
            Finished::Route(id, route) => delivery.route_found_for(id, route),
            Finished::Attempt(id, result) => delivery.attempt_done_for(id, result?),
        }
    }
}

/// Wait for any of `running` to finish, and take it out.
async fn first_finished(running: &mut Vec<TaskFuture<'_>>) -> Finished {
    futures_lite::future::poll_fn(|cx| {
        let ready =
            running
                .iter_mut()
                .enumerate()
                .find_map(|(i, task)| match task.as_mut().poll(cx) {
                    Poll::Ready(finished) => Some((i, finished)),
                    Poll::Pending => None,
                });
        match ready {
            Some((i, finished)) => {
                drop(running.swap_remove(i));
                Poll::Ready(finished)
            }
            None => Poll::Pending,
        }
    })
    .await
}

/// A domain's candidates.
async fn route<R: Runtime, B>(
    shared: &Shared<'_, B>,
    domain: Domain,
) -> Result<Vec<Candidate>, RouteError> {
    match &shared.routes {
        Routes::Mx { mx, resolver } => {
            let limit = mx.address_limit();
            let route = resolver
                .plan_up_to_async::<R>(&domain, mx_shuffle, limit)
                .await;
            mx_candidates(mx, route)
        }
        Routes::Relay => Err(RouteError {
            reason: mxsend_core::mx::NoRoute::NoUsableExchange,
            dns: None,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// One connection

/// The connection, plaintext or TLS.
enum Stream<S> {
    Plain(S),
    Tls(Box<futures_rustls::client::TlsStream<S>>),
    /// Between taking the plaintext stream for STARTTLS and the handshake's end.
    Gone,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

/// A TLS write hands the bytes to rustls, which encrypts them and writes what the socket
/// takes; what `poll_write` returns was taken even if the flush after it fails.
impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    /// TLS: close_notify, then the TCP stream's write side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// A TLS handshake over `tcp` before `deadline`; the error in rustls' words.
async fn handshake<R: Runtime>(
    tcp: R::TcpStream,
    connector: &TlsConnector,
    mode: TlsMode,
    host: &str,
    deadline: Instant,
) -> Result<(Stream<R::TcpStream>, Negotiated), String> {
    let Some(config) = connector.config(mode) else {
        return Err("no TLS configuration for this mode".to_string());
    };
    let name = server_name(host).map_err(|e| e.to_string())?;
    let connect = futures_rustls::TlsConnector::from(config).connect(name, tcp);
    let tls = timeout_at::<R, _>(deadline, connect)
        .await
        .map_err(|e| handshake_error(&e))?;
    let negotiated = Negotiated::of(tls.get_ref().1);
    Ok((Stream::Tls(Box::new(tls)), negotiated))
}

/// One connection and session: connect, TLS as the mode says, the pump loop, close.
async fn run_attempt<R: Runtime, B: AsyncBodySource>(
    attempt: &Attempt,
    shared: &Shared<'_, B>,
) -> Result<AttemptResult, Error> {
    let settings = &shared.settings;
    let mut sink = HookSink(settings.transcript.as_ref());
    let mut tap = Tap::new(&mut sink);
    let clock = Clock::start();
    let Candidate { host, addr } = &attempt.candidate;
    tap.connecting(&attempt.candidate);
    let deadline = Instant::now() + settings.connect_timeout;
    let tcp = match timeout_at::<R, _>(deadline, R::connect(*addr)).await {
        Ok(tcp) => tcp,
        Err(error) => return Ok(tap.connect_failed(*addr, error)),
    };
    // Nagle's algorithm only delays our already coalesced writes.
    let _ = R::set_nodelay(&tcp);
    let local = local_or_unspecified(R::local_addr(&tcp));
    tap.connected(local, *addr);

    let mut stream = if attempt.tls == TlsMode::Implicit {
        let deadline = Instant::now() + settings.timeouts.greeting;
        match handshake::<R>(tcp, &shared.connector, attempt.tls, host, deadline).await {
            Ok((stream, negotiated)) => {
                tap.tls_started(&negotiated, attempt.tls);
                stream
            }
            Err(error) => {
                tap.tls_failed(&error);
                tap.closed();
                return Ok(AttemptResult::TlsFailed(error));
            }
        }
    } else {
        Stream::Plain(tcp)
    };

    let config = settings.session_config(local, attempt.tls);
    let mut run = SessionRun::start(config, &clock, attempt, |m, rcpts| {
        let message = shared.messages.get(m)?;
        message.envelope_for(rcpts, message.body.size_hint())
    })?;
    let result = pump::<R, B>(&mut stream, &mut run, &clock, &mut tap, shared, attempt).await;
    let courtesy = Instant::now() + QUIT_COURTESY;
    let _ = timeout_at::<R, _>(courtesy, stream.close()).await;
    tap.closed();
    Ok(run.finish(result))
}

/// Move bytes between the session and the stream until the session closes. `Some(error)`
/// when a STARTTLS handshake failed.
async fn pump<R: Runtime, B: AsyncBodySource>(
    stream: &mut Stream<R::TcpStream>,
    run: &mut SessionRun,
    clock: &Clock,
    tap: &mut Tap<'_>,
    shared: &Shared<'_, B>,
    attempt: &Attempt,
) -> Option<String> {
    let mut input = vec![0u8; BODY_CHUNK];
    let mut chunk = vec![0u8; BODY_CHUNK];
    let mut body: Option<Box<dyn AsyncRead + Unpin + Send + '_>> = None;
    loop {
        match run.next() {
            Next::StartTls => {
                let Stream::Plain(tcp) = std::mem::replace(stream, Stream::Gone) else {
                    return Some("STARTTLS on a connection already secured".into());
                };
                let host = &attempt.candidate.host;
                let deadline = run.deadline(clock);
                let secured = handshake::<R>(tcp, &shared.connector, attempt.tls, host, deadline)
                    .await
                    .map(|(secured, negotiated)| {
                        *stream = secured;
                        negotiated
                    });
                if let Some(error) = run.tls_done(secured, attempt.tls, tap, clock) {
                    return Some(error);
                }
            }
            Next::Closed => {
                // A QUIT the session queued when it gave up: a courtesy, errors ignored.
                let pending = run.session.pending_transmit();
                if !pending.is_empty() {
                    let courtesy = Instant::now() + QUIT_COURTESY;
                    if let Ok(n) = timeout_at::<R, _>(courtesy, stream.write(pending)).await {
                        tap.wire.sent(pending.get(..n).unwrap_or_default());
                        let _ = timeout_at::<R, _>(courtesy, stream.flush()).await;
                    }
                }
                return None;
            }
            Next::Body { message, open } => {
                if open {
                    body = None;
                    let source = shared.messages.get(message).map(|m| &m.body);
                    match source.map(AsyncBodySource::open) {
                        Some(Ok(reader)) => body = Some(reader),
                        Some(Err(error)) => run.body_read(Err(error), clock),
                        None => run.body_read(Err(io::ErrorKind::NotFound.into()), clock),
                    }
                }
                if let Some(reader) = body.as_mut() {
                    // Bounded like every other step: a stalled source defers the message.
                    let deadline = run.deadline(clock);
                    let read = timeout_at::<R, _>(deadline, reader.read(&mut chunk)).await;
                    let read = read.map(|n| chunk.get(..n).unwrap_or_default());
                    run.body_read(read, clock);
                }
            }
            Next::Transmit => {
                let deadline = run.deadline(clock);
                let pending = run.session.pending_transmit();
                let written = timeout_at::<R, _>(deadline, stream.write(pending)).await;
                let taken = matches!(written, Ok(n) if n > 0);
                run.wrote(written, tap, clock);
                if taken {
                    if let Err(error) = timeout_at::<R, _>(deadline, stream.flush()).await {
                        run.io_failed(&error, clock);
                    }
                }
            }
            Next::Receive => {
                let deadline = run.deadline(clock);
                let read = timeout_at::<R, _>(deadline, stream.read(&mut input)).await;
                run.received(read.map(|n| input.get(..n).unwrap_or_default()), tap, clock);
            }
        }
    }
}

#[cfg(all(test, feature = "smol"))]
mod tests {
    use super::*;
    use crate::smol::Smol;
    use std::time::Duration;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn entry_point_futures_are_send_so_they_can_be_spawned() {
        let relay = Relay::new("127.0.0.1", 2525);
        let messages: Vec<Message<Vec<u8>>> = Vec::new();
        assert_send(&crate::smol::send_all(&relay, &messages));
        assert_send(&crate::smol::deliver(
            &MxDelivery::new(),
            &Message::new(
                mxsend_core::session::Envelope {
                    from: mxsend_core::address::ReversePath::Null,
                    recipients: Vec::new(),
                    size: None,
                    body: mxsend_core::command::BodyType::SevenBit,
                    utf8_headers: false,
                    dsn: Default::default(),
                },
                std::path::PathBuf::from("/dev/null"),
            ),
        ));
    }

    #[test]
    fn timeout_at_gives_timed_out_at_the_deadline() {
        let started = Instant::now();
        let result: io::Result<()> = async_io::block_on(timeout_at::<Smol, _>(
            started + Duration::from_millis(50),
            futures_lite::future::pending(),
        ));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn timeout_at_gives_the_result_when_it_comes_first() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let result = async_io::block_on(timeout_at::<Smol, _>(deadline, async { Ok(7) }));
        assert_eq!(result.unwrap(), 7);
    }

    #[test]
    fn a_file_body_reads_back_whole_through_the_blocking_pool() {
        let path = std::env::temp_dir().join(format!("mxsend-aio-{}.eml", std::process::id()));
        let content: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&path, &content).unwrap();
        let mut read = Vec::new();
        async_io::block_on(async {
            AsyncBodySource::open(path.as_path())
                .unwrap()
                .read_to_end(&mut read)
                .await
        })
        .unwrap();
        let size = AsyncBodySource::size_hint(path.as_path());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read, content);
        assert_eq!(
            size,
            Some(mxsend_core::transparency::ContentScan::canonical_len_of(
                &content
            ))
        );
    }
}
