//! AWS credentials: key IDs, AEAD-sealed self-contained session tokens, and SigV4 request verification. No I/O.
