//! Customer-managed policies and their attachment to roles.

use keyless_policy::{Context, ContextValue, ParseOptions, Policy, PolicyErrorKind, PolicyKind};
use keyless_sts::Error;
use keyless_sts::model::{ManagedBy, ManagedPolicy, PolicyVersion};

use super::params::Checker;
use super::render::{self, PolicyDetail};
use super::roles::{modifiable_role, role_resource};
use super::{
    Call, check_policy_arn, check_unique_tag_keys, limit_exceeded, no_such_entity,
    request_tag_context, store_error, unmodifiable,
};

/// IAM's limit on the characters (whitespace excluded) of a managed policy document.
pub(crate) const MANAGED_POLICY_LIMIT: usize = 6144;
/// The only policy language version CreatePolicy accepts.
const POLICY_VERSION: &str = "2012-10-17";

/// Validates a managed policy document as CreatePolicy does.
pub(crate) fn check_managed_policy(doc: &str) -> Result<(), Error> {
    let options = ParseOptions {
        kind: PolicyKind::Identity,
        max_chars: Some(MANAGED_POLICY_LIMIT),
    };
    let policy = Policy::parse(doc, &options).map_err(|e| match e.kind {
        PolicyErrorKind::LimitExceeded => limit_exceeded(format!(
            "Cannot exceed quota for PolicySize: {MANAGED_POLICY_LIMIT}"
        )),
        PolicyErrorKind::Malformed => Error::MalformedPolicyDocument(e.message),
    })?;
    if policy.version() != Some(POLICY_VERSION) {
        return Err(Error::MalformedPolicyDocument(
            "Policy document must be version 2012-10-17 or greater.".to_owned(),
        ));
    }
    Ok(())
}

fn not_found(arn: &str) -> Error {
    no_such_entity(format!("Policy {arn} was not found."))
}

fn not_attachable(arn: &str) -> Error {
    no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

/// The managed policy `arn` names.
async fn find(call: &Call<'_>, arn: &str) -> Result<ManagedPolicy, Error> {
    check_policy_arn(call, arn, || not_found(arn))?;
    call.node.store.get_policy(arn).await.map_err(|e| match e {
        keyless_store::StoreError::NoSuchEntity(_) => not_found(arn),
        other => store_error(other),
    })
}

/// CreatePolicy.
pub(crate) async fn create(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let name = c.name("PolicyName", "policyName", 128);
    let path = c.policy_path("Path", "path");
    let document = c.policy_document("PolicyDocument", "policyDocument");
    let description = c.optional_text("Description", "description", 1000);
    let tags = c.tags("Tags", "tags");
    c.finish()?;
    // IAM authorizes a call before it validates the document it carries.
    let arn = format!("arn:aws:iam::{}:policy{path}{name}", call.account());
    call.authorize(&arn, request_tag_context(&tags))?;
    check_managed_policy(&document)?;
    check_unique_tag_keys(tags.iter().map(|t| t.key.as_str()))?;

    let now = call.node.now();
    let policy = ManagedPolicy {
        name,
        path,
        policy_id: keyless_credentials::ids::new_unique_id("ANPA"),
        description: description.filter(|d| !d.is_empty()),
        versions: vec![PolicyVersion {
            version_id: "v1".to_owned(),
            document,
            is_default: true,
            created: now,
        }],
        tags,
        created: now,
        updated: now,
        managed_by: ManagedBy::Api,
    };
    call.node
        .store
        .create_policy(&policy)
        .await
        .map_err(store_error)?;
    call.written().await;
    let account = call.account();
    Ok(call.respond(&|w| {
        render::policy(
            w,
            "Policy",
            &policy,
            account,
            keyless_store::PolicyUsage::default(),
            PolicyDetail::Created,
        );
    }))
}

/// GetPolicy.
pub(crate) async fn get(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let policy = find(call, &arn).await?;
    let usage = call
        .node
        .store
        .policy_usage(&policy.name)
        .await
        .map_err(store_error)?;
    let account = call.account();
    Ok(call.respond(&|w| {
        render::policy(w, "Policy", &policy, account, usage, PolicyDetail::Full);
    }))
}

/// GetPolicyVersion.
pub(crate) async fn get_version(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    let version_id = c.version_id("VersionId", "versionId");
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let policy = find(call, &arn).await?;
    let version = policy
        .versions
        .iter()
        .find(|v| v.version_id == version_id)
        .ok_or_else(|| {
            no_such_entity(format!("Policy {arn} version {version_id} does not exist."))
        })?;
    Ok(call.respond(&|w| {
        w.open("PolicyVersion")
            .element("Document", &render::url_encode(&version.document))
            .element("VersionId", &version.version_id)
            .element(
                "IsDefaultVersion",
                if version.is_default { "true" } else { "false" },
            )
            .element("CreateDate", &keyless_sts::time::iso8601(version.created))
            .close("PolicyVersion");
    }))
}

/// The managed policy `arn` names, if it may be changed through the API.
async fn find_modifiable(call: &Call<'_>, arn: &str) -> Result<ManagedPolicy, Error> {
    let policy = find(call, arn).await?;
    if policy.managed_by == ManagedBy::Config {
        return Err(unmodifiable("Policy", &policy.name));
    }
    Ok(policy)
}

fn render_version(w: &mut keyless_sts::xml::XmlWriter, tag: &str, version: &PolicyVersion) {
    w.open(tag)
        .element("VersionId", &version.version_id)
        .element(
            "IsDefaultVersion",
            if version.is_default { "true" } else { "false" },
        )
        .element("CreateDate", &keyless_sts::time::iso8601(version.created))
        .close(tag);
}

/// CreatePolicyVersion: a new version (`v<N>`, numbered after every version the policy ever
/// had), the default if asked; at most five versions.
pub(crate) async fn create_version(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    let document = c.policy_document("PolicyDocument", "policyDocument");
    let set_as_default = c.boolean("SetAsDefault", "setAsDefault").unwrap_or(false);
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    check_managed_policy(&document)?;
    find_modifiable(call, &arn).await?;
    let version = call
        .node
        .store
        .create_policy_version(&arn, &document, set_as_default, call.node.now())
        .await
        .map_err(|e| match e {
            keyless_store::StoreError::NoSuchEntity(_) => not_found(&arn),
            other => store_error(other),
        })?;
    call.written().await;
    Ok(call.respond(&|w| render_version(w, "PolicyVersion", &version)))
}

/// SetDefaultPolicyVersion.
pub(crate) async fn set_default_version(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    let version_id = c.version_id("VersionId", "versionId");
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    find_modifiable(call, &arn).await?;
    call.node
        .store
        .set_default_policy_version(&arn, &version_id, call.node.now())
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// DeletePolicyVersion: any version but the default.
pub(crate) async fn delete_version(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    let version_id = c.version_id("VersionId", "versionId");
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    find_modifiable(call, &arn).await?;
    call.node
        .store
        .delete_policy_version(&arn, &version_id)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// ListPolicyVersions, newest first (as IAM lists them).
pub(crate) async fn list_versions(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    let paging = c.paging();
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let after = paging.after()?;
    let mut versions = find(call, &arn).await?.versions;
    versions.sort_by_key(|v| std::cmp::Reverse(version_number(&v.version_id)));
    if let Some(after) = &after {
        let after = version_number(after);
        versions.retain(|v| version_number(&v.version_id) < after);
    }
    let page = paging.cut(versions, |v| v.version_id.as_str());
    Ok(call.respond(&|w| {
        w.open("Versions");
        for version in &page.items {
            render_version(w, "member", version);
        }
        w.close("Versions");
        render::truncation(w, page.next_marker.as_deref());
    }))
}

/// The number of a version ID (`v12` → 12); 0 for one that is not of that form.
fn version_number(version_id: &str) -> u64 {
    version_id
        .strip_prefix('v')
        .and_then(|n| n.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// ListPolicies: the customer-managed policies (`Scope` `AWS` lists none: there are no
/// AWS-managed policies here), ordered by name.
pub(crate) async fn list(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let scope = c.one_of("Scope", "scope", &["All", "AWS", "Local"]);
    let only_attached = c.boolean("OnlyAttached", "onlyAttached").unwrap_or(false);
    let prefix = c.policy_path_prefix("PathPrefix", "pathPrefix");
    let usage = c.one_of(
        "PolicyUsageFilter",
        "policyUsageFilter",
        &["PermissionsPolicy", "PermissionsBoundary"],
    );
    let paging = c.paging();
    c.finish()?;
    call.authorize("*", Context::new())?;
    let account = call.account();
    let after = paging.after()?;
    let listed =
        if scope.as_deref() == Some("AWS") || usage.as_deref() == Some("PermissionsBoundary") {
            Vec::new()
        } else {
            call.node
                .store
                .list_policies_page(prefix.as_deref(), only_attached, paging.request(&after))
                .await
                .map_err(store_error)?
        };
    let page = paging.cut(listed, |l| l.policy.name.as_str());
    Ok(call.respond(&|w| {
        w.open("Policies");
        for listed in &page.items {
            render::policy(
                w,
                "member",
                &listed.policy,
                account,
                listed.usage,
                PolicyDetail::Listed,
            );
        }
        w.close("Policies");
        render::truncation(w, page.next_marker.as_deref());
    }))
}

/// DeletePolicy: refused while attached.
pub(crate) async fn delete(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn("PolicyArn", "policyArn");
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let policy = find(call, &arn).await?;
    if policy.managed_by == ManagedBy::Config {
        return Err(unmodifiable("Policy", &policy.name));
    }
    call.node
        .store
        .delete_policy(&arn)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// Authorizes an attachment change on the role, with `iam:PolicyARN` in the context.
fn authorize_attachment(call: &Call<'_>, role_name: &str, arn: &str) -> Result<(), Error> {
    let (role_arn, mut ctx) = role_resource(call, role_name);
    ctx.insert("iam:PolicyARN", ContextValue::Single(arn.to_owned()));
    call.authorize(&role_arn, ctx)
}

/// AttachRolePolicy: attaching an attached policy changes nothing.
pub(crate) async fn attach(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let arn = c.arn("PolicyArn", "policyArn");
    c.finish()?;
    check_policy_arn(call, &arn, || not_attachable(&arn))?;
    authorize_attachment(call, &role_name, &arn)?;
    modifiable_role(call, &role_name).await?;
    call.node
        .store
        .attach_role_policy(&role_name, &arn)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// DetachRolePolicy.
pub(crate) async fn detach(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let arn = c.arn("PolicyArn", "policyArn");
    c.finish()?;
    check_policy_arn(call, &arn, || {
        no_such_entity(format!("Policy {arn} was not found."))
    })?;
    authorize_attachment(call, &role_name, &arn)?;
    modifiable_role(call, &role_name).await?;
    call.node
        .store
        .detach_role_policy(&role_name, &arn)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// ListAttachedRolePolicies, ordered by policy name.
pub(crate) async fn list_attached(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let role_name = c.name("RoleName", "roleName", 64);
    let prefix = c.policy_path_prefix("PathPrefix", "pathPrefix");
    let paging = c.paging();
    c.finish()?;
    let (role_arn, ctx) = role_resource(call, &role_name);
    call.authorize(&role_arn, ctx)?;
    let after = paging.after()?;
    let attached = call
        .node
        .store
        .list_attached_role_policies_page(&role_name, prefix.as_deref(), paging.request(&after))
        .await
        .map_err(store_error)?;
    let page = paging.cut(attached, |(name, _)| name.as_str());
    Ok(call.respond(&|w| {
        w.open("AttachedPolicies");
        for (name, attachment) in &page.items {
            w.open("member")
                .element("PolicyName", name)
                .element("PolicyArn", &attachment.policy_arn)
                .close("member");
        }
        w.close("AttachedPolicies");
        render::truncation(w, page.next_marker.as_deref());
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policies_must_use_the_current_language_version() {
        let old = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let err = check_managed_policy(old).unwrap_err();
        assert_eq!(err.code(), "MalformedPolicyDocument");
        assert_eq!(
            err.message(),
            "Policy document must be version 2012-10-17 or greater."
        );
        let none = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(check_managed_policy(none).is_err());
        let err = check_managed_policy("{").unwrap_err();
        assert_eq!(err.message(), "Syntax errors in policy.");
        let good = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(check_managed_policy(good).is_ok());
    }

    #[test]
    fn managed_policies_are_limited_to_6144_characters() {
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "b".repeat(6144)
        );
        let err = check_managed_policy(&big).unwrap_err();
        assert_eq!((err.code(), err.status()), ("LimitExceeded", 409));
    }
}
