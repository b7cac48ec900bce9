//! The compiled, immutable state every request reads: providers by issuer, roles with their
//! parsed policies, the managed policies, the sealing keys and the admin key.
//!
//! The maps are persistent (`imbl`): [`StsState::apply`] makes a new state from an old one
//! and the entities that changed, sharing everything else, in time proportional to the change
//! rather than to the state. [`StsState::build`] is the same update applied to an empty
//! state, so a full load and a chain of incremental updates decide alike. Requests never touch
//! the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use keyless_credentials::session::{SealingKeyring, SessionCache};
use keyless_credentials::sigv4::SigningKeyCache;
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::keys::{KeySourceSpec, ProviderKeys, TlsOptions};
use keyless_oidc::verify::VerifyOptions;
use keyless_policy::{ParseOptions, Policy, PolicyKind};

use crate::model::{Attachment, KeySource, ManagedPolicy, OidcProvider, Role, RolePolicy};
use crate::policy_set::{PolicySet, PolicySource, SourcedPolicy};

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

/// The policy that stands for a permissions boundary the state does not hold: it allows
/// nothing, so a role whose boundary is gone is refused everything (fail closed).
static ALLOWS_NOTHING: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
    Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"*","Resource":"*"}]}"#,
        &ParseOptions::new(PolicyKind::Identity),
    )
    .expect("a valid policy")
});

/// A role as stored, compiled on first use.
///
/// The documents stay as text until a request needs them: most roles of a large account are
/// idle at any moment, and a parsed policy takes several times the memory of its text. The
/// compile happens once per version of the role (a change makes a new entry) and decides
/// exactly as an eager one would.
#[derive(Debug)]
pub struct RoleEntry {
    /// The stored role, with its trust policy document.
    pub model: Role,
    /// Its ARN.
    pub arn: String,
    /// Its inline permission policies as stored: `(name, document)`.
    inline: Vec<(String, String)>,
    /// The ARNs of the managed policies attached to it.
    pub attached: Vec<String>,
    compiled: OnceLock<CompiledRole>,
}

/// A role's documents, parsed.
#[derive(Debug)]
pub struct CompiledRole {
    /// The trust policy, or why the stored document no longer parses (the role then cannot
    /// be assumed).
    pub trust: Result<Policy, String>,
    /// The condition keys the trust policy reads (`None`: any key, or no valid policy).
    pub trust_keys: Option<Vec<String>>,
    /// The inline permission policies that parse, by name.
    pub inline: Vec<(String, Policy)>,
    /// Stored documents that no longer parse, with the reason: the trust policy (the role
    /// cannot be assumed) or an inline policy (it grants nothing).
    pub problems: Vec<String>,
}

impl RoleEntry {
    /// The role's parsed documents, compiled now if this is their first use.
    pub fn compiled(&self) -> &CompiledRole {
        self.compiled.get_or_init(|| self.compile())
    }

    /// The trust policy, or why it is unusable.
    pub fn trust(&self) -> Result<&Policy, &str> {
        self.compiled().trust.as_ref().map_err(String::as_str)
    }

    /// The condition keys the trust policy reads (`None`: any key).
    pub fn trust_keys(&self) -> Option<&[String]> {
        self.compiled().trust_keys.as_deref()
    }

    /// The role's permission policies, by layer: its inline policies, then the default
    /// versions of the managed ones attached, as `state` has them (a managed policy that does
    /// not compile grants nothing), and its permissions boundary. A boundary `state` does not
    /// hold (deleted, or no longer compiling) bounds the role to nothing: the set then has a
    /// boundary layer that allows nothing.
    pub fn policy_set<'s>(&'s self, state: &'s StsState) -> PolicySet<'s> {
        let inline = self
            .compiled()
            .inline
            .iter()
            .map(|(name, policy)| SourcedPolicy {
                source: PolicySource::RoleInline {
                    role: self.model.name.clone(),
                    name: name.clone(),
                },
                policy,
            });
        let attached = self.attached.iter().filter_map(|arn| {
            let policy = state.managed_policies.get(arn)?;
            Some(SourcedPolicy {
                source: PolicySource::Managed {
                    name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                    arn: arn.clone(),
                },
                policy: policy.as_ref(),
            })
        });
        let boundary = self.model.permissions_boundary.as_ref().map(|arn| {
            let source = PolicySource::Managed {
                name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                arn: arn.clone(),
            };
            let policy = state
                .managed_policies
                .get(arn)
                .map_or(&*ALLOWS_NOTHING, |policy| policy.as_ref());
            SourcedPolicy { source, policy }
        });
        PolicySet {
            identity: inline.chain(attached).collect(),
            boundary: boundary.into_iter().collect(),
            ..PolicySet::default()
        }
    }

    fn compile(&self) -> CompiledRole {
        let mut problems = Vec::new();
        let trust = Policy::parse(
            &self.model.trust_policy,
            &ParseOptions::new(PolicyKind::Trust),
        )
        .map_err(|e| {
            let problem = format!("the trust policy of {} is invalid ({e})", self.arn);
            problems.push(format!("{problem}; the role cannot be assumed"));
            problem
        });
        let mut inline = Vec::with_capacity(self.inline.len());
        for (name, document) in &self.inline {
            match Policy::parse(document, &ParseOptions::new(PolicyKind::Identity)) {
                Ok(p) => inline.push((name.clone(), p)),
                Err(e) => problems.push(format!(
                    "inline policy {name} of {} is invalid ({e}); it grants nothing",
                    self.arn
                )),
            }
        }
        let trust_keys = trust
            .as_ref()
            .ok()
            .and_then(crate::condition_keys::referenced_keys);
        CompiledRole {
            trust,
            trust_keys,
            inline,
            problems,
        }
    }
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

/// A role as it is now, with its inline policies and attachments.
#[derive(Debug, Clone, Copy)]
pub struct RoleInput<'a> {
    /// The role.
    pub role: &'a Role,
    /// Its inline policies.
    pub policies: &'a [RolePolicy],
    /// Its attachments.
    pub attachments: &'a [Attachment],
}

/// The entities that changed, as they are now; `None` for one that was deleted.
#[derive(Default)]
pub struct StateUpdate<'a> {
    /// OIDC providers, by URL.
    pub providers: Vec<(&'a str, Option<&'a OidcProvider>)>,
    /// Roles, by name.
    pub roles: Vec<(&'a str, Option<RoleInput<'a>>)>,
    /// Managed policies, by name.
    pub managed_policies: Vec<(&'a str, Option<&'a ManagedPolicy>)>,
    /// New sealing keys and admin key, when they changed.
    pub keys: Option<(SealingKeyring, Option<LongTermKey>)>,
    /// The JWKS of each built-in issuer, when they changed (providers that trust a built-in
    /// issuer are then recompiled).
    pub builtin_jwks: Option<&'a HashMap<String, Arc<JwkSet>>>,
}

/// The compiled state.
#[derive(Clone)]
pub struct StsState {
    /// The 12-digit account ID.
    pub account: String,
    /// Providers by their exact issuer URL.
    pub providers_by_issuer: imbl::HashMap<String, Arc<ProviderEntry>>,
    /// Roles by name.
    pub roles: imbl::HashMap<String, Arc<RoleEntry>>,
    /// Managed policies' default versions, by ARN.
    pub managed_policies: imbl::HashMap<String, Arc<Policy>>,
    /// Managed policy ARNs by policy name.
    managed_arns: imbl::HashMap<String, String>,
    /// The JWKS of each built-in issuer, by issuer name.
    builtin_jwks: Arc<HashMap<String, Arc<JwkSet>>>,
    /// The session-token sealing keys.
    pub keyring: Arc<SealingKeyring>,
    /// The admin key.
    pub admin: Option<LongTermKey>,
    /// Behaviour knobs.
    pub options: StsOptions,
    /// Providers and managed policies the last build or update could not compile, with the
    /// reason.
    pub warnings: Vec<String>,
    /// SigV4 signing keys derived so far, shared by every state of a node.
    pub signing_keys: Arc<SigningKeyCache>,
    /// Session tokens unsealed so far with `keyring`, shared by every state of a node until
    /// the keyring changes.
    pub sessions: Arc<SessionCache>,
}

impl StsState {
    /// Compiles the state. Never fails, so one bad row cannot lock everyone out: a provider or
    /// managed policy that cannot be compiled is left out and reported in `warnings`; a role
    /// whose documents do not parse says so when it is used ([`CompiledRole::problems`]).
    pub fn build(inputs: StateInputs<'_>) -> StsState {
        let empty = StsState {
            account: inputs.account.to_owned(),
            providers_by_issuer: imbl::HashMap::new(),
            roles: imbl::HashMap::new(),
            managed_policies: imbl::HashMap::new(),
            managed_arns: imbl::HashMap::new(),
            builtin_jwks: Arc::new(HashMap::new()),
            keyring: Arc::new(inputs.keyring),
            admin: inputs.admin,
            options: inputs.options,
            warnings: Vec::new(),
            signing_keys: Arc::new(SigningKeyCache::default()),
            sessions: Arc::new(SessionCache::default()),
        };
        let mut policies_of: HashMap<&str, Vec<RolePolicy>> = HashMap::new();
        for rp in inputs.role_policies {
            policies_of
                .entry(rp.role_name.as_str())
                .or_default()
                .push(rp.clone());
        }
        let mut attachments_of: HashMap<&str, Vec<Attachment>> = HashMap::new();
        for at in inputs.attachments {
            attachments_of
                .entry(at.role_name.as_str())
                .or_default()
                .push(at.clone());
        }
        let no_policies = Vec::new();
        let no_attachments = Vec::new();
        let update = StateUpdate {
            providers: inputs
                .providers
                .iter()
                .map(|p| (p.url.as_str(), Some(p)))
                .collect(),
            roles: inputs
                .roles
                .iter()
                .map(|r| {
                    let input = RoleInput {
                        role: r,
                        policies: policies_of.get(r.name.as_str()).unwrap_or(&no_policies),
                        attachments: attachments_of
                            .get(r.name.as_str())
                            .unwrap_or(&no_attachments),
                    };
                    (r.name.as_str(), Some(input))
                })
                .collect(),
            managed_policies: inputs
                .managed_policies
                .iter()
                .map(|m| (m.name.as_str(), Some(m)))
                .collect(),
            keys: None,
            builtin_jwks: Some(inputs.builtin_jwks),
        };
        empty.apply(update)
    }

    /// The state after `update`: the changed entities replaced (a role is compiled on its
    /// first use, and reads the managed policies it attaches from the state it is used in),
    /// everything else shared with `self`.
    pub fn apply(&self, update: StateUpdate<'_>) -> StsState {
        let mut next = self.clone();
        next.warnings = Vec::new();
        if let Some((keyring, admin)) = update.keys {
            next.keyring = Arc::new(keyring);
            next.sessions = Arc::new(SessionCache::default());
            next.admin = admin;
        }

        for (name, policy) in &update.managed_policies {
            if let Some(arn) = next.managed_arns.remove(*name) {
                next.managed_policies.remove(&arn);
            }
            if let Some(policy) = policy {
                let arn = policy.arn(&next.account);
                match compile_managed(policy, &arn) {
                    Ok(compiled) => {
                        next.managed_policies.insert(arn.clone(), compiled);
                    }
                    Err(warning) => next.warnings.push(warning),
                }
                next.managed_arns.insert((*name).to_owned(), arn);
            }
        }

        let builtin_changed = update.builtin_jwks.is_some();
        if let Some(jwks) = update.builtin_jwks {
            next.builtin_jwks = Arc::new(jwks.clone());
        }
        if builtin_changed {
            // Providers that trust a built-in issuer take its new keys.
            let named: HashSet<&str> = update.providers.iter().map(|(url, _)| *url).collect();
            let builtin: Vec<Arc<ProviderEntry>> = self
                .providers_by_issuer
                .values()
                .filter(|p| matches!(p.model.key_source, KeySource::Builtin { .. }))
                .filter(|p| !named.contains(p.model.url.as_str()))
                .cloned()
                .collect();
            for entry in &builtin {
                let provider = next.recompiled_provider(&entry.model);
                match provider {
                    Ok(compiled) => {
                        next.providers_by_issuer
                            .insert(entry.model.url.clone(), compiled);
                    }
                    Err(warning) => {
                        next.providers_by_issuer.remove(&entry.model.url);
                        next.warnings.push(warning);
                    }
                }
            }
        }
        for (url, provider) in &update.providers {
            next.providers_by_issuer.remove(*url);
            if let Some(provider) = provider {
                match next.recompiled_provider(provider) {
                    Ok(compiled) => {
                        next.providers_by_issuer.insert((*url).to_owned(), compiled);
                    }
                    Err(warning) => next.warnings.push(warning),
                }
            }
        }

        for (name, role) in &update.roles {
            next.roles.remove(*name);
            if let Some(input) = role {
                next.roles
                    .insert((*name).to_owned(), Arc::new(next.role_entry(input)));
            }
        }
        next
    }

    fn recompiled_provider(&self, p: &OidcProvider) -> Result<Arc<ProviderEntry>, String> {
        compile_provider(p, &self.account, &self.builtin_jwks).map(Arc::new)
    }

    fn role_entry(&self, input: &RoleInput<'_>) -> RoleEntry {
        RoleEntry {
            model: input.role.clone(),
            arn: input.role.arn(&self.account),
            inline: input
                .policies
                .iter()
                .map(|p| (p.policy_name.clone(), p.document.clone()))
                .collect(),
            attached: input
                .attachments
                .iter()
                .map(|a| a.policy_arn.clone())
                .collect(),
            compiled: OnceLock::new(),
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

fn compile_managed(policy: &ManagedPolicy, arn: &str) -> Result<Arc<Policy>, String> {
    let version = policy
        .default_version()
        .ok_or_else(|| format!("managed policy {arn} has no default version"))?;
    Policy::parse(&version.document, &ParseOptions::new(PolicyKind::Identity))
        .map(Arc::new)
        .map_err(|e| format!("managed policy {arn}: {e}"))
}

fn compile_provider(
    p: &OidcProvider,
    account: &str,
    builtin_jwks: &HashMap<String, Arc<JwkSet>>,
) -> Result<ProviderEntry, String> {
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
                return Err(format!(
                    "provider {}: the pinned JWKS is invalid ({}); its tokens are refused",
                    p.url, e.message
                ));
            }
        },
        KeySource::Builtin { issuer } => match builtin_jwks.get(issuer) {
            Some(set) => KeySourceSpec::Pinned { jwks: set.clone() },
            None => {
                return Err(format!(
                    "provider {}: no built-in issuer named {issuer}; its tokens are refused",
                    p.url
                ));
            }
        },
    };
    Ok(ProviderEntry {
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
    })
}
