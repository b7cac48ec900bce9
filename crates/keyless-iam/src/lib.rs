//! The IAM Query API (version 2010-05-08) of a keyless node: OIDC providers, roles, inline and
//! managed policies, permissions boundaries, the policy simulator and outbound identity
//! federation's switch, each call SigV4-signed (service `iam`) and authorized. The server routes a
//! Query request here once it has authenticated the caller; [`handle`] runs the operation and
//! renders its XML.
//!
//! ```
//! assert!(keyless_iam::is_iam_action("CreateRole"));
//! assert!(!keyless_iam::is_iam_action("AssumeRole"));
//! assert_eq!(keyless_iam::IAM_VERSION, "2010-05-08");
//! ```
//!
//! * Every call is authorized before it runs: the admin key may do everything; a role session
//!   may do what its permissions (the role's identity policies ∩ its permissions boundary ∩
//!   its session policies) allow
//!   for `iam:<Action>` on the resource IAM scopes that action to (see [`authz`]).
//! * Entities declared in the config file (`ManagedBy::Config`) are read-only through the API:
//!   writes to them fail with `UnmodifiableEntity`, since the next start would undo them.
//! * Reads come from the store, so a caller reads its own writes on any replica; after every
//!   write this replica reloads its live state at once (others within the refresh interval).

#![warn(missing_docs)]

mod outbound;
mod params;
mod policies;
mod providers;
mod render;
mod roles;
mod simulate;

use keyless_node::Node;
use keyless_policy::Context;
use keyless_store::StoreError;
use keyless_sts::Error;
use keyless_sts::auth::Caller;
use keyless_sts::context::RequestEnv;
use keyless_sts::permissions as authz;
use keyless_sts::query::QueryParams;
use keyless_sts::xml::XmlWriter;

/// The IAM API version.
pub const IAM_VERSION: &str = "2010-05-08";

/// Every IAM operation this endpoint serves.
pub const ACTIONS: &[&str] = &[
    "CreateOpenIDConnectProvider",
    "GetOpenIDConnectProvider",
    "ListOpenIDConnectProviders",
    "DeleteOpenIDConnectProvider",
    "UpdateOpenIDConnectProviderThumbprint",
    "AddClientIDToOpenIDConnectProvider",
    "RemoveClientIDFromOpenIDConnectProvider",
    "TagOpenIDConnectProvider",
    "UntagOpenIDConnectProvider",
    "ListOpenIDConnectProviderTags",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "UpdateRole",
    "UpdateAssumeRolePolicy",
    "TagRole",
    "UntagRole",
    "PutRolePolicy",
    "GetRolePolicy",
    "ListRolePolicies",
    "DeleteRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "CreatePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
    "ListPolicyVersions",
    "ListPolicies",
    "DeletePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "SimulatePrincipalPolicy",
    "SimulateCustomPolicy",
    "GetContextKeysForPrincipalPolicy",
    "GetContextKeysForCustomPolicy",
    "EnableOutboundWebIdentityFederation",
    "GetOutboundWebIdentityFederationInfo",
    "DisableOutboundWebIdentityFederation",
];

/// Whether `action` is an IAM operation this endpoint serves.
pub fn is_iam_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

/// Runs one IAM operation for an authenticated caller and renders its XML response.
pub async fn handle(
    node: &Node,
    caller: &Caller,
    action: &str,
    params: &QueryParams<'_>,
    request_id: &str,
    env: &RequestEnv,
) -> Result<String, Error> {
    if let Some(version) = params.version()
        && version != IAM_VERSION
    {
        return Err(Error::invalid_action(action, version));
    }
    let call = Call {
        node,
        caller,
        action,
        params,
        request_id,
        env,
    };
    match action {
        "CreateOpenIDConnectProvider" => providers::create(&call).await,
        "GetOpenIDConnectProvider" => providers::get(&call).await,
        "ListOpenIDConnectProviders" => providers::list(&call).await,
        "DeleteOpenIDConnectProvider" => providers::delete(&call).await,
        "UpdateOpenIDConnectProviderThumbprint" => providers::update_thumbprints(&call).await,
        "AddClientIDToOpenIDConnectProvider" => providers::add_client_id(&call).await,
        "RemoveClientIDFromOpenIDConnectProvider" => providers::remove_client_id(&call).await,
        "TagOpenIDConnectProvider" => providers::tag(&call).await,
        "UntagOpenIDConnectProvider" => providers::untag(&call).await,
        "ListOpenIDConnectProviderTags" => providers::list_tags(&call).await,
        "CreateRole" => roles::create(&call).await,
        "GetRole" => roles::get(&call).await,
        "ListRoles" => roles::list(&call).await,
        "DeleteRole" => roles::delete(&call).await,
        "UpdateRole" => roles::update(&call).await,
        "UpdateAssumeRolePolicy" => roles::update_trust_policy(&call).await,
        "TagRole" => roles::tag(&call).await,
        "UntagRole" => roles::untag(&call).await,
        "PutRolePolicy" => roles::put_inline_policy(&call).await,
        "GetRolePolicy" => roles::get_inline_policy(&call).await,
        "ListRolePolicies" => roles::list_inline_policies(&call).await,
        "DeleteRolePolicy" => roles::delete_inline_policy(&call).await,
        "PutRolePermissionsBoundary" => roles::put_permissions_boundary(&call).await,
        "DeleteRolePermissionsBoundary" => roles::delete_permissions_boundary(&call).await,
        "CreatePolicy" => policies::create(&call).await,
        "GetPolicy" => policies::get(&call).await,
        "GetPolicyVersion" => policies::get_version(&call).await,
        "CreatePolicyVersion" => policies::create_version(&call).await,
        "SetDefaultPolicyVersion" => policies::set_default_version(&call).await,
        "DeletePolicyVersion" => policies::delete_version(&call).await,
        "ListPolicyVersions" => policies::list_versions(&call).await,
        "ListPolicies" => policies::list(&call).await,
        "DeletePolicy" => policies::delete(&call).await,
        "AttachRolePolicy" => policies::attach(&call).await,
        "DetachRolePolicy" => policies::detach(&call).await,
        "ListAttachedRolePolicies" => policies::list_attached(&call).await,
        "SimulatePrincipalPolicy" => simulate::simulate_principal(&call).await,
        "SimulateCustomPolicy" => simulate::simulate_custom(&call).await,
        "GetContextKeysForPrincipalPolicy" => simulate::context_keys_principal(&call).await,
        "GetContextKeysForCustomPolicy" => simulate::context_keys_custom(&call).await,
        "EnableOutboundWebIdentityFederation" => outbound::enable(&call).await,
        "GetOutboundWebIdentityFederationInfo" => outbound::info(&call).await,
        "DisableOutboundWebIdentityFederation" => outbound::disable(&call).await,
        other => Err(Error::invalid_action(other, IAM_VERSION)),
    }
}

/// One IAM call in progress.
struct Call<'a> {
    node: &'a Node,
    caller: &'a Caller,
    action: &'a str,
    params: &'a QueryParams<'a>,
    request_id: &'a str,
    env: &'a RequestEnv,
}

impl Call<'_> {
    /// The account ID.
    fn account(&self) -> &str {
        &self.node.settings.account
    }

    /// Checks that the caller may perform this call's action on `resource`; `context` holds
    /// the request's own condition keys (request tags, the policy ARN, …).
    fn authorize(&self, resource: &str, context: Context) -> Result<(), Error> {
        let live = self.node.live.load();
        let action = format!("iam:{}", self.action);
        keyless_sts::authorization_message::authorize(
            &live.sts,
            self.caller,
            authz::PermissionQuery {
                action: &action,
                resource,
                context,
                env: self.env,
                now: self.node.now(),
                trace: false,
            },
        )
    }

    /// Reloads this replica's live state after a write, so the change applies at once.
    async fn written(&self) {
        if let Err(e) = self.node.refresh().await {
            tracing::warn!(
                action = self.action,
                "reloading the state after a write failed: {e:#}"
            );
        }
    }

    /// A response with result members.
    fn respond(&self, result: &dyn Fn(&mut XmlWriter)) -> String {
        render::with_result(self.action, self.request_id, result)
    }

    /// A response with only `ResponseMetadata`.
    fn respond_empty(&self) -> String {
        render::empty(self.action, self.request_id)
    }
}

/// Maps a store error onto IAM's error codes; the entity errors carry IAM's messages.
fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::NoSuchEntity(m) => Error::NoSuchEntity(m),
        StoreError::EntityAlreadyExists(m) => Error::EntityAlreadyExists(m),
        StoreError::DeleteConflict(m) => Error::DeleteConflict(m),
        StoreError::LimitExceeded(m) => Error::LimitExceeded(m),
        StoreError::InvalidInput(m) => Error::InvalidInput(m),
        other => {
            tracing::error!("IAM store operation failed: {other}");
            Error::ServiceFailure
        }
    }
}

/// Checks that `arn` is a policy ARN of this account; `missing` is the error otherwise.
pub(crate) fn check_policy_arn(
    call: &Call<'_>,
    arn: &str,
    missing: impl FnOnce() -> Error,
) -> Result<(), Error> {
    let (account, _, _) = keyless_sts::arn::parse_policy_arn(arn)
        .ok_or_else(|| invalid_input(format!("ARN {arn} is not valid.")))?;
    if account != call.account() {
        return Err(missing());
    }
    Ok(())
}

/// 400 `InvalidInput`.
fn invalid_input(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// 404 `NoSuchEntity`.
fn no_such_entity(message: impl Into<String>) -> Error {
    Error::NoSuchEntity(message.into())
}

/// 409 `LimitExceeded`.
fn limit_exceeded(message: impl Into<String>) -> Error {
    Error::LimitExceeded(message.into())
}

/// 400 `UnmodifiableEntity`: the entity is declared in the config file.
fn unmodifiable(kind: &'static str, name: &str) -> Error {
    Error::UnmodifiableEntity {
        kind,
        name: name.to_owned(),
    }
}

/// Merges `added` into `tags` (a tag with an existing key, compared ignoring case as IAM does,
/// replaces it). `LimitExceeded` beyond [`params::MAX_TAGS`].
fn merge_tags(
    tags: &mut Vec<keyless_sts::model::Tag>,
    added: Vec<keyless_sts::model::Tag>,
) -> Result<(), Error> {
    check_unique_tag_keys(added.iter().map(|t| t.key.as_str()))?;
    for tag in added {
        match tags
            .iter_mut()
            .find(|t| t.key.eq_ignore_ascii_case(&tag.key))
        {
            Some(existing) => *existing = tag,
            None => tags.push(tag),
        }
    }
    if tags.len() > params::MAX_TAGS {
        return Err(limit_exceeded(format!(
            "The number of tags has reached the maximum limit of {}.",
            params::MAX_TAGS
        )));
    }
    Ok(())
}

/// `InvalidInput` when two keys differ only in case (IAM tag keys are case-insensitive).
fn check_unique_tag_keys<'k>(keys: impl Iterator<Item = &'k str>) -> Result<(), Error> {
    let mut seen: Vec<String> = Vec::new();
    for key in keys {
        let lower = key.to_lowercase();
        if seen.contains(&lower) {
            return Err(invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        seen.push(lower);
    }
    Ok(())
}

/// Removes the tags whose keys are in `keys` (ignoring case).
fn remove_tags(tags: &mut Vec<keyless_sts::model::Tag>, keys: &[String]) {
    tags.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
}

/// `aws:RequestTag/<key>` and `aws:TagKeys` for a request that sets tags.
fn request_tag_context(tags: &[keyless_sts::model::Tag]) -> Context {
    let mut ctx = Context::new();
    if tags.is_empty() {
        return ctx;
    }
    for tag in tags {
        ctx.insert(
            &format!("aws:RequestTag/{}", tag.key),
            keyless_policy::ContextValue::Single(tag.value.clone()),
        );
    }
    ctx.insert(
        "aws:TagKeys",
        keyless_policy::ContextValue::Multi(tags.iter().map(|t| t.key.clone()).collect()),
    );
    ctx
}

/// `aws:TagKeys` for a request that removes tags.
fn tag_keys_context(keys: &[String]) -> Context {
    let mut ctx = Context::new();
    if !keys.is_empty() {
        ctx.insert(
            "aws:TagKeys",
            keyless_policy::ContextValue::Multi(keys.to_vec()),
        );
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyless_sts::model::Tag;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn serves_exactly_the_implemented_actions() {
        assert!(is_iam_action("CreateRole"));
        assert!(is_iam_action("ListOpenIDConnectProviderTags"));
        assert!(!is_iam_action("AssumeRoleWithWebIdentity"));
        assert!(!is_iam_action("CreateUser"));
        assert!(!is_iam_action("createrole"));
    }

    #[test]
    fn tags_merge_by_key_ignoring_case() {
        let mut tags = vec![tag("Team", "a"), tag("env", "prod")];
        merge_tags(&mut tags, vec![tag("team", "b"), tag("owner", "me")]).expect("merge");
        assert_eq!(
            tags,
            vec![tag("team", "b"), tag("env", "prod"), tag("owner", "me")]
        );
        let err = merge_tags(&mut tags, vec![tag("x", "1"), tag("X", "2")]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        let many: Vec<Tag> = (0..48).map(|i| tag(&format!("k{i}"), "v")).collect();
        let err = merge_tags(&mut tags, many).unwrap_err();
        assert_eq!((err.code(), err.status()), ("LimitExceeded", 409));
        remove_tags(&mut tags, &["TEAM".to_owned()]);
        assert!(!tags.iter().any(|t| t.key == "team"));
    }

    #[test]
    fn store_errors_keep_iam_codes_and_hide_internals() {
        let e = store_error(StoreError::DeleteConflict("must detach".to_owned()));
        assert_eq!(
            (e.code(), e.status(), e.message().as_ref()),
            ("DeleteConflict", 409, "must detach")
        );
        let e = store_error(StoreError::Corrupt("secret detail".to_owned()));
        assert_eq!((e.code(), e.status()), ("ServiceFailure", 500));
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn config_entities_are_unmodifiable() {
        let e = unmodifiable("Role", "gitlab-deployer");
        assert_eq!(e.code(), "UnmodifiableEntity");
        assert_eq!(
            e.message(),
            "Role gitlab-deployer is declared in the config file and cannot be modified through the API."
        );
    }
}
