//! One pass over a queue: lock what is due, send it by its route in batches, record each
//! recipient's outcome durably before anything else, then notify senders and remove what is
//! done.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mxsend_core::message::DateTime;
use mxsend_core::retry::{self, Retry};
use mxsend_core::session::{Failure, Outcome};

use super::notice::{self, format_time, NoticeContext, NoticeKind};
use super::record::{EntryKind, EntryRecord, RecipientState};
use super::{
    unix_now, Delivered, EntryBody, Pending, Queue, QueueError, QueuedRoute, StateVersion, Store,
    Transport, TransportError,
};
use crate::delivery::{RecipientReport, Report, Unreached};
use crate::message::Message;

/// Which entries a pass takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Those whose next attempt is due.
    Due,
    /// Every entry, due or not (`queue flush` then run).
    All,
}

/// How one recipient's attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered: removed from the entry's pending recipients.
    Delivered,
    /// Refused for good: the sender is notified.
    Failed,
    /// Not this time: retried at `next_attempt`.
    Deferred,
    /// The end of data went out and no reply came: retried (it may arrive twice).
    Ambiguous,
    /// Still not delivered when the lifetime ended: given up, the sender is notified.
    Expired,
}

/// One recipient, one attempt: what a delivery log records.
#[derive(Clone, Debug)]
pub struct AttemptReport {
    /// The entry.
    pub id: String,
    /// The envelope sender (`""` for `<>`).
    pub sender: String,
    /// The recipient.
    pub recipient: String,
    /// The attempt's number for this entry (1 for the first).
    pub attempt: u32,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The reply or reason.
    pub reply: Option<String>,
    /// The host that answered.
    pub host: Option<String>,
    /// When the next attempt is, for deferred and ambiguous ones.
    pub next_attempt: Option<u64>,
}

/// What a pass tells its caller as it goes.
#[derive(Debug)]
pub enum QueueEvent<'a> {
    /// One recipient's attempt.
    Attempt(&'a AttemptReport),
    /// A damaged entry was moved aside (it is not retried, and nothing was deleted).
    MovedAside {
        /// The entry.
        id: &'a str,
        /// Why.
        why: &'a str,
        /// Where it is now.
        to: &'a str,
    },
    /// A notification was queued for an entry's sender.
    Notified {
        /// The entry.
        id: &'a str,
        /// Failure or delay.
        kind: NoticeKind,
        /// The notification's own entry.
        notice_id: &'a str,
    },
    /// Recipients failed and nobody is notified (the null sender, or a notification).
    NotNotified {
        /// The entry.
        id: &'a str,
    },
    /// An entry could not be handled this time (it stays queued, untouched or as last
    /// saved); the pass goes on with the others.
    Error {
        /// The entry.
        id: &'a str,
        /// What went wrong.
        error: &'a QueueError,
    },
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Entries tried.
    pub attempted: usize,
    /// Entries finished and removed.
    pub finished: usize,
    /// Entries moved aside.
    pub moved_aside: usize,
    /// Entries that could not be handled this time.
    pub errors: usize,
    /// Entries another runner held.
    pub skipped_locked: usize,
    /// The earliest next attempt among the entries left, when any.
    pub next_due: Option<u64>,
}

/// A locked entry in a batch.
struct Taken<L> {
    lock: L,
    record: EntryRecord,
    body: EntryBody,
}

/// A locked entry while its batch is being sent: what the [`Delivered`] hook updates.
struct Slot<L> {
    /// `None` once the hook removed the finished entry.
    lock: Option<L>,
    record: EntryRecord,
    /// The record's indices of the recipients the message carries, in envelope order.
    pending: Vec<usize>,
    /// Recording a delivery in the middle of the batch failed.
    error: Option<QueueError>,
}

impl<S> Queue<S>
where
    S: Store + Clone + Send + 'static,
    S::Lock: Send + 'static,
{
    /// One pass over the queue: every due entry (or every entry) is tried once, in batches of
    /// entries with the same route, and what the pass queues itself (notifications) is tried
    /// in the same pass. `on_event` hears every attempt and every problem. A damaged entry is
    /// moved aside; an entry that cannot be saved stays queued; neither stops the pass. Only
    /// a queue that cannot be listed at all is an error.
    pub fn run(
        &self,
        transport: &mut dyn Transport,
        mode: RunMode,
        on_event: &mut dyn FnMut(QueueEvent<'_>),
    ) -> Result<RunSummary, QueueError> {
        let mut summary = RunSummary::default();
        let mut tried: HashSet<String> = HashSet::new();
        loop {
            let now = unix_now();
            let mut due: Vec<(EntryRecord, Option<StateVersion>)> = Vec::new();
            summary.next_due = None;
            for listed in self.store.list()? {
                match listed.record {
                    Ok(record) if tried.contains(&record.id) => {
                        summary.next_due = earliest(summary.next_due, record.next_attempt);
                    }
                    Ok(record) if mode == RunMode::All || record.next_attempt <= now => {
                        due.push((record, listed.version));
                    }
                    Ok(record) => {
                        summary.next_due = earliest(summary.next_due, record.next_attempt);
                    }
                    Err(QueueError::Damaged { id, why }) => {
                        self.move_aside(&id, &why, &mut summary, on_event);
                    }
                    Err(error) => {
                        summary.errors += 1;
                        on_event(QueueEvent::Error {
                            id: &listed.id,
                            error: &error,
                        });
                        tried.insert(listed.id);
                    }
                }
            }
            if due.is_empty() {
                // Deletions and the like wait until nothing is being sent.
                self.store.housekeep();
                return Ok(summary);
            }
            due.sort_by(|(a, _), (b, _)| (a.next_attempt, &a.id).cmp(&(b.next_attempt, &b.id)));
            // Batches of entries with the same route, in due order.
            let mut routes: Vec<QueuedRoute> = Vec::new();
            for (r, _) in &due {
                if !routes.contains(&r.route) {
                    routes.push(r.route.clone());
                }
            }
            for route in routes {
                let (same, rest): (Vec<_>, Vec<_>) =
                    due.into_iter().partition(|(r, _)| r.route == route);
                due = rest;
                let mut same = same.into_iter().peekable();
                while same.peek().is_some() {
                    let chunk: Vec<_> = same.by_ref().take(self.options.batch.max(1)).collect();
                    for (r, _) in &chunk {
                        tried.insert(r.id.clone());
                    }
                    self.run_batch(transport, &route, chunk, mode, &mut summary, on_event);
                }
            }
        }
    }

    fn move_aside(
        &self,
        id: &str,
        why: &str,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(QueueEvent<'_>),
    ) {
        match self.store.move_aside(id, why) {
            Ok(to) => {
                summary.moved_aside += 1;
                on_event(QueueEvent::MovedAside { id, why, to: &to });
            }
            Err(error) => {
                summary.errors += 1;
                on_event(QueueEvent::Error { id, error: &error });
            }
        }
    }

    /// An entry that cannot be sent this time: gone (another runner finished it), damaged
    /// (moved aside), or not readable now (reported; it stays queued).
    fn skip(
        &self,
        id: &str,
        error: QueueError,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(QueueEvent<'_>),
    ) {
        match error {
            QueueError::NoSuchEntry(_) => {}
            QueueError::Damaged { id, why } => self.move_aside(&id, &why, summary, on_event),
            error => {
                summary.errors += 1;
                on_event(QueueEvent::Error { id, error: &error });
            }
        }
    }

    fn run_batch(
        &self,
        transport: &mut dyn Transport,
        route: &QueuedRoute,
        listed: Vec<(EntryRecord, Option<StateVersion>)>,
        mode: RunMode,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(QueueEvent<'_>),
    ) {
        let now = unix_now();
        let first_id = listed
            .first()
            .map(|(r, _)| r.id.clone())
            .unwrap_or_default();
        let mut taken: Vec<Taken<S::Lock>> = Vec::new();
        for (listed, version) in listed {
            let id_owned = listed.id.clone();
            let id = id_owned.as_str();
            let lock = match self.store.try_lock(id) {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    summary.skipped_locked += 1;
                    continue;
                }
                Err(error) => {
                    summary.errors += 1;
                    on_event(QueueEvent::Error { id, error: &error });
                    continue;
                }
            };
            // Read again under the lock, unless the saved record is still the one listed:
            // another runner may have sent it meanwhile.
            let record = match version {
                Some(version) if self.store.unchanged(&lock, version) => listed,
                _ => match self.store.read(id) {
                    Ok(record) => record,
                    Err(error) => {
                        self.skip(id, error, summary, on_event);
                        continue;
                    }
                },
            };
            if mode == RunMode::Due && record.next_attempt > now {
                continue;
            }
            if !record.has_pending() {
                // Done but not removed (a crash after the last save): finish it now.
                self.finish(lock, record, summary, on_event);
                continue;
            }
            let file = match self.store.open_message(&lock, &record) {
                Ok(file) => file,
                Err(error) => {
                    self.skip(id, error, summary, on_event);
                    continue;
                }
            };
            let body = EntryBody::new(file, record.message_size);
            taken.push(Taken { lock, record, body });
        }
        if taken.is_empty() {
            return;
        }
        if let Err(error) = self.store.check_writable() {
            for t in &taken {
                summary.errors += 1;
                on_event(QueueEvent::Error {
                    id: &t.record.id,
                    error: &error,
                });
            }
            return;
        }
        summary.attempted += taken.len();
        let mut messages = Vec::with_capacity(taken.len());
        let mut kept = Vec::with_capacity(taken.len());
        for t in taken {
            match t.record.pending_envelope() {
                Ok(envelope) => {
                    messages.push(Message::new(envelope, t.body));
                    kept.push((t.lock, t.record));
                }
                Err(e) => {
                    let (id, why) = (t.record.id.clone(), e.to_string());
                    drop(t.lock);
                    self.move_aside(&id, &why, summary, on_event);
                }
            }
        }
        let slots: Vec<Slot<S::Lock>> = kept
            .into_iter()
            .map(|(lock, record)| Slot {
                pending: pending_indices(&record),
                lock: Some(lock),
                record,
                error: None,
            })
            .collect();
        let shared = Arc::new(Mutex::new(slots));
        let delivered = {
            let shared = Arc::clone(&shared);
            let store = self.store.clone();
            Delivered::new(move |message, recipients| {
                let Ok(mut slots) = shared.lock() else {
                    return;
                };
                let Some(slot) = slots.get_mut(message) else {
                    return;
                };
                for r in recipients {
                    let Some(&i) = slot.pending.get(*r) else {
                        continue;
                    };
                    if let Some(rec) = slot.record.recipients.get_mut(i) {
                        rec.state = RecipientState::Delivered;
                    }
                }
                // Saved before the session goes on, so a crash from here on does not send to
                // these recipients again: a finished entry leaves the queue by one rename,
                // another's state is replaced. Both reach the disk with the batch's sync
                // (one fsync for the batch, not one per message).
                let finished = slot
                    .record
                    .recipients
                    .iter()
                    .all(|r| r.state == RecipientState::Delivered);
                let result = match slot.lock.take() {
                    Some(lock) if finished => store.remove(lock),
                    Some(lock) => {
                        let result = store.stage(&lock, &slot.record);
                        slot.lock = Some(lock);
                        result
                    }
                    None => Ok(()),
                };
                if let Err(e) = result {
                    slot.error = Some(e);
                }
            })
        };
        let mut results = transport.send(route, &messages, &delivered).into_iter();
        drop(messages);
        drop(delivered);
        let slots = match shared.lock() {
            Ok(mut slots) => std::mem::take(&mut *slots),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let mut finished = Vec::new();
        let mut removed_any = false;
        for slot in slots {
            let Slot {
                lock,
                mut record,
                pending,
                error,
            } = slot;
            if let Some(error) = error {
                summary.errors += 1;
                on_event(QueueEvent::Error {
                    id: &record.id,
                    error: &error,
                });
            }
            let result = results.next().unwrap_or_else(|| {
                Err(TransportError {
                    permanent: false,
                    reason: "the transport returned no result for this message".into(),
                })
            });
            let reports = self.apply(&mut record, &pending, result, unix_now());
            let Some(lock) = lock else {
                // Finished and removed as its transaction ended.
                removed_any = true;
                summary.finished += 1;
                for report in &reports {
                    on_event(QueueEvent::Attempt(report));
                }
                continue;
            };
            // The outcome is saved before anything else (module docs). A finished entry's
            // record is its removal, made durable by one directory sync for the batch.
            if record.has_pending() || self.needs_notice(&record) {
                if let Err(error) = self.store.update(&lock, &record) {
                    summary.errors += 1;
                    on_event(QueueEvent::Error {
                        id: &record.id,
                        error: &error,
                    });
                    continue;
                }
            } else {
                match self.store.remove(lock) {
                    Ok(()) => {
                        removed_any = true;
                        summary.finished += 1;
                    }
                    Err(error) => {
                        summary.errors += 1;
                        on_event(QueueEvent::Error {
                            id: &record.id,
                            error: &error,
                        });
                    }
                }
                for report in &reports {
                    on_event(QueueEvent::Attempt(report));
                }
                continue;
            }
            for report in &reports {
                on_event(QueueEvent::Attempt(report));
            }
            finished.push((lock, record));
        }
        if removed_any {
            if let Err(error) = self.store.sync() {
                summary.errors += 1;
                on_event(QueueEvent::Error {
                    id: &first_id,
                    error: &error,
                });
            }
        }
        for (lock, record) in finished {
            self.notify_and_finish(lock, record, summary, on_event);
        }
    }

    /// Apply one message's result to its record; returns the attempt reports.
    fn apply(
        &self,
        record: &mut EntryRecord,
        pending: &[usize],
        result: Result<Report, TransportError>,
        now: u64,
    ) -> Vec<AttemptReport> {
        record.attempts = record.attempts.saturating_add(1);
        let mut outcomes: Vec<(usize, AttemptOutcome)> = Vec::new();
        match result {
            Ok(report) => {
                for (&i, rr) in pending.iter().zip(&report.recipients) {
                    let Some(r) = record.recipients.get_mut(i) else {
                        continue;
                    };
                    let (state, outcome) = match &rr.outcome {
                        Outcome::Delivered(_) => {
                            (RecipientState::Delivered, AttemptOutcome::Delivered)
                        }
                        Outcome::Rejected(_) => (RecipientState::Failed, AttemptOutcome::Failed),
                        Outcome::Deferred(_) => (RecipientState::Pending, AttemptOutcome::Deferred),
                        Outcome::Ambiguous(_) => {
                            (RecipientState::Pending, AttemptOutcome::Ambiguous)
                        }
                    };
                    r.state = state;
                    r.ambiguous = outcome == AttemptOutcome::Ambiguous;
                    r.last_reply = Some(describe(rr));
                    r.last_host.clone_from(&rr.host);
                    outcomes.push((i, outcome));
                }
                // A report shorter than the envelope leaves the rest deferred.
                for &i in pending.iter().skip(report.recipients.len()) {
                    if let Some(r) = record.recipients.get_mut(i) {
                        r.last_reply = Some("no outcome reported for this recipient".into());
                    }
                    outcomes.push((i, AttemptOutcome::Deferred));
                }
            }
            Err(e) => {
                for &i in pending {
                    if let Some(r) = record.recipients.get_mut(i) {
                        if r.state == RecipientState::Delivered {
                            // Recorded by the hook before the error.
                            outcomes.push((i, AttemptOutcome::Delivered));
                            continue;
                        }
                        r.last_reply = Some(e.reason.clone());
                        r.last_host = None;
                        r.ambiguous = false;
                        if e.permanent {
                            r.state = RecipientState::Failed;
                        }
                    }
                    if record
                        .recipients
                        .get(i)
                        .is_some_and(|r| r.state == RecipientState::Delivered)
                    {
                        continue;
                    }
                    let outcome = match e.permanent {
                        true => AttemptOutcome::Failed,
                        false => AttemptOutcome::Deferred,
                    };
                    outcomes.push((i, outcome));
                }
            }
        }
        let mut next = None;
        if record.has_pending() {
            match self.options.schedule.after_failure(
                record.attempts,
                record.queued_at,
                now,
                fastrand::u32(..),
            ) {
                Retry::At(t) => {
                    record.next_attempt = t;
                    next = Some(t);
                }
                Retry::GiveUp => {
                    for (i, outcome) in &mut outcomes {
                        if let Some(r) = record.recipients.get_mut(*i) {
                            if r.state == RecipientState::Pending {
                                r.state = RecipientState::Failed;
                                *outcome = AttemptOutcome::Expired;
                            }
                        }
                    }
                }
            }
        }
        let mut reports = Vec::with_capacity(outcomes.len());
        for (i, outcome) in outcomes {
            let Some(r) = record.recipients.get(i) else {
                continue;
            };
            reports.push(AttemptReport {
                id: record.id.clone(),
                sender: record.sender.clone(),
                recipient: r.address.clone(),
                attempt: record.attempts,
                outcome,
                reply: r.last_reply.clone(),
                host: r.last_host.clone(),
                next_attempt: match outcome {
                    AttemptOutcome::Deferred | AttemptOutcome::Ambiguous => next,
                    _ => None,
                },
            });
        }
        for report in &reports {
            let line = attempt_line(report, now);
            record.log(line);
        }
        reports
    }

    /// Whether the record has failed recipients not yet notified, or a delay warning due.
    fn needs_notice(&self, record: &EntryRecord) -> bool {
        record
            .recipients
            .iter()
            .any(|r| r.state == RecipientState::Failed && !r.bounced)
            || self.warning_due(record, unix_now())
    }

    fn warning_due(&self, record: &EntryRecord, now: u64) -> bool {
        record.kind == EntryKind::Message
            && !record.sender.is_empty()
            && !record.warned
            && record.has_pending()
            && retry::delay_warning_due(record.queued_at, now, self.options.delay_warning)
    }

    /// Queue the notifications an entry needs, mark them sent, and remove the entry if it is
    /// done. A notification is queued before it is marked sent: a crash between the two
    /// sends it twice rather than never.
    fn notify_and_finish(
        &self,
        lock: S::Lock,
        mut record: EntryRecord,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(QueueEvent<'_>),
    ) {
        let now = unix_now();
        let failed: Vec<usize> = record
            .recipients
            .iter()
            .enumerate()
            .filter(|(_, r)| r.state == RecipientState::Failed && !r.bounced)
            .map(|(i, _)| i)
            .collect();
        let mut changed = false;
        if !failed.is_empty() {
            if record.kind == EntryKind::Notification || record.sender.is_empty() {
                on_event(QueueEvent::NotNotified { id: &record.id });
            } else {
                match self.queue_notice(&record, &failed, NoticeKind::Failure, now) {
                    Ok(notice_id) => on_event(QueueEvent::Notified {
                        id: &record.id,
                        kind: NoticeKind::Failure,
                        notice_id: &notice_id,
                    }),
                    Err(error) => {
                        summary.errors += 1;
                        on_event(QueueEvent::Error {
                            id: &record.id,
                            error: &error,
                        });
                        return;
                    }
                }
            }
            for i in failed {
                if let Some(r) = record.recipients.get_mut(i) {
                    r.bounced = true;
                }
            }
            changed = true;
        }
        if self.warning_due(&record, now) {
            let delayed: Vec<usize> = record
                .recipients
                .iter()
                .enumerate()
                .filter(|(_, r)| r.state == RecipientState::Pending)
                .map(|(i, _)| i)
                .collect();
            match self.queue_notice(&record, &delayed, NoticeKind::Delay, now) {
                Ok(notice_id) => {
                    on_event(QueueEvent::Notified {
                        id: &record.id,
                        kind: NoticeKind::Delay,
                        notice_id: &notice_id,
                    });
                    record.warned = true;
                    changed = true;
                }
                Err(error) => {
                    summary.errors += 1;
                    on_event(QueueEvent::Error {
                        id: &record.id,
                        error: &error,
                    });
                }
            }
        }
        if !record.has_pending() {
            self.finish(lock, record, summary, on_event);
        } else if changed {
            if let Err(error) = self.store.update(&lock, &record) {
                summary.errors += 1;
                on_event(QueueEvent::Error {
                    id: &record.id,
                    error: &error,
                });
            }
        }
    }

    /// Remove a finished entry, durably.
    fn finish(
        &self,
        lock: S::Lock,
        record: EntryRecord,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(QueueEvent<'_>),
    ) {
        let result = self.store.remove(lock).and_then(|()| self.store.sync());
        match result {
            Ok(()) => summary.finished += 1,
            Err(error) => {
                summary.errors += 1;
                on_event(QueueEvent::Error {
                    id: &record.id,
                    error: &error,
                });
            }
        }
    }

    /// Queue a notification of `kind` about `recipients` (indices) of `record` to its sender.
    fn queue_notice(
        &self,
        record: &EntryRecord,
        recipients: &[usize],
        kind: NoticeKind,
        now: u64,
    ) -> Result<String, QueueError> {
        let head = self
            .store
            .message_head(&record.id, notice::MAX_ORIGINAL_HEADER)?;
        let listed: Vec<_> = recipients
            .iter()
            .filter_map(|&i| record.recipients.get(i))
            .collect();
        let date = |t: u64| DateTime {
            unix_seconds: i64::try_from(t).unwrap_or(i64::MAX),
            utc_offset_minutes: 0,
        };
        let context = NoticeContext {
            reporting_mta: &self.options.reporting_mta,
            now: date(now),
            retry_until: Some(date(self.options.schedule.expires_at(record.queued_at))),
            random: fastrand::u64(..),
        };
        let Some(text) = notice::build(record, &listed, kind, &head, &context) else {
            return Err(QueueError::Unqueueable(
                "the null sender gets no notice".into(),
            ));
        };
        let sender = record
            .reverse_path()
            .ok()
            .and_then(|p| match p {
                mxsend_core::address::ReversePath::Mailbox(m) => Some(m),
                mxsend_core::address::ReversePath::Null => None,
            })
            .ok_or_else(|| QueueError::Unqueueable("the null sender gets no notice".into()))?;
        let envelope = mxsend_core::session::Envelope {
            from: mxsend_core::address::ReversePath::Null,
            recipients: vec![sender.clone()],
            size: Some(text.len() as u64),
            body: if text.is_ascii() {
                mxsend_core::command::BodyType::SevenBit
            } else {
                mxsend_core::command::BodyType::EightBitMime
            },
            utf8_headers: sender.needs_smtputf8(),
            dsn: Default::default(),
        };
        let message = Message::new(envelope, text.as_slice());
        let pending = [Pending {
            mailbox: sender,
            last_reply: None,
            last_host: None,
            ambiguous: false,
        }];
        let stored = self.store_entry(
            &message,
            record.route.clone(),
            &pending,
            0,
            EntryKind::Notification,
        )?;
        Ok(stored.id)
    }
}

/// The indices of a record's pending recipients, in order: a message's envelope.
fn pending_indices(record: &EntryRecord) -> Vec<usize> {
    record
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| r.state == RecipientState::Pending)
        .map(|(i, _)| i)
        .collect()
}

fn earliest(a: Option<u64>, b: u64) -> Option<u64> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// A recipient's outcome as one line of text: the server's reply, or why none came.
fn describe(r: &RecipientReport) -> String {
    if let Some(unreached) = &r.unreached {
        return match unreached {
            Unreached::Route(e) => e.to_string(),
            Unreached::Connect(e) => format!("connection failed: {e}"),
            Unreached::Tls(e) => format!("TLS handshake failed: {e}"),
            policy @ Unreached::Policy(_) => policy.to_string(),
        };
    }
    let text = match &r.outcome {
        Outcome::Delivered(reply) => reply.to_string(),
        Outcome::Rejected(f) | Outcome::Deferred(f) | Outcome::Ambiguous(f) => match f {
            Failure::Reply(reply) | Failure::SenderRefused(reply) => reply.to_string(),
            Failure::Body(why) => format!("the message content did not go out: {why}"),
            Failure::Unreached => "no server answered".into(),
            Failure::Session(e) => e.to_string(),
            Failure::TooLarge { size, limit } => format!(
                "the message ({size} octets) is larger than the server accepts ({limit} octets)"
            ),
            Failure::EightBitUnsupported => {
                "the message has 8-bit content and the server does not offer 8BITMIME".into()
            }
            Failure::Utf8Unsupported => {
                "the message needs SMTPUTF8 and the server does not offer it".into()
            }
            Failure::BinaryUnsupported => {
                "the message is binary and the server does not offer BINARYMIME".into()
            }
            other => format!("{other:?}"),
        },
    };
    text.replace('\n', " ")
}

/// The history line of one attempt.
fn attempt_line(r: &AttemptReport, now: u64) -> String {
    let outcome = match r.outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::Deferred => "deferred",
        AttemptOutcome::Ambiguous => "ambiguous (may arrive twice)",
        AttemptOutcome::Expired => "expired (given up)",
    };
    let mut line = format!(
        "{}: attempt {} to <{}>: {outcome}",
        format_time(now),
        r.attempt,
        r.recipient
    );
    if let Some(host) = &r.host {
        line.push_str(&format!(" by {host}"));
    }
    if let Some(reply) = &r.reply {
        line.push_str(&format!(": {reply}"));
    }
    if let Some(next) = r.next_attempt {
        line.push_str(&format!("; next attempt {}", format_time(next)));
    }
    line
}
