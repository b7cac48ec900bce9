//! Which token claims become trust-policy condition keys, and under which names.
//!
//! Keys are `<provider host/path>:<claim>`. In `aws` mode only the keys AWS exposes exist; in
//! `all` mode every claim does:
//! - strings are single values; integers, floats and booleans are single values in their JSON
//!   spelling (`42`, `true`);
//! - arrays of scalars are multi-valued keys;
//! - a `null` claim is absent (so `Null: true` matches it);
//! - objects are flattened with `/`: `{"job_config": {"url": "…"}}` gives `<p>:job_config/url`;
//! - arrays holding objects are not reachable.
//!
//! `<p>:aud` always holds the one audience that matched the provider's client IDs, the value
//! AWS returns as `Audience`.

use keyless_oidc::jwt::ClaimValue;
use keyless_policy::{Context, ContextValue};

use crate::model::ConditionKeyMode;

/// Claims AWS exposes for every OIDC provider.
const GENERIC_AWS_CLAIMS: &[&str] = &["aud", "sub", "amr", "azp", "email"];

/// Provider-specific claims AWS exposes (IAM service authorization reference, 2026).
const PROVIDER_AWS_CLAIMS: &[(&str, &[&str])] = &[
    (
        "gitlab.com",
        &[
            "namespace_id",
            "pipeline_source",
            "project_id",
            "ref_protected",
            "runner_environment",
            "user_access_level",
            "user_email",
            "user_id",
            "user_login",
        ],
    ),
    (
        "token.actions.githubusercontent.com",
        &[
            "actor",
            "actor_id",
            "enterprise_id",
            "environment",
            "job_workflow_ref",
            "ref",
            "repository",
            "repository_id",
            "repository_owner_id",
            "workflow",
        ],
    ),
    (
        "agent.buildkite.com",
        &[
            "build_branch",
            "cluster_id",
            "cluster_name",
            "organization_id",
            "organization_slug",
            "pipeline_id",
            "pipeline_slug",
        ],
    ),
    (
        "accounts.google.com",
        &["google/organization_number", "oaud"],
    ),
];

/// Whether AWS exposes `claim` as a condition key for the provider `host_path`.
pub fn aws_exposes(host_path: &str, claim: &str) -> bool {
    GENERIC_AWS_CLAIMS.contains(&claim)
        || PROVIDER_AWS_CLAIMS
            .iter()
            .any(|(p, claims)| *p == host_path && claims.contains(&claim))
}

/// The lower-cased condition keys a policy can read, or `None` when it may read any key (a
/// policy variable can name one at evaluation time). Lets the exchange build only the part of
/// the context the trust policy looks at.
pub fn referenced_keys(policy: &keyless_policy::Policy) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    for statement in policy.statements() {
        for condition in statement.conditions() {
            if condition.values().iter().any(|v| v.text().contains("${")) {
                return None;
            }
            let key = condition.key();
            if !key.is_ascii() {
                // Case-insensitive matching beyond ASCII is left to the evaluator.
                return None;
            }
            keys.push(key.to_ascii_lowercase());
        }
    }
    keys.sort();
    keys.dedup();
    Some(keys)
}

/// Whether `<prefix>:<name>` is among `keys` (lower-cased), compared without allocating.
fn wanted(keys: &[String], prefix: &str, name: &str) -> bool {
    if !prefix.is_ascii() || !name.is_ascii() {
        return true;
    }
    keys.iter().any(|k| {
        k.len() == prefix.len() + 1 + name.len()
            && k.as_bytes()[prefix.len()] == b':'
            && k[..prefix.len()].eq_ignore_ascii_case(prefix)
            && k[prefix.len() + 1..].eq_ignore_ascii_case(name)
    })
}

/// Adds the token's claims to `ctx` as `<prefix>:<claim>` keys, following `mode`. With
/// `only`, claims outside that list (lower-cased full keys) are left out; nested objects are
/// always added.
pub fn add_claims(
    ctx: &mut Context,
    prefix: &str,
    mode: ConditionKeyMode,
    claims: &[(String, ClaimValue)],
    matched_audience: &str,
    only: Option<&[String]>,
) {
    for (name, value) in claims {
        if name == "aud" {
            continue;
        }
        if let Some(keys) = only
            && !matches!(value, ClaimValue::Object(_))
            && !wanted(keys, prefix, name)
        {
            continue;
        }
        match mode {
            ConditionKeyMode::All => add_value(ctx, prefix, name, value),
            ConditionKeyMode::Aws => {
                if aws_exposes(prefix, name) {
                    add_value(ctx, prefix, name, value);
                }
            }
        }
    }
    ctx.insert(
        &format!("{prefix}:aud"),
        ContextValue::Single(matched_audience.to_owned()),
    );
}

fn add_value(ctx: &mut Context, prefix: &str, path: &str, value: &ClaimValue) {
    match value {
        ClaimValue::Null => {}
        ClaimValue::Object(members) => {
            for (name, member) in members {
                add_value(ctx, prefix, &format!("{path}/{name}"), member);
            }
        }
        ClaimValue::Array(items) => {
            let values: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            if let Some(values) = values {
                ctx.insert(&format!("{prefix}:{path}"), ContextValue::Multi(values));
            }
        }
        scalar => {
            if let Some(text) = scalar_text(scalar) {
                ctx.insert(&format!("{prefix}:{path}"), ContextValue::Single(text));
            }
        }
    }
}

/// The text of a scalar claim; `None` for null, arrays and objects.
pub fn scalar_text(value: &ClaimValue) -> Option<String> {
    match value {
        ClaimValue::String(s) => Some(s.clone()),
        ClaimValue::Integer(i) => Some(i.to_string()),
        ClaimValue::Float(f) => Some(f.to_string()),
        ClaimValue::Bool(b) => Some(b.to_string()),
        ClaimValue::Null | ClaimValue::Array(_) | ClaimValue::Object(_) => None,
    }
}
