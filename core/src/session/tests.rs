//! Transcript tests: canned server bytes in, exact client bytes out (in the style of Go's
//! net/smtp tests), one behaviour each.

extern crate std;

use super::*;
use crate::address::{AddressLiteral, Mailbox};
use crate::sasl::{Credentials, Secret};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use std::format;

const GREETING: &str = "220 mx.example.test ESMTP\r\n";
const EHLO_PLAIN: &str = "250-mx.example.test\r\n250 8BITMIME\r\n";
const EHLO_PIPELINING: &str = "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n";
const EHLO_STARTTLS: &str =
    "250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n";
const EHLO_AFTER_TLS: &str = "250-mx.example.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n";

fn mailbox(s: &str) -> Mailbox {
    Mailbox::parse(s).unwrap()
}

/// The window off: these transcripts are about DATA, lock-step and pipelined, with the
/// CHUNKING that EHLO_PIPELINING offers left unused unless a test asks for it (streaming:
/// `tests/streaming.rs`).
fn config(tls: TlsPolicy) -> SessionConfig {
    let mut c = SessionConfig::new(Domain::parse("client.example").unwrap());
    c.tls = tls;
    c.window = TransactionWindow::OFF;
    c
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope {
        from: ReversePath::Mailbox(mailbox("alice@example.org")),
        recipients: to.iter().map(|t| mailbox(t)).collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    }
}

/// A session plus a fake clock, with helpers to play the server's side.
struct Script {
    session: Session,
    now: Instant,
}

impl Script {
    fn new(config: SessionConfig) -> Script {
        Script {
            session: Session::new(config, Instant::ZERO),
            now: Instant::ZERO,
        }
    }

    fn plain() -> Script {
        Script::new(config(TlsPolicy::Disabled))
    }

    fn server(&mut self, bytes: &str) {
        self.session.handle_input(bytes.as_bytes(), self.now);
    }

    /// Everything the client has to send, taken (as one write).
    fn sent(&mut self) -> String {
        let bytes = self.session.pending_transmit().to_vec();
        self.session.advance_transmit(bytes.len());
        String::from_utf8(bytes).unwrap()
    }

    fn expect(&mut self, client: &str) {
        assert_eq!(self.sent(), client);
    }

    fn events(&mut self) -> Vec<Seen> {
        core::iter::from_fn(|| self.poll()).collect()
    }

    /// The next event as the caller sees it: a finished transaction with the outcomes the
    /// session lends for it, taken before the next `poll_event` releases them.
    fn poll(&mut self) -> Option<Seen> {
        Some(match self.session.poll_event()? {
            Event::StartTls => Seen::StartTls,
            Event::Established => Seen::Established,
            Event::TransactionDone(id) => {
                let outcomes = self
                    .session
                    .outcomes(id)
                    .expect("outcomes of a done transaction");
                // Each outcome names its recipient: in envelope order, one per recipient.
                for (position, done) in outcomes.clone().enumerate() {
                    assert_eq!(done.index, position);
                    assert_eq!(
                        Some(done.recipient),
                        outcomes.envelope().recipients.get(position)
                    );
                    assert_eq!(outcomes.get(position), Some(done.outcome));
                }
                assert_eq!(outcomes.len(), outcomes.envelope().recipients.len());
                Seen::TransactionDone(id, outcomes.to_vec())
            }
            Event::Closed(error) => Seen::Closed(error),
        })
    }

    fn advance_clock(&mut self, secs: u64) {
        self.now = self.now.saturating_add(Duration::from_secs(secs));
        self.session.handle_timeout(self.now);
    }

    fn send(&mut self, to: &[&str]) -> TransactionId {
        self.session.send_mail(envelope(to), self.now).unwrap()
    }

    fn body(&mut self, body: &str) {
        assert!(self.session.wants_body());
        self.session.send_body(body.as_bytes(), self.now).unwrap();
        self.session.finish_body(self.now).unwrap();
    }

    /// Greeting and EHLO with the given capabilities.
    fn open(&mut self, ehlo: &str) {
        self.server(GREETING);
        self.expect("EHLO client.example\r\n");
        self.server(ehlo);
    }
}

/// An [`Event`] as these tests look at it: [`Event::TransactionDone`] with the outcomes
/// [`Session::outcomes`] lent for it, owned ([`Script::poll`]).
#[derive(Clone, Debug)]
enum Seen {
    StartTls,
    Established,
    TransactionDone(TransactionId, Vec<Outcome>),
    Closed(Option<SessionError>),
}

fn done(events: &[Seen]) -> Vec<(TransactionId, Vec<Outcome>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Seen::TransactionDone(id, outcomes) => Some((*id, outcomes.clone())),
            _ => None,
        })
        .collect()
}

fn closed(events: &[Seen]) -> Option<Option<SessionError>> {
    events.iter().find_map(|e| match e {
        Seen::Closed(error) => Some(error.clone()),
        _ => None,
    })
}

fn code_of(outcome: &Outcome) -> Option<u16> {
    let reply = match outcome {
        Outcome::Delivered(r) => Some(r),
        Outcome::Rejected(f @ (Failure::Reply(_) | Failure::SenderRefused(_)))
        | Outcome::Deferred(f @ (Failure::Reply(_) | Failure::SenderRefused(_)))
        | Outcome::Ambiguous(f @ (Failure::Reply(_) | Failure::SenderRefused(_))) => f.reply(),
        _ => None,
    };
    reply.map(|r| r.code().get())
}

/// `len` octets of text: lines of 99 `a`s, each ended by LF.
fn text_lines(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| if i % 100 == 99 { b'\n' } else { b'a' })
        .collect()
}

#[test]
fn plain_session_delivers_one_message_in_lock_step() {
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    let id = s.send(&["bob@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("250 2.1.0 Ok\r\n");
    s.expect("RCPT TO:<bob@example.test>\r\n");
    s.server("250 2.1.5 Ok\r\n");
    s.expect("DATA\r\n");
    assert!(!s.session.wants_body());
    s.server("354 End data with <CR><LF>.<CR><LF>\r\n");
    s.body("Subject: hi\n\n.dot\nbye");
    s.expect("Subject: hi\r\n\r\n..dot\r\nbye\r\n.\r\n");
    s.server("250 2.0.0 Ok: queued as ABC\r\n");
    let events = s.events();
    let results = done(&events);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, id);
    assert!(matches!(&results[0].1[..], [Outcome::Delivered(r)] if r.code().get() == 250));
    s.session.quit(s.now);
    s.expect("QUIT\r\n");
    s.server("221 2.0.0 Bye\r\n");
    assert_eq!(closed(&s.events()), Some(None));
    assert!(s.session.is_closed());
}

#[test]
fn pipelining_sends_mail_every_rcpt_and_data_in_one_write() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["bob@example.test", "carol@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n");
    s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n");
    s.body("hello\r\n");
    s.expect("hello\r\n.\r\n");
    s.server("250 2.0.0 queued\r\n");
    let results = done(&s.events());
    assert!(results[0]
        .1
        .iter()
        .all(|o| matches!(o, Outcome::Delivered(_))));
}

#[test]
fn partial_rcpt_failure_delivers_to_the_accepted_and_reports_the_rest() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&[
        "bob@example.test",
        "nobody@example.test",
        "later@example.test",
    ]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n550 5.1.1 User unknown\r\n451 4.3.0 Try later\r\n354 go\r\n");
    s.body("x");
    s.expect("x\r\n.\r\n");
    s.server("250 Ok\r\n");
    let results = done(&s.events());
    let outcomes = &results[0].1;
    assert!(matches!(outcomes[0], Outcome::Delivered(_)));
    assert!(matches!(&outcomes[1], Outcome::Rejected(Failure::Reply(r)) if r.code().get() == 550));
    assert!(matches!(&outcomes[2], Outcome::Deferred(Failure::Reply(r)) if r.code().get() == 451));
}

#[test]
fn all_recipients_rejected_resets_without_sending_a_body() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test", "b@example.test"]);
    s.sent();
    s.server("250 Ok\r\n550 no\r\n550 no\r\n554 5.5.1 Error: no valid recipients\r\n");
    s.expect("RSET\r\n");
    assert!(!s.session.wants_body());
    let results = done(&s.events());
    assert!(results[0].1.iter().all(|o| code_of(o) == Some(550)));
    s.server("250 Ok\r\n");
    assert!(s.events().is_empty());
}

#[test]
fn all_recipients_rejected_in_lock_step_resets_without_data() {
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    s.send(&["a@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("250 Ok\r\n");
    s.expect("RCPT TO:<a@example.test>\r\n");
    s.server("550 5.1.1 no\r\n");
    s.expect("RSET\r\n");
    assert!(matches!(&done(&s.events())[0].1[0], Outcome::Rejected(_)));
}

#[test]
fn pipelined_data_accepted_after_every_rcpt_failed_sends_an_empty_message_then_resets() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n550 no\r\n354 go ahead anyway\r\n");
    s.expect(".\r\nRSET\r\n");
    assert!(!s.session.wants_body());
    s.server("554 no valid recipients\r\n250 Ok\r\n");
    let events = s.events();
    assert!(matches!(&done(&events)[0].1[0], Outcome::Rejected(_)));
    assert_eq!(closed(&events), None);
}

#[test]
fn mail_from_rejected_rejects_every_recipient() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test", "b@example.test"]);
    s.sent();
    s.server("553 5.7.1 Sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n");
    s.expect("RSET\r\n");
    let results = done(&s.events());
    assert!(results[0].1.iter().all(|o| code_of(o) == Some(553)));
}

#[test]
fn helo_fallback_on_502_when_plaintext_is_allowed() {
    let mut s = Script::new(config(TlsPolicy::Opportunistic));
    s.server(GREETING);
    s.expect("EHLO client.example\r\n");
    s.server("502 5.5.2 Command not recognized\r\n");
    s.expect("HELO client.example\r\n");
    s.server("250 mx.example.test\r\n");
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    // No PIPELINING after HELO: lock step.
    s.send(&["bob@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
}

#[test]
fn no_helo_fallback_when_tls_is_required() {
    let mut s = Script::new(config(TlsPolicy::Required));
    s.server(GREETING);
    s.expect("EHLO client.example\r\n");
    s.server("500 5.5.1 what?\r\n");
    s.expect("QUIT\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::EhloRequiredForTls(_)))
    ));
}

#[test]
fn ehlo_rejected_with_anything_but_500_or_502_ends_the_session() {
    let mut s = Script::new(config(TlsPolicy::Opportunistic));
    s.server(GREETING);
    s.sent();
    s.server("554 5.7.1 go away\r\n");
    s.expect("QUIT\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::HelloRejected(_)))
    ));
}

#[test]
fn opportunistic_tls_upgrades_then_asks_for_capabilities_again() {
    let mut s = Script::new(config(TlsPolicy::Opportunistic));
    s.open(EHLO_STARTTLS);
    s.expect("STARTTLS\r\n");
    s.server("220 2.0.0 Ready to start TLS\r\n");
    assert!(matches!(s.events().as_slice(), [Seen::StartTls]));
    assert_eq!(s.sent(), "");
    s.session.tls_established(s.now);
    assert!(s.session.is_secure());
    assert!(s.session.capabilities().is_none());
    s.expect("EHLO client.example\r\n");
    s.server(EHLO_AFTER_TLS);
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    assert!(!s.session.capabilities().unwrap().starttls);
}

#[test]
fn opportunistic_tls_goes_on_in_plaintext_when_not_offered() {
    let mut s = Script::new(config(TlsPolicy::Opportunistic));
    s.open(EHLO_PIPELINING);
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    assert!(!s.session.is_secure());
}

#[test]
fn opportunistic_tls_goes_on_in_plaintext_after_454() {
    let mut s = Script::new(config(TlsPolicy::Opportunistic));
    s.open(EHLO_STARTTLS);
    s.expect("STARTTLS\r\n");
    s.server("454 4.7.0 TLS not available due to local problem\r\n");
    assert!(matches!(s.events().as_slice(), [Seen::Established]));
    s.send(&["bob@example.test"]);
    assert!(s.sent().starts_with("MAIL FROM:"));
}

#[test]
fn required_tls_not_offered_sends_nothing_but_quit() {
    let mut s = Script::new(config(TlsPolicy::Required));
    s.send(&["bob@example.test"]);
    s.open(EHLO_PIPELINING);
    s.expect("QUIT\r\n");
    let events = s.events();
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::StartTlsUnavailable))
    ));
    assert!(matches!(
        &done(&events)[0].1[0],
        Outcome::Deferred(Failure::Session(SessionError::StartTlsUnavailable))
    ));
}

#[test]
fn required_tls_refused_sends_nothing_but_quit() {
    for refusal in ["502 5.5.1 no\r\n", "454 4.7.0 not now\r\n", "354 what\r\n"] {
        let mut config = config(TlsPolicy::Required);
        config.credentials = Some(Credentials {
            username: "u".into(),
            secret: Secret::Password("p".into()),
        });
        let mut s = Script::new(config);
        s.send(&["bob@example.test"]);
        s.open(EHLO_STARTTLS);
        s.expect("STARTTLS\r\n");
        s.server(refusal);
        // After a 354 anything sent would be message content: nothing goes out.
        let quit = if refusal.starts_with("354") {
            ""
        } else {
            "QUIT\r\n"
        };
        assert_eq!(s.sent(), quit, "after {refusal:?}");
        assert!(
            matches!(closed(&s.events()), Some(Some(_))),
            "after {refusal:?}"
        );
    }
}

#[test]
fn bytes_after_the_starttls_220_in_the_same_read_abort_the_session() {
    let mut s = Script::new(config(TlsPolicy::Required));
    s.open(EHLO_STARTTLS);
    s.expect("STARTTLS\r\n");
    s.server("220 go ahead\r\n250-injected\r\n250 AUTH PLAIN LOGIN\r\n");
    let events = s.events();
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::DataAfterStartTls))
    ));
    assert!(
        !events.iter().any(|e| matches!(e, Seen::StartTls)),
        "no TLS handshake may start after an injection: {events:?}"
    );
    assert_eq!(s.sent(), "");
}

#[test]
fn bytes_after_the_starttls_220_in_a_later_read_abort_the_session() {
    let mut s = Script::new(config(TlsPolicy::Required));
    s.open(EHLO_STARTTLS);
    s.sent();
    s.server("220 go ahead\r\n");
    assert!(matches!(s.events().as_slice(), [Seen::StartTls]));
    s.server("250 injected\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::DataAfterStartTls))
    ));
    s.session.tls_established(s.now);
    assert_eq!(s.sent(), "");
}

#[test]
fn a_partial_line_after_the_starttls_220_aborts_the_session() {
    let mut s = Script::new(config(TlsPolicy::Opportunistic));
    s.open(EHLO_STARTTLS);
    s.sent();
    s.server("220 go ahead\r\n2");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::DataAfterStartTls))
    ));
}

fn auth_config(tls: TlsPolicy) -> SessionConfig {
    let mut c = config(tls);
    c.credentials = Some(Credentials {
        username: "user".into(),
        secret: Secret::Password("secret".into()),
    });
    c
}

#[test]
fn auth_plain_goes_out_after_tls() {
    let mut s = Script::new(auth_config(TlsPolicy::Required));
    s.open(EHLO_STARTTLS);
    s.expect("STARTTLS\r\n");
    s.server("220 ready\r\n");
    s.session.tls_established(s.now);
    s.expect("EHLO client.example\r\n");
    s.server(EHLO_AFTER_TLS);
    s.expect("AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
    s.server("235 2.7.0 Authentication successful\r\n");
    assert!(s.events().iter().any(|e| matches!(e, Seen::Established)));
}

#[test]
fn auth_is_never_sent_in_plaintext_unless_allowed() {
    let mut s = Script::new(auth_config(TlsPolicy::Opportunistic));
    s.open("250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
    s.expect("QUIT\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::AuthRequiresTls))
    ));
}

#[test]
fn auth_in_plaintext_when_explicitly_allowed() {
    let mut c = auth_config(TlsPolicy::Disabled);
    c.allow_plaintext_auth = true;
    let mut s = Script::new(c);
    s.open("250-mx\r\n250 AUTH LOGIN\r\n");
    s.expect("AUTH LOGIN\r\n");
    s.server("334 VXNlcm5hbWU6\r\n");
    s.expect("dXNlcg==\r\n");
    s.server("334 UGFzc3dvcmQ6\r\n");
    s.expect("c2VjcmV0\r\n");
    s.server("235 ok\r\n");
    assert!(s.events().iter().any(|e| matches!(e, Seen::Established)));
}

#[test]
fn auth_failure_ends_the_session_with_the_reply() {
    let mut c = auth_config(TlsPolicy::Disabled);
    c.allow_plaintext_auth = true;
    let mut s = Script::new(c);
    s.send(&["bob@example.test"]);
    s.open("250-mx\r\n250 AUTH PLAIN\r\n");
    s.sent();
    s.server("535 5.7.8 Authentication credentials invalid\r\n");
    s.expect("QUIT\r\n");
    let events = s.events();
    assert!(
        matches!(closed(&events), Some(Some(SessionError::AuthFailed(r))) if r.code().get() == 535)
    );
    assert_eq!(done(&events).len(), 1);
}

#[test]
fn auth_without_a_usable_mechanism_names_what_was_offered() {
    let mut c = auth_config(TlsPolicy::Implicit);
    c.allow_plaintext_auth = true;
    let mut s = Script::new(c);
    s.open("250-mx\r\n250 AUTH CRAM-MD5\r\n");
    match closed(&s.events()) {
        Some(Some(SessionError::AuthUnavailable { offered })) => assert_eq!(offered.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pre_tls_capabilities_are_forgotten_after_starttls() {
    // AUTH offered only before TLS must not be used after it.
    let mut s = Script::new(auth_config(TlsPolicy::Required));
    s.open(EHLO_STARTTLS);
    s.sent();
    s.server("220 ready\r\n");
    s.session.tls_established(s.now);
    s.sent();
    s.server("250-mx.example.test\r\n250 PIPELINING\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::AuthUnavailable { .. }))
    ));
}

#[test]
fn service_closing_421_mid_session_defers_everything_pending() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test", "b@example.test"]);
    s.send(&["c@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n421 4.3.2 Shutting down\r\n");
    let events = s.events();
    let results = done(&events);
    assert_eq!(results.len(), 2);
    assert!(
        matches!(&results[0].1[1], Outcome::Deferred(Failure::Reply(r)) if r.code().get() == 421)
    );
    assert!(matches!(&results[0].1[0], Outcome::Deferred(_)));
    assert!(matches!(&results[1].1[0], Outcome::Deferred(_)));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::ServiceClosing(_)))
    ));
    assert_eq!(s.sent(), "", "no QUIT after 421");
}

#[test]
fn connection_lost_after_the_final_dot_is_ambiguous() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.body("body");
    s.sent();
    s.session.handle_eof(s.now);
    let events = s.events();
    assert!(matches!(&done(&events)[0].1[0], Outcome::Ambiguous(_)));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::ConnectionClosed(Phase::DataTermination)))
    ));
}

#[test]
fn connection_lost_before_the_final_dot_was_written_is_deferred() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.body("body");
    // Nothing of the body was written when the connection dropped.
    s.session.handle_eof(s.now);
    assert!(matches!(&done(&s.events())[0].1[0], Outcome::Deferred(_)));
}

#[test]
fn message_over_the_size_limit_is_refused_before_anything_is_sent() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    let mut e = envelope(&["a@example.test"]);
    e.size = Some(1001);
    s.session.send_mail(e, s.now).unwrap();
    assert_eq!(s.sent(), "");
    let events = s.events();
    assert!(matches!(
        &done(&events)[0].1[0],
        Outcome::Rejected(Failure::TooLarge {
            size: 1001,
            limit: 1000
        })
    ));
}

#[test]
fn size_is_declared_when_offered() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    let mut e = envelope(&["a@example.test"]);
    e.size = Some(999);
    s.session.send_mail(e, s.now).unwrap();
    assert!(s
        .sent()
        .starts_with("MAIL FROM:<alice@example.org> SIZE=999\r\n"));
}

#[test]
fn smtputf8_is_declared_when_an_address_needs_it() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["jörg@example.test"]);
    assert!(s
        .sent()
        .starts_with("MAIL FROM:<alice@example.org> SMTPUTF8\r\nRCPT TO:<jörg@example.test>\r\n"));
}

#[test]
fn utf8_address_without_smtputf8_is_refused_before_anything_is_sent() {
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    s.send(&["jörg@example.test"]);
    assert_eq!(s.sent(), "");
    assert!(matches!(
        &done(&s.events())[0].1[0],
        Outcome::Rejected(Failure::Utf8Unsupported)
    ));
}

#[test]
fn eight_bit_body_declares_8bitmime_or_is_refused() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    let mut e = envelope(&["a@example.test"]);
    e.body = BodyType::EightBitMime;
    s.session.send_mail(e.clone(), s.now).unwrap();
    assert!(s
        .sent()
        .starts_with("MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n"));

    let mut s = Script::plain();
    s.open("250-mx\r\n250 PIPELINING\r\n");
    s.session.send_mail(e, s.now).unwrap();
    assert_eq!(s.sent(), "");
    assert!(matches!(
        &done(&s.events())[0].1[0],
        Outcome::Rejected(Failure::EightBitUnsupported)
    ));
}

#[test]
fn dsn_parameters_go_out_only_when_offered() {
    let mut e = envelope(&["a@example.test"]);
    e.dsn = DsnOptions {
        ret: Some(crate::command::Ret::Headers),
        envid: Some("id1".into()),
        notify: Some(crate::command::Notify::On {
            success: false,
            failure: true,
            delay: true,
        }),
    };
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.session.send_mail(e.clone(), s.now).unwrap();
    assert_eq!(
        s.sent(),
        "MAIL FROM:<alice@example.org> RET=HDRS ENVID=id1\r\nRCPT TO:<a@example.test> NOTIFY=FAILURE,DELAY\r\nDATA\r\n"
    );
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    s.session.send_mail(e, s.now).unwrap();
    assert_eq!(s.sent(), "MAIL FROM:<alice@example.org>\r\n");
}

#[test]
fn several_transactions_share_one_session_and_one_write_per_message() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    let first = s.send(&["a@example.test"]);
    let second = s.send(&["b@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n");
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.body("one");
    // The end of the first message and the second's commands leave in one write.
    s.expect("one\r\n.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
    s.session.quit(s.now);
    s.server("250 queued 1\r\n250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.body("two");
    s.expect("two\r\n.\r\nQUIT\r\n");
    s.server("250 queued 2\r\n221 bye\r\n");
    let events = s.events();
    let results = done(&events);
    assert_eq!(
        results.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert!(results
        .iter()
        .all(|r| matches!(r.1[0], Outcome::Delivered(_))));
    assert_eq!(closed(&events), Some(None));
}

#[test]
fn several_transactions_in_lock_step_wait_for_each_final_reply() {
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    s.send(&["a@example.test"]);
    s.send(&["b@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\n");
    s.server("250 Ok\r\n");
    s.expect("RCPT TO:<a@example.test>\r\n");
    s.server("250 Ok\r\n");
    s.expect("DATA\r\n");
    s.server("354 go\r\n");
    s.body("one");
    s.expect("one\r\n.\r\n");
    s.server("250 Ok\r\n");
    s.expect("MAIL FROM:<alice@example.org>\r\n");
}

#[test]
fn chunking_sends_the_body_in_bdat_chunks_ending_with_last() {
    let mut c = config(TlsPolicy::Disabled);
    c.chunking = true;
    let mut s = Script::new(c);
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.expect("MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.test>\r\n");
    s.server("250 Ok\r\n250 Ok\r\n");
    assert!(s.session.wants_body());
    s.session.send_body(b"line one\n.dot\n", s.now).unwrap();
    s.session.finish_body(s.now).unwrap();
    s.expect("BDAT 16 LAST\r\nline one\r\n.dot\r\n");
    s.server("250 2.0.0 queued\r\n");
    assert!(matches!(&done(&s.events())[0].1[0], Outcome::Delivered(r) if r.code().get() == 250));
}

#[test]
fn small_body_pieces_are_gathered_into_large_bdat_chunks() {
    let mut c = config(TlsPolicy::Disabled);
    c.chunking = true;
    let mut s = Script::new(c);
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n");
    for i in 0..BDAT_CHUNK + 10 {
        let octet: &[u8] = if i % 100 == 99 { b"\n" } else { b"x" };
        s.session.send_body(octet, s.now).unwrap();
    }
    s.session.finish_body(s.now).unwrap();
    let wire = s.sent();
    assert_eq!(wire.matches("BDAT").count(), 2);
    assert!(wire.starts_with("BDAT 1638"), "{}", &wire[..20]);
    assert!(wire.contains(" LAST\r\n"));
}

#[test]
fn a_failed_bdat_chunk_stops_the_body_and_resets() {
    let mut c = config(TlsPolicy::Disabled);
    c.chunking = true;
    let mut s = Script::new(c);
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n");
    s.session.send_body(&text_lines(BDAT_CHUNK), s.now).unwrap();
    let wire = s.sent();
    assert!(
        wire.starts_with("BDAT ") && wire.contains("\r\naaa"),
        "{wire:?}"
    );
    s.server("552 5.3.4 too big\r\n");
    assert!(!s.session.wants_body());
    s.expect("RSET\r\n");
    assert!(matches!(&done(&s.events())[0].1[0], Outcome::Rejected(_)));
    assert_eq!(s.session.finish_body(s.now), Err(UsageError::BodyNotWanted));
}

#[test]
fn exact_replies_data_answered_250_is_a_protocol_error() {
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n");
    s.sent();
    s.server("250 Ok\r\n");
    s.expect("DATA\r\n");
    s.server("250 Ok\r\n");
    let events = s.events();
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::UnexpectedReply {
            phase: Phase::DataInitiation,
            ..
        }))
    ));
    assert!(matches!(&done(&events)[0].1[0], Outcome::Deferred(_)));
}

#[test]
fn exact_replies_greeting_must_be_220() {
    let mut s = Script::plain();
    s.server("554 5.3.2 no SMTP service here\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::GreetingRefused(_)))
    ));
    let mut s = Script::plain();
    s.server("250 hello?\r\n");
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::UnexpectedReply {
            phase: Phase::Greeting,
            ..
        }))
    ));
}

#[test]
fn exact_replies_end_of_data_other_than_250_is_not_delivered() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.body("x");
    s.sent();
    s.server("251 sure\r\n");
    let events = s.events();
    assert!(matches!(
        &done(&events)[0].1[0],
        Outcome::Ambiguous(Failure::Reply(_))
    ));
}

#[test]
fn a_reply_nobody_asked_for_is_a_protocol_error() {
    let mut s = Script::plain();
    s.open(EHLO_PLAIN);
    s.events();
    s.server("250 surprise\r\n");
    let error = closed(&s.events()).flatten().unwrap();
    assert!(matches!(error, SessionError::UnsolicitedReply(_)));
    assert!(error.is_protocol_violation());
}

#[test]
fn malformed_reply_ends_the_session_and_blames_the_server() {
    let mut s = Script::plain();
    s.server("hello there\r\n");
    let error = closed(&s.events()).flatten().unwrap();
    assert!(matches!(error, SessionError::MalformedReply(_)));
    assert!(error.is_protocol_violation());
}

#[test]
fn greeting_timeout_fires_at_the_deadline_not_before() {
    let mut s = Script::plain();
    assert_eq!(
        s.session.poll_timeout(),
        Some(Instant::from_micros(300_000_000))
    );
    s.advance_clock(299);
    assert!(s.events().is_empty());
    s.advance_clock(1);
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Timeout(Phase::Greeting)))
    ));
}

#[test]
fn a_server_trickling_bytes_cannot_extend_the_deadline() {
    let mut s = Script::plain();
    for _ in 0..299 {
        s.now = s.now.saturating_add(Duration::from_secs(1));
        s.server("2");
        s.session.handle_timeout(s.now);
    }
    assert!(s.events().is_empty());
    s.advance_clock(1);
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Timeout(Phase::Greeting)))
    ));
}

#[test]
fn timeout_waiting_for_the_end_of_data_reply_is_ambiguous() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.body("x");
    s.sent();
    s.events();
    s.advance_clock(599);
    assert!(s.events().is_empty());
    s.advance_clock(1);
    let events = s.events();
    assert!(matches!(&done(&events)[0].1[0], Outcome::Ambiguous(_)));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::Timeout(Phase::DataTermination)))
    ));
}

#[test]
fn each_phase_has_its_own_deadline() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n");
    // DATA's 354 is due within 2 minutes (RFC 5321 §4.5.3.2.3).
    s.advance_clock(120);
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Timeout(Phase::DataInitiation)))
    ));
}

#[test]
fn body_is_asked_for_only_below_the_watermark() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    let chunk = text_lines(16 * 1024);
    let mut pushed = 0;
    while s.session.wants_body() {
        s.session.send_body(&chunk, s.now).unwrap();
        pushed += chunk.len();
        assert!(pushed <= BODY_WATERMARK + chunk.len());
    }
    assert!(s.session.pending_transmit().len() >= BODY_WATERMARK);
    s.sent();
    assert!(s.session.wants_body());
}

#[test]
fn usage_errors_name_the_callers_mistake() {
    let mut s = Script::plain();
    assert_eq!(
        s.session.send_mail(envelope(&[]), s.now),
        Err(UsageError::NoRecipients)
    );
    assert_eq!(
        s.session.send_body(b"x", s.now),
        Err(UsageError::BodyNotWanted)
    );
    s.session.quit(s.now);
    assert_eq!(
        s.session.send_mail(envelope(&["a@example.test"]), s.now),
        Err(UsageError::Closed)
    );
}

#[test]
fn address_literal_ehlo_name() {
    let c = SessionConfig::new(Domain::Literal(AddressLiteral::V4(Ipv4Addr::new(
        127, 0, 0, 1,
    ))));
    let mut s = Script::new(c);
    s.server(GREETING);
    s.expect("EHLO [127.0.0.1]\r\n");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A full pipelined session, as the server's replies in causal rounds: each round
    /// answers what the client sent after the round before.
    const ROUNDS: [&str; 4] = [
        "220 mx ESMTP\r\n",
        "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        "250 Ok\r\n250 Ok\r\n550 5.1.1 no\r\n354 go\r\n",
        "250 2.0.0 queued\r\n221 bye\r\n",
    ];

    /// Run a session against the rounds, each further split at `cuts` (offsets into the
    /// whole script); return the client bytes and events.
    fn run(cuts: &[usize]) -> (String, String) {
        let server = ROUNDS.concat();
        let server = server.as_bytes();
        let mut s = Script::plain();
        s.send(&["a@example.test", "b@example.test"]);
        s.session.quit(s.now);
        let mut client = String::new();
        let mut events = String::new();
        let mut points: Vec<usize> = cuts.iter().map(|&c| c.min(server.len())).collect();
        let mut boundary = 0;
        for round in ROUNDS {
            boundary += round.len();
            points.push(boundary);
        }
        points.sort_unstable();
        let mut start = 0;
        for end in points {
            s.session.handle_input(&server[start..end], s.now);
            start = end;
            loop {
                client.push_str(&s.sent());
                let mut progressed = false;
                while let Some(e) = s.poll() {
                    events.push_str(&format!("{e:?}\n"));
                    progressed = true;
                }
                if s.session.wants_body() {
                    s.session.send_body(b"body\n", s.now).unwrap();
                    s.session.finish_body(s.now).unwrap();
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
        }
        (client, events)
    }

    proptest! {
        #[test]
        fn any_chunking_of_the_servers_bytes_gives_the_same_events(cuts in proptest::collection::vec(0usize..200, 0..12)) {
            let whole = run(&[]);
            prop_assert!(whole.1.contains("Delivered"));
            prop_assert!(whole.1.contains("Closed(None)"));
            let split = run(&cuts);
            prop_assert_eq!(split, whole);
        }

        #[test]
        fn any_sequence_of_replies_leaves_the_session_defined(
            replies in proptest::collection::vec((200u16..600, 0usize..3, any::<bool>()), 0..40),
            ticks in proptest::collection::vec(0u64..700, 0..5),
            eof in any::<bool>(),
        ) {
            let mut c = auth_config(TlsPolicy::Opportunistic);
            c.allow_plaintext_auth = true;
            c.chunking = true;
            let mut s = Script::new(c);
            s.send(&["a@example.test", "b@example.test"]);
            s.send(&["c@example.test"]);
            s.session.quit(s.now);
            let texts = ["ok", "PIPELINING", "AUTH PLAIN"];
            let mut outcomes = 0;
            let mut closes = 0;
            for (code, text, multi) in replies {
                let line = if multi {
                    format!("{code}-mx\r\n{code} {}\r\n", texts[text])
                } else {
                    format!("{code} {}\r\n", texts[text])
                };
                s.server(&line);
                s.sent();
                if s.session.wants_body() {
                    s.session.send_body(b"x\r\n", s.now).unwrap();
                    s.session.finish_body(s.now).unwrap();
                }
                while let Some(e) = s.poll() {
                    match e {
                        Seen::TransactionDone(_, o) => outcomes += o.len(),
                        Seen::Closed(_) => closes += 1,
                        Seen::StartTls => s.session.tls_established(s.now),
                        Seen::Established => {}
                    }
                }
            }
            for t in ticks {
                s.advance_clock(t);
            }
            if eof {
                s.session.handle_eof(s.now);
            }
            while let Some(e) = s.poll() {
                match e {
                    Seen::TransactionDone(_, o) => outcomes += o.len(),
                    Seen::Closed(_) => closes += 1,
                    _ => {}
                }
            }
            prop_assert!(closes <= 1);
            if s.session.is_closed() {
                // Every recipient of every transaction ended exactly once.
                prop_assert_eq!(outcomes, 3);
                prop_assert_eq!(closes, 1);
                prop_assert!(s.session.poll_timeout().is_none());
            } else {
                prop_assert!(outcomes <= 3);
                prop_assert!(s.session.poll_timeout().is_some() || s.session.is_established());
            }
        }
    }
}

#[test]
fn a_failed_tls_handshake_defers_everything_and_sends_nothing() {
    let mut s = Script::new(config(TlsPolicy::Required));
    s.send(&["a@example.test"]);
    s.open(EHLO_STARTTLS);
    s.sent();
    s.server("220 ready\r\n");
    s.events();
    s.session
        .tls_failed("certificate expired".to_string(), s.now);
    let events = s.events();
    assert!(matches!(
        &done(&events)[0].1[0],
        Outcome::Deferred(Failure::Session(SessionError::TlsHandshake(_)))
    ));
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::TlsHandshake(_)))
    ));
    assert_eq!(s.sent(), "");
}

#[test]
fn aborting_mid_body_defers_and_never_sends_the_end_of_data() {
    let mut s = Script::plain();
    s.open(EHLO_PIPELINING);
    s.send(&["a@example.test"]);
    s.sent();
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    assert_eq!(s.session.body_transaction(), Some(TransactionId(0)));
    s.session.send_body(b"half a mess", s.now).unwrap();
    s.session.abort(s.now);
    assert_eq!(s.sent(), "");
    let events = s.events();
    assert!(matches!(
        &done(&events)[0].1[0],
        Outcome::Deferred(Failure::Session(SessionError::Aborted))
    ));
    assert!(matches!(closed(&events), Some(Some(SessionError::Aborted))));
}

#[test]
fn transcript_display_of_errors_is_one_line() {
    let e = SessionError::Timeout(Phase::Rcpt);
    assert_eq!(e.to_string(), "timed out waiting during RCPT TO");
}

mod labels;
mod lmtp;
mod outcomes;
mod requiretls;
mod scram;
mod streaming;
