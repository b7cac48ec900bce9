//! Native TLS: rustls on aws-lc-rs, TLS 1.2 and 1.3, HTTP/1.1 over ALPN, with the certificate
//! and key read from PEM files and reloaded when the files change, so certificates rotate
//! without a restart. A replacement that does not load (a half-written file, a key that does
//! not match) is refused and the previous certificate keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often the certificate files are checked for changes.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The TLS acceptor of `cert` and `key`, and the task that reloads them on change.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let loaded = load(cert, key, &provider)?;
    let resolver = Arc::new(Reloading {
        current: ArcSwap::from_pointee(loaded.key),
        cert: cert.to_owned(),
        key: key.to_owned(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio::spawn(watch(resolver, provider, loaded.stamp));
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The certificate in use, swapped in whole when the files change.
#[derive(Debug)]
struct Reloading {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// What the files looked like when they were loaded: modification time and length of each.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    [cert, key].map(|p| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    })
}

struct Loaded {
    key: CertifiedKey,
    stamp: Stamp,
}

/// Loads a certificate chain and its private key from PEM files, checking that they match.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<Loaded> {
    let stamp = stamp(cert, key);
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!("{}: cannot read the certificate chain: {e}", cert.display())
        })?;
    if chain.is_empty() {
        anyhow::bail!("{}: no certificate in the file", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the private key: {e}", key.display()))?;
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        anyhow::anyhow!(
            "{} and {}: the key does not fit the certificate: {e}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Loaded {
        key: certified,
        stamp,
    })
}

/// Checks the files every [`RELOAD_INTERVAL`] and swaps in a changed certificate once it loads.
async fn watch(resolver: Arc<Reloading>, provider: Arc<CryptoProvider>, mut seen: Stamp) {
    let mut tick = tokio::time::interval(RELOAD_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&resolver.cert, &resolver.key);
        if now == seen {
            continue;
        }
        match load(&resolver.cert, &resolver.key, &provider) {
            Ok(loaded) => {
                resolver.current.store(Arc::new(loaded.key));
                seen = loaded.stamp;
                metrics::counter!("keyless_tls_certificate_reloads_total").increment(1);
                tracing::info!(cert = %resolver.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                // Half of a rotation may be on disk: try again at the next change.
                seen = now;
                metrics::counter!("keyless_tls_certificate_reload_errors_total").increment(1);
                tracing::warn!("TLS certificate not reloaded, the previous one stays: {e:#}");
            }
        }
    }
}
