//! Minting a role session: fresh credentials and the sealed session token that carries them.

use keyless_credentials::ids;
use keyless_credentials::session::{SealError, SessionClaims, SessionKeyValue, SessionOrigin};

use crate::error::Error;
use crate::session_policies::SessionPolicies;
use crate::state::{RoleEntry, StsState};

/// Freshly minted temporary credentials.
#[derive(Clone)]
pub struct Minted {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The sealed session token.
    pub session_token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// `AROA…:<session>`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
    /// `PackedPolicySize`, when session policies were passed.
    pub packed_policy_size: Option<u32>,
    /// The source identity, if any.
    pub source_identity: Option<String>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .field("assumed_role_arn", &self.assumed_role_arn)
            .finish_non_exhaustive()
    }
}

/// What a new session is made of, besides its role.
pub(crate) struct SessionSpec<'a> {
    /// `RoleSessionName`.
    pub(crate) session_name: &'a str,
    /// The issue time, Unix seconds.
    pub(crate) now: i64,
    /// The lifetime, seconds.
    pub(crate) duration: u32,
    /// How the session came to be.
    pub(crate) origin: SessionOrigin,
    /// The session policies.
    pub(crate) policies: &'a SessionPolicies,
    /// Their packed size, when there are any.
    pub(crate) packed_policy_size: Option<u32>,
    /// The source identity.
    pub(crate) source_identity: Option<String>,
    /// The transitive session tags.
    pub(crate) transitive_tags: Vec<(String, String)>,
    /// Every session tag.
    pub(crate) tags: Vec<(String, String)>,
    /// The web identity provider's keys the session's permission policies see.
    pub(crate) web_identity_keys: Vec<(String, SessionKeyValue)>,
    /// Whether a role session minted it (role chaining).
    pub(crate) chained: bool,
}

/// Mints and seals a session of `role`.
pub(crate) fn mint(
    state: &StsState,
    role: &RoleEntry,
    spec: SessionSpec<'_>,
) -> Result<Minted, Error> {
    let claims = SessionClaims {
        access_key_id: ids::new_access_key_id("ASIA"),
        secret_access_key: ids::new_secret_access_key(),
        account: state.account.clone(),
        role_name: role.model.name.clone(),
        role_path: role.model.path.clone(),
        role_id: role.model.role_id.clone(),
        session_name: spec.session_name.to_owned(),
        issued_at: spec.now,
        expires_at: spec.now + i64::from(spec.duration),
        origin: spec.origin,
        session_policy: spec.policies.policy.clone(),
        policy_arns: spec.policies.policy_arns.clone(),
        source_identity: spec.source_identity.clone(),
        transitive_tags: spec.transitive_tags,
        chained: spec.chained,
        tags: spec.tags,
        web_identity_keys: spec.web_identity_keys,
    };
    // Session policies, tags and keys all travel in the token: too many of them together is
    // AWS's PackedPolicyTooLarge.
    let session_token = state.keyring.seal(&claims).map_err(|e| match e {
        SealError::TooLarge { len, limit } => Error::PackedPolicyTooLarge {
            percent: u32::try_from(len.saturating_mul(100) / limit.max(1)).unwrap_or(u32::MAX),
        },
        SealError::Encryption => Error::Internal,
    })?;
    Ok(Minted {
        assumed_role_id: claims.user_id(),
        assumed_role_arn: claims.assumed_role_arn(),
        access_key_id: claims.access_key_id.clone(),
        secret_access_key: claims.secret_access_key.clone(),
        session_token,
        expires_at: claims.expires_at,
        packed_policy_size: spec.packed_policy_size,
        source_identity: spec.source_identity,
    })
}

/// The requested duration (3600 s by default), checked against the role's maximum. A web
/// identity session is not capped by the token's `exp`: AWS does not cap it either.
pub(crate) fn check_duration(role: &RoleEntry, requested: Option<u32>) -> Result<u32, Error> {
    let duration = requested.unwrap_or(3600);
    if duration > role.model.max_session_duration {
        return Err(Error::Validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_owned(),
        ));
    }
    Ok(duration)
}
