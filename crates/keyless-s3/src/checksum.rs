//! S3's additional checksums: the algorithms, the checksum a request declares (an
//! `x-amz-checksum-*` header or an `x-amz-trailer`), incremental hashing of the body, and the
//! comparison, with S3's errors.
//!
//! A checksum value is the base64 of the big-endian digest: 4 bytes for CRC32 and CRC32C, 8
//! for CRC64NVME, 20 for SHA1, 32 for SHA256. The algorithms S3 added in 2026 (SHA512, MD5,
//! XXHASH64, XXHASH3, XXHASH128) are refused with `InvalidRequest` rather than let through
//! unverified.
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use keyless_s3::checksum::{declared, ChecksumAlgorithm, DeclaredChecksum};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("x-amz-checksum-crc32", HeaderValue::from_static("rwg7LQ=="));
//! let Some(DeclaredChecksum::Header(expected)) = declared(&headers).unwrap() else { panic!() };
//! let mut hasher = ChecksumAlgorithm::Crc32.hasher();
//! hasher.update(b"hello ");
//! hasher.update(b"world\n");
//! assert_eq!(hasher.finish().verify(&expected), Ok(()));
//! let other = ChecksumAlgorithm::Crc32.checksum(b"hello");
//! assert_eq!(other.verify(&expected).unwrap_err().code(), "BadDigest");
//! ```

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::error::S3Error;

/// `x-amz-trailer`: the trailing headers an aws-chunked body ends with.
pub const TRAILER_HEADER: &str = "x-amz-trailer";
/// `x-amz-sdk-checksum-algorithm`: the algorithm the SDK used for the request's checksum.
pub const SDK_ALGORITHM_HEADER: &str = "x-amz-sdk-checksum-algorithm";
/// The prefix of the checksum headers and trailers.
pub const CHECKSUM_HEADER_PREFIX: &str = "x-amz-checksum-";

/// Headers under [`CHECKSUM_HEADER_PREFIX`] that carry no checksum value.
const NOT_VALUES: [&str; 3] = [
    "x-amz-checksum-algorithm",
    "x-amz-checksum-type",
    "x-amz-checksum-mode",
];

const MSG_UNSUPPORTED_ALGORITHM: &str = "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]";
const MSG_MULTIPLE: &str =
    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.";
const MSG_HEADER_AND_TRAILER: &str = "Expecting a single x-amz-checksum- header";
const MSG_TRAILER_UNSUPPORTED: &str =
    "The value specified in the x-amz-trailer header is not supported";
const MSG_SDK_WITHOUT_CHECKSUM: &str = "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.";
const MSG_SDK_MISMATCH: &str = "Value for x-amz-sdk-checksum-algorithm header is invalid.";

/// A checksum algorithm S3 defines and keyless verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC), S3's default.
    Crc32,
    /// CRC-32C (Castagnoli, iSCSI).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in S3's order.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// S3's name: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header (or trailer) that carries its value: `x-amz-checksum-crc32`, …
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm of a name as `x-amz-sdk-checksum-algorithm` and
    /// `x-amz-checksum-algorithm` carry it (any case).
    pub fn from_name(name: &str) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The algorithm of a header or trailer name (any case).
    pub fn from_header_name(name: &str) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name.trim()))
    }

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// A hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        let state = match self {
            ChecksumAlgorithm::Crc32 => HasherState::Crc(Box::new(crc_fast::Digest::new(
                crc_fast::CrcAlgorithm::Crc32IsoHdlc,
            ))),
            ChecksumAlgorithm::Crc32c => HasherState::Crc(Box::new(crc_fast::Digest::new(
                crc_fast::CrcAlgorithm::Crc32Iscsi,
            ))),
            ChecksumAlgorithm::Crc64Nvme => HasherState::Crc(Box::new(crc_fast::Digest::new(
                crc_fast::CrcAlgorithm::Crc64Nvme,
            ))),
            ChecksumAlgorithm::Sha1 => {
                HasherState::Digest(digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY))
            }
            ChecksumAlgorithm::Sha256 => HasherState::Digest(digest::Context::new(&digest::SHA256)),
        };
        Hasher {
            algorithm: self,
            state,
        }
    }

    /// The checksum of `data`, in one call.
    pub fn checksum(self, data: &[u8]) -> Checksum {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finish()
    }

    /// Decodes a checksum value sent in the header (`trailing == false`) or trailer
    /// (`trailing == true`) of this algorithm: base64 of exactly [`Self::digest_len`] bytes,
    /// else `InvalidRequest` `Value for x-amz-checksum-crc32 header is invalid.` (`trailing
    /// header` for a trailer).
    pub fn decode_value(self, value: &[u8], trailing: bool) -> Result<Checksum, S3Error> {
        let invalid = || S3Error::InvalidRequest {
            message: format!(
                "Value for {} {}header is invalid.",
                self.header_name(),
                if trailing { "trailing " } else { "" }
            ),
        };
        // The longest valid value (SHA256) is 44 characters; anything longer is refused
        // before it is decoded.
        if value.len() > 64 {
            return Err(invalid());
        }
        let bytes = STANDARD.decode(value.trim_ascii()).map_err(|_| invalid())?;
        if bytes.len() != self.digest_len() {
            return Err(invalid());
        }
        Ok(Checksum {
            algorithm: self,
            bytes,
        })
    }
}

/// A checksum: the algorithm and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The big-endian digest.
    pub bytes: Vec<u8>,
}

impl Checksum {
    /// The value as headers and trailers carry it (base64).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.bytes)
    }

    /// Compares with the checksum the client sent (`expected`), in constant time: `BadDigest`
    /// `The CRC32 you specified did not match the calculated checksum.` when they differ.
    pub fn verify(&self, expected: &Checksum) -> Result<(), S3Error> {
        if self.algorithm == expected.algorithm
            && bool::from(self.bytes.as_slice().ct_eq(expected.bytes.as_slice()))
        {
            Ok(())
        } else {
            Err(S3Error::BadDigest {
                message: format!(
                    "The {} you specified did not match the calculated checksum.",
                    expected.algorithm.name()
                ),
            })
        }
    }
}

/// An incremental hasher of one [`ChecksumAlgorithm`].
pub struct Hasher {
    algorithm: ChecksumAlgorithm,
    state: HasherState,
}

enum HasherState {
    Crc(Box<crc_fast::Digest>),
    Digest(digest::Context),
}

impl Hasher {
    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// Hashes `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HasherState::Crc(crc) => crc.update(data),
            HasherState::Digest(context) => context.update(data),
        }
    }

    /// The checksum of everything hashed.
    pub fn finish(self) -> Checksum {
        let bytes = match self.state {
            HasherState::Crc(crc) => {
                let value = crc.finalize();
                match self.algorithm.digest_len() {
                    4 => (value as u32).to_be_bytes().to_vec(),
                    _ => value.to_be_bytes().to_vec(),
                }
            }
            HasherState::Digest(context) => context.finish().as_ref().to_vec(),
        };
        Checksum {
            algorithm: self.algorithm,
            bytes,
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The checksum a request declares for its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaredChecksum {
    /// In a header (`x-amz-checksum-crc32: …`): the body must hash to it.
    Header(Checksum),
    /// In an aws-chunked trailer named by `x-amz-trailer`: the value comes after the body.
    Trailer(ChecksumAlgorithm),
}

impl DeclaredChecksum {
    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            DeclaredChecksum::Header(checksum) => checksum.algorithm,
            DeclaredChecksum::Trailer(algorithm) => *algorithm,
        }
    }
}

/// The checksum a request declares, following S3's rules: at most one `x-amz-checksum-*`
/// header, or an `x-amz-trailer` naming one checksum trailer, never both; an
/// `x-amz-sdk-checksum-algorithm` must name the same algorithm; a header value must be
/// valid base64 of the digest's length. Every violation is `InvalidRequest` with S3's message;
/// an algorithm keyless does not verify is refused, never passed through unverified.
pub fn declared(headers: &HeaderMap) -> Result<Option<DeclaredChecksum>, S3Error> {
    let invalid = |message: &str| S3Error::InvalidRequest {
        message: message.to_owned(),
    };
    let mut header_value = None;
    for (name, value) in headers {
        let name = name.as_str();
        if !name.starts_with(CHECKSUM_HEADER_PREFIX) || NOT_VALUES.contains(&name) {
            continue;
        }
        let algorithm = ChecksumAlgorithm::from_header_name(name)
            .ok_or_else(|| invalid(MSG_UNSUPPORTED_ALGORITHM))?;
        if header_value.is_some() {
            return Err(invalid(MSG_MULTIPLE));
        }
        header_value = Some(algorithm.decode_value(value.as_bytes(), false)?);
    }
    let mut trailer = None;
    for value in headers.get_all(TRAILER_HEADER) {
        let value = value
            .to_str()
            .map_err(|_| invalid(MSG_TRAILER_UNSUPPORTED))?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let algorithm = ChecksumAlgorithm::from_header_name(name)
                .ok_or_else(|| invalid(MSG_TRAILER_UNSUPPORTED))?;
            if trailer.is_some() {
                return Err(invalid(MSG_MULTIPLE));
            }
            trailer = Some(algorithm);
        }
    }
    let declared = match (header_value, trailer) {
        (Some(_), Some(_)) => return Err(invalid(MSG_HEADER_AND_TRAILER)),
        (Some(checksum), None) => Some(DeclaredChecksum::Header(checksum)),
        (None, Some(algorithm)) => Some(DeclaredChecksum::Trailer(algorithm)),
        (None, None) => None,
    };
    if headers.get_all(SDK_ALGORITHM_HEADER).iter().count() > 1 {
        return Err(invalid(MSG_SDK_MISMATCH));
    }
    if let Some(sdk) = headers.get(SDK_ALGORITHM_HEADER) {
        let algorithm = sdk
            .to_str()
            .ok()
            .and_then(ChecksumAlgorithm::from_name)
            .ok_or_else(|| invalid(MSG_UNSUPPORTED_ALGORITHM))?;
        match &declared {
            None => return Err(invalid(MSG_SDK_WITHOUT_CHECKSUM)),
            Some(d) if d.algorithm() != algorithm => return Err(invalid(MSG_SDK_MISMATCH)),
            Some(_) => {}
        }
    }
    Ok(declared)
}

/// The `Content-MD5` of `data`: the base64 of its MD5.
pub fn content_md5(data: &[u8]) -> String {
    use md5::Digest as _;
    STANDARD.encode(md5::Md5::digest(data))
}

/// Checks a body read whole against what its headers declare for it: `Content-MD5`
/// (`InvalidDigest` unless it is the base64 of 16 bytes, `BadDigest` when it differs) and an
/// `x-amz-checksum-*` header ([`declared`]'s rules; `BadDigest` when it differs). A checksum
/// declared as a trailer is the aws-chunked decoder's to check.
pub fn verify_whole(headers: &HeaderMap, data: &[u8]) -> Result<(), S3Error> {
    let mut md5s = headers.get_all("content-md5").iter();
    if let Some(value) = md5s.next() {
        if md5s.next().is_some() {
            return Err(S3Error::InvalidDigest);
        }
        let expected = STANDARD
            .decode(value.as_bytes().trim_ascii())
            .ok()
            .filter(|bytes| bytes.len() == 16)
            .ok_or(S3Error::InvalidDigest)?;
        use md5::Digest as _;
        let computed = md5::Md5::digest(data);
        if !bool::from(computed.as_slice().ct_eq(&expected)) {
            return Err(S3Error::BadDigest {
                message: "The Content-MD5 you specified did not match what we received.".to_owned(),
            });
        }
    }
    if let Some(DeclaredChecksum::Header(expected)) = declared(headers)? {
        expected.algorithm.checksum(data).verify(&expected)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn message(error: S3Error) -> (String, String) {
        (error.code().to_owned(), error.message())
    }

    #[test]
    fn known_values_of_every_algorithm() {
        // Values from real clients: awscli's `hello world\n`, aws-sdk-rust's 70000 × `a`,
        // AWS's chunked-trailer example (65536 + 1024 × `a`), and the check values of each
        // algorithm's catalogue entry for `123456789`.
        assert_eq!(
            ChecksumAlgorithm::Crc32
                .checksum(b"hello world\n")
                .to_base64(),
            "rwg7LQ=="
        );
        assert_eq!(
            ChecksumAlgorithm::Crc32
                .checksum(&[b'a'; 70_000])
                .to_base64(),
            "EiniBA=="
        );
        assert_eq!(
            ChecksumAlgorithm::Crc32c
                .checksum(&[b'a'; 66_560])
                .to_base64(),
            "sOO8/Q=="
        );
        let check = |a: ChecksumAlgorithm| a.checksum(b"123456789").bytes;
        assert_eq!(
            check(ChecksumAlgorithm::Crc32),
            0xCBF4_3926u32.to_be_bytes()
        );
        assert_eq!(
            check(ChecksumAlgorithm::Crc32c),
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            check(ChecksumAlgorithm::Crc64Nvme),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            keyless_credentials::sigv4::hex(&check(ChecksumAlgorithm::Sha1)),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        assert_eq!(
            keyless_credentials::sigv4::hex(&check(ChecksumAlgorithm::Sha256)),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
    }

    #[test]
    fn hashing_in_pieces_equals_hashing_at_once() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in ChecksumAlgorithm::ALL {
            let mut hasher = algorithm.hasher();
            assert_eq!(hasher.algorithm(), algorithm);
            for piece in data.chunks(333) {
                hasher.update(piece);
            }
            let whole = algorithm.checksum(&data);
            assert_eq!(whole.bytes.len(), algorithm.digest_len());
            assert_eq!(hasher.finish(), whole, "{algorithm:?}");
        }
    }

    #[test]
    fn names_round_trip_and_others_are_unknown() {
        for algorithm in ChecksumAlgorithm::ALL {
            assert_eq!(
                ChecksumAlgorithm::from_name(algorithm.name()),
                Some(algorithm)
            );
            assert_eq!(
                ChecksumAlgorithm::from_name(&algorithm.name().to_lowercase()),
                Some(algorithm)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(&algorithm.header_name().to_uppercase()),
                Some(algorithm)
            );
        }
        for other in ["SHA512", "MD5", "XXHASH64", "", "CRC"] {
            assert_eq!(ChecksumAlgorithm::from_name(other), None, "{other}");
        }
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-sha512"),
            None
        );
    }

    #[test]
    fn values_must_be_base64_of_the_digest_length() {
        let crc = ChecksumAlgorithm::Crc32;
        assert_eq!(
            crc.decode_value(b"rwg7LQ==", true).unwrap(),
            crc.checksum(b"hello world\n")
        );
        assert_eq!(
            message(crc.decode_value(b"rwg7LQ", false).unwrap_err()),
            (
                "InvalidRequest".to_owned(),
                "Value for x-amz-checksum-crc32 header is invalid.".to_owned()
            )
        );
        assert_eq!(
            crc.decode_value(b"y/Q5Jg", true).unwrap_err().message(),
            "Value for x-amz-checksum-crc32 trailing header is invalid."
        );
        let sha = ChecksumAlgorithm::Sha256;
        assert!(sha.decode_value(b"rwg7LQ==", false).is_err(), "too short");
        assert!(sha.decode_value(&[b'A'; 100], false).is_err(), "too long");
        assert!(sha.decode_value(b"not base64!", false).is_err());
    }

    #[test]
    fn a_different_digest_is_bad_digest() {
        let computed = ChecksumAlgorithm::Crc64Nvme.checksum(b"abc");
        assert_eq!(computed.verify(&computed.clone()), Ok(()));
        let other = ChecksumAlgorithm::Crc64Nvme.checksum(b"abd");
        assert_eq!(
            message(computed.verify(&other).unwrap_err()),
            (
                "BadDigest".to_owned(),
                "The CRC64NVME you specified did not match the calculated checksum.".to_owned()
            )
        );
        let crc32 = ChecksumAlgorithm::Crc32.checksum(b"abc");
        let crc32c = Checksum {
            algorithm: ChecksumAlgorithm::Crc32c,
            bytes: crc32.bytes.clone(),
        };
        assert!(
            crc32.verify(&crc32c).is_err(),
            "same bytes, other algorithm"
        );
    }

    #[test]
    fn declared_checksums_follow_s3s_rules() {
        let crc = ChecksumAlgorithm::Crc32.checksum(b"hello world\n");
        assert_eq!(declared(&headers(&[])), Ok(None));
        assert_eq!(
            declared(&headers(&[
                ("x-amz-checksum-crc32", "rwg7LQ=="),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-type", "FULL_OBJECT"),
                ("x-amz-checksum-mode", "ENABLED"),
            ])),
            Ok(Some(DeclaredChecksum::Header(crc)))
        );
        assert_eq!(
            declared(&headers(&[
                ("x-amz-trailer", "x-amz-checksum-crc32c"),
                ("x-amz-sdk-checksum-algorithm", "crc32c"),
            ])),
            Ok(Some(DeclaredChecksum::Trailer(ChecksumAlgorithm::Crc32c)))
        );
        let refused = |pairs: &[(&str, &str)]| declared(&headers(pairs)).unwrap_err().message();
        assert_eq!(
            refused(&[
                ("x-amz-checksum-crc32", "rwg7LQ=="),
                ("x-amz-checksum-crc32c", "rwg7LQ==")
            ]),
            MSG_MULTIPLE
        );
        assert_eq!(
            refused(&[
                ("x-amz-checksum-crc32", "rwg7LQ=="),
                ("x-amz-trailer", "x-amz-checksum-crc32c")
            ]),
            MSG_HEADER_AND_TRAILER
        );
        assert_eq!(
            refused(&[("x-amz-trailer", "x-amz-checksum-crc32, x-amz-checksum-sha1")]),
            MSG_MULTIPLE
        );
        assert_eq!(
            refused(&[("x-amz-trailer", "x-amz-checksum-sha512")]),
            MSG_TRAILER_UNSUPPORTED
        );
        assert_eq!(
            refused(&[("x-amz-trailer", "x-amz-meta-a")]),
            MSG_TRAILER_UNSUPPORTED
        );
        assert_eq!(
            refused(&[("x-amz-checksum-xxhash64", "AAAAAAAAAAA=")]),
            MSG_UNSUPPORTED_ALGORITHM
        );
        assert_eq!(
            refused(&[("x-amz-sdk-checksum-algorithm", "CRC32")]),
            MSG_SDK_WITHOUT_CHECKSUM
        );
        assert_eq!(
            refused(&[
                ("x-amz-sdk-checksum-algorithm", "MD4"),
                ("x-amz-checksum-crc32", "rwg7LQ==")
            ]),
            MSG_UNSUPPORTED_ALGORITHM
        );
        assert_eq!(
            refused(&[
                ("x-amz-sdk-checksum-algorithm", "SHA256"),
                ("x-amz-checksum-crc32", "rwg7LQ==")
            ]),
            MSG_SDK_MISMATCH
        );
        assert_eq!(
            refused(&[("x-amz-checksum-sha256", "BAD")]),
            "Value for x-amz-checksum-sha256 header is invalid."
        );
        assert_eq!(
            refused(&[
                ("x-amz-checksum-crc32", "rwg7LQ=="),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
                ("x-amz-sdk-checksum-algorithm", "SHA1"),
            ]),
            MSG_SDK_MISMATCH
        );
        let mut binary = HeaderMap::new();
        binary.insert(
            TRAILER_HEADER,
            http::HeaderValue::from_bytes(b"x-amz-checksum-crc32\xff").unwrap(),
        );
        assert_eq!(
            declared(&binary).unwrap_err().message(),
            MSG_TRAILER_UNSUPPORTED
        );
    }

    #[test]
    fn whole_bodies_are_checked_against_content_md5_and_checksum_headers() {
        let body = b"<Delete/>";
        let md5 = content_md5(body);
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(
            verify_whole(&headers(&[("content-md5", &md5)]), body),
            Ok(())
        );
        let crc = ChecksumAlgorithm::Crc32.checksum(body).to_base64();
        assert_eq!(
            verify_whole(&headers(&[("x-amz-checksum-crc32", &crc)]), body),
            Ok(())
        );
        let code =
            |pairs: &[(&str, &str)]| verify_whole(&headers(pairs), b"other").unwrap_err().code();
        assert_eq!(code(&[("content-md5", &md5)]), "BadDigest");
        assert_eq!(code(&[("content-md5", "bm90IG1kNQ==")]), "InvalidDigest");
        assert_eq!(
            code(&[("content-md5", &md5), ("content-md5", &md5)]),
            "InvalidDigest"
        );
        assert_eq!(code(&[("x-amz-checksum-crc32", &crc)]), "BadDigest");
        assert_eq!(verify_whole(&HeaderMap::new(), body), Ok(()));
    }
}
