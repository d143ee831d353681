//! A message body from any reader (`mxsend::ReaderBody`): streamed to a real smtp-sink by the
//! blocking and smol adapters without ever being held in memory, and a clear error, not a
//! silent loss, when it would have to be read a second time.

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
    let envelope = Envelope {
        from: ReversePath::parse("alice@example.org").expect("sender"),
        recipients: rcpts
            .iter()
            .map(|r| Mailbox::parse(r).expect("recipient"))
            .collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let reader = Lines {
        next: 0,
        lines,
        pending: Vec::new(),
    };
    Message::new(envelope, ReaderBody::new(reader))
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
