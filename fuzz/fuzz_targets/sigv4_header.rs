//! `keyless_credentials::sigv4::parse` and `verify` on requests signed in the `Authorization`
//! header form, read as text (see `keyless_fuzz::TextRequest`). Requests that carry `host` and
//! `x-amz-date` are also re-signed with `sigv4::sign` and must then verify.

#![no_main]

use std::sync::LazyLock;

use http::HeaderValue;
use http::header::AUTHORIZATION;
use keyless_credentials::sigv4::{self, SigV4ErrorCode, SigningKeyCache};
use keyless_fuzz::{SECRET, TextRequest, amz_date_to_unix, secret_for};
use libfuzzer_sys::fuzz_target;

static CACHE: LazyLock<SigningKeyCache> = LazyLock::new(|| SigningKeyCache::new(16));

fuzz_target!(|data: &[u8]| {
    let Some(mut req) = TextRequest::parse(data) else {
        return;
    };
    let _ = format!("{:?}", req.parts());

    if let Ok(auth) = sigv4::parse(&req.parts(), req.service, req.now) {
        let _ = format!("{auth:?}");
        assert!(
            auth.signed_headers()
                .iter()
                .any(|h| h.eq_ignore_ascii_case("host"))
        );
        assert!((auth.timestamp() - req.now).abs() <= 15 * 60 || auth.presigned);
        assert_eq!(auth.date, sigv4::amz_date(auth.timestamp()));
        assert_eq!(auth.service, req.service);
        let secret = secret_for(&auth.access_key_id);
        let plain = sigv4::verify(&auth, &req.parts(), secret);
        let cached = sigv4::verify_cached(&auth, &req.parts(), secret, &CACHE);
        assert_eq!(plain.map_err(|e| e.code), cached.map_err(|e| e.code));
    }

    // Round trip: what `sign` signs, `parse` and `verify` accept.
    let Some(timestamp) = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(amz_date_to_unix)
    else {
        return;
    };
    req.headers.remove(AUTHORIZATION);
    let Ok(authorization) =
        sigv4::sign(&req.parts(), "AKIAFUZZEXAMPLE", SECRET, "us-east-1", "sts")
    else {
        return;
    };
    let value = HeaderValue::from_str(&authorization).expect("sign returns a header value");
    req.headers.insert(AUTHORIZATION, value);
    let parts = req.parts();
    match sigv4::parse(&parts, "sts", timestamp) {
        Ok(auth) => {
            assert_eq!(auth.access_key_id, "AKIAFUZZEXAMPLE");
            assert_eq!(auth.timestamp(), timestamp);
            if let Err(error) = sigv4::verify(&auth, &parts, SECRET) {
                assert_eq!(
                    error.code,
                    SigV4ErrorCode::XAmzContentSha256Mismatch,
                    "{error:?} for {parts:?}"
                );
            }
        }
        Err(error) => {
            // Only problems of the request itself, never of the signature `sign` wrote.
            assert_ne!(
                error.code,
                SigV4ErrorCode::SignatureDoesNotMatch,
                "{error:?} for {parts:?}"
            );
        }
    }
});
