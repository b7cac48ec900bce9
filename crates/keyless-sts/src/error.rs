//! Errors in AWS's Query-protocol shape: a code, a message and an HTTP status.

use std::borrow::Cow;
use std::fmt;

/// An error the way AWS reports it on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The wire code, e.g. `InvalidIdentityToken`.
    pub code: Cow<'static, str>,
    /// The message, shown to the caller.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl AwsError {
    /// Builds an error.
    pub fn new(
        code: impl Into<Cow<'static, str>>,
        status: u16,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            code: code.into(),
            message: message.into(),
            status,
        }
    }

    /// `Sender` for 4xx, `Receiver` for 5xx.
    pub fn fault_type(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// 400 `ValidationError`.
    pub fn validation(message: impl Into<String>) -> Self {
        AwsError::new("ValidationError", 400, message)
    }

    /// 403 `AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        AwsError::new("AccessDenied", 403, message)
    }

    /// 400 `MalformedPolicyDocument`.
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        AwsError::new("MalformedPolicyDocument", 400, message)
    }

    /// 400 `InvalidAction` for an action this endpoint does not know.
    pub fn invalid_action(action: &str, version: &str) -> Self {
        AwsError::new(
            "InvalidAction",
            400,
            format!("Could not find operation {action} for version {version}"),
        )
    }

    /// 400 `MalformedQueryString`, for a request whose form cannot be read.
    pub fn malformed_query(message: impl Into<String>) -> Self {
        AwsError::new("MalformedQueryString", 400, message)
    }

    /// 500 `InternalFailure`. The message never carries internal detail.
    pub fn internal() -> Self {
        AwsError::new(
            "InternalFailure",
            500,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    /// 503 `ServiceUnavailable`.
    pub fn unavailable() -> Self {
        AwsError::new(
            "ServiceUnavailable",
            503,
            "The request has failed due to a temporary failure of the server.",
        )
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}
