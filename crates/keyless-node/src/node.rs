//! A running node: its settings, the store, the live state every request reads, and the JWKS
//! cache. The live state is rebuilt from the store whenever the store's generation moves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use keyless_oidc::keys::{
    CacheConfig, FetchError, Fetched, HttpFetcher, JwksFetcher, KeyCache, TlsOptions,
};
use keyless_store::Store;

use crate::clock::unix_now;
use crate::live::Live;
use crate::settings::Settings;

/// A running node.
pub struct Node {
    /// Fixed settings.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// The live state.
    pub live: ArcSwap<Live>,
    /// Provider keys.
    pub key_cache: KeyCache,
}

impl Node {
    /// Builds a node from the store's current contents, fetching provider keys over HTTPS.
    pub async fn new(settings: Settings, store: Store) -> anyhow::Result<Node> {
        let cache_config = CacheConfig::default();
        let fetcher = Arc::new(TimedFetcher(HttpFetcher::new(&cache_config)));
        Node::with_key_cache(settings, store, KeyCache::new(cache_config, fetcher)).await
    }

    /// Builds a node from the store's current contents with `key_cache`.
    pub async fn with_key_cache(
        settings: Settings,
        store: Store,
        key_cache: KeyCache,
    ) -> anyhow::Result<Node> {
        let snapshot = store.load_snapshot().await?;
        let live = Live::build(&settings, &snapshot)?;
        Ok(Node {
            settings,
            store,
            live: ArcSwap::from_pointee(live),
            key_cache,
        })
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        unix_now() + self.settings.clock_offset_secs
    }

    /// The account ID.
    pub fn account(&self) -> &str {
        &self.settings.account
    }

    /// Reloads the live state if the store's generation moved. Returns whether it did. The key
    /// cache forgets the providers the new state no longer has.
    pub async fn refresh(&self) -> anyhow::Result<bool> {
        let generation = self.store.generation().await?;
        if generation == self.live.load().generation {
            return Ok(false);
        }
        let snapshot = self.store.load_snapshot().await?;
        let live = Live::build(&self.settings, &snapshot)?;
        for w in &live.sts.warnings {
            tracing::warn!("{w}");
        }
        self.key_cache.retain_providers(|id| {
            live.sts
                .providers_by_issuer
                .values()
                .any(|p| p.keys.id == id)
        });
        self.live.store(Arc::new(live));
        tracing::info!(generation = snapshot.generation, "state reloaded");
        Ok(true)
    }

    /// Polls the store every `interval` and reloads on change; runs until the process ends.
    pub fn spawn_refresher(self: &Arc<Self>, interval: Duration) {
        let node = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = node.refresh().await {
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
