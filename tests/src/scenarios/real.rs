//! The scenarios against real servers: a private Postfix (plaintext, STARTTLS, implicit TLS,
//! SIZE, SMTPUTF8, CHUNKING, DSN, Maildirs), aiosmtpd (AUTH, per-recipient refusals, the
//! envelope log) and an MX delivery to a Postfix found through dnsmasq.
//!
//! Messages delivered by Postfix are read back from its Maildirs and compared byte for byte with
//! what was sent, once the trace fields Postfix prepends are taken off and the line ends are
//! those of the Maildir (LF: virtual(8) stores messages in the UNIX form). aiosmtpd stores what
//! it received, CRLF included.
//!
//! Every peer is started by its own scenario (its own ports, or its own loopback address for
//! MX), so scenarios run in parallel threads; deadlines are short so a hang fails in seconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::base64;
use mxsend::protocol::command::{BodyType, Notify, Ret};
use mxsend::protocol::session::{DsnOptions, Envelope, Failure, Outcome, SessionError, Timeouts};
use mxsend::{Message, Relay, Report, TlsMode, TransactionWindow, Unreached};

use super::{assert_all, code, mx_delivery, v4, Adapter, Captured};
use crate::aiosmtpd::{Aiosmtpd, AiosmtpdOptions, AUTH_PASSWORD, AUTH_USER};
use crate::dnsmasq::Dnsmasq;
use crate::net::free_port;
use crate::pki::{CertPair, TestPki};
use crate::postfix::{Postfix, PostfixOptions};

/// How long any one reply may take in these scenarios: ample on loopback, short enough that a
/// hang fails the scenario quickly instead of after RFC 5321's minutes.
const REPLY_DEADLINE: Duration = Duration::from_secs(15);

/// How long a delivered message may take to reach its Maildir.
pub(super) const MAILDIR_WAIT: Duration = Duration::from_secs(20);

/// The fields Postfix puts on top of a message it delivers to a Maildir (virtual(8): Return-Path,
/// X-Original-To, Delivered-To; smtpd: Received).
const PREPENDED_FIELDS: [&str; 4] = [
    "return-path:",
    "x-original-to:",
    "delivered-to:",
    "received:",
];

pub(super) fn short_timeouts() -> Timeouts {
    Timeouts {
        greeting: REPLY_DEADLINE,
        command: REPLY_DEADLINE,
        mail: REPLY_DEADLINE,
        rcpt: REPLY_DEADLINE,
        data_initiation: REPLY_DEADLINE,
        data_block: REPLY_DEADLINE,
        data_termination: REPLY_DEADLINE,
        quit: REPLY_DEADLINE,
    }
}

/// A relay to `addr` in `tls` mode with short deadlines, recording its transcript.
fn relay(addr: SocketAddr, tls: TlsMode, captured: &Captured) -> Relay {
    let mut relay = Relay::new(addr.ip().to_string(), addr.port())
        .tls(tls)
        .transcript(captured.hook());
    relay = relay.connect_timeout(Duration::from_secs(5));
    relay = relay.timeouts(short_timeouts());
    relay
}

/// The whole envelope of a message from alice@example.org.
fn envelope(rcpts: &[&str], body: BodyType, utf8_headers: bool) -> Envelope {
    Envelope {
        from: ReversePath::parse("alice@example.org").expect("sender"),
        recipients: rcpts
            .iter()
            .map(|r| Mailbox::parse(r).expect("recipient"))
            .collect(),
        size: None,
        body,
        utf8_headers,
        dsn: DsnOptions::default(),
    }
}

/// A complete message to `to` (every header Postfix would otherwise add is present, so what is
/// stored is what was sent), its lines ended by `eol`, with these body lines.
fn content(to: &str, eol: &str, body: &[&str]) -> Vec<u8> {
    let mut lines = vec![
        "From: Alice <alice@example.org>".to_string(),
        format!("To: {to}"),
        "Date: Mon, 01 Jan 2024 12:00:00 +0000".to_string(),
        "Message-ID: <real-scenario@example.org>".to_string(),
        "Subject: end-to-end".to_string(),
        String::new(),
    ];
    lines.extend(body.iter().map(|l| l.to_string()));
    lines
        .iter()
        .flat_map(|l| [l.as_str(), eol])
        .collect::<String>()
        .into_bytes()
}

/// An ordinary body.
const PLAIN_BODY: [&str; 3] = ["Hello Bob.", "", "A second paragraph."];

/// Body lines that SMTP's transparency must carry through: leading dots, a lone dot, a line
/// that looks like the end of data, an empty line, trailing white space.
const TRICKY_BODY: [&str; 8] = [
    "Hello Bob.",
    ".a line with a leading dot",
    ".",
    "..two dots",
    "",
    " . ",
    "trailing space ",
    "the end",
];

/// What a message sent as `sent` looks like in a Postfix Maildir: LF line ends.
fn as_stored_by_postfix(sent: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sent.len());
    let mut i = 0;
    while let Some(&b) = sent.get(i) {
        if b == b'\r' && sent.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// `stored` without the header fields Postfix prepends ([`PREPENDED_FIELDS`],
/// each possibly folded), so that what remains starts with the first header the client sent.
pub fn without_prepended_fields(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    let mut in_prepended = false;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        let prepended = PREPENDED_FIELDS.iter().any(|name| {
            line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        });
        if prepended || (continuation && in_prepended) {
            in_prepended = true;
            rest = &rest[end..];
        } else {
            return rest;
        }
    }
}

/// Asserts that Postfix stored exactly `sent` (after its own trace fields, LF line ends).
pub fn assert_stored_intact(stored: &[u8], sent: &[u8]) {
    let original = without_prepended_fields(stored);
    assert!(
        original == as_stored_by_postfix(sent).as_slice(),
        "stored message differs from the one sent\n--- stored\n{}\n--- sent\n{}",
        String::from_utf8_lossy(stored),
        String::from_utf8_lossy(sent)
    );
}

fn send(adapter: &dyn Adapter, relay: &Relay, message: &Message<Vec<u8>>) -> Report {
    adapter
        .send(relay, message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()))
}

fn assert_delivered(report: &Report, captured: &Captured) {
    assert!(
        report.all_delivered(),
        "{report:#?}\n{:#?}",
        captured.lines()
    );
}

/// The first sent line starting with `prefix` (e.g. `-> MAIL`), or a failure with the transcript.
fn sent_line(captured: &Captured, prefix: &str) -> String {
    captured
        .starting_with(prefix)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {prefix:?} line in {:#?}", captured.lines()))
}

/// Sends `sent` to bob@example.test through a plaintext relay to a default Postfix, and returns
/// what Postfix stored, after checking every recipient was delivered.
fn postfix_round_trip(
    adapter: &dyn Adapter,
    sent: Vec<u8>,
    configure: impl FnOnce(&mut Relay),
) -> (Postfix, Vec<u8>, Captured) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut relay = relay(postfix.smtp_addr(), TlsMode::None, &captured);
    configure(&mut relay);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        sent,
    );
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    (postfix, stored, captured)
}

// ---------------------------------------------------------------------------------------------
// Postfix: plaintext, transparency, line ends

/// Plaintext to Postfix, CRLF input: delivered to bob's Maildir, byte for byte.
pub fn postfix_plaintext_delivers_crlf_message_intact(adapter: &dyn Adapter) {
    let sent = content("bob@example.test", "\r\n", &PLAIN_BODY);
    let (_postfix, stored, captured) = postfix_round_trip(adapter, sent.clone(), |_| {});
    assert_stored_intact(&stored, &sent);
    assert!(captured.starting_with("-> STARTTLS").is_empty());
}

/// LF-only input is sent with CRLF (Postfix would otherwise log bare LFs) and stored intact.
pub fn postfix_plaintext_delivers_lf_message_intact(adapter: &dyn Adapter) {
    let sent = content("bob@example.test", "\n", &PLAIN_BODY);
    let (_postfix, stored, _) = postfix_round_trip(adapter, sent.clone(), |_| {});
    assert_stored_intact(&stored, &sent);
}

/// Lines starting with dots are dot-stuffed on the wire and unstuffed by Postfix: a lone "."
/// in the body does not end the message early.
pub fn postfix_leading_dots_survive_data(adapter: &dyn Adapter) {
    let sent = content("bob@example.test", "\r\n", &TRICKY_BODY);
    // DATA, not streamed BDAT.
    let (_postfix, stored, captured) = postfix_round_trip(adapter, sent.clone(), |relay| {
        *relay = relay.clone().window(TransactionWindow::OFF);
    });
    assert_stored_intact(&stored, &sent);
    let body = captured.starting_with("body");
    for stuffed in [
        "body ..a line with a leading dot",
        "body ..",
        "body ...two dots",
    ] {
        assert!(body.iter().any(|l| l == stuffed), "{stuffed}: {body:#?}");
    }
}

/// The size of the reads the blocking adapter makes from a message source (64 KiB): the
/// boundary scenarios put line ends and dots exactly there. Other runtimes may read
/// differently; the message stays a valid test of transparency for them.
const READ_SIZE: usize = 64 * 1024;

/// Appends `x` lines ended by `eol` until `message` is `target` octets long.
fn pad_to(message: &mut Vec<u8>, target: usize, eol: &str) {
    assert!(target >= message.len() + 100, "targets must be apart");
    while target - message.len() > 1000 {
        message.extend_from_slice(&[b'x'; 500]);
        message.extend_from_slice(eol.as_bytes());
    }
    let fill = target - message.len() - eol.len();
    message.extend(std::iter::repeat_n(b'y', fill));
    message.extend_from_slice(eol.as_bytes());
    assert_eq!(message.len(), target);
}

/// A message of about 200 KB whose line ends and dots fall on read boundaries: a line end
/// split across the first boundary (for CRLF input, CR before it and LF after), a line starting
/// with a dot right after the second, and a lone "." line whose dot is the last octet before
/// the third.
fn boundary_message(eol: &str) -> Vec<u8> {
    let mut m = content("bob@example.test", eol, &["Read boundaries ahead."]);
    let split = READ_SIZE - eol.len() / 2;
    pad_to(&mut m, split - 5, eol);
    m.extend_from_slice(b"split");
    m.extend_from_slice(eol.as_bytes());
    pad_to(&mut m, 2 * READ_SIZE, eol);
    m.extend_from_slice(b".a dot at a read boundary");
    m.extend_from_slice(eol.as_bytes());
    pad_to(&mut m, 3 * READ_SIZE - 1, eol);
    m.push(b'.');
    m.extend_from_slice(eol.as_bytes());
    m.extend_from_slice(b"the end");
    m.extend_from_slice(eol.as_bytes());
    m
}

fn boundaries_round_trip(adapter: &dyn Adapter, eol: &str, chunking: bool) {
    let sent = boundary_message(eol);
    let (_postfix, stored, captured) = postfix_round_trip(adapter, sent.clone(), |relay| {
        *relay = relay.clone().chunking(chunking);
        if !chunking {
            *relay = relay.clone().window(TransactionWindow::OFF);
        }
    });
    assert_eq!(
        captured.starting_with("-> BDAT").is_empty(),
        !chunking,
        "BDAT used if and only if asked for"
    );
    assert_stored_intact(&stored, &sent);
}

/// CRLF input, DATA: line ends and dots on read boundaries arrive intact.
pub fn postfix_read_boundaries_are_seamless_crlf_data(adapter: &dyn Adapter) {
    boundaries_round_trip(adapter, "\r\n", false);
}

/// LF input, DATA: the same.
pub fn postfix_read_boundaries_are_seamless_lf_data(adapter: &dyn Adapter) {
    boundaries_round_trip(adapter, "\n", false);
}

/// CRLF input, BDAT: the same.
pub fn postfix_read_boundaries_are_seamless_crlf_bdat(adapter: &dyn Adapter) {
    boundaries_round_trip(adapter, "\r\n", true);
}

/// LF input, BDAT: the same.
pub fn postfix_read_boundaries_are_seamless_lf_bdat(adapter: &dyn Adapter) {
    boundaries_round_trip(adapter, "\n", true);
}

fn unterminated_round_trip(adapter: &dyn Adapter, chunking: bool) {
    let mut sent = content("bob@example.test", "\r\n", &PLAIN_BODY);
    sent.extend_from_slice(b"no line end here");
    let (_postfix, stored, captured) = postfix_round_trip(adapter, sent.clone(), |relay| {
        *relay = relay.clone().chunking(chunking);
        if !chunking {
            *relay = relay.clone().window(TransactionWindow::OFF);
        }
    });
    // The last line is ended before the end of data: stored with a line end of its own.
    let mut expected = sent;
    expected.extend_from_slice(b"\r\n");
    assert_stored_intact(&stored, &expected);
    if !chunking {
        let lines = captured.lines();
        let last = lines.iter().position(|l| l == "body no line end here");
        assert!(
            last.is_some_and(|i| lines.get(i + 1).is_some_and(|l| l == "-> .")),
            "{lines:#?}"
        );
    }
}

/// Content whose last line has no line end, with DATA: a CRLF is added before the final ".",
/// which is not glued to the last line.
pub fn postfix_unterminated_last_line_is_ended_with_data(adapter: &dyn Adapter) {
    unterminated_round_trip(adapter, false);
}

/// The same with BDAT.
pub fn postfix_unterminated_last_line_is_ended_with_bdat(adapter: &dyn Adapter) {
    unterminated_round_trip(adapter, true);
}

// ---------------------------------------------------------------------------------------------
// Postfix: several recipients, several messages

/// A real MTA's per-recipient answers in one transaction: two known mailboxes delivered, an
/// unknown one rejected with 550 5.1.1; the message stored for each known one.
pub fn postfix_unknown_recipient_is_rejected_and_the_others_delivered(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::None, &captured);
    let sent = content("bob@example.test", "\r\n", &PLAIN_BODY);
    let message = Message::new(
        envelope(
            &[
                "bob@example.test",
                "nobody@example.test",
                "alice@example.test",
            ],
            BodyType::SevenBit,
            false,
        ),
        sent.clone(),
    );
    let report = send(adapter, &relay, &message);
    let codes: Vec<Option<u16>> = report.recipients.iter().map(|r| code(&r.outcome)).collect();
    assert_eq!(codes, [Some(250), Some(550), Some(250)], "{report:#?}");
    assert!(
        matches!(
            &report.recipients[1].outcome,
            Outcome::Rejected(Failure::Reply(r)) if r.enhanced().map(|e| e.to_string()).as_deref() == Some("5.1.1")
        ),
        "{report:#?}"
    );
    for user in ["bob@example.test", "alice@example.test"] {
        assert_stored_intact(&postfix.wait_for_message(user, MAILDIR_WAIT), &sent);
    }
}

/// `send_all` to Postfix: messages pipelined over one connection (with DATA or BDAT), each
/// delivered and stored intact, in order.
fn send_all_round_trip(adapter: &dyn Adapter, chunking: bool) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut relay = relay(postfix.smtp_addr(), TlsMode::None, &captured);
    relay = relay.chunking(chunking);
    if !chunking {
        relay = relay.window(TransactionWindow::OFF);
    }
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let line = format!("message number {i}");
            content("bob@example.test", "\r\n", &[line.as_str(), ".", "end"])
        })
        .collect();
    let messages: Vec<Message<Vec<u8>>> = bodies
        .iter()
        .map(|b| {
            Message::new(
                envelope(&["bob@example.test"], BodyType::SevenBit, false),
                b.clone(),
            )
        })
        .collect();
    let reports = adapter
        .send_all(&relay, &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    for report in &reports {
        assert_delivered(report, &captured);
    }
    assert_eq!(captured.starting_with("connect").len(), 1);
    let stored = postfix.wait_for_messages("bob@example.test", 3, MAILDIR_WAIT);
    let mut stored: Vec<&[u8]> = stored.iter().map(|m| without_prepended_fields(m)).collect();
    // Maildir order is by time, which may tie: compare as sets.
    stored.sort();
    let mut expected: Vec<Vec<u8>> = bodies.iter().map(|b| as_stored_by_postfix(b)).collect();
    expected.sort();
    assert_eq!(
        stored,
        expected.iter().map(Vec::as_slice).collect::<Vec<_>>()
    );
}

/// `send_all` with DATA.
pub fn postfix_send_all_delivers_each_message_with_data(adapter: &dyn Adapter) {
    send_all_round_trip(adapter, false);
}

/// `send_all` with BDAT.
pub fn postfix_send_all_delivers_each_message_with_bdat(adapter: &dyn Adapter) {
    send_all_round_trip(adapter, true);
}

/// `send_all` with DATA (no streaming): a first message whose only recipient Postfix refuses
/// (so its pipelined DATA is refused too) does not spoil the next one on the same connection,
/// and its content is never sent.
pub fn postfix_send_all_recovers_after_a_message_without_valid_recipients(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::None, &captured).window(TransactionWindow::OFF);
    let sent = content("bob@example.test", "\r\n", &PLAIN_BODY);
    let messages = [
        Message::new(
            envelope(&["nobody@example.test"], BodyType::SevenBit, false),
            content("nobody@example.test", "\r\n", &["never stored"]),
        ),
        Message::new(
            envelope(&["bob@example.test"], BodyType::SevenBit, false),
            sent.clone(),
        ),
    ];
    let reports = adapter
        .send_all(&relay, &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let lines = captured.lines();
    assert_eq!(
        code(&reports[0].recipients[0].outcome),
        Some(550),
        "{reports:#?}\n{lines:#?}"
    );
    assert_delivered(&reports[1], &captured);
    assert_stored_intact(
        &postfix.wait_for_message("bob@example.test", MAILDIR_WAIT),
        &sent,
    );
    assert!(
        !lines.iter().any(|l| l == "body never stored"),
        "{lines:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Postfix: TLS

/// STARTTLS under `required`, the certificate verified against the test CA: EHLO again over
/// TLS, then the transaction; delivered with ESMTPS.
pub fn postfix_required_starttls_verified_by_the_test_ca_delivers(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions::default());
    let captured = Captured::default();
    let relay =
        relay(postfix.smtp_addr(), TlsMode::Required, &captured).ca_file(&postfix.pki().ca_cert);
    let sent = content("bob@example.test", "\r\n", &TRICKY_BODY);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        sent.clone(),
    );
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let lines = captured.lines();
    let tls = lines
        .iter()
        .position(|l| l == "tls verified=true")
        .unwrap_or_else(|| panic!("no verified TLS: {lines:#?}"));
    let starttls = lines.iter().position(|l| l == "-> STARTTLS");
    let mail = lines.iter().position(|l| l.starts_with("-> MAIL"));
    assert!(starttls < Some(tls) && Some(tls) < mail, "{lines:#?}");
    assert_eq!(captured.starting_with("-> EHLO").len(), 2, "{lines:#?}");
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    assert!(
        String::from_utf8_lossy(&stored).contains("with ESMTPS"),
        "{}",
        String::from_utf8_lossy(&stored)
    );
    assert_stored_intact(&stored, &sent);
}

/// `required` against a Postfix serving `served` (or its good certificate, when `None`) with
/// `trust` as the only extra CA: the handshake fails, the recipient is deferred with the TLS
/// reason, and no MAIL (nor anything else after STARTTLS) goes out.
fn required_tls_is_refused(adapter: &dyn Adapter, served: fn(&TestPki) -> CertPair, trust: bool) {
    let pki = TestPki::generate();
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        served_cert: Some(served(&pki)),
        pki: Some(pki),
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut relay = relay(postfix.smtp_addr(), TlsMode::Required, &captured);
    if trust {
        relay = relay.ca_file(&postfix.pki().ca_cert);
    }
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        content("bob@example.test", "\r\n", &TRICKY_BODY),
    );
    let report = send(adapter, &relay, &message);
    let lines = captured.lines();
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Deferred(_)),
        "{r:?}\n{lines:#?}"
    );
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    assert_eq!(r.addr, Some(postfix.smtp_addr()));
    assert!(lines.iter().any(|l| l == "-> STARTTLS"), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("tls failed")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("tls verified")),
        "{lines:#?}"
    );
    assert!(captured.starting_with("-> MAIL").is_empty(), "{lines:#?}");
    assert!(captured.starting_with("body").is_empty(), "{lines:#?}");
    assert!(postfix.messages("bob@example.test").is_empty());
}

/// No CA given: the test CA is not among the web PKI roots, so `required` refuses the server.
pub fn postfix_required_starttls_without_the_ca_sends_no_mail(adapter: &dyn Adapter) {
    required_tls_is_refused(adapter, |pki| pki.server.clone(), false);
}

/// A self-signed certificate under `required` (test CA trusted): refused, no MAIL.
pub fn postfix_required_starttls_refuses_a_self_signed_certificate(adapter: &dyn Adapter) {
    required_tls_is_refused(adapter, |pki| pki.self_signed.clone(), true);
}

/// A certificate from the test CA, but for another host: refused, no MAIL.
pub fn postfix_required_starttls_refuses_a_wrong_host_certificate(adapter: &dyn Adapter) {
    required_tls_is_refused(adapter, |pki| pki.wrong_host.clone(), true);
}

/// A certificate from the test CA that expired in 2020: refused, no MAIL.
pub fn postfix_required_starttls_refuses_an_expired_certificate(adapter: &dyn Adapter) {
    required_tls_is_refused(adapter, |pki| pki.expired.clone(), true);
}

/// A certificate from a CA nobody trusts: refused, no MAIL.
pub fn postfix_required_starttls_refuses_an_unknown_ca_certificate(adapter: &dyn Adapter) {
    required_tls_is_refused(adapter, |pki| pki.unknown_ca.clone(), true);
}

/// `required` to the relay named `localhost` (the certificate's DNS name, not its IP address):
/// verified for that name, delivered, and the report names the host as given.
pub fn postfix_required_starttls_verifies_the_host_name(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut relay = Relay::new("localhost", postfix.smtp_addr().port())
        .tls(TlsMode::Required)
        .ca_file(&postfix.pki().ca_cert)
        .transcript(captured.hook());
    relay = relay.connect_timeout(Duration::from_secs(5));
    relay = relay.timeouts(short_timeouts());
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        content("bob@example.test", "\r\n", &PLAIN_BODY),
    );
    let report = send(adapter, &relay, &message);
    assert_delivered(&report, &captured);
    let r = &report.recipients[0];
    assert_eq!(r.host.as_deref(), Some("localhost"));
    assert_eq!(r.addr, Some(postfix.smtp_addr()));
    assert!(
        captured.lines().iter().any(|l| l == "tls verified=true"),
        "{:#?}",
        captured.lines()
    );
    postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
}

/// Implicit TLS (RFC 8314) on Postfix's second listener: TLS verified before the greeting, no
/// STARTTLS, delivered.
pub fn postfix_implicit_tls_verified_delivers(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions::default());
    let captured = Captured::default();
    let relay =
        relay(postfix.smtps_addr(), TlsMode::Implicit, &captured).ca_file(&postfix.pki().ca_cert);
    let sent = content("bob@example.test", "\r\n", &TRICKY_BODY);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        sent.clone(),
    );
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let lines = captured.lines();
    let tls = lines.iter().position(|l| l == "tls verified=true");
    let greeting = lines.iter().position(|l| l.starts_with("<- 220"));
    assert!(
        tls.is_some() && tls < greeting,
        "TLS before the greeting: {lines:#?}"
    );
    assert!(
        captured.starting_with("-> STARTTLS").is_empty(),
        "{lines:#?}"
    );
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    assert_stored_intact(&stored, &sent);
}

/// Implicit TLS to a listener serving an expired certificate: refused before any SMTP at all.
pub fn postfix_implicit_tls_refuses_an_expired_certificate(adapter: &dyn Adapter) {
    let pki = TestPki::generate();
    let postfix = Postfix::start(PostfixOptions {
        served_cert: Some(pki.expired.clone()),
        pki: Some(pki),
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay =
        relay(postfix.smtps_addr(), TlsMode::Implicit, &captured).ca_file(&postfix.pki().ca_cert);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        content("bob@example.test", "\r\n", &PLAIN_BODY),
    );
    let report = send(adapter, &relay, &message);
    let lines = captured.lines();
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Deferred(_)),
        "{r:?}\n{lines:#?}"
    );
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("tls failed")),
        "{lines:#?}"
    );
    assert!(captured.starting_with("->").is_empty(), "{lines:#?}");
    assert!(captured.starting_with("<-").is_empty(), "{lines:#?}");
}

/// `opportunistic` against a self-signed certificate: encrypted, unverified, delivered.
pub fn postfix_opportunistic_starttls_accepts_a_self_signed_certificate(adapter: &dyn Adapter) {
    let pki = TestPki::generate();
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        served_cert: Some(pki.self_signed.clone()),
        pki: Some(pki),
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::Opportunistic, &captured);
    let sent = content("bob@example.test", "\r\n", &PLAIN_BODY);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        sent.clone(),
    );
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let lines = captured.lines();
    assert!(
        lines.iter().any(|l| l == "tls verified=false"),
        "{lines:#?}"
    );
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    assert!(String::from_utf8_lossy(&stored).contains("with ESMTPS"));
    assert_stored_intact(&stored, &sent);
}

/// `opportunistic` against a Postfix whose TLS cannot be negotiated (it allows only TLS 1.0 and
/// 1.1, which rustls does not speak): the handshake fails, and the message goes in plaintext on
/// a second connection, without STARTTLS.
pub fn postfix_opportunistic_handshake_failure_falls_back_to_plaintext(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        main_cf: vec![("smtpd_tls_protocols".into(), ">=TLSv1 <=TLSv1.1".into())],
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::Opportunistic, &captured);
    let sent = content("bob@example.test", "\r\n", &PLAIN_BODY);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        sent.clone(),
    );
    let report = send(adapter, &relay, &message);
    let lines = captured.lines();
    assert!(
        report.all_delivered(),
        "{report:#?}\n{lines:#?}\n{}",
        postfix.log()
    );
    assert!(
        lines.iter().any(|l| l.starts_with("tls failed")),
        "{lines:#?}"
    );
    assert_eq!(captured.starting_with("connect").len(), 2, "{lines:#?}");
    assert_eq!(captured.starting_with("-> STARTTLS").len(), 1, "{lines:#?}");
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    assert!(!String::from_utf8_lossy(&stored).contains("with ESMTPS"));
    assert_stored_intact(&stored, &sent);
}

// ---------------------------------------------------------------------------------------------
// Postfix: SIZE, SMTPUTF8, CHUNKING, DSN

/// SIZE= in MAIL gives the message's size, and Postfix accepts it.
pub fn postfix_size_is_declared_in_mail(adapter: &dyn Adapter) {
    let sent = content("bob@example.test", "\r\n", &TRICKY_BODY);
    let (_postfix, stored, captured) = postfix_round_trip(adapter, sent.clone(), |_| {});
    let mail = sent_line(&captured, "-> MAIL");
    assert!(
        mail.contains(&format!(" SIZE={}", sent.len())),
        "{mail} (message of {} octets)",
        sent.len()
    );
    let lines = captured.lines();
    let reply = lines
        .iter()
        .skip_while(|l| !l.starts_with("-> MAIL"))
        .find(|l| l.starts_with("<- "));
    assert!(reply.is_some_and(|r| r.starts_with("<- 250")), "{lines:#?}");
    assert_stored_intact(&stored, &sent);
}

/// Postfix with `message_size_limit = 1000` announces SIZE 1000; a larger message is refused
/// locally with `TooLarge`, before MAIL: no MAIL, no DATA, no content on the wire.
pub fn postfix_message_over_size_limit_is_refused_before_sending(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        main_cf: vec![("message_size_limit".into(), "1000".into())],
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::None, &captured);
    let filler: Vec<String> = (0..40)
        .map(|i| format!("filler line {i:04} ........................."))
        .collect();
    let filler: Vec<&str> = filler.iter().map(String::as_str).collect();
    let sent = content("bob@example.test", "\r\n", &filler);
    assert!(sent.len() > 1000);
    let message = Message::new(
        envelope(&["bob@example.test"], BodyType::SevenBit, false),
        sent.clone(),
    );
    let report = send(adapter, &relay, &message);
    let lines = captured.lines();
    assert!(lines.iter().any(|l| l == "<- 250-SIZE 1000"), "{lines:#?}");
    let r = &report.recipients[0];
    match &r.outcome {
        Outcome::Rejected(Failure::TooLarge { size, limit }) => {
            assert_eq!((*size, *limit), (sent.len() as u64, 1000), "{r:?}");
        }
        other => panic!("expected Rejected(TooLarge), got {other:?}\n{lines:#?}"),
    }
    for refused in ["-> MAIL", "-> RCPT", "-> DATA", "-> BDAT", "body"] {
        assert!(
            captured.starting_with(refused).is_empty(),
            "{refused}: {lines:#?}"
        );
    }
}

/// jörg@example.test: MAIL declares SMTPUTF8, Postfix delivers into his Maildir, UTF-8
/// headers intact.
pub fn postfix_smtputf8_recipient_is_delivered_to_his_maildir(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::None, &captured);
    let sent = content(
        "Jörg <jörg@example.test>",
        "\r\n",
        &["Grüße aus Köln.", ".Zeile mit Punkt", "Ende"],
    );
    let message = Message::new(
        envelope(&["jörg@example.test"], BodyType::EightBitMime, true),
        sent.clone(),
    );
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let mail = sent_line(&captured, "-> MAIL");
    assert!(mail.contains(" SMTPUTF8"), "{mail}");
    assert!(mail.contains(" BODY=8BITMIME"), "{mail}");
    assert_eq!(
        sent_line(&captured, "-> RCPT"),
        "-> RCPT TO:<jörg@example.test>"
    );
    let stored = postfix.wait_for_message("jörg@example.test", MAILDIR_WAIT);
    assert_stored_intact(&stored, &sent);
}

/// With `chunking`, the message goes in BDAT chunks (no DATA, no dot-stuffing) and arrives
/// intact, leading dots and LF-only input included.
pub fn postfix_chunking_sends_bdat_and_the_message_arrives_intact(adapter: &dyn Adapter) {
    let sent = content("bob@example.test", "\n", &TRICKY_BODY);
    let (_postfix, stored, captured) = postfix_round_trip(adapter, sent.clone(), |relay| {
        *relay = relay.clone().chunking(true);
    });
    let lines = captured.lines();
    let bdat = captured.starting_with("-> BDAT");
    assert!(!bdat.is_empty(), "{lines:#?}");
    assert!(
        bdat.last().is_some_and(|l| l.ends_with(" LAST")),
        "{bdat:#?}"
    );
    assert!(captured.starting_with("-> DATA").is_empty(), "{lines:#?}");
    // BDAT carries the content as it is: no dot-stuffing.
    let body = captured.starting_with("body");
    assert!(
        body.iter().any(|l| l == "body .a line with a leading dot"),
        "{body:#?}"
    );
    // The chunk sizes add up to the content with CRLF line ends.
    let declared: u64 = bdat
        .iter()
        .filter_map(|l| l.split(' ').nth(2)?.parse::<u64>().ok())
        .sum();
    let crlf_len = sent.len() + sent.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(declared, crlf_len as u64, "{bdat:#?}");
    assert_stored_intact(&stored, &sent);
}

/// DSN: RET and ENVID on MAIL, NOTIFY on RCPT; Postfix accepts them and honours them: the
/// success notice it sends back to the sender carries the ENVID and, with RET=HDRS, the
/// headers only.
pub fn postfix_dsn_parameters_are_sent_and_honoured(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        mailboxes: vec!["bob@example.test".into(), "alice@example.org".into()],
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::None, &captured);
    let mut envelope = envelope(&["bob@example.test"], BodyType::SevenBit, false);
    envelope.dsn = DsnOptions {
        ret: Some(Ret::Headers),
        envid: Some("mxsend-envid-42".into()),
        notify: Some(Notify::On {
            success: true,
            failure: true,
            delay: false,
        }),
    };
    let sent = content(
        "bob@example.test",
        "\r\n",
        &["a body line the notice must not quote"],
    );
    let message = Message::new(envelope, sent.clone());
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let mail = sent_line(&captured, "-> MAIL");
    assert!(mail.contains(" RET=HDRS"), "{mail}");
    assert!(mail.contains(" ENVID=mxsend-envid-42"), "{mail}");
    let rcpt = sent_line(&captured, "-> RCPT");
    assert!(rcpt.contains(" NOTIFY=SUCCESS,FAILURE"), "{rcpt}");
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    assert_stored_intact(&stored, &sent);
    // NOTIFY=SUCCESS: Postfix sends alice@example.org a delivery notice.
    let notice = postfix.wait_for_message("alice@example.org", MAILDIR_WAIT);
    let notice = String::from_utf8_lossy(&notice);
    assert!(
        notice.contains("Original-Envelope-Id: mxsend-envid-42"),
        "{notice}"
    );
    assert!(notice.contains("text/rfc822-headers"), "RET=HDRS: {notice}");
    assert!(notice.contains("Subject: end-to-end"), "{notice}");
    assert!(
        !notice.contains("a body line the notice must not quote"),
        "RET=HDRS: {notice}"
    );
}

// ---------------------------------------------------------------------------------------------
// aiosmtpd: AUTH

fn aiosmtpd_message(rcpts: &[&str]) -> Message<Vec<u8>> {
    Message::new(
        envelope(rcpts, BodyType::SevenBit, false),
        content("someone@x.test", "\r\n", &TRICKY_BODY),
    )
}

/// Every form in which the password could leak into a transcript.
fn secret_forms() -> Vec<String> {
    let b64 = |data: &[u8]| {
        let mut out = Vec::new();
        base64::encode(data, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    vec![
        AUTH_PASSWORD.to_string(),
        b64(AUTH_PASSWORD.as_bytes()),
        b64(AUTH_USER.as_bytes()),
        b64(format!("\0{AUTH_USER}\0{AUTH_PASSWORD}").as_bytes()),
    ]
}

fn assert_no_secret(captured: &Captured) {
    let lines = captured.lines();
    for secret in secret_forms() {
        assert!(
            !lines.iter().any(|l| l.contains(&secret)),
            "{secret:?} in {lines:#?}"
        );
    }
}

/// AUTH after STARTTLS (verified against the test CA) with `options` for the server; returns
/// the report, the transcript and the server.
fn auth_after_starttls(
    adapter: &dyn Adapter,
    options: AiosmtpdOptions,
    password: &str,
) -> (Report, Captured, Aiosmtpd) {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            starttls: true,
            ..options
        }
        .with_auth(),
    );
    let captured = Captured::default();
    let ca = server.pki().map(|p| p.ca_cert.clone()).expect("a PKI");
    let relay = relay(server.addr(), TlsMode::Required, &captured)
        .ca_file(ca)
        .credentials(AUTH_USER, password);
    let report = send(adapter, &relay, &aiosmtpd_message(&["ok@x.test"]));
    (report, captured, server)
}

/// AUTH PLAIN after STARTTLS: authenticated as the user, the initial response redacted, the
/// secret absent from the transcript in every form.
pub fn aiosmtpd_auth_plain_after_starttls(adapter: &dyn Adapter) {
    let (report, captured, server) =
        auth_after_starttls(adapter, AiosmtpdOptions::default(), AUTH_PASSWORD);
    assert_delivered(&report, &captured);
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    assert!(envelopes[0].tls);
    let lines = captured.lines();
    assert_eq!(
        captured.starting_with("-> AUTH"),
        ["-> AUTH PLAIN [redacted]"],
        "{lines:#?}"
    );
    let tls = lines.iter().position(|l| l == "tls verified=true");
    let auth = lines.iter().position(|l| l.starts_with("-> AUTH"));
    assert!(
        tls.is_some() && tls < auth,
        "AUTH only after TLS: {lines:#?}"
    );
    assert_no_secret(&captured);
}

/// AUTH LOGIN (the server offers nothing else): both answers to 334 redacted, authenticated.
pub fn aiosmtpd_auth_login_after_starttls(adapter: &dyn Adapter) {
    let options = AiosmtpdOptions {
        auth_exclude: vec!["PLAIN".into()],
        ..AiosmtpdOptions::default()
    };
    let (report, captured, server) = auth_after_starttls(adapter, options, AUTH_PASSWORD);
    assert_delivered(&report, &captured);
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    let lines = captured.lines();
    assert_eq!(
        captured.starting_with("-> AUTH"),
        ["-> AUTH LOGIN"],
        "{lines:#?}"
    );
    assert_eq!(
        captured.starting_with("-> [redacted]").len(),
        2,
        "user name and password redacted: {lines:#?}"
    );
    assert_no_secret(&captured);
}

/// AUTH PLAIN over implicit TLS (RFC 8314): no STARTTLS, authenticated, redacted.
pub fn aiosmtpd_auth_over_implicit_tls(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            implicit_tls: true,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let captured = Captured::default();
    let ca = server.pki().map(|p| p.ca_cert.clone()).expect("a PKI");
    let relay = relay(server.addr(), TlsMode::Implicit, &captured)
        .ca_file(ca)
        .credentials(AUTH_USER, AUTH_PASSWORD);
    let report = send(adapter, &relay, &aiosmtpd_message(&["ok@x.test"]));
    assert_delivered(&report, &captured);
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    assert!(envelopes[0].tls);
    assert!(captured.starting_with("-> STARTTLS").is_empty());
    assert_eq!(
        captured.starting_with("-> AUTH"),
        ["-> AUTH PLAIN [redacted]"]
    );
    assert_no_secret(&captured);
}

/// `send_all` with credentials: one AUTH for the connection, every message sent as the user.
pub fn aiosmtpd_send_all_authenticates_once(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            starttls: true,
            auth_required: true,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let captured = Captured::default();
    let ca = server.pki().map(|p| p.ca_cert.clone()).expect("a PKI");
    let relay = relay(server.addr(), TlsMode::Required, &captured)
        .ca_file(ca)
        .credentials(AUTH_USER, AUTH_PASSWORD);
    let messages: Vec<_> = (0..3)
        .map(|i| aiosmtpd_message(&[&format!("user{i}@x.test")]))
        .collect();
    let reports = adapter
        .send_all(&relay, &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    for report in &reports {
        assert_delivered(report, &captured);
    }
    assert_eq!(captured.starting_with("-> AUTH").len(), 1);
    let envelopes = server.wait_for_envelopes(3, MAILDIR_WAIT);
    for (i, e) in envelopes.iter().enumerate() {
        assert_eq!(e.auth_user.as_deref(), Some(AUTH_USER));
        assert_eq!(e.rcpt_tos, [format!("user{i}@x.test")]);
    }
    assert_no_secret(&captured);
}

/// A server that requires AUTH, a client without credentials: MAIL refused with 530, every
/// recipient rejected with that reply, nothing stored.
pub fn aiosmtpd_mail_without_auth_is_refused_with_530(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            starttls: true,
            auth_required: true,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let captured = Captured::default();
    let ca = server.pki().map(|p| p.ca_cert.clone()).expect("a PKI");
    let relay = relay(server.addr(), TlsMode::Required, &captured).ca_file(ca);
    let report = send(
        adapter,
        &relay,
        &aiosmtpd_message(&["a@x.test", "b@x.test"]),
    );
    assert_all(
        &report,
        "rejection by MAIL's 530",
        |o| matches!(o, Outcome::Rejected(Failure::SenderRefused(r)) if r.code().get() == 530),
    );
    assert!(
        captured.starting_with("body").is_empty(),
        "{:#?}",
        captured.lines()
    );
    assert!(server.messages().is_empty());
}

/// A wrong password: 535 at once, reported as `AuthFailed(535)` (not a timeout), no MAIL, and
/// the wrong password not in the transcript either.
pub fn aiosmtpd_wrong_password_fails_with_535_quickly(adapter: &dyn Adapter) {
    let wrong = "not the password";
    let started = Instant::now();
    let (report, captured, server) =
        auth_after_starttls(adapter, AiosmtpdOptions::default(), wrong);
    let took = started.elapsed();
    let lines = captured.lines();
    let r = &report.recipients[0];
    match &r.outcome {
        Outcome::Rejected(Failure::Session(SessionError::AuthFailed(reply))) => {
            assert_eq!(reply.code().get(), 535, "{r:?}");
        }
        other => panic!("expected AuthFailed(535), got {other:?}\n{lines:#?}"),
    }
    assert!(took < REPLY_DEADLINE / 2, "took {took:?}: a timeout?");
    assert!(captured.starting_with("-> MAIL").is_empty(), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains(wrong)), "{lines:#?}");
    assert!(server.envelopes().is_empty());
}

/// The server offers AUTH without TLS, the client has no allow flag: no AUTH, no MAIL, no
/// credentials on the wire.
pub fn aiosmtpd_plaintext_auth_is_refused_without_the_allow_flag(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            auth_require_tls: false,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let captured = Captured::default();
    let relay =
        relay(server.addr(), TlsMode::None, &captured).credentials(AUTH_USER, AUTH_PASSWORD);
    let report = send(adapter, &relay, &aiosmtpd_message(&["ok@x.test"]));
    let lines = captured.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("<- 250-AUTH")),
        "the server offers AUTH in plaintext: {lines:#?}"
    );
    assert_all(&report, "rejection for AUTH without TLS", |o| {
        matches!(
            o,
            Outcome::Rejected(Failure::Session(SessionError::AuthRequiresTls))
        )
    });
    assert!(captured.starting_with("-> AUTH").is_empty(), "{lines:#?}");
    assert!(captured.starting_with("-> MAIL").is_empty(), "{lines:#?}");
    assert_no_secret(&captured);
    assert!(server.envelopes().is_empty());
}

/// The same server, with the allow flag: AUTH over plaintext works (and is still redacted).
pub fn aiosmtpd_plaintext_auth_with_the_allow_flag_authenticates(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            auth_require_tls: false,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let captured = Captured::default();
    let mut relay =
        relay(server.addr(), TlsMode::None, &captured).credentials(AUTH_USER, AUTH_PASSWORD);
    relay = relay.allow_plaintext_auth(true);
    let report = send(adapter, &relay, &aiosmtpd_message(&["ok@x.test"]));
    assert_delivered(&report, &captured);
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    assert!(!envelopes[0].tls);
    assert_no_secret(&captured);
}

// ---------------------------------------------------------------------------------------------
// aiosmtpd: per-recipient results, DATA refusal, envelope parameters

/// One message, four recipients: accepted, 550, 451, accepted; each gets its own outcome, and
/// the message is stored once, for the two accepted, as sent.
pub fn aiosmtpd_per_recipient_results_in_one_message(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let captured = Captured::default();
    let relay = relay(server.addr(), TlsMode::None, &captured);
    let rcpts = [
        "ok1@x.test",
        "reject1@x.test",
        "defer1@x.test",
        "ok2@x.test",
    ];
    let message = aiosmtpd_message(&rcpts);
    let report = send(adapter, &relay, &message);
    let got: Vec<(String, &str, Option<u16>)> = report
        .recipients
        .iter()
        .map(|r| {
            let kind = match r.outcome {
                Outcome::Delivered(_) => "delivered",
                Outcome::Rejected(_) => "rejected",
                Outcome::Deferred(_) => "deferred",
                Outcome::Ambiguous(_) => "ambiguous",
            };
            (r.mailbox.to_string(), kind, code(&r.outcome))
        })
        .collect();
    let expected: Vec<(String, &str, Option<u16>)> = vec![
        ("ok1@x.test".into(), "delivered", Some(250)),
        ("reject1@x.test".into(), "rejected", Some(550)),
        ("defer1@x.test".into(), "deferred", Some(451)),
        ("ok2@x.test".into(), "delivered", Some(250)),
    ];
    assert_eq!(got, expected, "{:#?}", captured.lines());
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    assert_eq!(envelopes[0].rcpt_tos, ["ok1@x.test", "ok2@x.test"]);
    let attempts: Vec<&str> = envelopes[0]
        .rcpts
        .iter()
        .map(|a| a.address.as_str())
        .collect();
    assert_eq!(attempts, rcpts);
    let stored = server.wait_for_messages(1, MAILDIR_WAIT);
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0] == message.body,
        "stored:\n{}",
        String::from_utf8_lossy(&stored[0])
    );
}

/// `datareject*` among the recipients: DATA's 554 rejects every accepted recipient, nothing is
/// stored.
pub fn aiosmtpd_data_554_rejects_every_recipient(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let captured = Captured::default();
    let relay = relay(server.addr(), TlsMode::None, &captured);
    let report = send(
        adapter,
        &relay,
        &aiosmtpd_message(&["ok@x.test", "datareject1@x.test"]),
    );
    assert_all(
        &report,
        "rejection by DATA's 554",
        |o| matches!(o, Outcome::Rejected(Failure::Reply(r)) if r.code().get() == 554),
    );
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    assert!(envelopes[0].data_reply.starts_with("554"), "{envelopes:?}");
    assert!(server.messages().is_empty());
}

/// The envelope log shows SIZE= (the exact size) and BODY=8BITMIME for an 8-bit message to a
/// server announcing SIZE; the stored size matches.
pub fn aiosmtpd_envelope_shows_size_and_body_parameters(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(AiosmtpdOptions {
        size: Some(100_000),
        ..AiosmtpdOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(server.addr(), TlsMode::None, &captured);
    let body = content("ok@x.test", "\r\n", &["Grüße, 8-bit.", "Ende"]);
    let message = Message::new(
        envelope(&["ok@x.test"], BodyType::EightBitMime, false),
        body.clone(),
    );
    assert_delivered(&send(adapter, &relay, &message), &captured);
    let envelopes = server.wait_for_envelopes(1, MAILDIR_WAIT);
    let options = &envelopes[0].mail_options;
    assert!(
        options.contains(&format!("SIZE={}", body.len())),
        "{options:?}"
    );
    assert!(
        options.contains(&"BODY=8BITMIME".to_string()),
        "{options:?}"
    );
    assert_eq!(envelopes[0].size, body.len() as u64);
    assert_eq!(envelopes[0].mail_from, "alice@example.org");
}

// ---------------------------------------------------------------------------------------------
// MX delivery to a real Postfix

/// mta.test's MX is mx.mta.test (127.0.0.81 in tests/peers/dnsmasq.conf), where a Postfix
/// listens: delivered into its Maildir (opportunistic STARTTLS, unverified), the report naming
/// the exchange and its address.
pub fn mx_delivers_to_postfix_at_the_exchange(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let ip = v4(81);
    let smtp = SocketAddr::new(ip, free_port(ip));
    let postfix = Postfix::start(PostfixOptions {
        smtp: Some(smtp),
        implicit_tls: false,
        mailboxes: vec!["carol@mta.test".into()],
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut mx = mx_delivery(&dns, smtp.port(), &captured);
    mx = mx.timeouts(short_timeouts());
    let sent = content("carol@mta.test", "\r\n", &TRICKY_BODY);
    let message = Message::new(
        envelope(&["carol@mta.test"], BodyType::SevenBit, false),
        sent.clone(),
    );
    let report = adapter
        .deliver(&mx, &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{:#?}",
        captured.lines()
    );
    assert_eq!(r.host.as_deref(), Some("mx.mta.test"));
    assert_eq!(r.addr, Some(smtp));
    assert_eq!(
        captured.starting_with("connect"),
        [format!("connect mx.mta.test {smtp}")]
    );
    assert!(
        captured.lines().iter().any(|l| l == "tls verified=false"),
        "{:#?}",
        captured.lines()
    );
    let stored = postfix.wait_for_message("carol@mta.test", MAILDIR_WAIT);
    assert_stored_intact(&stored, &sent);
}

/// leser@bücher.test: the IDN domain's MX (mx.xn--bcher-kva.test, 127.0.0.71) is a Postfix with
/// SMTPUTF8 and the mailbox: delivered with SMTPUTF8, stored intact.
pub fn mx_delivers_to_an_idn_domain_with_smtputf8(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let ip = v4(71);
    let smtp = SocketAddr::new(ip, free_port(ip));
    let postfix = Postfix::start(PostfixOptions {
        smtp: Some(smtp),
        implicit_tls: false,
        mailboxes: vec!["jörg@bücher.test".into()],
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut mx = mx_delivery(&dns, smtp.port(), &captured);
    mx = mx.timeouts(short_timeouts());
    let sent = content("jörg@bücher.test", "\r\n", &PLAIN_BODY);
    let message = Message::new(
        envelope(&["jörg@bücher.test"], BodyType::EightBitMime, true),
        sent.clone(),
    );
    let report = adapter
        .deliver(&mx, &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let lines = captured.lines();
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{lines:#?}\n{}",
        postfix.log()
    );
    assert_eq!(r.host.as_deref(), Some("mx.xn--bcher-kva.test"));
    assert_eq!(r.addr, Some(smtp));
    assert!(
        sent_line(&captured, "-> MAIL").contains(" SMTPUTF8"),
        "{lines:#?}"
    );
    let stored = postfix.wait_for_message("jörg@bücher.test", MAILDIR_WAIT);
    assert_stored_intact(&stored, &sent);
}
