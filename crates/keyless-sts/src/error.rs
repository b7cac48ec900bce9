//! The errors of the STS and IAM calls, typed, and mapped to AWS's wire code, HTTP status and
//! message in one place: [`Error::code`], [`Error::status`] and [`Error::message`].
//!
//! Every phase of a call has its own variants, and each variant carries what its message needs
//! (or the phase's own error: [`SigV4Error`] for authentication, [`TokenError`] for token
//! verification). Code never compares code strings: it matches on variants.

use std::borrow::Cow;
use std::fmt;

use keyless_credentials::sigv4::SigV4Error;
use keyless_oidc::error::TokenError;
use keyless_policy::PolicyLayer;

/// An error of an STS or IAM call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// 400 `MalformedQueryString`: the request's form cannot be read.
    MalformedQueryString(String),
    /// 400 `MissingAction`: the request names no `Action`.
    MissingAction,
    /// 400 `InvalidAction`: the endpoint does not serve `action` in `version`.
    InvalidAction {
        /// The action named (cut to 64 characters).
        action: String,
        /// The API version named.
        version: String,
    },
    /// 405 `InvalidAction`: the Query API takes only `GET` and `POST`.
    MethodNotAllowed,
    /// 413 `RequestEntityTooLarge`: the body is larger than the server accepts.
    RequestEntityTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// 400 `RequestTimeout`: the request body did not arrive in time.
    RequestTimeout,
    /// 400 `IncompleteBody`: the connection ended before the whole body arrived.
    IncompleteBody,
    /// 400 `ValidationError`: a parameter breaks the service model's constraints; the message
    /// lists every violation in AWS's format.
    Validation(String),
    /// 400 `InvalidParameterValue`.
    InvalidParameterValue(String),
    /// A SigV4 failure (`SignatureDoesNotMatch`, `InvalidClientTokenId`, `ExpiredToken`, …).
    Signature(SigV4Error),
    /// A web identity token failure (`InvalidIdentityToken`, `ExpiredTokenException`,
    /// `IDPCommunicationError`).
    Token(TokenError),
    /// 403 `AccessDenied`: a policy decision refused the request.
    AccessDenied(Box<Denial>),
    /// 400 `MalformedPolicyDocument`.
    MalformedPolicyDocument(String),
    /// 400 `PackedPolicyTooLarge`: the session policies take more than their budget.
    PackedPolicyTooLarge {
        /// The share of the budget used, in percent.
        percent: u32,
    },
    /// 404 `NoSuchEntity`.
    NoSuchEntity(String),
    /// 409 `EntityAlreadyExists`.
    EntityAlreadyExists(String),
    /// 409 `DeleteConflict`.
    DeleteConflict(String),
    /// 409 `LimitExceeded`.
    LimitExceeded(String),
    /// 400 `InvalidInput`.
    InvalidInput(String),
    /// 400 `UnmodifiableEntity`: the entity is declared in the config file.
    UnmodifiableEntity {
        /// `Role`, `OpenIDConnect Provider`, …
        kind: &'static str,
        /// The entity's name.
        name: String,
    },
    /// 400 `InvalidAuthorizationMessageException`: an encoded authorization message that is
    /// malformed, altered, expired, or of another account.
    InvalidAuthorizationMessage,
    /// 409 `FeatureEnabled` (IAM): outbound identity federation is already enabled.
    FeatureEnabled,
    /// 404 `FeatureDisabled` (IAM): outbound identity federation is not enabled.
    FeatureDisabled,
    /// 403 `OutboundWebIdentityFederationDisabledException`: `GetWebIdentityToken` while the
    /// account's outbound identity federation is off.
    OutboundFederationDisabled,
    /// 403 `SessionDurationEscalationException`: the token would outlive the calling session.
    SessionDurationEscalation,
    /// 400 `JWTPayloadSizeExceededException`: the token's claims are larger than the limit.
    JwtPayloadSizeExceeded {
        /// The limit, in bytes of JSON.
        limit: usize,
    },
    /// 500 `InternalFailure` (STS). The message never carries internal detail.
    Internal,
    /// 500 `ServiceFailure` (IAM). The message never carries internal detail.
    ServiceFailure,
    /// 503 `ServiceUnavailable`.
    Unavailable,
    /// 401: the signature of a request forwarded to the authorization API failed (the
    /// `SigV4Error`'s code and message, with 401 rather than its own status, so that a
    /// forwarder tells its caller's failure from its own).
    Unauthenticated(SigV4Error),
    /// 404 `NotFound`: the proxy authorization mode is off (no authorizer token configured).
    AuthorizerOff,
    /// 403 `InvalidAuthorizerToken`: the proxy's `X-Keyless-Authorizer-Token` is missing or
    /// wrong.
    InvalidAuthorizerToken,
}

/// AWS's message for an unknown internal failure.
const MSG_UNKNOWN_FAILURE: &str =
    "The request processing has failed because of an unknown error, exception or failure.";

impl Error {
    /// The wire code, e.g. `InvalidIdentityToken`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MalformedQueryString(_) => "MalformedQueryString",
            Error::MissingAction => "MissingAction",
            Error::InvalidAction { .. } | Error::MethodNotAllowed => "InvalidAction",
            Error::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            Error::RequestTimeout => "RequestTimeout",
            Error::IncompleteBody => "IncompleteBody",
            Error::Validation(_) => "ValidationError",
            Error::InvalidParameterValue(_) => "InvalidParameterValue",
            Error::Signature(e) => e.code.as_str(),
            Error::Token(e) => e.code.as_str(),
            Error::AccessDenied(_) => "AccessDenied",
            Error::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            Error::PackedPolicyTooLarge { .. } => "PackedPolicyTooLarge",
            Error::NoSuchEntity(_) => "NoSuchEntity",
            Error::EntityAlreadyExists(_) => "EntityAlreadyExists",
            Error::DeleteConflict(_) => "DeleteConflict",
            Error::LimitExceeded(_) => "LimitExceeded",
            Error::InvalidInput(_) => "InvalidInput",
            Error::UnmodifiableEntity { .. } => "UnmodifiableEntity",
            Error::InvalidAuthorizationMessage => "InvalidAuthorizationMessageException",
            Error::FeatureEnabled => "FeatureEnabled",
            Error::FeatureDisabled => "FeatureDisabled",
            Error::OutboundFederationDisabled => "OutboundWebIdentityFederationDisabledException",
            Error::SessionDurationEscalation => "SessionDurationEscalationException",
            Error::JwtPayloadSizeExceeded { .. } => "JWTPayloadSizeExceededException",
            Error::Internal => "InternalFailure",
            Error::ServiceFailure => "ServiceFailure",
            Error::Unavailable => "ServiceUnavailable",
            Error::Unauthenticated(e) => e.code.as_str(),
            Error::AuthorizerOff => "NotFound",
            Error::InvalidAuthorizerToken => "InvalidAuthorizerToken",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::MalformedQueryString(_)
            | Error::RequestTimeout
            | Error::IncompleteBody
            | Error::MissingAction
            | Error::InvalidAction { .. }
            | Error::Validation(_)
            | Error::InvalidParameterValue(_)
            | Error::Token(_)
            | Error::MalformedPolicyDocument(_)
            | Error::PackedPolicyTooLarge { .. }
            | Error::InvalidInput(_)
            | Error::UnmodifiableEntity { .. }
            | Error::InvalidAuthorizationMessage
            | Error::JwtPayloadSizeExceeded { .. } => 400,
            Error::Signature(e) => e.code.status(),
            Error::AccessDenied(_)
            | Error::InvalidAuthorizerToken
            | Error::OutboundFederationDisabled
            | Error::SessionDurationEscalation => 403,
            Error::Unauthenticated(_) => 401,
            Error::NoSuchEntity(_) | Error::AuthorizerOff | Error::FeatureDisabled => 404,
            Error::MethodNotAllowed => 405,
            Error::EntityAlreadyExists(_)
            | Error::DeleteConflict(_)
            | Error::LimitExceeded(_)
            | Error::FeatureEnabled => 409,
            Error::RequestEntityTooLarge { .. } => 413,
            Error::Internal | Error::ServiceFailure => 500,
            Error::Unavailable => 503,
        }
    }

    /// The message the caller sees.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Error::MalformedQueryString(m)
            | Error::Validation(m)
            | Error::InvalidParameterValue(m)
            | Error::MalformedPolicyDocument(m)
            | Error::NoSuchEntity(m)
            | Error::EntityAlreadyExists(m)
            | Error::DeleteConflict(m)
            | Error::LimitExceeded(m)
            | Error::InvalidInput(m) => Cow::Borrowed(m),
            Error::MissingAction => Cow::Borrowed("The request must contain the parameter Action."),
            Error::InvalidAction { action, version } => Cow::Owned(format!(
                "Could not find operation {action} for version {version}"
            )),
            Error::MethodNotAllowed => Cow::Borrowed("Only GET and POST are supported."),
            Error::RequestEntityTooLarge { limit } => {
                Cow::Owned(format!("The request body is larger than {limit} bytes."))
            }
            Error::RequestTimeout => Cow::Borrowed(
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ),
            Error::IncompleteBody => Cow::Borrowed(
                "The request body ended before the number of bytes the Content-Length header announced.",
            ),
            Error::Signature(e) | Error::Unauthenticated(e) => Cow::Borrowed(&e.message),
            Error::Token(e) => Cow::Borrowed(&e.message),
            Error::AccessDenied(d) => d.message(),
            Error::PackedPolicyTooLarge { percent } => Cow::Owned(format!(
                "Packed policy consumes {percent}% of allotted space, please use smaller policy."
            )),
            Error::UnmodifiableEntity { kind, name } => Cow::Owned(format!(
                "{kind} {name} is declared in the config file and cannot be modified through the API."
            )),
            Error::InvalidAuthorizationMessage => Cow::Borrowed(
                "The encoded authorization message is not valid: it was altered, has expired, or belongs to another account.",
            ),
            Error::FeatureEnabled => Cow::Borrowed(
                "Outbound identity federation is already enabled for this account. To view the issuer URL, use the GetOutboundWebIdentityFederationInfo operation.",
            ),
            Error::FeatureDisabled => {
                Cow::Borrowed("Outbound identity federation is not enabled for this account.")
            }
            Error::OutboundFederationDisabled => Cow::Borrowed(
                "Outbound web identity federation is not enabled for this account. Enable it with the IAM EnableOutboundWebIdentityFederation operation.",
            ),
            Error::SessionDurationEscalation => Cow::Borrowed(
                "The requested token duration would extend the session beyond its original expiration time.",
            ),
            Error::JwtPayloadSizeExceeded { limit } => Cow::Owned(format!(
                "The JWT payload exceeds the maximum size of {limit} bytes. Reduce the number of request tags or audiences."
            )),
            Error::Internal | Error::ServiceFailure => Cow::Borrowed(MSG_UNKNOWN_FAILURE),
            Error::Unavailable => {
                Cow::Borrowed("The request has failed due to a temporary failure of the server.")
            }
            Error::AuthorizerOff => Cow::Borrowed(
                "The proxy authorization mode is off: configure [authorize] nginx_token or KEYLESS_AUTHORIZE_NGINX_TOKEN.",
            ),
            Error::InvalidAuthorizerToken => {
                Cow::Borrowed("The X-Keyless-Authorizer-Token header is missing or wrong.")
            }
        }
    }

    /// `Sender` for 4xx, `Receiver` for 5xx.
    pub fn fault_type(&self) -> &'static str {
        if self.status() >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// The reason recorded in the audit log: a denial's full reason, else the message.
    pub fn reason(&self) -> Cow<'_, str> {
        match self {
            Error::AccessDenied(d) => Cow::Borrowed(&d.reason),
            other => other.message(),
        }
    }

    /// Whether the connection must close after this error: the request body was not read
    /// whole, so the connection cannot carry another request.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Error::RequestEntityTooLarge { .. } | Error::RequestTimeout | Error::IncompleteBody
        )
    }

    /// The denial, when the error is `AccessDenied`.
    pub fn denial(&self) -> Option<&Denial> {
        match self {
            Error::AccessDenied(d) => Some(d),
            _ => None,
        }
    }

    /// An `InvalidAction` for `action` in `version`, the action cut to 64 characters.
    pub fn invalid_action(action: &str, version: &str) -> Error {
        Error::InvalidAction {
            action: action.chars().take(64).collect(),
            version: version.chars().take(64).collect(),
        }
    }
}

impl From<SigV4Error> for Error {
    fn from(e: SigV4Error) -> Error {
        Error::Signature(e)
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Error {
        Error::Token(e)
    }
}

impl From<Denial> for Error {
    fn from(d: Denial) -> Error {
        Error::AccessDenied(Box::new(d))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Error {}

/// A refusal by a policy decision: how it reads on the wire, and the full reason for the audit
/// log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Who was refused what.
    pub refused: Refused,
    /// The full reason: the statement and condition that decided, or what was missing.
    pub reason: String,
    /// The statement that decided, when one did.
    pub statement: Option<String>,
    /// For a caller refused by its permissions: the layer that refused, which IAM names in
    /// its message (`because no identity-based policy allows the … action`).
    pub because: Option<Because>,
    /// The encoded authorization failure message that `DecodeAuthorizationMessage` turns
    /// into the full reason, appended to the message (refusals outside the STS exchange).
    pub encoded: Option<String>,
    /// Whether the caller sees the reason (`debug_denials`); by default the message stays as
    /// opaque as AWS's and the reason goes to the audit log only.
    pub show_reason: bool,
}

/// How IAM names a layer in its AccessDenied messages.
pub(crate) fn layer_name(layer: PolicyLayer) -> &'static str {
    match layer {
        PolicyLayer::ServiceControl => "service control policy",
        PolicyLayer::Identity => "identity-based policy",
        PolicyLayer::PermissionsBoundary => "permissions boundary",
        PolicyLayer::Session => "session policy",
        PolicyLayer::Resource => "resource-based policy",
    }
}

/// Which layer of a caller's permissions refused, and whether explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Because {
    /// An explicit Deny (`true`) or no Allow (`false`).
    pub explicit: bool,
    /// The layer.
    pub layer: keyless_policy::PolicyLayer,
}

impl Because {
    /// IAM's words for it, after the `… on resource: <arn>` of the message.
    pub fn words(&self, action: &str) -> String {
        let layer = layer_name(self.layer);
        if self.explicit {
            let article = if layer.starts_with('i') { "an" } else { "a" };
            format!("with an explicit deny in {article} {layer}")
        } else {
            format!("because no {layer} allows the {action} action")
        }
    }
}

/// What a [`Denial`] refused, which fixes its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// An unsigned web identity exchange: `Not authorized to perform <action>`.
    WebIdentity {
        /// The action refused (`sts:AssumeRoleWithWebIdentity`, `sts:TagSession`, …).
        action: &'static str,
    },
    /// A signed caller: `User: <caller> is not authorized to perform: <action> on resource:
    /// <resource>`.
    Caller {
        /// The caller's ARN.
        caller: String,
        /// The action refused.
        action: String,
        /// The resource's ARN.
        resource: String,
    },
    /// A signed caller refused an S3 action, whose message quotes the resource as S3 does:
    /// `User: <caller> is not authorized to perform: <action> on resource: "<resource>"`.
    S3Caller {
        /// The caller's ARN.
        caller: String,
        /// The action refused.
        action: String,
        /// The resource's ARN.
        resource: String,
    },
    /// An API only the admin credentials may call.
    AdminOnly,
}

impl Denial {
    /// The wire message: AWS's wording, followed by the reason when it is shown.
    pub fn message(&self) -> Cow<'_, str> {
        let base = match &self.refused {
            Refused::WebIdentity { action } => format!("Not authorized to perform {action}"),
            Refused::Caller {
                caller,
                action,
                resource,
            } => match &self.because {
                Some(because) => format!(
                    "User: {caller} is not authorized to perform: {action} on resource: {resource} {}",
                    because.words(action)
                ),
                None => format!(
                    "User: {caller} is not authorized to perform: {action} on resource: {resource}"
                ),
            },
            Refused::S3Caller {
                caller,
                action,
                resource,
            } => {
                let base = format!(
                    "User: {caller} is not authorized to perform: {action} on resource: \"{resource}\""
                );
                match &self.because {
                    Some(because) => format!("{base} {}", because.words(action)),
                    None => base,
                }
            }
            Refused::AdminOnly => "Only the admin credentials may call this API.".to_owned(),
        };
        let mut message = if self.show_reason {
            format!("{base}: {}", self.reason)
        } else {
            base
        };
        if let Some(encoded) = &self.encoded {
            message.push_str(". Encoded authorization failure message: ");
            message.push_str(encoded);
        }
        Cow::Owned(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_wire_code_status_and_message() {
        let cases = [
            (Error::MissingAction, "MissingAction", 400),
            (
                Error::invalid_action("Foo", "2011-06-15"),
                "InvalidAction",
                400,
            ),
            (Error::MethodNotAllowed, "InvalidAction", 405),
            (
                Error::RequestEntityTooLarge { limit: 10 },
                "RequestEntityTooLarge",
                413,
            ),
            (Error::Validation("v".into()), "ValidationError", 400),
            (Error::RequestTimeout, "RequestTimeout", 400),
            (Error::IncompleteBody, "IncompleteBody", 400),
            (
                Error::Signature(SigV4Error::expired_token()),
                "ExpiredToken",
                403,
            ),
            (
                Error::Token(TokenError::expired("x")),
                "ExpiredTokenException",
                400,
            ),
            (
                Error::PackedPolicyTooLarge { percent: 120 },
                "PackedPolicyTooLarge",
                400,
            ),
            (Error::NoSuchEntity("n".into()), "NoSuchEntity", 404),
            (Error::DeleteConflict("d".into()), "DeleteConflict", 409),
            (Error::FeatureEnabled, "FeatureEnabled", 409),
            (Error::FeatureDisabled, "FeatureDisabled", 404),
            (
                Error::OutboundFederationDisabled,
                "OutboundWebIdentityFederationDisabledException",
                403,
            ),
            (
                Error::SessionDurationEscalation,
                "SessionDurationEscalationException",
                403,
            ),
            (
                Error::JwtPayloadSizeExceeded { limit: 8192 },
                "JWTPayloadSizeExceededException",
                400,
            ),
            (Error::Internal, "InternalFailure", 500),
            (Error::ServiceFailure, "ServiceFailure", 500),
            (Error::Unavailable, "ServiceUnavailable", 503),
            (
                Error::Unauthenticated(SigV4Error::expired_token()),
                "ExpiredToken",
                401,
            ),
            (Error::AuthorizerOff, "NotFound", 404),
            (Error::InvalidAuthorizerToken, "InvalidAuthorizerToken", 403),
        ];
        for (error, code, status) in cases {
            assert_eq!((error.code(), error.status()), (code, status), "{error}");
            assert!(!error.message().is_empty());
        }
        assert_eq!(
            Error::invalid_action("Foo", "2011-06-15").message(),
            "Could not find operation Foo for version 2011-06-15"
        );
        assert_eq!(
            Error::invalid_action(&"A".repeat(300), "v").message().len(),
            "Could not find operation  for version v".len() + 64
        );
        assert_eq!(Error::Internal.fault_type(), "Receiver");
        assert_eq!(Error::MissingAction.fault_type(), "Sender");
    }

    #[test]
    fn denials_are_opaque_unless_debugged() {
        let mut denial = Denial {
            refused: Refused::Caller {
                caller: "arn:aws:sts::1:assumed-role/r/s".into(),
                action: "sts:TagSession".into(),
                resource: "arn:aws:iam::1:role/t".into(),
            },
            reason: "no Allow statement covers the action sts:TagSession".into(),
            statement: None,
            because: None,
            encoded: None,
            show_reason: false,
        };
        let error = Error::from(denial.clone());
        assert_eq!((error.code(), error.status()), ("AccessDenied", 403));
        assert_eq!(
            error.message(),
            "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: sts:TagSession on resource: arn:aws:iam::1:role/t"
        );
        assert_eq!(error.reason(), denial.reason);
        denial.show_reason = true;
        assert!(
            denial
                .message()
                .ends_with(": no Allow statement covers the action sts:TagSession")
        );
    }
}
