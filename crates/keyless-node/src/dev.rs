//! `--dev`: the whole seed setup in one process: a built-in GitLab issuer whose tokens say
//! `iss = https://gitlab.com`, an OIDC provider for `gitlab.com` trusting that issuer's keys,
//! and the role `gitlab-deployer` with the seed's trust policy.

use keyless_sts::model::{ConditionKeyMode, KeySource, ManagedBy, OidcProvider, Role, RolePolicy};

use crate::config::{DeclaredEntities, IssuerConfig, IssuerProfile, config_role_id};

/// The built-in issuer's name.
pub const ISSUER_NAME: &str = "gitlab";
/// What its tokens carry in `iss`.
pub const ISSUER_ISS: &str = "https://gitlab.com";
/// The provider's client ID.
pub const CLIENT_ID: &str = "https://gitlab.com";
/// The role's name.
pub const ROLE_NAME: &str = "gitlab-deployer";
/// The project the trust policy admits.
pub const PROJECT: &str = "example/project";

/// The seed's trust policy for `account`.
pub fn trust_policy(account: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Effect": "Allow",
      "Principal": {{ "Federated": "arn:aws:iam::{account}:oidc-provider/gitlab.com" }},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {{
        "StringEquals": {{ "gitlab.com:aud": "https://gitlab.com" }},
        "StringLike": {{ "gitlab.com:sub": "project_path:{PROJECT}:*" }}
      }}
    }}
  ]
}}"#
    )
}

/// The role's permission policy: read-only STS and IAM, so a session can look itself up.
pub(crate) const PERMISSIONS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "ReadOnly", "Effect": "Allow", "Action": ["sts:GetCallerIdentity", "iam:Get*", "iam:List*"], "Resource": "*" }
  ]
}"#;

/// The bucket `--dev` lets each project work under its own prefix of, with an S3 backend.
pub const S3_BUCKET: &str = "artifacts";

/// The role's S3 permission policy with `--dev` and an S3 backend: each project reads, writes,
/// tags and deletes under `artifacts/<project_path>/`, and lists only that prefix.
pub fn s3_permissions() -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "OwnPrefix",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:GetObjectAttributes"],
      "Resource": "arn:aws:s3:::{S3_BUCKET}/${{gitlab.com:project_path}}/*"
    }},
    {{
      "Sid": "ListOwnPrefix",
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": "arn:aws:s3:::{S3_BUCKET}",
      "Condition": {{ "StringLike": {{ "s3:prefix": ["${{gitlab.com:project_path}}/*"] }} }}
    }}
  ]
}}"#
    )
}

/// The dev issuer's `[[issuer]]` settings.
pub fn issuer() -> IssuerConfig {
    IssuerConfig {
        name: ISSUER_NAME.to_owned(),
        iss: Some(ISSUER_ISS.to_owned()),
        profile: IssuerProfile::Gitlab,
        default_ttl: None,
    }
}

/// Adds the dev provider and role to `declared`, unless the config already declares them.
/// With `s3`, the role also gets [`s3_permissions`].
pub(crate) fn add_entities(declared: &mut DeclaredEntities, account: &str, now: i64, s3: bool) {
    if !declared.providers.iter().any(|p| p.url == ISSUER_ISS) {
        declared.providers.push(OidcProvider {
            url: ISSUER_ISS.to_owned(),
            client_ids: vec![CLIENT_ID.to_owned()],
            thumbprints: Vec::new(),
            key_source: KeySource::Builtin {
                issuer: ISSUER_NAME.to_owned(),
            },
            condition_keys: ConditionKeyMode::All,
            allow_insecure_http: false,
            ca_bundle: None,
            tags: Vec::new(),
            created: now,
            managed_by: ManagedBy::Config,
        });
    }
    if !declared.roles.iter().any(|r| r.name == ROLE_NAME) {
        declared.roles.push(Role {
            name: ROLE_NAME.to_owned(),
            path: "/".to_owned(),
            role_id: config_role_id(account, ROLE_NAME),
            trust_policy: trust_policy(account),
            description: Some("keyless --dev: deploys from example/project".to_owned()),
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: Vec::new(),
            created: now,
            managed_by: ManagedBy::Config,
        });
        declared.role_policies.push(RolePolicy {
            role_name: ROLE_NAME.to_owned(),
            policy_name: "read-only".to_owned(),
            document: PERMISSIONS.to_owned(),
        });
        if s3 {
            declared.role_policies.push(RolePolicy {
                role_name: ROLE_NAME.to_owned(),
                policy_name: "s3-own-prefix".to_owned(),
                document: s3_permissions(),
            });
        }
    }
}
