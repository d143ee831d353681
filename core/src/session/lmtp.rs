//! LMTP (RFC 2033): the same session as SMTP, with two differences.
//!
//! - The greeting is answered with `LHLO` (RFC 2033 §4.1), and there is no HELO to fall
//!   back to: a refused LHLO ends the session.
//! - After the end of data (the final `.`, or BDAT LAST with RFC 3030), the server answers
//!   once for each recipient accepted at RCPT, in RCPT order (RFC 2033 §4.2), and each
//!   answer is that recipient's own outcome: one may be delivered while another is deferred
//!   for being over quota. Recipients refused at RCPT get no answer there.
//!
//! The expectation queue carries one [`Expect::LmtpDataEnd`] per accepted recipient, so
//! pipelined transactions still match every reply to the command it answers. When the
//! connection drops between those replies, the recipients whose reply came keep it and the
//! rest are ambiguous: the message may have been delivered to them.

use super::settled::{KeptReply, Verdict};
use super::{Expect, Outcome, Phase, RecipientState, Session, TransactionId};
use crate::reply::ReplyRef;
use crate::session::transitions::negative;
use crate::session::Failure;
use crate::time::Instant;

/// Which protocol the session speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP (RFC 5321): EHLO, one reply to the end of data for the whole transaction.
    #[default]
    Smtp,
    /// LMTP (RFC 2033): LHLO, one reply to the end of data per accepted recipient.
    Lmtp,
}

impl Session {
    /// The end of data of `id` is queued (it ends at transmit offset `end`): await one reply
    /// per recipient accepted at RCPT, in envelope order.
    pub(super) fn expect_lmtp_replies(&mut self, id: TransactionId, end: u64, now: Instant) {
        let Some(count) = self
            .running
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.recipients.len())
        else {
            return;
        };
        for index in 0..count {
            let accepted = self
                .running
                .iter()
                .find(|t| t.id == id)
                .and_then(|t| t.recipients.get(index))
                .is_some_and(|r| matches!(r, RecipientState::Accepted));
            if accepted {
                self.expect_reply(Expect::LmtpDataEnd(id, index, end), now);
            }
        }
    }

    /// The reply for recipient `index` of `id` after the end of data: that recipient's
    /// outcome. The transaction is done with its last recipient's reply.
    pub(super) fn lmtp_data_reply(
        &mut self,
        id: TransactionId,
        index: usize,
        reply: ReplyRef<'_>,
        now: Instant,
    ) {
        let code = reply.code().get();
        if let Some(tx) = self.running.iter_mut().find(|t| t.id == id) {
            let verdict = match code {
                // Kept as text in the transaction's reused buffer: no allocation.
                250 => Verdict::Delivered(KeptReply::keep(&mut tx.text, reply)),
                _ if code >= 400 => negative(reply).into(),
                // Not a reply RFC 2033 allows: the message may or may not have been taken.
                _ => Outcome::Ambiguous(Failure::Reply(reply.to_reply())).into(),
            };
            if let Some(slot) = tx.recipients.get_mut(index) {
                *slot = RecipientState::Done(verdict);
            }
        }
        let unexpected = code != 250 && code < 400;
        let more = self
            .expect
            .iter()
            .any(|e| matches!(e, Expect::LmtpDataEnd(other, ..) if *other == id));
        if !more {
            self.complete(id);
        }
        if unexpected {
            self.unexpected(Phase::DataTermination, reply, now);
        }
    }
}
