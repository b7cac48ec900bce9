//! Server-side AWS Signature Version 4 verification.
//!
//! Verification has two steps so that the caller can look up the secret in between:
//!
//! 1. [`parse`] runs every check that needs no secret, in AWS's error precedence, and returns
//!    the [`SignedAuth`] naming the access key and session token.
//! 2. The caller resolves the access key (answering [`SigV4Error::invalid_client_token_id`] or
//!    [`SigV4Error::expired_token`] as appropriate), then [`verify`] recomputes the signature
//!    with the secret and compares it in constant time.
//!
//! Both the `Authorization` header form and the presigned query-string form are supported.
//! The canonical request follows AWS's rules for non-S3 services: the raw body is hashed, the
//! canonical query comes from the URL only (never from a form body), and the path is
//! normalised and encoded twice.

use std::borrow::Cow;
use std::fmt;

use aws_lc_rs::{digest, hmac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use subtle::ConstantTimeEq;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Allowed difference, in seconds, between the request time and the server clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Largest `X-Amz-Expires` accepted on a presigned request (one week).
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;

/// Credential-scope terminator.
const SCOPE_TERMINATOR: &str = "aws4_request";
/// Session-token header; the only `x-amz-*` header that may be left unsigned.
const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";
/// Header carrying the client's payload hash.
const CONTENT_SHA256_HEADER: &str = "x-amz-content-sha256";
/// Header carrying the request time.
const AMZ_DATE_HEADER: &str = "x-amz-date";

const QUERY_ALGORITHM: &str = "X-Amz-Algorithm";
const QUERY_CREDENTIAL: &str = "X-Amz-Credential";
const QUERY_DATE: &str = "X-Amz-Date";
const QUERY_EXPIRES: &str = "X-Amz-Expires";
const QUERY_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
const QUERY_SIGNATURE: &str = "X-Amz-Signature";
const QUERY_SECURITY_TOKEN: &str = "X-Amz-Security-Token";

const MSG_MISSING_AUTHENTICATION_TOKEN: &str = "Request is missing Authentication Token";
const MSG_SECURITY_TOKEN_INVALID: &str = "The security token included in the request is invalid";
const MSG_SECURITY_TOKEN_EXPIRED: &str = "The security token included in the request is expired";
const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const MSG_HOST_NOT_SIGNED: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";
const MSG_ONE_MECHANISM: &str = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified";
const MSG_CONTENT_SHA256_MISMATCH: &str =
    "The provided 'x-amz-content-sha256' header does not match what was computed.";

/// Characters left unencoded by RFC 3986 / SigV4 encoding: `A-Za-z0-9-_.~`.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Path encoding: unreserved characters and `/` are kept.
pub const PATH_UNRESERVED: &AsciiSet = &UNRESERVED.remove(b'/');

/// The parts of an HTTP request that SigV4 covers.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Raw path exactly as received, still percent-encoded (e.g. `/` or `/prefix/sts/`).
    pub path: &'a str,
    /// Raw query string without the leading `?`, empty if none.
    pub query: &'a str,
    /// All request headers. `host` must hold the authority as the client sent it, port included.
    pub headers: &'a HeaderMap,
    /// Raw body bytes as received.
    pub body: &'a [u8],
}

impl fmt::Debug for RequestParts<'_> {
    /// Lists header names only: values such as the session token are credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("RequestParts")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field("header_names", &header_names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The authentication data of a SigV4 request that passed every check needing no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedAuth {
    /// Access key ID from the credential scope.
    pub access_key_id: String,
    /// Session token from `X-Amz-Security-Token` (header, or query when presigned).
    pub security_token: Option<String>,
    /// Region from the credential scope.
    pub region: String,
    /// Service from the credential scope.
    pub service: String,
    /// Request time as `YYYYMMDDTHHMMSSZ`.
    pub date: String,
    /// True for the presigned (query-string) form.
    pub presigned: bool,
    scope_date: String,
    signed_headers: Vec<String>,
    signature: String,
    timestamp: i64,
}

impl SignedAuth {
    /// The header names the client signed, exactly as listed in `SignedHeaders`.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }

    /// Request time, Unix seconds.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The credential scope `YYYYMMDD/region/service/aws4_request`.
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/{SCOPE_TERMINATOR}",
            self.scope_date, self.region, self.service
        )
    }
}

impl fmt::Debug for SignedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedAuth")
            .field("access_key_id", &self.access_key_id)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("service", &self.service)
            .field("date", &self.date)
            .field("presigned", &self.presigned)
            .field("signed_headers", &self.signed_headers)
            .finish_non_exhaustive()
    }
}

/// The AWS error code of a [`SigV4Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigV4ErrorCode {
    /// 403: the request carries no signature at all.
    MissingAuthenticationToken,
    /// 403: unknown access key, or a missing or wrong session token.
    InvalidClientTokenId,
    /// 403: the temporary credentials have expired.
    ExpiredToken,
    /// 403: the signature, the signed headers, the time or the scope do not match.
    SignatureDoesNotMatch,
    /// 400: the `Authorization` header is incomplete or malformed.
    IncompleteSignature,
    /// 400: the presigned query parameters are malformed.
    AuthorizationQueryParametersError,
    /// 400: `x-amz-content-sha256` is not the hash of the body.
    XAmzContentSha256Mismatch,
}

impl SigV4ErrorCode {
    /// The exact code string used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SigV4ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            SigV4ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            SigV4ErrorCode::ExpiredToken => "ExpiredToken",
            SigV4ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SigV4ErrorCode::IncompleteSignature => "IncompleteSignature",
            SigV4ErrorCode::AuthorizationQueryParametersError => {
                "AuthorizationQueryParametersError"
            }
            SigV4ErrorCode::XAmzContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(self) -> u16 {
        match self {
            SigV4ErrorCode::MissingAuthenticationToken
            | SigV4ErrorCode::InvalidClientTokenId
            | SigV4ErrorCode::ExpiredToken
            | SigV4ErrorCode::SignatureDoesNotMatch => 403,
            SigV4ErrorCode::IncompleteSignature
            | SigV4ErrorCode::AuthorizationQueryParametersError
            | SigV4ErrorCode::XAmzContentSha256Mismatch => 400,
        }
    }
}

/// A SigV4 failure as AWS reports it: an error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Error {
    /// The AWS error code; it fixes the HTTP status.
    pub code: SigV4ErrorCode,
    /// AWS error message.
    pub message: String,
}

impl SigV4Error {
    fn new(code: SigV4ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// 403 `MissingAuthenticationToken`: the request carries no signature at all.
    pub fn missing_authentication_token() -> Self {
        Self::new(
            SigV4ErrorCode::MissingAuthenticationToken,
            MSG_MISSING_AUTHENTICATION_TOKEN,
        )
    }

    /// 403 `InvalidClientTokenId`: unknown access key, or a missing or wrong session token.
    pub fn invalid_client_token_id() -> Self {
        Self::new(
            SigV4ErrorCode::InvalidClientTokenId,
            MSG_SECURITY_TOKEN_INVALID,
        )
    }

    /// 403 `ExpiredToken`: the temporary credentials have expired.
    pub fn expired_token() -> Self {
        Self::new(SigV4ErrorCode::ExpiredToken, MSG_SECURITY_TOKEN_EXPIRED)
    }

    /// 403 `SignatureDoesNotMatch` with AWS's standard signature-mismatch message.
    pub fn signature_mismatch() -> Self {
        Self::signature_does_not_match(MSG_SIGNATURE_MISMATCH.to_owned())
    }

    fn signature_does_not_match(message: String) -> Self {
        Self::new(SigV4ErrorCode::SignatureDoesNotMatch, message)
    }

    fn incomplete_signature(message: String) -> Self {
        Self::new(SigV4ErrorCode::IncompleteSignature, message)
    }

    fn query_parameters_error(message: &str) -> Self {
        Self::new(SigV4ErrorCode::AuthorizationQueryParametersError, message)
    }

    fn content_sha256_mismatch() -> Self {
        Self::new(
            SigV4ErrorCode::XAmzContentSha256Mismatch,
            MSG_CONTENT_SHA256_MISMATCH,
        )
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_str(),
            self.status(),
            self.message
        )
    }
}

impl std::error::Error for SigV4Error {}

/// Where the request time came from.
enum DateSource {
    /// `X-Amz-Date` header or query parameter, ISO 8601 basic format.
    Amz(String),
    /// HTTP `Date` header, IMF-fixdate.
    Http(String),
}

/// Authentication fields extracted from the header or the query, before validation.
struct RawAuth {
    credential: String,
    signature: String,
    signed_headers: Vec<String>,
    date: DateSource,
    expires: Option<i64>,
    security_token: Option<String>,
    presigned: bool,
}

/// Runs every SigV4 check that needs no secret, in AWS's error precedence:
///
/// 1. no `Authorization` header and no `X-Amz-Signature`/`X-Amz-Algorithm` query parameter:
///    `MissingAuthenticationToken`;
/// 2. unsupported algorithm, malformed `key=value` component, missing components (all of
///    them, concatenated), invalid `X-Amz-Expires`: `IncompleteSignature` /
///    `AuthorizationQueryParametersError`;
/// 3. `host` not signed, or an `x-amz-*` header other than `x-amz-security-token` present but
///    unsigned: `SignatureDoesNotMatch`;
/// 4. request time not in ISO 8601 basic format (or, from `Date`, not an HTTP date):
///    `IncompleteSignature`;
/// 5. request time more than 15 minutes away from `now` (for presigned requests: older than
///    `X-Amz-Expires`): `SignatureDoesNotMatch`;
/// 6. credential not five `/`-separated elements: `IncompleteSignature`;
/// 7. scope errors (region syntax, service other than `expected_service`, terminator, scope
///    date), all concatenated: `SignatureDoesNotMatch`.
///
/// `now` is the server time in Unix seconds.
pub fn parse(
    req: &RequestParts<'_>,
    expected_service: &str,
    now: i64,
) -> Result<SignedAuth, SigV4Error> {
    parse_scoped(req, Some(expected_service), now)
}

/// [`parse`] for a request that another service received and forwards for verification: the
/// credential scope may name any service (syntactically valid), which [`SignedAuth::service`]
/// reports, unless `expected_service` names the one it must be.
pub fn parse_forwarded(
    req: &RequestParts<'_>,
    expected_service: Option<&str>,
    now: i64,
) -> Result<SignedAuth, SigV4Error> {
    parse_scoped(req, expected_service, now)
}

fn parse_scoped(
    req: &RequestParts<'_>,
    expected_service: Option<&str>,
    now: i64,
) -> Result<SignedAuth, SigV4Error> {
    let raw = extract_auth(req)?;

    if !raw
        .signed_headers
        .iter()
        .any(|name| name.eq_ignore_ascii_case("host"))
    {
        return Err(SigV4Error::signature_does_not_match(
            MSG_HOST_NOT_SIGNED.to_owned(),
        ));
    }
    for name in req.headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-")
            && name != SECURITY_TOKEN_HEADER
            && !raw
                .signed_headers
                .iter()
                .any(|signed| signed.eq_ignore_ascii_case(name))
        {
            return Err(SigV4Error::signature_does_not_match(format!(
                "'{name}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }

    let timestamp = match &raw.date {
        DateSource::Amz(value) => parse_amz_date(value),
        DateSource::Http(value) => parse_http_date(value).or_else(|| parse_amz_date(value)),
    }
    .ok_or_else(|| {
        let value = match &raw.date {
            DateSource::Amz(value) | DateSource::Http(value) => value,
        };
        SigV4Error::incomplete_signature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    let date = format_amz_date(timestamp);

    let validity = raw.expires.unwrap_or(MAX_CLOCK_SKEW_SECS);
    if timestamp < now.saturating_sub(validity) {
        return Err(SigV4Error::signature_does_not_match(format!(
            "Signature expired: {date} is now earlier than {} ({} - {}.)",
            format_amz_date(now.saturating_sub(validity)),
            format_amz_date(now),
            describe_duration(validity)
        )));
    }
    if timestamp > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(SigV4Error::signature_does_not_match(format!(
            "Signature not yet current: {date} is still later than {} ({} + {}.)",
            format_amz_date(now.saturating_add(MAX_CLOCK_SKEW_SECS)),
            format_amz_date(now),
            describe_duration(MAX_CLOCK_SKEW_SECS)
        )));
    }

    let parts: Vec<&str> = raw.credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts[..] else {
        return Err(SigV4Error::incomplete_signature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            raw.credential
        )));
    };

    let mut scope_errors = Vec::new();
    if !is_valid_region(region) {
        scope_errors.push(format!(
            "Credential should be scoped to a valid region, not '{region}'."
        ));
    }
    match expected_service {
        Some(expected) if service != expected => scope_errors.push(format!(
            "Credential should be scoped to correct service: '{expected}'."
        )),
        None if !is_valid_service(service) => scope_errors.push(format!(
            "Credential should be scoped to a valid service, not '{service}'."
        )),
        _ => {}
    }
    if terminator != SCOPE_TERMINATOR {
        scope_errors.push(format!(
            "Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not '{terminator}'."
        ));
    }
    let request_day = &date[..date.len().min(8)];
    if scope_date != request_day {
        scope_errors.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_day}', from '{date}'."
        ));
    }
    if !scope_errors.is_empty() {
        return Err(SigV4Error::signature_does_not_match(scope_errors.join(" ")));
    }

    Ok(SignedAuth {
        access_key_id: access_key_id.to_owned(),
        security_token: raw.security_token,
        region: region.to_owned(),
        service: service.to_owned(),
        scope_date: scope_date.to_owned(),
        date,
        presigned: raw.presigned,
        signed_headers: raw.signed_headers,
        signature: raw.signature,
        timestamp,
    })
}

/// Recomputes the signature of `req` with `secret_access_key` and compares it with the one the
/// client sent, in constant time.
///
/// `auth` must come from [`parse`] on the same request. Returns `SignatureDoesNotMatch` on a
/// mismatch (including a signed header that is absent from the request) and
/// `XAmzContentSHA256Mismatch` when `x-amz-content-sha256` is not the hash of the body.
pub fn verify(
    auth: &SignedAuth,
    req: &RequestParts<'_>,
    secret_access_key: &str,
) -> Result<(), SigV4Error> {
    verify_inner(auth, req, secret_access_key, None)
}

/// [`verify`], reusing the signing key derived for the same secret and scope from `cache`
/// (four HMAC derivations saved per request).
pub fn verify_cached(
    auth: &SignedAuth,
    req: &RequestParts<'_>,
    secret_access_key: &str,
    cache: &SigningKeyCache,
) -> Result<(), SigV4Error> {
    verify_inner(auth, req, secret_access_key, Some(cache))
}

/// Derived signing keys (`kSigning`), keyed by the SHA-256 of the secret and the credential
/// scope, so that a secret's key is derived once per day, region and service. Bounded: it is
/// emptied when it reaches its capacity.
pub struct SigningKeyCache {
    keys: std::sync::Mutex<std::collections::HashMap<SigningKeyId, hmac::Key>>,
    capacity: usize,
}

#[derive(PartialEq, Eq, Hash)]
struct SigningKeyId {
    secret_digest: [u8; 32],
    date: String,
    region: String,
    service: String,
}

impl SigningKeyCache {
    /// A cache holding up to `capacity` keys.
    pub fn new(capacity: usize) -> SigningKeyCache {
        SigningKeyCache {
            keys: std::sync::Mutex::new(std::collections::HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn get_or_derive(&self, secret: &str, auth: &SignedAuth) -> hmac::Key {
        self.key(secret, &auth.scope_date, &auth.region, &auth.service)
    }

    /// The signing key of `secret` for the scope `date` (`YYYYMMDD`), `region`, `service`,
    /// derived once and then taken from the cache.
    pub fn key(&self, secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
        let mut secret_digest = [0u8; 32];
        secret_digest.copy_from_slice(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
        let id = SigningKeyId {
            secret_digest,
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        };
        if let Ok(keys) = self.keys.lock()
            && let Some(key) = keys.get(&id)
        {
            return key.clone();
        }
        let key = derive_signing_key(secret, date, region, service);
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= self.capacity {
                keys.clear();
            }
            keys.insert(id, key.clone());
        }
        key
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        SigningKeyCache::new(4096)
    }
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.keys.lock().map(|k| k.len()).unwrap_or(0);
        f.debug_struct("SigningKeyCache")
            .field("len", &len)
            .finish()
    }
}

/// [`verify_cached`] for a forwarded request whose body the verifier does not have:
/// `payload_hash` stands for it in the canonical request (the hex SHA-256 of the body, or
/// `UNSIGNED-PAYLOAD`), and `x-amz-content-sha256`, when present, must equal it.
pub fn verify_forwarded(
    auth: &SignedAuth,
    req: &RequestParts<'_>,
    payload_hash: &str,
    secret_access_key: &str,
    cache: &SigningKeyCache,
) -> Result<(), SigV4Error> {
    verify_hashed(auth, req, payload_hash, secret_access_key, Some(cache))
}

/// The hex SHA-256 of `body`, the payload hash of a signed request.
pub fn payload_hash(body: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, body).as_ref())
}

fn verify_inner(
    auth: &SignedAuth,
    req: &RequestParts<'_>,
    secret_access_key: &str,
    cache: Option<&SigningKeyCache>,
) -> Result<(), SigV4Error> {
    let payload_hash = payload_hash(req.body);
    verify_hashed(auth, req, &payload_hash, secret_access_key, cache)
}

fn verify_hashed(
    auth: &SignedAuth,
    req: &RequestParts<'_>,
    payload_hash: &str,
    secret_access_key: &str,
    cache: Option<&SigningKeyCache>,
) -> Result<(), SigV4Error> {
    let mut claimed_hashes = req.headers.get_all(CONTENT_SHA256_HEADER).iter();
    if let Some(claimed) = claimed_hashes.next()
        && (claimed.as_bytes() != payload_hash.as_bytes() || claimed_hashes.next().is_some())
    {
        return Err(SigV4Error::content_sha256_mismatch());
    }

    let canonical_request =
        canonical_request(auth, req, payload_hash).ok_or_else(SigV4Error::signature_mismatch)?;
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        auth.date,
        auth.credential_scope(),
        hex(digest::digest(&digest::SHA256, &canonical_request).as_ref())
    );
    let signing_key = match cache {
        Some(cache) => cache.get_or_derive(secret_access_key, auth),
        None => derive_signing_key(
            secret_access_key,
            &auth.scope_date,
            &auth.region,
            &auth.service,
        ),
    };
    let expected = hex(hmac::sign(&signing_key, string_to_sign.as_bytes()).as_ref());
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::signature_mismatch())
    }
}

/// Signs a request for keyless's own APIs (header form, every header in `req` signed) and
/// returns the `Authorization` header value. `req.headers` must already hold `host` and
/// `x-amz-date` (`YYYYMMDDTHHMMSSZ`); the payload hash is that of `req.body`.
pub fn sign(
    req: &RequestParts<'_>,
    access_key_id: &str,
    secret_access_key: &str,
    region: &str,
    service: &str,
) -> Result<String, SigV4Error> {
    let date = req
        .headers
        .get(AMZ_DATE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SigV4Error::incomplete_signature("x-amz-date is missing".to_owned()))?
        .to_owned();
    let timestamp = parse_amz_date(&date)
        .ok_or_else(|| SigV4Error::incomplete_signature(format!("bad x-amz-date {date}")))?;
    if !req.headers.contains_key(http::header::HOST) {
        return Err(SigV4Error::incomplete_signature(
            "host is missing".to_owned(),
        ));
    }
    let mut signed_headers: Vec<String> =
        req.headers.keys().map(|k| k.as_str().to_owned()).collect();
    signed_headers.sort();
    signed_headers.dedup();
    let auth = SignedAuth {
        access_key_id: access_key_id.to_owned(),
        security_token: None,
        region: region.to_owned(),
        service: service.to_owned(),
        scope_date: date[..8].to_owned(),
        date,
        presigned: false,
        signed_headers,
        signature: String::new(),
        timestamp,
    };
    let payload_hash = hex(digest::digest(&digest::SHA256, req.body).as_ref());
    let canonical =
        canonical_request(&auth, req, &payload_hash).ok_or_else(SigV4Error::signature_mismatch)?;
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        auth.date,
        auth.credential_scope(),
        hex(digest::digest(&digest::SHA256, &canonical).as_ref())
    );
    let key = derive_signing_key(secret_access_key, &auth.scope_date, region, service);
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    Ok(format!(
        "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={signature}",
        auth.credential_scope(),
        auth.signed_headers.join(";")
    ))
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time, the form of `X-Amz-Date`.
pub fn amz_date(timestamp: i64) -> String {
    format_amz_date(timestamp)
}

/// Derives `kSigning`, the HMAC-SHA256 key of a credential scope, from the secret and the
/// scope's date (`YYYYMMDD`), region and service. S3's chunk and trailer signatures are made
/// with the same key as the request's seed signature.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut secret_key = Vec::with_capacity(4 + secret.len());
    secret_key.extend_from_slice(b"AWS4");
    secret_key.extend_from_slice(secret.as_bytes());
    let k_date = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &secret_key),
        date.as_bytes(),
    );
    let k_region = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_date.as_ref()),
        region.as_bytes(),
    );
    let k_service = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_region.as_ref()),
        service.as_bytes(),
    );
    let k_signing = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_service.as_ref()),
        SCOPE_TERMINATOR.as_bytes(),
    );
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// Builds the canonical request. Returns `None` if a signed header is absent from the request.
fn canonical_request(
    auth: &SignedAuth,
    req: &RequestParts<'_>,
    payload_hash: &str,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512 + req.query.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query, auth.presigned).as_bytes());
    out.push(b'\n');
    for name in &auth.signed_headers {
        let mut values = req
            .headers
            .get_all(name.to_ascii_lowercase().as_str())
            .iter();
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
    out.extend_from_slice(payload_hash.as_bytes());
    Some(out)
}

/// Appends a header value in canonical form: surrounding whitespace trimmed and inner runs of
/// spaces and tabs collapsed to one space.
pub fn push_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let already_normal = !value.first().is_some_and(is_blank)
        && !value.last().is_some_and(is_blank)
        && memchr::memchr(b'\t', value).is_none()
        && memchr::memmem::find(value, b"  ").is_none();
    if already_normal {
        out.extend_from_slice(value);
        return;
    }
    let mut pending_space = false;
    let mut written = false;
    for &byte in value {
        if byte == b' ' || byte == b'\t' {
            pending_space = written;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(byte);
            written = true;
        }
    }
}

/// Canonical URI for non-S3 services: dot segments and empty segments removed (a trailing
/// slash is kept), then the raw path is percent-encoded again, which encodes each segment twice
/// relative to its decoded form. An empty path is `/`.
fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::with_capacity(raw_path.len() + 1);
    normalized.push('/');
    normalized.push_str(&segments.join("/"));
    if raw_path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    percent_encode(normalized.as_bytes(), PATH_UNRESERVED).to_string()
}

/// Canonical query: each key and value decoded, then RFC 3986-encoded; pairs sorted by key, then
/// value. The presigned form leaves out `X-Amz-Signature`.
fn canonical_query(raw_query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = canonical_component(key);
            if presigned && key == QUERY_SIGNATURE {
                return None;
            }
            Some((key, canonical_component(value)))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw_query.len() + 16);
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The bytes SigV4 leaves unencoded: letters, digits and `-_.~`.
const UNRESERVED_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        b += 1;
    }
    table
};

/// Whether decoding and re-encoding the query component `raw` with [`UNRESERVED`] gives `raw`
/// back: only unreserved characters, and escapes in upper-case hex of bytes that are not
/// unreserved (what SDKs send). Such a component is its own canonical form.
///
/// ```
/// use keyless_credentials::sigv4::is_canonical_component;
/// assert!(is_canonical_component(b"a-b_c.d~%2F%3D"));
/// assert!(!is_canonical_component(b"%2f") && !is_canonical_component(b"%7E"));
/// assert!(!is_canonical_component(b"a+b") && !is_canonical_component(b"a b"));
/// ```
pub fn is_canonical_component(raw: &[u8]) -> bool {
    let upper_hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if UNRESERVED_BYTES[usize::from(b)] {
            i += 1;
        } else if b == b'%' {
            let (Some(high), Some(low)) = (
                raw.get(i + 1).copied().and_then(upper_hex),
                raw.get(i + 2).copied().and_then(upper_hex),
            ) else {
                return false;
            };
            if UNRESERVED_BYTES[usize::from(high << 4 | low)] {
                return false;
            }
            i += 3;
        } else {
            return false;
        }
    }
    true
}

/// A query component in canonical form: decoded (`+` is a space), then encoded with
/// [`UNRESERVED`]; one already in that form is borrowed unchanged.
fn canonical_component(raw: &str) -> Cow<'_, str> {
    if is_canonical_component(raw.as_bytes()) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(percent_encode(&decode_query_component(raw), UNRESERVED).to_string())
    }
}

/// Decodes a query-string component: `+` is a space and `%XX` escapes are decoded.
fn decode_query_component(raw: &str) -> Vec<u8> {
    let bytes: Vec<u8> = raw
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&bytes).collect()
}

/// Decodes a query-string component to text, mapping invalid UTF-8 to U+FFFD.
fn decode_query_text(raw: &str) -> String {
    String::from_utf8_lossy(&decode_query_component(raw)).into_owned()
}

/// Interprets header bytes as ISO-8859-1, so that any value can be echoed in a message.
fn latin1(bytes: &[u8]) -> String {
    if bytes.is_ascii()
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        // ASCII is valid UTF-8 and identical in ISO-8859-1.
        return text.to_owned();
    }
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// Trims ASCII whitespace from both ends.
fn trim_ascii(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Finds the authentication fields in the `Authorization` header or the query string.
fn extract_auth(req: &RequestParts<'_>) -> Result<RawAuth, SigV4Error> {
    let authorization = req.headers.get(http::header::AUTHORIZATION);
    let query_auth = QueryAuth::scan(req.query);
    let presigned = query_auth.algorithm.is_some() || query_auth.signature.is_some();
    match (authorization, presigned) {
        (None, false) => Err(SigV4Error::missing_authentication_token()),
        (Some(_), true) => Err(SigV4Error::incomplete_signature(
            MSG_ONE_MECHANISM.to_owned(),
        )),
        (Some(header), false) => extract_header_auth(&latin1(header.as_bytes()), req.headers),
        (None, true) => extract_query_auth(query_auth, req.headers),
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn extract_header_auth(header: &str, headers: &HeaderMap) -> Result<RawAuth, SigV4Error> {
    let header = trim_ascii(header);
    let (algorithm, parameters) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in parameters.split(',') {
        let component = trim_ascii(component);
        if component.is_empty() {
            continue;
        }
        let Some((key, value)) = component.split_once('=') else {
            return Err(SigV4Error::incomplete_signature(format!(
                "'{component}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'"
            )));
        };
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }

    let date = if let Some(value) = headers.get(AMZ_DATE_HEADER) {
        Some(DateSource::Amz(latin1(value.as_bytes())))
    } else {
        headers
            .get(http::header::DATE)
            .map(|value| DateSource::Http(latin1(value.as_bytes())))
    };

    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (credential, signature, signed_headers, date)
    else {
        return Err(SigV4Error::incomplete_signature(format!(
            "{} Authorization={algorithm}",
            missing.join(" ")
        )));
    };

    let mut tokens = headers.get_all(SECURITY_TOKEN_HEADER).iter();
    let security_token = tokens.next().map(|value| latin1(value.as_bytes()));
    if tokens.next().is_some() {
        return Err(SigV4Error::invalid_client_token_id());
    }

    Ok(RawAuth {
        credential: credential.to_owned(),
        signature: signature.to_owned(),
        signed_headers: split_signed_headers(signed_headers),
        date,
        expires: None,
        security_token,
        presigned: false,
    })
}

/// Builds the authentication fields of a presigned request.
fn extract_query_auth(query: QueryAuth, headers: &HeaderMap) -> Result<RawAuth, SigV4Error> {
    if let Some(algorithm) = &query.algorithm
        && algorithm != ALGORITHM
    {
        return Err(SigV4Error::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }

    let mut missing = Vec::new();
    if query.algorithm.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Algorithm'.");
    }
    if query.credential.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Credential'.");
    }
    if query.signature.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Signature'.");
    }
    if query.signed_headers.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-SignedHeaders'.");
    }
    if query.date.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Date'.");
    }
    let (Some(_), Some(credential), Some(signature), Some(signed_headers), Some(date)) = (
        query.algorithm,
        query.credential,
        query.signature,
        query.signed_headers,
        query.date,
    ) else {
        return Err(SigV4Error::incomplete_signature(format!(
            "{} Re-examine the query-string parameters.",
            missing.join(" ")
        )));
    };

    let expires = match query.expires {
        None => None,
        Some(raw) => {
            let seconds: i64 = raw.parse().map_err(|_| {
                SigV4Error::query_parameters_error("X-Amz-Expires should be a number")
            })?;
            if seconds < 0 {
                return Err(SigV4Error::query_parameters_error(
                    "X-Amz-Expires must be non-negative",
                ));
            }
            if seconds > MAX_PRESIGNED_EXPIRES_SECS {
                return Err(SigV4Error::query_parameters_error(
                    "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                ));
            }
            Some(seconds)
        }
    };

    let mut header_tokens = headers.get_all(SECURITY_TOKEN_HEADER).iter();
    if let Some(header_token) = header_tokens.next() {
        let conflicting = match &query.security_token {
            Some(query_token) => header_token.as_bytes() != query_token.as_bytes(),
            None => true,
        };
        if conflicting || header_tokens.next().is_some() {
            return Err(SigV4Error::invalid_client_token_id());
        }
    }

    Ok(RawAuth {
        credential,
        signature,
        signed_headers: split_signed_headers(&signed_headers),
        date: DateSource::Amz(date),
        expires,
        security_token: query.security_token,
        presigned: true,
    })
}

/// Splits a `SignedHeaders` value on `;`, keeping the names verbatim.
fn split_signed_headers(value: &str) -> Vec<String> {
    value.split(';').map(str::to_owned).collect()
}

/// The presigned-request parameters of a query string (first occurrence of each, decoded).
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
    fn scan(raw_query: &str) -> Self {
        let mut found = Self::default();
        for pair in raw_query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !key.starts_with("X-Amz-") && !key.contains('%') {
                continue;
            }
            let slot = match decode_query_text(key).as_str() {
                QUERY_ALGORITHM => &mut found.algorithm,
                QUERY_CREDENTIAL => &mut found.credential,
                QUERY_DATE => &mut found.date,
                QUERY_EXPIRES => &mut found.expires,
                QUERY_SIGNED_HEADERS => &mut found.signed_headers,
                QUERY_SIGNATURE => &mut found.signature,
                QUERY_SECURITY_TOKEN => &mut found.security_token,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(decode_query_text(value));
            }
        }
        found
    }
}

/// True for a syntactically valid region name: 1–63 lowercase letters, digits and hyphens,
/// starting and ending with a letter or digit (e.g. `us-east-1`, `eu-west-1`).
/// Whether `service` can be a credential scope's service: 1–64 characters of `a-z0-9-`.
fn is_valid_service(service: &str) -> bool {
    (1..=64).contains(&service.len())
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_valid_region(region: &str) -> bool {
    let bytes = region.as_bytes();
    let label_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(label_char)
        && bytes.last().is_some_and(label_char)
        && bytes.iter().all(|b| label_char(b) || *b == b'-')
}

/// Parses `YYYYMMDDTHHMMSSZ` (`X-Amz-Date`) into Unix seconds.
pub fn parse_amz_date(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let year = parse_digits(&bytes[0..4])?;
    let month = parse_digits(&bytes[4..6])?;
    let day = parse_digits(&bytes[6..8])?;
    let hour = parse_digits(&bytes[9..11])?;
    let minute = parse_digits(&bytes[11..13])?;
    let second = parse_digits(&bytes[13..15])?;
    to_unix(year, month, day, hour, minute, second)
}

/// Parses an IMF-fixdate HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
fn parse_http_date(value: &str) -> Option<i64> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    const WEEKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    let b = value.as_bytes();
    if b.len() != 29
        || !WEEKDAYS.contains(&&b[0..3])
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..29] != b" GMT"
    {
        return None;
    }
    let day = parse_digits(&b[5..7])?;
    let month = MONTHS.iter().position(|m| *m == &b[8..11])? + 1;
    let year = parse_digits(&b[12..16])?;
    let hour = parse_digits(&b[17..19])?;
    let minute = parse_digits(&b[20..22])?;
    let second = parse_digits(&b[23..25])?;
    to_unix(year, u32::try_from(month).ok()?, day, hour, minute, second)
}

/// Parses a run of ASCII digits.
fn parse_digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Converts calendar fields (UTC) to Unix seconds, rejecting impossible dates.
fn to_unix(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
fn format_amz_date(timestamp: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(timestamp) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => timestamp.to_string(),
    }
}

/// Renders a validity window the way AWS does: `15 min`, or `N sec` when not whole minutes.
fn describe_duration(seconds: i64) -> String {
    if seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} sec")
    }
}

/// Lower-case hexadecimal, the encoding of SigV4's hashes and signatures.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed with botocore's `quote(normalize_url_path(path), safe='/~')`.
    #[test]
    fn canonical_uri_matches_botocore() {
        for (raw, expected) in [
            ("", "/"),
            ("/", "/"),
            ("/prefix/sts", "/prefix/sts"),
            ("/prefix/sts/", "/prefix/sts/"),
            ("/a//b/./c/../d", "/a/b/d"),
            ("/a%20b/c%2Fd", "/a%2520b/c%252Fd"),
            ("/a/..", "/"),
            ("/~x*y:z@", "/~x%2Ay%3Az%40"),
            ("/../x", "/x"),
        ] {
            assert_eq!(canonical_uri(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(canonical_query("", false), "");
        assert_eq!(canonical_query("b=2&a=3&a=1&c", false), "a=1&a=3&b=2&c=");
        assert_eq!(
            canonical_query("k=a+b%2fc%7e*&k2=%E2%82%AC", false),
            "k=a%20b%2Fc~%2A&k2=%E2%82%AC"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=ab&X-Amz-Date=1", true),
            "X-Amz-Date=1"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=ab&X-Amz-Date=1", false),
            "X-Amz-Date=1&X-Amz-Signature=ab"
        );
    }

    #[test]
    fn header_values_are_normalised() {
        let mut out = Vec::new();
        push_header_value(&mut out, b"  a \t b   c  ");
        assert_eq!(out, b"a b c");
        out.clear();
        push_header_value(&mut out, b" \t ");
        assert_eq!(out, b"");
        out.clear();
        push_header_value(&mut out, b"a  b");
        assert_eq!(out, b"a b");
        out.clear();
        push_header_value(&mut out, b"a\tb");
        assert_eq!(out, b"a b");
        out.clear();
        push_header_value(&mut out, b"already normal");
        assert_eq!(out, b"already normal");
    }

    #[test]
    fn dates_parse_and_format() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("20240229T000000Z"), Some(1_709_164_800));
        assert_eq!(parse_amz_date("20230229T000000Z"), None);
        assert_eq!(parse_amz_date("2015083OT123600Z"), None);
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), None);
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn request_debug_output_omits_header_values_and_query() {
        let mut headers = HeaderMap::new();
        headers.insert(
            SECURITY_TOKEN_HEADER,
            http::HeaderValue::from_static("FwoGZXIvYXdzSECRET"),
        );
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: "X-Amz-Security-Token=FwoGZXIvYXdzSECRET",
            headers: &headers,
            body: b"",
        };
        let rendered = format!("{parts:?}");
        assert!(!rendered.contains("SECRET"), "{rendered}");
        assert!(rendered.contains("x-amz-security-token"), "{rendered}");
    }

    #[test]
    fn durations_render_like_aws() {
        assert_eq!(describe_duration(900), "15 min");
        assert_eq!(describe_duration(60), "1 min");
        assert_eq!(describe_duration(61), "61 sec");
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // From the AWS "Deriving the signing key" example.
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        let string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref()),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }
}
