//! DANE (RFC 7672, issue 21) end to end on loopback: NSD serves `dane.test` signed at test
//! time (ldns-signzone) and `plain.test` unsigned, behind unbound holding the test trust
//! anchor (`mxsend_tests::dnssec`); Postfix is the MX (`mx.dane.test`, `mx.plain.test`, both
//! 127.0.0.1) on a free port. Each zone publishes `_25._tcp.mx` TLSA `3 1 1` of the test
//! PKI's server key. Only the resolver's AD bit makes records secure: mxsend trusts it
//! because unbound is on loopback.
//!
//! The CNAME scenarios (RFC 7672 §2.2.2, RFC 7671 §7): `alias.test` (signed) has the MX
//! host `mx.alias.test`, a CNAME for a host in `hosting.test` (signed) or `unsigned.test`
//! (not signed); TLSA records sit at the expanded name, the original one, or behind a CNAME
//! of their own. In each, the served certificate and the records are chosen so that using
//! the wrong records (or none) gives the other outcome. SNI is checked by a Postfix whose
//! `tls_server_sni_maps` presents the matching key only for the TLSA base domain.

use std::time::Duration;

use mxsend::dane::{Dane, DaneRecords, DaneStatus};
use mxsend::dns::Resolver;
use mxsend::protocol::session::Outcome;
use mxsend::security::DeliveryPolicy;
use mxsend::tls::Roots;
use mxsend::{MxDelivery, RecipientReport, Report, Unreached};
use mxsend_tests::dnssec::{spki_sha256, DnssecResolver, Zone};
use mxsend_tests::pki::{CertPair, TestPki};
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::scenarios::{Adapter, AsyncStd, Blocking, Captured, Smol, Tokio};

const SECURE: &str = "alice@dane.test";
const INSECURE: &str = "alice@plain.test";
const IMPLICIT: &str = "alice@implicit.test";
/// `alias.test`'s MX host `mx.alias.test` is a CNAME in the CNAME scenarios.
const ALIASED: &str = "alice@alias.test";
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
        mailboxes: vec![
            SECURE.into(),
            INSECURE.into(),
            IMPLICIT.into(),
            ALIASED.into(),
        ],
        implicit_tls: false,
        pki: Some(pki.clone()),
        served_cert: served,
        main_cf,
        ..PostfixOptions::default()
    })
}

fn deliver(dns: &DnssecResolver, mx: &Postfix, to: &str, captured: &Captured) -> Report {
    deliver_on(&Blocking, dns, mx, to, captured)
}

/// [`deliver`] on `adapter`'s runtime.
fn deliver_on(
    adapter: &dyn Adapter,
    dns: &DnssecResolver,
    mx: &Postfix,
    to: &str,
    captured: &Captured,
) -> Report {
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
    adapter
        .deliver(&delivery, &message)
        .unwrap_or_else(|e| panic!("{}: deliver: {e}", adapter.name()))
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

// ---------------------------------------------------------------------------------------------
// MX hosts reached through a CNAME, and TLSA records behind one

/// `alias.test` (signed): MX `mx.alias.test` with these records beside the MX.
fn alias_zone(records: &[String]) -> Zone {
    let mut all = vec!["@ IN MX 10 mx".to_string()];
    all.extend(records.iter().cloned());
    Zone {
        origin: "alias.test".into(),
        records: all,
        signed: true,
    }
}

/// A zone `origin` holding `records`, signed or not.
fn zone(origin: &str, records: &[String], signed: bool) -> Zone {
    Zone {
        origin: origin.into(),
        records: records.to_vec(),
        signed,
    }
}

/// `NAME IN TLSA 3 1 1 KEY` for `cert`'s key.
fn tlsa(name: &str, cert: &CertPair) -> String {
    format!("{name} IN TLSA 3 1 1 {}", spki_sha256(&cert.cert))
}

/// The secure records of `alice@alias.test`'s one exchange.
fn found(r: &RecipientReport) -> &DaneRecords {
    dane_status(r, "mx.alias.test")
        .found()
        .unwrap_or_else(|| panic!("no secure TLSA records: {:?}", r.policy))
}

#[test]
fn an_mx_host_behind_a_secure_cname_is_authenticated_by_its_expansions_tlsa_records() {
    let pki = TestPki::generate();
    let dns = DnssecResolver::start(&[
        alias_zone(&["mx IN CNAME mail.hosting.test.".into()]),
        zone(
            "hosting.test",
            &[
                "mail IN A 127.0.0.1".into(),
                tlsa("_25._tcp.mail", &pki.server),
            ],
            true,
        ),
    ]);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert!(matches!(
        dane_status(r, "mx.alias.test"),
        DaneStatus::Secure(_)
    ));
    let found = found(r);
    assert_eq!(found.base_domain, "mail.hosting.test");
    assert_eq!(found.expanded.as_deref(), Some("mail.hosting.test"));
    assert_eq!(
        found.reference_identifiers,
        ["mail.hosting.test", "mx.alias.test", "alias.test"]
    );
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);
}

#[test]
fn a_mismatching_tlsa_record_at_the_cname_target_sends_nothing() {
    // The original name's records would match: the expanded name's come first.
    let pki = TestPki::generate();
    let dns = DnssecResolver::start(&[
        alias_zone(&[
            "mx IN CNAME mail.hosting.test.".into(),
            tlsa("_25._tcp.mx", &pki.server),
        ]),
        zone(
            "hosting.test",
            &[
                "mail IN A 127.0.0.1".into(),
                tlsa("_25._tcp.mail", &pki.unknown_ca),
            ],
            true,
        ),
    ]);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_nothing_sent(r, &mx, ALIASED, &captured);
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    let lines = captured.lines();
    assert!(
        !lines.iter().any(|l| l.contains("RCPT TO")),
        "{}",
        lines.join("\n")
    );
    assert_eq!(found(r).base_domain, "mail.hosting.test");
}

#[test]
fn a_cname_target_without_tlsa_records_falls_back_to_the_original_names() {
    let pki = TestPki::generate();
    let hosting = zone("hosting.test", &["mail IN A 127.0.0.1".into()], true);
    let with_original = |cert: &CertPair| {
        DnssecResolver::start(&[
            alias_zone(&[
                "mx IN CNAME mail.hosting.test.".into(),
                tlsa("_25._tcp.mx", cert),
            ]),
            hosting.clone(),
        ])
    };
    let dns = with_original(&pki.server);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    let found = found(r);
    assert_eq!(found.base_domain, "mx.alias.test");
    assert_eq!(
        found.reference_identifiers,
        ["mx.alias.test", "mail.hosting.test", "alias.test"]
    );
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);

    // The original name's records apply for real: another key there, and nothing is sent.
    let dns = with_original(&pki.unknown_ca);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Deferred(_)), "{r:?}");
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    assert_eq!(mx.messages(ALIASED).len(), 1);
}

#[test]
fn an_insecure_cname_target_leaves_the_original_names_records_or_opportunistic_tls() {
    // mail.unsigned.test's TLSA records are insecure: never used, whatever they say.
    let pki = TestPki::generate();
    let dns = DnssecResolver::start(&[
        alias_zone(&[
            "mx IN CNAME mail.unsigned.test.".into(),
            tlsa("_25._tcp.mx", &pki.server),
        ]),
        zone(
            "unsigned.test",
            &[
                "mail IN A 127.0.0.1".into(),
                tlsa("_25._tcp.mail", &pki.unknown_ca),
            ],
            false,
        ),
    ]);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    let found = found(r);
    assert_eq!(found.base_domain, "mx.alias.test");
    assert_eq!(
        found.expanded, None,
        "an insecure expansion is no identifier"
    );
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);

    // No records at the original name: DANE does not apply, opportunistic TLS accepts a
    // key the insecure records do not name.
    let dns = DnssecResolver::start(&[
        alias_zone(&["mx IN CNAME mail.unsigned.test.".into()]),
        zone(
            "unsigned.test",
            &[
                "mail IN A 127.0.0.1".into(),
                tlsa("_25._tcp.mail", &pki.server),
            ],
            false,
        ),
    ]);
    let mx = postfix(&pki, Some(pki.unknown_ca.clone()), true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert_eq!(dane_status(r, "mx.alias.test"), &DaneStatus::NoTlsa);
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);
}

#[test]
fn an_mx_host_whose_own_cname_is_insecure_gets_no_dane() {
    // RFC 7672 §2.2.2: the initial CNAME is insecure, so a signed target does not count.
    let pki = TestPki::generate();
    let dns = DnssecResolver::start(&[
        zone("alias.test", &["@ IN MX 10 mx.unsigned.test.".into()], true),
        zone(
            "unsigned.test",
            &["mx IN CNAME mail.hosting.test.".into()],
            false,
        ),
        zone(
            "hosting.test",
            &[
                "mail IN A 127.0.0.1".into(),
                tlsa("_25._tcp.mail", &pki.server),
            ],
            true,
        ),
    ]);
    let mx = postfix(&pki, Some(pki.unknown_ca.clone()), true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert!(
        matches!(dane_status(r, "mx.unsigned.test"), DaneStatus::Insecure(_)),
        "{:?}",
        r.policy
    );
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);
}

#[test]
fn a_tlsa_name_that_is_a_cname_counts_only_when_the_whole_chain_is_secure() {
    // RFC 7672 §2.2.2, RFC 7671 §7: the base domain stays mx.alias.test.
    let pki = TestPki::generate();
    let via = |target: &str| {
        alias_zone(&[
            "mx IN A 127.0.0.1".into(),
            format!("_25._tcp.mx IN CNAME {target}"),
        ])
    };
    let dns = DnssecResolver::start(&[
        via("tlsa._dane.hosting.test."),
        zone("hosting.test", &[tlsa("tlsa._dane", &pki.server)], true),
    ]);
    let mx = postfix(&pki, None, true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert!(matches!(
        dane_status(r, "mx.alias.test"),
        DaneStatus::Secure(_)
    ));
    assert_eq!(found(r).base_domain, "mx.alias.test");
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);

    // The same records in an unsigned zone: insecure, so opportunistic TLS accepts a key
    // they do not name.
    let dns = DnssecResolver::start(&[
        via("tlsa._dane.unsigned.test."),
        zone("unsigned.test", &[tlsa("tlsa._dane", &pki.server)], false),
    ]);
    let mx = postfix(&pki, Some(pki.unknown_ca.clone()), true);
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    assert!(
        matches!(dane_status(r, "mx.alias.test"), DaneStatus::Insecure(_)),
        "{:?}",
        r.policy
    );
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);
}

#[test]
fn the_async_runtimes_use_the_expanded_names_records_too() {
    // Each runtime drives its own handshake with the connector's DANE configuration.
    let pki = TestPki::generate();
    let zones = |cert: &CertPair| {
        vec![
            alias_zone(&["mx IN CNAME mail.hosting.test.".into()]),
            zone(
                "hosting.test",
                &["mail IN A 127.0.0.1".into(), tlsa("_25._tcp.mail", cert)],
                true,
            ),
        ]
    };
    let matching = DnssecResolver::start(&zones(&pki.server));
    let other_key = DnssecResolver::start(&zones(&pki.unknown_ca));
    let mx = postfix(&pki, None, true);
    let adapters: [&dyn Adapter; 3] = [&Smol, &AsyncStd, &Tokio];
    for (i, adapter) in adapters.into_iter().enumerate() {
        let captured = Captured::default();
        let report = deliver_on(adapter, &matching, &mx, ALIASED, &captured);
        let r = &report.recipients[0];
        assert_delivered(r, &matching, &captured);
        assert_eq!(
            found(r).base_domain,
            "mail.hosting.test",
            "{}",
            adapter.name()
        );
        mx.wait_for_messages(ALIASED, i + 1, MAILDIR_WAIT);

        let captured = Captured::default();
        let report = deliver_on(adapter, &other_key, &mx, ALIASED, &captured);
        let r = &report.recipients[0];
        assert!(
            matches!(r.unreached, Some(Unreached::Tls(_))),
            "{}: {r:?}",
            adapter.name()
        );
        assert_eq!(mx.messages(ALIASED).len(), i + 1, "{}", adapter.name());
    }
}

/// A Postfix serving the PKI's unknown-CA certificate, except to clients whose SNI is
/// `sni`: those get the PKI's server certificate (`tls_server_sni_maps`, a table made by
/// `postmap -F` in `dir`).
fn postfix_with_sni(pki: &TestPki, sni: &str, dir: &std::path::Path) -> Postfix {
    let table = dir.join("sni");
    std::fs::write(
        &table,
        format!(
            "{sni} {} {}\n",
            pki.server.key.display(),
            pki.server.cert.display()
        ),
    )
    .expect("write the SNI table");
    // postmap reads a main.cf: an empty one in `dir` gives the defaults.
    std::fs::write(dir.join("main.cf"), "").expect("write main.cf");
    let postmap = mxsend_tests::process::require_program("postmap");
    let status = std::process::Command::new(postmap)
        .arg("-c")
        .arg(dir)
        .arg("-F")
        .arg(format!("hash:{}", table.display()))
        .status()
        .expect("run postmap");
    assert!(status.success(), "postmap -F failed: {status}");
    Postfix::start(PostfixOptions {
        mailboxes: vec![ALIASED.into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        served_cert: Some(pki.unknown_ca.clone()),
        main_cf: vec![(
            "tls_server_sni_maps".to_string(),
            format!("hash:{}", table.display()),
        )],
        ..PostfixOptions::default()
    })
}

#[test]
fn the_tlsa_base_domain_is_sent_as_sni() {
    // RFC 7672 §8.1, RFC 7671 §7: mx.alias.test is a secure CNAME for mail.hosting.test,
    // whose TLSA record names the server key; Postfix presents that key only to a client
    // asking for mail.hosting.test.
    let pki = TestPki::generate();
    let dns = DnssecResolver::start(&[
        alias_zone(&["mx IN CNAME mail.hosting.test.".into()]),
        zone(
            "hosting.test",
            &[
                "mail IN A 127.0.0.1".into(),
                tlsa("_25._tcp.mail", &pki.server),
            ],
            true,
        ),
    ]);
    let dir = mxsend_tests::process::peer_tempdir("mxsend-sni-");
    let mx = postfix_with_sni(&pki, "mail.hosting.test", dir.path());
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert_delivered(r, &dns, &captured);
    mx.wait_for_message(ALIASED, MAILDIR_WAIT);

    // Keyed on the MX host's own name instead, the server key is never presented: the
    // name sent is not mx.alias.test.
    let dir = mxsend_tests::process::peer_tempdir("mxsend-sni-");
    let mx = postfix_with_sni(&pki, "mx.alias.test", dir.path());
    let captured = Captured::default();
    let report = deliver(&dns, &mx, ALIASED, &captured);
    let r = &report.recipients[0];
    assert!(matches!(r.unreached, Some(Unreached::Tls(_))), "{r:?}");
    assert!(mx.messages(ALIASED).is_empty());
}
