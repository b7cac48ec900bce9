//! HTTP routes: the AWS Query API on any path, the built-in issuers' and the outbound
//! issuer's discovery and JWKS, the mint, explain and authorization APIs, health checks and
//! metrics.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use keyless_credentials::sigv4::RequestParts;
use keyless_node::config::MetricsAccess;
use keyless_node::issuers::MintJob;
use keyless_oidc::issuer::RefType;
use keyless_sts::auth::{self, Caller};
use keyless_sts::explain::{self, ExplainInput};
use keyless_sts::{Denial, Error, Refused};
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::body::read_body;
use crate::json::{json_body, json_error};

/// Builds the router.
pub(crate) fn router(app: Arc<App>) -> Router {
    let outbound = keyless_node::outbound::issuer_path(&app.node.settings.outbound.issuer);
    Router::new()
        .route(
            &format!("{outbound}/.well-known/openid-configuration"),
            get(outbound_discovery),
        )
        .route(
            &format!("{outbound}/.well-known/jwks.json"),
            get(outbound_jwks),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route(
            "/issuers/{name}/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/issuers/{name}/oauth/discovery/keys", get(jwks))
        .route("/keyless/issuers/{name}/mint", post(mint))
        .route("/keyless/explain", post(explain))
        .route("/keyless/authorize", post(crate::authorize::json))
        .route("/keyless/authorize/nginx", any(crate::authorize::nginx))
        .route(crate::authorize::ENVOY_PREFIX, any(crate::authorize::envoy))
        .route(
            &format!("{}/{{*path}}", crate::authorize::ENVOY_PREFIX),
            any(crate::authorize::envoy),
        )
        .fallback(crate::query::query_api)
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// The router of a listener that serves only `/metrics`.
pub(crate) fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(app)
}

/// `/metrics`, to whoever `[server] metrics` lets read it.
async fn metrics_text(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match app.metrics {
        None => {
            return (
                StatusCode::NOT_FOUND,
                "metrics are served on their own listener\n",
            )
                .into_response();
        }
        Some(MetricsAccess::Open) => {}
        Some(MetricsAccess::Admin) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            let parts = RequestParts {
                method: method.as_str(),
                path: uri.path(),
                query: uri.query().unwrap_or(""),
                headers: &headers,
                body: b"",
            };
            match auth::authenticate(&app.node.live.load().sts, &parts, "keyless", app.node.now()) {
                Ok(Caller::Admin { .. }) => {}
                Ok(Caller::Session(_)) => {
                    return json_error(&admin_only(), &request_id);
                }
                Err(e) => return json_error(&e, &request_id),
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        crate::metrics::render(&app),
    )
        .into_response()
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.node.store.ping().await {
        Ok(()) if app.node.live.load().sts.admin.is_some() => {
            (StatusCode::OK, "ready\n").into_response()
        }
        Ok(()) => (StatusCode::SERVICE_UNAVAILABLE, "keys not loaded\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response(),
    }
}

async fn discovery(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let live = app.node.live.load();
    let Some(issuer) = live.issuers.get(&name) else {
        return (StatusCode::NOT_FOUND, "no such issuer\n").into_response();
    };
    let base = keyless_node::issuers::issuer_base_url(&app.node.settings.public_url, &name);
    let doc = keyless_oidc::issuer::discovery_document(&base, &issuer.settings.iss);
    json_body(doc.to_string(), Some("max-age=3600, public"))
}

async fn jwks(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let live = app.node.live.load();
    match live.issuers.get(&name) {
        Some(issuer) => json_body(
            issuer.jwks_json.clone(),
            Some(keyless_oidc::issuer::JWKS_CACHE_CONTROL),
        ),
        None => (StatusCode::NOT_FOUND, "no such issuer\n").into_response(),
    }
}

/// The outbound issuer's discovery document (served whether or not the switch is on: tokens
/// issued before a disable keep verifying).
async fn outbound_discovery(State(app): State<Arc<App>>) -> Response {
    let doc = keyless_oidc::outbound::discovery_document(&app.node.settings.outbound.issuer);
    json_body(
        doc.to_string(),
        Some(keyless_oidc::outbound::OUTBOUND_CACHE_CONTROL),
    )
}

/// The outbound issuer's JWKS: the current, next and previous keys of both algorithms.
async fn outbound_jwks(State(app): State<Arc<App>>) -> Response {
    let jwks = app.node.live.load().outbound.keyring.jwks();
    json_body(
        jwks.to_string(),
        Some(keyless_oidc::outbound::OUTBOUND_CACHE_CONTROL),
    )
}

/// The body of a mint request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintBody {
    project_path: String,
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    ref_type: Option<String>,
    #[serde(default)]
    aud: Vec<String>,
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    sub_components: Option<Vec<String>>,
    #[serde(default)]
    claims: serde_json::Map<String, serde_json::Value>,
}

/// `POST /keyless/issuers/{name}/mint`: mints a token as `keyless token mint` does. Signed with
/// SigV4 (service `keyless`) by the admin key, e.g.
/// `curl --aws-sigv4 aws:amz:us-east-1:keyless --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"`.
async fn mint(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (req, now): (MintBody, i64) =
        match admin_request(&app, &method, &uri, &headers, body, "mint").await {
            Ok(r) => r,
            Err(e) => return json_error(&e, &request_id),
        };
    let live = app.node.live.load();
    let Some(issuer) = live.issuers.get(&name) else {
        return json_error(
            &Error::NoSuchEntity(format!("There is no built-in issuer named {name}.")),
            &request_id,
        );
    };
    let ref_type = match req.ref_type.as_deref() {
        None | Some("branch") => RefType::Branch,
        Some("tag") => RefType::Tag,
        Some(other) => {
            return json_error(
                &Error::Validation(format!("ref_type must be branch or tag, not {other}")),
                &request_id,
            );
        }
    };
    let ttl_secs = match req.ttl.as_deref().map(keyless_oidc::issuer::parse_ttl) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return json_error(&Error::Validation(e.to_string()), &request_id),
    };
    let job = MintJob {
        project_path: req.project_path,
        git_ref: req.git_ref,
        ref_type,
        audiences: req.aud,
        ttl_secs,
        environment: req.environment,
        sub_components: req.sub_components,
        claims: req.claims.into_iter().collect(),
    };
    match issuer.mint(&job, now) {
        Ok(token) => json_body(serde_json::json!({ "token": token }).to_string(), None),
        Err(e) => json_error(&Error::Validation(e.to_string()), &request_id),
    }
}

/// Reads a request to one of keyless's own APIs: the body (size-limited), a SigV4 signature
/// (service `keyless`) by the admin key, then the JSON body. Returns it with the time.
async fn admin_request<T: serde::de::DeserializeOwned>(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<(T, i64), Error> {
    let body = read_body(body, &app.body_limits).await?;
    let now = app.node.now();
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    if let Caller::Session(_) =
        auth::authenticate(&app.node.live.load().sts, &parts, "keyless", now)?
    {
        return Err(Denial {
            refused: Refused::AdminOnly,
            reason: "a role session called an admin API".to_owned(),
            statement: None,
            because: None,
            encoded: None,
            show_reason: false,
        }
        .into());
    }
    let parsed = serde_json::from_slice(&body)
        .map_err(|e| Error::Validation(format!("Invalid {what} request: {e}")))?;
    Ok((parsed, now))
}

/// The body of an explain request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainBody {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    all_roles: bool,
    token: Option<String>,
    claims: Option<serde_json::Value>,
}

/// `POST /keyless/explain`: `keyless explain` against this server's live state and key cache,
/// admin-signed. Answers `{"allowed", "report", "text"}`.
async fn explain(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (req, now): (ExplainBody, i64) =
        match admin_request(&app, &method, &uri, &headers, body, "explain").await {
            Ok(r) => r,
            Err(e) => return json_error(&e, &request_id),
        };
    let input = match (req.token, req.claims) {
        (Some(t), None) => ExplainInput::Token(t.trim().to_owned()),
        (None, Some(c)) => ExplainInput::Claims(c),
        _ => {
            return json_error(
                &Error::Validation("Give exactly one of token or claims.".to_owned()),
                &request_id,
            );
        }
    };
    let live = app.node.live.load_full();
    let key = match &input {
        ExplainInput::Token(t) => match explain::key_need(&live.sts, t) {
            Some(need) => Some(
                app.node
                    .key_cache
                    .key(
                        &need.provider.keys,
                        need.jwt.header.kid.as_deref(),
                        need.jwt.header.alg,
                    )
                    .await,
            ),
            None => None,
        },
        ExplainInput::Claims(_) => None,
    };
    let roles = (!req.all_roles).then_some(req.roles.as_slice());
    let report = explain::explain(&live.sts, &input, key, roles, now);
    let body = json!({
        "allowed": report.allowed(),
        "text": explain::render_text(&report),
        "report": report,
    });
    json_body(body.to_string(), None)
}

/// The refusal of a role session that calls an admin-only API.
fn admin_only() -> Error {
    Denial {
        refused: Refused::AdminOnly,
        reason: "a role session called an admin API".to_owned(),
        statement: None,
        because: None,
        encoded: None,
        show_reason: false,
    }
    .into()
}
