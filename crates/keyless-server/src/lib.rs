//! The keyless HTTP server: STS and IAM on the AWS Query protocol, the built-in issuer's endpoints, audit and metrics.
