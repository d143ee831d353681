//! Crash safety: a `queue run` killed with SIGKILL at random points (before anything is
//! written, mid-DATA, after the final `.` and before the state is saved, after it) over 200
//! rounds against a real server (aiosmtpd). Nothing is lost, and a message arrives twice
//! only when the kill fell in the ambiguous window: the server had the message and the
//! queue had not recorded it. The duplicates are counted and printed.

mod cli_support;
mod queue_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use mxsend::queue::{QueueError, RecipientState, Store};
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use queue_support::{library_enqueue, library_queue, marker_counts, Spool};

const ROUNDS: usize = 200;
const PER_ROUND: usize = 3;

#[derive(Debug, Default)]
struct Tally {
    /// Killed before the server had any of the round's messages.
    before_delivery: usize,
    /// The server had a message the queue had not recorded: it is sent again.
    ambiguous_window: usize,
    /// The queue had recorded the delivery.
    after_record: usize,
    /// The run finished before the kill.
    finished: usize,
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_duplicates_only_in_the_ambiguous_window() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let spool = Spool::new(server.addr(), "");
    let queue = library_queue(&spool.queue);
    let mut rng = fastrand::Rng::with_seed(0x5EED_0015);
    let mut tally = Tally::default();
    let mut expected_duplicates = 0usize;
    let mut seq = 0usize;
    // A run's length here, to spread the kills over it.
    let mut span = Duration::from_millis(60);

    for round in 0..ROUNDS {
        let records: Vec<_> = (0..PER_ROUND)
            .map(|_| {
                seq += 1;
                let marker = format!("m{seq}");
                (library_enqueue(&queue, server.addr(), &marker), marker)
            })
            .collect();
        let kill_after = if round < 3 {
            Duration::from_secs(30)
        } else {
            span.mul_f64(rng.f64() * 1.3)
        };
        let started = Instant::now();
        let mut run = spool
            .command()
            .args(["queue", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("queue run");
        let mut killed = false;
        loop {
            if run.try_wait().expect("wait").is_some() {
                break;
            }
            if started.elapsed() >= kill_after {
                run.kill().expect("SIGKILL");
                run.wait().expect("reap");
                killed = true;
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        if round < 3 {
            span = span.max(started.elapsed());
        }
        // Let the server finish storing what it was sent before the kill.
        std::thread::sleep(Duration::from_millis(150));
        let seen = marker_counts(&server.messages());
        let mut in_window = 0;
        let mut recorded = 0;
        for (record, marker) in &records {
            let arrived = seen.get(marker).copied().unwrap_or(0);
            assert!(arrived <= 1, "{marker} arrived {arrived} times in one run");
            let done = match queue.store().read(&record.id) {
                Err(QueueError::NoSuchEntry(_)) => true,
                Ok(r) => r.recipients[0].state == RecipientState::Delivered,
                Err(e) => panic!("round {round}: {e}"),
            };
            if done {
                assert_eq!(
                    arrived, 1,
                    "{marker} recorded as delivered but never arrived"
                );
                recorded += 1;
            } else if arrived == 1 {
                in_window += 1;
            }
        }
        expected_duplicates += in_window;
        match (killed, in_window, recorded) {
            (false, _, _) => tally.finished += 1,
            (true, w, _) if w > 0 => tally.ambiguous_window += 1,
            (true, 0, 0) if seen_none(&seen, &records) => tally.before_delivery += 1,
            _ => tally.after_record += 1,
        }

        // A normal run finishes the round.
        let out = spool.queue(&["run"]);
        assert!(out.status.success(), "{}", queue_support::text(&out.stderr));
        std::thread::sleep(Duration::from_millis(100));
        let seen = marker_counts(&server.messages());
        for (record, marker) in &records {
            assert!(
                matches!(
                    queue.store().read(&record.id),
                    Err(QueueError::NoSuchEntry(_))
                ),
                "{marker} still queued"
            );
            let arrived = seen.get(marker).copied().unwrap_or(0);
            assert!(arrived >= 1, "round {round}: {marker} was lost");
        }
    }
    let seen = marker_counts(&server.messages());
    let duplicates: usize = seen.values().map(|&n| n.saturating_sub(1)).sum();
    println!(
        "crash safety: {ROUNDS} rounds of {PER_ROUND} messages, {} delivered, {duplicates} duplicate(s), all in the ambiguous window; kills: {tally:?}",
        seen.len()
    );
    assert_eq!(seen.len(), ROUNDS * PER_ROUND, "every message arrived");
    assert_eq!(
        duplicates, expected_duplicates,
        "a duplicate outside the ambiguous window"
    );
    // The kills did land at different points.
    assert!(
        tally.before_delivery > 0 && tally.after_record > 0,
        "{tally:?}"
    );
}

fn seen_none(
    seen: &std::collections::HashMap<String, usize>,
    records: &[(mxsend::queue::EntryRecord, String)],
) -> bool {
    records.iter().all(|(_, m)| !seen.contains_key(m))
}
