//! Streaming message writer: RFC 5322 headers and MIME (RFC 2045–2047, 2231).
//!
//! Two ways to produce the bytes that go after DATA:
//!
//! - [`MessageWriter`] composes a message from a [`MessageSpec`]: headers, a text body (plain,
//!   or HTML with a plain alternative) and attachments. It is *pull-based*: the caller calls
//!   [`MessageWriter::poll`] and either drains the output or is asked for the next chunk of an
//!   attachment's raw content, so a 1 GiB attachment never sits in memory.
//! - [`RawMessage`] passes a ready RFC 5322 message through, adding `Date:` and `Message-ID:`
//!   only when the header block lacks them; it buffers only the header block.
//!
//! The core has no clock and no randomness: the date ([`DateTime`]) and the random numbers for
//! the Message-ID and the MIME boundaries are arguments.
//!
//! # What is implemented
//!
//! | what | where | RFC |
//! |---|---|---|
//! | date-time format | [`date`] | 5322 §3.3 |
//! | header folding (78 SHOULD, 998 MUST), encoded-words (B and Q) | [`header`] | 5322 §2.1.1, §2.2.3, §3.2.5; 2047 §2, §4, §5 |
//! | quoted-printable | [`quoted_printable`] | 2045 §6.7 |
//! | multipart, boundaries, parameters, RFC 2231 file names | [`mime`] | 2045, 2046 §5.1, 2183, 2231 §3, §4 |
//! | the pull-based writer | [`writer`] | 5322 §3.6 |
//! | the raw-message filter | [`raw`] | 5322 §3.6 |
//!
//! # Decisions
//!
//! - **Addresses** come as [`MailboxHeader`] (a display name and an address *string*), not as
//!   [`crate::address::Mailbox`]: the header only needs the address text, validated lightly
//!   here (no CR, LF, NUL or other control characters, no `<`, `>`, a non-empty local part and
//!   domain around the last `@`). The envelope, which the session validates with the address
//!   module, is separate; the adapter builds both from the same input.
//! - **Bcc** has no field in [`MessageSpec`] at all: blind recipients belong to the envelope
//!   only, so writing them into the headers is impossible rather than merely avoided.
//! - **Extra headers** may not repeat a header the writer generates (From, To, Cc, Bcc,
//!   Reply-To, Subject, Date, Message-ID, MIME-Version, Content-Type,
//!   Content-Transfer-Encoding, Content-Disposition): that is an error, not a precedence rule,
//!   so a caller never silently loses one. Their values are unstructured text (RFC 5322
//!   §3.2.5): ASCII words are written verbatim, anything else as encoded-words.
//! - **Leading and trailing white space** of unstructured values and display names is not
//!   kept (parsers strip it anyway; keeping it would need white-space-only lines).
//! - **Text bodies** have their line ends normalised to CRLF (RFC 2045 §6.8 canonical form
//!   for text) before a transfer encoding is chosen.
//! - **Streamed text** ([`Body::PlainStream`]) cannot be looked at before it is written, so
//!   it is always `quoted-printable` with `charset=utf-8`: that passes any octet and any
//!   line length, and never holds a boundary (see [`mime`]). Its content is pulled like an
//!   attachment's ([`Step::NeedContent`] with [`PartId::TEXT`]). It always ends with a line
//!   end (one is added when the text lacks it), so its size can be measured beforehand with
//!   a [`TextMeter`].

pub mod date;
pub mod header;
pub mod mime;
pub mod quoted_printable;
pub mod raw;
pub mod writer;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use date::DateTime;
pub use header::MailboxHeader;
pub use raw::RawMessage;
pub use writer::{MessageWriter, PartId, Step};

use quoted_printable::StreamEncoder as QuotedPrintableEncoder;

/// Everything the writer needs to compose a message.
#[derive(Clone, Debug)]
pub struct MessageSpec {
    /// The author (`From:`).
    pub from: MailboxHeader,
    /// `To:` recipients; the header is omitted when empty.
    pub to: Vec<MailboxHeader>,
    /// `Cc:` recipients; the header is omitted when empty.
    pub cc: Vec<MailboxHeader>,
    /// `Reply-To:` mailboxes; the header is omitted when empty.
    pub reply_to: Vec<MailboxHeader>,
    /// `Subject:`; omitted when `None`.
    pub subject: Option<String>,
    /// `Date:` (the caller's clock).
    pub date: DateTime,
    /// Random number for the Message-ID's left part (the caller's randomness).
    pub message_id_random: u64,
    /// Random number for the MIME boundaries (the caller's randomness).
    pub boundary_random: u64,
    /// Further headers, written after the generated ones in this order.
    pub extra_headers: Vec<(String, String)>,
    /// The text body.
    pub body: Body,
    /// Attachments; their content is streamed on request (see [`Step::NeedContent`]).
    pub attachments: Vec<Attachment>,
    /// The server announced 8BITMIME (RFC 6152): text bodies with non-ASCII may go as `8bit`
    /// instead of quoted-printable.
    pub allow_eight_bit: bool,
}

/// The text body of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `text/plain; charset=utf-8`.
    Plain(String),
    /// `multipart/alternative` of `text/plain` then `text/html` (RFC 2046 §5.1.4: the
    /// preferred alternative last).
    Html {
        /// The plain-text alternative.
        plain: String,
        /// The HTML.
        html: String,
    },
    /// `text/plain; charset=utf-8`, quoted-printable, its content pulled from the caller
    /// while writing ([`Step::NeedContent`] with [`PartId::TEXT`]), so a text of any size
    /// never sits in memory. Line ends (CRLF, LF or CR) become CRLF; every other octet is
    /// carried exactly.
    PlainStream(TextStream),
}

/// A text body streamed from the caller (see [`Body::PlainStream`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextStream {
    /// The octets the writer will write for this text, when measured beforehand with a
    /// [`TextMeter`]: lets [`MessageWriter::encoded_size`] answer, and is checked against
    /// what is written. `None`: unknown.
    pub encoded_size: Option<u64>,
}

/// Measures a text for [`TextStream::encoded_size`]: push the same octets the writer will
/// be given, in any chunks. Its memory is one chunk's encoding.
///
/// ```
/// use mxsend_core::message::TextMeter;
///
/// let mut meter = TextMeter::new();
/// meter.push(b"caf\xc3\xa9\n");
/// meter.push(b"bye");
/// // "caf=C3=A9" CRLF "bye" CRLF
/// assert_eq!(meter.finish().encoded_size, Some(16));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TextMeter {
    encoder: QuotedPrintableEncoder,
    scratch: Vec<u8>,
    len: u64,
}

impl TextMeter {
    /// A meter at the start of a text.
    pub fn new() -> TextMeter {
        TextMeter::default()
    }

    /// Measure the next chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.scratch.clear();
        self.encoder.push(chunk, &mut self.scratch);
        self.len += self.scratch.len() as u64;
    }

    /// The text has ended: its description for [`Body::PlainStream`].
    pub fn finish(mut self) -> TextStream {
        self.scratch.clear();
        self.encoder.finish_lines(&mut self.scratch);
        TextStream {
            encoded_size: Some(self.len + self.scratch.len() as u64),
        }
    }
}

/// An attachment: its metadata; the content is pulled from the caller while writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The MIME type, `type/subtype` optionally followed by `; parameters` (e.g. from
    /// mime_guess in the adapter). The writer adds the `name` parameter.
    pub content_type: String,
    /// The file name shown to the recipient (no directory); empty for none.
    pub filename: String,
    /// The content length in octets when known: lets [`MessageWriter::encoded_size`] answer,
    /// and is checked against what is streamed.
    pub size: Option<u64>,
}

/// Why a message cannot be written (or why the writer was misused).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// A value given for this header holds CR, LF or NUL (header injection).
    ForbiddenCharacter {
        /// The header (or `Content-Disposition` for an attachment's file name).
        header: String,
        /// The octet: `\r`, `\n` or NUL.
        byte: u8,
    },
    /// An address in this header is not acceptable.
    InvalidAddress {
        /// The header.
        header: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An extra header's name is not printable ASCII without `:` (RFC 5322 §2.2), or is
    /// empty or too long.
    InvalidHeaderName(String),
    /// An extra header duplicates one the writer generates.
    ReservedHeader(String),
    /// The date is outside the years RFC 5322 §3.3 can express (1900–9999).
    DateOutOfRange(i64),
    /// The UTC offset (minutes) is not within ±23:59.
    InvalidUtcOffset(i16),
    /// An attachment's content type is not `type/subtype[; params]`.
    InvalidContentType(String),
    /// A Message-ID domain (for [`RawMessage`]) is empty or holds white space, `<`, `>`, `@`.
    InvalidMessageIdDomain,
    /// An attachment's streamed content differs from its declared size.
    ContentLengthMismatch {
        /// The attachment.
        part: PartId,
        /// The size declared in [`Attachment::size`].
        declared: u64,
        /// The octets actually streamed.
        streamed: u64,
    },
    /// A streamed text's encoding differs from its declared [`TextStream::encoded_size`].
    EncodedLengthMismatch {
        /// The size declared.
        declared: u64,
        /// The octets actually written (so far, when more than declared).
        written: u64,
    },
    /// `push_content` or `end_content` was called while the writer had not asked for content.
    NotExpectingContent,
    /// A raw message's header block exceeds [`raw::MAX_HEADER_BLOCK`] octets.
    HeaderBlockTooLarge,
    /// A raw message's content cannot go out as text (a NUL, a line over 998 octets), found
    /// by [`RawMessage`] in its input.
    Content(crate::transparency::ContentError),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::ForbiddenCharacter { header, byte } => {
                let what = match byte {
                    b'\r' => "CR",
                    b'\n' => "LF",
                    _ => "NUL",
                };
                write!(f, "{header}: value contains {what} (header injection refused)")
            }
            MessageError::InvalidAddress { header, reason } => {
                write!(f, "{header}: invalid address: {reason}")
            }
            MessageError::InvalidHeaderName(name) => write!(
                f,
                "invalid header name {name:?}: must be 1 to {} printable ASCII characters without ':'",
                header::MAX_HEADER_NAME_LEN
            ),
            MessageError::ReservedHeader(name) => {
                write!(f, "{name}: header is generated by the writer and cannot be given as an extra header")
            }
            MessageError::DateOutOfRange(secs) => {
                write!(f, "Date: {secs} seconds since 1970 is outside the years 1900-9999")
            }
            MessageError::InvalidUtcOffset(minutes) => {
                write!(f, "Date: UTC offset of {minutes} minutes is outside ±23:59")
            }
            MessageError::InvalidContentType(ct) => {
                write!(f, "Content-Type: {ct:?} is not type/subtype[; parameters]")
            }
            MessageError::InvalidMessageIdDomain => {
                f.write_str("Message-ID: domain is empty or holds white space, '<', '>' or '@'")
            }
            MessageError::ContentLengthMismatch {
                part,
                declared,
                streamed,
            } => write!(
                f,
                "attachment {}: declared {declared} octets, streamed {streamed}",
                part.0
            ),
            MessageError::EncodedLengthMismatch { declared, written } => write!(
                f,
                "streamed text: declared {declared} encoded octets, wrote {written}"
            ),
            MessageError::NotExpectingContent => {
                f.write_str("content pushed while the writer was not asking for content")
            }
            MessageError::HeaderBlockTooLarge => write!(
                f,
                "raw message: header block longer than {} octets",
                raw::MAX_HEADER_BLOCK
            ),
            MessageError::Content(e) => write!(f, "raw message: {e}"),
        }
    }
}

/// Refuse CR, LF and NUL in a caller-supplied value (header injection), naming the header.
pub(crate) fn check_injection(header: &str, value: &str) -> Result<(), MessageError> {
    match value.bytes().find(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        Some(byte) => Err(MessageError::ForbiddenCharacter {
            header: String::from(header),
            byte,
        }),
        None => Ok(()),
    }
}
