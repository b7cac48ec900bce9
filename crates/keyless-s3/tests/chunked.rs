//! The aws-chunked decoder as the gateway uses it: built from the request's headers, the
//! decoded bytes forwarded as they come to a backend that commits only a complete body of
//! `Content-Length` bytes. Whatever single byte of a signed body is altered, the backend never
//! receives the whole payload.

use aws_lc_rs::{digest, hmac};
use http::{HeaderMap, HeaderValue};
use keyless_credentials::sigv4::{derive_signing_key, hex};
use keyless_s3::chunked::{ChunkSigning, Decoder, Event};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const DATE: &str = "20261201T074046Z";
const SCOPE: &str = "20261201/us-east-1/s3/aws4_request";
const SEED: &str = "e9c30b007f308bc53c887ecf663b8bba7a07e93bbd5336d9a652c32cae1810d3";

fn key() -> hmac::Key {
    derive_signing_key(SECRET, "20261201", "us-east-1", "s3")
}

/// `payload` in `chunk`-byte signed chunks with a signed CRC32 trailer.
fn signed_body(payload: &[u8], chunk: usize) -> Vec<u8> {
    let key = key();
    let empty = hex(digest::digest(&digest::SHA256, b"").as_ref());
    let mut previous = SEED.to_owned();
    let mut body = Vec::new();
    for data in payload.chunks(chunk).chain(std::iter::once(&[][..])) {
        let hash = hex(digest::digest(&digest::SHA256, data).as_ref());
        let to_sign =
            format!("AWS4-HMAC-SHA256-PAYLOAD\n{DATE}\n{SCOPE}\n{previous}\n{empty}\n{hash}");
        previous = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
        body.extend_from_slice(
            format!("{:x};chunk-signature={previous}\r\n", data.len()).as_bytes(),
        );
        if !data.is_empty() {
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
    }
    let crc = keyless_s3::checksum::ChecksumAlgorithm::Crc32
        .checksum(payload)
        .to_base64();
    let trailer = format!("x-amz-checksum-crc32:{crc}\n");
    let hash = hex(digest::digest(&digest::SHA256, trailer.as_bytes()).as_ref());
    let to_sign = format!("AWS4-HMAC-SHA256-TRAILER\n{DATE}\n{SCOPE}\n{previous}\n{hash}");
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    body.extend_from_slice(
        format!("x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{signature}\r\n\r\n")
            .as_bytes(),
    );
    body
}

fn request(length: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
    headers.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
    );
    headers.insert("x-amz-decoded-content-length", HeaderValue::from(length));
    headers.insert(
        "x-amz-trailer",
        HeaderValue::from_static("x-amz-checksum-crc32"),
    );
    headers.insert(
        "x-amz-sdk-checksum-algorithm",
        HeaderValue::from_static("CRC32"),
    );
    headers
}

/// What a backend with `Content-Length: payload.len()` received, and whether the upload was
/// aborted.
fn forward(body: &[u8], length: usize, read: usize) -> (Vec<u8>, bool) {
    let signing = ChunkSigning::with_key("ASIATESTKEY000000000", key(), DATE, SCOPE, SEED).unwrap();
    let mut decoder = Decoder::for_request(&request(length), Some(signing)).unwrap();
    let mut backend = Vec::new();
    for piece in body.chunks(read) {
        match decoder.feed(piece) {
            Ok(events) => {
                for event in events {
                    if let Event::Data(data) = event {
                        backend.extend_from_slice(data);
                    }
                }
            }
            Err(_) => return (backend, true),
        }
    }
    let aborted = decoder.finish().is_err();
    (backend, aborted)
}

#[test]
fn an_intact_body_reaches_the_backend_whole() {
    let payload: Vec<u8> = (0..100u8).collect();
    let body = signed_body(&payload, 30);
    for read in [1, 13, body.len()] {
        assert_eq!(
            forward(&body, payload.len(), read),
            (payload.clone(), false)
        );
    }
}

#[test]
fn no_altered_body_reaches_the_backend_whole() {
    let payload: Vec<u8> = (0..40u8).collect();
    let body = signed_body(&payload, 16);
    // The last two bytes are the empty line after the signed trailer block, which ends at its
    // signature: what follows the block is checked below.
    for position in 0..body.len() - 2 {
        for replacement in [b'0', b'f', b'\n', body[position] ^ 0x20] {
            if replacement == body[position] {
                continue;
            }
            let mut altered = body.clone();
            altered[position] = replacement;
            let (received, aborted) = forward(&altered, payload.len(), 7);
            if received.len() == payload.len() && !aborted {
                // Only a change of case where case does not count may pass: a signature's hex
                // digits, the trailer's name.
                assert_eq!(received, payload, "byte {position} -> {replacement:?}");
                assert!(
                    replacement.eq_ignore_ascii_case(&body[position]),
                    "byte {position} -> {replacement:?}"
                );
            } else {
                assert!(
                    received.len() < payload.len(),
                    "byte {position} -> {replacement:?}"
                );
                assert!(aborted);
            }
        }
    }
}

#[test]
fn bytes_after_the_block_fail_after_the_verified_payload() {
    let payload: Vec<u8> = (0..40u8).collect();
    let mut body = signed_body(&payload, 16);
    let last = body.len() - 1;
    body[last] = b'x';
    assert_eq!(forward(&body, payload.len(), 1), (payload.clone(), true));
    assert!(forward(&body, payload.len(), body.len()).1);
    let extra = [signed_body(&payload, 16), b"\r\n".to_vec()].concat();
    assert_eq!(forward(&extra, payload.len(), 1), (payload, true));
}

#[test]
fn a_body_cut_short_never_completes() {
    let payload: Vec<u8> = (0..40u8).collect();
    let body = signed_body(&payload, 16);
    for end in 0..body.len() - 2 {
        let (received, aborted) = forward(&body[..end], payload.len(), 5);
        assert!(received.len() < payload.len() && aborted, "cut at {end}");
    }
}
