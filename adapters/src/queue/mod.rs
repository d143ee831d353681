//! A durable queue: mxsend takes responsibility for a message it could not deliver at once,
//! keeps it on disk, retries it on a schedule, and tells the sender when it gives up.
//!
//! - [`Queue::enqueue`] (or [`Queue::enqueue_pending`] after a first attempt) stores a
//!   [`Message`] with its [`QueuedRoute`]; once it returns, the message survives a crash.
//! - [`Queue::run`] makes one pass over what is due: each entry's pending recipients go to
//!   the caller's [`Transport`] (which calls `mxsend::blocking::send_all`, `send` or
//!   `deliver`, or an async runtime's), and each recipient's outcome is recorded, durably,
//!   before anything else happens, so a crash or a retry never sends to a delivered
//!   recipient again. The exception is the ambiguous window (the final `.` went out and no
//!   reply came, or the process died before the state was saved): then the message is sent
//!   again, as RFC 1047 and Postfix prefer a duplicate to a loss, and the attempt says so.
//! - The schedule is [`mxsend_core::retry`]: first retry after 5 minutes, doubling to an hour,
//!   given up after 5 days (all configurable in [`QueueOptions`]).
//! - A recipient refused for good, or still pending when the lifetime ends, gets the sender a
//!   delivery status notification ([`notice`], RFC 3464) through the same route; a message
//!   still waiting after 4 hours gets one delay warning. Never for the null sender `<>`, and
//!   never for a notification.
//! - Every attempt is reported to the caller's hook ([`QueueEvent`]), for a delivery log.
//!
//! Storage sits behind the [`Store`] trait; [`DirStore`] is the spool directory (crash-safe
//! writes, per-entry locks so two runners never send the same entry: see [`store`]).
//! [`Wakeup`] lets a long-running runner sleep until the next entry is due and still notice
//! new ones at once.

pub mod notice;
pub mod record;
mod runner;
pub mod store;
mod wakeup;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mxsend_core::retry::RetrySchedule;

use crate::config::{TransactionEnd, TransactionHook};
use crate::delivery::Report;
use crate::message::{BodySource, Message};

pub use record::{
    EntryKind, EntryRecord, QueuedRoute, RecipientRecord, RecipientState, RecordError, RouteKind,
};
pub use runner::{AttemptOutcome, AttemptReport, QueueEvent, RunMode, RunSummary};
pub use store::{DirLock, DirStore, Listed, StateVersion, Store};
pub use wakeup::Wakeup;

/// Why a queue operation failed.
#[derive(Debug)]
pub enum QueueError {
    /// A file operation failed: what was being done, on which path, and the OS's error
    /// (`No space left on device`, `Read-only file system`, `Permission denied`...).
    Io {
        /// What was being done, e.g. `fsync`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The entry cannot be used: moved aside by a run, never deleted.
    Damaged {
        /// The entry.
        id: String,
        /// Why.
        why: String,
    },
    /// No entry has this id.
    NoSuchEntry(String),
    /// Another runner holds the entry.
    Locked(String),
    /// The message cannot be queued (no recipients).
    Unqueueable(String),
}

impl QueueError {
    pub(crate) fn io(action: &'static str, path: &Path, error: io::Error) -> QueueError {
        QueueError::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Io {
                action,
                path,
                error,
            } => write!(f, "cannot {action} {}: {error}", path.display()),
            QueueError::Damaged { id, why } => write!(f, "queue entry {id} is damaged: {why}"),
            QueueError::NoSuchEntry(id) => write!(f, "no queue entry {id}"),
            QueueError::Locked(id) => {
                write!(f, "queue entry {id} is being sent by another runner")
            }
            QueueError::Unqueueable(why) => write!(f, "the message cannot be queued: {why}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// How a queue retries and notifies.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    /// When to retry, when to give up.
    pub schedule: RetrySchedule,
    /// Warn the sender once a message has waited this long (`None`: never). 4 hours by
    /// default.
    pub delay_warning: Option<Duration>,
    /// This host's name, for notifications (`Reporting-MTA`, `MAILER-DAEMON@`).
    pub reporting_mta: String,
    /// Most entries sent in one batch (one connection, for a relay).
    pub batch: usize,
}

impl Default for QueueOptions {
    fn default() -> QueueOptions {
        QueueOptions {
            schedule: RetrySchedule::default(),
            delay_warning: Some(mxsend_core::retry::DEFAULT_DELAY_WARNING),
            reporting_mta: "localhost".to_string(),
            batch: 200,
        }
    }
}

/// Why a transport could not try a batch at all (the route cannot be built, the relay host
/// does not resolve now). Every pending recipient of the batch gets it as its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError {
    /// Retrying cannot help: the recipients fail (and the sender is notified).
    pub permanent: bool,
    /// What went wrong, for the record and the notification.
    pub reason: String,
}

/// What sends a batch of queued messages that share a route: one result per message, in
/// order. A relay route should send them over one connection (`send_all`), with
/// `delivered`'s hook as the relay's [`on_transaction`](crate::Relay::on_transaction), so
/// each message's delivered recipients are recorded the moment its transaction ends, not
/// when the whole batch does.
pub trait Transport {
    /// Send `messages` (each with only its pending recipients) by `route`.
    fn send(
        &mut self,
        route: &QueuedRoute,
        messages: &[Message<EntryBody>],
        delivered: &Delivered,
    ) -> Vec<Result<Report, TransportError>>;
}

/// Records, durably and at once, the recipients a transaction of the batch delivered
/// (message index, recipient indices in that message's envelope).
#[derive(Clone)]
pub struct Delivered(Arc<Mutex<DeliveredFn>>);

/// What [`Delivered`] calls: message index, recipient indices.
pub type DeliveredFn = dyn FnMut(usize, &[usize]) + Send;

impl fmt::Debug for Delivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Delivered")
    }
}

impl Delivered {
    /// A recorder around `f`.
    pub fn new(f: impl FnMut(usize, &[usize]) + Send + 'static) -> Delivered {
        Delivered(Arc::new(Mutex::new(f)))
    }

    /// Record that `recipients` of message `message` were delivered.
    pub fn record(&self, message: usize, recipients: &[usize]) {
        if let Ok(mut f) = self.0.lock() {
            f(message, recipients);
        }
    }

    /// A recorder for a call that sends only message `index` of the batch (as its message 0).
    pub fn offset(&self, index: usize) -> Delivered {
        let all = self.clone();
        Delivered::new(move |m, recipients| all.record(index + m, recipients))
    }

    /// The library hook that records each transaction's delivered recipients.
    pub fn hook(&self) -> TransactionHook {
        let delivered = self.clone();
        TransactionHook::new(move |end: TransactionEnd<'_>| {
            let done: Vec<usize> = end
                .recipients
                .iter()
                .zip(end.outcomes)
                .filter(|(_, o)| matches!(o, mxsend_core::session::Outcome::Delivered(_)))
                .map(|(&r, _)| r)
                .collect();
            if !done.is_empty() {
                delivered.record(end.message, &done);
            }
        })
    }
}

/// A queued message's content, read from the store.
#[derive(Debug)]
pub struct EntryBody {
    file: File,
    size: u64,
}

impl EntryBody {
    /// The message in `file`, `size` octets long.
    pub fn new(file: File, size: u64) -> EntryBody {
        EntryBody { file, size }
    }
}

impl BodySource for EntryBody {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        // Positioned reads: each connection attempt reads from the start, independently.
        Ok(Box::new(PositionedReader {
            file: &self.file,
            at: 0,
        }))
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.size)
    }
}

struct PositionedReader<'a> {
    file: &'a File,
    at: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new entry id: the time in microseconds and a random number, in hex (sorts by age).
pub fn new_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{micros:013X}{:08X}", fastrand::u32(..))
}

/// One recipient still pending after a first attempt, for [`Queue::enqueue_pending`].
#[derive(Clone, Debug)]
pub struct Pending {
    /// The recipient.
    pub mailbox: mxsend_core::address::Mailbox,
    /// What the first attempt ended with.
    pub last_reply: Option<String>,
    /// The host that answered.
    pub last_host: Option<String>,
    /// Whether it ended ambiguously.
    pub ambiguous: bool,
}

/// A queue: a store, and how it retries and notifies.
#[derive(Debug)]
pub struct Queue<S = DirStore> {
    store: S,
    options: QueueOptions,
}

impl Queue<DirStore> {
    /// The spool directory at `root` (created when missing).
    pub fn open_dir(root: impl Into<PathBuf>, options: QueueOptions) -> Result<Queue, QueueError> {
        Ok(Queue {
            store: DirStore::open(root)?,
            options,
        })
    }

    /// Tell a runner waiting on this queue's [`Wakeup`] that something changed (best effort:
    /// nothing happens when none waits).
    pub fn wake_runner(&self) {
        Wakeup::notify(self.store.root());
    }
}

impl<S: Store> Queue<S> {
    /// A queue over `store`.
    pub fn new(store: S, options: QueueOptions) -> Queue<S> {
        Queue { store, options }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Wait up to `limit` for the housekeeping that a pass left running in the background
    /// (deleting finished entries' files) to end: call it before a process that ran the
    /// queue exits, so the next pass does not inherit the work ([`Store::housekeep`]).
    pub fn finish_housekeeping(&self, limit: std::time::Duration) {
        self.store.finish_housekeeping(limit);
    }

    /// The options.
    pub fn options(&self) -> &QueueOptions {
        &self.options
    }

    /// Queue `message` for every recipient, due now. Returns the entry's record.
    pub fn enqueue<B: BodySource + ?Sized>(
        &self,
        message: &Message<&B>,
        route: QueuedRoute,
    ) -> Result<EntryRecord, QueueError> {
        let pending: Vec<Pending> = message
            .envelope
            .recipients
            .iter()
            .map(|m| Pending {
                mailbox: m.clone(),
                last_reply: None,
                last_host: None,
                ambiguous: false,
            })
            .collect();
        self.store_entry(message, route, &pending, 0, EntryKind::Message)
    }

    /// Queue `message` for the recipients in `pending`, after a first attempt that left
    /// them there: the next attempt is scheduled as after a first failure.
    pub fn enqueue_pending<B: BodySource + ?Sized>(
        &self,
        message: &Message<&B>,
        route: QueuedRoute,
        pending: &[Pending],
    ) -> Result<EntryRecord, QueueError> {
        self.store_entry(message, route, pending, 1, EntryKind::Message)
    }

    fn store_entry<B: BodySource + ?Sized>(
        &self,
        message: &Message<&B>,
        route: QueuedRoute,
        pending: &[Pending],
        attempts: u32,
        kind: EntryKind,
    ) -> Result<EntryRecord, QueueError> {
        if pending.is_empty() {
            return Err(QueueError::Unqueueable("no recipients".into()));
        }
        let now = unix_now();
        let mut envelope = message.envelope.clone();
        envelope.recipients = pending.iter().map(|p| p.mailbox.clone()).collect();
        let mut record = EntryRecord::new(new_id(), &envelope, route, now, 0);
        // Content that cannot go as text is sent as BINARYMIME at every attempt, as it
        // would be at once (`crate::job::Content::mark_binary`).
        record.binary |= message.body.content_problem().is_some();
        record.kind = kind;
        record.attempts = attempts;
        for (r, p) in record.recipients.iter_mut().zip(pending) {
            r.last_reply.clone_from(&p.last_reply);
            r.last_host.clone_from(&p.last_host);
            r.ambiguous = p.ambiguous;
        }
        if attempts > 0 {
            record.next_attempt =
                match self
                    .options
                    .schedule
                    .after_failure(attempts, now, now, fastrand::u32(..))
                {
                    mxsend_core::retry::Retry::At(t) => t,
                    mxsend_core::retry::Retry::GiveUp => now,
                };
            record.log(format!(
                "{}: attempt 1 before queueing; next attempt at {}",
                notice::format_time(now),
                notice::format_time(record.next_attempt)
            ));
        }
        let mut reader = message.body.open().map_err(|e| QueueError::Io {
            action: "read the message to queue",
            path: PathBuf::from("(message)"),
            error: e,
        })?;
        self.store.add(&mut record, &mut reader)?;
        Ok(record)
    }

    /// Make an entry (or every entry) due now. Returns how many were changed; entries that
    /// another runner holds are skipped.
    pub fn flush(&self, id: Option<&str>) -> Result<usize, QueueError> {
        let ids: Vec<String> = match id {
            Some(id) => vec![id.to_string()],
            None => self.store.list()?.into_iter().map(|l| l.id).collect(),
        };
        let now = unix_now();
        let mut changed = 0;
        for id in ids {
            let Some(lock) = self.store.try_lock(&id)? else {
                if self.store.read(&id).is_err() {
                    return Err(QueueError::NoSuchEntry(id));
                }
                continue;
            };
            let Ok(mut record) = self.store.read(&id) else {
                continue;
            };
            record.next_attempt = now;
            self.store.update(&lock, &record)?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Remove an entry without sending it (the user's decision; nothing is notified).
    pub fn remove(&self, id: &str) -> Result<EntryRecord, QueueError> {
        let record = self.store.read(id)?;
        match self.store.try_lock(id)? {
            Some(lock) => {
                self.store.remove(lock)?;
                self.store.sync()?;
                self.store.housekeep();
                Ok(record)
            }
            None => Err(QueueError::Locked(id.to_string())),
        }
    }
}

impl<F> Transport for F
where
    F: FnMut(
        &QueuedRoute,
        &[Message<EntryBody>],
        &Delivered,
    ) -> Vec<Result<Report, TransportError>>,
{
    fn send(
        &mut self,
        route: &QueuedRoute,
        messages: &[Message<EntryBody>],
        delivered: &Delivered,
    ) -> Vec<Result<Report, TransportError>> {
        self(route, messages, delivered)
    }
}

/// How a [`BlockingTransport`] reaches a route.
#[cfg(feature = "blocking")]
#[derive(Clone, Debug)]
pub enum Connection {
    /// Through a relay: a batch goes over one connection (`send_all`).
    Relay(crate::Relay),
    /// By MX lookup: one `deliver` per message.
    Mx(crate::MxDelivery),
}

#[cfg(feature = "blocking")]
impl crate::Transport for Connection {
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, crate::Error> {
        match self {
            Connection::Relay(relay) => relay.send_batch(messages, on_transaction),
            Connection::Mx(mx) => mx.send_batch(messages, on_transaction),
        }
    }
}

/// The queue's [`Transport`] over any [`crate::Transport`]: `connect` turns a queued route
/// into the transport that reaches it (a [`Connection`] to a [`Relay`](crate::Relay) or
/// [`MxDelivery`](crate::MxDelivery), with credentials and TLS settings as the caller keeps
/// them; a [`crate::StubTransport`] in tests), or says why it cannot. Each batch goes out
/// with `send_batch`, the queue's [`Delivered`] recorder as its transaction hook.
pub struct BlockingTransport<F> {
    connect: F,
}

impl<F, T> BlockingTransport<F>
where
    F: FnMut(&QueuedRoute) -> Result<T, TransportError>,
    T: crate::Transport,
{
    /// A transport that builds each route's connection with `connect`.
    pub fn new(connect: F) -> BlockingTransport<F> {
        BlockingTransport { connect }
    }
}

impl<F, T> Transport for BlockingTransport<F>
where
    F: FnMut(&QueuedRoute) -> Result<T, TransportError>,
    T: crate::Transport,
{
    fn send(
        &mut self,
        route: &QueuedRoute,
        messages: &[Message<EntryBody>],
        delivered: &Delivered,
    ) -> Vec<Result<Report, TransportError>> {
        let transport = match (self.connect)(route) {
            Ok(t) => t,
            Err(e) => return messages.iter().map(|_| Err(e.clone())).collect(),
        };
        match transport.send_batch(messages, Some(&delivered.hook())) {
            Ok(reports) => reports.into_iter().map(Ok).collect(),
            // One bad envelope stops a batch: send them one by one to find it.
            Err(crate::Error::InvalidMessage { .. }) if messages.len() > 1 => messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    transport
                        .send_batch(std::slice::from_ref(m), Some(&delivered.offset(i).hook()))
                        .map_err(transport_error)
                        .and_then(|mut reports| {
                            reports.pop().ok_or_else(|| TransportError {
                                permanent: false,
                                reason: "the transport gave no report".into(),
                            })
                        })
                })
                .collect(),
            Err(e) => {
                let e = transport_error(e);
                messages.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

/// A [`crate::Transport`] that delivers now through `inner` and queues, durably, every
/// recipient whose delivery ended temporarily (deferred or ambiguous), for the queue's
/// runner to retry on its schedule: what `mxsend sendmail` does. Made by
/// [`Queue::transport`]. The reports are `inner`'s, unchanged: a queued recipient shows the
/// outcome that queued it. A message whose entry cannot be stored is [`crate::Error::Queue`].
///
/// ```
/// use mxsend::queue::{Queue, QueueOptions, QueuedRoute, RouteKind, Store};
/// use mxsend::{Envelope, Mailbox, Message, ReversePath, StubTransport, Transport};
///
/// let spool = tempfile::tempdir()?;
/// let queue = Queue::open_dir(spool.path(), QueueOptions::default())?;
/// let route = QueuedRoute { kind: RouteKind::Mx { port: 25 }, settings: Default::default() };
/// let mail = queue.transport(route, StubTransport::new().defer("grey@example.com", 451, "4.7.1 later"));
/// let envelope = Envelope::new(
///     ReversePath::parse("app@example.org")?,
///     [Mailbox::parse("bob@example.com")?, Mailbox::parse("grey@example.com")?],
/// );
/// let report = mail.send(&Message::new(envelope, "Subject: hi\r\n\r\nhi\r\n"))?;
/// assert!(report.recipients[0].is_delivered());
/// let queued = queue.store().list()?;
/// assert_eq!(queued.len(), 1, "grey@example.com waits in the spool");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct QueueingTransport<'q, T, S = DirStore> {
    queue: &'q Queue<S>,
    route: QueuedRoute,
    inner: T,
}

impl<S: Store> Queue<S> {
    /// A transport that sends through `inner` now and queues what stays temporary, with
    /// `route` recorded for its retries ([`QueueingTransport`]).
    pub fn transport<T: crate::Transport>(
        &self,
        route: QueuedRoute,
        inner: T,
    ) -> QueueingTransport<'_, T, S> {
        QueueingTransport {
            queue: self,
            route,
            inner,
        }
    }
}

impl<T: crate::Transport, S: Store> crate::Transport for QueueingTransport<'_, T, S> {
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, crate::Error> {
        let reports = self.inner.send_batch(messages, on_transaction)?;
        for (message, report) in messages.iter().zip(&reports) {
            let pending: Vec<Pending> = report
                .recipients
                .iter()
                .filter(|r| r.outcome.is_temporary())
                .map(|r| Pending {
                    mailbox: r.mailbox.clone(),
                    last_reply: Some(r.outcome.to_string()),
                    last_host: r.host.clone(),
                    ambiguous: matches!(r.outcome, mxsend_core::session::Outcome::Ambiguous(_)),
                })
                .collect();
            if !pending.is_empty() {
                let entry = Message::new(message.envelope.clone(), &message.body);
                self.queue
                    .enqueue_pending(&entry, self.route.clone(), &pending)
                    .map_err(crate::Error::Queue)?;
            }
        }
        Ok(reports)
    }
}

/// A library error as a queue outcome: an unsendable envelope is permanent; the rest
/// (configuration, name resolution, reading the entry) may pass.
pub fn transport_error(e: crate::Error) -> TransportError {
    TransportError {
        permanent: matches!(e, crate::Error::InvalidMessage { .. }),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
