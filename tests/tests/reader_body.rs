//! A message body from any reader (`mxsend::ReaderBody`), against a real smtp-sink on the
//! blocking and smol adapters: streamed (`ReaderBody::streamed`) without ever being held in
//! memory, with a clear error, not a silent loss, when it would have to be read a second
//! time; and read ahead into a spool (`ReaderBody::new`), so its size is declared, it can be
//! sent again, a NUL is refused before any connection and a stalled reader defers only its
//! own message.

use mxsend::protocol::session::{BodyError, Failure, Outcome};
use std::io::{self, Read};

use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope};
use mxsend::{Message, ReaderBody};
use mxsend_tests::scenarios::{plain_relay, Captured};
use mxsend_tests::smtp_sink::SmtpSink;

/// Generates `lines` numbered lines on demand: a reader that is not a buffer and cannot be
/// rewound, like standard input or a pipe.
struct Lines {
    next: u32,
    lines: u32,
    pending: Vec<u8>,
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() && self.next < self.lines {
            self.pending =
                format!("line {:08} of a message from a reader\n", self.next).into_bytes();
            self.next += 1;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

fn message(rcpts: &[&str], lines: u32) -> Message<ReaderBody<Lines>> {
    message_with(rcpts, lines, ReaderBody::streamed)
}

fn spooled_message(rcpts: &[&str], lines: u32) -> Message<ReaderBody<Lines>> {
    message_with(rcpts, lines, ReaderBody::new)
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        from: ReversePath::parse("alice@example.org").expect("sender"),
        recipients: rcpts
            .iter()
            .map(|r| Mailbox::parse(r).expect("recipient"))
            .collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    }
}

fn message_with(
    rcpts: &[&str],
    lines: u32,
    body: fn(Lines) -> ReaderBody<Lines>,
) -> Message<ReaderBody<Lines>> {
    let reader = Lines {
        next: 0,
        lines,
        pending: Vec::new(),
    };
    Message::new(envelope(rcpts), body(reader))
}

#[test]
fn blocking_streams_a_body_from_a_reader() {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let report = mxsend::blocking::send(
        &plain_relay(sink.addr, &captured),
        &message(&["a@example.com"], 200_000),
    )
    .expect("send");
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(captured.starting_with("body line").len(), 200_000);
}

#[test]
fn smol_streams_a_body_from_a_reader() {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let relay = plain_relay(sink.addr, &captured);
    let report = smol::block_on(mxsend::smol::send(
        &relay,
        &message(&["a@example.com"], 50_000),
    ))
    .expect("send");
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(captured.starting_with("body line").len(), 50_000);
}

#[test]
fn a_reader_sent_twice_fails_with_an_error_that_says_why() {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let relay = plain_relay(sink.addr, &captured);
    let messages = [message(&["a@example.com"], 10)];
    mxsend::blocking::send_all(&relay, &messages).expect("first send");
    // Not an `Err` that drops settled outcomes: the recipient's outcome, with the cause.
    let reports = mxsend::blocking::send_all(&relay, &messages).expect("second send");
    match &reports[0].recipients[0].outcome {
        Outcome::Deferred(Failure::Body(BodyError::Unreadable(why))) => {
            assert!(why.contains("read only once"), "{why}")
        }
        other => panic!("expected a body failure, got {other:?}"),
    }
    // The second session was abandoned before its end of data: only the first message landed.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sink.dumps().len(), 1);
}

#[test]
fn a_spooled_reader_can_be_sent_twice() {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let relay = plain_relay(sink.addr, &captured);
    let messages = [spooled_message(&["a@example.com"], 1000)];
    for round in 1..=2 {
        let reports = mxsend::blocking::send_all(&relay, &messages).expect("send");
        assert!(reports[0].all_delivered(), "round {round}: {reports:?}");
    }
    assert_eq!(captured.starting_with("body line").len(), 2000);
    let dumps = sink.wait_for_dumps(2, std::time::Duration::from_secs(10));
    assert_eq!(dumps.len(), 2);
}

#[test]
fn smol_spools_a_reader_and_sends_it_whole() {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let relay = plain_relay(sink.addr, &captured);
    let report = smol::block_on(mxsend::smol::send(
        &relay,
        &spooled_message(&["a@example.com"], 5000),
    ))
    .expect("send");
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(captured.starting_with("body line").len(), 5000);
}

/// A reader whose content holds a NUL after a header line.
fn nul_reader() -> std::io::Cursor<Vec<u8>> {
    std::io::Cursor::new(b"Subject: x\n\nbefore\0after\n".to_vec())
}

/// Read ahead, the content is known not to be text (a NUL), so it asks for BINARYMIME
/// (RFC 3030); smtp-sink does not offer it, so the message is refused after EHLO and its
/// MAIL never goes out.
#[test]
fn a_nul_in_a_spooled_reader_needs_binarymime_and_no_mail_goes_without_it() {
    let sink = SmtpSink::start(&[], None);
    for runtime in ["blocking", "smol"] {
        let captured = Captured::default();
        let relay = plain_relay(sink.addr, &captured);
        let messages = [Message::new(
            envelope(&["a@example.com"]),
            ReaderBody::new(nul_reader()),
        )];
        let reports = match runtime {
            "blocking" => mxsend::blocking::send_all(&relay, &messages),
            _ => smol::block_on(mxsend::smol::send_all(&relay, &messages)),
        }
        .expect("send");
        assert!(
            matches!(
                &reports[0].recipients[0].outcome,
                Outcome::Rejected(Failure::BinaryUnsupported)
            ),
            "{runtime}: {reports:?}"
        );
        assert!(
            captured.starting_with("-> MAIL").is_empty(),
            "{runtime}: a MAIL went out: {:?}",
            captured.lines()
        );
    }
    assert!(sink.dumps().is_empty());
}

/// A header line, then a read that never returns (a pipe nobody writes to).
struct Stalled(bool);

impl Read for Stalled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::replace(&mut self.0, false) {
            let head = b"Subject: stalled\n";
            buf[..head.len()].copy_from_slice(head);
            return Ok(head.len());
        }
        loop {
            std::thread::park();
        }
    }
}

#[test]
fn a_stalled_spooled_reader_defers_its_message_and_the_others_are_delivered() {
    let sink = SmtpSink::start(&[], None);
    for runtime in ["blocking", "smol"] {
        let captured = Captured::default();
        let relay = plain_relay(sink.addr, &captured).timeouts(mxsend::Timeouts {
            data_block: std::time::Duration::from_secs(1),
            ..mxsend::Timeouts::default()
        });
        let messages = [
            Message::new(
                envelope(&["a@example.com"]),
                ReaderBody::new(Box::new(Stalled(true)) as Box<dyn Read + Send>),
            ),
            Message::new(
                envelope(&["b@example.com"]),
                ReaderBody::new(Box::new(nul_free_lines(3)) as Box<dyn Read + Send>),
            ),
        ];
        let reports = match runtime {
            "blocking" => mxsend::blocking::send_all(&relay, &messages),
            _ => smol::block_on(mxsend::smol::send_all(&relay, &messages)),
        }
        .expect("send");
        match &reports[0].recipients[0].outcome {
            Outcome::Deferred(Failure::Body(BodyError::Unreadable(why))) => {
                assert!(
                    why.contains("sent nothing before the deadline"),
                    "{runtime}: {why}"
                )
            }
            other => panic!("{runtime}: expected a deferral, got {other:?}"),
        }
        assert!(reports[1].all_delivered(), "{runtime}: {reports:?}");
    }
    let dumps = sink.wait_for_dumps(2, std::time::Duration::from_secs(10));
    assert_eq!(dumps.len(), 2, "only the good message, once per runtime");
}

fn nul_free_lines(lines: u32) -> Lines {
    Lines {
        next: 0,
        lines,
        pending: Vec::new(),
    }
}
