//! GitLab-shaped OpenID Connect discovery document and JWKS.

use serde_json::{Value, json};

use super::SigningKey;

/// `Cache-Control` value GitLab sends with its JWKS (`/oauth/discovery/keys`).
pub const JWKS_CACHE_CONTROL: &str = "max-age=86400, public, must-revalidate, no-transform";

/// Path of the JWKS below the issuer base URL, as on GitLab.
const JWKS_PATH: &str = "/oauth/discovery/keys";

/// The `/.well-known/openid-configuration` document in the shape GitLab (doorkeeper-openid_connect)
/// serves it.
///
/// `issuer` is `iss` (the value put in tokens); endpoint URLs, including
/// `jwks_uri = {issuer_base_url}/oauth/discovery/keys`, are built from `issuer_base_url` (a trailing
/// slash is ignored). Relying parties that verify CI ID tokens use only `issuer` and `jwks_uri`; the
/// OAuth endpoint fields are listed because GitLab lists them, and keyless serves none of them.
pub fn discovery_document(issuer_base_url: &str, iss: &str) -> Value {
    let base = issuer_base_url.trim_end_matches('/');
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "userinfo_endpoint": format!("{base}/oauth/userinfo"),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "scopes_supported": [
            "api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy",
            "read_repository", "write_repository", "read_registry", "write_registry", "sudo",
            "admin_mode", "openid", "profile", "email"
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": [
            "authorization_code", "password", "client_credentials", "device_code", "refresh_token"
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claim_types_supported": ["normal"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "sub_legacy", "name", "nickname",
            "preferred_username", "email", "email_verified", "website", "profile", "picture",
            "groups", "groups_direct", "https://gitlab.org/claims/groups/owner",
            "https://gitlab.org/claims/groups/maintainer", "https://gitlab.org/claims/groups/developer"
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
    })
}

/// The JWKS document `{"keys":[...]}` with one public JWK per key, in the given order.
pub fn jwks_document(keys: &[&SigningKey]) -> Value {
    let keys: Vec<Value> = keys.iter().map(|key| key.public_jwk()).collect();
    json!({ "keys": keys })
}
