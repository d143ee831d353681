//! The transaction window: how many transactions may be in flight at once when the server
//! offers CHUNKING and PIPELINING.
//!
//! With DATA a client must wait for 354 before the body, so a message costs at least one
//! round trip. BDAT needs no go-ahead (RFC 3030 §2), and RFC 2920 §3.1 lets it appear
//! anywhere in a command group (RFC 3030 §5 pipelines MAIL, RCPT and BDAT itself). So when
//! both are offered the session *streams*: a transaction's MAIL, RCPTs and `BDAT n LAST`
//! with its content go out in one write, without waiting for the RCPT replies, and the next
//! transaction follows at once, up to this window. Every reply is still matched to its
//! command through the expectation queue, so a refusal only touches its own transaction.
//!
//! The window bounds two things: transactions sent whose final reply has not come, and the
//! octets they took on the wire. It is also the bound on how many transactions a lost
//! connection can leave ambiguous (their BDAT LAST went out, no reply came: RFC 1047).
//!
//! Where streaming is possible, BDAT is used for every message, streamed or not: it saves
//! DATA's round trip for the 354 and the dot-stuffing, and carries BINARYMIME. Without
//! PIPELINING each BDAT chunk would wait for its reply, so DATA stays there.
//!
//! What streams: an SMTP transaction (LMTP answers BDAT LAST once per recipient accepted at
//! RCPT, which streaming would not know yet) whose size is known and fits in
//! [`TransactionWindow::bytes`]. A larger message, or one of unknown size, waits for its
//! RCPT replies before its content (one round trip, small next to the content, and no body
//! sent to recipients that were all refused), and the next transaction waits behind it.
//!
//! Each streamed transaction after the first in flight begins with `RSET`: the transaction
//! before it may have been refused at BDAT LAST (all its recipients refused, say), and RFC
//! 3030 does not say whether that leaves its MAIL open; if it did, the next transaction's
//! RCPTs would join it under the wrong sender. RSET is allowed anywhere in a command group
//! (RFC 2920 §3.1) and costs no round trip.

/// The limits on transactions in flight; see the module docs. `transactions: 1` turns
/// streaming off: each BDAT waits for its RCPT replies, as with DATA one round trip per
/// message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionWindow {
    /// Most transactions sent whose final reply has not come (at least 1).
    pub transactions: usize,
    /// Most octets on the wire for those transactions (commands and content): a new
    /// transaction starts only while less than this is in flight. Also the largest message
    /// that streams.
    pub bytes: u64,
}

impl TransactionWindow {
    /// The default: 32 transactions or 1 MiB. At a 20 ms round trip that keeps a server
    /// taking a few hundred messages a second busy; a lost connection can leave at most 32
    /// transactions ambiguous.
    pub const DEFAULT: TransactionWindow = TransactionWindow {
        transactions: 32,
        bytes: 1024 * 1024,
    };

    /// No streaming: one transaction at its end of data at a time.
    pub const OFF: TransactionWindow = TransactionWindow {
        transactions: 1,
        bytes: TransactionWindow::DEFAULT.bytes,
    };

    /// At most `transactions` in flight (0 is taken as 1) and `bytes` octets.
    pub const fn new(transactions: usize, bytes: u64) -> TransactionWindow {
        TransactionWindow {
            transactions: if transactions == 0 { 1 } else { transactions },
            bytes,
        }
    }

    /// True when transactions may stream at all (more than one in flight).
    pub fn streams(&self) -> bool {
        self.transactions > 1
    }

    /// True when one more transaction may start with `running` in flight, taking
    /// `in_flight` octets.
    pub fn admits(&self, running: usize, in_flight: u64) -> bool {
        running == 0 || (running < self.transactions && in_flight < self.bytes)
    }
}

impl Default for TransactionWindow {
    fn default() -> TransactionWindow {
        TransactionWindow::DEFAULT
    }
}

impl From<usize> for TransactionWindow {
    /// At most this many transactions in flight, within the default byte bound.
    fn from(transactions: usize) -> TransactionWindow {
        TransactionWindow::new(transactions, TransactionWindow::DEFAULT.bytes)
    }
}
