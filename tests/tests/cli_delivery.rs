//! The `mxsend` binary delivering for real: MX lookup through dnsmasq, then SMTP to
//! Postfix's smtp-sink on 127.0.0.x, each outcome checked in the exit status, the human
//! report, `--json` and (for sendmail `-t`) the message as the server stored it.
//!
//! The zone (`tests/peers/dnsmasq.conf`): nomx.test has no MX and the address 127.0.0.51 (the
//! implicit MX), cname.test's MX is 127.0.0.61, xn--bcher-kva.test's is 127.0.0.71,
//! nullmx.test publishes a null MX. Every exchange is reached on one port, `--port`.

mod cli_support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use cli_support::{file, mxsend, scratch, Tripwire};
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::sink::{free_port, Sink};
use predicates::prelude::*;

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

/// The messages an smtp-sink started with [`dumping`] stored, as text.
fn dumped(dir: &Path) -> Vec<String> {
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .expect("dump directory")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("dumped message"))
        .collect();
    texts.sort();
    texts
}

/// smtp-sink flags that dump each transaction into `dir` (made writable for the sink's
/// unprivileged user).
fn dumping(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    vec!["-d".into(), format!("{}/%H%M%S.", dir.display())]
}

#[test]
fn delivers_by_mx_lookup_with_a_transcript() {
    let dns = Dnsmasq::start();
    let sink = Sink::start_on(ip(51), None, &[]);
    let home = scratch();
    mx_send(home.path(), &dns, sink.addr().port())
        .arg("-v")
        .arg("bob@nomx.test")
        .assert()
        .code(0)
        .stdout(format!(
            "bob@nomx.test: delivered by nomx.test [127.0.0.51]:{}: 250 2.0.0 Ok\n",
            sink.addr().port()
        ))
        .stderr(
            predicate::str::contains(format!(
                "*** Connecting to nomx.test [127.0.0.51]:{}",
                sink.addr().port()
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
    let dump = scratch();
    let sink = Sink::start_on(
        ip(51),
        None,
        &dumping(dump.path())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let home = scratch();
    let attachment = file(home.path(), "report.csv", b"a,b\n1,2\n");
    mx_send(home.path(), &dns, sink.addr().port())
        .arg("--attach")
        .arg(&attachment)
        .arg("bob@nomx.test")
        .assert()
        .code(0);
    drop(sink);
    let messages = dumped(dump.path());
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("Content-Type: text/csv; name=\"report.csv\""),
        "{}",
        messages[0]
    );
    // base64 of "a,b\n1,2\n"
    assert!(messages[0].contains("YSxiCjEsMgo="), "{}", messages[0]);
}

#[test]
fn rejected_recipient_exits_nouser_with_the_reply_in_json() {
    let dns = Dnsmasq::start();
    let port = free_port(ip(51));
    let good = Sink::start_on(ip(51), Some(port), &[]);
    let refusing = Sink::start_on(ip(61), Some(port), &["-f", "RCPT"]);
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
    assert_eq!(bob["address"], good.addr().to_string());
    let carol = &doc["recipients"][1];
    assert_eq!(carol["recipient"], "carol@cname.test");
    assert_eq!(carol["outcome"], "rejected");
    assert_eq!(carol["reply"]["code"].as_u64().map(|c| c / 100), Some(5));
    // The exchange as the MX record names it (a CNAME is followed for its address only).
    assert_eq!(carol["host"], "alias.cname.test");
    assert_eq!(carol["address"], refusing.addr().to_string());
    assert_eq!(carol["error"], serde_json::Value::Null);
}

#[test]
fn deferred_recipient_exits_tempfail_even_next_to_a_rejection() {
    let dns = Dnsmasq::start();
    let port = free_port(ip(61));
    let _refusing = Sink::start_on(ip(61), Some(port), &["-f", "RCPT"]);
    let _deferring = Sink::start_on(ip(71), Some(port), &["-r", "RCPT"]);
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
    let sink = Sink::start(&[]);
    let home = scratch();
    mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &sink.addr().to_string(),
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
            sink.addr().port()
        ));
}

#[test]
fn relay_requiring_tls_from_a_server_without_it_exits_unavailable() {
    // smtp-sink offers no STARTTLS: the default for a relay (required) must refuse to send.
    let sink = Sink::start(&[]);
    let home = scratch();
    mxsend(home.path())
        .args(["--no-account", "--server", &sink.addr().to_string()])
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
        .code(69)
        .stdout(predicate::str::contains("STARTTLS"));
}

#[test]
fn sendmail_t_strips_bcc_but_delivers_to_it() {
    let dns = Dnsmasq::start();
    let dump = scratch();
    let sink = Sink::start_on(
        ip(51),
        None,
        &dumping(dump.path())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"mx\"\n[accounts.mx]\ndns = \"{}\"\nport = {}\n",
            dns.addr(),
            sink.addr().port()
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
    drop(sink);
    let messages = dumped(dump.path());
    assert_eq!(messages.len(), 1, "{messages:?}");
    let stored = &messages[0];
    for rcpt in ["bob@nomx.test", "secret@nomx.test", "other@nomx.test"] {
        assert!(
            stored.contains(&format!("X-Rcpt-Args: <{rcpt}>")),
            "{rcpt} not in the envelope:\n{stored}"
        );
    }
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
    let dump = scratch();
    let sink = Sink::start_on(
        ip(51),
        None,
        &dumping(dump.path())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"mx\"\n[accounts.mx]\ndns = \"{}\"\nport = {}\n",
            dns.addr(),
            sink.addr().port()
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
    drop(sink);
    let messages = dumped(dump.path());
    assert_eq!(messages.len(), 1, "{messages:?}");
    let stored = &messages[0];
    assert!(stored.contains("before"), "{stored}");
    assert!(!stored.contains("after"), "{stored}");
    assert!(
        stored.contains("From: \"CronDaemon\" <cron@example.test>"),
        "{stored}"
    );
    assert!(
        stored.contains("X-Mail-Args: <cron@example.test>"),
        "{stored}"
    );
}

#[test]
fn connection_lost_after_the_end_of_data_is_ambiguous_and_tempfail() {
    // smtp-sink -q .: hang up without replying to the end of data.
    let sink = Sink::start(&["-q", "."]);
    let home = scratch();
    let output = mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &sink.addr().to_string(),
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
    let sink = Sink::start(&[]);
    let home = scratch();
    let link = home.path().join("sendmail");
    std::os::unix::fs::symlink(cli_support::binary(), &link).expect("symlink");
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"relay\"\n[accounts.relay]\nserver = \"{}\"\ntls = \"none\"\n",
            sink.addr()
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
