//! Who signed a request: SigV4 verification against the admin key or a sealed session token,
//! with no database lookup.

use std::sync::Arc;

use keyless_credentials::session::SessionClaims;
use keyless_credentials::sigv4::{self, RequestParts, SigV4Error, SignedAuth};

use crate::error::Error;
use crate::state::StsState;

/// The principal behind a verified signature.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin's long-term key: the account's root identity.
    Admin {
        /// The access key ID used.
        access_key_id: String,
        /// The account.
        account: String,
    },
    /// A role session minted by this service.
    Session(Arc<SessionClaims>),
}

impl Caller {
    /// The caller's ARN, as GetCallerIdentity reports it.
    pub fn arn(&self) -> String {
        match self {
            Caller::Admin { account, .. } => format!("arn:aws:iam::{account}:root"),
            Caller::Session(c) => c.assumed_role_arn(),
        }
    }

    /// The caller's user ID: the account for root, `AROA…:<session>` for a role session.
    pub fn user_id(&self) -> String {
        match self {
            Caller::Admin { account, .. } => account.clone(),
            Caller::Session(c) => c.user_id(),
        }
    }

    /// The caller's account.
    pub fn account(&self) -> &str {
        match self {
            Caller::Admin { account, .. } => account,
            Caller::Session(c) => &c.account,
        }
    }

    /// The access key ID that signed the request.
    pub fn access_key_id(&self) -> &str {
        match self {
            Caller::Admin { access_key_id, .. } => access_key_id,
            Caller::Session(c) => &c.access_key_id,
        }
    }
}

/// Why an access key and session token name no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialProblem {
    /// Neither the admin key nor a temporary key that came with its session token.
    UnknownAccessKey,
    /// The session token does not unseal, belongs to another key or account, or came with the
    /// admin key.
    InvalidToken,
    /// The session has expired.
    ExpiredToken,
}

/// Finds who holds `access_key_id` (with `security_token` when the request carries one) and
/// the secret its signature must be made with: the admin key from the state, or a session
/// unsealed from its token. No database lookup happens.
pub fn resolve(
    state: &StsState,
    access_key_id: &str,
    security_token: Option<&str>,
    now: i64,
) -> Result<(Caller, String), CredentialProblem> {
    if let Some(admin) = &state.admin
        && access_key_id == admin.access_key_id
    {
        if security_token.is_some() {
            return Err(CredentialProblem::InvalidToken);
        }
        let caller = Caller::Admin {
            access_key_id: admin.access_key_id.clone(),
            account: state.account.clone(),
        };
        return Ok((caller, admin.secret_access_key.clone()));
    }
    let Some(token) = security_token else {
        return Err(CredentialProblem::UnknownAccessKey);
    };
    let claims = state
        .sessions
        .unseal(&state.keyring, token)
        .map_err(|_| CredentialProblem::InvalidToken)?;
    if claims.access_key_id != access_key_id || claims.account != state.account {
        return Err(CredentialProblem::InvalidToken);
    }
    if claims.is_expired(now) {
        return Err(CredentialProblem::ExpiredToken);
    }
    let secret = claims.secret_access_key.clone();
    Ok((Caller::Session(claims), secret))
}

/// Verifies the request's SigV4 signature (header or presigned query) for `service`, and
/// returns who signed it.
pub fn authenticate(
    state: &StsState,
    req: &RequestParts<'_>,
    service: &str,
    now: i64,
) -> Result<Caller, Error> {
    let auth = sigv4::parse(req, service, now)?;
    verify_with(state, &auth, now, |secret| {
        sigv4::verify_cached(&auth, req, secret, &state.signing_keys)
    })
}

/// The payload hash of an empty body.
pub const EMPTY_PAYLOAD_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `UNSIGNED-PAYLOAD`, the payload hash of a request signed without its body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Verifies the SigV4 signature of a request another service received and forwards without
/// its body: `payload_hash` stands for the body (when `None`: the request's
/// `x-amz-content-sha256`, else [`EMPTY_PAYLOAD_HASH`], which is also what SDKs sign into a
/// presigned URL for services other than S3; an S3-style presigned URL signs
/// [`UNSIGNED_PAYLOAD`], which the forwarder then names).
/// The credential scope must name `service` when given. Returns who signed it and the
/// signature's scope.
pub fn authenticate_forwarded(
    state: &StsState,
    req: &RequestParts<'_>,
    service: Option<&str>,
    payload_hash: Option<&str>,
    now: i64,
) -> Result<(Caller, SignedAuth), Error> {
    let auth = sigv4::parse_forwarded(req, service, now)?;
    let claimed = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    let hash = payload_hash.or(claimed).unwrap_or(EMPTY_PAYLOAD_HASH);
    let caller = verify_with(state, &auth, now, |secret| {
        sigv4::verify_forwarded(&auth, req, hash, secret, &state.signing_keys)
    })?;
    Ok((caller, auth))
}

/// Resolves `auth`'s access key to its caller and secret (SigV4's errors for a key or session
/// that names no caller), then runs `verify` with the secret.
fn verify_with(
    state: &StsState,
    auth: &SignedAuth,
    now: i64,
    verify: impl FnOnce(&str) -> Result<(), SigV4Error>,
) -> Result<Caller, Error> {
    let (caller, secret) = resolve(
        state,
        &auth.access_key_id,
        auth.security_token.as_deref(),
        now,
    )
    .map_err(|problem| match problem {
        CredentialProblem::ExpiredToken => SigV4Error::expired_token(),
        CredentialProblem::UnknownAccessKey | CredentialProblem::InvalidToken => {
            SigV4Error::invalid_client_token_id()
        }
    })?;
    verify(&secret)?;
    Ok(caller)
}
