//! SigV4 verification of a botocore `GetCallerIdentity` request signed with temporary
//! credentials.

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use keyless_credentials::sigv4::{RequestParts, parse, verify};
use std::hint::black_box;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_795_635_000;
const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fn botocore_get_caller_identity() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:18555"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("user-agent", "aws-cli/1.45.11"),
        ("x-amz-date", "20261125T193000Z"),
        ("x-amz-security-token", TOKEN),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/eu-west-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=cc1ace6f78590be5c91b53c841c51b9a6d8295895a9631605c45e039ec650415",
        ),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn bench_sigv4(c: &mut Criterion) {
    let headers = botocore_get_caller_identity();
    let request = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"Action=GetCallerIdentity&Version=2011-06-15",
    };
    c.bench_function("sigv4_parse_and_verify_botocore_get_caller_identity", |b| {
        b.iter(|| {
            let auth = parse(black_box(&request), "sts", NOW).expect("parse");
            verify(&auth, black_box(&request), black_box(SECRET)).expect("verify");
        })
    });
    let auth = parse(&request, "sts", NOW).expect("parse");
    c.bench_function("sigv4_verify_botocore_get_caller_identity", |b| {
        b.iter(|| verify(black_box(&auth), black_box(&request), black_box(SECRET)).expect("verify"))
    });
}

criterion_group!(benches, bench_sigv4);
criterion_main!(benches);
