//! Transcript tests for issue 19: whole transactions streamed under CHUNKING + PIPELINING,
//! up to the [`TransactionWindow`].

use super::*;

const EHLO_STREAMING: &str = "250-mx.example.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const EHLO_DATA_ONLY: &str = "250-mx.example.test\r\n250 PIPELINING\r\n";

fn streaming(window: TransactionWindow) -> Script {
    let mut c = config(TlsPolicy::Disabled);
    c.window = window;
    Script::new(c)
}

/// Message `i`: from `s{i}@example.org`, canonical already (so its BDAT size is its length).
fn message(i: usize) -> String {
    format!("Subject: m{i}\r\n\r\nhello {i}\r\n")
}

fn sized(i: usize, to: &[&str]) -> Envelope {
    let mut e = envelope(to);
    e.from = ReversePath::Mailbox(mailbox(&format!("s{i}@example.org")));
    e.size = Some(message(i).len() as u64);
    e
}

impl Script {
    /// Queue message `i` for `to`.
    fn send_sized(&mut self, i: usize, to: &[&str]) -> TransactionId {
        self.session.send_mail(sized(i, to), self.now).unwrap()
    }

    /// Hand over every body the session asks for; `bodies[id]` is transaction `id`'s.
    fn feed_bodies(&mut self) {
        while self.session.wants_body() {
            let Some(TransactionId(id)) = self.session.body_transaction() else {
                return;
            };
            let body = message(id as usize);
            self.session.send_body(body.as_bytes(), self.now).unwrap();
            self.session.finish_body(self.now).unwrap();
        }
    }
}

/// What the client sends for streamed message `i` to `to`, after an RSET when `rset`.
fn streamed(i: usize, to: &[&str], rset: bool) -> String {
    let mut wire = String::new();
    if rset {
        wire.push_str("RSET\r\n");
    }
    wire.push_str(&format!("MAIL FROM:<s{i}@example.org>\r\n"));
    for t in to {
        wire.push_str(&format!("RCPT TO:<{t}>\r\n"));
    }
    let body = message(i);
    wire.push_str(&format!("BDAT {} LAST\r\n{body}", body.len()));
    wire
}

fn outcome_codes(events: &[Seen]) -> Vec<(u64, Vec<Option<u16>>)> {
    done(events)
        .into_iter()
        .map(|(id, o)| (id.0, o.iter().map(code_of).collect()))
        .collect()
}

#[test]
fn three_transactions_stream_in_one_write_without_waiting_for_any_reply() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    for i in 0..3 {
        s.send_sized(i, &["a@example.test"]);
    }
    s.session.quit(s.now);
    s.feed_bodies();
    let expected = [
        streamed(0, &["a@example.test"], false),
        streamed(1, &["a@example.test"], true),
        streamed(2, &["a@example.test"], true),
        "QUIT\r\n".to_string(),
    ]
    .concat();
    s.expect(&expected);
    // Every reply in one read: MAIL, RCPT, BDAT; then RSET, MAIL, RCPT, BDAT twice.
    s.server("250 ok\r\n250 ok\r\n250 queued 0\r\n");
    s.server("250 reset\r\n250 ok\r\n250 ok\r\n250 queued 1\r\n");
    s.server("250 reset\r\n250 ok\r\n250 ok\r\n250 queued 2\r\n");
    s.expect("");
    s.server("221 bye\r\n");
    let events = s.events();
    assert_eq!(
        outcome_codes(&events),
        vec![
            (0, vec![Some(250)]),
            (1, vec![Some(250)]),
            (2, vec![Some(250)])
        ]
    );
    let texts: Vec<String> = done(&events)
        .iter()
        .map(|(_, o)| match &o[0] {
            Outcome::Delivered(r) => r.first_line().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["queued 0", "queued 1", "queued 2"]);
    assert_eq!(closed(&events), Some(None));
}

#[test]
fn a_refused_mail_in_the_middle_affects_only_its_own_transaction() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    for i in 0..3 {
        s.send_sized(i, &["a@example.test"]);
    }
    s.feed_bodies();
    s.sent();
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n");
    // The server has no transaction: RCPT and BDAT are out of sequence (503).
    s.server(
        "250 reset\r\n550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n",
    );
    s.server("250 reset\r\n250 ok\r\n250 ok\r\n250 queued\r\n");
    let events = s.events();
    assert_eq!(
        outcome_codes(&events),
        vec![
            (0, vec![Some(250)]),
            (1, vec![Some(550)]),
            (2, vec![Some(250)])
        ]
    );
    assert!(matches!(
        &done(&events)[1].1[0],
        Outcome::Rejected(Failure::SenderRefused(_))
    ));
}

#[test]
fn refused_recipients_in_the_middle_keep_their_rcpt_reply_and_the_others_are_delivered() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test"]);
    s.send_sized(1, &["x@example.test", "b@example.test"]);
    s.send_sized(2, &["y@example.test"]);
    s.send_sized(3, &["c@example.test"]);
    s.feed_bodies();
    s.sent();
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n");
    // One of two refused: the other gets the message.
    s.server("250 reset\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n250 queued\r\n");
    // Every one refused: BDAT LAST is answered 554, the RCPT reply stays the outcome.
    s.server("250 reset\r\n250 ok\r\n450 4.2.1 try later\r\n554 5.5.1 no valid recipients\r\n");
    s.server("250 reset\r\n250 ok\r\n250 ok\r\n250 queued\r\n");
    let events = s.events();
    assert_eq!(
        outcome_codes(&events),
        vec![
            (0, vec![Some(250)]),
            (1, vec![Some(550), Some(250)]),
            (2, vec![Some(450)]),
            (3, vec![Some(250)]),
        ]
    );
    assert!(matches!(
        &done(&events)[2].1[0],
        Outcome::Deferred(Failure::Reply(_))
    ));
}

#[test]
fn a_refused_bdat_last_in_the_middle_refuses_only_that_message() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    for i in 0..3 {
        s.send_sized(i, &["a@example.test"]);
    }
    s.feed_bodies();
    s.sent();
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n");
    s.server("250 reset\r\n250 ok\r\n250 ok\r\n552 5.3.4 message refused\r\n");
    s.server("250 reset\r\n250 ok\r\n250 ok\r\n451 4.3.0 try again\r\n");
    let events = s.events();
    assert_eq!(
        outcome_codes(&events),
        vec![
            (0, vec![Some(250)]),
            (1, vec![Some(552)]),
            (2, vec![Some(451)])
        ]
    );
    assert!(matches!(&done(&events)[1].1[0], Outcome::Rejected(_)));
    assert!(matches!(&done(&events)[2].1[0], Outcome::Deferred(_)));
}

/// Four messages in a window of three: the first delivered, then the server says 421.
fn window_of_three_then(server: &str, written: Option<usize>) -> Vec<Seen> {
    let mut s = streaming(TransactionWindow::from(3));
    s.open(EHLO_STREAMING);
    for i in 0..4 {
        s.send_sized(i, &["a@example.test"]);
    }
    s.feed_bodies();
    let pending = s.session.pending_transmit().len();
    s.session.advance_transmit(written.unwrap_or(pending));
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n");
    if server.is_empty() {
        s.session.handle_eof(s.now);
    } else {
        s.server(server);
    }
    s.events()
}

#[test]
fn a_421_mid_window_makes_the_sent_ends_of_data_ambiguous_and_defers_the_rest() {
    let events = window_of_three_then("421 4.3.2 shutting down\r\n", None);
    let outcomes = done(&events);
    assert_eq!(outcomes.len(), 4, "{events:?}");
    assert!(matches!(&outcomes[0].1[0], Outcome::Delivered(_)));
    // Messages 1 and 2 had their BDAT LAST handed over: they may have been taken.
    for (id, o) in &outcomes[1..3] {
        assert!(
            matches!(
                &o[0],
                Outcome::Ambiguous(Failure::Session(SessionError::ServiceClosing(_)))
            ),
            "{id:?}: {o:?}"
        );
    }
    // Message 3 never started: the window was full.
    assert!(matches!(
        &outcomes[3].1[0],
        Outcome::Deferred(Failure::Session(SessionError::ServiceClosing(_)))
    ));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::ServiceClosing(_)))
    ));
}

#[test]
fn a_dropped_connection_mid_window_defers_what_was_not_handed_over() {
    // Everything up to and including message 1's content was written, not message 2's.
    let upto = [
        streamed(0, &["a@example.test"], false),
        streamed(1, &["a@example.test"], true),
    ]
    .concat()
    .len();
    let events = window_of_three_then("", Some(upto + 10));
    let outcomes = done(&events);
    assert_eq!(outcomes.len(), 4, "{events:?}");
    assert!(matches!(&outcomes[0].1[0], Outcome::Delivered(_)));
    assert!(matches!(
        &outcomes[1].1[0],
        Outcome::Ambiguous(Failure::Session(SessionError::ConnectionClosed(_)))
    ));
    for (_, o) in &outcomes[2..] {
        assert!(
            matches!(
                &o[0],
                Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(_)))
            ),
            "{o:?}"
        );
    }
}

#[test]
fn a_421_answering_a_transactions_own_command_defers_it_with_that_reply() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test"]);
    s.send_sized(1, &["a@example.test"]);
    s.feed_bodies();
    s.sent();
    s.server("250 ok\r\n421 4.3.2 bye\r\n");
    let outcomes = done(&s.events());
    assert!(
        matches!(&outcomes[0].1[0], Outcome::Deferred(Failure::Reply(r)) if r.code().get() == 421)
    );
    assert!(matches!(&outcomes[1].1[0], Outcome::Ambiguous(_)));
}

/// Three messages queued under `window`, which lets the first two go out at once.
fn three_with_two_in_flight(window: TransactionWindow) -> Script {
    let mut s = streaming(window);
    s.open(EHLO_STREAMING);
    for i in 0..3 {
        s.send_sized(i, &["a@example.test"]);
    }
    s.feed_bodies();
    s.expect(
        &[
            streamed(0, &["a@example.test"], false),
            streamed(1, &["a@example.test"], true),
        ]
        .concat(),
    );
    s
}

#[test]
fn the_window_bounds_transactions_in_flight() {
    let mut s = three_with_two_in_flight(TransactionWindow::from(2));
    s.server("250 ok\r\n250 ok\r\n");
    s.feed_bodies();
    s.expect("");
    s.server("250 queued\r\n");
    s.feed_bodies();
    s.expect(&streamed(2, &["a@example.test"], true));
}

#[test]
fn the_window_bounds_octets_in_flight() {
    let one = streamed(0, &["a@example.test"], false).len() as u64;
    // The first alone is under the bound, the first two not, the second alone (with its
    // RSET) again under it.
    let mut s = three_with_two_in_flight(TransactionWindow::new(32, one + 7));
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n");
    s.feed_bodies();
    s.expect(&streamed(2, &["a@example.test"], true));
}

#[test]
fn a_window_of_one_waits_for_the_rcpt_replies_as_before() {
    let mut s = streaming(TransactionWindow::OFF);
    s.open(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test"]);
    s.send_sized(1, &["a@example.test"]);
    s.feed_bodies();
    // Without the chunking option, DATA as before.
    s.expect("MAIL FROM:<s0@example.org>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n");
}

#[test]
fn a_message_larger_than_the_window_goes_with_bdat_after_its_rcpt_replies() {
    let mut s = streaming(TransactionWindow::new(32, 10));
    s.open(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test"]);
    s.send_sized(1, &["a@example.test"]);
    s.feed_bodies();
    s.expect("MAIL FROM:<s0@example.org>\r\nRCPT TO:<a@example.test>\r\n");
    s.server("250 ok\r\n250 ok\r\n");
    s.feed_bodies();
    // The next one waits behind it: the window's octets are taken.
    s.expect(&format!("BDAT 24 LAST\r\n{}", message(0)));
    s.server("250 queued\r\n");
    s.expect("MAIL FROM:<s1@example.org>\r\nRCPT TO:<a@example.test>\r\n");
}

#[test]
fn a_message_of_unknown_size_is_not_streamed_but_goes_with_bdat() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    s.send(&["a@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.test>\r\n");
    s.server("250 ok\r\n250 ok\r\n");
    s.body("hi");
    s.expect("BDAT 4 LAST\r\nhi\r\n");
}

#[test]
fn binarymime_goes_with_bdat_whatever_the_chunking_option_and_window() {
    let ehlo = "250-mx.example.test\r\n250-PIPELINING\r\n250-BINARYMIME\r\n250 CHUNKING\r\n";
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(ehlo);
    let mut e = sized(0, &["a@example.test"]);
    e.body = BodyType::BinaryMime;
    e.size = Some(5);
    s.session.send_mail(e, s.now).unwrap();
    s.session.send_body(b"\0a\nb\r", s.now).unwrap();
    s.session.finish_body(s.now).unwrap();
    // Untouched: the NUL, the bare LF and CR, no line end added.
    s.expect("MAIL FROM:<s0@example.org> BODY=BINARYMIME\r\nRCPT TO:<a@example.test>\r\nBDAT 5 LAST\r\n\0a\nb\r");
    // Window off, chunking off: BINARYMIME still goes with BDAT (it cannot go otherwise),
    // one chunk at a time after the commands' replies.
    let mut off = streaming(TransactionWindow::OFF);
    off.open(ehlo);
    let mut e = sized(0, &["a@example.test"]);
    e.body = BodyType::BinaryMime;
    e.size = Some(5);
    off.session.send_mail(e, off.now).unwrap();
    off.expect("MAIL FROM:<s0@example.org> BODY=BINARYMIME\r\nRCPT TO:<a@example.test>\r\n");
    off.server("250 ok\r\n250 ok\r\n");
    off.session.send_body(b"\0a\nb\r", off.now).unwrap();
    off.session.finish_body(off.now).unwrap();
    off.expect("BDAT 5 LAST\r\n\0a\nb\r");
    off.server("250 2.0.0 queued\r\n");
    assert!(matches!(
        &done(&off.events())[0].1[0],
        Outcome::Delivered(_)
    ));
}

#[test]
fn binarymime_without_pipelining_waits_for_each_reply_and_sends_the_chunk_exactly() {
    // CHUNKING and BINARYMIME without PIPELINING: one command at a time, then the chunk.
    let ehlo = "250-mx.example.test\r\n250-BINARYMIME\r\n250 CHUNKING\r\n";
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(ehlo);
    let mut e = sized(0, &["a@example.test", "b@example.test"]);
    e.body = BodyType::BinaryMime;
    e.size = Some(6);
    s.session.send_mail(e, s.now).unwrap();
    s.expect("MAIL FROM:<s0@example.org> BODY=BINARYMIME\r\n");
    s.server("250 ok\r\n");
    s.expect("RCPT TO:<a@example.test>\r\n");
    s.server("250 ok\r\n");
    s.expect("RCPT TO:<b@example.test>\r\n");
    s.server("550 5.1.1 no such user\r\n");
    s.session.send_body(b"\0\r\n.\r\n", s.now).unwrap();
    s.session.finish_body(s.now).unwrap();
    // A line that is only a dot is content here: no stuffing, no end-of-data marker.
    s.expect("BDAT 6 LAST\r\n\0\r\n.\r\n");
    s.server("250 2.0.0 queued\r\n");
    let outcomes = &done(&s.events())[0].1;
    assert!(matches!(outcomes[0], Outcome::Delivered(_)), "{outcomes:?}");
    assert!(matches!(outcomes[1], Outcome::Rejected(_)), "{outcomes:?}");
}

#[test]
fn binarymime_to_a_server_without_it_is_refused_naming_the_cause() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    let mut e = sized(0, &["a@example.test"]);
    e.body = BodyType::BinaryMime;
    s.session.send_mail(e, s.now).unwrap();
    assert_eq!(s.sent(), "");
    assert!(matches!(
        &done(&s.events())[0].1[0],
        Outcome::Rejected(Failure::BinaryUnsupported)
    ));
}

#[test]
fn without_chunking_data_keeps_one_round_trip_per_message() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_DATA_ONLY);
    s.send_sized(0, &["a@example.test"]);
    s.send_sized(1, &["a@example.test"]);
    s.expect("MAIL FROM:<s0@example.org>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n");
    s.server("250 ok\r\n250 ok\r\n354 go\r\n");
    s.feed_bodies();
    s.expect(&format!(
        "{}.\r\nMAIL FROM:<s1@example.org>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n",
        message(0)
    ));
}

#[test]
fn refused_mail_stops_a_streamed_body_still_being_handed_over() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    let mut e = sized(0, &["a@example.test"]);
    e.size = Some(3 * BDAT_CHUNK as u64);
    s.session.send_mail(e, s.now).unwrap();
    s.session.send_body(&text_lines(BDAT_CHUNK), s.now).unwrap();
    let wire = s.sent();
    assert!(wire.starts_with("MAIL FROM:<s0@example.org>\r\nRCPT TO:<a@example.test>\r\nBDAT "));
    assert!(!wire.contains("LAST"));
    s.server("550 5.7.1 no\r\n");
    assert!(!s.session.wants_body());
    s.expect("RSET\r\n");
    let events = s.events();
    assert!(matches!(
        &done(&events)[0].1[0],
        Outcome::Rejected(Failure::SenderRefused(_))
    ));
    // The replies to what was already sent are read and change nothing.
    s.server("503 need MAIL\r\n503 need RCPT\r\n250 reset\r\n");
    assert!(s.events().is_empty());
    assert!(s.session.is_established());
}

#[test]
fn quit_follows_the_last_streamed_transaction_of_one_recipient_at_once() {
    // One message on a new connection: MAIL, RCPT, BDAT LAST and QUIT in one write, so the
    // session costs greeting, EHLO and one round trip.
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test"]);
    s.session.quit(s.now);
    s.feed_bodies();
    s.expect(&format!(
        "{}QUIT\r\n",
        streamed(0, &["a@example.test"], false)
    ));
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n");
    let events = s.events();
    assert_eq!(outcome_codes(&events), vec![(0, vec![Some(250)])]);
    assert_eq!(closed(&events), Some(None));
}

#[test]
fn quit_waits_for_the_rcpt_replies_of_a_streamed_transaction_of_several() {
    // A 452 among them sends its recipient again in a further transaction.
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test", "b@example.test"]);
    s.session.quit(s.now);
    s.feed_bodies();
    s.expect(&streamed(0, &["a@example.test", "b@example.test"], false));
    s.server("250 ok\r\n250 ok\r\n452 4.5.3 too many recipients\r\n");
    s.expect("");
    s.server("250 queued\r\n");
    s.feed_bodies();
    s.expect(&format!(
        "{}QUIT\r\n",
        streamed(0, &["b@example.test"], false)
    ));
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n");
    let events = s.events();
    assert_eq!(
        outcome_codes(&events),
        vec![(0, vec![Some(250), Some(250)])]
    );
}

#[test]
fn recipients_over_the_limit_hold_quit_back_for_their_further_transaction() {
    let mut s = streaming(TransactionWindow::DEFAULT);
    s.open("250-mx.example.test\r\n250-PIPELINING\r\n250-LIMITS RCPTMAX=1\r\n250 CHUNKING\r\n");
    s.send_sized(0, &["a@example.test", "b@example.test"]);
    s.session.quit(s.now);
    s.feed_bodies();
    s.expect(&streamed(0, &["a@example.test"], false));
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n");
    s.feed_bodies();
    s.expect(&format!(
        "{}QUIT\r\n",
        streamed(0, &["b@example.test"], false)
    ));
    s.server("250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n");
    let events = s.events();
    assert_eq!(
        outcome_codes(&events),
        vec![(0, vec![Some(250), Some(250)])]
    );
}

#[test]
fn lmtp_is_not_streamed() {
    let mut c = config(TlsPolicy::Disabled);
    c.window = TransactionWindow::DEFAULT;
    c.protocol = Protocol::Lmtp;
    let mut s = Script::new(c);
    s.server(GREETING);
    s.expect("LHLO client.example\r\n");
    s.server(EHLO_STREAMING);
    s.send_sized(0, &["a@example.test"]);
    s.expect("MAIL FROM:<s0@example.org>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n");
}

/// Random servers against streamed transactions: a model server parses the client's bytes
/// (checking BDAT framing), answers each command as its script says (and as a real server's
/// state would: no MAIL, no RCPT), and may cut the session with 421 or a hang-up.
mod properties {
    use super::*;
    use alloc::collections::VecDeque;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Answer {
        Ok,
        Transient,
        Permanent,
    }

    fn answer() -> impl Strategy<Value = Answer> {
        prop_oneof![
            3 => Just(Answer::Ok),
            1 => Just(Answer::Transient),
            1 => Just(Answer::Permanent),
        ]
    }

    #[derive(Clone, Copy, Debug)]
    enum Command {
        Rset,
        Mail(usize),
        Rcpt(usize, usize),
        Bdat { tx: usize, last: bool },
        Quit,
    }

    #[derive(Debug)]
    struct Plan {
        mail: Vec<Answer>,
        rcpt: Vec<Vec<Answer>>,
        bdat: Vec<Answer>,
    }

    /// The server: what it has read, and the state a real one keeps.
    #[derive(Default)]
    struct Server {
        unparsed: Vec<u8>,
        unanswered: VecDeque<Command>,
        /// Content received per transaction, and whether its BDAT LAST came.
        content: Vec<(Vec<u8>, bool)>,
        current: Option<usize>,
        open: bool,
        accepted: usize,
        mails_seen: usize,
        finals_answered: usize,
        /// Transactions whose BDAT LAST was answered.
        answered: Vec<bool>,
    }

    impl Server {
        fn read(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.unparsed.extend_from_slice(bytes);
            loop {
                let Some(lf) = self.unparsed.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(());
                };
                let line = String::from_utf8(self.unparsed[..lf].to_vec()).unwrap();
                let rest = lf + 2;
                let command = if line == "RSET" {
                    Command::Rset
                } else if line == "QUIT" {
                    Command::Quit
                } else if let Some(from) = line.strip_prefix("MAIL FROM:<s") {
                    let i: usize = from.split('@').next().unwrap().parse().unwrap();
                    self.current = Some(i);
                    self.mails_seen += 1;
                    Command::Mail(i)
                } else if let Some(to) = line.strip_prefix("RCPT TO:<r") {
                    let (i, j) = to.split('@').next().unwrap().split_once('-').unwrap();
                    Command::Rcpt(i.parse().unwrap(), j.parse().unwrap())
                } else if let Some(args) = line.strip_prefix("BDAT ") {
                    let (size, last) = match args.strip_suffix(" LAST") {
                        Some(size) => (size, true),
                        None => (args, false),
                    };
                    let size: usize = size.parse().map_err(|_| format!("BDAT {args}"))?;
                    if self.unparsed.len() < rest + size {
                        // The chunk is written with its command, always.
                        return Err(format!("BDAT {size} with fewer octets after it"));
                    }
                    let tx = self.current.ok_or("BDAT before any MAIL")?;
                    let chunk = self.unparsed[rest..rest + size].to_vec();
                    self.unparsed.drain(..rest + size);
                    let entry = &mut self.content[tx];
                    if entry.1 {
                        return Err(format!("BDAT after BDAT LAST for {tx}"));
                    }
                    entry.0.extend_from_slice(&chunk);
                    entry.1 = last;
                    self.unanswered.push_back(Command::Bdat { tx, last });
                    continue;
                } else {
                    return Err(format!("unexpected line {line:?}"));
                };
                self.unparsed.drain(..rest);
                self.unanswered.push_back(command);
            }
        }

        fn reply(&mut self, command: Command, plan: &Plan) -> &'static str {
            let code = |a: Answer, ok, transient, permanent| match a {
                Answer::Ok => ok,
                Answer::Transient => transient,
                Answer::Permanent => permanent,
            };
            match command {
                Command::Rset => {
                    self.open = false;
                    "250 2.0.0 reset\r\n"
                }
                Command::Quit => "221 2.0.0 bye\r\n",
                Command::Mail(i) if self.open => {
                    let _ = i;
                    "503 5.5.1 nested MAIL\r\n"
                }
                Command::Mail(i) => {
                    let a = plan.mail[i];
                    self.open = a == Answer::Ok;
                    self.accepted = 0;
                    code(
                        a,
                        "250 2.1.0 ok\r\n",
                        "451 4.3.0 sender later\r\n",
                        "550 5.7.1 sender refused\r\n",
                    )
                }
                Command::Rcpt(..) if !self.open => "503 5.5.1 need MAIL\r\n",
                Command::Rcpt(i, j) => {
                    let a = plan.rcpt[i][j];
                    if a == Answer::Ok {
                        self.accepted += 1;
                    }
                    code(
                        a,
                        "250 2.1.5 ok\r\n",
                        "450 4.2.1 mailbox busy\r\n",
                        "550 5.1.1 no such user\r\n",
                    )
                }
                Command::Bdat { tx, last } => {
                    let reply = if !self.open {
                        "503 5.5.1 need RCPT\r\n"
                    } else if self.accepted == 0 {
                        "554 5.5.1 no valid recipients\r\n"
                    } else if !last {
                        "250 2.0.0 chunk ok\r\n"
                    } else {
                        code(
                            plan.bdat[tx],
                            "250 2.0.0 queued\r\n",
                            "451 4.3.0 try again\r\n",
                            "552 5.3.4 refused\r\n",
                        )
                    };
                    if last {
                        // The strictest reading: a BDAT LAST refused for want of recipients
                        // leaves the MAIL open (as a refused DATA would), so only the
                        // client's RSET keeps the next transaction's sender its own.
                        if self.accepted > 0 {
                            self.open = false;
                        }
                        self.finals_answered += 1;
                        self.answered[tx] = true;
                    }
                    reply
                }
            }
        }
    }

    /// 'D'elivered, 'R'ejected, 'F' deferred, 'A'mbiguous, with the reply code if any.
    fn kind(o: &Outcome) -> (char, Option<u16>) {
        let k = match o {
            Outcome::Delivered(_) => 'D',
            Outcome::Rejected(_) => 'R',
            Outcome::Deferred(_) => 'F',
            Outcome::Ambiguous(_) => 'A',
        };
        (k, code_of(o))
    }

    fn class(a: Answer, transient: u16, permanent: u16) -> (char, Option<u16>) {
        match a {
            Answer::Transient => ('F', Some(transient)),
            _ => ('R', Some(permanent)),
        }
    }

    /// What recipient `j` of transaction `i` ends as when every reply came.
    fn expected(plan: &Plan, i: usize, j: usize) -> (char, Option<u16>) {
        if plan.mail[i] != Answer::Ok {
            class(plan.mail[i], 451, 550)
        } else if plan.rcpt[i][j] != Answer::Ok {
            class(plan.rcpt[i][j], 450, 550)
        } else if plan.bdat[i] != Answer::Ok {
            class(plan.bdat[i], 451, 552)
        } else {
            ('D', Some(250))
        }
    }

    fn scenario() -> impl Strategy<Value = (Plan, usize, Vec<usize>, Option<(usize, bool)>)> {
        (1usize..7, 2usize..6)
            .prop_flat_map(|(n, window)| {
                (
                    proptest::collection::vec(answer(), n),
                    proptest::collection::vec(proptest::collection::vec(answer(), 1..4), n),
                    proptest::collection::vec(answer(), n),
                    Just(window),
                    proptest::collection::vec(1usize..9, 1..40),
                    proptest::option::of((0usize..40, any::<bool>())),
                )
            })
            .prop_map(|(mail, rcpt, bdat, window, batches, cut)| {
                (Plan { mail, rcpt, bdat }, window, batches, cut)
            })
    }

    proptest! {
        #[test]
        fn every_recipient_is_settled_once_as_its_replies_say_and_framing_is_exact(
            (plan, window, batches, cut) in scenario()
        ) {
            let n = plan.mail.len();
            let mut s = streaming(TransactionWindow::from(window));
            s.open(EHLO_STREAMING);
            let rcpts: Vec<Vec<String>> = (0..n)
                .map(|i| (0..plan.rcpt[i].len()).map(|j| format!("r{i}-{j}@example.test")).collect())
                .collect();
            for (i, to) in rcpts.iter().enumerate() {
                let to: Vec<&str> = to.iter().map(String::as_str).collect();
                prop_assert_eq!(s.send_sized(i, &to), TransactionId(i as u64));
            }
            s.session.quit(s.now);
            let mut server = Server {
                content: vec![(Vec::new(), false); n],
                answered: vec![false; n],
                ..Server::default()
            };
            let mut events = Vec::new();
            let mut replies_given = 0usize;
            let mut batches = batches.into_iter().cycle();
            let mut cut_done = false;
            loop {
                s.feed_bodies();
                let out = s.sent();
                server.read(out.as_bytes()).map_err(TestCaseError::fail)?;
                // The window: transactions on the wire whose final reply has not come.
                prop_assert!(server.mails_seen - server.finals_answered <= window);
                events.extend(s.events());
                if s.session.is_closed() {
                    break;
                }
                prop_assert!(!server.unanswered.is_empty(), "the client waits for nothing");
                let mut bytes = String::new();
                for _ in 0..batches.next().unwrap_or(1) {
                    if let Some((at, with_421)) = cut {
                        if replies_given == at {
                            if with_421 {
                                bytes.push_str("421 4.3.2 shutting down\r\n");
                            }
                            cut_done = true;
                            break;
                        }
                    }
                    let Some(command) = server.unanswered.pop_front() else { break };
                    bytes.push_str(server.reply(command, &plan));
                    replies_given += 1;
                }
                s.server(&bytes);
                if cut_done {
                    s.session.handle_eof(s.now);
                }
            }
            events.extend(s.events());
            // Each transaction ends once, with one outcome per recipient.
            let outcomes = done(&events);
            prop_assert_eq!(outcomes.len(), n);
            let mut seen = vec![false; n];
            for (id, o) in &outcomes {
                let i = id.0 as usize;
                prop_assert!(!seen[i]);
                seen[i] = true;
                prop_assert_eq!(o.len(), rcpts[i].len());
                for (j, outcome) in o.iter().enumerate() {
                    let got = kind(outcome);
                    if server.answered[i] {
                        prop_assert_eq!(got, expected(&plan, i, j), "{} {}: {:?}", i, j, outcome);
                    } else {
                        // Cut before its end: never delivered; ambiguous only if its BDAT
                        // LAST went out; refused only by a reply of its own.
                        prop_assert!(cut_done);
                        prop_assert!(got.0 != 'D', "{:?}", outcome);
                        if got.0 == 'A' {
                            prop_assert!(server.content[i].1);
                        }
                        if got.0 == 'R' {
                            prop_assert_eq!(got, expected(&plan, i, j));
                        }
                    }
                }
            }
            // BDAT framing: every transaction whose BDAT LAST went out carried exactly its
            // message, and nothing is left half-sent.
            for (i, (content, last)) in server.content.iter().enumerate() {
                if *last {
                    let sent = message(i);
                    prop_assert_eq!(content.as_slice(), sent.as_bytes());
                }
            }
            if !cut_done {
                prop_assert!(server.unparsed.is_empty());
                prop_assert!(matches!(closed(&events), Some(None)));
            }
        }
    }
}
