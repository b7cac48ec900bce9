//! The aws-chunked decoder on a 1 MiB upload in 64 KiB chunks (aws-sdk-rust's framing), fed
//! in 16 KiB reads, against the baseline of hashing the same bytes once with SHA-256 (what
//! verifying a hex `x-amz-content-sha256` costs).

use std::hint::black_box;

use aws_lc_rs::{digest, hmac};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keyless_credentials::sigv4::{derive_signing_key, hex};
use keyless_s3::checksum::{ChecksumAlgorithm, DeclaredChecksum};
use keyless_s3::chunked::{ChunkEncoder, ChunkSigning, Decoder, Event, PayloadMode};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const PAYLOAD: usize = 1 << 20;
const CHUNK: usize = 64 << 10;
const READ: usize = 16 << 10;

fn payload() -> Vec<u8> {
    (0..PAYLOAD).map(|i| (i % 251) as u8).collect()
}

/// The payload as signed chunks chained from [`SEED`].
fn signed_body(payload: &[u8]) -> Vec<u8> {
    let key = derive_signing_key(SECRET, "20130524", "us-east-1", "s3");
    let empty = hex(digest::digest(&digest::SHA256, b"").as_ref());
    let mut previous = SEED.to_owned();
    let mut body = Vec::new();
    for chunk in payload.chunks(CHUNK).chain(std::iter::once(&[][..])) {
        let hash = hex(digest::digest(&digest::SHA256, chunk).as_ref());
        let string_to_sign =
            format!("AWS4-HMAC-SHA256-PAYLOAD\n{DATE}\n{SCOPE}\n{previous}\n{empty}\n{hash}");
        previous = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
        body.extend_from_slice(
            format!("{:x};chunk-signature={previous}\r\n", chunk.len()).as_bytes(),
        );
        if !chunk.is_empty() {
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
    }
    body.extend_from_slice(b"\r\n");
    body
}

fn run(mut decoder: Decoder, body: &[u8]) -> usize {
    let mut decoded = 0;
    for read in body.chunks(READ) {
        for event in decoder.feed(read).expect("the body verifies") {
            if let Event::Data(data) = event {
                decoded += data.len();
            }
        }
    }
    decoder.finish().expect("complete");
    decoded
}

fn bench_chunked(c: &mut Criterion) {
    let payload = payload();
    let signed = signed_body(&payload);
    let crc = ChecksumAlgorithm::Crc32.checksum(&payload);
    let mut unsigned = Vec::new();
    let mut encoder = ChunkEncoder::new(CHUNK);
    encoder.push(&payload, &mut unsigned);
    encoder.finish(Some(&crc), &mut unsigned);

    let mut group = c.benchmark_group("chunked_1MiB");
    group.throughput(Throughput::Bytes(PAYLOAD as u64));
    group.bench_function("baseline_sha256", |b| {
        b.iter(|| digest::digest(&digest::SHA256, black_box(&payload)))
    });
    group.bench_function("decode_signed", |b| {
        b.iter(|| {
            let signing =
                ChunkSigning::new("AKIAIOSFODNN7EXAMPLE", SECRET, DATE, SCOPE, SEED).unwrap();
            let decoder =
                Decoder::new(PayloadMode::Signed, PAYLOAD as u64, None, Some(signing)).unwrap();
            assert_eq!(run(decoder, black_box(&signed)), PAYLOAD);
        })
    });
    group.bench_function("decode_unsigned_crc32_trailer", |b| {
        b.iter(|| {
            let declared = Some(DeclaredChecksum::Trailer(ChecksumAlgorithm::Crc32));
            let decoder = Decoder::new(
                PayloadMode::UnsignedWithTrailer,
                PAYLOAD as u64,
                declared,
                None,
            )
            .unwrap();
            assert_eq!(run(decoder, black_box(&unsigned)), PAYLOAD);
        })
    });
    group.bench_function("encode_unsigned_crc32_trailer", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(unsigned.len());
            let mut encoder = ChunkEncoder::new(CHUNK);
            let mut hasher = ChecksumAlgorithm::Crc32.hasher();
            for read in black_box(&payload).chunks(READ) {
                hasher.update(read);
                encoder.push(read, &mut out);
            }
            encoder.finish(Some(&hasher.finish()), &mut out);
            out
        })
    });
    group.finish();
}

criterion_group!(benches, bench_chunked);
criterion_main!(benches);
