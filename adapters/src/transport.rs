//! One interface for "send this mail", whatever does the sending: [`Transport`].
//!
//! Application code that sends mail takes a `&impl Transport` and gets a [`Report`] per
//! message, one outcome per recipient. In production that is a [`Relay`] or an
//! [`MxDelivery`] (the blocking adapter), or the queue's [`BlockingTransport`]
//! route by route; in tests a [`StubTransport`] answers with scripted outcomes and a
//! [`RecordingTransport`] keeps every message it was given, so mail code is tested without
//! a server (as lettre's `StubTransport` and `FileTransport` allow).
//!
//! ```
//! use mxsend::{Envelope, Mailbox, Message, ReversePath, StubTransport, Transport};
//!
//! // The application's code: it knows only the trait.
//! fn notify(mail: &impl Transport, to: &str) -> Result<bool, Box<dyn std::error::Error>> {
//!     let envelope = Envelope::new(ReversePath::parse("app@example.org")?, [Mailbox::parse(to)?]);
//!     let report = mail.send(&Message::new(envelope, "Subject: done\r\n\r\nIt is done.\r\n"))?;
//!     Ok(report.all_delivered())
//! }
//!
//! // Its test: one address refused, everything else delivered.
//! let stub = StubTransport::new().reject("eve@example.com", 550, "5.1.1 no such user");
//! assert!(notify(&stub, "bob@example.com")?);
//! assert!(!notify(&stub, "eve@example.com")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`BlockingTransport`]: crate::queue::BlockingTransport
//! [`Relay`]: crate::Relay
//! [`MxDelivery`]: crate::MxDelivery

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use mxsend_core::address::Mailbox;
use mxsend_core::reply::{Reply, ReplyCode};
use mxsend_core::session::{Envelope, Failure, Outcome, UsageError};

use crate::config::{TransactionEnd, TransactionHook};
use crate::delivery::{RecipientReport, Report};
use crate::error::Error;
use crate::message::{BodySource, Message};

/// Something that sends messages and says what happened to each recipient.
///
/// Implemented by [`Relay`](crate::Relay) (one connection for a batch, pipelined) and
/// [`MxDelivery`](crate::MxDelivery) (each message to its recipients' MX hosts) over the
/// blocking adapter, by the queue's routes ([`crate::queue::Connection`]), by
/// [`StubTransport`] and [`RecordingTransport`], and by a reference to any of them.
///
/// Only [`Transport::send_batch`] is required; the other two are it with one message, or
/// without a hook.
pub trait Transport {
    /// Send `messages`, telling `on_transaction` (when given) as each transaction ends, with
    /// the message's index in `messages`: one [`Report`] per message, in order. An `Err` is
    /// only for what stops every message (a bad envelope, an unusable configuration): see
    /// [`Error`].
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error>;

    /// Send one message.
    fn send<B: BodySource>(&self, message: &Message<B>) -> Result<Report, Error> {
        let mut reports = self.send_batch(std::slice::from_ref(message), None)?;
        Ok(reports.pop().unwrap_or(Report {
            recipients: Vec::new(),
        }))
    }

    /// Send several messages (over one connection where the transport can).
    fn send_all<B: BodySource>(&self, messages: &[Message<B>]) -> Result<Vec<Report>, Error> {
        self.send_batch(messages, None)
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error> {
        (**self).send_batch(messages, on_transaction)
    }
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error> {
        (**self).send_batch(messages, on_transaction)
    }
}

/// `first`, then `second`: both told of every transaction.
#[cfg(feature = "blocking")]
pub(crate) fn chain_hooks(
    first: Option<&TransactionHook>,
    second: Option<&TransactionHook>,
) -> Option<TransactionHook> {
    match (first, second) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (Some(a), Some(b)) => {
            let (a, b) = (a.clone(), b.clone());
            Some(TransactionHook::new(move |end: TransactionEnd<'_>| {
                tell(&a, &end);
                tell(&b, &end);
            }))
        }
    }
}

/// A hook that tells `hook` of message `index` of a batch whenever it is told of message 0
/// (a call that sends only that one message).
#[cfg(feature = "blocking")]
pub(crate) fn offset_hook(hook: &TransactionHook, index: usize) -> TransactionHook {
    let hook = hook.clone();
    TransactionHook::new(move |end: TransactionEnd<'_>| {
        tell(
            &hook,
            &TransactionEnd {
                message: end.message + index,
                recipients: end.recipients,
                outcomes: end.outcomes,
            },
        );
    })
}

fn tell(hook: &TransactionHook, end: &TransactionEnd<'_>) {
    let mut f = hook.0.lock().unwrap_or_else(PoisonError::into_inner);
    f(TransactionEnd {
        message: end.message,
        recipients: end.recipients,
        outcomes: end.outcomes,
    });
}

#[cfg(feature = "blocking")]
impl Transport for crate::Relay {
    /// [`crate::blocking::send_all`]: every message over one connection, pipelined.
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error> {
        match on_transaction {
            None => crate::blocking::send_all(self, messages),
            Some(hook) => {
                let mut relay = self.clone();
                relay.on_transaction = chain_hooks(self.on_transaction.as_ref(), Some(hook));
                crate::blocking::send_all(&relay, messages)
            }
        }
    }
}

#[cfg(feature = "blocking")]
impl Transport for crate::MxDelivery {
    /// [`crate::blocking::deliver`], message after message.
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error> {
        let mut mx = self.clone();
        messages
            .iter()
            .enumerate()
            .map(|(i, message)| {
                if let Some(hook) = on_transaction {
                    let hook = offset_hook(hook, i);
                    mx.on_transaction = chain_hooks(self.on_transaction.as_ref(), Some(&hook));
                }
                crate::blocking::deliver(&mx, message)
            })
            .collect()
    }
}

/// What a [`StubTransport`] says about one recipient.
#[derive(Clone, Debug)]
enum Script {
    /// This outcome every time.
    Always(Outcome),
    /// These outcomes, one per message sent to the recipient, then the default.
    Sequence(Vec<Outcome>),
}

#[derive(Debug, Default)]
struct StubState {
    scripts: HashMap<Mailbox, Script>,
    /// How many messages went to each scripted recipient so far.
    seen: HashMap<Mailbox, usize>,
}

/// A [`Transport`] that connects to nothing: each recipient gets the outcome scripted for
/// its address, or the default (delivered, `250 2.0.0 Ok: stub`). Envelopes are checked as
/// the real transports check them (a message without recipients is
/// [`Error::InvalidMessage`]); content is not read.
///
/// ```
/// use mxsend::{Envelope, Mailbox, Message, ReversePath, StubTransport, Transport};
///
/// let stub = StubTransport::new()
///     .reject("eve@example.com", 550, "5.1.1 no such user")
///     // Greylisted once, then taken.
///     .defer_then_deliver("grey@example.com", 451, "4.7.1 try again later");
/// let envelope = Envelope::new(
///     ReversePath::parse("app@example.org")?,
///     [
///         Mailbox::parse("bob@example.com")?,
///         Mailbox::parse("eve@example.com")?,
///         Mailbox::parse("grey@example.com")?,
///     ],
/// );
/// let message = Message::new(envelope, "Subject: hi\r\n\r\nhi\r\n");
/// let first = stub.send(&message)?;
/// let words: Vec<_> = first.recipients.iter().map(|r| r.outcome.name()).collect();
/// assert_eq!(words, ["delivered", "rejected", "deferred"]);
/// assert_eq!(first.recipients[1].to_string(), "eve@example.com: rejected: 550 5.1.1 no such user (stub)");
/// let second = stub.send(&message)?;
/// assert!(second.recipients[2].is_delivered());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct StubTransport {
    state: Arc<Mutex<StubState>>,
}

/// The host name a [`StubTransport`]'s reports name.
pub const STUB_HOST: &str = "stub";

/// What an out-of-range code in a script becomes: the test author's mistake, kept visible
/// as a permanent failure rather than a panic.
const INVALID_SCRIPTED_CODE: ReplyCode = match ReplyCode::new(554) {
    Some(code) => code,
    None => panic!("554 is a reply code"),
};

fn stub_reply(code: u16, text: &str) -> Reply {
    let code = ReplyCode::new(code).unwrap_or(INVALID_SCRIPTED_CODE);
    Reply::new(code, vec![text.to_string()])
}

impl StubTransport {
    /// A stub that delivers to everyone.
    pub fn new() -> StubTransport {
        StubTransport::default()
    }

    /// Always give `mailbox` this outcome. An address that does not parse is ignored (it can
    /// never be a recipient).
    pub fn outcome(self, mailbox: &str, outcome: Outcome) -> StubTransport {
        self.script(mailbox, Script::Always(outcome))
    }

    /// Give `mailbox` these outcomes, one per message sent to it, then deliver.
    pub fn outcomes(
        self,
        mailbox: &str,
        outcomes: impl IntoIterator<Item = Outcome>,
    ) -> StubTransport {
        self.script(mailbox, Script::Sequence(outcomes.into_iter().collect()))
    }

    /// Refuse `mailbox` for good with this reply (`550`, `5.1.1 no such user`).
    pub fn reject(self, mailbox: &str, code: u16, text: &str) -> StubTransport {
        self.outcome(
            mailbox,
            Outcome::Rejected(Failure::Reply(stub_reply(code, text))),
        )
    }

    /// Defer `mailbox` with this reply every time (`451`, `4.3.0 try later`).
    pub fn defer(self, mailbox: &str, code: u16, text: &str) -> StubTransport {
        self.outcome(
            mailbox,
            Outcome::Deferred(Failure::Reply(stub_reply(code, text))),
        )
    }

    /// Defer `mailbox` with this reply once, then deliver (a greylisting server).
    pub fn defer_then_deliver(self, mailbox: &str, code: u16, text: &str) -> StubTransport {
        self.outcomes(
            mailbox,
            [Outcome::Deferred(Failure::Reply(stub_reply(code, text)))],
        )
    }

    fn script(self, mailbox: &str, script: Script) -> StubTransport {
        if let Ok(mailbox) = Mailbox::parse(mailbox) {
            self.lock().scripts.insert(mailbox, script);
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outcome for `mailbox` now (and one more message counted for it).
    fn next_outcome(&self, mailbox: &Mailbox) -> Outcome {
        let mut state = self.lock();
        let seen = state.seen.entry(mailbox.clone()).or_insert(0);
        let n = *seen;
        *seen += 1;
        let delivered = || Outcome::Delivered(stub_reply(250, "2.0.0 Ok: stub"));
        match state.scripts.get(mailbox) {
            Some(Script::Always(outcome)) => outcome.clone(),
            Some(Script::Sequence(outcomes)) => outcomes.get(n).cloned().unwrap_or_else(delivered),
            None => delivered(),
        }
    }

    fn report(&self, envelope: &Envelope) -> (Report, Vec<Outcome>) {
        let outcomes: Vec<Outcome> = envelope
            .recipients
            .iter()
            .map(|mailbox| self.next_outcome(mailbox))
            .collect();
        let recipients = envelope
            .recipients
            .iter()
            .zip(&outcomes)
            .map(|(mailbox, outcome)| RecipientReport {
                mailbox: mailbox.clone(),
                outcome: outcome.clone(),
                host: Some(STUB_HOST.to_string()),
                addr: None,
                unreached: None,
                policy: None,
            })
            .collect();
        (Report { recipients }, outcomes)
    }
}

/// The check every transport makes before sending anything.
fn check_envelopes<B>(messages: &[Message<B>]) -> Result<(), Error> {
    match messages
        .iter()
        .position(|m| m.envelope.recipients.is_empty())
    {
        Some(message) => Err(Error::InvalidMessage {
            message,
            error: UsageError::NoRecipients,
        }),
        None => Ok(()),
    }
}

impl Transport for StubTransport {
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error> {
        check_envelopes(messages)?;
        Ok(messages
            .iter()
            .enumerate()
            .map(|(i, message)| {
                let (report, outcomes) = self.report(&message.envelope);
                if let Some(hook) = on_transaction {
                    let indices: Vec<usize> = (0..outcomes.len()).collect();
                    tell(
                        hook,
                        &TransactionEnd {
                            message: i,
                            recipients: &indices,
                            outcomes: &outcomes,
                        },
                    );
                }
                report
            })
            .collect())
    }
}

/// One message a [`RecordingTransport`] was given.
#[derive(Clone, Debug)]
pub struct SentMessage {
    /// Its envelope.
    pub envelope: Envelope,
    /// Its content, as the body source gave it (before CRLF normalisation).
    pub content: Vec<u8>,
    /// What the transport it wraps reported.
    pub report: Report,
}

impl SentMessage {
    /// The content as text (lossy for 8-bit content that is not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.content).into_owned()
    }
}

/// A [`Transport`] that keeps every message it is given (envelope, content, report), and
/// passes it to another transport: a [`StubTransport`] that delivers to everyone by
/// default, or any other (a real [`Relay`](crate::Relay) too, to keep a copy of what went
/// out).
///
/// ```
/// use mxsend::{MessageBuilder, RecordingTransport, Transport};
///
/// let outbox = RecordingTransport::new();
/// let message = MessageBuilder::new()
///     .from("app@example.org")
///     .to("bob@example.com")
///     .subject("Your code")
///     .text("It is 1234.")
///     .build()?;
/// outbox.send(&message)?;
/// let sent = outbox.messages();
/// assert_eq!(sent.len(), 1);
/// assert_eq!(sent[0].envelope.recipients[0].to_string(), "bob@example.com");
/// assert!(sent[0].text().contains("Subject: Your code"));
/// assert!(sent[0].report.all_delivered());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RecordingTransport<T = StubTransport> {
    inner: T,
    sent: Arc<Mutex<Vec<SentMessage>>>,
}

impl RecordingTransport<StubTransport> {
    /// A recorder over a stub that delivers to everyone.
    pub fn new() -> RecordingTransport<StubTransport> {
        RecordingTransport::wrap(StubTransport::new())
    }
}

impl<T> RecordingTransport<T> {
    /// A recorder that passes each message on to `inner`.
    pub fn wrap(inner: T) -> RecordingTransport<T> {
        RecordingTransport {
            inner,
            sent: Arc::default(),
        }
    }

    /// Everything sent so far, in order (a copy).
    pub fn messages(&self) -> Vec<SentMessage> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forget what was sent so far.
    pub fn clear(&self) {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The transport it passes messages to.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for RecordingTransport<T> {
    /// The messages are read before they are passed on, so a content that cannot be read
    /// is recorded as far as it could be.
    fn send_batch<B: BodySource>(
        &self,
        messages: &[Message<B>],
        on_transaction: Option<&TransactionHook>,
    ) -> Result<Vec<Report>, Error> {
        let contents: Vec<Vec<u8>> = messages
            .iter()
            .map(|message| {
                let mut content = Vec::new();
                if let Ok(mut reader) = message.body.open() {
                    let _ = reader.read_to_end(&mut content);
                }
                content
            })
            .collect();
        let reports = self.inner.send_batch(messages, on_transaction)?;
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        for ((message, content), report) in messages.iter().zip(contents).zip(&reports) {
            sent.push(SentMessage {
                envelope: message.envelope.clone(),
                content,
                report: report.clone(),
            });
        }
        Ok(reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::address::ReversePath;

    fn message(to: &[&str]) -> Message<&'static str> {
        let envelope = Envelope::new(
            ReversePath::parse("app@example.org").unwrap(),
            to.iter().map(|a| Mailbox::parse(a).unwrap()),
        );
        Message::new(envelope, "Subject: t\r\n\r\nbody\r\n")
    }

    #[test]
    fn stub_refuses_an_envelope_without_recipients_like_a_real_transport() {
        let err = StubTransport::new().send(&message(&[])).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidMessage {
                message: 0,
                error: UsageError::NoRecipients
            }
        ));
    }

    #[test]
    fn stub_tells_the_hook_each_transaction_with_the_batch_index() {
        let stub = StubTransport::new().reject("eve@example.com", 550, "5.1.1 no");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook = {
            let seen = seen.clone();
            TransactionHook::new(move |end: TransactionEnd<'_>| {
                let words: Vec<_> = end.outcomes.iter().map(Outcome::name).collect();
                seen.lock()
                    .unwrap()
                    .push((end.message, end.recipients.to_vec(), words));
            })
        };
        let batch = [
            message(&["bob@example.com"]),
            message(&["a@example.com", "eve@example.com"]),
        ];
        let reports = stub.send_batch(&batch, Some(&hook)).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (0, vec![0], vec!["delivered"]),
                (1, vec![0, 1], vec!["delivered", "rejected"])
            ]
        );
    }

    #[test]
    fn a_sequence_runs_out_into_delivery() {
        let stub = StubTransport::new().outcomes(
            "grey@example.com",
            [
                Outcome::Deferred(Failure::Reply(stub_reply(451, "4.7.1 a"))),
                Outcome::Deferred(Failure::Reply(stub_reply(451, "4.7.1 b"))),
            ],
        );
        let m = message(&["grey@example.com"]);
        let words: Vec<_> = (0..3)
            .map(|_| stub.send(&m).unwrap().recipients[0].outcome.name())
            .collect();
        assert_eq!(words, ["deferred", "deferred", "delivered"]);
    }

    #[test]
    #[cfg(feature = "blocking")]
    fn offset_hooks_renumber_the_message() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook = {
            let seen = seen.clone();
            TransactionHook::new(move |end: TransactionEnd<'_>| {
                seen.lock().unwrap().push(end.message)
            })
        };
        let chained = chain_hooks(Some(&offset_hook(&hook, 3)), Some(&hook)).unwrap();
        tell(
            &chained,
            &TransactionEnd {
                message: 1,
                recipients: &[],
                outcomes: &[],
            },
        );
        assert_eq!(*seen.lock().unwrap(), [4, 1]);
    }

    #[test]
    fn recorder_keeps_what_the_inner_transport_reported() {
        let outbox = RecordingTransport::wrap(StubTransport::new().defer(
            "bob@example.com",
            451,
            "4.3.0 later",
        ));
        outbox.send(&message(&["bob@example.com"])).unwrap();
        let sent = outbox.messages();
        assert_eq!(sent[0].text(), "Subject: t\r\n\r\nbody\r\n");
        assert_eq!(sent[0].report.recipients[0].outcome.name(), "deferred");
        outbox.clear();
        assert!(outbox.messages().is_empty());
    }
}
