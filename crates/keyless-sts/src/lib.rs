//! STS core: the AWS Query wire protocol (parameters, validation, XML), the domain model, and the
//! web-identity exchange. No I/O.

pub mod arn;
pub mod assume_role;
pub mod auth;
pub mod condition_keys;
pub mod diagnose;
pub mod error;
pub mod explain;
pub mod model;
pub mod permissions;
pub mod query;
pub mod session;
pub mod state;
pub mod validate;
pub mod web_identity;
pub mod xml;
