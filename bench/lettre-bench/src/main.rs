//! lettre's side of the end-to-end throughput benchmark (scripts/bench-e2e): the peer, kept
//! in its own workspace so lettre never enters the project's dependency graph.
//!
//! ```text
//! lettre-bench HOST PORT MESSAGE_FILE COUNT
//! ```
//!
//! One `SmtpTransport` (plaintext, `builder_dangerous`) whose pool of one connection is reused
//! for every message; each message is the file's bytes as given (`send_raw`), like the other
//! clients. Fails unless every message is accepted.

use std::process::ExitCode;
use std::time::Instant;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::{SmtpTransport, Transport};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lettre-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, file, count] = args.as_slice() else {
        return Err("usage: lettre-bench HOST PORT MESSAGE_FILE COUNT".into());
    };
    let content = std::fs::read(file)?;
    let count: usize = count.parse()?;
    let transport = SmtpTransport::builder_dangerous(host.as_str())
        .port(port.parse()?)
        .pool_config(PoolConfig::new().max_size(1))
        .build();
    let envelope = Envelope::new(
        Some("sender@example.test".parse()?),
        vec!["rcpt@example.test".parse()?],
    )?;
    let started = Instant::now();
    for _ in 0..count {
        transport.send_raw(&envelope, &content)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "messages {count} seconds {seconds:.3} per_second {:.0}",
        count as f64 / seconds
    );
    Ok(())
}
