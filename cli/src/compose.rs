//! From flags to a message: addresses, headers, body, attachments, all checked before any
//! connection is made.
//!
//! Everything a user typed is validated here, once, with an error naming the flag: an address
//! (for the envelope with [`Mailbox::parse`], RFC 5321 §4.1.2; for the header with
//! [`MailboxHeader::validate`]), a `--header` (name per RFC 5322 §2.2, no CR or LF in the
//! value: one header per flag, never an injection), every file (opened and measured now, so an
//! unreadable attachment is exit 66 before the first SYN). The message itself is produced by
//! the core's streaming writer ([`MessageWriter`]); [`crate::source`] turns it into bytes.
//!
//! Decisions:
//! - `Date:` is written in UTC (`+0000`, RFC 5322 §3.3 allows any zone; the reader's client
//!   shows local time), so no time-zone database is needed.
//! - Text goes as quoted-printable when it is not ASCII, never as raw 8-bit: the message is
//!   composed before the server's EHLO says whether it has 8BITMIME (RFC 6152), and
//!   quoted-printable passes everywhere.
//! - `--to ADDR` and positional recipients are the same thing: `To:` and the envelope.
//!   `--bcc` goes in the envelope only (the writer has no Bcc header at all).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mxsend_core::address::Mailbox;
use mxsend_core::message::header::validate_header_name;
use mxsend_core::message::{
    Attachment, Body, DateTime, MailboxHeader, MessageError, MessageSpec, MessageWriter,
};

use crate::error::CliError;

/// An address as a user writes it: `local@domain` or `Display Name <local@domain>`, checked
/// for both the header and the envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// For From/To/Cc/Reply-To.
    pub header: MailboxHeader,
    /// For MAIL FROM / RCPT TO.
    pub envelope: Mailbox,
}

/// Parse an address given to `flag` (named in the error, exit 64).
pub fn parse_address(flag: &str, text: &str) -> Result<Address, CliError> {
    if text.contains(['\r', '\n']) {
        return Err(CliError::usage(format!(
            "{flag} {text:?}: an address cannot contain a line break; give one address per {flag}"
        )));
    }
    let text = text.trim();
    let (name, address) = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(without_close)) => {
            let name = unquote(text[..open].trim());
            (Some(name), without_close[open + 1..].trim())
        }
        _ => (None, text),
    };
    let envelope = Mailbox::parse(address).map_err(|e| {
        CliError::usage(format!(
            "{flag} {text:?}: not an email address ({e}); write it as local@domain or \"Name <local@domain>\""
        ))
    })?;
    let header = match name {
        Some(name) if !name.is_empty() => MailboxHeader::with_name(&name, address),
        _ => MailboxHeader::new(address),
    };
    header
        .validate(flag)
        .map_err(|e| CliError::usage(format!("{flag} {text:?}: {e}")))?;
    Ok(Address { header, envelope })
}

/// A display name without its surrounding double quotes, `\"` and `\\` unescaped.
fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match (c, c == '\\') {
                    (_, true) => out.extend(chars.next()),
                    (c, false) => out.push(c),
                }
            }
            out
        }
        None => name.to_string(),
    }
}

/// Parse `--header 'Name: value'` (exit 64 on a bad name, a missing colon or a line break).
pub fn parse_header(text: &str) -> Result<(String, String), CliError> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(CliError::usage(format!(
            "--header {text:?}: no colon; write it as 'Name: value'"
        )));
    };
    let name = name.trim_end();
    validate_header_name(name).map_err(|e| CliError::usage(format!("--header {text:?}: {e}")))?;
    if value.contains(['\r', '\n', '\0']) {
        return Err(CliError::usage(format!(
            "--header {name}: the value contains a line break or NUL (header injection refused); give one header per --header"
        )));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// Where the text body comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodySource {
    /// `--body TEXT`.
    Text(String),
    /// `--body-file PATH`.
    File(PathBuf),
    /// Standard input (not a terminal, no --body or --body-file), already read.
    Stdin(Vec<u8>),
    /// No body given and standard input is a terminal: an empty body.
    Empty,
}

/// What the compose flags say, already split from clap.
#[derive(Clone, Debug, Default)]
pub struct ComposeInput {
    /// `--from` (or the account's `from`).
    pub from: Option<String>,
    /// `--to` and positional recipients.
    pub to: Vec<String>,
    /// `--cc`.
    pub cc: Vec<String>,
    /// `--bcc`.
    pub bcc: Vec<String>,
    /// `--reply-to`.
    pub reply_to: Vec<String>,
    /// `--subject`.
    pub subject: Option<String>,
    /// `--html PATH`.
    pub html: Option<PathBuf>,
    /// `--attach PATH`, in order.
    pub attach: Vec<PathBuf>,
    /// `--header 'Name: value'`, in order.
    pub headers: Vec<String>,
}

/// A composed message and its envelope, validated.
#[derive(Clone, Debug)]
pub struct Composed {
    /// The writer's input; clone it to write the message again (another domain).
    pub spec: MessageSpec,
    /// Attachment files, in [`MessageSpec::attachments`] order.
    pub attachments: Vec<PathBuf>,
    /// MAIL FROM.
    pub from: Mailbox,
    /// RCPT TO: To, Cc, Bcc in that order, duplicates removed.
    pub recipients: Vec<Mailbox>,
    /// The message's exact size in octets (before dot-stuffing).
    pub size: Option<u64>,
    /// The Message-ID it will carry.
    pub message_id: String,
    /// An address needs SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
}

/// The current time for `Date:` (UTC).
pub fn now() -> DateTime {
    let unix_seconds = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A clock before 1970 is broken; the writer refuses dates before 1900 anyway.
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    DateTime {
        unix_seconds,
        utc_offset_minutes: 0,
    }
}

/// Read a text file for the body (66 when unreadable, 65 when not UTF-8).
fn read_text(what: &str, path: &Path) -> Result<String, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::no_input(what, path, &e))?;
    String::from_utf8(bytes).map_err(|_| {
        CliError::data(format!(
            "{what} {} is not UTF-8 text; convert it (iconv) or send it with --attach",
            path.display()
        ))
    })
}

/// The body text from its source.
fn body_text(body: BodySource) -> Result<String, CliError> {
    match body {
        BodySource::Text(text) => Ok(text),
        BodySource::File(path) => read_text("--body-file", &path),
        BodySource::Stdin(bytes) => String::from_utf8(bytes).map_err(|_| {
            CliError::data(
                "the body on standard input is not UTF-8 text; convert it or send a ready message with --message -",
            )
        }),
        BodySource::Empty => Ok(String::new()),
    }
}

/// Compose: validate every flag, open every file, build the writer's input. Nothing is
/// connected to; every error names the flag or file and exits 64, 65 or 66.
pub fn compose(
    input: ComposeInput,
    body: BodySource,
    date: DateTime,
) -> Result<Composed, CliError> {
    let Some(from_text) = input.from.as_deref() else {
        return Err(CliError::usage(
            "no sender: give --from ADDR (or set `from` in the account)",
        ));
    };
    let from = parse_address("--from", from_text)?;
    let list = |flag: &str, items: &[String]| -> Result<Vec<Address>, CliError> {
        items.iter().map(|t| parse_address(flag, t)).collect()
    };
    let to = list("--to", &input.to)?;
    let cc = list("--cc", &input.cc)?;
    let bcc = list("--bcc", &input.bcc)?;
    let reply_to = list("--reply-to", &input.reply_to)?;
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err(CliError::usage(
            "no recipients: give --to ADDR (or --cc, --bcc, or addresses as arguments)",
        ));
    }
    if let Some(subject) = &input.subject {
        if subject.contains(['\r', '\n']) {
            return Err(CliError::usage(
                "--subject: contains a line break (header injection refused); give the subject on one line",
            ));
        }
    }
    let extra_headers = input
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;

    let plain = body_text(body)?;
    let body = match &input.html {
        Some(path) => Body::Html {
            plain,
            html: read_text("--html", path)?,
        },
        None => Body::Plain(plain),
    };

    let mut attachments = Vec::with_capacity(input.attach.len());
    for path in &input.attach {
        let file = File::open(path).map_err(|e| CliError::no_input("attachment", path, &e))?;
        let meta = file
            .metadata()
            .map_err(|e| CliError::no_input("attachment", path, &e))?;
        if meta.is_dir() {
            return Err(CliError::new(
                crate::exit::Exit::NoInput,
                format!(
                    "cannot attach {}: it is a directory; attach the files in it (or an archive of it)",
                    path.display()
                ),
            ));
        }
        attachments.push(Attachment {
            content_type: content_type(path).to_string(),
            filename: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size: Some(meta.len()),
        });
    }

    let mut recipients: Vec<Mailbox> = Vec::new();
    for address in to.iter().chain(&cc).chain(&bcc) {
        if !recipients.contains(&address.envelope) {
            recipients.push(address.envelope.clone());
        }
    }
    let header = |list: &[Address]| list.iter().map(|a| a.header.clone()).collect();
    let spec = MessageSpec {
        from: from.header.clone(),
        to: header(&to),
        cc: header(&cc),
        reply_to: header(&reply_to),
        subject: input.subject.clone(),
        date,
        message_id_random: fastrand::u64(..),
        boundary_random: fastrand::u64(..),
        extra_headers,
        body,
        attachments,
        allow_eight_bit: false,
    };
    let writer = MessageWriter::new(spec.clone()).map_err(message_error)?;
    let smtputf8 = writer.needs_smtputf8()
        || from.envelope.needs_smtputf8()
        || recipients.iter().any(Mailbox::needs_smtputf8);
    Ok(Composed {
        size: writer.encoded_size(),
        message_id: writer.message_id().to_string(),
        smtputf8,
        spec,
        attachments: input.attach,
        from: from.envelope,
        recipients,
    })
}

/// A writer refusal: the flags were at fault (64).
fn message_error(e: MessageError) -> CliError {
    CliError::usage(format!("{e}; fix the flag that sets it"))
}

/// A MIME type from the file name's extension; `application/octet-stream` when unknown (the
/// recipient's client then asks what to do, which is right for an unknown file).
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("txt" | "text" | "log" | "md") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        Some("ics") => "text/calendar",
        Some("xml") => "application/xml",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz" | "tgz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("eml") => "message/rfc822",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use std::io::Write;

    fn date() -> DateTime {
        DateTime {
            unix_seconds: 1_700_000_000,
            utc_offset_minutes: 0,
        }
    }

    fn input() -> ComposeInput {
        ComposeInput {
            from: Some("Ann <ann@example.com>".into()),
            to: vec!["bob@example.net".into()],
            subject: Some("hi".into()),
            ..ComposeInput::default()
        }
    }

    #[test]
    fn bare_address_has_no_display_name() {
        let a = parse_address("--to", "bob@example.net").unwrap();
        assert_eq!(a.header, MailboxHeader::new("bob@example.net"));
        assert_eq!(a.envelope.to_string(), "bob@example.net");
    }

    #[test]
    fn display_name_form_splits_name_and_address() {
        let a = parse_address("--from", "\"Ann \\\"A\\\" Example\" <ann@example.com>").unwrap();
        assert_eq!(
            a.header,
            MailboxHeader::with_name("Ann \"A\" Example", "ann@example.com")
        );
        assert_eq!(a.envelope.to_string(), "ann@example.com");
    }

    #[test]
    fn malformed_address_is_a_usage_error_naming_the_flag() {
        let err = parse_address("--to", "bob.example.net").unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(
            err.message.starts_with("--to \"bob.example.net\""),
            "{}",
            err.message
        );
        assert!(err.message.contains("local@domain"), "{}", err.message);
    }

    #[test]
    fn address_with_a_newline_is_refused() {
        let err = parse_address("--to", "bob@example.net\r\nBcc: x@y").unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.message.contains("line break"), "{}", err.message);
    }

    #[test]
    fn header_flag_splits_at_the_first_colon() {
        assert_eq!(
            parse_header("X-Ticket: 42: urgent").unwrap(),
            ("X-Ticket".into(), "42: urgent".into())
        );
    }

    #[test]
    fn header_with_a_newline_is_refused() {
        let err = parse_header("X-A: b\nBcc: evil@example.org").unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.message.contains("injection"), "{}", err.message);
    }

    #[test]
    fn header_without_colon_is_refused() {
        let err = parse_header("X-A b").unwrap_err();
        assert!(err.message.contains("Name: value"), "{}", err.message);
    }

    #[test]
    fn header_with_a_space_in_its_name_is_refused() {
        assert_eq!(parse_header("X A: b").unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn generated_header_cannot_be_given_again() {
        let mut i = input();
        i.headers = vec!["Subject: other".into()];
        let err = compose(i, BodySource::Empty, date()).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.message.contains("Subject"), "{}", err.message);
    }

    #[test]
    fn envelope_holds_to_cc_and_bcc_once_each() {
        let mut i = input();
        i.to.push("Carol <carol@example.org>".into());
        i.cc = vec!["bob@example.net".into()];
        i.bcc = vec!["dave@example.org".into()];
        let c = compose(i, BodySource::Text("x".into()), date()).unwrap();
        let rcpts: Vec<String> = c.recipients.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            rcpts,
            ["bob@example.net", "carol@example.org", "dave@example.org"]
        );
        assert_eq!(c.from.to_string(), "ann@example.com");
    }

    #[test]
    fn bcc_never_reaches_the_headers() {
        let mut i = input();
        i.bcc = vec!["secret@example.org".into()];
        let c = compose(i, BodySource::Text("x".into()), date()).unwrap();
        let text = format!("{:?}", c.spec);
        assert!(!text.contains("secret@example.org"), "{text}");
    }

    #[test]
    fn missing_sender_is_a_usage_error() {
        let mut i = input();
        i.from = None;
        assert_eq!(
            compose(i, BodySource::Empty, date()).unwrap_err().exit,
            Exit::Usage
        );
    }

    #[test]
    fn no_recipients_is_a_usage_error() {
        let mut i = input();
        i.to.clear();
        let err = compose(i, BodySource::Empty, date()).unwrap_err();
        assert!(err.message.contains("no recipients"), "{}", err.message);
    }

    #[test]
    fn unreadable_attachment_is_noinput() {
        let mut i = input();
        i.attach = vec!["/nonexistent/report.pdf".into()];
        let err = compose(i, BodySource::Empty, date()).unwrap_err();
        assert_eq!(err.exit, Exit::NoInput);
        assert!(
            err.message.contains("/nonexistent/report.pdf"),
            "{}",
            err.message
        );
    }

    #[test]
    fn directory_attachment_is_noinput() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = input();
        i.attach = vec![dir.path().to_path_buf()];
        assert_eq!(
            compose(i, BodySource::Empty, date()).unwrap_err().exit,
            Exit::NoInput
        );
    }

    #[test]
    fn attachment_gets_its_name_type_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"hello")
            .unwrap();
        let mut i = input();
        i.attach = vec![path];
        let c = compose(i, BodySource::Empty, date()).unwrap();
        assert_eq!(
            c.spec.attachments,
            [Attachment {
                content_type: "text/plain".into(),
                filename: "notes.txt".into(),
                size: Some(5),
            }]
        );
        assert!(c.size.is_some());
    }

    #[test]
    fn body_file_that_is_not_utf8_is_dataerr() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.bin");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let err = compose(input(), BodySource::File(path), date()).unwrap_err();
        assert_eq!(err.exit, Exit::DataErr);
    }

    #[test]
    fn unknown_extension_is_octet_stream() {
        assert_eq!(
            content_type(Path::new("a.weird")),
            "application/octet-stream"
        );
        assert_eq!(content_type(Path::new("A.PDF")), "application/pdf");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
