//! The message as a byte stream that can be read again: once per recipient domain in MX
//! delivery, once more for `--dry-run`.
//!
//! Two kinds, both streamed so memory stays flat whatever the size:
//! - [`MessageSource::Composed`]: the core's [`MessageWriter`] re-run from the same spec
//!   (same Date, Message-ID and boundaries, so every domain gets the same message), pulling
//!   attachment content from the files as it goes.
//! - [`MessageSource::Raw`]: a ready message (`--message`, sendmail mode) through the core's
//!   [`RawMessage`] filter, which adds Date and Message-ID when missing. Standard input is
//!   spooled to an anonymous temporary file first ([`spool`]): it can be read only once and a
//!   message may have to go to several domains. The header block may be replaced (sendmail
//!   `-t` strips Bcc, a missing From is added): the replacement is kept in memory (header
//!   blocks are bounded by [`mxsend_core::message::raw::MAX_HEADER_BLOCK`]), the body is read
//!   from the file from its offset.
//!
//! The bytes are the message as written (line ends CRLF or LF); the adapter's DATA encoder
//! does dot-stuffing and CRLF normalisation (RFC 5321 §4.5.2).

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use mxsend_core::message::{DateTime, MessageWriter, RawMessage, Step};

use crate::compose::Composed;
use crate::error::CliError;

/// Chunk size for reading files and standard input: large enough for few system calls,
/// small next to the session's 64 KiB body watermark.
const CHUNK: usize = 32 * 1024;

/// Where the bytes of a ready message live.
#[derive(Debug)]
pub enum Stored {
    /// A file named by the user (`--message PATH`).
    Path(PathBuf),
    /// An anonymous temporary file holding what came on standard input.
    Spool(File),
}

impl Stored {
    /// A reader from the start of the file.
    fn open(&self) -> io::Result<File> {
        match self {
            Stored::Path(path) => File::open(path),
            Stored::Spool(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                Ok(file)
            }
        }
    }
}

/// Copy `input` to an anonymous temporary file (deleted by the OS when closed).
///
/// With `dot_ends_input` (sendmail without `-i`), a line holding only `.` ends the message
/// and is not part of it, as in sendmail(8).
pub fn spool(input: &mut dyn Read, dot_ends_input: bool) -> Result<File, CliError> {
    let mut file = tempfile::tempfile().map_err(|e| {
        CliError::new(
            crate::exit::Exit::OsErr,
            format!(
                "cannot create a temporary file to hold the message: {}; check $TMPDIR",
                crate::error::os_reason(&e)
            ),
        )
    })?;
    let write_err = |e: io::Error| CliError::io("writing the message to a temporary file", &e);
    if dot_ends_input {
        let mut reader = io::BufReader::with_capacity(CHUNK, input);
        let mut writer = io::BufWriter::with_capacity(CHUNK, &mut file);
        copy_until_dot(&mut reader, &mut writer)?;
        io::Write::flush(&mut writer).map_err(write_err)?;
    } else {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CliError::io("reading the message from standard input", &e)),
            };
            io::Write::write_all(&mut file, buf.get(..n).unwrap_or_default()).map_err(write_err)?;
        }
    }
    Ok(file)
}

/// Copy lines until one that is exactly `.` (with LF or CRLF), or the end of input.
fn copy_until_dot(input: &mut dyn io::BufRead, output: &mut dyn io::Write) -> Result<(), CliError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::io("reading the message from standard input", &e))?;
        if n == 0 || matches!(line.as_slice(), b".\n" | b".\r\n") {
            return Ok(());
        }
        output
            .write_all(&line)
            .map_err(|e| CliError::io("writing the message to a temporary file", &e))?;
    }
}

/// A ready message, measured and checked.
#[derive(Debug)]
pub struct RawSource {
    stored: Stored,
    /// A replacement for the header block (blank line included), or `None` to keep it.
    header: Option<Vec<u8>>,
    /// Where the body starts in the stored file when `header` replaces the block.
    body_offset: u64,
    date: DateTime,
    message_id_random: u64,
    domain: String,
    /// Octets the filter produces.
    size: u64,
    eight_bit_body: bool,
    eight_bit_headers: bool,
}

impl RawSource {
    /// Prepare a ready message: `header` replaces the stored header block, which ends at
    /// `body_offset`. Reads it once through the filter to measure it and catch what would fail
    /// later (a header block too large is exit 65 now, not in the middle of DATA).
    /// `domain` is for a Message-ID when one must be added.
    pub fn new(
        stored: Stored,
        header: Option<(Vec<u8>, u64)>,
        date: DateTime,
        domain: &str,
    ) -> Result<RawSource, CliError> {
        let (header, body_offset) = match header {
            Some((block, offset)) => (Some(block), offset),
            None => (None, 0),
        };
        let mut source = RawSource {
            stored,
            header,
            body_offset,
            date,
            message_id_random: fastrand::u64(..),
            domain: domain.to_string(),
            size: 0,
            eight_bit_body: false,
            eight_bit_headers: false,
        };
        let mut reader = source.open().map_err(|e| source.read_error(&e))?;
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => size += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(source.read_error(&e)),
            }
        }
        source.size = size;
        source.eight_bit_body = reader.filter.body_has_eight_bit();
        source.eight_bit_headers = reader.filter.headers_have_eight_bit();
        Ok(source)
    }

    fn read_error(&self, e: &io::Error) -> CliError {
        if e.kind() == io::ErrorKind::InvalidData {
            return CliError::data(format!("the message cannot be sent: {e}"));
        }
        match &self.stored {
            Stored::Path(path) => CliError::no_input("the message", path, e),
            Stored::Spool(_) => CliError::io("reading the spooled message", e),
        }
    }

    /// A fresh reader of the filtered message.
    fn open(&self) -> io::Result<RawReader> {
        let mut file = self.stored.open()?;
        let input: Box<dyn Read + Send> = match &self.header {
            Some(block) => {
                file.seek(SeekFrom::Start(self.body_offset))?;
                Box::new(Cursor::new(block.clone()).chain(file))
            }
            None => Box::new(file),
        };
        let filter = RawMessage::new(self.date, self.message_id_random, &self.domain)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(RawReader {
            input,
            filter,
            out: Vec::new(),
            pos: 0,
            done: false,
        })
    }
}

/// The filtered bytes of a raw message.
struct RawReader {
    input: Box<dyn Read + Send>,
    filter: RawMessage,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for RawReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut chunk = vec![0u8; CHUNK];
        while self.pos >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            let n = self.input.read(&mut chunk)?;
            let result = match chunk.get(..n) {
                Some(bytes) if n > 0 => self.filter.push(bytes, &mut self.out),
                _ => {
                    self.done = true;
                    self.filter.finish(&mut self.out)
                }
            };
            result.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        }
        let available = self.out.get(self.pos..).unwrap_or_default();
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// The composed message, written again from its spec.
struct ComposedReader {
    writer: MessageWriter,
    attachments: Vec<PathBuf>,
    current: Option<File>,
    out: Vec<u8>,
    pos: usize,
}

impl Read for ComposedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            match self.writer.poll(&mut self.out) {
                Step::Output => {}
                Step::Done => return Ok(0),
                Step::NeedContent(part) => self.feed(part.0)?,
            }
        }
        let available = self.out.get(self.pos..).unwrap_or_default();
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl ComposedReader {
    /// Hand the writer the next chunk of attachment `part`, opening it on first use.
    fn feed(&mut self, part: usize) -> io::Result<()> {
        let invalid = |e: mxsend_core::message::MessageError| {
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        };
        if self.current.is_none() {
            let path = self.attachments.get(part).ok_or_else(|| {
                io::Error::other(format!(
                    "the writer asked for attachment {part}, which does not exist"
                ))
            })?;
            self.current = Some(File::open(path)?);
        }
        let mut chunk = vec![0u8; CHUNK];
        let n = match &mut self.current {
            Some(file) => file.read(&mut chunk)?,
            None => 0,
        };
        if n == 0 {
            self.current = None;
            self.writer.end_content().map_err(invalid)
        } else {
            self.writer
                .push_content(chunk.get(..n).unwrap_or_default())
                .map_err(invalid)
        }
    }
}

/// The message to send, readable as many times as needed.
#[derive(Debug)]
pub enum MessageSource {
    /// Composed from flags.
    Composed(Box<Composed>),
    /// A ready message.
    Raw(RawSource),
}

impl MessageSource {
    /// A reader from the first octet of the message.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            MessageSource::Composed(composed) => {
                let writer = MessageWriter::new(composed.spec.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                Ok(Box::new(ComposedReader {
                    writer,
                    attachments: composed.attachments.clone(),
                    current: None,
                    out: Vec::new(),
                    pos: 0,
                }))
            }
            MessageSource::Raw(raw) => Ok(Box::new(raw.open()?)),
        }
    }

    /// The size in octets (before dot-stuffing), when known.
    pub fn size(&self) -> Option<u64> {
        match self {
            MessageSource::Composed(c) => c.size,
            MessageSource::Raw(r) => Some(r.size),
        }
    }

    /// The body holds 8-bit octets: MAIL FROM needs `BODY=8BITMIME` (RFC 6152).
    pub fn eight_bit(&self) -> bool {
        match self {
            // Composed text is quoted-printable when not ASCII; attachments are base64.
            MessageSource::Composed(_) => false,
            MessageSource::Raw(r) => r.eight_bit_body,
        }
    }

    /// A header or an address holds UTF-8: the transaction needs SMTPUTF8 (RFC 6531).
    pub fn utf8_headers(&self) -> bool {
        match self {
            MessageSource::Composed(c) => c.smtputf8,
            MessageSource::Raw(r) => r.eight_bit_headers,
        }
    }

    /// Copy the whole message to `out` (for `--dry-run`).
    pub fn write_to(&self, out: &mut dyn io::Write) -> Result<u64, CliError> {
        let mut reader = self.open().map_err(|e| self.error(&e))?;
        io::copy(&mut reader, out).map_err(|e| self.error(&e))
    }

    /// A read failure as the user should see it.
    pub fn error(&self, e: &io::Error) -> CliError {
        match self {
            MessageSource::Raw(raw) => raw.read_error(e),
            MessageSource::Composed(_) if e.kind() == io::ErrorKind::InvalidData => {
                CliError::data(format!("the message cannot be written: {e}"))
            }
            MessageSource::Composed(_) => CliError::new(
                crate::exit::Exit::NoInput,
                format!(
                    "cannot read an attachment: {}; check that the files still exist",
                    crate::error::os_reason(e)
                ),
            ),
        }
    }
}

/// A ready message file for `--message PATH` (66 when it cannot be opened).
pub fn check_readable(path: &Path) -> Result<(), CliError> {
    File::open(path)
        .map(drop)
        .map_err(|e| CliError::no_input("the message", path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{compose, BodySource, ComposeInput};
    use std::io::Write;

    fn date() -> DateTime {
        DateTime {
            unix_seconds: 1_700_000_000,
            utc_offset_minutes: 0,
        }
    }

    fn read_all(source: &MessageSource) -> Vec<u8> {
        let mut out = Vec::new();
        source.open().unwrap().read_to_end(&mut out).unwrap();
        out
    }

    fn spooled(text: &[u8]) -> Stored {
        Stored::Spool(spool(&mut &text[..], false).unwrap())
    }

    #[test]
    fn lone_dot_ends_input_without_dash_i() {
        let mut input = &b"Subject: x\n\nbody\n.\nafter\n"[..];
        let mut file = spool(&mut input, true).unwrap();
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "Subject: x\n\nbody\n");
    }

    #[test]
    fn dot_is_ordinary_text_with_dash_i() {
        let mut input = &b"Subject: x\n\nbody\n.\nafter\n"[..];
        let mut file = spool(&mut input, false).unwrap();
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "Subject: x\n\nbody\n.\nafter\n");
    }

    #[test]
    fn dot_with_more_on_the_line_does_not_end_input() {
        let mut input = &b"a\n..\n. x\n.\r\nb\n"[..];
        let mut out = Vec::new();
        copy_until_dot(&mut io::BufReader::new(&mut input), &mut out).unwrap();
        assert_eq!(out, b"a\n..\n. x\n");
    }

    #[test]
    fn raw_message_gets_date_and_message_id_and_its_size_is_exact() {
        let stored = spooled(b"From: a@example.com\nSubject: x\n\nhello\n");
        let source =
            MessageSource::Raw(RawSource::new(stored, None, date(), "example.com").unwrap());
        let bytes = read_all(&source);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("Date: "), "{text}");
        assert!(text.contains("Message-ID: <"), "{text}");
        assert!(text.ends_with("\nhello\n"), "{text}");
        assert_eq!(source.size(), Some(bytes.len() as u64));
    }

    #[test]
    fn raw_message_reads_the_same_twice() {
        let stored = spooled(b"Subject: x\n\nhello\n");
        let source =
            MessageSource::Raw(RawSource::new(stored, None, date(), "example.com").unwrap());
        assert_eq!(read_all(&source), read_all(&source));
    }

    #[test]
    fn replaced_header_block_precedes_the_stored_body() {
        let original = b"Bcc: hidden@example.org\nSubject: x\n\nbody\n";
        let stored = spooled(original);
        let header = b"Subject: x\n\n".to_vec();
        let body_offset = (original.len() - b"body\n".len()) as u64;
        let source = MessageSource::Raw(
            RawSource::new(stored, Some((header, body_offset)), date(), "example.com").unwrap(),
        );
        let text = String::from_utf8(read_all(&source)).unwrap();
        assert!(!text.contains("hidden"), "{text}");
        assert!(text.ends_with("Subject: x\n\nbody\n"), "{text}");
    }

    #[test]
    fn eight_bit_body_is_noticed() {
        let stored = spooled("Subject: x\n\ngrüße\n".as_bytes());
        let source =
            MessageSource::Raw(RawSource::new(stored, None, date(), "example.com").unwrap());
        assert!(source.eight_bit());
        assert!(!source.utf8_headers());
    }

    #[test]
    fn composed_message_streams_its_attachment_and_matches_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&content)
            .unwrap();
        let input = ComposeInput {
            from: Some("a@example.com".into()),
            to: vec!["b@example.net".into()],
            subject: Some("s".into()),
            attach: vec![path],
            ..ComposeInput::default()
        };
        let composed = compose(input, BodySource::Text("hi".into()), date()).unwrap();
        let source = MessageSource::Composed(Box::new(composed));
        let bytes = read_all(&source);
        assert_eq!(source.size(), Some(bytes.len() as u64));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("filename=\"data.bin\""), "{}", &text[..600]);
        assert_eq!(read_all(&source).len(), text.len());
    }

    #[test]
    fn missing_message_file_is_noinput() {
        let err = check_readable(Path::new("/nonexistent/msg.eml")).unwrap_err();
        assert_eq!(err.exit, crate::exit::Exit::NoInput);
    }
}
