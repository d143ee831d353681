//! Queue benchmark (BENCHMARKS.md, "Queue"; run by `scripts/bench-queue`): how fast messages
//! are accepted into the queue with fsync on, and how fast a queue run delivers them next to
//! a direct `send_all` of the same messages, in the same run, to the same SMTP sink.
//!
//! ```text
//! cargo run --release -p mxsend --example bench_queue -- HOST:PORT MESSAGE.eml COUNT DIR ROUNDS
//! ```
//!
//! Each round: COUNT messages are queued into a fresh queue under DIR (each `enqueue` returns
//! once the entry is on disk: message and state fsync'd, renamed into place, directory
//! fsync'd), then the same COUNT messages go by `blocking::send_all` over one connection and
//! by one `Queue::run` (batches of `QueueOptions::batch` per connection, each delivery
//! recorded as its transaction ends, one directory fsync per batch), the two taking turns
//! going first. Output: one `key=value` line per round.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope, Outcome};
use mxsend::queue::{
    BlockingTransport, Connection, Queue, QueueOptions, QueuedRoute, RouteKind, RunMode,
};
use mxsend::{blocking, Message, Relay, TlsMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, message, count, dir, rounds] = args.as_slice() else {
        return Err("usage: bench_queue HOST:PORT MESSAGE.eml COUNT DIR ROUNDS".into());
    };
    let server: SocketAddr = server.parse()?;
    let content = std::fs::read(message)?;
    let count: usize = count.parse()?;
    let rounds: usize = rounds.parse()?;
    let envelope = Envelope {
        from: ReversePath::parse("sender@example.test")?,
        recipients: vec![Mailbox::parse("rcpt@example.test")?],
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let relay = Relay::new(server.ip().to_string(), server.port()).tls(TlsMode::None);
    let route = QueuedRoute {
        kind: RouteKind::Relay {
            host: server.ip().to_string(),
            port: server.port(),
        },
        settings: Default::default(),
    };
    let messages: Vec<Message<&[u8]>> = (0..count)
        .map(|_| Message::new(envelope.clone(), content.as_slice()))
        .collect();
    for round in 0..rounds {
        let root = PathBuf::from(dir).join(format!("round-{round}"));
        let _ = std::fs::remove_dir_all(&root);
        let queue = Queue::open_dir(&root, QueueOptions::default())?;
        let t = Instant::now();
        for m in &messages {
            queue.enqueue(m, route.clone())?;
        }
        let enqueue = count as f64 / t.elapsed().as_secs_f64();

        let direct = |_: ()| -> Result<f64, Box<dyn std::error::Error>> {
            let t = Instant::now();
            let reports = blocking::send_all(&relay, &messages)?;
            let rate = count as f64 / t.elapsed().as_secs_f64();
            let delivered = reports
                .iter()
                .filter(|r| matches!(r.recipients[0].outcome, Outcome::Delivered(_)))
                .count();
            if delivered != count {
                return Err(format!("send_all delivered {delivered} of {count}").into());
            }
            Ok(rate)
        };
        let queued = |_: ()| -> Result<f64, Box<dyn std::error::Error>> {
            let mut transport =
                BlockingTransport::new(|_: &QueuedRoute| Ok(Connection::Relay(relay.clone())));
            let t = Instant::now();
            let summary = queue.run(&mut transport, RunMode::Due, &mut |_| {})?;
            let rate = count as f64 / t.elapsed().as_secs_f64();
            // As `mxsend queue run` does before it exits: the deletions the pass left to the
            // background end here, untimed, so they do not slow the next send_all either.
            queue.finish_housekeeping(std::time::Duration::from_secs(60));
            if summary.finished != count {
                return Err(
                    format!("the queue run finished {} of {count}", summary.finished).into(),
                );
            }
            Ok(rate)
        };
        let (send_all, run) = if round % 2 == 0 {
            let d = direct(())?;
            (d, queued(())?)
        } else {
            let q = queued(())?;
            (direct(())?, q)
        };
        println!(
            "round={round} count={count} enqueue_per_s={enqueue:.0} send_all_per_s={send_all:.0} queue_run_per_s={run:.0} ratio={:.2}",
            send_all / run
        );
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}
