//! The S3 gateway's core, with no I/O: everything about an S3 request that can be decided from
//! its bytes.
//!
//! - [`address`]: path-style and virtual-hosted addressing, bucket names.
//! - [`operation`]: which S3 operation a request is, and the IAM actions, resources and
//!   condition keys it needs.
//! - [`delete`]: `DeleteObjects` decided per object: the `<Delete>` document, the one
//!   forwarded with the allowed objects, and the result with the refused ones added.
//! - [`error`]: S3's error codes, statuses, messages and XML body, in one place.
//! - [`checksum`]: the additional checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): what a
//!   request declares, incremental hashing, verification.
//! - [`chunked`]: `aws-chunked` bodies: the incremental decoder that verifies chunk and trailer
//!   signatures and checksums, and the encoder of the unsigned form.
//! - [`sigv4`]: S3's SigV4: header and presigned verification, payload modes, and signing
//!   the request forwarded to the backend.
//!
//! ```
//! use keyless_s3::address::{Addressing, Target};
//!
//! let addressing = Addressing::new(Some("s3.example.internal"));
//! let target = addressing.locate("photos.s3.example.internal:9000", "/2026/a%20b.jpg").unwrap();
//! assert_eq!(target, Target {
//!     bucket: Some("photos".to_owned()),
//!     key: Some("2026/a b.jpg".to_owned()),
//!     virtual_hosted: true,
//! });
//! ```

#![warn(missing_docs)]

pub mod address;
pub mod checksum;
pub mod chunked;
pub mod delete;
pub mod error;
pub mod operation;
pub mod sigv4;
mod xml;

pub use error::S3Error;
