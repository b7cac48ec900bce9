//! Outbound identity federation's switch: `EnableOutboundWebIdentityFederation`,
//! `GetOutboundWebIdentityFederationInfo`, `DisableOutboundWebIdentityFederation`. They take no
//! parameters and no resource (`*`). The issuer URL is the node's `[outbound] issuer_url`, the
//! same across disable and enable, since relying parties pin it.

use keyless_policy::Context;
use keyless_sts::Error;
use keyless_sts::xml::XmlWriter;

use crate::{Call, store_error};

/// `EnableOutboundWebIdentityFederation`: `FeatureEnabled` when it is on already.
pub(crate) async fn enable(call: &Call<'_>) -> Result<String, Error> {
    call.authorize("*", Context::new())?;
    let changed = call
        .node
        .store
        .set_outbound_federation(true, call.node.now())
        .await
        .map_err(store_error)?;
    if !changed {
        return Err(Error::FeatureEnabled);
    }
    call.written().await;
    let issuer = &call.node.settings.outbound.issuer;
    Ok(call.respond(&|w: &mut XmlWriter| {
        w.element("IssuerIdentifier", issuer);
    }))
}

/// `GetOutboundWebIdentityFederationInfo`: `FeatureDisabled` if never enabled; after a
/// disable, the issuer with `JwtVendingEnabled` false.
pub(crate) async fn info(call: &Call<'_>) -> Result<String, Error> {
    call.authorize("*", Context::new())?;
    let Some(federation) = call
        .node
        .store
        .outbound_federation()
        .await
        .map_err(store_error)?
    else {
        return Err(Error::FeatureDisabled);
    };
    let issuer = &call.node.settings.outbound.issuer;
    Ok(call.respond(&|w: &mut XmlWriter| {
        w.element("IssuerIdentifier", issuer).element(
            "JwtVendingEnabled",
            if federation.enabled { "true" } else { "false" },
        );
    }))
}

/// `DisableOutboundWebIdentityFederation`: `FeatureDisabled` when it is off already. Tokens
/// issued before keep verifying: the keys stay published.
pub(crate) async fn disable(call: &Call<'_>) -> Result<String, Error> {
    call.authorize("*", Context::new())?;
    let changed = call
        .node
        .store
        .set_outbound_federation(false, call.node.now())
        .await
        .map_err(store_error)?;
    if !changed {
        return Err(Error::FeatureDisabled);
    }
    call.written().await;
    Ok(call.respond_empty())
}
