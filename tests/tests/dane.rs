//! DANE (RFC 7672, issue 21) end to end on loopback: NSD serves `dane.test` signed at test
//! time (ldns-signzone) and `plain.test` unsigned, behind unbound holding the test trust
//! anchor (`mxsend_tests::dnssec`); Postfix is the MX (`mx.dane.test`, `mx.plain.test`, both
//! 127.0.0.1) on a free port. Each zone publishes `_25._tcp.mx` TLSA `3 1 1` of the test
//! PKI's server key. Only the resolver's AD bit makes records secure: mxsend trusts it
//! because unbound is on loopback.

use std::time::Duration;

use mxsend::dane::{Dane, DaneStatus};
use mxsend::dns::Resolver;
use mxsend::protocol::session::Outcome;
use mxsend::security::DeliveryPolicy;
use mxsend::tls::Roots;
use mxsend::{MxDelivery, RecipientReport, Report, Unreached};
use mxsend_tests::dnssec::{spki_sha256, DnssecResolver, Zone};
use mxsend_tests::pki::{CertPair, TestPki};
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::scenarios::Captured;

const SECURE: &str = "alice@dane.test";
const INSECURE: &str = "alice@plain.test";
const IMPLICIT: &str = "alice@implicit.test";
const MAILDIR_WAIT: Duration = Duration::from_secs(20);

/// The zones with TLSA records for the PKI's server key.
fn resolver_for(pki: &TestPki) -> DnssecResolver {
    let tlsa = spki_sha256(&pki.server.cert);
    DnssecResolver::start(&[
        Zone::mx_with_tlsa("dane.test", &tlsa, true),
        Zone::mx_with_tlsa("plain.test", &tlsa, false),
    ])
}

fn postfix(pki: &TestPki, served: Option<CertPair>, starttls: bool) -> Postfix {
    let mut main_cf = Vec::new();
    if !starttls {
        main_cf.push(("smtpd_tls_security_level".to_string(), "none".to_string()));
    }
    Postfix::start(PostfixOptions {
        mailboxes: vec![SECURE.into(), INSECURE.into(), IMPLICIT.into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        served_cert: served,
        main_cf,
        ..PostfixOptions::default()
    })
}

fn deliver(dns: &DnssecResolver, mx: &Postfix, to: &str, captured: &Captured) -> Report {
    // No WebPKI root at all: only DANE can authenticate anything here.
    let delivery = MxDelivery::new()
        .resolver(Resolver::with_servers(vec![dns.addr()]))
        .port(mx.smtp_addr().port())
        .roots(Roots::Empty)
        .timeout(Duration::from_secs(10))
        .transcript(captured.hook())
        .dane(Dane::new())
        .connect_timeout(Duration::from_secs(5));
    let message = mxsend_tests::scenarios::message(&[to]);
    mxsend::blocking::deliver(&delivery, &message).expect("deliver")
}

fn dane_status<'r>(r: &'r RecipientReport, host: &str) -> &'r DaneStatus {
    match &r.policy {
        Some(DeliveryPolicy::Dane { exchanges, .. }) => exchanges
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no DANE status for {host}: {exchanges:?}")),
        other => panic!("no DANE policy: {other:?}"),
    }
}

fn assert_delivered(r: &RecipientReport, dns: &DnssecResolver, captured: &Captured) {
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{}\n{}",
        captured.lines().join("\n"),
        dns.logs()
    );
}

fn assert_nothing_sent(r: &RecipientReport, mx: &Postfix, to: &str, captured: &Captured) {
    let lines = captured.lines();
    assert!(
        matches!(r.outcome, Outcome::Deferred(_)),
        "{r:?}\n{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains("MAIL FROM")),
        "{}",
        lines.join("\n")
    );
    assert!(mx.messages(to).is_empty());
}

#[test]
fn a_dane_ee_match_delivers() {
    let pki = TestPki::generate();
    let dns = resolver_for(&pki);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, SECURE, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert!(matches!(
        dane_status(r, "mx.dane.test"),
        DaneStatus::Secure(_)
    ));
    mx.wait_for_message(SECURE, MAILDIR_WAIT);
}

#[test]
fn a_tlsa_mismatch_sends_nothing() {
    let pki = TestPki::generate();
    let dns = resolver_for(&pki);
    // Another key than the one the TLSA record names (its CA is unknown too, which DANE-EE
    // would not mind: only the key decides).
    let mx = postfix(&pki, Some(pki.unknown_ca.clone()), true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, SECURE, &captured);
    let r = &report.recipients[0];
    assert_nothing_sent(r, &mx, SECURE, &captured);
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    let why = r
        .unreached
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(why.contains("TLSA"), "{why}");
}

#[test]
fn a_secure_tlsa_without_starttls_defers() {
    let pki = TestPki::generate();
    let dns = resolver_for(&pki);
    let mx = postfix(&pki, None, false);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, SECURE, &captured);
    let r = &report.recipients[0];
    assert_nothing_sent(r, &mx, SECURE, &captured);
    let lines = captured.lines();
    assert!(
        lines.iter().any(|l| l.contains("QUIT")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn an_insecure_zone_stays_opportunistic() {
    let pki = TestPki::generate();
    let dns = resolver_for(&pki);
    // A key the TLSA record does not name: opportunistic TLS accepts it, DANE would not.
    let mx = postfix(&pki, Some(pki.unknown_ca.clone()), true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, INSECURE, &captured);
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{}",
        captured.lines().join("\n")
    );
    assert!(
        matches!(dane_status(r, "mx.plain.test"), DaneStatus::Insecure(_)),
        "{:?}",
        r.policy
    );
    mx.wait_for_message(INSECURE, MAILDIR_WAIT);
}

/// `implicit.test`: no MX records, an address and `_25._tcp` TLSA `3 1 1 TLSA` at the
/// domain itself, signed.
fn implicit_mx_zone(tlsa: &str) -> Zone {
    Zone {
        origin: "implicit.test".into(),
        records: vec![
            "@ IN A 127.0.0.1".into(),
            format!("_25._tcp IN TLSA 3 1 1 {tlsa}"),
        ],
        signed: true,
    }
}

#[test]
fn a_domain_without_mx_records_uses_its_own_tlsa_records() {
    // RFC 7672 §2.2.1: the implicit MX, its address records secure.
    let pki = TestPki::generate();
    let dns = DnssecResolver::start(&[implicit_mx_zone(&spki_sha256(&pki.server.cert))]);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, IMPLICIT, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert!(matches!(
        dane_status(r, "implicit.test"),
        DaneStatus::Secure(_)
    ));
    mx.wait_for_message(IMPLICIT, MAILDIR_WAIT);

    // TLSA for another key: authenticated by TLSA alone, so nothing is sent.
    let dns = DnssecResolver::start(&[implicit_mx_zone(&spki_sha256(&pki.unknown_ca.cert))]);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, IMPLICIT, &captured);
    let r = &report.recipients[0];
    assert!(matches!(
        dane_status(r, "implicit.test"),
        DaneStatus::Secure(_)
    ));
    assert_eq!(mx.messages(IMPLICIT).len(), 1);
    let lines = captured.lines();
    assert!(
        matches!(r.outcome, Outcome::Deferred(_)),
        "{r:?}\n{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains("MAIL FROM")),
        "{}",
        lines.join("\n")
    );
}
