//! The signed STS operations: `GetCallerIdentity` and `AssumeRole` (role chaining).

use keyless_credentials::session::{SessionClaims, SessionOrigin};
use keyless_policy::{
    Context, ContextValue, Decision, Principal, PrincipalType, Request, Statement,
};

use crate::auth::Caller;
use crate::error::AwsError;
use crate::query::QueryParams;
use crate::session::{self, Minted, SessionPolicies};
use crate::state::StsState;
use crate::validate::{self, Violations};
use crate::web_identity::{Failure, RequestEnv};
use crate::xml::{self, XmlWriter};

/// Renders the `GetCallerIdentity` response.
pub fn render_caller_identity(caller: &Caller, request_id: &str) -> String {
    let arn = caller.arn();
    let user_id = caller.user_id();
    xml::success(
        "GetCallerIdentity",
        xml::STS_NAMESPACE,
        request_id,
        256,
        Some(&|w: &mut XmlWriter| {
            w.element("Arn", &arn)
                .element("UserId", &user_id)
                .element("Account", caller.account());
        }),
    )
}

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

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c.is_whitespace()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

fn is_external_id_char(c: char) -> bool {
    validate::is_name_char(c) || matches!(c, ':' | '/')
}

impl AssumeRoleParams {
    /// Reads and validates the parameters.
    pub fn from_query(q: &QueryParams) -> Result<AssumeRoleParams, AwsError> {
        let mut v = Violations::new();
        let (role_arn, session) = crate::session::role_and_session(q, &mut v);
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
        let tags: Vec<(String, String)> = q
            .pairs_list("Tags", "Key", "Value")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for (key, value) in &tags {
            v.pattern(
                "tags.member.key",
                key,
                r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+",
                is_tag_char,
            );
            v.length("tags.member.key", key, 1, 128);
            v.pattern(
                "tags.member.value",
                value,
                r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*",
                is_tag_char,
            );
            v.length("tags.member.value", value, 0, 256);
        }
        v.list_length("tags", tags.len(), 50);
        let transitive: Vec<String> = q
            .list("TransitiveTagKeys", None)
            .into_iter()
            .map(str::to_owned)
            .collect();
        v.list_length("transitiveTagKeys", transitive.len(), 50);
        if q.get("SerialNumber").is_some() || q.get("TokenCode").is_some() {
            return Err(AwsError::new(
                "InvalidParameterValue",
                400,
                "MFA (SerialNumber, TokenCode) is not supported by this service.",
            ));
        }
        v.finish()?;
        let (Some(role_arn), Some(session)) = (role_arn, session) else {
            return Err(AwsError::internal());
        };
        if crate::arn::parse_role_arn(role_arn).is_none() {
            return Err(AwsError::validation("Request ARN is invalid"));
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
) -> Result<AssumeRoleGrant, Failure> {
    let caller_arn = caller.arn();
    let denied = |reason: String, statement: Option<String>| {
        Failure::denied(
            format!(
                "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {}",
                params.role_arn
            ),
            reason,
            statement,
            state.options.debug_denials,
        )
    };
    let (role, trust) = crate::web_identity::assumable_role(state, &params.role_arn)
        .map_err(|reason| denied(reason, None))?;

    let ctx = chaining_context(state, caller, params, now, env);
    let mut actions = vec!["sts:AssumeRole"];
    if !params.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if params.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    let mut statement = None;
    for action in actions {
        let req = Request {
            principal: Some(Principal::Aws(&caller_arn)),
            action,
            resource: Some(&role.arn),
            context: &ctx,
        };
        let (decision, deciding) = trust.evaluate_deciding(&req);
        if decision != Decision::Allow {
            let (decision, trace) = trust.evaluate_traced(&req);
            let (reason, stmt) = crate::explain::denial_reason(decision, &trace, action);
            return Err(denied(reason, stmt));
        }
        if action == "sts:AssumeRole" {
            statement = deciding.map(crate::explain::ast_statement_name);
            // A trust policy that names the caller's role (or session) grants on its own; one
            // that trusts the whole account (or everyone) delegates to the caller's own
            // permissions, which must then allow sts:AssumeRole on this role, as in IAM.
            if let Caller::Session(claims) = caller
                && !deciding.is_some_and(|s| names_session(s, claims))
            {
                crate::permissions::authorize(
                    state,
                    caller,
                    "sts:AssumeRole",
                    &role.arn,
                    Context::new(),
                    now,
                    env,
                )
                .map_err(|_| {
                    denied(
                        format!(
                            "the trust policy trusts the account, and the caller's own permissions do not allow sts:AssumeRole on {}",
                            role.arn
                        ),
                        statement.clone(),
                    )
                })?;
            }
        }
    }

    let chained = matches!(caller, Caller::Session(_));
    let duration = params.duration_seconds.unwrap_or(3600);
    if chained && duration > 3600 {
        return Err(AwsError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        )
        .into());
    }
    if duration > role.model.max_session_duration {
        return Err(AwsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        )
        .into());
    }
    let packed = params.policies.resolve(state)?;
    let (source_identity, mut transitive) = match caller {
        Caller::Session(c) => (c.source_identity.clone(), c.transitive_tags.clone()),
        Caller::Admin { .. } => (None, Vec::new()),
    };
    if let (Some(existing), Some(requested)) = (&source_identity, &params.source_identity)
        && existing != requested
    {
        return Err(denied(
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
    let minted = session::mint(
        state,
        role,
        &params.role_session_name,
        now,
        duration,
        SessionOrigin::AssumeRole {
            source_arn: caller_arn.clone(),
        },
        &params.policies,
        packed,
        source_identity.or_else(|| params.source_identity.clone()),
        transitive,
        chained,
    )?;
    Ok(AssumeRoleGrant { minted, statement })
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
    state: &StsState,
    caller: &Caller,
    params: &AssumeRoleParams,
    now: i64,
    env: &RequestEnv,
) -> Context {
    let mut ctx = Context::new();
    session::add_global_keys(&mut ctx, now, env);
    ctx.insert(
        "aws:PrincipalAccount",
        ContextValue::Single(state.account.clone()),
    );
    ctx.insert("aws:userid", ContextValue::Single(caller.user_id()));
    match caller {
        Caller::Admin { account, .. } => {
            ctx.insert(
                "aws:PrincipalArn",
                ContextValue::Single(format!("arn:aws:iam::{account}:root")),
            );
            ctx.insert(
                "aws:PrincipalType",
                ContextValue::Single("Account".to_owned()),
            );
        }
        Caller::Session(c) => {
            ctx.insert("aws:PrincipalArn", ContextValue::Single(c.role_arn()));
            ctx.insert(
                "aws:PrincipalType",
                ContextValue::Single("AssumedRole".to_owned()),
            );
            if let Some(si) = &c.source_identity {
                ctx.insert("aws:SourceIdentity", ContextValue::Single(si.clone()));
            }
            for (k, v) in &c.transitive_tags {
                ctx.insert(
                    &format!("aws:PrincipalTag/{k}"),
                    ContextValue::Single(v.clone()),
                );
            }
        }
    }
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
    session::add_request_tags(&mut ctx, &params.tags, &params.transitive_tag_keys);
    ctx
}

/// Renders the `AssumeRole` response.
pub fn render_assume_role(grant: &AssumeRoleGrant, request_id: &str) -> String {
    let m = &grant.minted;
    xml::success(
        "AssumeRole",
        xml::STS_NAMESPACE,
        request_id,
        m.session_token.len() + 512,
        Some(&|w: &mut XmlWriter| {
            w.open("AssumedRoleUser")
                .element("AssumedRoleId", &m.assumed_role_id)
                .element("Arn", &m.assumed_role_arn)
                .close("AssumedRoleUser");
            session::write_credentials(w, m);
            if let Some(size) = m.packed_policy_size {
                w.element("PackedPolicySize", &size.to_string());
            }
            w.optional("SourceIdentity", m.source_identity.as_deref());
        }),
    )
}
