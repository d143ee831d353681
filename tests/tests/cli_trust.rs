//! The command line a user can trust (issue 14), end to end against real servers on
//! loopback: credentials stay with their server, timeouts bound every phase, partial delivery
//! is reported in full, local names are qualified, nothing happens silently, sendmail's
//! details, the delivery log, hints where mistakes are common.

mod cli_support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use std::net::SocketAddr;
use std::time::Instant;

use cli_support::{file, mxsend, scratch, Silent};
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions, AUTH_PASSWORD, AUTH_USER};
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::hostile::{HostileServer, Step};
use mxsend_tests::smtp_sink::SmtpSink;
use predicates::prelude::*;

/// How long a server gets to store what it received.
const STORED: Duration = Duration::from_secs(10);

/// A small message from Ann, composed by flags.
const MESSAGE_FLAGS: [&str; 6] = [
    "--from",
    "ann@example.test",
    "--subject",
    "s",
    "--body",
    "b",
];

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

/// `mxsend sendmail -i -f ann@example.test -C CONFIG`, recipients to follow.
fn sendmail_from_ann(home: &Path, config: &Path) -> assert_cmd::Command {
    let mut command = mxsend(home);
    command
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(config);
    command
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
    sendmail_from_ann(home.path(), &config)
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
    sendmail_from_ann(home.path(), &config)
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
    sendmail_from_ann(home.path(), &config)
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
    sendmail_from_ann(home.path(), &config)
        .arg("bob@example.net")
        .write_stdin("Subject: x\n\nbody\n")
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "warning: cannot write the delivery log /nonexistent-dir/mxsend.log",
        ));
}

// ---- Credentials stay with their server ----

/// aiosmtpd offering AUTH in plaintext (so a leak would succeed and be recorded), accepting
/// [`AUTH_USER`] / [`AUTH_PASSWORD`], not requiring it.
fn plaintext_auth_server() -> Aiosmtpd {
    Aiosmtpd::start(
        AiosmtpdOptions {
            auth_require_tls: false,
            ..AiosmtpdOptions::default()
        }
        .with_auth(),
    )
}

/// A configuration whose default account "work" is `server`, with a user, a password
/// command, plaintext AUTH allowed, and a `from`.
fn account_config(dir: &Path, server: SocketAddr) -> std::path::PathBuf {
    file(
        dir,
        "config.toml",
        format!(
            "default = \"work\"\n[accounts.work]\nserver = \"{server}\"\ntls = \"none\"\n\
             user = \"{AUTH_USER}\"\npassword_command = \"printf '%s\\\\n' '{AUTH_PASSWORD}'\"\n\
             allow_plaintext_auth = true\nfrom = \"Work <work@example.test>\"\n"
        )
        .as_bytes(),
    )
}

/// A ready message from Zed, so the sender is the message's unless an account's `from` wins.
fn message_from_zed(dir: &Path) -> std::path::PathBuf {
    file(
        dir,
        "message.eml",
        b"From: Zed <zed@example.test>\nTo: ok@example.net\nSubject: scope\n\nbody\n",
    )
}

#[test]
fn another_server_never_sees_the_default_accounts_credentials_tls_or_from() {
    let own = plaintext_auth_server();
    let other = plaintext_auth_server();
    let home = scratch();
    let config = account_config(home.path(), own.addr());
    let message = message_from_zed(home.path());
    // --tls none is needed for the other server (it has no TLS), and it must not make the
    // account's plaintext-AUTH permission apply either.
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args(["--server", &other.addr().to_string(), "--tls", "none", "-v"])
        .arg("--message")
        .arg(&message)
        .arg("ok@example.net")
        .assert()
        .code(0)
        .stderr(
            predicate::str::contains("Account \"work\" not used")
                .and(predicate::str::contains("-> AUTH").not()),
        );
    let envelopes = other.wait_for_envelopes(1, STORED);
    assert_eq!(envelopes[0].auth_user, None, "the other server saw AUTH");
    assert_eq!(
        envelopes[0].mail_from, "zed@example.test",
        "the account's from was used"
    );
    assert!(own.envelopes().is_empty());
}

#[test]
fn account_flag_with_server_applies_the_account_to_that_server_on_purpose() {
    let own = plaintext_auth_server();
    let other = plaintext_auth_server();
    let home = scratch();
    let config = account_config(home.path(), own.addr());
    let message = message_from_zed(home.path());
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args(["--account", "work", "--server", &other.addr().to_string()])
        .arg("--message")
        .arg(&message)
        .arg("ok@example.net")
        .assert()
        .code(0);
    let envelopes = other.wait_for_envelopes(1, STORED);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
    assert_eq!(envelopes[0].mail_from, "work@example.test");
}

#[test]
fn server_flag_naming_the_accounts_own_host_keeps_the_account() {
    let own = plaintext_auth_server();
    let home = scratch();
    let config = account_config(home.path(), own.addr());
    let message = message_from_zed(home.path());
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args(["--server", &own.addr().to_string()])
        .arg("--message")
        .arg(&message)
        .arg("ok@example.net")
        .assert()
        .code(0);
    let envelopes = own.wait_for_envelopes(1, STORED);
    assert_eq!(envelopes[0].auth_user.as_deref(), Some(AUTH_USER));
}

// ---- Timeouts bound every phase ----

/// The issue's bound: a silent server fails at the deadline plus at most one second.
const SLACK: Duration = Duration::from_secs(1);

fn assert_ended_at_deadline(started: Instant, deadline: Duration) {
    let took = started.elapsed();
    assert!(
        took >= deadline,
        "gave up after {took:?}, before the {deadline:?} deadline"
    );
    assert!(
        took <= deadline + SLACK,
        "gave up after {took:?}, later than {deadline:?} + {SLACK:?}"
    );
}

#[test]
fn relay_that_never_speaks_fails_at_the_timeout() {
    let silent = Silent::on("127.0.0.1");
    let home = scratch();
    let mut command = mxsend(home.path());
    let started = Instant::now();
    command
        .args(["--no-account", "--server", &silent.addr().to_string()])
        .args(["--tls", "none", "--timeout", "2"])
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(75)
        .stdout(
            predicate::str::contains("bob@example.net: deferred")
                .and(predicate::str::contains("greeting")),
        );
    assert_ended_at_deadline(started, Duration::from_secs(2));
    assert_eq!(silent.connections(), 1);
}

#[test]
fn sendmail_takes_its_timeout_from_the_configuration() {
    let silent = Silent::on("127.0.0.1");
    let home = scratch();
    // The global key, used by the account that sets none.
    let config = relay_config(home.path(), &silent.addr().to_string(), "timeout = 2");
    let mut command = mxsend(home.path());
    let started = Instant::now();
    command
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .arg("bob@example.net")
        .write_stdin("Subject: cron\n\nbody\n")
        .assert()
        // Timed out: temporary, so the message is queued and sendmail's caller sees 0.
        .code(0)
        .stderr(predicate::str::contains("queued as").and(predicate::str::contains("greeting")));
    assert_ended_at_deadline(started, Duration::from_secs(2));
}

#[test]
fn an_accounts_timeout_bounds_mx_delivery_in_sendmail_mode() {
    let dns = Dnsmasq::start();
    // nomx.test has no MX: its address, 127.0.0.51, is the implicit MX.
    let silent = Silent::on("127.0.0.51");
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "timeout = 30\ndefault = \"mx\"\n[accounts.mx]\ndns = \"{}\"\nport = {}\ntimeout = 2\n",
            dns.addr(),
            silent.addr().port()
        )
        .as_bytes(),
    );
    let mut command = mxsend(home.path());
    let started = Instant::now();
    command
        .args(["sendmail", "-i", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .arg("bob@nomx.test")
        .write_stdin("Subject: cron\n\nbody\n")
        .assert()
        .code(0)
        .stderr(predicate::str::contains("queued as"));
    assert_ended_at_deadline(started, Duration::from_secs(2));
    assert!(silent.connections() >= 1);
}

#[test]
fn the_timeout_bounds_the_reply_to_the_end_of_data() {
    // A scripted server that takes the message and then says nothing.
    let server = HostileServer::start(vec![
        Step::Send(b"220 slow.example.test ESMTP\r\n".to_vec()),
        Step::Expect("EHLO"),
        Step::Send(b"250 slow.example.test\r\n".to_vec()),
        Step::Expect("MAIL FROM"),
        Step::Send(b"250 2.1.0 Ok\r\n".to_vec()),
        Step::Expect("RCPT TO"),
        Step::Send(b"250 2.1.5 Ok\r\n".to_vec()),
        Step::Expect("DATA"),
        Step::Send(b"354 go ahead\r\n".to_vec()),
        Step::ReadUntilDot,
        Step::Sleep(Duration::from_secs(5)),
    ]);
    let home = scratch();
    let mut command = mxsend(home.path());
    let started = Instant::now();
    command
        .args(["--no-account", "--server", &server.addr().to_string()])
        .args(["--tls", "none", "--timeout", "2", "--json"])
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(75)
        .stdout(predicate::str::contains("\"outcome\": \"ambiguous\""));
    assert_ended_at_deadline(started, Duration::from_secs(2));
}

#[test]
fn the_timeout_bounds_the_wait_for_the_data_reply() {
    // smtp-sink -w 30: a reply to DATA only after 30 seconds.
    let sink = SmtpSink::start(&["-w", "30"], None);
    let home = scratch();
    let mut command = mxsend(home.path());
    let started = Instant::now();
    command
        .args(["--no-account", "--server", &sink.addr.to_string()])
        .args(["--tls", "none", "--timeout", "2"])
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(75)
        .stdout(
            predicate::str::contains("bob@example.net: deferred")
                .and(predicate::str::contains("timed out")),
        );
    assert_ended_at_deadline(started, Duration::from_secs(2));
}

// ---- Partial delivery is visible ----

fn ip(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last))
}

#[test]
fn a_partial_delivery_names_every_recipient_in_both_modes() {
    let dns = Dnsmasq::start();
    let port = mxsend_tests::free_port(ip(51));
    // nomx.test's implicit MX is 127.0.0.51, cname.test's MX is 127.0.0.61.
    let good = SmtpSink::start(&[], Some(SocketAddr::new(ip(51), port)));
    let _refusing = SmtpSink::start(&["-f", "RCPT"], Some(SocketAddr::new(ip(61), port)));
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "log = \"none\"\ndefault = \"mx\"\n[accounts.mx]\ndns = \"{}\"\nport = {port}\n",
            dns.addr()
        )
        .as_bytes(),
    );
    let summary = "partial delivery: 1 of 2 recipients delivered; not delivered: \
                   carol@cname.test (rejected); resend only to those";
    // sendmail mode (mutt's command line): everything on standard error, the delivered one too.
    mxsend(home.path())
        .args(["sendmail", "-oem", "-oi", "-f", "ann@example.test", "-C"])
        .arg(&config)
        .args(["--", "bob@nomx.test", "carol@cname.test"])
        .write_stdin("Subject: two\n\nbody\n")
        .assert()
        .code(67)
        .stdout("")
        .stderr(
            predicate::str::contains(format!(
                "bob@nomx.test: delivered by nomx.test [127.0.0.51]:{port}: 250"
            ))
            .and(predicate::str::contains("carol@cname.test: rejected by"))
            .and(predicate::str::contains(summary)),
        );
    // The command's own report: on standard output, same lines.
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "two",
            "--body",
            "b",
        ])
        .args(["bob@nomx.test", "carol@cname.test"])
        .assert()
        .code(67)
        .stdout(
            predicate::str::contains("bob@nomx.test: delivered")
                .and(predicate::str::contains(summary)),
        );
    assert_eq!(good.wait_for_dumps(2, STORED).len(), 2);
}

// ---- Local and unqualified addresses ----

#[test]
fn cron_mail_to_root_goes_to_its_alias_with_qualified_headers() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let aliases = file(
        home.path(),
        "aliases",
        b"# like /etc/aliases\npostmaster: root\nroot: admin@example.test\n",
    );
    let config = relay_config(
        home.path(),
        &sink.addr.to_string(),
        &format!(
            "log = \"none\"\ndefault_domain = \"host.example.test\"\naliases = \"{}\"",
            aliases.display()
        ),
    );
    // Debian cron's command line and message.
    mxsend(home.path())
        .args(["sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-C"])
        .arg(&config)
        .arg("postmaster")
        .write_stdin(
            "From: root (Cron Daemon)\nTo: postmaster\nSubject: Cron <root@host> run-parts\n\
             Content-Type: text/plain; charset=UTF-8\n\nthe job's output\n",
        )
        .assert()
        .code(0)
        .stderr("");
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(dumps[0].rcpt_args, ["<admin@example.test>"]);
    assert!(
        dumps[0].mail_args.starts_with("<root@host.example.test>"),
        "{:?}",
        dumps[0].mail_args
    );
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(
        stored.contains("From: root@host.example.test (Cron Daemon)"),
        "{stored}"
    );
    assert!(
        stored.contains("To: postmaster@host.example.test"),
        "{stored}"
    );
}

#[test]
fn logwatch_mail_to_root_is_qualified_by_the_default_domain() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let config = relay_config(
        home.path(),
        &sink.addr.to_string(),
        "log = \"none\"\ndefault_domain = \"example.test\"",
    );
    // logwatch: sendmail -t with To: root, no From.
    mxsend(home.path())
        .args(["sendmail", "-t", "-C"])
        .arg(&config)
        .env("LOGNAME", "logwatch")
        .write_stdin("To: root\nSubject: Logwatch for host\n\nall quiet\n")
        .assert()
        .code(0);
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(dumps[0].rcpt_args, ["<root@example.test>"]);
    assert!(dumps[0].mail_args.starts_with("<logwatch@example.test>"));
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(stored.contains("To: root@example.test"), "{stored}");
}

#[test]
fn a_bare_name_without_default_domain_or_aliases_is_refused_naming_both() {
    let trip = cli_support::Tripwire::new();
    let home = scratch();
    let config = relay_config(home.path(), &trip.server(), "log = \"none\"");
    sendmail_from_ann(home.path(), &config)
        .arg("root")
        .write_stdin("Subject: x\n\nbody\n")
        .assert()
        .code(64)
        .stderr(
            predicate::str::contains("\"root\" is a local name")
                .and(predicate::str::contains("default_domain"))
                .and(predicate::str::contains("aliases")),
        );
    trip.assert_untouched();
}

// ---- No silent surprises ----

#[test]
fn sendmail_without_a_configuration_says_it_delivers_by_mx_lookup() {
    // Without a configuration there is no --port or --dns: deliver to an address literal
    // (no DNS query at all) on port 25 of a loopback address of its own.
    let sink = SmtpSink::start(&[], Some(SocketAddr::new(ip(214), 25)));
    let home = scratch();
    mxsend(home.path())
        .args([
            "sendmail",
            "-i",
            "-f",
            "ann@example.test",
            "bob@[127.0.0.214]",
        ])
        .write_stdin("Subject: x\n\nbody\n")
        .assert()
        .code(0)
        .stderr(format!(
            "mxsend: no configuration at {}: delivering directly by MX lookup\n",
            home.path().join(".config/mxsend/config.toml").display()
        ));
    assert_eq!(
        sink.wait_for_dumps(1, STORED)[0].rcpt_args,
        ["<bob@[127.0.0.214]>"]
    );
}

#[test]
fn no_account_reads_no_configuration_at_all() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    // A broken file at the default location and in MXSEND_CONFIG: never read.
    let broken = file(home.path(), "broken.toml", b"this is [not toml\n");
    std::fs::create_dir_all(home.path().join(".config/mxsend")).expect("config dir");
    std::fs::copy(&broken, home.path().join(".config/mxsend/config.toml")).expect("copy");
    mxsend(home.path())
        .env("MXSEND_CONFIG", &broken)
        .args([
            "--no-account",
            "--server",
            &sink.addr.to_string(),
            "--tls",
            "none",
        ])
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(0);
    // Without --no-account the same file is an error.
    mxsend(home.path())
        .args(["--server", &sink.addr.to_string(), "--tls", "none"])
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(78);
}

#[test]
fn the_from_field_mxsend_adds_keeps_the_accounts_display_name() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "log = \"none\"\ndefault = \"relay\"\n[accounts.relay]\nserver = \"{}\"\ntls = \"none\"\n\
             from = \"Alice Example <alice@example.test>\"\n",
            sink.addr
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .args(["sendmail", "-t", "-i", "-C"])
        .arg(&config)
        .write_stdin("To: bob@example.net\nSubject: no From\n\nbody\n")
        .assert()
        .code(0);
    let dumps = sink.wait_for_dumps(1, STORED);
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(
        stored.contains("From: \"Alice Example\" <alice@example.test>"),
        "{stored}"
    );
    assert!(dumps[0].mail_args.starts_with("<alice@example.test>"));
}

// ---- sendmail compatibility details ----

/// A home whose default configuration (`~/.config/mxsend/config.toml`) relays to `server`,
/// with `extra` global lines.
fn home_with_config(server: &str, extra: &str) -> tempfile::TempDir {
    let home = scratch();
    let dir = home.path().join(".config/mxsend");
    std::fs::create_dir_all(&dir).expect("config directory");
    relay_config(&dir, server, extra);
    home
}

#[test]
fn version_answers_in_every_personality() {
    let home = scratch();
    let version = env!("CARGO_PKG_VERSION");
    mxsend(home.path())
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(version));
    mxsend(home.path())
        .args(["sendmail", "--version"])
        .assert()
        .code(0)
        .stdout(format!("mxsend {version} (sendmail personality)\n"));
    let link = home.path().join("sendmail");
    std::os::unix::fs::symlink(cli_support::binary(), &link).expect("symlink");
    assert_cmd::Command::new(&link)
        .env("HOME", home.path())
        .arg("--version")
        .assert()
        .code(0)
        .stdout(format!("mxsend {version} (sendmail personality)\n"));
}

#[test]
fn a_leading_mbox_from_line_is_dropped() {
    let sink = SmtpSink::start(&[], None);
    let home = home_with_config(&sink.addr.to_string(), "log = \"none\"");
    mxsend(home.path())
        .args(["sendmail", "-i", "bob@example.net"])
        .write_stdin(
            "From ann@example.test Tue Dec  1 14:00:00 2026\nFrom: Ann <ann@example.test>\n\
             Subject: saved from a mailbox\n\nbody\n",
        )
        .assert()
        .code(0)
        .stderr("");
    let dumps = sink.wait_for_dumps(1, STORED);
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(!stored.contains("From ann@example.test Tue"), "{stored}");
    assert!(stored.contains("From: Ann <ann@example.test>"), "{stored}");
    assert!(dumps[0].mail_args.starts_with("<ann@example.test>"));
}

#[test]
fn dash_t_on_a_resent_message_uses_the_resent_fields() {
    let sink = SmtpSink::start(&[], None);
    let home = home_with_config(&sink.addr.to_string(), "log = \"none\"");
    mxsend(home.path())
        .args(["sendmail", "-t", "-i"])
        .write_stdin(
            "Resent-From: ann@example.test\nResent-To: carol@example.net\n\
             Resent-Bcc: dave@example.net\nFrom: bob@example.org\nTo: ann@example.test\n\
             Subject: forwarded\n\nbody\n",
        )
        .assert()
        .code(0);
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(
        dumps[0].rcpt_args,
        ["<carol@example.net>", "<dave@example.net>"]
    );
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(!stored.contains("dave@"), "{stored}");
}

#[test]
fn git_send_email_with_mxsend_as_its_smtp_server_delivers_the_patch() {
    let sink = SmtpSink::start(&[], None);
    let home = home_with_config(&sink.addr.to_string(), "log = \"none\"");
    let repo = home.path().join("repo");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .current_dir(&repo)
            .env("HOME", home.path())
            .args(["-c", "user.name=Ann", "-c", "user.email=ann@example.test"])
            .args(args)
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?}");
    };
    std::fs::create_dir_all(&repo).expect("repo directory");
    git(&["init", "-q"]);
    std::fs::write(repo.join("file.txt"), "hello\n.\nworld\n").expect("a file");
    git(&["add", "file.txt"]);
    git(&["commit", "-q", "-m", "add a file"]);
    git(&["format-patch", "-q", "-1"]);
    // git send-email runs `mxsend -i [-f FROM] TO...`: mxsend by its own name.
    git(&[
        "send-email",
        &format!("--smtp-server={}", cli_support::binary().display()),
        "--to=bob@example.net",
        "--from=Ann <ann@example.test>",
        "--envelope-sender=ann@example.test",
        "--confirm=never",
        "--suppress-cc=all",
        "--quiet",
        "0001-add-a-file.patch",
    ]);
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(dumps[0].rcpt_args, ["<bob@example.net>"]);
    assert!(dumps[0].mail_args.starts_with("<ann@example.test>"));
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(stored.contains("Subject: [PATCH] add a file"), "{stored}");
    // -i: the lone dot in the patch is content, not the end of the message.
    assert!(
        stored.contains("+.\n+world") || stored.contains("+.\r\n+world"),
        "{stored}"
    );
}

#[test]
fn s_nail_mailing_root_through_mxsend_reaches_roots_alias() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    let aliases = file(home.path(), "aliases", b"root: admin@example.test\n");
    let dir = home.path().join(".config/mxsend");
    std::fs::create_dir_all(&dir).expect("config directory");
    relay_config(
        &dir,
        &sink.addr.to_string(),
        &format!(
            "log = \"none\"\ndefault_domain = \"host.example.test\"\naliases = \"{}\"",
            aliases.display()
        ),
    );
    // s-nail runs `MTA -i -- root`, mxsend by its own name. (It sets HOME from the password
    // database for the MTA, so the configuration is found through XDG_CONFIG_HOME.)
    let status = std::process::Command::new("s-nail")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env_remove("MXSEND_CONFIG")
        .env("MAILRC", "/dev/null")
        .args([
            "-n",
            "-S",
            &format!("mta={}", cli_support::binary().display()),
        ])
        .args(["-s", "nightly report", "root"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"all good\n")?;
            child.wait()
        })
        .expect("run s-nail");
    assert!(status.success(), "s-nail: {status}");
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(dumps[0].rcpt_args, ["<admin@example.test>"]);
    // The sender: the user's name, qualified by the default domain.
    assert!(
        dumps[0].mail_args.contains("@host.example.test>"),
        "{:?}",
        dumps[0].mail_args
    );
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    assert!(stored.contains("To: root@host.example.test"), "{stored}");
}

// ---- Hints where the mistake is common ----

#[test]
fn starttls_against_an_implicit_tls_port_hints_tls_implicit() {
    let server = Aiosmtpd::start(AiosmtpdOptions {
        implicit_tls: true,
        ..AiosmtpdOptions::default()
    });
    let ca = server.pki().expect("a PKI").ca_cert.clone();
    let home = scratch();
    mxsend(home.path())
        .args(["--no-account", "--server", &server.addr().to_string()])
        .args(["--tls", "required", "--timeout", "2", "--ca-file"])
        .arg(&ca)
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(75)
        .stdout(predicate::str::contains("bob@example.net: deferred"))
        .stderr(
            predicate::str::ends_with("use --tls implicit\n")
                .and(predicate::str::contains("mxsend: hint: ")),
        );
    // And the hinted flag works.
    mxsend(home.path())
        .args(["--no-account", "--server", &server.addr().to_string()])
        .args(["--tls", "implicit", "--timeout", "10", "--ca-file"])
        .arg(&ca)
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .code(0);
}

#[test]
fn implicit_tls_against_a_plaintext_port_hints_tls_required() {
    let sink = SmtpSink::start(&[], None);
    let home = scratch();
    mxsend(home.path())
        .args(["--no-account", "--server", &sink.addr.to_string()])
        .args(["--tls", "implicit", "--timeout", "5"])
        .args(MESSAGE_FLAGS)
        .arg("bob@example.net")
        .assert()
        .failure()
        .stderr(predicate::str::ends_with(
            "answered in plaintext, not TLS; if it offers STARTTLS (as port 587 does), use --tls required\n",
        ));
}

#[test]
fn an_unknown_flag_suggests_the_nearest_one() {
    let home = scratch();
    mxsend(home.path())
        .args(["--sever", "smtp.example.com", "--to", "bob@example.net"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains(
            "unexpected argument '--sever' found; a similar argument exists: '--server'",
        ));
}

#[test]
fn an_unquoted_tls_value_in_the_configuration_says_to_quote_it() {
    let trip = cli_support::Tripwire::new();
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"a\"\n[accounts.a]\nserver = \"{}\"\ntls = none\n",
            trip.server()
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args([
            "--from",
            "ann@example.test",
            "--to",
            "bob@example.net",
            "--body",
            "b",
        ])
        .assert()
        .code(78)
        .stderr(
            predicate::str::contains("line 4: ").and(predicate::str::contains(
                "text values need quotes: tls = \"none\"",
            )),
        );
    trip.assert_untouched();
}

/// A server that takes the envelope, says 354 and then reads nothing more: the socket
/// buffers fill and the client's writes of the body stop making progress. (The scripted
/// hostile server took the whole body while it slept, so this one is written out here.)
fn stop_reading_after_354() -> SocketAddr {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        let _ = stream.write_all(b"220 stuck.example.test ESMTP\r\n");
        // One octet at a time, so nothing of the body is read early.
        while stream.read(&mut byte).is_ok_and(|n| n == 1) {
            line.push(byte[0]);
            if byte[0] != b'\n' {
                continue;
            }
            let command = String::from_utf8_lossy(&line).to_ascii_uppercase();
            line.clear();
            let reply: &[u8] = if command.starts_with("DATA") {
                b"354 go ahead\r\n"
            } else {
                b"250 Ok\r\n"
            };
            let _ = stream.write_all(reply);
            if command.starts_with("DATA") {
                std::thread::sleep(Duration::from_secs(10));
                return;
            }
        }
    });
    addr
}

#[test]
fn the_timeout_bounds_the_writes_of_the_body() {
    let server = stop_reading_after_354();
    let home = scratch();
    // More than loopback's socket buffers hold.
    let line = "the same line of text, again and again, until the buffers are full\n";
    let body = file(home.path(), "body.txt", line.repeat(250_000).as_bytes());
    let mut command = mxsend(home.path());
    let started = Instant::now();
    command
        .args(["--no-account", "--server", &server.to_string()])
        .args(["--tls", "none", "--timeout", "2", "--json"])
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "big",
            "--body-file",
        ])
        .arg(&body)
        .arg("bob@example.net")
        .assert()
        .code(75)
        .stdout(
            predicate::str::contains("\"outcome\": \"deferred\"")
                .and(predicate::str::contains("during message body")),
        );
    // Each write that makes no progress for 2 s fails; the kernel may still take a few
    // kilobytes now and then as it grows its buffers, and each is progress, so the bound
    // here is only "far below the 3 minutes RFC 5321 allows a block".
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "gave up after {took:?}");
}

#[test]
fn mutt_with_mxsend_as_its_sendmail_delivers_the_message_as_written() {
    let sink = SmtpSink::start(&[], None);
    let home = home_with_config(&sink.addr.to_string(), "log = \"none\"");
    // mutt runs `$sendmail -- addr...` (its default adds -oem -oi; a bare path does not).
    let status = std::process::Command::new("mutt")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env_remove("MXSEND_CONFIG")
        .args(["-n", "-F", "/dev/null"])
        .args([
            "-e",
            &format!("set sendmail=\"{}\"", cli_support::binary().display()),
        ])
        .args(["-e", "set from=\"Ann <ann@example.test>\""])
        .args(["-e", "set use_envelope_from=yes"])
        .args(["-s", "from mutt", "bob@example.net"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"written in mutt\n")?;
            child.wait()
        })
        .expect("run mutt");
    assert!(status.success(), "mutt: {status}");
    let dumps = sink.wait_for_dumps(1, STORED);
    assert_eq!(dumps[0].rcpt_args, ["<bob@example.net>"]);
    assert!(dumps[0].mail_args.starts_with("<ann@example.test>"));
    let stored = String::from_utf8_lossy(&dumps[0].message).into_owned();
    // mutt's own message, not a new one wrapping it as a body.
    assert!(stored.contains("Subject: from mutt"), "{stored}");
    assert_eq!(stored.matches("Subject:").count(), 1, "{stored}");
}
