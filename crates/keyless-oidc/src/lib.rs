//! OIDC ID tokens: strict JWT verification, JWKS caching and fetching, and a GitLab-faithful issuer.
//!
//! ```
//! use keyless_oidc::issuer::{IssuerKeyring, MintRequest, SigningKey, mint};
//! use keyless_oidc::jwks::JwkSet;
//! use keyless_oidc::verify::VerifyOptions;
//!
//! let key = SigningKey::generate().unwrap();
//! let now = 1_800_000_000;
//! let token = mint(&key, &MintRequest::gitlab("https://gitlab.example", "group/project", "main")
//!     .with_audience("https://keyless.example")
//!     .with_now(now)).unwrap();
//! let jwks = JwkSet::parse(IssuerKeyring::new(key, Vec::new()).jwks().to_string().as_bytes()).unwrap();
//!
//! let jwt = keyless_oidc::jwt::decode(&token).unwrap();
//! let key = jwks.find(jwt.header.kid.as_deref(), jwt.header.alg).unwrap();
//! let verified = jwt.verify(&key, &["https://keyless.example".into()], now + 5, &VerifyOptions::default()).unwrap();
//! assert_eq!(verified.claims.sub.as_deref(), Some("project_path:group/project:ref_type:branch:ref:main"));
//!
//! let jwt = keyless_oidc::jwt::decode(&token).unwrap();
//! let err = jwt.verify(&key, &["sts.amazonaws.com".into()], now + 5, &VerifyOptions::default()).unwrap_err();
//! assert_eq!((err.code.as_str(), err.message.as_str()), ("InvalidIdentityToken", "Incorrect token audience"));
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod issuer;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod outbound;
pub mod verify;
