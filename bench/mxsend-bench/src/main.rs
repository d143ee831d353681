//! mxsend's side of the end-to-end throughput benchmark (scripts/bench-e2e).
//!
//! ```text
//! mxsend-bench MODE HOST:PORT MESSAGE_FILE COUNT SESSIONS [WINDOW] [RCPT]
//! ```
//!
//! WINDOW: the transactions in flight when the server offers CHUNKING and PIPELINING
//! (`Relay::window`; 1 is one round trip per message, DATA unless BDAT is needed; default:
//! the library's). RCPT: the recipient (default `rcpt@example.test`).
//!
//! Sends the same message COUNT times to the relay at HOST:PORT (plaintext, PIPELINING as
//! the server offers it), spread over SESSIONS connections:
//! - `blocking`: `mxsend::blocking::send_all`, one call per connection (one thread each);
//! - `smol`: `mxsend::smol::send_all`, one task per connection on one smol executor thread
//!   (built with `--features smol`).
//!
//! Every message must be delivered, or the program fails: a fast run that dropped mail is no
//! figure. It prints `messages N seconds S per_second R`, timed from before the first connect
//! to after the last QUIT; the script times the whole process as well, like the peers'.

use std::process::ExitCode;
use std::time::Instant;

use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope};
use mxsend::tls::TlsMode;
use mxsend::{Message, Relay, Report};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mxsend-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn run() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, options) = args.split_at(args.len().min(5));
    let [mode, server, file, count, sessions] = args else {
        return Err(
            "usage: mxsend-bench blocking|smol HOST:PORT MESSAGE_FILE COUNT SESSIONS [WINDOW] [RCPT]"
                .into(),
        );
    };
    let (host, port) = server.rsplit_once(':').ok_or("the server is HOST:PORT")?;
    let mut relay = Relay::new(host, port.parse()?).tls(TlsMode::None);
    if let Some(window) = options.first() {
        relay = relay.window(window.parse::<usize>()?);
    }
    let rcpt = options.get(1).map_or("rcpt@example.test", String::as_str);
    let content = std::fs::read(file)?;
    let count: usize = count.parse()?;
    let sessions: usize = sessions.parse::<usize>()?.max(1);

    let envelope = Envelope {
        from: ReversePath::parse("sender@example.test")?,
        recipients: vec![Mailbox::parse(rcpt)?],
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    // The content is shared: each message borrows the same bytes.
    let messages: Vec<Message<&[u8]>> = (0..count)
        .map(|_| Message::new(envelope.clone(), content.as_slice()))
        .collect();
    let per_session = count.div_ceil(sessions).max(1);

    let started = Instant::now();
    let reports = match mode.as_str() {
        "blocking" => blocking(&relay, &messages, per_session)?,
        #[cfg(feature = "smol")]
        "smol" => with_smol(&relay, &messages, per_session)?,
        other => return Err(format!("unknown mode {other} (smol needs --features smol)").into()),
    };
    let seconds = started.elapsed().as_secs_f64();

    let delivered = reports.iter().filter(|r| r.all_delivered()).count();
    if delivered != count {
        let first = reports.iter().find(|r| !r.all_delivered());
        return Err(format!("{delivered} of {count} delivered; first failure: {first:?}").into());
    }
    println!(
        "messages {count} seconds {seconds:.3} per_second {:.0}",
        count as f64 / seconds
    );
    Ok(())
}

/// One thread per connection, each with its share of the messages.
fn blocking(
    relay: &Relay,
    messages: &[Message<&[u8]>],
    per_session: usize,
) -> Result<Vec<Report>, Failure> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = messages
            .chunks(per_session)
            .map(|share| scope.spawn(move || mxsend::blocking::send_all(relay, share)))
            .collect();
        let mut reports = Vec::with_capacity(messages.len());
        for thread in threads {
            let share = thread.join().map_err(|_| "a sending thread panicked")??;
            reports.extend(share);
        }
        Ok(reports)
    })
}

/// One task per connection on a single-threaded smol executor.
#[cfg(feature = "smol")]
fn with_smol(
    relay: &Relay,
    messages: &[Message<&[u8]>],
    per_session: usize,
) -> Result<Vec<Report>, Failure> {
    let executor = smol::LocalExecutor::new();
    smol::block_on(executor.run(async {
        let tasks: Vec<_> = messages
            .chunks(per_session)
            .map(|share| executor.spawn(mxsend::smol::send_all(relay, share)))
            .collect();
        let mut reports = Vec::with_capacity(messages.len());
        for task in tasks {
            reports.extend(task.await?);
        }
        Ok(reports)
    }))
}
