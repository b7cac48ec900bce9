//! Prometheus metrics: requests by action and outcome with latency histograms, decisions by
//! provider and role, JWKS cache activity, key ages, and dropped audit events.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use metrics::{Counter, Histogram};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::App;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the process-wide recorder (once) and starts its upkeep on the current runtime.
pub(crate) fn install() -> anyhow::Result<()> {
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
    // Histograms keep every sample until upkeep folds them into their buckets: without it,
    // memory grows with each request until someone scrapes /metrics.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let _ = HANDLE.set(handle);
    Ok(())
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The STS actions and the authorization API's modes, as metric labels.
const STS_ACTIONS: &[&str] = &[
    "AssumeRoleWithWebIdentity",
    "AssumeRole",
    "GetCallerIdentity",
    "Authorize",
    "AuthorizeNginx",
    "AuthorizeEnvoy",
    "GetWebIdentityToken",
];

/// A bounded label for a caller-chosen action name: the action itself when keyless serves it,
/// else `Other` (a client must not be able to grow the label set without bound).
fn action_label(action: &str) -> &'static str {
    STS_ACTIONS
        .iter()
        .chain(keyless_iam::ACTIONS.iter())
        .find(|a| **a == action)
        .copied()
        .unwrap_or("Other")
}

/// The request counter and latency histogram of one action and outcome.
type RequestHandles = (Counter, Histogram);

/// The decision counters (`Allow`, `Deny`) by provider, then role.
type DecisionHandles = HashMap<String, HashMap<String, [Counter; 2]>>;

/// Metric handles looked up in the registry once and reused: building a labelled key and
/// finding it in the registry costs more than the update itself. Both label sets are bounded
/// (actions keyless serves, error codes it defines; roles that exist and configured providers).
static REQUEST_HANDLES: OnceLock<RwLock<HashMap<(&'static str, &'static str), RequestHandles>>> =
    OnceLock::new();
static DECISION_HANDLES: OnceLock<RwLock<DecisionHandles>> = OnceLock::new();
static AUTHORIZATION_HANDLES: OnceLock<RwLock<HashMap<(&'static str, &'static str), Counter>>> =
    OnceLock::new();

/// Records one API request. `outcome` is `Success` or the error code.
pub(crate) fn request(action: &str, outcome: &'static str, seconds: f64) {
    let action = action_label(action);
    let handles = REQUEST_HANDLES.get_or_init(Default::default);
    let cached = handles
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(action, outcome))
        .cloned();
    let (total, duration) = cached.unwrap_or_else(|| {
        let created = (
            metrics::counter!("keyless_requests_total", "action" => action, "outcome" => outcome),
            metrics::histogram!("keyless_request_duration_seconds", "action" => action, "outcome" => outcome),
        );
        handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((action, outcome), created.clone());
        created
    });
    total.increment(1);
    duration.record(seconds);
}

/// Records one trust decision for `role` (a role that exists) trusted through `provider`.
pub(crate) fn decision(provider: &str, role: &str, allowed: bool) {
    let handles = DECISION_HANDLES.get_or_init(Default::default);
    let cached = handles
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(provider)
        .and_then(|roles| roles.get(role))
        .cloned();
    let [allow, deny] = cached.unwrap_or_else(|| {
        let counter = |decision: &'static str| {
            metrics::counter!(
                "keyless_decisions_total",
                "provider" => provider.to_owned(),
                "role" => role.to_owned(),
                "decision" => decision
            )
        };
        let created = [counter("Allow"), counter("Deny")];
        handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(provider.to_owned())
            .or_default()
            .insert(role.to_owned(), created.clone());
        created
    });
    if allowed { allow } else { deny }.increment(1);
}

/// Records one call of the authorization API in `mode` (`json`, `nginx`, `envoy`):
/// `keyless_authorizations_total{mode, result}`, the result being `Allow` or `Deny` when a
/// decision was made, `Authenticated` when only the caller was asked about, else the error
/// code. Both labels are bounded.
pub(crate) fn authorization(mode: &'static str, decision: Option<bool>, outcome: &'static str) {
    let result = match (decision, outcome) {
        (Some(true), _) => "Allow",
        (Some(false), _) => "Deny",
        (None, "Success") => "Authenticated",
        (None, code) => code,
    };
    let handles = AUTHORIZATION_HANDLES.get_or_init(Default::default);
    let cached = handles
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(mode, result))
        .cloned();
    let counter = cached.unwrap_or_else(|| {
        let created =
            metrics::counter!("keyless_authorizations_total", "mode" => mode, "result" => result);
        handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((mode, result), created.clone());
        created
    });
    counter.increment(1);
}

/// Records one `GetWebIdentityToken` outcome: `Issued` or the refusal's error code, by the
/// requested algorithm (`RS256`, `ES384`, or `invalid` when the request named none that exists).
pub(crate) fn outbound_token(algorithm: &'static str, outcome: &'static str) {
    metrics::counter!(
        "keyless_outbound_tokens_total",
        "algorithm" => algorithm,
        "outcome" => outcome
    )
    .increment(1);
}

/// Renders the Prometheus text, refreshing the gauges that are read on demand.
pub(crate) fn render(app: &App) -> String {
    let stats = app.node.key_cache.stats();
    metrics::counter!("keyless_jwks_fetches_total").absolute(stats.fetches);
    metrics::counter!("keyless_jwks_fetch_errors_total").absolute(stats.fetch_errors);
    metrics::counter!("keyless_jwks_cache_hits_total").absolute(stats.hits);
    metrics::counter!("keyless_jwks_cache_stale_hits_total").absolute(stats.stale_hits);
    metrics::counter!("keyless_jwks_cache_misses_total").absolute(stats.misses);
    metrics::counter!("keyless_audit_events_dropped_total").absolute(app.auditor.dropped());
    metrics::counter!("keyless_audit_events_written_total").absolute(app.auditor.written());
    metrics::counter!("keyless_audit_events_aggregated_total").absolute(app.auditor.aggregated());
    let now = app.node.now();
    let live = app.node.live.load();
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
