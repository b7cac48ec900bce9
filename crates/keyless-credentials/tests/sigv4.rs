//! SigV4 verification against signatures produced by independent signers: the AWS SigV4 test
//! suite (`get-vanilla`, `post-x-www-form-urlencoded`, `get-vanilla-query-order-key-case`),
//! botocore 1.43 (`SigV4Auth`, `SigV4QueryAuth`) and literal canonical requests signed with
//! Python's `hmac`.

use http::{HeaderMap, HeaderName, HeaderValue};
use keyless_credentials::sigv4::{RequestParts, SigV4Error, SignedAuth, parse, verify};
use proptest::prelude::*;

/// Secret of the AWS SigV4 test suite.
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the AWS test suite's request time.
const SUITE_NOW: i64 = 1_440_938_160;
/// Secret used for the botocore vectors.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2026-11-25T19:30:00Z, the botocore vectors' request time.
const NOW: i64 = 1_795_635_000;
const GCI_BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
const LONG_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

/// An owned request, so tests can build and mutate requests freely.
#[derive(Clone)]
struct TestRequest {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl TestRequest {
    fn new(method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        Self {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: map,
            body: body.to_vec(),
        }
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("header value"),
        );
    }

    fn parse(&self, service: &str, now: i64) -> Result<SignedAuth, SigV4Error> {
        parse(&self.parts(), service, now)
    }

    fn check(&self, service: &str, now: i64, secret: &str) -> Result<SignedAuth, SigV4Error> {
        let auth = self.parse(service, now)?;
        verify(&auth, &self.parts(), secret)?;
        Ok(auth)
    }
}

fn suite_get_vanilla() -> TestRequest {
    TestRequest::new(
        "GET",
        "/",
        "",
        &[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        ],
        b"",
    )
}

fn botocore_gci(host: &str, path: &str, region: &str, signature: &str) -> TestRequest {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/{region}/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature={signature}"
    );
    TestRequest::new(
        "POST",
        path,
        "",
        &[
            ("host", host),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("user-agent", "aws-cli/1.45.11"),
            ("x-amz-date", "20261125T193000Z"),
            ("x-amz-security-token", LONG_TOKEN),
            ("authorization", &authorization),
        ],
        GCI_BODY,
    )
}

fn botocore_gci_eu_west_1() -> TestRequest {
    botocore_gci(
        "127.0.0.1:18555",
        "/",
        "eu-west-1",
        "cc1ace6f78590be5c91b53c841c51b9a6d8295895a9631605c45e039ec650415",
    )
}

const PRESIGNED_QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAQ3WZ7KXJ2NPLR5TY%2F20261125%2Fap-southeast-2%2Fsts%2Faws4_request&X-Amz-Date=20261125T193000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=AQoDYXdzEPT%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI%2FqkPpKPi%2FkMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d%2Bxo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz%2BscqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR%2FoLxBA%3D%3D&X-Amz-Signature=2fa8c6fed3edfb4615256f14c4a156c0c6240faaebcf9fbc505e015aa070f807";

fn botocore_presigned() -> TestRequest {
    TestRequest::new(
        "GET",
        "/",
        PRESIGNED_QUERY,
        &[
            ("host", "sts.ap-southeast-2.amazonaws.com"),
            ("x-k8s-aws-id", "my-cluster"),
        ],
        b"",
    )
}

fn assert_error(result: Result<SignedAuth, SigV4Error>, code: &str, status: u16, message: &str) {
    match result {
        Ok(auth) => panic!("expected {code}, got {auth:?}"),
        Err(error) => {
            assert_eq!(error.code.as_str(), code, "{error}");
            assert_eq!(error.status(), status, "{error}");
            assert_eq!(error.message, message);
        }
    }
}

fn assert_mismatch(result: Result<SignedAuth, SigV4Error>) {
    assert_eq!(result.err(), Some(SigV4Error::signature_mismatch()));
}

// ---------------------------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------------------------

#[test]
fn aws_suite_get_vanilla() {
    let auth = suite_get_vanilla()
        .check("service", SUITE_NOW, SUITE_SECRET)
        .expect("valid");
    assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
    assert_eq!(auth.region, "us-east-1");
    assert_eq!(auth.service, "service");
    assert_eq!(auth.date, "20150830T123600Z");
    assert_eq!(auth.timestamp(), SUITE_NOW);
    assert_eq!(auth.security_token, None);
    assert!(!auth.presigned);
    assert_eq!(auth.signed_headers(), ["host", "x-amz-date"]);
    assert_eq!(
        auth.credential_scope(),
        "20150830/us-east-1/service/aws4_request"
    );
}

#[test]
fn aws_suite_post_x_www_form_urlencoded() {
    let request = TestRequest::new(
        "POST",
        "/",
        "",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ),
        ],
        b"Param1=value1",
    );
    request
        .check("service", SUITE_NOW, SUITE_SECRET)
        .expect("valid");

    let mut altered_body = request.clone();
    altered_body.body = b"Param1=value2".to_vec();
    assert_mismatch(altered_body.check("service", SUITE_NOW, SUITE_SECRET));
}

#[test]
fn aws_suite_get_vanilla_query_order_key_case() {
    let request = TestRequest::new(
        "GET",
        "/",
        "Param2=value2&Param1=value1",
        &[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ],
        b"",
    );
    request
        .check("service", SUITE_NOW, SUITE_SECRET)
        .expect("valid");

    let mut altered_query = request.clone();
    altered_query.query = "Param2=value2&Param1=value3".into();
    assert_mismatch(altered_query.check("service", SUITE_NOW, SUITE_SECRET));
}

#[test]
fn botocore_get_caller_identity_eu_west_1() {
    let request = botocore_gci_eu_west_1();
    let auth = request.check("sts", NOW, SECRET).expect("valid");
    assert_eq!(auth.access_key_id, "ASIAQ3WZ7KXJ2NPLR5TY");
    assert_eq!(auth.region, "eu-west-1");
    assert_eq!(auth.security_token.as_deref(), Some(LONG_TOKEN));
    assert_eq!(auth.date, "20261125T193000Z");
}

#[test]
fn botocore_path_prefix_without_trailing_slash() {
    botocore_gci(
        "127.0.0.1:18555",
        "/prefix/sts",
        "eu-west-1",
        "59d0b8c352d60b29f7e4b0d6b27a6668821b5d7388f0acb5ec044e2cb5fdeb9c",
    )
    .check("sts", NOW, SECRET)
    .expect("valid");
}

#[test]
fn botocore_path_prefix_with_trailing_slash() {
    let request = botocore_gci(
        "sts.example.internal",
        "/prefix/sts/",
        "eu-west-1",
        "25ee1a3c0b021900b9615d5589eef94dd793d03dd4e6849f0aef6b568e4c3966",
    );
    request.check("sts", NOW, SECRET).expect("valid");

    let mut without_slash = request.clone();
    without_slash.path = "/prefix/sts".into();
    assert_mismatch(without_slash.check("sts", NOW, SECRET));
}

#[test]
fn botocore_query_with_reserved_characters() {
    let request = TestRequest::new(
        "GET",
        "/prefix/sts/",
        "Action=GetCallerIdentity&Version=2011-06-15&Tag=a%20b%2Fc~%2A",
        &[
            ("host", "sts.example.internal"),
            ("x-amz-date", "20261125T193000Z"),
            ("x-amz-security-token", LONG_TOKEN),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=d5fb5b6fce5c8e6b8a758f28996b4745f958887c719251a4cf5cfa2c7daff971",
            ),
        ],
        b"",
    );
    request.check("sts", NOW, SECRET).expect("valid");

    // The same parameters, differently encoded and ordered, canonicalise identically.
    let mut reencoded = request.clone();
    reencoded.query = "Tag=a+b%2fc%7E*&Version=2011-06-15&Action=GetCallerIdentity".into();
    reencoded.check("sts", NOW, SECRET).expect("valid");
}

#[test]
fn aws_sdk_rust_style_request_signs_user_agent_header() {
    let request = TestRequest::new(
        "POST",
        "/",
        "",
        &[
            ("host", "sts.eu-central-1.amazonaws.com"),
            ("content-type", "application/x-www-form-urlencoded"),
            (
                "x-amz-user-agent",
                "aws-sdk-rust/1.3.9 api/sts/1.124.0 os/linux lang/rust/1.95.0",
            ),
            ("x-amz-date", "20261125T193000Z"),
            ("x-amz-security-token", "FwoGZXIvYXdzEXAMPLETOKEN"),
            // Sent by aws-sdk-rust without being signed.
            (
                "amz-sdk-invocation-id",
                "3f0d3c2e-8a4e-4f4c-9d8a-0d6e5c9b1a2f",
            ),
            ("amz-sdk-request", "attempt=1; max=3"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/eu-central-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-user-agent, Signature=405ea3ba0b0c486969beedc5cadb55962ecd445d9e323e16f5bb9487e9aa0dfc",
            ),
        ],
        GCI_BODY,
    );
    let auth = request.check("sts", NOW, SECRET).expect("valid");
    assert_eq!(auth.region, "eu-central-1");

    let mut altered_agent = request.clone();
    altered_agent.set("x-amz-user-agent", "aws-sdk-rust/9.9.9");
    assert_mismatch(altered_agent.check("sts", NOW, SECRET));
}

#[test]
fn header_values_are_trimmed_and_whitespace_collapsed() {
    let mut request = TestRequest::new(
        "POST",
        "/",
        "",
        &[
            ("host", "sts.example.internal"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-amz-date", "20261125T193000Z"),
            ("x-amz-security-token", "FwoGZXIvYXdzEXAMPLETOKEN"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;my-header1;x-amz-date;x-amz-security-token, Signature=4a648fa6eb3908578fd56dd67f86f9bff8eb56787ab574734f0a379ae0e80e43",
            ),
        ],
        GCI_BODY,
    );
    request.set("my-header1", "  value1   with \t  spaces  ");
    request.check("sts", NOW, SECRET).expect("valid");
    request.set("my-header1", "value1 with spaces");
    request.check("sts", NOW, SECRET).expect("valid");
    request.set("my-header1", "value1 withspaces");
    assert_mismatch(request.check("sts", NOW, SECRET));
}

#[test]
fn repeated_headers_are_joined_with_commas() {
    let request = TestRequest::new(
        "GET",
        "/",
        "",
        &[
            ("host", "example.amazonaws.com"),
            ("my-header", "a"),
            ("my-header", "  b   c "),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header;x-amz-date, Signature=ea4c55226af3b65869a9178019d042c51526e3deda5c1dd88e8c95ac77e010d6",
            ),
        ],
        b"",
    );
    request
        .check("service", SUITE_NOW, SUITE_SECRET)
        .expect("valid");
}

#[test]
fn date_header_fallback() {
    let request = TestRequest::new(
        "GET",
        "/",
        "",
        &[
            ("host", "example.amazonaws.com"),
            ("date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=date;host, Signature=1262aceaf1a79c7f0b69fda81cd744572fcbe2e4c23b647b4de183cd5a0f1075",
            ),
        ],
        b"",
    );
    let auth = request
        .check("service", SUITE_NOW, SUITE_SECRET)
        .expect("valid");
    assert_eq!(auth.date, "20150830T123600Z");
    assert_eq!(auth.timestamp(), SUITE_NOW);
}

#[test]
fn botocore_presigned_get_caller_identity() {
    let request = botocore_presigned();
    let auth = request.check("sts", NOW + 30, SECRET).expect("valid");
    assert!(auth.presigned);
    assert_eq!(auth.region, "ap-southeast-2");
    assert_eq!(auth.access_key_id, "ASIAQ3WZ7KXJ2NPLR5TY");
    assert_eq!(auth.security_token.as_deref(), Some(LONG_TOKEN));
    assert_eq!(auth.signed_headers(), ["host", "x-k8s-aws-id"]);

    let mut altered_header = request.clone();
    altered_header.set("x-k8s-aws-id", "other-cluster");
    assert_mismatch(altered_header.check("sts", NOW, SECRET));

    let mut altered_query = request.clone();
    altered_query.query = PRESIGNED_QUERY.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
    assert_mismatch(altered_query.check("sts", NOW, SECRET));
}

#[test]
fn presigned_expiry_follows_x_amz_expires() {
    let request = botocore_presigned();
    request
        .check("sts", NOW + 60, SECRET)
        .expect("valid at the limit");
    assert_error(
        request.parse("sts", NOW + 61),
        "SignatureDoesNotMatch",
        403,
        "Signature expired: 20261125T193000Z is now earlier than 20261125T193001Z (20261125T193101Z - 1 min.)",
    );
    assert_error(
        request.parse("sts", NOW - 901),
        "SignatureDoesNotMatch",
        403,
        "Signature not yet current: 20261125T193000Z is still later than 20261125T192959Z (20261125T191459Z + 15 min.)",
    );
}

#[test]
fn presigned_expires_must_be_a_bounded_number() {
    for (expires, message) in [
        ("abc", "X-Amz-Expires should be a number"),
        ("-1", "X-Amz-Expires must be non-negative"),
        (
            "604801",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ),
    ] {
        let mut request = botocore_presigned();
        request.query =
            PRESIGNED_QUERY.replace("X-Amz-Expires=60", &format!("X-Amz-Expires={expires}"));
        assert_error(
            request.parse("sts", NOW),
            "AuthorizationQueryParametersError",
            400,
            message,
        );
    }
    let mut week = botocore_presigned();
    week.query = PRESIGNED_QUERY.replace("X-Amz-Expires=60", "X-Amz-Expires=604800");
    week.parse("sts", NOW).expect("a week is allowed");
}

#[test]
fn presigned_header_token_must_match_query_token() {
    let mut request = botocore_presigned();
    request.set("x-amz-security-token", "different");
    assert_eq!(
        request.parse("sts", NOW).err(),
        Some(SigV4Error::invalid_client_token_id())
    );
    let mut same = botocore_presigned();
    same.set("x-amz-security-token", LONG_TOKEN);
    same.check("sts", NOW, SECRET).expect("consistent token");
}

// ---------------------------------------------------------------------------------------------
// Signature mismatches
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_secret_is_a_mismatch() {
    let request = botocore_gci_eu_west_1();
    assert_mismatch(request.check("sts", NOW, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ"));
    let error = SigV4Error::signature_mismatch();
    assert_eq!(error.code.as_str(), "SignatureDoesNotMatch");
    assert_eq!(error.status(), 403);
    assert_eq!(
        error.message,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    );
}

#[test]
fn altered_signed_parts_are_mismatches() {
    let base = botocore_gci_eu_west_1();

    let mut method = base.clone();
    method.method = "PUT".into();
    assert_mismatch(method.check("sts", NOW, SECRET));

    let mut host = base.clone();
    host.set("host", "127.0.0.1:18556");
    assert_mismatch(host.check("sts", NOW, SECRET));

    let mut token = base.clone();
    token.set("x-amz-security-token", "AQoDYXdzEPTother");
    assert_mismatch(token.check("sts", NOW, SECRET));

    let mut content_type = base.clone();
    content_type.set("content-type", "application/x-www-form-urlencoded");
    assert_mismatch(content_type.check("sts", NOW, SECRET));

    let mut body = base.clone();
    body.body = b"Action=GetCallerIdentity&Version=2011-06-15 ".to_vec();
    assert_mismatch(body.check("sts", NOW, SECRET));

    let mut query = base.clone();
    query.query = "Action=AssumeRole".into();
    assert_mismatch(query.check("sts", NOW, SECRET));

    let mut signature_case = base.clone();
    let authorization = base.headers["authorization"]
        .to_str()
        .expect("ascii")
        .replace("cc1ace6f", "CC1ACE6F");
    signature_case.set("authorization", &authorization);
    assert_mismatch(signature_case.check("sts", NOW, SECRET));

    // Unsigned headers that are not x-amz-* may change freely.
    let mut user_agent = base.clone();
    user_agent.set("user-agent", "curl/8");
    user_agent
        .check("sts", NOW, SECRET)
        .expect("user-agent is not signed");
}

#[test]
fn signed_header_absent_from_request_is_a_mismatch() {
    let mut request = botocore_gci_eu_west_1();
    request.headers.remove("content-type");
    assert_mismatch(request.check("sts", NOW, SECRET));
}

#[test]
fn content_sha256_header_must_match_the_body() {
    let mut request = suite_get_vanilla();
    request.set(
        "x-amz-content-sha256",
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    assert_error(
        request.check("service", SUITE_NOW, SUITE_SECRET),
        "XAmzContentSHA256Mismatch",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
}

// ---------------------------------------------------------------------------------------------
// Error precedence table
// ---------------------------------------------------------------------------------------------

#[test]
fn error_1_missing_authentication_token() {
    let mut request = suite_get_vanilla();
    request.headers.remove("authorization");
    assert_error(
        request.parse("service", SUITE_NOW),
        "MissingAuthenticationToken",
        403,
        "Request is missing Authentication Token",
    );
    assert_eq!(
        SigV4Error::missing_authentication_token(),
        request.parse("service", SUITE_NOW).expect_err("missing")
    );
}

#[test]
fn error_2_unsupported_algorithm() {
    let mut request = suite_get_vanilla();
    for algorithm in ["AWS5-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"] {
        request.set(
            "authorization",
            &format!("{algorithm} Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        );
        assert_error(
            request.parse("service", SUITE_NOW),
            "IncompleteSignature",
            400,
            &format!("Unsupported AWS 'algorithm': '{algorithm}'."),
        );
    }
}

#[test]
fn error_3_malformed_component() {
    let mut request = suite_get_vanilla();
    request.set("authorization", "AWS4-HMAC-SHA256 FooBar, BazBurp");
    assert_error(
        request.parse("service", SUITE_NOW),
        "IncompleteSignature",
        400,
        "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 FooBar, BazBurp'",
    );
}

#[test]
fn error_4_missing_components_are_concatenated() {
    let mut request = suite_get_vanilla();
    request.headers.remove("x-amz-date");
    request.set("authorization", "AWS4-HMAC-SHA256");
    assert_error(
        request.parse("service", SUITE_NOW),
        "IncompleteSignature",
        400,
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256",
    );

    let mut only_signature_missing = suite_get_vanilla();
    only_signature_missing.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date",
    );
    assert_error(
        only_signature_missing.parse("service", SUITE_NOW),
        "IncompleteSignature",
        400,
        "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256",
    );
}

#[test]
fn error_4q_presigned_missing_parameters() {
    let mut request = botocore_presigned();
    request.query = "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256".into();
    assert_error(
        request.parse("sts", NOW),
        "IncompleteSignature",
        400,
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
    );

    request.query = "X-Amz-Signature=00".into();
    assert_error(
        request.parse("sts", NOW),
        "IncompleteSignature",
        400,
        "AWS query-string parameters must include 'X-Amz-Algorithm'. AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
    );

    request.query = PRESIGNED_QUERY.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256");
    assert_error(
        request.parse("sts", NOW),
        "IncompleteSignature",
        400,
        "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'.",
    );
}

#[test]
fn header_and_query_signatures_together_are_rejected() {
    let mut request = botocore_presigned();
    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/ap-southeast-2/sts/aws4_request, SignedHeaders=host, Signature=00",
    );
    let error = request.parse("sts", NOW).expect_err("two mechanisms");
    assert_eq!(error.code.as_str(), "IncompleteSignature");
    assert_eq!(error.status(), 400);
}

#[test]
fn error_5_host_not_signed() {
    let mut request = suite_get_vanilla();
    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    // Also a bad date: the host check comes first.
    request.set("x-amz-date", "2015/08/30T12/36/00Z");
    assert_error(
        request.parse("service", SUITE_NOW),
        "SignatureDoesNotMatch",
        403,
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
}

#[test]
fn unsigned_x_amz_headers_are_rejected_except_the_security_token() {
    let mut request = botocore_gci_eu_west_1();
    request.set(
        "x-amz-target",
        "AWSSecurityTokenServiceV20110615.AssumeRole",
    );
    assert_error(
        request.parse("sts", NOW),
        "SignatureDoesNotMatch",
        403,
        "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization.",
    );

    let mut unsigned_hash = suite_get_vanilla();
    unsigned_hash.set(
        "x-amz-content-sha256",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert_error(
        unsigned_hash.parse("service", SUITE_NOW),
        "SignatureDoesNotMatch",
        403,
        "'x-amz-content-sha256' must be a 'SignedHeader' in the AWS Authorization.",
    );

    // A token added after signing, as some third-party signers do, is accepted.
    let mut unsigned_token = suite_get_vanilla();
    unsigned_token.set("x-amz-security-token", "FwoGZXIvYXdzEXAMPLETOKEN");
    let auth = unsigned_token
        .check("service", SUITE_NOW, SUITE_SECRET)
        .expect("unsigned token allowed");
    assert_eq!(
        auth.security_token.as_deref(),
        Some("FwoGZXIvYXdzEXAMPLETOKEN")
    );
}

#[test]
fn error_6_bad_date_format() {
    let mut request = suite_get_vanilla();
    request.set("x-amz-date", "2015/08/30T12/36/00Z");
    assert_error(
        request.parse("service", SUITE_NOW),
        "IncompleteSignature",
        400,
        "Date must be in ISO-8601 'basic format'. Got '2015/08/30T12/36/00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
    );
    for bad in [
        "20150830T123600",
        "20151330T123600Z",
        "20150230T123600Z",
        "20150830T246000Z",
        "",
    ] {
        request.set("x-amz-date", bad);
        let error = request.parse("service", SUITE_NOW).expect_err(bad);
        assert_eq!(error.code.as_str(), "IncompleteSignature", "{bad}");
    }
}

#[test]
fn error_7_signature_expired() {
    let request = suite_get_vanilla();
    request
        .parse("service", SUITE_NOW + 900)
        .expect("15 minutes old is accepted");
    assert_error(
        request.parse("service", SUITE_NOW + 901),
        "SignatureDoesNotMatch",
        403,
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T125101Z - 15 min.)",
    );
}

#[test]
fn error_8_signature_not_yet_current() {
    let request = suite_get_vanilla();
    request
        .parse("service", SUITE_NOW - 900)
        .expect("15 minutes ahead is accepted");
    assert_error(
        request.parse("service", SUITE_NOW - 901),
        "SignatureDoesNotMatch",
        403,
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T122059Z + 15 min.)",
    );
}

#[test]
fn error_9_credential_not_five_parts() {
    let mut request = suite_get_vanilla();
    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, SignedHeaders=host;x-amz-date, Signature=00",
    );
    assert_error(
        request.parse("service", SUITE_NOW),
        "IncompleteSignature",
        400,
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE'",
    );
}

#[test]
fn error_10_scope_problems_are_concatenated() {
    let mut request = suite_get_vanilla();
    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/foobar/wrong_region/iam/aws5_request, SignedHeaders=host;x-amz-date, Signature=00",
    );
    assert_error(
        request.parse("sts", SUITE_NOW),
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped to a valid region, not 'wrong_region'. Credential should be scoped to correct service: 'sts'. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: 'foobar' != '20150830', from '20150830T123600Z'.",
    );

    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
    );
    assert_error(
        request.parse("sts", SUITE_NOW),
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped to correct service: 'sts'.",
    );
}

#[test]
fn any_syntactically_valid_region_is_accepted() {
    for region in [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "us-gov-west-1",
        "local",
    ] {
        let mut request = suite_get_vanilla();
        request.set(
            "authorization",
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/{region}/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        );
        let auth = request.parse("service", SUITE_NOW).expect(region);
        assert_eq!(auth.region, region);
    }
    for region in ["", "-us-east-1", "us-east-1-", "US-EAST-1", "us east"] {
        let mut request = suite_get_vanilla();
        request.set(
            "authorization",
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/{region}/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        );
        let error = request.parse("service", SUITE_NOW).expect_err(region);
        assert_eq!(
            error.message,
            format!("Credential should be scoped to a valid region, not '{region}'.")
        );
    }
}

#[test]
fn precedence_follows_the_table() {
    // Bad date and bad credential: the date error wins.
    let mut request = suite_get_vanilla();
    request.set("x-amz-date", "bogus");
    request.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, SignedHeaders=host;x-amz-date, Signature=00",
    );
    assert_eq!(
        request
            .parse("service", SUITE_NOW)
            .expect_err("bad")
            .code
            .as_str(),
        "IncompleteSignature"
    );
    assert!(
        request
            .parse("service", SUITE_NOW)
            .expect_err("bad")
            .message
            .starts_with("Date must be")
    );

    // Expired and bad credential: expiry wins.
    request.set("x-amz-date", "20150830T123600Z");
    assert!(
        request
            .parse("service", SUITE_NOW + 3600)
            .expect_err("expired")
            .message
            .starts_with("Signature expired")
    );

    // Bad credential shape and bad scope: the shape error wins.
    assert!(
        request
            .parse("sts", SUITE_NOW)
            .expect_err("shape")
            .message
            .starts_with("Credential must have exactly 5")
    );
}

#[test]
fn client_token_errors_have_aws_texts() {
    let invalid = SigV4Error::invalid_client_token_id();
    assert_eq!(invalid.code.as_str(), "InvalidClientTokenId");
    assert_eq!(invalid.status(), 403);
    assert_eq!(
        invalid.message,
        "The security token included in the request is invalid"
    );
    let expired = SigV4Error::expired_token();
    assert_eq!(expired.code.as_str(), "ExpiredToken");
    assert_eq!(expired.status(), 403);
    assert_eq!(
        expired.message,
        "The security token included in the request is expired"
    );
}

#[test]
fn debug_output_redacts_the_security_token() {
    let auth = botocore_gci_eu_west_1().parse("sts", NOW).expect("valid");
    let rendered = format!("{auth:?}");
    assert!(!rendered.contains(LONG_TOKEN));
    assert!(rendered.contains("<redacted>"));
}

proptest! {
    #[test]
    fn parsing_arbitrary_requests_never_panics(
        authorization in "(AWS4-HMAC-SHA256 )?[ -~]{0,200}",
        date in "[0-9TZ:/ ,a-zA-Z-]{0,32}",
        query in "[ -~]{0,200}",
        path in "/[ -~]{0,60}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&authorization) {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        if let Ok(value) = HeaderValue::from_str(&date) {
            headers.insert(HeaderName::from_static("x-amz-date"), value.clone());
            headers.insert(http::header::DATE, value);
        }
        headers.insert(http::header::HOST, HeaderValue::from_static("example.amazonaws.com"));
        let parts = RequestParts { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        if let Ok(auth) = parse(&parts, "sts", now) {
            prop_assert!(verify(&auth, &parts, SECRET).is_err());
        }
    }

    #[test]
    fn well_formed_but_wrong_signatures_are_rejected(signature in "[0-9a-f]{64}") {
        let mut request = suite_get_vanilla();
        request.set(
            "authorization",
            &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"),
        );
        let result = request.check("service", SUITE_NOW, SUITE_SECRET);
        if signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result.err(), Some(SigV4Error::signature_mismatch()));
        }
    }
}

#[test]
fn requests_signed_by_sign_verify_and_tampering_is_caught() {
    use keyless_credentials::sigv4::{RequestParts, amz_date, parse, sign, verify};
    let now = 1_795_640_000;
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:8080".parse().unwrap());
    headers.insert("x-amz-date", amz_date(now).parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let body = br#"{"roles":["arn:aws:iam::000000000000:role/r"]}"#;
    let req = RequestParts {
        method: "POST",
        path: "/keyless/explain",
        query: "",
        headers: &headers,
        body,
    };
    let authorization = sign(
        &req,
        "AKIAEXAMPLEADMIN0001",
        "secret-secret-secret",
        "us-east-1",
        "keyless",
    )
    .unwrap();
    headers.insert("authorization", authorization.parse().unwrap());
    let req = RequestParts {
        method: "POST",
        path: "/keyless/explain",
        query: "",
        headers: &headers,
        body,
    };
    let auth = parse(&req, "keyless", now + 5).unwrap();
    assert_eq!(auth.access_key_id, "AKIAEXAMPLEADMIN0001");
    verify(&auth, &req, "secret-secret-secret").unwrap();
    assert_eq!(
        verify(&auth, &req, "another-secret")
            .unwrap_err()
            .code
            .as_str(),
        "SignatureDoesNotMatch"
    );
    let tampered = RequestParts { body: b"{}", ..req };
    assert_eq!(
        verify(&auth, &tampered, "secret-secret-secret")
            .unwrap_err()
            .code
            .as_str(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn cached_signing_keys_verify_like_fresh_ones_and_follow_the_secret() {
    use keyless_credentials::sigv4::{
        RequestParts, SigningKeyCache, amz_date, parse, sign, verify_cached,
    };
    let cache = SigningKeyCache::new(2);
    let now = 1_795_640_000;
    for (round, secret) in [
        "first-secret-0000",
        "first-secret-0000",
        "second-secret-000",
        "third-secret-0000",
    ]
    .iter()
    .enumerate()
    {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        headers.insert("x-amz-date", amz_date(now + round as i64).parse().unwrap());
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        let req = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let authorization = sign(&req, "AKIAEXAMPLEADMIN0001", secret, "eu-west-1", "sts").unwrap();
        headers.insert("authorization", authorization.parse().unwrap());
        let req = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let auth = parse(&req, "sts", now).unwrap();
        verify_cached(&auth, &req, secret, &cache).unwrap();
        // A cached key for another secret never verifies this one's signature.
        assert_eq!(
            verify_cached(&auth, &req, "some-other-secret", &cache)
                .unwrap_err()
                .code
                .as_str(),
            "SignatureDoesNotMatch"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Forwarded requests (the authorization API): the body stays with the service
// ---------------------------------------------------------------------------------------------

#[test]
fn forwarded_request_verifies_with_the_payload_hash_instead_of_the_body() {
    use keyless_credentials::sigv4::{
        SigningKeyCache, parse_forwarded, payload_hash, verify_forwarded,
    };
    let cache = SigningKeyCache::default();
    let mut forwarded = botocore_gci_eu_west_1();
    let hash = payload_hash(GCI_BODY);
    forwarded.body.clear();
    // Any service is accepted when the forwarder names none, and reported.
    let auth = parse_forwarded(&forwarded.parts(), None, NOW).expect("parses");
    assert_eq!(auth.service, "sts");
    verify_forwarded(&auth, &forwarded.parts(), &hash, SECRET, &cache).expect("verifies");
    // The hash of another body, or of the empty body, does not.
    assert_eq!(
        verify_forwarded(
            &auth,
            &forwarded.parts(),
            &payload_hash(b""),
            SECRET,
            &cache
        )
        .err(),
        Some(SigV4Error::signature_mismatch())
    );
    // A named service must be the scope's.
    let wrong = parse_forwarded(&forwarded.parts(), Some("execute-api"), NOW);
    assert_error(
        wrong,
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped to correct service: 'execute-api'.",
    );
    parse_forwarded(&forwarded.parts(), Some("sts"), NOW).expect("the named service");
    // A claimed x-amz-content-sha256 must be the forwarded hash.
    forwarded.set("x-amz-content-sha256", &payload_hash(b"other"));
    forwarded.headers.remove("authorization");
    forwarded.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=ASIAQ3WZ7KXJ2NPLR5TY/20261125/eu-west-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=00",
    );
    let auth = parse_forwarded(&forwarded.parts(), None, NOW).expect("parses");
    let err = verify_forwarded(&auth, &forwarded.parts(), &hash, SECRET, &cache).unwrap_err();
    assert_eq!(err.code.as_str(), "XAmzContentSHA256Mismatch");
}

#[test]
fn forwarded_scope_service_must_be_a_service_name() {
    use keyless_credentials::sigv4::parse_forwarded;
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/Bad_Service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
    let request = TestRequest::new(
        "GET",
        "/",
        "",
        &[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", auth),
        ],
        b"",
    );
    assert_error(
        parse_forwarded(&request.parts(), None, SUITE_NOW),
        "SignatureDoesNotMatch",
        403,
        "Credential should be scoped to a valid service, not 'Bad_Service'.",
    );
}
