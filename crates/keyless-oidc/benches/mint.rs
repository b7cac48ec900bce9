//! Cost of minting one GitLab-faithful ID token with a pre-parsed RSA-2048 key.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keyless_oidc::issuer::{MintRequest, SigningKey, build_payload, mint};

fn bench_mint(c: &mut Criterion) {
    let Ok(key) = SigningKey::generate() else {
        eprintln!("RSA key generation failed; nothing to measure");
        return;
    };
    let request = MintRequest::gitlab("https://gitlab.example.com", "my-group/my-project", "main")
        .with_audience("https://sts.example.com")
        .with_environment("production");
    c.bench_function("build_payload/gitlab", |b| {
        b.iter(|| build_payload(black_box(&request)))
    });
    c.bench_function("mint/gitlab_rs256_2048", |b| {
        b.iter(|| mint(black_box(&key), black_box(&request)))
    });
}

criterion_group!(benches, bench_mint);
criterion_main!(benches);
