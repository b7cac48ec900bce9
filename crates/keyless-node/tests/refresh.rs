//! A node reloads its live state when the store changes, and its key cache forgets the
//! providers the new state no longer has.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keyless_node::Node;
use keyless_node::config::Config;
use keyless_node::data::DataOptions;
use keyless_node::start::{NodeOptions, start};
use keyless_oidc::issuer::{IssuerKeyring, SigningKey};
use keyless_oidc::jwt::Algorithm;
use keyless_oidc::keys::{CacheConfig, FetchError, Fetched, JwksFetcher, KeyCache, TlsOptions};
use keyless_sts::model::{ConditionKeyMode, KeySource, ManagedBy, OidcProvider};

/// Serves one JWKS for every URL.
struct OneJwks(String);

impl JwksFetcher for OneJwks {
    fn fetch<'a>(
        &'a self,
        _url: &'a str,
        _tls: &'a TlsOptions,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>> {
        Box::pin(async move {
            Ok(Fetched {
                body: self.0.clone().into_bytes(),
                max_age: None,
            })
        })
    }
}

fn provider(url: &str) -> OidcProvider {
    OidcProvider {
        url: url.to_owned(),
        client_ids: vec!["sts.amazonaws.com".to_owned()],
        thumbprints: Vec::new(),
        key_source: KeySource::JwksUrl {
            url: format!("{url}/jwks"),
        },
        condition_keys: ConditionKeyMode::All,
        allow_insecure_http: false,
        ca_bundle: None,
        tags: Vec::new(),
        created: 0,
        managed_by: ManagedBy::Api,
    }
}

#[tokio::test]
async fn a_deleted_provider_leaves_the_key_cache() {
    let dir = tempfile::tempdir().unwrap();
    let started = start(NodeOptions {
        data: DataOptions {
            data_dir: dir.path().to_owned(),
            database: None,
        },
        config: Config::default(),
        config_file: None,
        dev: false,
        public_url: "http://keyless.test".to_owned(),
        clock_offset_secs: 0,
    })
    .await
    .unwrap();
    let key = SigningKey::generate().unwrap();
    let kid = key.kid().to_owned();
    let jwks = IssuerKeyring::new(key, Vec::new()).jwks().to_string();
    let cache = KeyCache::new(CacheConfig::default(), Arc::new(OneJwks(jwks)));
    let settings = started.node.settings.clone();
    let store = started.node.store.clone();
    let node = Node::with_key_cache(settings, store.clone(), cache)
        .await
        .unwrap();

    let (gone, kept) = ("https://gone.example", "https://kept.example");
    store.create_provider(&provider(gone)).await.unwrap();
    store.create_provider(&provider(kept)).await.unwrap();
    assert!(node.refresh().await.unwrap(), "the generation moved");
    for url in [gone, kept] {
        let entry = node.live.load().sts.providers_by_issuer[url].clone();
        node.key_cache
            .key(&entry.keys, Some(&kid), Algorithm::RS256)
            .await
            .expect("the key is fetched");
        assert!(node.key_cache.cached(url).is_some());
    }

    store.delete_provider(gone).await.unwrap();
    assert!(node.refresh().await.unwrap());
    assert!(!node.live.load().sts.providers_by_issuer.contains_key(gone));
    assert!(
        node.key_cache.cached(gone).is_none(),
        "the deleted provider's keys are dropped"
    );
    assert!(
        node.key_cache.cached(kept).is_some(),
        "the others stay cached"
    );
    assert!(!node.refresh().await.unwrap(), "nothing changed since");
}
