//! The pull-based message writer (RFC 5322 §3.6 fields, RFC 2045/2046 structure).
//!
//! [`MessageWriter::new`] validates the whole [`MessageSpec`] and lays out everything known in
//! memory (headers, encoded text bodies, part headers, delimiters); attachment contents (and
//! the text of a [`Body::PlainStream`]) are holes it asks the caller to fill. The caller loops:
//!
//! ```
//! use mxsend_core::message::{Attachment, Body, DateTime, MailboxHeader, MessageSpec, MessageWriter, Step};
//!
//! let spec = MessageSpec {
//!     from: MailboxHeader::with_name("Ann", "ann@example.com"),
//!     to: vec![MailboxHeader::new("bob@example.net")],
//!     cc: vec![],
//!     reply_to: vec![],
//!     subject: Some("Report".into()),
//!     date: DateTime { unix_seconds: 1_700_000_000, utc_offset_minutes: 60 },
//!     message_id_random: 0x0123_4567_89ab_cdef,
//!     boundary_random: 0xfedc_ba98_7654_3210,
//!     extra_headers: vec![],
//!     body: Body::Plain("See attached.\n".into()),
//!     attachments: vec![Attachment {
//!         content_type: "application/octet-stream".into(),
//!         filename: "data.bin".into(),
//!         size: Some(3),
//!     }],
//!     allow_eight_bit: false,
//! };
//! let mut writer = MessageWriter::new(spec)?;
//! let mut message = Vec::new();
//! let mut out = Vec::new();
//! loop {
//!     match writer.poll(&mut out) {
//!         Step::Output => message.append(&mut out), // e.g. into the DATA encoder
//!         Step::NeedContent(part) => {
//!             assert_eq!(part.0, 0);
//!             writer.push_content(&[1, 2, 3])?; // read the file in chunks here
//!             writer.end_content()?;
//!         }
//!         Step::Done => break,
//!     }
//! }
//! assert_eq!(writer.encoded_size(), Some(message.len() as u64));
//! assert!(!writer.needs_eight_bit() && !writer.needs_smtputf8());
//! # Ok::<(), mxsend_core::message::MessageError>(())
//! ```
//!
//! Field order: Date, From, To, Cc, Reply-To, Subject, Message-ID, the extra headers,
//! MIME-Version, then the top-level Content-* fields. A message body that does not end in
//! CRLF gets one (SMTP DATA needs it before the final dot).

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::header::{validate_header_name, Folder, MailboxHeader};
use super::mime::{self, TransferEncoding};
use super::quoted_printable;
use super::{check_injection, Attachment, Body, MessageError, MessageSpec};
use crate::base64::{self, StreamEncoder};

/// Which part the writer wants content for: an attachment, by its index in
/// [`MessageSpec::attachments`], or [`PartId::TEXT`], the text of a [`Body::PlainStream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartId(pub usize);

impl PartId {
    /// The streamed text body ([`Body::PlainStream`]). No attachment has this index: a
    /// `Vec` cannot hold `usize::MAX` elements.
    pub const TEXT: PartId = PartId(usize::MAX);

    /// The attachment's index, or `None` for the text.
    pub fn attachment(self) -> Option<usize> {
        (self != PartId::TEXT).then_some(self.0)
    }
}

/// What [`MessageWriter::poll`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes were appended to `out`: pass them on, then poll again.
    Output,
    /// Give the next chunk of this part's raw content (an attachment's, or the streamed
    /// text's) with [`MessageWriter::push_content`], or say it has ended with
    /// [`MessageWriter::end_content`]; then poll again.
    NeedContent(PartId),
    /// The message is complete.
    Done,
}

/// Headers the writer generates; an extra header with one of these names is refused.
const GENERATED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
];

#[derive(Debug)]
enum Segment {
    Bytes(Vec<u8>),
    Attachment(usize),
    /// The streamed text, with its declared encoded size.
    Text(Option<u64>),
}

#[derive(Debug)]
enum State {
    Between,
    /// Streaming an attachment; `streamed` counts its raw octets.
    Streaming {
        part: usize,
        encoder: StreamEncoder,
        streamed: u64,
    },
    /// Streaming the text; `written` counts its encoded octets.
    StreamingText {
        encoder: quoted_printable::StreamEncoder,
        declared: Option<u64>,
        written: u64,
    },
}

/// The `<random.time@domain>` Message-ID (RFC 5322 §3.6.4).
pub(crate) fn message_id(random: u64, unix_seconds: i64, domain: &str) -> String {
    format!("<{random:016x}.{:x}@{domain}>", unix_seconds.unsigned_abs())
}

/// One text body part, encoded.
struct TextPart {
    subtype: &'static str,
    canonical: Vec<u8>,
    encoding: TransferEncoding,
}

impl TextPart {
    fn new(subtype: &'static str, text: &str, allow_eight_bit: bool) -> TextPart {
        let canonical = mime::canonical_text(text);
        let encoding = mime::choose_text_encoding(&canonical, allow_eight_bit);
        TextPart {
            subtype,
            canonical,
            encoding,
        }
    }

    fn write_headers(&self, out: &mut Vec<u8>) {
        let charset = if self.canonical.is_ascii() {
            "us-ascii"
        } else {
            "utf-8"
        };
        out.extend_from_slice(
            format!(
                "Content-Type: text/{}; charset={charset}\r\nContent-Transfer-Encoding: {}\r\n",
                self.subtype,
                self.encoding.as_str()
            )
            .as_bytes(),
        );
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        mime::encode_text(&self.canonical, self.encoding, out);
    }

    fn is_literal(&self) -> bool {
        matches!(
            self.encoding,
            TransferEncoding::SevenBit | TransferEncoding::EightBit
        )
    }
}

/// Streaming writer of one message; see the module documentation for the loop.
#[derive(Debug)]
pub struct MessageWriter {
    segments: VecDeque<Segment>,
    state: State,
    pending: Vec<u8>,
    attachment_sizes: Vec<Option<u64>>,
    eight_bit: bool,
    smtputf8: bool,
    encoded_size: Option<u64>,
    message_id: String,
}

/// Refuse a streamed text whose encoding outgrew its declared size (or, at the end, differs).
fn check_text_length(declared: Option<u64>, written: u64, ended: bool) -> Result<(), MessageError> {
    match declared {
        Some(declared) if written > declared || (ended && written != declared) => {
            Err(MessageError::EncodedLengthMismatch { declared, written })
        }
        _ => Ok(()),
    }
}

/// Encoded size of `n` octets as MIME base64 (76-character lines, each ending CRLF).
fn base64_mime_len(n: u64) -> u64 {
    let chars = n.div_ceil(3) * 4;
    chars + chars.div_ceil(base64::MIME_LINE_LEN as u64) * 2
}

fn write_mailboxes(
    out: &mut Vec<u8>,
    name: &str,
    list: &[MailboxHeader],
) -> Result<(), MessageError> {
    if list.is_empty() {
        return Ok(());
    }
    for mailbox in list {
        mailbox.validate(name)?;
    }
    let mut folder = Folder::new(out, name);
    folder.mailboxes(list);
    folder.finish();
    Ok(())
}

fn write_attachment_headers(
    attachment: &Attachment,
    out: &mut Vec<u8>,
) -> Result<(), MessageError> {
    mime::validate_content_type(&attachment.content_type)?;
    check_injection("Content-Disposition", &attachment.filename)?;
    let mut folder = Folder::new(out, "Content-Type");
    folder.atom(" ", attachment.content_type.trim());
    if !attachment.filename.is_empty() {
        mime::name_param(&mut folder, &attachment.filename);
    }
    folder.finish();
    let mut folder = Folder::new(out, "Content-Disposition");
    folder.atom(" ", "attachment");
    if !attachment.filename.is_empty() {
        mime::filename_param(&mut folder, "filename", &attachment.filename);
    }
    folder.finish();
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    Ok(())
}

/// Write `--boundary` parts of a multipart/alternative of `texts`, closed.
fn write_alternative(texts: &[TextPart], boundary: &str, out: &mut Vec<u8>) {
    for text in texts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        text.write_headers(out);
        out.extend_from_slice(b"\r\n");
        text.write_body(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
}

impl MessageWriter {
    /// Validate `spec` and prepare the message. Errors name the header or part at fault.
    pub fn new(spec: MessageSpec) -> Result<MessageWriter, MessageError> {
        let MessageSpec {
            from,
            to,
            cc,
            reply_to,
            subject,
            date,
            message_id_random,
            boundary_random,
            extra_headers,
            body,
            attachments,
            allow_eight_bit,
        } = spec;

        let mut head = Vec::new();
        head.extend_from_slice(format!("Date: {}\r\n", date.format()?).as_bytes());
        write_mailboxes(&mut head, "From", core::slice::from_ref(&from))?;
        write_mailboxes(&mut head, "To", &to)?;
        write_mailboxes(&mut head, "Cc", &cc)?;
        write_mailboxes(&mut head, "Reply-To", &reply_to)?;
        if let Some(subject) = &subject {
            super::header::encode_unstructured("Subject", subject, &mut head)?;
        }
        let message_id = message_id(message_id_random, date.unix_seconds, from.domain());
        head.extend_from_slice(format!("Message-ID: {message_id}\r\n").as_bytes());
        for (name, value) in &extra_headers {
            validate_header_name(name)?;
            if GENERATED_HEADERS
                .iter()
                .any(|g| g.eq_ignore_ascii_case(name))
            {
                return Err(MessageError::ReservedHeader(name.clone()));
            }
            super::header::encode_unstructured(name, value, &mut head)?;
        }
        head.extend_from_slice(b"MIME-Version: 1.0\r\n");

        let mut streamed_text = None;
        let texts: Vec<TextPart> = match &body {
            Body::Plain(plain) => alloc::vec![TextPart::new("plain", plain, allow_eight_bit)],
            Body::Html { plain, html } => alloc::vec![
                TextPart::new("plain", plain, allow_eight_bit),
                TextPart::new("html", html, allow_eight_bit),
            ],
            Body::PlainStream(stream) => {
                streamed_text = Some(stream.encoded_size);
                Vec::new()
            }
        };
        drop(body);
        let literal: Vec<&[u8]> = texts
            .iter()
            .filter(|t| t.is_literal())
            .map(|t| t.canonical.as_slice())
            .collect();
        let stem = mime::collision_free_stem(boundary_random, &literal);
        let mixed = format!("{stem}mixed");
        let alt = format!("{stem}alt");

        let mut segments = VecDeque::new();
        let mut current = head;
        if !attachments.is_empty() {
            current.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n--{mixed}\r\n")
                    .as_bytes(),
            );
        }
        match texts.as_slice() {
            [] => {
                current.extend_from_slice(
                    b"Content-Type: text/plain; charset=utf-8\r\n\
                      Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                );
                segments.push_back(Segment::Bytes(core::mem::take(&mut current)));
                segments.push_back(Segment::Text(streamed_text.flatten()));
            }
            [single] => {
                single.write_headers(&mut current);
                current.extend_from_slice(b"\r\n");
                single.write_body(&mut current);
            }
            _ => {
                current.extend_from_slice(
                    format!("Content-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n")
                        .as_bytes(),
                );
                write_alternative(&texts, &alt, &mut current);
            }
        }
        let mut attachment_sizes = Vec::with_capacity(attachments.len());
        for (i, attachment) in attachments.iter().enumerate() {
            current.extend_from_slice(format!("\r\n--{mixed}\r\n").as_bytes());
            write_attachment_headers(attachment, &mut current)?;
            segments.push_back(Segment::Bytes(core::mem::take(&mut current)));
            segments.push_back(Segment::Attachment(i));
            attachment_sizes.push(attachment.size);
        }
        if !attachments.is_empty() {
            current.extend_from_slice(format!("\r\n--{mixed}--\r\n").as_bytes());
        } else if streamed_text.is_none() && !current.ends_with(b"\r\n") {
            // (A streamed text ends its last line itself.)
            current.extend_from_slice(b"\r\n");
        }
        segments.push_back(Segment::Bytes(current));

        let mut encoded_size: Option<u64> = Some(0);
        for segment in &segments {
            let len = match segment {
                Segment::Bytes(bytes) => Some(bytes.len() as u64),
                Segment::Attachment(i) => attachment_sizes
                    .get(*i)
                    .copied()
                    .flatten()
                    .map(base64_mime_len),
                Segment::Text(declared) => *declared,
            };
            encoded_size = encoded_size.zip(len).map(|(a, b)| a + b);
        }
        let smtputf8 = core::iter::once(&from)
            .chain(&to)
            .chain(&cc)
            .chain(&reply_to)
            .any(MailboxHeader::needs_smtputf8);
        Ok(MessageWriter {
            segments,
            state: State::Between,
            pending: Vec::new(),
            attachment_sizes,
            eight_bit: texts
                .iter()
                .any(|t| t.encoding == TransferEncoding::EightBit),
            smtputf8,
            encoded_size,
            message_id,
        })
    }

    /// Advance: append output to `out` ([`Step::Output`]), ask for content
    /// ([`Step::NeedContent`]) or report the end ([`Step::Done`]).
    pub fn poll(&mut self, out: &mut Vec<u8>) -> Step {
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
            return Step::Output;
        }
        match self.state {
            State::Streaming { part, .. } => return Step::NeedContent(PartId(part)),
            State::StreamingText { .. } => return Step::NeedContent(PartId::TEXT),
            State::Between => {}
        }
        loop {
            match self.segments.pop_front() {
                Some(Segment::Bytes(bytes)) if bytes.is_empty() => continue,
                Some(Segment::Bytes(bytes)) => {
                    out.extend_from_slice(&bytes);
                    return Step::Output;
                }
                Some(Segment::Attachment(part)) => {
                    self.state = State::Streaming {
                        part,
                        encoder: StreamEncoder::mime(),
                        streamed: 0,
                    };
                    return Step::NeedContent(PartId(part));
                }
                Some(Segment::Text(declared)) => {
                    self.state = State::StreamingText {
                        encoder: quoted_printable::StreamEncoder::new(),
                        declared,
                        written: 0,
                    };
                    return Step::NeedContent(PartId::TEXT);
                }
                None => return Step::Done,
            }
        }
    }

    /// The next chunk of the part asked for by [`Step::NeedContent`]; its encoding is
    /// output on the next [`poll`](Self::poll). Chunks may be of any size, including empty.
    pub fn push_content(&mut self, chunk: &[u8]) -> Result<(), MessageError> {
        let (part, encoder, streamed) = match &mut self.state {
            State::Streaming {
                part,
                encoder,
                streamed,
            } => (part, encoder, streamed),
            State::StreamingText {
                encoder,
                declared,
                written,
            } => {
                let before = self.pending.len();
                encoder.push(chunk, &mut self.pending);
                *written += (self.pending.len() - before) as u64;
                return check_text_length(*declared, *written, false);
            }
            State::Between => return Err(MessageError::NotExpectingContent),
        };
        *streamed += chunk.len() as u64;
        if let Some(Some(declared)) = self.attachment_sizes.get(*part) {
            if *streamed > *declared {
                return Err(MessageError::ContentLengthMismatch {
                    part: PartId(*part),
                    declared: *declared,
                    streamed: *streamed,
                });
            }
        }
        encoder.push(chunk, &mut self.pending);
        Ok(())
    }

    /// The part asked for has no more content.
    pub fn end_content(&mut self) -> Result<(), MessageError> {
        let (part, encoder, streamed) = match &mut self.state {
            State::Streaming {
                part,
                encoder,
                streamed,
            } => (part, encoder, streamed),
            State::StreamingText {
                encoder,
                declared,
                written,
            } => {
                let before = self.pending.len();
                encoder.finish_lines(&mut self.pending);
                let (declared, written) =
                    (*declared, *written + (self.pending.len() - before) as u64);
                self.state = State::Between;
                return check_text_length(declared, written, true);
            }
            State::Between => return Err(MessageError::NotExpectingContent),
        };
        encoder.finish(&mut self.pending);
        let (part, streamed) = (*part, *streamed);
        self.state = State::Between;
        match self.attachment_sizes.get(part) {
            Some(Some(declared)) if *declared != streamed => {
                Err(MessageError::ContentLengthMismatch {
                    part: PartId(part),
                    declared: *declared,
                    streamed,
                })
            }
            _ => Ok(()),
        }
    }

    /// True when a text body goes as `8bit`: the server must announce 8BITMIME (RFC 6152)
    /// and MAIL FROM should carry `BODY=8BITMIME`.
    pub fn needs_eight_bit(&self) -> bool {
        self.eight_bit
    }

    /// True when an address in From, To, Cc or Reply-To holds non-ASCII: the server must
    /// announce SMTPUTF8 (RFC 6531). Display names and the subject never need it (they are
    /// encoded-words).
    pub fn needs_smtputf8(&self) -> bool {
        self.smtputf8
    }

    /// The exact number of octets the message will have, when every attachment declared its
    /// size (for the SIZE extension, RFC 1870; dot-stuffing comes on top).
    pub fn encoded_size(&self) -> Option<u64> {
        self.encoded_size
    }

    /// The Message-ID written, angle brackets included.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DateTime;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn spec() -> MessageSpec {
        MessageSpec {
            from: MailboxHeader::with_name("Ann Example", "ann@example.com"),
            to: vec![MailboxHeader::new("bob@example.net")],
            cc: vec![],
            reply_to: vec![],
            subject: Some("Hello".to_string()),
            date: DateTime {
                unix_seconds: 0,
                utc_offset_minutes: 0,
            },
            message_id_random: 0xabcd,
            boundary_random: 0x1234,
            extra_headers: vec![],
            body: Body::Plain("Hi Bob.\n".to_string()),
            attachments: vec![],
            allow_eight_bit: false,
        }
    }

    fn attachment(name: &str, size: Option<u64>) -> Attachment {
        Attachment {
            content_type: "application/octet-stream".to_string(),
            filename: name.to_string(),
            size,
        }
    }

    /// Run the writer, feeding each attachment's content in `chunk`-sized pieces.
    fn write(spec: MessageSpec, contents: &[&[u8]], chunk: usize) -> Vec<u8> {
        write_streamed(spec, b"", contents, chunk)
    }

    /// Run the writer, feeding a streamed text and each attachment's content in
    /// `chunk`-sized pieces.
    fn write_streamed(spec: MessageSpec, text: &[u8], contents: &[&[u8]], chunk: usize) -> Vec<u8> {
        let mut writer = MessageWriter::new(spec).unwrap();
        let mut message = Vec::new();
        let mut out = Vec::new();
        let mut offsets = vec![0usize; contents.len() + 1];
        loop {
            match writer.poll(&mut out) {
                Step::Output => message.append(&mut out),
                Step::NeedContent(part) => {
                    let (content, i) = match part.attachment() {
                        Some(i) => (contents[i], i),
                        None => (text, contents.len()),
                    };
                    let start = offsets[i];
                    if start == content.len() {
                        writer.end_content().unwrap();
                    } else {
                        let end = start.saturating_add(chunk.max(1)).min(content.len());
                        writer.push_content(&content[start..end]).unwrap();
                        offsets[i] = end;
                    }
                }
                Step::Done => break,
            }
        }
        message
    }

    fn text(message: &[u8]) -> String {
        String::from_utf8(message.to_vec()).unwrap()
    }

    #[test]
    fn writes_a_plain_ascii_message_with_crlf_lines() {
        let message = text(&write(spec(), &[], 1));
        assert_eq!(
            message,
            "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n\
             From: Ann Example <ann@example.com>\r\n\
             To: bob@example.net\r\n\
             Subject: Hello\r\n\
             Message-ID: <000000000000abcd.0@example.com>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             Hi Bob.\r\n"
        );
    }

    #[test]
    fn never_writes_a_bcc_header_even_as_an_extra() {
        let mut s = spec();
        s.extra_headers = vec![("bcc".to_string(), "eve@example.org".to_string())];
        assert_eq!(
            MessageWriter::new(s).err(),
            Some(MessageError::ReservedHeader("bcc".to_string()))
        );
    }

    #[test]
    fn refuses_extra_headers_that_duplicate_generated_ones() {
        let mut s = spec();
        s.extra_headers = vec![("message-id".to_string(), "<x@y>".to_string())];
        assert!(matches!(
            MessageWriter::new(s),
            Err(MessageError::ReservedHeader(_))
        ));
    }

    #[test]
    fn writes_extra_headers_after_the_generated_ones() {
        let mut s = spec();
        s.extra_headers = vec![("X-Mailer".to_string(), "mxsend".to_string())];
        let message = text(&write(s, &[], 1));
        assert!(message
            .contains("Message-ID: <000000000000abcd.0@example.com>\r\nX-Mailer: mxsend\r\n"));
    }

    #[test]
    fn refuses_header_injection_in_the_subject_naming_it() {
        let mut s = spec();
        s.subject = Some("hi\r\nBcc: eve@example.org".to_string());
        assert_eq!(
            MessageWriter::new(s).err(),
            Some(MessageError::ForbiddenCharacter {
                header: "Subject".to_string(),
                byte: b'\r'
            })
        );
    }

    #[test]
    fn refuses_header_injection_in_a_display_name_naming_the_header() {
        let mut s = spec();
        s.cc = vec![MailboxHeader::with_name("x\nBcc: y", "c@example.com")];
        assert_eq!(
            MessageWriter::new(s).err(),
            Some(MessageError::ForbiddenCharacter {
                header: "Cc".to_string(),
                byte: b'\n'
            })
        );
    }

    #[test]
    fn refuses_header_injection_in_a_file_name() {
        let mut s = spec();
        s.attachments = vec![attachment("a\r\nb", None)];
        assert!(matches!(
            MessageWriter::new(s),
            Err(MessageError::ForbiddenCharacter { header, .. }) if header == "Content-Disposition"
        ));
    }

    #[test]
    fn uses_8bit_only_when_allowed_and_reports_it() {
        let mut s = spec();
        s.body = Body::Plain("Grüße\n".to_string());
        s.allow_eight_bit = true;
        let writer = MessageWriter::new(s.clone()).unwrap();
        assert!(writer.needs_eight_bit());
        s.allow_eight_bit = false;
        let writer = MessageWriter::new(s.clone()).unwrap();
        assert!(!writer.needs_eight_bit());
        assert!(text(&write(s, &[], 1)).contains("Content-Transfer-Encoding: quoted-printable"));
    }

    #[test]
    fn needs_smtputf8_only_for_non_ascii_addresses() {
        let mut s = spec();
        s.subject = Some("Ünïcödé".to_string());
        s.from = MailboxHeader::with_name("Jörg", "joerg@example.com");
        assert!(!MessageWriter::new(s.clone()).unwrap().needs_smtputf8());
        s.to = vec![MailboxHeader::new("jörg@bücher.example")];
        assert!(MessageWriter::new(s).unwrap().needs_smtputf8());
    }

    #[test]
    fn writes_html_with_a_plain_alternative() {
        let mut s = spec();
        s.body = Body::Html {
            plain: "Hi".to_string(),
            html: "<p>Hi</p>".to_string(),
        };
        let message = text(&write(s, &[], 1));
        let alt = "=_0000000000001234.0.alt";
        assert!(message.contains(&format!(
            "Content-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n--{alt}\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n"
        )));
        assert!(message.contains(&format!("<p>Hi</p>\r\n--{alt}--\r\n")));
        assert!(!message.contains("multipart/mixed"));
    }

    #[test]
    fn picks_another_boundary_when_a_literal_body_contains_it() {
        let mut s = spec();
        s.body = Body::Plain("--=_0000000000001234.0.mixed\n".to_string());
        s.attachments = vec![attachment("a.bin", None)];
        let message = text(&write(s, &[b"x"], 1));
        assert!(message.contains("boundary=\"=_0000000000001234.1.mixed\""));
    }

    #[test]
    fn wraps_attachments_in_multipart_mixed_as_base64() {
        let mut s = spec();
        s.attachments = vec![attachment("data.bin", Some(100))];
        let content = [0xffu8; 100];
        let message = text(&write(s, &[&content], 7));
        let mixed = "=_0000000000001234.0.mixed";
        assert!(message.contains(&format!(
            "Content-Type: multipart/mixed; boundary=\"{mixed}\""
        )));
        assert!(message.contains(
            "Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
             Content-Disposition: attachment; filename=\"data.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n/////"
        ));
        assert!(message.ends_with(&format!("\r\n--{mixed}--\r\n")));
    }

    #[test]
    fn reports_the_exact_encoded_size_when_sizes_are_declared() {
        let mut s = spec();
        s.attachments = vec![attachment("a", Some(0)), attachment("b", Some(58))];
        let writer = MessageWriter::new(s.clone()).unwrap();
        let message = write(s, &[b"", &[7u8; 58]], 5);
        assert_eq!(writer.encoded_size(), Some(message.len() as u64));
    }

    #[test]
    fn has_no_encoded_size_without_declared_sizes() {
        let mut s = spec();
        s.attachments = vec![attachment("a", None)];
        assert_eq!(MessageWriter::new(s).unwrap().encoded_size(), None);
    }

    #[test]
    fn refuses_content_longer_or_shorter_than_declared() {
        let mut s = spec();
        s.attachments = vec![attachment("a", Some(2))];
        let mut writer = MessageWriter::new(s.clone()).unwrap();
        let mut out = Vec::new();
        while writer.poll(&mut out) == Step::Output {}
        assert!(matches!(
            writer.push_content(b"abc"),
            Err(MessageError::ContentLengthMismatch {
                declared: 2,
                streamed: 3,
                ..
            })
        ));
        let mut writer = MessageWriter::new(s).unwrap();
        while writer.poll(&mut out) == Step::Output {}
        writer.push_content(b"a").unwrap();
        assert!(matches!(
            writer.end_content(),
            Err(MessageError::ContentLengthMismatch {
                declared: 2,
                streamed: 1,
                ..
            })
        ));
    }

    #[test]
    fn refuses_content_when_not_asked_for() {
        let mut writer = MessageWriter::new(spec()).unwrap();
        assert_eq!(
            writer.push_content(b"x"),
            Err(MessageError::NotExpectingContent)
        );
        assert_eq!(writer.end_content(), Err(MessageError::NotExpectingContent));
    }

    #[test]
    fn uses_the_from_domain_in_the_message_id() {
        let mut s = spec();
        s.from = MailboxHeader::new("x@[192.0.2.1]");
        assert_eq!(
            MessageWriter::new(s).unwrap().message_id(),
            "<000000000000abcd.0@[192.0.2.1]>"
        );
    }

    #[test]
    fn every_line_ends_in_crlf_and_stays_under_998() {
        let mut s = spec();
        s.body = Body::Html {
            plain: "x".repeat(5000) + "\rbare cr\nbare lf",
            html: "é".repeat(3000),
        };
        s.subject = Some("ü".repeat(500));
        s.attachments = vec![attachment(&"ñ".repeat(200), None)];
        let message = write(s, &[&[0u8; 1000]], 333);
        for line in message.split(|&b| b == b'\n') {
            assert!(!line[..line.len().saturating_sub(1)].contains(&b'\r'));
            assert!(line.len() <= 999);
        }
        assert!(message.ends_with(b"\r\n"));
        assert!(!message.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    }

    fn streamed(text: &[u8]) -> MessageSpec {
        let mut s = spec();
        let mut meter = crate::message::TextMeter::new();
        meter.push(text);
        s.body = Body::PlainStream(meter.finish());
        s
    }

    #[test]
    fn writes_a_streamed_text_as_quoted_printable_utf8() {
        let body = "Grüße\nbye\n".as_bytes();
        let message = text(&write_streamed(streamed(body), body, &[], 3));
        assert!(
            message.ends_with(
                "MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\
             \r\n\
             Gr=C3=BC=C3=9Fe\r\nbye\r\n"
            ),
            "{message}"
        );
    }

    #[test]
    fn ends_a_streamed_text_without_a_final_line_end_with_one() {
        let message = write_streamed(streamed(b"no newline"), b"no newline", &[], 4);
        assert!(message.ends_with(b"\r\n\r\nno newline\r\n"));
    }

    #[test]
    fn streams_the_text_before_the_attachments_in_multipart_mixed() {
        let mut s = streamed(b"hi");
        s.attachments = vec![attachment("a.bin", Some(3))];
        let message = text(&write_streamed(s, b"hi", &[b"abc"], 2));
        let mixed = "=_0000000000001234.0.mixed";
        assert!(
            message.contains(&format!(
            "quoted-printable\r\n\r\nhi\r\n\r\n--{mixed}\r\nContent-Type: application/octet-stream"
        )),
            "{message}"
        );
        assert!(
            message.ends_with(&format!("YWJj\r\n\r\n--{mixed}--\r\n")),
            "{message}"
        );
    }

    #[test]
    fn asks_for_the_streamed_text_as_part_text() {
        let mut writer = MessageWriter::new(streamed(b"")).unwrap();
        let mut out = Vec::new();
        while writer.poll(&mut out) == Step::Output {}
        assert_eq!(writer.poll(&mut out), Step::NeedContent(PartId::TEXT));
        assert_eq!(PartId::TEXT.attachment(), None);
    }

    #[test]
    fn reports_the_exact_encoded_size_with_a_measured_streamed_text() {
        let body = "x".repeat(300) + "\nÄ=\t\n\0 end";
        let mut s = streamed(body.as_bytes());
        s.attachments = vec![attachment("a", Some(10))];
        let writer = MessageWriter::new(s.clone()).unwrap();
        let message = write_streamed(s, body.as_bytes(), &[&[9u8; 10]], 7);
        assert_eq!(writer.encoded_size(), Some(message.len() as u64));
    }

    #[test]
    fn has_no_encoded_size_for_an_unmeasured_streamed_text() {
        let mut s = spec();
        s.body = Body::PlainStream(crate::message::TextStream::default());
        assert_eq!(MessageWriter::new(s).unwrap().encoded_size(), None);
    }

    #[test]
    fn refuses_a_streamed_text_other_than_measured() {
        let mut writer = MessageWriter::new(streamed(b"ab")).unwrap();
        let mut out = Vec::new();
        while writer.poll(&mut out) == Step::Output {}
        writer.push_content(b"a").unwrap();
        assert_eq!(
            writer.end_content(),
            Err(MessageError::EncodedLengthMismatch {
                declared: 4,
                written: 3
            })
        );
        let mut writer = MessageWriter::new(streamed(b"ab")).unwrap();
        while writer.poll(&mut out) == Step::Output {}
        assert!(matches!(
            writer.push_content(b"abcdef"),
            Err(MessageError::EncodedLengthMismatch { declared: 4, .. })
        ));
    }

    proptest! {
        #[test]
        fn streamed_text_output_is_the_same_for_any_chunking_and_as_measured(
            body in proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'='), Just(b'a'), any::<u8>()
            ], 0..600),
            chunk in 1usize..100,
        ) {
            let s = streamed(&body);
            let size = MessageWriter::new(s.clone()).unwrap().encoded_size();
            let whole = write_streamed(s.clone(), &body, &[], usize::MAX);
            prop_assert_eq!(size, Some(whole.len() as u64));
            prop_assert_eq!(write_streamed(s, &body, &[], chunk), whole.clone());
            for line in whole.split_inclusive(|&b| b == b'\n') {
                prop_assert!(line.ends_with(b"\r\n"));
                prop_assert!(line.len() - 2 <= quoted_printable::MAX_LINE_LEN);
            }
        }

        #[test]
        fn any_caller_text_writes_crlf_lines_under_998_or_is_refused_naming_the_header(
            subject in any::<String>(),
            name in any::<String>(),
            filename in any::<String>(),
            note in any::<String>(),
        ) {
            let mut s = spec();
            s.subject = Some(subject.clone());
            s.to = vec![MailboxHeader::with_name(&name, "bob@example.net")];
            s.extra_headers = vec![("X-Note".to_string(), note.clone())];
            s.attachments = vec![attachment(&filename, None)];
            let injected = |v: &str| v.contains(['\r', '\n', '\0']);
            match MessageWriter::new(s.clone()) {
                Ok(_) => {
                    let message = write(s, &[b"data"], 3);
                    for line in message.split_inclusive(|&b| b == b'\n') {
                        prop_assert!(line.ends_with(b"\r\n"));
                        prop_assert!(line.len() - 2 <= 998);
                        prop_assert!(!line[..line.len() - 2].contains(&b'\r'));
                    }
                    let head_end = message.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                    prop_assert!(message[..head_end].is_ascii());
                }
                Err(MessageError::ForbiddenCharacter { header, .. }) => {
                    let culprit = match header.as_str() {
                        "Subject" => &subject,
                        "To" => &name,
                        "X-Note" => &note,
                        "Content-Disposition" => &filename,
                        other => return Err(TestCaseError::fail(format!("unexpected header {other}"))),
                    };
                    prop_assert!(injected(culprit));
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn streamed_output_is_the_same_for_any_chunking_of_attachments(
            first in proptest::collection::vec(any::<u8>(), 0..500),
            second in proptest::collection::vec(any::<u8>(), 0..500),
            chunk_a in 1usize..200,
            chunk_b in 1usize..200,
        ) {
            let mut s = spec();
            s.attachments = vec![attachment("a.bin", None), attachment("b.bin", Some(second.len() as u64))];
            let contents: [&[u8]; 2] = [&first, &second];
            let whole = write(s.clone(), &contents, usize::MAX);
            prop_assert_eq!(&write(s.clone(), &contents, chunk_a), &whole);
            prop_assert_eq!(&write(s, &contents, chunk_b), &whole);
        }
    }
}
