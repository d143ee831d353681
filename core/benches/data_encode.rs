//! DATA encoding throughput: `transparency::DataEncoder` (CRLF normalisation and
//! dot-stuffing) on a 64 MiB text body fed in 64 KiB chunks, against a plain copy of the
//! same chunks into a reused buffer (BENCHMARKS.md, "Micro"; target: within 4x of the copy).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mxsend_core::transparency::{DataEncoder, Framing};
use std::hint::black_box;
use std::time::Duration;

const BODY_LEN: usize = 64 * 1024 * 1024;
const CHUNK_LEN: usize = 64 * 1024;

/// A text body like a long plain-text message: lines of 60 to 78 characters of words,
/// one line in 40 starting with a dot, ended by `eol`. Deterministic (a fixed LCG).
fn text_body(eol: &[u8]) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut body = Vec::with_capacity(BODY_LEN + 128);
    while body.len() < BODY_LEN {
        let width = 60 + next() % 19;
        let start = body.len();
        if next() % 40 == 0 {
            body.push(b'.');
        }
        while body.len() - start < width {
            let word = 1 + next() % 9;
            for _ in 0..word {
                body.push(b'a' + (next() % 26) as u8);
            }
            body.push(b' ');
        }
        body.pop();
        body.extend_from_slice(eol);
    }
    body.truncate(BODY_LEN);
    body
}

fn encode(body: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut encoder = DataEncoder::new(Framing::Data);
    for chunk in body.chunks(CHUNK_LEN) {
        encoder.encode(chunk, out);
    }
    encoder.finish(out);
}

fn copy(body: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for chunk in body.chunks(CHUNK_LEN) {
        out.extend_from_slice(chunk);
    }
}

fn data_encode(c: &mut Criterion) {
    for (name, eol) in [("lf", &b"\n"[..]), ("crlf", &b"\r\n"[..])] {
        let body = text_body(eol);
        let mut out = Vec::with_capacity(BODY_LEN * 2);
        let mut group = c.benchmark_group(format!("data_encode/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("mxsend", |b| {
            b.iter(|| {
                encode(black_box(&body), &mut out);
                black_box(out.len())
            })
        });
        group.bench_function("copy", |b| {
            b.iter(|| {
                copy(black_box(&body), &mut out);
                black_box(out.len())
            })
        });
        group.finish();
    }
}

/// Few, short samples: one iteration moves 64 MiB, and the machine is small and shared.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = data_encode
}
criterion_main!(benches);
