//! REQUIRETLS (RFC 8689 §4.2.1): the MAIL parameter goes only to a server that offers it on
//! TLS the caller verified; otherwise the transaction ends before MAIL.

use super::*;

const EHLO_STARTTLS_REQUIRETLS: &str =
    "250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 REQUIRETLS\r\n";
const EHLO_AFTER_TLS_REQUIRETLS: &str =
    "250-mx.example.test\r\n250-PIPELINING\r\n250 REQUIRETLS\r\n";

fn require_tls(tls: TlsPolicy) -> Script {
    let mut c = config(tls);
    c.require_tls = true;
    Script::new(c)
}

/// Greeting, STARTTLS, the handshake done, and the EHLO after it answered with `ehlo`.
fn on_tls(s: &mut Script, ehlo: &str) {
    s.open(EHLO_STARTTLS_REQUIRETLS);
    s.expect("STARTTLS\r\n");
    s.server("220 2.0.0 Ready to start TLS\r\n");
    assert!(matches!(s.events().as_slice(), [Seen::StartTls]));
    s.session.tls_established(s.now);
    s.expect("EHLO client.example\r\n");
    s.server(ehlo);
}

fn refused_with(s: &mut Script) -> Failure {
    let events = s.events();
    match done(&events).as_slice() {
        [(_, outcomes)] => match outcomes.as_slice() {
            [Outcome::Rejected(failure)] => failure.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn mail_carries_requiretls_on_verified_tls_when_offered() {
    let mut s = require_tls(TlsPolicy::Required);
    on_tls(&mut s, EHLO_AFTER_TLS_REQUIRETLS);
    s.send(&["bob@example.test"]);
    let sent = s.sent();
    assert!(
        sent.starts_with("MAIL FROM:<alice@example.org> REQUIRETLS\r\n"),
        "{sent}"
    );
}

#[test]
fn no_mail_when_the_server_does_not_offer_requiretls() {
    let mut s = require_tls(TlsPolicy::Required);
    on_tls(&mut s, EHLO_AFTER_TLS);
    s.send(&["bob@example.test"]);
    assert!(!s.sent().contains("MAIL"));
    assert_eq!(
        refused_with(&mut s),
        Failure::RequireTlsUnavailable {
            verified_tls: true,
            offered: false
        }
    );
}

#[test]
fn no_mail_over_tls_the_caller_did_not_verify() {
    let mut s = require_tls(TlsPolicy::Opportunistic);
    on_tls(&mut s, EHLO_AFTER_TLS_REQUIRETLS);
    s.send(&["bob@example.test"]);
    assert!(!s.sent().contains("MAIL"));
    assert_eq!(
        refused_with(&mut s),
        Failure::RequireTlsUnavailable {
            verified_tls: false,
            offered: true
        }
    );
}

#[test]
fn no_mail_in_plaintext() {
    let mut s = require_tls(TlsPolicy::Opportunistic);
    s.open("250-mx.example.test\r\n250 REQUIRETLS\r\n");
    s.send(&["bob@example.test"]);
    assert!(!s.sent().contains("MAIL"));
    assert!(matches!(
        refused_with(&mut s),
        Failure::RequireTlsUnavailable {
            verified_tls: false,
            ..
        }
    ));
}
