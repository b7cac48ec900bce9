//! `AssumeRoleWithWebIdentity`: parameters, token checks, the trust policy, and the response.
//!
//! The exchange runs in two steps around the one thing that may wait on the network, fetching
//! the provider's keys: [`prepare`] validates the parameters, decodes the token and chooses the
//! provider by `iss`; the caller then obtains the verification key; [`complete`] verifies the
//! token, evaluates the trust policy and mints the credentials.

use std::sync::Arc;

use keyless_credentials::session::{SessionKeyValue, SessionOrigin};
use keyless_oidc::error::TokenError;
use keyless_oidc::jwks::VerificationKey;
use keyless_oidc::jwt::{self, ClaimValue, UnverifiedJwt};
use keyless_policy::{Context, ContextValue, Principal};

use crate::condition_keys;
use crate::context::{self, RequestEnv};
use crate::error::{Denial, Error, Refused};
use crate::mint::{self, Minted, SessionSpec};
use crate::query::QueryParams;
use crate::session_policies::SessionPolicies;
use crate::state::{ProviderEntry, StsState};
use crate::trust::{self, TrustQuery};
use crate::validate::{self, Violations};

/// The action name.
pub const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// The claim carrying session tags.
const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The claim carrying the source identity.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";
/// The provider keys AWS keeps in a web identity session (`<provider>:<claim>`), first in
/// this order; the only ones kept for a provider in `aws` condition-key mode.
const SESSION_CLAIMS: [&str; 4] = ["sub", "aud", "amr", "id"];
/// The most bytes (keys and values) of provider keys sealed into a session; the keys past it,
/// in claim order after [`SESSION_CLAIMS`], are left out.
pub const MAX_SESSION_KEY_BYTES: usize = 4096;

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
    pub fn from_query(q: &QueryParams) -> Result<WebIdentityParams, Error> {
        let mut v = Violations::new();
        let (role_arn, session) = validate::role_and_session(q, &mut v);
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
            return Err(Error::Validation(
                "ProviderId is only for OAuth 2.0 access tokens; do not specify it for OpenID Connect ID tokens."
                    .to_owned(),
            ));
        }
        let (Some(role_arn), Some(session), Some(token)) = (role_arn, session, token) else {
            return Err(Error::Internal);
        };
        let role_arn = role_arn.to_owned();
        if crate::arn::parse_role_arn(&role_arn).is_none() {
            return Err(Error::Validation("Request ARN is invalid".to_owned()));
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

/// A decoded token and the provider its `iss` chose.
pub struct Prepared<'t> {
    /// The decoded, not yet verified token.
    pub jwt: UnverifiedJwt<'t>,
    /// The provider.
    pub provider: Arc<ProviderEntry>,
}

/// Decodes the token and chooses its provider by exact `iss`.
pub fn prepare<'t>(state: &StsState, params: &'t WebIdentityParams) -> Result<Prepared<'t>, Error> {
    let jwt = jwt::decode(&params.web_identity_token)?;
    let Some(provider) = state.providers_by_issuer.get(&jwt.claims.iss) else {
        return Err(TokenError::invalid(format!(
            "No OpenIDConnect provider found in your account for {}",
            keyless_oidc::verify::truncate_for_message(&jwt.claims.iss)
        ))
        .into());
    };
    Ok(Prepared {
        provider: provider.clone(),
        jwt,
    })
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
) -> Result<Grant, Error> {
    let provider = prepared.provider;
    let verified =
        prepared
            .jwt
            .verify(key, &provider.model.client_ids, now, &state.options.verify)?;
    let subject = verified.claims.sub.clone().unwrap_or_default();

    let denied = |action: &'static str, reason: String, statement: Option<String>| {
        Error::from(Denial {
            refused: Refused::WebIdentity { action },
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

    let session_facts = SessionFacts::from_claims(&verified.claims)?;
    let ctx = trust_context(
        &provider,
        &verified.claims,
        &verified.audience,
        &params.role_session_name,
        &session_facts,
        now,
        env,
        role.trust_keys(),
    );
    let actions = session_facts.actions();
    let decision = trust::decide(
        role,
        &TrustQuery {
            principal: Principal::Federated(&provider.arn),
            actions: &actions,
            context: &ctx,
            trace: false,
        },
    );
    if !decision.allowed() {
        let statement = decision.statement_name();
        return Err(denied(decision.action, decision.reason(), statement));
    }
    let statement = decision.statement_name();

    let duration = mint::check_duration(role, params.duration_seconds)?;
    let packed = params.policies.resolve(state)?;
    let minted = mint::mint(
        state,
        role,
        SessionSpec {
            session_name: &params.role_session_name,
            now,
            duration,
            origin: SessionOrigin::WebIdentity {
                provider_arn: provider.arn.clone(),
                subject: subject.clone(),
                audience: verified.audience.clone(),
            },
            policies: &params.policies,
            packed_policy_size: packed,
            source_identity: session_facts.source_identity.clone(),
            transitive_tags: session_facts.transitive_tags(),
            tags: session_facts.tags.clone(),
            web_identity_keys: session_keys(&provider, &verified.claims, &verified.audience),
            chained: false,
        },
    )?;
    Ok(Grant {
        minted,
        provider_arn: provider.arn.clone(),
        audience: verified.audience.clone(),
        subject,
        statement,
    })
}

/// The provider keys a web identity session carries into its permission evaluation: the ones
/// AWS keeps (`sub`, `aud`, `amr`, `id`), and in `all` condition-key mode every other claim
/// too, in claim order, up to [`MAX_SESSION_KEY_BYTES`].
pub fn session_keys(
    provider: &ProviderEntry,
    claims: &jwt::Claims,
    audience: &str,
) -> Vec<(String, SessionKeyValue)> {
    let prefix = &provider.key_prefix;
    let mut ctx = Context::with_capacity(claims.all.len() + 1);
    condition_keys::add_claims(
        &mut ctx,
        prefix,
        provider.model.condition_keys,
        &claims.all,
        audience,
        None,
    );
    let claim_of = |key: &str| {
        key.strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_ascii_lowercase)
    };
    let rank = |key: &str| {
        claim_of(key)
            .and_then(|claim| SESSION_CLAIMS.iter().position(|c| *c == claim))
            .unwrap_or(SESSION_CLAIMS.len())
    };
    let mut keys: Vec<(&str, &ContextValue)> = ctx
        .iter()
        .filter(|(key, _)| {
            provider.model.condition_keys == crate::model::ConditionKeyMode::All
                || rank(key) < SESSION_CLAIMS.len()
        })
        .collect();
    keys.sort_by_key(|(key, _)| rank(key));
    let mut budget = MAX_SESSION_KEY_BYTES;
    let mut kept = Vec::with_capacity(keys.len());
    for (key, value) in keys {
        let value = match value {
            ContextValue::Single(v) => SessionKeyValue::One(v.clone()),
            ContextValue::Multi(vs) => SessionKeyValue::Many(vs.clone()),
        };
        let cost = key.len() + value.len();
        if cost > budget {
            continue;
        }
        budget -= cost;
        kept.push((key.to_owned(), value));
    }
    kept
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
    pub fn from_claims(claims: &jwt::Claims) -> Result<SessionFacts, TokenError> {
        let mut facts = SessionFacts::default();
        let bad = |what: &str| {
            TokenError::invalid(format!("The {TAGS_CLAIM} claim is malformed: {what}"))
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
                        return Err(TokenError::invalid(format!(
                            "The {SOURCE_IDENTITY_CLAIM} claim must be 2-64 characters of [\\w+=,.@-]"
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

    /// The actions the trust policy must allow: `sts:AssumeRoleWithWebIdentity`, and
    /// `sts:TagSession` / `sts:SetSourceIdentity` when the token sets tags or a source identity.
    pub fn actions(&self) -> Vec<&'static str> {
        let mut actions = vec![ACTION];
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
    context::add_global_keys(&mut ctx, now, env);
    context::add_request_tags(&mut ctx, &facts.tags, &facts.transitive_keys);
    if let Some(si) = &facts.source_identity {
        ctx.insert("sts:SourceIdentity", ContextValue::Single(si.clone()));
    }
    ctx
}
