//! Which token claims become trust-policy condition keys, and under which names.
//!
//! Keys are `<provider host/path>:<claim>`. In `aws` mode only the keys AWS exposes exist
//! ([`aws_exposes`]: [`GENERIC_AWS_CLAIMS`] and the [`KnownIssuer`] lists, matched on the
//! flattened key); in `all` mode every claim does:
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

/// Claims AWS exposes as condition keys for every OIDC provider.
pub const GENERIC_AWS_CLAIMS: &[&str] = &["aud", "sub", "amr", "azp", "email"];

/// An issuer for which AWS documents provider-specific condition keys (IAM service
/// authorization reference, condition keys of `sts:AssumeRoleWithWebIdentity`; IAM User Guide,
/// keys of the built-in web identity providers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownIssuer {
    /// GitHub Actions: `token.actions.githubusercontent.com`, its enterprise issuers
    /// `token.actions.githubusercontent.com/<slug>` and `github.com/enterprises/<name>`, and
    /// GHE.com's `token.actions.<subdomain>.ghe.com`.
    GitHub,
    /// GitLab.com: `gitlab.com`.
    GitLab,
    /// Buildkite: `agent.buildkite.com`, `agent.<domain>.buildkite.dev`,
    /// `agent.<domain>.buildkite.site`.
    Buildkite,
    /// Google: `accounts.google.com`.
    Google,
    /// CircleCI: `oidc.circleci.com/org/<org-id>`.
    CircleCi,
    /// Oracle Cloud Infrastructure: `idcs-<id>.identity.oraclecloud.com`.
    Oracle,
    /// Login with Amazon: `www.amazon.com`.
    Amazon,
    /// Facebook: `graph.facebook.com`.
    Facebook,
}

/// Whether `text` is `prefix`, then a non-empty part, then `suffix` (affixes compared ASCII
/// case-insensitively); with `segment`, the part holds no `/`.
fn affixed(text: &str, prefix: &str, suffix: &str, segment: bool) -> bool {
    if text.len() <= prefix.len() + suffix.len() {
        return false;
    }
    let cut = text.len() - suffix.len();
    let (Some(head), Some(middle), Some(tail)) = (
        text.get(..prefix.len()),
        text.get(prefix.len()..cut),
        text.get(cut..),
    ) else {
        return false;
    };
    head.eq_ignore_ascii_case(prefix)
        && tail.eq_ignore_ascii_case(suffix)
        && !(segment && middle.contains('/'))
}

impl KnownIssuer {
    /// The issuer of the condition-key prefix `host_path` (the issuer URL without scheme),
    /// compared ASCII case-insensitively as condition keys are; `None` for an issuer AWS
    /// documents no provider-specific keys for.
    pub fn of(host_path: &str) -> Option<KnownIssuer> {
        let is = |name: &str| host_path.eq_ignore_ascii_case(name);
        let has = |prefix: &str, suffix: &str| affixed(host_path, prefix, suffix, true);
        if is("token.actions.githubusercontent.com")
            || affixed(host_path, "token.actions.githubusercontent.com/", "", false)
            || has("github.com/enterprises/", "")
            || has("token.actions.", ".ghe.com")
        {
            Some(KnownIssuer::GitHub)
        } else if is("gitlab.com") {
            Some(KnownIssuer::GitLab)
        } else if is("agent.buildkite.com")
            || has("agent.", ".buildkite.dev")
            || has("agent.", ".buildkite.site")
        {
            Some(KnownIssuer::Buildkite)
        } else if is("accounts.google.com") {
            Some(KnownIssuer::Google)
        } else if has("oidc.circleci.com/org/", "") {
            Some(KnownIssuer::CircleCi)
        } else if has("idcs-", ".identity.oraclecloud.com") {
            Some(KnownIssuer::Oracle)
        } else if is("www.amazon.com") {
            Some(KnownIssuer::Amazon)
        } else if is("graph.facebook.com") {
            Some(KnownIssuer::Facebook)
        } else {
            None
        }
    }

    /// The provider-specific claims AWS exposes for this issuer, beyond
    /// [`GENERIC_AWS_CLAIMS`]. Names are condition-key suffixes: a nested claim is named by
    /// its `/`-joined path (`google/organization_number`).
    pub fn aws_claims(self) -> &'static [&'static str] {
        match self {
            KnownIssuer::GitHub => &[
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
            KnownIssuer::GitLab => &[
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
            KnownIssuer::Buildkite => &[
                "build_branch",
                "cluster_id",
                "cluster_name",
                "organization_id",
                "organization_slug",
                "pipeline_id",
                "pipeline_slug",
            ],
            KnownIssuer::Google => &["google/organization_number", "oaud"],
            KnownIssuer::CircleCi => &["oidc.circleci.com/project-id"],
            KnownIssuer::Oracle => &["rpst_id"],
            KnownIssuer::Amazon => &["app_id", "user_id"],
            KnownIssuer::Facebook => &["app_id", "id"],
        }
    }
}

/// Whether `claim` is exposed for an issuer of kind `issuer`.
fn exposed_for(issuer: Option<KnownIssuer>, claim: &str) -> bool {
    GENERIC_AWS_CLAIMS.contains(&claim) || issuer.is_some_and(|i| i.aws_claims().contains(&claim))
}

/// Whether AWS exposes `claim` (a condition-key suffix) as a condition key for the provider
/// `host_path`.
pub fn aws_exposes(host_path: &str, claim: &str) -> bool {
    exposed_for(KnownIssuer::of(host_path), claim)
}

/// The lower-cased condition keys a policy can read, or `None` when it may read any key (a
/// policy variable can name one at evaluation time). Lets the exchange build only the part of
/// the context the trust policy looks at.
pub(crate) fn referenced_keys(policy: &keyless_policy::Policy) -> Option<Vec<String>> {
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
/// always added. `<prefix>:aud` holds `matched_audience`.
pub fn add_claims(
    ctx: &mut Context,
    prefix: &str,
    mode: ConditionKeyMode,
    claims: &[(String, ClaimValue)],
    matched_audience: &str,
    only: Option<&[String]>,
) {
    let issuer = KnownIssuer::of(prefix);
    for (name, value) in claims {
        if name == "aud" {
            continue;
        }
        add_claim_as(ctx, prefix, mode, issuer, name, value, only);
    }
    ctx.insert(
        &format!("{prefix}:aud"),
        ContextValue::Single(matched_audience.to_owned()),
    );
}

/// Adds one token claim to `ctx` as the keys it becomes under `mode` (the claim part of the
/// trust-policy context, without the audience rule of [`add_claims`]): `<prefix>:<name>` for a
/// scalar or an array of scalars, `<prefix>:<name>/<member>...` for the members of an object,
/// nothing for `null`. In `aws` mode only the keys [`aws_exposes`] names are added. With
/// `only`, a non-object claim outside that list (lower-cased full keys) is left out.
pub fn add_claim(
    ctx: &mut Context,
    prefix: &str,
    mode: ConditionKeyMode,
    name: &str,
    value: &ClaimValue,
    only: Option<&[String]>,
) {
    add_claim_as(
        ctx,
        prefix,
        mode,
        KnownIssuer::of(prefix),
        name,
        value,
        only,
    );
}

fn add_claim_as(
    ctx: &mut Context,
    prefix: &str,
    mode: ConditionKeyMode,
    issuer: Option<KnownIssuer>,
    name: &str,
    value: &ClaimValue,
    only: Option<&[String]>,
) {
    if let Some(keys) = only
        && !matches!(value, ClaimValue::Object(_))
        && !wanted(keys, prefix, name)
    {
        return;
    }
    let keys = match mode {
        ConditionKeyMode::All => Keys::All,
        ConditionKeyMode::Aws => Keys::Aws(issuer),
    };
    add_value(ctx, prefix, keys, name, value);
}

/// Which keys a claim may become.
#[derive(Clone, Copy)]
enum Keys {
    /// Every key (`all` mode).
    All,
    /// The keys AWS exposes for the issuer (`aws` mode).
    Aws(Option<KnownIssuer>),
}

impl Keys {
    /// Whether `<prefix>:<path>` may be added.
    fn admit(self, path: &str) -> bool {
        match self {
            Keys::All => true,
            Keys::Aws(issuer) => exposed_for(issuer, path),
        }
    }

    /// Whether a key below `<prefix>:<path>/` may be added (so an object is worth walking).
    fn admit_below(self, path: &str) -> bool {
        let below = |key: &&str| {
            key.strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        match self {
            Keys::All => true,
            Keys::Aws(issuer) => {
                GENERIC_AWS_CLAIMS.iter().any(below)
                    || issuer.is_some_and(|i| i.aws_claims().iter().any(below))
            }
        }
    }
}

/// Adds `value` under `<prefix>:<path>` when `keys` admits that key. Objects are walked
/// member by member, so a nested key such as `google/organization_number` is reached even
/// though its top-level claim is not exposed.
fn add_value(ctx: &mut Context, prefix: &str, keys: Keys, path: &str, value: &ClaimValue) {
    match value {
        ClaimValue::Null => {}
        ClaimValue::Object(members) => {
            if keys.admit_below(path) {
                for (name, member) in members {
                    add_value(ctx, prefix, keys, &format!("{path}/{name}"), member);
                }
            }
        }
        ClaimValue::Array(items) => {
            if !keys.admit(path) {
                return;
            }
            let values: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            if let Some(values) = values {
                ctx.insert(&format!("{prefix}:{path}"), ContextValue::Multi(values));
            }
        }
        scalar => {
            if !keys.admit(path) {
                return;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ctx: &Context) -> Vec<&str> {
        let mut keys: Vec<&str> = ctx.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn issuers_by_host_and_path() {
        for (host_path, issuer) in [
            (
                "token.actions.githubusercontent.com",
                Some(KnownIssuer::GitHub),
            ),
            (
                "token.actions.githubusercontent.com/acme",
                Some(KnownIssuer::GitHub),
            ),
            (
                "Token.Actions.GitHubUserContent.com/acme",
                Some(KnownIssuer::GitHub),
            ),
            ("github.com/enterprises/acme", Some(KnownIssuer::GitHub)),
            ("token.actions.acme.ghe.com", Some(KnownIssuer::GitHub)),
            ("token.actions.githubusercontent.com/", None),
            ("token.actions.ghe.com", None),
            ("github.com/enterprises/acme/x", None),
            ("gitlab.com", Some(KnownIssuer::GitLab)),
            ("GitLab.com", Some(KnownIssuer::GitLab)),
            ("gitlab.example.com", None),
            ("agent.buildkite.com", Some(KnownIssuer::Buildkite)),
            ("agent.eu.buildkite.dev", Some(KnownIssuer::Buildkite)),
            ("agent.eu.buildkite.site", Some(KnownIssuer::Buildkite)),
            ("accounts.google.com", Some(KnownIssuer::Google)),
            ("oidc.circleci.com/org/1234", Some(KnownIssuer::CircleCi)),
            ("oidc.circleci.com/org/", None),
            (
                "idcs-abc.identity.oraclecloud.com",
                Some(KnownIssuer::Oracle),
            ),
            ("www.amazon.com", Some(KnownIssuer::Amazon)),
            ("graph.facebook.com", Some(KnownIssuer::Facebook)),
            ("oidc.eks.us-east-1.amazonaws.com/id/ABC", None),
            ("token.actions.githubusercontent.com.evil.example", None),
        ] {
            assert_eq!(KnownIssuer::of(host_path), issuer, "{host_path}");
        }
    }

    #[test]
    fn enterprise_issuers_expose_the_github_keys() {
        for host_path in [
            "token.actions.githubusercontent.com",
            "token.actions.githubusercontent.com/acme",
            "github.com/enterprises/acme",
            "token.actions.acme.ghe.com",
        ] {
            assert!(aws_exposes(host_path, "repository_id"), "{host_path}");
            assert!(aws_exposes(host_path, "sub"), "{host_path}");
            assert!(!aws_exposes(host_path, "repository_owner"), "{host_path}");
        }
        assert!(aws_exposes(
            "oidc.circleci.com/org/1",
            "oidc.circleci.com/project-id"
        ));
        assert!(aws_exposes("www.amazon.com", "user_id"));
        assert!(aws_exposes("graph.facebook.com", "id"));
        assert!(!aws_exposes("gitlab.example.com", "project_id"));
    }

    #[test]
    fn aws_mode_keeps_only_exposed_keys_nested_ones_included() {
        let claims = vec![
            ("sub".to_string(), ClaimValue::String("s".into())),
            ("aud".to_string(), ClaimValue::String("token-aud".into())),
            ("repository_id".to_string(), ClaimValue::Integer(42)),
            (
                "repository_owner".to_string(),
                ClaimValue::String("o".into()),
            ),
            (
                "google".to_string(),
                ClaimValue::Object(vec![
                    ("organization_number".into(), ClaimValue::Integer(7)),
                    ("other".into(), ClaimValue::Bool(true)),
                ]),
            ),
        ];
        let mut github = Context::new();
        add_claims(
            &mut github,
            "token.actions.githubusercontent.com/acme",
            ConditionKeyMode::Aws,
            &claims,
            "sts.amazonaws.com",
            None,
        );
        assert_eq!(
            keys(&github),
            [
                "token.actions.githubusercontent.com/acme:aud",
                "token.actions.githubusercontent.com/acme:repository_id",
                "token.actions.githubusercontent.com/acme:sub",
            ]
        );
        let mut google = Context::new();
        add_claims(
            &mut google,
            "accounts.google.com",
            ConditionKeyMode::Aws,
            &claims,
            "client",
            None,
        );
        assert_eq!(
            keys(&google),
            [
                "accounts.google.com:aud",
                "accounts.google.com:google/organization_number",
                "accounts.google.com:sub",
            ]
        );
        let mut all = Context::new();
        for (name, value) in &claims {
            add_claim(&mut all, "p", ConditionKeyMode::All, name, value, None);
        }
        assert_eq!(
            keys(&all),
            [
                "p:aud",
                "p:google/organization_number",
                "p:google/other",
                "p:repository_id",
                "p:repository_owner",
                "p:sub",
            ]
        );
        assert_eq!(
            all.get("p:aud"),
            Some(&ContextValue::Single("token-aud".into()))
        );
    }
}
