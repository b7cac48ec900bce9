//! The settings a node runs with, fixed at start.

use crate::issuers::IssuerSettings;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The 12-digit account ID.
    pub account: String,
    /// This server's public base URL.
    pub public_url: String,
    /// Put a short reason into AccessDenied messages.
    pub debug_denials: bool,
    /// Token time-check leeway, seconds.
    pub token_leeway_secs: i64,
    /// The most bytes of one request body.
    pub max_body_bytes: usize,
    /// Development mode.
    pub dev: bool,
    /// Seconds added to the system clock (development mode only).
    pub clock_offset_secs: i64,
    /// The built-in issuers.
    pub issuers: Vec<IssuerSettings>,
    /// Outbound identity federation.
    pub outbound: crate::outbound::OutboundSettings,
    /// The token of the authorization API's proxy mode; the mode is off without one.
    pub authorizer_token: Option<AuthorizerToken>,
}

/// The environment variable that sets the authorizer token (over the config file's).
pub const AUTHORIZER_TOKEN_ENV: &str = "KEYLESS_AUTHORIZE_NGINX_TOKEN";

/// The fewest characters of an authorizer token.
pub const MIN_AUTHORIZER_TOKEN: usize = 16;

/// The shared secret a proxy (nginx, Envoy) sends as `X-Keyless-Authorizer-Token`. Never
/// printed; compared in constant time.
#[derive(Clone)]
pub struct AuthorizerToken(String);

impl AuthorizerToken {
    /// The token from `KEYLESS_AUTHORIZE_NGINX_TOKEN` (`env`) or else `[authorize]
    /// nginx_token`; `None` when neither is set. A token must have at least 16 visible ASCII
    /// characters.
    pub fn resolve(
        env: Option<String>,
        configured: Option<&str>,
    ) -> anyhow::Result<Option<AuthorizerToken>> {
        let (token, source) = match (env, configured) {
            (Some(t), _) if !t.is_empty() => (t, AUTHORIZER_TOKEN_ENV),
            (_, Some(t)) => (t.to_owned(), "[authorize] nginx_token"),
            _ => return Ok(None),
        };
        if token.len() < MIN_AUTHORIZER_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            anyhow::bail!(
                "{source} must have at least {MIN_AUTHORIZER_TOKEN} visible ASCII characters"
            );
        }
        Ok(Some(AuthorizerToken(token)))
    }

    /// Whether `presented` is the token, in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), presented).is_ok()
    }
}

impl std::fmt::Debug for AuthorizerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizerToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_environment_first_and_must_be_long() {
        let token = AuthorizerToken::resolve(Some("e".repeat(16)), Some("configured-token-1"))
            .unwrap()
            .expect("set");
        assert!(token.matches("e".repeat(16).as_bytes()));
        assert!(!token.matches(b"configured-token-1"));
        assert!(!token.matches(b""));
        let token = AuthorizerToken::resolve(Some(String::new()), Some("configured-token-1"))
            .unwrap()
            .expect("set");
        assert!(token.matches(b"configured-token-1"));
        assert_eq!(format!("{token:?}"), "AuthorizerToken(<redacted>)");
        assert!(AuthorizerToken::resolve(None, None).unwrap().is_none());
        let short = AuthorizerToken::resolve(None, Some("short")).unwrap_err();
        assert_eq!(
            short.to_string(),
            "[authorize] nginx_token must have at least 16 visible ASCII characters"
        );
        assert!(AuthorizerToken::resolve(Some("with space 123456".into()), None).is_err());
    }
}
