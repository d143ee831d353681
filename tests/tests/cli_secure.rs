//! The command's secure-delivery surface (issue 21): `mxsend mx` shows the MTA-STS policy
//! (mode, max_age, mx patterns, fetched or cached), a delivery's report says which policy
//! applied (`--json` `policy`, and the human line), and `--require-tls` is refused by a
//! server without REQUIRETLS. Real peers: dnsmasq, python's http.server over ssl, Postfix.

mod cli_support;

use cli_support::{mxsend, scratch};
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::mta_sts::PolicyServer;
use mxsend_tests::pki::TestPki;
use mxsend_tests::postfix::{Postfix, PostfixOptions};

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 3600\n";

fn dns() -> Dnsmasq {
    Dnsmasq::start_with_txt(&[("_mta-sts.sts.test".into(), "v=STSv1; id=7;".into())])
}

fn mx_json(
    home: &std::path::Path,
    dns: &Dnsmasq,
    pki: &TestPki,
    server: &PolicyServer,
) -> serde_json::Value {
    let output = mxsend(home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .args(["mx", "sts.test", "--json", "--dns", &dns.addr().to_string()])
        .arg("--ca-file")
        .arg(&pki.ca_cert)
        .args(["--mta-sts-port", &server.addr().port().to_string()])
        .output()
        .expect("run mxsend");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn mx_shows_the_mta_sts_policy_fetched_then_cached() {
    let pki = TestPki::generate();
    let dns = dns();
    let server = PolicyServer::start(&pki, POLICY);
    let home = scratch();
    let first = mx_json(home.path(), &dns, &pki, &server);
    let sts = &first["mta_sts"];
    assert_eq!(sts["status"], "policy", "{first}");
    assert_eq!(sts["mode"], "enforce");
    assert_eq!(sts["id"], "7");
    assert_eq!(sts["max_age"], 3600);
    assert_eq!(sts["mx"], serde_json::json!(["*.example.test"]));
    assert_eq!(sts["source"], "fetched");
    assert_eq!(first["exchanges"][0]["name"], "mx-sts.example.test");
    let second = mx_json(home.path(), &dns, &pki, &server);
    assert_eq!(second["mta_sts"]["source"], "cache", "{second}");
    assert_eq!(server.requests(), 1);

    let output = mxsend(home.path())
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .args(["mx", "sts.test", "--dns", &dns.addr().to_string()])
        .output()
        .expect("run mxsend");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("MTA-STS: enforce (id 7, max_age 3600 s), from cache"),
        "{text}"
    );
    assert!(text.contains("  mx: *.example.test"), "{text}");
}

#[test]
fn a_delivery_reports_the_policy_and_require_tls_is_not_sent_without_requiretls() {
    let pki = TestPki::generate();
    let dns = dns();
    let server = PolicyServer::start(&pki, POLICY);
    let postfix = Postfix::start(PostfixOptions {
        mailboxes: vec!["alice@sts.test".into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        ..PostfixOptions::default()
    });
    let home = scratch();
    let run = |extra: &[&str]| {
        let output = mxsend(home.path())
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .args([
                "--no-account",
                "--json",
                "--from",
                "me@example.org",
                "--to",
                "alice@sts.test",
            ])
            .args(["--subject", "hi", "--body", "hello"])
            .args(["--dns", &dns.addr().to_string()])
            .args(["--port", &postfix.smtp_addr().port().to_string()])
            .arg("--ca-file")
            .arg(&pki.ca_cert)
            .args(["--mta-sts-port", &server.addr().port().to_string()])
            .args(["--timeout", "10"])
            .args(extra)
            .output()
            .expect("run mxsend");
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
        json
    };
    let delivered = run(&[]);
    let r = &delivered["recipients"][0];
    assert_eq!(r["outcome"], "delivered", "{delivered}");
    let policy = r["policy"].as_str().unwrap_or_default();
    assert!(
        policy.contains("MTA-STS enforce") && policy.contains("fetched"),
        "{policy}"
    );

    let refused = run(&["--require-tls"]);
    let r = &refused["recipients"][0];
    assert_eq!(r["outcome"], "rejected", "{refused}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("REQUIRETLS"), "{error}");
    let arrived =
        postfix.wait_for_messages("alice@sts.test", 1, std::time::Duration::from_secs(20));
    assert_eq!(arrived.len(), 1);
}

#[test]
fn mx_shows_each_exchanges_dane_status_and_a_delivery_reports_it() {
    use mxsend_tests::dnssec::{spki_sha256, DnssecResolver, Zone};
    let pki = TestPki::generate();
    let tlsa = spki_sha256(&pki.server.cert);
    let dns = DnssecResolver::start(&[
        Zone::mx_with_tlsa("dane.test", &tlsa, true),
        Zone::mx_with_tlsa("plain.test", &tlsa, false),
    ]);
    let home = scratch();
    let mx = |domain: &str| {
        let output = mxsend(home.path())
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .args([
                "mx",
                domain,
                "--json",
                "--no-mta-sts",
                "--dns",
                &dns.addr().to_string(),
            ])
            .output()
            .expect("run mxsend");
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
        json
    };
    let secure = mx("dane.test");
    assert_eq!(secure["dane"][0]["host"], "mx.dane.test", "{secure}");
    assert_eq!(secure["dane"][0]["status"], "secure", "{secure}");
    assert_eq!(secure["dane"][0]["tlsa"][0], format!("3 1 1 {tlsa}"));
    let insecure = mx("plain.test");
    assert_eq!(insecure["dane"][0]["status"], "insecure", "{insecure}");

    let postfix = Postfix::start(PostfixOptions {
        mailboxes: vec!["alice@dane.test".into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        ..PostfixOptions::default()
    });
    let output = mxsend(home.path())
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .args([
            "--no-account",
            "--from",
            "me@example.org",
            "--to",
            "alice@dane.test",
        ])
        .args(["--subject", "hi", "--body", "hello", "--no-mta-sts"])
        .args(["--dns", &dns.addr().to_string()])
        .args(["--port", &postfix.smtp_addr().port().to_string()])
        .args(["--timeout", "10"])
        .output()
        .expect("run mxsend");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text} {output:?}");
    assert!(
        text.contains("[mx.dane.test: DANE secure: TLSA 3 1 1"),
        "{text}"
    );
}
