//! Prometheus metrics: requests by action and outcome with latency histograms, decisions by
//! provider and role, JWKS cache activity, key ages, and dropped audit events.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::App;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the process-wide recorder (once).
pub fn install() -> anyhow::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("keyless_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("keyless_jwks_fetch_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    let _ = HANDLE.set(handle);
    Ok(())
}

/// Records one API request.
pub fn request(action: &str, outcome: &str, seconds: f64) {
    let labels = [
        ("action", action.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("keyless_requests_total", &labels).increment(1);
    metrics::histogram!("keyless_request_duration_seconds", &labels).record(seconds);
}

/// Records one trust decision.
pub fn decision(provider: &str, role: &str, decision: &str) {
    metrics::counter!(
        "keyless_decisions_total",
        "provider" => provider.to_owned(),
        "role" => role.to_owned(),
        "decision" => decision.to_owned()
    )
    .increment(1);
}

/// Renders the Prometheus text, refreshing the gauges that are read on demand.
pub fn render(app: &App) -> String {
    let stats = app.key_cache.stats();
    metrics::counter!("keyless_jwks_fetches_total").absolute(stats.fetches);
    metrics::counter!("keyless_jwks_fetch_errors_total").absolute(stats.fetch_errors);
    metrics::counter!("keyless_jwks_cache_hits_total").absolute(stats.hits);
    metrics::counter!("keyless_jwks_cache_stale_hits_total").absolute(stats.stale_hits);
    metrics::counter!("keyless_jwks_cache_misses_total").absolute(stats.misses);
    metrics::counter!("keyless_audit_events_dropped_total").absolute(app.auditor.dropped());
    let now = app.now();
    let live = app.live.load();
    for (id, created) in &live.key_ages.sealing {
        metrics::gauge!("keyless_sealing_key_age_seconds", "key_id" => id.to_string())
            .set((now - created) as f64);
    }
    for (issuer, kid, created) in &live.key_ages.issuer {
        metrics::gauge!("keyless_issuer_key_age_seconds", "issuer" => issuer.clone(), "kid" => kid.clone())
            .set((now - created) as f64);
    }
    metrics::gauge!("keyless_state_generation").set(live.generation as f64);
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}
