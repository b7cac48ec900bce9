//! The built-in OIDC issuers at run time: their keys, their discovery documents, and minting.

use std::collections::HashMap;
use std::sync::Arc;

use keyless_oidc::issuer::{self, IssuerKeyring, MintRequest, Profile, RefType, SigningKey};
use keyless_oidc::jwks::JwkSet;
use keyless_store::{IssuerKeyRecord, KeyState};

use crate::config::{IssuerConfig, IssuerProfile};

/// A built-in issuer's settings, resolved.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// Its name.
    pub name: String,
    /// The `iss` its tokens carry.
    pub iss: String,
    /// Its claim shape.
    pub profile: Profile,
    /// Default token lifetime in seconds.
    pub default_ttl: u64,
}

impl IssuerSettings {
    /// Resolves `[[issuer]]` settings; the default `iss` is the issuer's own public URL.
    pub fn resolve(c: &IssuerConfig, public_url: &str) -> anyhow::Result<IssuerSettings> {
        let default_ttl = match &c.default_ttl {
            Some(t) => issuer::parse_ttl(t)?,
            None => issuer::DEFAULT_TTL_SECS,
        };
        Ok(IssuerSettings {
            name: c.name.clone(),
            iss: c
                .iss
                .clone()
                .unwrap_or_else(|| issuer_base_url(public_url, &c.name)),
            profile: match c.profile {
                IssuerProfile::Gitlab => Profile::Gitlab,
                IssuerProfile::Github => Profile::Github,
            },
            default_ttl,
        })
    }
}

/// `{public_url}/issuers/{name}`: where an issuer's discovery document and JWKS are served.
pub fn issuer_base_url(public_url: &str, name: &str) -> String {
    format!("{}/issuers/{name}", public_url.trim_end_matches('/'))
}

/// A built-in issuer with its keys loaded.
pub struct BuiltinIssuer {
    /// Its settings.
    pub settings: IssuerSettings,
    /// Its signing keys.
    pub keyring: IssuerKeyring,
    /// The JWKS document, rendered once.
    pub jwks_json: String,
    /// The JWKS, parsed for verification.
    pub jwks: Arc<JwkSet>,
}

impl BuiltinIssuer {
    /// Loads an issuer from its stored keys: the current key signs; next and previous keys
    /// are published in the JWKS too.
    pub fn load(
        settings: IssuerSettings,
        keys: &[IssuerKeyRecord],
    ) -> anyhow::Result<BuiltinIssuer> {
        let mut current = None;
        let mut others = Vec::new();
        let mut mine: Vec<&IssuerKeyRecord> =
            keys.iter().filter(|k| k.issuer == settings.name).collect();
        mine.sort_by_key(|k| (k.state_changed, k.created));
        for rec in mine {
            match rec.state {
                // During a rotation two keys may be current for a moment: the newer signs,
                // and the older stays published.
                KeyState::Current => {
                    if let Some(older) =
                        current.replace(SigningKey::from_pkcs8_der(&rec.pkcs8_der)?)
                    {
                        others.push(older);
                    }
                }
                KeyState::Next | KeyState::Previous => {
                    others.push(SigningKey::from_pkcs8_der(&rec.pkcs8_der)?)
                }
                KeyState::Retired => {}
            }
        }
        let Some(current) = current else {
            anyhow::bail!("issuer {} has no current signing key", settings.name);
        };
        let keyring = IssuerKeyring::new(current, others);
        let jwks_json = keyring.jwks().to_string();
        let jwks = Arc::new(
            JwkSet::parse(jwks_json.as_bytes())
                .map_err(|e| anyhow::anyhow!("issuer {}: {}", settings.name, e.message))?,
        );
        Ok(BuiltinIssuer {
            settings,
            keyring,
            jwks_json,
            jwks,
        })
    }

    /// Mints a token for `job`, issued at `now`.
    pub fn mint(&self, job: &MintJob, now: i64) -> Result<String, issuer::IssuerError> {
        let mut req = match self.settings.profile {
            Profile::Gitlab => {
                MintRequest::gitlab(&self.settings.iss, &job.project_path, &job.git_ref)
            }
            Profile::Github => {
                let mut r =
                    MintRequest::github(&self.settings.iss, &job.project_path, &job.git_ref);
                if !job.audiences.is_empty() {
                    r.audiences.clear();
                }
                r
            }
        };
        req.ref_type = job.ref_type;
        req.now = now;
        req.ttl_secs = job.ttl_secs.unwrap_or(self.settings.default_ttl);
        req.environment = job.environment.clone();
        if let Some(components) = &job.sub_components {
            req.sub_components = components.clone();
        }
        req.audiences.extend(job.audiences.iter().cloned());
        if req.audiences.is_empty() {
            req.audiences.push(self.settings.iss.clone());
        }
        req.claims = job.claims.clone();
        issuer::mint(self.keyring.current(), &req)
    }
}

/// What to mint a token for.
#[derive(Debug, Clone)]
pub struct MintJob {
    /// GitLab `group/project`, GitHub `owner/repo`.
    pub project_path: String,
    /// Branch or tag name.
    pub git_ref: String,
    /// Branch or tag.
    pub ref_type: RefType,
    /// Audiences; the issuer's `iss` when empty (GitLab profile).
    pub audiences: Vec<String>,
    /// Lifetime in seconds; the issuer's default when absent.
    pub ttl_secs: Option<u64>,
    /// The job's environment.
    pub environment: Option<String>,
    /// GitLab `sub` components.
    pub sub_components: Option<Vec<String>>,
    /// Extra or overriding claims.
    pub claims: Vec<(String, serde_json::Value)>,
}

/// Loads every configured issuer.
pub(crate) fn load_all(
    settings: &[IssuerSettings],
    keys: &[IssuerKeyRecord],
) -> anyhow::Result<HashMap<String, Arc<BuiltinIssuer>>> {
    settings
        .iter()
        .map(|s| {
            Ok((
                s.name.clone(),
                Arc::new(BuiltinIssuer::load(s.clone(), keys)?),
            ))
        })
        .collect()
}
