//! The live state: the store's contents compiled into what requests read. Built whole from a
//! [`Snapshot`] at start, then updated from the store's change log ([`Live::apply`]) with only
//! the entities that changed; each new state is swapped in atomically, and shares everything
//! that did not change with the one before. Requests never read the store.

use std::collections::HashMap;
use std::sync::Arc;

use keyless_credentials::session::{SealingKey, SealingKeyring};
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::verify::VerifyOptions;
use keyless_store::{
    AdminCredentials, ChangedEntities, IssuerKeyRecord, KeyState, SealingKeyRecord, Snapshot,
};
use keyless_sts::state::{LongTermKey, RoleInput, StateInputs, StateUpdate, StsOptions, StsState};
use keyless_sts::web_identity_token::Outbound;

use crate::issuers::{self, BuiltinIssuer};
use crate::settings::Settings;

/// Creation times of the keys in use, for the key-age metrics.
#[derive(Debug, Default, Clone)]
pub struct KeyAges {
    /// Sealing keys: (id, created).
    pub sealing: Vec<(u32, i64)>,
    /// Issuer keys: (issuer, kid, created).
    pub issuer: Vec<(String, String, i64)>,
}

/// What requests read.
pub struct Live {
    /// The store generation this reflects.
    pub generation: i64,
    /// Key creation times.
    pub key_ages: KeyAges,
    /// The STS state.
    pub sts: StsState,
    /// The built-in issuers, by name.
    pub issuers: HashMap<String, Arc<BuiltinIssuer>>,
    /// Outbound identity federation: the switch and the signing keys.
    pub outbound: Arc<Outbound>,
}

/// The keys of a state, loaded.
struct Keys {
    issuers: HashMap<String, Arc<BuiltinIssuer>>,
    builtin_jwks: HashMap<String, Arc<JwkSet>>,
    keyring: SealingKeyring,
    admin: Option<LongTermKey>,
    ages: KeyAges,
}

impl Keys {
    fn load(
        settings: &Settings,
        sealing_keys: &[SealingKeyRecord],
        issuer_keys: &[IssuerKeyRecord],
        admin: Option<&AdminCredentials>,
    ) -> anyhow::Result<Keys> {
        let issuers = issuers::load_all(&settings.issuers, issuer_keys)?;
        let builtin_jwks = issuers
            .iter()
            .map(|(name, i)| (name.clone(), i.jwks.clone()))
            .collect();
        Ok(Keys {
            issuers,
            builtin_jwks,
            keyring: sealing_keyring(sealing_keys)?,
            admin: admin.map(|a| LongTermKey {
                access_key_id: a.access_key_id.clone(),
                secret_access_key: a.secret_access_key.clone(),
            }),
            ages: KeyAges {
                sealing: sealing_keys
                    .iter()
                    .filter(|k| matches!(k.state, KeyState::Current | KeyState::Previous))
                    .map(|k| (k.id, k.created))
                    .collect(),
                issuer: issuer_keys
                    .iter()
                    .filter(|k| k.state != KeyState::Retired)
                    .map(|k| (k.issuer.clone(), k.kid.clone(), k.created))
                    .collect(),
            },
        })
    }
}

impl Live {
    /// Compiles a snapshot. Fails only when the keys cannot be loaded (no current sealing key,
    /// an issuer key that does not parse); an entity that does not compile is left out and
    /// reported in `sts.warnings`.
    pub fn build(settings: &Settings, snapshot: &Snapshot) -> anyhow::Result<Live> {
        let keys = Keys::load(
            settings,
            &snapshot.sealing_keys,
            &snapshot.issuer_keys,
            snapshot.admin.as_ref(),
        )?;
        let sts = StsState::build(StateInputs {
            account: &settings.account,
            providers: &snapshot.providers,
            roles: &snapshot.roles,
            role_policies: &snapshot.role_policies,
            managed_policies: &snapshot.managed_policies,
            attachments: &snapshot.attachments,
            builtin_jwks: &keys.builtin_jwks,
            keyring: keys.keyring,
            admin: keys.admin,
            options: StsOptions {
                debug_denials: settings.debug_denials,
                verify: VerifyOptions {
                    leeway_secs: settings.token_leeway_secs,
                    ..VerifyOptions::default()
                },
            },
        });
        Ok(Live {
            generation: snapshot.generation,
            key_ages: keys.ages,
            sts,
            issuers: keys.issuers,
            outbound: Arc::new(crate::outbound::load(
                &settings.outbound,
                &snapshot.outbound,
            )?),
        })
    }

    /// The state after the changes in `changed`: only the changed entities are compiled (and
    /// the roles that attach a changed managed policy); the rest is shared with `self`.
    pub fn apply(&self, settings: &Settings, changed: &ChangedEntities) -> anyhow::Result<Live> {
        let keys = match &changed.keys {
            Some(k) => Some(Keys::load(
                settings,
                &k.sealing_keys,
                &k.issuer_keys,
                k.admin.as_ref(),
            )?),
            None => None,
        };
        let (new_keys, builtin_jwks, issuers, key_ages) = match keys {
            Some(k) => (
                Some((k.keyring, k.admin)),
                Some(k.builtin_jwks),
                k.issuers,
                k.ages,
            ),
            None => (None, None, self.issuers.clone(), self.key_ages.clone()),
        };
        let update = StateUpdate {
            providers: changed
                .providers
                .iter()
                .map(|(url, p)| (url.as_str(), p.as_ref()))
                .collect(),
            roles: changed
                .roles
                .iter()
                .map(|(name, r)| {
                    let input = r.as_ref().map(|r| RoleInput {
                        role: &r.role,
                        policies: &r.policies,
                        attachments: &r.attachments,
                    });
                    (name.as_str(), input)
                })
                .collect(),
            managed_policies: changed
                .policies
                .iter()
                .map(|(name, p)| (name.as_str(), p.as_ref()))
                .collect(),
            keys: new_keys,
            builtin_jwks: builtin_jwks.as_ref(),
        };
        let outbound = match &changed.outbound {
            Some(records) => Arc::new(crate::outbound::load(&settings.outbound, records)?),
            None => self.outbound.clone(),
        };
        Ok(Live {
            generation: changed.generation,
            key_ages,
            sts: self.sts.apply(update),
            issuers,
            outbound,
        })
    }
}

fn sealing_keyring(keys: &[SealingKeyRecord]) -> anyhow::Result<SealingKeyring> {
    let to_key = |r: &SealingKeyRecord| SealingKey {
        id: r.id,
        key: r.key,
        created: r.created,
    };
    let current = keys
        .iter()
        .filter(|k| k.state == KeyState::Current)
        .max_by_key(|k| k.id)
        .ok_or_else(|| anyhow::anyhow!("the store has no current sealing key"))?;
    let previous = keys
        .iter()
        .filter(|k| k.state == KeyState::Previous)
        .map(to_key)
        .collect();
    Ok(SealingKeyring::new(to_key(current), previous)?)
}
