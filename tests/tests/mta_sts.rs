//! MTA-STS (RFC 8461, issue 21) end to end, with real components on loopback: dnsmasq serves
//! `sts.test`'s MX (`mx-sts.example.test`) and its `_mta-sts` TXT record, python's
//! http.server over ssl serves the policy at `https://mta-sts.sts.test/.well-known/mta-sts.txt`
//! (on a free port: [`MtaSts::port`]), and a private Postfix with STARTTLS is the MX. Every
//! certificate comes from the test PKI, whose CA is the only trust anchor given.
//!
//! Each test has its own DNS server, policy server, Postfix and cache directory. The `testing`
//! scenarios (delivered anyway, what `enforce` would refuse reported) run on every runtime
//! (`on_blocking`, `on_smol`, `on_async_std`, `on_tokio`): each drives its own handshakes
//! through the connector that records the refusals.

use std::time::Duration;

use mxsend::mta_sts::{Mode, MtaSts, PolicySource, StsStatus};
use mxsend::protocol::session::Outcome;
use mxsend::security::DeliveryPolicy;
use mxsend::tls::Roots;
use mxsend::{MxDelivery, RecipientReport, Report, Unreached};
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::mta_sts::PolicyServer;
use mxsend_tests::pki::{CertPair, TestPki};
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::scenarios::{Adapter, AsyncStd, Blocking, Captured, Smol, Tokio};

const RECIPIENT: &str = "alice@sts.test";
const MAILDIR_WAIT: Duration = Duration::from_secs(20);

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

/// The TXT record `_mta-sts.sts.test` with this id.
fn dns_with_id(id: &str) -> Dnsmasq {
    Dnsmasq::start_with_txt(&[("_mta-sts.sts.test".into(), format!("v=STSv1; id={id};"))])
}

/// The MX for sts.test, serving `served` (the PKI's server certificate when `None`).
fn mx_serving(pki: &TestPki, served: Option<CertPair>) -> Postfix {
    Postfix::start(PostfixOptions {
        mailboxes: vec![RECIPIENT.into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        served_cert: served,
        ..PostfixOptions::default()
    })
}

/// One test's peers: the DNS server (with the `_mta-sts` record, id 1), the policy server,
/// the MX, the policy cache, the transcript.
struct Sts {
    pki: TestPki,
    dns: Dnsmasq,
    server: PolicyServer,
    mx: Postfix,
    cache: tempfile::TempDir,
    captured: Captured,
}

impl Sts {
    /// Serving `policy_text`; the MX serves a certificate of an unknown CA when
    /// `unverifiable`, else the PKI's server certificate.
    fn start(policy_text: &str, unverifiable: bool) -> Sts {
        let pki = TestPki::generate();
        let served = unverifiable.then(|| pki.unknown_ca.clone());
        Sts {
            dns: dns_with_id("1"),
            server: PolicyServer::start(&pki, policy_text),
            mx: mx_serving(&pki, served),
            cache: tempfile::tempdir().unwrap(),
            captured: Captured::default(),
            pki,
        }
    }

    /// An MX delivery through the DNS server to the MX, trusting only the test CA,
    /// consulting MTA-STS with the cache.
    fn delivery(&self) -> MxDelivery {
        let sts = MtaSts::new(self.cache.path())
            .ca_pem(&self.pki.ca_cert_pem())
            .expect("the test CA")
            .port(self.server.addr().port())
            .fetch_timeout(Duration::from_secs(5));
        MxDelivery::new()
            .resolver(self.dns.resolver())
            .port(self.mx.smtp_addr().port())
            .roots(Roots::Empty)
            .ca_file(&self.pki.ca_cert)
            .timeout(Duration::from_secs(10))
            .transcript(self.captured.hook())
            .mta_sts(sts)
            .connect_timeout(Duration::from_secs(5))
    }

    fn deliver(&self) -> Report {
        self.deliver_on(&Blocking)
    }

    /// [`Sts::deliver`] on `adapter`'s runtime.
    fn deliver_on(&self, adapter: &dyn Adapter) -> Report {
        let message = mxsend_tests::scenarios::message(&[RECIPIENT]);
        adapter
            .deliver(&self.delivery(), &message)
            .unwrap_or_else(|e| panic!("{}: deliver: {e}", adapter.name()))
    }
}

fn only(report: &Report) -> &RecipientReport {
    assert_eq!(report.recipients.len(), 1, "{report:?}");
    &report.recipients[0]
}

/// The MTA-STS status the recipient's report carries.
fn sts_status(r: &RecipientReport) -> (&StsStatus, &[String]) {
    match &r.policy {
        Some(DeliveryPolicy::MtaSts {
            status, unmatched, ..
        }) => (status, unmatched),
        other => panic!("no MTA-STS policy in the report: {other:?}"),
    }
}

fn applied(r: &RecipientReport) -> (Mode, &PolicySource) {
    match sts_status(r).0 {
        StsStatus::Policy { policy, source, .. } => (policy.mode, source),
        other => panic!("no policy applied: {other}"),
    }
}

fn assert_delivered(r: &RecipientReport, captured: &Captured) {
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{}",
        captured.lines().join("\n")
    );
}

fn assert_deferred_unsent(r: &RecipientReport, mx: &Postfix, captured: &Captured) {
    assert!(
        matches!(r.outcome, Outcome::Deferred(_)),
        "{r:?}\n{}",
        captured.lines().join("\n")
    );
    let lines = captured.lines();
    assert!(
        !lines.iter().any(|l| l.contains("MAIL FROM")),
        "MAIL went out:\n{}",
        lines.join("\n")
    );
    assert!(mx.messages(RECIPIENT).is_empty());
}

#[test]
fn enforce_with_a_matching_mx_delivers_over_verified_tls() {
    let t = Sts::start(&policy("enforce", "*.example.test"), false);
    let report = t.deliver();
    let r = only(&report);
    assert_delivered(r, &t.captured);
    let (mode, source) = applied(r);
    assert_eq!(mode, Mode::Enforce);
    assert!(
        matches!(
            source,
            PolicySource::Fetched {
                cache_error: None,
                ..
            }
        ),
        "{source}"
    );
    let lines = t.captured.lines().join("\n");
    assert!(lines.contains("STARTTLS"), "{lines}");
    t.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);
}

#[test]
fn enforce_with_a_non_matching_mx_defers_without_connecting() {
    let t = Sts::start(&policy("enforce", "other.example.test"), false);
    let report = t.deliver();
    let r = only(&report);
    assert_deferred_unsent(r, &t.mx, &t.captured);
    assert!(
        matches!(&r.unreached, Some(Unreached::Policy(_))),
        "{:?}",
        r.unreached
    );
    assert!(t.captured.lines().is_empty(), "{:?}", t.captured.lines());
    let (_, unmatched) = sts_status(r);
    assert_eq!(unmatched, ["mx-sts.example.test"]);
    let why = r
        .unreached
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(why.contains("mx-sts.example.test"), "{why}");
}

#[test]
fn enforce_with_a_certificate_that_does_not_verify_defers() {
    let t = Sts::start(&policy("enforce", "mx-sts.example.test"), true);
    let report = t.deliver();
    let r = only(&report);
    assert_deferred_unsent(r, &t.mx, &t.captured);
    assert!(
        matches!(&r.unreached, Some(Unreached::Tls(_))),
        "{:?}",
        r.unreached
    );
    assert_eq!(applied(r).0, Mode::Enforce);
}

#[test]
fn the_cached_policy_applies_while_the_policy_server_is_down() {
    let mut t = Sts::start(&policy("enforce", "other.example.test"), false);
    let first = t.deliver();
    assert!(matches!(
        applied(only(&first)).1,
        PolicySource::Fetched { .. }
    ));
    t.server.stop();
    // Without the cache the domain would count as having no policy (RFC 8461 §3.3) and the
    // message would go out opportunistically: the deferral is the cached enforce policy.
    let second = t.deliver();
    let r = only(&second);
    assert_deferred_unsent(r, &t.mx, &t.captured);
    assert_eq!(applied(r), (Mode::Enforce, &PolicySource::Cache));
    assert_eq!(t.server.requests(), 1);

    // A new id with the server still down: the fetch fails, and the cached policy stays
    // in force (RFC 8461 §5.1).
    t.dns = dns_with_id("2");
    let third = t.deliver();
    let r = only(&third);
    assert_deferred_unsent(r, &t.mx, &t.captured);
    let (mode, source) = applied(r);
    assert_eq!(mode, Mode::Enforce);
    assert!(
        matches!(source, PolicySource::CacheAfterFailedFetch(_)),
        "{source}"
    );
}

#[test]
fn a_changed_id_refetches_the_policy() {
    let mut t = Sts::start(&policy("testing", "other.example.test"), false);
    let first = t.deliver();
    assert_delivered(only(&first), &t.captured);
    assert_eq!(applied(only(&first)).0, Mode::Testing);
    t.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);

    // The policy changes but the id does not: the cache still answers, nothing is fetched.
    t.server
        .set_policy(&policy("enforce", "other.example.test"));
    let second = t.deliver();
    assert_eq!(
        applied(only(&second)),
        (Mode::Testing, &PolicySource::Cache)
    );
    assert_eq!(t.server.requests(), 1);

    // The id changes: the new (enforce) policy is fetched and defers.
    t.dns = dns_with_id("2");
    let third = t.deliver();
    let r = only(&third);
    assert_eq!(t.server.requests(), 2);
    let (mode, source) = applied(r);
    assert_eq!(mode, Mode::Enforce);
    assert!(matches!(source, PolicySource::Fetched { .. }), "{source}");
    assert!(matches!(r.outcome, Outcome::Deferred(_)), "{r:?}");
}

#[test]
fn a_redirect_is_not_followed_and_counts_as_no_policy() {
    let t = Sts::start(&policy("enforce", "other.example.test"), false);
    t.server
        .redirect_to("https://mta-sts.sts.test/.well-known/mta-sts.txt");
    let report = t.deliver();
    let r = only(&report);
    // Unavailable without a cache: delivery as without a policy (RFC 8461 §3.3).
    assert_delivered(r, &t.captured);
    match sts_status(r).0 {
        StsStatus::Unavailable(why) => assert!(why.contains("301"), "{why}"),
        other => panic!("{other}"),
    }
    assert_eq!(t.server.requests(), 1);
}

#[test]
fn an_oversized_policy_is_refused() {
    let mut text = policy("enforce", "other.example.test");
    text.push_str(&"x-padding: 0123456789abcdef\r\n".repeat(4000));
    let t = Sts::start(&text, false);
    let report = t.deliver();
    let r = only(&report);
    assert_delivered(r, &t.captured);
    match sts_status(r).0 {
        StsStatus::Unavailable(why) => assert!(why.contains("65536"), "{why}"),
        other => panic!("{other}"),
    }
}

#[test]
fn the_async_runtimes_apply_the_policy_too() {
    let mut t = Sts::start(&policy("enforce", "other.example.test"), false);
    let mx_delivery = t.delivery();
    let message = mxsend_tests::scenarios::message(&[RECIPIENT]);
    let report = smol::block_on(mxsend::smol::deliver(&mx_delivery, &message)).expect("deliver");
    let r = only(&report);
    assert_deferred_unsent(r, &t.mx, &t.captured);
    assert!(matches!(&r.unreached, Some(Unreached::Policy(_))), "{r:?}");

    t.server
        .set_policy(&policy("enforce", "mx-sts.example.test"));
    t.cache = tempfile::tempdir().unwrap();
    let mx_delivery = t.delivery();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime
        .block_on(mxsend::tokio::deliver(&mx_delivery, &message))
        .expect("deliver");
    let r = only(&report);
    assert_delivered(r, &t.captured);
    assert_eq!(applied(r).0, Mode::Enforce);
    t.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);
}

#[test]
fn tls_required_no_sets_an_enforced_policy_aside() {
    let t = Sts::start(&policy("enforce", "other.example.test"), false);
    let message = mxsend_tests::scenarios::message_with_body(
        &[RECIPIENT],
        b"From: alice@example.org\r\nTLS-Required: No\r\nSubject: test\r\n\r\nHello.\r\n".to_vec(),
    );
    let mx_delivery = t.delivery();
    let report = mxsend::blocking::deliver(&mx_delivery, &message).expect("deliver");
    let r = only(&report);
    assert_delivered(r, &t.captured);
    assert!(
        matches!(
            r.policy,
            Some(DeliveryPolicy::MtaSts {
                set_aside: true,
                ..
            })
        ),
        "{:?}",
        r.policy
    );
    t.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);

    // With REQUIRETLS asked, the header is ignored (RFC 8689 §5): the policy holds.
    let report =
        mxsend::blocking::deliver(&mx_delivery.require_tls(true), &message).expect("deliver");
    let r = only(&report);
    assert!(matches!(r.unreached, Some(Unreached::Policy(_))), "{r:?}");
}

/// The exchanges `testing` found with a certificate that does not verify.
fn unverified(r: &RecipientReport) -> Vec<(String, String)> {
    match &r.policy {
        Some(DeliveryPolicy::MtaSts { unverified, .. }) => unverified.clone(),
        other => panic!("no MTA-STS policy in the report: {other:?}"),
    }
}

/// RFC 8461 §5 under `testing`: deliver as usual, report what `enforce` would have refused
/// (a certificate of an unknown CA), and report nothing for one that verifies; on `adapter`'s
/// runtime, since each runtime drives its own TLS handshakes through the connector.
fn testing_mode_reports_a_certificate_that_does_not_verify(adapter: &dyn Adapter) {
    let t = Sts::start(&policy("testing", "mx-sts.example.test"), true);
    let report = t.deliver_on(adapter);
    let r = only(&report);
    assert_delivered(r, &t.captured);
    assert_eq!(applied(r).0, Mode::Testing);
    let failures = unverified(r);
    assert_eq!(failures.len(), 1, "{}: {failures:?}", adapter.name());
    assert_eq!(failures[0].0, "mx-sts.example.test");
    assert!(failures[0].1.contains("not a trusted CA"), "{failures:?}");
    let shown = r
        .policy
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        shown.contains("mx-sts.example.test's certificate does not verify"),
        "{shown}"
    );
    t.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);

    // A certificate that verifies is not reported.
    let good = Sts::start(&policy("testing", "mx-sts.example.test"), false);
    let report = good.deliver_on(adapter);
    let r = only(&report);
    assert_delivered(r, &good.captured);
    assert!(
        unverified(r).is_empty(),
        "{}: {:?}",
        adapter.name(),
        r.policy
    );
    good.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);
}

/// `testing` with an MX outside the policy's patterns: delivered, the host reported as
/// `enforce` would not have tried it.
fn testing_mode_delivers_and_reports_the_mismatch_on(adapter: &dyn Adapter) {
    let t = Sts::start(&policy("testing", "other.example.test"), true);
    let report = t.deliver_on(adapter);
    let r = only(&report);
    assert_delivered(r, &t.captured);
    assert_eq!(applied(r).0, Mode::Testing);
    let (_, unmatched) = sts_status(r);
    assert_eq!(unmatched, ["mx-sts.example.test"]);
    let shown = r
        .policy
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        shown.contains("testing") && shown.contains("mx-sts.example.test"),
        "{shown}"
    );
    t.mx.wait_for_message(RECIPIENT, MAILDIR_WAIT);
}

/// The `testing` scenarios, once per runtime.
macro_rules! testing_mode_on {
    ($($runtime:ident: $adapter:expr),* $(,)?) => {
        $(
            mod $runtime {
                use super::*;

                #[test]
                fn testing_mode_delivers_and_reports_a_certificate_that_does_not_verify() {
                    testing_mode_reports_a_certificate_that_does_not_verify(&$adapter);
                }

                #[test]
                fn testing_mode_delivers_and_reports_the_mismatch() {
                    testing_mode_delivers_and_reports_the_mismatch_on(&$adapter);
                }
            }
        )*
    };
}

testing_mode_on!(
    on_blocking: Blocking,
    on_smol: Smol,
    on_async_std: AsyncStd,
    on_tokio: Tokio,
);
