//! `keyless_credentials::sigv4::parse` and `verify` on presigned requests (`X-Amz-*` query
//! parameters), read as text (see `keyless_fuzz::TextRequest`; an `Authorization` header is
//! dropped), and the Query parser on the same query string, which must read the same
//! credential and session token.

#![no_main]

use http::header::AUTHORIZATION;
use keyless_credentials::sigv4;
use keyless_fuzz::{TextRequest, secret_for};
use keyless_sts::query::QueryParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(mut req) = TextRequest::parse(data) else {
        return;
    };
    req.headers.remove(AUTHORIZATION);
    let parts = req.parts();
    let Ok(auth) = sigv4::parse(&parts, req.service, req.now) else {
        return;
    };
    assert!(auth.presigned);
    assert_eq!(auth.date, sigv4::amz_date(auth.timestamp()));
    assert!(auth.timestamp() <= req.now.saturating_add(15 * 60));
    let _ = sigv4::verify(&auth, &parts, secret_for(&auth.access_key_id));

    // The server reads the same query with the Query parser; both must agree.
    if let Ok(params) = QueryParams::parse(req.query, b"") {
        assert_eq!(
            params.get("X-Amz-Credential"),
            Some(format!("{}/{}", auth.access_key_id, auth.credential_scope()).as_str())
        );
        assert_eq!(
            params.get("X-Amz-Security-Token"),
            auth.security_token.as_deref()
        );
    }
});
