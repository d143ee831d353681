//! The message as a byte stream that can be read again: once per recipient domain in MX
//! delivery, once more for `--dry-run`.
//!
//! Two kinds, both the library's ([`mxsend::compose`]) and both streamed so memory stays
//! flat whatever the size:
//! - [`MessageSource::Composed`]: a [`ComposedBody`], the core's message writer re-run from
//!   the same spec (same Date, Message-ID and boundaries, so every domain gets the same
//!   message), pulling attachment and `--body-file` content from the files as it goes.
//! - [`MessageSource::Raw`]: a ready message (`--message`, sendmail mode), a
//!   [`RawMessageBody`]: the core's raw-message filter, which adds Date and Message-ID when
//!   missing. Standard input is
//!   spooled to an anonymous temporary file first ([`spool`]): it can be read only once and a
//!   message may have to go to several domains. The header block may be replaced (sendmail
//!   `-t` strips Bcc, a missing From is added): the replacement is kept in memory (header
//!   blocks are bounded by [`mxsend_core::message::raw::MAX_HEADER_BLOCK`]), the body is read
//!   from the file from its offset.
//!
//! The bytes are the message as written (line ends CRLF or LF); the adapter's DATA encoder
//! does dot-stuffing and CRLF normalisation (RFC 5321 §4.5.2).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mxsend::compose::{self, ComposeError, ComposedBody, RawMessageBody, READ_CHUNK as CHUNK};
use mxsend::Message;
use mxsend_core::message::DateTime;

use crate::error::CliError;

/// Where the bytes of a ready message live.
#[derive(Debug)]
pub enum Stored {
    /// A file named by the user (`--message PATH`).
    Path(PathBuf),
    /// An anonymous temporary file holding what came on standard input.
    Spool(File),
}

/// Copy `input` to an anonymous temporary file (deleted by the OS when closed).
///
/// With `dot_ends_input` (sendmail without `-i`), a line holding only `.` ends the message
/// and is not part of it, as in sendmail(8). A first line starting with `From ` is an mbox
/// separator (what `formail`, `mutt`'s pipe or a saved mailbox put there), not part of an
/// RFC 5322 message: it is dropped, as sendmail and Postfix do.
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
    let read_err = |e: io::Error| CliError::io("reading the message from standard input", &e);
    let mut reader = io::BufReader::with_capacity(CHUNK, input);
    let mut writer = io::BufWriter::with_capacity(CHUNK, &mut file);
    // The first line, bounded by RFC 5322's line length (a line longer than that is no mbox
    // separator and is copied as it is).
    let mut first = Vec::new();
    io::BufRead::read_until(&mut (&mut reader).take(MBOX_LINE_LIMIT), b'\n', &mut first)
        .map_err(read_err)?;
    let separator = first.starts_with(b"From ") && first.ends_with(b"\n");
    let ended = dot_ends_input && matches!(first.as_slice(), b".\n" | b".\r\n");
    if !separator && !ended {
        io::Write::write_all(&mut writer, &first).map_err(write_err)?;
    }
    if ended {
        // Nothing after the end of the message counts.
    } else if dot_ends_input {
        copy_until_dot(&mut reader, &mut writer)?;
    } else {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            io::Write::write_all(&mut writer, buf.get(..n).unwrap_or_default())
                .map_err(write_err)?;
        }
    }
    io::Write::flush(&mut writer).map_err(write_err)?;
    drop(writer);
    Ok(file)
}

/// RFC 5322 §2.1.1's 998 octets and CRLF.
const MBOX_LINE_LIMIT: u64 = 1000;

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

/// A ready message, measured and checked: the library's [`RawMessageBody`].
#[derive(Debug)]
pub struct RawSource {
    body: RawMessageBody,
    /// The file named by the user, for error messages; `None` for a spooled one.
    path: Option<PathBuf>,
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
        let (source, path) = match stored {
            Stored::Path(path) => (compose::RawSource::Path(path.clone()), Some(path)),
            Stored::Spool(file) => (compose::RawSource::File(file), None),
        };
        let body =
            RawMessageBody::with_options(source, header, date, domain).map_err(|e| match e {
                ComposeError::Unreadable { path, error, .. } => {
                    CliError::no_input("the message", &path, &error)
                }
                ComposeError::Read(error) => CliError::io("reading the spooled message", &error),
                other => CliError::data(format!("the message cannot be sent: {other}")),
            })?;
        Ok(RawSource { body, path })
    }

    fn read_error(&self, e: &io::Error) -> CliError {
        if e.kind() == io::ErrorKind::InvalidData {
            return CliError::data(format!("the message cannot be sent: {e}"));
        }
        match &self.path {
            Some(path) => CliError::no_input("the message", path, e),
            None => CliError::io("reading the spooled message", e),
        }
    }

    /// The Message-ID the filter added because the message had none.
    pub fn added_message_id(&self) -> Option<&str> {
        self.body.added_message_id()
    }
}

/// The message to send, readable as many times as needed.
#[derive(Debug)]
pub enum MessageSource {
    /// Composed from flags (the library's message, its envelope included).
    Composed(Box<Message<ComposedBody>>),
    /// A ready message.
    Raw(Box<RawSource>),
}

impl MessageSource {
    /// A reader from the first octet of the message.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            MessageSource::Composed(message) => Ok(Box::new(message.body.reader()?)),
            MessageSource::Raw(raw) => Ok(Box::new(raw.body.reader()?)),
        }
    }

    /// The size in octets (before dot-stuffing), when known.
    pub fn size(&self) -> Option<u64> {
        match self {
            MessageSource::Composed(message) => message.body.encoded_size(),
            MessageSource::Raw(r) => Some(r.body.size()),
        }
    }

    /// The body holds 8-bit octets: MAIL FROM needs `BODY=8BITMIME` (RFC 6152).
    pub fn eight_bit(&self) -> bool {
        match self {
            MessageSource::Composed(message) => message.body.needs_eight_bit(),
            MessageSource::Raw(r) => r.body.needs_eight_bit(),
        }
    }

    /// A header or an address holds UTF-8: the transaction needs SMTPUTF8 (RFC 6531).
    pub fn utf8_headers(&self) -> bool {
        match self {
            MessageSource::Composed(message) => message.envelope.utf8_headers,
            MessageSource::Raw(r) => r.body.needs_smtputf8(),
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
                    "cannot read an attachment or the body file: {}; check that the files still exist",
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
    use std::io::{Seek, SeekFrom, Write};

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
        let source = MessageSource::Raw(Box::new(
            RawSource::new(stored, None, date(), "example.com").unwrap(),
        ));
        let bytes = read_all(&source);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("Date: "), "{text}");
        assert!(text.contains("Message-ID: <"), "{text}");
        assert!(text.ends_with("\nhello\n"), "{text}");
        // SIZE= counts the LF line ends as CRLF, as they go on the wire (RFC 1870).
        let bare_lf = bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
            .count() as u64;
        assert_eq!(source.size(), Some(bytes.len() as u64 + bare_lf));
    }

    #[test]
    fn raw_message_reads_the_same_twice() {
        let stored = spooled(b"Subject: x\n\nhello\n");
        let source = MessageSource::Raw(Box::new(
            RawSource::new(stored, None, date(), "example.com").unwrap(),
        ));
        assert_eq!(read_all(&source), read_all(&source));
    }

    #[test]
    fn replaced_header_block_precedes_the_stored_body() {
        let original = b"Bcc: hidden@example.org\nSubject: x\n\nbody\n";
        let stored = spooled(original);
        let header = b"Subject: x\n\n".to_vec();
        let body_offset = (original.len() - b"body\n".len()) as u64;
        let source = MessageSource::Raw(Box::new(
            RawSource::new(stored, Some((header, body_offset)), date(), "example.com").unwrap(),
        ));
        let text = String::from_utf8(read_all(&source)).unwrap();
        assert!(!text.contains("hidden"), "{text}");
        assert!(text.ends_with("Subject: x\n\nbody\n"), "{text}");
    }

    #[test]
    fn eight_bit_body_is_noticed() {
        let stored = spooled("Subject: x\n\ngrüße\n".as_bytes());
        let source = MessageSource::Raw(Box::new(
            RawSource::new(stored, None, date(), "example.com").unwrap(),
        ));
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
    fn raw_message_tells_the_message_id_it_added() {
        let stored = spooled(b"Subject: x\n\nhello\n");
        let raw = RawSource::new(stored, None, date(), "example.com").unwrap();
        let id = raw.added_message_id().unwrap().to_string();
        let text = String::from_utf8(read_all(&MessageSource::Raw(Box::new(raw)))).unwrap();
        assert!(text.contains(&format!("Message-ID: {id}\r\n")), "{text}");
    }

    #[test]
    fn missing_message_file_is_noinput() {
        let err = check_readable(Path::new("/nonexistent/msg.eml")).unwrap_err();
        assert_eq!(err.exit, crate::exit::Exit::NoInput);
    }
}
