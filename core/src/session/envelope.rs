//! Building an [`Envelope`]: the sender and recipients, with the defaults every other field
//! takes (7-bit body, no UTF-8 headers, no DSN, size unknown), and the SIZE helper
//! (RFC 1870 §4: the message size in octets with CRLF line ends, before dot-stuffing).

use alloc::vec::Vec;

use super::{DsnOptions, Envelope};
use crate::address::{Mailbox, ReversePath};
use crate::command::BodyType;
use crate::transparency::ContentScan;

impl Envelope {
    /// An envelope from `from` to `recipients`, with a 7-bit body, no UTF-8 headers, no DSN
    /// options and no size.
    ///
    /// ```
    /// use mxsend_core::address::{Mailbox, ReversePath};
    /// use mxsend_core::session::Envelope;
    ///
    /// let content = b"Subject: hi\n\nhello\n";
    /// let envelope = Envelope::new(
    ///     ReversePath::parse("alice@example.org")?,
    ///     [Mailbox::parse("bob@example.com")?],
    /// )
    /// .with_size_of(content);
    /// assert_eq!(envelope.recipients.len(), 1);
    /// // Each LF counts as CRLF on the wire.
    /// assert_eq!(envelope.size, Some(22));
    /// # Ok::<(), mxsend_core::address::AddressError>(())
    /// ```
    pub fn new(from: ReversePath, recipients: impl IntoIterator<Item = Mailbox>) -> Envelope {
        Envelope {
            from,
            recipients: recipients.into_iter().collect::<Vec<_>>(),
            size: None,
            body: BodyType::SevenBit,
            utf8_headers: false,
            dsn: DsnOptions::default(),
        }
    }

    /// The size RFC 1870 asks for (`SIZE=`), for this content: its octets with every line
    /// end counted as CRLF, before dot-stuffing ([`encoded_size`]).
    pub fn with_size_of(mut self, content: &[u8]) -> Envelope {
        self.size = Some(encoded_size(content));
        self
    }

    /// With this body type (8BITMIME, BINARYMIME).
    pub fn with_body(mut self, body: BodyType) -> Envelope {
        self.body = body;
        self
    }

    /// With these DSN options (RFC 3461).
    pub fn with_dsn(mut self, dsn: DsnOptions) -> Envelope {
        self.dsn = dsn;
        self
    }
}

/// The size of `content` as SIZE counts it (RFC 1870 §4): octets, with each bare LF or CR
/// taken as the CRLF the session sends, and without dot-stuffing. What the session's own
/// CRLF normalisation produces, so a server's limit is checked against the real figure.
///
/// ```
/// assert_eq!(mxsend_core::session::encoded_size(b"a\nb\r\n"), 6);
/// ```
pub fn encoded_size(content: &[u8]) -> u64 {
    ContentScan::canonical_len_of(content)
}
