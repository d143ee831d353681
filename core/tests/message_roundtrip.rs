//! Round trip through an independent parser: messages written by `MessageWriter` are parsed
//! by Python's `email` package (`policy.default`, core/tests/parse_message.py); the decoded
//! headers, bodies and attachment checksums must be what was given, and Python must report
//! no defects. Needs `python3` on the PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

use mxsend_core::message::{
    Attachment, Body, DateTime, MailboxHeader, MessageSpec, MessageWriter, Step, TextMeter,
};

/// The JSON that parse_message.py prints, built from what the test gave the writer.
enum Json {
    Null,
    Num(u64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    fn opt(s: Option<&str>) -> Json {
        s.map_or(Json::Null, Json::str)
    }

    /// Python's `json.dumps(ensure_ascii=True, sort_keys=True, separators=(",", ":"))`.
    fn render(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        ' '..='~' => out.push(c),
                        _ => {
                            let mut units = [0u16; 2];
                            for unit in c.encode_utf16(&mut units) {
                                out.push_str(&format!("\\u{unit:04x}"));
                            }
                        }
                    }
                }
                out.push('"');
            }
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                let mut fields: Vec<&(&str, Json)> = fields.iter().collect();
                fields.sort_by_key(|(k, _)| *k);
                out.push('{');
                for (i, (key, value)) in fields.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    Json::str(key).render(out);
                    out.push(':');
                    value.render(out);
                }
                out.push('}');
            }
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parse_message.py")
}

fn python(args: &[&Path]) -> String {
    let output = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3 must be on the PATH for the round-trip test");
    assert!(
        output.status.success(),
        "parse_message.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxsend-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// sha256 of each content, computed by Python's hashlib, and the scratch files used.
fn sha256s(case: &str, contents: &[Vec<u8>]) -> (Vec<String>, Vec<PathBuf>) {
    let paths: Vec<PathBuf> = contents
        .iter()
        .enumerate()
        .map(|(i, content)| {
            let path = scratch(&format!("{case}-attachment-{i}"));
            std::fs::write(&path, content).unwrap();
            path
        })
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = python(&[&[Path::new("--sha256")], refs.as_slice()].concat());
    let digests = out
        .trim_matches(['[', ']'])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches('"').to_string())
        .collect();
    (digests, paths)
}

/// Write the message, feeding a streamed text and the attachments in `chunk`-sized pieces.
fn write(spec: MessageSpec, text: &[u8], contents: &[Vec<u8>], chunk: usize) -> (Vec<u8>, String) {
    let mut writer = MessageWriter::new(spec).unwrap();
    let message_id = writer.message_id().to_string();
    let mut message = Vec::new();
    let mut out = Vec::new();
    let mut offsets = vec![0; contents.len() + 1];
    loop {
        match writer.poll(&mut out) {
            Step::Output => message.append(&mut out),
            Step::NeedContent(part) => {
                let (content, offset) = match part.attachment() {
                    Some(i) => (contents[i].as_slice(), &mut offsets[i]),
                    None => (text, &mut offsets[contents.len()]),
                };
                if *offset == content.len() {
                    writer.end_content().unwrap();
                } else {
                    let end = (*offset + chunk).min(content.len());
                    writer.push_content(&content[*offset..end]).unwrap();
                    *offset = end;
                }
            }
            Step::Done => break,
        }
    }
    (message, message_id)
}

fn mailboxes(list: &[MailboxHeader]) -> Json {
    Json::Arr(
        list.iter()
            .map(|m| {
                Json::Arr(vec![
                    Json::str(m.display_name.as_deref().unwrap_or("")),
                    Json::str(&m.address),
                ])
            })
            .collect(),
    )
}

fn lf_text(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Write `spec`, parse it with Python and compare with what was given.
fn round_trip(case: &str, spec: MessageSpec, contents: Vec<Vec<u8>>, chunk: usize) {
    round_trip_streamed(case, spec, "", contents, chunk);
}

/// [`round_trip`] for a spec whose body may be [`Body::PlainStream`] of `text`.
fn round_trip_streamed(
    case: &str,
    spec: MessageSpec,
    text: &str,
    contents: Vec<Vec<u8>>,
    chunk: usize,
) {
    let (digests, scratch_files) = sha256s(case, &contents);
    let (plain, html) = match &spec.body {
        Body::Plain(plain) => (plain.clone(), None),
        Body::Html { plain, html } => (plain.clone(), Some(html.clone())),
        // A streamed text always ends with a line end.
        Body::PlainStream(_) if text.is_empty() || text.ends_with(['\r', '\n']) => {
            (text.to_string(), None)
        }
        Body::PlainStream(_) => (format!("{text}\n"), None),
    };
    let expected_attachments = Json::Arr(
        spec.attachments
            .iter()
            .zip(&contents)
            .zip(&digests)
            .map(|((a, content), digest)| {
                let essence = a.content_type.split(';').next().unwrap().trim();
                Json::Obj(vec![
                    ("content_type", Json::str(&essence.to_ascii_lowercase())),
                    (
                        "filename",
                        Json::opt(Some(a.filename.as_str()).filter(|f| !f.is_empty())),
                    ),
                    ("sha256", Json::str(digest)),
                    ("size", Json::Num(content.len() as u64)),
                ])
            })
            .collect(),
    );
    let extra = Json::Obj(
        spec.extra_headers
            .iter()
            .map(|(name, value)| {
                let name: &'static str = if name == "X-Mailer" {
                    "X-Mailer"
                } else {
                    "X-Note"
                };
                (name, Json::str(value.trim()))
            })
            .collect(),
    );
    let date = spec.date.format().unwrap();
    let subject = spec.subject.clone();
    let (from, to, cc, reply_to) = (
        mailboxes(std::slice::from_ref(&spec.from)),
        mailboxes(&spec.to),
        mailboxes(&spec.cc),
        mailboxes(&spec.reply_to),
    );

    let size = MessageWriter::new(spec.clone()).unwrap().encoded_size();
    let (message, message_id) = write(spec, text.as_bytes(), &contents, chunk);
    if let Some(size) = size {
        assert_eq!(size, message.len() as u64, "{case}: encoded_size");
    }
    for line in message.split_inclusive(|&b| b == b'\n') {
        assert!(line.ends_with(b"\r\n"), "{case}: line without CRLF");
        assert!(line.len() - 2 <= 998, "{case}: line over 998 octets");
        assert!(!line[..line.len() - 2].contains(&b'\r'), "{case}: bare CR");
    }
    let path = scratch(&format!("{case}.eml"));
    std::fs::write(&path, &message).unwrap();

    let expected = Json::Obj(vec![
        ("attachments", expected_attachments),
        ("bcc", Json::Null),
        ("cc", cc),
        ("date", Json::Str(date)),
        ("defects", Json::Arr(vec![])),
        ("extra", extra),
        ("from", from),
        ("html", Json::opt(html.as_deref().map(lf_text).as_deref())),
        ("message_id", Json::Str(message_id)),
        ("mime_version", Json::str("1.0")),
        ("plain", Json::Str(lf_text(&plain))),
        ("reply_to", reply_to),
        ("subject", Json::opt(subject.as_deref())),
        ("to", to),
    ]);
    let mut want = String::new();
    expected.render(&mut want);
    let got = python(&[&path]);
    assert_eq!(got, want, "{case}: Python decoded something else");
    // Kept on failure for inspection; removed on success.
    for file in scratch_files.iter().chain([&path]) {
        let _ = std::fs::remove_file(file);
    }
}

fn base_spec() -> MessageSpec {
    MessageSpec {
        from: MailboxHeader::with_name("Ann Example", "ann@example.com"),
        to: vec![MailboxHeader::new("bob@example.net")],
        cc: vec![],
        reply_to: vec![],
        subject: Some("Quarterly report".to_string()),
        date: DateTime {
            unix_seconds: 1_709_208_000,
            utc_offset_minutes: -300,
        },
        message_id_random: 0x0123_4567_89ab_cdef,
        boundary_random: 0x0fed_cba9_8765_4321,
        extra_headers: vec![],
        body: Body::Plain("Hello Bob,\n\nthe report is attached.\n".to_string()),
        attachments: vec![],
        allow_eight_bit: false,
    }
}

fn attachment(content_type: &str, filename: &str, size: Option<usize>) -> Attachment {
    Attachment {
        content_type: content_type.to_string(),
        filename: filename.to_string(),
        size: size.map(|n| n as u64),
    }
}

#[test]
fn ascii_message_with_a_text_attachment_round_trips() {
    let mut spec = base_spec();
    spec.to
        .push(MailboxHeader::with_name("Carol", "carol@example.org"));
    spec.cc = vec![MailboxHeader::with_name("Smith, Dave", "dave@example.org")];
    spec.reply_to = vec![MailboxHeader::new("replies@example.com")];
    spec.extra_headers = vec![("X-Mailer".to_string(), "mxsend test".to_string())];
    let notes = b"line one\r\nline two\r\n".to_vec();
    spec.attachments = vec![attachment("text/plain", "notes.txt", Some(notes.len()))];
    round_trip("ascii", spec, vec![notes], 5);
}

#[test]
fn non_ascii_subject_names_and_file_names_round_trip() {
    let mut spec = base_spec();
    spec.from = MailboxHeader::with_name("José Müller", "jose@example.com");
    spec.to = vec![
        MailboxHeader::with_name("山田太郎", "taro@example.jp"),
        MailboxHeader::with_name("Zoë \"the boss\" O'Brien", "zoe@example.ie"),
    ];
    spec.subject = Some(
        "Grüße aus Köln — 日本語のテキスト 😀 and a rather long tail of words to force folding"
            .to_string(),
    );
    spec.extra_headers = vec![("X-Note".to_string(), "Ünïcödé note".to_string())];
    spec.body = Body::Plain("Hallo, schöne Grüße!\nПривет\n".to_string());
    let pdf = b"%PDF-1.4 fake".to_vec();
    let long = "Überaus langer Dateiname für einen Bericht über das Quartal 2024 ü.txt";
    spec.attachments = vec![
        attachment("application/pdf", "résumé 2024.pdf", None),
        attachment("text/plain; charset=utf-8", long, None),
    ];
    round_trip("non-ascii", spec, vec![pdf, "ü".repeat(10).into_bytes()], 4);
}

#[test]
fn eight_bit_body_round_trips_when_allowed() {
    let mut spec = base_spec();
    spec.allow_eight_bit = true;
    spec.body = Body::Plain("Ça va? Très bien.\n".to_string());
    assert!(MessageWriter::new(spec.clone()).unwrap().needs_eight_bit());
    round_trip("eight-bit", spec, vec![], 1);
}

#[test]
fn empty_attachment_round_trips() {
    let mut spec = base_spec();
    spec.attachments = vec![attachment("application/octet-stream", "empty.bin", Some(0))];
    round_trip("empty", spec, vec![vec![]], 1);
}

#[test]
fn binary_attachment_round_trips_for_odd_chunk_sizes() {
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for chunk in [1, 7, 4096, 65_537] {
        let mut spec = base_spec();
        spec.attachments = vec![attachment(
            "application/octet-stream",
            "data.bin",
            Some(data.len()),
        )];
        round_trip(&format!("binary-{chunk}"), spec, vec![data.clone()], chunk);
    }
}

#[test]
fn html_with_plain_alternative_and_attachments_round_trips() {
    let mut spec = base_spec();
    spec.body = Body::Html {
        plain: "Hello *Bob*\nSee the pictures.".to_string(),
        html: "<html><body><p>Hello <b>Bob</b></p><p>Schöne Bilder</p></body></html>\n".to_string(),
    };
    let all_bytes: Vec<u8> = (0..=255).collect();
    spec.attachments = vec![
        attachment("image/png", "a.png", Some(256)),
        attachment("image/jpeg", "b.jpg", None),
        attachment("application/octet-stream", "", None),
    ];
    round_trip(
        "html",
        spec,
        vec![all_bytes.clone(), all_bytes.repeat(3), b"no name".to_vec()],
        100,
    );
}

#[test]
fn long_lines_and_nul_bodies_round_trip() {
    let mut spec = base_spec();
    spec.subject = Some(format!("see {}", "x".repeat(1200)));
    spec.body = Body::Plain(format!("{}\nshort line\n", "long ".repeat(400)));
    round_trip("long-lines", spec.clone(), vec![], 1);
    spec.body = Body::Plain("nul \0 inside\n".to_string());
    round_trip("nul", spec, vec![], 1);
}

/// A spec whose body is `text`, streamed and measured.
fn streamed_spec(text: &str) -> MessageSpec {
    let mut meter = TextMeter::new();
    meter.push(text.as_bytes());
    let mut spec = base_spec();
    spec.body = Body::PlainStream(meter.finish());
    spec
}

#[test]
fn streamed_ascii_text_round_trips() {
    let text = "Hello Bob,\n\nthe report = attached. \nTrailing tab\t\n";
    round_trip_streamed("streamed-ascii", streamed_spec(text), text, vec![], 7);
}

#[test]
fn streamed_non_ascii_text_with_long_lines_and_mixed_line_ends_round_trips() {
    let text = format!(
        "Grüße aus Köln\r\n{}\rПривет 😀\nnul \0 inside\nno final line end",
        "lang ".repeat(500)
    );
    round_trip_streamed("streamed-utf8", streamed_spec(&text), &text, vec![], 13);
}

#[test]
fn empty_streamed_text_round_trips() {
    round_trip_streamed("streamed-empty", streamed_spec(""), "", vec![], 1);
}

#[test]
fn streamed_text_with_attachments_round_trips() {
    let text = "See the attachments.\n";
    let mut spec = streamed_spec(text);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
    spec.attachments = vec![
        attachment("application/octet-stream", "data.bin", Some(data.len())),
        attachment("text/plain", "empty.txt", Some(0)),
    ];
    round_trip_streamed("streamed-attachments", spec, text, vec![data, vec![]], 1000);
}
