//! `AssumeRoleWithWebIdentity`: parameters, token checks, the trust policy, and the response.
//!
//! The exchange runs in two steps around the one thing that may wait on the network, fetching
//! the provider's keys: [`prepare`] validates the parameters, decodes the token and chooses the
//! provider by `iss`; the caller then obtains the verification key; [`complete`] verifies the
//! token, evaluates the trust policy and mints the credentials.

use std::sync::Arc;

use keyless_credentials::session::SessionOrigin;
use keyless_oidc::jwks::VerificationKey;
use keyless_oidc::jwt::{self, ClaimValue, UnverifiedJwt};
use keyless_oidc::verify::TokenError;
use keyless_policy::{Context, ContextValue, Decision, Principal, Request};

use crate::condition_keys;
use crate::error::AwsError;
use crate::query::QueryParams;
use crate::session::{self, Minted, SessionPolicies};
use crate::state::{ProviderEntry, RoleEntry, StsState};
use crate::validate::{self, Violations};
use crate::xml::{self, XmlWriter};

/// The action name.
pub const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// The claim carrying session tags.
const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The claim carrying the source identity.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

/// The validated parameters.
#[derive(Debug, Clone)]
pub struct WebIdentityParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `WebIdentityToken`, with surrounding whitespace removed.
    pub web_identity_token: String,
    /// `DurationSeconds`.
    pub duration_seconds: Option<u32>,
    /// `Policy` and `PolicyArns`.
    pub policies: SessionPolicies,
}

impl WebIdentityParams {
    /// Reads and validates the parameters, reporting every violation at once, as AWS does.
    pub fn from_query(q: &QueryParams) -> Result<WebIdentityParams, AwsError> {
        let mut v = Violations::new();
        let (role_arn, session) = crate::session::role_and_session(q, &mut v);
        let token = v.required("webIdentityToken", q.get("WebIdentityToken"));
        if let Some(t) = token {
            v.length_sensitive("webIdentityToken", t, 4, 20000);
        }
        let duration = q
            .get("DurationSeconds")
            .and_then(|d| v.integer("durationSeconds", d, 900, 43200));
        let policies = SessionPolicies::from_query(q, &mut v);
        if let Some(p) = q.get("ProviderId") {
            v.length("providerId", p, 4, 2048);
        }
        v.finish()?;
        if q.get("ProviderId").is_some() {
            return Err(AwsError::validation(
                "ProviderId is only for OAuth 2.0 access tokens; do not specify it for OpenID Connect ID tokens.",
            ));
        }
        let (Some(role_arn), Some(session), Some(token)) = (role_arn, session, token) else {
            return Err(AwsError::internal());
        };
        let role_arn = role_arn.to_owned();
        if crate::arn::parse_role_arn(&role_arn).is_none() {
            return Err(AwsError::validation("Request ARN is invalid"));
        }
        Ok(WebIdentityParams {
            role_arn,
            role_session_name: session.to_owned(),
            web_identity_token: token
                .trim_matches(|c: char| c.is_ascii_whitespace())
                .to_owned(),
            duration_seconds: duration.map(|d| d as u32),
            policies,
        })
    }
}

/// Why an exchange failed: what the caller is told, and what the audit log records.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The error on the wire.
    pub error: AwsError,
    /// The full reason, for the audit log (and for the caller when denials are debugged).
    pub reason: String,
    /// The statement that decided a trust-policy denial, if one did.
    pub statement: Option<String>,
}

impl Failure {
    fn new(error: AwsError) -> Failure {
        Failure {
            reason: error.message.clone(),
            error,
            statement: None,
        }
    }

    /// An `AccessDenied` whose message is `base`, followed by the reason when `debug` is on
    /// (by default the response stays as opaque as AWS's, and the reason goes to the audit log).
    pub fn denied(base: String, reason: String, statement: Option<String>, debug: bool) -> Failure {
        let message = if debug {
            format!("{base}: {reason}")
        } else {
            base
        };
        Failure {
            error: AwsError::access_denied(message),
            reason,
            statement,
        }
    }
}

/// The role an assume-role request names, with its trust policy; the reason it cannot be
/// assumed otherwise (a missing role is refused like a trust failure, as AWS does).
pub fn assumable_role<'s>(
    state: &'s StsState,
    role_arn: &str,
) -> Result<(&'s RoleEntry, &'s keyless_policy::Policy), String> {
    let role = state
        .role_by_arn(role_arn)
        .ok_or_else(|| format!("the role {role_arn} does not exist"))?;
    let trust = role
        .trust
        .as_ref()
        .ok_or_else(|| format!("the trust policy of {} is invalid", role.arn))?;
    Ok((role, trust))
}

impl From<AwsError> for Failure {
    fn from(error: AwsError) -> Failure {
        Failure::new(error)
    }
}

/// Maps a token error to its AWS error.
pub fn token_failure(e: TokenError) -> Failure {
    Failure::new(AwsError::new(e.code.as_str(), 400, e.message))
}

/// A decoded token and the provider its `iss` chose.
pub struct Prepared<'t> {
    /// The decoded, not yet verified token.
    pub jwt: UnverifiedJwt<'t>,
    /// The provider.
    pub provider: Arc<ProviderEntry>,
}

/// Decodes the token and chooses its provider by exact `iss`.
pub fn prepare<'t>(
    state: &StsState,
    params: &'t WebIdentityParams,
) -> Result<Prepared<'t>, Failure> {
    let jwt = jwt::decode(&params.web_identity_token).map_err(token_failure)?;
    let Some(provider) = state.providers_by_issuer.get(&jwt.claims.iss) else {
        return Err(Failure::new(AwsError::new(
            "InvalidIdentityToken",
            400,
            format!(
                "No OpenIDConnect provider found in your account for {}",
                keyless_oidc::verify::truncate_for_message(&jwt.claims.iss)
            ),
        )));
    };
    Ok(Prepared {
        provider: provider.clone(),
        jwt,
    })
}

/// Facts about the HTTP request that become global condition keys.
#[derive(Debug, Clone, Default)]
pub struct RequestEnv {
    /// The caller's IP address.
    pub source_ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Whether the request arrived over TLS.
    pub secure_transport: bool,
}

/// A successful exchange.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The minted credentials.
    pub minted: Minted,
    /// The provider's ARN (the response's `Provider`).
    pub provider_arn: String,
    /// The client ID that matched (`Audience`).
    pub audience: String,
    /// The token's `sub` (`SubjectFromWebIdentityToken`).
    pub subject: String,
    /// The trust-policy statement that allowed the exchange.
    pub statement: Option<String>,
}

/// Verifies the token with `key`, evaluates the role's trust policy and mints credentials.
pub fn complete(
    state: &StsState,
    params: &WebIdentityParams,
    prepared: Prepared<'_>,
    key: &VerificationKey,
    now: i64,
    env: &RequestEnv,
) -> Result<Grant, Failure> {
    let provider = prepared.provider;
    let verified = prepared
        .jwt
        .verify(key, &provider.model.client_ids, now, &state.options.verify)
        .map_err(token_failure)?;
    let subject = verified.claims.sub.clone().unwrap_or_default();

    let denied = |reason: String, statement: Option<String>| {
        Failure::denied(
            format!("Not authorized to perform {ACTION}"),
            reason,
            statement,
            state.options.debug_denials,
        )
    };
    let (role, trust) =
        assumable_role(state, &params.role_arn).map_err(|reason| denied(reason, None))?;

    let session_facts = SessionFacts::from_claims(&verified.claims)?;
    let ctx = trust_context(
        &provider,
        &verified.claims,
        &verified.audience,
        &params.role_session_name,
        &session_facts,
        now,
        env,
        role.trust_keys.as_deref(),
    );
    let principal = Principal::Federated(&provider.arn);
    let mut actions = vec![ACTION];
    actions.extend(session_facts.extra_actions());
    let mut statement = None;
    for action in actions {
        let req = Request {
            principal: Some(principal),
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
        if action == ACTION {
            statement = deciding.map(crate::explain::ast_statement_name);
        }
    }

    let duration = check_duration(role, params.duration_seconds)?;
    let packed = params.policies.resolve(state)?;
    let minted = session::mint(
        state,
        role,
        &params.role_session_name,
        now,
        duration,
        SessionOrigin::WebIdentity {
            provider_arn: provider.arn.clone(),
            subject: subject.clone(),
            audience: verified.audience.clone(),
        },
        &params.policies,
        packed,
        session_facts.source_identity.clone(),
        session_facts.transitive_tags(),
        false,
    )?;
    Ok(Grant {
        minted,
        provider_arn: provider.arn.clone(),
        audience: verified.audience.clone(),
        subject,
        statement,
    })
}

/// The requested duration, checked against the role's maximum. The session is not capped by
/// the token's `exp`: AWS does not cap it either.
fn check_duration(role: &RoleEntry, requested: Option<u32>) -> Result<u32, Failure> {
    let duration = requested.unwrap_or(3600);
    if duration > role.model.max_session_duration {
        return Err(Failure::new(AwsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        )));
    }
    Ok(duration)
}

/// Session tags and source identity carried by the token.
#[derive(Debug, Default)]
pub struct SessionFacts {
    tags: Vec<(String, String)>,
    transitive_keys: Vec<String>,
    source_identity: Option<String>,
}

impl SessionFacts {
    /// Reads the session-tags and source-identity claims.
    pub fn from_claims(claims: &jwt::Claims) -> Result<SessionFacts, Failure> {
        let mut facts = SessionFacts::default();
        let bad = |what: &str| {
            Failure::new(AwsError::new(
                "InvalidIdentityToken",
                400,
                format!("The {TAGS_CLAIM} claim is malformed: {what}"),
            ))
        };
        for (name, value) in &claims.all {
            if name == TAGS_CLAIM {
                let ClaimValue::Object(members) = value else {
                    return Err(bad("it must be an object"));
                };
                for (member, inner) in members {
                    match (member.as_str(), inner) {
                        ("principal_tags", ClaimValue::Object(tags)) => {
                            for (k, v) in tags {
                                let value = match v {
                                    ClaimValue::Array(items) if items.len() == 1 => {
                                        condition_keys::scalar_text(&items[0])
                                    }
                                    _ => None,
                                };
                                let Some(value) = value else {
                                    return Err(bad(
                                        "each tag value must be an array of one string",
                                    ));
                                };
                                if k.is_empty()
                                    || k.chars().count() > 128
                                    || value.chars().count() > 256
                                {
                                    return Err(bad(
                                        "tag keys are 1-128 characters and values at most 256",
                                    ));
                                }
                                facts.tags.push((k.clone(), value));
                            }
                        }
                        ("transitive_tag_keys", ClaimValue::Array(keys)) => {
                            for k in keys {
                                match k {
                                    ClaimValue::String(s) => facts.transitive_keys.push(s.clone()),
                                    _ => return Err(bad("transitive_tag_keys must be strings")),
                                }
                            }
                        }
                        _ => return Err(bad("unexpected member")),
                    }
                }
                if facts.tags.len() > 50 {
                    return Err(bad("at most 50 session tags are allowed"));
                }
            } else if name == SOURCE_IDENTITY_CLAIM {
                match value {
                    ClaimValue::String(s)
                        if (2..=64).contains(&s.chars().count())
                            && s.chars().all(validate::is_name_char) =>
                    {
                        facts.source_identity = Some(s.clone());
                    }
                    _ => {
                        return Err(Failure::new(AwsError::new(
                            "InvalidIdentityToken",
                            400,
                            format!(
                                "The {SOURCE_IDENTITY_CLAIM} claim must be 2-64 characters of [\\w+=,.@-]"
                            ),
                        )));
                    }
                }
            }
        }
        Ok(facts)
    }

    fn transitive_tags(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .filter(|(k, _)| {
                self.transitive_keys
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(k))
            })
            .cloned()
            .collect()
    }

    /// The actions the trust policy must allow besides `sts:AssumeRoleWithWebIdentity`.
    pub fn extra_actions(&self) -> Vec<&'static str> {
        let mut actions = Vec::new();
        if !self.tags.is_empty() {
            actions.push("sts:TagSession");
        }
        if self.source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        actions
    }
}

/// The request context of the trust-policy evaluation. With `only` (the keys the trust
/// policy reads), claims the policy cannot look at are left out.
#[allow(clippy::too_many_arguments)]
pub fn trust_context(
    provider: &ProviderEntry,
    claims: &jwt::Claims,
    audience: &str,
    role_session_name: &str,
    facts: &SessionFacts,
    now: i64,
    env: &RequestEnv,
    only: Option<&[String]>,
) -> Context {
    let mut ctx = Context::with_capacity(only.map_or(claims.all.len() + 8, |k| k.len() + 8));
    condition_keys::add_claims(
        &mut ctx,
        &provider.key_prefix,
        provider.model.condition_keys,
        &claims.all,
        audience,
        only,
    );
    ctx.insert(
        "sts:RoleSessionName",
        ContextValue::Single(role_session_name.to_owned()),
    );
    crate::session::add_global_keys(&mut ctx, now, env);
    session::add_request_tags(&mut ctx, &facts.tags, &facts.transitive_keys);
    if let Some(si) = &facts.source_identity {
        ctx.insert("sts:SourceIdentity", ContextValue::Single(si.clone()));
    }
    ctx
}

/// Renders the success response, in the element order of a real AWS response.
pub fn render(grant: &Grant, request_id: &str) -> String {
    let m = &grant.minted;
    xml::success(
        "AssumeRoleWithWebIdentity",
        xml::STS_NAMESPACE,
        request_id,
        m.session_token.len() + 768,
        Some(&|w: &mut XmlWriter| {
            w.element("Audience", &grant.audience);
            w.open("AssumedRoleUser")
                .element("AssumedRoleId", &m.assumed_role_id)
                .element("Arn", &m.assumed_role_arn)
                .close("AssumedRoleUser");
            w.element("Provider", &grant.provider_arn);
            session::write_credentials(w, m);
            w.element("SubjectFromWebIdentityToken", &grant.subject);
            if let Some(size) = m.packed_policy_size {
                w.element("PackedPolicySize", &size.to_string());
            }
            w.optional("SourceIdentity", m.source_identity.as_deref());
        }),
    )
}

/// The claims of `claims` worth recording in an audit event: `iss`, `sub`, `aud`, `jti`.
pub fn audit_claims(claims: &jwt::Claims) -> serde_json::Value {
    serde_json::json!({
        "iss": claims.iss,
        "sub": claims.sub,
        "aud": claims.aud,
        "jti": claims.jti,
    })
}
