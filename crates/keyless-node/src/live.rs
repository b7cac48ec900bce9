//! The live state: the store's contents compiled into what requests read. Built whole from a
//! [`Snapshot`] and swapped in atomically; requests never read the store.

use std::collections::HashMap;
use std::sync::Arc;

use keyless_credentials::session::{SealingKey, SealingKeyring};
use keyless_oidc::verify::VerifyOptions;
use keyless_store::{KeyState, SealingKeyRecord, Snapshot};
use keyless_sts::state::{LongTermKey, StateInputs, StsOptions, StsState};

use crate::issuers::{self, BuiltinIssuer};
use crate::settings::Settings;

/// Creation times of the keys in use, for the key-age metrics.
#[derive(Debug, Default)]
pub struct KeyAges {
    /// Sealing keys: (id, created).
    pub sealing: Vec<(u32, i64)>,
    /// Issuer keys: (issuer, kid, created).
    pub issuer: Vec<(String, String, i64)>,
}

/// What requests read: rebuilt whole and swapped in on every change.
pub struct Live {
    /// The store generation this reflects.
    pub generation: i64,
    /// Key creation times.
    pub key_ages: KeyAges,
    /// The STS state.
    pub sts: StsState,
    /// The built-in issuers, by name.
    pub issuers: HashMap<String, Arc<BuiltinIssuer>>,
}

impl Live {
    /// Compiles a snapshot. Fails only when the keys cannot be loaded (no current sealing key,
    /// an issuer key that does not parse); an entity that does not compile is left out and
    /// reported in `sts.warnings`.
    pub fn build(settings: &Settings, snapshot: &Snapshot) -> anyhow::Result<Live> {
        let issuers = issuers::load_all(&settings.issuers, &snapshot.issuer_keys)?;
        let builtin_jwks = issuers
            .iter()
            .map(|(name, i)| (name.clone(), i.jwks.clone()))
            .collect();
        let keyring = sealing_keyring(snapshot)?;
        let admin = snapshot.admin.as_ref().map(|a| LongTermKey {
            access_key_id: a.access_key_id.clone(),
            secret_access_key: a.secret_access_key.clone(),
        });
        let sts = StsState::build(StateInputs {
            account: &settings.account,
            providers: &snapshot.providers,
            roles: &snapshot.roles,
            role_policies: &snapshot.role_policies,
            managed_policies: &snapshot.managed_policies,
            attachments: &snapshot.attachments,
            builtin_jwks: &builtin_jwks,
            keyring,
            admin,
            options: StsOptions {
                debug_denials: settings.debug_denials,
                verify: VerifyOptions {
                    leeway_secs: settings.token_leeway_secs,
                    ..VerifyOptions::default()
                },
            },
        });
        let key_ages = KeyAges {
            sealing: snapshot
                .sealing_keys
                .iter()
                .filter(|k| matches!(k.state, KeyState::Current | KeyState::Previous))
                .map(|k| (k.id, k.created))
                .collect(),
            issuer: snapshot
                .issuer_keys
                .iter()
                .filter(|k| k.state != KeyState::Retired)
                .map(|k| (k.issuer.clone(), k.kid.clone(), k.created))
                .collect(),
        };
        Ok(Live {
            generation: snapshot.generation,
            key_ages,
            sts,
            issuers,
        })
    }
}

fn sealing_keyring(snapshot: &Snapshot) -> anyhow::Result<SealingKeyring> {
    let to_key = |r: &SealingKeyRecord| SealingKey {
        id: r.id,
        key: r.key,
        created: r.created,
    };
    let current = snapshot
        .sealing_keys
        .iter()
        .filter(|k| k.state == KeyState::Current)
        .max_by_key(|k| k.id)
        .ok_or_else(|| anyhow::anyhow!("the store has no current sealing key"))?;
    let previous = snapshot
        .sealing_keys
        .iter()
        .filter(|k| k.state == KeyState::Previous)
        .map(to_key)
        .collect();
    Ok(SealingKeyring::new(to_key(current), previous)?)
}
