//! `keyless_s3::sigv4::parse` and `verify` on S3 requests read as text (see
//! `keyless_fuzz::TextRequest`; the server serves `us-east-1`), in the form the request
//! carries and again with its `Authorization` header removed (the presigned form, when the
//! query has its parameters); `canonical_query` on the query. Requests are then re-signed in
//! header form with `sigv4::sign`, as the gateway signs what it forwards, and must parse and
//! verify.

#![no_main]

use std::sync::LazyLock;

use http::HeaderValue;
use http::header::{AUTHORIZATION, HOST};
use keyless_credentials::sigv4::{SigningKeyCache, amz_date};
use keyless_fuzz::{SECRET, TextRequest, amz_date_to_unix};
use keyless_s3::S3Error;
use keyless_s3::sigv4::{self, AuthForm, CONTENT_SHA256, Payload, RequestHead, SECURITY_TOKEN};
use libfuzzer_sys::fuzz_target;

const REGION: &str = "us-east-1";
/// The access key of the captured awscli and boto3 requests of the seeds, and its secret.
const CAPTURED_KEY: &str = "ASIATESTKEY000000000";
const CAPTURED_SECRET: &str = "secret";

static CACHE: LazyLock<SigningKeyCache> = LazyLock::new(|| SigningKeyCache::new(16));

fn secret_for(access_key_id: &str) -> &'static str {
    if access_key_id == CAPTURED_KEY {
        CAPTURED_SECRET
    } else {
        SECRET
    }
}

/// Parses and verifies `head`, checking what a parsed signature promises.
fn check(head: &RequestHead<'_>, now: i64) {
    let Ok(auth) = sigv4::parse(head, REGION, now) else {
        return;
    };
    let _ = format!("{auth:?}");
    let signed = |name: &str| auth.signed_headers().iter().any(|s| s == name);
    assert!(signed("host"));
    for name in head.headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-")
            && name != CONTENT_SHA256
            && !(auth.form == AuthForm::Query && name == SECURITY_TOKEN)
        {
            assert!(signed(name), "{name} is not signed");
        }
    }
    assert_eq!(auth.date, amz_date(auth.timestamp));
    assert_eq!(
        auth.scope(),
        format!("{}/{REGION}/s3/aws4_request", &auth.date[..8])
    );
    assert!(auth.age_millis(now) >= 0);
    match auth.form {
        AuthForm::Header => {
            assert!(head.headers.contains_key(AUTHORIZATION));
            assert!((auth.timestamp - now).abs() <= sigv4::MAX_SKEW_SECS);
        }
        AuthForm::Query => {
            assert!(!head.headers.contains_key(AUTHORIZATION));
            assert_eq!(auth.payload, Payload::Unsigned);
            assert!(auth.timestamp <= now + sigv4::MAX_SKEW_SECS);
        }
    }
    let key = auth.signing_key(secret_for(&auth.access_key_id), &CACHE);
    if let Err(error) = sigv4::verify(&auth, head, &key) {
        assert_eq!(error.code(), "SignatureDoesNotMatch", "{error}");
    }
}

/// The path decoded once and encoded with SigV4's unreserved set, as `verify` first tries it.
fn canonical_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            decoded.push((h * 16 + l) as u8);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let mut out = String::with_capacity(decoded.len() * 3);
    for b in decoded {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut req) = TextRequest::parse(data) else {
        return;
    };
    let now = req.now;
    let head = RequestHead {
        method: req.method,
        raw_path: req.path,
        raw_query: req.query,
        headers: &req.headers,
    };
    check(&head, now);

    let canonical = sigv4::canonical_query(req.query, |_| false);
    assert_eq!(sigv4::canonical_query(&canonical, |_| false), canonical);

    // The presigned form: the same request without its header signature.
    let mut unsigned = req.headers.clone();
    unsigned.remove(AUTHORIZATION);
    check(
        &RequestHead {
            headers: &unsigned,
            ..head
        },
        now,
    );

    // Round trip: what `sign` signs in header form, `parse` accepts and `verify` verifies.
    let query = sigv4::canonical_query(req.query, |name| sigv4::PRESIGN_PARAMETERS.contains(&name));
    let headers = &mut req.headers;
    headers.remove(AUTHORIZATION);
    if !headers.contains_key(HOST) {
        headers.insert(HOST, HeaderValue::from_static("s3.example.internal"));
    }
    let date = amz_date(now);
    // A server time `X-Amz-Date` cannot write (past the year 9999) has nothing to sign with.
    if amz_date_to_unix(&date) != Some(now) {
        return;
    }
    headers.insert(
        "x-amz-date",
        HeaderValue::from_str(&date).expect("a date is a value"),
    );
    if !headers.contains_key(CONTENT_SHA256) {
        headers.insert(
            CONTENT_SHA256,
            HeaderValue::from_static(sigv4::UNSIGNED_PAYLOAD),
        );
    }
    let path = canonical_path(req.path);
    let scope = format!("{}/{REGION}/s3/aws4_request", &date[..8]);
    let key = CACHE.key(SECRET, &date[..8], REGION, sigv4::SERVICE);
    let Some(authorization) = sigv4::sign(
        req.method,
        &path,
        &query,
        headers,
        "AKIAFUZZEXAMPLE",
        &key,
        &scope,
    ) else {
        return;
    };
    let Ok(value) = HeaderValue::from_str(&authorization) else {
        return;
    };
    headers.insert(AUTHORIZATION, value);
    let head = RequestHead {
        method: req.method,
        raw_path: &path,
        raw_query: &query,
        headers,
    };
    match sigv4::parse(&head, REGION, now) {
        Ok(auth) => {
            assert_eq!(auth.access_key_id, "AKIAFUZZEXAMPLE");
            assert_eq!(auth.form, AuthForm::Header);
            // A path with both dot segments and escaped reserved characters can verify
            // differently from how `sign` wrote it (an open question, tracked in the issue);
            // everything else must round-trip.
            let ambiguous = path.contains("/..") && path.contains('%');
            if let Err(error) = sigv4::verify(&auth, &head, &key)
                && !ambiguous
            {
                panic!("{error} for {head_path} {query}", head_path = path);
            }
        }
        // Only problems of the request itself (a token or payload header that is not valid),
        // never of the signature `sign` wrote.
        Err(error) => assert!(
            matches!(
                error,
                S3Error::InvalidToken
                    | S3Error::InvalidRequest { .. }
                    | S3Error::InvalidArgument { .. }
                    | S3Error::NotImplemented { .. }
            ) || authorization.len() > 16 * 1024,
            "{error} for {path} {query}"
        ),
    }
});
