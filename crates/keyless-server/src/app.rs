//! The running server's state: settings, the store, the live snapshot every request reads, and
//! the JWKS cache. The snapshot is rebuilt from the store whenever its generation moves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use keyless_credentials::session::{SealingKey, SealingKeyring};
use std::future::Future;
use std::pin::Pin;

use keyless_oidc::keys::{
    CacheConfig, FetchError, Fetched, HttpFetcher, JwksFetcher, KeyCache, TlsOptions,
};
use keyless_oidc::verify::VerifyOptions;
use keyless_store::{KeyState, Snapshot, Store};
use keyless_sts::state::{LongTermKey, StateInputs, StsOptions, StsState};

use crate::issuers::{self, BuiltinIssuer, IssuerSettings};

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The 12-digit account ID.
    pub account: String,
    /// This server's public base URL.
    pub public_url: String,
    /// Put a short reason into AccessDenied messages.
    pub debug_denials: bool,
    /// Token time-check leeway, seconds.
    pub token_leeway_secs: i64,
    /// The most bytes of one request body.
    pub max_body_bytes: usize,
    /// Development mode.
    pub dev: bool,
    /// Seconds added to the system clock (development mode only).
    pub clock_offset_secs: i64,
    /// The built-in issuers.
    pub issuers: Vec<IssuerSettings>,
}

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

/// The server.
pub struct App {
    /// Fixed settings.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// The live snapshot.
    pub live: ArcSwap<Live>,
    /// Provider keys.
    pub key_cache: KeyCache,
    /// The audit log.
    pub auditor: crate::audit::Auditor,
}

impl App {
    /// Builds the server from the store's current contents.
    pub async fn new(
        settings: Settings,
        store: Store,
        auditor: crate::audit::Auditor,
    ) -> anyhow::Result<Arc<App>> {
        let snapshot = store.load_snapshot().await?;
        let live = build_live(&settings, &snapshot)?;
        let cache_config = CacheConfig::default();
        let fetcher = Arc::new(TimedFetcher(HttpFetcher::new(&cache_config)));
        let key_cache = KeyCache::new(cache_config, fetcher);
        Ok(Arc::new(App {
            settings,
            store,
            live: ArcSwap::from_pointee(live),
            key_cache,
            auditor,
        }))
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        unix_now() + self.settings.clock_offset_secs
    }

    /// Reloads the snapshot if the store's generation moved. Returns whether it did.
    pub async fn refresh(&self) -> anyhow::Result<bool> {
        let generation = self.store.generation().await?;
        if generation == self.live.load().generation {
            return Ok(false);
        }
        let snapshot = self.store.load_snapshot().await?;
        let live = build_live(&self.settings, &snapshot)?;
        for w in &live.sts.warnings {
            tracing::warn!("{w}");
        }
        self.live.store(Arc::new(live));
        tracing::info!(generation = snapshot.generation, "state reloaded");
        Ok(true)
    }

    /// Polls the store every `interval` and reloads on change; runs until the process ends.
    pub fn spawn_refresher(self: &Arc<Self>, interval: Duration) {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = app.refresh().await {
                    tracing::warn!("state refresh failed: {e:#}");
                }
            }
        });
    }
}

/// The HTTP fetcher, timed into `keyless_jwks_fetch_duration_seconds`.
struct TimedFetcher(HttpFetcher);

impl JwksFetcher for TimedFetcher {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        tls: &'a TlsOptions,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = self.0.fetch(url, tls).await;
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics::histogram!("keyless_jwks_fetch_duration_seconds", "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// The current system time, Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Compiles a snapshot into the live state.
pub fn build_live(settings: &Settings, snapshot: &Snapshot) -> anyhow::Result<Live> {
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

fn sealing_keyring(snapshot: &Snapshot) -> anyhow::Result<SealingKeyring> {
    let to_key = |r: &keyless_store::SealingKeyRecord| SealingKey {
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
