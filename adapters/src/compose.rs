//! Composing messages: a builder over the core's streaming MIME writer, and ready messages
//! passed through with Date and Message-ID added when missing.
//!
//! - [`MessageBuilder`] turns addresses, a subject, a text (in memory, from a file of any size,
//!   or from a reader), an HTML alternative, attachments (files or bytes) and extra headers
//!   into a [`Message<ComposedBody>`]: the envelope filled from the message (MAIL FROM, RCPT
//!   TO for To + Cc + Bcc, `SIZE=`, `BODY=8BITMIME`, SMTPUTF8) and a [`ComposedBody`] that
//!   writes the message anew on every [`BodySource::open`] (once per MX domain or fallback
//!   address) with the same Date, Message-ID and boundaries.
//! - [`RawMessageBody`] is a ready RFC 5322 message (a file, an open file, bytes) read
//!   through the core's [`RawMessage`] filter.
//!
//! Everything is streamed: attachment files and a text file are read in [`READ_CHUNK`]
//! pieces while the session wants more, so memory does not grow with their size.
//!
//! What the core cannot do is done here: the date comes from the system clock ([`now`],
//! UTC), the Message-ID and boundary random numbers from `fastrand`, content types from the
//! file name with `mime_guess` (RFC 2046 §4.5.1's `application/octet-stream` when unknown).
//!
//! Decisions:
//! - **Bcc** goes to the envelope only; the core writer has no Bcc header at all.
//! - **8-bit text** is off by default: the message is composed before any server says whether
//!   it has 8BITMIME (RFC 6152), and quoted-printable passes everywhere.
//!   [`MessageBuilder::allow_eight_bit`] sends non-ASCII text as `8bit`; the envelope then
//!   says `BODY=8BITMIME` and a server without 8BITMIME refuses the message rather than
//!   receive it mangled.
//! - **A text file** ([`MessageBuilder::text_file`]) is checked to be UTF-8 and measured when
//!   the message is built (one streamed pass, so the size is exact for SIZE= and a file that
//!   is not text fails before any connection); it is then sent quoted-printable whatever its
//!   content. With an HTML alternative it is read into memory: the core's
//!   `multipart/alternative` holds both texts.
//! - **A text reader** ([`MessageBuilder::text_reader`]) is opened once per send, never when
//!   building: the message size is then unknown (no SIZE=) and its octets are sent as they
//!   come, declared UTF-8.
//!
//! ```no_run
//! use mxsend::compose::{Attachment, MessageBuilder};
//! use mxsend::{blocking, Relay};
//!
//! let message = MessageBuilder::new()
//!     .from("Ann Example <ann@example.com>")
//!     .to("bob@example.net")
//!     .bcc("archive@example.com")
//!     .subject("Quarterly report")
//!     .text("Hello Bob,\n\nthe report is attached.\n")
//!     .attach(Attachment::from_path("report.pdf"))
//!     .attach(Attachment::from_bytes("notes.csv", b"a,b\n1,2\n".to_vec()))
//!     .build()?;
//! println!("sending {}", message.body.message_id());
//! let report = blocking::send(&Relay::new("smtp.example.com", 587), &message)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mxsend_core::address::{self, Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::message::{
    self, Body, DateTime, MailboxHeader, MessageError, MessageSpec, MessageWriter, RawMessage,
    Step, TextMeter,
};
use mxsend_core::session::{DsnOptions, Envelope};
use mxsend_core::transparency::{ContentError, ContentScan};

use crate::message::{BodySource, Message};

/// Octets read from a file or reader at a time: few system calls, and small next to the
/// session's 64 KiB body watermark ([`mxsend_core::session::BODY_WATERMARK`]).
pub const READ_CHUNK: usize = 32 * 1024;

/// The current time for `Date:`, in UTC (`+0000`; RFC 5322 §3.3 allows any zone and the
/// reader's client shows local time, so no time-zone database is needed).
pub fn now() -> DateTime {
    let unix_seconds = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A clock before 1970 is broken; the writer refuses dates before 1900 anyway.
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    DateTime {
        unix_seconds,
        utc_offset_minutes: 0,
    }
}

/// An address for a header and the envelope: `local@domain` or `Display Name <local@domain>`
/// (the name may be a quoted-string), parsed and checked once for both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// For From/To/Cc/Reply-To.
    pub header: MailboxHeader,
    /// For MAIL FROM / RCPT TO.
    pub envelope: Mailbox,
}

/// Why a text is not an [`Address`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderAddressError {
    /// The text holds CR or LF: one address per value, never a header injection.
    LineBreak,
    /// The address is not a valid mailbox (RFC 5321 §4.1.2).
    Mailbox(address::AddressError),
    /// The display name or address cannot go in a header.
    Header(MessageError),
}

impl fmt::Display for HeaderAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderAddressError::LineBreak => f.write_str("an address cannot contain a line break"),
            HeaderAddressError::Mailbox(e) => write!(f, "not an email address ({e})"),
            HeaderAddressError::Header(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HeaderAddressError {}

impl Address {
    /// Parse `local@domain` or `Display Name <local@domain>`.
    pub fn parse(text: &str) -> Result<Address, HeaderAddressError> {
        if text.contains(['\r', '\n']) {
            return Err(HeaderAddressError::LineBreak);
        }
        let text = text.trim();
        let (name, address) = match (text.rfind('<'), text.strip_suffix('>')) {
            (Some(open), Some(without_close)) => (
                Some(unquote(text.get(..open).unwrap_or_default().trim())),
                without_close.get(open + 1..).unwrap_or_default().trim(),
            ),
            _ => (None, text),
        };
        let envelope = Mailbox::parse(address).map_err(HeaderAddressError::Mailbox)?;
        let header = match name {
            Some(name) if !name.is_empty() => MailboxHeader::with_name(&name, address),
            _ => MailboxHeader::new(address),
        };
        header
            .validate("address")
            .map_err(HeaderAddressError::Header)?;
        Ok(Address { header, envelope })
    }
}

impl FromStr for Address {
    type Err = HeaderAddressError;

    fn from_str(text: &str) -> Result<Address, HeaderAddressError> {
        Address::parse(text)
    }
}

/// A display name without its surrounding double quotes, `\"` and `\\` unescaped.
fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => name.to_string(),
    }
}

/// What the builder's address methods take: text to parse, or an [`Address`].
pub trait IntoAddress {
    /// The address, or why it is not one for `field` (`From`, `To`…).
    fn into_address(self, field: &'static str) -> Result<Address, ComposeError>;
}

impl IntoAddress for Address {
    fn into_address(self, _field: &'static str) -> Result<Address, ComposeError> {
        Ok(self)
    }
}

impl IntoAddress for &Address {
    fn into_address(self, _field: &'static str) -> Result<Address, ComposeError> {
        Ok(self.clone())
    }
}

impl IntoAddress for &str {
    fn into_address(self, field: &'static str) -> Result<Address, ComposeError> {
        Address::parse(self).map_err(|error| ComposeError::InvalidAddress {
            field,
            text: self.to_string(),
            error,
        })
    }
}

impl IntoAddress for String {
    fn into_address(self, field: &'static str) -> Result<Address, ComposeError> {
        self.as_str().into_address(field)
    }
}

impl IntoAddress for &String {
    fn into_address(self, field: &'static str) -> Result<Address, ComposeError> {
        self.as_str().into_address(field)
    }
}

/// Opens a fresh reader of some content, once per send.
pub type OpenReader = dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync;

/// Content that can be read again, from its first octet, as often as needed.
#[derive(Clone)]
pub enum Content {
    /// Bytes in memory (shared, not copied per send).
    Bytes(Arc<[u8]>),
    /// A file, opened anew for each send.
    File(PathBuf),
    /// Whatever the function opens, once per send.
    Reader(Arc<OpenReader>),
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Bytes(bytes) => write!(f, "Bytes({} octets)", bytes.len()),
            Content::File(path) => f.debug_tuple("File").field(path).finish(),
            Content::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

impl Content {
    /// A reader from the first octet.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Content::Bytes(bytes) => Ok(Box::new(io::Cursor::new(Arc::clone(bytes)))),
            Content::File(path) => Ok(Box::new(File::open(path)?)),
            Content::Reader(open) => open(),
        }
    }
}

/// An attachment: its content, the file name shown to the recipient, and its MIME type.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// The content.
    pub content: Content,
    /// The file name (no directory); empty for none.
    pub filename: String,
    /// The MIME type (`type/subtype[; parameters]`); `None`: guessed from the file name with
    /// `mime_guess`.
    pub content_type: Option<String>,
}

impl Attachment {
    /// A file, named by its last path component; its type guessed from the name, its size
    /// taken when the message is built.
    pub fn from_path(path: impl Into<PathBuf>) -> Attachment {
        let path = path.into();
        Attachment {
            filename: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            content: Content::File(path),
            content_type: None,
        }
    }

    /// Bytes in memory, shown as `filename`; the type guessed from the name.
    pub fn from_bytes(filename: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Attachment {
        Attachment {
            content: Content::Bytes(bytes.into()),
            filename: filename.into(),
            content_type: None,
        }
    }

    /// Whatever `open` reads, once per send (the size is unknown: no SIZE=).
    pub fn from_reader(
        filename: impl Into<String>,
        open: impl Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync + 'static,
    ) -> Attachment {
        Attachment {
            content: Content::Reader(Arc::new(open)),
            filename: filename.into(),
            content_type: None,
        }
    }

    /// Give the MIME type instead of guessing it.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Attachment {
        self.content_type = Some(content_type.into());
        self
    }

    /// The type given, else the one `mime_guess` finds for the file name, else
    /// `application/octet-stream` (the recipient's client then asks what to do, which is
    /// right for an unknown file).
    fn resolved_content_type(&self) -> String {
        match &self.content_type {
            Some(given) => given.clone(),
            None => mime_guess::from_path(&self.filename)
                .first_or_octet_stream()
                .essence_str()
                .to_string(),
        }
    }
}

/// The MIME type `mime_guess` finds for a file name, `application/octet-stream` when unknown.
pub fn guess_content_type(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

/// Why a message cannot be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum ComposeError {
    /// An address given for this field is not one.
    InvalidAddress {
        /// `From`, `To`, `Cc`, `Bcc` or `Reply-To`.
        field: &'static str,
        /// The text given.
        text: String,
        /// What is wrong.
        error: HeaderAddressError,
    },
    /// No From address.
    NoSender,
    /// No To, Cc or Bcc address.
    NoRecipients,
    /// A file cannot be opened or read.
    Unreadable {
        /// `text`, `HTML`, `attachment` or `message`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// An attachment is a directory.
    IsDirectory(PathBuf),
    /// A text or HTML file is not UTF-8.
    NotUtf8 {
        /// `text` or `HTML`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// Content not in a named file (a spooled file, a reader) cannot be read.
    Read(io::Error),
    /// The core writer (or the raw-message filter) refuses the message: header injection, a
    /// bad header name, a reserved header, a bad content type, a header block too large…
    Message(MessageError),
    /// A ready message cannot go out as text: it holds a NUL, or a line over 998 octets
    /// (RFC 5322 §2.3, §2.1.1), named by its number. Found before any connection.
    Content(ContentError),
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::InvalidAddress { field, text, error } => {
                write!(f, "{field} {text:?}: {error}")
            }
            ComposeError::NoSender => f.write_str("no sender (From) address"),
            ComposeError::NoRecipients => f.write_str("no recipients (To, Cc or Bcc)"),
            ComposeError::Unreadable { what, path, error } => {
                write!(f, "cannot read the {what} {}: {error}", path.display())
            }
            ComposeError::IsDirectory(path) => {
                write!(f, "cannot attach {}: it is a directory", path.display())
            }
            ComposeError::NotUtf8 { what, path } => {
                write!(f, "the {what} {} is not UTF-8 text", path.display())
            }
            ComposeError::Read(error) => write!(f, "cannot read the content: {error}"),
            ComposeError::Message(error) => write!(f, "{error}"),
            ComposeError::Content(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ComposeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ComposeError::InvalidAddress { error, .. } => Some(error),
            ComposeError::Unreadable { error, .. } | ComposeError::Read(error) => Some(error),
            _ => None,
        }
    }
}

impl From<MessageError> for ComposeError {
    fn from(error: MessageError) -> ComposeError {
        ComposeError::Message(error)
    }
}

/// Where the text body comes from.
#[derive(Clone, Debug)]
enum Text {
    Memory(String),
    File(PathBuf),
    Reader(Content),
}

/// Builds a [`Message<ComposedBody>`]; see the module documentation. Methods can be chained
/// in any order; the first invalid input is reported by [`build`](Self::build).
#[derive(Debug, Default)]
pub struct MessageBuilder {
    from: Option<Address>,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    reply_to: Vec<Address>,
    subject: Option<String>,
    text: Option<Text>,
    html: Option<Text>,
    attachments: Vec<Attachment>,
    headers: Vec<(String, String)>,
    date: Option<DateTime>,
    allow_eight_bit: bool,
    dsn: DsnOptions,
    error: Option<Box<ComposeError>>,
}

impl MessageBuilder {
    /// An empty message.
    pub fn new() -> MessageBuilder {
        MessageBuilder::default()
    }

    /// The parsed address, or `None` with the first error kept for [`build`](Self::build).
    fn address(&mut self, field: &'static str, address: impl IntoAddress) -> Option<Address> {
        match address.into_address(field) {
            Ok(address) => Some(address),
            Err(error) => {
                self.error.get_or_insert_with(|| Box::new(error));
                None
            }
        }
    }

    /// The author (`From:`) and envelope sender (MAIL FROM).
    pub fn from(mut self, address: impl IntoAddress) -> Self {
        if let Some(address) = self.address("From", address) {
            self.from = Some(address);
        }
        self
    }

    /// A `To:` recipient (also in the envelope).
    pub fn to(mut self, address: impl IntoAddress) -> Self {
        let address = self.address("To", address);
        self.to.extend(address);
        self
    }

    /// A `Cc:` recipient (also in the envelope).
    pub fn cc(mut self, address: impl IntoAddress) -> Self {
        let address = self.address("Cc", address);
        self.cc.extend(address);
        self
    }

    /// A blind recipient: in the envelope only, never in the headers.
    pub fn bcc(mut self, address: impl IntoAddress) -> Self {
        let address = self.address("Bcc", address);
        self.bcc.extend(address);
        self
    }

    /// A `Reply-To:` mailbox.
    pub fn reply_to(mut self, address: impl IntoAddress) -> Self {
        let address = self.address("Reply-To", address);
        self.reply_to.extend(address);
        self
    }

    /// The `Subject:` (any Unicode; no line breaks).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The text body, in memory (`text/plain`, transfer encoding chosen by content).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(Text::Memory(text.into()));
        self
    }

    /// The text body from a UTF-8 file of any size, streamed (see the module doc).
    pub fn text_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.text = Some(Text::File(path.into()));
        self
    }

    /// The text body from whatever `open` reads, once per send, streamed (see the module
    /// doc).
    pub fn text_reader(
        mut self,
        open: impl Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync + 'static,
    ) -> Self {
        self.text = Some(Text::Reader(Content::Reader(Arc::new(open))));
        self
    }

    /// An HTML alternative to the text (`multipart/alternative`, RFC 2046 §5.1.4).
    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(Text::Memory(html.into()));
        self
    }

    /// An HTML alternative read from a UTF-8 file when the message is built.
    pub fn html_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.html = Some(Text::File(path.into()));
        self
    }

    /// An attachment (`multipart/mixed`, base64).
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// An extra header, written after the generated ones; its value is unstructured text
    /// (encoded-words for non-ASCII). Headers the writer generates are refused by
    /// [`build`](Self::build).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The `Date:` instead of the system clock's (reproducible messages, tests).
    pub fn date(mut self, date: DateTime) -> Self {
        self.date = Some(date);
        self
    }

    /// Send non-ASCII text as `8bit` (the envelope then needs 8BITMIME) instead of
    /// quoted-printable. Off by default.
    pub fn allow_eight_bit(mut self, allow: bool) -> Self {
        self.allow_eight_bit = allow;
        self
    }

    /// DSN options for the envelope (RFC 3461).
    pub fn dsn(mut self, dsn: DsnOptions) -> Self {
        self.dsn = dsn;
        self
    }

    /// Check everything, measure every file, and build the message. Nothing is connected
    /// to; each error names the field or file at fault.
    pub fn build(self) -> Result<Message<ComposedBody>, ComposeError> {
        if let Some(error) = self.error {
            return Err(*error);
        }
        let from = self.from.ok_or(ComposeError::NoSender)?;
        if self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty() {
            return Err(ComposeError::NoRecipients);
        }
        let (body, streamed_text) = match (self.text, self.html) {
            (text, Some(html)) => {
                let plain = match text {
                    Some(text) => text_in_memory("text", text)?,
                    None => String::new(),
                };
                let html = text_in_memory("HTML", html)?;
                (Body::Html { plain, html }, None)
            }
            (None, None) => (Body::Plain(String::new()), None),
            (Some(Text::Memory(text)), None) => (Body::Plain(text), None),
            (Some(Text::File(path)), None) => {
                let stream = measure_text_file(&path)?;
                (Body::PlainStream(stream), Some(Content::File(path)))
            }
            (Some(Text::Reader(content)), None) => (
                Body::PlainStream(message::TextStream::default()),
                Some(content),
            ),
        };
        let mut specs = Vec::with_capacity(self.attachments.len());
        let mut contents = Vec::with_capacity(self.attachments.len());
        for attachment in self.attachments {
            let size = match &attachment.content {
                Content::Bytes(bytes) => Some(bytes.len() as u64),
                Content::File(path) => Some(file_size(path)?),
                Content::Reader(_) => None,
            };
            specs.push(message::Attachment {
                content_type: attachment.resolved_content_type(),
                filename: attachment.filename.clone(),
                size,
            });
            contents.push(attachment.content);
        }
        let headers = |list: &[Address]| list.iter().map(|a| a.header.clone()).collect();
        let spec = MessageSpec {
            from: from.header.clone(),
            to: headers(&self.to),
            cc: headers(&self.cc),
            reply_to: headers(&self.reply_to),
            subject: self.subject,
            date: self.date.unwrap_or_else(now),
            message_id_random: fastrand::u64(..),
            boundary_random: fastrand::u64(..),
            extra_headers: self.headers,
            body,
            attachments: specs,
            allow_eight_bit: self.allow_eight_bit,
        };
        let writer = MessageWriter::new(spec.clone())?;
        let mut recipients: Vec<Mailbox> = Vec::new();
        for address in self.to.iter().chain(&self.cc).chain(&self.bcc) {
            if !recipients.contains(&address.envelope) {
                recipients.push(address.envelope.clone());
            }
        }
        let body = ComposedBody {
            smtputf8: writer.needs_smtputf8(),
            eight_bit: writer.needs_eight_bit(),
            size: writer.encoded_size(),
            message_id: writer.message_id().to_string(),
            spec,
            text: streamed_text,
            attachments: contents,
        };
        let envelope = Envelope {
            utf8_headers: body.smtputf8
                || from.envelope.needs_smtputf8()
                || recipients.iter().any(Mailbox::needs_smtputf8),
            from: ReversePath::Mailbox(from.envelope),
            recipients,
            size: body.size,
            body: if body.eight_bit {
                BodyType::EightBitMime
            } else {
                BodyType::SevenBit
            },
            dsn: self.dsn,
        };
        Ok(Message::new(envelope, body))
    }
}

/// The size of an attachment file (opened now, so an unreadable one fails before sending).
fn file_size(path: &Path) -> Result<u64, ComposeError> {
    let unreadable = |error| ComposeError::Unreadable {
        what: "attachment",
        path: path.to_path_buf(),
        error,
    };
    let meta = File::open(path)
        .and_then(|f| f.metadata())
        .map_err(unreadable)?;
    if meta.is_dir() {
        return Err(ComposeError::IsDirectory(path.to_path_buf()));
    }
    Ok(meta.len())
}

/// A text read whole, for the HTML alternative.
fn text_in_memory(what: &'static str, text: Text) -> Result<String, ComposeError> {
    let (bytes, path) = match text {
        Text::Memory(text) => return Ok(text),
        Text::File(path) => (
            std::fs::read(&path).map_err(|error| ComposeError::Unreadable {
                what,
                path: path.clone(),
                error,
            })?,
            path,
        ),
        Text::Reader(content) => {
            let mut bytes = Vec::new();
            content
                .open()
                .and_then(|mut r| r.read_to_end(&mut bytes))
                .map_err(ComposeError::Read)?;
            (bytes, PathBuf::new())
        }
    };
    String::from_utf8(bytes).map_err(|_| ComposeError::NotUtf8 { what, path })
}

/// Validates UTF-8 across chunk boundaries.
#[derive(Default)]
struct Utf8Check {
    /// An incomplete sequence at the end of the previous chunk (at most 3 octets).
    carry: Vec<u8>,
}

impl Utf8Check {
    fn push(&mut self, chunk: &[u8]) -> bool {
        let joined;
        let bytes = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => {
                self.carry.clear();
                true
            }
            // Cut in the middle of a character: the rest comes with the next chunk.
            Err(e) if e.error_len().is_none() => {
                self.carry = bytes.get(e.valid_up_to()..).unwrap_or_default().to_vec();
                true
            }
            Err(_) => false,
        }
    }

    fn finish(&self) -> bool {
        self.carry.is_empty()
    }
}

/// One streamed pass over a text file: UTF-8 checked, its encoding measured.
fn measure_text_file(path: &Path) -> Result<message::TextStream, ComposeError> {
    let unreadable = |error| ComposeError::Unreadable {
        what: "text",
        path: path.to_path_buf(),
        error,
    };
    let not_utf8 = || ComposeError::NotUtf8 {
        what: "text",
        path: path.to_path_buf(),
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut meter = TextMeter::new();
    let mut utf8 = Utf8Check::default();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(e)),
        };
        let piece = chunk.get(..n).unwrap_or_default();
        if !utf8.push(piece) {
            return Err(not_utf8());
        }
        meter.push(piece);
    }
    if !utf8.finish() {
        return Err(not_utf8());
    }
    Ok(meter.finish())
}

fn invalid_data(error: MessageError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

/// A composed message: the core writer's spec and where the streamed parts come from.
/// Every [`open`](BodySource::open) writes the same message again.
#[derive(Clone, Debug)]
pub struct ComposedBody {
    spec: MessageSpec,
    /// The streamed text ([`Body::PlainStream`]).
    text: Option<Content>,
    /// Attachment contents, in the spec's order.
    attachments: Vec<Content>,
    size: Option<u64>,
    message_id: String,
    eight_bit: bool,
    smtputf8: bool,
}

impl ComposedBody {
    /// A reader of the whole message, from its first octet. It owns what it needs
    /// (`'static`, `Send`), so it can move to another thread.
    pub fn reader(&self) -> io::Result<ComposedReader> {
        Ok(ComposedReader {
            writer: MessageWriter::new(self.spec.clone()).map_err(invalid_data)?,
            text: self.text.clone(),
            attachments: self.attachments.clone(),
            current: None,
            chunk: Vec::new(),
            out: Vec::new(),
            pos: 0,
        })
    }

    /// Write the whole message to `out`; returns the octets written.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<u64> {
        io::copy(&mut self.reader()?, out)
    }

    /// Every part (the text, each attachment) is in memory: reading never blocks.
    pub fn in_memory(&self) -> bool {
        self.text
            .iter()
            .chain(&self.attachments)
            .all(|content| matches!(content, Content::Bytes(_)))
    }

    /// The Message-ID, angle brackets included.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The message's exact size in octets (before dot-stuffing), when every part's size is
    /// known.
    pub fn encoded_size(&self) -> Option<u64> {
        self.size
    }

    /// The text goes as `8bit`: needs 8BITMIME (RFC 6152).
    pub fn needs_eight_bit(&self) -> bool {
        self.eight_bit
    }

    /// An address in the headers is not ASCII: needs SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        self.smtputf8
    }

    /// What the core writer is given (Date, random numbers, parts).
    pub fn spec(&self) -> &MessageSpec {
        &self.spec
    }
}

impl BodySource for ComposedBody {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(self.reader()?))
    }

    fn size_hint(&self) -> Option<u64> {
        self.size
    }
}

/// The bytes of a [`ComposedBody`]: the core writer driven by reads, pulling the streamed
/// parts in [`READ_CHUNK`] pieces.
pub struct ComposedReader {
    writer: MessageWriter,
    text: Option<Content>,
    attachments: Vec<Content>,
    /// The part being streamed, opened on first use.
    current: Option<Box<dyn Read + Send>>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

impl fmt::Debug for ComposedReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComposedReader")
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

impl Read for ComposedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            match self.writer.poll(&mut self.out) {
                Step::Output => {}
                Step::Done => return Ok(0),
                Step::NeedContent(part) => self.feed(part)?,
            }
        }
        Ok(copy_out(&self.out, &mut self.pos, buf))
    }
}

impl ComposedReader {
    /// Hand the writer the next chunk of `part`, opening it on first use.
    fn feed(&mut self, part: message::PartId) -> io::Result<()> {
        let current = match &mut self.current {
            Some(reader) => reader,
            None => {
                let content = match part.attachment() {
                    Some(i) => self.attachments.get(i),
                    None => self.text.as_ref(),
                };
                let content = content.ok_or_else(|| {
                    io::Error::other(format!("the writer asked for a part ({part:?}) it has not"))
                })?;
                self.current.insert(content.open()?)
            }
        };
        self.chunk.resize(READ_CHUNK, 0);
        let n = loop {
            match current.read(&mut self.chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            self.current = None;
            self.writer.end_content().map_err(invalid_data)
        } else {
            self.writer
                .push_content(self.chunk.get(..n).unwrap_or_default())
                .map_err(invalid_data)
        }
    }
}

/// Copy what is left of `out` from `pos` into `buf`, advancing `pos`.
fn copy_out(out: &[u8], pos: &mut usize, buf: &mut [u8]) -> usize {
    let available = out.get(*pos..).unwrap_or_default();
    let n = available.len().min(buf.len());
    if let (Some(to), Some(from)) = (buf.get_mut(..n), available.get(..n)) {
        to.copy_from_slice(from);
    }
    *pos += n;
    n
}

/// Where a ready message's octets are.
#[derive(Debug)]
pub enum RawSource {
    /// A file, opened anew for each send.
    Path(PathBuf),
    /// An open file (e.g. standard input spooled to a temporary file), read again from its
    /// start for each send.
    File(File),
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
}

impl From<PathBuf> for RawSource {
    fn from(path: PathBuf) -> RawSource {
        RawSource::Path(path)
    }
}

impl From<&Path> for RawSource {
    fn from(path: &Path) -> RawSource {
        RawSource::Path(path.to_path_buf())
    }
}

impl From<File> for RawSource {
    fn from(file: File) -> RawSource {
        RawSource::File(file)
    }
}

impl From<Vec<u8>> for RawSource {
    fn from(bytes: Vec<u8>) -> RawSource {
        RawSource::Bytes(bytes.into())
    }
}

impl From<&[u8]> for RawSource {
    fn from(bytes: &[u8]) -> RawSource {
        RawSource::Bytes(bytes.into())
    }
}

impl RawSource {
    fn open(&self) -> io::Result<Box<dyn ReadSeek>> {
        match self {
            RawSource::Path(path) => Ok(Box::new(File::open(path)?)),
            RawSource::File(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(file))
            }
            RawSource::Bytes(bytes) => Ok(Box::new(io::Cursor::new(Arc::clone(bytes)))),
        }
    }

    /// An I/O error as a [`ComposeError`] naming the file when there is one.
    fn error(&self, error: io::Error) -> ComposeError {
        match self {
            RawSource::Path(path) => ComposeError::Unreadable {
                what: "message",
                path: path.clone(),
                error,
            },
            _ => ComposeError::Read(error),
        }
    }
}

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// A ready RFC 5322 message, sent as is but for `Date:` and `Message-ID:`, added when its
/// header block lacks them (the core's [`RawMessage`]). Line ends may be LF or CRLF: the
/// DATA encoder normalises them.
///
/// Built with one streamed pass that measures it (exact SIZE=), notes 8-bit octets in the
/// body (8BITMIME) and the header block (SMTPUTF8), and catches a header block over
/// [`message::raw::MAX_HEADER_BLOCK`] before any connection.
///
/// ```
/// use mxsend::compose::RawMessageBody;
///
/// let raw = RawMessageBody::new(b"From: a@example.com\nSubject: hi\n\nhello\n".to_vec(), "example.com")?;
/// assert!(raw.added_message_id().is_some_and(|id| id.ends_with("@example.com>")));
/// # Ok::<(), mxsend::compose::ComposeError>(())
/// ```
#[derive(Debug)]
pub struct RawMessageBody {
    source: RawSource,
    /// A replacement for the header block, and where the body starts in the source.
    header: Option<(Vec<u8>, u64)>,
    filter: RawMessage,
    size: u64,
    eight_bit_body: bool,
    eight_bit_headers: bool,
    added_message_id: Option<String>,
}

impl RawMessageBody {
    /// A ready message; a Message-ID, when one is added, is `<random.time@domain>`.
    pub fn new(source: impl Into<RawSource>, domain: &str) -> Result<RawMessageBody, ComposeError> {
        RawMessageBody::with_options(source.into(), None, now(), domain)
    }

    /// A ready message whose header block is replaced by `header` (blank line included);
    /// the original's body starts at `body_offset` in `source`. (Sendmail's `-t` strips
    /// Bcc this way.)
    pub fn with_header_block(
        source: impl Into<RawSource>,
        header: Vec<u8>,
        body_offset: u64,
        domain: &str,
    ) -> Result<RawMessageBody, ComposeError> {
        RawMessageBody::with_options(source.into(), Some((header, body_offset)), now(), domain)
    }

    /// [`with_header_block`](Self::with_header_block) (or none) with the date given.
    pub fn with_options(
        source: RawSource,
        header: Option<(Vec<u8>, u64)>,
        date: DateTime,
        domain: &str,
    ) -> Result<RawMessageBody, ComposeError> {
        let filter = RawMessage::new(date, fastrand::u64(..), domain)?;
        let mut body = RawMessageBody {
            source,
            header,
            filter,
            size: 0,
            eight_bit_body: false,
            eight_bit_headers: false,
            added_message_id: None,
        };
        let mut input = body.input().map_err(|e| body.source.error(e))?;
        let mut filter = body.filter.clone();
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut out = Vec::new();
        // What goes on the wire is checked here, before any connection: the filter refuses a
        // NUL or a line over 998 octets, counted in the input so the line number is the
        // caller's (it only adds short header lines); and SIZE= is the output's length with
        // CRLF line ends (RFC 1870).
        let content = |e: MessageError| match e {
            MessageError::Content(e) => ComposeError::Content(e),
            e => ComposeError::from(e),
        };
        let mut scan = ContentScan::new();
        loop {
            out.clear();
            let n = match input.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(body.source.error(e)),
            };
            let last = match chunk.get(..n) {
                Some(piece) if n > 0 => {
                    filter.push(piece, &mut out).map_err(content)?;
                    false
                }
                _ => {
                    filter.finish(&mut out).map_err(content)?;
                    true
                }
            };
            let _ = scan.push(&out);
            if last {
                break;
            }
        }
        body.size = scan.canonical_len();
        body.eight_bit_body = filter.body_has_eight_bit();
        body.eight_bit_headers = filter.headers_have_eight_bit();
        body.added_message_id = filter.added_message_id().map(str::to_string);
        Ok(body)
    }

    /// The source's octets, the header block replaced when asked.
    fn input(&self) -> io::Result<Box<dyn Read + Send>> {
        let mut input = self.source.open()?;
        match &self.header {
            Some((block, offset)) => {
                input.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(io::Cursor::new(block.clone()).chain(input)))
            }
            None => Ok(Box::new(input)),
        }
    }

    /// A reader of the message as sent, from its first octet.
    pub fn reader(&self) -> io::Result<RawReader> {
        Ok(RawReader {
            input: self.input()?,
            filter: self.filter.clone(),
            chunk: Vec::new(),
            out: Vec::new(),
            pos: 0,
            done: false,
        })
    }

    /// Write the message as sent to `out`; returns the octets written.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<u64> {
        io::copy(&mut self.reader()?, out)
    }

    /// The size in octets as sent, line ends counted as CRLF (before dot-stuffing): what
    /// SIZE= declares.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The body holds 8-bit octets: needs 8BITMIME (RFC 6152).
    pub fn needs_eight_bit(&self) -> bool {
        self.eight_bit_body
    }

    /// The header block holds 8-bit octets: needs SMTPUTF8 (RFC 6532).
    pub fn needs_smtputf8(&self) -> bool {
        self.eight_bit_headers
    }

    /// The Message-ID added because the message had none (angle brackets included).
    pub fn added_message_id(&self) -> Option<&str> {
        self.added_message_id.as_deref()
    }

    /// The envelope for this message: `from`, `recipients`, with SIZE, BODY and SMTPUTF8
    /// from the message.
    pub fn envelope(&self, from: ReversePath, recipients: Vec<Mailbox>) -> Envelope {
        Envelope {
            utf8_headers: self.eight_bit_headers
                || from.needs_smtputf8()
                || recipients.iter().any(Mailbox::needs_smtputf8),
            from,
            recipients,
            size: Some(self.size),
            body: if self.eight_bit_body {
                BodyType::EightBitMime
            } else {
                BodyType::SevenBit
            },
            dsn: DsnOptions::default(),
        }
    }

    /// This message with the envelope [`envelope`](Self::envelope) makes.
    pub fn into_message(self, from: ReversePath, recipients: Vec<Mailbox>) -> Message<Self> {
        Message::new(self.envelope(from, recipients), self)
    }
}

/// The composed message for the async adapters. When every part is in memory the writer
/// never blocks, so it runs inline on the executor (a thread hop per 64 KiB through the
/// blocking pool cost the async runtimes 4-5x the blocking adapter's time on small
/// messages); otherwise (files, readers, read synchronously) it runs on the blocking thread
/// pool, one 64 KiB pipe between them.
#[cfg(feature = "aio")]
impl crate::message::AsyncBodySource for ComposedBody {
    fn open(&self) -> io::Result<Box<dyn futures_lite::AsyncRead + Unpin + Send + '_>> {
        let reader = self.reader()?;
        if self.in_memory() {
            return Ok(Box::new(futures_lite::io::AssertAsync::new(reader)));
        }
        Ok(Box::new(blocking::Unblock::with_capacity(
            crate::attempt::BODY_CHUNK,
            reader,
        )))
    }

    fn size_hint(&self) -> Option<u64> {
        self.size
    }
}

/// A ready message for the async adapters: inline on the executor when its source is in
/// memory (it never blocks), else read on the blocking thread pool.
#[cfg(feature = "aio")]
impl crate::message::AsyncBodySource for RawMessageBody {
    fn open(&self) -> io::Result<Box<dyn futures_lite::AsyncRead + Unpin + Send + '_>> {
        let reader = self.reader()?;
        if matches!(self.source, RawSource::Bytes(_)) {
            return Ok(Box::new(futures_lite::io::AssertAsync::new(reader)));
        }
        Ok(Box::new(blocking::Unblock::with_capacity(
            crate::attempt::BODY_CHUNK,
            reader,
        )))
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.size)
    }
}

impl BodySource for RawMessageBody {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(self.reader()?))
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.size)
    }
}

/// The bytes of a [`RawMessageBody`] as sent.
pub struct RawReader {
    input: Box<dyn Read + Send>,
    filter: RawMessage,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl fmt::Debug for RawReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawReader")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Read for RawReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            self.chunk.resize(READ_CHUNK, 0);
            let n = match self.input.read(&mut self.chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            let result = match self.chunk.get(..n) {
                Some(piece) if n > 0 => self.filter.push(piece, &mut self.out),
                _ => {
                    self.done = true;
                    self.filter.finish(&mut self.out)
                }
            };
            result.map_err(invalid_data)?;
        }
        Ok(copy_out(&self.out, &mut self.pos, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> DateTime {
        DateTime {
            unix_seconds: 1_700_000_000,
            utc_offset_minutes: 0,
        }
    }

    fn builder() -> MessageBuilder {
        MessageBuilder::new()
            .from("Ann <ann@example.com>")
            .to("bob@example.net")
            .subject("hi")
            .date(date())
    }

    fn read_all(body: &impl BodySource) -> Vec<u8> {
        let mut out = Vec::new();
        body.open().unwrap().read_to_end(&mut out).unwrap();
        out
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// In-memory parts are read inline: the first poll of the first read is ready (the
    /// blocking pool's pipe would be pending until its thread ran).
    #[cfg(feature = "aio")]
    #[test]
    fn in_memory_bodies_are_read_inline_without_the_blocking_pool() {
        use futures_lite::AsyncReadExt;
        let composed = builder()
            .text("hello")
            .attach(Attachment::from_bytes("a.bin", vec![7u8; 100_000]))
            .build()
            .unwrap();
        assert!(composed.body.in_memory());
        let raw =
            RawMessageBody::new(b"Subject: x\r\n\r\nbody\r\n".to_vec(), "example.com").unwrap();
        for body in [
            &composed.body as &dyn crate::message::AsyncBodySource,
            &raw as &dyn crate::message::AsyncBodySource,
        ] {
            let mut reader = body.open().unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let first = futures_lite::future::block_on(futures_lite::future::poll_once(
                reader.read(&mut buf),
            ));
            assert!(matches!(first, Some(Ok(n)) if n > 0), "{first:?}");
        }
    }

    #[test]
    fn a_file_attachment_is_not_in_memory() {
        let composed = builder()
            .text("hello")
            .attach(Attachment::from_path("/dev/null"))
            .build()
            .unwrap();
        assert!(!composed.body.in_memory());
    }

    #[cfg(feature = "aio")]
    #[test]
    fn async_readers_give_the_same_bytes_as_the_blocking_ones() {
        use futures_lite::AsyncReadExt;
        let composed = builder()
            .text("hello")
            .attach(Attachment::from_bytes("a.bin", vec![0u8, 1, 2, 255]))
            .build()
            .unwrap();
        let raw = RawMessageBody::new(
            RawSource::Bytes(std::sync::Arc::from(&b"Subject: x\r\n\r\nbody\r\n"[..])),
            "example.com",
        )
        .unwrap();
        for (sync, body) in [
            (
                read_all(&composed.body),
                &composed.body as &dyn crate::message::AsyncBodySource,
            ),
            (read_all(&raw), &raw as &dyn crate::message::AsyncBodySource),
        ] {
            let mut out = Vec::new();
            futures_lite::future::block_on(async {
                body.open().unwrap().read_to_end(&mut out).await.unwrap();
            });
            assert_eq!(out, sync);
        }
    }

    #[test]
    fn parses_a_bare_address_without_display_name() {
        let a = Address::parse(" bob@example.net ").unwrap();
        assert_eq!(a.header, MailboxHeader::new("bob@example.net"));
        assert_eq!(a.envelope.to_string(), "bob@example.net");
    }

    #[test]
    fn parses_a_quoted_display_name_and_unescapes_it() {
        let a: Address = "\"Ann \\\"A\\\" Example\" <ann@example.com>"
            .parse()
            .unwrap();
        assert_eq!(
            a.header,
            MailboxHeader::with_name("Ann \"A\" Example", "ann@example.com")
        );
    }

    #[test]
    fn refuses_an_address_with_a_line_break() {
        assert_eq!(
            Address::parse("bob@example.net\r\nBcc: x@y").err(),
            Some(HeaderAddressError::LineBreak)
        );
    }

    #[test]
    fn build_reports_the_first_bad_address_naming_its_field() {
        let err = builder().cc("not-an-address").to("x@").build().unwrap_err();
        assert!(
            matches!(&err, ComposeError::InvalidAddress { field: "Cc", text, .. } if text == "not-an-address"),
            "{err:?}"
        );
    }

    #[test]
    fn envelope_holds_to_cc_and_bcc_once_each_and_the_from_address() {
        let message = builder()
            .to("Carol <carol@example.org>")
            .cc("bob@example.net")
            .bcc("dave@example.org")
            .build()
            .unwrap();
        let rcpts: Vec<String> = message
            .envelope
            .recipients
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(
            rcpts,
            ["bob@example.net", "carol@example.org", "dave@example.org"]
        );
        assert_eq!(message.envelope.from.to_string(), "ann@example.com");
    }

    #[test]
    fn bcc_reaches_the_envelope_but_never_the_message() {
        let message = builder().bcc("secret@example.org").build().unwrap();
        assert!(!text(&read_all(&message.body)).contains("secret"));
        assert_eq!(message.envelope.recipients.len(), 2);
    }

    #[test]
    fn refuses_a_message_without_sender_or_recipients() {
        let no_from = MessageBuilder::new().to("bob@example.net").build();
        assert!(matches!(no_from, Err(ComposeError::NoSender)));
        let no_rcpt = MessageBuilder::new().from("ann@example.com").build();
        assert!(matches!(no_rcpt, Err(ComposeError::NoRecipients)));
    }

    #[test]
    fn refuses_an_extra_header_the_writer_generates() {
        let err = builder().header("Subject", "other").build().unwrap_err();
        assert!(matches!(
            err,
            ComposeError::Message(MessageError::ReservedHeader(_))
        ));
    }

    #[test]
    fn guesses_content_types_from_file_names_or_takes_the_one_given() {
        let message = builder()
            .attach(Attachment::from_bytes("report.PDF", b"%PDF".to_vec()))
            .attach(Attachment::from_bytes("data.weird-ext", b"x".to_vec()))
            .attach(Attachment::from_bytes("a.txt", b"x".to_vec()).content_type("text/csv"))
            .build()
            .unwrap();
        let types: Vec<&str> = message
            .body
            .spec()
            .attachments
            .iter()
            .map(|a| a.content_type.as_str())
            .collect();
        assert_eq!(
            types,
            ["application/pdf", "application/octet-stream", "text/csv"]
        );
    }

    #[test]
    fn composed_body_is_the_same_on_every_open_and_as_long_as_announced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let message = builder()
            .attach(Attachment::from_path(&path))
            .build()
            .unwrap();
        let first = read_all(&message.body);
        assert_eq!(first, read_all(&message.body));
        assert_eq!(message.envelope.size, Some(first.len() as u64));
        assert_eq!(message.body.size_hint(), Some(first.len() as u64));
        assert!(text(&first).contains("filename=\"data.bin\""));
        assert!(text(&first).contains(&format!("Message-ID: {}", message.body.message_id())));
    }

    #[test]
    fn streams_a_text_file_measured_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.txt");
        let body = "Grüße\n".repeat(20_000);
        std::fs::write(&path, &body).unwrap();
        let message = builder().text_file(&path).build().unwrap();
        let bytes = read_all(&message.body);
        assert_eq!(message.envelope.size, Some(bytes.len() as u64));
        let text = text(&bytes);
        assert!(
            text.contains("Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n")
        );
        assert!(matches!(message.body.spec().body, Body::PlainStream(_)));
    }

    #[test]
    fn refuses_a_text_file_that_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.bin");
        std::fs::write(&path, [b'a', 0xff, 0xfe]).unwrap();
        let err = builder().text_file(&path).build().unwrap_err();
        assert!(
            matches!(err, ComposeError::NotUtf8 { what: "text", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn utf8_check_accepts_a_character_cut_between_chunks_and_refuses_a_truncated_one() {
        let mut check = Utf8Check::default();
        let bytes = "é".as_bytes();
        assert!(check.push(&bytes[..1]) && check.push(&bytes[1..]) && check.finish());
        let mut check = Utf8Check::default();
        assert!(check.push(&bytes[..1]) && !check.finish());
    }

    #[test]
    fn streams_a_text_reader_opened_on_each_send_without_a_size() {
        let message = builder()
            .text_reader(|| Ok(Box::new(io::Cursor::new(b"from a reader".to_vec()))))
            .build()
            .unwrap();
        assert_eq!(message.envelope.size, None);
        let first = text(&read_all(&message.body));
        assert!(first.ends_with("\r\n\r\nfrom a reader\r\n"), "{first}");
        assert_eq!(first, text(&read_all(&message.body)));
    }

    #[test]
    fn reports_unreadable_and_directory_attachments_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = builder()
            .attach(Attachment::from_path(dir.path()))
            .build()
            .unwrap_err();
        assert!(matches!(err, ComposeError::IsDirectory(_)));
        let err = builder()
            .attach(Attachment::from_path("/nonexistent/a.pdf"))
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ComposeError::Unreadable {
                what: "attachment",
                ..
            }
        ));
    }

    #[test]
    fn eight_bit_text_when_allowed_asks_for_8bitmime_in_the_envelope() {
        let message = builder()
            .text("Grüße\n")
            .allow_eight_bit(true)
            .build()
            .unwrap();
        assert_eq!(message.envelope.body, BodyType::EightBitMime);
        let message = builder().text("Grüße\n").build().unwrap();
        assert_eq!(message.envelope.body, BodyType::SevenBit);
    }

    #[test]
    fn non_ascii_addresses_ask_for_smtputf8() {
        let message = builder().to("jörg@example.test").build().unwrap();
        assert!(message.envelope.utf8_headers);
        assert!(!builder().build().unwrap().envelope.utf8_headers);
    }

    #[test]
    fn raw_message_gets_date_and_message_id_and_tells_the_id() {
        let raw = RawMessageBody::new(
            b"From: a@example.com\nSubject: x\n\nhello\n".to_vec(),
            "example.com",
        )
        .unwrap();
        let bytes = read_all(&raw);
        let text = text(&bytes);
        let id = raw.added_message_id().unwrap();
        assert!(text.starts_with("Date: "), "{text}");
        assert!(text.contains(&format!("Message-ID: {id}\r\n")), "{text}");
        assert!(text.ends_with("\nhello\n"));
        // SIZE= counts the LF-only lines as CRLF (RFC 1870).
        assert_eq!(raw.size(), ContentScan::canonical_len_of(&bytes));
        assert!(raw.size() > bytes.len() as u64);
        assert_eq!(bytes, read_all(&raw));
    }

    #[test]
    fn raw_message_with_its_own_id_keeps_it() {
        let raw = RawMessageBody::new(&b"Message-ID: <x@y>\n\nhello\n"[..], "example.com").unwrap();
        assert_eq!(raw.added_message_id(), None);
    }

    #[test]
    fn raw_message_header_block_can_be_replaced() {
        let original = b"Bcc: hidden@example.org\nSubject: x\n\nbody\n";
        let offset = (original.len() - b"body\n".len()) as u64;
        let raw = RawMessageBody::with_header_block(
            original.to_vec(),
            b"Subject: x\n\n".to_vec(),
            offset,
            "example.com",
        )
        .unwrap();
        let text = text(&read_all(&raw));
        assert!(!text.contains("hidden"), "{text}");
        assert!(text.ends_with("Subject: x\n\nbody\n"), "{text}");
    }

    #[test]
    fn raw_message_envelope_asks_for_8bitmime_and_smtputf8_from_the_content() {
        let raw = RawMessageBody::new("Subject: ü\n\ngrüße\n".as_bytes(), "example.com").unwrap();
        let envelope = raw.envelope(ReversePath::Null, vec![]);
        assert_eq!(envelope.body, BodyType::EightBitMime);
        assert!(envelope.utf8_headers);
        assert_eq!(envelope.size, Some(raw.size()));
    }

    #[test]
    fn raw_message_from_a_missing_file_names_it() {
        let err = RawMessageBody::new(Path::new("/nonexistent/m.eml"), "example.com").unwrap_err();
        assert!(matches!(
            err,
            ComposeError::Unreadable {
                what: "message",
                ..
            }
        ));
    }

    #[test]
    fn raw_message_with_a_nul_is_refused_before_any_connection() {
        let err =
            RawMessageBody::new(&b"Subject: x\n\nbad\0byte\n"[..], "example.com").unwrap_err();
        assert!(
            matches!(err, ComposeError::Content(ContentError::Nul { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn raw_message_with_a_line_over_998_octets_is_refused_naming_the_line() {
        let mut message = b"Subject: x\n\nfirst\n".to_vec();
        message.extend(std::iter::repeat_n(b'x', 1500));
        message.push(b'\n');
        let err = RawMessageBody::new(message, "example.com").unwrap_err();
        // Line 4 of the caller's message (Date and Message-ID, added, do not count).
        assert!(
            matches!(
                err,
                ComposeError::Content(ContentError::LineTooLong { line: 4 })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("line 4"), "{err}");
    }
}
