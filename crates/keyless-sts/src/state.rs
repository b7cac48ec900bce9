//! The compiled, immutable state every request reads: providers by issuer, roles with their
//! parsed policies, the sealing keys and the admin key. It is rebuilt whenever the stored state
//! changes, and swapped in whole; requests never touch the database.

use std::collections::HashMap;
use std::sync::Arc;

use keyless_credentials::session::SealingKeyring;
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::keys::{KeySourceSpec, ProviderKeys, TlsOptions};
use keyless_oidc::verify::VerifyOptions;
use keyless_policy::{ParseOptions, Policy, PolicyKind};

use crate::model::{Attachment, KeySource, ManagedPolicy, OidcProvider, Role, RolePolicy};

/// A long-term access key (the admin's).
#[derive(Clone)]
pub struct LongTermKey {
    /// `AKIA…`.
    pub access_key_id: String,
    /// The secret; never logged.
    pub secret_access_key: String,
}

impl std::fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongTermKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// A provider, ready to verify tokens.
#[derive(Debug)]
pub struct ProviderEntry {
    /// The stored provider.
    pub model: OidcProvider,
    /// Its ARN.
    pub arn: String,
    /// The condition-key prefix (the URL without scheme).
    pub key_prefix: String,
    /// Where its keys come from, for the key cache.
    pub keys: ProviderKeys,
}

/// A role, with its policies parsed.
#[derive(Debug)]
pub struct RoleEntry {
    /// The stored role.
    pub model: Role,
    /// Its ARN.
    pub arn: String,
    /// The parsed trust policy; `None` if the stored document no longer parses (the role is
    /// then unusable, and a warning says why).
    pub trust: Option<Policy>,
    /// Its permission policies: inline ones and the default versions of attached ones.
    pub identity: Vec<Arc<Policy>>,
    /// The condition keys its trust policy reads (`None`: any key).
    pub trust_keys: Option<Vec<String>>,
}

/// Knobs of the STS behaviour.
#[derive(Debug, Clone, Default)]
pub struct StsOptions {
    /// Put a short reason into AccessDenied messages (off by default: responses stay as
    /// opaque as AWS's, and the reason goes to the audit log only).
    pub debug_denials: bool,
    /// Token time checks.
    pub verify: VerifyOptions,
}

/// Everything a state is built from.
pub struct StateInputs<'a> {
    /// The 12-digit account ID.
    pub account: &'a str,
    /// OIDC providers.
    pub providers: &'a [OidcProvider],
    /// Roles.
    pub roles: &'a [Role],
    /// Inline role policies.
    pub role_policies: &'a [RolePolicy],
    /// Managed policies.
    pub managed_policies: &'a [ManagedPolicy],
    /// Managed-policy attachments.
    pub attachments: &'a [Attachment],
    /// The JWKS of each built-in issuer, by issuer name.
    pub builtin_jwks: &'a HashMap<String, Arc<JwkSet>>,
    /// The session-token sealing keys.
    pub keyring: SealingKeyring,
    /// The admin key.
    pub admin: Option<LongTermKey>,
    /// Behaviour knobs.
    pub options: StsOptions,
}

/// The compiled state.
pub struct StsState {
    /// The 12-digit account ID.
    pub account: String,
    /// Providers by their exact issuer URL.
    pub providers_by_issuer: HashMap<String, Arc<ProviderEntry>>,
    /// Roles by name.
    pub roles: HashMap<String, Arc<RoleEntry>>,
    /// Managed policies' default versions, by ARN.
    pub managed_policies: HashMap<String, Arc<Policy>>,
    /// The session-token sealing keys.
    pub keyring: SealingKeyring,
    /// The admin key.
    pub admin: Option<LongTermKey>,
    /// Behaviour knobs.
    pub options: StsOptions,
    /// Stored entities that could not be compiled, with the reason.
    pub warnings: Vec<String>,
    /// SigV4 signing keys derived so far.
    pub signing_keys: keyless_credentials::sigv4::SigningKeyCache,
}

impl StsState {
    /// Compiles the state. Never fails: an entity that cannot be compiled is left out (or
    /// made unusable) and reported in `warnings`, so one bad row cannot lock everyone out.
    pub fn build(inputs: StateInputs<'_>) -> StsState {
        let account = inputs.account;
        let mut warnings = Vec::new();

        let mut providers_by_issuer = HashMap::new();
        for p in inputs.providers {
            let source = match &p.key_source {
                KeySource::Discovery => KeySourceSpec::Discovery {
                    issuer: p.url.clone(),
                },
                KeySource::JwksUrl { url } => KeySourceSpec::JwksUrl { url: url.clone() },
                KeySource::Pinned { jwks } => match JwkSet::parse(jwks.as_bytes()) {
                    Ok(set) => KeySourceSpec::Pinned {
                        jwks: Arc::new(set),
                    },
                    Err(e) => {
                        warnings.push(format!(
                            "provider {}: the pinned JWKS is invalid ({}); its tokens are refused",
                            p.url, e.message
                        ));
                        continue;
                    }
                },
                KeySource::Builtin { issuer } => match inputs.builtin_jwks.get(issuer) {
                    Some(set) => KeySourceSpec::Pinned { jwks: set.clone() },
                    None => {
                        warnings.push(format!(
                            "provider {}: no built-in issuer named {issuer}; its tokens are refused",
                            p.url
                        ));
                        continue;
                    }
                },
            };
            let entry = ProviderEntry {
                arn: p.arn(account),
                key_prefix: p.host_path().to_owned(),
                keys: ProviderKeys {
                    id: p.url.clone(),
                    source,
                    tls: TlsOptions {
                        ca_bundle_pem: p.ca_bundle.clone(),
                        thumbprints: p.thumbprints.clone(),
                        allow_insecure_http: p.allow_insecure_http,
                    },
                },
                model: p.clone(),
            };
            providers_by_issuer.insert(p.url.clone(), Arc::new(entry));
        }

        let mut managed_policies = HashMap::new();
        for mp in inputs.managed_policies {
            let arn = mp.arn(account);
            let Some(version) = mp.default_version() else {
                warnings.push(format!("managed policy {arn} has no default version"));
                continue;
            };
            match Policy::parse(&version.document, &ParseOptions::new(PolicyKind::Identity)) {
                Ok(policy) => {
                    managed_policies.insert(arn, Arc::new(policy));
                }
                Err(e) => warnings.push(format!("managed policy {arn}: {e}")),
            }
        }

        let mut roles = HashMap::new();
        for role in inputs.roles {
            let arn = role.arn(account);
            let trust =
                match Policy::parse(&role.trust_policy, &ParseOptions::new(PolicyKind::Trust)) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        warnings.push(format!(
                        "role {arn}: the trust policy is invalid ({e}); the role cannot be assumed"
                    ));
                        None
                    }
                };
            let mut identity = Vec::new();
            for rp in inputs
                .role_policies
                .iter()
                .filter(|rp| rp.role_name == role.name)
            {
                match Policy::parse(&rp.document, &ParseOptions::new(PolicyKind::Identity)) {
                    Ok(p) => identity.push(Arc::new(p)),
                    Err(e) => warnings.push(format!(
                        "role {arn}: inline policy {} is invalid ({e}); it grants nothing",
                        rp.policy_name
                    )),
                }
            }
            for at in inputs
                .attachments
                .iter()
                .filter(|a| a.role_name == role.name)
            {
                if let Some(p) = managed_policies.get(&at.policy_arn) {
                    identity.push(p.clone());
                }
            }
            let trust_keys = trust
                .as_ref()
                .and_then(crate::condition_keys::referenced_keys);
            roles.insert(
                role.name.clone(),
                Arc::new(RoleEntry {
                    model: role.clone(),
                    arn,
                    trust,
                    identity,
                    trust_keys,
                }),
            );
        }

        StsState {
            account: account.to_owned(),
            providers_by_issuer,
            roles,
            managed_policies,
            keyring: inputs.keyring,
            admin: inputs.admin,
            options: inputs.options,
            warnings,
            signing_keys: keyless_credentials::sigv4::SigningKeyCache::default(),
        }
    }

    /// The role a role ARN names, if it is in this account and exists.
    pub fn role_by_arn(&self, arn: &str) -> Option<&Arc<RoleEntry>> {
        let parsed = crate::arn::parse_role_arn(arn)?;
        if parsed.account != self.account {
            return None;
        }
        let role = self.roles.get(parsed.name)?;
        (role.model.path == parsed.path).then_some(role)
    }
}
