//! The runtimes comparison (scripts/bench-runtimes, BENCHMARKS.md "Runtimes"): `send_all` of
//! MESSAGES messages over one connection to smtp-sink, on each runtime, for three kinds of
//! body, each figure the median of ROUNDS rounds (the runtimes take turns within a round).
//!
//! ```text
//! runtimes HOST:PORT MESSAGE_FILE MESSAGES ROUNDS
//! ```
//!
//! Bodies: `bytes` (a `Vec<u8>` per message), `ready` (a ready message as the CLI sends one,
//! `RawMessageBody` over bytes in memory), `composed` (`MessageBuilder`: a text part and an
//! 8 KiB attachment from memory, MIME-encoded as it is sent). The target: every async runtime
//! within 1.25x of blocking for each body. The table gives the median and the fastest round
//! (the least disturbed by other load). Every message must be delivered, or it fails.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mxsend::compose::{Attachment, MessageBuilder, RawMessageBody};
use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope};
use mxsend::message::{AsyncBodySource, BodySource};
use mxsend::tls::TlsMode;
use mxsend::{Message, Relay, Report};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const RUNTIMES: [&str; 4] = ["blocking", "smol", "async-std", "tokio"];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runtimes: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, file, count, rounds] = args.as_slice() else {
        return Err("usage: runtimes HOST:PORT MESSAGE_FILE MESSAGES ROUNDS".into());
    };
    let (host, port) = server.rsplit_once(':').ok_or("the server is HOST:PORT")?;
    let mut relay = Relay::new(host, port.parse()?).tls(TlsMode::None);
    if let Ok(window) = std::env::var("MXSEND_BENCH_WINDOW") {
        relay = relay.window(window.parse::<usize>()?);
    }
    let content = std::fs::read(file)?;
    let count: usize = count.parse()?;
    let rounds: usize = rounds.parse()?;
    let from = ReversePath::parse("sender@example.test")?;
    let rcpt = Mailbox::parse("rcpt@example.test")?;

    let envelope = Envelope {
        from: from.clone(),
        recipients: vec![rcpt.clone()],
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let bytes: Vec<Message<Vec<u8>>> = (0..count)
        .map(|_| Message::new(envelope.clone(), content.clone()))
        .collect();
    let mut ready = Vec::with_capacity(count);
    for _ in 0..count {
        let body = RawMessageBody::new(content.clone(), "example.test")?;
        ready.push(body.into_message(from.clone(), vec![rcpt.clone()]));
    }
    let attachment: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    let text = "A line of the composed message's text part.\n".repeat(40);
    let mut composed = Vec::with_capacity(count);
    for i in 0..count {
        composed.push(
            MessageBuilder::new()
                .from("Sender <sender@example.test>")
                .to("rcpt@example.test")
                .subject(format!("composed {i}"))
                .text(text.clone())
                .attach(Attachment::from_bytes("data.bin", attachment.clone()))
                .build()?,
        );
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // times[body][runtime]: one duration per round.
    let mut times = vec![vec![Vec::new(); RUNTIMES.len()]; 3];
    for round in 1..=rounds {
        eprintln!("runtimes: round {round} of {rounds}");
        for (runtime, name) in RUNTIMES.iter().enumerate() {
            times[0][runtime].push(timed(name, &relay, &bytes, &tokio)?);
            times[1][runtime].push(timed(name, &relay, &ready, &tokio)?);
            times[2][runtime].push(timed(name, &relay, &composed, &tokio)?);
        }
    }

    println!(
        "| body | runtime | median ms ({count} messages, one connection) | vs blocking | fastest ms | vs blocking |"
    );
    println!("|---|---|---|---|---|---|");
    for (body, name) in ["bytes", "ready", "composed"].iter().enumerate() {
        for runtime_times in &mut times[body] {
            runtime_times.sort();
        }
        let blocking = (median(&times[body][0]), fastest(&times[body][0]));
        for (runtime, runtime_name) in RUNTIMES.iter().enumerate() {
            let (m, f) = (median(&times[body][runtime]), fastest(&times[body][runtime]));
            println!(
                "| {name} | {runtime_name} | {:.1} | {:.2}x | {:.1} | {:.2}x |",
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() / blocking.0.as_secs_f64(),
                f.as_secs_f64() * 1e3,
                f.as_secs_f64() / blocking.1.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// One `send_all` of `messages` on `runtime`; fails unless every message was delivered.
fn timed<B: BodySource + AsyncBodySource>(
    runtime: &str,
    relay: &Relay,
    messages: &[Message<B>],
    tokio: &tokio::runtime::Runtime,
) -> Result<Duration, Failure> {
    let started = Instant::now();
    let reports: Vec<Report> = match runtime {
        "blocking" => mxsend::blocking::send_all(relay, messages)?,
        "smol" => smol::block_on(mxsend::smol::send_all(relay, messages))?,
        "async-std" => async_std::task::block_on(mxsend::async_std::send_all(relay, messages))?,
        _ => tokio.block_on(mxsend::tokio::send_all(relay, messages))?,
    };
    let elapsed = started.elapsed();
    let delivered = reports.iter().filter(|r| r.all_delivered()).count();
    if delivered != messages.len() {
        return Err(format!("{runtime}: {delivered} of {} delivered", messages.len()).into());
    }
    Ok(elapsed)
}

/// The median of sorted `times`.
fn median(times: &[Duration]) -> Duration {
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// The fastest of sorted `times`: the least disturbed by other load on a shared machine.
fn fastest(times: &[Duration]) -> Duration {
    times.first().copied().unwrap_or_default()
}
