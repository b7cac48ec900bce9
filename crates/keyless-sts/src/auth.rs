//! Who signed a request: SigV4 verification against the admin key or a sealed session token,
//! with no database lookup.

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
    Session(Box<SessionClaims>),
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

/// Verifies the request's SigV4 signature (header or presigned query) for `service`, and
/// returns who signed it.
pub fn authenticate(
    state: &StsState,
    req: &RequestParts<'_>,
    service: &str,
    now: i64,
) -> Result<Caller, Error> {
    let auth = sigv4::parse(req, service, now)?;
    resolve(state, &auth, now, |secret| {
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
    let caller = resolve(state, &auth, now, |secret| {
        sigv4::verify_forwarded(&auth, req, hash, secret, &state.signing_keys)
    })?;
    Ok((caller, auth))
}

/// Finds the secret of `auth`'s access key (the admin key, or the session token unsealed),
/// checks the session, and runs `verify` with the secret.
fn resolve(
    state: &StsState,
    auth: &SignedAuth,
    now: i64,
    verify: impl FnOnce(&str) -> Result<(), SigV4Error>,
) -> Result<Caller, Error> {
    if let Some(admin) = &state.admin
        && auth.access_key_id == admin.access_key_id
    {
        if auth.security_token.is_some() {
            return Err(SigV4Error::invalid_client_token_id().into());
        }
        verify(&admin.secret_access_key)?;
        return Ok(Caller::Admin {
            access_key_id: admin.access_key_id.clone(),
            account: state.account.clone(),
        });
    }
    let Some(token) = auth.security_token.as_deref() else {
        return Err(SigV4Error::invalid_client_token_id().into());
    };
    let claims = state
        .keyring
        .unseal(token)
        .map_err(|_| SigV4Error::invalid_client_token_id())?;
    if claims.access_key_id != auth.access_key_id || claims.account != state.account {
        return Err(SigV4Error::invalid_client_token_id().into());
    }
    if claims.is_expired(now) {
        return Err(SigV4Error::expired_token().into());
    }
    verify(&claims.secret_access_key)?;
    Ok(Caller::Session(Box::new(claims)))
}
