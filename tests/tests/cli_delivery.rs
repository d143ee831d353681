//! The `mxsend` binary delivering for real: MX lookup through dnsmasq, then SMTP to Postfix
//! (a private instance) or Postfix's smtp-sink on 127.0.0.x; relays with STARTTLS and AUTH
//! through aiosmtpd. Each outcome is checked in the exit status, the human report, `--json`
//! and the message as the server stored it.
//!
//! The zone (`tests/peers/dnsmasq.conf`): nomx.test has no MX and the address 127.0.0.51 (the
//! implicit MX), cname.test's MX is 127.0.0.61, xn--bcher-kva.test's is 127.0.0.71,
//! nullmx.test publishes a null MX. Every exchange is reached on one port, `--port`.

mod cli_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use cli_support::{file, mxsend, scratch, Tripwire};
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions, AUTH_PASSWORD, AUTH_USER};
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::free_port;
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::smtp_sink::{SinkDump, SmtpSink};
use predicates::prelude::*;

/// How long a server gets to store what it received.
const STORED: Duration = Duration::from_secs(10);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `mxsend` for MX delivery through `dns`, every exchange on `port`.
fn mx_send(home: &Path, dns: &Dnsmasq, port: u16) -> assert_cmd::Command {
    let mut command = mxsend(home);
    command
        .args(["--no-account", "--dns", &dns.addr().to_string()])
        .args(["--port", &port.to_string(), "--timeout", "5"])
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "hello",
            "--body",
            "hi",
        ]);
    command
}

/// An smtp-sink on `ip`, on `port` or a free one.
fn sink_on(ip: IpAddr, port: Option<u16>, flags: &[&str]) -> SmtpSink {
    let port = port.unwrap_or_else(|| free_port(ip));
    SmtpSink::start(flags, Some(SocketAddr::new(ip, port)))
}

/// The one message a sink stored, as text.
fn only_dump(sink: &SmtpSink) -> (SinkDump, String) {
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    let dump = dumps.into_iter().next().expect("one dump");
    let text = String::from_utf8_lossy(&dump.message).into_owned();
    (dump, text)
}

#[test]
fn delivers_by_mx_lookup_with_a_transcript() {
    let dns = Dnsmasq::start();
    let sink = sink_on(ip(51), None, &[]);
    let home = scratch();
    mx_send(home.path(), &dns, sink.addr.port())
        .arg("-v")
        .arg("bob@nomx.test")
        .assert()
        .code(0)
        .stdout(format!(
            "bob@nomx.test: delivered by nomx.test [127.0.0.51]:{}: 250 2.0.0 Ok\n",
            sink.addr.port()
        ))
        .stderr(
            predicate::str::contains(format!(
                "*** Connecting to nomx.test [127.0.0.51]:{}",
                sink.addr.port()
            ))
            .and(predicate::str::contains("\n<- 220 "))
            .and(predicate::str::contains(
                "\n-> MAIL FROM:<ann@example.test>",
            ))
            .and(predicate::str::contains("\n-> Subject: hello\n"))
            .and(predicate::str::contains("\n-> .\n")),
        );
}

#[test]
fn delivers_an_attachment_to_the_server() {
    let dns = Dnsmasq::start();
    let sink = sink_on(ip(51), None, &[]);
    let home = scratch();
    let attachment = file(home.path(), "report.csv", b"a,b\n1,2\n");
    mx_send(home.path(), &dns, sink.addr.port())
        .arg("--attach")
        .arg(&attachment)
        .arg("bob@nomx.test")
        .assert()
        .code(0);
    let (_, stored) = only_dump(&sink);
    assert!(
        stored.contains("Content-Type: text/csv; name=\"report.csv\""),
        "{stored}"
    );
    // base64 of "a,b\n1,2\n"
    assert!(stored.contains("YSxiCjEsMgo="), "{stored}");
}

#[test]
fn rejected_recipient_exits_nouser_with_the_reply_in_json() {
    let dns = Dnsmasq::start();
    let port = free_port(ip(51));
    let good = sink_on(ip(51), Some(port), &[]);
    let refusing = sink_on(ip(61), Some(port), &["-f", "RCPT"]);
    let home = scratch();
    let output = mx_send(home.path(), &dns, port)
        .args(["--json", "bob@nomx.test", "carol@cname.test"])
        .output()
        .expect("run mxsend");
    assert_eq!(
        output.status.code(),
        Some(67),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(doc["exit_code"], 67);
    assert_eq!(doc["exit_status"], "EX_NOUSER");
    assert!(doc["message_id"]
        .as_str()
        .is_some_and(|id| id.ends_with("@example.test>")));
    let bob = &doc["recipients"][0];
    assert_eq!(bob["recipient"], "bob@nomx.test");
    assert_eq!(bob["outcome"], "delivered");
    assert_eq!(bob["reply"]["code"], 250);
    assert_eq!(bob["host"], "nomx.test");
    assert_eq!(bob["address"], good.addr.to_string());
    let carol = &doc["recipients"][1];
    assert_eq!(carol["recipient"], "carol@cname.test");
    assert_eq!(carol["outcome"], "rejected");
    assert_eq!(carol["reply"]["code"].as_u64().map(|c| c / 100), Some(5));
    // The exchange as the MX record names it (a CNAME is followed for its address only).
    assert_eq!(carol["host"], "alias.cname.test");
    assert_eq!(carol["address"], refusing.addr.to_string());
    assert_eq!(carol["error"], serde_json::Value::Null);
}

#[test]
fn deferred_recipient_exits_tempfail_even_next_to_a_rejection() {
    let dns = Dnsmasq::start();
    let port = free_port(ip(61));
    let _refusing = sink_on(ip(61), Some(port), &["-f", "RCPT"]);
    let _deferring = sink_on(ip(71), Some(port), &["-r", "RCPT"]);
    let home = scratch();
    mx_send(home.path(), &dns, port)
        .args(["carol@cname.test", "dave@xn--bcher-kva.test"])
        .assert()
        .code(75)
        .stdout(predicate::str::contains("carol@cname.test: rejected").and(
            predicate::str::contains("dave@xn--bcher-kva.test: deferred"),
        ));
}

#[test]
fn null_mx_exits_nohost_without_connecting() {
    let dns = Dnsmasq::start();
    // nullmx.test also has the address 127.0.0.41, which must never be used.
    let trip = Tripwire::on("127.0.0.41");
    let home = scratch();
    mx_send(home.path(), &dns, trip.addr().port())
        .arg("eve@nullmx.test")
        .assert()
        .code(68)
        .stdout(predicate::str::contains(
            "eve@nullmx.test: rejected (the domain accepts no mail",
        ));
    trip.assert_untouched();
}

#[test]
fn missing_domain_exits_nohost() {
    let dns = Dnsmasq::start();
    let home = scratch();
    mx_send(home.path(), &dns, 2525)
        .args(["--json", "x@nx.test"])
        .assert()
        .code(68)
        .stdout(
            predicate::str::contains("\"outcome\": \"rejected\"")
                .and(predicate::str::contains("NXDOMAIN")),
        );
}

#[test]
fn refused_connections_everywhere_exit_tempfail() {
    let dns = Dnsmasq::start();
    // Nothing listens on this port of 127.0.0.51: the connection is refused.
    let port = free_port(ip(51));
    let home = scratch();
    mx_send(home.path(), &dns, port)
        .arg("bob@nomx.test")
        .assert()
        .code(75)
        .stdout(
            predicate::str::contains("bob@nomx.test: deferred")
                .and(predicate::str::contains("refused")),
        );
}

#[test]
fn relay_without_mx_lookup_delivers() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &sink.addr.to_string(),
            "--tls",
            "none",
        ])
        .args([
            "--from",
            "ann@example.test",
            "--to",
            "bob@example.net",
            "--subject",
            "s",
            "--body",
            "b",
        ])
        .assert()
        .code(0)
        .stdout(format!(
            "bob@example.net: delivered by [127.0.0.1]:{}: 250 2.0.0 Ok\n",
            sink.addr.port()
        ));
}

#[test]
fn relay_requiring_tls_from_a_server_without_it_exits_tempfail() {
    // smtp-sink offers no STARTTLS: the default for a relay (required) must refuse to send.
    // Deferred, as Postfix defers it (the server may be fixed): 75, one rule for every cause.
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    mxsend(home.path())
        .args(["--no-account", "--server", &sink.addr.to_string()])
        .args([
            "--from",
            "ann@example.test",
            "--to",
            "bob@example.net",
            "--subject",
            "s",
            "--body",
            "b",
        ])
        .assert()
        .code(75)
        .stdout(predicate::str::contains("STARTTLS"));
}

#[test]
fn sendmail_t_strips_bcc_but_delivers_to_it() {
    let dns = Dnsmasq::start();
    let sink = sink_on(ip(51), None, &[]);
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"mx\"\n[accounts.mx]\ndns = \"{}\"\nport = {}\n",
            dns.addr(),
            sink.addr.port()
        )
        .as_bytes(),
    );
    let message = "From: Ann <ann@example.test>\n\
                   To: Bob <bob@nomx.test>\n\
                   Bcc: secret@nomx.test,\n  other@nomx.test\n\
                   Subject: sendmail -t\n\
                   \n\
                   first line\n\
                   .\n\
                   still the message (-i)\n";
    mxsend(home.path())
        .args(["sendmail", "-t", "-i", "-C"])
        .arg(&config)
        .write_stdin(message)
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    let (dump, stored) = only_dump(&sink);
    assert_eq!(
        dump.rcpt_args,
        ["<bob@nomx.test>", "<secret@nomx.test>", "<other@nomx.test>"],
        "every To, Cc and Bcc address is in the envelope"
    );
    assert!(
        !stored.contains("Bcc"),
        "Bcc reached the message:\n{stored}"
    );
    assert!(stored.contains("To: Bob <bob@nomx.test>"), "{stored}");
    assert!(
        stored.contains("\n.\nstill the message (-i)\n")
            || stored.contains("\r\n.\r\nstill the message (-i)"),
        "{stored}"
    );
    assert!(stored.contains("Message-ID: <"), "{stored}");
}

#[test]
fn sendmail_without_dash_i_ends_the_message_at_a_lone_dot() {
    let dns = Dnsmasq::start();
    let sink = sink_on(ip(51), None, &[]);
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"mx\"\n[accounts.mx]\ndns = \"{}\"\nport = {}\n",
            dns.addr(),
            sink.addr.port()
        )
        .as_bytes(),
    );
    // cron's command line, with a recipient argument.
    mxsend(home.path())
        .args([
            "sendmail",
            "-FCronDaemon",
            "-B8BITMIME",
            "-oem",
            "-f",
            "cron@example.test",
            "-C",
        ])
        .arg(&config)
        .arg("root@nomx.test")
        .write_stdin("Subject: cron output\n\nbefore\n.\nafter\n")
        .assert()
        .code(0);
    let (dump, stored) = only_dump(&sink);
    assert!(stored.contains("before"), "{stored}");
    assert!(!stored.contains("after"), "{stored}");
    assert!(
        stored.contains("From: \"CronDaemon\" <cron@example.test>"),
        "{stored}"
    );
    assert!(
        dump.mail_args.starts_with("<cron@example.test>"),
        "{dump:?}"
    );
}

#[test]
fn connection_lost_after_the_end_of_data_is_ambiguous_and_tempfail() {
    // smtp-sink -q .: hang up without replying to the end of data.
    let sink = SmtpSink::start(&["-q", "."], None);
    let home = scratch();
    let output = mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &sink.addr.to_string(),
            "--tls",
            "none",
            "--json",
        ])
        .args([
            "--from",
            "ann@example.test",
            "--to",
            "bob@example.net",
            "--subject",
            "s",
            "--body",
            "b",
        ])
        .output()
        .expect("run mxsend");
    assert_eq!(output.status.code(), Some(75));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(doc["recipients"][0]["outcome"], "ambiguous");
    assert_eq!(doc["recipients"][0]["reply"], serde_json::Value::Null);
    assert!(doc["recipients"][0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("end of data")));
}

#[test]
fn invoked_as_sendmail_it_is_sendmail() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let link = home.path().join("sendmail");
    std::os::unix::fs::symlink(cli_support::binary(), &link).expect("symlink");
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"relay\"\n[accounts.relay]\nserver = \"{}\"\ntls = \"none\"\n",
            sink.addr
        )
        .as_bytes(),
    );
    // git send-email's command line.
    assert_cmd::Command::new(&link)
        .env_remove("MXSEND_CONFIG")
        .env("HOME", home.path())
        .args(["-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .arg("bob@example.net")
        .write_stdin("From: ann@example.test\nSubject: [PATCH] x\n\n.\ndiff\n")
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
}

/// `mxsend` relaying through `server`, trusting only the test CA in `ca`.
fn relay_send(home: &Path, server: SocketAddr, ca: &Path) -> assert_cmd::Command {
    let mut command = mxsend(home);
    command
        .args(["--no-account", "--server", &server.to_string(), "--ca-file"])
        .arg(ca)
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "relay",
            "--body",
            "via the relay",
        ]);
    command
}

fn starttls_auth_server() -> Aiosmtpd {
    Aiosmtpd::start(
        AiosmtpdOptions {
            starttls: true,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    )
}

#[test]
fn relay_with_starttls_and_auth_delivers_and_redacts_the_secret() {
    let server = starttls_auth_server();
    let ca = server.pki().expect("a PKI for STARTTLS").ca_cert.clone();
    let home = scratch();
    relay_send(home.path(), server.addr(), &ca)
        .args([
            "-v",
            "--user",
            AUTH_USER,
            "--password-env",
            "MXSEND_TEST_PASSWORD",
        ])
        .env("MXSEND_TEST_PASSWORD", AUTH_PASSWORD)
        .arg("ok@example.net")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok@example.net: delivered"))
        .stderr(
            predicate::str::contains("\n-> STARTTLS\n")
                .and(predicate::str::contains("*** TLS started ("))
                .and(predicate::str::contains("certificate verified"))
                .and(predicate::str::contains("-> AUTH PLAIN [redacted]"))
                .and(predicate::str::contains(AUTH_PASSWORD).not()),
        );
    let envelopes = server.wait_for_envelopes(1, STORED);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    assert!(envelopes[0].tls, "the message went over TLS");
    assert_eq!(envelopes[0].rcpt_tos, ["ok@example.net"]);
}

#[test]
fn password_from_the_accounts_command_is_used() {
    let server = starttls_auth_server();
    let ca = server.pki().expect("a PKI").ca_cert.clone();
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"relay\"\n[accounts.relay]\nserver = \"{}\"\nuser = \"{AUTH_USER}\"\n\
             password_command = \"printf '%s\\\\n' '{AUTH_PASSWORD}'\"\nfrom = \"Ann <ann@example.test>\"\n\
             ca_file = \"{}\"\n",
            server.addr(),
            ca.display()
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args(["--subject", "account", "--body", "x", "ok@example.net"])
        .assert()
        .code(0);
    let envelopes = server.wait_for_envelopes(1, STORED);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    assert_eq!(envelopes[0].mail_from, "ann@example.test");
}

#[test]
fn wrong_password_exits_noperm() {
    let server = starttls_auth_server();
    let ca = server.pki().expect("a PKI").ca_cert.clone();
    let home = scratch();
    relay_send(home.path(), server.addr(), &ca)
        .args([
            "--user",
            AUTH_USER,
            "--password-env",
            "MXSEND_TEST_PASSWORD",
        ])
        .env("MXSEND_TEST_PASSWORD", "wrong")
        .arg("ok@example.net")
        .assert()
        .code(77)
        .stdout(predicate::str::contains("authentication failed"));
    assert!(server.envelopes().is_empty());
}

#[test]
fn credentials_are_never_sent_without_tls() {
    // AUTH offered in plaintext, no STARTTLS; opportunistic TLS finds none.
    let server = Aiosmtpd::start(
        AiosmtpdOptions {
            auth_require_tls: false,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    );
    let home = scratch();
    mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &server.addr().to_string(),
            "--tls",
            "opportunistic",
        ])
        .args([
            "--user",
            AUTH_USER,
            "--password-env",
            "MXSEND_TEST_PASSWORD",
            "-v",
        ])
        .env("MXSEND_TEST_PASSWORD", AUTH_PASSWORD)
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "s",
            "--body",
            "b",
            "ok@example.net",
        ])
        .assert()
        .code(77)
        .stdout(predicate::str::contains("without TLS"))
        .stderr(predicate::str::contains("-> AUTH").not());
    assert!(server.envelopes().is_empty());
}

#[test]
fn untrusted_certificate_exits_tempfail() {
    let server = starttls_auth_server();
    let home = scratch();
    // No --ca-file: the test CA is not trusted, so required TLS cannot verify the server.
    mxsend(home.path())
        .args(["--no-account", "--server", &server.addr().to_string()])
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "s",
            "--body",
            "b",
            "ok@example.net",
        ])
        .assert()
        .code(75)
        .stdout(predicate::str::contains("ok@example.net: deferred"));
    assert!(server.envelopes().is_empty());
}

#[test]
fn json_reports_each_recipients_reply_through_a_relay() {
    let server = starttls_auth_server();
    let ca = server.pki().expect("a PKI").ca_cert.clone();
    let home = scratch();
    let output = relay_send(home.path(), server.addr(), &ca)
        .args([
            "--json",
            "ok@example.net",
            "reject1@example.net",
            "defer1@example.net",
        ])
        .output()
        .expect("run mxsend");
    // One deferral makes the run "try again", whatever else happened.
    assert_eq!(output.status.code(), Some(75));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    let outcomes: Vec<(&str, &str, u64, &str)> = doc["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
                r["reply"]["code"].as_u64().unwrap_or(0),
                r["reply"]["enhanced"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ok@example.net", "delivered", 250, "2.0.0"),
            ("reject1@example.net", "rejected", 550, "5.1.1"),
            ("defer1@example.net", "deferred", 451, "4.3.0"),
        ]
    );
    let address = server.addr().to_string();
    assert!(doc["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["address"] == address.as_str()));
}

#[test]
fn delivers_by_mx_lookup_to_postfix_with_opportunistic_starttls() {
    let dns = Dnsmasq::start();
    // example.test's best MX is mx1.example.test: ::1 and 127.0.0.11. Postfix listens on the latter.
    let port = free_port(ip(11));
    let postfix = Postfix::start(PostfixOptions {
        smtp: Some(SocketAddr::new(ip(11), port)),
        implicit_tls: false,
        ..PostfixOptions::default()
    });
    let home = scratch();
    let attachment = file(home.path(), "data.bin", &[0u8, 1, 2, 255]);
    mx_send(home.path(), &dns, port)
        .arg("-v")
        .arg("--attach")
        .arg(&attachment)
        .arg("Bob <bob@example.test>")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "bob@example.test: delivered by mx1.example.test [127.0.0.11]:{port}: 250 2.0.0 Ok"
        )))
        .stderr(
            predicate::str::contains("*** TLS started (").and(predicate::str::contains(
                "certificate NOT verified (opportunistic TLS)",
            )),
        );
    let stored = String::from_utf8_lossy(&postfix.wait_for_message("bob", STORED)).into_owned();
    assert!(stored.contains("Subject: hello"), "{stored}");
    // base64 of 00 01 02 ff
    assert!(stored.contains("AAEC/w=="), "{stored}");
}
