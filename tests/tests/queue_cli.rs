//! The queue's command line: `mxsend --queue` queues what cannot be delivered now and exits
//! 0; `queue list`, `show`, `flush`, `remove`; sendmail's `-bp`, `-q` and the `mailq` link.

mod cli_support;
mod queue_support;

use std::time::Duration;

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use mxsend_tests::free_loopback_addr;
use queue_support::{count_marker, message, text, Spool};

#[test]
fn send_with_queue_exits_0_when_the_server_is_down_and_the_queue_delivers_later() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, "min_backoff = \"1h\"");
    let out = spool
        .mxsend()
        .args([
            "--no-account",
            "--queue",
            "--server",
            &addr.to_string(),
            "--tls",
            "none",
        ])
        .args([
            "--ehlo",
            "client.example.test",
            "--from",
            "ann@example.test",
        ])
        .args([
            "--to",
            "bob@example.test",
            "--subject",
            "queued",
            "--body",
            "hello",
        ])
        .args(["-H", "X-Marker: flag-queue"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("queued as"), "{stderr}");
    let entries = spool.list();
    assert_eq!(entries.len(), 1);
    let id = entries[0]["id"].as_str().unwrap().to_string();
    assert_eq!(entries[0]["recipients"][0]["state"], "pending");
    assert!(entries[0]["recipients"][0]["last_reply"]
        .as_str()
        .unwrap()
        .contains("refused"));

    // Not due for an hour: a run leaves it; flush makes it due and runs.
    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    assert!(spool.queue(&["run"]).status.success());
    assert_eq!(spool.list().len(), 1);
    let show = spool.queue(&["show", &id]);
    assert!(
        text(&show.stdout).contains("\"version\": 1"),
        "{}",
        text(&show.stdout)
    );
    let out = spool.queue(&["flush", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let messages = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(count_marker(&messages, "flag-queue"), 1);
    assert!(spool.list().is_empty());
}

#[test]
fn sendmail_bp_and_mailq_list_the_queue_and_remove_drops_an_entry() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, "");
    let out = spool.submit(
        &["-odq", "-t", "-i"],
        &message("ann@example.test", "bob@example.test", "listed"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = spool.list()[0]["id"].as_str().unwrap().to_string();
    let bp = spool.submit(&["-bp"], "");
    assert!(text(&bp.stdout).contains(&id), "{}", text(&bp.stdout));
    assert!(text(&bp.stdout).contains("<bob@example.test> pending"));
    let mailq = std::process::Command::new(spool.home.path().join("bin/mailq"))
        .env("HOME", spool.home.path())
        .env("XDG_CONFIG_HOME", spool.home.path().join(".config"))
        .env("MXSEND_QUEUE_DIR", &spool.queue)
        .output()
        .unwrap();
    assert_eq!(text(&mailq.stdout), text(&bp.stdout));
    let out = spool.queue(&["remove", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(spool.list().is_empty());
    let out = spool.queue(&["remove", &id]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("no queue entry"));
}

#[test]
fn sendmail_q_runs_the_queue() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let spool = Spool::new(server.addr(), "");
    let out = spool.submit(
        &["-odq", "-t", "-i"],
        &message("ann@example.test", "bob@example.test", "dash-q"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(server.messages().is_empty(), "-odq does not try");
    let out = spool.submit(&["-q"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let messages = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(count_marker(&messages, "dash-q"), 1);
    assert!(spool.list().is_empty());
}

/// The delivery log holds a line for every attempt: sendmail's own first try (deferred, the
/// server is down), a queue run's retry while it is still down, and the run that delivers,
/// each naming the queue entry, the attempt's number, the outcome and the reply or host.
#[test]
fn every_attempt_of_a_queued_message_leaves_a_log_line() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, "min_backoff = \"1h\"");
    let log = spool.home.path().join("delivery.log");
    spool.prepend_config(&format!("log = \"{}\"", log.display()));
    let out = spool.submit(
        &["-t", "-i"],
        &message("ann@example.test", "bob@example.test", "logged"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = spool.list()[0]["id"].as_str().unwrap().to_string();
    // Still down: flush makes it due, and the run defers it again.
    let out = spool.queue(&["flush", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(spool.list().len(), 1);
    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    let out = spool.queue(&["flush", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    server.wait_for_messages(1, Duration::from_secs(10));
    assert!(spool.list().is_empty());

    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("the delivery log")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains("to=<bob@example.test> outcome=deferred"),
        "{lines:#?}"
    );
    let retry = format!(
        "queue={id} attempt=2 from=<ann@example.test> to=<bob@example.test> outcome=deferred"
    );
    assert!(lines[1].contains(&retry), "{lines:#?}");
    assert!(lines[1].contains("refused"), "{lines:#?}");
    let delivered = format!(
        "queue={id} attempt=3 from=<ann@example.test> to=<bob@example.test> outcome=delivered"
    );
    assert!(lines[2].contains(&delivered), "{lines:#?}");
    assert!(lines[2].contains("reply=\"250"), "{lines:#?}");
}
