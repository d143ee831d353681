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
