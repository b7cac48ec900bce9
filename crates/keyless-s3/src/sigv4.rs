//! S3's Signature Version 4: verifying what clients sign, and signing what the gateway
//! forwards.
//!
//! S3 differs from the other services ([`keyless_credentials::sigv4`]) in ways that change
//! bytes: the canonical URI is the path encoded once and never normalised (`//`, `.` and `..`
//! are part of a key); `x-amz-content-sha256` carries the payload hash, which may be
//! `UNSIGNED-PAYLOAD` or one of the aws-chunked `STREAMING-*` modes; a `+` in the query is a
//! plus; and the errors are S3's ([`S3Error`]).
//!
//! Verification has two steps so that the caller can find the secret in between:
//!
//! 1. [`parse`] runs every check that needs no secret (form, algorithm, scope, region,
//!    service, date, skew or presigned expiry, signed headers, payload mode) and returns the
//!    [`S3Auth`] naming the access key and session token;
//! 2. [`verify`] recomputes the seed signature with the signing key ([`S3Auth::signing_key`])
//!    and compares it in constant time. The path is tried as decoded and re-encoded, then as
//!    sent when it holds characters a client may leave unencoded.
//!
//! A hex payload hash is only known to be right after the body's last byte: [`PayloadHash`]
//! checks it as the body streams. The `STREAMING-*` modes hand the seed signature, the date
//! and the scope to the aws-chunked decoder ([`crate::chunked`]).

use std::borrow::Cow;
use std::fmt;

use aws_lc_rs::{digest, hmac};
use http::HeaderMap;
use keyless_credentials::sigv4::{
    self as base, PATH_UNRESERVED, SigningKeyCache, UNRESERVED, hex, is_canonical_component,
    parse_amz_date, push_header_value,
};
use percent_encoding::{percent_decode_str, percent_encode};
use subtle::ConstantTimeEq;

use crate::error::S3Error;

/// The signing algorithm.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service S3 signatures are scoped to.
pub const SERVICE: &str = "s3";
/// How far a header-signed request's time may be from the server's, in seconds.
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// The longest a presigned URL is valid (`X-Amz-Expires`), in seconds: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;
/// The header that carries the payload hash or mode.
pub const CONTENT_SHA256: &str = "x-amz-content-sha256";
/// The header that carries the session token.
pub const SECURITY_TOKEN: &str = "x-amz-security-token";
/// `x-amz-content-sha256` for a body that is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The SHA-256 of nothing.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The longest `Authorization` header or presigned query parsed.
const MAX_AUTH_LEN: usize = 16 * 1024;

/// The query parameters of a presigned URL, which the forwarded request leaves out.
pub const PRESIGN_PARAMETERS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

const MSG_UNSIGNED_HEADERS: &str =
    "There were headers present in the request which were not signed";
const MSG_NO_DATE: &str = "AWS authentication requires a valid Date or x-amz-date header";
const MSG_QUERY_PARAMETERS: &str = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
const MSG_ONE_MECHANISM: &str = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified";

/// The parts of a request's head that S3's signature covers.
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method, e.g. `PUT`.
    pub method: &'a str,
    /// The path exactly as received, percent-encoded.
    pub raw_path: &'a str,
    /// The query exactly as received, without `?`.
    pub raw_query: &'a str,
    /// The headers; `host` as the client sent it.
    pub headers: &'a HeaderMap,
}

/// Where the signature came from (`s3:authType`: `operation::AuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthForm {
    /// The `Authorization` header: `REST-HEADER`.
    Header,
    /// A presigned URL: `REST-QUERY-STRING`.
    Query,
}

/// What `x-amz-content-sha256` says about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD` (always, for a presigned URL).
    Unsigned,
    /// The body's SHA-256, lower-case hex, checked as the body streams.
    Sha256(String),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: unsigned chunks and a checksum trailer.
    StreamingUnsignedTrailer,
}

impl Payload {
    fn parse(value: &str) -> Result<Payload, S3Error> {
        Ok(match value {
            UNSIGNED_PAYLOAD => Payload::Unsigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Payload::StreamingSigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Payload::StreamingSignedTrailer,
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::StreamingUnsignedTrailer,
            "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
            | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => {
                return Err(S3Error::NotImplemented {
                    message: "A header you provided implies functionality that is not implemented"
                        .to_owned(),
                });
            }
            hash if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Payload::Sha256(hash.to_ascii_lowercase())
            }
            other => {
                return Err(S3Error::invalid_argument(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.",
                    CONTENT_SHA256,
                    other,
                ));
            }
        })
    }

    /// The value as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Payload::Unsigned => UNSIGNED_PAYLOAD,
            Payload::Sha256(hash) => hash,
            Payload::StreamingSigned => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Payload::StreamingSignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            Payload::StreamingUnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        }
    }

    /// Whether the body is aws-chunked.
    pub fn is_chunked(&self) -> bool {
        matches!(
            self,
            Payload::StreamingSigned
                | Payload::StreamingSignedTrailer
                | Payload::StreamingUnsignedTrailer
        )
    }
}

/// A request's signature that passed every check needing no secret.
#[derive(Clone)]
pub struct S3Auth {
    /// The access key.
    pub access_key_id: String,
    /// The session token (`x-amz-security-token`, header or query).
    pub security_token: Option<String>,
    /// Header or presigned.
    pub form: AuthForm,
    /// What the body is.
    pub payload: Payload,
    /// The request time, `YYYYMMDDTHHMMSSZ`.
    pub date: String,
    /// The request time, Unix seconds.
    pub timestamp: i64,
    region: String,
    scope_date: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl fmt::Debug for S3Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Auth")
            .field("access_key_id", &self.access_key_id)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("form", &self.form)
            .field("payload", &self.payload)
            .field("date", &self.date)
            .field("signed_headers", &self.signed_headers)
            .finish_non_exhaustive()
    }
}

impl S3Auth {
    /// The credential scope, `YYYYMMDD/region/s3/aws4_request`.
    pub fn scope(&self) -> String {
        format!("{}/{}/{SERVICE}/aws4_request", self.scope_date, self.region)
    }

    /// The header names the client signed.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }

    /// `s3:signatureAge`: milliseconds since the request was signed.
    pub fn age_millis(&self, now: i64) -> i64 {
        now.saturating_sub(self.timestamp)
            .max(0)
            .saturating_mul(1000)
    }

    /// The signing key of `secret` for this request's scope, derived once per day from
    /// `cache`.
    pub fn signing_key(&self, secret: &str, cache: &SigningKeyCache) -> hmac::Key {
        cache.key(secret, &self.scope_date, &self.region, SERVICE)
    }

    /// The seed signature, which the first chunk signature of an aws-chunked body chains
    /// from ([`crate::chunked::ChunkSigning`]).
    pub fn seed_signature(&self) -> &str {
        &self.signature
    }
}

/// Runs every check that needs no secret, in this order: which form (none:
/// `AccessDenied`; both: `InvalidArgument`), the form's parameters
/// (`AuthorizationHeaderMalformed` / `AuthorizationQueryParametersError`), the date
/// (`AccessDenied`), the skew (`RequestTimeTooSkewed`) or presigned validity (`AccessDenied`
/// `Request has expired`), the scope (region, service, terminal, date), the signed headers
/// (`host` and every `x-amz-*` header must be signed), and `x-amz-content-sha256`.
///
/// `region` is the region the gateway serves; `now` the server time in Unix seconds.
pub fn parse(req: &RequestHead<'_>, region: &str, now: i64) -> Result<S3Auth, S3Error> {
    let authorization = req.headers.get(http::header::AUTHORIZATION);
    let query = QueryAuth::scan(req.raw_query);
    let presigned = query.algorithm.is_some() || query.signature.is_some();
    let raw = match (authorization, presigned) {
        (None, false) => return Err(S3Error::access_denied()),
        (Some(_), true) => {
            return Err(S3Error::invalid_argument(
                MSG_ONE_MECHANISM,
                "Authorization",
                "",
            ));
        }
        (Some(value), false) => {
            if value.len() > MAX_AUTH_LEN {
                return Err(malformed("the authorization header is too long".to_owned()));
            }
            let value = value
                .to_str()
                .map_err(|_| malformed("the authorization header is not ASCII".to_owned()))?;
            header_auth(value, req.headers)?
        }
        (None, true) => {
            if req.raw_query.len() > MAX_AUTH_LEN {
                return Err(query_error("The query string is too long."));
            }
            query_auth(query)?
        }
    };
    let form = raw.form;

    let timestamp = raw
        .date
        .as_deref()
        .and_then(parse_amz_date)
        .ok_or_else(|| S3Error::AccessDenied {
            message: MSG_NO_DATE.to_owned(),
        })?;
    let date = base::amz_date(timestamp);
    match raw.expires {
        None => {
            if (timestamp - now).abs() > MAX_SKEW_SECS {
                return Err(S3Error::RequestTimeTooSkewed {
                    request_time: date,
                    server_time: base::amz_date(now),
                });
            }
        }
        Some(expires) => {
            if timestamp > now + MAX_SKEW_SECS {
                return Err(S3Error::AccessDenied {
                    message: "Request is not valid yet".to_owned(),
                });
            }
            if now > timestamp.saturating_add(expires) {
                return Err(S3Error::AccessDenied {
                    message: "Request has expired".to_owned(),
                });
            }
        }
    }

    let scope_error = |detail: String, region: Option<String>| match form {
        AuthForm::Header => S3Error::AuthorizationHeaderMalformed { detail, region },
        AuthForm::Query => S3Error::AuthorizationQueryParametersError {
            message: format!("Error parsing the X-Amz-Credential parameter; {detail}"),
        },
    };
    let parts: Vec<&str> = raw.credential.split('/').collect();
    let [access_key_id, scope_date, scope_region, service, terminal] = parts[..] else {
        return Err(scope_error(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .to_owned(),
            None,
        ));
    };
    if access_key_id.is_empty() || access_key_id.len() > 128 {
        return Err(scope_error(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .to_owned(),
            None,
        ));
    }
    if scope_region != region {
        return Err(scope_error(
            format!(
                "the region '{}' is wrong; expecting '{region}'",
                bounded(scope_region)
            ),
            Some(region.to_owned()),
        ));
    }
    if service != SERVICE {
        return Err(scope_error(
            format!(
                "incorrect service \"{}\". This endpoint belongs to \"{SERVICE}\".",
                bounded(service)
            ),
            None,
        ));
    }
    if terminal != "aws4_request" {
        return Err(scope_error(
            format!(
                "incorrect terminal \"{}\". This endpoint uses \"aws4_request\".",
                bounded(terminal)
            ),
            None,
        ));
    }
    if scope_date != &date[..8] {
        return Err(scope_error(
            format!(
                "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
                bounded(scope_date),
                &date[..8]
            ),
            None,
        ));
    }

    let signed = |name: &str| raw.signed_headers.iter().any(|s| s == name);
    if !signed("host") {
        return Err(S3Error::AccessDenied {
            message: MSG_UNSIGNED_HEADERS.to_owned(),
        });
    }
    for name in req.headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-")
            && name != CONTENT_SHA256
            && !(form == AuthForm::Query && name == SECURITY_TOKEN)
            && !signed(name)
        {
            return Err(S3Error::AccessDenied {
                message: MSG_UNSIGNED_HEADERS.to_owned(),
            });
        }
    }

    let security_token = match form {
        AuthForm::Header => {
            let mut tokens = req.headers.get_all(SECURITY_TOKEN).iter();
            let token = tokens.next();
            if tokens.next().is_some() {
                return Err(S3Error::InvalidToken);
            }
            token
                .map(|t| t.to_str().map(str::to_owned))
                .transpose()
                .map_err(|_| S3Error::InvalidToken)?
        }
        AuthForm::Query => {
            if let Some(header) = req.headers.get(SECURITY_TOKEN)
                && raw.security_token.as_deref().map(str::as_bytes) != Some(header.as_bytes())
            {
                return Err(S3Error::InvalidToken);
            }
            raw.security_token
        }
    };

    let payload = match form {
        AuthForm::Query => Payload::Unsigned,
        AuthForm::Header => {
            let mut values = req.headers.get_all(CONTENT_SHA256).iter();
            let value = values.next().ok_or_else(|| S3Error::InvalidRequest {
                message: "Missing required header for this request: x-amz-content-sha256"
                    .to_owned(),
            })?;
            if values.next().is_some() {
                return Err(S3Error::InvalidRequest {
                    message: "The value of x-amz-content-sha256 header is invalid.".to_owned(),
                });
            }
            Payload::parse(value.to_str().map_err(|_| S3Error::InvalidRequest {
                message: "The value of x-amz-content-sha256 header is invalid.".to_owned(),
            })?)?
        }
    };

    Ok(S3Auth {
        access_key_id: access_key_id.to_owned(),
        security_token,
        form,
        payload,
        date,
        timestamp,
        region: scope_region.to_owned(),
        scope_date: scope_date.to_owned(),
        signed_headers: raw.signed_headers,
        signature: raw.signature,
    })
}

/// Recomputes the seed signature with `key` ([`S3Auth::signing_key`]) and compares it in
/// constant time; `SignatureDoesNotMatch` carries the string to sign and the canonical request
/// (its session token redacted) of the path as decoded and re-encoded.
pub fn verify(auth: &S3Auth, req: &RequestHead<'_>, key: &hmac::Key) -> Result<(), S3Error> {
    let decoded_path = percent_decode_str(req.raw_path).collect::<Vec<u8>>();
    let reencoded = percent_encode(&decoded_path, PATH_UNRESERVED).to_string();
    let canonical = canonical_request(auth, req, &reencoded);
    let string_to_sign = string_to_sign_of(auth, canonical.as_deref());
    if let Some(sts) = &string_to_sign
        && signature_matches(key, sts, &auth.signature)
    {
        return Ok(());
    }
    if req.raw_path != reencoded && has_unencoded_reserved(req.raw_path) {
        let raw = canonical_request(auth, req, req.raw_path);
        if let Some(sts) = string_to_sign_of(auth, raw.as_deref())
            && signature_matches(key, &sts, &auth.signature)
        {
            return Ok(());
        }
    }
    Err(S3Error::SignatureDoesNotMatch {
        access_key_id: auth.access_key_id.clone(),
        string_to_sign: string_to_sign.unwrap_or_default(),
        canonical_request: canonical
            .map(|c| redact_token(&String::from_utf8_lossy(&c)))
            .unwrap_or_default(),
    })
}

fn string_to_sign_of(auth: &S3Auth, canonical: Option<&[u8]>) -> Option<String> {
    let canonical = canonical?;
    Some(format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        auth.date,
        auth.scope(),
        hex(digest::digest(&digest::SHA256, canonical).as_ref())
    ))
}

fn signature_matches(key: &hmac::Key, string_to_sign: &str, provided: &str) -> bool {
    let expected = hex(hmac::sign(key, string_to_sign.as_bytes()).as_ref());
    bool::from(expected.as_bytes().ct_eq(provided.as_bytes()))
}

/// A path character a client may send unencoded although the canonical URI encodes it.
fn has_unencoded_reserved(raw_path: &str) -> bool {
    raw_path
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)))
}

/// The canonical request with `canonical_uri`, or `None` when a signed header is absent.
fn canonical_request(auth: &S3Auth, req: &RequestHead<'_>, canonical_uri: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512 + req.raw_query.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(if canonical_uri.is_empty() {
        b"/"
    } else {
        canonical_uri.as_bytes()
    });
    out.push(b'\n');
    let skip_signature = auth.form == AuthForm::Query;
    out.extend_from_slice(
        canonical_query(req.raw_query, |name| {
            skip_signature && name == "X-Amz-Signature"
        })
        .as_bytes(),
    );
    out.push(b'\n');
    for name in &auth.signed_headers {
        let mut values = req.headers.get_all(name.as_str()).iter();
        let first = values.next()?;
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        push_header_value(&mut out, first.as_bytes());
        for value in values {
            out.push(b',');
            push_header_value(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(auth.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(auth.payload.as_str().as_bytes());
    Some(out)
}

/// The canonical query of a raw query string: names and values decoded (a `+` stays a plus)
/// and encoded with the unreserved set, sorted by name then value; pairs whose decoded name
/// `skip` says are left out.
pub fn canonical_query(raw_query: &str, skip: impl Fn(&str) -> bool) -> String {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded: Vec<u8> = percent_decode_str(name).collect();
            if skip(&String::from_utf8_lossy(&decoded)) {
                return None;
            }
            Some((canonical_component(name), canonical_component(value)))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw_query.len() + 16);
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A query component in canonical form: decoded (a `+` stays a plus), then encoded with the
/// unreserved set. A component already in that form, as SDKs send it, is borrowed unchanged.
fn canonical_component(raw: &str) -> Cow<'_, str> {
    if is_canonical_component(raw.as_bytes()) {
        return Cow::Borrowed(raw);
    }
    let decoded: Vec<u8> = percent_decode_str(raw).collect();
    Cow::Owned(percent_encode(&decoded, UNRESERVED).to_string())
}

/// The canonical request with the session token's value replaced, so an error body never
/// echoes a credential.
fn redact_token(canonical: &str) -> String {
    let mut out = String::with_capacity(canonical.len());
    for (index, line) in canonical.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        if line.starts_with("x-amz-security-token:") {
            out.push_str("x-amz-security-token:<redacted>");
        } else if line.contains("X-Amz-Security-Token=") {
            let redacted: Vec<String> = line
                .split('&')
                .map(|pair| {
                    if pair.starts_with("X-Amz-Security-Token=") {
                        "X-Amz-Security-Token=<redacted>".to_owned()
                    } else {
                        pair.to_owned()
                    }
                })
                .collect();
            out.push_str(&redacted.join("&"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Signs a request to the backend in header form with `Authorization` computed over every
/// header in `headers` (which must hold `host`, `x-amz-date` and `x-amz-content-sha256`):
/// `canonical_path` is the path already encoded once, `raw_query` as it will be sent. Returns
/// the `Authorization` value.
pub fn sign(
    method: &str,
    canonical_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    access_key_id: &str,
    key: &hmac::Key,
    scope: &str,
) -> Option<String> {
    let date = headers.get("x-amz-date")?.to_str().ok()?;
    let payload = headers.get(CONTENT_SHA256)?.to_str().ok()?;
    let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut canonical = Vec::with_capacity(512);
    canonical.extend_from_slice(method.as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(canonical_path.as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(canonical_query(raw_query, |_| false).as_bytes());
    canonical.push(b'\n');
    for name in &names {
        canonical.extend_from_slice(name.as_bytes());
        canonical.push(b':');
        let mut first = true;
        for value in headers.get_all(*name) {
            if !first {
                canonical.push(b',');
            }
            push_header_value(&mut canonical, value.as_bytes());
            first = false;
        }
        canonical.push(b'\n');
    }
    canonical.push(b'\n');
    let signed = names.join(";");
    canonical.extend_from_slice(signed.as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(payload.as_bytes());
    let string_to_sign = format!(
        "{ALGORITHM}\n{date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, &canonical).as_ref())
    );
    let signature = hex(hmac::sign(key, string_to_sign.as_bytes()).as_ref());
    Some(format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    ))
}

/// Checks a body against the hex SHA-256 the client signed, as it streams.
pub struct PayloadHash {
    context: digest::Context,
    expected: String,
}

impl PayloadHash {
    /// A check of `expected` (lower-case hex).
    pub fn new(expected: &str) -> PayloadHash {
        PayloadHash {
            context: digest::Context::new(&digest::SHA256),
            expected: expected.to_owned(),
        }
    }

    /// Hashes the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
    }

    /// After the last byte: `XAmzContentSHA256Mismatch` when the body is not what was signed.
    pub fn finish(self) -> Result<(), S3Error> {
        let computed = hex(self.context.finish().as_ref());
        if bool::from(computed.as_bytes().ct_eq(self.expected.as_bytes())) {
            Ok(())
        } else {
            Err(S3Error::ContentSha256Mismatch {
                client: self.expected,
                computed,
            })
        }
    }
}

/// The fields of a signature before validation.
struct RawAuth {
    form: AuthForm,
    credential: String,
    signed_headers: Vec<String>,
    signature: String,
    date: Option<String>,
    expires: Option<i64>,
    security_token: Option<String>,
}

fn malformed(detail: String) -> S3Error {
    S3Error::AuthorizationHeaderMalformed {
        detail,
        region: None,
    }
}

fn query_error(message: &str) -> S3Error {
    S3Error::AuthorizationQueryParametersError {
        message: message.to_owned(),
    }
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` (components separated by
/// `,` with or without spaces).
fn header_auth(value: &str, headers: &HeaderMap) -> Result<RawAuth, S3Error> {
    let value = value.trim();
    let (algorithm, parameters) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(S3Error::invalid_argument(
            "Unsupported Authorization Type",
            "Authorization",
            value,
        ));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in parameters.split(',') {
        let component = component.trim();
        if component.is_empty() {
            continue;
        }
        let Some((name, value)) = component.split_once('=') else {
            return Err(malformed(
                "the authorization component is malformed.".to_owned(),
            ));
        };
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(
            "the authorization header requires three components: Credential, SignedHeaders, and Signature."
                .to_owned(),
        ));
    };
    let date = headers
        .get("x-amz-date")
        .or_else(|| headers.get(http::header::DATE))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(RawAuth {
        form: AuthForm::Header,
        credential: credential.to_owned(),
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
        date,
        expires: None,
        security_token: None,
    })
}

fn query_auth(query: QueryAuth) -> Result<RawAuth, S3Error> {
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(date),
        Some(signed),
        Some(expires),
    ) = (
        query.algorithm,
        query.credential,
        query.signature,
        query.date,
        query.signed_headers,
        query.expires,
    )
    else {
        return Err(query_error(MSG_QUERY_PARAMETERS));
    };
    if algorithm != ALGORITHM {
        return Err(query_error(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let expires: i64 = expires
        .parse()
        .map_err(|_| query_error("X-Amz-Expires should be a number"))?;
    if expires < 0 {
        return Err(query_error("X-Amz-Expires must be non-negative"));
    }
    if expires > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(query_error(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    Ok(RawAuth {
        form: AuthForm::Query,
        credential,
        signed_headers: signed.split(';').map(str::to_owned).collect(),
        signature,
        date: Some(date),
        expires: Some(expires),
        security_token: query.security_token,
    })
}

/// The presigned parameters of a query string, the first of each, decoded.
#[derive(Default)]
struct QueryAuth {
    algorithm: Option<String>,
    credential: Option<String>,
    date: Option<String>,
    expires: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
    security_token: Option<String>,
}

impl QueryAuth {
    fn scan(raw_query: &str) -> QueryAuth {
        let mut found = QueryAuth::default();
        for pair in raw_query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "X-Amz-Algorithm" => &mut found.algorithm,
                "X-Amz-Credential" => &mut found.credential,
                "X-Amz-Date" => &mut found.date,
                "X-Amz-Expires" => &mut found.expires,
                "X-Amz-SignedHeaders" => &mut found.signed_headers,
                "X-Amz-Signature" => &mut found.signature,
                "X-Amz-Security-Token" => &mut found.security_token,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(match percent_decode_str(value).decode_utf8() {
                    Ok(text) => text.into_owned(),
                    Err(_) => percent_decode_str(value).decode_utf8_lossy().into_owned(),
                });
            }
        }
        found
    }
}

/// A value of the request's own, bounded for an error message.
fn bounded(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod canonical_component_tests {
    use super::*;
    use proptest::prelude::*;

    /// The canonical form by its definition: decode, then encode.
    fn by_definition(raw: &str) -> String {
        let decoded: Vec<u8> = percent_decode_str(raw).collect();
        percent_encode(&decoded, UNRESERVED).to_string()
    }

    #[test]
    fn components_already_canonical_are_kept_and_others_reencoded() {
        for raw in [
            "",
            "abc-_.~",
            "%2F%2B%3D",
            "a%20b",
            "%E2%82%AC",
            "%7e",
            "%7E",
            "%41",
            "%2f",
            "a+b",
            "a b",
            "%",
            "%4",
            "%G1",
            "x*y",
            "%25",
        ] {
            assert_eq!(canonical_component(raw), by_definition(raw), "{raw:?}");
        }
        assert!(is_canonical_component(
            b"IQoJb3JpZ2luX2VjEJ%2F%2F%2F%2F%3D%3D"
        ));
        assert!(
            !is_canonical_component(b"%7E"),
            "~ is unreserved: canonical is ~"
        );
        assert!(
            !is_canonical_component(b"%2f"),
            "lower-case hex is not canonical"
        );
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_the_definition(raw in "[a-zA-Z0-9%+~._ *=/-]{0,40}") {
            prop_assert_eq!(canonical_component(&raw), by_definition(&raw));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn at(date: &str) -> i64 {
        parse_amz_date(date).unwrap()
    }

    fn key(auth: &S3Auth) -> hmac::Key {
        auth.signing_key("secret", &SigningKeyCache::default())
    }

    /// awscli 1.45.11 PutObject over HTTPS (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), as captured.
    fn awscli_put() -> HeaderMap {
        headers(&[
            ("host", "127.0.0.1:18443"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIATESTKEY000000000/20261201/us-east-1/s3/aws4_request, SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-sdk-checksum-algorithm;x-amz-security-token;x-amz-trailer, Signature=e9c30b007f308bc53c887ecf663b8bba7a07e93bbd5336d9a652c32cae1810d3",
            ),
            ("content-encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-date", "20261201T074046Z"),
            ("x-amz-decoded-content-length", "12"),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-security-token", "tok123"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("expect", "100-continue"),
            ("transfer-encoding", "chunked"),
            ("user-agent", "aws-cli/1.45.11"),
        ])
    }

    fn head<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        h: &'a HeaderMap,
    ) -> RequestHead<'a> {
        RequestHead {
            method,
            raw_path: path,
            raw_query: query,
            headers: h,
        }
    }

    #[test]
    fn a_captured_awscli_streaming_put_verifies() {
        let h = awscli_put();
        let req = head("PUT", "/bkt/a%20b/c.txt", "", &h);
        let auth = parse(&req, "us-east-1", at("20261201T074046Z") + 60).unwrap();
        assert_eq!(auth.access_key_id, "ASIATESTKEY000000000");
        assert_eq!(auth.security_token.as_deref(), Some("tok123"));
        assert_eq!(auth.payload, Payload::StreamingUnsignedTrailer);
        assert_eq!(auth.form, AuthForm::Header);
        assert_eq!(auth.age_millis(at("20261201T074046Z") + 60), 60_000);
        verify(&auth, &req, &key(&auth)).unwrap();
        assert_eq!(auth.scope(), "20261201/us-east-1/s3/aws4_request");
        assert_eq!(auth.seed_signature().len(), 64);
    }

    #[test]
    fn a_captured_presigned_get_verifies_and_tampering_does_not() {
        let url_query = "response-content-type=text%2Fplain&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIATESTKEY000000000%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T074130Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok123&X-Amz-Signature=a4563313c8cff321020243e3cc545b3ad3ef9e46f5cbc2483988605418d28bd8";
        let h = headers(&[("host", "127.0.0.1:18081")]);
        let req = head("GET", "/bkt/a%20b/c%2Bd", url_query, &h);
        let now = at("20261201T074130Z") + 10;
        let auth = parse(&req, "us-east-1", now).unwrap();
        assert_eq!(auth.form, AuthForm::Query);
        assert_eq!(auth.payload, Payload::Unsigned);
        assert_eq!(auth.security_token.as_deref(), Some("tok123"));
        verify(&auth, &req, &key(&auth)).unwrap();

        let other = head("GET", "/bkt/a%20b/c%2Be", url_query, &h);
        let error = verify(&auth, &other, &key(&auth)).unwrap_err();
        let S3Error::SignatureDoesNotMatch {
            string_to_sign,
            canonical_request,
            ..
        } = &error
        else {
            panic!("{error}")
        };
        assert!(string_to_sign.starts_with("AWS4-HMAC-SHA256\n20261201T074130Z\n"));
        assert!(canonical_request.contains("X-Amz-Security-Token=<redacted>"));
        assert!(!canonical_request.contains("tok123"));

        let expired = parse(&req, "us-east-1", at("20261201T074130Z") + 301).unwrap_err();
        assert_eq!(expired.message(), "Request has expired");
        let too_long = url_query.replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
        let error = parse(&head("GET", "/b/k", &too_long, &h), "us-east-1", now).unwrap_err();
        assert_eq!(error.code(), "AuthorizationQueryParametersError");
        let missing = url_query.replace("X-Amz-Expires=300&", "");
        let error = parse(&head("GET", "/b/k", &missing, &h), "us-east-1", now).unwrap_err();
        assert_eq!(error.message(), MSG_QUERY_PARAMETERS);
        let region = url_query.replace("us-east-1", "eu-west-1");
        let error = parse(&head("GET", "/b/k", &region, &h), "us-east-1", now).unwrap_err();
        assert_eq!(error.code(), "AuthorizationQueryParametersError");
    }

    #[test]
    fn the_secret_and_the_token_are_checked_by_the_signature() {
        let h = awscli_put();
        let req = head("PUT", "/bkt/a%20b/c.txt", "", &h);
        let auth = parse(&req, "us-east-1", at("20261201T074046Z")).unwrap();
        let wrong = auth.signing_key("other", &SigningKeyCache::default());
        assert_eq!(
            verify(&auth, &req, &wrong).unwrap_err().code(),
            "SignatureDoesNotMatch"
        );
        let mut changed = awscli_put();
        changed.insert("x-amz-security-token", HeaderValue::from_static("tok124"));
        let req = head("PUT", "/bkt/a%20b/c.txt", "", &changed);
        let auth = parse(&req, "us-east-1", at("20261201T074046Z")).unwrap();
        assert_eq!(
            verify(&auth, &req, &key(&auth)).unwrap_err().code(),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn header_errors_are_s3s() {
        let now = at("20261201T074046Z");
        let check =
            |h: &HeaderMap, now: i64| parse(&head("PUT", "/bkt/k", "", h), "us-east-1", now);
        let none = headers(&[("host", "h")]);
        assert_eq!(check(&none, now).unwrap_err().code(), "AccessDenied");

        let skewed = check(&awscli_put(), now + 16 * 60).unwrap_err();
        assert_eq!(skewed.code(), "RequestTimeTooSkewed");

        let mut region = awscli_put();
        let value = region["authorization"]
            .to_str()
            .unwrap()
            .replace("us-east-1", "eu-west-1");
        region.insert("authorization", HeaderValue::from_str(&value).unwrap());
        let error = check(&region, now).unwrap_err();
        assert_eq!(error.code(), "AuthorizationHeaderMalformed");
        assert_eq!(
            error.message(),
            "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
        );
        assert!(
            error
                .to_xml("", "R", "H")
                .contains("<Region>us-east-1</Region>")
        );

        let mut service = awscli_put();
        let value = service["authorization"]
            .to_str()
            .unwrap()
            .replace("/s3/", "/sts/");
        service.insert("authorization", HeaderValue::from_str(&value).unwrap());
        assert!(
            check(&service, now)
                .unwrap_err()
                .message()
                .contains("incorrect service \"sts\"")
        );

        let mut missing = awscli_put();
        missing.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/s3/aws4_request",
            ),
        );
        assert_eq!(
            check(&missing, now).unwrap_err().code(),
            "AuthorizationHeaderMalformed"
        );

        let mut v2 = awscli_put();
        v2.insert("authorization", HeaderValue::from_static("AWS AKID:sig"));
        assert_eq!(check(&v2, now).unwrap_err().code(), "InvalidArgument");

        let mut unsigned = awscli_put();
        unsigned.insert("x-amz-copy-source", HeaderValue::from_static("/other/key"));
        assert_eq!(
            check(&unsigned, now).unwrap_err().message(),
            MSG_UNSIGNED_HEADERS
        );

        let mut no_hash = awscli_put();
        no_hash.remove("x-amz-content-sha256");
        assert_eq!(check(&no_hash, now).unwrap_err().code(), "InvalidRequest");
        let mut bad_hash = awscli_put();
        bad_hash.insert("x-amz-content-sha256", HeaderValue::from_static("nonsense"));
        assert_eq!(check(&bad_hash, now).unwrap_err().code(), "InvalidArgument");

        let mut no_date = awscli_put();
        no_date.remove("x-amz-date");
        assert_eq!(check(&no_date, now).unwrap_err().code(), "AccessDenied");

        let mut both = awscli_put();
        both.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 a=b"),
        );
        let error = parse(
            &head("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256", &both),
            "us-east-1",
            now,
        )
        .unwrap_err();
        assert_eq!(error.code(), "InvalidArgument");
    }

    #[test]
    fn payload_hashes_are_checked_as_the_body_streams() {
        let mut good = PayloadHash::new(EMPTY_SHA256);
        good.update(b"");
        good.finish().unwrap();
        let mut bad = PayloadHash::new(EMPTY_SHA256);
        bad.update(b"x");
        let error = bad.finish().unwrap_err();
        assert_eq!(error.code(), "XAmzContentSHA256Mismatch");
        assert!(
            error
                .to_xml("", "R", "H")
                .contains("<S3ComputedContentSHA256>2d711642")
        );
    }

    #[test]
    fn the_canonical_query_keeps_a_plus_and_sorts_bytewise() {
        assert_eq!(
            canonical_query("prefix=a+b%20c&delete&X-Amz-Date=1&b=%2F", |_| false),
            "X-Amz-Date=1&b=%2F&delete=&prefix=a%2Bb%20c"
        );
    }

    #[test]
    fn a_signed_backend_request_verifies_as_s3_would() {
        let mut h = headers(&[
            ("host", "127.0.0.1:8333"),
            ("x-amz-date", "20261201T074046Z"),
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
            ("content-length", "5"),
        ]);
        let cache = SigningKeyCache::default();
        let key = cache.key("backend-secret", "20261201", "us-east-1", SERVICE);
        let authorization = sign(
            "PUT",
            "/bkt/a%20b",
            "partNumber=1&uploadId=x",
            &h,
            "BACKEND",
            &key,
            "20261201/us-east-1/s3/aws4_request",
        )
        .unwrap();
        h.insert(
            "authorization",
            HeaderValue::from_str(&authorization).unwrap(),
        );
        let req = head("PUT", "/bkt/a%20b", "uploadId=x&partNumber=1", &h);
        let auth = parse(&req, "us-east-1", at("20261201T074046Z")).unwrap();
        assert_eq!(auth.access_key_id, "BACKEND");
        verify(&auth, &req, &auth.signing_key("backend-secret", &cache)).unwrap();
    }

    #[test]
    fn a_reserved_character_sent_raw_verifies_through_the_raw_path() {
        let cache = SigningKeyCache::default();
        let key = cache.key("secret", "20261201", "us-east-1", SERVICE);
        let mut h = headers(&[
            ("host", "h"),
            ("x-amz-date", "20261201T074046Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
        ]);
        // A client that signs the path as it sends it, with `!` unencoded.
        let authorization = sign(
            "GET",
            "/bkt/a!b",
            "",
            &h,
            "AK",
            &key,
            "20261201/us-east-1/s3/aws4_request",
        )
        .unwrap();
        h.insert(
            "authorization",
            HeaderValue::from_str(&authorization).unwrap(),
        );
        let req = head("GET", "/bkt/a!b", "", &h);
        let auth = parse(&req, "us-east-1", at("20261201T074046Z")).unwrap();
        verify(&auth, &req, &key).unwrap();
    }
}
