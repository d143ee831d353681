//! A message to send: its envelope, and a body that can be read as many times as needed.
//!
//! The body is streamed: the session asks for more only while less than
//! [`mxsend_core::session::BODY_WATERMARK`] octets wait to be written, so memory stays flat
//! whatever the size. It is opened once per attempt (each MX domain, each fallback address),
//! hence [`BodySource`] rather than a single reader; `AsyncBodySource` is its async flavour
//! (features `smol`, `async-std`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::session::Envelope;
use mxsend_core::transparency::{ContentError, ContentScan};

use crate::spool::{SpoolFailure, Spooled};

#[cfg(feature = "aio")]
use futures_lite::AsyncRead;

/// Where a message's content comes from: anything that can be opened for reading again.
///
/// The content is the RFC 5322 message (headers, blank line, body) with LF or CRLF line
/// ends; the session normalises line ends and dot-stuffs it (or frames it for BDAT).
///
/// ```
/// use mxsend::message::BodySource;
/// use std::io::Read;
///
/// let body = b"Subject: hi\n\nhello\n".to_vec();
/// let mut text = String::new();
/// body.open()?.read_to_string(&mut text)?;
/// assert_eq!(text, "Subject: hi\n\nhello\n");
/// // Three LFs sent as CRLF: SIZE= counts 22 octets.
/// assert_eq!(body.size_hint(), Some(22));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait BodySource {
    /// A reader from the first octet of the content.
    fn open(&self) -> io::Result<Box<dyn Read + '_>>;

    /// A reader that owns what it reads from, for content whose reads can stall (a file,
    /// which may be a FIFO; a pipe): the blocking adapter reads it on a thread of its own and
    /// waits for each chunk no longer than the session's deadline. `None` (the default) for
    /// content read in place, such as bytes in memory.
    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        None
    }

    /// The content's length in octets once line ends are CRLF (what SIZE= declares, RFC
    /// 1870), when known: used when the envelope gives no size. The implementations here
    /// count it exactly ([`ContentScan`]); a hint that falls short makes the server's limit
    /// check meaningless, one that is too large may have the message refused.
    fn size_hint(&self) -> Option<u64> {
        None
    }

    /// Whether every [`BodySource::open`] gives the content from its start (true but for a
    /// one-pass reader, [`ReaderBody`]). DKIM signing reads the content twice and asks first.
    fn is_rereadable(&self) -> bool {
        true
    }

    /// What makes the content unsendable as text, when that can be known without sending it:
    /// a NUL (RFC 5322 §2.3) or a line over 998 octets (§2.1.1). Asked before connecting; a
    /// message with a problem goes as it is with `BODY=BINARYMIME` in BDAT (RFC 3030) to a
    /// server that offers it, and is refused without being sent by one that does not
    /// ([`Failure::BinaryUnsupported`]), while the others go on. In-memory content, regular
    /// files and read-ahead readers are scanned; `None` (the default) means none found or
    /// none knowable in advance: content is checked again as it streams, and a problem
    /// found then stops the transaction before the offending octets go out
    /// ([`BodyError::Content`]; [`ReaderBody::streamed`] is checked only that way).
    ///
    /// [`BodyError::Content`]: mxsend_core::session::BodyError::Content
    /// [`Failure::BinaryUnsupported`]: mxsend_core::session::Failure::BinaryUnsupported
    fn content_problem(&self) -> Option<ContentError> {
        None
    }

    /// Whether the content must be read ahead before connecting ([`ReaderBody::new`]): the
    /// driver then reads it through [`BodySource::open_owned`] (or `open`), each chunk within
    /// the session's body deadline, and hands the result back with [`BodySource::spooled`].
    fn wants_read_ahead(&self) -> bool {
        false
    }

    /// The content read ahead (or why it could not be), after
    /// [`BodySource::wants_read_ahead`].
    fn spooled(&self, result: io::Result<Spooled>) {
        let _ = result;
    }
}

/// The first problem [`BodySource::content_problem`] names in `reader`'s content, read once.
fn content_problem_in(mut reader: impl Read) -> Option<ContentError> {
    let mut scan = ContentScan::new();
    let mut chunk = vec![0u8; crate::attempt::BODY_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Unreadable now: the attempt reports that when it opens the content.
            Err(_) => return None,
        };
        if let Err(problem) = scan.push(chunk.get(..n).unwrap_or_default()) {
            return Some(problem);
        }
    }
}

/// A regular file's [`BodySource::content_problem`] (a FIFO is not read ahead).
fn file_content_problem(path: &Path) -> Option<ContentError> {
    let file = File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    content_problem_in(io::BufReader::new(file))
}

impl BodySource for [u8] {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(self))
    }

    fn size_hint(&self) -> Option<u64> {
        Some(ContentScan::canonical_len_of(self))
    }

    fn content_problem(&self) -> Option<ContentError> {
        ContentScan::new().push(self).err()
    }
}

/// The content's length after CRLF normalisation, read once from `reader`.
pub(crate) fn canonical_len(mut reader: impl Read) -> io::Result<u64> {
    let mut scan = ContentScan::new();
    let mut chunk = vec![0u8; crate::attempt::BODY_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(scan.canonical_len()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let _ = scan.push(chunk.get(..n).unwrap_or_default());
    }
}

impl BodySource for Vec<u8> {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        BodySource::open(self.as_slice())
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(self.as_slice())
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(self.as_slice())
    }
}

impl BodySource for str {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        BodySource::open(self.as_bytes())
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(self.as_bytes())
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(self.as_bytes())
    }
}

impl BodySource for String {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        BodySource::open(self.as_bytes())
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(self.as_bytes())
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(self.as_bytes())
    }
}

/// A file, opened anew for each attempt. Its size hint reads it once (line ends counted as
/// CRLF); a FIFO or other non-regular file gives none.
impl BodySource for Path {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(io::BufReader::new(File::open(self)?)))
    }

    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        Some(File::open(self).map(|f| Box::new(f) as Box<dyn Read + Send>))
    }

    fn size_hint(&self) -> Option<u64> {
        let file = File::open(self).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        canonical_len(file).ok()
    }

    fn content_problem(&self) -> Option<ContentError> {
        file_content_problem(self)
    }
}

impl BodySource for PathBuf {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        BodySource::open(self.as_path())
    }

    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        BodySource::open_owned(self.as_path())
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(self.as_path())
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(self.as_path())
    }
}

impl<T: BodySource + ?Sized> BodySource for &T {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        BodySource::open(&**self)
    }

    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        BodySource::open_owned(&**self)
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(&**self)
    }

    fn is_rereadable(&self) -> bool {
        BodySource::is_rereadable(&**self)
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(&**self)
    }

    fn wants_read_ahead(&self) -> bool {
        BodySource::wants_read_ahead(&**self)
    }

    fn spooled(&self, result: io::Result<Spooled>) {
        BodySource::spooled(&**self, result);
    }
}

impl<T: BodySource + ?Sized> BodySource for Box<T> {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        BodySource::open(&**self)
    }

    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        BodySource::open_owned(&**self)
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(&**self)
    }

    fn is_rereadable(&self) -> bool {
        BodySource::is_rereadable(&**self)
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(&**self)
    }

    fn wants_read_ahead(&self) -> bool {
        BodySource::wants_read_ahead(&**self)
    }

    fn spooled(&self, result: io::Result<Spooled>) {
        BodySource::spooled(&**self, result);
    }
}

/// Content from any reader (standard input, a pipe, a socket, a decompressor).
///
/// [`ReaderBody::new`] reads it ahead before connecting, into an anonymous temporary file
/// ([`crate::spool`]), as sendmail does with its standard input: so a NUL or a line over 998
/// octets is refused before any server sees the message ([`BodySource::content_problem`]),
/// SIZE= declares the exact size, and the content can be sent as often as needed (a second
/// recipient domain, the relay's next address). Memory stays flat whatever the size. Each
/// chunk is awaited no longer than the session's body deadline (`data_block`), so a reader
/// that stalls defers its message instead of hanging the send.
///
/// [`ReaderBody::streamed`] reads it only as it is sent: nothing on disk, but the content is
/// checked as it streams (a problem stops the transaction before the offending octets go
/// out), SIZE= is declared only when given ([`ReaderBody::with_size`]), and it can be opened
/// once: a second opening fails with an error that says so, and the recipients concerned are
/// reported with it.
///
/// ```
/// use mxsend::message::{BodySource, ReaderBody};
/// use std::io::Read;
///
/// let body = ReaderBody::streamed(&b"Subject: hi\n\nhello\n"[..]);
/// let mut text = String::new();
/// body.open()?.read_to_string(&mut text)?;
/// assert_eq!(text, "Subject: hi\n\nhello\n");
/// assert!(body.open().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ReaderBody<R> {
    reader: std::sync::Mutex<Option<R>>,
    size: Option<u64>,
    /// Read ahead before connecting ([`ReaderBody::new`]).
    read_ahead: bool,
    /// The content read ahead, or why it could not be.
    spool: std::sync::OnceLock<Result<Spooled, SpoolFailure>>,
}

impl<R> ReaderBody<R> {
    /// Content read from `reader`, ahead of connecting, into a spool file (type docs).
    pub fn new(reader: R) -> ReaderBody<R> {
        ReaderBody {
            read_ahead: true,
            ..ReaderBody::streamed(reader)
        }
    }

    /// Content read from `reader` only as it is sent, once (type docs).
    pub fn streamed(reader: R) -> ReaderBody<R> {
        ReaderBody {
            reader: std::sync::Mutex::new(Some(reader)),
            size: None,
            read_ahead: false,
            spool: std::sync::OnceLock::new(),
        }
    }

    /// Streamed, with the content's length known in advance (for SIZE=).
    pub fn with_size(reader: R, size: u64) -> ReaderBody<R> {
        ReaderBody {
            size: Some(size),
            ..ReaderBody::streamed(reader)
        }
    }

    fn take(&self) -> io::Result<R> {
        self.reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| {
                io::Error::other(
                    "the message content came from a reader, which can be read only once; \
                     spool it to a file to send it more than once",
                )
            })
    }

    /// The content read ahead, or the error that reading it ahead ended with.
    fn spooled_content(&self) -> Option<io::Result<&Spooled>> {
        self.spool
            .get()
            .map(|spool| spool.as_ref().map_err(SpoolFailure::to_error))
    }

    fn wants(&self) -> bool {
        self.read_ahead && self.spool.get().is_none()
    }

    fn keep(&self, result: io::Result<Spooled>) {
        let _ = self.spool.set(result.map_err(|e| SpoolFailure::new(&e)));
    }

    fn spooled_size(&self) -> Option<u64> {
        match self.spooled_content() {
            Some(Ok(spooled)) => Some(spooled.size()),
            _ => self.size,
        }
    }

    fn spooled_problem(&self) -> Option<ContentError> {
        match self.spooled_content() {
            Some(Ok(spooled)) => spooled.problem(),
            _ => None,
        }
    }

    fn is_spooled(&self) -> bool {
        matches!(self.spool.get(), Some(Ok(_)))
    }
}

/// Read on a thread of its own by the blocking adapter (when read ahead, and when streamed),
/// so a reader that stalls (a pipe nobody writes to) defers its message at the session's
/// deadline; once spooled, read from the spool file in place.
impl<R: Read + Send + 'static> BodySource for ReaderBody<R> {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        match self.spooled_content() {
            Some(spooled) => Ok(Box::new(spooled?.reader())),
            None => Ok(Box::new(self.take()?)),
        }
    }

    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        if self.spool.get().is_some() {
            return None;
        }
        Some(
            self.take()
                .map(|reader| Box::new(reader) as Box<dyn Read + Send>),
        )
    }

    fn size_hint(&self) -> Option<u64> {
        self.spooled_size()
    }

    fn is_rereadable(&self) -> bool {
        self.is_spooled()
    }

    fn content_problem(&self) -> Option<ContentError> {
        self.spooled_problem()
    }

    fn wants_read_ahead(&self) -> bool {
        self.wants()
    }

    fn spooled(&self, result: io::Result<Spooled>) {
        self.keep(result);
    }
}

#[cfg(feature = "aio")]
impl<R: Read + Send + 'static> AsyncBodySource for ReaderBody<R> {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        let reader: Box<dyn Read + Send> = match self.spooled_content() {
            Some(spooled) => Box::new(spooled?.reader()),
            None => Box::new(self.take()?),
        };
        Ok(Box::new(blocking::Unblock::with_capacity(
            crate::attempt::BODY_CHUNK,
            reader,
        )))
    }

    fn size_hint(&self) -> Option<u64> {
        self.spooled_size()
    }

    fn is_rereadable(&self) -> bool {
        self.is_spooled()
    }

    fn content_problem(&self) -> Option<ContentError> {
        self.spooled_problem()
    }

    fn wants_read_ahead(&self) -> bool {
        self.wants()
    }

    fn spooled(&self, result: io::Result<Spooled>) {
        self.keep(result);
    }
}

/// The async flavour of [`BodySource`], for the smol and async-std adapters (features `smol`,
/// `async-std`): the same implementations, with futures-io readers.
///
/// `open` runs on the executor and must not block for long. In-memory content is read in
/// place. A file is opened there (one system call, as [`BodySource::size_hint`] already does)
/// and read on the blocking thread pool both runtimes share ([`blocking::Unblock`]) through a
/// pipe of 64 KiB, so memory stays flat whatever the file size.
///
/// Why a second trait rather than running any [`BodySource`] on that pool: its readers borrow
/// the source and need not be `Send`, so they cannot move to another thread. A custom source
/// that can only read blocking hands an owned reader to `blocking::Unblock` in its `open`.
///
/// ```
/// use mxsend::message::AsyncBodySource;
/// use futures_lite::AsyncReadExt;
///
/// let body = b"Subject: hi\n\nhello\n".to_vec();
/// let mut text = String::new();
/// futures_lite::future::block_on(async {
///     AsyncBodySource::open(&body)?.read_to_string(&mut text).await
/// })?;
/// assert_eq!(text, "Subject: hi\n\nhello\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(feature = "aio")]
pub trait AsyncBodySource: Sync {
    /// A reader from the first octet of the content.
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>>;

    /// As [`BodySource::size_hint`].
    fn size_hint(&self) -> Option<u64> {
        None
    }

    /// As [`BodySource::is_rereadable`].
    fn is_rereadable(&self) -> bool {
        true
    }

    /// As [`BodySource::content_problem`].
    fn content_problem(&self) -> Option<ContentError> {
        None
    }

    /// As [`BodySource::wants_read_ahead`]; the driver reads through `open`.
    fn wants_read_ahead(&self) -> bool {
        false
    }

    /// As [`BodySource::spooled`].
    fn spooled(&self, result: io::Result<Spooled>) {
        let _ = result;
    }
}

#[cfg(feature = "aio")]
impl AsyncBodySource for [u8] {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        Ok(Box::new(self))
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(self)
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(self)
    }
}

#[cfg(feature = "aio")]
impl AsyncBodySource for Vec<u8> {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        AsyncBodySource::open(self.as_slice())
    }

    fn size_hint(&self) -> Option<u64> {
        AsyncBodySource::size_hint(self.as_slice())
    }

    fn content_problem(&self) -> Option<ContentError> {
        AsyncBodySource::content_problem(self.as_slice())
    }
}

#[cfg(feature = "aio")]
impl AsyncBodySource for str {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        AsyncBodySource::open(self.as_bytes())
    }

    fn size_hint(&self) -> Option<u64> {
        AsyncBodySource::size_hint(self.as_bytes())
    }

    fn content_problem(&self) -> Option<ContentError> {
        AsyncBodySource::content_problem(self.as_bytes())
    }
}

#[cfg(feature = "aio")]
impl AsyncBodySource for String {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        AsyncBodySource::open(self.as_bytes())
    }

    fn size_hint(&self) -> Option<u64> {
        AsyncBodySource::size_hint(self.as_bytes())
    }

    fn content_problem(&self) -> Option<ContentError> {
        AsyncBodySource::content_problem(self.as_bytes())
    }
}

/// A file, opened anew for each attempt and read on the blocking thread pool.
#[cfg(feature = "aio")]
impl AsyncBodySource for Path {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        let file = File::open(self)?;
        Ok(Box::new(blocking::Unblock::with_capacity(
            crate::attempt::BODY_CHUNK,
            file,
        )))
    }

    fn size_hint(&self) -> Option<u64> {
        BodySource::size_hint(self)
    }

    fn content_problem(&self) -> Option<ContentError> {
        BodySource::content_problem(self)
    }
}

#[cfg(feature = "aio")]
impl AsyncBodySource for PathBuf {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        AsyncBodySource::open(self.as_path())
    }

    fn size_hint(&self) -> Option<u64> {
        AsyncBodySource::size_hint(self.as_path())
    }

    fn content_problem(&self) -> Option<ContentError> {
        AsyncBodySource::content_problem(self.as_path())
    }
}

#[cfg(feature = "aio")]
impl<T: AsyncBodySource + ?Sized> AsyncBodySource for &T {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        AsyncBodySource::open(&**self)
    }

    fn size_hint(&self) -> Option<u64> {
        AsyncBodySource::size_hint(&**self)
    }

    fn is_rereadable(&self) -> bool {
        AsyncBodySource::is_rereadable(&**self)
    }

    fn content_problem(&self) -> Option<ContentError> {
        AsyncBodySource::content_problem(&**self)
    }

    fn wants_read_ahead(&self) -> bool {
        AsyncBodySource::wants_read_ahead(&**self)
    }

    fn spooled(&self, result: io::Result<Spooled>) {
        AsyncBodySource::spooled(&**self, result);
    }
}

#[cfg(feature = "aio")]
impl<T: AsyncBodySource + ?Sized> AsyncBodySource for Box<T> {
    fn open(&self) -> io::Result<Box<dyn AsyncRead + Unpin + Send + '_>> {
        AsyncBodySource::open(&**self)
    }

    fn size_hint(&self) -> Option<u64> {
        AsyncBodySource::size_hint(&**self)
    }

    fn is_rereadable(&self) -> bool {
        AsyncBodySource::is_rereadable(&**self)
    }

    fn content_problem(&self) -> Option<ContentError> {
        AsyncBodySource::content_problem(&**self)
    }

    fn wants_read_ahead(&self) -> bool {
        AsyncBodySource::wants_read_ahead(&**self)
    }

    fn spooled(&self, result: io::Result<Spooled>) {
        AsyncBodySource::spooled(&**self, result);
    }
}

/// One message: who it is from and to (with SIZE, BODY, SMTPUTF8 and DSN options), and its
/// content.
#[derive(Clone, Debug)]
pub struct Message<B> {
    /// The envelope. `size: None` is filled from [`BodySource::size_hint`].
    pub envelope: Envelope,
    /// The content.
    pub body: B,
}

impl<B> Message<B> {
    /// A message with this envelope and content.
    pub fn new(envelope: Envelope, body: B) -> Message<B> {
        Message { envelope, body }
    }

    /// The envelope for a session carrying only the recipients at `indices`, with `size`
    /// (the body's size hint) filled in when the caller gave none.
    ///
    /// Addresses go on the wire with A-labels where that is all they need: a domain given
    /// as U-labels (`bob@bücher.example`) with an ASCII local part is sent as
    /// `bob@xn--bcher-kva.example` (RFC 5890), so SMTPUTF8 is asked for only when a local
    /// part truly needs it (RFC 6531 §3.2). `None` when an index is not a recipient's.
    pub(crate) fn envelope_for(&self, indices: &[usize], size: Option<u64>) -> Option<Envelope> {
        let mut envelope = self.envelope.clone();
        envelope.recipients = indices
            .iter()
            .map(|&i| self.envelope.recipients.get(i).map(wire_form))
            .collect::<Option<_>>()?;
        if let ReversePath::Mailbox(from) = &envelope.from {
            envelope.from = ReversePath::Mailbox(wire_form(from));
        }
        if envelope.size.is_none() {
            envelope.size = size;
        }
        Some(envelope)
    }
}

/// `mailbox` with its domain in A-labels when its local part is ASCII (else as given: the
/// address needs SMTPUTF8 anyway, RFC 6531 §3.2, and the server should see it unchanged).
fn wire_form(mailbox: &Mailbox) -> Mailbox {
    let Domain::Name(name) = mailbox.domain() else {
        return mailbox.clone();
    };
    if name.is_ascii() || !mailbox.local_part().is_ascii() {
        return mailbox.clone();
    }
    idna::domain_to_ascii(name)
        .ok()
        .and_then(|ascii| Mailbox::parse(&format!("{}@{ascii}", mailbox.local_part())).ok())
        .unwrap_or_else(|| mailbox.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_label_domains_go_as_a_labels_when_the_local_part_is_ascii() {
        let envelope = Envelope {
            from: ReversePath::parse("alice@bücher.example").unwrap(),
            recipients: vec![
                Mailbox::parse("bob@bücher.example").unwrap(),
                Mailbox::parse("jörg@bücher.example").unwrap(),
            ],
            size: None,
            body: mxsend_core::command::BodyType::SevenBit,
            utf8_headers: false,
            dsn: Default::default(),
        };
        let message = Message::new(envelope, Vec::<u8>::new());
        let wire = message.envelope_for(&[0, 1], None).unwrap();
        assert_eq!(wire.from.to_string(), "alice@xn--bcher-kva.example");
        assert_eq!(wire.recipients[0].to_string(), "bob@xn--bcher-kva.example");
        assert!(!wire.recipients[0].needs_smtputf8());
        // A UTF-8 local part needs SMTPUTF8 anyway: the address goes as given.
        assert_eq!(wire.recipients[1].to_string(), "jörg@bücher.example");
        assert!(message.envelope_for(&[2], None).is_none());
    }

    #[test]
    fn size_hints_count_line_ends_as_crlf() {
        assert_eq!(BodySource::size_hint(&b"a\nb\n"[..]), Some(6));
        assert_eq!(BodySource::size_hint(&b"a\r\nb\r\n"[..]), Some(6));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"x\ny\n").unwrap();
        assert_eq!(BodySource::size_hint(file.path()), Some(6));
    }

    #[test]
    fn content_problems_are_found_in_memory_and_in_files_but_not_in_streamed_readers() {
        let nul = b"Subject: x\n\na\0b\n";
        assert_eq!(
            BodySource::content_problem(&nul[..]),
            Some(ContentError::Nul { offset: 13 })
        );
        assert_eq!(
            BodySource::content_problem(&b"Subject: x\n\nfine\n"[..]),
            None
        );
        let mut long = b"Subject: x\n\n".to_vec();
        long.extend(std::iter::repeat_n(b'z', 999));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &long).unwrap();
        assert_eq!(
            BodySource::content_problem(file.path()),
            Some(ContentError::LineTooLong { line: 3 })
        );
        // A streamed reader is not read ahead: checked as it streams instead.
        assert_eq!(
            BodySource::content_problem(&ReaderBody::streamed(&nul[..])),
            None
        );
        // One read ahead is known before connecting, once its driver has spooled it.
        let body = ReaderBody::new(&nul[..]);
        assert!(BodySource::wants_read_ahead(&body));
        let mut writer = crate::spool::SpoolWriter::new().unwrap();
        let mut reader = body.open_owned().unwrap().unwrap();
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        writer.push(&all).unwrap();
        BodySource::spooled(&body, writer.finish());
        assert!(!BodySource::wants_read_ahead(&body));
        assert_eq!(
            BodySource::content_problem(&body),
            Some(ContentError::Nul { offset: 13 })
        );
        // Spooled content is measured for SIZE= (line ends as CRLF) and can be read again.
        let body = ReaderBody::new(&b"a\nb\n"[..]);
        let mut writer = crate::spool::SpoolWriter::new().unwrap();
        writer.push(b"a\nb\n").unwrap();
        BodySource::spooled(&body, writer.finish());
        assert_eq!(BodySource::size_hint(&body), Some(6));
        assert!(BodySource::is_rereadable(&body));
        for _ in 0..2 {
            let mut text = String::new();
            BodySource::open(&body)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, "a\nb\n");
        }
    }
}
