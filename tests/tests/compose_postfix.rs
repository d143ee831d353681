//! Messages composed with `mxsend::compose`, sent with `mxsend::blocking::send` through a
//! private Postfix, read back from its Maildir and parsed by Python's `email` package
//! (core/tests/parse_message.py, an independent parser): attachments intact (the sha256 of
//! each decoded attachment equals the original file's, computed by Python's hashlib), headers
//! and texts decoded to what was given, no defects, Bcc in the envelope only.
//!
//! Needs Postfix (scripts/install-peers) and `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mxsend::compose::{Attachment, MessageBuilder};
use mxsend::protocol::session::Outcome;
use mxsend::{blocking, ComposedBody, Message, Relay, TlsMode};
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use serde_json::Value;

/// How long a delivered message may take to reach the Maildir.
const WAIT: Duration = Duration::from_secs(30);

fn parse_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/parse_message.py")
}

/// Run parse_message.py with `args`; its JSON output.
fn python(args: &[&Path]) -> Value {
    let output = Command::new("python3")
        .arg(parse_script())
        .args(args)
        .output()
        .expect("python3 must be on the PATH");
    assert!(
        output.status.success(),
        "parse_message.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from parse_message.py")
}

/// Send `message` through Postfix (plaintext relay) and assert every recipient was accepted.
fn send(postfix: &Postfix, message: &Message<ComposedBody>) {
    let addr = postfix.smtp_addr();
    let relay = Relay::new(addr.ip().to_string(), addr.port()).tls(TlsMode::None);
    let report = blocking::send(&relay, message).expect("send through Postfix");
    for r in &report.recipients {
        assert!(
            matches!(r.outcome, Outcome::Delivered(_)),
            "{}: {:?}\n{}",
            r.mailbox,
            r.outcome,
            postfix.report()
        );
    }
}

/// The message `user` got, parsed by Python.
fn delivered(postfix: &Postfix, dir: &Path, user: &str) -> Value {
    let stored = postfix.wait_for_message(user, WAIT);
    let path = dir.join("delivered.eml");
    std::fs::write(&path, stored).unwrap();
    python(&[&path])
}

/// Python's sha256 of each file.
fn sha256s(files: &[&Path]) -> Vec<String> {
    let digests = python(&[&[Path::new("--sha256")], files].concat());
    digests
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Pseudo-random octets (every value occurs, no structure base64 could hide a bug in).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// The decoded attachments: (content type, file name, sha256, size) each.
fn attachments(parsed: &Value) -> Vec<(String, Option<String>, String, u64)> {
    parsed["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["content_type"].as_str().unwrap().to_string(),
                a["filename"].as_str().map(str::to_string),
                a["sha256"].as_str().unwrap().to_string(),
                a["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn no_defects(parsed: &Value) {
    assert_eq!(parsed["defects"], serde_json::json!([]), "{parsed}");
}

#[test]
fn ascii_message_with_attachments_arrives_intact_and_bcc_only_in_the_envelope() {
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let notes = write(dir.path(), "notes.txt", b"line one\nline two\n");
    let pdf = write(
        dir.path(),
        "report.pdf",
        b"%PDF-1.4 not really a pdf\n%%EOF\n",
    );
    let message = MessageBuilder::new()
        .from("Ann Example <ann@client.example.test>")
        .to("Bob <bob@example.test>")
        .bcc("alice@example.test")
        .reply_to("replies@client.example.test")
        .subject("Quarterly report")
        .text("Hello Bob,\n\nthe report is attached.\n")
        .attach(Attachment::from_path(&notes))
        .attach(Attachment::from_path(&pdf))
        .header("X-Mailer", "mxsend test")
        .build()
        .unwrap();
    send(&postfix, &message);

    let parsed = delivered(&postfix, dir.path(), "bob@example.test");
    no_defects(&parsed);
    assert_eq!(parsed["subject"], "Quarterly report");
    assert_eq!(
        parsed["from"],
        serde_json::json!([["Ann Example", "ann@client.example.test"]])
    );
    assert_eq!(
        parsed["to"],
        serde_json::json!([["Bob", "bob@example.test"]])
    );
    assert_eq!(
        parsed["reply_to"],
        serde_json::json!([["", "replies@client.example.test"]])
    );
    assert_eq!(parsed["plain"], "Hello Bob,\n\nthe report is attached.\n");
    assert_eq!(parsed["message_id"], message.body.message_id());
    assert_eq!(parsed["extra"]["X-Mailer"], "mxsend test");
    assert_eq!(parsed["bcc"], Value::Null);
    let digests = sha256s(&[&notes, &pdf]);
    assert_eq!(
        attachments(&parsed),
        [
            (
                "text/plain".to_string(),
                Some("notes.txt".to_string()),
                digests[0].clone(),
                18
            ),
            (
                "application/pdf".to_string(),
                Some("report.pdf".to_string()),
                digests[1].clone(),
                32
            ),
        ]
    );
    // The blind recipient got the same message, without a Bcc header.
    let bcc = delivered(&postfix, dir.path(), "alice@example.test");
    assert_eq!(bcc["message_id"], message.body.message_id());
    assert_eq!(bcc["bcc"], Value::Null);
}

#[test]
fn non_ascii_subject_names_file_name_and_mailbox_arrive_decoded() {
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let name = "Überaus langer Dateiname für den Bericht über das Quartal — 日本語.txt";
    let file = write(dir.path(), name, "Inhalt: schöne Grüße\n".as_bytes());
    let subject = "Grüße aus Köln — 日本語のテキスト 😀 and a rather long tail of words to fold";
    let message = MessageBuilder::new()
        .from("José Müller <jose@client.example.test>")
        .to("山田太郎 <bob@example.test>")
        .cc("Jörg <jörg@example.test>")
        .subject(subject)
        .text("Hallo, schöne Grüße!\nПривет\n")
        .attach(Attachment::from_path(&file))
        .build()
        .unwrap();
    assert!(
        message.envelope.utf8_headers,
        "a UTF-8 mailbox needs SMTPUTF8"
    );
    send(&postfix, &message);

    for user in ["bob@example.test", "jörg@example.test"] {
        let parsed = delivered(&postfix, dir.path(), user);
        no_defects(&parsed);
        assert_eq!(parsed["subject"], subject);
        assert_eq!(
            parsed["from"],
            serde_json::json!([["José Müller", "jose@client.example.test"]])
        );
        assert_eq!(
            parsed["to"],
            serde_json::json!([["山田太郎", "bob@example.test"]])
        );
        assert_eq!(
            parsed["cc"],
            serde_json::json!([["Jörg", "jörg@example.test"]])
        );
        assert_eq!(parsed["plain"], "Hallo, schöne Grüße!\nПривет\n");
        let digest = sha256s(&[&file]).remove(0);
        assert_eq!(
            attachments(&parsed),
            [(
                "text/plain".to_string(),
                Some(name.to_string()),
                digest,
                "Inhalt: schöne Grüße\n".len() as u64
            )]
        );
    }
}

#[test]
fn empty_and_binary_attachments_arrive_byte_for_byte() {
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.bin", b"");
    let binary = write(dir.path(), "random.bin", &pseudo_random(1_000_003, 7));
    let all_octets: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let in_memory = write(dir.path(), "octets.dat", &all_octets);
    let message = MessageBuilder::new()
        .from("ann@client.example.test")
        .to("bob@example.test")
        .subject("binary")
        .attach(Attachment::from_path(&empty))
        .attach(Attachment::from_path(&binary))
        .attach(
            Attachment::from_bytes("octets.dat", all_octets.clone())
                .content_type("application/x-test-octets"),
        )
        .build()
        .unwrap();
    send(&postfix, &message);

    let parsed = delivered(&postfix, dir.path(), "bob@example.test");
    no_defects(&parsed);
    let digests = sha256s(&[&empty, &binary, &in_memory]);
    assert_eq!(
        attachments(&parsed),
        [
            (
                "application/octet-stream".to_string(),
                Some("empty.bin".to_string()),
                digests[0].clone(),
                0
            ),
            (
                "application/octet-stream".to_string(),
                Some("random.bin".to_string()),
                digests[1].clone(),
                1_000_003
            ),
            (
                "application/x-test-octets".to_string(),
                Some("octets.dat".to_string()),
                digests[2].clone(),
                4096
            ),
        ]
    );
}

#[test]
fn html_with_plain_alternative_and_attachments_arrives_whole() {
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let png = write(dir.path(), "chart.png", &pseudo_random(20_000, 11));
    let plain = "Hello *Bob*\nSee the chart.\n";
    let html = "<html><body><p>Hello <b>Bob</b></p><p>Schöne Grafik</p></body></html>\n";
    let message = MessageBuilder::new()
        .from("ann@client.example.test")
        .to("bob@example.test")
        .subject("with html")
        .text(plain)
        .html(html)
        .attach(Attachment::from_path(&png))
        .attach(Attachment::from_bytes("data.csv", b"a,b\n1,2\n".to_vec()))
        .build()
        .unwrap();
    send(&postfix, &message);

    let parsed = delivered(&postfix, dir.path(), "bob@example.test");
    no_defects(&parsed);
    assert_eq!(parsed["plain"], plain);
    assert_eq!(parsed["html"], html);
    let csv = write(dir.path(), "data.csv", b"a,b\n1,2\n");
    let digests = sha256s(&[&png, &csv]);
    assert_eq!(
        attachments(&parsed),
        [
            (
                "image/png".to_string(),
                Some("chart.png".to_string()),
                digests[0].clone(),
                20_000
            ),
            (
                "text/csv".to_string(),
                Some("data.csv".to_string()),
                digests[1].clone(),
                8
            ),
        ]
    );
}

#[test]
fn streamed_text_file_arrives_as_written_next_to_an_attachment() {
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "Zeile {i}: schöne Grüße = {} \n",
            "x".repeat(i % 120)
        ));
    }
    let body = write(dir.path(), "body.txt", text.as_bytes());
    let attachment = write(dir.path(), "a.bin", &pseudo_random(5000, 3));
    let message = MessageBuilder::new()
        .from("ann@client.example.test")
        .to("bob@example.test")
        .subject("streamed")
        .text_file(&body)
        .attach(Attachment::from_path(&attachment))
        .build()
        .unwrap();
    assert!(message.envelope.size.is_some(), "a text file is measured");
    send(&postfix, &message);

    let parsed = delivered(&postfix, dir.path(), "bob@example.test");
    no_defects(&parsed);
    assert!(parsed["plain"] == text.as_str(), "streamed text differs");
    assert_eq!(attachments(&parsed)[0].2, sha256s(&[&attachment]).remove(0));
}
