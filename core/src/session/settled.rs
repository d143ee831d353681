//! The outcomes of a finished transaction, lent to the caller: [`Session::outcomes`].
//!
//! [`Event::TransactionDone`] names the transaction; its outcomes stay in the session, one per
//! recipient of the caller's envelope, and the caller borrows them ([`Outcomes`], an iterator
//! of [`RecipientOutcome`]: the recipient's index in the envelope, the recipient, and an
//! [`OutcomeRef`]) from the `poll_event` that returned the event until the next
//! `poll_event`, the way httparse and h11 lend parsed data instead of copying it. A caller
//! that keeps them converts them ([`Outcomes::to_vec`], [`OutcomeRef::to_outcome`]).
//!
//! Why: a delivered recipient's reply is the server's 250 to the end of data (or, with LMTP,
//! its own 250). Each is kept as text in the transaction's reused buffer, not as an owned
//! [`crate::reply::Reply`], and the per-recipient vector and that buffer go back to a pool
//! when the caller is done with them, so a transaction whose recipients are all accepted
//! allocates nothing once the session has warmed up (`core/benches/session_allocs.rs`).
//! Failures keep owned [`Outcome`]s: they may allocate, they are not the steady state.

use super::{Envelope, Event, Failure, Outcome, RecipientState, Session, TransactionId};
use crate::address::Mailbox;
use crate::reply::{ReplyCode, ReplyRef};
use alloc::string::String;
use alloc::vec::Vec;

/// Most recycled buffers the session keeps (about the most transactions in flight at once).
const POOL: usize = 64;

/// Recycled buffers larger than these are dropped rather than kept: one huge envelope or
/// reply must not pin its memory for the life of the session.
const POOL_MAX_RECIPIENTS: usize = 1024;
const POOL_MAX_TEXT: usize = 16 * 1024;

/// A reply kept as text in a transaction's buffer (`start..end`) rather than in an
/// allocation of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KeptReply {
    code: ReplyCode,
    start: usize,
    end: usize,
}

impl KeptReply {
    /// Append `reply`'s text to `text` and say where it is.
    pub(super) fn keep(text: &mut String, reply: ReplyRef<'_>) -> KeptReply {
        let start = text.len();
        text.push_str(reply.raw_text());
        KeptReply {
            code: reply.code(),
            start,
            end: text.len(),
        }
    }

    pub(super) fn get<'a>(&self, text: &'a str) -> ReplyRef<'a> {
        ReplyRef::from_text(self.code, text.get(self.start..self.end).unwrap_or(""))
    }
}

/// How one recipient ended, as the session keeps it.
#[derive(Clone, Debug)]
pub(super) enum Verdict {
    /// Delivered; the reply is in the transaction's text buffer.
    Delivered(KeptReply),
    /// Any other outcome, owned.
    Outcome(Outcome),
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Verdict {
        Verdict::Outcome(outcome)
    }
}

/// A caller's transaction that has ended: its envelope (handed back by [`send_mail`]'s
/// caller, so the recipient of each outcome can be named), one settled state per
/// recipient (all [`RecipientState::Done`]) and the text of the replies they keep.
///
/// [`send_mail`]: Session::send_mail
#[derive(Debug)]
pub(super) struct Settled {
    pub(super) id: TransactionId,
    pub(super) envelope: Envelope,
    pub(super) recipients: Vec<RecipientState>,
    pub(super) text: String,
}

/// Reused per-transaction buffers: recipient states and reply text.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    pub(super) recipients: Vec<RecipientState>,
    pub(super) text: String,
}

/// Stands for a state that is not settled, should one ever reach the caller (it cannot: a
/// transaction is reported only once every recipient has its outcome).
static UNSETTLED: Failure = Failure::Unreached;

fn outcome_of<'a>(state: &'a RecipientState, text: &'a str) -> OutcomeRef<'a> {
    match state {
        RecipientState::Done(Verdict::Delivered(kept)) => OutcomeRef::Delivered(kept.get(text)),
        RecipientState::Done(Verdict::Outcome(outcome)) => outcome.as_outcome_ref(),
        _ => {
            debug_assert!(false, "an unsettled recipient was reported: {state:?}");
            OutcomeRef::Deferred(&UNSETTLED)
        }
    }
}

impl Session {
    /// The outcomes of transaction `id`, one per recipient of its envelope, in envelope
    /// order, each with the recipient's index in the envelope and the recipient itself.
    ///
    /// They are there from the [`Session::poll_event`] that returned
    /// [`Event::TransactionDone`] for `id` until the next call to `poll_event` (`None`
    /// before and after, and for an unknown `id`); they borrow the session, so nothing
    /// else can be called on it while they are held. To keep them, convert them:
    /// [`Outcomes::to_vec`] or [`OutcomeRef::to_outcome`].
    ///
    /// ```
    /// # use mxsend_core::address::{Domain, Mailbox, ReversePath};
    /// # use mxsend_core::session::{Envelope, Event, Session, SessionConfig, TlsPolicy};
    /// # use mxsend_core::time::Instant;
    /// # let now = Instant::ZERO;
    /// # let mut config = SessionConfig::new(Domain::parse("client.example").unwrap());
    /// # config.tls = TlsPolicy::Disabled;
    /// # let mut session = Session::new(config, now);
    /// # let rcpts = ["bob@example.test", "carol@example.test"];
    /// # let envelope = Envelope::new(
    /// #     ReversePath::parse("alice@example.org").unwrap(),
    /// #     rcpts.iter().map(|r| Mailbox::parse(r).unwrap()),
    /// # );
    /// # let sent = |s: &mut Session| s.advance_transmit(s.pending_transmit().len());
    /// # session.send_mail(envelope, now).unwrap();
    /// # session.handle_input(b"220 mx\r\n", now);
    /// # sent(&mut session);
    /// # session.handle_input(b"250-mx\r\n250 PIPELINING\r\n", now);
    /// # sent(&mut session);
    /// # session.handle_input(b"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n", now);
    /// # session.send_body(b"Subject: hi\r\n\r\nhello\r\n", now).unwrap();
    /// # session.finish_body(now).unwrap();
    /// # sent(&mut session);
    /// // ... after the end of data, the server answers for the recipients it accepted:
    /// session.handle_input(b"250 2.0.0 queued as 4F2A\r\n", now);
    /// while let Some(event) = session.poll_event() {
    ///     if let Event::TransactionDone(id) = event {
    ///         for done in session.outcomes(id).into_iter().flatten() {
    ///             match done.index {
    ///                 0 => assert_eq!(done.outcome.to_string(), "delivered: 250 2.0.0 queued as 4F2A"),
    ///                 _ => assert!(done.outcome.is_permanent()),
    ///             }
    ///             println!("{}: {}", done.recipient, done.outcome);
    ///         }
    ///     }
    /// }
    /// ```
    pub fn outcomes(&self, id: TransactionId) -> Option<Outcomes<'_>> {
        let settled = self.settled.iter().find(|s| s.id == id)?;
        Some(Outcomes {
            envelope: &settled.envelope,
            states: &settled.recipients,
            text: &settled.text,
            next: 0,
        })
    }

    /// Report a caller's transaction as ended: its outcomes are kept for
    /// [`Session::outcomes`] and [`Event::TransactionDone`] is queued.
    pub(super) fn push_settled(&mut self, settled: Settled) {
        self.events.push_back(Event::TransactionDone(settled.id));
        self.settled.push_back(settled);
    }

    /// Buffers for a new transaction: recycled ones when there are, empty otherwise.
    pub(super) fn take_buffers(&mut self) -> Buffers {
        self.pool.pop().unwrap_or_default()
    }

    /// Give a transaction's buffers back for the next one.
    pub(super) fn recycle(&mut self, mut recipients: Vec<RecipientState>, mut text: String) {
        if self.pool.len() >= POOL
            || recipients.capacity() > POOL_MAX_RECIPIENTS
            || text.capacity() > POOL_MAX_TEXT
        {
            return;
        }
        recipients.clear();
        text.clear();
        self.pool.push(Buffers { recipients, text });
    }

    /// The caller has had its chance at `id`'s outcomes ([`Session::poll_event`] was called
    /// again): forget them and keep the buffers.
    pub(super) fn release_settled(&mut self, id: TransactionId) {
        // Transactions are reported in event order, so this is the front one.
        let Some(at) = self.settled.iter().position(|s| s.id == id) else {
            return;
        };
        if let Some(settled) = self.settled.remove(at) {
            self.recycle(settled.recipients, settled.text);
        }
    }
}

/// One recipient's outcome, borrowed from the session ([`Session::outcomes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipientOutcome<'a> {
    /// The recipient's index in the envelope given to [`Session::send_mail`].
    pub index: usize,
    /// The recipient (the envelope's `recipients[index]`).
    pub recipient: &'a Mailbox,
    /// How it ended.
    pub outcome: OutcomeRef<'a>,
}

/// A transaction's outcomes, borrowed from the session: an iterator of
/// [`RecipientOutcome`] in envelope order, one per recipient ([`Session::outcomes`]).
#[derive(Clone, Debug)]
pub struct Outcomes<'a> {
    envelope: &'a Envelope,
    states: &'a [RecipientState],
    text: &'a str,
    next: usize,
}

impl<'a> Outcomes<'a> {
    /// The transaction's envelope, as given to [`Session::send_mail`].
    pub fn envelope(&self) -> &'a Envelope {
        self.envelope
    }

    /// The outcome of recipient `index` of the envelope (whatever the iterator has
    /// already yielded).
    pub fn get(&self, index: usize) -> Option<OutcomeRef<'a>> {
        self.states.get(index).map(|s| outcome_of(s, self.text))
    }

    /// True when every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.states
            .iter()
            .all(|s| matches!(s, RecipientState::Done(Verdict::Delivered(_))))
    }

    /// Every recipient's outcome, owned, in envelope order (whatever the iterator has
    /// already yielded). Recipients delivered with the same reply share one [`Outcome`]'s
    /// reply text (one allocation for the transaction, not one per recipient).
    pub fn to_vec(&self) -> Vec<Outcome> {
        let mut last: Option<(KeptReply, crate::reply::Reply)> = None;
        self.states
            .iter()
            .map(|state| match state {
                RecipientState::Done(Verdict::Delivered(kept)) => {
                    let reply = match &last {
                        Some((seen, reply)) if seen == kept => reply.clone(),
                        _ => {
                            let reply = kept.get(self.text).to_reply();
                            last = Some((*kept, reply.clone()));
                            reply
                        }
                    };
                    Outcome::Delivered(reply)
                }
                other => outcome_of(other, self.text).to_outcome(),
            })
            .collect()
    }
}

impl<'a> Iterator for Outcomes<'a> {
    type Item = RecipientOutcome<'a>;

    fn next(&mut self) -> Option<RecipientOutcome<'a>> {
        let index = self.next;
        let state = self.states.get(index)?;
        self.next += 1;
        Some(RecipientOutcome {
            index,
            recipient: self.envelope.recipients.get(index)?,
            outcome: outcome_of(state, self.text),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.states.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Outcomes<'_> {}

/// Where one recipient ended, borrowed ([`Session::outcomes`]): [`Outcome`] without the
/// copies. [`OutcomeRef::to_outcome`] makes the owned one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeRef<'a> {
    /// The server took responsibility (250 to the end of data).
    Delivered(ReplyRef<'a>),
    /// Refused for good (5xx).
    Rejected(&'a Failure),
    /// Not done this time (4xx, connection lost, timeout): try later.
    Deferred(&'a Failure),
    /// The connection ended after the end of data and before its reply: the message may
    /// have been delivered (RFC 1047).
    Ambiguous(&'a Failure),
}

impl Outcome {
    /// The borrowed form of this outcome (no allocation).
    pub fn as_outcome_ref(&self) -> OutcomeRef<'_> {
        match self {
            Outcome::Delivered(reply) => OutcomeRef::Delivered(reply.as_reply_ref()),
            Outcome::Rejected(failure) => OutcomeRef::Rejected(failure),
            Outcome::Deferred(failure) => OutcomeRef::Deferred(failure),
            Outcome::Ambiguous(failure) => OutcomeRef::Ambiguous(failure),
        }
    }
}

impl From<OutcomeRef<'_>> for Outcome {
    fn from(outcome: OutcomeRef<'_>) -> Outcome {
        outcome.to_outcome()
    }
}

impl PartialEq<Outcome> for OutcomeRef<'_> {
    fn eq(&self, other: &Outcome) -> bool {
        *self == other.as_outcome_ref()
    }
}
