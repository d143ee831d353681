//! The long-lived blocking client (`mxsend::blocking::Client`) against real servers: one
//! connection for messages sent over time (checked with RSET before each reuse), and a
//! transparent reconnection when the server closed the connection while it was idle
//! (Postfix's `smtpd_timeout`), with every message delivered exactly once.

use std::time::Duration;

use mxsend::blocking::Client;
use mxsend::{MessageBuilder, Relay, TlsMode};
use mxsend_tests::commands::command_log;
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::smtp_sink::SmtpSink;

fn message(to: &str, n: usize) -> mxsend::Message<mxsend::ComposedBody> {
    MessageBuilder::new()
        .from("app@example.org")
        .to(to)
        .subject(format!("message {n}"))
        .text(format!("This is message {n}."))
        .build()
        .expect("a valid message")
}

#[test]
fn messages_sent_over_time_share_one_connection_checked_with_rset() {
    let sink = SmtpSink::start(&[], None);
    let (log, relay) = command_log(
        Relay::new(sink.addr.ip().to_string(), sink.addr.port())
            .tls(TlsMode::None)
            .timeout(Duration::from_secs(20)),
    );
    let mut client = Client::new(relay).unwrap();
    assert!(
        !client.is_connected(),
        "nothing connects before the first message"
    );
    let first = client.send(&message("a@example.test", 1)).unwrap();
    assert!(first.all_delivered(), "{first}");
    assert!(client.is_connected());
    std::thread::sleep(Duration::from_millis(300));
    let second = client.send(&message("b@example.test", 2)).unwrap();
    assert!(second.all_delivered(), "{second}");
    // Two enqueued messages go out in one pipelined batch.
    client.enqueue(message("c@example.test", 3));
    client.enqueue(message("d@example.test", 4));
    assert_eq!(client.queued(), 2);
    let reports = client.flush().unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.all_delivered()));
    assert_eq!(client.queued(), 0);
    let stats = client.stats();
    assert_eq!(stats.connections, 1, "{stats:?}");
    assert_eq!(stats.reused, 2, "{stats:?}");
    assert_eq!(stats.reconnected, 0, "{stats:?}");
    client.close();
    assert!(!client.is_connected());
    let commands = log.lock().unwrap().clone();
    assert_eq!(
        commands,
        [
            "CONNECT", "EHLO", "MAIL", "RCPT", "DATA", ".", // message 1
            "RSET", "MAIL", "RCPT", "DATA", ".", // checked, then message 2
            "RSET", "MAIL", "RCPT", "DATA", ".", "MAIL", "RCPT", "DATA", ".", // 3 and 4
            "QUIT",
        ],
        "{commands:?}"
    );
    let dumps = sink.wait_for_dumps(4, Duration::from_secs(10));
    assert_eq!(dumps.len(), 4);
}

#[test]
fn a_connection_the_server_closed_while_idle_is_reopened_transparently() {
    // Postfix drops a client idle for longer than smtpd_timeout, with a 421.
    let postfix = Postfix::start(PostfixOptions {
        main_cf: vec![("smtpd_timeout".into(), "1s".into())],
        ..PostfixOptions::default()
    });
    let addr = postfix.smtp_addr();
    // STARTTLS required (the default on a non-465 port), Postfix's certificate trusted.
    let (log, relay) = command_log(
        Relay::new(addr.ip().to_string(), addr.port())
            .ca_file(&postfix.pki().ca_cert)
            .timeout(Duration::from_secs(20)),
    );
    assert_eq!(relay.tls_mode(), TlsMode::Required);
    let mut client = Client::new(relay).unwrap();
    let first = client.send(&message("alice@example.test", 1)).unwrap();
    assert!(first.all_delivered(), "{first}");
    // Longer than the server's idle timeout: it says 421 and closes.
    std::thread::sleep(Duration::from_secs(3));
    let second = client.send(&message("bob@example.test", 2)).unwrap();
    assert!(second.all_delivered(), "{second}");
    let stats = client.stats();
    assert_eq!(stats.connections, 2, "{stats:?}");
    assert_eq!(stats.reconnected, 1, "{stats:?}");
    // Right after, the connection is reused.
    let third = client.send(&message("alice@example.test", 3)).unwrap();
    assert!(third.all_delivered(), "{third}");
    assert_eq!(client.stats().reused, 1, "{:?}", client.stats());
    drop(client);
    let commands = log.lock().unwrap().clone();
    // The check found the old connection dead; nothing of message 2 went on it.
    let reconnect = commands
        .iter()
        .rposition(|c| c == "CONNECT")
        .expect("a second connection");
    assert_eq!(commands[reconnect - 1], "RSET", "{commands:?}");
    assert_eq!(
        commands[reconnect..]
            .iter()
            .filter(|c| *c == "STARTTLS")
            .count(),
        1,
        "{commands:?}"
    );
    // Exactly once each: two for alice (1 and 3), one for bob.
    assert_eq!(
        postfix
            .wait_for_messages("alice@example.test", 2, Duration::from_secs(20))
            .len(),
        2
    );
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 1, Duration::from_secs(20))
            .len(),
        1
    );
}

/// Content that cannot go as text asks for BINARYMIME on a long-lived connection too, as in
/// `send_all`: smtp-sink does not offer it, so that message is refused before its MAIL
/// (`Failure::BinaryUnsupported`) and the text message after it is delivered on the same
/// connection.
#[test]
fn a_binary_body_needs_binarymime_on_a_long_lived_connection_too() {
    use mxsend::protocol::address::{Mailbox, ReversePath};
    use mxsend::protocol::session::{Envelope, Failure, Outcome};
    let sink = SmtpSink::start(&[], None);
    let (log, relay) = command_log(
        Relay::new(sink.addr.ip().to_string(), sink.addr.port())
            .tls(TlsMode::None)
            .timeout(Duration::from_secs(20)),
    );
    let envelope = || {
        Envelope::new(
            ReversePath::parse("app@example.org").unwrap(),
            [Mailbox::parse("a@example.test").unwrap()],
        )
    };
    let messages = [
        mxsend::Message::new(envelope(), b"Subject: binary\r\n\r\n\0\x01\r\n".to_vec()),
        mxsend::Message::new(envelope(), b"Subject: text\r\n\r\nhello\r\n".to_vec()),
    ];
    let mut client = Client::new(relay).unwrap();
    let reports = client.send_all(&messages).unwrap();
    assert!(
        matches!(
            reports[0].recipients[0].outcome,
            Outcome::Rejected(Failure::BinaryUnsupported)
        ),
        "{reports:?}"
    );
    assert!(reports[1].all_delivered(), "{reports:?}");
    client.close();
    let commands = log.lock().unwrap().clone();
    assert_eq!(
        commands.iter().filter(|c| *c == "MAIL").count(),
        1,
        "{commands:?}"
    );
    assert_eq!(sink.wait_for_dumps(1, Duration::from_secs(10)).len(), 1);
}
