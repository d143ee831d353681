//! `mxsend mx` and the `--dry-run` delivery plan against a real DNS server: dnsmasq on
//! loopback serving `tests/peers/dnsmasq.conf` (example.test has MX preferences 10 < 20 (three
//! tied) < 30; nullmx.test a null MX; nomx.test no MX; nx.test does not exist).

mod cli_support;

use cli_support::{mxsend, scratch, Tripwire};
use mxsend_tests::dnsmasq::Dnsmasq;
use predicates::prelude::*;

#[test]
fn mx_lists_records_order_and_addresses() {
    let dns = Dnsmasq::start();
    let home = scratch();
    let output = mxsend(home.path())
        .args(["mx", "example.test", "--dns", &dns.addr().to_string()])
        .output()
        .expect("run mxsend");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("example.test: MX records, as published:"),
        "{text}"
    );
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().split_once(". ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(order.first(), Some(&"mx1.example.test"), "{text}");
    assert_eq!(order.last(), Some(&"mx3.example.test"), "{text}");
    let middle: std::collections::BTreeSet<&str> = order[1..4].iter().copied().collect();
    assert_eq!(
        middle,
        [
            "mx2a.example.test",
            "mx2b.example.test",
            "mx2c.example.test"
        ]
        .into(),
        "{text}"
    );
    assert!(
        text.contains("1. mx1.example.test (preference 10): ::1, 127.0.0.11"),
        "{text}"
    );
    assert!(
        text.contains("mx3.example.test (preference 30): not resolved"),
        "{text}"
    );
    assert!(text.contains("Connection attempts (at most 5):\n  [::1]:25 (mx1.example.test)\n  127.0.0.11:25 (mx1.example.test)"), "{text}");
}

#[test]
fn mx_of_null_mx_domain_exits_nohost() {
    let dns = Dnsmasq::start();
    let home = scratch();
    mxsend(home.path())
        .args(["mx", "nullmx.test", "--dns", &dns.addr().to_string()])
        .assert()
        .code(68)
        .stdout(predicate::str::contains(
            "No delivery: the domain accepts no mail (null MX, RFC 7505) (permanent",
        ));
}

#[test]
fn mx_of_missing_domain_exits_nohost() {
    let dns = Dnsmasq::start();
    let home = scratch();
    mxsend(home.path())
        .args(["mx", "nx.test", "--dns", &dns.addr().to_string()])
        .assert()
        .code(68)
        .stdout(predicate::str::contains("NXDOMAIN"));
}

#[test]
fn mx_of_domain_without_mx_shows_the_implicit_mx() {
    let dns = Dnsmasq::start();
    let home = scratch();
    mxsend(home.path())
        .args([
            "mx",
            "user@nomx.test",
            "--dns",
            &dns.addr().to_string(),
            "--port",
            "2525",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("implicit MX, RFC 5321")
                .and(predicate::str::contains("127.0.0.51:2525 (nomx.test)")),
        );
}

#[test]
fn mx_json_has_records_exchanges_and_attempts() {
    let dns = Dnsmasq::start();
    let home = scratch();
    let output = mxsend(home.path())
        .args([
            "mx",
            "example.test",
            "--json",
            "--dns",
            &dns.addr().to_string(),
        ])
        .output()
        .expect("run mxsend");
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(doc["domain"], "example.test");
    assert_eq!(doc["records"].as_array().map(Vec::len), Some(5));
    assert_eq!(doc["exchanges"][0]["name"], "mx1.example.test");
    assert_eq!(doc["exchanges"][0]["preference"], 10);
    assert_eq!(doc["attempts"][0]["address"], "[::1]:25");
    assert_eq!(doc["no_route"], serde_json::Value::Null);
}

#[test]
fn mx_with_unreachable_dns_exits_tempfail() {
    // A UDP port nobody listens on: the queries are refused, which is temporary.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    drop(socket);
    let home = scratch();
    mxsend(home.path())
        .args(["mx", "example.test", "--dns", &format!("127.0.0.1:{port}")])
        .assert()
        .code(75)
        .stdout(predicate::str::contains("temporary"));
}

#[test]
fn dry_run_in_mx_mode_shows_each_domains_plan_and_connects_nowhere() {
    let dns = Dnsmasq::start();
    let home = scratch();
    // nomx.test's address and port: the attempt a real delivery would make.
    let trip = Tripwire::on("127.0.0.51");
    mxsend(home.path())
        .args(["--no-account", "--dns", &dns.addr().to_string()])
        .args(["--port", &trip.addr().port().to_string(), "--dry-run"])
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "plan",
            "--body",
            "x",
        ])
        .args(["bob@nomx.test", "carol@nullmx.test"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("MX delivery on port")
                .and(predicate::str::contains(format!(
                    "127.0.0.51:{} (nomx.test)",
                    trip.addr().port()
                )))
                .and(predicate::str::contains(
                    "No delivery: the domain accepts no mail",
                ))
                .and(predicate::str::contains("Subject: plan")),
        );
    trip.assert_untouched();
}
