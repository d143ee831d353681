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
        .args(["--subject", "hi", "--body", "hello", "--no-mta-sts", "-v"])
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
    // -v: the policy is said before the connection it governs.
    let verbose = String::from_utf8_lossy(&output.stderr);
    let said = verbose
        .find("*** TLS policy for dane.test: dane (mx.dane.test: DANE secure")
        .unwrap_or_else(|| panic!("{verbose}"));
    let connecting = verbose.find("*** Connecting to").unwrap_or(0);
    assert!(said < connecting, "{verbose}");
}

/// `mxsend` for `home`, with its policy cache and queue there.
fn queued_mxsend(home: &std::path::Path) -> assert_cmd::Command {
    let mut command = mxsend(home);
    command
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("MXSEND_QUEUE_DIR", home.join("queue"));
    command
}

/// The queue's entries (`mxsend queue list --json`).
fn queue_list(home: &std::path::Path) -> Vec<serde_json::Value> {
    let out = queued_mxsend(home)
        .args(["queue", "list", "--json"])
        .output()
        .expect("run mxsend queue list");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("queue list JSON")
}

/// `mxsend queue flush ID`: the entry made due and run now.
fn queue_flush(home: &std::path::Path, id: &str) -> std::process::Output {
    queued_mxsend(home)
        .args(["queue", "flush", id, "-v"])
        .output()
        .expect("run mxsend queue flush")
}

/// The one entry's id and its recipient's state and last reply.
fn only_entry(home: &std::path::Path) -> (String, String, String) {
    let entries = queue_list(home);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let r = &entries[0]["recipients"][0];
    (
        entries[0]["id"].as_str().unwrap_or_default().to_string(),
        r["state"].as_str().unwrap_or_default().to_string(),
        r["last_reply"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_queued_message_is_retried_under_the_same_mta_sts_policy() {
    let pki = TestPki::generate();
    let dns = dns();
    let server = PolicyServer::start(
        &pki,
        "version: STSv1\nmode: enforce\nmx: other.example.test\nmax_age: 3600\n",
    );
    // sts.test's MX (mx-sts.example.test, 127.0.0.1) on this port: nothing may connect.
    let mx = cli_support::Tripwire::new();
    let home = scratch();
    let out = queued_mxsend(home.path())
        .args(["--no-account", "--queue", "--from", "me@example.org"])
        .args([
            "--to",
            "alice@sts.test",
            "--subject",
            "hi",
            "--body",
            "hello",
        ])
        .args(["--dns", &dns.addr().to_string()])
        .args(["--port", &mx.addr().port().to_string()])
        .arg("--ca-file")
        .arg(&pki.ca_cert)
        .args(["--mta-sts-port", &server.addr().port().to_string()])
        .args(["--timeout", "5"])
        .output()
        .expect("run mxsend");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr.contains("queued as"), "{stderr}");
    mx.assert_untouched();
    let (id, state, reply) = only_entry(home.path());
    assert_eq!(state, "pending");
    assert!(reply.contains("mx-sts.example.test"), "{reply}");

    // The retry consults the same policy (from the cache now) and defers again.
    let out = queue_flush(home.path(), &id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    mx.assert_untouched();
    let (_, state, reply) = only_entry(home.path());
    assert_eq!(state, "pending", "{stderr}");
    assert!(reply.contains("mx-sts.example.test"), "{reply} {stderr}");
}

#[test]
fn a_queued_message_is_retried_under_the_same_dane_policy() {
    use mxsend_tests::dnssec::{spki_sha256, DnssecResolver, Zone};
    let pki = TestPki::generate();
    // A secure TLSA record for another key than the one the MX presents.
    let wrong = spki_sha256(&pki.unknown_ca.cert);
    let dns = DnssecResolver::start(&[Zone::mx_with_tlsa("dane.test", &wrong, true)]);
    let postfix = Postfix::start(PostfixOptions {
        mailboxes: vec!["alice@dane.test".into()],
        implicit_tls: false,
        pki: Some(pki.clone()),
        ..PostfixOptions::default()
    });
    let home = scratch();
    let out = queued_mxsend(home.path())
        .args([
            "--no-account",
            "--queue",
            "--no-mta-sts",
            "--from",
            "me@example.org",
        ])
        .args([
            "--to",
            "alice@dane.test",
            "--subject",
            "hi",
            "--body",
            "hello",
        ])
        .args(["--dns", &dns.addr().to_string()])
        .args(["--port", &postfix.smtp_addr().port().to_string()])
        .args(["--timeout", "10"])
        .output()
        .expect("run mxsend");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr.contains("queued as"), "{stderr}");
    let (id, state, _) = only_entry(home.path());
    assert_eq!(state, "pending");

    // The retry authenticates by TLSA again: the mismatch defers, nothing is sent.
    let out = queue_flush(home.path(), &id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (_, state, reply) = only_entry(home.path());
    assert_eq!(state, "pending", "{stderr}");
    assert!(
        reply.contains("TLSA") || reply.contains("DANE"),
        "{reply} {stderr}"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(postfix.messages("alice@dane.test").is_empty(), "{stderr}");
}
