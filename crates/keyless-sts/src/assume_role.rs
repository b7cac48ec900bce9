//! `AssumeRole` (role chaining): parameters, the target's trust policy and the caller's own
//! permissions, and the chained session.

use keyless_credentials::session::{SessionClaims, SessionOrigin};
use keyless_policy::{Context, ContextValue, Principal, PrincipalType, Statement};

use crate::auth::Caller;
use crate::context::{self, RequestEnv};
use crate::error::{Denial, Error, Refused};
use crate::mint::{self, Minted, SessionSpec};
use crate::query::QueryParams;
use crate::session_policies::SessionPolicies;
use crate::state::StsState;
use crate::trust::{self, TrustQuery};
use crate::validate::{self, Violations};

/// The action name.
pub const ACTION: &str = "sts:AssumeRole";

/// The validated parameters of `AssumeRole`.
#[derive(Debug, Clone)]
pub struct AssumeRoleParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `DurationSeconds`.
    pub duration_seconds: Option<u32>,
    /// `Policy` and `PolicyArns`.
    pub policies: SessionPolicies,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `SourceIdentity`.
    pub source_identity: Option<String>,
    /// `Tags`.
    pub tags: Vec<(String, String)>,
    /// `TransitiveTagKeys`.
    pub transitive_tag_keys: Vec<String>,
}

fn is_external_id_char(c: char) -> bool {
    validate::is_name_char(c) || matches!(c, ':' | '/')
}

impl AssumeRoleParams {
    /// Reads and validates the parameters.
    pub fn from_query(q: &QueryParams) -> Result<AssumeRoleParams, Error> {
        let mut v = Violations::new();
        let (role_arn, session) = validate::role_and_session(q, &mut v);
        let duration = q
            .get("DurationSeconds")
            .and_then(|d| v.integer("durationSeconds", d, 900, 43200));
        let policies = SessionPolicies::from_query(q, &mut v);
        let external_id = q.get("ExternalId");
        if let Some(e) = external_id {
            v.pattern("externalId", e, r"[\w+=,.@:\/-]*", is_external_id_char);
            v.length("externalId", e, 2, 1224);
        }
        let source_identity = q.get("SourceIdentity");
        if let Some(s) = source_identity {
            v.pattern(
                "sourceIdentity",
                s,
                validate::NAME_PATTERN,
                validate::is_name_char,
            );
            v.length("sourceIdentity", s, 2, 64);
        }
        let tags = validate::session_tags(q, &mut v);
        let transitive: Vec<String> = q
            .list("TransitiveTagKeys", None)
            .into_iter()
            .map(str::to_owned)
            .collect();
        v.list_length("transitiveTagKeys", transitive.len(), 50);
        if q.get("SerialNumber").is_some() || q.get("TokenCode").is_some() {
            return Err(Error::InvalidParameterValue(
                "MFA (SerialNumber, TokenCode) is not supported by this service.".to_owned(),
            ));
        }
        v.finish()?;
        let (Some(role_arn), Some(session)) = (role_arn, session) else {
            return Err(Error::Internal);
        };
        if crate::arn::parse_role_arn(role_arn).is_none() {
            return Err(Error::Validation("Request ARN is invalid".to_owned()));
        }
        Ok(AssumeRoleParams {
            role_arn: role_arn.to_owned(),
            role_session_name: session.to_owned(),
            duration_seconds: duration.map(|d| d as u32),
            policies,
            external_id: external_id.map(str::to_owned),
            source_identity: source_identity.map(str::to_owned),
            tags,
            transitive_tag_keys: transitive,
        })
    }
}

/// The result of a successful `AssumeRole`.
#[derive(Debug, Clone)]
pub struct AssumeRoleGrant {
    /// The minted credentials.
    pub minted: Minted,
    /// The trust-policy statement that allowed it.
    pub statement: Option<String>,
}

/// Evaluates the target role's trust policy for `caller` and mints a chained session.
pub fn assume_role(
    state: &StsState,
    caller: &Caller,
    params: &AssumeRoleParams,
    now: i64,
    env: &RequestEnv,
) -> Result<AssumeRoleGrant, Error> {
    let caller_arn = caller.arn();
    let denied = |action: &str, reason: String, statement: Option<String>| {
        Error::from(Denial {
            refused: Refused::Caller {
                caller: caller_arn.clone(),
                action: action.to_owned(),
                resource: params.role_arn.clone(),
            },
            reason,
            statement,
            because: None,
            encoded: None,
            show_reason: state.options.debug_denials,
        })
    };
    // A missing role is refused like a trust failure, as AWS does.
    let Some(role) = state.role_by_arn(&params.role_arn) else {
        return Err(denied(
            ACTION,
            format!("the role {} does not exist", params.role_arn),
            None,
        ));
    };

    let ctx = chaining_context(caller, params, now, env);
    let mut actions = vec![ACTION];
    if !params.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if params.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    let decision = trust::decide(
        role,
        &TrustQuery {
            principal: Principal::Aws(&caller_arn),
            actions: &actions,
            context: &ctx,
            trace: false,
        },
    );
    let statement = decision.statement_name();
    if !decision.allowed() {
        return Err(denied(decision.action, decision.reason(), statement));
    }
    // A trust policy that names the caller's role (or session) grants on its own; one that
    // trusts the whole account (or everyone) delegates to the caller's own permissions, which
    // must then allow sts:AssumeRole on this role, as in IAM.
    if let Caller::Session(claims) = caller
        && !decision.statement.is_some_and(|s| names_session(s, claims))
    {
        crate::permissions::authorize(state, caller, ACTION, &role.arn, Context::new(), now, env)
            .map_err(|_| {
                denied(
                    ACTION,
                    format!(
                        "the trust policy trusts the account, and the caller's own permissions do not allow sts:AssumeRole on {}",
                        role.arn
                    ),
                    statement.clone(),
                )
            })?;
    }

    let chained = matches!(caller, Caller::Session(_));
    let duration = params.duration_seconds.unwrap_or(3600);
    if chained && duration > 3600 {
        return Err(Error::Validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                .to_owned(),
        ));
    }
    let duration = mint::check_duration(role, Some(duration))?;
    let packed = params.policies.resolve(state)?;
    let (source_identity, mut transitive) = match caller {
        Caller::Session(c) => (c.source_identity.clone(), c.transitive_tags.clone()),
        Caller::Admin { .. } => (None, Vec::new()),
    };
    if let (Some(existing), Some(requested)) = (&source_identity, &params.source_identity)
        && existing != requested
    {
        return Err(denied(
            "sts:SetSourceIdentity",
            "the source identity of a chained session cannot be changed".to_owned(),
            None,
        ));
    }
    for (k, v) in &params.tags {
        if params
            .transitive_tag_keys
            .iter()
            .any(|t| t.eq_ignore_ascii_case(k))
        {
            transitive.retain(|(existing, _)| !existing.eq_ignore_ascii_case(k));
            transitive.push((k.clone(), v.clone()));
        }
    }
    let minted = mint::mint(
        state,
        role,
        SessionSpec {
            session_name: &params.role_session_name,
            now,
            duration,
            origin: SessionOrigin::AssumeRole {
                source_arn: caller_arn.clone(),
            },
            policies: &params.policies,
            packed_policy_size: packed,
            source_identity: source_identity.or_else(|| params.source_identity.clone()),
            tags: session_tags(&transitive, &params.tags),
            transitive_tags: transitive,
            web_identity_keys: Vec::new(),
            chained,
        },
    )?;
    Ok(AssumeRoleGrant { minted, statement })
}

/// A chained session's tags: the ones it was given, and the transitive ones it inherits (a
/// tag it was given replaces an inherited one of the same key, compared ignoring case).
fn session_tags(
    inherited: &[(String, String)],
    given: &[(String, String)],
) -> Vec<(String, String)> {
    let mut tags = given.to_vec();
    for (key, value) in inherited {
        if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            tags.push((key.clone(), value.clone()));
        }
    }
    tags
}

/// Whether `statement`'s `Principal` names the session's role or the session itself.
fn names_session(statement: &Statement, claims: &SessionClaims) -> bool {
    let role_arn = claims.role_arn();
    let session_arn = claims.assumed_role_arn();
    statement.principal().is_some_and(|p| {
        p.values().iter().any(|v| {
            v.principal_type() == PrincipalType::Aws
                && (v.value().text() == role_arn || v.value().text() == session_arn)
        })
    })
}

/// The request context of a chained `AssumeRole`.
fn chaining_context(
    caller: &Caller,
    params: &AssumeRoleParams,
    now: i64,
    env: &RequestEnv,
) -> Context {
    let mut ctx = Context::new();
    context::add_global_keys(&mut ctx, now, env);
    context::add_principal_keys(&mut ctx, caller);
    ctx.insert(
        "sts:RoleSessionName",
        ContextValue::Single(params.role_session_name.clone()),
    );
    if let Some(e) = &params.external_id {
        ctx.insert("sts:ExternalId", ContextValue::Single(e.clone()));
    }
    if let Some(s) = &params.source_identity {
        ctx.insert("sts:SourceIdentity", ContextValue::Single(s.clone()));
    }
    context::add_request_tags(&mut ctx, &params.tags, &params.transitive_tag_keys);
    ctx
}
