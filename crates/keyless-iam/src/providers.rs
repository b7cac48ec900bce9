//! OIDC identity providers: CreateOpenIDConnectProvider and friends.

use keyless_policy::Context;
use keyless_sts::Error;
use keyless_sts::model::{
    ConditionKeyMode, KeySource, ManagedBy, OidcProvider, provider_arn, strip_scheme,
};
use keyless_sts::time::iso8601;

use super::params::Checker;
use super::{
    Call, invalid_input, limit_exceeded, merge_tags, no_such_entity, remove_tags, render,
    request_tag_context, store_error, tag_keys_context, unmodifiable,
};

/// IAM's quota of OIDC providers per account.
pub(crate) const MAX_PROVIDERS: usize = 100;
/// IAM's quota of client IDs per provider.
pub(crate) const MAX_CLIENT_IDS: usize = 100;
/// IAM's quota of thumbprints per provider.
pub(crate) const MAX_THUMBPRINTS: usize = 5;

const ARN_PARAM: &str = "OpenIDConnectProviderArn";
const ARN_MEMBER: &str = "openIDConnectProviderArn";

fn not_found(arn: &str) -> Error {
    no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// The provider an ARN names, from the store.
async fn find(call: &Call<'_>, arn: &str) -> Result<OidcProvider, Error> {
    let (account, host_path) = keyless_sts::arn::parse_provider_arn(arn)
        .ok_or_else(|| invalid_input(format!("ARN {arn} is not valid.")))?;
    if account != call.account() {
        return Err(not_found(arn));
    }
    call.node
        .store
        .list_providers()
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|p| p.host_path() == host_path)
        .ok_or_else(|| not_found(arn))
}

/// The provider an ARN names, refused when it is declared in the config file.
async fn find_modifiable(call: &Call<'_>, arn: &str) -> Result<OidcProvider, Error> {
    let provider = find(call, arn).await?;
    if provider.managed_by == ManagedBy::Config {
        return Err(unmodifiable("OpenIDConnect provider", provider.host_path()));
    }
    Ok(provider)
}

/// Checks thumbprints: at most [`MAX_THUMBPRINTS`], each 40 hexadecimal characters.
fn check_thumbprints(thumbprints: &[String]) -> Result<(), Error> {
    if thumbprints.len() > MAX_THUMBPRINTS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}"
        )));
    }
    if let Some(bad) = thumbprints
        .iter()
        .find(|t| !t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(invalid_input(format!(
            "Thumbprint {bad} is not a SHA-1 thumbprint of 40 hexadecimal characters."
        )));
    }
    Ok(())
}

fn check_client_id_count(count: usize) -> Result<(), Error> {
    if count > MAX_CLIENT_IDS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
        )));
    }
    Ok(())
}

/// Stores a changed provider and reloads.
async fn save(call: &Call<'_>, provider: &OidcProvider) -> Result<String, Error> {
    call.node
        .store
        .update_provider(provider)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// CreateOpenIDConnectProvider.
pub(crate) async fn create(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let url = c.required_text("Url", "url", 1, 255);
    let client_ids = c.string_list("ClientIDList", "clientIDList", 1, 255);
    let thumbprints = c.string_list("ThumbprintList", "thumbprintList", 40, 40);
    let tags = c.tags("Tags", "tags");
    c.finish()?;
    // IAM authorizes a call before it validates what it carries.
    let arn = provider_arn(call.account(), strip_scheme(&url));
    call.authorize(&arn, request_tag_context(&tags))?;
    keyless_node::config::check_url(&url, false).map_err(|reason| {
        invalid_input(format!("Invalid OpenID Connect provider URL: {reason}"))
    })?;
    check_client_id_count(client_ids.len())?;
    check_thumbprints(&thumbprints)?;
    super::check_unique_tag_keys(tags.iter().map(|t| t.key.as_str()))?;

    let existing = call
        .node
        .store
        .list_providers()
        .await
        .map_err(store_error)?;
    if existing.iter().any(|p| p.host_path() == strip_scheme(&url)) {
        return Err(Error::EntityAlreadyExists(format!(
            "Provider with url {url} already exists."
        )));
    }
    if existing.len() >= MAX_PROVIDERS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}"
        )));
    }
    let mut unique_client_ids: Vec<String> = Vec::with_capacity(client_ids.len());
    for id in client_ids {
        if !unique_client_ids.contains(&id) {
            unique_client_ids.push(id);
        }
    }
    let provider = OidcProvider {
        url,
        client_ids: unique_client_ids,
        thumbprints: thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect(),
        key_source: KeySource::Discovery,
        condition_keys: ConditionKeyMode::All,
        allow_insecure_http: false,
        ca_bundle: None,
        tags,
        created: call.node.now(),
        managed_by: ManagedBy::Api,
    };
    call.node
        .store
        .create_provider(&provider)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond(&|w| {
        w.element("OpenIDConnectProviderArn", &arn);
        if !provider.tags.is_empty() {
            render::tags(w, &provider.tags);
        }
    }))
}

/// GetOpenIDConnectProvider.
pub(crate) async fn get(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let provider = find(call, &arn).await?;
    Ok(call.respond(&|w| {
        w.element("Url", provider.host_path())
            .members(
                "ClientIDList",
                provider.client_ids.iter().map(String::as_str),
            )
            .members(
                "ThumbprintList",
                provider.thumbprints.iter().map(String::as_str),
            )
            .element("CreateDate", &iso8601(provider.created));
        render::tags(w, &provider.tags);
    }))
}

/// ListOpenIDConnectProviders.
pub(crate) async fn list(call: &Call<'_>) -> Result<String, Error> {
    call.authorize("*", Context::new())?;
    let providers = call
        .node
        .store
        .list_providers()
        .await
        .map_err(store_error)?;
    let account = call.account();
    let arns: Vec<String> = providers.iter().map(|p| p.arn(account)).collect();
    Ok(call.respond(&|w| {
        w.open("OpenIDConnectProviderList");
        for arn in &arns {
            w.open("member").element("Arn", arn).close("member");
        }
        w.close("OpenIDConnectProviderList");
    }))
}

/// DeleteOpenIDConnectProvider.
pub(crate) async fn delete(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let provider = find_modifiable(call, &arn).await?;
    call.node
        .store
        .delete_provider(&provider.url)
        .await
        .map_err(store_error)?;
    call.written().await;
    Ok(call.respond_empty())
}

/// UpdateOpenIDConnectProviderThumbprint: replaces the whole list.
pub(crate) async fn update_thumbprints(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    let listed = c.has_list("ThumbprintList");
    let thumbprints = c.string_list("ThumbprintList", "thumbprintList", 40, 40);
    c.finish()?;
    if !listed {
        return Err(Error::Validation(
            "1 validation error detected: Value null at 'thumbprintList' failed to satisfy \
             constraint: Member must not be null"
                .to_owned(),
        ));
    }
    call.authorize(&arn, Context::new())?;
    check_thumbprints(&thumbprints)?;
    let mut provider = find_modifiable(call, &arn).await?;
    provider.thumbprints = thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect();
    save(call, &provider).await
}

/// AddClientIDToOpenIDConnectProvider: adding a present client ID changes nothing.
pub(crate) async fn add_client_id(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    let client_id = c.required_text("ClientID", "clientID", 1, 255);
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let mut provider = find_modifiable(call, &arn).await?;
    if provider.client_ids.contains(&client_id) {
        return Ok(call.respond_empty());
    }
    check_client_id_count(provider.client_ids.len() + 1)?;
    provider.client_ids.push(client_id);
    save(call, &provider).await
}

/// RemoveClientIDFromOpenIDConnectProvider: removing an absent client ID changes nothing.
pub(crate) async fn remove_client_id(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    let client_id = c.required_text("ClientID", "clientID", 1, 255);
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let mut provider = find_modifiable(call, &arn).await?;
    if !provider.client_ids.contains(&client_id) {
        return Ok(call.respond_empty());
    }
    provider.client_ids.retain(|id| *id != client_id);
    save(call, &provider).await
}

/// TagOpenIDConnectProvider.
pub(crate) async fn tag(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    let tags = c.tags("Tags", "tags");
    c.finish()?;
    call.authorize(&arn, request_tag_context(&tags))?;
    let mut provider = find_modifiable(call, &arn).await?;
    merge_tags(&mut provider.tags, tags)?;
    save(call, &provider).await
}

/// UntagOpenIDConnectProvider.
pub(crate) async fn untag(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    let keys = c.tag_keys("TagKeys", "tagKeys");
    c.finish()?;
    call.authorize(&arn, tag_keys_context(&keys))?;
    let mut provider = find_modifiable(call, &arn).await?;
    remove_tags(&mut provider.tags, &keys);
    save(call, &provider).await
}

/// ListOpenIDConnectProviderTags.
pub(crate) async fn list_tags(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let arn = c.arn(ARN_PARAM, ARN_MEMBER);
    let paging = c.paging();
    c.finish()?;
    call.authorize(&arn, Context::new())?;
    let provider = find(call, &arn).await?;
    let page = paging.page(provider.tags, |t| t.key.as_str())?;
    Ok(call.respond(&|w| {
        render::tags(w, &page.items);
        render::truncation(w, page.next_marker.as_deref());
    }))
}
