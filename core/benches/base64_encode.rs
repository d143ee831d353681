//! base64 encoding throughput: the core's `base64::encode` and its streaming MIME encoder
//! against the `base64` crate's STANDARD engine (BENCHMARKS.md, "Micro"; target: at least
//! as fast). The `base64` crate has no line wrapping, so the MIME encoder (76-character
//! lines, CRLF) is compared with its unwrapped output: the core does strictly more work.

use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mxsend_core::base64::{encode, StreamEncoder};
use std::hint::black_box;
use std::time::Duration;

/// Pseudo-random octets (a fixed LCG), so no input shape favours either side.
fn input(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

fn base64_encode(c: &mut Criterion) {
    for (label, len) in [("1KiB", 1024), ("64KiB", 64 * 1024), ("1MiB", 1024 * 1024)] {
        let data = input(len);
        let mut bytes = Vec::new();
        let mut string = String::new();
        // Same output, or the comparison means nothing.
        encode(&data, &mut bytes);
        assert_eq!(
            bytes,
            base64::engine::general_purpose::STANDARD
                .encode(&data)
                .as_bytes()
        );

        let mut group = c.benchmark_group("base64_encode");
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::new("mxsend", label), |b| {
            b.iter(|| {
                bytes.clear();
                encode(black_box(&data), &mut bytes);
                black_box(bytes.len())
            })
        });
        group.bench_function(BenchmarkId::new("mxsend-mime", label), |b| {
            b.iter(|| {
                bytes.clear();
                let mut encoder = StreamEncoder::mime();
                encoder.push(black_box(&data), &mut bytes);
                encoder.finish(&mut bytes);
                black_box(bytes.len())
            })
        });
        group.bench_function(BenchmarkId::new("base64", label), |b| {
            b.iter(|| {
                string.clear();
                base64::engine::general_purpose::STANDARD
                    .encode_string(black_box(&data), &mut string);
                black_box(string.len())
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = base64_encode
}
criterion_main!(benches);
