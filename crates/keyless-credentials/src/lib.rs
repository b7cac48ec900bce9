//! AWS credentials for keyless: AWS-shaped identifiers, AEAD-sealed self-contained session
//! tokens, and server-side SigV4 request verification. The crate performs no I/O.
//!
//! ```
//! use keyless_credentials::ids;
//! use keyless_credentials::session::{SealingKeyring, SessionClaims, SessionOrigin, generate_sealing_key};
//!
//! let keyring = SealingKeyring::new(generate_sealing_key(1, 0), Vec::new()).unwrap();
//! let claims = SessionClaims {
//!     access_key_id: ids::new_access_key_id("ASIA"),
//!     secret_access_key: ids::new_secret_access_key(),
//!     account: "111122223333".into(),
//!     role_name: "deployer".into(),
//!     role_path: "/".into(),
//!     role_id: ids::new_unique_id("AROA"),
//!     session_name: "job-42".into(),
//!     issued_at: 1_800_000_000,
//!     expires_at: 1_800_000_900,
//!     origin: SessionOrigin::AssumeRole { source_arn: "arn:aws:iam::111122223333:root".into() },
//!     session_policy: None,
//!     policy_arns: Vec::new(),
//!     source_identity: None,
//!     transitive_tags: Vec::new(),
//!     chained: false,
//!     tags: Vec::new(),
//!     web_identity_keys: Vec::new(),
//! };
//! let token = keyring.seal(&claims).unwrap();
//! let unsealed = keyring.unseal(&token).unwrap();
//! assert_eq!(unsealed.assumed_role_arn(), "arn:aws:sts::111122223333:assumed-role/deployer/job-42");
//! let mut tampered = token.clone();
//! let last = tampered.pop().unwrap();
//! tampered.push(if last == 'A' { 'B' } else { 'A' });
//! assert!(keyring.unseal(&tampered).is_err());
//! ```

#![warn(missing_docs)]

pub mod ids;
pub mod session;
pub mod sigv4;
