//! OpenID Connect discovery and provider inspection (`keyless provider check/pin`).

use std::sync::Arc;

use crate::jwks::{JwkSet, KeyType, SkippedKey};
use crate::jwt::{Algorithm, ClaimValue, parse_value};

use super::fetch::{HttpFetcher, check_url, sha1_hex};
use super::{FetchError, FetchErrorKind, TlsOptions};

/// The discovery document URL of `issuer`: a trailing `/` is removed before
/// `/.well-known/openid-configuration` is appended (OpenID Connect Discovery §4).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Reads `jwks_uri` from a discovery document after checking that its `issuer`
/// equals `expected_issuer` exactly and that `jwks_uri` may be fetched.
pub(crate) fn jwks_uri_from_document(
    body: &[u8],
    expected_issuer: &str,
    tls: &TlsOptions,
) -> Result<String, String> {
    let document = parse_value(body, "discovery document").map_err(|e| e.message)?;
    let issuer = match document.get("issuer") {
        Some(ClaimValue::String(issuer)) => issuer,
        _ => return Err("the discovery document has no issuer string".to_owned()),
    };
    if issuer != expected_issuer {
        return Err(format!(
            "the discovery document's issuer {issuer:?} differs from {expected_issuer:?}"
        ));
    }
    let jwks_uri = match document.get("jwks_uri") {
        Some(ClaimValue::String(uri)) => uri.clone(),
        _ => return Err("the discovery document has no jwks_uri string".to_owned()),
    };
    check_url(&jwks_uri, tls).map_err(|e| e.message)?;
    Ok(jwks_uri)
}

/// One key of an inspected provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    /// Key ID.
    pub kid: Option<String>,
    /// Key type.
    pub kty: KeyType,
    /// Declared algorithm.
    pub alg: Option<Algorithm>,
    /// RFC 7638 thumbprint.
    pub thumbprint: String,
}

/// What `keyless provider check URL` reports about an issuer.
#[derive(Debug, Clone)]
pub struct ProviderReport {
    /// The issuer URL that was inspected (equal to the discovery `issuer`).
    pub issuer: String,
    /// The discovery document URL.
    pub discovery_url: String,
    /// The `jwks_uri` from discovery.
    pub jwks_uri: String,
    /// Usable keys.
    pub keys: Vec<KeyReport>,
    /// Keys of the JWKS that are not usable, and why.
    pub skipped: Vec<SkippedKey>,
    /// SHA-1 thumbprint (lower-case hex) of the last certificate presented by the
    /// discovery host, the one AWS IAM would pin; `None` for `http://`.
    pub tls_thumbprint: Option<String>,
    /// Same for the JWKS host, when it presented a different chain.
    pub jwks_tls_thumbprint: Option<String>,
    /// The parsed key set.
    pub jwks: Arc<JwkSet>,
}

/// Runs discovery for `issuer` and reports the provider's keys and TLS thumbprints.
///
/// Unlike the cache, errors carry the full detail for an operator.
pub async fn inspect_provider(
    issuer: &str,
    tls: &TlsOptions,
    fetcher: &HttpFetcher,
) -> Result<ProviderReport, FetchError> {
    let invalid = |message: String| FetchError::new(FetchErrorKind::InvalidResponse, message);
    let discovery_url = discovery_url(issuer);
    let (document, discovery_chain) = fetcher.fetch_with_chain(&discovery_url, tls).await?;
    let jwks_uri = jwks_uri_from_document(&document.body, issuer, tls).map_err(invalid)?;
    let (jwks_body, jwks_chain) = fetcher.fetch_with_chain(&jwks_uri, tls).await?;
    let jwks = JwkSet::parse(&jwks_body.body)
        .map_err(|e| invalid(format!("{jwks_uri}: {}", e.message)))?;
    let top = |chain: &[Vec<u8>]| chain.last().map(|cert| sha1_hex(cert));
    let tls_thumbprint = top(&discovery_chain);
    let jwks_thumbprint = top(&jwks_chain);
    let keys = jwks
        .keys()
        .map(|key| KeyReport {
            kid: key.kid().map(str::to_owned),
            kty: key.kty(),
            alg: key.alg(),
            thumbprint: key.thumbprint(),
        })
        .collect();
    Ok(ProviderReport {
        issuer: issuer.to_owned(),
        discovery_url,
        jwks_uri,
        keys,
        skipped: jwks.skipped().to_vec(),
        jwks_tls_thumbprint: jwks_thumbprint.filter(|t| Some(t) != tls_thumbprint.as_ref()),
        tls_thumbprint,
        jwks: Arc::new(jwks),
    })
}

/// A `[[provider]]` block for the keyless config file that pins the keys in `report`, so
/// the provider verifies tokens without reaching the issuer: comment lines naming the
/// source and each key, the URL, the client IDs, and `jwks = "<JWKS JSON>"` (a TOML basic
/// string).
pub fn pinned_config_fragment(report: &ProviderReport, client_ids: &[String]) -> String {
    let mut out = format!(
        "# Keys of {} pinned from {}\n",
        one_line(&report.issuer),
        one_line(&report.jwks_uri)
    );
    for key in &report.keys {
        out.push_str(&format!(
            "# kid {} ({}{}), RFC 7638 thumbprint {}\n",
            one_line(key.kid.as_deref().unwrap_or("(none)")),
            key.kty.as_str(),
            key.alg.map(|a| format!(", {a}")).unwrap_or_default(),
            key.thumbprint
        ));
    }
    // JSON string escapes are valid TOML basic-string escapes.
    let quote = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_owned());
    let clients: Vec<String> = client_ids.iter().map(|c| quote(c)).collect();
    out.push_str("[[provider]]\n");
    out.push_str(&format!("url = {}\n", quote(&report.issuer)));
    out.push_str(&format!("client_ids = [{}]\n", clients.join(", ")));
    out.push_str(&format!("jwks = {}\n", quote(&report.jwks.to_json())));
    out
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_drops_one_trailing_slash_form() {
        assert_eq!(
            discovery_url("https://gitlab.example"),
            "https://gitlab.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://gitlab.example/sub/"),
            "https://gitlab.example/sub/.well-known/openid-configuration"
        );
    }

    #[test]
    fn discovery_document_rules() {
        let tls = TlsOptions::default();
        let doc = br#"{"issuer":"https://gitlab.example","jwks_uri":"https://gitlab.example/oauth/discovery/keys"}"#;
        assert_eq!(
            jwks_uri_from_document(doc, "https://gitlab.example", &tls).as_deref(),
            Ok("https://gitlab.example/oauth/discovery/keys")
        );
        assert!(jwks_uri_from_document(doc, "https://gitlab.example/", &tls).is_err());
        let http =
            br#"{"issuer":"https://gitlab.example","jwks_uri":"http://gitlab.example/keys"}"#;
        assert!(jwks_uri_from_document(http, "https://gitlab.example", &tls).is_err());
        let dup = br#"{"issuer":"https://gitlab.example","issuer":"https://gitlab.example","jwks_uri":"https://x"}"#;
        assert!(jwks_uri_from_document(dup, "https://gitlab.example", &tls).is_err());
    }
}
