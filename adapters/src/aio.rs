//! The async driver (feature `aio`), written once over futures-io [`AsyncRead`]/[`AsyncWrite`]
//! and shared by the smol, async-std and tokio adapters, and by any runtime a caller plugs in
//! through the public [`Runtime`] trait.
//!
//! Like the blocking adapter, this is only the loop that moves bytes: the session is the
//! core's, the fallback rules are [`crate::advanced::Delivery`]'s, and the setup, transcript events and
//! per-session bookkeeping are shared with the blocking adapter. What a runtime supplies is
//! the [`Runtime`] trait (after quinn's): connecting a TCP stream, a TLS handshake over it,
//! and a timer; [`UdpRuntime`] adds the UDP sockets DNS needs, for MX delivery ([`deliver`])
//! only. With feature `aio` alone, [`send`], [`send_all`] and [`deliver`] take the runtime as
//! a type parameter (`mxsend::aio::send::<MyRuntime, _>(&relay, &message)`).
//!
//! - **Deadlines**: every read, write, flush, connect and handshake races a timer set to the
//!   session's deadline ([`mxsend_core::session::Session::poll_timeout`]), so each command's
//!   reply is bounded by the clock, as in the blocking adapter. Within a connection one timer
//!   stays armed across reads and writes (re-armed only when it fires early or a deadline
//!   comes sooner), and none is armed for I/O that is ready at once.
//! - **TLS**: the runtime's rustls handshake ([`Runtime::tls_connect`]: futures-rustls for
//!   smol and async-std, tokio-rustls for tokio) over the same rustls configurations
//!   ([`crate::tls::TlsConnector`]), so modes, trust anchors, the opportunistic verifier and
//!   defaults are the blocking adapter's. STARTTLS upgrades the same TCP stream; implicit
//!   TLS handshakes first.
//! - **Writes**: `TCP_NODELAY`, and whatever the session hands over goes out in one write
//!   call, so the final `.` shares a segment with the end of the body.
//! - **Concurrency**: MX delivery works on up to [`MxDelivery::concurrency`] recipient domains
//!   at once ([`crate::advanced::Delivery::start_next`]), each domain's exchanges still tried one after the
//!   other; all of it runs inside the caller's task (no spawning, so nothing needs
//!   `'static` and the messages are borrowed). A relay gets many messages over one
//!   connection ([`send_all`]), pipelined when the server allows.
//! - **Bodies**: [`AsyncBodySource`], read in 64 KiB chunks only while the session wants
//!   more: memory stays flat for any size. Each read races the session's deadline, so a
//!   stalled source defers its message instead of hanging the attempt.
//!
//! The runtime-specific modules (`crate::smol`, `crate::async_std`, `crate::tokio`) implement
//! [`Runtime`] and [`UdpRuntime`] and instantiate [`send`], [`send_all`] and [`deliver`]
//! for them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use mxsend_core::address::Domain;
use rustls_pki_types::ServerName;

use crate::attempt::{
    implicit_tls_deadline, lookup_host, mx_shuffle, Clock, HookSink, Negotiated, Next, SessionRun,
    Tap, BODY_CHUNK, QUIT_COURTESY,
};
use crate::config::{MxDelivery, Relay, Settings};
use crate::delivery::{Attempt, AttemptResult, Candidate, GroupId, Report, Task};
use crate::dns::{AddressLimit, Resolver, Route, RouteError};
use crate::error::{Error, HostLookupError};
use crate::job::{first_report, Content, Job, RelayStart, Routes, SecuredRoute, Shared};
use crate::message::{AsyncBodySource, Message};
use crate::spool::SpoolWriter;
use crate::tls::{TlsConnector, TlsError, TlsMode};

mod client;
pub use client::{Client, Pool};

/// What the async driver needs from a runtime: TCP connections, a TLS handshake over them,
/// and timers. Everything else (the session, TLS configuration, fallback, bodies, reports)
/// is written once over these; implement it to run [`send`] and [`send_all`] on any
/// executor, and [`UdpRuntime`] too for [`deliver`] (MX delivery needs DNS over UDP).
///
/// The streams are futures-io's [`AsyncRead`] + [`AsyncWrite`]; a runtime whose sockets
/// implement other traits bridges them (tokio's does, with tokio-util's `compat`). What
/// each method must do:
///
/// - [`connect`](Runtime::connect): open a TCP connection to `addr`, nothing more (no
///   timeout of its own: the driver races every call against [`sleep_until`](Runtime::sleep_until)
///   with the session's deadline, and drops the future when the timer wins, so every future
///   here must be cancel-safe in the sense of "dropping it releases what it holds").
/// - [`connect_unix`](Runtime::connect_unix): the same for a Unix domain socket (a relay
///   at `unix:/path`, such as an LMTP delivery agent's).
/// - [`set_nodelay`](Runtime::set_nodelay), [`local_addr`](Runtime::local_addr): the socket
///   options of that name (the local address names the client in the automatic EHLO).
/// - [`tls_connect`](Runtime::tls_connect): a rustls client handshake over the stream with
///   the configuration and server name given (for futures-io streams: [`futures_tls_connect`]);
///   errors as [`io::Error`]s carrying rustls' error, which the driver reports.
///   [`tls_connection`](Runtime::tls_connection) gives the connection's state (protocol
///   and cipher suite, for the transcript).
/// - [`sleep_until`](Runtime::sleep_until): a future that completes at `deadline`, on the
///   runtime's own timer.
/// - [`lookup_host`](Runtime::lookup_host): getaddrinfo for a relay named by host name
///   (blocking by nature: the default runs it on the `blocking` crate's thread pool;
///   override it to use the runtime's own).
///
/// The smol, async-std and tokio adapters are implementations (`crate::smol::Smol`,
/// `crate::async_std::AsyncStd`, `crate::tokio::Tokio`); `examples/custom_runtime.rs` is
/// a complete one over async-io's `Async<std::net::TcpStream>`, for relays only.
pub trait Runtime: Send + Sync + 'static {
    /// A connected TCP stream.
    type TcpStream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// That stream after a TLS handshake (implicit TLS, or STARTTLS).
    type TlsStream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A connected Unix domain socket stream (a relay at `unix:/path`). TLS over it, when
    /// asked for, is futures-rustls' over this stream.
    type UnixStream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Connect to `addr` (the driver bounds it with [`Runtime::sleep_until`]).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Connect to the Unix domain socket at `path` (bounded like [`Runtime::connect`]).
    fn connect_unix(path: PathBuf) -> impl Future<Output = io::Result<Self::UnixStream>> + Send;

    /// Turn off Nagle's algorithm on `stream` (the driver coalesces its writes itself).
    fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()>;

    /// The local address of `stream` (for the automatic EHLO name).
    fn local_addr(stream: &Self::TcpStream) -> io::Result<SocketAddr>;

    /// A TLS client handshake over `stream`, with `config` and the server's `name` (SNI and
    /// the certificate check). The driver bounds it with [`Runtime::sleep_until`].
    fn tls_connect(
        stream: Self::TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> impl Future<Output = io::Result<Self::TlsStream>> + Send;

    /// The rustls connection of a TLS stream (what was negotiated).
    fn tls_connection(stream: &Self::TlsStream) -> &rustls::ClientConnection;

    /// Complete at `deadline`, on the runtime's timer.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;

    /// The addresses of `host` (a relay's name) at `port`, by getaddrinfo, its failure typed
    /// by kind ([`HostLookupError`]: temporary, not found, ...). By default on the `blocking`
    /// crate's thread pool, since getaddrinfo blocks.
    fn lookup_host(
        host: String,
        port: u16,
    ) -> impl Future<Output = Result<Vec<SocketAddr>, HostLookupError>> + Send {
        blocking::unblock(move || lookup_host(&host, port))
    }
}

/// UDP for DNS, which [`deliver`] (MX delivery) needs and relays do not: a runtime used
/// only with [`send`] and [`send_all`] can leave it out.
pub trait UdpRuntime: Runtime {
    /// A UDP socket.
    type UdpSocket: Send + Sync + 'static;

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
}

/// [`Runtime::tls_connect`] for any futures-io stream, with futures-rustls: what a runtime
/// whose sockets are futures-io streams (smol's, async-std's) returns as its `TlsStream`.
pub async fn futures_tls_connect<S>(
    stream: S,
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
) -> io::Result<futures_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    futures_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
}

/// `future`, or a [`io::ErrorKind::TimedOut`] error at `deadline`.
///
/// The timer is armed only if `future` is not ready at its first poll: most writes are
/// (the socket's buffer has room), and a timer per write was a measurable share of a
/// pipelined `send_all` on async-io's reactor (each one registered and deregistered).
pub(crate) async fn timeout_at<R: Runtime, T>(
    deadline: Instant,
    future: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let mut future = std::pin::pin!(future);
    if let Some(ready) = futures_lite::future::poll_once(future.as_mut()).await {
        return ready;
    }
    future
        .or(async {
            R::sleep_until(deadline).await;
            Err(io::ErrorKind::TimedOut.into())
        })
        .await
}

/// One connection's deadline timer, kept armed across reads and writes: [`timeout_at`] with
/// a timer made once per connection rather than once per wait.
///
/// Each command's deadline is later than the one before, so the armed timer (set at an
/// earlier deadline) is kept; when it fires before the current deadline it is re-armed
/// there. Only a deadline earlier than the armed one re-arms at once. (async-io wakes its
/// reactor for every timer inserted: a timer per reply was about a fifth of a pipelined
/// `send_all` on smol.)
#[derive(Default)]
struct ConnectionTimer {
    armed: Option<(Instant, Sleep)>,
}

/// A runtime's [`Runtime::sleep_until`], boxed to be kept.
type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

impl ConnectionTimer {
    /// `future`, or a [`io::ErrorKind::TimedOut`] error at `deadline`.
    async fn bound<R: Runtime, T>(
        &mut self,
        deadline: Instant,
        future: impl Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        let mut future = std::pin::pin!(future);
        if let Some(ready) = futures_lite::future::poll_once(future.as_mut()).await {
            return ready;
        }
        loop {
            let sleep = match &mut self.armed {
                Some((at, sleep)) if *at <= deadline => sleep,
                armed => {
                    let (_, sleep) = armed.insert((deadline, Box::pin(R::sleep_until(deadline))));
                    sleep
                }
            };
            let fired = async {
                sleep.as_mut().await;
                None
            };
            let done = async { Some(future.as_mut().await) };
            if let Some(done) = done.or(fired).await {
                return done;
            }
            self.armed = None;
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The entry points

/// Send one message through a relay.
pub async fn send<R: Runtime, B: AsyncBodySource>(
    relay: &Relay,
    message: &Message<B>,
) -> Result<Report, Error> {
    send_all::<R, B>(relay, std::slice::from_ref(message))
        .await
        .map(first_report)
}

/// Send many messages through a relay over one connection (pipelined when the server offers
/// PIPELINING); one report per message, in order. When a connection fails, the messages it
/// did not settle go to the relay's next address, if it has one.
pub async fn send_all<R: Runtime, B: AsyncBodySource>(
    relay: &Relay,
    messages: &[Message<B>],
) -> Result<Vec<Report>, Error> {
    let span = crate::trace::Span::call("mxsend.send", messages.len());
    span.instrument(async {
        read_ahead::<R, B>(messages, relay.timeouts.data_block).await;
        match crate::dkim::sign_messages_async(&relay.dkim, messages).await? {
            Some(signed) => relay_all::<R, _>(relay, &signed).await,
            None => relay_all::<R, B>(relay, messages).await,
        }
    })
    .await
}

/// Spool the content that wants it ([`AsyncBodySource::wants_read_ahead`]) before
/// connecting, each read raced against `stall` on the runtime's timer; a failure is kept by
/// the body and reported when it is opened (its message deferred, the others sent). The
/// spool file is written in place: page-cache writes of one chunk at a time.
async fn read_ahead<R: Runtime, B: AsyncBodySource>(
    messages: &[Message<B>],
    stall: std::time::Duration,
) {
    for message in messages.iter().filter(|m| m.body.wants_read_ahead()) {
        let result = async {
            let mut spool = SpoolWriter::new()?;
            let mut reader = AsyncBodySource::open(&message.body)?;
            let mut chunk = vec![0u8; BODY_CHUNK];
            loop {
                let deadline = Instant::now() + stall;
                let n = timeout_at::<R, _>(deadline, reader.read(&mut chunk)).await?;
                match chunk.get(..n) {
                    Some(piece) if n > 0 => spool.push(piece)?,
                    _ => return spool.finish(),
                }
            }
        }
        .await;
        message.body.spooled(result);
    }
}

/// [`send_all`] once the messages are signed (or need not be).
async fn relay_all<R: Runtime, B: AsyncBodySource>(
    relay: &Relay,
    messages: &[Message<B>],
) -> Result<Vec<Report>, Error> {
    let mut job = match Job::relay(relay, messages, Content::aio())? {
        RelayStart::Ready(job) => *job,
        RelayStart::Lookup(lookup) => {
            // getaddrinfo blocks: the runtime runs it where blocking is allowed.
            let answer = R::lookup_host(lookup.name.clone(), lookup.port).await;
            lookup.answered(answer)?
        }
    };
    drive::<R, B>(&mut job, None, 1).await?;
    Ok(job.into_reports())
}

/// Deliver one message to each recipient domain's MX hosts, up to
/// [`MxDelivery::concurrency`] domains at once.
pub async fn deliver<R: UdpRuntime, B: AsyncBodySource>(
    mx: &MxDelivery,
    message: &Message<B>,
) -> Result<Report, Error> {
    let span = crate::trace::Span::call("mxsend.deliver", 1);
    span.instrument(async {
        read_ahead::<R, B>(std::slice::from_ref(message), mx.timeouts.data_block).await;
        let signed =
            crate::dkim::sign_messages_async(&mx.dkim, std::slice::from_ref(message)).await?;
        match signed.and_then(|signed| signed.into_iter().next()) {
            Some(signed) => deliver_one::<R, _>(mx, &signed).await,
            None => deliver_one::<R, B>(mx, message).await,
        }
    })
    .await
}

/// [`deliver`] once the message is signed (or need not be).
async fn deliver_one<R: UdpRuntime, B: AsyncBodySource>(
    mx: &MxDelivery,
    message: &Message<B>,
) -> Result<Report, Error> {
    let tls_optional = crate::requiretls::tls_optional_async(mx, &message.body).await;
    let mut job = Job::mx(mx, message, Content::aio(), tls_optional)?;
    drive::<R, B>(&mut job, Some(plan_route::<R>), mx.concurrency.max(1)).await?;
    Ok(job.into_report())
}

/// Define `send`, `send_all` and `deliver` for a runtime: the public API of a runtime module.
#[cfg(any(feature = "smol", feature = "async-std", feature = "tokio"))]
macro_rules! entry_points {
    // `$send_all_example`: `send_all`'s doc example, which names the runtime's executor.
    ($runtime:ty, send_all_example = $send_all_example:literal) => {
        /// Send one message through a relay.
        pub async fn send<B: $crate::message::AsyncBodySource>(
            relay: &$crate::Relay,
            message: &$crate::Message<B>,
        ) -> Result<$crate::Report, $crate::Error> {
            $crate::aio::send::<$runtime, B>(relay, message).await
        }

        /// Send many messages through a relay over one connection (pipelined when the
        /// server offers PIPELINING); one report per message, in order.
        ///
        #[doc = $send_all_example]
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

        /// A long-lived client for one relay on this runtime ([`crate::aio::Client`]).
        pub type Client = $crate::aio::Client<$runtime>;

        /// Long-lived clients for one relay, at most so many connections at once
        /// ([`crate::aio::Pool`]).
        pub type Pool = $crate::aio::Pool<$runtime>;
    };
}
#[cfg(any(feature = "smol", feature = "async-std", feature = "tokio"))]
pub(crate) use entry_points;

/// `impl Runtime` for a runtime whose TCP stream is a futures-io stream with std's methods
/// (`connect`, `set_nodelay`, `local_addr`) and whose timer is async-io's: smol's and
/// async-std's alike. TLS with futures-rustls.
#[cfg(any(feature = "smol", feature = "async-std"))]
macro_rules! futures_io_runtime {
    ($runtime:ty, $tcp:ty, $unix:ty) => {
        impl $crate::aio::Runtime for $runtime {
            type TcpStream = $tcp;
            type TlsStream = futures_rustls::client::TlsStream<$tcp>;
            type UnixStream = $unix;

            async fn connect(addr: std::net::SocketAddr) -> std::io::Result<$tcp> {
                <$tcp>::connect(addr).await
            }

            async fn connect_unix(path: std::path::PathBuf) -> std::io::Result<$unix> {
                <$unix>::connect(path).await
            }

            fn set_nodelay(stream: &$tcp) -> std::io::Result<()> {
                stream.set_nodelay(true)
            }

            fn local_addr(stream: &$tcp) -> std::io::Result<std::net::SocketAddr> {
                stream.local_addr()
            }

            async fn tls_connect(
                stream: $tcp,
                config: std::sync::Arc<rustls::ClientConfig>,
                name: rustls_pki_types::ServerName<'static>,
            ) -> std::io::Result<Self::TlsStream> {
                $crate::aio::futures_tls_connect(stream, config, name).await
            }

            fn tls_connection(stream: &Self::TlsStream) -> &rustls::ClientConnection {
                stream.get_ref().1
            }

            async fn sleep_until(deadline: std::time::Instant) {
                async_io::Timer::at(deadline).await;
            }
        }
    };
}
#[cfg(any(feature = "smol", feature = "async-std"))]
pub(crate) use futures_io_runtime;

/// `impl UdpRuntime` for a runtime whose UDP socket has std's methods, async (`bind`,
/// `connect`, `send`, `recv`): smol's, async-std's and tokio's alike.
#[cfg(any(feature = "smol", feature = "async-std", feature = "tokio"))]
macro_rules! udp_runtime {
    ($runtime:ty, $udp:ty) => {
        impl $crate::aio::UdpRuntime for $runtime {
            type UdpSocket = $udp;

            async fn udp_connect(
                local: std::net::SocketAddr,
                server: std::net::SocketAddr,
            ) -> std::io::Result<$udp> {
                let socket = <$udp>::bind(local).await?;
                socket.connect(server).await?;
                Ok(socket)
            }

            async fn udp_send(socket: &$udp, datagram: &[u8]) -> std::io::Result<usize> {
                socket.send(datagram).await
            }

            async fn udp_recv(socket: &$udp, buf: &mut [u8]) -> std::io::Result<usize> {
                socket.recv(buf).await
            }
        }
    };
}
#[cfg(any(feature = "smol", feature = "async-std", feature = "tokio"))]
pub(crate) use udp_runtime;

// ---------------------------------------------------------------------------------------------
// Driving the delivery machine

/// A domain's MX route through the resolver on some [`UdpRuntime`] (which relays never
/// name, so that they need no UDP).
type PlanRoute = for<'s> fn(
    &'s Resolver,
    &'s Domain,
    AddressLimit,
)
    -> Pin<Box<dyn Future<Output = Result<Route, RouteError>> + Send + 's>>;

/// [`PlanRoute`] on runtime `R`.
fn plan_route<'s, R: UdpRuntime>(
    resolver: &'s Resolver,
    domain: &'s Domain,
    limit: AddressLimit,
) -> Pin<Box<dyn Future<Output = Result<Route, RouteError>> + Send + 's>> {
    Box::pin(resolver.plan_up_to_async::<R>(domain, mx_shuffle, limit))
}

/// A finished task.
enum Finished {
    Route(GroupId, SecuredRoute),
    Attempt(GroupId, Result<AttemptResult, Error>),
}

type TaskFuture<'a> = Pin<Box<dyn Future<Output = Finished> + Send + 'a>>;

/// Run the job's delivery machine to the end, up to `concurrency` tasks at once, all in
/// this task; `plan` finds an MX domain's route.
async fn drive<R: Runtime, B: AsyncBodySource>(
    job: &mut Job<'_, B>,
    plan: Option<PlanRoute>,
    concurrency: usize,
) -> Result<(), Error> {
    let Job { delivery, shared } = job;
    let shared = &*shared;
    let mut running: Vec<TaskFuture<'_>> = Vec::new();
    loop {
        while running.len() < concurrency {
            let Some(task) = delivery.start_next() else {
                break;
            };
            running.push(match task {
                Task::Resolve(id, domain) => {
                    Box::pin(async move { Finished::Route(id, route(shared, plan, domain).await) })
                }
                Task::Attempt(id, attempt) => Box::pin(async move {
                    let span = crate::trace::Span::connection(&attempt.candidate);
                    Finished::Attempt(
                        id,
                        span.instrument(run_attempt::<R, B>(&attempt, shared)).await,
                    )
                }),
            });
        }
        if running.is_empty() {
            return Ok(());
        }
        match first_finished(&mut running).await {
            Finished::Route(id, (route, plan)) => delivery.route_secured_for(id, route, plan),
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

/// A domain's candidates, with the policy that applies to them.
async fn route<B>(shared: &Shared<'_, B>, plan: Option<PlanRoute>, domain: Domain) -> SecuredRoute {
    let (Routes::Mx { mx, resolver, .. }, Some(plan)) = (&shared.routes, plan) else {
        return Shared::<B>::relay_route();
    };
    let route = plan(resolver, &domain, mx.address_limit()).await;
    let Some((route, policy)) = shared.mx_candidates(route) else {
        return Shared::<B>::relay_route();
    };
    let plan = match &route {
        // MTA-STS and DANE ask DNS (and HTTPS) with blocking I/O: on the blocking pool.
        Ok(candidates) if policy => match shared.policy_query(&domain, candidates) {
            Some(query) => blocking::unblock(move || query.run()).await,
            None => None,
        },
        _ => None,
    };
    shared.secured(&domain, route, plan)
}

// ---------------------------------------------------------------------------------------------
// One connection

/// The connection, plaintext or TLS.
enum Stream<R: Runtime> {
    Plain(R::TcpStream),
    Tls(Box<R::TlsStream>),
    Unix(R::UnixStream),
    UnixTls(Box<futures_rustls::client::TlsStream<R::UnixStream>>),
    /// Between taking the plaintext stream for STARTTLS and the handshake's end.
    Gone,
}

impl<R: Runtime> AsyncRead for Stream<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Stream::Unix(unix) => Pin::new(unix).poll_read(cx, buf),
            Stream::UnixTls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

/// A TLS write hands the bytes to rustls, which encrypts them and writes what the socket
/// takes; what `poll_write` returns was taken even if the flush after it fails.
impl<R: Runtime> AsyncWrite for Stream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Stream::Unix(unix) => Pin::new(unix).poll_write(cx, buf),
            Stream::UnixTls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Stream::Unix(unix) => Pin::new(unix).poll_flush(cx),
            Stream::UnixTls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    /// TLS: close_notify, then the TCP stream's write side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
            Stream::Unix(unix) => Pin::new(unix).poll_close(cx),
            Stream::UnixTls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// The socket under the connection: TCP, or a Unix domain socket.
enum Socket<T, U> {
    Tcp(T),
    Unix(U),
}

/// The runtime's socket types.
type SocketOf<R> = Socket<<R as Runtime>::TcpStream, <R as Runtime>::UnixStream>;

/// Connect to the candidate's Unix socket or TCP address (with `TCP_NODELAY`), before
/// `deadline`; for TCP, the local address too.
async fn connect<R: Runtime>(
    candidate: &Candidate,
    deadline: Instant,
) -> io::Result<(SocketOf<R>, Option<io::Result<SocketAddr>>)> {
    match &candidate.unix {
        Some(path) => {
            let unix = timeout_at::<R, _>(deadline, R::connect_unix(path.clone())).await?;
            Ok((Socket::Unix(unix), None))
        }
        None => {
            let tcp = timeout_at::<R, _>(deadline, R::connect(candidate.addr)).await?;
            // Nagle's algorithm only delays our already coalesced writes.
            let _ = R::set_nodelay(&tcp);
            let local = R::local_addr(&tcp);
            Ok((Socket::Tcp(tcp), Some(local)))
        }
    }
}

/// A TLS handshake over `tcp` before `deadline`.
async fn handshake<R: Runtime>(
    socket: SocketOf<R>,
    connector: &TlsConnector,
    mode: TlsMode,
    host: &str,
    deadline: Instant,
) -> Result<(Stream<R>, Negotiated), TlsError> {
    let Some(config) = connector.config_for(mode, host) else {
        return Err(TlsError::no_configuration(mode));
    };
    let name = connector
        .server_name(host)
        .map_err(|e| TlsError::Setup(Arc::new(e)))?;
    let failed = |e| TlsError::from_io(e, &connector.name_for(host));
    let (tls, negotiated) = match socket {
        Socket::Tcp(tcp) => {
            let tls = timeout_at::<R, _>(deadline, R::tls_connect(tcp, config, name))
                .await
                .map_err(failed)?;
            let negotiated = Negotiated::of(R::tls_connection(&tls));
            (Stream::Tls(Box::new(tls)), negotiated)
        }
        Socket::Unix(unix) => {
            let tls = timeout_at::<R, _>(deadline, futures_tls_connect(unix, config, name))
                .await
                .map_err(failed)?;
            let negotiated = Negotiated::of(tls.get_ref().1);
            (Stream::UnixTls(Box::new(tls)), negotiated)
        }
    };
    Ok((tls, negotiated))
}

/// Connect to the attempt's candidate and, for implicit TLS, run the handshake: the stream
/// and our local address, or the attempt's result when that failed.
async fn open_stream<R: Runtime>(
    attempt: &Attempt,
    settings: &Settings,
    connector: &TlsConnector,
    tap: &mut Tap<'_>,
) -> Result<(Stream<R>, SocketAddr), AttemptResult> {
    let candidate = &attempt.candidate;
    tap.connecting(candidate);
    let deadline = Instant::now() + settings.connect_limit();
    let (tcp, local) = match connect::<R>(candidate, deadline).await {
        Ok(connected) => connected,
        Err(error) => return Err(tap.connect_failed(candidate, error)),
    };
    let local = tap.connected_from(candidate, local);
    let Some(deadline) = implicit_tls_deadline(attempt, settings) else {
        let stream = match tcp {
            Socket::Tcp(tcp) => Stream::Plain(tcp),
            Socket::Unix(unix) => Stream::Unix(unix),
        };
        return Ok((stream, local));
    };
    let secured = handshake::<R>(tcp, connector, attempt.tls, &candidate.host, deadline).await;
    Ok((tap.implicit_tls(secured, attempt.tls)?, local))
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
    let (mut stream, local) =
        match open_stream::<R>(attempt, settings, &shared.connector, &mut tap).await {
            Ok(connected) => connected,
            Err(result) => return Ok(result),
        };
    let mut run = shared.session(attempt, local, &clock)?;
    let result = pump::<R, B>(&mut stream, &mut run, &clock, &mut tap, shared, attempt).await;
    let courtesy = Instant::now() + QUIT_COURTESY;
    let _ = timeout_at::<R, _>(courtesy, stream.close()).await;
    tap.closed();
    Ok(run.finish(result))
}

/// Move bytes between the session and the stream until the session closes. `Some(error)`
/// when a STARTTLS handshake failed.
async fn pump<R: Runtime, B: AsyncBodySource>(
    stream: &mut Stream<R>,
    run: &mut SessionRun,
    clock: &Clock,
    tap: &mut Tap<'_>,
    shared: &Shared<'_, B>,
    attempt: &Attempt,
) -> Option<TlsError> {
    let mut input = vec![0u8; BODY_CHUNK];
    let mut chunk = vec![0u8; BODY_CHUNK];
    let mut body: Option<Box<dyn AsyncRead + Unpin + Send + '_>> = None;
    let mut timer = ConnectionTimer::default();
    loop {
        match run.next() {
            Next::StartTls => {
                let tcp = match std::mem::replace(stream, Stream::Gone) {
                    Stream::Plain(tcp) => Socket::Tcp(tcp),
                    Stream::Unix(unix) => Socket::Unix(unix),
                    _ => return Some(TlsError::AlreadyEncrypted),
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
            // A long-lived connection with nothing to do: it is kept as it is.
            Next::Idle => return None,
            Next::Closed => {
                courtesy::<R>(stream, run, tap, Instant::now() + QUIT_COURTESY).await;
                return None;
            }
            Next::Body { message, open } => {
                if open {
                    // The last reader goes before the next opens.
                    drop(body.take());
                    let opened = shared.body(message).map(AsyncBodySource::open);
                    body = run.body_opened(opened, clock);
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
                let written = timer.bound::<R, _>(deadline, stream.write(pending)).await;
                let taken = matches!(written, Ok(n) if n > 0);
                run.wrote(written, tap, clock);
                if taken {
                    if let Err(error) = timer.bound::<R, _>(deadline, stream.flush()).await {
                        run.io_failed(&error, clock);
                    }
                }
            }
            Next::Receive => {
                let deadline = run.deadline(clock);
                let read = timer.bound::<R, _>(deadline, stream.read(&mut input)).await;
                run.received(read.map(|n| input.get(..n).unwrap_or_default()), tap, clock);
            }
        }
    }
}

/// Write what the session queued as it ended ([`SessionRun::courtesy`]: a QUIT) before
/// `courtesy` ([`QUIT_COURTESY`] from when it gave up), errors ignored.
async fn courtesy<R: Runtime>(
    stream: &mut Stream<R>,
    run: &SessionRun,
    tap: &mut Tap<'_>,
    courtesy: Instant,
) {
    let Some(pending) = run.courtesy() else {
        return;
    };
    if let Ok(n) = timeout_at::<R, _>(courtesy, stream.write(pending)).await {
        run.courtesy_written(n, tap);
        let _ = timeout_at::<R, _>(courtesy, stream.flush()).await;
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
        // The long-lived client and the pool, so a service can spawn its sends.
        let mut client = crate::smol::Client::new(relay.clone()).unwrap();
        assert_send(&client.send_all(&messages));
        let pool = crate::smol::Pool::new(relay, 2).unwrap();
        assert_send(&pool.send_all(&messages));
        fn assert_sync<T: Sync>(_: &T) {}
        assert_sync(&pool);
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

    /// A future that completes after `delay` (so the timer gets armed first).
    async fn after(delay: Duration) -> io::Result<()> {
        async_io::Timer::after(delay).await;
        Ok(())
    }

    #[test]
    fn connection_timer_armed_at_an_earlier_deadline_waits_for_the_later_one() {
        let mut timer = ConnectionTimer::default();
        let started = Instant::now();
        async_io::block_on(async {
            let first = started + Duration::from_millis(50);
            timer
                .bound::<Smol, _>(first, after(Duration::from_millis(5)))
                .await
                .unwrap();
            let second = started + Duration::from_millis(200);
            let result: io::Result<()> = timer
                .bound::<Smol, _>(second, futures_lite::future::pending())
                .await;
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        });
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn connection_timer_rearms_for_an_earlier_deadline() {
        let mut timer = ConnectionTimer::default();
        let started = Instant::now();
        async_io::block_on(async {
            let far = started + Duration::from_secs(5);
            timer
                .bound::<Smol, _>(far, after(Duration::from_millis(5)))
                .await
                .unwrap();
            let near = started + Duration::from_millis(60);
            let result: io::Result<()> = timer
                .bound::<Smol, _>(near, futures_lite::future::pending())
                .await;
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        });
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(60), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
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
