//! The keyless node core: everything a keyless process stands on except HTTP.
//!
//! - the TOML config file ([`config`]), checked with the file, the location and the reason;
//! - the data directory, the master key, the database and first-start bootstrap ([`data`]);
//! - the runtime file that lets offline commands work from a data directory ([`runtime`]);
//! - the built-in OIDC issuers ([`issuers`]) and `--dev`'s seed entities ([`dev`]);
//! - the compile of the store into the live state ([`live`]) and the running [`Node`] that
//!   holds it, refreshes it and caches provider keys ([`node`]);
//! - the audit log ([`audit`]).
//!
//! `keyless serve` builds its server on a [`Node`]; the CLI's offline commands use the same
//! pieces without one.
//!
//! ```
//! use keyless_node::config::Config;
//!
//! let config = Config::parse("[server]\naccount_id = \"123456789012\"\n", "keyless.toml").unwrap();
//! assert_eq!(config.account(), "123456789012");
//! let err = Config::parse("[server]\nlisten = 8080\n", "keyless.toml").unwrap_err();
//! assert_eq!((err.file.as_str(), err.location.as_str()), ("keyless.toml", "line 2, column 10"));
//! ```

#![warn(missing_docs)]

pub mod audit;
pub mod clock;
pub mod config;
pub mod data;
pub mod dev;
pub mod issuers;
pub mod live;
pub mod node;
pub mod outbound;
mod runtime;
pub mod settings;
pub mod start;

pub use node::Node;
