//! Issue 19's scenarios: whole transactions streamed when the server offers CHUNKING and
//! PIPELINING, written once for every adapter (`streaming_scenarios!(Blocking)`).
//!
//! Against a private Postfix (CHUNKING on its plain listener): many messages over one
//! connection, each stored intact, every BDAT size equal to the octets that followed it, the
//! second MAIL on the wire before the first reply; and refusals of a middle transaction's
//! MAIL (a sender access map), RCPT (an unknown user) and BDAT LAST (a header check) that
//! touch only that transaction. Against the [`HostileServer`]: a server that reads the whole
//! window before answering (so a client that waited for any reply would stall), then refuses
//! a middle MAIL, RCPT or BDAT, says 421, or hangs up mid-window; and a window of 1, which
//! goes back to DATA.

use std::collections::BTreeMap;
use std::time::Duration;

use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{Failure, Outcome, SessionError, Timeouts};
use mxsend::{Message, Relay, Report, TlsMode};

use crate::hostile::{HostileServer, Record, Script, Step};
use crate::postfix::{Postfix, PostfixOptions};
use crate::scenarios::{assert_stored_intact, message_with_body, Adapter, Captured};

/// Instantiate the streaming scenarios for an adapter.
#[macro_export]
macro_rules! streaming_scenarios {
    ($adapter:expr) => {
        $crate::streaming_scenario_tests!($adapter;
            postfix_streams_many_messages_over_one_connection_each_intact,
            postfix_streamed_refusals_touch_only_their_own_transaction,
            hostile_server_reading_the_whole_window_first_gets_every_message,
            hostile_middle_mail_refused_affects_only_its_transaction,
            hostile_middle_rcpt_refused_affects_only_its_transaction,
            hostile_middle_bdat_refused_affects_only_its_transaction,
            hostile_421_mid_window_settles_every_transaction,
            hostile_hang_up_mid_window_settles_every_transaction,
            hostile_window_of_one_goes_back_to_data,
            hostile_binarymime_body_goes_untouched_in_bdat,
            hostile_undeclared_binary_body_goes_as_binarymime,
            postfix_without_binarymime_refuses_a_binary_body_before_mail,
        );
    };
}

/// `#[test]`s calling `mxsend_tests::streaming::NAME(&adapter)`.
#[doc(hidden)]
#[macro_export]
macro_rules! streaming_scenario_tests {
    ($adapter:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::streaming::$name(&$adapter)
            }
        )*
    };
}

/// Each reply's deadline: a hang fails in seconds.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long Postfix may take to put messages in their Maildirs.
const MAILDIR_WAIT: Duration = Duration::from_secs(30);

fn timeouts() -> Timeouts {
    Timeouts {
        greeting: DEADLINE,
        command: DEADLINE,
        mail: DEADLINE,
        rcpt: DEADLINE,
        data_initiation: DEADLINE,
        data_block: DEADLINE,
        data_termination: DEADLINE,
        quit: DEADLINE,
    }
}

fn relay(addr: std::net::SocketAddr, captured: &Captured) -> Relay {
    Relay::new(addr.ip().to_string(), addr.port())
        .tls(TlsMode::None)
        .transcript(captured.hook())
        .connect_timeout(DEADLINE)
        .timeouts(timeouts())
}

/// Message `i`'s content: complete headers (so Postfix stores what was sent), a subject that
/// names it, `lines` body lines.
fn content(i: usize, subject: &str, lines: usize) -> Vec<u8> {
    let mut text = format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.test\r\n\
         Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <streamed-{i}@example.org>\r\n\
         Subject: {subject}\r\n\r\n"
    );
    for line in 0..lines {
        text.push_str(&format!("message {i}, line {line}\r\n"));
    }
    text.into_bytes()
}

fn outcome_of(report: &Report) -> &Outcome {
    &report.recipients[0].outcome
}

fn code(outcome: &Outcome) -> Option<u16> {
    match outcome {
        Outcome::Delivered(reply) => Some(reply.code().get()),
        Outcome::Rejected(f) | Outcome::Deferred(f) | Outcome::Ambiguous(f) => {
            f.reply().map(|r| r.code().get())
        }
    }
}

/// The sizes of the BDAT commands in the transcript, in order.
fn bdat_sizes(captured: &Captured) -> Vec<usize> {
    captured
        .starting_with("-> BDAT ")
        .iter()
        .filter_map(|l| l.split(' ').nth(2)?.parse().ok())
        .collect()
}

/// Each stored message compared with the sent one its Message-ID names.
fn assert_each_stored_intact(stored: &[Vec<u8>], sent: &[Vec<u8>]) {
    let by_id: BTreeMap<String, &Vec<u8>> = sent
        .iter()
        .map(|m| (message_id(m).expect("sent Message-ID"), m))
        .collect();
    for message in stored {
        let id = message_id(message).expect("stored Message-ID");
        let original = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("{id} was not sent"));
        assert_stored_intact(message, original);
    }
}

fn message_id(message: &[u8]) -> Option<String> {
    String::from_utf8_lossy(message)
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_string))
}

// ---------------------------------------------------------------------------------------------
// Postfix

/// 40 messages of different sizes (one over the 16 KiB chunk, so sent in several BDATs)
/// over one connection with the default window: every one delivered and stored intact, the
/// BDAT sizes together exactly the octets of the messages, and the second MAIL sent before
/// the first reply came (nothing waited for a round trip).
pub fn postfix_streams_many_messages_over_one_connection_each_intact(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), &captured);
    let bodies: Vec<Vec<u8>> = (0..40)
        .map(|i| content(i, &format!("streamed {i}"), 1 + i * i % 700))
        .collect();
    let messages: Vec<Message<Vec<u8>>> = bodies
        .iter()
        .map(|b| message_with_body(&["bob@example.test"], b.clone()))
        .collect();
    let reports = adapter
        .send_all(&relay, &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let lines = captured.lines();
    for (i, report) in reports.iter().enumerate() {
        assert!(
            matches!(outcome_of(report), Outcome::Delivered(_)),
            "message {i}: {report:?}\n{lines:#?}"
        );
    }
    assert_eq!(captured.starting_with("connect").len(), 1);
    let total: usize = bodies.iter().map(Vec::len).sum();
    assert_eq!(bdat_sizes(&captured).iter().sum::<usize>(), total);
    assert!(captured.starting_with("-> DATA").is_empty(), "{lines:#?}");
    let second_mail = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("-> MAIL FROM:"))
        .nth(1)
        .map(|(i, _)| i);
    let first_reply_after_ehlo = lines
        .iter()
        .position(|l| l.starts_with("<- 250 2.1.0"))
        .expect("a reply to MAIL");
    assert!(
        second_mail.is_some_and(|i| i < first_reply_after_ehlo),
        "the second MAIL waited for a reply\n{lines:#?}"
    );
    let stored = postfix.wait_for_messages("bob@example.test", bodies.len(), MAILDIR_WAIT);
    assert_eq!(stored.len(), bodies.len());
    assert_each_stored_intact(&stored, &bodies);
}

/// In one streamed window, Postfix refuses one message's sender at MAIL (an access map,
/// `smtpd_delay_reject = no`), another's only recipient at RCPT (not a mailbox), a third's
/// content at BDAT LAST (a header check): each of those is rejected with its own reply, and
/// the messages between them are delivered and stored intact.
pub fn postfix_streamed_refusals_touch_only_their_own_transaction(adapter: &dyn Adapter) {
    let set = |name: &str, value: &str| (name.to_string(), value.to_string());
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        main_cf: vec![
            set("smtpd_delay_reject", "no"),
            set(
                "smtpd_sender_restrictions",
                "check_sender_access inline:{ refused@example.org=REJECT }",
            ),
            set(
                "header_checks",
                "regexp:{ {/^Subject: refuse me/ REJECT content refused} }",
            ),
        ],
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), &captured);
    let good: Vec<Vec<u8>> = (0..4)
        .map(|i| content(i, &format!("good {i}"), 3))
        .collect();
    let mut refused_sender = message_with_body(&["bob@example.test"], content(10, "x", 3));
    refused_sender.envelope.from =
        mxsend::protocol::address::ReversePath::parse("refused@example.org").expect("sender");
    let messages = vec![
        message_with_body(&["bob@example.test"], good[0].clone()),
        refused_sender,
        message_with_body(&["bob@example.test"], good[1].clone()),
        message_with_body(&["nobody@example.test"], content(11, "x", 3)),
        message_with_body(&["bob@example.test"], good[2].clone()),
        message_with_body(&["bob@example.test"], content(12, "refuse me", 3)),
        message_with_body(&["bob@example.test"], good[3].clone()),
    ];
    let reports = adapter
        .send_all(&relay, &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let lines = captured.lines();
    let got: Vec<(char, Option<u16>)> = reports
        .iter()
        .map(|r| {
            let o = outcome_of(r);
            let kind = match o {
                Outcome::Delivered(_) => 'D',
                Outcome::Rejected(_) => 'R',
                Outcome::Deferred(_) => 'F',
                Outcome::Ambiguous(_) => 'A',
            };
            (kind, code(o))
        })
        .collect();
    assert_eq!(
        got,
        [
            ('D', Some(250)),
            ('R', Some(554)),
            ('D', Some(250)),
            ('R', Some(550)),
            ('D', Some(250)),
            ('R', Some(550)),
            ('D', Some(250)),
        ],
        "{reports:#?}\n{lines:#?}"
    );
    assert!(matches!(
        outcome_of(&reports[1]),
        Outcome::Rejected(Failure::SenderRefused(_))
    ));
    assert_eq!(captured.starting_with("connect").len(), 1);
    let stored = postfix.wait_for_messages("bob@example.test", good.len(), MAILDIR_WAIT);
    assert_each_stored_intact(&stored, &good);
    // Give Postfix a moment: nothing else arrives.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(postfix.messages("bob@example.test").len(), good.len());
}

// ---------------------------------------------------------------------------------------------
// The hostile server

const GREETING: &[u8] = b"220 hostile.example ESMTP\r\n";
const EHLO_STREAMING: &[u8] = b"250-hostile.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const MAIL_OK: &str = "250 2.1.0 sender ok\r\n";
const RCPT_OK: &str = "250 2.1.5 recipient ok\r\n";
const QUEUED: &str = "250 2.0.0 queued\r\n";
const RESET: &str = "250 2.0.0 reset\r\n";

/// The greeting and EHLO, then `count` streamed transactions read in full (RSET before each
/// after the first, MAIL, one RCPT, one BDAT with its chunk) before anything is answered.
fn read_window(count: usize) -> Script {
    let mut script = vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(EHLO_STREAMING.to_vec()),
    ];
    for i in 0..count {
        if i > 0 {
            script.push(Step::Expect("RSET"));
        }
        script.push(Step::Expect("MAIL FROM:<"));
        script.push(Step::Expect("RCPT TO:<"));
        script.push(Step::ReadBdat);
    }
    script
}

/// Three messages, each a little over 16 KiB would be several chunks; these are short: one
/// `BDAT n LAST` each.
fn three_messages() -> Vec<Message<Vec<u8>>> {
    (0..3)
        .map(|i| message_with_body(&["a@example.com"], content(i, "hostile", 5)))
        .collect()
}

fn send_three(adapter: &dyn Adapter, server: &HostileServer) -> (Vec<Report>, Captured) {
    let captured = Captured::default();
    let reports = adapter
        .send_all(&relay(server.addr(), &captured), &three_messages())
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert_eq!(reports.len(), 3);
    (reports, captured)
}

/// What the client sent: the BDAT framing exact (each size the octets after it, up to the
/// next command) and the contents the messages'.
fn assert_framing(record: &Record, messages: &[Message<Vec<u8>>]) {
    let mut rest: &[u8] = &record.received;
    let mut contents: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(&rest[..lf]).trim_end().to_string();
        rest = &rest[lf + 1..];
        if let Some(args) = line.strip_prefix("BDAT ") {
            let mut parts = args.split(' ');
            let size: usize = parts.next().and_then(|s| s.parse().ok()).expect("size");
            let last = parts.next() == Some("LAST");
            assert!(
                rest.len() >= size,
                "BDAT {size} with {} octets after",
                rest.len()
            );
            current.extend_from_slice(&rest[..size]);
            rest = &rest[size..];
            if last {
                contents.push(std::mem::take(&mut current));
            }
        } else {
            assert!(
                ["EHLO ", "RSET", "MAIL FROM:<", "RCPT TO:<", "QUIT"]
                    .iter()
                    .any(|c| line.starts_with(c)),
                "not a command: {line:?}"
            );
        }
    }
    assert!(rest.is_empty(), "a partial line at the end: {rest:?}");
    let sent: Vec<&Vec<u8>> = messages.iter().map(|m| &m.body).collect();
    assert_eq!(contents.iter().collect::<Vec<_>>(), sent[..contents.len()]);
}

/// The server reads all three transactions before answering any (a client that waited for a
/// reply would stall and time out), then answers them in one write.
pub fn hostile_server_reading_the_whole_window_first_gets_every_message(adapter: &dyn Adapter) {
    let mut script = read_window(3);
    script.push(Step::Send(
        [
            MAIL_OK, RCPT_OK, QUEUED, RESET, MAIL_OK, RCPT_OK, QUEUED, RESET, MAIL_OK, RCPT_OK,
            QUEUED,
        ]
        .concat()
        .into_bytes(),
    ));
    script.push(Step::Expect("QUIT"));
    script.push(Step::Send(b"221 bye\r\n".to_vec()));
    let server = HostileServer::start(script);
    let (reports, captured) = send_three(adapter, &server);
    for report in &reports {
        assert!(
            matches!(outcome_of(report), Outcome::Delivered(_)),
            "{report:?}\n{:#?}",
            captured.lines()
        );
    }
    let record = server.only_record();
    assert!(record.completed, "{:?}", record.script_error);
    assert_framing(&record, &three_messages());
}

/// The window read in full, then `replies` for it, then QUIT answered.
fn answered(replies: &[&str]) -> HostileServer {
    let mut script = read_window(3);
    script.push(Step::Send(replies.concat().into_bytes()));
    script.push(Step::Expect("QUIT"));
    script.push(Step::Send(b"221 bye\r\n".to_vec()));
    HostileServer::start(script)
}

fn assert_middle_only(reports: &[Report], captured: &Captured, middle: impl Fn(&Outcome) -> bool) {
    let lines = captured.lines();
    assert!(
        matches!(outcome_of(&reports[0]), Outcome::Delivered(_)),
        "{reports:#?}\n{lines:#?}"
    );
    assert!(middle(outcome_of(&reports[1])), "{reports:#?}\n{lines:#?}");
    assert!(
        matches!(outcome_of(&reports[2]), Outcome::Delivered(_)),
        "{reports:#?}\n{lines:#?}"
    );
}

/// The window read in full; the first and last transactions answered well, the middle one's
/// MAIL, RCPT and BDAT with `middle`: the first and last delivered, the middle as `check` says.
fn middle_answered(adapter: &dyn Adapter, middle: [&str; 3], check: impl Fn(&Outcome) -> bool) {
    let good = [MAIL_OK, RCPT_OK, QUEUED];
    let replies = [&good[..], &[RESET], &middle[..], &[RESET], &good[..]].concat();
    let server = answered(&replies);
    let (reports, captured) = send_three(adapter, &server);
    assert_middle_only(&reports, &captured, check);
    assert!(server.only_record().completed);
}

/// The middle transaction's MAIL is refused (its RCPT and BDAT then out of sequence):
/// rejected with the MAIL reply; the others delivered.
pub fn hostile_middle_mail_refused_affects_only_its_transaction(adapter: &dyn Adapter) {
    let middle = [
        "550 5.7.1 sender refused\r\n",
        "503 5.5.1 need MAIL\r\n",
        "503 5.5.1 need RCPT\r\n",
    ];
    middle_answered(
        adapter,
        middle,
        |o| matches!(o, Outcome::Rejected(Failure::SenderRefused(r)) if r.code().get() == 550),
    );
}

/// The middle transaction's only recipient is refused (BDAT then answered 554): rejected
/// with the RCPT reply; the others delivered.
pub fn hostile_middle_rcpt_refused_affects_only_its_transaction(adapter: &dyn Adapter) {
    let middle = [
        MAIL_OK,
        "550 5.1.1 no such user\r\n",
        "554 5.5.1 no valid recipients\r\n",
    ];
    middle_answered(
        adapter,
        middle,
        |o| matches!(o, Outcome::Rejected(Failure::Reply(r)) if r.code().get() == 550),
    );
}

/// The middle transaction's BDAT LAST is refused (451: deferred); the others delivered.
pub fn hostile_middle_bdat_refused_affects_only_its_transaction(adapter: &dyn Adapter) {
    let middle = [MAIL_OK, RCPT_OK, "451 4.3.0 try again later\r\n"];
    middle_answered(
        adapter,
        middle,
        |o| matches!(o, Outcome::Deferred(Failure::Reply(r)) if r.code().get() == 451),
    );
}

/// After the first transaction's replies the server says 421 and closes: the first is
/// delivered; the two whose BDAT LAST went out may have been taken: ambiguous, none lost.
pub fn hostile_421_mid_window_settles_every_transaction(adapter: &dyn Adapter) {
    let mut script = read_window(3);
    script.push(Step::Send(
        [MAIL_OK, RCPT_OK, QUEUED, "421 4.3.2 shutting down\r\n"]
            .concat()
            .into_bytes(),
    ));
    // QUIT followed the last BDAT LAST: read it, so the close is a FIN, not a reset.
    script.push(Step::Expect("QUIT"));
    script.push(Step::Close);
    let server = HostileServer::start(script);
    let (reports, captured) = send_three(adapter, &server);
    let lines = captured.lines();
    assert!(
        matches!(outcome_of(&reports[0]), Outcome::Delivered(_)),
        "{lines:#?}"
    );
    for report in &reports[1..] {
        assert!(
            matches!(
                outcome_of(report),
                Outcome::Ambiguous(Failure::Session(SessionError::ServiceClosing(r)))
                    if r.code().get() == 421
            ),
            "{report:?}\n{lines:#?}"
        );
    }
    assert_framing(&server.only_record(), &three_messages());
}

/// After the first transaction's replies the server hangs up: the first delivered, the other
/// two ambiguous (their BDAT LAST went out), none lost.
pub fn hostile_hang_up_mid_window_settles_every_transaction(adapter: &dyn Adapter) {
    let mut script = read_window(3);
    script.push(Step::Send([MAIL_OK, RCPT_OK, QUEUED].concat().into_bytes()));
    script.push(Step::Expect("QUIT"));
    script.push(Step::Close);
    let server = HostileServer::start(script);
    let (reports, captured) = send_three(adapter, &server);
    let lines = captured.lines();
    assert!(
        matches!(outcome_of(&reports[0]), Outcome::Delivered(_)),
        "{lines:#?}"
    );
    for report in &reports[1..] {
        assert!(
            matches!(
                outcome_of(report),
                Outcome::Ambiguous(Failure::Session(SessionError::ConnectionClosed(_)))
            ),
            "{report:?}\n{lines:#?}"
        );
    }
}

/// `Relay::window(1)` reaches the session: against the same server, DATA and one round
/// trip per message, as before streaming.
pub fn hostile_window_of_one_goes_back_to_data(adapter: &dyn Adapter) {
    let mut script = vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(EHLO_STREAMING.to_vec()),
        Step::Expect("MAIL FROM:<"),
        Step::Expect("RCPT TO:<"),
        Step::Expect("DATA"),
        Step::Send([MAIL_OK, RCPT_OK, "354 go ahead\r\n"].concat().into_bytes()),
        Step::ReadUntilDot,
        Step::Expect("QUIT"),
        Step::Send([QUEUED, "221 bye\r\n"].concat().into_bytes()),
    ];
    script.push(Step::Close);
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let relay = relay(server.addr(), &captured).window(1);
    let report = adapter
        .send(
            &relay,
            &message_with_body(&["a@example.com"], content(0, "one", 2)),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert!(
        matches!(outcome_of(&report), Outcome::Delivered(_)),
        "{report:?}\n{:#?}",
        captured.lines()
    );
    let record = server.only_record();
    assert!(record.completed, "{:?}", record.script_error);
    assert!(record.commands("BDAT").is_empty());
}

/// A binary body (a NUL, bare CR and LF, a line of 2000 octets), declared BINARYMIME, to a
/// server that offers it: `BODY=BINARYMIME` and one BDAT whose chunk is the content octet for
/// octet, without the chunking option set (the default window uses BDAT).
pub fn hostile_binarymime_body_goes_untouched_in_bdat(adapter: &dyn Adapter) {
    binary_body_case(adapter, true, None);
}

/// The same body not declared: mxsend sees that it cannot go as text and sends it with
/// `BODY=BINARYMIME` in BDAT, untouched (RFC 3030), with the default window and with the
/// window off (one transaction at a time, the chunking option unset: BINARYMIME still
/// needs BDAT, so BDAT it is).
pub fn hostile_undeclared_binary_body_goes_as_binarymime(adapter: &dyn Adapter) {
    binary_body_case(adapter, false, None);
    binary_body_case(adapter, false, Some(1));
}

fn binary_body_case(adapter: &dyn Adapter, declared: bool, window: Option<usize>) {
    let mut body = b"Content-Type: application/octet-stream\r\n\r\n\0\x01bare\nCR\r".to_vec();
    body.extend(std::iter::repeat_n(b'x', 2000));
    let mut script = vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO "),
        Step::Send(
            b"250-hostile.example\r\n250-PIPELINING\r\n250-BINARYMIME\r\n250 CHUNKING\r\n".to_vec(),
        ),
        Step::Expect("MAIL FROM:<alice@example.org> BODY=BINARYMIME"),
        Step::Expect("RCPT TO:<"),
    ];
    if window == Some(1) {
        // One round trip at a time: the commands' replies before the chunk.
        script.push(Step::Send([MAIL_OK, RCPT_OK].concat().into_bytes()));
        script.push(Step::ReadBdat);
        script.push(Step::Send(QUEUED.as_bytes().to_vec()));
    } else {
        script.push(Step::ReadBdat);
        script.push(Step::Send([MAIL_OK, RCPT_OK, QUEUED].concat().into_bytes()));
    }
    script.push(Step::Expect("QUIT"));
    script.push(Step::Send(b"221 bye\r\n".to_vec()));
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let mut message = message_with_body(&["a@example.com"], body.clone());
    if declared {
        message.envelope.body = BodyType::BinaryMime;
    }
    let mut relay = relay(server.addr(), &captured);
    if let Some(window) = window {
        relay = relay.window(window);
    }
    let report = adapter
        .send(&relay, &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let case = format!("{} declared={declared} window={window:?}", adapter.name());
    assert!(
        matches!(outcome_of(&report), Outcome::Delivered(_)),
        "{case}: {report:?}\n{:#?}",
        captured.lines()
    );
    let record = server.only_record();
    assert!(record.completed, "{case}: {:?}", record.script_error);
    let head = format!("BDAT {} LAST\r\n", body.len()).into_bytes();
    let at = record
        .received
        .windows(head.len())
        .position(|w| w == head.as_slice())
        .unwrap_or_else(|| panic!("{case}: no BDAT LAST of the body's size"));
    let chunk = &record.received[at + head.len()..at + head.len() + body.len()];
    assert_eq!(chunk, body.as_slice(), "{case}");
}

/// Postfix offers CHUNKING but not BINARYMIME: a binary body, declared or found (a line over
/// 998 octets), is refused for that reason, and its MAIL never goes out; the text message
/// after them is delivered.
pub fn postfix_without_binarymime_refuses_a_binary_body_before_mail(adapter: &dyn Adapter) {
    let postfix = Postfix::start(PostfixOptions {
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let mut binary = message_with_body(&["bob@example.test"], b"\0binary\r\n".to_vec());
    binary.envelope.body = BodyType::BinaryMime;
    // Not declared, but not text either (a 1,500-octet line): it would need BINARYMIME.
    let mut long = b"Subject: long\r\n\r\n".to_vec();
    long.extend(std::iter::repeat_n(b'y', 1500));
    long.extend_from_slice(b"\r\n");
    let text = content(0, "text", 2);
    let messages = [
        binary,
        message_with_body(&["bob@example.test"], long),
        message_with_body(&["bob@example.test"], text.clone()),
    ];
    let reports = adapter
        .send_all(&relay(postfix.smtp_addr(), &captured), &messages)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert!(
        matches!(
            outcome_of(&reports[0]),
            Outcome::Rejected(Failure::BinaryUnsupported)
        ),
        "{reports:#?}"
    );
    assert!(
        matches!(
            outcome_of(&reports[1]),
            Outcome::Rejected(Failure::BinaryUnsupported)
        ),
        "{reports:#?}"
    );
    assert!(
        matches!(outcome_of(&reports[2]), Outcome::Delivered(_)),
        "{reports:#?}"
    );
    assert_eq!(captured.starting_with("-> MAIL FROM:").len(), 1);
    let stored = postfix.wait_for_messages("bob@example.test", 1, MAILDIR_WAIT);
    assert_stored_intact(&stored[0], &text);
}
