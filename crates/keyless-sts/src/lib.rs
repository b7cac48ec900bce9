//! STS core: the AWS Query wire protocol (parameters, validation, XML), the domain model, the
//! compiled state, and the operations: `AssumeRoleWithWebIdentity`, `AssumeRole`,
//! `GetCallerIdentity`, SigV4 authentication, session permissions, and `keyless explain`.
//! No I/O: the caller fetches keys, reads the clock and owns the state.
//!
//! Every trust decision goes through [`trust::decide`]; every error is an [`Error`], mapped to
//! AWS's code, status and message in one place.
//!
//! ```
//! use keyless_sts::query::QueryParams;
//! use keyless_sts::web_identity::WebIdentityParams;
//!
//! let form = "Action=AssumeRoleWithWebIdentity&RoleSessionName=x";
//! let params = QueryParams::parse("", form.as_bytes()).unwrap();
//! let error = WebIdentityParams::from_query(&params).unwrap_err();
//! assert_eq!((error.code(), error.status()), ("ValidationError", 400));
//! assert!(error.message().starts_with("3 validation errors detected: "));
//! ```

#![warn(missing_docs)]

pub mod arn;
pub mod assume_role;
pub mod auth;
pub mod authorization_message;
pub mod condition_keys;
pub mod context;
mod denial;
mod error;
pub mod explain;
pub mod forwarded;
mod mint;
pub mod model;
pub mod permissions;
mod policy_set;
pub mod query;
pub mod response;
mod session_policies;
pub mod state;
pub mod time;
pub mod trust;
pub mod validate;
pub mod web_identity;
pub mod web_identity_token;
pub mod xml;

pub use error::{Denial, Error, Refused};
pub use mint::Minted;
pub use session_policies::SessionPolicies;
