//! Messages signed by mxsend verify with two independent verifiers, dkimpy and OpenDKIM
//! (`mxsend_tests::dkim`), the public keys served as TXT records by the test dnsmasq:
//! composed messages with attachments and ready messages full of canonicalization traps,
//! RSA-SHA256 and Ed25519-SHA256 together, relaxed and simple, on the wire and as a real
//! Postfix stored them after delivery (relay and MX delivery, blocking and smol, DATA and
//! BDAT), and a
//! message of several hundred MiB. A read-once body is refused with a clear error.
//!
//! Needs Postfix, dnsmasq, python3 with dkimpy/pynacl/dnspython and OpenDKIM
//! (scripts/install-peers).

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mxsend::compose::{Attachment, MessageBuilder};
use mxsend::dkim::{sign, DkimError, DkimKey, DkimSigner};
use mxsend::dns::{Resolver, ResolverConfig};
use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::dkim::Canonicalization;
use mxsend::protocol::session::{DsnOptions, Envelope, Outcome};
use mxsend::protocol::transparency::{DataEncoder, Framing};
use mxsend::{blocking, BodySource, Message, MxDelivery, ReaderBody, Relay, TlsMode};
use mxsend_tests::dkim::assert_verifies;
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::postfix::{Postfix, PostfixOptions};

const WAIT: Duration = Duration::from_secs(30);

fn key(name: &str) -> DkimKey {
    DkimKey::from_pem_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../adapters/tests/data")
            .join(name),
    )
    .expect("test key")
}

/// dnsmasq serving the RSA key at `rsa._domainkey.example.test` and the Ed25519 key at
/// `ed._domainkey.example.test` (and the same under nomx.test, for MX delivery).
fn dns_with_keys() -> Dnsmasq {
    let mut records = Vec::new();
    for domain in ["example.test", "nomx.test"] {
        records.push((
            format!("rsa._domainkey.{domain}"),
            key("rsa-pkcs1.pem").dns_record(),
        ));
        records.push((
            format!("ed._domainkey.{domain}"),
            key("ed25519.pem").dns_record(),
        ));
    }
    Dnsmasq::start_with_txt(&records)
}

/// An RSA and an Ed25519 signer, for the From domain.
fn both_signers(canonicalization: Canonicalization) -> Vec<DkimSigner> {
    vec![
        DkimSigner::new(key("rsa-pkcs1.pem"), "rsa")
            .canonicalization(canonicalization, canonicalization),
        DkimSigner::new(key("ed25519.pem"), "ed")
            .canonicalization(canonicalization, canonicalization)
            .expire_after(Duration::from_secs(86_400)),
    ]
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The bytes a session puts on the wire for `body` (before dot-stuffing): CRLF line ends.
fn wire_bytes(body: &impl BodySource, out: &mut impl Write) {
    let mut reader = body.open().expect("open the signed body");
    let mut encoder = DataEncoder::new(Framing::Bdat);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut wire = Vec::new();
    loop {
        let n = reader.read(&mut chunk).expect("read the signed body");
        if n == 0 {
            break;
        }
        wire.clear();
        encoder.encode(&chunk[..n], &mut wire);
        out.write_all(&wire).expect("write");
    }
    wire.clear();
    encoder.finish(&mut wire);
    out.write_all(&wire).expect("write");
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write the message file");
    path
}

fn envelope(to: &str, eight_bit: bool) -> Envelope {
    Envelope {
        from: ReversePath::parse("alice@example.test").unwrap(),
        recipients: vec![Mailbox::parse(to).unwrap()],
        size: None,
        body: if eight_bit {
            BodyType::EightBitMime
        } else {
            BodyType::SevenBit
        },
        utf8_headers: false,
        dsn: DsnOptions::default(),
    }
}

fn relay(postfix: &Postfix) -> Relay {
    let addr = postfix.smtp_addr();
    Relay::new(addr.ip().to_string(), addr.port()).tls(TlsMode::None)
}

fn assert_delivered(report: &mxsend::Report, postfix: &Postfix) {
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

/// Ready messages that trip canonicalizers: LF line ends, folded headers, trailing white
/// space in headers and body, empty and blank-line-ended bodies, 8-bit bodies, odd-case names.
fn trap_messages() -> Vec<(&'static str, Vec<u8>, bool)> {
    let head = "From: Alice <alice@example.test>\nTo: bob@example.test\n\
                Date: Tue, 01 Dec 2026 10:00:00 +0000\n";
    vec![
        (
            "folded-headers",
            format!(
                "{head}Message-ID: <fold@example.test>\nSubject: a subject that is\n  folded \
                 over\n\tthree lines  \nX-Other: x\n\nbody\n"
            )
            .into_bytes(),
            false,
        ),
        (
            "trailing-white-space",
            format!(
                "{head}Message-ID: <ws@example.test>\nSubject: spaced   out   \nX-Unsigned:   spaced  \n\n\
                 line with trailing spaces   \nline with a tab\t\n  indented  words  here\n"
            )
            .into_bytes(),
            false,
        ),
        (
            "empty-body",
            format!("{head}Message-ID: <empty@example.test>\nSubject: empty\n\n").into_bytes(),
            false,
        ),
        (
            "no-body-at-all",
            format!("{head}Message-ID: <nobody@example.test>\nSubject: no blank line\n")
                .into_bytes(),
            false,
        ),
        (
            "blank-line-ended-body",
            format!("{head}Message-ID: <blank@example.test>\nSubject: blank\n\ntext\n\n\n  \n\n")
                .into_bytes(),
            false,
        ),
        (
            "eight-bit-body",
            format!(
                "{head}Message-ID: <8bit@example.test>\nSubject: 8bit\nMIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
                 Grüße aus Köln, ½ € \n"
            )
            .into_bytes(),
            true,
        ),
        (
            // Dot-stuffed on the wire (DATA) and unstuffed by the server: signed unstuffed.
            "leading-dots",
            format!(
                "{head}Message-ID: <dots@example.test>\nSubject: dots\n\n.hidden\n..two\n.\n \n"
            )
            .into_bytes(),
            false,
        ),
        (
            "odd-case-names",
            b"fROM: Alice <alice@example.test>\r\nTO: bob@example.test\r\n\
              sUBJECT: odd case\r\nDATE: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
              message-id: <odd@example.test>\r\nx-oDD-nAME: value\r\n\r\nCRLF body\r\n"
                .to_vec(),
            false,
        ),
    ]
}

// Each message carries an RSA and an Ed25519 signature of one canonicalization. (With four
// signatures at once, RSA and Ed25519 each relaxed and simple, OpenDKIM 2.11.0~beta2 fails
// one of the Ed25519 ones that dkimpy passes, while every pair of them verifies: two
// signatures per message is what mxsend users configure, so that is what is checked.)
#[test]
fn ready_messages_with_canonicalization_traps_verify_on_the_wire() {
    let dns = dns_with_keys();
    let dir = temp_dir();
    for canonicalization in [Canonicalization::Relaxed, Canonicalization::Simple] {
        let signers = both_signers(canonicalization);
        for (name, message, _) in trap_messages() {
            let signed = sign(&signers, &message, SystemTime::now()).expect("sign");
            let mut wire = Vec::new();
            wire_bytes(&signed, &mut wire);
            let path = write_file(
                dir.path(),
                &format!("{name}-{canonicalization:?}.eml"),
                &wire,
            );
            assert_verifies(&path, dns.addr(), &["rsa", "ed"]);
        }
    }
}

/// White space right after a signed field's colon matters to simple header canonicalization.
/// Checked with dkimpy only: OpenDKIM's test mode (`opendkim -t`) goes through the milter
/// interface, which hands over header values without their leading white space, so it fails
/// such a field under simple for any signer (a message signed by dkimpy fails the same way).
#[test]
fn simple_header_with_white_space_after_the_colon_verifies_with_dkimpy() {
    let dns = dns_with_keys();
    let dir = temp_dir();
    let message = b"From: Alice <alice@example.test>\nSubject:   spaced after the colon\n\nbody\n";
    let signed = sign(
        &both_signers(Canonicalization::Simple),
        &message[..],
        SystemTime::now(),
    )
    .expect("sign");
    let mut wire = Vec::new();
    wire_bytes(&signed, &mut wire);
    let path = write_file(dir.path(), "colon.eml", &wire);
    let verdicts = mxsend_tests::dkim::dkimpy(&path, dns.addr());
    assert_eq!(verdicts.len(), 2);
    assert!(verdicts.iter().all(|v| v.pass), "{verdicts:?}");
}

#[test]
fn ready_messages_with_traps_still_verify_as_postfix_stored_them() {
    let dns = dns_with_keys();
    // As an MX receives mail from the Internet: Postfix rewrites the address headers of
    // local clients only (local_header_rewrite_clients, loopback included by default), and
    // that reformatting would break simple header canonicalization.
    let postfix = Postfix::start(PostfixOptions {
        main_cf: vec![("local_header_rewrite_clients".into(), String::new())],
        ..PostfixOptions::default()
    });
    let dir = temp_dir();
    let traps = trap_messages();
    for (canonicalization, to) in [
        (Canonicalization::Relaxed, "bob@example.test"),
        (Canonicalization::Simple, "alice@example.test"),
    ] {
        let mut relay = relay(&postfix);
        for signer in both_signers(canonicalization) {
            relay = relay.dkim(signer);
        }
        // DATA (dot-stuffed) for one run, BDAT for the other: the same signed octets.
        relay = relay.chunking(canonicalization == Canonicalization::Simple);
        let messages: Vec<Message<Vec<u8>>> = traps
            .iter()
            .map(|(_, body, eight_bit)| Message::new(envelope(to, *eight_bit), body.clone()))
            .collect();
        for report in blocking::send_all(&relay, &messages).expect("send") {
            assert_delivered(&report, &postfix);
        }
        let stored = postfix.wait_for_messages(to, traps.len(), WAIT);
        for (i, message) in stored.iter().enumerate() {
            let path = write_file(
                dir.path(),
                &format!("stored-{canonicalization:?}-{i}.eml"),
                message,
            );
            assert_verifies(&path, dns.addr(), &["rsa", "ed"]);
        }
    }
}

fn composed(dir: &Path, to: &str) -> Message<mxsend::ComposedBody> {
    let attachment = dir.join("report.bin");
    let content: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
        .collect();
    fs::write(&attachment, content).expect("write the attachment");
    MessageBuilder::new()
        .from("Alice Example <alice@example.test>")
        .to(to)
        .bcc("hidden@example.test")
        .reply_to("replies@example.test")
        .subject("Quarterly report, with Ümlauts")
        .header("List-Id", "<reports.example.test>")
        .header("List-Unsubscribe", "<https://example.test/unsubscribe>")
        .header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        .text("Attached.  \n\nRegards,\nAlice\n")
        .html("<p>Attached.</p>")
        .attach(Attachment::from_path(&attachment))
        .attach(Attachment::from_bytes(
            "notes.txt",
            b"trailing  \n\n\n".to_vec(),
        ))
        .build()
        .expect("compose")
}

#[test]
fn composed_message_with_attachments_verifies_after_postfix_delivery() {
    let dns = dns_with_keys();
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = temp_dir();
    let mut message = composed(dir.path(), "bob@example.test");
    // Bcc goes to the envelope only: deliver to bob alone, so the Maildir is bob's.
    message
        .envelope
        .recipients
        .retain(|r| r.to_string() == "bob@example.test");
    let mut relay = relay(&postfix);
    for signer in both_signers(Canonicalization::Relaxed) {
        relay = relay.dkim(signer);
    }
    assert_delivered(&blocking::send(&relay, &message).expect("send"), &postfix);
    let stored = postfix.wait_for_message("bob@example.test", WAIT);
    let text = String::from_utf8_lossy(&stored);
    let signature = text
        .split("\nDKIM-Signature:")
        .nth(1)
        .expect("a DKIM-Signature")
        .replace("\n\t", " ");
    for name in [
        "list-unsubscribe:list-unsubscribe-post",
        "from:from",
        "reply-to",
        "list-id",
    ] {
        assert!(
            signature.replace(": ", ":").contains(name),
            "{name} signed: {signature}"
        );
    }
    assert!(
        !text.contains("hidden@example.test"),
        "Bcc left in the message"
    );
    let path = write_file(dir.path(), "composed.eml", &stored);
    assert_verifies(&path, dns.addr(), &["rsa", "ed"]);
}

#[test]
fn mx_delivery_signs_every_message() {
    let dns = dns_with_keys();
    // nomx.test has no MX: its A record 127.0.0.51 is the implicit MX.
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 51));
    let port = std::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let postfix = Postfix::start(PostfixOptions {
        smtp: Some(SocketAddr::new(ip, port)),
        implicit_tls: false,
        mailboxes: vec!["carol@nomx.test".into()],
        ..PostfixOptions::default()
    });
    let dir = temp_dir();
    let message = MessageBuilder::new()
        .from("Alice <alice@nomx.test>")
        .to("carol@nomx.test")
        .subject("by MX")
        .text("Delivered directly.\n")
        .build()
        .expect("compose");
    let resolver = Resolver::new(ResolverConfig {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..ResolverConfig::with_servers(vec![dns.addr()])
    });
    let mut mx = MxDelivery::new()
        .resolver(resolver)
        .port(port)
        .tls(TlsMode::None);
    for signer in both_signers(Canonicalization::Relaxed) {
        mx = mx.dkim(signer);
    }
    assert_delivered(
        &blocking::deliver(&mx, &message).expect("deliver"),
        &postfix,
    );
    let stored = postfix.wait_for_message("carol@nomx.test", WAIT);
    let path = write_file(dir.path(), "mx.eml", &stored);
    assert_verifies(&path, dns.addr(), &["rsa", "ed"]);
}

#[test]
fn smol_send_signs_like_blocking() {
    let dns = dns_with_keys();
    let postfix = Postfix::start(PostfixOptions::default());
    let dir = temp_dir();
    let message = composed(dir.path(), "alice@example.test");
    let mut message = message;
    message
        .envelope
        .recipients
        .retain(|r| r.to_string() == "alice@example.test");
    let mut relay = relay(&postfix);
    for signer in both_signers(Canonicalization::Simple) {
        relay = relay.dkim(signer);
    }
    let report = smol::block_on(mxsend::smol::send(&relay, &message)).expect("send");
    assert_delivered(&report, &postfix);
    let stored = postfix.wait_for_message("alice@example.test", WAIT);
    let path = write_file(dir.path(), "smol.eml", &stored);
    assert_verifies(&path, dns.addr(), &["rsa", "ed"]);
}

#[test]
fn message_of_300_mib_verifies() {
    const SIZE: usize = 300 * 1024 * 1024;
    let dns = dns_with_keys();
    let dir = temp_dir();
    let source = dir.path().join("big-source.eml");
    {
        let mut file = std::io::BufWriter::new(fs::File::create(&source).expect("create"));
        file.write_all(
            b"From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: big\n\
              Date: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <big@example.test>\n\n",
        )
        .unwrap();
        let line =
            b"0123456789 abcdefghijklmnopqrstuvwxyz  ABCDEFGHIJKLMNOPQRSTUVWXYZ \t0123456789\n";
        for _ in 0..SIZE / line.len() {
            file.write_all(line).unwrap();
        }
        file.write_all(b"\n\n").unwrap();
    }
    let body = source.clone();
    let signers = both_signers(Canonicalization::Relaxed);
    let signed = sign(&signers, &body, SystemTime::now()).expect("sign");
    let wire = dir.path().join("big.eml");
    let mut out = std::io::BufWriter::new(fs::File::create(&wire).expect("create"));
    wire_bytes(&signed, &mut out);
    out.flush().unwrap();
    drop(out);
    fs::remove_file(&source).ok();
    assert_verifies(&wire, dns.addr(), &["rsa", "ed"]);
}

#[test]
fn read_once_body_is_refused_with_a_clear_error() {
    let body = ReaderBody::streamed(&b"From: alice@example.test\r\n\r\nhello\r\n"[..]);
    let message = Message::new(envelope("bob@example.test", false), body);
    // Nothing listens on port 9: the error must come before any connection.
    let relay = Relay::new("127.0.0.1", 9)
        .tls(TlsMode::None)
        .dkim(DkimSigner::new(key("ed25519.pem"), "ed"));
    match blocking::send(&relay, &message) {
        Err(mxsend::Error::Dkim {
            error: DkimError::OneShotBody,
            ..
        }) => {}
        other => panic!("expected the one-pass body error, got {other:?}"),
    }
    let text = DkimError::OneShotBody.to_string();
    assert!(
        text.contains("read only once") && text.contains("ReaderBody::new, which spools it"),
        "{text}"
    );
}
