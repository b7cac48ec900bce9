//! Which bucket and key a request addresses: path-style (`/bucket/key`) always, and
//! virtual-hosted (`bucket.<suffix>/key`) when a suffix is configured.
//!
//! The key is the path percent-decoded once, exactly as S3 stores it: `//`, `.` and `..` are
//! part of it, never normalised away.

use percent_encoding::percent_decode_str;

use crate::error::S3Error;

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// How bucket names are found in requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    /// `.s3.example.internal` (lower case, with the leading dot) when virtual-hosted requests
    /// are served.
    suffix: Option<String>,
}

/// The bucket and key a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket; `None` for the service (`ListBuckets`).
    pub bucket: Option<String>,
    /// The key, decoded; `None` for the bucket itself.
    pub key: Option<String>,
    /// Whether the bucket came from the host name.
    pub virtual_hosted: bool,
}

impl Target {
    /// The resource ARN: `arn:aws:s3:::bucket/key`, `arn:aws:s3:::bucket`, or `*`.
    pub fn arn(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(bucket), Some(key)) => object_arn(bucket, key),
            (Some(bucket), None) => bucket_arn(bucket),
            (None, _) => "*".to_owned(),
        }
    }

    /// The path of the same target in path-style, still decoded: `/bucket/key`.
    pub fn path_style(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(bucket), Some(key)) => format!("/{bucket}/{key}"),
            (Some(bucket), None) => format!("/{bucket}"),
            (None, _) => "/".to_owned(),
        }
    }
}

/// `arn:aws:s3:::bucket`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `arn:aws:s3:::bucket/key`, the key exactly as stored (its `*`, `?` and `${` are literal in
/// a request's resource).
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

impl Addressing {
    /// Path-style only, or also virtual-hosted under `suffix` (`s3.example.internal`).
    pub fn new(suffix: Option<&str>) -> Addressing {
        Addressing {
            suffix: suffix
                .map(|s| s.trim_start_matches('.').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .map(|s| format!(".{s}")),
        }
    }

    /// The bucket and key of a request to `host` (the `Host` header, port included) for
    /// `raw_path` (as received, percent-encoded).
    pub fn locate(&self, host: &str, raw_path: &str) -> Result<Target, S3Error> {
        let host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
            .to_ascii_lowercase();
        let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
        if let Some(suffix) = &self.suffix
            && let Some(bucket) = host.strip_suffix(suffix.as_str())
            && !bucket.is_empty()
        {
            check_bucket_name(bucket)?;
            return Ok(Target {
                bucket: Some(bucket.to_owned()),
                key: decode_key(path)?,
                virtual_hosted: true,
            });
        }
        if path.is_empty() {
            return Ok(Target {
                bucket: None,
                key: None,
                virtual_hosted: false,
            });
        }
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let bucket = percent_decode_str(bucket)
            .decode_utf8()
            .map_err(|_| S3Error::invalid_bucket_name(bucket))?;
        check_bucket_name(&bucket)?;
        Ok(Target {
            bucket: Some(bucket.into_owned()),
            key: decode_key(key)?,
            virtual_hosted: false,
        })
    }
}

/// The key of a path (without its leading `/`): `None` when empty.
fn decode_key(raw: &str) -> Result<Option<String>, S3Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let key = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("The key is not valid UTF-8.", "key", raw))?;
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLong);
    }
    Ok(Some(key.into_owned()))
}

/// Checks a general-purpose bucket name: 3-63 characters of lower-case letters, digits, `.`
/// and `-`, starting and ending with a letter or digit, no `..`, not an IPv4 address, none of
/// the reserved prefixes and suffixes. The name also goes into ARNs, so nothing else passes.
pub fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let bytes = name.as_bytes();
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let valid = (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&b| edge(b) || b == b'.' || b == b'-')
        && edge(bytes[0])
        && edge(bytes[bytes.len() - 1])
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"]
            .iter()
            .any(|p| name.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3"]
            .iter()
            .any(|s| name.ends_with(s));
    if valid {
        Ok(())
    } else {
        Err(S3Error::invalid_bucket_name(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_keys_are_decoded_once_and_never_normalised() {
        let a = Addressing::new(None);
        let t = a.locate("127.0.0.1:9000", "/bkt//a/../b%20c%2Bd").unwrap();
        assert_eq!(t.bucket.as_deref(), Some("bkt"));
        assert_eq!(t.key.as_deref(), Some("/a/../b c+d"));
        assert_eq!(t.arn(), "arn:aws:s3:::bkt//a/../b c+d");
        assert!(!t.virtual_hosted);
        let service = a.locate("127.0.0.1", "/").unwrap();
        assert_eq!((service.bucket, service.key), (None, None));
        let bucket = a.locate("h", "/bkt/").unwrap();
        assert_eq!(
            (bucket.bucket.as_deref(), bucket.key.as_deref()),
            (Some("bkt"), None),
            "a trailing slash addresses the bucket"
        );
        assert_eq!(bucket.path_style(), "/bkt");
    }

    #[test]
    fn virtual_hosted_buckets_come_from_the_host_under_the_suffix() {
        let a = Addressing::new(Some(".S3.Example.Internal"));
        let t = a.locate("my.bucket.s3.example.internal:443", "/k").unwrap();
        assert_eq!(t.bucket.as_deref(), Some("my.bucket"));
        assert_eq!(t.key.as_deref(), Some("k"));
        assert!(t.virtual_hosted);
        assert_eq!(t.path_style(), "/my.bucket/k");
        let base = a.locate("s3.example.internal", "/bkt/k").unwrap();
        assert_eq!(
            base.bucket.as_deref(),
            Some("bkt"),
            "the bare suffix is path-style"
        );
        let other = a.locate("elsewhere.example", "/bkt").unwrap();
        assert!(!other.virtual_hosted);
    }

    #[test]
    fn bad_names_and_keys_are_refused() {
        for name in [
            "ab",
            "Upper",
            "a..b",
            "-ab",
            "ab-",
            "192.168.1.1",
            "xn--ab",
            "ab-s3alias",
            "a_b",
            "a*b",
            "a%2Fb",
        ] {
            assert!(check_bucket_name(name).is_err(), "{name}");
        }
        for name in ["abc", "my.bucket-1", "0ab"] {
            assert!(check_bucket_name(name).is_ok(), "{name}");
        }
        let a = Addressing::new(None);
        assert_eq!(
            a.locate("h", "/a*b/k").unwrap_err().code(),
            "InvalidBucketName"
        );
        assert_eq!(
            a.locate("h", "/bkt/%FF").unwrap_err().code(),
            "InvalidArgument"
        );
        let long = format!("/bkt/{}", "k".repeat(MAX_KEY_BYTES + 1));
        assert_eq!(a.locate("h", &long).unwrap_err().code(), "KeyTooLongError");
    }
}
