//! TLS that people can live with (issue 16), end to end against a private Postfix serving
//! the test PKI's certificates (`tests/peers/pki.sh`): self-signed servers trusted by giving
//! their certificate as a CA file, fingerprint pins, client certificates Postfix requires,
//! a caller's own rustls configuration, and the TLS name for a relay reached by address.
//!
//! Each test starts its own Postfix (own ports); the blocking adapter runs them, and the
//! injected configuration also runs on smol (the async driver's handshake path).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mxsend::protocol::session::Outcome;
use mxsend::tls::{ClientCertificate, Fingerprint, Problem, Roots, TlsError};
use mxsend::{Message, Relay, Report, TlsMode, Unreached};
use mxsend_tests::pki::{CertPair, TestPki};
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::scenarios::Captured;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const MAILDIR_WAIT: Duration = Duration::from_secs(20);

/// A relay to `addr` in `tls` mode trusting no built-in root, recording its transcript.
fn relay(addr: SocketAddr, tls: TlsMode, captured: &Captured) -> Relay {
    let mut relay = Relay::new(addr.ip().to_string(), addr.port())
        .tls(tls)
        .roots(Roots::Empty)
        .transcript(captured.hook());
    relay = relay.connect_timeout(Duration::from_secs(5));
    relay
}

fn message(to: &str) -> Message<Vec<u8>> {
    mxsend_tests::scenarios::message(&[to])
}

/// The first certificate of a PEM file.
fn certificate(path: &std::path::Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

fn send(relay: &Relay) -> Report {
    mxsend::blocking::send(relay, &message("bob@example.test")).expect("send")
}

/// Postfix serving `served` on its STARTTLS and implicit-TLS listeners.
fn postfix_serving(served: fn(&TestPki) -> CertPair) -> Postfix {
    let pki = TestPki::generate();
    Postfix::start(PostfixOptions {
        served_cert: Some(served(&pki)),
        pki: Some(pki),
        ..PostfixOptions::default()
    })
}

fn assert_delivered(report: &Report, captured: &Captured) {
    let lines = captured.lines();
    assert!(
        matches!(report.recipients[0].outcome, Outcome::Delivered(_)),
        "{report:?}\n{lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "tls verified=true"), "{lines:#?}");
}

/// The recipient's TLS error (the attempt must have failed in the handshake).
fn tls_error(report: &Report) -> TlsError {
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Deferred(_)), "{r:?}");
    match &r.unreached {
        Some(Unreached::Tls(error)) => error.clone(),
        other => panic!("not a TLS failure: {other:?} ({r:?})"),
    }
}

/// What Postfix counted of the client's commands on its connections (`disconnect from ...
/// ehlo=1 starttls=0/1 commands=1/2`): the server's own word on what was sent.
fn disconnect_lines(postfix: &Postfix) -> Vec<String> {
    postfix
        .log()
        .lines()
        .filter(|l| l.contains("disconnect from"))
        .map(str::to_string)
        .collect()
}

#[test]
fn openssl_req_x509_certificate_given_as_ca_file_is_accepted_and_still_name_checked() {
    let postfix = postfix_serving(|pki| pki.snakeoil.clone());
    let snakeoil = postfix.pki().snakeoil.cert.clone();
    for (addr, mode) in [
        (postfix.smtp_addr(), TlsMode::Required),
        (postfix.smtps_addr(), TlsMode::Implicit),
    ] {
        let captured = Captured::default();
        let report = send(&relay(addr, mode, &captured).ca_file(&snakeoil));
        assert_delivered(&report, &captured);
    }
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 2, MAILDIR_WAIT)
            .len(),
        2
    );
    // Pinned, but verified against a name it was not issued for: refused, with both names.
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::Required, &captured)
        .ca_file(&snakeoil)
        .tls_name("smtp.other.example");
    let error = tls_error(&send(&relay));
    match error.problem() {
        Problem::WrongName {
            issued_for,
            reached_as,
        } => {
            assert!(
                issued_for.contains(&"mx.example.test".to_string()),
                "{issued_for:?}"
            );
            assert_eq!(reached_as, "smtp.other.example");
        }
        other => panic!("{other:?}: {error}"),
    }
    assert!(captured.starting_with("-> MAIL").is_empty());
}

#[test]
fn make_ssl_cert_snakeoil_given_as_ca_file_is_accepted_by_name() {
    let postfix = postfix_serving(|pki| pki.snakeoil_debian.clone());
    let captured = Captured::default();
    // Its only name is mx.example.test: reached by address, verified against that name.
    let relay = relay(postfix.smtps_addr(), TlsMode::Implicit, &captured)
        .ca_file(&postfix.pki().snakeoil_debian.cert)
        .tls_name("mx.example.test");
    assert_delivered(&send(&relay), &captured);
    postfix.wait_for_message("bob@example.test", MAILDIR_WAIT);
}

#[test]
fn self_signed_certificate_not_given_is_refused_with_its_fingerprint_and_the_fix() {
    let postfix = postfix_serving(|pki| pki.snakeoil.clone());
    let captured = Captured::default();
    let relay =
        relay(postfix.smtp_addr(), TlsMode::Required, &captured).ca_file(&postfix.pki().ca_cert);
    let error = tls_error(&send(&relay));
    let Problem::SelfSigned { fingerprint, .. } = error.problem() else {
        panic!("{error:?}");
    };
    let text = error.to_string();
    assert!(
        text.contains("self-signed") && text.contains("CA file"),
        "{text}"
    );
    assert!(text.contains(&fingerprint.to_string()), "{text}");
    // The fingerprint it names is the one that then pins it.
    let captured = Captured::default();
    let pinned =
        self::relay(postfix.smtp_addr(), TlsMode::Required, &captured).tls_fingerprint(fingerprint);
    assert_delivered(&send(&pinned), &captured);
}

#[test]
fn fingerprint_pin_that_matches_delivers_and_one_that_does_not_sends_nothing_but_quit() {
    let postfix = postfix_serving(|pki| pki.server.clone());
    let pin = Fingerprint::of_certificate(&certificate(&postfix.pki().server.cert));
    // No CA at all: the pin alone is the trust, in both TLS modes.
    for (addr, mode) in [
        (postfix.smtp_addr(), TlsMode::Required),
        (postfix.smtps_addr(), TlsMode::Implicit),
    ] {
        let captured = Captured::default();
        let relay = relay(addr, mode, &captured).tls_fingerprint(pin.to_string().parse().unwrap());
        assert_delivered(&send(&relay), &captured);
    }
    postfix.wait_for_messages("bob@example.test", 2, MAILDIR_WAIT);
    let before = disconnect_lines(&postfix).len();

    // Another certificate's fingerprint, although the test CA is trusted too.
    let other: Fingerprint =
        "sha256:00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
            .parse()
            .unwrap();
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::Required, &captured)
        .ca_file(&postfix.pki().ca_cert)
        .tls_fingerprint(other);
    let error = tls_error(&send(&relay));
    assert_eq!(
        error.problem(),
        Problem::NotPinned {
            fingerprint: Some(pin)
        },
        "{error}"
    );
    let sent: Vec<String> = captured.starting_with("-> ");
    assert!(
        sent.iter()
            .all(|l| l.starts_with("-> EHLO") || l == "-> STARTTLS" || l == "-> QUIT"),
        "{sent:#?}"
    );
    assert!(captured.starting_with("body").is_empty());
    // Postfix's own count of the commands of that connection: EHLO and STARTTLS, nothing else.
    let deadline = std::time::Instant::now() + MAILDIR_WAIT;
    let disconnect = loop {
        let lines = disconnect_lines(&postfix);
        if lines.len() > before {
            break lines[before].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no disconnect logged:\n{}",
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(disconnect.contains("ehlo=1"), "{disconnect}");
    for command in ["mail=", "rcpt=", "data=", "bdat=", "auth="] {
        assert!(!disconnect.contains(command), "{disconnect}");
    }
    assert_eq!(postfix.messages("bob@example.test").len(), 2);
}

#[test]
fn public_key_pin_accepts_the_servers_key() {
    let postfix = postfix_serving(|pki| pki.unknown_ca.clone());
    let spki = public_key(&certificate(&postfix.pki().unknown_ca.cert)).unwrap();
    let captured = Captured::default();
    let relay = relay(postfix.smtps_addr(), TlsMode::Implicit, &captured)
        .tls_fingerprint(Fingerprint::of_public_key(&spki));
    assert_delivered(&send(&relay), &captured);
}

/// The SubjectPublicKeyInfo of `cert`, as `openssl x509 -pubkey | openssl pkey -pubin -outform DER`.
fn public_key(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
    Some(parsed.subject_public_key_info().as_ref().to_vec())
}

/// Postfix accepting mail only from a client whose certificate the test CA issued.
fn postfix_requiring_client_certificates() -> Postfix {
    let pki = TestPki::generate();
    let ca = pki.ca_cert.display().to_string();
    Postfix::start(PostfixOptions {
        main_cf: vec![
            ("smtpd_tls_ask_ccert".into(), "yes".into()),
            ("smtpd_tls_CAfile".into(), ca),
            (
                "smtpd_recipient_restrictions".into(),
                "permit_tls_all_clientcerts, reject".into(),
            ),
        ],
        pki: Some(pki),
        ..PostfixOptions::default()
    })
}

#[test]
fn client_certificate_required_by_postfix_is_presented() {
    let postfix = postfix_requiring_client_certificates();
    let pki = postfix.pki().clone();
    // Without one, Postfix refuses the recipient.
    let captured = Captured::default();
    let report =
        send(&relay(postfix.smtp_addr(), TlsMode::Required, &captured).ca_file(&pki.ca_cert));
    assert!(
        matches!(report.recipients[0].outcome, Outcome::Rejected(_)),
        "{report:?}"
    );
    // With the test CA's client certificate, from files, the message is accepted.
    let captured = Captured::default();
    let relay = relay(postfix.smtp_addr(), TlsMode::Required, &captured)
        .ca_file(&pki.ca_cert)
        .client_certificate(ClientCertificate::from_files(
            &pki.client.cert,
            &pki.client.key,
        ));
    assert_delivered(&send(&relay), &captured);
    // The same in memory, over implicit TLS.
    let captured = Captured::default();
    let relay = self::relay(postfix.smtps_addr(), TlsMode::Implicit, &captured)
        .ca_pem(std::fs::read(&pki.ca_cert).unwrap())
        .client_certificate(ClientCertificate::from_pem(
            std::fs::read(&pki.client.cert).unwrap(),
            std::fs::read(&pki.client.key).unwrap(),
        ));
    assert_delivered(&send(&relay), &captured);
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 2, MAILDIR_WAIT)
            .len(),
        2
    );
    assert!(
        postfix.log().contains("Trusted TLS connection established"),
        "{}",
        postfix.log()
    );
}

/// A caller's own configuration: its roots (the test CA) and its client certificate.
fn injected_config(pki: &TestPki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate(&pki.ca_cert)).unwrap();
    let chain = vec![certificate(&pki.client.cert)];
    let key = PrivateKeyDer::from_pem_file(&pki.client.key).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    Arc::new(config)
}

#[test]
fn injected_client_config_is_used_against_postfix_on_blocking_and_smol() {
    let postfix = postfix_requiring_client_certificates();
    let config = injected_config(postfix.pki());
    for (addr, mode) in [
        (postfix.smtp_addr(), TlsMode::Required),
        (postfix.smtps_addr(), TlsMode::Implicit),
    ] {
        let captured = Captured::default();
        let relay = relay(addr, mode, &captured).tls_config(config.clone());
        assert_delivered(&send(&relay), &captured);
        let captured = Captured::default();
        let relay = self::relay(addr, mode, &captured).tls_config(config.clone());
        let report =
            smol::block_on(mxsend::smol::send(&relay, &message("bob@example.test"))).expect("send");
        assert_delivered(&report, &captured);
    }
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 4, MAILDIR_WAIT)
            .len(),
        4
    );
    // A configuration without the test CA is obeyed too: refused, although mxsend's own
    // options trust it.
    let empty = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    );
    let captured = Captured::default();
    let relay = relay(postfix.smtps_addr(), TlsMode::Implicit, &captured)
        .ca_file(&postfix.pki().ca_cert)
        .tls_config(empty);
    let error = tls_error(&send(&relay));
    assert!(
        matches!(error.problem(), Problem::UnknownIssuer { .. }),
        "{error:?}"
    );
}

#[test]
fn tls_name_verifies_a_relay_reached_by_address() {
    // wrong-host.crt names only wrong-host.example.invalid.
    let postfix = postfix_serving(|pki| pki.wrong_host.clone());
    let ca = postfix.pki().ca_cert.clone();
    // The delivery first: after a handshake it refused, Postfix's implicit-TLS service may
    // reset the next connection while its master restarts the smtpd that exited.
    let captured = Captured::default();
    let named = relay(postfix.smtps_addr(), TlsMode::Implicit, &captured)
        .ca_file(&ca)
        .tls_name("wrong-host.example.invalid");
    assert_delivered(&send(&named), &captured);
    let captured = Captured::default();
    let error = tls_error(&send(
        &relay(postfix.smtps_addr(), TlsMode::Implicit, &captured).ca_file(&ca),
    ));
    let text = error.to_string();
    assert!(
        text.contains(
            "issued for wrong-host.example.invalid, but the server was reached as 127.0.0.1"
        ),
        "{text}"
    );
}
