//! The command's TLS flags and keys (`--tls-fingerprint`, `--tls-cert`/`--tls-key`,
//! `--tls-name`, and the account's `tls_*` keys) and how it explains a refused certificate,
//! against a private Postfix serving each of the test PKI's certificates.

mod cli_support;

use std::path::Path;
use std::time::Duration;

use cli_support::{file, mxsend, scratch, Tripwire};
use mxsend::tls::Fingerprint;
use mxsend_tests::pki::{CertPair, TestPki};
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use predicates::prelude::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const STORED: Duration = Duration::from_secs(20);

fn postfix_serving(served: fn(&TestPki) -> CertPair, main_cf: Vec<(String, String)>) -> Postfix {
    let pki = TestPki::generate();
    Postfix::start(PostfixOptions {
        served_cert: Some(served(&pki)),
        pki: Some(pki),
        main_cf,
        ..PostfixOptions::default()
    })
}

/// `mxsend` sending one message to bob@example.test through `server` in TLS `mode`.
fn send(home: &Path, server: std::net::SocketAddr, mode: &str) -> assert_cmd::Command {
    let mut command = mxsend(home);
    command.args([
        "--no-account",
        "--server",
        &server.to_string(),
        "--tls",
        mode,
        "--timeout",
        "10",
        "--from",
        "ann@example.test",
        "--to",
        "bob@example.test",
        "--subject",
        "tls",
        "--body",
        "hello",
    ]);
    command
}

/// [`send`] trusting the test CA, with `client` as the client certificate if given.
fn send_trusting(
    home: &Path,
    server: std::net::SocketAddr,
    mode: &str,
    pki: &TestPki,
    client: Option<&CertPair>,
) -> assert_cmd::Command {
    let mut command = send(home, server, mode);
    command.arg("--ca-file").arg(&pki.ca_cert);
    if let Some(pair) = client {
        command
            .arg("--tls-cert")
            .arg(&pair.cert)
            .arg("--tls-key")
            .arg(&pair.key);
    }
    command
}

/// No rustls spelling reaches the user.
fn no_debug_text() -> impl Predicate<str> {
    predicate::str::contains("Other(")
        .or(predicate::str::contains("OtherError"))
        .or(predicate::str::contains("CaUsedAsEndEntity"))
        .or(predicate::str::contains("InvalidCertificate"))
        .or(predicate::str::contains("UnknownIssuer"))
        .not()
}

/// A handshake refused for `served`'s certificate: 69, the cause and the fix on the
/// recipient's line, nothing from rustls' debug output anywhere.
fn refused_with(served: fn(&TestPki) -> CertPair, expected: &[&str]) {
    let postfix = postfix_serving(served, Vec::new());
    let home = scratch();
    let mut want = predicate::str::contains("bob@example.test: deferred").boxed();
    for text in expected {
        want = want.and(predicate::str::contains(*text)).boxed();
    }
    send(home.path(), postfix.smtps_addr(), "implicit")
        .arg("--ca-file")
        .arg(&postfix.pki().ca_cert)
        .assert()
        // Deferred (the one permanence rule: a failed required TLS may pass), so 75.
        .code(75)
        .stdout(want.and(no_debug_text()))
        .stderr(no_debug_text());
    assert!(postfix.messages("bob@example.test").is_empty());
}

#[test]
fn unknown_issuer_says_to_pass_its_ca() {
    refused_with(
        |pki| pki.unknown_ca.clone(),
        &[
            "issued by CN=mxsend unknown CA, which is not a trusted CA",
            "--ca-file FILE",
        ],
    );
}

#[test]
fn self_signed_says_to_pass_it_as_ca_file_or_pin_it() {
    refused_with(
        |pki| pki.snakeoil.clone(),
        &[
            "is self-signed (CN=mx.example.test",
            "--ca-file FILE",
            "--tls-fingerprint sha256:",
        ],
    );
}

#[test]
fn wrong_name_says_both_names_and_tls_name() {
    refused_with(
        |pki| pki.wrong_host.clone(),
        &[
            "issued for wrong-host.example.invalid, but the server was reached as 127.0.0.1",
            "--tls-name NAME",
        ],
    );
}

#[test]
fn expired_says_when() {
    refused_with(
        |pki| pki.expired.clone(),
        &["expired on Thu, 31 Dec 2020 23:59:59", "clock"],
    );
}

#[test]
fn not_yet_valid_says_from_when() {
    refused_with(
        |pki| pki.not_yet_valid.clone(),
        &["is not valid before Sun, 01 Jan 2090 00:00:00", "clock"],
    );
}

#[test]
fn ca_used_as_end_entity_is_named() {
    refused_with(
        |pki| pki.ca_as_server.clone(),
        &[
            "presented a CA certificate (CN=mxsend test sub-CA) as its own",
            "--ca-file FILE",
        ],
    );
}

#[test]
fn snakeoil_given_as_ca_file_delivers_and_a_fingerprint_pins_it() {
    let postfix = postfix_serving(|pki| pki.snakeoil.clone(), Vec::new());
    let snakeoil = postfix.pki().snakeoil.cert.clone();
    let home = scratch();
    send(home.path(), postfix.smtp_addr(), "required")
        .arg("--ca-file")
        .arg(&snakeoil)
        .assert()
        .code(0);
    let cert = CertificateDer::from_pem_file(&snakeoil).unwrap();
    let pin = Fingerprint::of_certificate(&cert).to_string();
    send(home.path(), postfix.smtps_addr(), "implicit")
        .args(["--tls-fingerprint", &pin])
        .assert()
        .code(0);
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 2, STORED)
            .len(),
        2
    );
    // Another pin: refused, with the certificate's own fingerprint, and nothing delivered.
    let other = "sha256:00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
    send(home.path(), postfix.smtp_addr(), "required")
        .args(["--tls-fingerprint", other, "-v"])
        .assert()
        .code(75)
        .stdout(
            predicate::str::contains(format!("({pin}) matches none of the pinned fingerprints"))
                .and(predicate::str::contains("check --tls-fingerprint")),
        )
        .stderr(predicate::str::contains("MAIL FROM").not());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(postfix.messages("bob@example.test").len(), 2);
}

#[test]
fn client_certificate_flags_and_account_keys_are_presented() {
    let (postfix, pki) = postfix_asking_for_client_certificates((
        "smtpd_recipient_restrictions",
        "permit_tls_all_clientcerts, reject",
    ));
    let home = scratch();
    // Without a certificate Postfix refuses the recipient (67).
    send_trusting(home.path(), postfix.smtp_addr(), "required", &pki, None)
        .assert()
        .code(67);
    send_trusting(
        home.path(),
        postfix.smtp_addr(),
        "required",
        &pki,
        Some(&pki.client),
    )
    .assert()
    .code(0);
    // The account's keys, reaching the relay by address and verifying it by name.
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"relay\"\n[accounts.relay]\nserver = \"{}\"\ntls = \"implicit\"\n\
             from = \"ann@example.test\"\nca_file = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
             tls_name = \"mx.example.test\"\n",
            postfix.smtps_addr(),
            pki.ca_cert.display(),
            pki.client.cert.display(),
            pki.client.key.display()
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args(["--subject", "account", "--body", "x", "bob@example.test"])
        .assert()
        .code(0);
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 2, STORED)
            .len(),
        2
    );
}

/// Postfix asking clients for a certificate (verified against the test CA), with `rule` on top.
fn postfix_asking_for_client_certificates(rule: (&str, &str)) -> (Postfix, TestPki) {
    let pki = TestPki::generate();
    let main_cf = vec![
        ("smtpd_tls_ask_ccert".to_string(), "yes".to_string()),
        (
            "smtpd_tls_CAfile".to_string(),
            pki.ca_cert.display().to_string(),
        ),
        (rule.0.to_string(), rule.1.to_string()),
    ];
    let postfix = Postfix::start(PostfixOptions {
        main_cf,
        pki: Some(pki.clone()),
        ..PostfixOptions::default()
    });
    (postfix, pki)
}

/// A usage problem with the TLS flags: `code`, one line naming `words`, no connection.
fn refused_before_connecting(args: &[&str], code: i32, words: &[&str]) {
    let home = scratch();
    let trip = Tripwire::new();
    let mut want = predicate::str::is_empty().not().boxed();
    for word in words {
        want = want.and(predicate::str::contains(*word)).boxed();
    }
    mxsend(home.path())
        .args([
            "--no-account",
            "--from",
            "ann@example.test",
            "--to",
            "bob@example.test",
        ])
        .args(["--subject", "s", "--body", "b"])
        .args(args.iter().map(|a| a.replace("TRIP", &trip.server())))
        .assert()
        .code(code)
        .stderr(want);
    trip.assert_untouched();
}

#[test]
fn tls_flag_mistakes_are_refused_before_connecting() {
    refused_before_connecting(
        &["--server", "TRIP", "--tls-fingerprint", "sha256:12"],
        64,
        &["--tls-fingerprint", "64 hex digits"],
    );
    refused_before_connecting(
        &[
            "--server",
            "TRIP",
            "--tls",
            "opportunistic",
            "--tls-fingerprint",
            &"ab".repeat(32),
        ],
        64,
        &["--tls-fingerprint needs a verifying TLS mode"],
    );
    refused_before_connecting(
        &["--server", "TRIP", "--tls-cert", "/etc/hostname"],
        64,
        &["--tls-cert needs --tls-key"],
    );
    refused_before_connecting(
        &[
            "--server",
            "TRIP",
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ],
        66,
        &["--tls-cert", "/nonexistent/c.pem"],
    );
    refused_before_connecting(
        &["--dns", "127.0.0.1:9", "--tls-name", "mx.example.test"],
        64,
        &["--tls-name needs --server"],
    );
}

#[test]
fn client_certificate_demanded_by_smtpd_tls_req_ccert_is_presented() {
    let (postfix, pki) = postfix_asking_for_client_certificates(("smtpd_tls_req_ccert", "yes"));
    let home = scratch();
    // The delivery first: after the refused session below, the implicit-TLS smtpd exits and
    // the next connection could meet its restart.
    send_trusting(
        home.path(),
        postfix.smtps_addr(),
        "implicit",
        &pki,
        Some(&pki.client),
    )
    .assert()
    .code(0);
    // Without one, Postfix completes the handshake, then closes with its reason.
    send_trusting(home.path(), postfix.smtps_addr(), "implicit", &pki, None)
        .assert()
        .code(75)
        .stdout(predicate::str::contains("No client certificate presented"));
    assert_eq!(
        postfix
            .wait_for_messages("bob@example.test", 1, STORED)
            .len(),
        1
    );
}
