//! The request context of a policy decision: the global keys every request carries, the keys
//! that describe the caller, and the session tags a request sets.

use keyless_credentials::session::{SessionKeyValue, SessionOrigin};
use keyless_policy::{Context, ContextValue};

use crate::auth::Caller;
use crate::time::iso8601;

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

/// Adds the global keys AWS sets on every request: `aws:CurrentTime`, `aws:EpochTime`,
/// `aws:SecureTransport`, and `aws:SourceIp` / `aws:UserAgent` when known.
pub(crate) fn add_global_keys(ctx: &mut Context, now: i64, env: &RequestEnv) {
    ctx.insert("aws:CurrentTime", ContextValue::Single(iso8601(now)));
    ctx.insert("aws:EpochTime", ContextValue::Single(now.to_string()));
    ctx.insert(
        "aws:SecureTransport",
        ContextValue::Single(env.secure_transport.to_string()),
    );
    if let Some(ip) = &env.source_ip {
        ctx.insert("aws:SourceIp", ContextValue::Single(ip.clone()));
    }
    if let Some(ua) = &env.user_agent {
        ctx.insert("aws:UserAgent", ContextValue::Single(ua.clone()));
    }
}

/// Adds the keys that describe a signed caller: `aws:PrincipalAccount`, `aws:PrincipalArn`,
/// `aws:PrincipalType`, `aws:userid`, and for a role session `aws:TokenIssueTime`,
/// `aws:SourceIdentity` and its transitive tags as `aws:PrincipalTag/<key>`.
pub(crate) fn add_principal_keys(ctx: &mut Context, caller: &Caller) {
    let single = |v: String| ContextValue::Single(v);
    ctx.insert("aws:PrincipalAccount", single(caller.account().to_owned()));
    ctx.insert("aws:userid", single(caller.user_id()));
    match caller {
        Caller::Admin { account, .. } => {
            ctx.insert(
                "aws:PrincipalArn",
                single(format!("arn:aws:iam::{account}:root")),
            );
            ctx.insert("aws:PrincipalType", single("Account".to_owned()));
        }
        Caller::Session(claims) => {
            ctx.insert("aws:PrincipalArn", single(claims.role_arn()));
            ctx.insert("aws:PrincipalType", single("AssumedRole".to_owned()));
            ctx.insert("aws:TokenIssueTime", single(iso8601(claims.issued_at)));
            if let Some(source_identity) = &claims.source_identity {
                ctx.insert("aws:SourceIdentity", single(source_identity.clone()));
            }
            for (key, value) in claims.principal_tags() {
                ctx.insert(&format!("aws:PrincipalTag/{key}"), single(value.clone()));
            }
            if let SessionOrigin::WebIdentity { provider_arn, .. } = &claims.origin {
                ctx.insert("aws:FederatedProvider", single(provider_arn.clone()));
            }
            for (key, value) in &claims.web_identity_keys {
                let value = match value {
                    SessionKeyValue::One(v) => ContextValue::Single(v.clone()),
                    SessionKeyValue::Many(vs) => ContextValue::Multi(vs.clone()),
                };
                ctx.insert(key, value);
            }
        }
    }
}

/// Adds the session tags a request sets: `aws:RequestTag/<key>` and `aws:TagKeys`, and
/// `sts:TransitiveTagKeys` for the keys marked transitive.
pub(crate) fn add_request_tags(
    ctx: &mut Context,
    tags: &[(String, String)],
    transitive_keys: &[String],
) {
    if !tags.is_empty() {
        for (k, v) in tags {
            ctx.insert(
                &format!("aws:RequestTag/{k}"),
                ContextValue::Single(v.clone()),
            );
        }
        ctx.insert(
            "aws:TagKeys",
            ContextValue::Multi(tags.iter().map(|(k, _)| k.clone()).collect()),
        );
    }
    if !transitive_keys.is_empty() {
        ctx.insert(
            "sts:TransitiveTagKeys",
            ContextValue::Multi(transitive_keys.to_vec()),
        );
    }
}
