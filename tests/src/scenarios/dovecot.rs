//! The scenarios against a private Dovecot: LMTP (RFC 2033) on its Unix socket and on TCP, each
//! recipient settled by its own reply after the end of data and the mailboxes read back; and
//! SCRAM-SHA-256 (RFC 7677) against a private Postfix whose SASL is that Dovecot's auth service
//! (`smtpd_sasl_type = dovecot`), after STARTTLS verified by the test CA.
//!
//! The mixed batch: `alice` and `bob` exist, `nobody` does not (550 5.1.1 at RCPT), and `full`
//! exists but its quota is exhausted (552 5.2.2 at the end of data, for `full` alone: the
//! reply only LMTP can give).

use std::time::Duration;

use mxsend::protocol::session::{Failure, Outcome, SessionError};
use mxsend::{Message, Relay, Report, TlsMode};

use super::real::{short_timeouts, MAILDIR_WAIT};
use super::{message_with_body, Adapter, Captured};
use crate::dovecot::{Dovecot, DovecotOptions};
use crate::postfix::{Postfix, PostfixOptions};

/// The batch, in envelope order.
const BATCH: [&str; 4] = [
    "alice@example.test",
    "nobody@example.test",
    "full@example.test",
    "bob@example.test",
];

fn body(tag: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: the team\r\nSubject: {tag}\r\n\r\nThe body of {tag}.\r\n.a leading dot\r\n"
    )
    .into_bytes()
}

fn with_short_deadlines(mut relay: Relay, captured: &Captured) -> Relay {
    relay = relay.connect_timeout(Duration::from_secs(5));
    relay = relay.timeouts(short_timeouts());
    relay.transcript(captured.hook())
}

fn lmtp_over_unix(dovecot: &Dovecot, captured: &Captured) -> Relay {
    let host = format!("unix:{}", dovecot.lmtp_socket().display());
    with_short_deadlines(Relay::new(host, 0).lmtp(true), captured)
}

fn lmtp_over_tcp(dovecot: &Dovecot, captured: &Captured) -> Relay {
    let addr = dovecot.lmtp_addr();
    let relay = Relay::new(addr.ip().to_string(), addr.port())
        .tls(TlsMode::None)
        .lmtp(true);
    with_short_deadlines(relay, captured)
}

/// The reply behind an outcome: its code and text.
fn reply_of(outcome: &Outcome) -> Option<(u16, String)> {
    match outcome {
        Outcome::Delivered(r)
        | Outcome::Rejected(Failure::Reply(r))
        | Outcome::Deferred(Failure::Reply(r))
        | Outcome::Ambiguous(Failure::Reply(r)) => Some((r.code().get(), r.text().to_string())),
        _ => None,
    }
}

/// The mixed batch's outcomes: alice and bob delivered each with the reply that names them,
/// nobody rejected at RCPT, full rejected at the end of data with its own quota reply.
fn assert_batch(adapter: &dyn Adapter, report: &Report, captured: &Captured) {
    let name = adapter.name();
    let got: Vec<(String, Option<(u16, String)>)> = report
        .recipients
        .iter()
        .map(|r| (r.mailbox.to_string(), reply_of(&r.outcome)))
        .collect();
    let context = || format!("{name}: {got:#?}\n{:#?}", captured.lines());
    assert_eq!(got.len(), BATCH.len(), "{}", context());
    for (recipient, reply) in &got {
        let (code, text) = reply.clone().unwrap_or_else(|| panic!("{}", context()));
        let (want_code, want_text) = match recipient.as_str() {
            "nobody@example.test" => (550, "User doesn't exist"),
            "full@example.test" => (552, "Quota exceeded"),
            _ => (250, "Saved"),
        };
        assert_eq!(code, want_code, "{recipient}: {}", context());
        assert!(text.contains(want_text), "{recipient}: {}", context());
        // Each reply after the data names its own recipient: matched in RCPT order.
        if recipient != "nobody@example.test" {
            assert!(
                text.contains(&format!("<{recipient}>")),
                "{recipient}: {}",
                context()
            );
        }
    }
    assert!(matches!(
        report.recipients[0].outcome,
        Outcome::Delivered(_)
    ));
    assert!(matches!(report.recipients[2].outcome, Outcome::Rejected(_)));
    assert!(
        captured.starting_with("-> LHLO ").len() == 1
            && captured.starting_with("-> EHLO").is_empty(),
        "{}",
        context()
    );
}

/// The message as Dovecot stored it: its own trace fields (Return-Path, Received) on top of
/// exactly what was sent, dot-unstuffed, in the Maildir's LF line ends.
fn assert_stored(stored: &[u8], sent: &[u8]) {
    let text = String::from_utf8_lossy(stored);
    let original = String::from_utf8_lossy(sent).replace("\r\n", "\n");
    assert!(
        text.ends_with(original.as_str()) && text.starts_with("Return-Path: <alice@example.org>\n"),
        "stored message differs from the one sent\n--- stored\n{text}\n--- sent\n{original}"
    );
}

fn assert_mailboxes(dovecot: &Dovecot, sent: &[u8]) {
    for user in ["alice@example.test", "bob@example.test"] {
        let messages = dovecot.wait_for_messages(user, 1, MAILDIR_WAIT);
        assert_eq!(messages.len(), 1, "{user}");
        assert_stored(&messages[0], sent);
    }
    assert!(dovecot.messages("full@example.test").is_empty());
}

/// Send the mixed batch with this body through `relay`.
fn send_batch(adapter: &dyn Adapter, relay: &Relay, sent: &[u8]) -> Report {
    adapter
        .send(relay, &message_with_body(&BATCH, sent.to_vec()))
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()))
}

/// LMTP on Dovecot's Unix socket: LHLO, then one reply per accepted recipient; the mixed batch
/// settles each recipient by its own reply and the mailboxes hold what was delivered.
pub fn dovecot_lmtp_over_a_unix_socket_settles_each_recipient(adapter: &dyn Adapter) {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let captured = Captured::default();
    let sent = body("lmtp over a unix socket");
    let report = send_batch(adapter, &lmtp_over_unix(&dovecot, &captured), &sent);
    assert_batch(adapter, &report, &captured);
    let host = format!("unix:{}", dovecot.lmtp_socket().display());
    assert_eq!(report.recipients[0].host.as_deref(), Some(host.as_str()));
    assert_eq!(
        report.recipients[0].addr, None,
        "no TCP address for a Unix socket"
    );
    assert_mailboxes(&dovecot, &sent);
}

/// LMTP over TCP: the same batch, the same per-recipient outcomes.
pub fn dovecot_lmtp_over_tcp_settles_each_recipient(adapter: &dyn Adapter) {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let captured = Captured::default();
    let sent = body("lmtp over tcp");
    let report = send_batch(adapter, &lmtp_over_tcp(&dovecot, &captured), &sent);
    assert_batch(adapter, &report, &captured);
    assert_eq!(report.recipients[0].addr, Some(dovecot.lmtp_addr()));
    assert_mailboxes(&dovecot, &sent);
}

/// LMTP with BDAT (Dovecot offers CHUNKING): BDAT LAST is answered once per recipient.
pub fn dovecot_lmtp_with_bdat_settles_each_recipient(adapter: &dyn Adapter) {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let captured = Captured::default();
    let mut relay = lmtp_over_tcp(&dovecot, &captured);
    relay = relay.chunking(true);
    let sent = body("lmtp with bdat");
    let report = send_batch(adapter, &relay, &sent);
    assert_batch(adapter, &report, &captured);
    assert!(
        captured
            .starting_with("-> BDAT")
            .iter()
            .any(|l| l.ends_with(" LAST")),
        "{:#?}",
        captured.lines()
    );
    assert_mailboxes(&dovecot, &sent);
}

/// Several messages pipelined over one LMTP connection: every per-recipient reply is matched
/// to its own message and recipient.
pub fn dovecot_lmtp_send_all_matches_replies_across_pipelined_messages(adapter: &dyn Adapter) {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let captured = Captured::default();
    let first = body("first");
    let second = body("second");
    let messages: Vec<Message<Vec<u8>>> = vec![
        message_with_body(&BATCH, first.clone()),
        message_with_body(&["bob@example.test", "full@example.test"], second.clone()),
    ];
    let reports = adapter
        .send_all(&lmtp_over_unix(&dovecot, &captured), &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert_eq!(reports.len(), 2);
    assert_batch(adapter, &reports[0], &captured);
    let second_replies: Vec<Option<(u16, String)>> = reports[1]
        .recipients
        .iter()
        .map(|r| reply_of(&r.outcome))
        .collect();
    assert!(
        matches!(&second_replies[..], [Some((250, bob)), Some((552, full))]
            if bob.contains("<bob@example.test>") && full.contains("<full@example.test>")),
        "{second_replies:#?}"
    );
    assert_eq!(captured.starting_with("-> LHLO").len(), 1, "one connection");
    let bob = dovecot.wait_for_messages("bob@example.test", 2, MAILDIR_WAIT);
    let stored: Vec<String> = bob
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(
        stored.iter().any(|m| m.contains("Subject: first")),
        "{stored:#?}"
    );
    assert!(
        stored.iter().any(|m| m.contains("Subject: second")),
        "{stored:#?}"
    );
    assert_eq!(dovecot.messages("alice@example.test").len(), 1);
}

/// A Postfix whose SASL is `dovecot`'s auth service (PLAIN and SCRAM-SHA-256), AUTH only after
/// STARTTLS, and an `Authenticated sender` note in each message's Received field.
fn postfix_with_dovecot_sasl(dovecot: &Dovecot) -> Postfix {
    let set = |name: &str, value: &str| (name.to_string(), value.to_string());
    Postfix::start(PostfixOptions {
        implicit_tls: false,
        main_cf: vec![
            set("smtpd_sasl_auth_enable", "yes"),
            set("smtpd_sasl_type", "dovecot"),
            set(
                "smtpd_sasl_path",
                &dovecot.auth_socket().display().to_string(),
            ),
            set("smtpd_tls_auth_only", "yes"),
            set("smtpd_sasl_authenticated_header", "yes"),
        ],
        ..PostfixOptions::default()
    })
}

fn scram_relay(postfix: &Postfix, password: &str, captured: &Captured) -> Relay {
    let addr = postfix.smtp_addr();
    let relay = Relay::new(addr.ip().to_string(), addr.port())
        .tls(TlsMode::Required)
        .ca_file(&postfix.pki().ca_cert)
        .credentials("alice@example.test", password);
    with_short_deadlines(relay, captured)
}

/// SCRAM-SHA-256 against Postfix with Dovecot SASL: chosen over PLAIN, the server's signature
/// verified, the message delivered as the authenticated user.
pub fn postfix_dovecot_scram_sha256_is_preferred_and_delivers(adapter: &dyn Adapter) {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let postfix = postfix_with_dovecot_sasl(&dovecot);
    let captured = Captured::default();
    let sent = body("scram");
    let report = adapter
        .send(
            &scram_relay(&postfix, "alice-password", &captured),
            &message_with_body(&["bob@example.test"], sent),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let lines = captured.lines();
    assert!(
        report.all_delivered(),
        "{report:#?}\n{lines:#?}\n{}",
        postfix.log()
    );
    let offered = lines
        .iter()
        .find(|l| l.starts_with("<- 250") && l.contains("AUTH "))
        .unwrap_or_else(|| panic!("no AUTH offered: {lines:#?}"));
    assert!(
        offered.contains("PLAIN") && offered.contains("SCRAM-SHA-256"),
        "{offered}"
    );
    let auth = captured.starting_with("-> AUTH");
    assert!(
        auth.len() == 1 && auth[0].starts_with("-> AUTH SCRAM-SHA-256"),
        "{lines:#?}"
    );
    // server-first, then server-final (v=, verified: a 235 without it is refused).
    assert_eq!(captured.starting_with("<- 334 ").len(), 2, "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("alice-password")),
        "{lines:#?}"
    );
    let stored = postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("(Authenticated sender: alice@example.test)"),
        "{stored}"
    );
    assert!(
        postfix.log().contains("sasl_method=SCRAM-SHA-256"),
        "{}",
        postfix.log()
    );
}

/// A wrong password: Postfix (Dovecot) refuses the proof with 535; a clear authentication
/// failure, and no MAIL.
pub fn postfix_dovecot_scram_sha256_wrong_password_fails_auth(adapter: &dyn Adapter) {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let postfix = postfix_with_dovecot_sasl(&dovecot);
    let captured = Captured::default();
    let report = adapter
        .send(
            &scram_relay(&postfix, "not-the-password", &captured),
            &message_with_body(&["bob@example.test"], body("wrong password")),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let lines = captured.lines();
    let outcome = &report.recipients[0].outcome;
    assert!(
        matches!(
            outcome,
            Outcome::Rejected(Failure::Session(SessionError::AuthFailed(r)))
                | Outcome::Deferred(Failure::Session(SessionError::AuthFailed(r)))
                if r.code().get() == 535
        ),
        "{outcome:?}\n{lines:#?}"
    );
    assert!(
        captured.starting_with("-> AUTH SCRAM-SHA-256").len() == 1,
        "{lines:#?}"
    );
    assert!(captured.starting_with("-> MAIL").is_empty(), "{lines:#?}");
    assert!(postfix.messages("bob@example.test").is_empty());
}

/// A Unix socket that does not exist: deferred at once, the reason naming the path.
pub fn unix_socket_that_does_not_exist_defers_naming_the_path(adapter: &dyn Adapter) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("no-such-socket");
    let captured = Captured::default();
    let relay = with_short_deadlines(
        Relay::new(format!("unix:{}", path.display()), 0).lmtp(true),
        &captured,
    );
    let report = adapter
        .send(
            &relay,
            &message_with_body(&["alice@example.test"], body("nowhere")),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let recipient = &report.recipients[0];
    // No server answered, so no reply: the report names the socket and why.
    assert!(
        matches!(&recipient.outcome, Outcome::Deferred(Failure::Unreached))
            && recipient.host.as_deref() == Some(format!("unix:{}", path.display()).as_str()),
        "{}: {recipient:?}",
        adapter.name()
    );
    assert!(matches!(
        recipient.unreached,
        Some(mxsend::Unreached::Connect(_))
    ));
    assert_eq!(recipient.addr, None);
}
