//! mxsend-embedded (the session over embedded-io-async) against smtp-sink, through a small
//! std implementation of those traits: async-io's `Async<TcpStream>` as the transport, its
//! timer as the [`Clock`], its executor to run the future.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use async_io::{Async, Timer};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::session::{
    DsnOptions, Envelope, Failure, Outcome, Phase, SessionConfig, SessionError, TlsPolicy,
};
use mxsend_core::time::Instant;
use mxsend_embedded::{send, Clock, Message, Report};
use mxsend_tests::smtp_sink::SmtpSink;

/// A TCP connection as an embedded-io-async transport.
struct Transport(Async<TcpStream>);

/// std's I/O error as an embedded-io error (embedded-io's own impl needs its `std` feature,
/// which this workspace keeps off).
#[derive(Debug)]
struct IoError(io::Error);

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoError {}

impl embedded_io_async::Error for IoError {
    fn kind(&self) -> ErrorKind {
        match self.0.kind() {
            io::ErrorKind::TimedOut => ErrorKind::TimedOut,
            io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset => ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted => ErrorKind::ConnectionAborted,
            io::ErrorKind::NotConnected => ErrorKind::NotConnected,
            io::ErrorKind::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Other,
        }
    }
}

impl ErrorType for Transport {
    type Error = IoError;
}

impl Read for Transport {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        self.0.read(buf).await.map_err(IoError)
    }
}

impl Write for Transport {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.0.write(buf).await.map_err(IoError)
    }

    async fn flush(&mut self) -> Result<(), IoError> {
        self.0.flush().await.map_err(IoError)
    }
}

/// The host's monotonic clock and async-io's timer.
struct HostClock(StdInstant);

impl Clock for HostClock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.0.elapsed().as_micros()).unwrap())
    }

    async fn sleep_until(&self, deadline: Instant) {
        Timer::at(self.0 + Duration::from_micros(deadline.as_micros())).await;
    }
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope {
        from: ReversePath::parse("sensor@example.org").unwrap(),
        recipients: to.iter().map(|m| Mailbox::parse(m).unwrap()).collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    }
}

fn config(timeout: Duration) -> SessionConfig {
    let mut config = SessionConfig::new(Domain::parse("sensor.example.org").unwrap());
    config.tls = TlsPolicy::Disabled;
    config.timeouts.greeting = timeout;
    config
}

fn send_to(addr: SocketAddr, messages: &mut [Message<&[u8]>], timeout: Duration) -> Report {
    async_io::block_on(async {
        let stream = Async::<TcpStream>::connect(addr).await.expect("connect");
        stream.get_ref().set_nodelay(true).unwrap();
        let mut transport = Transport(stream);
        let clock = HostClock(StdInstant::now());
        send(&mut transport, config(timeout), messages, &clock)
            .await
            .expect("send")
    })
}

#[test]
fn embedded_sends_many_messages_over_one_connection_to_smtp_sink() {
    let sink = SmtpSink::start(&[], None);
    // Larger than the session's 64 KiB watermark: the body streams in chunks as it drains.
    let large: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i:05} of the large message\n").into_bytes())
        .chain(b".a leading dot\n".iter().copied())
        .collect();
    let first = b"Subject: one\n\nfirst\n".as_slice();
    let mut messages = [
        Message {
            envelope: envelope(&["a@example.com", "b@example.net"]),
            body: first,
        },
        Message {
            envelope: envelope(&["c@example.com"]),
            body: large.as_slice(),
        },
        Message {
            envelope: envelope(&["d@example.com"]),
            body: b"Subject: three\n\nthird\n",
        },
    ];
    let report = send_to(sink.addr, &mut messages, Duration::from_secs(10));
    assert!(report.closed.is_none(), "{report:?}");
    assert_eq!(report.outcomes.len(), 3);
    for outcomes in &report.outcomes {
        assert!(
            outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))),
            "{report:?}"
        );
    }
    assert_eq!(report.outcomes[0].len(), 2);
    let mut dumps = sink.wait_for_dumps(3, Duration::from_secs(10));
    dumps.sort_by_key(|d| d.rcpt_args.clone());
    assert_eq!(dumps[0].rcpt_args, ["<a@example.com>", "<b@example.net>"]);
    assert!(dumps[0].message.ends_with(b"Subject: one\n\nfirst\n"));
    assert_eq!(dumps[1].rcpt_args, ["<c@example.com>"]);
    // Dot-stuffed on the wire, unstuffed by the sink: the same bytes came through.
    assert!(dumps[1].message.ends_with(&large), "large message altered");
    assert!(dumps[2].message.ends_with(b"Subject: three\n\nthird\n"));
}

#[test]
fn embedded_rejected_recipients_are_reported_with_the_reply() {
    let sink = SmtpSink::start(&["-f", "RCPT"], None);
    let mut messages = [Message {
        envelope: envelope(&["a@example.com"]),
        body: b"Subject: x\n\ny\n".as_slice(),
    }];
    let report = send_to(sink.addr, &mut messages, Duration::from_secs(10));
    match report.outcomes[0].as_slice() {
        [Outcome::Rejected(Failure::Reply(reply))] => assert_eq!(reply.code().get() / 100, 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn embedded_end_of_stream_after_the_end_of_data_is_ambiguous() {
    let sink = SmtpSink::start(&["-q", "."], None);
    let mut messages = [Message {
        envelope: envelope(&["a@example.com"]),
        body: b"Subject: x\n\ny\n".as_slice(),
    }];
    let report = send_to(sink.addr, &mut messages, Duration::from_secs(10));
    assert!(
        matches!(report.outcomes[0].as_slice(), [Outcome::Ambiguous(_)]),
        "{report:?}"
    );
    assert!(
        matches!(report.closed, Some(SessionError::ConnectionClosed(_))),
        "{report:?}"
    );
}

#[test]
fn embedded_silent_server_times_out_at_the_greeting_by_the_callers_timer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut messages = [Message {
        envelope: envelope(&["a@example.com"]),
        body: b"Subject: x\n\ny\n".as_slice(),
    }];
    let started = StdInstant::now();
    let report = send_to(
        listener.local_addr().unwrap(),
        &mut messages,
        Duration::from_millis(300),
    );
    let elapsed = started.elapsed();
    assert!(
        matches!(
            report.outcomes[0].as_slice(),
            [Outcome::Deferred(Failure::Session(SessionError::Timeout(
                Phase::Greeting
            )))]
        ),
        "{report:?}"
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}

/// A body whose reader fails after its first chunk.
struct FailingBody(usize);

impl ErrorType for FailingBody {
    type Error = IoError;
}

impl Read for FailingBody {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        if self.0 == 0 {
            return Err(IoError(io::ErrorKind::BrokenPipe.into()));
        }
        self.0 -= 1;
        let line = b"a line of the body\n";
        let n = line.len().min(buf.len());
        buf[..n].copy_from_slice(&line[..n]);
        Ok(n)
    }
}

#[test]
fn embedded_body_read_error_abandons_the_session_and_defers() {
    let sink = SmtpSink::start(&[], None);
    let mut messages = [Message {
        envelope: envelope(&["a@example.com"]),
        body: FailingBody(3),
    }];
    let report = async_io::block_on(async {
        let stream = Async::<TcpStream>::connect(sink.addr).await.unwrap();
        let mut transport = Transport(stream);
        let clock = HostClock(StdInstant::now());
        send(
            &mut transport,
            config(Duration::from_secs(10)),
            &mut messages,
            &clock,
        )
        .await
        .unwrap()
    });
    assert_eq!(
        report.body_error,
        Some((0, ErrorKind::BrokenPipe)),
        "{report:?}"
    );
    assert!(
        matches!(
            report.outcomes[0].as_slice(),
            [Outcome::Deferred(Failure::Session(SessionError::Aborted))]
        ),
        "{report:?}"
    );
    // The message cut short never reached its end of data.
    std::thread::sleep(Duration::from_millis(200));
    assert!(sink.dumps().is_empty(), "{:?}", sink.dumps());
}
