//! The settings a node runs with, fixed at start.

use crate::issuers::IssuerSettings;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The 12-digit account ID.
    pub account: String,
    /// This server's public base URL.
    pub public_url: String,
    /// Put a short reason into AccessDenied messages.
    pub debug_denials: bool,
    /// Token time-check leeway, seconds.
    pub token_leeway_secs: i64,
    /// The most bytes of one request body.
    pub max_body_bytes: usize,
    /// Development mode.
    pub dev: bool,
    /// Seconds added to the system clock (development mode only).
    pub clock_offset_secs: i64,
    /// The built-in issuers.
    pub issuers: Vec<IssuerSettings>,
    /// Outbound identity federation.
    pub outbound: crate::outbound::OutboundSettings,
}
