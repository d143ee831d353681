//! The bookkeeping of one session that every runtime's pump shares: queueing an attempt's
//! transactions, matching events to them, knowing whose body is wanted, and the clock.
//!
//! A runtime's pump only moves bytes and time: it writes [`Session::pending_transmit`],
//! reads into [`Session::handle_input`], turns socket timeouts into
//! [`Session::handle_timeout`], performs the TLS handshake when [`Step::StartTls`] says so,
//! and feeds [`SessionRun::body_wanted`] from the message's [`crate::message::BodySource`].

use std::time::{Duration, Instant as StdInstant};

use mxsend_core::address::Domain;
use mxsend_core::session::{
    Event, Failure, Outcome, Phase, Session, SessionConfig, SessionError, TransactionId,
};
use mxsend_core::time::Instant;

use crate::delivery::Attempt;
use crate::error::Error;
use crate::message::{BodySource, Message};

/// How much of a message is read and handed to the session at a time. With the session's
/// [`mxsend_core::session::BODY_WATERMARK`] of the same size, at most about two chunks are in
/// memory per connection, whatever the message size.
pub(crate) const BODY_CHUNK: usize = 64 * 1024;

/// The caller's monotonic clock for the core: microseconds since the delivery started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: StdInstant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: StdInstant::now(),
        }
    }

    pub fn now(&self) -> Instant {
        let micros = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(micros)
    }

    /// Time left until `deadline`, never zero (a zero socket timeout means "forever" to std):
    /// a deadline already past gives one millisecond, after which the timeout fires.
    pub fn until(&self, deadline: Instant) -> Duration {
        deadline
            .saturating_duration_since(self.now())
            .max(Duration::from_millis(1))
    }
}

/// What the pump must do after the session's events are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Carry on: write, feed the body, or read.
    Continue,
    /// Start TLS on the connection now, then call [`Session::tls_established`].
    StartTls,
    /// The session is over.
    Closed,
}

/// One session carrying an attempt's transactions.
#[derive(Debug)]
pub(crate) struct SessionRun {
    pub session: Session,
    /// The session's id for each of the attempt's transactions, in order.
    ids: Vec<TransactionId>,
    /// Each transaction's message index.
    messages: Vec<usize>,
    outcomes: Vec<Option<Vec<Outcome>>>,
    /// Each transaction's body fully handed over.
    body_done: Vec<bool>,
    closed: bool,
}

impl SessionRun {
    /// A session with the attempt's transactions queued, then QUIT.
    pub fn start<B: BodySource>(
        config: SessionConfig,
        clock: &Clock,
        attempt: &Attempt,
        messages: &[Message<B>],
    ) -> Result<SessionRun, Error> {
        let now = clock.now();
        let mut session = Session::new(config, now);
        let mut ids = Vec::new();
        let mut indices = Vec::new();
        for (m, rcpts) in &attempt.transactions {
            let Some(message) = messages.get(*m) else {
                continue;
            };
            let id = session
                .send_mail(message.envelope_for(rcpts), now)
                .map_err(|error| Error::InvalidMessage { message: *m, error })?;
            ids.push(id);
            indices.push(*m);
        }
        session.quit(now);
        Ok(SessionRun {
            session,
            outcomes: vec![None; ids.len()],
            body_done: vec![false; ids.len()],
            ids,
            messages: indices,
            closed: false,
        })
    }

    /// Handle the session's events.
    pub fn poll_events(&mut self) -> Step {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::StartTls => return Step::StartTls,
                Event::Established => {}
                Event::TransactionDone(id, outcomes) => {
                    if let Some(i) = self.ids.iter().position(|x| *x == id) {
                        if let Some(slot) = self.outcomes.get_mut(i) {
                            *slot = Some(outcomes);
                        }
                    }
                }
                Event::Closed(_) => self.closed = true,
            }
        }
        if self.closed {
            Step::Closed
        } else {
            Step::Continue
        }
    }

    /// When the session wants body octets: the transaction's position in the attempt and its
    /// message index.
    ///
    /// The session says only *that* it wants a body. Transactions run in the order queued, and
    /// one that ends before its body (every recipient refused, MAIL refused, too large) reports
    /// so before the next one starts; so the body wanted is that of the first transaction with
    /// neither its outcomes nor its whole body yet.
    pub fn body_wanted(&self) -> Option<(usize, usize)> {
        if !self.session.wants_body() {
            return None;
        }
        let i = (0..self.ids.len())
            .find(|&i| self.outcomes.get(i).is_some_and(Option::is_none) && !self.body_done[i])?;
        Some((i, *self.messages.get(i)?))
    }

    /// The body of the transaction at `position` was fully handed over.
    pub fn body_finished(&mut self, position: usize) {
        if let Some(done) = self.body_done.get_mut(position) {
            *done = true;
        }
    }

    /// Each transaction's outcomes (one per recipient of the attempt); a transaction the
    /// session never reported on, which it always does, is deferred.
    pub fn into_outcomes(self, attempt: &Attempt) -> Vec<Vec<Outcome>> {
        self.outcomes
            .into_iter()
            .zip(&attempt.transactions)
            .map(|(outcomes, (_, rcpts))| {
                outcomes.unwrap_or_else(|| {
                    vec![
                        Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(
                            Phase::Mail,
                        )));
                        rcpts.len()
                    ]
                })
            })
            .collect()
    }
}

/// Check every message before any connection: what the session would refuse is the
/// caller's mistake, reported as [`Error::InvalidMessage`], never as a recipient's outcome.
pub(crate) fn validate<B: BodySource>(
    messages: &[Message<B>],
    chunking: bool,
) -> Result<(), Error> {
    let Ok(name) = Domain::parse("validation.invalid") else {
        return Ok(());
    };
    let mut config = SessionConfig::new(name);
    config.chunking = chunking;
    let mut session = Session::new(config, Instant::ZERO);
    for (m, message) in messages.iter().enumerate() {
        let all: Vec<usize> = (0..message.envelope.recipients.len()).collect();
        session
            .send_mail(message.envelope_for(&all), Instant::ZERO)
            .map_err(|error| Error::InvalidMessage { message: m, error })?;
    }
    Ok(())
}
