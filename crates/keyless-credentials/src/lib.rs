//! AWS credentials for keyless: AWS-shaped identifiers, AEAD-sealed self-contained session
//! tokens, and server-side SigV4 request verification. The crate performs no I/O.

pub mod ids;
pub mod session;
pub mod sigv4;
