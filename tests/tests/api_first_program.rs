//! Issue 17's "Done when": a program written from the crate documentation alone (compose a
//! message, send it to three recipients of which the server refuses one, print each outcome
//! with `Display`) uses nothing but the crate root and needs no type annotation. Run against
//! aiosmtpd, which refuses `reject*` recipients with 550.

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};

/// The program, as a reader of the crate documentation writes it: every name from the crate
/// root, no annotation. Returns the lines it would print.
fn first_program(host: &str, port: u16) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    use mxsend::{MessageBuilder, Relay, TlsMode};

    let message = MessageBuilder::new()
        .from("alice@example.org")
        .to("bob@example.com")
        .to("reject-carol@example.com")
        .to("dave@example.com")
        .subject("Three recipients")
        .text("Hello, all three of you.")
        .build()?;
    let relay = Relay::new(host, port)
        .tls(TlsMode::None)
        .timeout(std::time::Duration::from_secs(20));
    let report = mxsend::blocking::send(&relay, &message)?;
    let mut printed = Vec::new();
    for recipient in &report {
        println!("{recipient}");
        printed.push(recipient.to_string());
    }
    Ok(printed)
}

#[test]
fn the_documented_program_reports_each_recipient_with_display() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let addr = server.addr();
    let lines = first_program(&addr.ip().to_string(), addr.port()).expect("the program runs");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("bob@example.com: delivered: 250"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("reject-carol@example.com: rejected: 550 5.1.1"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("dave@example.com: delivered: 250"),
        "{}",
        lines[2]
    );
    // The host that answered is named.
    assert!(
        lines[1].contains(&format!("[{}]:{}", addr.ip(), addr.port())),
        "{}",
        lines[1]
    );
    // The server got the message for the two it accepted, and only them.
    let envelopes = server.wait_for_envelopes(1, std::time::Duration::from_secs(10));
    assert_eq!(
        envelopes[0].rcpt_tos,
        ["bob@example.com", "dave@example.com"]
    );
}

/// Application code written against the `Transport` trait: the same function runs over a
/// real relay and over the stub, with the same outcomes.
fn notify_all(
    mail: &impl mxsend::Transport,
    to: &[&str],
) -> Result<Vec<&'static str>, Box<dyn std::error::Error>> {
    let mut builder = mxsend::MessageBuilder::new().from("app@example.org");
    for address in to {
        builder = builder.to(*address);
    }
    let message = builder
        .subject("notice")
        .text("Something happened.")
        .build()?;
    let report = mail.send(&message)?;
    Ok(report.recipients.iter().map(|r| r.outcome.name()).collect())
}

#[test]
fn the_transport_trait_gives_the_same_outcomes_from_a_real_relay_and_the_stub() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let addr = server.addr();
    let relay = mxsend::Relay::new(addr.ip().to_string(), addr.port())
        .tls(mxsend::TlsMode::None)
        .timeout(std::time::Duration::from_secs(20));
    let to = ["bob@example.com", "reject-eve@example.com"];
    let real = notify_all(&relay, &to).unwrap();
    let stub =
        mxsend::StubTransport::new().reject("reject-eve@example.com", 550, "5.1.1 no such user");
    let scripted = notify_all(&stub, &to).unwrap();
    assert_eq!(real, ["delivered", "rejected"]);
    assert_eq!(real, scripted);
    // The recorder keeps a copy of what went out through the real relay.
    let outbox = mxsend::RecordingTransport::wrap(relay);
    notify_all(&outbox, &["carol@example.com"]).unwrap();
    let sent = outbox.messages();
    assert!(sent[0].report.all_delivered());
    assert!(sent[0].text().contains("Subject: notice"));
    assert_eq!(
        server
            .wait_for_envelopes(2, std::time::Duration::from_secs(10))
            .len(),
        2
    );
}

#[test]
fn a_relay_without_starttls_fails_by_default_and_the_report_says_why() {
    // aiosmtpd without TLS: a relay on a non-465 port requires STARTTLS unless told not to.
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let addr = server.addr();
    let relay = mxsend::Relay::new(addr.ip().to_string(), addr.port())
        .timeout(std::time::Duration::from_secs(20));
    assert_eq!(relay.tls_mode(), mxsend::TlsMode::Required);
    let lines = notify_all(&relay, &["bob@example.com"]).unwrap();
    assert_eq!(lines, ["deferred"]);
    let report = mxsend::blocking::send(
        &relay,
        &mxsend::MessageBuilder::new()
            .from("app@example.org")
            .to("bob@example.com")
            .text("hi")
            .build()
            .unwrap(),
    )
    .unwrap();
    let line = report.recipients[0].to_string();
    assert!(
        line.contains("TLS is required but the server does not offer STARTTLS"),
        "{line}"
    );
    assert!(
        line.contains("the default for a relay on any port but 465"),
        "{line}"
    );
    assert!(
        server.envelopes().is_empty(),
        "nothing was sent in plaintext"
    );
}

#[test]
fn the_overall_deadline_ends_a_send_that_the_phase_timeouts_would_allow() {
    // smtp-sink answers DATA only after 30 s; each phase may take 60 s, the call 1 s.
    let sink = mxsend_tests::smtp_sink::SmtpSink::start(&["-w", "30"], None);
    let relay = mxsend::Relay::new(sink.addr.ip().to_string(), sink.addr.port())
        .tls(mxsend::TlsMode::None)
        .timeout(std::time::Duration::from_secs(60))
        .deadline(std::time::Duration::from_secs(1));
    let message = mxsend::MessageBuilder::new()
        .from("app@example.org")
        .to("bob@example.com")
        .text("hi")
        .build()
        .unwrap();
    let report = mxsend::blocking::send(&relay, &message).unwrap();
    let outcome = &report.recipients[0].outcome;
    assert!(matches!(outcome, mxsend::Outcome::Deferred(_)), "{outcome}");
    // Abandoned by the deadline, not timed out by a phase.
    assert_eq!(
        outcome.failure().and_then(|f| f.session_error()),
        Some(&mxsend::SessionError::Aborted),
        "{outcome}"
    );
}
