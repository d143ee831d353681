//! The peers themselves, checked with raw SMTP written by the test: each starts, greets, offers what the
//! harness documents, and stores a plain transaction where the harness reads it back. No mxsend code is
//! exercised here, so a failure in this file is a broken test environment, not a broken client.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions, AUTH_PASSWORD, AUTH_USER};
use mxsend_tests::net::is_listening;
use mxsend_tests::pki::TestPki;
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::raw::{RawReply, RawSmtp};
use mxsend_tests::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

fn connect(addr: SocketAddr) -> (RawSmtp, RawReply) {
    let mut smtp = RawSmtp::connect(addr).expect("connect");
    let greeting = smtp.read_reply().expect("greeting");
    (smtp, greeting)
}

fn ehlo(addr: SocketAddr) -> RawReply {
    let (mut smtp, greeting) = connect(addr);
    assert_eq!(greeting.code, 220, "{greeting:?}");
    let reply = smtp.command("EHLO client.example.test").expect("EHLO");
    assert_eq!(reply.code, 250, "{reply:?}");
    reply
}

/// Sends one message with plain SMTP and checks every reply; returns the final DATA reply.
fn send_plain(addr: SocketAddr, mail: &str, rcpts: &[&str], body: &str) -> RawReply {
    let (mut smtp, greeting) = connect(addr);
    assert_eq!(greeting.code, 220, "{greeting:?}");
    assert_eq!(smtp.command("EHLO client.example.test").unwrap().code, 250);
    let reply = smtp.command(&format!("MAIL FROM:{mail}")).unwrap();
    assert_eq!(reply.code, 250, "MAIL: {reply:?}");
    for rcpt in rcpts {
        let reply = smtp.command(&format!("RCPT TO:{rcpt}")).unwrap();
        assert_eq!(reply.code, 250, "RCPT {rcpt}: {reply:?}");
    }
    assert_eq!(smtp.command("DATA").unwrap().code, 354);
    smtp.send(body.as_bytes()).unwrap();
    let reply = smtp.command(".").unwrap();
    assert_eq!(smtp.command("QUIT").unwrap().code, 221);
    reply
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A message whose body carries `marker`, with a dot-stuffed line.
fn message(marker: &str) -> String {
    format!("Subject: selftest\r\nFrom: a@example.test\r\n\r\n{marker}\r\n..leading dot\r\n")
}

// ---- test PKI ---------------------------------------------------------------------------------------

/// `openssl verify` of `cert` against `ca` for the name mx.example.test.
fn openssl_verifies(ca: &Path, cert: &Path) -> bool {
    Command::new("openssl")
        .args(["verify", "-verify_hostname", "mx.example.test", "-CAfile"])
        .arg(ca)
        .arg(cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl")
        .success()
}

#[test]
fn pki_server_cert_verifies_against_the_test_ca() {
    let pki = TestPki::generate();
    assert!(openssl_verifies(&pki.ca_cert, &pki.server.cert));
}

#[test]
fn pki_hostile_certs_each_fail_verification() {
    let pki = TestPki::generate();
    for (what, cert) in [
        ("self-signed", &pki.self_signed.cert),
        ("unknown CA", &pki.unknown_ca.cert),
        ("wrong host", &pki.wrong_host.cert),
        ("expired", &pki.expired.cert),
    ] {
        assert!(
            !openssl_verifies(&pki.ca_cert, cert),
            "{what} certificate verified"
        );
    }
}

#[test]
fn pki_unknown_ca_cert_verifies_only_against_its_own_root() {
    let pki = TestPki::generate();
    assert!(openssl_verifies(&pki.unknown_ca_root, &pki.unknown_ca.cert));
}

// ---- Postfix ----------------------------------------------------------------------------------------

#[test]
fn postfix_greets_and_offers_the_documented_extensions() {
    let postfix = Postfix::start(PostfixOptions::default());
    let reply = ehlo(postfix.smtp_addr());
    for keyword in [
        "PIPELINING",
        "SIZE",
        "STARTTLS",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(reply.has_extension(keyword), "no {keyword} in {reply:?}");
    }
}

#[test]
fn postfix_delivers_a_plain_transaction_to_the_maildir() {
    let postfix = Postfix::start(PostfixOptions::default());
    let reply = send_plain(
        postfix.smtp_addr(),
        "<sender@client.example.test>",
        &["<bob@example.test>"],
        &message("marker-postfix-plain"),
    );
    assert_eq!(reply.code, 250, "{reply:?}");
    let stored = postfix.wait_for_message("bob@example.test", WAIT);
    assert!(contains(&stored, "marker-postfix-plain"));
    assert!(contains(&stored, "\n.leading dot"), "dot not unstuffed");
    assert!(postfix.messages("alice").is_empty());
}

#[test]
fn postfix_delivers_to_a_utf8_mailbox_with_smtputf8() {
    let postfix = Postfix::start(PostfixOptions::default());
    let reply = send_plain(
        postfix.smtp_addr(),
        "<sender@client.example.test> SMTPUTF8",
        &["<jörg@example.test>"],
        &message("marker-postfix-utf8"),
    );
    assert_eq!(reply.code, 250, "{reply:?}");
    let stored = postfix.wait_for_message("jörg@example.test", WAIT);
    assert!(contains(&stored, "marker-postfix-utf8"));
}

#[test]
fn postfix_refuses_an_unknown_recipient_with_550() {
    let postfix = Postfix::start(PostfixOptions::default());
    let (mut smtp, _) = connect(postfix.smtp_addr());
    smtp.command("EHLO client.example.test").unwrap();
    smtp.command("MAIL FROM:<a@client.example.test>").unwrap();
    let reply = smtp.command("RCPT TO:<nobody@example.test>").unwrap();
    assert_eq!(reply.code, 550, "{reply:?}");
}

#[test]
fn postfix_answers_starttls_with_220() {
    let postfix = Postfix::start(PostfixOptions::default());
    let (mut smtp, _) = connect(postfix.smtp_addr());
    smtp.command("EHLO client.example.test").unwrap();
    let reply = smtp.command("STARTTLS").unwrap();
    assert_eq!(reply.code, 220, "{reply:?}");
}

/// Runs `openssl s_client` against an implicit-TLS port trusting only `ca`; returns (success, output).
fn s_client(addr: SocketAddr, ca: &Path) -> (bool, String) {
    // -ign_eof: after sending QUIT, keep reading until the server has greeted, answered and closed.
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-ign_eof",
            "-verify_return_error",
            "-verify_hostname",
        ])
        .arg("mx.example.test")
        .arg("-connect")
        .arg(addr.to_string())
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    // The server reads QUIT after its greeting, answers 221 and closes, which ends s_client.
    let _ = child.stdin.take().expect("stdin").write_all(b"QUIT\r\n");
    let output = child.wait_with_output().expect("openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success() && text.contains("220 "), text)
}

#[test]
fn postfix_implicit_tls_listener_greets_with_a_cert_from_the_test_ca() {
    let postfix = Postfix::start(PostfixOptions::default());
    let (ok, transcript) = s_client(postfix.smtps_addr(), &postfix.pki().ca_cert);
    assert!(ok, "{transcript}\n{}", postfix.report());
}

#[test]
fn postfix_serves_the_chosen_hostile_certificate() {
    let pki = TestPki::generate();
    let postfix = Postfix::start(PostfixOptions {
        served_cert: Some(pki.expired.clone()),
        pki: Some(pki),
        ..PostfixOptions::default()
    });
    let (ok, transcript) = s_client(postfix.smtps_addr(), &postfix.pki().ca_cert);
    assert!(!ok, "an expired certificate verified:\n{transcript}");
    assert!(transcript.contains("expired"), "{transcript}");
}

#[test]
fn two_postfix_instances_run_at_once_without_sharing_mail() {
    let pki = TestPki::generate();
    let first = Postfix::start(PostfixOptions {
        pki: Some(pki.clone()),
        ..PostfixOptions::default()
    });
    let second = Postfix::start(PostfixOptions {
        pki: Some(pki),
        ..PostfixOptions::default()
    });
    assert_ne!(first.smtp_addr(), second.smtp_addr());
    assert_ne!(first.syslog_name(), second.syslog_name());
    for (postfix, marker) in [(&first, "marker-first"), (&second, "marker-second")] {
        let reply = send_plain(
            postfix.smtp_addr(),
            "<a@client.example.test>",
            &["<alice@example.test>"],
            &message(marker),
        );
        assert_eq!(reply.code, 250, "{reply:?}");
    }
    assert!(contains(
        &first.wait_for_message("alice", WAIT),
        "marker-first"
    ));
    assert!(contains(
        &second.wait_for_message("alice", WAIT),
        "marker-second"
    ));
    assert_eq!(first.messages("alice").len(), 1);
    assert_eq!(second.messages("alice").len(), 1);
}

#[test]
fn postfix_listens_on_port_25_of_another_loopback_address() {
    // An address of its own, so parallel MX tests on 127.0.0.x do not collide with this one.
    let ip = Ipv4Addr::new(127, 91, (std::process::id() % 250) as u8 + 1, 25);
    let addr = SocketAddr::new(IpAddr::V4(ip), 25);
    let postfix = Postfix::start(PostfixOptions {
        smtp: Some(addr),
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    assert_eq!(postfix.smtp_addr(), addr);
    let reply = send_plain(
        addr,
        "<a@client.example.test>",
        &["<bob@example.test>"],
        &message("marker-port-25"),
    );
    assert_eq!(reply.code, 250, "{reply:?}");
    assert!(contains(
        &postfix.wait_for_message("bob", WAIT),
        "marker-port-25"
    ));
}

#[test]
fn postfix_is_stopped_when_dropped() {
    let postfix = Postfix::start(PostfixOptions::default());
    let addr = postfix.smtp_addr();
    assert!(is_listening(addr));
    drop(postfix);
    assert!(!is_listening(addr));
}

// ---- smtp-sink --------------------------------------------------------------------------------------

#[test]
fn smtp_sink_greets_and_offers_its_documented_extensions() {
    let sink = SmtpSink::start(&[], None);
    let reply = ehlo(sink.addr);
    for keyword in ["PIPELINING", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"] {
        assert!(reply.has_extension(keyword), "no {keyword} in {reply:?}");
    }
    for keyword in ["SIZE", "STARTTLS", "SMTPUTF8", "CHUNKING"] {
        assert!(!reply.has_extension(keyword), "{keyword} in {reply:?}");
    }
    assert_eq!(
        reply.lines.last().map(String::as_str),
        Some(""),
        "last line"
    );
}

#[test]
fn smtp_sink_dumps_a_plain_transaction_with_its_parameters() {
    let sink = SmtpSink::start(&[], None);
    let reply = send_plain(
        sink.addr,
        "<a@client.example.test> BODY=8BITMIME",
        &["<b@example.test> NOTIFY=NEVER", "<c@example.test>"],
        &message("marker-sink"),
    );
    assert_eq!(reply.code, 250, "{reply:?}");
    let dumps = sink.wait_for_dumps(1, WAIT);
    assert_eq!(dumps.len(), 1);
    assert_eq!(dumps[0].mail_args, "<a@client.example.test> BODY=8BITMIME");
    assert_eq!(
        dumps[0].rcpt_args,
        ["<b@example.test> NOTIFY=NEVER", "<c@example.test>"]
    );
    assert!(contains(&dumps[0].message, "marker-sink\n.leading dot\n"));
}

#[test]
fn smtp_sink_passes_fault_flags_through() {
    let sink = SmtpSink::start(&["-r", "RCPT"], None);
    let (mut smtp, _) = connect(sink.addr);
    smtp.command("EHLO client.example.test").unwrap();
    smtp.command("MAIL FROM:<a@client.example.test>").unwrap();
    let reply = smtp.command("RCPT TO:<b@example.test>").unwrap();
    assert_eq!(reply.code / 100, 4, "{reply:?}");
}

// ---- aiosmtpd ---------------------------------------------------------------------------------------

#[test]
fn aiosmtpd_default_offers_only_8bitmime() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let reply = ehlo(server.addr());
    assert!(reply.has_extension("8BITMIME"), "{reply:?}");
    for keyword in ["SIZE", "PIPELINING", "STARTTLS", "AUTH", "SMTPUTF8", "DSN"] {
        assert!(!reply.has_extension(keyword), "{keyword} in {reply:?}");
    }
}

#[test]
fn aiosmtpd_options_add_size_smtputf8_dsn_and_starttls() {
    let server = Aiosmtpd::start(AiosmtpdOptions {
        size: Some(4096),
        smtputf8: true,
        dsn: true,
        starttls: true,
        ..AiosmtpdOptions::default()
    });
    let reply = ehlo(server.addr());
    for keyword in ["SIZE", "SMTPUTF8", "DSN", "STARTTLS"] {
        assert!(reply.has_extension(keyword), "no {keyword} in {reply:?}");
    }
    assert!(reply.lines.iter().any(|l| l == "SIZE 4096"), "{reply:?}");
    // AUTH was not asked for, and would need TLS first anyway.
    assert!(!reply.has_extension("AUTH"), "{reply:?}");
}

#[test]
fn aiosmtpd_stores_a_plain_transaction_and_logs_its_envelope() {
    let server = Aiosmtpd::start(AiosmtpdOptions {
        dsn: true,
        ..AiosmtpdOptions::default()
    });
    let body = message("marker-aiosmtpd");
    let reply = send_plain(
        server.addr(),
        "<a@client.example.test> BODY=8BITMIME SIZE=100",
        &["<bob@example.test> NOTIFY=SUCCESS,FAILURE"],
        &body,
    );
    assert_eq!(reply.code, 250, "{reply:?}");
    let stored = server.wait_for_message(WAIT);
    // Stored byte for byte as sent, after dot-unstuffing.
    assert_eq!(stored, body.replace("\r\n..", "\r\n.").into_bytes());
    let envelopes = server.wait_for_envelopes(1, WAIT);
    assert_eq!(envelopes[0].mail_from, "a@client.example.test");
    assert_eq!(envelopes[0].mail_options, ["BODY=8BITMIME", "SIZE=100"]);
    assert_eq!(envelopes[0].rcpt_tos, ["bob@example.test"]);
    assert_eq!(envelopes[0].rcpt_options, ["NOTIFY=SUCCESS,FAILURE"]);
    assert!(!envelopes[0].tls);
}

#[test]
fn aiosmtpd_rejects_and_defers_recipients_by_local_part() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let (mut smtp, _) = connect(server.addr());
    smtp.command("EHLO client.example.test").unwrap();
    smtp.command("MAIL FROM:<a@client.example.test>").unwrap();
    let rejected = smtp.command("RCPT TO:<reject1@example.test>").unwrap();
    let deferred = smtp.command("RCPT TO:<defer-me@example.test>").unwrap();
    let accepted = smtp.command("RCPT TO:<ok@example.test>").unwrap();
    assert_eq!(
        (rejected.code, deferred.code, accepted.code),
        (550, 451, 250)
    );
    assert_eq!(rejected.lines[0], "5.1.1 no such user");
    assert_eq!(deferred.lines[0], "4.3.0 try later");
}

#[test]
fn aiosmtpd_refuses_data_when_a_recipient_is_datareject() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let (mut smtp, _) = connect(server.addr());
    smtp.command("EHLO client.example.test").unwrap();
    smtp.command("MAIL FROM:<a@client.example.test>").unwrap();
    assert_eq!(
        smtp.command("RCPT TO:<datareject@example.test>")
            .unwrap()
            .code,
        250
    );
    assert_eq!(smtp.command("DATA").unwrap().code, 354);
    smtp.send(message("marker-refused").as_bytes()).unwrap();
    assert_eq!(smtp.command(".").unwrap().code, 554);
    assert!(server.messages().is_empty());
}

#[test]
fn aiosmtpd_auth_plain_accepts_only_the_fixed_credentials() {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            auth_require_tls: false,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let reply = ehlo(server.addr());
    assert!(
        reply
            .lines
            .iter()
            .any(|l| l.starts_with("AUTH ") && l.contains("PLAIN") && l.contains("LOGIN")),
        "{reply:?}"
    );
    let plain = |user: &str, password: &str| {
        let (mut smtp, _) = connect(server.addr());
        smtp.command("EHLO client.example.test").unwrap();
        let token = base64(format!("\0{user}\0{password}").as_bytes());
        let reply = smtp.command(&format!("AUTH PLAIN {token}"));
        reply
            .unwrap_or_else(|e| panic!("AUTH PLAIN {token}: {e}\n{}", server.stderr()))
            .code
    };
    assert_eq!(plain(AUTH_USER, AUTH_PASSWORD), 235);
    assert_eq!(plain(AUTH_USER, "wrong"), 535);
}

#[test]
fn aiosmtpd_offers_auth_only_after_tls_by_default() {
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            starttls: true,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let reply = ehlo(server.addr());
    assert!(reply.has_extension("STARTTLS"), "{reply:?}");
    assert!(!reply.has_extension("AUTH"), "{reply:?}");
}

#[test]
fn aiosmtpd_implicit_tls_serves_a_cert_from_the_test_ca() {
    let server = Aiosmtpd::start(AiosmtpdOptions {
        implicit_tls: true,
        ..AiosmtpdOptions::default()
    });
    let pki = server.pki().expect("TLS makes a PKI");
    let (ok, transcript) = s_client(server.addr(), &pki.ca_cert);
    assert!(ok, "{transcript}\n{}", server.stderr());
}

/// Standard base64 for the AUTH PLAIN token (kept here so this file tests the peer, not mxsend-core).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
#[should_panic(expected = "Address already in use")]
fn postfix_start_reports_a_port_that_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _postfix = Postfix::start(PostfixOptions {
        smtp: Some(taken.local_addr().unwrap()),
        ..PostfixOptions::default()
    });
}

#[test]
fn postfix_starts_within_a_few_seconds() {
    let started = std::time::Instant::now();
    let postfix = Postfix::start(PostfixOptions::default());
    let took = started.elapsed();
    eprintln!("Postfix::start took {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "{took:?}\n{}",
        postfix.report()
    );
}
