//! `keyless_s3::chunked::Decoder` on aws-chunked bodies in every mode, fed in pieces of a size
//! the input chooses, and the unsigned encoder on what it decoded.
//!
//! Input: byte 0 chooses the mode (`% 3`: signed, signed with trailer, unsigned with
//! trailer), byte 1 the declared checksum trailer (`% 6`: none, CRC32, CRC32C, CRC64NVME,
//! SHA1, SHA256), bytes 2-3 the decoded length (little-endian), byte 4 the piece size (0: the
//! whole body at once); the rest is the body. Signed bodies chain from [`SEED`] under the
//! AWS example's secret, date and scope, so seeds signed that way verify.

#![no_main]

use keyless_s3::checksum::{ChecksumAlgorithm, DeclaredChecksum};
use keyless_s3::chunked::{
    ChunkEncoder, ChunkSigning, Decoder, Event, PayloadMode, encoded_length,
};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

#[derive(Debug, PartialEq)]
struct Outcome {
    data: Vec<u8>,
    /// Payload bytes yielded before `Complete`, and whether it came.
    before_complete: Option<usize>,
    verified: usize,
    checksum: Option<String>,
    error: Option<&'static str>,
}

fn decoder(mode: PayloadMode, trailer: Option<ChecksumAlgorithm>, length: u64) -> Decoder {
    let signing = mode.signed().then(|| {
        ChunkSigning::new(
            "AKIAIOSFODNN7EXAMPLE",
            SECRET,
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            SEED,
        )
        .expect("a valid scope and seed")
    });
    let declared = trailer.map(DeclaredChecksum::Trailer);
    Decoder::new(mode, length, declared, signing).expect("a trailer mode or no trailer")
}

fn run(mut decoder: Decoder, body: &[u8], piece: usize) -> Outcome {
    let mut outcome = Outcome {
        data: Vec::new(),
        before_complete: None,
        verified: 0,
        checksum: None,
        error: None,
    };
    for part in body.chunks(piece.max(1)) {
        match decoder.feed(part) {
            Ok(events) => {
                for event in events {
                    assert!(outcome.before_complete.is_none(), "nothing after Complete");
                    match event {
                        Event::Data(data) => {
                            assert!(!data.is_empty());
                            outcome.data.extend_from_slice(data);
                        }
                        Event::ChunkVerified => outcome.verified += 1,
                        Event::Complete { checksum } => {
                            outcome.before_complete = Some(outcome.data.len());
                            outcome.checksum = checksum.map(|c| c.to_base64());
                        }
                    }
                }
            }
            Err(error) => {
                outcome.error = Some(error.code());
                assert_eq!(decoder.finish().map_err(|e| e.code()), Err(error.code()));
                return outcome;
            }
        }
    }
    if let Err(error) = decoder.finish() {
        assert!(outcome.before_complete.is_none());
        outcome.error = Some(error.code());
    }
    outcome
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 5 {
        return;
    }
    let mode = [
        PayloadMode::Signed,
        PayloadMode::SignedWithTrailer,
        PayloadMode::UnsignedWithTrailer,
    ][usize::from(input[0] % 3)];
    let trailer = match input[1] % 6 {
        0 => None,
        n => Some(ChecksumAlgorithm::ALL[usize::from(n - 1)]),
    }
    .filter(|_| mode.has_trailer());
    let length = u64::from(u16::from_le_bytes([input[2], input[3]]));
    let piece = usize::from(input[4]);
    let body = &input[5..];

    let whole = run(decoder(mode, trailer, length), body, body.len());
    let pieces = run(decoder(mode, trailer, length), body, piece);
    // The framing decides, not how the body arrives: same bytes, same verdict (the events of
    // a call that fails are not returned, so on an error only the error compares).
    assert_eq!(whole.error, pieces.error);
    if whole.error.is_none() {
        assert_eq!(whole, pieces);
    }
    // The payload's last byte is never yielded before the whole body verified (bytes after the
    // end are an error that may come after `Complete`).
    for outcome in [&whole, &pieces] {
        match outcome.before_complete {
            None => assert!((outcome.data.len() as u64) < length.max(1)),
            Some(yielded) => assert_eq!(yielded as u64, length),
        }
    }
    let Some(before_complete) = whole.before_complete else {
        return;
    };
    assert_eq!(whole.error, None);
    assert_eq!(whole.data.len() as u64, length);
    assert_eq!(before_complete as u64, length);
    assert_eq!(whole.checksum.is_some(), trailer.is_some());
    if mode.signed() {
        assert!(whole.verified >= 1, "the final chunk is signed");
    }

    // What was decoded re-encodes to the announced length and decodes to the same payload.
    let checksum = trailer.map(|a| a.checksum(&whole.data));
    let chunk_size = 1 + usize::from(input[4] % 64);
    let mut encoder = ChunkEncoder::new(chunk_size);
    let mut encoded = Vec::new();
    for part in whole.data.chunks(7) {
        encoder.push(part, &mut encoded);
    }
    encoder.finish(checksum.as_ref(), &mut encoded);
    assert_eq!(
        encoded.len() as u64,
        encoded_length(length, chunk_size, trailer)
    );
    let again = run(
        decoder(PayloadMode::UnsignedWithTrailer, trailer, length),
        &encoded,
        3,
    );
    assert_eq!(again.error, None);
    assert_eq!(again.data, whole.data);
    assert_eq!(again.checksum, whole.checksum);
});
