//! Parse and validation errors.

use std::fmt;

/// IAM: the document is not valid JSON (role trust policy APIs).
pub const INVALID_JSON: &str = "This policy contains invalid Json";
/// IAM: generic grammar violation (also invalid JSON on managed/session policy APIs).
pub const SYNTAX_ERRORS: &str = "Syntax errors in policy.";
/// IAM: a value IAM's legacy parser rejects (Effect case, date literal, ARN shape).
pub const LEGACY_PARSING: &str = "The policy failed legacy parsing";
/// IAM: two statements share a `Sid`.
pub const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";
/// IAM: a `Sid` with characters outside `[0-9A-Za-z]`.
pub const INVALID_SID: &str = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*";
/// IAM: missing or empty `Action`/`NotAction`.
pub const MISSING_ACTIONS: &str = "Policy statement must contain actions.";
/// IAM: missing or empty `Resource`/`NotResource` in a permission policy.
pub const MISSING_RESOURCES: &str = "Policy statement must contain resources.";
/// IAM: missing `Principal` in a trust policy statement.
pub const MISSING_PRINCIPAL: &str = "Missing required field Principal";
/// IAM: a principal value that cannot name a principal (partial wildcard, empty).
pub const INVALID_PRINCIPAL: &str = "Invalid principal in policy";
/// IAM: an action without a `vendor:` prefix.
pub const ACTION_VENDOR_MISSING: &str =
    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
/// IAM: an action with more than one colon.
pub const ACTION_TOO_MANY_COLONS: &str = "Actions/Condition can contain only one colon.";

/// What kind of failure a [`PolicyError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// The document is malformed (IAM/STS `MalformedPolicyDocument`).
    Malformed,
    /// The document exceeds the configured size (IAM `LimitExceeded`, STS `PackedPolicyTooLarge`).
    LimitExceeded,
}

/// A policy document was rejected.
///
/// `message` is IAM's `MalformedPolicyDocument` text where IAM's wording is known;
/// `pointer` is an RFC 6901 JSON pointer to the offending element (`""` for the root);
/// `detail` is an optional human explanation beyond IAM's terse message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// IAM-compatible error message.
    pub message: String,
    /// RFC 6901 JSON pointer to the fault, `""` for the document root.
    pub pointer: String,
    /// Failure category, for mapping onto API error codes.
    pub kind: PolicyErrorKind,
    /// Additional explanation (never part of IAM's wire message).
    pub detail: Option<String>,
}

impl PolicyError {
    /// A `MalformedPolicyDocument` error.
    pub(crate) fn malformed(message: impl Into<String>, pointer: impl Into<String>) -> Self {
        PolicyError {
            message: message.into(),
            pointer: pointer.into(),
            kind: PolicyErrorKind::Malformed,
            detail: None,
        }
    }

    /// Attaches an explanation.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.pointer.is_empty() {
            write!(f, " at {}", self.pointer)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
