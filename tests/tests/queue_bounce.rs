//! Bounces: a recipient refused with 550 after the message was queued gets the sender a
//! delivery status notification (RFC 3464) that Python's email package reads as
//! multipart/report with a message/delivery-status part naming the recipient and the reply;
//! a message from the null sender `<>` gets none.

mod cli_support;
mod queue_support;

use std::process::Command;
use std::time::Duration;

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use mxsend_tests::free_loopback_addr;
use queue_support::{message, text, Spool};

/// Python's own reading of a notice: content types and the delivery-status fields.
const PARSE_DSN: &str = r#"
import email, json, sys
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.compat32)
out = {"type": m.get_content_type(), "report_type": m.get_param("report-type"), "to": m["To"], "parts": []}
for part in m.walk():
    out["parts"].append(part.get_content_type())
    if part.get_content_type() == "message/delivery-status":
        blocks = part.get_payload()
        out["per_message"] = dict(blocks[0].items())
        out["per_recipient"] = [dict(b.items()) for b in blocks[1:]]
    if part.get_content_type() == "text/rfc822-headers":
        out["original"] = part.get_payload()
print(json.dumps(out))
"#;

fn parse_dsn(bytes: &[u8]) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-c", PARSE_DSN])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not parse the notice");
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

#[test]
fn a_recipient_refused_after_queueing_gets_the_sender_a_parsable_dsn() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, "min_backoff = \"1s\"\nmax_backoff = \"1s\"");
    let out = spool.submit(
        &[
            "-i",
            "-f",
            "ann@example.test",
            "reject-me@example.test",
            "bob@example.test",
        ],
        &message("ann@example.test", "reject-me@example.test", "to-bounce"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    let log = spool.run_until_empty(Duration::from_secs(30));
    // bob's copy and the notice to ann.
    let messages = server.wait_for_messages(2, Duration::from_secs(10));
    let envelopes = server.wait_for_envelopes(2, Duration::from_secs(10));
    let notice_envelope = envelopes
        .iter()
        .find(|e| e.mail_from.is_empty() || e.mail_from == "<>")
        .unwrap_or_else(|| panic!("no notice from <>: {envelopes:#?}\n{log}"));
    assert_eq!(notice_envelope.rcpt_tos, ["ann@example.test"]);
    let notice = messages
        .iter()
        .find(|m| String::from_utf8_lossy(m).contains("multipart/report"))
        .expect("the notice in the Maildir");
    let dsn = parse_dsn(notice);
    assert_eq!(dsn["type"], "multipart/report", "{dsn:#}");
    assert_eq!(dsn["report_type"], "delivery-status");
    assert_eq!(dsn["to"], "<ann@example.test>");
    assert!(
        dsn["parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "message/delivery-status"),
        "{dsn:#}"
    );
    assert!(dsn["per_message"]["Reporting-MTA"]
        .as_str()
        .unwrap()
        .starts_with("dns; "));
    let recipients = dsn["per_recipient"].as_array().unwrap();
    assert_eq!(recipients.len(), 1, "only the refused recipient: {dsn:#}");
    let r = &recipients[0];
    assert_eq!(r["Final-Recipient"], "rfc822; reject-me@example.test");
    assert_eq!(r["Action"], "failed");
    assert_eq!(r["Status"], "5.1.1");
    assert_eq!(r["Diagnostic-Code"], "smtp; 550 5.1.1 no such user");
    assert!(
        r["Remote-MTA"].as_str().unwrap().contains("127.0.0.1"),
        "{r:#}"
    );
    assert!(dsn["original"]
        .as_str()
        .unwrap()
        .contains("X-Marker: to-bounce"));
    // bob got his copy, once (the notice quotes the header too).
    assert_eq!(messages.len(), 2);
    assert_eq!(queue_support::count_marker(&messages, "to-bounce"), 2);
}

#[test]
fn a_message_from_the_null_sender_is_not_bounced() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, "min_backoff = \"1s\"\nmax_backoff = \"1s\"");
    let out = spool.submit(
        &["-i", "-f", "<>", "reject-me@example.test"],
        &message(
            "MAILER-DAEMON@example.test",
            "reject-me@example.test",
            "null",
        ),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(spool.list()[0]["sender"], "");
    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    spool.run_until_empty(Duration::from_secs(30));
    // The refusal was reached (the entry is gone) and nothing was sent anywhere.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.messages().is_empty(), "{:?}", server.envelopes());
    assert!(spool.list().is_empty());
}
