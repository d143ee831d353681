//! The labels of what the session transmits ([`Session::pending_transmit_spans`]): they
//! cover exactly the pending bytes, message content is content, and every SASL secret is
//! labelled secret, so a transcript never needs to parse SMTP to redact one.

use super::*;
use crate::sasl::ScramSetup;

/// The pending bytes cut by their labels (checking that the spans cover them exactly), then
/// taken as written.
fn labelled(s: &mut Script) -> Vec<(TransmitLabel, String)> {
    let pending = s.session.pending_transmit().to_vec();
    let spans = cut(&s.session, &pending);
    s.session.advance_transmit(pending.len());
    spans
}

fn cut(session: &Session, pending: &[u8]) -> Vec<(TransmitLabel, String)> {
    let mut at = 0;
    let mut out = Vec::new();
    for span in session.pending_transmit_spans() {
        assert!(span.len > 0, "an empty span");
        let bytes = &pending[at..at + span.len];
        out.push((span.label, String::from_utf8(bytes.to_vec()).unwrap()));
        at += span.len;
    }
    assert_eq!(
        at,
        pending.len(),
        "the spans cover exactly the pending bytes"
    );
    out
}

fn command(text: &str) -> (TransmitLabel, String) {
    (TransmitLabel::Command, text.into())
}
fn content(text: &str) -> (TransmitLabel, String) {
    (TransmitLabel::Content, text.into())
}
fn secret(text: &str) -> (TransmitLabel, String) {
    (TransmitLabel::Secret, text.into())
}

fn with_credentials(secret: Secret) -> Script {
    let mut c = config(TlsPolicy::Disabled);
    c.allow_plaintext_auth = true;
    c.credentials = Some(Credentials {
        username: "user".into(),
        secret,
    });
    Script::new(c)
}

#[test]
fn commands_are_one_command_span() {
    let mut s = Script::plain();
    s.server(GREETING);
    assert_eq!(labelled(&mut s), [command("EHLO client.example\r\n")]);
    assert_eq!(s.session.pending_transmit_spans().count(), 0);
}

#[test]
fn the_initial_response_of_auth_plain_is_secret() {
    let mut s = with_credentials(Secret::Password("secret".into()));
    s.open("250-mx\r\n250 AUTH PLAIN\r\n");
    assert_eq!(
        labelled(&mut s),
        [
            command("AUTH PLAIN "),
            secret("AHVzZXIAc2VjcmV0"),
            command("\r\n")
        ]
    );
}

#[test]
fn every_answer_to_a_login_challenge_is_secret() {
    let mut s = with_credentials(Secret::Password("secret".into()));
    s.send(&["bob@example.test"]);
    s.open("250-mx\r\n250 AUTH LOGIN\r\n");
    assert_eq!(labelled(&mut s), [command("AUTH LOGIN\r\n")]);
    s.server("334 VXNlcm5hbWU6\r\n");
    assert_eq!(labelled(&mut s), [secret("dXNlcg=="), command("\r\n")]);
    s.server("334 UGFzc3dvcmQ6\r\n");
    assert_eq!(labelled(&mut s), [secret("c2VjcmV0"), command("\r\n")]);
    s.server("235 ok\r\n");
    assert_eq!(
        labelled(&mut s),
        [command("MAIL FROM:<alice@example.org>\r\n")]
    );
}

#[test]
fn an_xoauth2_token_is_secret() {
    let mut s = with_credentials(Secret::OAuthToken("ya29.token".into()));
    s.open("250-mx\r\n250 AUTH PLAIN XOAUTH2\r\n");
    let spans = labelled(&mut s);
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert_eq!(spans[0], command("AUTH XOAUTH2 "));
    assert_eq!(spans[1].0, TransmitLabel::Secret);
    assert_eq!(spans[2], command("\r\n"));
    // The token is inside the secret, base64-encoded, and nowhere else.
    let mut decoded = Vec::new();
    let mut encoded = Vec::new();
    crate::base64::encode(b"user=user\x01auth=Bearer ya29.token\x01\x01", &mut encoded);
    decoded.extend_from_slice(&encoded);
    assert_eq!(spans[1].1.as_bytes(), decoded.as_slice());
}

#[test]
fn scram_messages_are_secret() {
    let mut c = config(TlsPolicy::Disabled);
    c.allow_plaintext_auth = true;
    c.credentials = Some(Credentials {
        username: "user".into(),
        secret: Secret::Password("pencil".into()),
    });
    c.scram = Some(ScramSetup {
        crypto: alloc::sync::Arc::new(crate::scram::tests::Ring),
        nonce: "rOprNGfwEbeRWgbNEkqO".into(),
    });
    let mut s = Script::new(c);
    s.open("250-mx\r\n250 AUTH SCRAM-SHA-256\r\n");
    let first = labelled(&mut s);
    assert_eq!(first[0], command("AUTH SCRAM-SHA-256 "));
    assert_eq!(first[1].0, TransmitLabel::Secret);
    assert_eq!(first[2], command("\r\n"));
    let server_first =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let mut challenge = Vec::new();
    crate::base64::encode(server_first, &mut challenge);
    s.server(&format!(
        "334 {}\r\n",
        String::from_utf8(challenge).unwrap()
    ));
    let proof = labelled(&mut s);
    assert_eq!(proof.len(), 2, "{proof:?}");
    assert_eq!(proof[0].0, TransmitLabel::Secret);
    assert_eq!(proof[1], command("\r\n"));
}

#[test]
fn a_cancelled_exchange_sends_its_star_as_a_command() {
    let mut s = with_credentials(Secret::Password("secret".into()));
    s.open("250-mx\r\n250 AUTH LOGIN\r\n");
    assert_eq!(labelled(&mut s), [command("AUTH LOGIN\r\n")]);
    // A challenge that is not base64: the client cancels.
    s.server("334 !!!\r\n");
    assert_eq!(labelled(&mut s), [command("*\r\n")]);
}

#[test]
fn data_content_is_content_up_to_the_final_dot() {
    let mut s = Script::plain();
    s.send(&["bob@example.test"]);
    s.open(EHLO_PIPELINING);
    assert_eq!(
        labelled(&mut s),
        [command(
            "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
        )]
    );
    s.server("250 ok\r\n250 ok\r\n354 go ahead\r\n");
    s.session.quit(s.now);
    // No final line end: the session adds it, and it is content too.
    s.body("Subject: x\r\n\r\n.dot");
    assert_eq!(
        labelled(&mut s),
        // QUIT pipelined behind the final dot.
        [
            content("Subject: x\r\n\r\n..dot\r\n"),
            command(".\r\nQUIT\r\n")
        ]
    );
}

#[test]
fn a_partial_write_leaves_the_labels_of_what_is_left() {
    let mut s = Script::plain();
    s.send(&["bob@example.test"]);
    s.open(EHLO_PIPELINING);
    labelled(&mut s);
    s.server("250 ok\r\n250 ok\r\n354 go ahead\r\n");
    s.session.quit(s.now);
    s.body("Subject: x\r\n\r\nhi\r\n");
    // Part of the content goes out, then the rest.
    s.session.advance_transmit(5);
    assert_eq!(
        labelled(&mut s),
        [content("ct: x\r\n\r\nhi\r\n"), command(".\r\nQUIT\r\n")]
    );
}

#[test]
fn bdat_chunk_octets_are_content_and_its_command_is_not() {
    let mut c = config(TlsPolicy::Disabled);
    c.window = TransactionWindow::DEFAULT;
    let mut s = Script::new(c);
    s.open("250-mx.example.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    s.send(&["a@example.test"]);
    assert_eq!(
        labelled(&mut s),
        [command(
            "MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.test>\r\n"
        )]
    );
    s.server("250 ok\r\n250 ok\r\n");
    s.body("hi");
    assert_eq!(
        labelled(&mut s),
        [command("BDAT 4 LAST\r\n"), content("hi\r\n")]
    );
}

#[test]
fn an_abandoned_body_takes_its_labels_with_it() {
    let mut s = Script::plain();
    s.send(&["bob@example.test"]);
    s.open(EHLO_PIPELINING);
    labelled(&mut s);
    s.server("250 ok\r\n250 ok\r\n354 go ahead\r\n");
    s.session.send_body(b"Subject: x\r\n", s.now).unwrap();
    s.session.body_failed("gone".into(), s.now);
    let pending = s.session.pending_transmit().to_vec();
    assert!(
        cut(&s.session, &pending)
            .iter()
            .all(|(label, _)| *label != TransmitLabel::Content),
        "{pending:?}"
    );
}
