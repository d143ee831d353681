//! Transcript tests for issue 13 ("outcomes that never lie"): replies before their command,
//! SASL cancel, the permanence rule, local credential errors, RCPT limits, content checks,
//! abandoned bodies.

use super::*;
use crate::sasl::SaslError;

const EHLO_AUTH_PLAIN: &str = "250-mx.example.test\r\n250 AUTH PLAIN LOGIN\r\n";
const EHLO_LOCKSTEP: &str = "250-mx.example.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
const EHLO_CHUNKING: &str =
    "250-mx.example.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n";

fn with_credentials(password: &str) -> SessionConfig {
    let mut c = config(TlsPolicy::Disabled);
    c.allow_plaintext_auth = true;
    c.credentials = Some(Credentials {
        username: "alice".into(),
        secret: Secret::Password(password.into()),
    });
    c
}

fn outcomes_of(events: &[Seen]) -> Vec<Outcome> {
    done(events).into_iter().flat_map(|(_, o)| o).collect()
}

fn recipients(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i}@example.test")).collect()
}

fn send_owned(s: &mut Script, to: &[String]) -> TransactionId {
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    s.send(&to)
}

#[test]
fn unsolicited_250_after_the_greeting_is_a_protocol_error_not_the_ehlo_reply() {
    let mut s = Script::plain();
    s.send(&["bob@example.test"]);
    s.server("220 mx.example.test ESMTP\r\n250-fake\r\n250 8BITMIME\r\n");
    let events = s.events();
    let error = closed(&events).flatten();
    assert_eq!(error, Some(SessionError::DataBeforeCommand(Phase::Hello)));
    assert!(error.is_some_and(|e| e.is_protocol_violation()));
    assert!(matches!(
        outcomes_of(&events).as_slice(),
        [Outcome::Deferred(Failure::Session(
            SessionError::DataBeforeCommand(_)
        ))]
    ));
    // Not even the EHLO leaves.
    assert_eq!(s.sent(), "");
}

#[test]
fn a_reply_that_arrives_before_its_command_is_written_is_refused() {
    let mut s = Script::plain();
    s.open(EHLO_LOCKSTEP);
    s.send(&["bob@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    // The answer to MAIL, and one to the RCPT that has not been written yet.
    s.server("250 2.1.0 ok\r\n250 2.1.5 ok\r\n");
    assert_eq!(
        closed(&s.events()).flatten(),
        Some(SessionError::DataBeforeCommand(Phase::Rcpt))
    );
}

#[test]
fn undecodable_challenge_is_cancelled_with_a_star_and_the_501_read() {
    let mut c = with_credentials("pw");
    c.credentials = Some(Credentials {
        username: "alice".into(),
        secret: Secret::Password("pw".into()),
    });
    let mut s = Script::new(c);
    s.server(GREETING);
    s.expect("EHLO client.example\r\n");
    s.server("250-mx.example.test\r\n250 AUTH LOGIN\r\n");
    s.expect("AUTH LOGIN\r\n");
    s.server("334 not base64!\r\n");
    // RFC 4954 §4: `*`, never QUIT (a LOGIN server would take it for the username).
    s.expect("*\r\n");
    assert!(closed(&s.events()).is_none());
    s.server("501 5.7.0 cancelled\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Sasl(SaslError::InvalidBase64 {
            round: 1,
            ..
        })))
    ));
    s.expect("QUIT\r\n");
}

#[test]
fn challenge_the_mechanism_has_no_answer_for_is_cancelled_with_a_star() {
    let mut s = Script::new(with_credentials("pw"));
    s.server(GREETING);
    s.expect("EHLO client.example\r\n");
    s.server(EHLO_AUTH_PLAIN);
    assert!(s.sent().starts_with("AUTH PLAIN "));
    // PLAIN sent everything in its initial response: a further challenge has no answer.
    s.server("334 aGVsbG8=\r\n");
    s.expect("*\r\n");
    s.server("501 5.7.0 cancelled\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Sasl(
            SaslError::UnexpectedChallenge { .. }
        )))
    ));
}

#[test]
fn nul_in_a_password_is_the_callers_error_not_a_protocol_violation() {
    let mut s = Script::new(with_credentials("p\0w"));
    s.send(&["bob@example.test"]);
    s.server(GREETING);
    s.expect("EHLO client.example\r\n");
    s.server(EHLO_AUTH_PLAIN);
    let events = s.events();
    let error = closed(&events).flatten().unwrap();
    assert!(matches!(
        error,
        SessionError::Credentials(SaslError::ForbiddenOctet { .. })
    ));
    assert!(!error.is_protocol_violation());
    assert!(matches!(
        outcomes_of(&events).as_slice(),
        [Outcome::Rejected(Failure::Session(
            SessionError::Credentials(_)
        ))]
    ));
    let Some(credentials) = with_credentials("p\0w").credentials else {
        unreachable!()
    };
    assert!(credentials.check().is_err());
    assert!(with_credentials("pw")
        .credentials
        .is_some_and(|c| c.check().is_ok()));
}

#[test]
fn permanent_session_failures_reject_and_temporary_ones_defer() {
    let cases: [(&str, bool); 4] = [
        ("554 5.3.2 no SMTP service here\r\n", true),
        ("450 4.3.2 busy\r\n", false),
        ("521 5.3.2 does not accept mail\r\n", true),
        ("421 4.3.2 closing\r\n", false),
    ];
    for (greeting, permanent) in cases {
        let mut s = Script::plain();
        s.send(&["bob@example.test"]);
        s.server(greeting);
        let events = s.events();
        let error = closed(&events).flatten().unwrap();
        assert_eq!(error.is_permanent(), permanent, "{greeting:?}");
        let outcome = &outcomes_of(&events)[0];
        assert_eq!(
            matches!(outcome, Outcome::Rejected(_)),
            permanent,
            "{greeting:?}: {outcome:?}"
        );
        assert_eq!(matches!(outcome, Outcome::Deferred(_)), !permanent);
    }
    // 535: the credentials are refused for good.
    let mut s = Script::new(with_credentials("pw"));
    s.send(&["bob@example.test"]);
    s.server(GREETING);
    s.sent();
    s.server(EHLO_AUTH_PLAIN);
    s.sent();
    s.server("535 5.7.8 bad credentials\r\n");
    assert!(matches!(
        outcomes_of(&s.events()).as_slice(),
        [Outcome::Rejected(Failure::Session(
            SessionError::AuthFailed(_)
        ))]
    ));
    // Required TLS that the server does not offer: deferred, like Postfix.
    let mut s = Script::new(config(TlsPolicy::Required));
    s.send(&["bob@example.test"]);
    s.open(EHLO_PLAIN);
    let events = s.events();
    assert!(!SessionError::StartTlsUnavailable.is_permanent());
    assert!(matches!(
        outcomes_of(&events).as_slice(),
        [Outcome::Deferred(Failure::Session(
            SessionError::StartTlsUnavailable
        ))]
    ));
}

#[test]
fn rcpt_answered_251_or_252_is_accepted() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test", "b@example.test", "c@example.test"]);
    s.sent();
    s.server("250 ok\r\n251 2.1.5 will forward\r\n252 2.1.5 cannot verify, will try\r\n250 ok\r\n354 go\r\n");
    s.body("hi\r\n");
    s.sent();
    s.server("250 2.0.0 queued\r\n");
    let outcomes = outcomes_of(&s.events());
    assert_eq!(outcomes.len(), 3);
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))),
        "{outcomes:?}"
    );
}

#[test]
fn mail_refused_is_an_answer_about_the_whole_transaction() {
    let mut s = Script::plain();
    s.open(EHLO_LOCKSTEP);
    s.send(&["a@example.test", "b@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("451 4.3.0 try later\r\n");
    let outcomes = outcomes_of(&s.events());
    assert!(outcomes.iter().all(
        |o| matches!(o, Outcome::Deferred(Failure::SenderRefused(r)) if r.code().get() == 451)
    ));
}

#[test]
fn a_354_answering_mail_closes_without_sending_anything_more() {
    let mut s = Script::plain();
    s.open(EHLO_LOCKSTEP);
    s.send(&["a@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("354 go ahead\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::UnexpectedReply { .. }))
    ));
    // A QUIT now would be message content.
    assert_eq!(s.sent(), "");
}

/// Plays a server that takes `limit` recipients per transaction, pipelined; returns every
/// transaction's RCPT count and the caller's events.
fn split_session(count: usize, limit: usize) -> (Vec<usize>, Vec<Seen>) {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    let to = recipients(count);
    let id = send_owned(&mut s, &to);
    s.session.quit(s.now);
    let mut rounds = Vec::new();
    let mut events = Vec::new();
    let mut quit_sent = false;
    for _ in 0..count + 2 {
        let wire = s.sent();
        let rcpts = wire.matches("RCPT TO:").count();
        if rcpts == 0 {
            // QUIT went out with the last end of data.
            assert_eq!(wire, "", "{wire:?}");
            break;
        }
        rounds.push(rcpts);
        let mut replies = String::from("250 2.1.0 ok\r\n");
        for i in 0..rcpts {
            replies.push_str(if i < limit {
                "250 2.1.5 ok\r\n"
            } else {
                "452 4.5.3 Error: too many recipients\r\n"
            });
        }
        replies.push_str("354 go\r\n");
        s.server(&replies);
        assert_eq!(s.session.body_transaction(), Some(id));
        s.body("Subject: hi\r\n\r\nhello\r\n");
        let end = s.sent();
        assert!(end.starts_with("Subject: hi\r\n"), "{end:?}");
        quit_sent |= end.ends_with("QUIT\r\n");
        s.server("250 2.0.0 queued\r\n");
        events.extend(s.events());
    }
    assert!(quit_sent, "QUIT only after the last part");
    (rounds, events)
}

#[test]
fn recipients_over_100_go_in_further_transactions_of_100() {
    let (rounds, events) = split_session(250, 1000);
    assert_eq!(rounds, vec![100, 100, 50]);
    let results = done(&events);
    assert_eq!(results.len(), 1, "one report for the caller's transaction");
    assert_eq!(results[0].1.len(), 250);
    assert!(results[0]
        .1
        .iter()
        .all(|o| matches!(o, Outcome::Delivered(_))));
}

#[test]
fn recipients_answered_452_go_in_a_further_transaction_on_the_same_connection() {
    let (rounds, events) = split_session(1000, 40);
    // Each transaction of 100: 40 taken, 60 answered 452 and sent again with the next.
    assert!(rounds.iter().all(|&r| r <= 100), "{rounds:?}");
    assert_eq!(rounds.first(), Some(&100));
    assert_eq!(rounds.last(), Some(&40));
    let results = done(&events);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.len(), 1000);
    assert!(
        results[0]
            .1
            .iter()
            .all(|o| matches!(o, Outcome::Delivered(_))),
        "{:?}",
        results[0]
            .1
            .iter()
            .find(|o| !matches!(o, Outcome::Delivered(_)))
    );
    assert_eq!(rounds.len(), 25, "1000 recipients at 40 per transaction");
}

#[test]
fn a_452_with_nobody_accepted_defers_instead_of_looping() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test", "b@example.test"]);
    s.session.quit(s.now);
    s.sent();
    s.server("250 ok\r\n452 4.3.1 out of space\r\n452 4.3.1 out of space\r\n554 5.5.1 no valid recipients\r\n");
    let wire = s.sent();
    assert!(wire.starts_with("RSET\r\n"), "{wire:?}");
    assert!(!wire.contains("MAIL"), "{wire:?}");
    let outcomes = outcomes_of(&s.events());
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Deferred(Failure::Reply(r)) if r.code().get() == 452)));
}

#[test]
fn limits_rcptmax_sets_the_transaction_size() {
    let mut s = Script::plain();
    s.open("250-mx.example.test\r\n250-PIPELINING\r\n250 LIMITS RCPTMAX=3\r\n");
    s.send(&["a@x.test", "b@x.test", "c@x.test", "d@x.test"]);
    assert_eq!(s.sent().matches("RCPT TO:").count(), 3);
}

#[test]
fn utf8_headers_with_ascii_addresses_go_to_a_server_without_smtputf8() {
    let mut s = Script::plain();
    s.open(EHLO_LOCKSTEP);
    let mut e = envelope(&["bob@example.test"]);
    e.utf8_headers = true;
    s.session.send_mail(e, s.now).unwrap();
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("250 ok\r\n");
    s.expect("RCPT TO:<bob@example.test>\r\n");
    // A non-ASCII address still cannot go without SMTPUTF8.
    let mut s = Script::plain();
    s.open(EHLO_LOCKSTEP);
    s.send(&["jörg@example.test"]);
    assert!(matches!(
        outcomes_of(&s.events()).as_slice(),
        [Outcome::Rejected(Failure::Utf8Unsupported)]
    ));
}

fn in_data(s: &mut Script) -> TransactionId {
    s.open(EHLO_LOCKSTEP);
    let id = s.send(&["a@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("250 ok\r\n");
    s.expect("RCPT TO:<a@example.test>\r\n");
    s.server("250 ok\r\n");
    s.expect("DATA\r\n");
    s.server("354 go\r\n");
    id
}

#[test]
fn a_nul_in_the_body_never_reaches_the_wire() {
    let mut s = Script::plain();
    in_data(&mut s);
    s.session
        .send_body(b"Subject: x\r\n\r\nfine\r\n", s.now)
        .unwrap();
    let refused = s.session.send_body(b"bad\0.\r\n", s.now);
    assert!(matches!(
        refused,
        Err(UsageError::Content(
            crate::transparency::ContentError::Nul { offset: 23 }
        ))
    ));
    assert!(!s.session.wants_body());
    // Nothing of the message went out (it was still buffered): no content, no dot, no QUIT.
    assert_eq!(s.sent(), "");
    let events = s.events();
    assert!(matches!(
        outcomes_of(&events).as_slice(),
        [Outcome::Rejected(Failure::Body(BodyError::Content(_)))]
    ));
    assert_eq!(closed(&events).flatten(), Some(SessionError::Aborted));
}

#[test]
fn a_line_over_998_octets_never_reaches_the_wire() {
    let mut s = Script::plain();
    in_data(&mut s);
    s.session.send_body(b"Subject: x\r\n\r\n", s.now).unwrap();
    let sent_before = s.sent();
    assert!(sent_before.starts_with("Subject"));
    let long = vec![b'x'; 1500];
    assert!(matches!(
        s.session.send_body(&long, s.now),
        Err(UsageError::Content(
            crate::transparency::ContentError::LineTooLong { line: 3 }
        ))
    ));
    assert_eq!(s.sent(), "");
}

#[test]
fn an_unreadable_body_under_data_defers_it_and_closes_without_another_byte() {
    let mut s = Script::plain();
    in_data(&mut s);
    s.send(&["later@example.test"]);
    s.session
        .send_body(b"Subject: x\r\n\r\npart", s.now)
        .unwrap();
    s.session.body_failed("the file is gone".into(), s.now);
    assert_eq!(s.sent(), "");
    let events = s.events();
    let results = done(&events);
    assert!(matches!(
        results[0].1.as_slice(),
        [Outcome::Deferred(Failure::Body(BodyError::Unreadable(why)))] if why == "the file is gone"
    ));
    assert!(matches!(
        results[1].1.as_slice(),
        [Outcome::Deferred(Failure::Session(SessionError::Aborted))]
    ));
}

#[test]
fn an_unreadable_body_under_bdat_resets_and_the_next_message_goes_on() {
    let mut c = config(TlsPolicy::Disabled);
    c.chunking = true;
    let mut s = Script::new(c);
    s.open(EHLO_CHUNKING);
    s.send(&["a@example.test"]);
    s.send(&["b@example.test"]);
    s.sent();
    s.server("250 ok\r\n250 ok\r\n");
    s.session
        .send_body(&text_lines(BDAT_CHUNK + 10), s.now)
        .unwrap();
    s.session.body_failed("read error".into(), s.now);
    let wire = s.sent();
    assert!(
        wire.ends_with("RSET\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
        "{wire:?}"
    );
    assert!(!wire.contains("LAST"));
    s.server("250 ok\r\n250 reset\r\n250 ok\r\n250 ok\r\n");
    s.body("second\r\n");
    assert!(s.sent().contains("LAST"));
    s.server("250 queued\r\n");
    let results = done(&s.events());
    assert!(matches!(
        results[0].1.as_slice(),
        [Outcome::Deferred(Failure::Body(BodyError::Unreadable(_)))]
    ));
    assert!(matches!(results[1].1.as_slice(), [Outcome::Delivered(_)]));
}

#[test]
fn bytes_while_a_command_is_half_written_finish_its_line_and_send_nothing_more() {
    let mut s = Script::plain();
    s.send(&["bob@example.test"]);
    s.server(GREETING);
    // Only "EH" of EHLO has been written when the server speaks again.
    s.session.advance_transmit(2);
    s.server("250 early\r\n");
    assert_eq!(
        closed(&s.events()).flatten(),
        Some(SessionError::DataBeforeCommand(Phase::Hello))
    );
    assert_eq!(s.sent(), "LO client.example\r\n");
}

/// Issue 17: each outcome says which recipient it is for, and the caller borrows it.
#[test]
fn transaction_done_names_each_recipient_by_index_and_mailbox() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    let id = s.send(&["a@example.test", "b@example.test", "c@example.test"]);
    s.sent();
    s.server("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n");
    s.body("Subject: hi\r\n\r\nhello\r\n");
    s.sent();
    s.server("250 2.0.0 queued as 4F2A\r\n");
    assert!(matches!(
        s.session.poll_event(),
        Some(Event::TransactionDone(done)) if done == id
    ));
    let outcomes = s.session.outcomes(id).unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(!outcomes.all_delivered());
    let seen: Vec<(usize, String, String)> = outcomes
        .clone()
        .map(|o| (o.index, o.recipient.to_string(), o.outcome.to_string()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                0,
                "a@example.test".into(),
                "delivered: 250 2.0.0 queued as 4F2A".into()
            ),
            (
                1,
                "b@example.test".into(),
                "rejected: 550 5.1.1 no such user".into()
            ),
            (
                2,
                "c@example.test".into(),
                "delivered: 250 2.0.0 queued as 4F2A".into()
            ),
        ]
    );
    assert!(outcomes.get(1).unwrap().is_permanent());
    assert_eq!(
        outcomes.get(1).unwrap().reply().map(|r| r.code().get()),
        Some(550)
    );
    assert_eq!(outcomes.get(3), None);
    // The owned form: the two deliveries share one reply text.
    let owned = outcomes.to_vec();
    assert_eq!(owned.len(), 3);
    assert_eq!(outcomes.get(0).unwrap(), owned[0]);
    assert_eq!(outcomes.get(1).unwrap().to_outcome(), owned[1]);
    match (&owned[0], &owned[2]) {
        (Outcome::Delivered(a), Outcome::Delivered(b)) => {
            assert!(
                core::ptr::eq(a.first_line(), b.first_line()),
                "one shared text"
            )
        }
        other => panic!("{other:?}"),
    }
    // Lent until the next poll_event, whatever it returns.
    assert!(s.session.poll_event().is_none());
    assert!(s.session.outcomes(id).is_none());
}

#[test]
fn outcomes_of_a_split_transaction_name_the_callers_recipients() {
    // 250 recipients in three SMTP transactions (100, 100, 50): one report, indexed by the
    // caller's envelope ([`Script::poll`] checks index and mailbox of every outcome).
    let (_, events) = split_session(250, 1000);
    let results = done(&events);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.len(), 250);
}

#[test]
fn outcomes_are_kept_until_polled_and_the_ids_are_told_apart() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    let first = s.send(&["a@example.test"]);
    s.sent();
    s.server("250 ok\r\n250 ok\r\n354 go\r\n");
    s.body("x\r\n");
    let second = s.send(&["b@example.test", "c@example.test"]);
    s.sent();
    s.server("250 2.0.0 first\r\n");
    s.server("250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n");
    s.body("y\r\n");
    s.sent();
    s.server("451 4.3.0 try later\r\n");
    // Both ended before the caller polled: each is there under its own id.
    assert!(s.session.outcomes(first).is_some());
    assert!(matches!(s.session.poll_event(), Some(Event::TransactionDone(id)) if id == first));
    let one: Vec<String> = s
        .session
        .outcomes(first)
        .unwrap()
        .map(|o| o.outcome.to_string())
        .collect();
    assert_eq!(one, vec!["delivered: 250 2.0.0 first"]);
    assert!(matches!(s.session.poll_event(), Some(Event::TransactionDone(id)) if id == second));
    assert!(
        s.session.outcomes(first).is_none(),
        "released by the next poll_event"
    );
    let two: Vec<(usize, String)> = s
        .session
        .outcomes(second)
        .unwrap()
        .map(|o| (o.index, o.outcome.to_string()))
        .collect();
    assert_eq!(
        two,
        vec![
            (0, "rejected: 550 no".to_string()),
            (1, "deferred: 451 4.3.0 try later".to_string())
        ]
    );
}
