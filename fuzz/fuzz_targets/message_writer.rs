//! `MessageWriter` on arbitrary caller data, and `RawMessage` on arbitrary messages, both
//! fed in arbitrary chunks.
//!
//! Input layout: byte 0's low bit picks the subject (0: `MessageWriter`, 1: `RawMessage`);
//! the rest is read with `arbitrary::Unstructured`:
//! - writer: the From/To/Cc/Reply-To mailboxes (display names and addresses), the subject,
//!   the date, the two random numbers, extra headers (names and values), a plain, HTML or
//!   streamed body (its text, measured or not), `allow_eight_bit`, and up to three
//!   attachments (content type, file name, declared
//!   size: none, the true one or another, the content and the chunk sizes it is pushed in).
//!   Caller strings are built from a token table biased towards what breaks headers (CR,
//!   LF, NUL, `:`, white space, quotes, encoded-word markers, non-ASCII, long words).
//! - raw: the Message-ID domain, the date, the random number, the chunk sizes, then the
//!   message bytes.
//!
//! Checked for the writer, besides no panic: either `new` (or a content call) refuses with
//! an error, or the output
//! - has no bare CR or LF, and no line over 998 octets (RFC 5322 §2.1.1);
//! - has exactly the top-level fields the spec asks for, in order (Date, From, To, Cc,
//!   Reply-To, Subject, Message-ID, the extra headers, MIME-Version, then only Content-*):
//!   no caller value started a header of its own (header injection), and no folded line
//!   is white space only;
//! - is refused whenever a caller value that lands in a header holds CR, LF or NUL;
//! - has `encoded_size()` octets when the writer knew the size;
//! - carries each attachment, base64 (RFC 2045 §6.8) in its own part of the
//!   multipart/mixed, decoding back to exactly the octets pushed.
//!
//! Checked for the raw filter: split invariance (chunked output = one-shot output); the
//! output is the input unchanged, preceded by `Date:` and `Message-ID:` lines exactly when
//! a reference scan of the header block finds the field missing.
#![no_main]

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use mxsend_core::base64;
use mxsend_core::message::{
    Attachment, Body, DateTime, MailboxHeader, MessageSpec, MessageWriter, PartId, RawMessage,
    Step, TextMeter, TextStream,
};
use mxsend_fuzz::{first_bare_cr_or_lf, show};

/// RFC 5322 §2.1.1: a line is at most 998 octets without its CRLF.
const MAX_LINE: usize = 998;

/// Pieces caller strings are made of: the characters that break headers, and some that
/// only stress folding and encoding.
const TOKENS: [&str; 24] = [
    "\r",
    "\n",
    "\r\n",
    "\0",
    ":",
    " ",
    "\t",
    "\"",
    "\\",
    "<",
    ">",
    "@",
    "=?",
    "?=",
    "=?utf-8?q?x?=",
    "é",
    "日本語",
    "🦀",
    "Bcc: eve@evil.test",
    "\r\nBcc: eve@evil.test",
    ";",
    "=",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "--",
];

/// A string of up to `max` pieces: printable ASCII letters or tokens.
fn text(u: &mut Unstructured<'_>, max: usize) -> ArbResult<String> {
    let n = u.int_in_range(0..=max)?;
    let mut s = String::new();
    for _ in 0..n {
        let b: u8 = u.arbitrary()?;
        if b < 0x80 {
            // Printable ASCII, space included.
            s.push(char::from(0x20 + b % 0x5f));
        } else {
            s.push_str(TOKENS[usize::from(b) % TOKENS.len()]);
        }
    }
    Ok(s)
}

fn mailbox(u: &mut Unstructured<'_>) -> ArbResult<MailboxHeader> {
    let display_name = if u.arbitrary()? {
        Some(text(u, 40)?)
    } else {
        None
    };
    let address = if u.ratio(3, 4)? {
        // Mostly plausible addresses, so the writer gets past validation.
        format!("{}@{}", text(u, 6)?, text(u, 6)?)
    } else {
        text(u, 12)?
    };
    Ok(MailboxHeader {
        display_name,
        address,
    })
}

fn mailboxes(u: &mut Unstructured<'_>) -> ArbResult<Vec<MailboxHeader>> {
    let n = u.int_in_range(0..=2)?;
    (0..n).map(|_| mailbox(u)).collect()
}

/// An attachment with its content and the chunk sizes to push it in.
struct Upload {
    attachment: Attachment,
    content: Vec<u8>,
    chunks: Vec<usize>,
}

fn upload(u: &mut Unstructured<'_>) -> ArbResult<Upload> {
    let content_type = match u.int_in_range(0..=3)? {
        0 => "application/octet-stream".to_string(),
        1 => "text/plain; charset=utf-8".to_string(),
        2 => format!("application/{}", text(u, 6)?),
        _ => text(u, 10)?,
    };
    let filename = text(u, 30)?;
    let len = u.int_in_range(0..=600)?;
    let content: Vec<u8> = (0..len)
        .map(|_| u.arbitrary::<u8>())
        .collect::<ArbResult<_>>()?;
    let size = match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(content.len() as u64 + u64::from(u.int_in_range(0..=2u8)?)),
        _ => Some(content.len() as u64),
    };
    let n = u.int_in_range(1..=4)?;
    let chunks = (0..n)
        .map(|_| u.int_in_range(0..=200usize))
        .collect::<ArbResult<_>>()?;
    Ok(Upload {
        attachment: Attachment {
            content_type,
            filename,
            size,
        },
        content,
        chunks,
    })
}

fn date(u: &mut Unstructured<'_>) -> ArbResult<DateTime> {
    let unix_seconds = if u.ratio(7, 8)? {
        u.int_in_range(-2_208_988_800..=253_402_300_799)?
    } else {
        u.arbitrary()?
    };
    let utc_offset_minutes = if u.ratio(7, 8)? {
        u.int_in_range(-1439..=1439)?
    } else {
        u.arbitrary()?
    };
    Ok(DateTime {
        unix_seconds,
        utc_offset_minutes,
    })
}

/// The spec, the attachments' uploads and the streamed text (empty unless the body is
/// [`Body::PlainStream`]) as an upload too.
fn spec(u: &mut Unstructured<'_>) -> ArbResult<(MessageSpec, Vec<Upload>, Upload)> {
    let from = mailbox(u)?;
    let to = mailboxes(u)?;
    let cc = mailboxes(u)?;
    let reply_to = mailboxes(u)?;
    let subject = if u.arbitrary()? {
        Some(text(u, 120)?)
    } else {
        None
    };
    let date = date(u)?;
    let message_id_random = u.arbitrary()?;
    let boundary_random = u.arbitrary()?;
    let n = u.int_in_range(0..=3)?;
    let mut extra_headers = Vec::new();
    for _ in 0..n {
        let name = if u.ratio(3, 4)? {
            format!("X-{}", text(u, 4)?)
        } else {
            text(u, 6)?
        };
        extra_headers.push((name, text(u, 80)?));
    }
    let mut streamed = Upload {
        attachment: Attachment {
            content_type: String::new(),
            filename: String::new(),
            size: None,
        },
        content: Vec::new(),
        chunks: vec![1],
    };
    let body = match u.int_in_range(0..=2)? {
        0 => Body::Plain(text(u, 200)?),
        1 => Body::Html {
            plain: text(u, 100)?,
            html: text(u, 100)?,
        },
        _ => {
            streamed.content = text(u, 200)?.into_bytes();
            let n = u.int_in_range(1..=4)?;
            streamed.chunks = (0..n)
                .map(|_| u.int_in_range(0..=200usize))
                .collect::<ArbResult<_>>()?;
            let mut meter = TextMeter::new();
            meter.push(&streamed.content);
            let measured = meter.finish();
            Body::PlainStream(match u.int_in_range(0..=3)? {
                0 => TextStream::default(),
                1 => TextStream {
                    encoded_size: measured
                        .encoded_size
                        .map(|n| n + u64::from(u.int_in_range(0..=2u8).unwrap_or(1))),
                },
                _ => measured,
            })
        }
    };
    let allow_eight_bit = u.arbitrary()?;
    let n = u.int_in_range(0..=3)?;
    let uploads: Vec<Upload> = (0..n).map(|_| upload(u)).collect::<ArbResult<_>>()?;
    let spec = MessageSpec {
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
        attachments: uploads.iter().map(|up| up.attachment.clone()).collect(),
        allow_eight_bit,
    };
    Ok((spec, uploads, streamed))
}

fn has_forbidden(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// True when a caller value that ends up in a header holds CR, LF or NUL.
fn header_injection_attempted(spec: &MessageSpec) -> bool {
    let boxes = std::iter::once(&spec.from)
        .chain(&spec.to)
        .chain(&spec.cc)
        .chain(&spec.reply_to);
    let mut values: Vec<&str> = Vec::new();
    for b in boxes {
        values.push(&b.address);
        if let Some(name) = &b.display_name {
            values.push(name);
        }
    }
    if let Some(subject) = &spec.subject {
        values.push(subject);
    }
    for (name, value) in &spec.extra_headers {
        values.push(name);
        values.push(value);
    }
    for a in &spec.attachments {
        values.push(&a.filename);
        values.push(&a.content_type);
    }
    values.into_iter().any(has_forbidden)
}

/// The lines of `bytes`, without their CRLF (the caller checked there is no bare CR or LF).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    if bytes.ends_with(b"\n") {
        out.pop();
    }
    out
}

/// The field names of a header block (up to its first empty line), in order.
fn field_names<'a>(all: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut names = Vec::new();
    for line in all.iter().take_while(|l| !l.is_empty()) {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            assert!(
                !line.iter().all(|&b| b == b' ' || b == b'\t'),
                "white-space-only folded line"
            );
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .unwrap_or_else(|| panic!("header line without a colon: {}", show(line)));
        names.push(&line[..colon]);
    }
    names
}

/// The `boundary="..."` parameter of the top-level Content-Type, unfolded.
fn mixed_boundary(all: &[&[u8]]) -> Option<String> {
    let mut unfolded = String::new();
    let mut in_content_type = false;
    for line in all.iter().take_while(|l| !l.is_empty()) {
        let text = String::from_utf8_lossy(line);
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            if in_content_type {
                unfolded.push_str(&text);
            }
            continue;
        }
        in_content_type = text.to_ascii_lowercase().starts_with("content-type:");
        if in_content_type {
            unfolded = text.into_owned();
        }
    }
    let start = unfolded.find("boundary=\"")? + "boundary=\"".len();
    let end = unfolded[start..].find('"')? + start;
    Some(unfolded[start..end].to_string())
}

fn check_writer(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let (spec, uploads, streamed) = spec(u)?;
    let injection = header_injection_attempted(&spec);
    let expected_names = {
        let mut names: Vec<String> = vec!["Date".into(), "From".into()];
        for (list, name) in [
            (&spec.to, "To"),
            (&spec.cc, "Cc"),
            (&spec.reply_to, "Reply-To"),
        ] {
            if !list.is_empty() {
                names.push(name.into());
            }
        }
        if spec.subject.is_some() {
            names.push("Subject".into());
        }
        names.push("Message-ID".into());
        names.extend(spec.extra_headers.iter().map(|(n, _)| n.clone()));
        names.push("MIME-Version".into());
        names
    };
    let Ok(mut writer) = MessageWriter::new(spec) else {
        return Ok(());
    };
    assert!(!injection, "a value with CR, LF or NUL was accepted");

    let mut message = Vec::new();
    let mut out = Vec::new();
    loop {
        match writer.poll(&mut out) {
            Step::Output => message.append(&mut out),
            Step::NeedContent(part) => {
                let up = match part.attachment() {
                    Some(i) => &uploads[i],
                    None => {
                        assert_eq!(part, PartId::TEXT);
                        &streamed
                    }
                };
                let mut rest = up.content.as_slice();
                let mut i = 0;
                while !rest.is_empty() {
                    let wanted = up.chunks[i % up.chunks.len()];
                    i += 1;
                    if wanted == 0 {
                        // An empty push is allowed and changes nothing.
                        if writer.push_content(&[]).is_err() {
                            return Ok(());
                        }
                    }
                    let size = wanted.clamp(1, rest.len());
                    let (chunk, after) = rest.split_at(size);
                    rest = after;
                    if writer.push_content(chunk).is_err() {
                        // Refused: more than the declared size.
                        return Ok(());
                    }
                    // Drain as we go, as a real caller does; while content is wanted, a
                    // poll that has nothing to give asks for content again.
                    let step = writer.poll(&mut out);
                    assert!(
                        step == Step::Output || (step == Step::NeedContent(part) && out.is_empty())
                    );
                    message.append(&mut out);
                }
                if writer.end_content().is_err() {
                    return Ok(());
                }
            }
            Step::Done => break,
        }
    }

    if let Some(at) = first_bare_cr_or_lf(&message) {
        panic!("bare CR or LF at {at} in {}", show(&message));
    }
    assert!(message.ends_with(b"\r\n"));
    let all = lines(&message);
    for line in &all {
        assert!(line.len() <= MAX_LINE, "line of {} octets", line.len());
    }
    if let Some(size) = writer.encoded_size() {
        assert_eq!(size, message.len() as u64, "encoded_size");
    }

    let names = field_names(&all);
    let (generated, content) = names.split_at(expected_names.len().min(names.len()));
    let generated: Vec<String> = generated
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert_eq!(generated, expected_names, "top-level fields");
    for name in content {
        assert!(
            name.eq_ignore_ascii_case(b"Content-Type")
                || name.eq_ignore_ascii_case(b"Content-Transfer-Encoding"),
            "unexpected field {} after MIME-Version",
            show(name)
        );
    }

    if uploads.is_empty() {
        return Ok(());
    }
    let boundary = mixed_boundary(&all).expect("multipart/mixed boundary");
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    // Parts: the lines between delimiter lines; the first is the text, then one each.
    let mut parts: Vec<Vec<&[u8]>> = Vec::new();
    let mut closed = false;
    for line in all.iter().skip_while(|l| !l.is_empty()) {
        if *line == close.as_bytes() {
            assert!(!closed, "two close delimiters");
            closed = true;
        } else if *line == delimiter.as_bytes() {
            assert!(!closed, "a part after the close delimiter");
            parts.push(Vec::new());
        } else if let Some(part) = parts.last_mut() {
            if !closed {
                part.push(line);
            }
        }
    }
    assert!(closed, "no close delimiter");
    assert_eq!(parts.len(), uploads.len() + 1, "parts in multipart/mixed");
    for (part, up) in parts.iter().skip(1).zip(&uploads) {
        let blank = part.iter().position(|l| l.is_empty()).expect("part header");
        let head = &part[..blank];
        assert!(head
            .iter()
            .any(|l| l.eq_ignore_ascii_case(b"Content-Transfer-Encoding: base64")));
        // The part ends with the CRLF that belongs to the next delimiter: an empty line.
        let body = &part[blank + 1..];
        let body = body.strip_suffix(&[&b""[..]]).unwrap_or(body);
        let encoded: Vec<u8> = body.concat();
        let decoded = base64::decode(&encoded)
            .unwrap_or_else(|e| panic!("attachment base64 {e:?}: {}", show(&encoded)));
        assert!(decoded == up.content, "attachment content differs");
    }
    Ok(())
}

/// Whether the header block (reference scan) has a Date and a Message-ID field.
fn reference_fields(message: &[u8]) -> (bool, bool) {
    let mut date = false;
    let mut id = false;
    for line in message.split(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\r").unwrap_or(line);
        if bare.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = line[..colon].trim_ascii_end();
            date |= name.eq_ignore_ascii_case(b"date");
            id |= name.eq_ignore_ascii_case(b"message-id");
        }
    }
    (date, id)
}

fn check_raw(mut u: Unstructured<'_>) -> ArbResult<()> {
    let u = &mut u;
    let domain = if u.ratio(7, 8)? {
        format!("{}.example", text(u, 4)?)
    } else {
        text(u, 8)?
    };
    let date = date(u)?;
    let random: u64 = u.arbitrary()?;
    let n = u.int_in_range(1..=4)?;
    let chunks: Vec<usize> = (0..n)
        .map(|_| u.int_in_range(1..=64usize))
        .collect::<ArbResult<_>>()?;
    let message = std::mem::replace(u, Unstructured::new(&[])).take_rest();

    let Ok(filter) = RawMessage::new(date, random, &domain) else {
        return Ok(());
    };
    // Content that cannot go out as text (a NUL, a line over 998 octets) is refused with the
    // problem the content scan names, and nothing more is checked for it.
    if let Err(problem) = mxsend_core::transparency::ContentScan::new().push(message) {
        let mut refusing = filter.clone();
        let mut out = Vec::new();
        assert_eq!(
            refusing.push(message, &mut out),
            Err(mxsend_core::message::MessageError::Content(problem))
        );
        return Ok(());
    }
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| -> Vec<u8> {
        let mut filter = filter.clone();
        let mut out = Vec::new();
        for piece in pieces {
            filter.push(piece, &mut out).expect("small header block");
        }
        filter.finish(&mut out).expect("finish");
        out
    };
    let one_shot = run(&mut std::iter::once(message));
    let mut rest = message;
    let mut i = 0;
    let mut chunked_pieces = std::iter::from_fn(|| {
        if rest.is_empty() {
            return None;
        }
        let (piece, after) = rest.split_at(chunks[i % chunks.len()].min(rest.len()));
        i += 1;
        rest = after;
        Some(piece)
    });
    let chunked = run(&mut chunked_pieces);
    assert!(chunked == one_shot, "split changed the output");

    let prefix = one_shot
        .strip_suffix(message)
        .unwrap_or_else(|| panic!("input not passed through: {}", show(&one_shot)));
    let (has_date, has_id) = reference_fields(message);
    let mut expected = String::new();
    if !has_date {
        expected.push_str(&format!("Date: {}\r\n", date.format().expect("valid date")));
    }
    let prefix = std::str::from_utf8(prefix).expect("prefix is text");
    let rest = prefix
        .strip_prefix(expected.as_str())
        .unwrap_or_else(|| panic!("Date line: {prefix:?}"));
    if has_id {
        assert_eq!(rest, "", "Message-ID added although present");
    } else {
        let id = rest
            .strip_prefix("Message-ID: <")
            .and_then(|r| r.strip_suffix(">\r\n"))
            .unwrap_or_else(|| panic!("Message-ID line: {rest:?}"));
        assert!(id.ends_with(&format!("@{domain}")), "{id}");
        assert!(!id.contains(['\r', '\n']));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let _ = if selector & 1 == 0 {
        check_writer(&mut u)
    } else {
        check_raw(u)
    };
});
