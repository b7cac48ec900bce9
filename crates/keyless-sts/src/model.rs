//! The domain model: OIDC providers, roles, policies and their attachments.
//!
//! These are plain data. The store persists them; the server holds an
//! in-memory snapshot of them; the exchange reads them. Times are Unix seconds.

use serde::{Deserialize, Serialize};

/// Where an entity was declared. Config-managed entities are read-only through the IAM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    /// Created through the IAM API (or `--dev`); mutable through the API.
    #[default]
    Api,
    /// Declared in the config file; re-applied at every start.
    Config,
}

impl ManagedBy {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedBy::Api => "api",
            ManagedBy::Config => "config",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(ManagedBy::Api),
            "config" => Some(ManagedBy::Config),
            _ => None,
        }
    }
}

/// A resource tag, as IAM models it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key (1–128 chars).
    pub key: String,
    /// Tag value (0–256 chars).
    pub value: String,
}

/// Which token claims become trust-policy condition keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConditionKeyMode {
    /// Only the keys AWS exposes for this provider (`aud`, `sub`, `amr`, `azp`, `email`, plus the
    /// provider-specific lists AWS publishes).
    Aws,
    /// Every claim becomes `<provider>:<claim>` (the default).
    #[default]
    All,
}

/// Where a provider's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeySource {
    /// `{url}/.well-known/openid-configuration`, then its `jwks_uri`.
    #[default]
    Discovery,
    /// An explicit JWKS URL.
    JwksUrl {
        /// The JWKS document URL.
        url: String,
    },
    /// A pinned JWKS document (JSON text), for private or air-gapped issuers.
    Pinned {
        /// The JWKS JSON document.
        jwks: String,
    },
    /// The keys of one of keyless's own built-in issuers, by issuer name.
    Builtin {
        /// The built-in issuer's name (e.g. `gitlab`).
        issuer: String,
    },
}

/// An IAM OpenID Connect identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The full issuer URL tokens carry in `iss`, e.g. `https://gitlab.com`.
    pub url: String,
    /// The audiences (`ClientIDList`).
    pub client_ids: Vec<String>,
    /// SHA-1 certificate thumbprints (40 hex chars each, at most 5).
    pub thumbprints: Vec<String>,
    /// Where the verification keys come from.
    pub key_source: KeySource,
    /// Which claims become condition keys.
    pub condition_keys: ConditionKeyMode,
    /// Allow a plain-http URL that is not loopback (development only).
    pub allow_insecure_http: bool,
    /// Extra PEM CA certificates trusted for this provider's discovery and JWKS hosts.
    pub ca_bundle: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
    /// Where it was declared.
    pub managed_by: ManagedBy,
}

impl OidcProvider {
    /// The URL without its scheme, e.g. `gitlab.com` or `oidc.example.com/id/ABC`: IAM's `Url`,
    /// the suffix of the provider ARN, and the prefix of its condition keys.
    pub fn host_path(&self) -> &str {
        strip_scheme(&self.url)
    }

    /// `arn:aws:iam::<account>:oidc-provider/<host_path>`.
    pub fn arn(&self, account: &str) -> String {
        provider_arn(account, self.host_path())
    }
}

/// Removes a leading `https://` or `http://`.
pub fn strip_scheme(url: &str) -> &str {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
}

/// The ARN of the OIDC provider whose URL without scheme is `host_path`.
pub fn provider_arn(account: &str, host_path: &str) -> String {
    format!("arn:aws:iam::{account}:oidc-provider/{host_path}")
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// The role name (1–64 chars of `[\w+=,.@-]`).
    pub name: String,
    /// The path, `/` by default; begins and ends with `/`.
    pub path: String,
    /// The unique ID, `AROA` + 17 chars.
    pub role_id: String,
    /// The trust policy (`AssumeRolePolicyDocument`), as the JSON text it was given.
    pub trust_policy: String,
    /// Description (0–1000 chars).
    pub description: Option<String>,
    /// Maximum session duration in seconds (3600–43200).
    pub max_session_duration: u32,
    /// The ARN of the managed policy that is the role's permissions boundary, if it has one.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
    /// Where it was declared.
    pub managed_by: ManagedBy,
}

impl Role {
    /// `arn:aws:iam::<account>:role<path><name>`.
    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role{}{}", self.path, self.name)
    }
}

/// An inline policy embedded in a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePolicy {
    /// The role's name.
    pub role_name: String,
    /// The policy's name.
    pub policy_name: String,
    /// The policy document (JSON text).
    pub document: String,
}

/// A customer-managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// The policy name.
    pub name: String,
    /// The path, `/` by default.
    pub path: String,
    /// The unique ID, `ANPA` + 17 chars.
    pub policy_id: String,
    /// Description.
    pub description: Option<String>,
    /// The versions; exactly one is the default.
    pub versions: Vec<PolicyVersion>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
    /// Last update time.
    pub updated: i64,
    /// Where it was declared.
    pub managed_by: ManagedBy,
}

impl ManagedPolicy {
    /// `arn:aws:iam::<account>:policy<path><name>`.
    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:policy{}{}", self.path, self.name)
    }

    /// The default version.
    pub fn default_version(&self) -> Option<&PolicyVersion> {
        self.versions.iter().find(|v| v.is_default)
    }
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, …
    pub version_id: String,
    /// The policy document (JSON text).
    pub document: String,
    /// Whether this is the default version.
    pub is_default: bool,
    /// Creation time.
    pub created: i64,
}

/// A managed policy attached to a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The role's name.
    pub role_name: String,
    /// The managed policy's ARN.
    pub policy_arn: String,
}
