//! [`Client`]: a connection to a relay that lives across sends (see [`crate::client`] for
//! the rules it shares with the async client).

use std::time::Instant;

use mxsend_core::session::SessionConfig;

use super::{connect, pump, Stream};
use crate::attempt::{lookup_host, Clock, HookSink, SessionRun, Tap, QUIT_COURTESY};
use crate::client::{Addresses, ClientSetup, ClientStats, Serves};
use crate::config::Relay;
use crate::delivery::{Attempt, AttemptResult, Report};
use crate::error::Error;
use crate::job::{Content, Shared};
use crate::message::{BodySource, Message};

/// A long-lived client for one relay: messages sent over time share one connection,
/// checked with RSET before each reuse and reopened transparently when the server closed it
/// while it was idle. Each [`Client::send_all`] (or [`Client::flush`] of what
/// [`Client::enqueue`] collected) pipelines its messages back to back; every recipient
/// gets its outcome as with [`crate::blocking::send_all`], with the same fallback rules.
/// The connection is closed with QUIT on [`Client::close`] or when the client is dropped.
///
/// ```no_run
/// use mxsend::blocking::Client;
/// use mxsend::{MessageBuilder, Relay};
///
/// let mut client = Client::new(Relay::new("smtp.example.org", 587).credentials("app", "secret"))?;
/// for n in 0..3 {
///     let message = MessageBuilder::new()
///         .from("app@example.org")
///         .to("ops@example.org")
///         .subject(format!("tick {n}"))
///         .text("still alive")
///         .build()?;
///     // The first send connects; the others reuse the connection (or reconnect).
///     let report = client.send(&message)?;
///     println!("{report}");
///     std::thread::sleep(std::time::Duration::from_secs(60));
/// }
/// client.close();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    setup: ClientSetup,
    live: Option<Live>,
    queued: Vec<Message<Box<dyn BodySource + Send>>>,
    stats: ClientStats,
}

/// The open connection and its session, idle between batches.
struct Live {
    stream: Stream,
    run: SessionRun,
    clock: Clock,
    serves: Serves,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("relay", &self.setup.relay.host)
            .field("connected", &self.live.is_some())
            .field("queued", &self.queued.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Client {
    /// A client for `relay`. Nothing connects until the first message; the TLS
    /// configuration is checked now.
    pub fn new(relay: Relay) -> Result<Client, Error> {
        Ok(Client {
            setup: ClientSetup::new(relay)?,
            live: None,
            queued: Vec::new(),
            stats: ClientStats::default(),
        })
    }

    /// Send one message.
    pub fn send<B: BodySource>(&mut self, message: &Message<B>) -> Result<Report, Error> {
        let mut reports = self.send_all(std::slice::from_ref(message))?;
        Ok(reports.pop().unwrap_or(Report {
            recipients: Vec::new(),
        }))
    }

    /// Send `messages`, pipelined back to back over the client's connection: one report
    /// per message, in order.
    pub fn send_all<B: BodySource>(
        &mut self,
        messages: &[Message<B>],
    ) -> Result<Vec<Report>, Error> {
        crate::trace::Span::call("mxsend.send", messages.len()).in_scope(|| {
            match crate::dkim::sign_messages(&self.setup.relay.dkim, messages)? {
                Some(signed) => self.batch(&signed),
                None => self.batch(messages),
            }
        })
    }

    /// Keep `message` for the next [`Client::flush`].
    pub fn enqueue(&mut self, message: Message<impl BodySource + Send + 'static>) {
        let Message { envelope, body } = message;
        let body: Box<dyn BodySource + Send> = Box::new(body);
        self.queued.push(Message::new(envelope, body));
    }

    /// How many messages wait for [`Client::flush`].
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Send every enqueued message in one pipelined batch: their reports, in the order
    /// they were enqueued. On an `Err` nothing was sent and the messages stay queued.
    pub fn flush(&mut self) -> Result<Vec<Report>, Error> {
        let messages = std::mem::take(&mut self.queued);
        match self.send_all(&messages) {
            Ok(reports) => Ok(reports),
            Err(error) => {
                self.queued = messages;
                Err(error)
            }
        }
    }

    /// Whether a connection is open (idle) right now.
    pub fn is_connected(&self) -> bool {
        self.live.is_some()
    }

    /// Connections opened, reused and replaced so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Say QUIT and close the connection, if one is open. The next send opens a new one.
    pub fn close(&mut self) {
        if let Some(mut live) = self.live.take() {
            let now = live.clock.now();
            live.run.session.quit(now);
            // A courtesy: the reply is not awaited, errors are ignored.
            let mut deadline = super::SocketDeadline::default();
            if live.run.courtesy().is_some()
                && deadline
                    .bound(&live.stream, Instant::now() + QUIT_COURTESY)
                    .is_ok()
            {
                let mut sink = HookSink(self.setup.settings.transcript.as_ref());
                let mut tap = Tap::new(&mut sink);
                super::courtesy(&mut live.stream, &live.run, &mut tap, &mut deadline);
                live.stream.close();
                tap.closed();
            } else {
                live.stream.close();
            }
        }
    }

    fn batch<B: BodySource>(&mut self, messages: &[Message<B>]) -> Result<Vec<Report>, Error> {
        let candidates = match self.setup.begin(messages)? {
            Addresses::Known(candidates) => candidates,
            Addresses::Lookup(name) => {
                let answer = lookup_host(&name, self.setup.relay.port);
                self.setup.looked_up(answer)?
            }
        };
        let content = Content::blocking();
        let mut batch = self.setup.batch(candidates, messages, content);
        let shared = Shared::relay(
            self.setup.settings.clone(),
            self.setup.connector.clone(),
            messages,
            content,
        );
        while let Some(attempt) = batch.next_attempt() {
            let span = crate::trace::Span::connection(&attempt.candidate);
            let result = span.in_scope(|| self.attempt(&attempt, &shared))?;
            batch.attempt_done(result);
        }
        Ok(batch.finish(&mut self.setup))
    }

    /// One attempt of the delivery machine: over the open connection when it serves the
    /// attempt's candidate and passes the RSET check, else over a new one.
    fn attempt<B: BodySource>(
        &mut self,
        attempt: &Attempt,
        shared: &Shared<'_, B>,
    ) -> Result<AttemptResult, Error> {
        let Client {
            live: slot, stats, ..
        } = self;
        let mut sink = HookSink(shared.settings.transcript.as_ref());
        let mut tap = Tap::new(&mut sink);
        if let Some(mut live) = slot.take() {
            if live.serves.fits(attempt) {
                if live.run.resume(shared.settings.deadline, &live.clock) {
                    let error = pump(
                        &mut live.stream,
                        &mut live.run,
                        &live.clock,
                        &mut tap,
                        shared,
                        attempt,
                    );
                    if live.run.still_idle(&error) {
                        stats.reused += 1;
                        return Ok(run_on(slot, live, attempt, shared, &mut tap));
                    }
                }
                stats.reconnected += 1;
            }
            live.stream.close();
            tap.closed();
        }
        let clock = Clock::start();
        let (stream, local) = match connect(attempt, &shared.settings, &shared.connector, &mut tap)
        {
            Ok(connected) => connected,
            Err(result) => return Ok(result),
        };
        stats.connections += 1;
        let config: SessionConfig = shared.settings.session_config(local, attempt.tls);
        let live = Live {
            stream,
            run: SessionRun::open(config, &clock),
            clock,
            serves: Serves::of(attempt),
        };
        Ok(run_on(slot, live, attempt, shared, &mut tap))
    }
}

/// Queue the attempt's transactions on `live` and pump until they are all done; keep the
/// connection in `slot` when it is idle again.
fn run_on<B: BodySource>(
    slot: &mut Option<Live>,
    mut live: Live,
    attempt: &Attempt,
    shared: &Shared<'_, B>,
    tap: &mut Tap<'_>,
) -> AttemptResult {
    if shared.add_to(&mut live.run, &live.clock, attempt).is_err() {
        // Validated before the batch: an envelope refused here is a bug, not the
        // server's doing. Nothing of it was sent; the connection stays usable.
        *slot = Some(live);
        return AttemptResult::Ran(Vec::new());
    }
    let error = pump(
        &mut live.stream,
        &mut live.run,
        &live.clock,
        tap,
        shared,
        attempt,
    );
    let (result, keep) = live.run.batch_done(error);
    if keep {
        *slot = Some(live);
    } else {
        live.stream.close();
        tap.closed();
    }
    result
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}
