//! S3's errors: one enum, mapped to S3's code, HTTP status, message and XML body here and
//! nowhere else.
//!
//! The codes, statuses and messages are AWS's (its S3 error table; the signature errors as AWS
//! answers them). A `HEAD` response carries no body: the client then sees only the status.

use std::fmt::Write as _;

/// An S3 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// 403 `AccessDenied`, with the message that says why (AWS's
    /// `User: … is not authorized to perform: …` for a policy refusal, `Access Denied`
    /// otherwise).
    AccessDenied {
        /// The message.
        message: String,
    },
    /// 403 `SignatureDoesNotMatch`, with what the client would need to see where its signature
    /// differs (the session token is never echoed).
    SignatureDoesNotMatch {
        /// The access key that signed.
        access_key_id: String,
        /// The string to sign keyless computed (empty for a chunk or trailer signature).
        string_to_sign: String,
        /// The canonical request keyless computed, with the session token's value redacted.
        canonical_request: String,
    },
    /// 403 `InvalidAccessKeyId`: the access key is not one keyless issued, or a temporary key
    /// came without its session token.
    InvalidAccessKeyId {
        /// The access key.
        access_key_id: String,
    },
    /// 400 `InvalidToken`: the session token is malformed, altered, or of another key.
    InvalidToken,
    /// 400 `ExpiredToken`: the session has expired.
    ExpiredToken,
    /// 400 `AuthorizationHeaderMalformed`.
    AuthorizationHeaderMalformed {
        /// What is wrong, after AWS's `The authorization header is malformed; `.
        detail: String,
        /// The region the credential must be scoped to, when the scope names another.
        region: Option<String>,
    },
    /// 400 `AuthorizationQueryParametersError`: a presigned URL's parameters are wrong.
    AuthorizationQueryParametersError {
        /// The message.
        message: String,
    },
    /// 403 `RequestTimeTooSkewed`.
    RequestTimeTooSkewed {
        /// The request time, `YYYYMMDDTHHMMSSZ`.
        request_time: String,
        /// The server time, `YYYYMMDDTHHMMSSZ`.
        server_time: String,
    },
    /// 400 `MissingSecurityHeader`: a request that needs a signature carries none.
    MissingSecurityHeader,
    /// 400 `XAmzContentSHA256Mismatch`: the body's SHA-256 is not `x-amz-content-sha256`.
    ContentSha256Mismatch {
        /// The client's value.
        client: String,
        /// What the body hashed to.
        computed: String,
    },
    /// 400 `InvalidRequest`.
    InvalidRequest {
        /// The message.
        message: String,
    },
    /// 411 `MissingContentLength`.
    MissingContentLength,
    /// 400 `IncompleteBody`: the body ended before its announced length.
    IncompleteBody,
    /// 400 `MalformedTrailerError`: an aws-chunked trailer that does not follow the format.
    MalformedTrailer,
    /// 400 `BadDigest`: a checksum or `Content-MD5` that does not match the body.
    BadDigest {
        /// The message.
        message: String,
    },
    /// 400 `InvalidDigest`: a `Content-MD5` that is not an MD5 in base64.
    InvalidDigest,
    /// 400 `InvalidArgument`.
    InvalidArgument {
        /// The message.
        message: String,
        /// The argument.
        name: String,
        /// Its value, bounded.
        value: String,
    },
    /// 400 `InvalidBucketName`.
    InvalidBucketName {
        /// The name, bounded.
        bucket: String,
    },
    /// 400 `KeyTooLongError`: a key of more than 1,024 bytes.
    KeyTooLong,
    /// 400 `MalformedXML`: a request body that is not the XML the operation takes.
    MalformedXml,
    /// 400 `MaxMessageLengthExceeded`: a request body keyless must read whole is too large.
    MaxMessageLengthExceeded,
    /// 400 `RequestTimeout`: the body did not arrive in time.
    RequestTimeout,
    /// 405 `MethodNotAllowed`.
    MethodNotAllowed {
        /// The method.
        method: String,
    },
    /// 501 `NotImplemented`: an operation or feature the gateway does not serve (refused, never
    /// forwarded unauthorized).
    NotImplemented {
        /// What is not implemented.
        message: String,
    },
    /// 500 `InternalError`; the detail goes to the log, never to the client.
    InternalError,
    /// 503 `ServiceUnavailable`: the backend cannot be reached.
    ServiceUnavailable,
    /// 503 `SlowDown`: the backend did not answer in time; the client should back off and
    /// retry.
    SlowDown,
}

/// The longest value of a request's own that an error body repeats.
const MAX_ECHO: usize = 256;

fn bounded(value: &str) -> String {
    if value.len() <= MAX_ECHO {
        return value.to_owned();
    }
    let mut end = MAX_ECHO;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

impl S3Error {
    /// 403 `AccessDenied` with AWS's generic message.
    pub fn access_denied() -> S3Error {
        S3Error::AccessDenied {
            message: "Access Denied".to_owned(),
        }
    }

    /// `InvalidArgument` for `name` = `value`.
    pub fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> S3Error {
        S3Error::InvalidArgument {
            message: message.into(),
            name: bounded(name),
            value: bounded(value),
        }
    }

    /// `InvalidBucketName` for `bucket`.
    pub fn invalid_bucket_name(bucket: &str) -> S3Error {
        S3Error::InvalidBucketName {
            bucket: bounded(bucket),
        }
    }

    /// The wire code.
    pub fn code(&self) -> &'static str {
        match self {
            S3Error::AccessDenied { .. } => "AccessDenied",
            S3Error::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            S3Error::InvalidAccessKeyId { .. } => "InvalidAccessKeyId",
            S3Error::InvalidToken => "InvalidToken",
            S3Error::ExpiredToken => "ExpiredToken",
            S3Error::AuthorizationHeaderMalformed { .. } => "AuthorizationHeaderMalformed",
            S3Error::AuthorizationQueryParametersError { .. } => {
                "AuthorizationQueryParametersError"
            }
            S3Error::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            S3Error::MissingSecurityHeader => "MissingSecurityHeader",
            S3Error::ContentSha256Mismatch { .. } => "XAmzContentSHA256Mismatch",
            S3Error::InvalidRequest { .. } => "InvalidRequest",
            S3Error::MissingContentLength => "MissingContentLength",
            S3Error::IncompleteBody => "IncompleteBody",
            S3Error::MalformedTrailer => "MalformedTrailerError",
            S3Error::BadDigest { .. } => "BadDigest",
            S3Error::InvalidDigest => "InvalidDigest",
            S3Error::InvalidArgument { .. } => "InvalidArgument",
            S3Error::InvalidBucketName { .. } => "InvalidBucketName",
            S3Error::KeyTooLong => "KeyTooLongError",
            S3Error::MalformedXml => "MalformedXML",
            S3Error::MaxMessageLengthExceeded => "MaxMessageLengthExceeded",
            S3Error::RequestTimeout => "RequestTimeout",
            S3Error::MethodNotAllowed { .. } => "MethodNotAllowed",
            S3Error::NotImplemented { .. } => "NotImplemented",
            S3Error::InternalError => "InternalError",
            S3Error::ServiceUnavailable => "ServiceUnavailable",
            S3Error::SlowDown => "SlowDown",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            S3Error::AccessDenied { .. }
            | S3Error::SignatureDoesNotMatch { .. }
            | S3Error::InvalidAccessKeyId { .. }
            | S3Error::RequestTimeTooSkewed { .. } => 403,
            S3Error::MissingContentLength => 411,
            S3Error::MethodNotAllowed { .. } => 405,
            S3Error::NotImplemented { .. } => 501,
            S3Error::InternalError => 500,
            S3Error::ServiceUnavailable | S3Error::SlowDown => 503,
            S3Error::InvalidToken
            | S3Error::ExpiredToken
            | S3Error::AuthorizationHeaderMalformed { .. }
            | S3Error::AuthorizationQueryParametersError { .. }
            | S3Error::MissingSecurityHeader
            | S3Error::ContentSha256Mismatch { .. }
            | S3Error::InvalidRequest { .. }
            | S3Error::IncompleteBody
            | S3Error::MalformedTrailer
            | S3Error::BadDigest { .. }
            | S3Error::InvalidDigest
            | S3Error::InvalidArgument { .. }
            | S3Error::InvalidBucketName { .. }
            | S3Error::KeyTooLong
            | S3Error::MalformedXml
            | S3Error::MaxMessageLengthExceeded
            | S3Error::RequestTimeout => 400,
        }
    }

    /// The message.
    pub fn message(&self) -> String {
        match self {
            S3Error::AccessDenied { message }
            | S3Error::AuthorizationQueryParametersError { message }
            | S3Error::InvalidRequest { message }
            | S3Error::BadDigest { message }
            | S3Error::InvalidArgument { message, .. }
            | S3Error::NotImplemented { message } => message.clone(),
            S3Error::SignatureDoesNotMatch { .. } => "The request signature we calculated does not match the signature you provided. Check your key and signing method.".to_owned(),
            S3Error::InvalidAccessKeyId { .. } => {
                "The AWS Access Key Id you provided does not exist in our records.".to_owned()
            }
            S3Error::InvalidToken => {
                "The provided token is malformed or otherwise invalid.".to_owned()
            }
            S3Error::ExpiredToken => "The provided token has expired.".to_owned(),
            S3Error::AuthorizationHeaderMalformed { detail, .. } => {
                format!("The authorization header is malformed; {detail}")
            }
            S3Error::RequestTimeTooSkewed { .. } => {
                "The difference between the request time and the current time is too large."
                    .to_owned()
            }
            S3Error::MissingSecurityHeader => {
                "Your request was missing a required header.".to_owned()
            }
            S3Error::ContentSha256Mismatch { .. } => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned()
            }
            S3Error::MissingContentLength => {
                "You must provide the Content-Length HTTP header.".to_owned()
            }
            S3Error::IncompleteBody => {
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
                    .to_owned()
            }
            S3Error::MalformedTrailer => "The request contained trailing data that was not well-formed or did not conform to our published schema.".to_owned(),
            S3Error::InvalidDigest => "The Content-MD5 you specified is not valid.".to_owned(),
            S3Error::InvalidBucketName { .. } => "The specified bucket is not valid.".to_owned(),
            S3Error::KeyTooLong => "Your key is too long".to_owned(),
            S3Error::MalformedXml => "The XML you provided was not well-formed or did not validate against our published schema.".to_owned(),
            S3Error::MaxMessageLengthExceeded => "Your request was too big.".to_owned(),
            S3Error::RequestTimeout => "Your socket connection to the server was not read from or written to within the timeout period.".to_owned(),
            S3Error::MethodNotAllowed { .. } => {
                "The specified method is not allowed against this resource.".to_owned()
            }
            S3Error::InternalError => "We encountered an internal error. Please try again.".to_owned(),
            S3Error::ServiceUnavailable => "Service is unable to handle request.".to_owned(),
            S3Error::SlowDown => "Please reduce your request rate.".to_owned(),
        }
    }

    /// The code-specific elements of the body, after `Code` and `Message`.
    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            S3Error::SignatureDoesNotMatch {
                access_key_id,
                string_to_sign,
                canonical_request,
            } => {
                let mut details = vec![("AWSAccessKeyId", access_key_id.clone())];
                if !string_to_sign.is_empty() {
                    details.push(("StringToSign", string_to_sign.clone()));
                    details.push(("CanonicalRequest", canonical_request.clone()));
                }
                details
            }
            S3Error::InvalidAccessKeyId { access_key_id } => {
                vec![("AWSAccessKeyId", bounded(access_key_id))]
            }
            S3Error::AuthorizationHeaderMalformed {
                region: Some(region),
                ..
            } => vec![("Region", region.clone())],
            S3Error::RequestTimeTooSkewed {
                request_time,
                server_time,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
                ("MaxAllowedSkewMilliseconds", "900000".to_owned()),
            ],
            S3Error::ContentSha256Mismatch { client, computed } => vec![
                ("ClientComputedContentSHA256", bounded(client)),
                ("S3ComputedContentSHA256", computed.clone()),
            ],
            S3Error::InvalidArgument { name, value, .. } => vec![
                ("ArgumentName", name.clone()),
                ("ArgumentValue", value.clone()),
            ],
            S3Error::InvalidBucketName { bucket } => vec![("BucketName", bucket.clone())],
            S3Error::MethodNotAllowed { method } => vec![("Method", bounded(method))],
            _ => Vec::new(),
        }
    }

    /// The XML body: `Code`, `Message`, the code's own elements, `Resource` (the path the
    /// request named), `RequestId` and `HostId`.
    pub fn to_xml(&self, resource: &str, request_id: &str, host_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        element(&mut out, "Code", self.code());
        element(&mut out, "Message", &self.message());
        for (name, value) in self.details() {
            element(&mut out, name, &value);
        }
        if !resource.is_empty() {
            element(&mut out, "Resource", &bounded(resource));
        }
        element(&mut out, "RequestId", request_id);
        element(&mut out, "HostId", host_id);
        out.push_str("</Error>");
        out
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code(), self.status(), self.message())
    }
}

impl std::error::Error for S3Error {}

/// Appends `<name>value</name>`, the value escaped for XML text.
pub(crate) fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>");
    escape_into(out, value);
    let _ = write!(out, "</{name}>");
}

/// Escapes `&`, `<`, `>`, `"` and `'`, and writes control characters XML 1.0 allows as
/// character references; the ones it forbids are left out.
pub(crate) fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\r' | '\t' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_aws_code_status_and_an_escaped_body() {
        let cases: Vec<(S3Error, &str, u16)> = vec![
            (S3Error::access_denied(), "AccessDenied", 403),
            (S3Error::InvalidToken, "InvalidToken", 400),
            (S3Error::ExpiredToken, "ExpiredToken", 400),
            (
                S3Error::InvalidAccessKeyId {
                    access_key_id: "ASIAX".into(),
                },
                "InvalidAccessKeyId",
                403,
            ),
            (S3Error::MissingContentLength, "MissingContentLength", 411),
            (
                S3Error::RequestTimeTooSkewed {
                    request_time: "20260101T000000Z".into(),
                    server_time: "20260101T010000Z".into(),
                },
                "RequestTimeTooSkewed",
                403,
            ),
            (
                S3Error::NotImplemented {
                    message: "x".into(),
                },
                "NotImplemented",
                501,
            ),
            (S3Error::InternalError, "InternalError", 500),
            (S3Error::ServiceUnavailable, "ServiceUnavailable", 503),
            (S3Error::SlowDown, "SlowDown", 503),
        ];
        for (error, code, status) in cases {
            assert_eq!((error.code(), error.status()), (code, status), "{error}");
        }
        let xml = S3Error::invalid_bucket_name("a<b&c").to_xml("/a<b&c", "REQ1", "HOST1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidBucketName</Code>\
             <Message>The specified bucket is not valid.</Message>\
             <BucketName>a&lt;b&amp;c</BucketName><Resource>/a&lt;b&amp;c</Resource>\
             <RequestId>REQ1</RequestId><HostId>HOST1</HostId></Error>"
        );
    }

    #[test]
    fn echoed_request_values_are_bounded() {
        let long = "k".repeat(10_000);
        let xml =
            S3Error::invalid_argument("bad", "x-amz-copy-source", &long).to_xml(&long, "R", "H");
        assert!(xml.len() < 1_000, "{}", xml.len());
        let skewed = S3Error::RequestTimeTooSkewed {
            request_time: "a".into(),
            server_time: "b".into(),
        };
        assert!(
            skewed
                .to_xml("", "R", "H")
                .contains("<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>")
        );
    }
}
