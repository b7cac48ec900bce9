//! Counter-examples: token claim sets built for one statement and provider, turned into the
//! request context keyless's STS would build, and decided by the real evaluator.

use keyless_oidc::jwt::ClaimValue;
use keyless_policy::{
    Case, Condition, Context, ContextValue, Decision, OperatorFamily, OperatorKind, Policy,
    Principal, Request, SetQualifier, Statement,
};
use keyless_sts::condition_keys;
use serde_json::{Map, Value as Json};

use crate::provider::{Provider, SubjectFormat};
use crate::value::Value;
use crate::{CounterExample, KeyMode};

/// The action of web identity federation.
pub(crate) const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
/// Role session name used in counter-examples unless a condition asks for another.
const SESSION_NAME: &str = "keyless-lint";
/// A value chosen to match no policy value.
const NEUTRAL: &str = "keyless-lint-witness";

/// A claim (or global key) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    Single(String),
    Multi(Vec<String>),
}

impl Claim {
    fn to_json(&self) -> Json {
        match self {
            Claim::Single(s) => Json::String(s.clone()),
            Claim::Multi(v) => Json::Array(v.iter().cloned().map(Json::String).collect()),
        }
    }

    fn to_context(&self) -> ContextValue {
        match self {
            Claim::Single(s) => ContextValue::Single(s.clone()),
            Claim::Multi(v) => ContextValue::Multi(v.clone()),
        }
    }

    /// The claim as it appears in a decoded token.
    fn to_token(&self) -> ClaimValue {
        match self {
            Claim::Single(s) => ClaimValue::String(s.clone()),
            Claim::Multi(v) => {
                ClaimValue::Array(v.iter().cloned().map(ClaimValue::String).collect())
            }
        }
    }
}

/// The caller of a counter-example request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Federated provider ARN (web identity) or AWS principal ARN (`sts:AssumeRole`).
    pub(crate) principal: String,
    /// Condition-key prefix of the provider; `None` for an AWS principal.
    pub(crate) prefix: Option<String>,
}

/// A candidate counter-example: token claims plus request keys that are not claims.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) caller: Caller,
    /// Claim name -> value, in insertion order.
    pub(crate) claims: Vec<(String, Claim)>,
    /// Non-claim keys (`sts:RoleSessionName`, `aws:...`).
    pub(crate) globals: Vec<(String, Claim)>,
}

impl Scenario {
    /// Sets a claim (replacing a case-variant).
    pub(crate) fn set(&mut self, claim: &str, value: Claim) {
        set_entry(&mut self.claims, claim, value);
    }

    /// Sets a single-valued claim.
    pub(crate) fn set_str(&mut self, claim: &str, value: &str) {
        self.set(claim, Claim::Single(value.to_string()));
    }

    /// Removes a claim.
    pub(crate) fn remove(&mut self, claim: &str) {
        self.claims.retain(|(k, _)| !k.eq_ignore_ascii_case(claim));
    }

    /// Sets a non-claim key.
    pub(crate) fn set_global(&mut self, key: &str, value: &str) {
        set_entry(&mut self.globals, key, Claim::Single(value.to_string()));
    }

    /// The current value of a claim.
    pub(crate) fn claim(&self, claim: &str) -> Option<&Claim> {
        self.claims
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(claim))
            .map(|(_, v)| v)
    }

    /// The request context keyless's STS builds for these claims under `mode`: the keys of
    /// every claim as [`condition_keys::add_claim`] adds them (the audience is the token's
    /// one `aud`, the value the STS matches), then the non-claim keys.
    fn context(&self, mode: KeyMode) -> Context {
        let mut ctx = Context::new();
        if let Some(prefix) = &self.caller.prefix {
            for (claim, value) in &self.claims {
                condition_keys::add_claim(
                    &mut ctx,
                    prefix,
                    mode.condition_keys(),
                    claim,
                    &value.to_token(),
                    None,
                );
            }
        }
        for (key, value) in &self.globals {
            ctx.insert(key, value.to_context());
        }
        ctx
    }

    /// Evaluates the scenario against the whole policy.
    pub(crate) fn verify(&self, policy: &Policy, mode: KeyMode) -> CounterExample {
        let context = self.context(mode);
        let (principal, action) = match self.caller.prefix {
            Some(_) => (Principal::Federated(&self.caller.principal), WEB_IDENTITY),
            None => (Principal::Aws(&self.caller.principal), "sts:AssumeRole"),
        };
        let decision = policy.evaluate(&Request {
            principal: Some(principal),
            action,
            resource: None,
            context: &context,
        });
        let claims: Map<String, Json> = self
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        CounterExample {
            claims,
            context,
            principal: self.caller.principal.clone(),
            principal_type: principal.type_name().to_string(),
            action: action.to_string(),
            verified: decision == Decision::Allow,
        }
    }
}

fn set_entry(entries: &mut Vec<(String, Claim)>, key: &str, value: Claim) {
    match entries
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
    {
        Some(entry) => entry.1 = value,
        None => entries.push((key.to_string(), value)),
    }
}

/// Whether a string condition admits `candidate` when the key is present with that value.
pub(crate) fn string_condition_admits(
    condition: &Condition,
    candidate: &str,
    variables: bool,
) -> bool {
    let op = condition.operator();
    let wildcards = matches!(
        op.kind,
        OperatorKind::StringLike
            | OperatorKind::StringNotLike
            | OperatorKind::ArnLike
            | OperatorKind::ArnEquals
            | OperatorKind::ArnNotLike
            | OperatorKind::ArnNotEquals
    );
    let case = if matches!(
        op.kind,
        OperatorKind::StringEqualsIgnoreCase | OperatorKind::StringNotEqualsIgnoreCase
    ) {
        Case::Insensitive
    } else {
        Case::Sensitive
    };
    let any = condition
        .values()
        .iter()
        .any(|v| Value::new(v.text(), variables, wildcards).matches(candidate, case));
    any != op.is_negated()
}

fn is_string_like(condition: &Condition) -> bool {
    matches!(
        condition.operator().family(),
        OperatorFamily::String | OperatorFamily::Arn
    )
}

/// Candidate values that satisfy a positive condition.
fn candidates(condition: &Condition, variables: bool) -> Vec<String> {
    let op = condition.operator();
    let texts = condition.values().iter().map(|v| v.text());
    match op.family() {
        OperatorFamily::String | OperatorFamily::Arn if !op.is_negated() => {
            let wildcards = !matches!(
                op.kind,
                OperatorKind::StringEquals | OperatorKind::StringEqualsIgnoreCase
            );
            texts
                .filter_map(|t| Value::new(t, variables, wildcards).instantiate("x"))
                .collect()
        }
        OperatorFamily::Bool => texts.map(|t| t.to_ascii_lowercase()).collect(),
        OperatorFamily::Numeric if !op.is_negated() => texts
            .filter_map(|t| {
                let n: i128 = t.parse().ok()?;
                let n = match op.kind {
                    OperatorKind::NumericGreaterThan => n.checked_add(1)?,
                    OperatorKind::NumericLessThan => n.checked_sub(1)?,
                    _ => n,
                };
                Some(n.to_string())
            })
            .collect(),
        OperatorFamily::Date if !op.is_negated() => texts
            .map(|t| match op.kind {
                OperatorKind::DateGreaterThan | OperatorKind::DateGreaterThanEquals => {
                    "2999-01-01T00:00:00Z".to_string()
                }
                OperatorKind::DateLessThan | OperatorKind::DateLessThanEquals => {
                    "1971-01-01T00:00:00Z".to_string()
                }
                _ => t.to_string(),
            })
            .collect(),
        OperatorFamily::IpAddress if !op.is_negated() => texts
            .map(|t| t.split('/').next().unwrap_or(t).to_string())
            .collect(),
        OperatorFamily::Binary => texts.map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A value for one key that satisfies every condition on it, or `None` when the key should
/// be absent.
fn witness_for(conditions: &[&Condition], variables: bool, required: bool) -> Option<String> {
    let must_be_absent = conditions.iter().any(|c| {
        c.operator().kind == OperatorKind::Null
            && c.operator().set_qualifier.is_none()
            && c.values()
                .iter()
                .all(|v| v.text().eq_ignore_ascii_case("true"))
    });
    if must_be_absent {
        return None;
    }
    let mut pool: Vec<String> = conditions
        .iter()
        .flat_map(|c| candidates(c, variables))
        .collect();
    let admits_absence = conditions.iter().all(|c| {
        let op = c.operator();
        op.if_exists
            || op.is_negated()
            || op.set_qualifier == Some(SetQualifier::ForAllValues)
            || (op.kind == OperatorKind::Null)
    });
    if pool.is_empty() && admits_absence && !required {
        return None;
    }
    pool.push(NEUTRAL.to_string());
    let admits_all = |candidate: &str| {
        conditions
            .iter()
            .filter(|c| is_string_like(c))
            .all(|c| string_condition_admits(c, candidate, variables))
    };
    pool.iter()
        .find(|c| admits_all(c))
        .or_else(|| pool.first())
        .cloned()
}

/// The subject format suggested by the statement's `sub` values (falling back to the
/// provider's).
pub(crate) fn subject_format(provider: &Provider, sub_conditions: &[&Condition]) -> SubjectFormat {
    if provider.profile.format != SubjectFormat::Generic {
        return provider.profile.format;
    }
    sub_conditions
        .iter()
        .flat_map(|c| c.values())
        .find_map(|v| SubjectFormat::detect(v.text()))
        .unwrap_or(SubjectFormat::Generic)
}

/// The legitimate token the statement was written for: every condition of the statement on
/// the provider's claims and on global keys satisfied where possible.
pub(crate) fn baseline(
    statement: &Statement,
    provider: &Provider,
    mode: KeyMode,
    variables: bool,
) -> Scenario {
    let mut groups: Vec<(String, Vec<&Condition>)> = Vec::new();
    for condition in statement.conditions() {
        let key_lower = condition.key().to_lowercase();
        match groups.iter_mut().find(|(k, _)| *k == key_lower) {
            Some((_, list)) => list.push(condition),
            None => groups.push((key_lower, vec![condition])),
        }
    }
    let mut scenario = Scenario {
        caller: Caller {
            principal: provider.principal.clone(),
            prefix: Some(provider.prefix.clone()),
        },
        claims: Vec::new(),
        globals: Vec::new(),
    };
    let sub_conditions: Vec<&Condition> = groups
        .iter()
        .filter(|(k, _)| provider.claim_of(k) == Some("sub"))
        .flat_map(|(_, list)| list.iter().copied())
        .collect();
    let format = subject_format(provider, &sub_conditions);
    for (key_lower, conditions) in &groups {
        if let Some(claim) = provider.claim_of(key_lower) {
            if mode == KeyMode::Aws && !provider.aws_exposes(claim) {
                continue;
            }
            let required = claim == "sub" || claim == "aud";
            let Some(value) = witness_for(conditions, variables, required) else {
                continue;
            };
            let multi = provider.profile.multi_valued.contains(&claim);
            scenario.set(
                claim,
                if multi {
                    Claim::Multi(vec![value])
                } else {
                    Claim::Single(value)
                },
            );
        } else if !crate::provider::is_oidc_key(key_lower)
            && let Some(value) = witness_for(conditions, variables, false)
        {
            let key = conditions.first().map(|c| c.key()).unwrap_or(key_lower);
            scenario.set_global(key, &value);
        }
    }
    if scenario.claim("sub").is_none() {
        scenario.set_str("sub", format.legit_subject());
    }
    if scenario.claim("aud").is_none() {
        scenario.set_str("aud", provider.profile.default_audience);
    }
    if !scenario
        .globals
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("sts:RoleSessionName"))
    {
        scenario.set_global("sts:RoleSessionName", SESSION_NAME);
    }
    scenario
}

/// A baseline for an AWS principal calling `sts:AssumeRole` (global keys only).
pub(crate) fn aws_caller_baseline(
    statement: &Statement,
    variables: bool,
    principal: &str,
) -> Scenario {
    let mut scenario = Scenario {
        caller: Caller {
            principal: principal.to_string(),
            prefix: None,
        },
        claims: Vec::new(),
        globals: Vec::new(),
    };
    let mut keys: Vec<String> = Vec::new();
    for condition in statement.conditions() {
        let lower = condition.key().to_lowercase();
        if !keys.contains(&lower) {
            keys.push(lower);
        }
    }
    for key in keys {
        let conditions: Vec<&Condition> = statement
            .conditions()
            .iter()
            .filter(|c| c.key().to_lowercase() == key)
            .collect();
        if let Some(value) = witness_for(&conditions, variables, false) {
            scenario.set_global(&key, &value);
        }
    }
    scenario
}

#[cfg(test)]
mod tests {
    use keyless_policy::{ParseOptions, PolicyKind};

    use super::*;

    #[test]
    fn string_matching_is_the_evaluators() {
        for (operator, value, candidate) in [
            (
                "StringLike",
                "project_path:mygroup*",
                "project_path:mygroup-evil/x",
            ),
            ("StringLike", "a?c", "a\u{e9}c"),
            ("StringNotLike", "x*", "y"),
            ("StringEquals", "a*", "a*"),
            ("StringEquals", "a*", "ab"),
            ("StringEqualsIgnoreCase", "\u{c9}COLE", "\u{e9}cole"),
            ("StringEqualsIgnoreCase", "\u{130}", "i\u{307}"),
            ("StringNotEqualsIgnoreCase", "ABC", "abc"),
            ("StringLike", "${aws:missing, 'dflt'}", "dflt"),
            ("StringLike", "${aws:missing}", "x"),
        ] {
            let doc = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "sts:AssumeRole",
                    "Condition": {operator: {"test:key": value}}
                }]
            })
            .to_string();
            let policy = Policy::parse(
                &doc,
                &ParseOptions {
                    kind: PolicyKind::Trust,
                    max_chars: None,
                },
            )
            .expect("valid policy");
            let mut context = Context::new();
            context.insert("test:key", ContextValue::Single(candidate.into()));
            let decision = policy.evaluate(&Request {
                principal: Some(Principal::Aws("arn:aws:iam::123456789012:root")),
                action: "sts:AssumeRole",
                resource: None,
                context: &context,
            });
            let condition = &policy.statements()[0].conditions()[0];
            assert_eq!(
                string_condition_admits(condition, candidate, true),
                decision == Decision::Allow,
                "{operator} {value:?} {candidate:?}"
            );
        }
    }

    #[test]
    fn context_is_the_one_the_sts_builds() {
        let prefix = "token.actions.githubusercontent.com/acme";
        let mut scenario = Scenario {
            caller: Caller {
                principal: format!("arn:aws:iam::123456789012:oidc-provider/{prefix}"),
                prefix: Some(prefix.to_string()),
            },
            claims: Vec::new(),
            globals: Vec::new(),
        };
        scenario.set_str("sub", "repo:acme/app:ref:refs/heads/main");
        scenario.set_str("aud", "sts.amazonaws.com");
        scenario.set_str("repository_id", "42");
        scenario.set_str("repository_owner", "acme");
        scenario.set("amr", Claim::Multi(vec!["a".into(), "b".into()]));
        scenario.set_global("sts:RoleSessionName", SESSION_NAME);
        let token: Vec<(String, ClaimValue)> = scenario
            .claims
            .iter()
            .map(|(name, value)| (name.clone(), value.to_token()))
            .collect();
        for mode in [KeyMode::Aws, KeyMode::All] {
            let mut expected = Context::new();
            condition_keys::add_claims(
                &mut expected,
                prefix,
                mode.condition_keys(),
                &token,
                "sts.amazonaws.com",
                None,
            );
            expected.insert(
                "sts:RoleSessionName",
                ContextValue::Single(SESSION_NAME.into()),
            );
            let sorted = |ctx: &Context| {
                let mut entries: Vec<(String, ContextValue)> = ctx
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries
            };
            assert_eq!(
                sorted(&scenario.context(mode)),
                sorted(&expected),
                "{mode:?}"
            );
        }
        assert!(
            scenario
                .context(KeyMode::Aws)
                .get(&format!("{prefix}:repository_id"))
                .is_some()
        );
        assert!(
            scenario
                .context(KeyMode::Aws)
                .get(&format!("{prefix}:repository_owner"))
                .is_none()
        );
    }
}
