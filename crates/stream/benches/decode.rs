//! pgoutput decode of a message stream shaped like the reference workload's: `orders` rows
//! (6 columns, REPLICA IDENTITY FULL), half updates with old and new tuples, a quarter inserts,
//! a quarter deletes. The walsender decodes ≈ 360–470k changes/s on the reference machine
//! (shared/research/perf-anchors.md); this is what summa's own decoding costs per change.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use summa_stream::pgoutput::{decode, Message};

fn tuple(out: &mut Vec<u8>, values: &[Option<String>]) {
    out.extend((values.len() as i16).to_be_bytes());
    for v in values {
        match v {
            None => out.push(b'n'),
            Some(s) => {
                out.push(b't');
                out.extend((s.len() as i32).to_be_bytes());
                out.extend(s.as_bytes());
            }
        }
    }
}

fn order(i: u64) -> Vec<Option<String>> {
    vec![
        Some(i.to_string()),
        Some((1 + i * 7919 % 100_000).to_string()),
        Some((1 + i % 20).to_string()),
        Some(["new", "paid", "shipped", "delivered", "cancelled"][(i % 5) as usize].to_string()),
        Some(format!("{}.{:02}", i * 31 % 500, i % 100)),
        Some(format!(
            "2025-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
            1 + i % 12,
            1 + i % 28,
            i % 24,
            i % 60,
            i * 7 % 60,
            i * 13 % 1_000_000
        )),
    ]
}

/// `n` change messages: updates (old + new tuple), inserts and deletes.
fn stream(n: u64) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let mut b = Vec::with_capacity(160);
            match i % 4 {
                0 | 1 => {
                    b.push(b'U');
                    b.extend(16385u32.to_be_bytes());
                    b.push(b'O');
                    tuple(&mut b, &order(i));
                    b.push(b'N');
                    tuple(&mut b, &order(i + 1));
                }
                2 => {
                    b.push(b'I');
                    b.extend(16385u32.to_be_bytes());
                    b.push(b'N');
                    tuple(&mut b, &order(i));
                }
                _ => {
                    b.push(b'D');
                    b.extend(16385u32.to_be_bytes());
                    b.push(b'O');
                    tuple(&mut b, &order(i));
                }
            }
            Bytes::from(b)
        })
        .collect()
}

fn decode_stream(c: &mut Criterion) {
    let msgs = stream(10_000);
    let mut g = c.benchmark_group("pgoutput");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("decode 10k orders changes", |b| {
        b.iter(|| {
            let mut rows = 0usize;
            for m in &msgs {
                match decode(black_box(m)).expect("valid message") {
                    Message::Update { new, .. } | Message::Insert { new, .. } => rows += new.len(),
                    Message::Delete { old, .. } => rows += old.1.len(),
                    _ => {}
                }
            }
            rows
        })
    });
    g.finish();
}

criterion_group!(benches, decode_stream);
criterion_main!(benches);
