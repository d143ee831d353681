//! DKIM signing as pure functions: canonicalization (RFC 6376 §3.4), the header field
//! selection (§5.4), and the text of the `DKIM-Signature` header (§3.5), with the hash and
//! the private-key operation left to the caller.
//!
//! The core computes no digest and holds no key: it has no dependencies. What it does is
//! everything around them that must be byte-exact:
//!
//! - [`body::BodyCanonicalizer`]: the body, streamed in chunks of any size, canonicalized
//!   (simple or relaxed, §3.4.3–4) into a caller-supplied [`Digest`]. Trailing white space
//!   and trailing empty lines are held back across chunk boundaries, so any split of the
//!   body gives the same hash, and memory stays constant whatever the body size.
//! - [`MessageSplitter`]: finds where the header block ends in the streamed message,
//!   keeping the header block only (bounded by [`MAX_HEADER_BLOCK`]).
//! - [`header`]: header fields of a block, their canonical form (§3.4.1–2), the fields to
//!   sign ([`header::signed_header_names`]: those present among [`SIGNED_HEADERS`], `From`
//!   over-signed, §8.15), and the bottom-up selection of instances (§5.4.2).
//! - [`signature`]: the `DKIM-Signature` text with an empty `b=`, the octets to sign
//!   (§3.7), and the finished header once the caller has signed them.
//!
//! The input is the message exactly as it goes on the wire before dot-stuffing: lines ended
//! by CRLF, as [`crate::transparency::DataEncoder`] in [`crate::transparency::Framing::Bdat`]
//! mode writes them. A bare CR or LF is taken as an ordinary octet, which that encoder never
//! leaves.
//!
//! Deliberate choices (RFC 6376 leaves them to the signer): no `l=` (a body length limit lets
//! anyone append content under the signature, §8.2); `t=` always, `x=` when asked; `h=` lists
//! each present field as often as it occurs, and `From` once more, so that a `From` added in
//! transit breaks the signature.
//!
//! ```
//! use mxsend_core::dkim::body::BodyCanonicalizer;
//! use mxsend_core::dkim::Canonicalization;
//!
//! // The digest here just collects the canonical octets.
//! let mut canonical = Vec::new();
//! let mut body = BodyCanonicalizer::new(Canonicalization::Relaxed);
//! body.feed(b"Hi  there \r\n\r", &mut canonical);
//! body.feed(b"\n\r\n", &mut canonical);
//! body.finish(&mut canonical);
//! assert_eq!(canonical, b"Hi there\r\n");
//! ```

use alloc::vec::Vec;
use core::fmt;

pub mod body;
pub mod header;
pub mod signature;

pub use crate::message::raw::MAX_HEADER_BLOCK;

/// The fields signed when present (the list of the mxsend issue, after RFC 6376 §5.4.1's
/// advice): what a reader sees and what a list manager relies on. `List-Unsubscribe` and
/// `List-Unsubscribe-Post` are signed together, as RFC 8058 §4 requires.
pub const SIGNED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "reply-to",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// A hash function, fed the canonical octets in order: SHA-256 for both DKIM algorithms
/// mxsend signs with (RFC 8301, RFC 8463). The caller supplies it, so the core stays free of
/// dependencies. A `Vec<u8>` collects the octets instead (tests, examples).
pub trait Digest {
    /// Hash `bytes` next.
    fn update(&mut self, bytes: &[u8]);
}

impl Digest for Vec<u8> {
    fn update(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl<D: Digest + ?Sized> Digest for &mut D {
    fn update(&mut self, bytes: &[u8]) {
        (**self).update(bytes);
    }
}

/// A canonicalization algorithm (RFC 6376 §3.4), for the header or the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Canonicalization {
    /// `simple`: the octets as they are (the body without trailing empty lines).
    Simple,
    /// `relaxed`: white space runs to one space, none at line ends, header names in lower
    /// case and values unfolded. Survives the rewrapping that relays do.
    Relaxed,
}

impl Canonicalization {
    /// The name used in `c=`.
    pub fn name(self) -> &'static str {
        match self {
            Canonicalization::Simple => "simple",
            Canonicalization::Relaxed => "relaxed",
        }
    }
}

/// Why a message cannot be signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DkimError {
    /// The header block is longer than [`MAX_HEADER_BLOCK`] octets (or never ends).
    HeaderBlockTooLarge,
    /// The message has no `From` field, which DKIM must sign (RFC 6376 §5.4).
    NoFrom,
    /// The `d=` domain is not a domain name (letters, digits, hyphens, dots).
    InvalidDomain,
    /// The `s=` selector is not a sequence of DNS labels (RFC 6376 §3.1).
    InvalidSelector,
}

impl fmt::Display for DkimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DkimError::HeaderBlockTooLarge => {
                "the header block is larger than 1 MiB or has no end: it cannot be signed"
            }
            DkimError::NoFrom => "the message has no From header field, which DKIM must sign",
            DkimError::InvalidDomain => "the DKIM signing domain (d=) is not a valid domain name",
            DkimError::InvalidSelector => {
                "the DKIM selector (s=) must be DNS labels: letters, digits, hyphens, dots"
            }
        })
    }
}

/// Splits a streamed message at the end of its header block (the first empty line, RFC 5322
/// §2.1), keeping the header block (at most [`MAX_HEADER_BLOCK`] octets) and handing the body
/// back chunk by chunk. The header block kept ends with the CRLF of its last field; the empty
/// line belongs to neither part (RFC 6376 §3.7). A message with no empty line is all header.
///
/// ```
/// use mxsend_core::dkim::MessageSplitter;
///
/// let mut splitter = MessageSplitter::new();
/// assert_eq!(splitter.push(b"Subject: hi\r\n\r").unwrap(), b"");
/// assert_eq!(splitter.push(b"\nbody\r\n").unwrap(), b"body\r\n");
/// assert_eq!(splitter.header_block(), Some(&b"Subject: hi\r\n"[..]));
/// ```
#[derive(Clone, Debug, Default)]
pub struct MessageSplitter {
    header: Vec<u8>,
    /// Set once the empty line was seen.
    complete: bool,
    /// Octets of `header` already searched for the empty line.
    scanned: usize,
}

impl MessageSplitter {
    /// A splitter at the start of a message.
    pub fn new() -> MessageSplitter {
        MessageSplitter::default()
    }

    /// Take the next chunk of the message; the part of it that is body.
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Result<&'a [u8], DkimError> {
        if self.complete {
            return Ok(chunk);
        }
        let before = self.header.len();
        self.header.extend_from_slice(chunk);
        let end = if self.header.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            let from = self.scanned.saturating_sub(3);
            find_blank_line(self.header.get(from..).unwrap_or_default())
                .map(|at| (from + at + 2, from + at + 4))
        };
        match end {
            Some((header_end, body_start)) => {
                self.header.truncate(header_end);
                self.complete = true;
                Ok(chunk
                    .get(body_start.saturating_sub(before)..)
                    .unwrap_or_default())
            }
            None if self.header.len() > MAX_HEADER_BLOCK => Err(DkimError::HeaderBlockTooLarge),
            None => {
                self.scanned = self.header.len();
                Ok(&[])
            }
        }
    }

    /// The header block, once its end was seen. [`MessageSplitter::finish`] gives it for a
    /// message without a body.
    pub fn header_block(&self) -> Option<&[u8]> {
        self.complete.then_some(self.header.as_slice())
    }

    /// The end of the message: the header block (all of the message, if it had no empty line).
    pub fn finish(self) -> Vec<u8> {
        self.header
    }
}

/// Offset of the first CRLF CRLF in `haystack`.
fn find_blank_line(haystack: &[u8]) -> Option<usize> {
    haystack.windows(4).position(|w| w == b"\r\n\r\n")
}

/// `bytes` cut at `cuts` (clamped, in any order): the chunks of a split-invariance test.
#[cfg(test)]
pub(crate) fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for cut in cuts {
        chunks.push(bytes.get(last..cut).unwrap_or_default());
        last = cut;
    }
    chunks.push(bytes.get(last..).unwrap_or_default());
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let mut splitter = MessageSplitter::new();
        let mut body = Vec::new();
        for chunk in chunks {
            body.extend_from_slice(splitter.push(chunk).unwrap());
        }
        (splitter.finish(), body)
    }

    #[test]
    fn header_block_ends_before_the_empty_line() {
        let (header, body) = split_all(&[b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"]);
        assert_eq!(header, b"A: 1\r\nB: 2\r\n");
        assert_eq!(body, b"body\r\n\r\n");
    }

    #[test]
    fn message_without_empty_line_is_all_header() {
        let (header, body) = split_all(&[b"A: 1\r\n"]);
        assert_eq!(header, b"A: 1\r\n");
        assert!(body.is_empty());
    }

    #[test]
    fn message_starting_with_empty_line_has_no_header() {
        let (header, body) = split_all(&[b"\r", b"\nbody\r\n"]);
        assert!(header.is_empty());
        assert_eq!(body, b"body\r\n");
    }

    #[test]
    fn endless_header_block_is_refused() {
        let mut splitter = MessageSplitter::new();
        let line = [b'x'; 1024];
        let refused = (0..=MAX_HEADER_BLOCK / line.len()).any(|_| splitter.push(&line).is_err());
        assert!(refused);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_header_and_body(
            message in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), Just(b' ')], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let whole = split_all(&[&message]);
            let chunks = split_at(&message, &cuts);
            prop_assert_eq!(split_all(&chunks), whole);
        }
    }
}
