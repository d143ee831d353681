//! [`Client`] and [`Pool`]: connections to a relay that live across sends, for every async
//! runtime (generic over [`Runtime`]; each runtime module names them `Client` and `Pool`).
//! The rules are [`crate::client`]'s, shared with the blocking client.

use std::time::Instant;

use super::{open_stream, pump, timeout_at, Runtime, Stream};
use crate::attempt::{Clock, HookSink, SessionRun, Tap, QUIT_COURTESY};
use crate::client::{Addresses, ClientSetup, ClientStats, Serves};
use crate::config::Relay;
use crate::delivery::{Attempt, AttemptResult, Report};
use crate::error::Error;
use crate::job::{Content, Shared};
use crate::message::{AsyncBodySource, Message};
use futures_lite::AsyncWriteExt;

/// A long-lived client for one relay, on runtime `R`: messages sent over time share one
/// connection, checked with RSET before each reuse and reopened transparently when the
/// server closed it while idle; [`Client::send_all`] pipelines its messages back to back.
/// The same rules as [`crate::blocking::Client`]. [`Client::close`] says QUIT; a client
/// dropped without it just closes the socket. Its connection belongs to the runtime it was
/// opened on (a tokio runtime dropped between sends leaves it dead: the next send then finds
/// it so and reconnects).
///
/// ```no_run
/// # #[cfg(feature = "smol")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mxsend::{MessageBuilder, Relay};
///
/// smol::block_on(async {
///     let mut client = mxsend::smol::Client::new(Relay::new("smtp.example.org", 587))?;
///     let message = MessageBuilder::new()
///         .from("app@example.org")
///         .to("ops@example.org")
///         .subject("hello")
///         .text("hi")
///         .build()?;
///     let report = client.send(&message).await?;
///     println!("{report}");
///     client.close().await;
///     Ok(())
/// })
/// # }
/// # #[cfg(not(feature = "smol"))]
/// # fn main() {}
/// ```
pub struct Client<R: Runtime> {
    setup: ClientSetup,
    live: Option<Live<R>>,
    stats: ClientStats,
}

/// The open connection and its session, idle between batches.
struct Live<R: Runtime> {
    stream: Stream<R>,
    run: SessionRun,
    clock: Clock,
    serves: Serves,
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("relay", &self.setup.relay.host)
            .field("connected", &self.live.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<R: Runtime> Client<R> {
    /// A client for `relay`. Nothing connects until the first message; the TLS
    /// configuration is checked now.
    pub fn new(relay: Relay) -> Result<Client<R>, Error> {
        Ok(Client::with_setup(ClientSetup::new(relay)?))
    }

    fn with_setup(setup: ClientSetup) -> Client<R> {
        Client {
            setup,
            live: None,
            stats: ClientStats::default(),
        }
    }

    /// Send one message.
    pub async fn send<B: AsyncBodySource>(
        &mut self,
        message: &Message<B>,
    ) -> Result<Report, Error> {
        let mut reports = self.send_all(std::slice::from_ref(message)).await?;
        Ok(reports.pop().unwrap_or(Report {
            recipients: Vec::new(),
        }))
    }

    /// Send `messages`, pipelined back to back over the client's connection: one report
    /// per message, in order.
    pub async fn send_all<B: AsyncBodySource>(
        &mut self,
        messages: &[Message<B>],
    ) -> Result<Vec<Report>, Error> {
        let span = crate::trace::Span::call("mxsend.send", messages.len());
        span.instrument(async {
            match crate::dkim::sign_messages_async(&self.setup.relay.dkim, messages).await? {
                Some(signed) => self.batch(&signed).await,
                None => self.batch(messages).await,
            }
        })
        .await
    }

    /// Whether a connection is open (idle) right now.
    pub fn is_connected(&self) -> bool {
        self.live.is_some()
    }

    /// Connections opened, reused and replaced so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Say QUIT (without waiting for its reply) and close the connection, if one is open.
    pub async fn close(&mut self) {
        if let Some(mut live) = self.live.take() {
            live.run.session.quit(live.clock.now());
            let mut sink = HookSink(self.setup.settings.transcript.as_ref());
            let mut tap = Tap::new(&mut sink);
            let courtesy = Instant::now() + QUIT_COURTESY;
            super::courtesy::<R>(&mut live.stream, &live.run, &mut tap, courtesy).await;
            let _ = timeout_at::<R, _>(courtesy, live.stream.close()).await;
            tap.closed();
        }
    }

    async fn batch<B: AsyncBodySource>(
        &mut self,
        messages: &[Message<B>],
    ) -> Result<Vec<Report>, Error> {
        let candidates = match self.setup.begin(messages)? {
            Addresses::Known(candidates) => candidates,
            Addresses::Lookup(name) => {
                let answer = R::lookup_host(name, self.setup.relay.port).await;
                self.setup.looked_up(answer)?
            }
        };
        let content = Content::aio();
        let mut batch = self.setup.batch(candidates, messages, content);
        let shared = Shared::relay(
            self.setup.settings.clone(),
            self.setup.connector.clone(),
            messages,
            content,
        );
        while let Some(attempt) = batch.next_attempt() {
            let span = crate::trace::Span::connection(&attempt.candidate);
            let result = span.instrument(self.attempt(&attempt, &shared)).await?;
            batch.attempt_done(result);
        }
        Ok(batch.finish(&mut self.setup))
    }

    /// One attempt of the delivery machine: over the open connection when it serves the
    /// attempt's candidate and passes the RSET check, else over a new one.
    async fn attempt<B: AsyncBodySource>(
        &mut self,
        attempt: &Attempt,
        shared: &Shared<'_, B>,
    ) -> Result<AttemptResult, Error> {
        let mut sink = HookSink(shared.settings.transcript.as_ref());
        let mut tap = Tap::new(&mut sink);
        if let Some(mut live) = self.live.take() {
            if live.serves.fits(attempt) {
                if live.run.resume(shared.settings.deadline, &live.clock) {
                    let error = pump::<R, B>(
                        &mut live.stream,
                        &mut live.run,
                        &live.clock,
                        &mut tap,
                        shared,
                        attempt,
                    )
                    .await;
                    if live.run.still_idle(&error) {
                        self.stats.reused += 1;
                        return Ok(self.run_on(live, attempt, shared, &mut tap).await);
                    }
                }
                self.stats.reconnected += 1;
            }
            let courtesy = Instant::now() + QUIT_COURTESY;
            let _ = timeout_at::<R, _>(courtesy, live.stream.close()).await;
            tap.closed();
        }
        let clock = Clock::start();
        let (stream, local) =
            match open_stream::<R>(attempt, &shared.settings, &shared.connector, &mut tap).await {
                Ok(connected) => connected,
                Err(result) => return Ok(result),
            };
        self.stats.connections += 1;
        let config = shared.settings.session_config(local, attempt.tls);
        let live = Live {
            stream,
            run: SessionRun::open(config, &clock),
            clock,
            serves: Serves::of(attempt),
        };
        Ok(self.run_on(live, attempt, shared, &mut tap).await)
    }

    /// Queue the attempt's transactions on `live` and pump until they are all done; keep
    /// the connection when it is idle again.
    async fn run_on<B: AsyncBodySource>(
        &mut self,
        mut live: Live<R>,
        attempt: &Attempt,
        shared: &Shared<'_, B>,
        tap: &mut Tap<'_>,
    ) -> AttemptResult {
        if shared.add_to(&mut live.run, &live.clock, attempt).is_err() {
            // Validated before the batch: nothing of it was sent, the connection stays.
            self.live = Some(live);
            return AttemptResult::Ran(Vec::new());
        }
        let error = pump::<R, B>(
            &mut live.stream,
            &mut live.run,
            &live.clock,
            tap,
            shared,
            attempt,
        )
        .await;
        let (result, keep) = live.run.batch_done(error);
        if keep {
            self.live = Some(live);
        } else {
            let courtesy = Instant::now() + QUIT_COURTESY;
            let _ = timeout_at::<R, _>(courtesy, live.stream.close()).await;
            tap.closed();
        }
        result
    }
}

/// Long-lived [`Client`]s for one relay, shared by many tasks: each send takes an idle
/// client (or opens one, up to the pool's limit of connections at once) and gives it back
/// afterwards, so a busy service keeps a few warm connections and never more than the
/// limit. Share it with an `Arc`.
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use mxsend::{MessageBuilder, Relay};
///
/// let pool = Arc::new(mxsend::tokio::Pool::new(Relay::new("smtp.example.org", 587), 4)?);
/// let mut tasks = Vec::new();
/// for n in 0..20 {
///     let pool = pool.clone();
///     tasks.push(tokio::spawn(async move {
///         let message = MessageBuilder::new()
///             .from("app@example.org")
///             .to("ops@example.org")
///             .subject(format!("job {n}"))
///             .text("done")
///             .build()?;
///         // At most 4 connections are open at once; the others wait for one.
///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(pool.send(&message).await?)
///     }));
/// }
/// # Ok(())
/// # }
/// ```
pub struct Pool<R: Runtime> {
    setup: ClientSetup,
    idle: async_lock::Mutex<Vec<Client<R>>>,
    limit: async_lock::Semaphore,
    max_connections: usize,
}

impl<R: Runtime> std::fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("relay", &self.setup.relay.host)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl<R: Runtime> Pool<R> {
    /// A pool for `relay` with at most `max_connections` open at once (0 is taken as 1).
    /// Nothing connects until the first message; the TLS configuration is checked now.
    pub fn new(relay: Relay, max_connections: usize) -> Result<Pool<R>, Error> {
        let max_connections = max_connections.max(1);
        Ok(Pool {
            setup: ClientSetup::new(relay)?,
            idle: async_lock::Mutex::new(Vec::new()),
            limit: async_lock::Semaphore::new(max_connections),
            max_connections,
        })
    }

    /// The most connections open at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Send one message over one of the pool's clients.
    pub async fn send<B: AsyncBodySource>(&self, message: &Message<B>) -> Result<Report, Error> {
        let mut reports = self.send_all(std::slice::from_ref(message)).await?;
        Ok(reports.pop().unwrap_or(Report {
            recipients: Vec::new(),
        }))
    }

    /// Send `messages` pipelined over one of the pool's clients, waiting for one when
    /// all are busy.
    pub async fn send_all<B: AsyncBodySource>(
        &self,
        messages: &[Message<B>],
    ) -> Result<Vec<Report>, Error> {
        let _permit = self.limit.acquire().await;
        let idle = self.idle.lock().await.pop();
        let mut client = idle.unwrap_or_else(|| Client::with_setup(self.setup.clone()));
        let result = client.send_all(messages).await;
        self.idle.lock().await.push(client);
        result
    }

    /// What the pool's idle clients did, added up (connections opened, reused, replaced).
    pub async fn stats(&self) -> ClientStats {
        let idle = self.idle.lock().await;
        idle.iter().fold(ClientStats::default(), |sum, client| {
            let s = client.stats();
            ClientStats {
                connections: sum.connections + s.connections,
                reused: sum.reused + s.reused,
                reconnected: sum.reconnected + s.reconnected,
            }
        })
    }

    /// How many clients are idle in the pool now.
    pub async fn idle_clients(&self) -> usize {
        self.idle.lock().await.len()
    }

    /// Close every idle client's connection with QUIT.
    pub async fn close(&self) {
        let mut idle = self.idle.lock().await;
        for client in idle.iter_mut() {
            client.close().await;
        }
    }
}
