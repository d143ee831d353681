//! Memory benchmark (BENCHMARKS.md, "Memory"; run by `scripts/bench-memory`): compose a
//! message with one attachment of SIZE MiB through `mxsend::compose`, send it with
//! `mxsend::blocking::send` to an SMTP sink on loopback, and report the process's peak
//! resident set size (`VmHWM` in /proc/self/status), which must stay flat in the size.
//!
//! ```text
//! cargo run --release -p mxsend --example bench_memory -- SIZE_MIB PORT [--random] [--text]
//! ```
//!
//! The attachment is a file in a fresh temporary directory, removed afterwards: sparse (all
//! zeros, no disk used) by default, pseudo-random with `--random`. With `--text` the same
//! size goes as a streamed text body (`MessageBuilder::text_file`) instead. Output: one
//! line of `key=value` pairs.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use mxsend::compose::{Attachment, MessageBuilder};
use mxsend::protocol::session::Outcome;
use mxsend::{blocking, Relay, TlsMode};

const MIB: u64 = 1024 * 1024;

/// A value in kB from /proc/self/status (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Write `size` octets to `path`: sparse zeros, pseudo-random octets, or text lines.
fn make_file(path: &PathBuf, size: u64, random: bool, text: bool) -> io::Result<()> {
    let file = File::create(path)?;
    if !random && !text {
        return file.set_len(size);
    }
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = fastrand::Rng::with_seed(1);
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        if text {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = if i % 73 == 72 {
                    b'\n'
                } else {
                    b'a' + rng.u8(..26)
                };
            }
        } else {
            rng.fill(&mut chunk);
        }
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(size_mib), Some(port)) = (args.first(), args.get(1)) else {
        return Err("usage: bench_memory SIZE_MIB PORT [--random] [--text]".into());
    };
    let size = size_mib.parse::<u64>()? * MIB;
    let port: u16 = port.parse()?;
    let random = args.iter().any(|a| a == "--random");
    let text = args.iter().any(|a| a == "--text");

    let dir = std::env::temp_dir().join(format!("mxsend-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(if text { "body.txt" } else { "attachment.bin" });
    make_file(&path, size, random, text)?;
    let rss_before = status_kib("VmRSS").unwrap_or(0);

    let builder = MessageBuilder::new()
        .from("bench@client.example.test")
        .to("sink@example.test")
        .subject("memory benchmark");
    let builder = if text {
        builder.text_file(&path)
    } else {
        builder
            .text("One large attachment.\n")
            .attach(Attachment::from_path(&path))
    };
    let started = Instant::now();
    let message = builder.build()?;
    let relay = Relay::new("127.0.0.1", port).tls(TlsMode::None);
    let report = blocking::send(&relay, &message)?;
    let elapsed = started.elapsed();
    let delivered = report
        .recipients
        .iter()
        .all(|r| matches!(r.outcome, Outcome::Delivered(_)));
    std::fs::remove_dir_all(&dir)?;

    println!(
        "size_mib={size_mib} message_octets={} seconds={:.2} delivered={delivered} rss_before_kib={rss_before} vmhwm_kib={}",
        message.envelope.size.map_or("unknown".to_string(), |s| s.to_string()),
        elapsed.as_secs_f64(),
        status_kib("VmHWM").unwrap_or(0),
    );
    if !delivered {
        return Err(format!("not delivered: {:?}", report.recipients).into());
    }
    Ok(())
}
