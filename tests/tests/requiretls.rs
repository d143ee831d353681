//! REQUIRETLS (RFC 8689, issue 21) end to end: MX delivery of `sts.test` (dnsmasq: MX
//! `mx-sts.example.test` at 127.0.0.1) with [`MxDelivery::require_tls`], trusting only the
//! test CA. Postfix (which does not implement REQUIRETLS) must get nothing but the session up
//! to EHLO after STARTTLS, and QUIT; aiosmtpd, taught to offer REQUIRETLS after STARTTLS
//! (`--requiretls`), gets the message with the parameter.

use std::time::Duration;

use mxsend::protocol::session::{Failure, Outcome};
use mxsend::tls::Roots;
use mxsend::{MxDelivery, Report, Unreached};
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::pki::TestPki;
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::scenarios::Captured;

const RECIPIENT: &str = "alice@sts.test";

fn delivery(dns: &Dnsmasq, port: u16, pki: &TestPki, captured: &Captured) -> MxDelivery {
    MxDelivery::new()
        .resolver(dns.resolver())
        .port(port)
        .roots(Roots::Empty)
        .ca_file(&pki.ca_cert)
        .timeout(Duration::from_secs(10))
        .transcript(captured.hook())
        .require_tls(true)
        .connect_timeout(Duration::from_secs(5))
}

fn deliver(mx: &MxDelivery) -> Report {
    let message = mxsend_tests::scenarios::message(&[RECIPIENT]);
    mxsend::blocking::deliver(mx, &message).expect("deliver")
}

fn sent_commands(captured: &Captured) -> Vec<String> {
    captured
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("->"))
        .collect()
}

#[test]
fn requiretls_is_not_sent_to_a_server_without_it() {
    let pki = TestPki::generate();
    let dns = Dnsmasq::start();
    let postfix = Postfix::start(PostfixOptions {
        mailboxes: vec![RECIPIENT.into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        ..PostfixOptions::default()
    });
    let captured = Captured::default();
    let report = deliver(&delivery(&dns, postfix.smtp_addr().port(), &pki, &captured));
    let r = &report.recipients[0];
    let commands = sent_commands(&captured);
    assert_eq!(
        r.outcome,
        Outcome::Rejected(Failure::RequireTlsUnavailable {
            verified_tls: true,
            offered: false
        }),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.contains("STARTTLS")),
        "{commands:?}"
    );
    assert!(!commands.iter().any(|c| c.contains("MAIL")), "{commands:?}");
    assert!(
        commands.last().is_some_and(|c| c.contains("QUIT")),
        "{commands:?}"
    );
    assert_eq!(r.host.as_deref(), Some("mx-sts.example.test"));
    assert!(postfix.messages(RECIPIENT).is_empty());
}

#[test]
fn requiretls_goes_to_a_server_offering_it_over_verified_tls() {
    let pki = TestPki::generate();
    let dns = Dnsmasq::start();
    let server = Aiosmtpd::start(AiosmtpdOptions {
        starttls: true,
        requiretls: true,
        pki: Some(pki.clone()),
        ..AiosmtpdOptions::default()
    });
    let captured = Captured::default();
    let report = deliver(&delivery(&dns, server.addr().port(), &pki, &captured));
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{:?}",
        captured.lines()
    );
    let envelopes = server.wait_for_envelopes(1, Duration::from_secs(10));
    assert!(envelopes[0].tls);
    assert!(
        envelopes[0].mail_options.iter().any(|o| o == "REQUIRETLS"),
        "{:?}",
        envelopes[0].mail_options
    );
}

#[test]
fn requiretls_sends_nothing_over_tls_that_does_not_verify() {
    let pki = TestPki::generate();
    let dns = Dnsmasq::start();
    let server = Aiosmtpd::start(AiosmtpdOptions {
        starttls: true,
        requiretls: true,
        served_cert: Some(pki.unknown_ca.clone()),
        pki: Some(pki.clone()),
        ..AiosmtpdOptions::default()
    });
    let captured = Captured::default();
    let report = deliver(&delivery(&dns, server.addr().port(), &pki, &captured));
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Deferred(_)), "{r:?}");
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    assert!(!sent_commands(&captured).iter().any(|c| c.contains("MAIL")));
    assert!(server.messages().is_empty());
}
