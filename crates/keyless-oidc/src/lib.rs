//! OIDC ID tokens: strict JWT verification, JWKS caching and fetching, and a GitLab-faithful issuer.

pub mod error;
pub mod issuer;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod verify;
