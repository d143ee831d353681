//! EHLO capability parsing on a hostile 240 KB reply: 4,000 AUTH lines of distinct mechanism
//! names (issue 13: the AUTH dedup was quadratic, 3.3 s for this reply; now O(n log n)).
//! BENCHMARKS.md, "Micro".

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mxsend_core::capabilities::Capabilities;
use mxsend_core::reply::{Reply, ReplyCode};
use std::hint::black_box;
use std::time::Duration;

fn hostile_ehlo() -> Reply {
    let mut lines = vec!["mx.example.test".to_string()];
    let mut n = 0;
    while lines.iter().map(|l| l.len() + 6).sum::<usize>() < 240 * 1024 {
        lines.push(format!("AUTH X-MECH-{n:08} X-OTHER-{n:08} PLAIN"));
        n += 1;
    }
    Reply::new(ReplyCode::new(250).expect("250"), lines)
}

fn bench(c: &mut Criterion) {
    let reply = hostile_ehlo();
    let size: usize = reply.lines().map(|l| l.len() + 6).sum();
    let mut group = c.benchmark_group("ehlo_parse");
    group.throughput(Throughput::Bytes(size as u64));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    group.bench_function("240KB_of_AUTH_lines", |b| {
        b.iter(|| black_box(Capabilities::from_ehlo(black_box(&reply))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
