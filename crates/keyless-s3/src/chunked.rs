//! `Content-Encoding: aws-chunked` request bodies: a sans-I/O incremental decoder that
//! verifies the chunk signature chain, the trailer signature and the checksum, and an encoder
//! for the unsigned form the gateway forwards.
//!
//! # Decoding
//!
//! [`Decoder::feed`] takes the body in slices of any size, one byte at a time included, and
//! answers with [`Event`]s: decoded payload bytes as they arrive ([`Event::Data`], borrowed
//! from the input, never buffered), [`Event::ChunkVerified`] when a chunk's signature has
//! verified, and [`Event::Complete`] once the whole body has: the final chunk's signature,
//! the decoded length against `x-amz-decoded-content-length`, the trailer's signature and the
//! checksum. The decoder's memory is bounded: one line of at most [`MAX_LINE`] bytes, one
//! chunk hash, one checksum hasher, one held-back byte.
//!
//! # Committing no unverified byte
//!
//! A chunk's signature covers the whole chunk and the checksum covers the whole body, so
//! integrity is known only at the end. The decoder therefore **withholds the payload's last
//! byte** until the whole body has verified: it is the last [`Event::Data`], yielded just
//! before [`Event::Complete`]. A caller that forwards the data to the backend
//!
//! 1. with a fixed `Content-Length` equal to the decoded length (never
//!    `Transfer-Encoding: chunked`), and
//! 2. on any error of [`Decoder::feed`] or [`Decoder::finish`], aborts the upstream request
//!    (drops the connection) instead of ending it,
//!
//! never lets the backend see a complete body that has not verified, so the backend commits
//! nothing. (Bytes after the body's end are an error reported after [`Event::Complete`]: the
//! payload released then has verified.) An empty payload has no byte to withhold: the caller sends nothing upstream before
//! [`Event::Complete`]. A caller that wants to release only verified bytes (no partial bytes
//! at the backend at all) buffers the data up to each [`Event::ChunkVerified`] (chunks are at
//! most a few MiB, and their size is declared up front); in the unsigned mode only the end
//! verifies.
//!
//! # Modes
//!
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk carries `chunk-signature`, chained from
//!   the request's seed signature (string to sign `AWS4-HMAC-SHA256-PAYLOAD`, the request's
//!   date and scope, the previous signature, the hash of the empty string, the hash of the
//!   chunk's data); the final chunk has no data and is signed too.
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: the same, then a trailer block signed with
//!   `AWS4-HMAC-SHA256-TRAILER` over the canonical trailers, chained from the final chunk.
//! - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: chunks without signatures (a `chunk-signature`
//!   some SDKs add anyway is ignored: nothing chains it), then the trailer block unsigned; the
//!   checksum is the body's only integrity.
//!
//! Chunk signatures reuse the seed request's `X-Amz-Date`; the clock is not checked again per
//! chunk. Chunks shorter than 8 KiB are accepted (clients send short middle chunks).
//!
//! ```
//! use keyless_s3::chunked::{ChunkSigning, Decoder, Event, PayloadMode};
//!
//! // AWS's documented example: 65536 + 1024 bytes of `a`, signed chunks.
//! let signing = ChunkSigning::new(
//!     "AKIAIOSFODNN7EXAMPLE",
//!     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
//!     "20130524T000000Z",
//!     "20130524/us-east-1/s3/aws4_request",
//!     "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
//! ).unwrap();
//! let mut body = b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n".to_vec();
//! body.extend_from_slice(&[b'a'; 65536]);
//! body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
//! body.extend_from_slice(&[b'a'; 1024]);
//! body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
//!
//! let mut decoder = Decoder::new(PayloadMode::Signed, 66560, None, Some(signing)).unwrap();
//! let (mut payload, mut verified, mut complete) = (Vec::new(), 0, false);
//! for piece in body.chunks(1000) {
//!     for event in decoder.feed(piece).unwrap() {
//!         match event {
//!             Event::Data(data) => payload.extend_from_slice(data),
//!             Event::ChunkVerified => verified += 1,
//!             Event::Complete { .. } => complete = true,
//!         }
//!     }
//! }
//! decoder.finish().unwrap();
//! assert_eq!((payload, verified, complete), (vec![b'a'; 66560], 3, true));
//!
//! // One altered byte: the chunk's signature no longer verifies.
//! let mut altered = body.clone();
//! altered[100] = b'b';
//! let signing = ChunkSigning::new(
//!     "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z",
//!     "20130524/us-east-1/s3/aws4_request",
//!     "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
//! ).unwrap();
//! let mut decoder = Decoder::new(PayloadMode::Signed, 66560, None, Some(signing)).unwrap();
//! assert_eq!(decoder.feed(&altered).unwrap_err().code(), "SignatureDoesNotMatch");
//! ```

use std::ops::Range;

use aws_lc_rs::{digest, hmac};
use http::HeaderMap;
use keyless_credentials::sigv4::{derive_signing_key, hex};
use subtle::ConstantTimeEq;

use crate::checksum::{self, Checksum, ChecksumAlgorithm, DeclaredChecksum, Hasher};
use crate::error::S3Error;

/// The longest chunk header or trailer line, `\r\n` included.
pub const MAX_LINE: usize = 4096;

/// `x-amz-content-sha256` of signed chunks.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` of signed chunks with a signed trailer.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` of unsigned chunks with a trailer.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// `x-amz-decoded-content-length`: the payload's length once decoded.
pub const DECODED_LENGTH_HEADER: &str = "x-amz-decoded-content-length";

const CONTENT_SHA256_HEADER: &str = "x-amz-content-sha256";
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
const CHUNK_SIGNATURE: &[u8] = b"chunk-signature=";
/// Hex SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How an aws-chunked body is signed, from `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    SignedWithTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedWithTrailer,
}

impl PayloadMode {
    /// The `x-amz-content-sha256` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadMode::Signed => STREAMING_SIGNED,
            PayloadMode::SignedWithTrailer => STREAMING_SIGNED_TRAILER,
            PayloadMode::UnsignedWithTrailer => STREAMING_UNSIGNED_TRAILER,
        }
    }

    /// Whether chunks carry signatures.
    pub fn signed(self) -> bool {
        self != PayloadMode::UnsignedWithTrailer
    }

    /// Whether a trailer block follows the final chunk.
    pub fn has_trailer(self) -> bool {
        self != PayloadMode::Signed
    }

    /// The aws-chunked mode of a request: `None` when `x-amz-content-sha256` names none (a
    /// hex hash, `UNSIGNED-PAYLOAD`, or absent), `NotImplemented` for SigV4A's
    /// `STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD[-TRAILER]`.
    pub fn of_request(headers: &HeaderMap) -> Result<Option<PayloadMode>, S3Error> {
        let Some(value) = headers.get(CONTENT_SHA256_HEADER) else {
            return Ok(None);
        };
        Ok(match value.as_bytes() {
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Some(PayloadMode::Signed),
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Some(PayloadMode::SignedWithTrailer),
            b"STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Some(PayloadMode::UnsignedWithTrailer),
            b"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
            | b"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => {
                return Err(S3Error::NotImplemented {
                    message: "A header you provided implies functionality that is not implemented."
                        .to_owned(),
                });
            }
            _ => None,
        })
    }
}

/// The signing state of a signed aws-chunked body: the key of the request's credential scope,
/// its date and scope, and the signature each chunk chains from.
pub struct ChunkSigning {
    access_key_id: String,
    key: hmac::Key,
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigning {
    /// The signing state of a request whose seed signature (the `Signature` of its
    /// `Authorization` header, already verified) is `seed_signature`, signed by
    /// `access_key_id` with `secret` at `amz_date` (`X-Amz-Date`) in `scope`
    /// (`YYYYMMDD/region/service/aws4_request`). A scope or seed of another shape is
    /// `InternalError`: the request's signature was verified with them.
    pub fn new(
        access_key_id: &str,
        secret: &str,
        amz_date: &str,
        scope: &str,
        seed_signature: &str,
    ) -> Result<ChunkSigning, S3Error> {
        let parts: Vec<&str> = scope.split('/').collect();
        let [date, region, service, "aws4_request"] = parts.as_slice() else {
            return Err(S3Error::InternalError);
        };
        let key = derive_signing_key(secret, date, region, service);
        ChunkSigning::with_key(access_key_id, key, amz_date, scope, seed_signature)
    }

    /// [`ChunkSigning::new`] with the scope's signing key already derived (as the seed
    /// signature was verified with it, e.g. from a `SigningKeyCache`).
    pub fn with_key(
        access_key_id: &str,
        key: hmac::Key,
        amz_date: &str,
        scope: &str,
        seed_signature: &str,
    ) -> Result<ChunkSigning, S3Error> {
        if scope.split('/').count() != 4 || parse_signature(seed_signature.as_bytes()).is_none() {
            return Err(S3Error::InternalError);
        }
        Ok(ChunkSigning {
            access_key_id: access_key_id.to_owned(),
            key,
            amz_date: amz_date.to_owned(),
            scope: scope.to_owned(),
            previous: seed_signature.to_ascii_lowercase(),
        })
    }

    /// The signature of the next chunk, whose data hashes to `data_sha256` (hex).
    fn chunk_signature(&self, data_sha256: &str) -> [u8; 32] {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_sha256}",
            self.amz_date, self.scope, self.previous
        );
        self.sign(&string_to_sign)
    }

    /// The signature of the trailer block whose canonical form is `canonical`.
    fn trailer_signature(&self, canonical: &[u8]) -> [u8; 32] {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(digest::digest(&digest::SHA256, canonical).as_ref())
        );
        self.sign(&string_to_sign)
    }

    fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&self.key, string_to_sign.as_bytes()).as_ref());
        out
    }

    /// Compares `provided` with `expected` in constant time; on a match, `expected` becomes
    /// the signature the next one chains from.
    fn check(&mut self, expected: [u8; 32], provided: &[u8; 32]) -> Result<(), S3Error> {
        if bool::from(expected.ct_eq(provided)) {
            self.previous = hex(&expected);
            Ok(())
        } else {
            Err(S3Error::SignatureDoesNotMatch {
                access_key_id: self.access_key_id.clone(),
                string_to_sign: String::new(),
                canonical_request: String::new(),
            })
        }
    }
}

impl std::fmt::Debug for ChunkSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("access_key_id", &self.access_key_id)
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What [`Decoder::feed`] found in its input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Decoded payload bytes. Not verified yet: see the module's documentation for what the
    /// caller must do before the backend may commit them.
    Data(&'a [u8]),
    /// The chunk that just ended verified: every byte yielded so far is covered by a verified
    /// chunk signature (signed modes only).
    ChunkVerified,
    /// The whole body verified: chunk signatures, decoded length, trailer signature and
    /// checksum. Nothing follows.
    Complete {
        /// The checksum the client declared (header or trailer) and the body matched, to
        /// forward to the backend.
        checksum: Option<Checksum>,
    },
}

/// What the decoder expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A chunk header line `hex-size[;chunk-signature=…]`.
    ChunkHeader,
    /// Chunk data, this many bytes to go.
    Data(u64),
    /// The `\r\n` after chunk data; how many of its bytes have arrived.
    DataEnd(u8),
    /// The lines after the final chunk: trailers, the trailer signature, the empty line.
    Trailer,
    /// Verified; one optional `\r\n` may still arrive (this many of its bytes have).
    Done(u8),
    /// An error was returned; every later call returns it again.
    Failed,
}

/// What a trailer block held.
#[derive(Debug, Default)]
struct Trailers {
    /// The checksum trailer's value, trimmed.
    checksum: Option<Vec<u8>>,
    /// The trailer signature.
    signature: Option<[u8; 32]>,
    /// Whether a stray empty line before the trailers was skipped.
    skipped_empty_line: bool,
}

/// An internal event, data as a range of the input.
enum RawEvent {
    Data(Range<usize>),
    ChunkVerified,
    Complete,
}

/// The incremental aws-chunked decoder (see the module's documentation).
pub struct Decoder {
    mode: PayloadMode,
    decoded_length: u64,
    decoded: u64,
    declared: Option<DeclaredChecksum>,
    hasher: Option<Hasher>,
    signing: Option<ChunkSigning>,
    chunk_hash: Option<digest::Context>,
    chunk_signature: [u8; 32],
    state: State,
    line: Vec<u8>,
    trailers: Trailers,
    held: Option<u8>,
    verified_checksum: Option<Checksum>,
    error: Option<S3Error>,
}

impl Decoder {
    /// A decoder for a body in `mode` that decodes to `decoded_length` bytes
    /// (`x-amz-decoded-content-length`), with the checksum the request declared
    /// ([`checksum::declared`]) and, for the signed modes, the request's signing state.
    ///
    /// A trailer declared for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (which has no trailer) is
    /// `MalformedTrailerError`; a signed mode without signing state, or signing state for the
    /// unsigned mode, is `InternalError`.
    pub fn new(
        mode: PayloadMode,
        decoded_length: u64,
        declared: Option<DeclaredChecksum>,
        signing: Option<ChunkSigning>,
    ) -> Result<Decoder, S3Error> {
        if mode.signed() != signing.is_some() {
            return Err(S3Error::InternalError);
        }
        if !mode.has_trailer() && matches!(declared, Some(DeclaredChecksum::Trailer(_))) {
            return Err(S3Error::MalformedTrailer);
        }
        Ok(Decoder {
            mode,
            decoded_length,
            decoded: 0,
            hasher: declared.as_ref().map(|d| d.algorithm().hasher()),
            declared,
            signing,
            chunk_hash: None,
            chunk_signature: [0; 32],
            state: State::ChunkHeader,
            line: Vec::with_capacity(128),
            trailers: Trailers::default(),
            held: None,
            verified_checksum: None,
            error: None,
        })
    }

    /// The decoder for an aws-chunked request: its mode (`x-amz-content-sha256`), its decoded
    /// length (`x-amz-decoded-content-length`: absent is `MissingContentLength`, not a
    /// decimal number `InvalidArgument`) and its declared checksum. `signing` is required
    /// for the signed modes. A request that is not aws-chunked is `InvalidRequest`.
    pub fn for_request(
        headers: &HeaderMap,
        signing: Option<ChunkSigning>,
    ) -> Result<Decoder, S3Error> {
        let mode = PayloadMode::of_request(headers)?.ok_or_else(|| S3Error::InvalidRequest {
            message: "The request is not an aws-chunked upload.".to_owned(),
        })?;
        if headers.get_all(DECODED_LENGTH_HEADER).iter().count() > 1 {
            return Err(S3Error::invalid_argument(
                "This header may appear only once.",
                DECODED_LENGTH_HEADER,
                "",
            ));
        }
        let length = headers
            .get(DECODED_LENGTH_HEADER)
            .ok_or(S3Error::MissingContentLength)?;
        let decoded_length = std::str::from_utf8(length.as_bytes())
            .ok()
            .filter(|v| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "x-amz-decoded-content-length must be a non-negative integer.",
                    DECODED_LENGTH_HEADER,
                    &String::from_utf8_lossy(length.as_bytes()),
                )
            })?;
        Decoder::new(mode, decoded_length, checksum::declared(headers)?, signing)
    }

    /// The mode.
    pub fn mode(&self) -> PayloadMode {
        self.mode
    }

    /// The decoded length the request declared.
    pub fn decoded_length(&self) -> u64 {
        self.decoded_length
    }

    /// Decodes the next slice of the body. On an error the body must be refused (and any
    /// forwarded upload aborted); the decoder then answers every call with the same error.
    pub fn feed<'a>(&'a mut self, input: &'a [u8]) -> Result<Vec<Event<'a>>, S3Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let mut raw = Vec::new();
        if let Err(error) = self.run(input, &mut raw) {
            self.state = State::Failed;
            self.error = Some(error.clone());
            return Err(error);
        }
        let this: &'a Decoder = self;
        let mut events = Vec::with_capacity(raw.len() + 1);
        for event in raw {
            match event {
                RawEvent::Data(range) => events.push(Event::Data(&input[range])),
                RawEvent::ChunkVerified => events.push(Event::ChunkVerified),
                RawEvent::Complete => {
                    if let Some(byte) = &this.held {
                        events.push(Event::Data(std::slice::from_ref(byte)));
                    }
                    events.push(Event::Complete {
                        checksum: this.verified_checksum.clone(),
                    });
                }
            }
        }
        Ok(events)
    }

    /// Checks, at the end of the body, that it was complete: `IncompleteBody` when it ended
    /// before [`Event::Complete`].
    pub fn finish(&self) -> Result<(), S3Error> {
        match (&self.error, self.state) {
            (Some(error), _) => Err(error.clone()),
            (None, State::Done(_)) => Ok(()),
            (None, _) => Err(S3Error::IncompleteBody),
        }
    }

    fn run(&mut self, input: &[u8], events: &mut Vec<RawEvent>) -> Result<(), S3Error> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::ChunkHeader | State::Trailer => {
                    let rest = &input[pos..];
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(end) => {
                            if self.line.len() + end + 1 > MAX_LINE {
                                return Err(self.line_too_long());
                            }
                            self.line.extend_from_slice(&rest[..end]);
                            pos += end + 1;
                            let mut line = std::mem::take(&mut self.line);
                            if line.pop() != Some(b'\r') {
                                return Err(self.malformed_line());
                            }
                            let result = if self.state == State::ChunkHeader {
                                self.chunk_header(&line, events)
                            } else {
                                self.trailer_line(&line, events)
                            };
                            line.clear();
                            self.line = line;
                            result?;
                        }
                        None => {
                            if self.line.len() + rest.len() >= MAX_LINE {
                                return Err(self.line_too_long());
                            }
                            self.line.extend_from_slice(rest);
                            pos = input.len();
                        }
                    }
                }
                State::Data(remaining) => {
                    let available = (input.len() - pos) as u64;
                    let take = remaining.min(available) as usize;
                    let data = &input[pos..pos + take];
                    if let Some(hash) = &mut self.chunk_hash {
                        hash.update(data);
                    }
                    if let Some(hasher) = &mut self.hasher {
                        hasher.update(data);
                    }
                    self.decoded += take as u64;
                    let mut end = pos + take;
                    if self.decoded == self.decoded_length && take > 0 {
                        // The payload's last byte waits for the whole body to verify.
                        end -= 1;
                        self.held = Some(input[end]);
                    }
                    if end > pos {
                        events.push(RawEvent::Data(pos..end));
                    }
                    pos += take;
                    let remaining = remaining - take as u64;
                    if remaining == 0 {
                        self.end_of_chunk_data(events)?;
                        self.state = State::DataEnd(0);
                    } else {
                        self.state = State::Data(remaining);
                    }
                }
                State::DataEnd(seen) | State::Done(seen) => {
                    if seen > 1 || input[pos] != b"\r\n"[usize::from(seen)] {
                        return Err(match self.state {
                            State::Done(_) => after_the_end(),
                            _ => malformed("chunk data is not followed by CRLF"),
                        });
                    }
                    pos += 1;
                    self.state = match (self.state, seen) {
                        (State::DataEnd(_), 0) => State::DataEnd(1),
                        (State::DataEnd(_), _) => State::ChunkHeader,
                        (_, seen) => State::Done(seen + 1),
                    };
                }
                State::Failed => return Err(S3Error::InternalError),
            }
        }
        Ok(())
    }

    fn line_too_long(&self) -> S3Error {
        if self.state == State::Trailer {
            S3Error::MalformedTrailer
        } else {
            malformed("a chunk header is too long")
        }
    }

    fn malformed_line(&self) -> S3Error {
        if self.state == State::Trailer {
            S3Error::MalformedTrailer
        } else {
            malformed("a chunk header does not end with CRLF")
        }
    }

    /// A chunk header: its size, and its signature in the signed modes.
    fn chunk_header(&mut self, line: &[u8], events: &mut Vec<RawEvent>) -> Result<(), S3Error> {
        let (size, extension) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed("a chunk size is not hexadecimal"));
        }
        let size = size
            .iter()
            .fold(0u64, |n, &b| (n << 4) | u64::from(hex_value(b)));
        let signature = match extension {
            Some(extension) => Some(
                extension
                    .strip_prefix(CHUNK_SIGNATURE)
                    .ok_or_else(|| malformed("a chunk header has an unknown extension"))?,
            ),
            None => None,
        };
        if self.mode.signed() {
            let signature =
                signature.ok_or_else(|| malformed("a signed chunk has no chunk-signature"))?;
            self.chunk_signature =
                parse_signature(signature).ok_or_else(|| self.signature_mismatch())?;
        }
        if size > self.decoded_length - self.decoded {
            return Err(S3Error::IncompleteBody);
        }
        if self.mode.signed() {
            self.chunk_hash = Some(digest::Context::new(&digest::SHA256));
        }
        if size > 0 {
            self.state = State::Data(size);
            return Ok(());
        }
        // The final chunk: signed over no data, and the payload must be complete.
        self.end_of_chunk_data(events)?;
        if self.decoded != self.decoded_length {
            return Err(S3Error::IncompleteBody);
        }
        self.state = State::Trailer;
        Ok(())
    }

    /// Verifies the signature of the chunk whose data just ended.
    fn end_of_chunk_data(&mut self, events: &mut Vec<RawEvent>) -> Result<(), S3Error> {
        let (Some(signing), Some(hash)) = (&mut self.signing, self.chunk_hash.take()) else {
            return Ok(());
        };
        let expected = signing.chunk_signature(&hex(hash.finish().as_ref()));
        signing.check(expected, &self.chunk_signature)?;
        events.push(RawEvent::ChunkVerified);
        Ok(())
    }

    /// A line after the final chunk.
    fn trailer_line(&mut self, line: &[u8], events: &mut Vec<RawEvent>) -> Result<(), S3Error> {
        let expects_something = (self.mode.signed() && self.mode.has_trailer())
            || matches!(self.declared, Some(DeclaredChecksum::Trailer(_)));
        if line.is_empty() {
            let nothing_read = self.trailers.checksum.is_none();
            if nothing_read && expects_something && !self.trailers.skipped_empty_line {
                self.trailers.skipped_empty_line = true;
                return Ok(());
            }
            return self.complete(events);
        }
        if !self.mode.has_trailer() {
            return Err(S3Error::MalformedTrailer);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(S3Error::MalformedTrailer)?;
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if self.mode.signed() && name.eq_ignore_ascii_case(TRAILER_SIGNATURE.as_bytes()) {
            if self.trailers.signature.is_some() {
                return Err(S3Error::MalformedTrailer);
            }
            self.trailers.signature =
                Some(parse_signature(value).ok_or(S3Error::MalformedTrailer)?);
            // The signature is the block's last line; a final empty line may still follow.
            return self.complete(events);
        }
        match self.declared {
            Some(DeclaredChecksum::Trailer(algorithm))
                if name.eq_ignore_ascii_case(algorithm.header_name().as_bytes())
                    && self.trailers.checksum.is_none() =>
            {
                self.trailers.checksum = Some(value.to_vec());
                Ok(())
            }
            _ => Err(S3Error::MalformedTrailer),
        }
    }

    /// The end of the trailer block: the trailer signature, then the checksum.
    fn complete(&mut self, events: &mut Vec<RawEvent>) -> Result<(), S3Error> {
        let expected = match self.declared.clone() {
            Some(DeclaredChecksum::Trailer(algorithm)) => {
                let value = self
                    .trailers
                    .checksum
                    .as_deref()
                    .ok_or(S3Error::MalformedTrailer)?;
                Some((algorithm, value))
            }
            _ => None,
        };
        if self.mode.signed() && self.mode.has_trailer() {
            let provided = self.trailers.signature.ok_or(S3Error::MalformedTrailer)?;
            let mut canonical = Vec::with_capacity(64);
            if let Some((algorithm, value)) = expected {
                canonical.extend_from_slice(algorithm.header_name().as_bytes());
                canonical.push(b':');
                canonical.extend_from_slice(value);
                canonical.push(b'\n');
            }
            let signing = self.signing.as_mut().ok_or(S3Error::InternalError)?;
            let expected_signature = signing.trailer_signature(&canonical);
            signing.check(expected_signature, &provided)?;
        }
        let declared = match (&self.declared, expected) {
            (Some(DeclaredChecksum::Header(checksum)), _) => Some(checksum.clone()),
            (_, Some((algorithm, value))) => Some(algorithm.decode_value(value, true)?),
            _ => None,
        };
        if let (Some(declared), Some(hasher)) = (declared, self.hasher.take()) {
            hasher.finish().verify(&declared)?;
            self.verified_checksum = Some(declared);
        }
        self.state = State::Done(0);
        events.push(RawEvent::Complete);
        Ok(())
    }

    fn signature_mismatch(&self) -> S3Error {
        S3Error::SignatureDoesNotMatch {
            access_key_id: self
                .signing
                .as_ref()
                .map(|s| s.access_key_id.clone())
                .unwrap_or_default(),
            string_to_sign: String::new(),
            canonical_request: String::new(),
        }
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("mode", &self.mode)
            .field("decoded_length", &self.decoded_length)
            .field("decoded", &self.decoded)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// `InvalidRequest` for a body that does not follow the aws-chunked framing.
fn malformed(what: &str) -> S3Error {
    S3Error::InvalidRequest {
        message: format!("The aws-chunked body is not well-formed: {what}."),
    }
}

fn after_the_end() -> S3Error {
    malformed("data follows the end of the body")
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// A signature: exactly 64 hexadecimal digits.
fn parse_signature(value: &[u8]) -> Option<[u8; 32]> {
    if value.len() != 64 || !value.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(value.chunks_exact(2)) {
        *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
    }
    Some(out)
}

/// Frames data as `STREAMING-UNSIGNED-PAYLOAD-TRAILER` chunks of a fixed size, so that the
/// encoded length ([`encoded_length`]) is known before the first byte is sent. It buffers at
/// most one chunk.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: usize,
    pending: Vec<u8>,
}

impl ChunkEncoder {
    /// An encoder of `chunk_size`-byte chunks (at least 1; 64 KiB is what SDKs use).
    pub fn new(chunk_size: usize) -> ChunkEncoder {
        let chunk_size = chunk_size.max(1);
        ChunkEncoder {
            chunk_size,
            pending: Vec::with_capacity(chunk_size.min(1 << 20)),
        }
    }

    /// Appends `data`, writing every chunk it completes to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while !data.is_empty() {
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.chunk_size {
                out.extend_from_slice(&encode_chunk(&self.pending));
                self.pending.clear();
            }
        }
    }

    /// Writes the last partial chunk, the final chunk and the trailer block to `out`.
    pub fn finish(self, checksum: Option<&Checksum>, out: &mut Vec<u8>) {
        out.extend_from_slice(&encode_chunk(&self.pending));
        out.extend_from_slice(&encode_trailer(checksum));
    }
}

/// One unsigned chunk: `hex-size\r\ndata\r\n`. Empty data encodes to nothing (the empty
/// chunk is the final one, [`encode_trailer`]).
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(data.len() + 20);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The final chunk and the trailer block: `0\r\n`, the checksum trailer when there is one
/// (`x-amz-checksum-crc32:…\r\n`), and the empty line.
pub fn encode_trailer(checksum: Option<&Checksum>) -> Vec<u8> {
    let mut out = b"0\r\n".to_vec();
    if let Some(checksum) = checksum {
        out.extend_from_slice(checksum.algorithm.header_name().as_bytes());
        out.push(b':');
        out.extend_from_slice(checksum.to_base64().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The length of a body of `decoded_length` bytes framed by [`ChunkEncoder`] with
/// `chunk_size`, with a trailer of `trailer`'s checksum: the `Content-Length` to send.
pub fn encoded_length(
    decoded_length: u64,
    chunk_size: usize,
    trailer: Option<ChecksumAlgorithm>,
) -> u64 {
    let chunk_size = chunk_size.max(1) as u64;
    let framed = |size: u64| format!("{size:x}").len() as u64 + 2 + size + 2;
    let full = decoded_length / chunk_size;
    let rest = decoded_length % chunk_size;
    let mut total = full * framed(chunk_size);
    if rest > 0 {
        total += framed(rest);
    }
    total += 3 + 2;
    if let Some(algorithm) = trailer {
        let value_len = algorithm.digest_len().div_ceil(3) * 4;
        total += (algorithm.header_name().len() + 1 + value_len + 2) as u64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const SIGNATURES: [&str; 3] = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];
    const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
    const TRAILER_SIGNATURES: [&str; 3] = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ];
    const TRAILER_SIGNATURE_VALUE: &str =
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";
    const PAYLOAD_LEN: u64 = 66_560;

    fn signing(seed: &str) -> ChunkSigning {
        ChunkSigning::new(
            "AKIAIOSFODNN7EXAMPLE",
            SECRET,
            "20130524T000000Z",
            SCOPE,
            seed,
        )
        .unwrap()
    }

    /// AWS's example body: 65536 and 1024 bytes of `a`, then the final chunk and `after`.
    fn example_body(signatures: [&str; 3], after: &[u8]) -> Vec<u8> {
        let mut body = format!("10000;chunk-signature={}\r\n", signatures[0]).into_bytes();
        body.extend_from_slice(&[b'a'; 65_536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", signatures[1]).as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n", signatures[2]).as_bytes());
        body.extend_from_slice(after);
        body
    }

    fn trailer_after(prefix: &str, suffix: &str) -> Vec<u8> {
        format!(
            "{prefix}x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIGNATURE_VALUE}\r\n{suffix}"
        )
        .into_bytes()
    }

    #[derive(Debug, Default, PartialEq)]
    struct Outcome {
        data: Vec<u8>,
        verified: usize,
        checksum: Option<Checksum>,
        complete: bool,
    }

    /// Feeds `body` in pieces of `split` bytes.
    fn decode(mut decoder: Decoder, body: &[u8], split: usize) -> Result<Outcome, S3Error> {
        let mut outcome = Outcome::default();
        for piece in body.chunks(split.max(1)) {
            for event in decoder.feed(piece)? {
                match event {
                    Event::Data(data) => outcome.data.extend_from_slice(data),
                    Event::ChunkVerified => outcome.verified += 1,
                    Event::Complete { checksum } => {
                        assert!(!outcome.complete, "one Complete");
                        outcome.complete = true;
                        outcome.checksum = checksum;
                    }
                }
            }
        }
        decoder.finish()?;
        Ok(outcome)
    }

    fn signed_decoder() -> Decoder {
        Decoder::new(PayloadMode::Signed, PAYLOAD_LEN, None, Some(signing(SEED))).unwrap()
    }

    fn trailer_decoder() -> Decoder {
        Decoder::new(
            PayloadMode::SignedWithTrailer,
            PAYLOAD_LEN,
            Some(DeclaredChecksum::Trailer(ChecksumAlgorithm::Crc32c)),
            Some(signing(TRAILER_SEED)),
        )
        .unwrap()
    }

    fn unsigned_decoder(length: u64, algorithm: Option<ChecksumAlgorithm>) -> Decoder {
        Decoder::new(
            PayloadMode::UnsignedWithTrailer,
            length,
            algorithm.map(DeclaredChecksum::Trailer),
            None,
        )
        .unwrap()
    }

    #[test]
    fn awss_signed_example_verifies_at_every_split() {
        let body = example_body(SIGNATURES, b"\r\n");
        for split in [1, 2, 7, 88, 89, 1000, 65_536, body.len()] {
            let outcome = decode(signed_decoder(), &body, split).unwrap();
            assert_eq!(
                outcome.data,
                vec![b'a'; PAYLOAD_LEN as usize],
                "split {split}"
            );
            assert_eq!(outcome.verified, 3);
            assert!(outcome.complete);
            assert_eq!(outcome.checksum, None);
        }
    }

    #[test]
    fn the_last_byte_is_withheld_until_the_body_verified() {
        let body = example_body(SIGNATURES, b"\r\n");
        let mut decoder = signed_decoder();
        let without_final = body.len() - 88;
        let events = decoder.feed(&body[..without_final]).unwrap();
        let yielded: usize = events
            .iter()
            .map(|e| match e {
                Event::Data(d) => d.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(yielded as u64, PAYLOAD_LEN - 1, "one byte held back");
        assert!(!events.iter().any(|e| matches!(e, Event::Complete { .. })));
        assert_eq!(decoder.finish().unwrap_err().code(), "IncompleteBody");
        let events = decoder.feed(&body[without_final..]).unwrap();
        assert_eq!(
            events,
            vec![
                Event::ChunkVerified,
                Event::Data(b"a"),
                Event::Complete { checksum: None }
            ]
        );
        decoder.finish().unwrap();
    }

    #[test]
    fn awss_signed_trailer_example_verifies_with_every_ending() {
        for after in [
            trailer_after("", "\r\n"),
            trailer_after("", ""),
            trailer_after("\r\n", "\r\n"),
        ] {
            let body = example_body(TRAILER_SIGNATURES, &after);
            for split in [1, 3, 1000, body.len()] {
                let outcome = decode(trailer_decoder(), &body, split).unwrap();
                assert_eq!(outcome.data.len() as u64, PAYLOAD_LEN);
                assert_eq!(outcome.verified, 3);
                assert_eq!(
                    outcome.checksum.map(|c| c.to_base64()),
                    Some("sOO8/Q==".to_owned())
                );
            }
        }
    }

    #[test]
    fn a_tampered_signed_body_is_refused() {
        let body = example_body(SIGNATURES, b"\r\n");
        let mut altered = body.clone();
        altered[88 + 65_535] = b'b';
        let error = decode(signed_decoder(), &altered, 4096).unwrap_err();
        assert_eq!(error.code(), "SignatureDoesNotMatch");
        assert!(error.to_xml("/", "R", "H").contains("AKIAIOSFODNN7EXAMPLE"));
        // The chain: a valid chunk signature in another position does not verify.
        let swapped = example_body([SIGNATURES[1], SIGNATURES[0], SIGNATURES[2]], b"\r\n");
        assert_eq!(
            decode(signed_decoder(), &swapped, 100_000)
                .unwrap_err()
                .code(),
            "SignatureDoesNotMatch"
        );
        // The final chunk is signed too.
        let bad_final = example_body([SIGNATURES[0], SIGNATURES[1], SIGNATURES[1]], b"\r\n");
        let error = decode(signed_decoder(), &bad_final, 100_000).unwrap_err();
        assert_eq!(error.code(), "SignatureDoesNotMatch");
        // Not hexadecimal, or too short.
        let not_hex = example_body([&"g".repeat(64), SIGNATURES[1], SIGNATURES[2]], b"\r\n");
        assert_eq!(
            decode(signed_decoder(), &not_hex, 100_000)
                .unwrap_err()
                .code(),
            "SignatureDoesNotMatch"
        );
        let short = example_body(
            [&SIGNATURES[0][..63], SIGNATURES[1], SIGNATURES[2]],
            b"\r\n",
        );
        assert_eq!(
            decode(signed_decoder(), &short, 100_000)
                .unwrap_err()
                .code(),
            "SignatureDoesNotMatch"
        );
        // Another seed.
        let decoder = Decoder::new(
            PayloadMode::Signed,
            PAYLOAD_LEN,
            None,
            Some(signing(TRAILER_SEED)),
        )
        .unwrap();
        assert_eq!(
            decode(decoder, &body, 100_000).unwrap_err().code(),
            "SignatureDoesNotMatch"
        );
        // Upper-case hex is the same signature.
        let upper = example_body(
            [
                &SIGNATURES[0].to_uppercase(),
                SIGNATURES[1],
                &SIGNATURES[2].to_uppercase(),
            ],
            b"\r\n",
        );
        assert!(decode(signed_decoder(), &upper, 100_000).is_ok());
    }

    #[test]
    fn a_failed_decoder_stays_failed() {
        let mut decoder = signed_decoder();
        assert_eq!(
            decoder.feed(b"zz\r\n").unwrap_err().code(),
            "InvalidRequest"
        );
        assert_eq!(decoder.feed(b"").unwrap_err().code(), "InvalidRequest");
        assert_eq!(decoder.finish().unwrap_err().code(), "InvalidRequest");
    }

    #[test]
    fn signed_trailer_errors() {
        let refused = |after: &[u8]| {
            decode(
                trailer_decoder(),
                &example_body(TRAILER_SIGNATURES, after),
                997,
            )
            .unwrap_err()
            .code()
        };
        let wrong_signature = format!(
            "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{}\r\n\r\n",
            SIGNATURES[0]
        );
        assert_eq!(refused(wrong_signature.as_bytes()), "SignatureDoesNotMatch");
        // The signature covers the value: another value does not verify, before its checksum
        // is looked at.
        let other_value = format!(
            "x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:{TRAILER_SIGNATURE_VALUE}\r\n\r\n"
        );
        assert_eq!(refused(other_value.as_bytes()), "SignatureDoesNotMatch");
        assert_eq!(
            refused(b"x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n"),
            "MalformedTrailerError"
        );
        let no_checksum = format!("x-amz-trailer-signature:{TRAILER_SIGNATURE_VALUE}\r\n\r\n");
        assert_eq!(refused(no_checksum.as_bytes()), "MalformedTrailerError");
        assert_eq!(
            refused(b"x-amz-trailer-signature:abc\r\n\r\n"),
            "MalformedTrailerError"
        );
        let undeclared = format!("x-amz-checksum-crc32:rwg7LQ==\r\n{}", "\r\n");
        assert_eq!(refused(undeclared.as_bytes()), "MalformedTrailerError");
        assert_eq!(
            refused(b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-checksum-crc32c:sOO8/Q==\r\n"),
            "MalformedTrailerError"
        );
        assert_eq!(refused(b"no colon here\r\n"), "MalformedTrailerError");
        assert_eq!(
            refused(b"x-amz-checksum-crc32c:sOO8/Q==\n"),
            "MalformedTrailerError"
        );
        let long = format!("x-amz-checksum-crc32c:{}\r\n", "A".repeat(MAX_LINE));
        assert_eq!(refused(long.as_bytes()), "MalformedTrailerError");
        let after_the_end = trailer_after("", "\r\nx");
        assert_eq!(refused(&after_the_end), "InvalidRequest");
        // The body ended inside the trailer block.
        assert_eq!(refused(b"x-amz-checksum-crc32c:sOO8"), "IncompleteBody");
    }

    /// The unsigned body of `payload` in `chunk`-byte chunks, ending in `trailer`.
    fn unsigned_body(payload: &[u8], chunk: usize, trailer: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for piece in payload.chunks(chunk) {
            body.extend_from_slice(&encode_chunk(piece));
        }
        body.extend_from_slice(b"0\r\n");
        body.extend_from_slice(trailer.as_bytes());
        body
    }

    #[test]
    fn awscli_unsigned_trailer_body_decodes_and_checks_its_checksum() {
        let body = b"c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:rwg7LQ==\r\n\r\n";
        for split in [1, 5, body.len()] {
            let outcome = decode(
                unsigned_decoder(12, Some(ChecksumAlgorithm::Crc32)),
                body,
                split,
            )
            .unwrap();
            assert_eq!(outcome.data, b"hello world\n");
            assert_eq!(outcome.verified, 0);
            assert_eq!(outcome.checksum.unwrap().to_base64(), "rwg7LQ==");
        }
        let wrong = b"c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        let error = decode(
            unsigned_decoder(12, Some(ChecksumAlgorithm::Crc32)),
            wrong,
            3,
        )
        .unwrap_err();
        assert_eq!(
            (error.code(), error.message().as_str()),
            (
                "BadDigest",
                "The CRC32 you specified did not match the calculated checksum."
            )
        );
        let invalid = b"c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg\r\n\r\n";
        let error = decode(
            unsigned_decoder(12, Some(ChecksumAlgorithm::Crc32)),
            invalid,
            3,
        )
        .unwrap_err();
        assert_eq!(
            error.message(),
            "Value for x-amz-checksum-crc32 trailing header is invalid."
        );
        // An SDK's chunk-signature in the unsigned mode is ignored.
        let with_signature = format!(
            "c;chunk-signature={}\r\nhello world\n\r\n0;chunk-signature={}\r\nx-amz-checksum-crc32:rwg7LQ==\r\n\r\n",
            SIGNATURES[0], SIGNATURES[1]
        );
        assert!(
            decode(
                unsigned_decoder(12, Some(ChecksumAlgorithm::Crc32)),
                with_signature.as_bytes(),
                9
            )
            .is_ok()
        );
    }

    #[test]
    fn unsigned_trailer_errors() {
        let payload = vec![7u8; 300];
        let crc = ChecksumAlgorithm::Crc32.checksum(&payload).to_base64();
        let good = format!("x-amz-checksum-crc32:{crc}\r\n\r\n");
        let decoder = || unsigned_decoder(300, Some(ChecksumAlgorithm::Crc32));
        assert!(decode(decoder(), &unsigned_body(&payload, 100, &good), 1).is_ok());
        let stray = format!("\r\n{good}");
        assert!(decode(decoder(), &unsigned_body(&payload, 100, &stray), 1).is_ok());
        let refused = |body: Vec<u8>| decode(decoder(), &body, 7).unwrap_err().code();
        assert_eq!(
            refused(unsigned_body(&payload, 100, "\r\n\r\n")),
            "MalformedTrailerError"
        );
        assert_eq!(
            refused(unsigned_body(&payload, 100, "\r\n")),
            "IncompleteBody"
        );
        let signature = format!("{good}x-amz-trailer-signature:{TRAILER_SIGNATURE_VALUE}\r\n\r\n");
        assert_eq!(
            refused(unsigned_body(&payload, 100, &signature)),
            "InvalidRequest"
        );
        // Too short, too long, a short chunk stream.
        assert_eq!(
            refused(unsigned_body(&payload[..299], 100, &good)),
            "IncompleteBody"
        );
        let longer = [payload.as_slice(), b"x"].concat();
        assert_eq!(
            refused(unsigned_body(&longer, 100, &good)),
            "IncompleteBody"
        );
        let body = unsigned_body(&payload, 100, &good);
        assert_eq!(refused(body[..150].to_vec()), "IncompleteBody");
        // Without a declared trailer: no trailer may come, the body ends at the empty line.
        let outcome = decode(
            unsigned_decoder(300, None),
            &unsigned_body(&payload, 100, "\r\n"),
            5,
        )
        .unwrap();
        assert_eq!((outcome.data.len(), outcome.checksum), (300, None));
        assert_eq!(
            decode(
                unsigned_decoder(300, None),
                &unsigned_body(&payload, 100, &good),
                5
            )
            .unwrap_err()
            .code(),
            "MalformedTrailerError"
        );
    }

    #[test]
    fn framing_errors() {
        let decoder = || unsigned_decoder(5, None);
        let refused = |body: &[u8]| decode(decoder(), body, 2).unwrap_err();
        for (body, what) in [
            (&b"x\r\nhello\r\n0\r\n\r\n"[..], "hexadecimal"),
            (b"\r\nhello\r\n0\r\n\r\n", "hexadecimal"),
            (b"+5\r\nhello\r\n0\r\n\r\n", "hexadecimal"),
            (b"5 \r\nhello\r\n0\r\n\r\n", "hexadecimal"),
            (b"00000000000000005\r\nhello\r\n0\r\n\r\n", "hexadecimal"),
            (b"5\nhello\r\n0\r\n\r\n", "CRLF"),
            (b"5\r\nhelloX\r\n0\r\n\r\n", "CRLF"),
            (b"5\r\nhello\rX0\r\n\r\n", "CRLF"),
            (b"5;foo=bar\r\nhello\r\n0\r\n\r\n", "extension"),
        ] {
            let error = refused(body);
            assert_eq!(error.code(), "InvalidRequest", "{body:?}");
            assert!(
                error.message().contains(what),
                "{body:?}: {}",
                error.message()
            );
        }
        let long = format!("5;chunk-signature={}\r\n", "a".repeat(MAX_LINE));
        assert!(refused(long.as_bytes()).message().contains("too long"));
        assert_eq!(
            refused(b"6\r\nhello!\r\n0\r\n\r\n").code(),
            "IncompleteBody"
        );
        assert_eq!(refused(b"ffffffffffffffff\r\n").code(), "IncompleteBody");
        assert_eq!(refused(b"5\r\nhel").code(), "IncompleteBody");
        assert!(decode(decoder(), b"5\r\nhello\r\n0000\r\n\r\n", 1).is_ok());
        assert!(decode(decoder(), b"5\r\nhello\r\n0\r\n\r\n\r\n", 1).is_ok());
        assert_eq!(
            refused(b"5\r\nhello\r\n0\r\n\r\n\r\n\r\n").message(),
            after_the_end().message()
        );
        // A signed chunk without its signature.
        let error = decode(signed_decoder(), b"10000\r\n", 3).unwrap_err();
        assert!(error.message().contains("chunk-signature"));
        // Signed mode, a trailer line.
        let error = decode(
            signed_decoder(),
            &example_body(SIGNATURES, b"x:y\r\n\r\n"),
            50_000,
        )
        .unwrap_err();
        assert_eq!(error.code(), "MalformedTrailerError");
    }

    #[test]
    fn an_empty_payload_and_a_header_checksum() {
        let empty = ChecksumAlgorithm::Crc32.checksum(b"");
        let decoder = Decoder::new(
            PayloadMode::UnsignedWithTrailer,
            0,
            Some(DeclaredChecksum::Header(empty.clone())),
            None,
        )
        .unwrap();
        let outcome = decode(decoder, b"0\r\n\r\n", 1).unwrap();
        assert_eq!((outcome.data.len(), outcome.checksum), (0, Some(empty)));
        let other = ChecksumAlgorithm::Crc32.checksum(b"x");
        let decoder = Decoder::new(
            PayloadMode::UnsignedWithTrailer,
            0,
            Some(DeclaredChecksum::Header(other)),
            None,
        )
        .unwrap();
        assert_eq!(
            decode(decoder, b"0\r\n\r\n", 1).unwrap_err().code(),
            "BadDigest"
        );
    }

    #[test]
    fn construction_errors() {
        assert_eq!(
            Decoder::new(PayloadMode::Signed, 1, None, None).unwrap_err(),
            S3Error::InternalError
        );
        assert_eq!(
            Decoder::new(
                PayloadMode::UnsignedWithTrailer,
                1,
                None,
                Some(signing(SEED))
            )
            .unwrap_err(),
            S3Error::InternalError
        );
        assert_eq!(
            Decoder::new(
                PayloadMode::Signed,
                1,
                Some(DeclaredChecksum::Trailer(ChecksumAlgorithm::Crc32)),
                Some(signing(SEED))
            )
            .unwrap_err(),
            S3Error::MalformedTrailer
        );
        for (scope, seed) in [
            ("20130524/us-east-1/s3", SEED),
            ("20130524/us-east-1/s3/aws4_request/x", SEED),
            (SCOPE, "abc"),
        ] {
            assert!(
                ChunkSigning::new("AK", SECRET, "20130524T000000Z", scope, seed).is_err(),
                "{scope} {seed}"
            );
        }
        let key = derive_signing_key(SECRET, "20130524", "us-east-1", "s3");
        let with_key =
            ChunkSigning::with_key("AKIAIOSFODNN7EXAMPLE", key, "20130524T000000Z", SCOPE, SEED)
                .unwrap();
        let decoder = Decoder::new(PayloadMode::Signed, PAYLOAD_LEN, None, Some(with_key)).unwrap();
        assert!(decode(decoder, &example_body(SIGNATURES, b"\r\n"), 5000).is_ok());
        let key = derive_signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert!(ChunkSigning::with_key("AK", key, "20130524T000000Z", "x/y", SEED).is_err());
        let debug = format!("{:?}", signing(SEED));
        assert!(!debug.contains(SECRET) && !debug.contains(SEED), "{debug}");
    }

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn decoders_from_request_headers() {
        let decoder = Decoder::for_request(
            &request(&[
                ("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER),
                ("x-amz-decoded-content-length", "12"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            (decoder.mode(), decoder.decoded_length()),
            (PayloadMode::UnsignedWithTrailer, 12)
        );
        let body = b"c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:rwg7LQ==\r\n\r\n";
        assert!(decode(decoder, body, 4).is_ok());
        let signed = Decoder::for_request(
            &request(&[
                ("x-amz-content-sha256", STREAMING_SIGNED),
                ("x-amz-decoded-content-length", "66560"),
            ]),
            Some(signing(SEED)),
        )
        .unwrap();
        assert!(decode(signed, &example_body(SIGNATURES, b"\r\n"), 4096).is_ok());
        let refused = |pairs: &[(&str, &str)]| {
            Decoder::for_request(&request(pairs), None)
                .unwrap_err()
                .code()
        };
        assert_eq!(
            refused(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]),
            "InvalidRequest"
        );
        assert_eq!(refused(&[]), "InvalidRequest");
        assert_eq!(
            refused(&[(
                "x-amz-content-sha256",
                "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
            )]),
            "NotImplemented"
        );
        assert_eq!(
            refused(&[("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER)]),
            "MissingContentLength"
        );
        for length in ["", "-1", "1e3", "99999999999999999999999", " 1"] {
            assert_eq!(
                refused(&[
                    ("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER),
                    ("x-amz-decoded-content-length", length)
                ]),
                "InvalidArgument",
                "{length}"
            );
        }
        assert_eq!(
            refused(&[
                ("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER),
                ("x-amz-decoded-content-length", "1"),
                ("x-amz-trailer", "x-amz-checksum-md5"),
            ]),
            "InvalidRequest"
        );
        assert_eq!(
            refused(&[
                ("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER),
                ("x-amz-decoded-content-length", "1"),
                ("x-amz-decoded-content-length", "2"),
            ]),
            "InvalidArgument"
        );
        for mode in [
            PayloadMode::Signed,
            PayloadMode::SignedWithTrailer,
            PayloadMode::UnsignedWithTrailer,
        ] {
            let headers = request(&[("x-amz-content-sha256", mode.as_str())]);
            assert_eq!(PayloadMode::of_request(&headers), Ok(Some(mode)));
        }
    }

    #[test]
    fn encoded_bodies_decode_and_have_the_announced_length() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        for (length, chunk_size) in [(0, 64), (1, 64), (64, 64), (65, 64), (70_000, 65_536)] {
            let data = &payload[..length];
            let checksum = ChecksumAlgorithm::Sha256.checksum(data);
            let mut encoder = ChunkEncoder::new(chunk_size);
            let mut body = Vec::new();
            for piece in data.chunks(17) {
                encoder.push(piece, &mut body);
            }
            encoder.finish(Some(&checksum), &mut body);
            assert_eq!(
                body.len() as u64,
                encoded_length(length as u64, chunk_size, Some(ChecksumAlgorithm::Sha256)),
                "{length} in {chunk_size}"
            );
            let decoder = unsigned_decoder(length as u64, Some(ChecksumAlgorithm::Sha256));
            let outcome = decode(decoder, &body, 1000).unwrap();
            assert_eq!(outcome.data, data);
            assert_eq!(outcome.checksum, Some(checksum));
        }
        assert_eq!(encode_trailer(None), b"0\r\n\r\n");
        assert_eq!(encoded_length(0, 10, None), 5);
        assert_eq!(encode_chunk(b""), b"");
        let crc = ChecksumAlgorithm::Crc32.checksum(b"hello world\n");
        let mut encoder = ChunkEncoder::new(1 << 20);
        let mut body = Vec::new();
        encoder.push(b"hello world\n", &mut body);
        encoder.finish(Some(&crc), &mut body);
        assert_eq!(
            body, b"c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:rwg7LQ==\r\n\r\n",
            "botocore's exact bytes"
        );
    }
}
