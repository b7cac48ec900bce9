//! Built-in OIDC issuer: GitLab-faithful CI ID tokens and a GitHub-Actions-shaped profile.
//!
//! The issuer exists for development, tests and CI systems without an identity provider of their
//! own. Tokens carry exactly the claim set, JSON types and lifetimes of the emulated platform
//! (string IDs, `"true"`/`"false"` strings, `nbf = iat - 5` and `exp = iat + job timeout` for
//! GitLab), are signed RS256 with an RSA key whose `kid` is the RFC 7638 thumbprint, and are
//! published through a GitLab-shaped discovery document and JWKS.

mod args;
mod claims;
mod discovery;
mod key;
mod payload;

pub use args::{parse_claim_arg, parse_ttl};
pub use discovery::{JWKS_CACHE_CONTROL, discovery_document, jwks_document};
pub use key::{IssuerKeyring, SigningKey};
pub use payload::{
    DEFAULT_GITLAB_SUB_COMPONENTS, DEFAULT_TTL_SECS, GITHUB_ISSUER, MintRequest, Profile, RefType,
    build_payload, mint,
};

/// Errors from key handling, token minting and argument parsing.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// RSA key generation failed in the crypto library.
    #[error("RSA key generation failed")]
    KeyGeneration,
    /// The private key bytes could not be parsed or were rejected.
    #[error("invalid RSA private key: {0}")]
    InvalidKey(&'static str),
    /// The key parsed but its size is outside the supported range.
    #[error("unsupported RSA key size: {bits} bits (supported: 2048 to 4096)")]
    UnsupportedKeySize {
        /// Modulus size of the rejected key.
        bits: usize,
    },
    /// Serializing the private key as PKCS#8 failed in the crypto library.
    #[error("RSA private key serialization failed")]
    KeySerialization,
    /// Signing failed in the crypto library.
    #[error("RSA signing failed")]
    Signing,
    /// The operating system random number generator failed.
    #[error("random number generation failed")]
    Random,
    /// The payload given to `sign_jwt` is not a JSON object.
    #[error("JWT payload is not a JSON object: {0}")]
    InvalidPayload(String),
    /// A field of a mint request is missing or malformed.
    #[error("invalid mint request: {0}")]
    InvalidRequest(String),
    /// A `key=value` / `key:=json` claim argument is malformed.
    #[error("invalid claim argument {arg:?}: {reason}")]
    InvalidClaimArg {
        /// The argument as given.
        arg: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A token lifetime string is malformed.
    #[error("invalid TTL {input:?}: {reason}")]
    InvalidTtl {
        /// The input as given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}
