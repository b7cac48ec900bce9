//! The TOML configuration file: server settings, the account, built-in issuers, OIDC providers
//! and roles. A bad file is rejected at start with the file, the location and the reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use keyless_policy::{ParseOptions, Policy, PolicyKind};
use keyless_sts::model::{
    ConditionKeyMode, KeySource, ManagedBy, OidcProvider, Role, RolePolicy, Tag,
};
use serde::Deserialize;

/// The default account ID.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// A configuration error: where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {location}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// `line L, column C`, or the path of the setting (`role[0].trust_policy`).
    pub location: String,
    /// What is wrong.
    pub reason: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server settings.
    #[serde(default)]
    pub server: ServerSection,
    /// Built-in OIDC issuers.
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<IssuerConfig>,
    /// OIDC providers.
    #[serde(default, rename = "provider")]
    pub providers: Vec<ProviderConfig>,
    /// Roles.
    #[serde(default, rename = "role")]
    pub roles: Vec<RoleConfig>,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Outbound identity federation (`GetWebIdentityToken`).
    #[serde(default)]
    pub outbound: crate::outbound::OutboundConfig,
    /// The authorization API's proxy mode.
    #[serde(default)]
    pub authorize: AuthorizeSection,
    /// The S3 gateway.
    #[serde(default)]
    pub s3_gateway: S3GatewayConfig,
}

/// `[authorize]`: the proxy mode of the authorization API (nginx `auth_request`, Envoy
/// `ext_authz`), off unless a token is set here or in `KEYLESS_AUTHORIZE_NGINX_TOKEN`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeSection {
    /// The token the proxy sends as `X-Keyless-Authorizer-Token` (at least 16 characters).
    pub nginx_token: Option<String>,
}

impl std::fmt::Debug for AuthorizeSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeSection")
            .field(
                "nginx_token",
                &self.nginx_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `[s3_gateway]` settings. The gateway runs when `backend_url` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3GatewayConfig {
    /// Where the gateway listens; `127.0.0.1:9000` by default.
    pub listen: Option<SocketAddr>,
    /// The S3-compatible store requests are forwarded to (`http://…` or `https://…`).
    pub backend_url: Option<String>,
    /// The region the backend's signatures are scoped to; `us-east-1` by default.
    pub backend_region: Option<String>,
    /// The region clients sign for; `us-east-1` by default.
    pub region: Option<String>,
    /// Serve virtual-hosted requests (`bucket.<suffix>`) too, e.g. `s3.example.internal`.
    pub virtual_host_suffix: Option<String>,
    /// A PEM certificate chain: serve the gateway over HTTPS (TLS 1.2 and 1.3) with it, as
    /// `[server] tls_cert` does the main listener. Reloaded on change.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A file (mode 0600) holding the backend's key as `AWS_ACCESS_KEY_ID=…` and
    /// `AWS_SECRET_ACCESS_KEY=…` lines, when the environment does not
    /// (`KEYLESS_S3_BACKEND_ACCESS_KEY_ID`, `KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY`).
    pub backend_credentials_file: Option<PathBuf>,
    /// Seconds the backend may take to answer a request it has whole, or to take an upload's
    /// next bytes (default 60, at most 3600).
    pub backend_timeout_secs: Option<u64>,
    /// Seconds a body in transit may go without a byte, an upload from its client or a
    /// download from the backend (default 60, at most 3600).
    pub body_idle_timeout_secs: Option<u64>,
    /// Refused: keys do not belong in the config file.
    #[serde(default)]
    backend_access_key_id: Option<toml::Value>,
    /// Refused: keys do not belong in the config file.
    #[serde(default)]
    backend_secret_access_key: Option<toml::Value>,
}

/// The environment variable of the S3 backend's access key ID.
pub const S3_BACKEND_ACCESS_KEY_ENV: &str = "KEYLESS_S3_BACKEND_ACCESS_KEY_ID";
/// The environment variable of the S3 backend's secret.
pub const S3_BACKEND_SECRET_ENV: &str = "KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY";

impl S3GatewayConfig {
    /// The backend's key: from the environment when both variables are set, else from
    /// `backend_credentials_file` (relative to `base`), which must be readable by its owner
    /// only. Keys written in the config file itself are refused.
    pub fn backend_key(
        &self,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<(String, String)> {
        if self.backend_access_key_id.is_some() || self.backend_secret_access_key.is_some() {
            anyhow::bail!(
                "[s3_gateway]: the backend key does not belong in the config file: set {S3_BACKEND_ACCESS_KEY_ENV} and {S3_BACKEND_SECRET_ENV}, or name a 0600 file in backend_credentials_file"
            );
        }
        let id = env(S3_BACKEND_ACCESS_KEY_ENV).filter(|v| !v.is_empty());
        let secret = env(S3_BACKEND_SECRET_ENV).filter(|v| !v.is_empty());
        match (id, secret, &self.backend_credentials_file) {
            (Some(id), Some(secret), _) => Ok((id, secret)),
            (Some(_), None, _) | (None, Some(_), _) => anyhow::bail!(
                "set both {S3_BACKEND_ACCESS_KEY_ENV} and {S3_BACKEND_SECRET_ENV}, or neither"
            ),
            (None, None, Some(file)) => read_key_file(&base.join(file)),
            (None, None, None) => anyhow::bail!(
                "the S3 gateway needs the backend's key: set {S3_BACKEND_ACCESS_KEY_ENV} and {S3_BACKEND_SECRET_ENV}, or name a 0600 file in [s3_gateway] backend_credentials_file"
            ),
        }
    }
}

/// Reads `AWS_ACCESS_KEY_ID=…` and `AWS_SECRET_ACCESS_KEY=…` (optionally after `export `)
/// from a file only its owner may read.
fn read_key_file(path: &Path) -> anyhow::Result<(String, String)> {
    use std::os::unix::fs::PermissionsExt as _;
    let shown = path.display();
    let metadata = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read the S3 backend key file {shown}: {e}"))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "the S3 backend key file {shown} is readable by others (mode {mode:04o}): chmod 600 it"
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the S3 backend key file {shown}: {e}"))?;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim();
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_owned();
        match name.trim() {
            "AWS_ACCESS_KEY_ID" => id = Some(value),
            "AWS_SECRET_ACCESS_KEY" => secret = Some(value),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((id, secret)),
        _ => anyhow::bail!(
            "the S3 backend key file {shown} must hold AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines"
        ),
    }
}

/// Where audit events go.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditSinkKind {
    /// A JSON-lines file, rotated by size (the default, in the data directory).
    #[default]
    File,
    /// Standard output, one JSON line per event.
    Stdout,
    /// The database's `audit_events` table.
    Database,
    /// Nowhere.
    None,
}

/// `[audit]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The sink.
    #[serde(default)]
    pub sink: AuditSinkKind,
    /// The file, for the file sink (default `<data dir>/audit.jsonl`).
    pub path: Option<PathBuf>,
    /// Rotate the file when it grows past this many bytes (default 64 MiB).
    pub max_bytes: Option<u64>,
    /// Rotated files kept (`audit.jsonl.1` … `.N`, default 5).
    pub keep: Option<u32>,
    /// Events waiting for the writer at most (default 8192); more are dropped and counted.
    pub buffer: Option<usize>,
    /// Answer a call only once its event is written and synced (default false).
    pub durable: Option<bool>,
    /// Failed unauthenticated calls of one source and error written one by one per 10 s
    /// window (default 20); the rest are counted into one summary event.
    pub failures_per_window: Option<u32>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            sink: AuditSinkKind::File,
            path: None,
            max_bytes: None,
            keep: None,
            buffer: None,
            durable: None,
            failures_per_window: None,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Listen address, `127.0.0.1:8080` by default.
    pub listen: Option<SocketAddr>,
    /// The 12-digit account ID, `000000000000` by default.
    pub account_id: Option<String>,
    /// Where state lives: `sqlite:PATH` or `postgres://…`.
    pub database: Option<String>,
    /// The public base URL of this server, used in the built-in issuers' discovery documents.
    pub public_url: Option<String>,
    /// Put a short reason into AccessDenied messages.
    pub debug_denials: Option<bool>,
    /// Leeway for token time checks, in seconds (default 60, at most 300).
    pub token_leeway_secs: Option<i64>,
    /// The most bytes of one request body (default 262144).
    pub max_body_bytes: Option<usize>,
    /// The most connections open at once (default: the file-descriptor limit less an eighth).
    pub max_connections: Option<usize>,
    /// Seconds a new connection, or one that has started a request, has to send the request's
    /// headers; also bounds a TLS handshake (default 10).
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a keep-alive connection may wait for its next request, and any connection may
    /// go without reading or writing a byte (default 60).
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request body may take before it must flow at `min_body_rate` (default 10).
    pub body_read_timeout_secs: Option<u64>,
    /// Bytes per second a request body must average once `body_read_timeout_secs` has passed
    /// (default 1024).
    pub min_body_rate: Option<u64>,
    /// A PEM certificate chain: serve HTTPS (TLS 1.2 and 1.3) with it. Reloaded on change.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Generations the change log keeps (default 10,000); a replica further behind reloads its
    /// whole state.
    pub change_log_generations: Option<i64>,
    /// Serve `/metrics` on this address (without authentication) instead of the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Who may read `/metrics` on the main listener: `admin` (SigV4 by the admin key, the
    /// default) or `open` (anyone; the default with `--dev`).
    pub metrics: Option<MetricsAccess>,
}

/// Who may read `/metrics` on the main listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Requests signed by the admin key (SigV4, service `keyless`).
    Admin,
    /// Anyone who reaches the port.
    Open,
}

/// `[[issuer]]`: a built-in OIDC issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Its name, used in URLs and `token mint --issuer`.
    pub name: String,
    /// The `iss` its tokens carry; by default its own public URL.
    pub iss: Option<String>,
    /// `gitlab` (default) or `github`.
    #[serde(default)]
    pub profile: IssuerProfile,
    /// Default token lifetime, e.g. `1h` (GitLab: the job timeout).
    pub default_ttl: Option<String>,
}

/// The claim shape of a built-in issuer.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IssuerProfile {
    /// GitLab CI ID tokens.
    #[default]
    Gitlab,
    /// GitHub Actions OIDC tokens.
    Github,
}

/// `[[provider]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The issuer URL (`https://…`).
    pub url: String,
    /// The audiences.
    pub client_ids: Vec<String>,
    /// Certificate thumbprints.
    #[serde(default)]
    pub thumbprints: Vec<String>,
    /// Trust a built-in issuer's keys.
    pub builtin_issuer: Option<String>,
    /// An explicit JWKS URL.
    pub jwks_url: Option<String>,
    /// A pinned JWKS document, inline.
    pub jwks: Option<String>,
    /// A pinned JWKS document, from a file (relative to the config file).
    pub jwks_file: Option<PathBuf>,
    /// `all` (default) or `aws`.
    #[serde(default)]
    pub condition_keys: ConditionKeyMode,
    /// Allow plain http to a non-loopback host (development only).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Extra CA certificates (PEM file, relative to the config file).
    pub ca_bundle_file: Option<PathBuf>,
}

/// `[[role]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role name.
    pub name: String,
    /// The path, `/` by default.
    pub path: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Maximum session duration in seconds (3600–43200, default 3600).
    pub max_session_duration: Option<u32>,
    /// The trust policy, inline JSON.
    pub trust_policy: Option<String>,
    /// The trust policy, from a file (relative to the config file).
    pub trust_policy_file: Option<PathBuf>,
    /// Inline permission policies.
    #[serde(default, rename = "policy")]
    pub policies: Vec<RolePolicyConfig>,
    /// Tags.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// `[[role.policy]]`: an inline permission policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicyConfig {
    /// The policy name.
    pub name: String,
    /// The document, inline JSON.
    pub document: Option<String>,
    /// The document, from a file.
    pub document_file: Option<PathBuf>,
}

/// Providers, roles and inline policies declared by a config, in model form.
#[derive(Debug, Clone, Default)]
pub struct DeclaredEntities {
    /// Providers.
    pub providers: Vec<OidcProvider>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Inline role policies.
    pub role_policies: Vec<RolePolicy>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            location: "-".into(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Parses config text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        toml::from_str::<Config>(text).map_err(|e| {
            let location = match e.span() {
                Some(span) => line_col(text, span.start),
                None => "-".to_owned(),
            };
            ConfigError {
                file: file.to_owned(),
                location,
                reason: e.message().to_owned(),
            }
        })
    }

    /// The account ID.
    pub fn account(&self) -> &str {
        self.server.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT)
    }

    /// Checks the settings and turns providers and roles into model entities. `base` is the
    /// folder relative file paths are read from; `issuer_urls` maps built-in issuer names to
    /// their `iss`.
    pub fn declared_entities(
        &self,
        file: &str,
        base: &Path,
        now: i64,
    ) -> Result<DeclaredEntities, ConfigError> {
        let err = |location: String, reason: String| ConfigError {
            file: file.to_owned(),
            location,
            reason,
        };
        let account = self.account();
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "server.account_id".into(),
                format!("must be 12 digits, not {account:?}"),
            ));
        }
        let server = &self.server;
        for (name, value) in [
            ("max_connections", server.max_connections.map(|n| n as u64)),
            ("header_read_timeout_secs", server.header_read_timeout_secs),
            ("idle_timeout_secs", server.idle_timeout_secs),
            ("body_read_timeout_secs", server.body_read_timeout_secs),
            ("min_body_rate", server.min_body_rate),
            (
                "change_log_generations",
                server.change_log_generations.map(|n| n.max(0) as u64),
            ),
        ] {
            if value == Some(0) {
                return Err(err(
                    format!("server.{name}"),
                    "must be greater than 0".into(),
                ));
            }
        }
        for (section, cert, key) in [
            ("server", &server.tls_cert, &server.tls_key),
            (
                "s3_gateway",
                &self.s3_gateway.tls_cert,
                &self.s3_gateway.tls_key,
            ),
        ] {
            match (cert, key) {
                (Some(_), None) => {
                    return Err(err(
                        format!("{section}.tls_key"),
                        "tls_cert needs tls_key".into(),
                    ));
                }
                (None, Some(_)) => {
                    return Err(err(
                        format!("{section}.tls_cert"),
                        "tls_key needs tls_cert".into(),
                    ));
                }
                _ => {}
            }
        }
        for (name, value) in [
            ("backend_timeout_secs", self.s3_gateway.backend_timeout_secs),
            (
                "body_idle_timeout_secs",
                self.s3_gateway.body_idle_timeout_secs,
            ),
        ] {
            if let Some(value) = value
                && !(1..=3600).contains(&value)
            {
                return Err(err(
                    format!("s3_gateway.{name}"),
                    "must be between 1 and 3600".into(),
                ));
            }
        }
        if let Some(leeway) = self.server.token_leeway_secs
            && !(0..=300).contains(&leeway)
        {
            return Err(err(
                "server.token_leeway_secs".into(),
                "must be between 0 and 300".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let at = format!("issuer[{i}]");
            if issuer.name.is_empty()
                || !issuer
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(
                    format!("{at}.name"),
                    "must be letters, digits, '-' or '_'".into(),
                ));
            }
            if !names.insert(issuer.name.clone()) {
                return Err(err(
                    format!("{at}.name"),
                    format!("duplicate issuer {}", issuer.name),
                ));
            }
            if let Some(iss) = &issuer.iss {
                check_url(iss, true).map_err(|r| err(format!("{at}.iss"), r))?;
            }
            if let Some(ttl) = &issuer.default_ttl {
                keyless_oidc::issuer::parse_ttl(ttl)
                    .map_err(|e| err(format!("{at}.default_ttl"), e.to_string()))?;
            }
        }

        let mut out = DeclaredEntities::default();
        let mut urls = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("provider[{i}]");
            check_url(&p.url, p.allow_insecure_http).map_err(|r| err(format!("{at}.url"), r))?;
            if !urls.insert(p.url.clone()) {
                return Err(err(
                    format!("{at}.url"),
                    format!("duplicate provider {}", p.url),
                ));
            }
            if p.client_ids.is_empty() || p.client_ids.len() > 100 {
                return Err(err(
                    format!("{at}.client_ids"),
                    "must list 1 to 100 client IDs".into(),
                ));
            }
            if let Some(bad) = p.client_ids.iter().find(|c| c.is_empty() || c.len() > 255) {
                return Err(err(
                    format!("{at}.client_ids"),
                    format!("client ID {bad:?} must be 1-255 characters"),
                ));
            }
            if p.thumbprints.len() > 5
                || p.thumbprints
                    .iter()
                    .any(|t| t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(err(
                    format!("{at}.thumbprints"),
                    "at most 5 thumbprints, each 40 hex characters".into(),
                ));
            }
            let sources = [
                p.builtin_issuer.is_some(),
                p.jwks_url.is_some(),
                p.jwks.is_some(),
                p.jwks_file.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources > 1 {
                return Err(err(
                    at.clone(),
                    "give at most one of builtin_issuer, jwks_url, jwks, jwks_file".into(),
                ));
            }
            let key_source = if let Some(name) = &p.builtin_issuer {
                if !names.contains(name) {
                    return Err(err(
                        format!("{at}.builtin_issuer"),
                        format!("no [[issuer]] named {name}"),
                    ));
                }
                KeySource::Builtin {
                    issuer: name.clone(),
                }
            } else if let Some(url) = &p.jwks_url {
                check_url(url, p.allow_insecure_http)
                    .map_err(|r| err(format!("{at}.jwks_url"), r))?;
                KeySource::JwksUrl { url: url.clone() }
            } else if let Some(jwks) = &p.jwks {
                check_pinned_jwks(jwks).map_err(|r| err(format!("{at}.jwks"), r))?;
                KeySource::Pinned { jwks: jwks.clone() }
            } else if let Some(file) = &p.jwks_file {
                let jwks =
                    read_relative(base, file).map_err(|r| err(format!("{at}.jwks_file"), r))?;
                check_pinned_jwks(&jwks).map_err(|r| err(format!("{at}.jwks_file"), r))?;
                KeySource::Pinned { jwks }
            } else {
                KeySource::Discovery
            };
            let ca_bundle = match &p.ca_bundle_file {
                Some(f) => Some(
                    read_relative(base, f).map_err(|r| err(format!("{at}.ca_bundle_file"), r))?,
                ),
                None => None,
            };
            keyless_oidc::keys::TlsOptions {
                ca_bundle_pem: ca_bundle.clone(),
                thumbprints: p.thumbprints.clone(),
                allow_insecure_http: p.allow_insecure_http,
            }
            .validate()
            .map_err(|e| err(format!("{at}.ca_bundle_file"), e.message))?;
            out.providers.push(OidcProvider {
                url: p.url.clone(),
                client_ids: p.client_ids.clone(),
                thumbprints: p
                    .thumbprints
                    .iter()
                    .map(|t| t.to_ascii_uppercase())
                    .collect(),
                key_source,
                condition_keys: p.condition_keys,
                allow_insecure_http: p.allow_insecure_http,
                ca_bundle,
                tags: Vec::new(),
                created: now,
                managed_by: ManagedBy::Config,
            });
        }

        let mut role_names = std::collections::HashSet::new();
        for (i, r) in self.roles.iter().enumerate() {
            let at = format!("role[{i}]");
            if r.name.is_empty()
                || r.name.chars().count() > 64
                || !r.name.chars().all(keyless_sts::validate::is_name_char)
            {
                return Err(err(
                    format!("{at}.name"),
                    "must be 1-64 characters of [\\w+=,.@-]".into(),
                ));
            }
            if !role_names.insert(r.name.to_ascii_lowercase()) {
                return Err(err(
                    format!("{at}.name"),
                    format!("duplicate role {}", r.name),
                ));
            }
            let path = r.path.clone().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
                return Err(err(
                    format!("{at}.path"),
                    "must begin and end with '/'".into(),
                ));
            }
            let max = r.max_session_duration.unwrap_or(3600);
            if !(3600..=43200).contains(&max) {
                return Err(err(
                    format!("{at}.max_session_duration"),
                    "must be between 3600 and 43200 seconds".into(),
                ));
            }
            let (trust, field) = match (&r.trust_policy, &r.trust_policy_file) {
                (Some(t), None) => (t.clone(), "trust_policy"),
                (None, Some(f)) => (
                    read_relative(base, f)
                        .map_err(|e| err(format!("{at}.trust_policy_file"), e))?,
                    "trust_policy_file",
                ),
                _ => {
                    return Err(err(
                        at.clone(),
                        "give exactly one of trust_policy or trust_policy_file".into(),
                    ));
                }
            };
            Policy::parse(&trust, &ParseOptions::new(PolicyKind::Trust)).map_err(|e| {
                err(
                    format!("{at}.{field}{}", pointer_suffix(&e.pointer)),
                    format!("MalformedPolicyDocument: {}", e.message),
                )
            })?;
            for (j, rp) in r.policies.iter().enumerate() {
                let pat = format!("{at}.policy[{j}]");
                let (doc, field) = match (&rp.document, &rp.document_file) {
                    (Some(d), None) => (d.clone(), "document"),
                    (None, Some(f)) => (
                        read_relative(base, f)
                            .map_err(|e| err(format!("{pat}.document_file"), e))?,
                        "document_file",
                    ),
                    _ => {
                        return Err(err(
                            pat,
                            "give exactly one of document or document_file".into(),
                        ));
                    }
                };
                Policy::parse(&doc, &ParseOptions::new(PolicyKind::Identity)).map_err(|e| {
                    err(
                        format!("{pat}.{field}{}", pointer_suffix(&e.pointer)),
                        format!("MalformedPolicyDocument: {}", e.message),
                    )
                })?;
                out.role_policies.push(RolePolicy {
                    role_name: r.name.clone(),
                    policy_name: rp.name.clone(),
                    document: doc,
                });
            }
            out.roles.push(Role {
                name: r.name.clone(),
                path,
                role_id: config_role_id(account, &r.name),
                trust_policy: trust,
                description: r.description.clone(),
                max_session_duration: max,
                permissions_boundary: None,
                tags: r
                    .tags
                    .iter()
                    .map(|(k, v)| Tag {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                created: now,
                managed_by: ManagedBy::Config,
            });
        }
        Ok(out)
    }
}

/// A pinned JWKS must parse and hold at least one key that can verify ID tokens.
fn check_pinned_jwks(jwks: &str) -> Result<(), String> {
    let set = keyless_oidc::jwks::JwkSet::parse(jwks.as_bytes()).map_err(|e| e.message)?;
    if set.is_empty() {
        let skipped: Vec<String> = set
            .skipped()
            .iter()
            .map(|s| format!("{} ({})", s.kid.as_deref().unwrap_or("no kid"), s.reason))
            .collect();
        return Err(format!(
            "the JWKS has no key that can verify ID tokens (skipped: {}); every token would be refused",
            if skipped.is_empty() {
                "none".to_owned()
            } else {
                skipped.join(", ")
            }
        ));
    }
    Ok(())
}

fn pointer_suffix(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" (JSON pointer {pointer})")
    }
}

/// A stable role ID for a config-declared role: `AROA` + 17 base32 characters derived from the
/// account and name, so that restarts and replicas agree without coordination.
pub fn config_role_id(account: &str, name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("keyless-role\0{account}\0{name}").as_bytes(),
    );
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id: String = digest.as_ref()[..17]
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect();
    format!("AROA{id}")
}

fn read_relative(base: &Path, file: &Path) -> Result<String, String> {
    let path = if file.is_absolute() {
        file.to_path_buf()
    } else {
        base.join(file)
    };
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Checks an issuer or JWKS URL: https, or plain http to a loopback host or when allowed.
pub fn check_url(url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_insecure_http && !is_loopback_host(rest) {
            return Err(format!(
                "{url} must use https (plain http is allowed for loopback hosts, or with allow_insecure_http = true)"
            ));
        }
        rest
    } else {
        return Err(format!("{url} must start with https://"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url} has no host"));
    }
    if rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "{url} must not contain a query, a fragment or spaces"
        ));
    }
    Ok(())
}

fn is_loopback_host(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(stripped) = authority.strip_prefix('[') {
        stripped.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s3_gateways_timeouts_are_bounded() {
        for (setting, valid) in [
            ("backend_timeout_secs = 0", false),
            ("backend_timeout_secs = 3601", false),
            ("body_idle_timeout_secs = 0", false),
            (
                "backend_timeout_secs = 1\nbody_idle_timeout_secs = 3600",
                true,
            ),
        ] {
            let text = format!("[s3_gateway]\nbackend_url = \"http://h\"\n{setting}\n");
            let config = Config::parse(&text, "k.toml").unwrap();
            match config.declared_entities("k.toml", Path::new("."), 0) {
                Ok(_) => assert!(valid, "{setting}"),
                Err(error) => {
                    assert!(!valid, "{setting}: {error}");
                    assert!(error.location.starts_with("s3_gateway."), "{error}");
                    assert_eq!(error.reason, "must be between 1 and 3600");
                }
            }
        }
    }

    #[test]
    fn the_s3_backend_key_comes_from_the_environment_or_a_private_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let config = Config::parse(
            "[s3_gateway]\nbackend_url = \"http://127.0.0.1:8333\"\nbackend_credentials_file = \"backend.env\"\n",
            "k.toml",
        )
        .unwrap();
        let gateway = &config.s3_gateway;
        let env = |id: &'static str, secret: &'static str| {
            move |name: &str| match name {
                S3_BACKEND_ACCESS_KEY_ENV => Some(id.to_owned()),
                S3_BACKEND_SECRET_ENV => Some(secret.to_owned()),
                _ => None,
            }
        };
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            gateway.backend_key(dir.path(), env("AK", "SK")).unwrap(),
            ("AK".to_owned(), "SK".to_owned())
        );
        let half = gateway.backend_key(dir.path(), env("AK", "")).unwrap_err();
        assert!(half.to_string().contains("both"), "{half}");

        let file = dir.path().join("backend.env");
        std::fs::write(
            &file,
            "export AWS_ACCESS_KEY_ID=FILEAK\nAWS_SECRET_ACCESS_KEY=\"file secret\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = gateway.backend_key(dir.path(), |_| None).unwrap_err();
        assert!(open.to_string().contains("chmod 600"), "{open}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            gateway.backend_key(dir.path(), |_| None).unwrap(),
            ("FILEAK".to_owned(), "file secret".to_owned())
        );
        std::fs::write(&file, "AWS_ACCESS_KEY_ID=only\n").unwrap();
        assert!(gateway.backend_key(dir.path(), |_| None).is_err());

        let none = Config::parse("[s3_gateway]\nbackend_url = \"http://h\"\n", "k.toml").unwrap();
        let missing = none
            .s3_gateway
            .backend_key(dir.path(), |_| None)
            .unwrap_err();
        assert!(
            missing.to_string().contains(S3_BACKEND_ACCESS_KEY_ENV),
            "{missing}"
        );

        let inline = Config::parse(
            "[s3_gateway]\nbackend_url = \"http://h\"\nbackend_secret_access_key = \"s\"\n",
            "k.toml",
        )
        .unwrap();
        let refused = inline
            .s3_gateway
            .backend_key(dir.path(), env("AK", "SK"))
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("does not belong in the config file"),
            "{refused}"
        );
    }

    #[test]
    fn reports_syntax_errors_with_line_and_column() {
        let e = Config::parse("[server]\nlisten = 12\n", "k.toml").unwrap_err();
        assert_eq!(e.file, "k.toml");
        assert_eq!(e.location, "line 2, column 10");
    }

    #[test]
    fn a_listener_certificate_needs_its_key_and_the_key_its_certificate() {
        for (text, location, reason) in [
            (
                "[server]\ntls_cert = \"c.pem\"\n",
                "server.tls_key",
                "tls_cert needs tls_key",
            ),
            (
                "[s3_gateway]\ntls_cert = \"c.pem\"\n",
                "s3_gateway.tls_key",
                "tls_cert needs tls_key",
            ),
            (
                "[s3_gateway]\ntls_key = \"k.pem\"\n",
                "s3_gateway.tls_cert",
                "tls_key needs tls_cert",
            ),
        ] {
            let config = Config::parse(text, "k.toml").unwrap();
            let e = config
                .declared_entities("k.toml", Path::new("."), 0)
                .err()
                .unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert_eq!((e.location.as_str(), e.reason.as_str()), (location, reason));
        }
        let both = Config::parse(
            "[s3_gateway]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
            "k.toml",
        )
        .unwrap();
        assert!(both.declared_entities("k.toml", Path::new("."), 0).is_ok());
    }

    #[test]
    fn rejects_unknown_settings() {
        let e = Config::parse("[server]\nlistn = \"x\"\n", "k.toml").unwrap_err();
        assert!(e.reason.contains("unknown field"), "{e}");
    }

    #[test]
    fn urls_must_be_https_unless_loopback() {
        assert!(check_url("https://gitlab.com", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/issuers/gitlab", false).is_ok());
        assert!(check_url("http://[::1]:80", false).is_ok());
        assert!(check_url("http://gitlab.internal", false).is_err());
        assert!(check_url("http://gitlab.internal", true).is_ok());
        assert!(check_url("ftp://x", true).is_err());
    }

    #[test]
    fn config_role_ids_are_stable_and_aws_shaped() {
        let a = config_role_id("000000000000", "deployer");
        assert_eq!(a, config_role_id("000000000000", "deployer"));
        assert_ne!(a, config_role_id("000000000000", "other"));
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AROA"));
    }
}
