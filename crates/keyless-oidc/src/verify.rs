//! Signature and claim verification of a decoded token.
//!
//! The checks run in a fixed order (see `docs/token-verification.md`):
//! signature, audience (with the `azp` rule), expiry, not-before, issued-at.

use crate::error::TokenError;
use crate::jwks::VerificationKey;
use crate::jwt::{Algorithm, Claims, UnverifiedJwt};

/// AWS's message for a missing `aud` claim.
pub const MSG_MISSING_AUD: &str = "Missing a required claim: aud";
/// AWS's message for an `aud` that matches no client ID.
pub const MSG_INCORRECT_AUDIENCE: &str = "Incorrect token audience";

/// Tunables of claim verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Clock skew tolerated for `nbf`, in seconds. `exp` is strict, as on AWS.
    pub leeway_secs: i64,
    /// How far in the future `iat` may be, in seconds.
    pub max_iat_future_secs: i64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            leeway_secs: 60,
            max_iat_future_secs: 300,
        }
    }
}

/// A token whose signature and claims have been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The verified claims.
    pub claims: Claims,
    /// The client ID the token was accepted for (AWS's `Audience` response member).
    pub audience: String,
    /// The key ID from the token header.
    pub kid: Option<String>,
    /// The algorithm the token was signed with.
    pub alg: Algorithm,
}

impl UnverifiedJwt<'_> {
    /// Checks only the signature, with `key` (for diagnosis step by step; [`Self::verify`]
    /// runs every check).
    pub fn check_signature(&self, key: &VerificationKey) -> Result<(), TokenError> {
        key.verify_signature(
            self.header.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }

    /// Verifies the signature with `key`, then the audience against `client_ids`,
    /// then `exp`, `nbf` and `iat` against `now` (seconds since the epoch).
    ///
    /// The issuer is not compared here: the caller selected the provider (and thus
    /// `key`) by `iss`; [`check_issuer`] is available for an explicit check.
    pub fn verify(
        self,
        key: &VerificationKey,
        client_ids: &[String],
        now: i64,
        opts: &VerifyOptions,
    ) -> Result<VerifiedToken, TokenError> {
        key.verify_signature(
            self.header.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        )?;
        let audience = match_audience(&self.claims, client_ids)?;
        check_times(&self.claims, now, opts)?;
        Ok(VerifiedToken {
            claims: self.claims,
            audience,
            kid: self.header.kid,
            alg: self.header.alg,
        })
    }
}

/// Applies the audience rule and returns the matched client ID.
///
/// `aud` (string or array) must contain an element of `client_ids`. When `aud`
/// has more than one element and `azp` is present, `azp` must itself be both in
/// `client_ids` and in `aud`, and it is the matched audience (OpenID Connect Core
/// §3.1.3.7). Otherwise the first `aud` element found in `client_ids` is returned.
pub fn match_audience(claims: &Claims, client_ids: &[String]) -> Result<String, TokenError> {
    if claims.aud.is_empty() {
        return Err(TokenError::invalid(MSG_MISSING_AUD));
    }
    let is_client = |value: &str| client_ids.iter().any(|id| id == value);
    let Some(first_match) = claims.aud.iter().find(|aud| is_client(aud)) else {
        return Err(TokenError::invalid(MSG_INCORRECT_AUDIENCE));
    };
    if claims.aud.len() > 1
        && let Some(azp) = &claims.azp
    {
        if is_client(azp) && claims.aud.iter().any(|aud| aud == azp) {
            return Ok(azp.clone());
        }
        return Err(TokenError::invalid(MSG_INCORRECT_AUDIENCE));
    }
    Ok(first_match.clone())
}

/// Checks `exp` (required, no leeway), `nbf` (with leeway) and `iat` (not too far in the
/// future) against `now`.
pub fn check_times(claims: &Claims, now: i64, opts: &VerifyOptions) -> Result<(), TokenError> {
    let exp = claims
        .exp
        .ok_or_else(|| TokenError::invalid("Missing a required claim: exp"))?;
    if now >= exp {
        return Err(TokenError::expired(format!(
            "Token expired: current date/time {now} must be before the expiration date/time {exp}"
        )));
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(opts.leeway_secs)
    {
        return Err(TokenError::invalid(format!(
            "Token not yet valid: current date/time {now} is before the not-before date/time {nbf}"
        )));
    }
    if let Some(iat) = claims.iat
        && iat > now.saturating_add(opts.max_iat_future_secs)
    {
        return Err(TokenError::invalid(format!(
            "Token issued in the future: current date/time {now} is before the issued-at date/time {iat}"
        )));
    }
    Ok(())
}

/// Checks that the token's `iss` equals `expected` exactly.
///
/// The comparison is byte-for-byte: case matters and a trailing slash is
/// significant (`https://gitlab.com/` is not `https://gitlab.com`).
pub fn check_issuer(claims: &Claims, expected: &str) -> Result<(), TokenError> {
    if claims.iss == expected {
        return Ok(());
    }
    Err(TokenError::invalid(format!(
        "No OpenIDConnect provider found in your account for {}",
        truncate_for_message(&claims.iss)
    )))
}

/// Shortens an untrusted value to 256 bytes and replaces control characters.
/// Shortens a token-supplied value for an error message (256 bytes at most, control
/// characters replaced).
pub fn truncate_for_message(value: &str) -> String {
    const LIMIT: usize = 256;
    let mut end = value.len().min(LIMIT);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut shown: String = value[..end]
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if end < value.len() {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TokenErrorCode;

    fn claims(aud: &[&str], azp: Option<&str>) -> Claims {
        Claims {
            iss: "https://gitlab.example".to_owned(),
            sub: None,
            aud: aud.iter().map(|s| (*s).to_owned()).collect(),
            azp: azp.map(str::to_owned),
            exp: Some(100),
            nbf: None,
            iat: None,
            jti: None,
            all: Vec::new(),
        }
    }

    fn ids(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn audience_rules() {
        let sts = ids(&["sts.example", "other"]);
        assert_eq!(
            match_audience(&claims(&["sts.example"], None), &sts).as_deref(),
            Ok("sts.example")
        );
        assert_eq!(
            match_audience(&claims(&["x", "other"], None), &sts).as_deref(),
            Ok("other")
        );
        // Single audience: azp is informational.
        assert_eq!(
            match_audience(&claims(&["sts.example"], Some("unrelated")), &sts).as_deref(),
            Ok("sts.example")
        );
        // Several audiences: azp decides.
        assert_eq!(
            match_audience(&claims(&["x", "sts.example", "other"], Some("other")), &sts).as_deref(),
            Ok("other")
        );
        let err = match_audience(&claims(&["x", "sts.example"], Some("x")), &sts).expect_err("azp");
        assert_eq!(err.message, MSG_INCORRECT_AUDIENCE);
        let err = match_audience(&claims(&[], None), &sts).expect_err("missing");
        assert_eq!(err.message, MSG_MISSING_AUD);
        let err = match_audience(&claims(&["STS.example"], None), &sts).expect_err("case");
        assert_eq!(err.message, MSG_INCORRECT_AUDIENCE);
    }

    #[test]
    fn time_rules_with_boundaries() {
        let opts = VerifyOptions::default();
        let mut c = claims(&["a"], None);
        assert!(check_times(&c, 99, &opts).is_ok());
        let err = check_times(&c, 100, &opts).expect_err("expired at exp");
        assert_eq!(err.code, TokenErrorCode::ExpiredTokenException);
        assert_eq!(
            err.message,
            "Token expired: current date/time 100 must be before the expiration date/time 100"
        );
        c.nbf = Some(60);
        assert!(check_times(&c, 0, &opts).is_ok());
        c.nbf = Some(61);
        assert_eq!(
            check_times(&c, 0, &opts).map_err(|e| e.code),
            Err(TokenErrorCode::InvalidIdentityToken)
        );
        c.nbf = None;
        c.iat = Some(300);
        assert!(check_times(&c, 0, &opts).is_ok());
        c.iat = Some(301);
        assert!(check_times(&c, 0, &opts).is_err());
        c.exp = None;
        assert_eq!(
            check_times(&c, 0, &opts).map_err(|e| e.message),
            Err("Missing a required claim: exp".to_owned())
        );
    }

    #[test]
    fn issuer_is_exact() {
        let c = claims(&["a"], None);
        assert!(check_issuer(&c, "https://gitlab.example").is_ok());
        assert!(check_issuer(&c, "https://gitlab.example/").is_err());
        assert!(check_issuer(&c, "https://GitLab.example").is_err());
        let long = claims(&["a"], None);
        let err = check_issuer(&long, "x").expect_err("mismatch");
        assert_eq!(
            err.message,
            "No OpenIDConnect provider found in your account for https://gitlab.example"
        );
        assert_eq!(truncate_for_message(&"é".repeat(200)).len(), 259);
        assert_eq!(truncate_for_message(&"é".repeat(128)).len(), 256);
        assert_eq!(truncate_for_message("https://a\nb\u{7f}"), "https://a?b?");
    }
}
