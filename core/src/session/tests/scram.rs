//! SCRAM-SHA-256 in the session (RFC 7677 §3's exchange): preferred over PLAIN, and a
//! server that does not prove itself gets nothing but the end of the session.

use super::*;
use crate::sasl::{SaslError, ScramSetup};
use crate::scram::ScramError;

const EHLO_SCRAM: &str =
    "250-mx.example.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn b64(text: &[u8]) -> String {
    let mut out = Vec::new();
    crate::base64::encode(text, &mut out);
    String::from_utf8(out).unwrap()
}

fn scram_session() -> Script {
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
    s.send(&["bob@example.test"]);
    s.open(EHLO_SCRAM);
    // Preferred over PLAIN, the client-first message as the initial response.
    s.expect(&format!(
        "AUTH SCRAM-SHA-256 {}\r\n",
        b64(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    ));
    s.server(&format!("334 {}\r\n", b64(SERVER_FIRST)));
    s.expect(&format!(
        "{}\r\n",
        b64(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    ));
    s
}

/// After a challenge it refuses, the client cancels the exchange (`*`, RFC 4954 §4), reads
/// the server's 501 and quits, and sends nothing else: above all no MAIL.
fn cancel_then_quit(s: &mut Script) {
    assert_eq!(s.sent(), "*\r\n");
    s.server("501 5.7.0 Authentication cancelled\r\n");
    assert_only_cancel_and_quit(&s.sent());
}

/// After a refusal, the client may cancel the exchange (`*`, RFC 4954 §4) and quit, and
/// nothing else: above all no MAIL.
fn assert_only_cancel_and_quit(sent: &str) {
    assert!(
        sent == "QUIT\r\n" || sent == "*\r\nQUIT\r\n",
        "sent after the refusal: {sent:?}"
    );
}

#[test]
fn scram_is_preferred_and_a_verified_server_gets_the_message() {
    let mut s = scram_session();
    s.server(&format!("334 {}\r\n", b64(SERVER_FINAL)));
    s.expect("\r\n");
    s.server("235 2.7.0 Authentication successful\r\n");
    assert!(s.events().iter().any(|e| matches!(e, Seen::Established)));
    assert!(s.sent().starts_with("MAIL FROM:<alice@example.org>"));
}

#[test]
fn a_forged_server_signature_ends_the_session_before_any_mail() {
    let mut s = scram_session();
    s.server(&format!(
        "334 {}\r\n",
        b64(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    ));
    cancel_then_quit(&mut s);
    let events = s.events();
    assert!(matches!(
        closed(&events),
        Some(Some(SessionError::Sasl(SaslError::Scram(
            ScramError::ServerSignatureMismatch
        ))))
    ));
    assert!(matches!(&done(&events)[0].1[0], Outcome::Deferred(_)));
}

#[test]
fn a_235_before_the_server_proved_itself_is_refused() {
    let mut s = scram_session();
    s.server("235 2.7.0 trust me\r\n");
    assert_only_cancel_and_quit(&s.sent());
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Sasl(SaslError::Scram(
            ScramError::ServerNotVerified
        ))))
    ));
}

#[test]
fn a_server_error_in_the_final_message_ends_the_session() {
    let mut s = scram_session();
    s.server(&format!("334 {}\r\n", b64(b"e=invalid-proof")));
    cancel_then_quit(&mut s);
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::Sasl(SaslError::Scram(ScramError::ServerError(e))))) if e == "invalid-proof"
    ));
}

#[test]
fn a_wrong_password_is_the_servers_535() {
    let mut s = scram_session();
    s.server("535 5.7.8 Authentication failed\r\n");
    assert_only_cancel_and_quit(&s.sent());
    assert!(matches!(
        closed(&s.events()),
        Some(Some(SessionError::AuthFailed(r))) if r.code().get() == 535
    ));
}

#[test]
fn without_a_scram_setup_plain_is_used() {
    let mut c = auth_config(TlsPolicy::Disabled);
    c.allow_plaintext_auth = true;
    let mut s = Script::new(c);
    s.open(EHLO_SCRAM);
    assert!(s.sent().starts_with("AUTH PLAIN "));
}
