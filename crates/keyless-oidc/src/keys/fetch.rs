//! HTTPS fetching of discovery documents and key sets (reqwest + rustls).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::digest;
use reqwest::Url;
use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{CacheConfig, FetchError, FetchErrorKind, Fetched, JwksFetcher, TlsOptions};

/// AWS's message when the provider's certificate matches no configured thumbprint.
pub const MSG_THUMBPRINT_MISMATCH: &str =
    "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint";

/// Checks that `url` may be fetched: `https://`, or `http://` on a loopback host
/// or when the provider allows insecure HTTP.
pub(crate) fn check_url(url: &str, tls: &TlsOptions) -> Result<(), FetchError> {
    let parsed = Url::parse(url).map_err(|_| {
        FetchError::new(
            FetchErrorKind::DisallowedUrl,
            format!("{url} is not a valid URL"),
        )
    })?;
    check_parsed_url(&parsed, tls.allow_insecure_http)
}

fn check_parsed_url(url: &Url, allow_insecure_http: bool) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        _ => Err(FetchError::new(
            FetchErrorKind::DisallowedUrl,
            format!("{url} is not an https:// URL"),
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Normalizes a SHA-1 thumbprint (hex, optional colons) to 20 bytes.
fn parse_thumbprint(text: &str) -> Option<[u8; 20]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in hex.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex SHA-1 of a DER certificate (the format of IAM thumbprints).
pub(crate) fn sha1_hex(der: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TlsOptions {
    /// Checks that the CA bundle is valid PEM with at least one certificate and
    /// that every thumbprint is 40 hex digits (colons allowed), so configuration
    /// errors surface at load time rather than on the first fetch.
    pub fn validate(&self) -> Result<(), FetchError> {
        if let Some(pem) = &self.ca_bundle_pem {
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    FetchError::new(FetchErrorKind::Tls, "the CA bundle is not valid PEM")
                })?;
            if certs.is_empty() {
                return Err(FetchError::new(
                    FetchErrorKind::Tls,
                    "the CA bundle contains no certificate",
                ));
            }
        }
        match self
            .thumbprints
            .iter()
            .find(|t| parse_thumbprint(t).is_none())
        {
            Some(bad) => Err(FetchError::new(
                FetchErrorKind::Tls,
                format!("thumbprint {bad:?} is not 40 hex digits"),
            )),
            None => Ok(()),
        }
    }
}

type ChainRecorder = Arc<Mutex<Vec<CertificateDer<'static>>>>;

/// Normal WebPKI validation; when it fails and thumbprints are configured, the
/// chain is accepted if it validates (signatures, validity, host name) up to a
/// presented certificate whose SHA-1 is one of the thumbprints.
#[derive(Debug)]
struct PinningVerifier {
    base: Arc<dyn ServerCertVerifier>,
    provider: Arc<CryptoProvider>,
    thumbprints: Vec<[u8; 20]>,
    recorder: Option<ChainRecorder>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(recorder) = &self.recorder {
            *recorder.lock().unwrap_or_else(PoisonError::into_inner) = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|cert| cert.clone().into_owned())
                .collect();
        }
        let error = match self.base.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(error) if self.thumbprints.is_empty() => return Err(error),
            Err(error) => error,
        };
        for cert in std::iter::once(end_entity).chain(intermediates) {
            let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
            if !self
                .thumbprints
                .iter()
                .any(|t| t.as_slice() == sha1.as_ref())
            {
                continue;
            }
            let mut roots = RootCertStore::empty();
            if roots.add(cert.clone().into_owned()).is_err() {
                continue;
            }
            let Ok(anchored) = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&self.provider),
            )
            .build() else {
                continue;
            };
            let chain_below: Vec<CertificateDer<'_>> = intermediates
                .iter()
                .filter(|c| c.as_ref() != cert.as_ref())
                .cloned()
                .collect();
            if anchored
                .verify_server_cert(end_entity, &chain_below, server_name, ocsp_response, now)
                .is_ok()
            {
                return Ok(ServerCertVerified::assertion());
            }
        }
        tracing::debug!(%error, "certificate validation failed and no thumbprint matched");
        Err(rustls::Error::General(MSG_THUMBPRINT_MISMATCH.to_owned()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.base.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.base.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.base.supported_verify_schemes()
    }
}

#[derive(Debug, Clone, Copy)]
struct HttpLimits {
    connect_timeout: Duration,
    total_timeout: Duration,
    max_body_bytes: usize,
    max_redirects: usize,
}

/// The production [`JwksFetcher`]: reqwest with rustls (aws-lc-rs).
///
/// `https://` only, except `http://` on loopback hosts or when the provider sets
/// `allow_insecure_http`; connect and total timeouts; the body limit is enforced
/// while streaming; at most `max_redirects` redirects, each to an allowed URL;
/// system roots plus the provider's CA bundle; thumbprint pinning as described
/// on [`TlsOptions::thumbprints`]. One HTTP client is kept per distinct TLS setting.
pub struct HttpFetcher {
    limits: HttpLimits,
    clients: Mutex<HashMap<TlsOptions, reqwest::Client>>,
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// A fetcher using the timeouts and limits of `config`.
    pub fn new(config: &CacheConfig) -> HttpFetcher {
        HttpFetcher {
            limits: HttpLimits {
                connect_timeout: config.connect_timeout,
                total_timeout: config.total_timeout,
                max_body_bytes: config.max_body_bytes,
                max_redirects: config.max_redirects,
            },
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, tls: &TlsOptions) -> Result<reqwest::Client, FetchError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(tls) {
            return Ok(client.clone());
        }
        let client = build_client(self.limits, tls, None)?;
        clients.insert(tls.clone(), client.clone());
        Ok(client)
    }

    /// Fetches `url` and also returns the certificate chain the server presented
    /// (leaf first; empty for `http://`). Uses a dedicated connection.
    pub async fn fetch_with_chain(
        &self,
        url: &str,
        tls: &TlsOptions,
    ) -> Result<(Fetched, Vec<Vec<u8>>), FetchError> {
        check_url(url, tls)?;
        let recorder: ChainRecorder = Arc::new(Mutex::new(Vec::new()));
        let client = build_client(self.limits, tls, Some(Arc::clone(&recorder)))?;
        let fetched = get(&client, url, self.limits.max_body_bytes).await?;
        let chain = recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|cert| cert.as_ref().to_vec())
            .collect();
        Ok((fetched, chain))
    }
}

impl JwksFetcher for HttpFetcher {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        tls: &'a TlsOptions,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>> {
        Box::pin(async move {
            check_url(url, tls)?;
            let client = self.client(tls)?;
            get(&client, url, self.limits.max_body_bytes).await
        })
    }
}

fn build_client(
    limits: HttpLimits,
    tls: &TlsOptions,
    recorder: Option<ChainRecorder>,
) -> Result<reqwest::Client, FetchError> {
    let tls_error = |what: &str| FetchError::new(FetchErrorKind::Tls, what.to_owned());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra_roots = match &tls.ca_bundle_pem {
        None => Vec::new(),
        Some(pem) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| tls_error("the provider's CA bundle is not valid PEM"))?,
    };
    let thumbprints = tls
        .thumbprints
        .iter()
        .map(|t| parse_thumbprint(t))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| tls_error("a configured thumbprint is not 40 hex digits"))?;
    let base = rustls_platform_verifier::Verifier::new_with_extra_roots(
        extra_roots,
        Arc::clone(&provider),
    )
    .map_err(|e| tls_error(&format!("cannot load trusted certificates: {e}")))?;
    let verifier = PinningVerifier {
        base: Arc::new(base),
        provider: Arc::clone(&provider),
        thumbprints,
        recorder,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&format!("TLS configuration failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let max_redirects = limits.max_redirects;
    let allow_insecure_http = tls.allow_insecure_http;
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_redirects {
            return attempt.error(format!("more than {max_redirects} redirects"));
        }
        match check_parsed_url(attempt.url(), allow_insecure_http) {
            Ok(()) => attempt.follow(),
            Err(error) => attempt.error(format!("redirect refused: {error}")),
        }
    });
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.total_timeout)
        .redirect(redirect)
        .user_agent(concat!("keyless/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| tls_error(&format!("HTTP client setup failed: {e}")))
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    max_body_bytes: usize,
) -> Result<Fetched, FetchError> {
    let mut response = client
        .get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| classify(url, &e))?;
    let status = response.status();
    if !status.is_success() {
        let kind = if status.is_server_error() || status.as_u16() == 429 {
            FetchErrorKind::ServerError
        } else {
            FetchErrorKind::ClientError
        };
        return Err(FetchError::new(
            kind,
            format!("{url} answered HTTP {}", status.as_u16()),
        ));
    }
    let too_large = || {
        FetchError::new(
            FetchErrorKind::TooLarge,
            format!("{url} answered more than {max_body_bytes} bytes"),
        )
    };
    if response
        .content_length()
        .is_some_and(|len| len > max_body_bytes as u64)
    {
        return Err(too_large());
    }
    let max_age = cache_max_age(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(url, &e))? {
        if body.len() + chunk.len() > max_body_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// `Cache-Control` freshness: `max-age=N`, or zero for `no-store`/`no-cache`.
pub(crate) fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            if directive.eq_ignore_ascii_case("no-store")
                || directive.eq_ignore_ascii_case("no-cache")
            {
                return Some(Duration::ZERO);
            }
            if let Some((name, seconds)) = directive.split_once('=')
                && name.trim().eq_ignore_ascii_case("max-age")
                && let Ok(seconds) = seconds.trim().trim_matches('"').parse::<u64>()
            {
                max_age = Some(Duration::from_secs(seconds));
            }
        }
    }
    max_age
}

fn classify(url: &str, error: &reqwest::Error) -> FetchError {
    // io::Error hides its payload from source(): descend through get_ref() instead.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tls_error) = current.downcast_ref::<rustls::Error>() {
            if matches!(tls_error, rustls::Error::General(m) if m == MSG_THUMBPRINT_MISMATCH) {
                return FetchError::new(
                    FetchErrorKind::ThumbprintMismatch,
                    format!("{url}: {MSG_THUMBPRINT_MISMATCH}"),
                );
            }
            return FetchError::new(
                FetchErrorKind::Tls,
                format!("{url}: TLS failure: {tls_error}"),
            );
        }
        source = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    if error.is_timeout() {
        FetchError::new(FetchErrorKind::Timeout, format!("{url} timed out"))
    } else if error.is_redirect() {
        FetchError::new(FetchErrorKind::Redirect, format!("{url}: {error}"))
    } else if error.is_connect() {
        FetchError::new(
            FetchErrorKind::Unreachable,
            format!("{url}: connection failed"),
        )
    } else {
        FetchError::new(
            FetchErrorKind::Unreachable,
            format!("{url}: transfer failed"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        let strict = TlsOptions::default();
        assert!(check_url("https://gitlab.example/oauth/discovery/keys", &strict).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", &strict).is_ok());
        assert!(check_url("http://[::1]/jwks", &strict).is_ok());
        assert!(check_url("http://localhost/jwks", &strict).is_ok());
        assert!(check_url("http://gitlab.example/jwks", &strict).is_err());
        assert!(check_url("ftp://gitlab.example/jwks", &strict).is_err());
        assert!(check_url("not a url", &strict).is_err());
        let insecure = TlsOptions {
            allow_insecure_http: true,
            ..TlsOptions::default()
        };
        assert!(check_url("http://gitlab.example/jwks", &insecure).is_ok());
    }

    #[test]
    fn thumbprints_parse_with_or_without_colons() {
        let plain = parse_thumbprint("990F4193972F2BECF12DDEDA5237F9C952F20D9E");
        let colons =
            parse_thumbprint("99:0f:41:93:97:2f:2b:ec:f1:2d:de:da:52:37:f9:c9:52:f2:0d:9e");
        assert!(plain.is_some());
        assert_eq!(plain, colons);
        assert_eq!(parse_thumbprint("990F"), None);
        assert_eq!(parse_thumbprint(&"zz".repeat(20)), None);
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let good = TlsOptions {
            thumbprints: vec!["990F4193972F2BECF12DDEDA5237F9C952F20D9E".to_owned()],
            ..TlsOptions::default()
        };
        assert!(good.validate().is_ok());
        let bad = TlsOptions {
            thumbprints: vec!["990F".to_owned()],
            ..TlsOptions::default()
        };
        assert!(bad.validate().is_err());
        let empty_bundle = TlsOptions {
            ca_bundle_pem: Some("not a certificate".to_owned()),
            ..TlsOptions::default()
        };
        assert!(empty_bundle.validate().is_err());
    }

    #[test]
    fn cache_control_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(cache_max_age(&headers), None);
        headers.insert(
            CACHE_CONTROL,
            reqwest::header::HeaderValue::from_static("max-age=86400, public, must-revalidate"),
        );
        assert_eq!(cache_max_age(&headers), Some(Duration::from_secs(86400)));
        headers.insert(
            CACHE_CONTROL,
            reqwest::header::HeaderValue::from_static("public, no-store"),
        );
        assert_eq!(cache_max_age(&headers), Some(Duration::ZERO));
    }
}
