//! Greylisting (aiosmtpd answering `451 4.7.1` to the first attempt of a (sender, recipient,
//! client) triple, accepting after a few seconds): `sendmail` queues the message and exits 0;
//! `queue run` or the daemon delivers it once, with the schedule shortened by configuration.

mod cli_support;
mod queue_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use queue_support::{count_marker, message, text, Spool};

const GREYLIST_SECS: f64 = 2.0;
const SCHEDULE: &str = "min_backoff = \"1s\"\nmax_backoff = \"1s\"";

fn greylisting_server() -> Aiosmtpd {
    Aiosmtpd::start(AiosmtpdOptions {
        greylist: Some(GREYLIST_SECS),
        ..AiosmtpdOptions::default()
    })
}

#[test]
fn greylisted_message_is_queued_then_delivered_once_by_queue_run() {
    let server = greylisting_server();
    let spool = Spool::new(server.addr(), SCHEDULE);
    let submitted = Instant::now();
    let out = spool.submit(
        &["-t", "-i"],
        &message("ann@example.test", "bob@example.test", "grey-run"),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("451 4.7.1"), "{stderr}");
    assert!(
        stderr.contains("queued as") && stderr.contains("next attempt"),
        "{stderr}"
    );
    assert_eq!(spool.list().len(), 1);

    let log = spool.run_until_empty(Duration::from_secs(30));
    assert!(
        submitted.elapsed() >= Duration::from_secs_f64(GREYLIST_SECS),
        "delivered before the greylist expired? {log}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let messages = server.messages();
    assert_eq!(count_marker(&messages, "grey-run"), 1, "{log}");
    assert_eq!(messages.len(), 1);
}

#[test]
fn greylisted_message_is_delivered_once_by_the_daemon() {
    let server = greylisting_server();
    let spool = Spool::new(server.addr(), SCHEDULE);
    let log_path = spool.home.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("daemon log");
    let mut daemon = spool
        .command()
        .args(["queue", "daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start the queue daemon");
    // The daemon's wake-up socket, so the submission wakes it.
    assert!(queue_support::wait_for_path(
        &spool.queue.join("wakeup"),
        Duration::from_secs(20)
    ));
    let out = spool.submit(
        &["-i", "-f", "ann@example.test", "bob@example.test"],
        &message("ann@example.test", "bob@example.test", "grey-daemon"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("451 4.7.1"));
    let messages = server.wait_for_messages(1, Duration::from_secs(30));
    assert_eq!(count_marker(&messages, "grey-daemon"), 1);
    // Nothing more comes: the entry is gone and the daemon does not send it again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(server.messages().len(), 1);
    assert!(spool.list().is_empty());
    daemon.kill().expect("stop the daemon");
    daemon.wait().expect("reap the daemon");
    let log = std::fs::read_to_string(&log_path).expect("daemon log");
    assert!(log.contains("delivered"), "{log}");
}
