//! The error type shared by the whole token path: decoding, key lookup and verification.

use std::fmt;

/// AWS STS error code carried by a [`TokenError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenErrorCode {
    /// The token cannot be validated (wire code `InvalidIdentityToken`).
    InvalidIdentityToken,
    /// The token has expired (wire code `ExpiredTokenException`).
    ExpiredTokenException,
    /// The identity provider could not be reached (wire code `IDPCommunicationError`);
    /// AWS SDKs retry this code automatically.
    IdpCommunicationError,
}

impl TokenErrorCode {
    /// The exact code string used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenErrorCode::InvalidIdentityToken => "InvalidIdentityToken",
            TokenErrorCode::ExpiredTokenException => "ExpiredTokenException",
            TokenErrorCode::IdpCommunicationError => "IDPCommunicationError",
        }
    }
}

impl fmt::Display for TokenErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was rejected: an AWS error code plus a message naming the problem.
///
/// Messages never contain the token or any key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// The wire error code.
    pub code: TokenErrorCode,
    /// Human-readable description, safe to return to the caller.
    pub message: String,
}

impl TokenError {
    /// An `InvalidIdentityToken` error.
    pub fn invalid(message: impl Into<String>) -> TokenError {
        TokenError {
            code: TokenErrorCode::InvalidIdentityToken,
            message: message.into(),
        }
    }

    /// An `ExpiredTokenException` error.
    pub fn expired(message: impl Into<String>) -> TokenError {
        TokenError {
            code: TokenErrorCode::ExpiredTokenException,
            message: message.into(),
        }
    }

    /// An `IDPCommunicationError` error.
    pub fn idp_communication(message: impl Into<String>) -> TokenError {
        TokenError {
            code: TokenErrorCode::IdpCommunicationError,
            message: message.into(),
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for TokenError {}
