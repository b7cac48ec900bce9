//! `keyless explain`: runs the `AssumeRoleWithWebIdentity` pipeline step by step without
//! minting anything, and reports each step's outcome, down to the trust-policy condition.

use std::sync::Arc;

use keyless_oidc::error::TokenError;
use keyless_oidc::jwks::VerificationKey;
use keyless_oidc::jwt::{self, ClaimValue, Claims, UnverifiedJwt};
use keyless_oidc::verify;
use keyless_policy::{Decision, PolicyTrace, Principal};
use serde::Serialize;

use crate::context::RequestEnv;
use crate::state::{ProviderEntry, StsState};
use crate::trust::{self, TrustQuery};
use crate::web_identity::{self, SessionFacts};

/// What to explain: a real token, or a claim set (signature and times are then skipped).
#[derive(Debug, Clone)]
pub enum ExplainInput {
    /// A compact JWS.
    Token(String),
    /// A JSON object of claims.
    Claims(serde_json::Value),
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// The step passed.
    Pass,
    /// The step failed: the exchange would fail here.
    Fail,
    /// The step was not run.
    Skipped,
}

/// One step of the pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The step's name.
    pub name: &'static str,
    /// Its outcome.
    pub status: StepStatus,
    /// What was checked and what was found.
    pub detail: String,
}

/// The trust-policy verdict for one role.
#[derive(Debug, Clone, Serialize)]
pub struct RoleVerdict {
    /// The role ARN.
    pub role_arn: String,
    /// Whether the token may assume it.
    pub allowed: bool,
    /// The policy engine's decision.
    pub decision: Option<Decision>,
    /// Why, in one line: the first failing condition, or the allowing statement.
    pub reason: String,
    /// The full trace.
    pub trace: Option<PolicyTrace>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `token` or `claims`.
    pub mode: &'static str,
    /// The pipeline steps, in order.
    pub steps: Vec<Step>,
    /// The per-role verdicts.
    pub roles: Vec<RoleVerdict>,
}

impl Report {
    /// Whether every step passed and the (first) role is assumable.
    pub fn allowed(&self) -> bool {
        self.steps.iter().all(|s| s.status != StepStatus::Fail)
            && !self.roles.is_empty()
            && self.roles.iter().any(|r| r.allowed)
    }
}

/// The token decoded far enough to find its provider and key, for the caller to fetch the key.
pub struct KeyNeed<'t> {
    /// The decoded token.
    pub jwt: UnverifiedJwt<'t>,
    /// Its provider.
    pub provider: Arc<ProviderEntry>,
}

/// Decodes `token` and finds its provider, so the caller can fetch the verification key.
pub fn key_need<'t>(state: &StsState, token: &'t str) -> Option<KeyNeed<'t>> {
    let jwt = jwt::decode(token).ok()?;
    let provider = state.providers_by_issuer.get(&jwt.claims.iss)?.clone();
    Some(KeyNeed { jwt, provider })
}

fn step(name: &'static str, status: StepStatus, detail: impl Into<String>) -> Step {
    Step {
        name,
        status,
        detail: detail.into(),
    }
}

/// Explains the exchange of `input` for `roles` (every role when `None`). `key` is the
/// provider's key for the token's `kid`, as fetched by the caller (token mode only).
pub fn explain(
    state: &StsState,
    input: &ExplainInput,
    key: Option<Result<Arc<VerificationKey>, TokenError>>,
    roles: Option<&[String]>,
    now: i64,
) -> Report {
    let mut steps = Vec::new();
    let (mode, claims, jwt) = match input {
        ExplainInput::Token(t) => match jwt::decode(t) {
            Ok(j) => {
                steps.push(step(
                    "token",
                    StepStatus::Pass,
                    format!(
                        "a compact JWS, alg {}, kid {}",
                        j.header.alg.as_str(),
                        j.header.kid.as_deref().unwrap_or("(none)")
                    ),
                ));
                ("token", Some(j.claims.clone()), Some(j))
            }
            Err(e) => {
                steps.push(step(
                    "token",
                    StepStatus::Fail,
                    format!("{}: {}", e.code.as_str(), e.message),
                ));
                ("token", None, None)
            }
        },
        ExplainInput::Claims(v) => match claims_from_json(v) {
            Ok(c) => {
                steps.push(step(
                    "token",
                    StepStatus::Skipped,
                    "claims given directly: the signature and time checks are skipped",
                ));
                ("claims", Some(c), None)
            }
            Err(e) => {
                steps.push(step("token", StepStatus::Fail, e));
                ("claims", None, None)
            }
        },
    };
    let Some(claims) = claims else {
        return Report {
            mode,
            steps,
            roles: Vec::new(),
        };
    };

    let Some(provider) = state.providers_by_issuer.get(&claims.iss).cloned() else {
        let near: Vec<&str> = state
            .providers_by_issuer
            .keys()
            .filter(|u| {
                u.trim_end_matches('/')
                    .eq_ignore_ascii_case(claims.iss.trim_end_matches('/'))
            })
            .map(String::as_str)
            .collect();
        let mut detail = format!(
            "InvalidIdentityToken: No OpenIDConnect provider found in your account for {}",
            claims.iss
        );
        if !near.is_empty() {
            detail.push_str(&format!(
                " (a provider differs only by case or a trailing slash: {}; the match is exact)",
                near.join(", ")
            ));
        }
        steps.push(step("provider", StepStatus::Fail, detail));
        return Report {
            mode,
            steps,
            roles: Vec::new(),
        };
    };
    steps.push(step(
        "provider",
        StepStatus::Pass,
        format!("iss {} is the provider {}", claims.iss, provider.arn),
    ));

    match (jwt.as_ref(), key) {
        (Some(j), Some(Ok(key))) => match j.check_signature(&key) {
            Ok(()) => steps.push(step(
                "signature",
                StepStatus::Pass,
                format!("verified with key {}", key.kid().unwrap_or("(no kid)")),
            )),
            Err(e) => {
                steps.push(step(
                    "signature",
                    StepStatus::Fail,
                    format!("{}: {}", e.code.as_str(), e.message),
                ));
                return Report {
                    mode,
                    steps,
                    roles: Vec::new(),
                };
            }
        },
        (Some(_), Some(Err(e))) => {
            steps.push(step(
                "signature",
                StepStatus::Fail,
                format!("{}: {}", e.code.as_str(), e.message),
            ));
            return Report {
                mode,
                steps,
                roles: Vec::new(),
            };
        }
        _ => steps.push(step(
            "signature",
            StepStatus::Skipped,
            "no token: not checked",
        )),
    }

    let audience = match verify::match_audience(&claims, &provider.model.client_ids) {
        Ok(a) => {
            steps.push(step(
                "audience",
                StepStatus::Pass,
                format!("aud matches the client ID {a}"),
            ));
            a
        }
        Err(e) => {
            steps.push(step(
                "audience",
                StepStatus::Fail,
                format!(
                    "{}: {} (the token says {:?}; the provider accepts {:?})",
                    e.code.as_str(),
                    e.message,
                    claims.aud,
                    provider.model.client_ids
                ),
            ));
            return Report {
                mode,
                steps,
                roles: Vec::new(),
            };
        }
    };

    if jwt.is_some() {
        match verify::check_times(&claims, now, &state.options.verify) {
            Ok(()) => steps.push(step(
                "times",
                StepStatus::Pass,
                format!(
                    "valid now ({now}); expires at {}",
                    claims.exp.unwrap_or_default()
                ),
            )),
            Err(e) => {
                steps.push(step(
                    "times",
                    StepStatus::Fail,
                    format!("{}: {}", e.code.as_str(), e.message),
                ));
                return Report {
                    mode,
                    steps,
                    roles: Vec::new(),
                };
            }
        }
    } else {
        steps.push(step(
            "times",
            StepStatus::Skipped,
            "claims given directly: not checked",
        ));
    }

    let facts = match SessionFacts::from_claims(&claims) {
        Ok(f) => f,
        Err(f) => {
            steps.push(step("session tags", StepStatus::Fail, f.message));
            return Report {
                mode,
                steps,
                roles: Vec::new(),
            };
        }
    };
    let ctx = web_identity::trust_context(
        &provider,
        &claims,
        &audience,
        "keyless-explain",
        &facts,
        now,
        &RequestEnv::default(),
        None,
    );

    let mut arns: Vec<String> = match roles {
        Some(list) => list.to_vec(),
        None => state.roles.values().map(|r| r.arn.clone()).collect(),
    };
    arns.sort();
    let mut verdicts = Vec::new();
    for arn in arns {
        let Some(role) = state.role_by_arn(&arn) else {
            verdicts.push(RoleVerdict {
                allowed: false,
                decision: None,
                reason: format!("the role {arn} does not exist (AWS answers AccessDenied)"),
                trace: None,
                role_arn: arn,
            });
            continue;
        };
        let actions = facts.actions();
        let decision = trust::decide(
            role,
            &TrustQuery {
                principal: Principal::Federated(&provider.arn),
                actions: &actions,
                context: &ctx,
                trace: true,
            },
        );
        let reason = decision.reason();
        let trace = decision
            .traces
            .into_iter()
            .find(|t| t.action == decision.action)
            .map(|t| t.trace);
        verdicts.push(RoleVerdict {
            role_arn: arn,
            allowed: decision.decision == Decision::Allow,
            decision: trace.as_ref().map(|t| t.decision),
            reason,
            trace,
        });
    }
    Report {
        mode,
        steps,
        roles: verdicts,
    }
}

/// Turns a JSON object of claims into [`Claims`], with the registered claims type-checked.
pub(crate) fn claims_from_json(v: &serde_json::Value) -> Result<Claims, String> {
    let serde_json::Value::Object(map) = v else {
        return Err("the claims file must hold a JSON object".into());
    };
    let text = |k: &str| -> Result<Option<String>, String> {
        match map.get(k) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("the claim {k} must be a string")),
        }
    };
    let int = |k: &str| -> Result<Option<i64>, String> {
        match map.get(k) {
            None => Ok(None),
            Some(n) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("the claim {k} must be an integer")),
        }
    };
    let aud = match map.get("aud") {
        None => Vec::new(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("the claim aud must be a string or an array of strings")?,
        Some(_) => return Err("the claim aud must be a string or an array of strings".into()),
    };
    Ok(Claims {
        iss: text("iss")?.ok_or("the claims have no iss")?,
        sub: text("sub")?,
        aud,
        azp: text("azp")?,
        exp: int("exp")?,
        nbf: int("nbf")?,
        iat: int("iat")?,
        jti: text("jti")?,
        all: map
            .iter()
            .map(|(k, v)| (k.clone(), claim_value(v)))
            .collect(),
    })
}

fn claim_value(v: &serde_json::Value) -> ClaimValue {
    match v {
        serde_json::Value::Null => ClaimValue::Null,
        serde_json::Value::Bool(b) => ClaimValue::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => ClaimValue::Integer(i),
            None => ClaimValue::Float(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => ClaimValue::String(s.clone()),
        serde_json::Value::Array(a) => ClaimValue::Array(a.iter().map(claim_value).collect()),
        serde_json::Value::Object(o) => {
            ClaimValue::Object(o.iter().map(|(k, v)| (k.clone(), claim_value(v))).collect())
        }
    }
}

/// Renders the report for a person.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.steps {
        let mark = match s.status {
            StepStatus::Pass => "PASS",
            StepStatus::Fail => "FAIL",
            StepStatus::Skipped => "SKIP",
        };
        out.push_str(&format!("{mark}  {:<12} {}\n", s.name, s.detail));
    }
    for r in &report.roles {
        let mark = if r.allowed { "ALLOW" } else { "DENY " };
        out.push_str(&format!("\n{mark} {}\n      {}\n", r.role_arn, r.reason));
        if let (Some(decision), Some(trace)) = (r.decision, &r.trace) {
            for line in keyless_policy::render_trace_text(decision, trace).lines() {
                out.push_str("      ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
