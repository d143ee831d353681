//! From flags to a message: addresses, headers, body, attachments, all checked before any
//! connection is made.
//!
//! Everything a user typed is validated here, once, with an error naming the flag: an address
//! (for the envelope and the header, [`mxsend::compose::Address`]), a `--header` (name per
//! RFC 5322 §2.2, no CR or LF in the value: one header per flag, never an injection), every
//! file (opened and measured now, so an unreadable attachment is exit 66 before the first
//! SYN). The message itself is the library's ([`MessageBuilder`]): the core's streaming
//! writer, re-run for every domain, attachments and `--body-file` streamed from their files.
//!
//! Decisions (the library's defaults, kept):
//! - `Date:` is written in UTC (`+0000`, RFC 5322 §3.3 allows any zone; the reader's client
//!   shows local time), so no time-zone database is needed.
//! - Text goes as quoted-printable when it is not ASCII, never as raw 8-bit: the message is
//!   composed before the server's EHLO says whether it has 8BITMIME (RFC 6152), and
//!   quoted-printable passes everywhere. `--body-file` is always quoted-printable (it is
//!   streamed, not looked at first).
//! - `--to ADDR` and positional recipients are the same thing: `To:` and the envelope.
//!   `--bcc` goes in the envelope only (the writer has no Bcc header at all).

use std::path::PathBuf;

pub use mxsend::compose::now;
use mxsend::compose::{
    Address, Attachment, ComposeError, ComposedBody, HeaderAddressError, MessageBuilder,
};
use mxsend::Message;
use mxsend_core::message::header::validate_header_name;

use crate::error::CliError;

/// Parse an address given to `flag` (named in the error, exit 64).
pub fn parse_address(flag: &str, text: &str) -> Result<Address, CliError> {
    Address::parse(text).map_err(|e| match e {
        HeaderAddressError::LineBreak => CliError::usage(format!(
            "{flag} {text:?}: an address cannot contain a line break; give one address per {flag}"
        )),
        HeaderAddressError::Mailbox(e) => CliError::usage(format!(
            "{flag} {:?}: not an email address ({e}); write it as local@domain or \"Name <local@domain>\"",
            text.trim()
        )),
        HeaderAddressError::Header(e) => CliError::usage(format!("{flag} {:?}: {e}", text.trim())),
    })
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
    /// `--body-file PATH`: streamed, any size.
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

/// Compose: validate every flag, open every file, build the library's message (its envelope:
/// MAIL FROM, RCPT TO for To, Cc, Bcc once each, SIZE, SMTPUTF8). Nothing is connected to;
/// every error names the flag or file and exits 64, 65 or 66.
pub fn compose(
    input: ComposeInput,
    body: BodySource,
    date: mxsend_core::message::DateTime,
) -> Result<Message<ComposedBody>, CliError> {
    let Some(from_text) = input.from.as_deref() else {
        return Err(CliError::usage(
            "no sender: give --from ADDR (or set `from` in the account)",
        ));
    };
    let mut builder = MessageBuilder::new()
        .from(parse_address("--from", from_text)?)
        .date(date);
    let mut recipients = 0;
    for (flag, list) in [
        ("--to", &input.to),
        ("--cc", &input.cc),
        ("--bcc", &input.bcc),
        ("--reply-to", &input.reply_to),
    ] {
        for text in list {
            let address = parse_address(flag, text)?;
            builder = match flag {
                "--to" => builder.to(address),
                "--cc" => builder.cc(address),
                "--bcc" => builder.bcc(address),
                _ => builder.reply_to(address),
            };
            recipients += usize::from(flag != "--reply-to");
        }
    }
    if recipients == 0 {
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
        builder = builder.subject(subject.clone());
    }
    for header in &input.headers {
        let (name, value) = parse_header(header)?;
        builder = builder.header(name, value);
    }
    builder = match body {
        BodySource::Text(text) => builder.text(text),
        BodySource::File(path) => builder.text_file(path),
        BodySource::Stdin(bytes) => builder.text(String::from_utf8(bytes).map_err(|_| {
            CliError::data(
                "the body on standard input is not UTF-8 text; convert it or send a ready message with --message -",
            )
        })?),
        BodySource::Empty => builder,
    };
    if let Some(path) = &input.html {
        builder = builder.html_file(path);
    }
    for path in &input.attach {
        builder = builder.attach(Attachment::from_path(path));
    }
    builder.build().map_err(compose_error)
}

/// The library's refusal as the user should see it: the flag or file at fault, and the exit
/// status (64 a flag, 65 content, 66 a file).
fn compose_error(e: ComposeError) -> CliError {
    let flag = |what: &str| {
        match what {
            "text" => "--body-file",
            "HTML" => "--html",
            other => other,
        }
        .to_string()
    };
    match e {
        ComposeError::Unreadable { what, path, error } => {
            CliError::no_input(&flag(what), &path, &error)
        }
        ComposeError::IsDirectory(path) => CliError::new(
            crate::exit::Exit::NoInput,
            format!(
                "cannot attach {}: it is a directory; attach the files in it (or an archive of it)",
                path.display()
            ),
        ),
        ComposeError::NotUtf8 { what, path } => CliError::data(format!(
            "{} {} is not UTF-8 text; convert it (iconv) or send it with --attach",
            flag(what),
            path.display()
        )),
        ComposeError::Read(error) => CliError::io("reading the message content", &error),
        ComposeError::Message(e) => CliError::usage(format!("{e}; fix the flag that sets it")),
        // The flags were checked above; these keep their library wording.
        other => CliError::usage(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use mxsend::BodySource as _;
    use mxsend_core::message::{DateTime, MailboxHeader};
    use std::io::{Read, Write};
    use std::path::Path;

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
        let rcpts: Vec<String> = c
            .envelope
            .recipients
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(
            rcpts,
            ["bob@example.net", "carol@example.org", "dave@example.org"]
        );
        assert_eq!(c.envelope.from.to_string(), "ann@example.com");
    }

    #[test]
    fn bcc_never_reaches_the_headers() {
        let mut i = input();
        i.bcc = vec!["secret@example.org".into()];
        let c = compose(i, BodySource::Text("x".into()), date()).unwrap();
        let mut text = String::new();
        c.body.open().unwrap().read_to_string(&mut text).unwrap();
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
            c.body.spec().attachments,
            [mxsend_core::message::Attachment {
                content_type: "text/plain".into(),
                filename: "notes.txt".into(),
                size: Some(5),
            }]
        );
        assert!(c.envelope.size.is_some());
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
        use mxsend::compose::guess_content_type;
        assert_eq!(
            guess_content_type(Path::new("a.weird")),
            "application/octet-stream"
        );
        assert_eq!(guess_content_type(Path::new("A.PDF")), "application/pdf");
        assert_eq!(
            guess_content_type(Path::new("noext")),
            "application/octet-stream"
        );
    }

    #[test]
    fn body_file_is_streamed_and_its_size_known() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.txt");
        std::fs::write(&path, "Grüße\n".repeat(1000)).unwrap();
        let c = compose(input(), BodySource::File(path), date()).unwrap();
        let mut bytes = Vec::new();
        c.body.open().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(c.envelope.size, Some(bytes.len() as u64));
        assert!(matches!(
            c.body.spec().body,
            mxsend_core::message::Body::PlainStream(_)
        ));
    }

    #[test]
    fn unreadable_body_file_is_noinput_naming_the_flag() {
        let err = compose(
            input(),
            BodySource::File("/nonexistent/body.txt".into()),
            date(),
        )
        .unwrap_err();
        assert_eq!(err.exit, Exit::NoInput);
        assert!(err.message.contains("--body-file"), "{}", err.message);
    }
}
