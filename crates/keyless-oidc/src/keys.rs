//! The verification-key cache: JWKS discovery, fetching and caching per provider.
//!
//! [`KeyCache::key`] answers from memory whenever it can. It refetches a
//! provider's JWKS when the cached set expires (in the background while the old
//! keys stay usable for `stale_grace`), when an unknown `kid` shows up (at most
//! once per `unknown_kid_refetch_interval` per provider), and with exactly one
//! fetch in flight per provider however many requests wait for it.

mod discovery;
mod fetch;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::TokenError;
use crate::jwks::{JwkSet, KeyLookup, MSG_KEY_UNAVAILABLE, VerificationKey};
use crate::jwt::Algorithm;

pub use discovery::{
    KeyReport, ProviderReport, discovery_url, inspect_provider, pinned_config_fragment,
};
pub use fetch::{HttpFetcher, MSG_THUMBPRINT_MISMATCH};

/// Where a provider's verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySourceSpec {
    /// OpenID Connect discovery: `{issuer}/.well-known/openid-configuration`, whose
    /// `issuer` must equal this value exactly, then its `jwks_uri`.
    Discovery {
        /// The issuer URL, as it appears in the tokens' `iss`.
        issuer: String,
    },
    /// A JWKS URL fetched directly.
    JwksUrl {
        /// The JWKS URL.
        url: String,
    },
    /// A fixed key set from the configuration; never fetched.
    Pinned {
        /// The pinned keys.
        jwks: Arc<JwkSet>,
    },
}

/// TLS trust settings for fetching a provider's discovery document and JWKS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM), added to the system roots.
    pub ca_bundle_pem: Option<String>,
    /// SHA-1 certificate thumbprints (hex, colons optional) accepted when normal
    /// certificate validation fails, with AWS's semantics.
    pub thumbprints: Vec<String>,
    /// Allow plain `http://` URLs on non-loopback hosts.
    pub allow_insecure_http: bool,
}

/// One provider's key source, as the cache sees it.
#[derive(Debug, Clone)]
pub struct ProviderKeys {
    /// Cache identity, e.g. the issuer URL; state is kept per `id`.
    pub id: String,
    /// Where the keys come from.
    pub source: KeySourceSpec,
    /// TLS settings for fetching them.
    pub tls: TlsOptions,
}

/// Cache and fetch limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Lower bound applied to a JWKS response's `Cache-Control: max-age`.
    pub min_ttl: Duration,
    /// Upper bound applied to a JWKS response's `Cache-Control: max-age`.
    pub max_ttl: Duration,
    /// Freshness of a JWKS response without `max-age`.
    pub default_ttl: Duration,
    /// Minimum time between two fetches caused by unknown key IDs (or by
    /// background revalidation) for one provider.
    pub unknown_kid_refetch_interval: Duration,
    /// How long keys stay usable after their freshness ended while the provider
    /// cannot be reached.
    pub stale_grace: Duration,
    /// How long an unknown key ID, or a failed fetch when no keys are cached, is
    /// answered from memory without trying the provider again.
    pub negative_ttl: Duration,
    /// TCP/TLS connect timeout of one request.
    pub connect_timeout: Duration,
    /// Total timeout of one request, body included.
    pub total_timeout: Duration,
    /// Maximum accepted response body size.
    pub max_body_bytes: usize,
    /// Maximum number of redirects followed by one request.
    pub max_redirects: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            min_ttl: Duration::from_secs(5 * 60),
            max_ttl: Duration::from_secs(24 * 60 * 60),
            default_ttl: Duration::from_secs(60 * 60),
            unknown_kid_refetch_interval: Duration::from_secs(10),
            stale_grace: Duration::from_secs(24 * 60 * 60),
            negative_ttl: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
            max_redirects: 3,
        }
    }
}

/// A fetched document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The response body.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` of the response (zero for `no-store`/`no-cache`).
    pub max_age: Option<Duration>,
}

/// Category of a fetch failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchErrorKind {
    /// DNS, connection or transfer failure.
    Unreachable,
    /// The request timed out.
    Timeout,
    /// HTTP 5xx or 429.
    ServerError,
    /// Any other non-2xx HTTP status.
    ClientError,
    /// The body exceeded the size limit.
    TooLarge,
    /// TLS handshake or certificate validation failed.
    Tls,
    /// Certificate validation failed and no configured thumbprint matched.
    ThumbprintMismatch,
    /// Too many redirects, or a redirect to a disallowed URL.
    Redirect,
    /// The URL is not `https://` (or loopback/allowed `http://`), or is malformed.
    DisallowedUrl,
    /// The response is not an acceptable document.
    InvalidResponse,
}

/// A failed fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// What went wrong.
    pub kind: FetchErrorKind,
    /// Details for logs (URL and cause; never credentials).
    pub message: String,
}

impl FetchError {
    /// A new error.
    pub fn new(kind: FetchErrorKind, message: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying later may succeed (network trouble, timeouts, 5xx/429).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            FetchErrorKind::Unreachable | FetchErrorKind::Timeout | FetchErrorKind::ServerError
        )
    }

    /// The error reported for a token whose key could not be obtained because of
    /// this failure: `IDPCommunicationError` when transient, otherwise
    /// `InvalidIdentityToken` (thumbprint mismatches with AWS's own message).
    pub fn to_token_error(&self) -> TokenError {
        if self.is_transient() {
            return TokenError::idp_communication(format!(
                "Couldn't reach your identity provider: {}",
                self.message
            ));
        }
        if self.kind == FetchErrorKind::ThumbprintMismatch {
            return TokenError::invalid(MSG_THUMBPRINT_MISMATCH);
        }
        TokenError::invalid(MSG_KEY_UNAVAILABLE)
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

/// Fetches documents over HTTP(S); implemented by [`HttpFetcher`].
pub trait JwksFetcher: Send + Sync {
    /// GETs `url` with the provider's TLS settings.
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        tls: &'a TlsOptions,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>>;
}

/// Cache counters, monotonically increasing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Refresh attempts (one per JWKS load, discovery included).
    pub fetches: u64,
    /// Refresh attempts that failed.
    pub fetch_errors: u64,
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups answered from memory with keys past their freshness.
    pub stale_hits: u64,
    /// Lookups that needed (or waited for) a fetch, or hit a remembered failure.
    pub misses: u64,
    /// Lookups that returned an error.
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    fetches: AtomicU64,
    fetch_errors: AtomicU64,
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

struct Snapshot {
    jwks: Arc<JwkSet>,
    fresh_until: Instant,
    usable_until: Instant,
}

struct Failure {
    error: TokenError,
    at: Instant,
}

/// Upper bound on remembered unknown key IDs per provider.
const MAX_UNKNOWN_KIDS: usize = 1024;

struct ProviderState {
    source: KeySourceSpec,
    tls: TlsOptions,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
    attempts: AtomicU64,
    last_attempt: Mutex<Option<Instant>>,
    last_failure: Mutex<Option<Failure>>,
    unknown_kids: Mutex<HashMap<(Option<String>, Algorithm), Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProviderState {
    fn new(provider: &ProviderKeys) -> ProviderState {
        ProviderState {
            source: provider.source.clone(),
            tls: provider.tls.clone(),
            snapshot: RwLock::new(None),
            refresh: Arc::new(tokio::sync::Mutex::new(())),
            attempts: AtomicU64::new(0),
            last_attempt: Mutex::new(None),
            last_failure: Mutex::new(None),
            unknown_kids: Mutex::new(HashMap::new()),
        }
    }

    fn serves(&self, provider: &ProviderKeys) -> bool {
        let same_source = match (&self.source, &provider.source) {
            (KeySourceSpec::Discovery { issuer: a }, KeySourceSpec::Discovery { issuer: b }) => {
                a == b
            }
            (KeySourceSpec::JwksUrl { url: a }, KeySourceSpec::JwksUrl { url: b }) => a == b,
            _ => false,
        };
        same_source && self.tls == provider.tls
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn attempted_within(&self, now: Instant, window: Duration) -> bool {
        lock(&self.last_attempt).is_some_and(|at| now.saturating_duration_since(at) < window)
    }

    fn recent_failure(&self, now: Instant, window: Duration) -> Option<TokenError> {
        lock(&self.last_failure)
            .as_ref()
            .filter(|f| now.saturating_duration_since(f.at) < window)
            .map(|f| f.error.clone())
    }

    /// The error for a key that cannot be found: the latest fetch's failure if
    /// it failed, otherwise AWS's "Couldn't retrieve verification key" error.
    fn unknown_key_error(&self) -> TokenError {
        lock(&self.last_failure)
            .as_ref()
            .map(|f| f.error.clone())
            .unwrap_or_else(|| TokenError::invalid(MSG_KEY_UNAVAILABLE))
    }

    fn is_known_unknown(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        now: Instant,
        ttl: Duration,
    ) -> bool {
        let key = (kid.map(str::to_owned), alg);
        lock(&self.unknown_kids)
            .get(&key)
            .is_some_and(|at| now.saturating_duration_since(*at) < ttl)
    }

    fn remember_unknown(&self, kid: Option<&str>, alg: Algorithm, now: Instant, ttl: Duration) {
        let mut unknown = lock(&self.unknown_kids);
        if unknown.len() >= MAX_UNKNOWN_KIDS {
            unknown.retain(|_, at| now.saturating_duration_since(*at) < ttl);
            if unknown.len() >= MAX_UNKNOWN_KIDS {
                unknown.clear();
            }
        }
        unknown.insert((kid.map(str::to_owned), alg), now);
    }
}

struct CacheInner {
    config: CacheConfig,
    fetcher: Arc<dyn JwksFetcher>,
    providers: RwLock<HashMap<String, Arc<ProviderState>>>,
    counters: Counters,
}

/// Shared, long-lived cache of providers' verification keys. Cloning is cheap
/// and clones share the cache.
#[derive(Clone)]
pub struct KeyCache {
    inner: Arc<CacheInner>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// A new, empty cache fetching with `fetcher`.
    pub fn new(config: CacheConfig, fetcher: Arc<dyn JwksFetcher>) -> Self {
        KeyCache {
            inner: Arc::new(CacheInner {
                config,
                fetcher,
                providers: RwLock::new(HashMap::new()),
                counters: Counters::default(),
            }),
        }
    }

    /// The cache's configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The key that verifies a token of `provider` with key ID `kid` and `alg`.
    ///
    /// Errors: the key set does not have the key (or the provider cannot be
    /// reached and no cached set is usable) gives `InvalidIdentityToken`
    /// "Couldn't retrieve verification key ..." for permanent failures and
    /// `IDPCommunicationError` for transient ones (connection, timeout, 5xx/429);
    /// a key that exists but does not fit `alg` gives `InvalidIdentityToken`.
    pub async fn key(
        &self,
        provider: &ProviderKeys,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerificationKey>, TokenError> {
        let result = self.lookup_key(provider, kid, alg).await;
        if result.is_err() {
            bump(&self.inner.counters.errors);
        }
        result
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        CacheStats {
            fetches: c.fetches.load(Ordering::Relaxed),
            fetch_errors: c.fetch_errors.load(Ordering::Relaxed),
            hits: c.hits.load(Ordering::Relaxed),
            stale_hits: c.stale_hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    /// Drops the state of providers whose id `keep` rejects (after a configuration
    /// reload removed them).
    pub fn retain_providers(&self, keep: impl Fn(&str) -> bool) {
        self.inner
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| keep(id));
    }

    /// The currently cached key set of a provider, if any (fresh or stale).
    pub fn cached(&self, provider_id: &str) -> Option<Arc<JwkSet>> {
        let providers = self
            .inner
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        providers
            .get(provider_id)
            .and_then(|state| state.current())
            .map(|snapshot| Arc::clone(&snapshot.jwks))
    }

    async fn lookup_key(
        &self,
        provider: &ProviderKeys,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerificationKey>, TokenError> {
        let counters = &self.inner.counters;
        let config = &self.inner.config;
        if let KeySourceSpec::Pinned { jwks } = &provider.source {
            bump(&counters.hits);
            return jwks.find(kid, alg);
        }
        let state = self.state_for(provider);
        let now = Instant::now();
        let usable = state.current().filter(|s| now < s.usable_until);
        if let Some(snapshot) = &usable {
            match snapshot.jwks.lookup(kid, alg) {
                KeyLookup::Found(key) => {
                    bump(&counters.hits);
                    if now >= snapshot.fresh_until {
                        bump(&counters.stale_hits);
                        self.spawn_revalidation(provider, &state, now);
                    }
                    return Ok(key);
                }
                KeyLookup::Unusable(error) => {
                    bump(&counters.hits);
                    return Err(error);
                }
                KeyLookup::Unknown => {}
            }
        }
        bump(&counters.misses);
        if usable.is_some() {
            if state.is_known_unknown(kid, alg, now, config.negative_ttl) {
                return Err(state.unknown_key_error());
            }
        } else if let Some(error) = state.recent_failure(now, config.negative_ttl) {
            return Err(error);
        }

        let attempts_before = state.attempts.load(Ordering::Acquire);
        let guard = Arc::clone(&state.refresh).lock_owned().await;
        if state.attempts.load(Ordering::Acquire) == attempts_before {
            let now = Instant::now();
            let still_usable = state.current().is_some_and(|s| now < s.usable_until);
            if still_usable && state.attempted_within(now, config.unknown_kid_refetch_interval) {
                drop(guard);
                state.remember_unknown(kid, alg, now, config.negative_ttl);
                return Err(state.unknown_key_error());
            }
            if !still_usable && let Some(error) = state.recent_failure(now, config.negative_ttl) {
                return Err(error);
            }
            self.refresh_detached(provider, &state, guard).await;
        } else {
            drop(guard);
        }
        self.lookup_after_refresh(&state, kid, alg)
    }

    /// Runs a refresh in its own task, so that a caller giving up (a dropped
    /// request) does not abort a fetch that other requests are waiting for.
    async fn refresh_detached(
        &self,
        provider: &ProviderKeys,
        state: &Arc<ProviderState>,
        guard: tokio::sync::OwnedMutexGuard<()>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refresh(provider, state).await;
            drop(guard);
            return;
        };
        let cache = self.clone();
        let provider = provider.clone();
        let task_state = Arc::clone(state);
        let task = runtime.spawn(async move {
            cache.refresh(&provider, &task_state).await;
            drop(guard);
        });
        if task.await.is_err() {
            tracing::error!("the identity provider key refresh task failed");
        }
    }

    fn lookup_after_refresh(
        &self,
        state: &ProviderState,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerificationKey>, TokenError> {
        let now = Instant::now();
        match state.current().filter(|s| now < s.usable_until) {
            Some(snapshot) => match snapshot.jwks.lookup(kid, alg) {
                KeyLookup::Found(key) => Ok(key),
                KeyLookup::Unusable(error) => Err(error),
                KeyLookup::Unknown => {
                    state.remember_unknown(kid, alg, now, self.inner.config.negative_ttl);
                    Err(state.unknown_key_error())
                }
            },
            None => Err(state.unknown_key_error()),
        }
    }

    fn state_for(&self, provider: &ProviderKeys) -> Arc<ProviderState> {
        {
            let providers = self
                .inner
                .providers
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(state) = providers.get(&provider.id)
                && state.serves(provider)
            {
                return Arc::clone(state);
            }
        }
        let mut providers = self
            .inner
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match providers.get(&provider.id) {
            Some(state) if state.serves(provider) => Arc::clone(state),
            _ => {
                let state = Arc::new(ProviderState::new(provider));
                providers.insert(provider.id.clone(), Arc::clone(&state));
                state
            }
        }
    }

    /// Starts a background refresh of stale keys unless one ran recently or is running.
    fn spawn_revalidation(
        &self,
        provider: &ProviderKeys,
        state: &Arc<ProviderState>,
        now: Instant,
    ) {
        let config = &self.inner.config;
        if state.attempted_within(now, config.unknown_kid_refetch_interval)
            || state.recent_failure(now, config.negative_ttl).is_some()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(guard) = Arc::clone(&state.refresh).try_lock_owned() else {
            return;
        };
        let cache = self.clone();
        let provider = provider.clone();
        let state = Arc::clone(state);
        runtime.spawn(async move {
            cache.refresh(&provider, &state).await;
            drop(guard);
        });
    }

    /// Loads the provider's key set once and records the outcome. The caller
    /// holds the provider's refresh lock.
    async fn refresh(&self, provider: &ProviderKeys, state: &ProviderState) {
        let config = &self.inner.config;
        let counters = &self.inner.counters;
        *lock(&state.last_attempt) = Some(Instant::now());
        bump(&counters.fetches);
        match self.load(provider).await {
            Ok((jwks, max_age)) => {
                let ttl = max_age
                    .map(|age| age.clamp(config.min_ttl, config.max_ttl))
                    .unwrap_or(config.default_ttl);
                let now = Instant::now();
                let snapshot = Snapshot {
                    jwks: Arc::new(jwks),
                    fresh_until: now + ttl,
                    usable_until: now + ttl + config.stale_grace,
                };
                *state
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(snapshot));
                *lock(&state.last_failure) = None;
            }
            Err(error) => {
                bump(&counters.fetch_errors);
                *lock(&state.last_failure) = Some(Failure {
                    error,
                    at: Instant::now(),
                });
            }
        }
        state.attempts.fetch_add(1, Ordering::AcqRel);
    }

    async fn load(
        &self,
        provider: &ProviderKeys,
    ) -> Result<(JwkSet, Option<Duration>), TokenError> {
        let jwks_url = match &provider.source {
            KeySourceSpec::Pinned { jwks } => return Ok((JwkSet::clone(jwks), None)),
            KeySourceSpec::JwksUrl { url } => url.clone(),
            KeySourceSpec::Discovery { issuer } => {
                let document = self
                    .fetch_document(provider, &discovery_url(issuer))
                    .await?;
                discovery::jwks_uri_from_document(&document.body, issuer, &provider.tls).map_err(
                    |error| {
                        tracing::warn!(provider = %provider.id, %error, "invalid discovery document");
                        TokenError::invalid(MSG_KEY_UNAVAILABLE)
                    },
                )?
            }
        };
        let fetched = self.fetch_document(provider, &jwks_url).await?;
        let jwks = JwkSet::parse(&fetched.body).map_err(|error| {
            tracing::warn!(provider = %provider.id, url = %jwks_url, error = %error.message, "invalid JWKS");
            TokenError::invalid(MSG_KEY_UNAVAILABLE)
        })?;
        Ok((jwks, fetched.max_age))
    }

    async fn fetch_document(
        &self,
        provider: &ProviderKeys,
        url: &str,
    ) -> Result<Fetched, TokenError> {
        let config = &self.inner.config;
        let result = match fetch::check_url(url, &provider.tls) {
            Err(error) => Err(error),
            Ok(()) => {
                match tokio::time::timeout(
                    config.total_timeout,
                    self.inner.fetcher.fetch(url, &provider.tls),
                )
                .await
                {
                    Err(_) => Err(FetchError::new(
                        FetchErrorKind::Timeout,
                        format!("{url} did not answer within {:?}", config.total_timeout),
                    )),
                    Ok(Err(error)) => Err(error),
                    Ok(Ok(fetched)) if fetched.body.len() > config.max_body_bytes => {
                        Err(FetchError::new(
                            FetchErrorKind::TooLarge,
                            format!("{url} answered more than {} bytes", config.max_body_bytes),
                        ))
                    }
                    Ok(Ok(fetched)) => Ok(fetched),
                }
            }
        };
        result.map_err(|error| {
            tracing::warn!(provider = %provider.id, %url, %error, "fetching identity provider keys failed");
            error.to_token_error()
        })
    }
}
