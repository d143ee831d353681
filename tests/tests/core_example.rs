//! The core's real-I/O example (`core/examples/std_net.rs`, the core alone over std::net)
//! against smtp-sink: delivery, the end of the stream at each side of the end of data, and
//! a timeout, each mapped onto the session's calls as the example documents.

#[path = "../../core/examples/std_net.rs"]
mod std_net;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use mxsend_core::address::{Mailbox, ReversePath};
use mxsend_core::session::{Failure, Outcome, Phase, SessionError};
use mxsend_tests::smtp_sink::SmtpSink;

const BODY: &[u8] = b"Subject: core alone\r\n\r\n.a leading dot\r\nend\r\n";

fn send(addr: std::net::SocketAddr, to: &[&str], timeout: Duration) -> std_net::Sent {
    std_net::send(
        addr,
        ReversePath::parse("alice@example.org").unwrap(),
        to.iter().map(|m| Mailbox::parse(m).unwrap()).collect(),
        BODY,
        timeout,
    )
    .expect("connect")
}

#[test]
fn core_example_delivers_every_recipient_to_smtp_sink() {
    let sink = SmtpSink::start(&[], None);
    let sent = send(
        sink.addr,
        &["bob@example.com", "carol@example.net"],
        Duration::from_secs(10),
    );
    assert!(sent.error.is_none(), "{sent:?}");
    assert_eq!(sent.outcomes.len(), 2, "{sent:?}");
    assert!(
        sent.outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Delivered(_))),
        "{sent:?}"
    );
    let dumps = sink.wait_for_dumps(1, Duration::from_secs(5));
    assert_eq!(
        dumps[0].rcpt_args,
        ["<bob@example.com>", "<carol@example.net>"]
    );
    // Dot-stuffed on the wire, unstuffed by the sink (which writes LF line ends).
    assert!(
        dumps[0]
            .message
            .ends_with(b"Subject: core alone\n\n.a leading dot\nend\n"),
        "{:?}",
        String::from_utf8_lossy(&dumps[0].message)
    );
}

#[test]
fn core_example_end_of_stream_before_the_end_of_data_defers() {
    let sink = SmtpSink::start(&["-q", "MAIL"], None);
    let sent = send(sink.addr, &["bob@example.com"], Duration::from_secs(10));
    assert!(
        matches!(
            sent.outcomes.as_slice(),
            [Outcome::Deferred(Failure::Session(
                SessionError::ConnectionClosed(_)
            ))]
        ),
        "{sent:?}"
    );
    assert!(
        matches!(sent.error, Some(SessionError::ConnectionClosed(_))),
        "{sent:?}"
    );
}

#[test]
fn core_example_end_of_stream_after_the_end_of_data_is_ambiguous() {
    let sink = SmtpSink::start(&["-q", "."], None);
    let sent = send(sink.addr, &["bob@example.com"], Duration::from_secs(10));
    assert!(
        matches!(sent.outcomes.as_slice(), [Outcome::Ambiguous(_)]),
        "{sent:?}"
    );
}

#[test]
fn core_example_silent_server_times_out_at_the_greeting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    let sent = send(addr, &["bob@example.com"], Duration::from_millis(300));
    let elapsed = started.elapsed();
    assert!(
        matches!(
            sent.outcomes.as_slice(),
            [Outcome::Deferred(Failure::Session(SessionError::Timeout(
                Phase::Greeting
            )))]
        ),
        "{sent:?}"
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    drop(listener);
}
