//! LMTP transcripts (RFC 2033): LHLO, and one reply per accepted recipient after the end
//! of data, each that recipient's outcome.

use super::*;

const LHLO_REPLY: &str = "250-lmtp.example.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 CHUNKING\r\n";

fn lmtp_config() -> SessionConfig {
    let mut c = config(TlsPolicy::Disabled);
    c.protocol = Protocol::Lmtp;
    c
}

fn lmtp() -> Script {
    let mut s = Script::new(lmtp_config());
    s.server("220 lmtp.example.test LMTP ready\r\n");
    s.expect("LHLO client.example\r\n");
    s.server(LHLO_REPLY);
    s
}

/// `a` and `b` accepted, the message and its end of data written: their replies are next.
fn both_accepted_and_sent() -> Script {
    let mut s = lmtp();
    s.send(&["a@example.test", "b@example.test"]);
    s.sent();
    s.server("250 OK\r\n250 OK\r\n250 OK\r\n354 go\r\n");
    s.body("hello");
    s.sent();
    s
}

#[test]
fn lmtp_greets_with_lhlo_and_settles_each_recipient_by_its_own_reply() {
    let mut s = lmtp();
    s.send(&["a@example.test", "nobody@example.test", "c@example.test"]);
    s.expect(
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.test>\r\n\
         RCPT TO:<nobody@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n",
    );
    s.server("250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 User doesn't exist\r\n250 2.1.5 OK\r\n354 go\r\n");
    s.body("hello");
    s.expect("hello\r\n.\r\n");
    // One reply per accepted recipient, in RCPT order: a, then c.
    s.server("250 2.0.0 <a@example.test> Saved\r\n");
    assert!(done(&s.events()).is_empty(), "c's reply is still awaited");
    s.server("452 4.2.2 <c@example.test> Mailbox full\r\n");
    let results = done(&s.events());
    assert_eq!(results.len(), 1);
    let outcomes = &results[0].1;
    assert!(matches!(&outcomes[0], Outcome::Delivered(r) if r.code().get() == 250));
    assert!(matches!(&outcomes[1], Outcome::Rejected(Failure::Reply(r)) if r.code().get() == 550));
    assert!(
        matches!(&outcomes[2], Outcome::Deferred(Failure::Reply(r)) if r.text().contains("Mailbox full"))
    );
}

#[test]
fn lmtp_has_no_helo_fallback() {
    let mut s = Script::new(lmtp_config());
    s.server("220 lmtp.example.test LMTP\r\n");
    s.expect("LHLO client.example\r\n");
    s.server("500 5.5.1 Unknown command\r\n");
    s.expect("QUIT\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::HelloRejected(r))) if r.code().get() == 500
    ));
}

#[test]
fn lmtp_pipelined_transactions_match_every_reply_to_its_recipient() {
    let mut s = lmtp();
    let first = s.send(&["a@example.test", "b@example.test"]);
    let second = s.send(&["c@example.test"]);
    s.sent();
    s.server("250 OK\r\n250 OK\r\n250 OK\r\n354 go\r\n");
    s.body("one");
    // The end of the first message and the second's commands share a write.
    s.expect("one\r\n.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n");
    s.session.quit(s.now);
    // a's and b's replies, then the second transaction's.
    s.server("550 5.2.0 a refused\r\n250 2.0.0 b saved\r\n250 OK\r\n250 OK\r\n354 go\r\n");
    s.body("two");
    s.expect("two\r\n.\r\nQUIT\r\n");
    s.server("250 2.0.0 c saved\r\n221 bye\r\n");
    let events = s.events();
    let results = done(&events);
    assert_eq!(results[0].0, first);
    assert!(
        matches!(&results[0].1[0], Outcome::Rejected(Failure::Reply(r)) if r.text().contains("a refused"))
    );
    assert!(matches!(&results[0].1[1], Outcome::Delivered(r) if r.text().contains("b saved")));
    assert_eq!(results[1].0, second);
    assert!(matches!(&results[1].1[0], Outcome::Delivered(r) if r.text().contains("c saved")));
    assert_eq!(closed(&events), Some(None));
}

#[test]
fn lmtp_connection_lost_between_replies_leaves_the_unanswered_ambiguous() {
    let mut s = lmtp();
    s.send(&["a@example.test", "b@example.test", "c@example.test"]);
    s.sent();
    s.server("250 OK\r\n250 OK\r\n250 OK\r\n250 OK\r\n354 go\r\n");
    s.body("hello");
    s.sent();
    s.server("250 2.0.0 a saved\r\n");
    s.session.handle_eof(s.now);
    let events = s.events();
    let outcomes = &done(&events)[0].1;
    assert!(matches!(&outcomes[0], Outcome::Delivered(_)));
    assert!(matches!(
        &outcomes[1],
        Outcome::Ambiguous(Failure::Session(_))
    ));
    assert!(matches!(
        &outcomes[2],
        Outcome::Ambiguous(Failure::Session(_))
    ));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::ConnectionClosed(Phase::DataTermination)))
    ));
}

#[test]
fn lmtp_421_for_one_recipient_defers_it_and_leaves_the_rest_ambiguous() {
    let mut s = both_accepted_and_sent();
    s.server("421 4.3.0 shutting down\r\n");
    let outcomes = &done(&s.events())[0].1;
    assert!(matches!(&outcomes[0], Outcome::Deferred(Failure::Reply(r)) if r.code().get() == 421));
    assert!(matches!(&outcomes[1], Outcome::Ambiguous(_)));
}

#[test]
fn lmtp_bdat_last_is_answered_once_per_recipient() {
    let mut c = lmtp_config();
    c.chunking = true;
    let mut s = Script::new(c);
    s.server("220 lmtp.example.test LMTP\r\n");
    s.expect("LHLO client.example\r\n");
    s.server(LHLO_REPLY);
    s.send(&["a@example.test", "b@example.test"]);
    s.expect(
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n",
    );
    s.server("250 OK\r\n250 OK\r\n250 OK\r\n");
    s.body("hi");
    s.expect("BDAT 4 LAST\r\nhi\r\n");
    s.server("250 2.0.0 a saved\r\n");
    assert!(done(&s.events()).is_empty());
    s.server("550 5.7.1 b refused the content\r\n");
    let outcomes = &done(&s.events())[0].1;
    assert!(matches!(&outcomes[0], Outcome::Delivered(_)));
    assert!(matches!(&outcomes[1], Outcome::Rejected(_)));
}

#[test]
fn lmtp_an_end_of_data_reply_outside_the_rfc_is_ambiguous_and_ends_the_session() {
    let mut s = both_accepted_and_sent();
    s.server("354 what\r\n");
    let events = s.events();
    let outcomes = &done(&events)[0].1;
    assert!(matches!(&outcomes[0], Outcome::Ambiguous(Failure::Reply(r)) if r.code().get() == 354));
    assert!(matches!(
        &outcomes[1],
        Outcome::Ambiguous(Failure::Session(_))
    ));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::UnexpectedReply {
            phase: Phase::DataTermination,
            ..
        }))
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// What a reply after the end of data makes of its recipient, and whether the session
    /// goes on after it.
    fn expected(code: u16) -> (fn(&Outcome) -> bool, bool) {
        match code {
            250 => (|o| matches!(o, Outcome::Delivered(_)), true),
            421 => (|o| matches!(o, Outcome::Deferred(Failure::Reply(_))), false),
            400..=499 => (|o| matches!(o, Outcome::Deferred(Failure::Reply(_))), true),
            500..=599 => (|o| matches!(o, Outcome::Rejected(Failure::Reply(_))), true),
            _ => (
                |o| matches!(o, Outcome::Ambiguous(Failure::Reply(_))),
                false,
            ),
        }
    }

    proptest! {
        /// Any mix of RCPT verdicts and per-recipient replies after the end of data (cut
        /// short by a lost connection anywhere) settles every recipient exactly once, by
        /// its own reply, and the next pipelined transaction by its own.
        #[test]
        fn arbitrary_per_recipient_replies_settle_each_recipient_exactly_once(
            rcpt_ok in proptest::collection::vec(any::<bool>(), 1..7),
            replies in proptest::collection::vec(
                prop_oneof![Just(250u16), Just(251), Just(354), Just(421), Just(450), Just(452), Just(550), Just(554)],
                7,
            ),
            cut in 0usize..9,
        ) {
            prop_assume!(rcpt_ok.iter().any(|&ok| ok));
            let mut s = lmtp();
            let names: Vec<String> = (0..rcpt_ok.len()).map(|i| format!("r{i}@example.test")).collect();
            let to: Vec<&str> = names.iter().map(String::as_str).collect();
            let first = s.send(&to);
            let second = s.send(&["next@example.test"]);
            s.sent();
            let mut rcpts = String::from("250 OK\r\n");
            for &ok in &rcpt_ok {
                rcpts.push_str(if ok { "250 OK\r\n" } else { "550 5.1.1 unknown\r\n" });
            }
            rcpts.push_str("354 go\r\n");
            s.server(&rcpts);
            s.body("hello");
            s.sent();
            let accepted = rcpt_ok.iter().filter(|&&ok| ok).count();
            let mut alive = true;
            let mut answered = 0;
            for &code in replies.iter().take(accepted) {
                if answered == cut {
                    s.session.handle_eof(s.now);
                    alive = false;
                    break;
                }
                s.server(&format!("{code} 2.0.0 reply\r\n"));
                answered += 1;
                if !expected(code).1 {
                    alive = false;
                    break;
                }
            }
            if alive {
                s.server("250 OK\r\n250 OK\r\n354 go\r\n");
                s.body("two");
                s.sent();
                s.server("250 2.0.0 next saved\r\n");
            }
            s.session.handle_eof(s.now);
            let events = s.events();
            let results = done(&events);
            // Each transaction exactly once, every recipient exactly once.
            prop_assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), vec![first, second]);
            let outcomes = &results[0].1;
            prop_assert_eq!(outcomes.len(), rcpt_ok.len());
            let mut reply_index = 0;
            for (outcome, &ok) in outcomes.iter().zip(&rcpt_ok) {
                if !ok {
                    prop_assert!(matches!(outcome, Outcome::Rejected(Failure::Reply(r)) if r.code().get() == 550));
                } else if reply_index < answered {
                    let code = replies[reply_index];
                    prop_assert!(expected(code).0(outcome), "reply {} gave {:?}", code, outcome);
                    prop_assert_eq!(code_of(outcome), Some(code));
                    reply_index += 1;
                } else {
                    prop_assert!(matches!(outcome, Outcome::Ambiguous(Failure::Session(_))), "{:?}", outcome);
                }
            }
            let next = &results[1].1;
            prop_assert_eq!(next.len(), 1);
            if alive {
                prop_assert!(matches!(&next[0], Outcome::Delivered(_)));
            } else {
                prop_assert!(matches!(&next[0], Outcome::Deferred(_)));
            }
        }
    }
}
