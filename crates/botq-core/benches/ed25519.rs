//! What a QQ webhook's Ed25519 check costs, and what the alternatives would:
//! `verify_strict` (what ingest runs), `verify` (RFC 8032's cofactorless
//! check without the small-order and weak-key rejections) and batch
//! verification of 4, 16 and 64 signatures (per signature). The CPU's
//! backend (AVX2 or portable) is picked by curve25519-dalek at run time.
//!
//!   cargo bench -p botq-core --bench ed25519
//!
//! Each message is a QQ-sized signed body: a 10-digit timestamp followed by
//! a ~600-byte group @-message, signed with a key derived as QQ derives it.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

fn messages(n: usize) -> (VerifyingKey, Vec<Vec<u8>>, Vec<Signature>) {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let body = format!(
        r#"{{"op":0,"s":1,"t":"GROUP_AT_MESSAGE_CREATE","id":"GROUP_AT_MESSAGE_CREATE:{}","d":{{"content":" /echo {}"}}}}"#,
        "x".repeat(60),
        "y".repeat(480)
    );
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("{}{body}", 1_700_000_000 + i).into_bytes()).collect();
    let sigs = msgs.iter().map(|m| key.sign(m)).collect();
    (key.verifying_key(), msgs, sigs)
}

fn single(c: &mut Criterion) {
    let (key, msgs, sigs) = messages(1);
    let mut g = c.benchmark_group("ed25519 single");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_strict", |b| b.iter(|| key.verify_strict(&msgs[0], &sigs[0]).unwrap()));
    g.bench_function("verify (cofactorless, no small-order checks)", |b| {
        b.iter(|| ed25519_dalek::Verifier::verify(&key, &msgs[0], &sigs[0]).unwrap());
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("ed25519 batch");
    for n in [4usize, 16, 64] {
        let (key, msgs, sigs) = messages(n);
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let keys = vec![key; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("verify_batch", n), &n, |b, _| {
            b.iter(|| ed25519_dalek::verify_batch(&refs, &sigs, &keys).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, single, batch);
criterion_main!(benches);
