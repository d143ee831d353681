//! Concurrency: two `queue run`s and a `queue daemon` started together over 1,000 queued
//! messages deliver each exactly once (aiosmtpd counting), thanks to the per-entry locks.

mod cli_support;
mod queue_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use mxsend::queue::Store;
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use queue_support::{library_enqueue, library_queue, marker_counts, text, Spool};

const MESSAGES: usize = 1000;

#[test]
fn two_runs_and_a_daemon_deliver_each_of_1000_messages_exactly_once() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let spool = Spool::new(server.addr(), "");
    let queue = library_queue(&spool.queue);
    for i in 0..MESSAGES {
        library_enqueue(&queue, server.addr(), &format!("c{i}"));
    }
    let start = |args: &[&str], stderr: Stdio| {
        spool
            .command()
            .arg("queue")
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start mxsend queue")
    };
    // The daemon logs every attempt: to a file, as a pipe nobody reads would block it.
    let log = std::fs::File::create(spool.home.path().join("daemon.log")).expect("log");
    let mut daemon = start(&["daemon"], Stdio::from(log));
    let runs = [
        start(&["run"], Stdio::piped()),
        start(&["run"], Stdio::piped()),
    ];
    let deadline = Instant::now() + Duration::from_secs(300);
    while !queue.store().list().expect("list").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the queue did not empty: {:#?}",
            spool.list().iter().take(3).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for run in runs {
        let out = run.wait_with_output().expect("queue run");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let messages = server.wait_for_messages(MESSAGES, Duration::from_secs(60));
    // Anything sent twice would have arrived by now.
    std::thread::sleep(Duration::from_secs(1));
    let messages = if server.messages().len() > messages.len() {
        server.messages()
    } else {
        messages
    };
    daemon.kill().expect("stop the daemon");
    let _ = daemon.wait();
    let counts = marker_counts(&messages);
    assert_eq!(counts.len(), MESSAGES, "every message arrived");
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(messages.len(), MESSAGES);
}
