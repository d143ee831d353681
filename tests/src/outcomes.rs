//! Issue 13's real-socket scenarios ("outcomes that never lie"), written once for every
//! adapter: bodies that fail or stall mid-run, replies before their command, SASL cancel,
//! 251/252, an unused 354, content that must not reach the wire, SIZE after CRLF
//! normalisation, A-labels, UTF-8 headers to a server without SMTPUTF8, MX fallback on a 4xx
//! to MAIL, and a server's recipient limit (Postfix).
//!
//! Against the scripted [`HostileServer`], Postfix's smtp-sink, dnsmasq and a private Postfix.
//! A test file instantiates them with `mxsend_tests::outcome_scenarios!(Blocking)` (and
//! `outcome_postfix_scenarios!` for the Postfix one).

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use mxsend::message::{AsyncBodySource, BodySource};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::sasl::SaslError;
use mxsend::protocol::session::{BodyError, Envelope, Failure, Outcome, SessionError, Timeouts};
use mxsend::protocol::transparency::ContentError;
use mxsend::{Error, Message, Relay, Report};

use crate::dnsmasq::Dnsmasq;
use crate::hostile::{HostileServer, Step};
use crate::postfix::{Postfix, PostfixOptions};
use crate::scenarios::{common_free_port, mx_delivery, plain_relay, v4, Adapter, Captured};
use crate::smtp_sink::SmtpSink;

/// Instantiate the scenarios for an adapter.
#[macro_export]
macro_rules! outcome_scenarios {
    ($adapter:expr) => {
        $crate::outcome_scenario_tests!($adapter;
            a_body_that_cannot_be_opened_defers_its_message_and_the_others_are_delivered,
            a_stalled_body_defers_at_the_deadline_and_the_others_are_delivered,
            unsolicited_reply_after_the_greeting_is_a_protocol_error,
            undecodable_challenge_is_cancelled_with_a_star,
            rcpt_answered_252_is_delivered,
            a_354_to_mail_closes_without_another_byte,
            nul_in_the_body_never_reaches_the_wire,
            a_line_over_998_octets_never_reaches_the_wire,
            size_counts_octets_after_crlf_normalisation,
            u_label_domains_go_as_a_labels,
            utf8_headers_go_to_a_server_without_smtputf8,
            a_554_greeting_rejects,
            mx_4xx_to_mail_moves_on_to_the_next_exchange,
            mx_5xx_to_rcpt_does_not_move_on,
        );
    };
}

/// Instantiate the Postfix scenario (a private Postfix per test: heavier).
#[macro_export]
macro_rules! outcome_postfix_scenarios {
    ($adapter:expr) => {
        $crate::outcome_scenario_tests!($adapter;
            a_thousand_recipients_to_a_server_taking_forty_per_transaction_are_all_delivered,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! outcome_scenario_tests {
    ($adapter:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::outcomes::$name(&$adapter)
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Bodies that fail

/// Message content for the body scenarios.
#[derive(Debug)]
pub enum TestBody {
    /// These octets.
    Bytes(Vec<u8>),
    /// Opening fails, as for a file removed mid-run.
    Missing,
    /// A header line, then a reader that never returns (a pipe nobody writes to).
    Stalled,
}

const HEAD: &[u8] = b"Subject: stalled\r\n";

/// A reader that hands over [`HEAD`] and then blocks forever.
struct StalledReader {
    head: bool,
}

impl Read for StalledReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head {
            self.head = false;
            let n = HEAD.len().min(buf.len());
            buf[..n].copy_from_slice(&HEAD[..n]);
            return Ok(n);
        }
        loop {
            std::thread::park();
        }
    }
}

impl smol::io::AsyncRead for StalledReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.head {
            return Poll::Ready(self.read(buf));
        }
        Poll::Pending
    }
}

fn removed() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the file was removed")
}

impl BodySource for TestBody {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        match self {
            TestBody::Bytes(bytes) => Ok(Box::new(bytes.as_slice())),
            TestBody::Missing => Err(removed()),
            TestBody::Stalled => Ok(Box::new(StalledReader { head: true })),
        }
    }

    fn open_owned(&self) -> Option<io::Result<Box<dyn Read + Send>>> {
        match self {
            TestBody::Stalled => Some(Ok(Box::new(StalledReader { head: true }))),
            _ => None,
        }
    }
}

impl AsyncBodySource for TestBody {
    fn open(&self) -> io::Result<Box<dyn smol::io::AsyncRead + Unpin + Send + '_>> {
        match self {
            TestBody::Bytes(bytes) => Ok(Box::new(bytes.as_slice())),
            TestBody::Missing => Err(removed()),
            TestBody::Stalled => Ok(Box::new(StalledReader { head: true })),
        }
    }
}

fn envelope(rcpts: &[&str]) -> Envelope {
    crate::scenarios::message_with_body(rcpts, Vec::new()).envelope
}

fn test_message(rcpt: &str, body: TestBody) -> Message<TestBody> {
    Message::new(envelope(&[rcpt]), body)
}

fn hello() -> TestBody {
    TestBody::Bytes(b"Subject: hello\r\n\r\nHello.\r\n".to_vec())
}

/// `send_all` on the adapter's runtime with a [`TestBody`].
fn send_all_bodies(
    adapter: &dyn Adapter,
    relay: &Relay,
    messages: &[Message<TestBody>],
) -> Result<Vec<Report>, Error> {
    match adapter.name() {
        "blocking" => mxsend::blocking::send_all(relay, messages),
        "smol" => smol::block_on(mxsend::smol::send_all(relay, messages)),
        "tokio" => crate::scenarios::Tokio::block_on(mxsend::tokio::send_all(relay, messages)),
        _ => async_std::task::block_on(mxsend::async_std::send_all(relay, messages)),
    }
}

fn body_case(adapter: &dyn Adapter, failing: TestBody, timeouts: Option<Timeouts>) {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let mut relay = plain_relay(sink.addr, &captured);
    if let Some(timeouts) = timeouts {
        relay = relay.timeouts(timeouts);
    }
    let messages = [
        test_message("a@example.com", hello()),
        test_message("b@example.com", failing),
        test_message("c@example.com", hello()),
    ];
    let reports = send_all_bodies(adapter, &relay, &messages)
        .unwrap_or_else(|e| panic!("{}: an Err drops settled outcomes: {e}", adapter.name()));
    let outcomes: Vec<&Outcome> = reports.iter().map(|r| &r.recipients[0].outcome).collect();
    assert!(
        matches!(outcomes[0], Outcome::Delivered(_)),
        "{}: {outcomes:?}",
        adapter.name()
    );
    assert!(
        matches!(
            outcomes[1],
            Outcome::Deferred(Failure::Body(BodyError::Unreadable(_)))
        ),
        "{}: {outcomes:?}",
        adapter.name()
    );
    assert!(
        matches!(outcomes[2], Outcome::Delivered(_)),
        "{}: {outcomes:?}\n{:#?}",
        adapter.name(),
        captured.lines()
    );
    // The message cut short never reached its end of data.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.dumps().len(), 2, "{}", adapter.name());
}

/// The second of three messages cannot be opened (its file was removed): it is deferred with
/// the cause, the session recovers, the first and third are delivered, and `send_all`
/// returns every report.
pub fn a_body_that_cannot_be_opened_defers_its_message_and_the_others_are_delivered(
    adapter: &dyn Adapter,
) {
    body_case(adapter, TestBody::Missing, None);
}

/// The second message's reader stalls: at the session's body deadline it is deferred, and
/// the others are delivered (before, the attempt hung).
pub fn a_stalled_body_defers_at_the_deadline_and_the_others_are_delivered(adapter: &dyn Adapter) {
    let timeouts = Timeouts {
        data_block: Duration::from_secs(1),
        ..Timeouts::default()
    };
    body_case(adapter, TestBody::Stalled, Some(timeouts));
}

// ---------------------------------------------------------------------------------------------
// The wire, against the scripted server

const GREETING: &[u8] = b"220 hostile.example ESMTP\r\n";
const EHLO_REPLY: &[u8] = b"250-hostile.example\r\n250 8BITMIME\r\n";

fn relay_to(server: &HostileServer, captured: &Captured) -> Relay {
    let mut relay = plain_relay(server.addr(), captured);
    relay = relay.timeouts(Timeouts {
        greeting: Duration::from_secs(5),
        command: Duration::from_secs(5),
        mail: Duration::from_secs(5),
        rcpt: Duration::from_secs(5),
        data_initiation: Duration::from_secs(5),
        data_block: Duration::from_secs(5),
        data_termination: Duration::from_secs(5),
        quit: Duration::from_secs(5),
    });
    relay
}

fn send_bytes(adapter: &dyn Adapter, relay: &Relay, rcpt: &str, body: &[u8]) -> Report {
    let message = Message::new(envelope(&[rcpt]), body.to_vec());
    adapter
        .send(relay, &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()))
}

fn outcome(report: &Report) -> &Outcome {
    &report.recipients[0].outcome
}

/// Greeting, EHLO (with `ehlo`), MAIL, RCPT, DATA and 354: the steps before the body.
fn up_to_data(ehlo: &[u8], rcpt_reply: &[u8]) -> Vec<Step> {
    vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(ehlo.to_vec()),
        Step::Expect("MAIL FROM:<"),
        Step::Send(b"250 2.1.0 ok\r\n".to_vec()),
        Step::Expect("RCPT TO:<"),
        Step::Send(rcpt_reply.to_vec()),
        Step::Expect("DATA"),
        Step::Send(b"354 go ahead\r\n".to_vec()),
    ]
}

fn to_the_end(mut steps: Vec<Step>) -> Vec<Step> {
    steps.push(Step::ReadUntilDot);
    steps.push(Step::Send(b"250 2.0.0 queued\r\n".to_vec()));
    steps.push(Step::Expect("QUIT"));
    steps.push(Step::Send(b"221 2.0.0 bye\r\n".to_vec()));
    steps
}

/// A server that sends `greeting` (in one write), then reads a line: the report.
fn greeting_case(adapter: &dyn Adapter, greeting: &[u8]) -> (Report, HostileServer) {
    let server = HostileServer::start(vec![Step::Send(greeting.to_vec()), Step::ReadLine]);
    let captured = Captured::default();
    let relay = relay_to(&server, &captured);
    (
        send_bytes(adapter, &relay, "a@example.com", b"hi\r\n"),
        server,
    )
}

/// A `250` right after the greeting, before EHLO: a protocol error, not EHLO's answer (which
/// would put every later reply off by one); not even EHLO goes out.
pub fn unsolicited_reply_after_the_greeting_is_a_protocol_error(adapter: &dyn Adapter) {
    let (report, server) =
        greeting_case(adapter, b"220 hostile.example ESMTP\r\n250 2.0.0 fake\r\n");
    assert!(
        matches!(
            outcome(&report),
            Outcome::Deferred(Failure::Session(e @ SessionError::DataBeforeCommand(_))) if e.is_protocol_violation()
        ),
        "{}: {report:?}",
        adapter.name()
    );
    let record = server.only_record();
    assert!(
        record.commands("EHLO").is_empty(),
        "{}: {:?}",
        adapter.name(),
        record.text()
    );
}

/// AUTH LOGIN, and a 334 that is not base64: the client cancels with `*` (RFC 4954 §4) and
/// reads the 501; it never answers with QUIT (which a LOGIN server takes as the username).
pub fn undecodable_challenge_is_cancelled_with_a_star(adapter: &dyn Adapter) {
    let server = HostileServer::start(vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(b"250-hostile.example\r\n250 AUTH LOGIN\r\n".to_vec()),
        Step::Expect("AUTH LOGIN"),
        Step::Send(b"334 this is not base64!\r\n".to_vec()),
        Step::Expect("*"),
        Step::Send(b"501 5.7.0 authentication cancelled\r\n".to_vec()),
        Step::Expect("QUIT"),
        Step::Send(b"221 2.0.0 bye\r\n".to_vec()),
    ]);
    let captured = Captured::default();
    let mut relay = relay_to(&server, &captured).credentials("alice", "pw");
    relay = relay.allow_plaintext_auth(true);
    let report = send_bytes(adapter, &relay, "a@example.com", b"hi\r\n");
    assert!(
        matches!(
            outcome(&report),
            Outcome::Deferred(Failure::Session(SessionError::Sasl(
                SaslError::InvalidBase64 { .. }
            )))
        ),
        "{}: {report:?}",
        adapter.name()
    );
    let record = server.only_record();
    assert!(record.completed, "{}: {record:?}", adapter.name());
    let lines = record.lines();
    assert!(
        lines.len() == 4 && lines[0].starts_with("EHLO "),
        "{lines:?}"
    );
    assert_eq!(
        &lines[1..],
        ["AUTH LOGIN", "*", "QUIT"],
        "{}",
        adapter.name()
    );
}

/// RFC 5321 §4.2.1: test the first digit. A 252 to RCPT is an acceptance.
pub fn rcpt_answered_252_is_delivered(adapter: &dyn Adapter) {
    let server = HostileServer::start(to_the_end(up_to_data(
        EHLO_REPLY,
        b"252 2.1.5 cannot verify, will accept\r\n",
    )));
    let captured = Captured::default();
    let report = send_bytes(
        adapter,
        &relay_to(&server, &captured),
        "a@example.com",
        b"hi\r\n",
    );
    assert!(
        matches!(outcome(&report), Outcome::Delivered(_)),
        "{}: {report:?}",
        adapter.name()
    );
}

/// MAIL answered 354: after a 354 the server takes every octet as content, so the client
/// closes without sending another byte (no QUIT as body text).
pub fn a_354_to_mail_closes_without_another_byte(adapter: &dyn Adapter) {
    let server = HostileServer::start(vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(EHLO_REPLY.to_vec()),
        Step::Expect("MAIL FROM:<"),
        Step::Send(b"354 go ahead\r\n".to_vec()),
        Step::ReadLine,
    ]);
    let captured = Captured::default();
    let report = send_bytes(
        adapter,
        &relay_to(&server, &captured),
        "a@example.com",
        b"hi\r\n",
    );
    assert!(
        matches!(
            outcome(&report),
            Outcome::Deferred(Failure::Session(SessionError::UnexpectedReply { .. }))
        ),
        "{}: {report:?}",
        adapter.name()
    );
    let record = server.only_record();
    let lines = record.lines();
    assert_eq!(lines.len(), 2, "{}: {lines:?}", adapter.name());
    assert!(lines[1].starts_with("MAIL FROM:"), "{lines:?}");
}

/// Content that cannot go out as text, two ways: in memory, where it is found before any
/// connection and so asks for BINARYMIME (RFC 3030), which this server does not offer: it
/// is refused after EHLO without its MAIL going out, while the message after it is
/// delivered; and streamed (content known only as it is read), where it is refused as it
/// streams and never reaches the wire.
fn content_case(adapter: &dyn Adapter, body: &[u8], expected: fn(&ContentError) -> bool) {
    let refused = |report: &Report| {
        matches!(
            outcome(report),
            Outcome::Rejected(Failure::Body(BodyError::Content(e))) if expected(e)
        )
    };
    let binary_refused = |report: &Report| {
        matches!(
            outcome(report),
            Outcome::Rejected(Failure::BinaryUnsupported)
        )
    };
    // In memory: it would need BINARYMIME, and no MAIL goes out for it.
    let server = HostileServer::start(vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(EHLO_REPLY.to_vec()),
        Step::Expect("QUIT"),
        Step::Send(b"221 bye\r\n".to_vec()),
    ]);
    let captured = Captured::default();
    let report = send_bytes(
        adapter,
        &relay_to(&server, &captured),
        "a@example.com",
        body,
    );
    assert!(binary_refused(&report), "{}: {report:?}", adapter.name());
    let record = server.only_record();
    assert!(
        record.completed,
        "{}: {:?}",
        adapter.name(),
        record.script_error
    );
    let server = HostileServer::start(to_the_end(up_to_data(EHLO_REPLY, b"250 2.1.5 ok\r\n")));
    // ... and in send_all the next message goes on without it.
    let messages = [
        Message::new(envelope(&["a@example.com"]), body.to_vec()),
        Message::new(
            envelope(&["b@example.com"]),
            b"Subject: ok\r\n\r\nfine\r\n".to_vec(),
        ),
    ];
    let reports = adapter
        .send_all(&relay_to(&server, &captured), &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert!(
        binary_refused(&reports[0]),
        "{}: {reports:?}",
        adapter.name()
    );
    assert!(
        matches!(outcome(&reports[1]), Outcome::Delivered(_)),
        "{}: {reports:?}",
        adapter.name()
    );
    let record = server.only_record();
    assert_eq!(
        record.commands("RCPT TO:"),
        ["RCPT TO:<b@example.com>".to_string()],
        "{}",
        adapter.name()
    );
    assert!(!record.received.contains(&0), "{}", adapter.name());

    // Streamed: refused as it goes.
    let mut script = up_to_data(EHLO_REPLY, b"250 2.1.5 ok\r\n");
    script.push(Step::ReadUntilDot);
    let server = HostileServer::start(script);
    let messages = [test_message(
        "a@example.com",
        TestBody::Bytes(body.to_vec()),
    )];
    let reports = send_all_bodies(adapter, &relay_to(&server, &captured), &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert!(refused(&reports[0]), "{}: {reports:?}", adapter.name());
    let record = server.only_record();
    assert!(
        !record.received.contains(&0),
        "{}: a NUL went out",
        adapter.name()
    );
    let longest = record.lines().iter().map(String::len).max().unwrap_or(0);
    assert!(
        longest <= 998,
        "{}: a line of {longest} octets went out",
        adapter.name()
    );
    assert!(
        !record.lines().iter().any(|l| l == "."),
        "{}: the cut message was ended",
        adapter.name()
    );
}

/// A NUL in a ready message never reaches the wire: the message is refused with its
/// offset, the cut message never gets its end of data.
pub fn nul_in_the_body_never_reaches_the_wire(adapter: &dyn Adapter) {
    content_case(adapter, b"Subject: x\r\n\r\nbefore\0.after\r\n", |e| {
        matches!(e, ContentError::Nul { offset: 20 })
    });
}

/// A 1,500-octet line (a ready message from mutt) never reaches the wire (RFC 5322 §2.1.1).
pub fn a_line_over_998_octets_never_reaches_the_wire(adapter: &dyn Adapter) {
    let mut body = b"Subject: x\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'y', 1500));
    body.extend_from_slice(b"\r\n");
    content_case(adapter, &body, |e| {
        matches!(e, ContentError::LineTooLong { line: 3 })
    });
}

/// SIZE= declares the octets as sent, LF line ends counted as CRLF (RFC 1870).
pub fn size_counts_octets_after_crlf_normalisation(adapter: &dyn Adapter) {
    let server = HostileServer::start(to_the_end(up_to_data(
        b"250-hostile.example\r\n250 SIZE 100000\r\n",
        b"250 2.1.5 ok\r\n",
    )));
    let captured = Captured::default();
    // 4 lines ended by LF: 25 octets in, 29 on the wire.
    let body = b"Subject: s\n\nline one\nend\n";
    send_bytes(
        adapter,
        &relay_to(&server, &captured),
        "a@example.com",
        body,
    );
    let record = server.only_record();
    let mail = record.commands("MAIL FROM:");
    assert_eq!(
        mail,
        ["MAIL FROM:<alice@example.org> SIZE=29".to_string()],
        "{}",
        adapter.name()
    );
}

/// `bob@bücher.example` goes as `bob@xn--bcher-kva.example`: no SMTPUTF8 needed, and the
/// server (which offers none) delivers.
pub fn u_label_domains_go_as_a_labels(adapter: &dyn Adapter) {
    let server = HostileServer::start(to_the_end(up_to_data(EHLO_REPLY, b"250 2.1.5 ok\r\n")));
    let captured = Captured::default();
    let report = send_bytes(
        adapter,
        &relay_to(&server, &captured),
        "bob@bücher.example",
        b"Subject: x\r\n\r\nhi\r\n",
    );
    assert!(
        matches!(outcome(&report), Outcome::Delivered(_)),
        "{}: {report:?}",
        adapter.name()
    );
    let record = server.only_record();
    assert_eq!(
        record.commands("RCPT TO:"),
        ["RCPT TO:<bob@xn--bcher-kva.example>".to_string()]
    );
    // The report names the recipient as the caller wrote it.
    assert_eq!(
        report.recipients[0].mailbox.to_string(),
        "bob@bücher.example"
    );
}

/// Raw UTF-8 in the headers, ASCII addresses, a server without SMTPUTF8 (smtp-sink): sent
/// as is and delivered, as Postfix does, instead of refused locally.
pub fn utf8_headers_go_to_a_server_without_smtputf8(adapter: &dyn Adapter) {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let mut message = Message::new(
        envelope(&["a@example.com"]),
        "Subject: Grüße\r\n\r\nhallo\r\n".as_bytes().to_vec(),
    );
    message.envelope.utf8_headers = true;
    message.envelope.body = BodyType::EightBitMime;
    let report = adapter
        .send(&plain_relay(sink.addr, &captured), &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert!(
        matches!(outcome(&report), Outcome::Delivered(_)),
        "{}: {report:?}",
        adapter.name()
    );
}

/// A 554 greeting: no SMTP service here, for good: rejected (the CLI's 69), not deferred.
pub fn a_554_greeting_rejects(adapter: &dyn Adapter) {
    let (report, _) = greeting_case(adapter, b"554 5.3.2 no SMTP service here\r\n");
    assert!(
        matches!(
            outcome(&report),
            Outcome::Rejected(Failure::Session(SessionError::GreetingRefused(r))) if r.code().get() == 554
        ),
        "{}: {report:?}",
        adapter.name()
    );
}

// ---------------------------------------------------------------------------------------------
// MX fallback

/// Deliver to alice@example.test with smtp-sink at mx1 (127.0.0.11) started with
/// `mx1_flags` and plain ones at mx2a/b/c: the report and the transcript.
fn mx_case(adapter: &dyn Adapter, mx1_flags: &[&str]) -> (mxsend::RecipientReport, Captured) {
    let dns = Dnsmasq::start();
    let ips = [v4(11), v4(21), v4(22), v4(23)];
    let port = common_free_port(&ips);
    let _sinks: Vec<SmtpSink> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let flags = if i == 0 { mx1_flags } else { &[] };
            SmtpSink::start(flags, Some(std::net::SocketAddr::new(*ip, port)))
        })
        .collect();
    let captured = Captured::default();
    let message = Message::new(
        envelope(&["alice@example.test"]),
        b"Subject: x\r\n\r\nhi\r\n".to_vec(),
    );
    let report = adapter
        .deliver(&mx_delivery(&dns, port, &captured), &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    (report.recipients[0].clone(), captured)
}

/// example.test's mx1 answers MAIL with 4xx (smtp-sink -r MAIL): the next exchange
/// delivers, as Postfix would.
pub fn mx_4xx_to_mail_moves_on_to_the_next_exchange(adapter: &dyn Adapter) {
    let (r, captured) = mx_case(adapter, &["-r", "MAIL"]);
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{}: {r:?}\n{:#?}",
        adapter.name(),
        captured.lines()
    );
    assert_ne!(r.host.as_deref(), Some("mx1.example.test"));
}

/// mx1 answers RCPT with 5xx (smtp-sink -f RCPT): that is the recipient's answer; no other
/// exchange is tried.
pub fn mx_5xx_to_rcpt_does_not_move_on(adapter: &dyn Adapter) {
    let (r, captured) = mx_case(adapter, &["-f", "RCPT"]);
    assert!(
        matches!(&r.outcome, Outcome::Rejected(Failure::Reply(reply)) if reply.code().is_permanent()),
        "{}: {r:?}",
        adapter.name()
    );
    assert_eq!(r.host.as_deref(), Some("mx1.example.test"));
    // mx1's [::1] refuses first; no other exchange is tried after its 5xx.
    let connects = captured.starting_with("connect");
    assert!(
        connects.iter().all(|c| c.starts_with("connect mx1.")),
        "{}: {connects:#?}",
        adapter.name()
    );
}

// ---------------------------------------------------------------------------------------------
// A server's recipient limit (Postfix)

/// Guards the Postfix scenario: one private Postfix at a time in a test binary.
static POSTFIX: Mutex<()> = Mutex::new(());

/// 1,000 recipients to a Postfix with `smtpd_recipient_limit = 40`: at most 100 RCPTs per
/// transaction, recipients answered `452 4.5.3` go in the next one, all on one connection;
/// every recipient ends delivered.
pub fn a_thousand_recipients_to_a_server_taking_forty_per_transaction_are_all_delivered(
    adapter: &dyn Adapter,
) {
    let _one = POSTFIX
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        main_cf: vec![
            ("smtpd_recipient_limit".into(), "40".into()),
            ("recipient_delimiter".into(), "+".into()),
        ],
        ..PostfixOptions::default()
    });
    let rcpts: Vec<String> = (0..1000).map(|i| format!("bob+{i}@example.test")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let captured = Captured::default();
    let mut relay = plain_relay(postfix.smtp_addr(), &captured);
    relay = relay.clone().timeouts(mxsend::Timeouts {
        greeting: Duration::from_secs(30),
        ..relay.phase_timeouts()
    });
    let message = Message::new(envelope(&rcpts), b"Subject: many\r\n\r\nhi\r\n".to_vec());
    let report = adapter
        .send(&relay, &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let undelivered: Vec<_> = report
        .recipients
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Delivered(_)))
        .collect();
    assert!(
        undelivered.is_empty(),
        "{}: {} not delivered, first {:?}",
        adapter.name(),
        undelivered.len(),
        undelivered.first()
    );
    assert_eq!(report.recipients.len(), 1000);
    assert_eq!(captured.starting_with("connect").len(), 1, "one connection");
    let mails = captured.starting_with("-> MAIL FROM");
    assert!(mails.len() >= 25, "{} transactions", mails.len());
    let replies = captured.starting_with("<- 452");
    assert!(!replies.is_empty(), "the server's limit was met");
}
