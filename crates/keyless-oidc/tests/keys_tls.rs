//! HTTPS fetching against a local TLS server: extra CA bundles and AWS-style
//! certificate thumbprint pinning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::error::TokenErrorCode;
use keyless_oidc::jwks::MSG_KEY_UNAVAILABLE;
use keyless_oidc::jwt::Algorithm;
use keyless_oidc::keys::{
    CacheConfig, HttpFetcher, KeyCache, KeySourceSpec, MSG_THUMBPRINT_MISMATCH, ProviderKeys,
    TlsOptions, inspect_provider,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

// Test-only certificates: a CA, a server certificate it issued for 127.0.0.1,
// and an unrelated self-signed certificate for 127.0.0.1.
const CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUR4xPraz1AyZgnzQFkHmkmmsm970wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPa2V5bGVzcyB0ZXN0IENBMCAXDTI2MTEyNTIwMTYzMFoYDzIx
MjYxMTAxMjAxNjMwWjAaMRgwFgYDVQQDDA9rZXlsZXNzIHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASHpjq2wa6QcCu+/oVUd3PsQmS/opZqs1kWf/e2
fs2iFzYIdibNz47VZE+S7KVLuPiCKpQdNZMEaSOt4L6401Xio2MwYTAdBgNVHQ4E
FgQU5v3q8M0mgTdooOh4A0U54mUqmaYwHwYDVR0jBBgwFoAU5v3q8M0mgTdooOh4
A0U54mUqmaYwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI
zj0EAwIDSQAwRgIhAKY9eOeudt1H3wcXnu4L1aMbA4/gfdmgiH0Gkh/AnvSMAiEA
9Z9hiqUCPggJialPeA9RogdibrEiuPmIhED3olEvz1Q=
-----END CERTIFICATE-----
";

const LEAF_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBxTCCAWugAwIBAgIUAb4vRqM1Yy/bB2Yeaz6u0y2f8KEwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPa2V5bGVzcyB0ZXN0IENBMCAXDTI2MTEyNTIwMTYzMFoYDzIx
MjUwNjE5MjAxNjMwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAT2KmhB8k8UxxC6521suvD13jlI60mmxgerEcv1sW6S/jLG
Lvo7vkdEjzyzvTK/v0TXbSS2ri81JHffq+QY0TYyo4GSMIGPMAwGA1UdEwEB/wQC
MAAwDgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMBoGA1UdEQQT
MBGHBH8AAAGCCWxvY2FsaG9zdDAdBgNVHQ4EFgQUiE0HbfjVorLugUTznKHLucD5
9FMwHwYDVR0jBBgwFoAU5v3q8M0mgTdooOh4A0U54mUqmaYwCgYIKoZIzj0EAwID
SAAwRQIhAKHxu42hi6gH0vriakcINvaMrfzPUoW8D/LFzNmYzqMzAiA/J1Rq6Krc
trisZkB6OAZC0NLfESyG7wIUQ1epVJ+Opw==
-----END CERTIFICATE-----
";

const LEAF_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgw8C01k7RmmO9V0U+
FV0MSkG3shEq8Qto0teHUTLDfqyhRANCAAT2KmhB8k8UxxC6521suvD13jlI60mm
xgerEcv1sW6S/jLGLvo7vkdEjzyzvTK/v0TXbSS2ri81JHffq+QY0TYy
-----END PRIVATE KEY-----
";

const EVIL_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBsjCCAVigAwIBAgIUQFyH3FNByE6UonpK7J9ln/OjAvcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNTIwMTYzMFoYDzIxMjUwNjE5
MjAxNjMwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASks70ZlBzxTJd/NIcd/85mMab6j2j4nEyVIZhK7EtHbQLvmTPCGBC1
sGRV84V13JzAvtnu6HyXFSMkz2wmH0ujo4GFMIGCMB0GA1UdDgQWBBQDS8PZSsHC
Olh4L7zQcnp7xEI/JjAfBgNVHSMEGDAWgBQDS8PZSsHCOlh4L7zQcnp7xEI/JjAP
BgNVHRMBAf8EBTADAQH/MBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDATBgNV
HSUEDDAKBggrBgEFBQcDATAKBggqhkjOPQQDAgNIADBFAiEA4LrpdbSS9eanvjva
G5hV5Jvo6y2lE8USkybIHfqGF+MCIEtQodklQ5OFIHij8Gq632moElp4FiS7+Z2O
UQ2yO22S
-----END CERTIFICATE-----
";

const EVIL_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHCLt5El9WHyd1jky
sFDE2UtyEeBWuK7IIR/IsYdBDH6hRANCAASks70ZlBzxTJd/NIcd/85mMab6j2j4
nEyVIZhK7EtHbQLvmTPCGBC1sGRV84V13JzAvtnu6HyXFSMkz2wmH0uj
-----END PRIVATE KEY-----
";

/// SHA-1 of `CA_PEM`'s certificate, as `openssl x509 -fingerprint -sha1` prints it.
const CA_SHA1: &str = "77:B4:BC:DE:98:3E:EA:49:68:68:CD:45:97:DC:DA:85:46:D8:B5:A4";

struct TlsServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl TlsServer {
    /// Serves a discovery document and a JWKS over TLS, presenting `chain_pem`.
    async fn start(chain_pem: &str, key_pem: &str, jwks: String) -> TlsServer {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("certificates");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let server_hits = Arc::clone(&hits);
        let discovery = format!(
            r#"{{"issuer":"https://{addr}","jwks_uri":"https://{addr}/oauth/discovery/keys"}}"#
        );
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let hits = Arc::clone(&server_hits);
                let (jwks, discovery) = (jwks.clone(), discovery.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = if request.starts_with(b"GET /.well-known/openid-configuration ") {
                        discovery
                    } else {
                        jwks
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsServer { addr, hits }
    }

    fn provider(&self, tls: TlsOptions) -> ProviderKeys {
        ProviderKeys {
            id: format!("https://{}", self.addr),
            source: KeySourceSpec::JwksUrl {
                url: format!("https://{}/oauth/discovery/keys", self.addr),
            },
            tls,
        }
    }
}

fn jwks() -> String {
    let key = Ed25519KeyPair::generate().expect("Ed25519");
    format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(key.public_key().as_ref())
    )
}

fn config() -> CacheConfig {
    CacheConfig {
        total_timeout: Duration::from_secs(3),
        negative_ttl: Duration::ZERO,
        ..CacheConfig::default()
    }
}

async fn lookup(server: &TlsServer, tls: TlsOptions) -> Result<(), (TokenErrorCode, String)> {
    let cache = KeyCache::new(config(), Arc::new(HttpFetcher::new(&config())));
    cache
        .key(&server.provider(tls), Some("k1"), Algorithm::EdDSA)
        .await
        .map(|_| ())
        .map_err(|e| (e.code, e.message))
}

fn with_ca() -> TlsOptions {
    TlsOptions {
        ca_bundle_pem: Some(CA_PEM.to_owned()),
        ..TlsOptions::default()
    }
}

fn with_thumbprints(thumbprints: &[&str]) -> TlsOptions {
    TlsOptions {
        thumbprints: thumbprints.iter().map(|t| (*t).to_owned()).collect(),
        ..TlsOptions::default()
    }
}

#[tokio::test]
async fn extra_ca_bundle_is_trusted_and_unknown_cas_are_not() {
    let server = TlsServer::start(&format!("{LEAF_PEM}\n{CA_PEM}"), LEAF_KEY, jwks()).await;
    assert_eq!(lookup(&server, with_ca()).await, Ok(()));
    assert_eq!(
        lookup(&server, TlsOptions::default()).await,
        Err((
            TokenErrorCode::InvalidIdentityToken,
            MSG_KEY_UNAVAILABLE.to_owned()
        ))
    );
}

#[tokio::test]
async fn thumbprint_of_the_presented_ca_is_accepted_with_aws_semantics() {
    let server = TlsServer::start(&format!("{LEAF_PEM}\n{CA_PEM}"), LEAF_KEY, jwks()).await;
    assert_eq!(lookup(&server, with_thumbprints(&[CA_SHA1])).await, Ok(()));
    let lower = CA_SHA1.replace(':', "").to_lowercase();
    assert_eq!(
        lookup(
            &server,
            with_thumbprints(&["0000000000000000000000000000000000000000", &lower])
        )
        .await,
        Ok(())
    );
    assert_eq!(
        lookup(
            &server,
            with_thumbprints(&["990F4193972F2BECF12DDEDA5237F9C952F20D9E"])
        )
        .await,
        Err((
            TokenErrorCode::InvalidIdentityToken,
            MSG_THUMBPRINT_MISMATCH.to_owned()
        ))
    );
}

#[tokio::test]
async fn a_pinned_ca_does_not_vouch_for_a_leaf_it_did_not_issue() {
    // The CA certificate is public: an impostor can present it next to its own leaf.
    let impostor = TlsServer::start(&format!("{EVIL_PEM}\n{CA_PEM}"), EVIL_KEY, jwks()).await;
    assert_eq!(
        lookup(&impostor, with_thumbprints(&[CA_SHA1])).await,
        Err((
            TokenErrorCode::InvalidIdentityToken,
            MSG_THUMBPRINT_MISMATCH.to_owned()
        ))
    );
    assert_eq!(
        impostor.hits.load(Ordering::SeqCst),
        0,
        "no request was sent"
    );
}

#[tokio::test]
async fn inspect_reports_the_thumbprint_aws_would_pin() {
    let server = TlsServer::start(&format!("{LEAF_PEM}\n{CA_PEM}"), LEAF_KEY, jwks()).await;
    let fetcher = HttpFetcher::new(&config());
    let report = inspect_provider(&format!("https://{}", server.addr), &with_ca(), &fetcher)
        .await
        .expect("inspect");
    let expected = CA_SHA1.replace(':', "").to_lowercase();
    assert_eq!(report.tls_thumbprint.as_deref(), Some(expected.as_str()));
    assert_eq!(
        report.jwks_tls_thumbprint, None,
        "same chain for the JWKS host"
    );
    assert_eq!(report.keys.len(), 1);
    assert_eq!(report.keys[0].kid.as_deref(), Some("k1"));
}
