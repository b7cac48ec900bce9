//! The XML success responses of the STS operations, in the element order of real AWS
//! responses.

use crate::assume_role::AssumeRoleGrant;
use crate::auth::Caller;
use crate::mint::Minted;
use crate::time::iso8601;
use crate::web_identity::Grant;
use crate::xml::{self, XmlWriter};

/// The `AssumeRoleWithWebIdentity` response.
pub fn web_identity(grant: &Grant, request_id: &str) -> String {
    let m = &grant.minted;
    xml::success(
        "AssumeRoleWithWebIdentity",
        xml::STS_NAMESPACE,
        request_id,
        m.session_token.len() + 768,
        Some(&|w: &mut XmlWriter| {
            w.element("Audience", &grant.audience);
            assumed_role_user(w, m);
            w.element("Provider", &grant.provider_arn);
            credentials(w, m);
            w.element("SubjectFromWebIdentityToken", &grant.subject);
            packed_policy_size(w, m);
            w.optional("SourceIdentity", m.source_identity.as_deref());
        }),
    )
}

/// The `AssumeRole` response.
pub fn assume_role(grant: &AssumeRoleGrant, request_id: &str) -> String {
    let m = &grant.minted;
    xml::success(
        "AssumeRole",
        xml::STS_NAMESPACE,
        request_id,
        m.session_token.len() + 512,
        Some(&|w: &mut XmlWriter| {
            assumed_role_user(w, m);
            credentials(w, m);
            packed_policy_size(w, m);
            w.optional("SourceIdentity", m.source_identity.as_deref());
        }),
    )
}

/// The `GetCallerIdentity` response.
pub fn caller_identity(caller: &Caller, request_id: &str) -> String {
    let arn = caller.arn();
    let user_id = caller.user_id();
    xml::success(
        "GetCallerIdentity",
        xml::STS_NAMESPACE,
        request_id,
        256,
        Some(&|w: &mut XmlWriter| {
            w.element("Arn", &arn)
                .element("UserId", &user_id)
                .element("Account", caller.account());
        }),
    )
}

fn assumed_role_user(w: &mut XmlWriter, m: &Minted) {
    w.open("AssumedRoleUser")
        .element("AssumedRoleId", &m.assumed_role_id)
        .element("Arn", &m.assumed_role_arn)
        .close("AssumedRoleUser");
}

fn credentials(w: &mut XmlWriter, m: &Minted) {
    w.open("Credentials")
        .element("AccessKeyId", &m.access_key_id)
        .element("SecretAccessKey", &m.secret_access_key)
        .element("SessionToken", &m.session_token)
        .element("Expiration", &iso8601(m.expires_at))
        .close("Credentials");
}

fn packed_policy_size(w: &mut XmlWriter, m: &Minted) {
    if let Some(size) = m.packed_policy_size {
        w.element("PackedPolicySize", &size.to_string());
    }
}
