//! The key cache against a local JWKS server that misbehaves on command.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::error::TokenErrorCode;
use keyless_oidc::jwks::{JwkSet, MSG_KEY_UNAVAILABLE};
use keyless_oidc::jwt::Algorithm;
use keyless_oidc::keys::{
    CacheConfig, FetchErrorKind, HttpFetcher, KeyCache, KeySourceSpec, ProviderKeys, TlsOptions,
    inspect_provider, pinned_config_fragment,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Normal,
    Error500,
    Slow(Duration),
    InvalidJson,
    Huge,
}

struct ServerState {
    issuer: Mutex<String>,
    jwks: Mutex<String>,
    max_age: Mutex<Option<u64>>,
    mode: Mutex<Mode>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
}

struct JwksServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

async fn jwks_handler(State(state): State<Arc<ServerState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().expect("lock");
    match mode {
        Mode::Error500 => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::InvalidJson => return r#"{"keys":[{"kty":"#.into_response(),
        Mode::Huge => {
            let mut body = br#"{"keys":[],"padding":""#.to_vec();
            body.resize(1024 * 1024, b'x');
            body.extend_from_slice(b"\"}");
            return body.into_response();
        }
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Normal => {}
    }
    let body = state.jwks.lock().expect("lock").clone();
    match *state.max_age.lock().expect("lock") {
        Some(age) => (
            [(header::CACHE_CONTROL, format!("max-age={age}, public"))],
            body,
        )
            .into_response(),
        None => body.into_response(),
    }
}

async fn discovery_handler(State(state): State<Arc<ServerState>>) -> Response {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let issuer = state.issuer.lock().expect("lock").clone();
    format!(r#"{{"issuer":"{issuer}","jwks_uri":"{issuer}/oauth/discovery/keys","id_token_signing_alg_values_supported":["RS256"]}}"#)
        .into_response()
}

/// `/hop/0` redirects to the JWKS, `/hop/n` to `/hop/{n-1}`.
async fn hop_handler(axum::extract::Path(n): axum::extract::Path<u32>) -> Response {
    let location = match n {
        0 => "/oauth/discovery/keys".to_owned(),
        n => format!("/hop/{}", n - 1),
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// Redirects to plain HTTP on a non-loopback host.
async fn offsite_handler() -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, "http://192.0.2.1/oauth/discovery/keys")],
    )
        .into_response()
}

impl JwksServer {
    async fn start(jwks: String) -> JwksServer {
        let state = Arc::new(ServerState {
            issuer: Mutex::new(String::new()),
            jwks: Mutex::new(jwks),
            max_age: Mutex::new(None),
            mode: Mutex::new(Mode::Normal),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        *state.issuer.lock().expect("lock") = format!("http://{addr}");
        let mut server = JwksServer {
            addr,
            state,
            shutdown: None,
            task: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/oauth/discovery/keys", get(jwks_handler))
            .route("/.well-known/openid-configuration", get(discovery_handler))
            .route("/hop/{n}", get(hop_handler))
            .route("/offsite", get(offsite_handler))
            .with_state(Arc::clone(&self.state));
        let (tx, rx) = oneshot::channel::<()>();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        }));
    }

    /// Stops accepting and closes every connection: further requests are refused.
    async fn go_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    async fn come_back(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind");
        self.serve(listener);
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().expect("lock") = mode;
    }

    fn set_jwks(&self, jwks: String) {
        *self.state.jwks.lock().expect("lock") = jwks;
    }

    fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn jwks_url(&self) -> String {
        format!("http://{}/oauth/discovery/keys", self.addr)
    }

    fn provider(&self) -> ProviderKeys {
        ProviderKeys {
            id: self.issuer(),
            source: KeySourceSpec::JwksUrl {
                url: self.jwks_url(),
            },
            tls: TlsOptions::default(),
        }
    }
}

fn jwk(kid: &str) -> String {
    let key = Ed25519KeyPair::generate().expect("Ed25519");
    format!(
        r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","use":"sig","alg":"EdDSA","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.public_key().as_ref())
    )
}

fn jwks(kids: &[&str]) -> String {
    let keys: Vec<String> = kids.iter().map(|kid| jwk(kid)).collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

const REFETCH_INTERVAL: Duration = Duration::from_millis(1000);
const NEGATIVE_TTL: Duration = Duration::from_millis(500);
/// Comfortably past both the refetch interval and the negative TTL.
const PAST_WINDOWS: Duration = Duration::from_millis(1150);

fn test_config() -> CacheConfig {
    CacheConfig {
        min_ttl: Duration::ZERO,
        max_ttl: Duration::from_secs(3600),
        default_ttl: Duration::from_secs(3600),
        unknown_kid_refetch_interval: REFETCH_INTERVAL,
        stale_grace: Duration::from_secs(60),
        negative_ttl: NEGATIVE_TTL,
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_millis(1500),
        max_body_bytes: 256 * 1024,
        max_redirects: 3,
    }
}

fn cache(config: CacheConfig) -> KeyCache {
    KeyCache::new(config, Arc::new(HttpFetcher::new(&config)))
}

async fn code_of(
    cache: &KeyCache,
    provider: &ProviderKeys,
    kid: &str,
) -> Result<String, (TokenErrorCode, String)> {
    cache
        .key(provider, Some(kid), Algorithm::EdDSA)
        .await
        .map(|key| key.kid().unwrap_or_default().to_owned())
        .map_err(|e| (e.code, e.message))
}

/// Polls `condition` for up to five seconds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unavailable() -> (TokenErrorCode, String) {
    (
        TokenErrorCode::InvalidIdentityToken,
        MSG_KEY_UNAVAILABLE.to_owned(),
    )
}

#[tokio::test]
async fn rotation_is_picked_up_and_unknown_kids_are_rate_limited() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    let provider = server.provider();
    let cache = cache(test_config());
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
    assert_eq!(server.jwks_hits(), 1, "the second lookup is a memory hit");

    server.set_jwks(jwks(&["k2"]));
    // Within the refetch interval an unknown kid does not cause a fetch.
    let err = code_of(&cache, &provider, "k2")
        .await
        .expect_err("rate limited");
    assert_eq!(err, unavailable());
    for _ in 0..20 {
        assert!(code_of(&cache, &provider, "random").await.is_err());
    }
    assert_eq!(server.jwks_hits(), 1);

    tokio::time::sleep(PAST_WINDOWS).await;
    assert_eq!(code_of(&cache, &provider, "k2").await.as_deref(), Ok("k2"));
    assert_eq!(server.jwks_hits(), 2, "one refetch picked up the rotation");
    // k1 left the set with the rotation.
    assert_eq!(code_of(&cache, &provider, "k1").await, Err(unavailable()));
    assert_eq!(server.jwks_hits(), 2, "rate limit still applies");
    let stats = cache.stats();
    assert_eq!(stats.fetches, 2);
    assert_eq!(
        (stats.hits, stats.misses, stats.errors),
        (1, 24, 22),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_for_a_new_kid_cause_one_fetch() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    server.set_mode(Mode::Slow(Duration::from_millis(150)));
    let provider = server.provider();
    let cache = cache(test_config());

    let run = |kid: &'static str| {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let cache = cache.clone();
                let provider = provider.clone();
                tokio::spawn(async move { code_of(&cache, &provider, kid).await })
            })
            .collect();
        async move {
            let mut ok = 0;
            for task in tasks {
                if task.await.expect("task").is_ok() {
                    ok += 1;
                }
            }
            ok
        }
    };
    assert_eq!(run("k1").await, 1000);
    assert_eq!(
        server.jwks_hits(),
        1,
        "cold start: one fetch for 1000 requests"
    );

    server.set_jwks(jwks(&["k1", "k3"]));
    tokio::time::sleep(PAST_WINDOWS).await;
    assert_eq!(run("k3").await, 1000);
    assert_eq!(
        server.jwks_hits(),
        2,
        "new kid: one fetch for 1000 requests"
    );
    assert_eq!(cache.stats().fetches, 2);
}

#[tokio::test]
async fn stale_keys_keep_working_while_the_issuer_is_down() {
    let mut server = JwksServer::start(jwks(&["k1"])).await;
    *server.state.max_age.lock().expect("lock") = Some(0);
    let provider = server.provider();
    let config = CacheConfig {
        min_ttl: Duration::from_millis(200),
        ..test_config()
    };
    let cache = cache(config);
    assert!(code_of(&cache, &provider, "k1").await.is_ok());
    server.go_down().await;
    tokio::time::sleep(PAST_WINDOWS).await;

    // Past freshness, within stale_grace: served from memory; the background
    // revalidation fails quietly.
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
    eventually("a failed revalidation", || cache.stats().fetch_errors >= 1).await;
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
    let stats = cache.stats();
    assert!(stats.stale_hits >= 2, "{stats:?}");
    assert_eq!(stats.fetches, 2, "one revalidation per interval: {stats:?}");

    // An unknown kid while the issuer is unreachable is a retryable error.
    let err = code_of(&cache, &provider, "k9").await.expect_err("down");
    assert_eq!(err.0, TokenErrorCode::IdpCommunicationError, "{}", err.1);
    tokio::time::sleep(PAST_WINDOWS).await;
    let err = code_of(&cache, &provider, "k9").await.expect_err("down");
    assert_eq!(err.0, TokenErrorCode::IdpCommunicationError, "{}", err.1);

    // Back up with a rotated set: picked up without restarting anything.
    server.set_jwks(jwks(&["k1", "k9"]));
    server.come_back().await;
    tokio::time::sleep(PAST_WINDOWS).await;
    assert_eq!(code_of(&cache, &provider, "k9").await.as_deref(), Ok("k9"));
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
}

#[tokio::test]
async fn cold_cache_errors_have_the_right_codes() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    let provider = server.provider();

    server.set_mode(Mode::Error500);
    let cache_500 = cache(test_config());
    let err = code_of(&cache_500, &provider, "k1").await.expect_err("500");
    assert_eq!(err.0, TokenErrorCode::IdpCommunicationError);
    // Remembered for negative_ttl: no second request.
    let again = code_of(&cache_500, &provider, "k1").await.expect_err("500");
    assert_eq!(again.0, TokenErrorCode::IdpCommunicationError);
    assert_eq!(server.jwks_hits(), 1);

    server.set_mode(Mode::InvalidJson);
    let err = code_of(&cache(test_config()), &provider, "k1").await;
    assert_eq!(err, Err(unavailable()));

    server.set_mode(Mode::Huge);
    let err = code_of(&cache(test_config()), &provider, "k1").await;
    assert_eq!(err, Err(unavailable()));

    // Once the 500 is forgotten, the same cache recovers.
    server.set_mode(Mode::Normal);
    tokio::time::sleep(PAST_WINDOWS).await;
    assert_eq!(
        code_of(&cache_500, &provider, "k1").await.as_deref(),
        Ok("k1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_issuer_times_out_without_blocking_other_providers() {
    let slow = JwksServer::start(jwks(&["k1"])).await;
    slow.set_mode(Mode::Slow(Duration::from_secs(10)));
    let fast = JwksServer::start(jwks(&["f1"])).await;
    let config = CacheConfig {
        total_timeout: Duration::from_secs(3),
        ..test_config()
    };
    let cache = cache(config);

    let slow_lookup = {
        let cache = cache.clone();
        let provider = slow.provider();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = code_of(&cache, &provider, "k1").await;
            (result, started.elapsed())
        })
    };
    eventually("the slow request", || slow.jwks_hits() == 1).await;
    let started = Instant::now();
    assert_eq!(
        code_of(&cache, &fast.provider(), "f1").await.as_deref(),
        Ok("f1")
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    let (result, elapsed) = slow_lookup.await.expect("task");
    let err = result.expect_err("timeout");
    assert_eq!(err.0, TokenErrorCode::IdpCommunicationError, "{}", err.1);
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_broken_refresh_keeps_the_cached_keys() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    *server.state.max_age.lock().expect("lock") = Some(0);
    let provider = server.provider();
    let cache = cache(CacheConfig {
        min_ttl: Duration::from_millis(100),
        ..test_config()
    });
    assert!(code_of(&cache, &provider, "k1").await.is_ok());
    server.set_mode(Mode::InvalidJson);
    tokio::time::sleep(PAST_WINDOWS).await;
    assert!(code_of(&cache, &provider, "k1").await.is_ok());
    eventually("the revalidation", || cache.stats().fetch_errors == 1).await;
    assert_eq!(server.jwks_hits(), 2);
    assert!(code_of(&cache, &provider, "k1").await.is_ok());
    assert_eq!(cache.cached(&provider.id).map(|set| set.len()), Some(1));
}

#[tokio::test]
async fn max_age_sets_freshness() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    *server.state.max_age.lock().expect("lock") = Some(3600);
    let provider = server.provider();
    let cache = cache(CacheConfig {
        default_ttl: Duration::ZERO,
        ..test_config()
    });
    assert!(code_of(&cache, &provider, "k1").await.is_ok());
    tokio::time::sleep(PAST_WINDOWS).await;
    assert!(code_of(&cache, &provider, "k1").await.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.jwks_hits(), 1, "fresh for max-age: no revalidation");
    assert_eq!(cache.stats().stale_hits, 0);
}

#[tokio::test]
async fn redirects_are_limited_and_must_stay_allowed() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    let provider_at = |path: &str| ProviderKeys {
        id: format!("{}{path}", server.issuer()),
        source: KeySourceSpec::JwksUrl {
            url: format!("{}{path}", server.issuer()),
        },
        tls: TlsOptions::default(),
    };
    let cache = cache(test_config());
    assert_eq!(
        code_of(&cache, &provider_at("/hop/2"), "k1")
            .await
            .as_deref(),
        Ok("k1")
    );
    assert_eq!(
        code_of(&cache, &provider_at("/hop/3"), "k1").await,
        Err(unavailable()),
        "four redirects exceed the limit of three"
    );
    assert_eq!(
        code_of(&cache, &provider_at("/offsite"), "k1").await,
        Err(unavailable()),
        "plain http to a non-loopback host is refused"
    );
}

#[tokio::test]
async fn the_body_limit_holds_while_streaming() {
    // A raw server answering with a chunked body (no Content-Length) of 1 MiB.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if tcp.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..16 {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if tcp.write_all(frame.as_bytes()).await.is_err()
                        || tcp.write_all(&chunk).await.is_err()
                        || tcp.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                }
                let _ = tcp.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    let config = test_config();
    let fetcher = HttpFetcher::new(&config);
    let url = format!("http://{addr}/keys");
    let err = keyless_oidc::keys::JwksFetcher::fetch(&fetcher, &url, &TlsOptions::default())
        .await
        .expect_err("too large");
    assert_eq!(err.kind, FetchErrorKind::TooLarge, "{err}");
    assert_eq!(err.to_token_error().message, MSG_KEY_UNAVAILABLE);
}

#[tokio::test]
async fn discovery_checks_the_issuer_and_follows_jwks_uri() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    let cache = cache(test_config());
    let provider = ProviderKeys {
        id: server.issuer(),
        source: KeySourceSpec::Discovery {
            issuer: server.issuer(),
        },
        tls: TlsOptions::default(),
    };
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
    assert_eq!(server.state.discovery_hits.load(Ordering::SeqCst), 1);

    // The discovery document names another issuer (here with a trailing slash).
    *server.state.issuer.lock().expect("lock") = format!("{}/", server.issuer());
    let other = ProviderKeys {
        id: "second".to_owned(),
        ..provider.clone()
    };
    let err = code_of(&cache, &other, "k1").await;
    assert_eq!(err, Err(unavailable()));
}

#[tokio::test]
async fn inspect_and_pin_a_provider() {
    let server = JwksServer::start(jwks(&["k1", "k2"])).await;
    let fetcher = HttpFetcher::new(&test_config());
    let report = inspect_provider(&server.issuer(), &TlsOptions::default(), &fetcher)
        .await
        .expect("inspect");
    assert_eq!(report.jwks_uri, server.jwks_url());
    assert_eq!(report.keys.len(), 2);
    assert_eq!(report.tls_thumbprint, None, "plain http has no certificate");
    let fragment = pinned_config_fragment(&report, &["sts.example".to_owned()]);
    let line = fragment
        .lines()
        .find_map(|l| l.strip_prefix("jwks = "))
        .expect("jwks line");
    let json: String = serde_json::from_str(line).expect("quoted JSON");
    let pinned = JwkSet::parse(json.as_bytes()).expect("pinned JWKS");
    let thumbprints: Vec<String> = pinned.keys().map(|k| k.thumbprint()).collect();
    let reported: Vec<String> = report.keys.iter().map(|k| k.thumbprint.clone()).collect();
    assert_eq!(thumbprints, reported);

    // A pinned source never fetches.
    let cache = cache(test_config());
    let provider = ProviderKeys {
        id: server.issuer(),
        source: KeySourceSpec::Pinned {
            jwks: Arc::new(pinned),
        },
        tls: TlsOptions::default(),
    };
    let hits = server.jwks_hits();
    assert_eq!(code_of(&cache, &provider, "k2").await.as_deref(), Ok("k2"));
    assert!(code_of(&cache, &provider, "k3").await.is_err());
    assert_eq!(server.jwks_hits(), hits);

    let mismatch = inspect_provider(
        &format!("{}/", server.issuer()),
        &TlsOptions::default(),
        &fetcher,
    )
    .await;
    assert!(
        mismatch.is_err(),
        "issuer with a trailing slash does not match"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_does_not_abort_the_shared_fetch() {
    let server = JwksServer::start(jwks(&["k1"])).await;
    server.set_mode(Mode::Slow(Duration::from_millis(400)));
    let provider = server.provider();
    let cache = cache(test_config());
    let first = {
        let cache = cache.clone();
        let provider = provider.clone();
        tokio::spawn(async move { code_of(&cache, &provider, "k1").await })
    };
    eventually("the first fetch", || server.jwks_hits() == 1).await;
    first.abort();
    assert_eq!(code_of(&cache, &provider, "k1").await.as_deref(), Ok("k1"));
    assert_eq!(server.jwks_hits(), 1, "the waiter shared the running fetch");
}
