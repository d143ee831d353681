//! One-pass content read ahead into an anonymous temporary file before connecting.
//!
//! A reader (standard input, a pipe) can be read only once, so nothing about its content is
//! known until it has been sent: not its size for SIZE= (RFC 1870), not whether it holds a NUL
//! or a line over 998 octets that must never reach the wire (RFC 5322 §2.1.1, §2.3), and it
//! cannot be sent a second time (a second recipient domain, the relay's next address). So, as
//! sendmail does with its standard input, [`crate::ReaderBody::new`] content is copied into a
//! spool first: a file created unlinked ([`tempfile::tempfile`]: `O_TMPFILE` on Linux), which
//! vanishes with its last descriptor, so an interrupted run leaves nothing behind. Memory stays
//! flat whatever the size; the disk holds the copy while the message is sent.
//!
//! The drivers do the reading (each chunk within the session's body deadline, so a reader
//! that stalls is reported, not waited on forever) and hand the result to the body; the
//! pieces here are what they share: `SpoolWriter` builds a [`Spooled`] as chunks arrive,
//! and [`SpoolReader`] reads it back from the start, as many times as needed.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use mxsend_core::transparency::{ContentError, ContentScan};

/// Content read ahead: the spool file, its size once line ends are CRLF, and the first
/// problem that keeps it from going out as text, if any.
#[derive(Debug)]
pub struct Spooled {
    file: Arc<File>,
    size: u64,
    problem: Option<ContentError>,
}

impl Spooled {
    /// The content's length with CRLF line ends: what SIZE= declares.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// What makes the content unsendable as text, when something does.
    pub fn problem(&self) -> Option<ContentError> {
        self.problem
    }

    /// A reader from the first octet (positioned reads: readers are independent).
    pub fn reader(&self) -> SpoolReader {
        SpoolReader {
            file: Arc::clone(&self.file),
            at: 0,
        }
    }
}

/// Builds a [`Spooled`] from the chunks a driver reads.
#[derive(Debug)]
pub(crate) struct SpoolWriter {
    out: io::BufWriter<File>,
    file: File,
    scan: ContentScan,
}

impl SpoolWriter {
    /// A new, empty, unlinked spool file in the temporary directory.
    pub(crate) fn new() -> io::Result<SpoolWriter> {
        let file = tempfile::tempfile()?;
        let out = io::BufWriter::with_capacity(crate::attempt::BODY_CHUNK, file.try_clone()?);
        Ok(SpoolWriter {
            out,
            file,
            scan: ContentScan::new(),
        })
    }

    /// Append the next chunk. The whole content is kept even after a problem is found: a
    /// BINARYMIME message (RFC 3030) may hold NULs and long lines, and only its envelope,
    /// which the spool does not see, says so.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> io::Result<()> {
        let _ = self.scan.push(chunk);
        self.out.write_all(chunk)
    }

    /// The content as read, flushed to the file.
    pub(crate) fn finish(mut self) -> io::Result<Spooled> {
        self.out.flush()?;
        drop(self.out);
        Ok(Spooled {
            file: Arc::new(self.file),
            size: self.scan.canonical_len(),
            problem: self.scan.error(),
        })
    }
}

/// Reads a [`Spooled`] file from its start, without moving any shared offset.
#[derive(Debug)]
pub struct SpoolReader {
    file: Arc<File>,
    at: u64,
}

impl io::Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Why reading ahead failed, kept to be given again each time the content is opened.
#[derive(Clone, Debug)]
pub(crate) struct SpoolFailure {
    kind: io::ErrorKind,
    message: String,
}

impl SpoolFailure {
    pub(crate) fn new(error: &io::Error) -> SpoolFailure {
        match error.kind() {
            // Said here rather than by the session's words for a read past its deadline: the
            // read was the spool's, before any connection.
            io::ErrorKind::TimedOut => SpoolFailure {
                kind: io::ErrorKind::Other,
                message: "while it was read ahead into a spool, the content's reader sent \
                          nothing before the deadline"
                    .to_string(),
            },
            kind => SpoolFailure {
                kind,
                message: format!("cannot read the content ahead into a spool file: {error}"),
            },
        }
    }

    pub(crate) fn to_error(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn spooled_content_reads_back_whole_any_number_of_times() {
        let mut writer = SpoolWriter::new().unwrap();
        writer.push(b"Subject: x\n\n").unwrap();
        writer.push(b"hello\n").unwrap();
        let spooled = writer.finish().unwrap();
        assert_eq!(spooled.size(), 21);
        assert_eq!(spooled.problem(), None);
        for _ in 0..2 {
            let mut text = String::new();
            spooled.reader().read_to_string(&mut text).unwrap();
            assert_eq!(text, "Subject: x\n\nhello\n");
        }
    }

    #[test]
    fn a_nul_is_named_and_the_content_kept_whole() {
        let mut writer = SpoolWriter::new().unwrap();
        writer.push(b"Subject: x\n\nok").unwrap();
        writer.push(b"\0 and more").unwrap();
        let spooled = writer.finish().unwrap();
        assert_eq!(spooled.problem(), Some(ContentError::Nul { offset: 14 }));
        // Kept whole: a BINARYMIME envelope sends it as it is.
        let mut all = Vec::new();
        spooled.reader().read_to_end(&mut all).unwrap();
        assert_eq!(all, b"Subject: x\n\nok\0 and more");
    }
}
