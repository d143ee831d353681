//! The command line a user can trust (issue 14), end to end against real servers on
//! loopback: credentials stay with their server, timeouts bound every phase, partial delivery
//! is reported in full, local names are qualified, nothing happens silently, sendmail's
//! details, the delivery log, hints where mistakes are common.

mod cli_support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use cli_support::{file, mxsend, scratch};
use mxsend_tests::smtp_sink::SmtpSink;
use predicates::prelude::*;

/// How long a server gets to store what it received.
const STORED: Duration = Duration::from_secs(10);

/// A configuration file whose default account relays to `server` in plaintext, with `extra`
/// global lines first.
fn relay_config(dir: &Path, server: &str, extra: &str) -> std::path::PathBuf {
    file(
        dir,
        "config.toml",
        format!(
            "{extra}\ndefault = \"relay\"\n[accounts.relay]\nserver = \"{server}\"\ntls = \"none\"\n"
        )
        .as_bytes(),
    )
}

#[test]
fn sendmail_writes_one_log_line_per_recipient_to_the_log_file() {
    // smtp-sink refuses the second recipient (-f RCPT answers 5xx to every RCPT, so use two
    // runs): first a delivery, then a rejection, both logged.
    let good = SmtpSink::start(&[], None);
    let home = scratch();
    let log = home.path().join("mxsend.log");
    let config = relay_config(
        home.path(),
        &good.addr.to_string(),
        &format!("log = \"{}\"", log.display()),
    );
    mxsend(home.path())
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .args(["bob@example.net", "carol@example.net"])
        .write_stdin("Subject: logged\nMessage-ID: <logged.1@example.test>\n\nbody\n")
        .assert()
        .code(0)
        .stderr("");
    good.wait_for_dumps(1, STORED);
    let refusing = SmtpSink::start(&["-f", "RCPT"], None);
    let config = relay_config(
        home.path(),
        &refusing.addr.to_string(),
        &format!("log = \"{}\"", log.display()),
    );
    mxsend(home.path())
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .arg("dave@example.net")
        .write_stdin("Subject: refused\nMessage-ID: <refused.1@example.test>\n\nbody\n")
        .assert()
        .code(67);
    let text = std::fs::read_to_string(&log).expect("the log file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let host = format!("host=127.0.0.1[127.0.0.1]:{}", good.addr.port());
    for (line, rcpt) in lines.iter().zip(["bob@example.net", "carol@example.net"]) {
        assert!(
            line.contains(&format!(
                " msgid=<logged.1@example.test> to=<{rcpt}> outcome=delivered via=relay {host} reply=\"250 2.0.0 Ok\""
            )),
            "{line}"
        );
    }
    assert!(
        lines[2].contains("msgid=<refused.1@example.test> to=<dave@example.net> outcome=rejected")
            && lines[2].contains("reply=\"5"),
        "{}",
        lines[2]
    );
    // Each line starts with its time, RFC 3339 UTC.
    for line in &lines {
        let stamp = line.split(' ').next().unwrap_or_default();
        assert!(stamp.len() == 20 && stamp.ends_with('Z'), "{line}");
    }
}

#[test]
fn sendmail_logs_to_the_syslog_socket() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let socket = home.path().join("syslog.sock");
    let receiver = UnixDatagram::bind(&socket).expect("bind the test syslog socket");
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("socket timeout");
    let config = relay_config(
        home.path(),
        &sink.addr.to_string(),
        &format!("syslog_socket = \"{}\"", socket.display()),
    );
    mxsend(home.path())
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .arg("bob@example.net")
        .write_stdin("Subject: syslog\nMessage-ID: <sys.1@example.test>\n\nbody\n")
        .assert()
        .code(0)
        .stderr("");
    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).expect("a syslog record");
    let record = String::from_utf8_lossy(&buf[..n]).into_owned();
    // mail.info (2 * 8 + 6), RFC 3164: "<22>Dec  1 14:20:05 mxsend[PID]: ..."
    assert!(record.starts_with("<22>"), "{record}");
    assert!(
        predicate::str::is_match(r"^<22>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d mxsend\[\d+\]: msgid=<sys\.1@example\.test> to=<bob@example\.net> outcome=delivered via=relay host=")
            .expect("regex")
            .eval(&record),
        "{record}"
    );
}

#[test]
fn an_unwritable_log_is_a_warning_not_a_failure() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let config = relay_config(
        home.path(),
        &sink.addr.to_string(),
        "log = \"/nonexistent-dir/mxsend.log\"",
    );
    mxsend(home.path())
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .arg("bob@example.net")
        .write_stdin("Subject: x\n\nbody\n")
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "warning: cannot write the delivery log /nonexistent-dir/mxsend.log",
        ));
}
