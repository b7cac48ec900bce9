//! OIDC ID tokens: strict JWT verification, JWKS caching and fetching, and a GitLab-faithful issuer.
