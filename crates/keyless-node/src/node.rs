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
use keyless_store::{Changes, Store};

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
    /// Held while the live state is being updated: updates apply one after another, each on
    /// the state the previous one left.
    updating: tokio::sync::Mutex<()>,
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
            updating: tokio::sync::Mutex::new(()),
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

    /// Brings the live state up to the store's generation: applies the entities changed since
    /// (from the change log), or reloads everything when the log no longer reaches back to the
    /// state's generation. Returns whether the state moved. The key cache forgets the providers
    /// the new state no longer has.
    pub async fn refresh(&self) -> anyhow::Result<bool> {
        let _updating = self.updating.lock().await;
        let current = self.live.load_full();
        let live = match self.store.changes_since(current.generation).await? {
            Changes::Current => return Ok(false),
            Changes::Entities(changed) => {
                let entities = changed.providers.len()
                    + changed.roles.len()
                    + changed.policies.len()
                    + usize::from(changed.keys.is_some());
                let live = current.apply(&self.settings, &changed)?;
                metrics::counter!("keyless_state_updates_total", "kind" => "incremental")
                    .increment(1);
                tracing::debug!(generation = live.generation, entities, "state updated");
                live
            }
            Changes::Trimmed {
                generation,
                changes_from,
            } => {
                tracing::warn!(
                    known = current.generation,
                    changes_from,
                    generation,
                    "the change log no longer reaches this node's generation: reloading the whole state"
                );
                metrics::counter!("keyless_state_updates_total", "kind" => "full_reload")
                    .increment(1);
                let snapshot = self.store.load_snapshot().await?;
                Live::build(&self.settings, &snapshot)?
            }
        };
        for w in &live.sts.warnings {
            tracing::warn!("{w}");
        }
        if live.sts.providers_by_issuer.len() != current.sts.providers_by_issuer.len()
            || !live
                .sts
                .providers_by_issuer
                .ptr_eq(&current.sts.providers_by_issuer)
        {
            self.key_cache.retain_providers(|id| {
                live.sts
                    .providers_by_issuer
                    .values()
                    .any(|p| p.keys.id == id)
            });
        }
        self.live.store(Arc::new(live));
        Ok(true)
    }

    /// Keeps the live state current: on PostgreSQL at every commit another replica announces,
    /// and on every store by polling every `interval` (which also catches announcements lost
    /// while the listener reconnects). Runs until the process ends.
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
        let node = Arc::clone(self);
        tokio::spawn(async move { node.follow_notifications(interval).await });
    }

    /// Refreshes at every commit notification, reconnecting the listener after a failure.
    async fn follow_notifications(&self, backoff: Duration) {
        loop {
            let mut listener = match self.store.listen_changes().await {
                Ok(Some(listener)) => listener,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("cannot listen for changes (polling meanwhile): {e}");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            loop {
                match listener.next().await {
                    Ok(generation) => {
                        if generation > self.live.load().generation
                            && let Err(e) = self.refresh().await
                        {
                            tracing::warn!("state refresh failed: {e:#}");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("the change listener failed (polling meanwhile): {e}");
                        tokio::time::sleep(backoff).await;
                        break;
                    }
                }
            }
        }
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
