//! Roles and their inline policies.

use keyless_policy::{
    Context, ContextValue, ParseOptions, Policy, PolicyErrorKind, PolicyKind, PrincipalType,
};
use keyless_sts::Error;
use keyless_sts::model::{ManagedBy, Role, RolePolicy};

use super::params::Checker;
use super::render::{self, RoleDetail};
use super::{
    Call, check_policy_arn, check_unique_tag_keys, limit_exceeded, merge_tags, no_such_entity,
    remove_tags, request_tag_context, store_error, tag_keys_context, unmodifiable,
};

/// IAM's limit on the characters (whitespace excluded) of all inline policies of one role.
pub(crate) const ROLE_INLINE_POLICY_LIMIT: usize = 10_240;
/// IAM's default quota on the characters (whitespace excluded) of a role trust policy.
pub(crate) const TRUST_POLICY_LIMIT: usize = 2048;

use keyless_policy::policy_size;

/// Validates a trust policy as IAM does before storing it, and returns it parsed.
pub(crate) fn check_trust_policy(doc: &str) -> Result<Policy, Error> {
    let options = ParseOptions {
        kind: PolicyKind::Trust,
        max_chars: Some(TRUST_POLICY_LIMIT),
    };
    match Policy::parse(doc, &options) {
        Ok(policy) => Ok(policy),
        Err(e) if e.kind == PolicyErrorKind::LimitExceeded => Err(limit_exceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_LIMIT}"
        ))),
        Err(e) => Err(Error::MalformedPolicyDocument(e.message)),
    }
}

/// Refuses, as IAM does, a trust policy whose `Federated` principal is an ARN that names no
/// OIDC provider of this account: `Invalid principal in policy: "Federated":"<arn>"`. Built-in
/// identity provider names (`accounts.google.com`, `cognito-identity.amazonaws.com`, …) are not
/// ARNs and pass.
async fn check_federated_principals(call: &Call<'_>, policy: &Policy) -> Result<(), Error> {
    let named: Vec<&str> = policy
        .statements()
        .iter()
        .filter_map(|statement| statement.principal())
        .flat_map(|principal| principal.values())
        .filter(|value| value.principal_type() == PrincipalType::Federated)
        .map(|value| value.value().text())
        .filter(|text| text.starts_with("arn:"))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let mut unknown = None;
    for arn in named {
        let known = match keyless_sts::arn::parse_provider_arn(arn) {
            Some((account, host_path)) if account == call.account() => call
                .node
                .store
                .has_provider(host_path)
                .await
                .map_err(store_error)?,
            _ => false,
        };
        if !known {
            unknown = Some(arn);
            break;
        }
    }
    match unknown {
        Some(unknown) => Err(Error::MalformedPolicyDocument(format!(
            "Invalid principal in policy: \"Federated\":\"{unknown}\""
        ))),
        None => Ok(()),
    }
}

fn inline_limit_exceeded(role: &str) -> Error {
    limit_exceeded(format!(
        "Maximum policy size of {ROLE_INLINE_POLICY_LIMIT} bytes exceeded for role {role}"
    ))
}

/// Validates an inline permission policy of `role`.
fn check_inline_policy(doc: &str, role: &str) -> Result<(), Error> {
    let options = ParseOptions {
        kind: PolicyKind::Identity,
        max_chars: Some(ROLE_INLINE_POLICY_LIMIT),
    };
    match Policy::parse(doc, &options) {
        Ok(_) => Ok(()),
        Err(e) if e.kind == PolicyErrorKind::LimitExceeded => Err(inline_limit_exceeded(role)),
        Err(e) => Err(Error::MalformedPolicyDocument(e.message)),
    }
}

/// The ARN of role `name` for authorization (its real path when it exists, `/` otherwise),
/// and `aws:ResourceTag/*` of the existing role.
pub(crate) fn role_resource(call: &Call<'_>, name: &str) -> (String, Context) {
    let live = call.node.live.load();
    let mut ctx = Context::new();
    match live.sts.roles.get(name) {
        Some(role) => {
            for tag in &role.model.tags {
                ctx.insert(
                    &format!("aws:ResourceTag/{}", tag.key),
                    ContextValue::Single(tag.value.clone()),
                );
            }
            (role.arn.clone(), ctx)
        }
        None => (format!("arn:aws:iam::{}:role/{name}", call.account()), ctx),
    }
}

/// Authorizes the call on role `name`, adding `extra` to the request context.
fn authorize_on_role(call: &Call<'_>, name: &str, extra: Context) -> Result<(), Error> {
    let (arn, mut ctx) = role_resource(call, name);
    for (key, value) in extra.iter() {
        ctx.insert(key, value.clone());
    }
    call.authorize(&arn, ctx)
}

/// The role `name`, refused when it is declared in the config file.
pub(crate) async fn modifiable_role(call: &Call<'_>, name: &str) -> Result<Role, Error> {
    let role = call.node.store.get_role(name).await.map_err(store_error)?;
    if role.managed_by == ManagedBy::Config {
        return Err(unmodifiable("Role", &role.name));
    }
    Ok(role)
}

async fn save(call: &Call<'_>, role: &Role) -> Result<(), Error> {
    call.node
        .store
        .update_role(role)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(())
}

/// CreateRole.
pub(crate) async fn create(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let path = c.role_path("Path", "path");
    let name = c.name("RoleName", "roleName", 64);
    let trust_policy = c.policy_document("AssumeRolePolicyDocument", "assumeRolePolicyDocument");
    let description = c.role_description("Description", "description");
    let max_session_duration = c.integer("MaxSessionDuration", "maxSessionDuration", 3600, 43_200);
    let tags = c.tags("Tags", "tags");
    let boundary = c.optional_arn("PermissionsBoundary", "permissionsBoundary");
    c.finish()?;
    // IAM authorizes a call before it validates the documents it carries.
    let arn = format!("arn:aws:iam::{}:role{path}{name}", call.account());
    let mut ctx = request_tag_context(&tags);
    if let Some(boundary) = &boundary {
        ctx.insert(
            "iam:PermissionsBoundary",
            ContextValue::Single(boundary.clone()),
        );
    }
    call.authorize(&arn, ctx)?;
    if let Some(boundary) = &boundary {
        check_policy_arn(call, boundary, || no_such_boundary(boundary))?;
    }
    let parsed_trust = check_trust_policy(&trust_policy)?;
    check_unique_tag_keys(tags.iter().map(|t| t.key.as_str()))?;
    check_federated_principals(call, &parsed_trust).await?;

    let role = Role {
        name,
        path,
        role_id: keyless_credentials::ids::new_unique_id("AROA"),
        trust_policy,
        description: description.filter(|d| !d.is_empty()),
        max_session_duration: max_session_duration
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(3600),
        permissions_boundary: boundary,
        tags,
        created: call.node.now(),
        managed_by: ManagedBy::Api,
    };
    call.node
        .store
        .create_role(&role)
        .await
        .map_err(store_error)?;
    call.written().await;
    let account = call.account();
    Ok(call.respond(&|w| render::role(w, "Role", &role, account, RoleDetail::Full)))
}

/// NoSuchEntity for a permissions boundary that names no managed policy, as IAM words it.
fn no_such_boundary(arn: &str) -> Error {
    no_such_entity(format!(
        "Scope ARN: {arn} does not exist or is not attachable."
    ))
}

/// PutRolePermissionsBoundary: sets (or replaces) the managed policy that bounds the role's
/// permissions.
pub(crate) async fn put_permissions_boundary(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    let boundary = c.arn("PermissionsBoundary", "permissionsBoundary");
    c.finish()?;
    let mut ctx = Context::new();
    ctx.insert(
        "iam:PermissionsBoundary",
        ContextValue::Single(boundary.clone()),
    );
    authorize_on_role(call, &name, ctx)?;
    check_policy_arn(call, &boundary, || no_such_boundary(&boundary))?;
    modifiable_role(call, &name).await?;
    call.node
        .store
        .set_role_permissions_boundary(&name, Some(&boundary))
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// DeleteRolePermissionsBoundary: the role is bounded no more (a role without a boundary is
/// left as it is).
pub(crate) async fn delete_permissions_boundary(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    c.finish()?;
    authorize_on_role(call, &name, Context::new())?;
    let role = modifiable_role(call, &name).await?;
    if role.permissions_boundary.is_some() {
        call.node
            .store
            .set_role_permissions_boundary(&name, None)
            .await
            .map_err(store_error)?;
        call.written().await;
    }
    Ok(call.respond_empty())
}

/// GetRole.
pub(crate) async fn get(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    c.finish()?;
    authorize_on_role(call, &name, Context::new())?;
    let role = call.node.store.get_role(&name).await.map_err(store_error)?;
    let account = call.account();
    Ok(call.respond(&|w| render::role(w, "Role", &role, account, RoleDetail::Full)))
}

/// ListRoles, ordered by name.
pub(crate) async fn list(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let prefix = c.path_prefix("PathPrefix", "pathPrefix");
    let paging = c.paging();
    c.finish()?;
    call.authorize("*", Context::new())?;
    let after = paging.after()?;
    let roles = call
        .node
        .store
        .list_roles_page(prefix.as_deref(), paging.request(&after))
        .await
        .map_err(store_error)?;
    let page = paging.cut(roles, |r| r.name.as_str());
    let account = call.account();
    Ok(call.respond(&|w| {
        w.open("Roles");
        for role in &page.items {
            render::role(w, "member", role, account, RoleDetail::Listed);
        }
        w.close("Roles");
        render::truncation(w, page.next_marker.as_deref());
    }))
}

/// DeleteRole: refused while the role has inline or attached policies.
pub(crate) async fn delete(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    c.finish()?;
    authorize_on_role(call, &name, Context::new())?;
    modifiable_role(call, &name).await?;
    call.node
        .store
        .delete_role(&name)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// UpdateRole: the description and the maximum session duration.
pub(crate) async fn update(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    let description = c.role_description("Description", "description");
    let max_session_duration = c.integer("MaxSessionDuration", "maxSessionDuration", 3600, 43_200);
    c.finish()?;
    authorize_on_role(call, &name, Context::new())?;
    let mut role = modifiable_role(call, &name).await?;
    if let Some(description) = description {
        role.description = Some(description).filter(|d| !d.is_empty());
    }
    if let Some(duration) = max_session_duration.and_then(|d| u32::try_from(d).ok()) {
        role.max_session_duration = duration;
    }
    save(call, &role).await?;
    Ok(call.respond(&|_| {}))
}

/// UpdateAssumeRolePolicy.
pub(crate) async fn update_trust_policy(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    let document = c.policy_document("PolicyDocument", "policyDocument");
    c.finish()?;
    authorize_on_role(call, &name, Context::new())?;
    let parsed = check_trust_policy(&document)?;
    check_federated_principals(call, &parsed).await?;
    let mut role = modifiable_role(call, &name).await?;
    role.trust_policy = document;
    save(call, &role).await?;
    Ok(call.respond_empty())
}

/// TagRole.
pub(crate) async fn tag(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    let tags = c.tags("Tags", "tags");
    c.finish()?;
    authorize_on_role(call, &name, request_tag_context(&tags))?;
    let mut role = modifiable_role(call, &name).await?;
    merge_tags(&mut role.tags, tags)?;
    save(call, &role).await?;
    Ok(call.respond_empty())
}

/// UntagRole.
pub(crate) async fn untag(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("RoleName", "roleName", 64);
    let keys = c.tag_keys("TagKeys", "tagKeys");
    c.finish()?;
    authorize_on_role(call, &name, tag_keys_context(&keys))?;
    let mut role = modifiable_role(call, &name).await?;
    remove_tags(&mut role.tags, &keys);
    save(call, &role).await?;
    Ok(call.respond_empty())
}

/// PutRolePolicy: creates or replaces an inline policy, within the role's aggregate limit.
pub(crate) async fn put_inline_policy(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let policy_name = c.name("PolicyName", "policyName", 128);
    let document = c.policy_document("PolicyDocument", "policyDocument");
    c.finish()?;
    authorize_on_role(call, &role_name, Context::new())?;
    check_inline_policy(&document, &role_name)?;
    let role = modifiable_role(call, &role_name).await?;
    let store = &call.node.store;
    let mut total = policy_size(&document);
    for other in store
        .list_role_policies(&role.name)
        .await
        .map_err(store_error)?
    {
        if other != policy_name {
            let existing = store
                .get_role_policy(&role.name, &other)
                .await
                .map_err(store_error)?;
            total += policy_size(&existing.document);
        }
    }
    if total > ROLE_INLINE_POLICY_LIMIT {
        return Err(inline_limit_exceeded(&role.name));
    }
    store
        .put_role_policy(&RolePolicy {
            role_name: role.name,
            policy_name,
            document,
        })
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// GetRolePolicy.
pub(crate) async fn get_inline_policy(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let policy_name = c.name("PolicyName", "policyName", 128);
    c.finish()?;
    authorize_on_role(call, &role_name, Context::new())?;
    let policy = call
        .node
        .store
        .get_role_policy(&role_name, &policy_name)
        .await
        .map_err(store_error)?;
    Ok(call.respond(&|w| {
        w.element("RoleName", &policy.role_name)
            .element("PolicyName", &policy.policy_name)
            .element("PolicyDocument", &render::url_encode(&policy.document));
    }))
}

/// ListRolePolicies, ordered by name.
pub(crate) async fn list_inline_policies(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let paging = c.paging();
    c.finish()?;
    authorize_on_role(call, &role_name, Context::new())?;
    let after = paging.after()?;
    let names = call
        .node
        .store
        .list_role_policies_page(&role_name, paging.request(&after))
        .await
        .map_err(store_error)?;
    let page = paging.cut(names, String::as_str);
    Ok(call.respond(&|w| {
        w.members("PolicyNames", page.items.iter().map(String::as_str));
        render::truncation(w, page.next_marker.as_deref());
    }))
}

/// DeleteRolePolicy.
pub(crate) async fn delete_inline_policy(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let policy_name = c.name("PolicyName", "policyName", 128);
    c.finish()?;
    authorize_on_role(call, &role_name, Context::new())?;
    modifiable_role(call, &role_name).await?;
    call.node
        .store
        .delete_role_policy(&role_name, &policy_name)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_ignores_whitespace_between_tokens_only() {
        assert_eq!(
            policy_size("{ \"a b\" :\n\t[ 1 , 2 ] }"),
            "{\"a b\":[1,2]}".len()
        );
        assert_eq!(policy_size(r#"{"q":"x\" y"}"#), r#"{"q":"x\" y"}"#.len());
    }

    #[test]
    fn trust_policies_are_validated_with_iam_messages() {
        let err = check_trust_policy("not json").unwrap_err();
        assert_eq!(err.code(), "MalformedPolicyDocument");
        assert_eq!(err.message(), "This policy contains invalid Json");
        let with_resource = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"Federated":"arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
            "Action":"sts:AssumeRoleWithWebIdentity","Resource":"*"}]}"#;
        let err = check_trust_policy(with_resource).unwrap_err();
        assert_eq!(err.code(), "MalformedPolicyDocument");
        assert_eq!(err.message(), "Has prohibited field Resource");
        let padded = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow",
            "Principal":{{"Federated":"arn:aws:iam::000000000000:oidc-provider/gitlab.com"}},
            "Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#,
            "A".repeat(2048)
        );
        let err = check_trust_policy(&padded).unwrap_err();
        assert_eq!((err.code(), err.status()), ("LimitExceeded", 409));
    }

    #[test]
    fn inline_policies_are_identity_policies() {
        let err = check_inline_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
            "r",
        )
        .unwrap_err();
        assert_eq!(err.message(), "Policy statement must contain resources.");
        assert!(
            check_inline_policy(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
                "r"
            )
            .is_ok()
        );
    }
}
