//! The resource type of each action keyless authorizes or simulates, as IAM's service
//! authorization reference defines it: the ARN template IAM's policy simulator reports as a
//! result's `EvalResourceName` (partition filled in, as IAM's simulator answers).
//!
//! ```
//! use keyless_policy::resource_arn_template;
//!
//! assert_eq!(resource_arn_template("s3:GetObject"), Some("arn:aws:s3:::${BucketName}/${KeyName}"));
//! assert_eq!(resource_arn_template("S3:listbucket"), Some("arn:aws:s3:::${BucketName}"));
//! assert_eq!(resource_arn_template("sts:GetCallerIdentity"), None); // no resource type
//! assert_eq!(resource_arn_template("dynamodb:GetItem"), None); // not known to keyless
//! ```

use std::cmp::Ordering;

const BUCKET: &str = "arn:aws:s3:::${BucketName}";
const OBJECT: &str = "arn:aws:s3:::${BucketName}/${KeyName}";
const ROLE: &str = "arn:aws:iam::${Account}:role/${RoleNameWithPath}";
const POLICY: &str = "arn:aws:iam::${Account}:policy/${PolicyNameWithPath}";
const OIDC_PROVIDER: &str = "arn:aws:iam::${Account}:oidc-provider/${OidcProviderName}";

/// Every action with a resource type, sorted by lowercase name. The actions keyless knows
/// that have none (`s3:ListAllMyBuckets`, `iam:ListRoles`, `iam:ListPolicies`,
/// `iam:ListOpenIDConnectProviders`, `iam:SimulateCustomPolicy`,
/// `iam:GetContextKeysForCustomPolicy`, the outbound federation switch, `sts:GetCallerIdentity`,
/// `sts:DecodeAuthorizationMessage`, `sts:GetWebIdentityToken` and its companions,
/// `keyless:Authorize`) are absent, as are the actions keyless does not know.
#[rustfmt::skip]
const TEMPLATES: &[(&str, &str)] = &[
    ("iam:addclientidtoopenidconnectprovider", OIDC_PROVIDER),
    ("iam:attachrolepolicy", ROLE),
    ("iam:createopenidconnectprovider", OIDC_PROVIDER),
    ("iam:createpolicy", POLICY),
    ("iam:createpolicyversion", POLICY),
    ("iam:createrole", ROLE),
    ("iam:deleteopenidconnectprovider", OIDC_PROVIDER),
    ("iam:deletepolicy", POLICY),
    ("iam:deletepolicyversion", POLICY),
    ("iam:deleterole", ROLE),
    ("iam:deleterolepermissionsboundary", ROLE),
    ("iam:deleterolepolicy", ROLE),
    ("iam:detachrolepolicy", ROLE),
    ("iam:getcontextkeysforprincipalpolicy", ROLE),
    ("iam:getopenidconnectprovider", OIDC_PROVIDER),
    ("iam:getpolicy", POLICY),
    ("iam:getpolicyversion", POLICY),
    ("iam:getrole", ROLE),
    ("iam:getrolepolicy", ROLE),
    ("iam:listattachedrolepolicies", ROLE),
    ("iam:listopenidconnectprovidertags", OIDC_PROVIDER),
    ("iam:listpolicyversions", POLICY),
    ("iam:listrolepolicies", ROLE),
    ("iam:passrole", ROLE),
    ("iam:putrolepermissionsboundary", ROLE),
    ("iam:putrolepolicy", ROLE),
    ("iam:removeclientidfromopenidconnectprovider", OIDC_PROVIDER),
    ("iam:setdefaultpolicyversion", POLICY),
    ("iam:simulateprincipalpolicy", ROLE),
    ("iam:tagopenidconnectprovider", OIDC_PROVIDER),
    ("iam:tagrole", ROLE),
    ("iam:untagopenidconnectprovider", OIDC_PROVIDER),
    ("iam:untagrole", ROLE),
    ("iam:updateassumerolepolicy", ROLE),
    ("iam:updateopenidconnectproviderthumbprint", OIDC_PROVIDER),
    ("iam:updaterole", ROLE),
    ("s3:abortmultipartupload", OBJECT),
    ("s3:bypassgovernanceretention", OBJECT),
    ("s3:createbucket", BUCKET),
    ("s3:deletebucket", BUCKET),
    ("s3:deletebucketpolicy", BUCKET),
    ("s3:deletebucketwebsite", BUCKET),
    ("s3:deleteobject", OBJECT),
    ("s3:deleteobjecttagging", OBJECT),
    ("s3:deleteobjectversion", OBJECT),
    ("s3:deleteobjectversiontagging", OBJECT),
    ("s3:getaccelerateconfiguration", BUCKET),
    ("s3:getanalyticsconfiguration", BUCKET),
    ("s3:getbucketacl", BUCKET),
    ("s3:getbucketcors", BUCKET),
    ("s3:getbucketlocation", BUCKET),
    ("s3:getbucketlogging", BUCKET),
    ("s3:getbucketnotification", BUCKET),
    ("s3:getbucketobjectlockconfiguration", BUCKET),
    ("s3:getbucketownershipcontrols", BUCKET),
    ("s3:getbucketpolicy", BUCKET),
    ("s3:getbucketpolicystatus", BUCKET),
    ("s3:getbucketpublicaccessblock", BUCKET),
    ("s3:getbucketrequestpayment", BUCKET),
    ("s3:getbuckettagging", BUCKET),
    ("s3:getbucketversioning", BUCKET),
    ("s3:getbucketwebsite", BUCKET),
    ("s3:getencryptionconfiguration", BUCKET),
    ("s3:getintelligenttieringconfiguration", BUCKET),
    ("s3:getinventoryconfiguration", BUCKET),
    ("s3:getlifecycleconfiguration", BUCKET),
    ("s3:getmetricsconfiguration", BUCKET),
    ("s3:getobject", OBJECT),
    ("s3:getobjectacl", OBJECT),
    ("s3:getobjectattributes", OBJECT),
    ("s3:getobjectlegalhold", OBJECT),
    ("s3:getobjectretention", OBJECT),
    ("s3:getobjecttagging", OBJECT),
    ("s3:getobjecttorrent", OBJECT),
    ("s3:getobjectversion", OBJECT),
    ("s3:getobjectversionacl", OBJECT),
    ("s3:getobjectversionattributes", OBJECT),
    ("s3:getobjectversiontagging", OBJECT),
    ("s3:getobjectversiontorrent", OBJECT),
    ("s3:getreplicationconfiguration", BUCKET),
    ("s3:listbucket", BUCKET),
    ("s3:listbucketmultipartuploads", BUCKET),
    ("s3:listbucketversions", BUCKET),
    ("s3:listmultipartuploadparts", OBJECT),
    ("s3:putaccelerateconfiguration", BUCKET),
    ("s3:putanalyticsconfiguration", BUCKET),
    ("s3:putbucketacl", BUCKET),
    ("s3:putbucketcors", BUCKET),
    ("s3:putbucketlogging", BUCKET),
    ("s3:putbucketnotification", BUCKET),
    ("s3:putbucketobjectlockconfiguration", BUCKET),
    ("s3:putbucketownershipcontrols", BUCKET),
    ("s3:putbucketpolicy", BUCKET),
    ("s3:putbucketpublicaccessblock", BUCKET),
    ("s3:putbucketrequestpayment", BUCKET),
    ("s3:putbuckettagging", BUCKET),
    ("s3:putbucketversioning", BUCKET),
    ("s3:putbucketwebsite", BUCKET),
    ("s3:putencryptionconfiguration", BUCKET),
    ("s3:putintelligenttieringconfiguration", BUCKET),
    ("s3:putinventoryconfiguration", BUCKET),
    ("s3:putlifecycleconfiguration", BUCKET),
    ("s3:putmetricsconfiguration", BUCKET),
    ("s3:putobject", OBJECT),
    ("s3:putobjectacl", OBJECT),
    ("s3:putobjectlegalhold", OBJECT),
    ("s3:putobjectretention", OBJECT),
    ("s3:putobjecttagging", OBJECT),
    ("s3:putobjectversionacl", OBJECT),
    ("s3:putobjectversiontagging", OBJECT),
    ("s3:putreplicationconfiguration", BUCKET),
    ("s3:restoreobject", OBJECT),
    ("sts:assumerole", ROLE),
    ("sts:assumerolewithsaml", ROLE),
    ("sts:assumerolewithwebidentity", ROLE),
    ("sts:setsourceidentity", ROLE),
    ("sts:tagsession", ROLE),
];

/// Compares `action` with a lowercase table name, ignoring ASCII case (action names are
/// case-insensitive).
fn compare(name: &str, action: &str) -> Ordering {
    name.bytes()
        .cmp(action.bytes().map(|b| b.to_ascii_lowercase()))
}

/// The ARN template of `action`'s resource type (`arn:aws:s3:::${BucketName}/${KeyName}` for
/// `s3:GetObject`), or `None` when the action has no resource type or keyless does not know
/// it; the simulator then reports `*`. Action names are matched without regard to case.
pub fn resource_arn_template(action: &str) -> Option<&'static str> {
    TEMPLATES
        .binary_search_by(|(name, _)| compare(name, action))
        .ok()
        .map(|i| TEMPLATES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_lowercase() {
        for pair in TEMPLATES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (name, _) in TEMPLATES {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
    }

    #[test]
    fn every_entry_is_found_in_any_case() {
        for (name, template) in TEMPLATES {
            assert_eq!(resource_arn_template(name), Some(*template));
            assert_eq!(
                resource_arn_template(&name.to_ascii_uppercase()),
                Some(*template)
            );
        }
        assert_eq!(resource_arn_template("iam:ListRoles"), None);
        assert_eq!(resource_arn_template("s3:GetObjec"), None);
        assert_eq!(resource_arn_template(""), None);
    }
}
