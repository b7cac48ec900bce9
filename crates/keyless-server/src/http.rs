//! HTTP routes: the AWS Query API (STS) on any path, the built-in issuers' discovery and JWKS,
//! the mint API, and health checks.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keyless_credentials::sigv4::RequestParts;
use keyless_oidc::issuer::RefType;
use keyless_sts::assume_role::{self, AssumeRoleParams};
use keyless_sts::auth::{self, Caller};
use keyless_sts::error::AwsError;
use keyless_sts::query::QueryParams;
use keyless_sts::web_identity::{self, Failure, RequestEnv, WebIdentityParams};
use keyless_sts::xml;
use serde::Deserialize;

use crate::app::App;
use crate::issuers::MintJob;

/// The STS API version.
pub const STS_VERSION: &str = "2011-06-15";

/// Builds the router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/issuers/{name}/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/issuers/{name}/oauth/discovery/keys", get(jwks))
        .route("/keyless/issuers/{name}/mint", post(mint))
        .fallback(query_api)
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.store.ping().await {
        Ok(()) if app.live.load().sts.admin.is_some() => {
            (StatusCode::OK, "ready\n").into_response()
        }
        Ok(()) => (StatusCode::SERVICE_UNAVAILABLE, "keys not loaded\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response(),
    }
}

async fn discovery(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let live = app.live.load();
    let Some(issuer) = live.issuers.get(&name) else {
        return (StatusCode::NOT_FOUND, "no such issuer\n").into_response();
    };
    let base = crate::issuers::issuer_base_url(&app.settings.public_url, &name);
    let doc = keyless_oidc::issuer::discovery_document(&base, &issuer.settings.iss);
    json_response(doc.to_string(), Some("max-age=3600, public"))
}

async fn jwks(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let live = app.live.load();
    match live.issuers.get(&name) {
        Some(issuer) => json_response(
            issuer.jwks_json.clone(),
            Some(keyless_oidc::issuer::JWKS_CACHE_CONTROL),
        ),
        None => (StatusCode::NOT_FOUND, "no such issuer\n").into_response(),
    }
}

fn json_response(body: String, cache_control: Option<&'static str>) -> Response {
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(cc) = cache_control {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    resp
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
    let body = match read_body(body, app.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return json_error(&e, &request_id),
    };
    let now = app.now();
    let live = app.live.load();
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    match auth::authenticate(&live.sts, &parts, "keyless", now) {
        Ok(Caller::Admin { .. }) => {}
        Ok(Caller::Session(_)) => {
            return json_error(
                &AwsError::access_denied("Only the admin credentials may mint tokens."),
                &request_id,
            );
        }
        Err(e) => return json_error(&e, &request_id),
    }
    let Some(issuer) = live.issuers.get(&name) else {
        return json_error(
            &AwsError::new(
                "NoSuchEntity",
                404,
                format!("There is no built-in issuer named {name}."),
            ),
            &request_id,
        );
    };
    let req: MintBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                &AwsError::validation(format!("Invalid mint request: {e}")),
                &request_id,
            );
        }
    };
    let ref_type = match req.ref_type.as_deref() {
        None | Some("branch") => RefType::Branch,
        Some("tag") => RefType::Tag,
        Some(other) => {
            return json_error(
                &AwsError::validation(format!("ref_type must be branch or tag, not {other}")),
                &request_id,
            );
        }
    };
    let ttl_secs = match req.ttl.as_deref().map(keyless_oidc::issuer::parse_ttl) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return json_error(&AwsError::validation(e.to_string()), &request_id),
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
        Ok(token) => json_response(serde_json::json!({ "token": token }).to_string(), None),
        Err(e) => json_error(&AwsError::validation(e.to_string()), &request_id),
    }
}

fn json_error(err: &AwsError, request_id: &str) -> Response {
    let body = serde_json::json!({
        "Error": { "Code": err.code, "Message": err.message, "Type": err.fault_type() },
        "RequestId": request_id,
    });
    let mut resp = json_response(body.to_string(), None);
    *resp.status_mut() = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    resp
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, AwsError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        AwsError::new(
            "RequestEntityTooLarge",
            413,
            format!("The request body is larger than {limit} bytes."),
        )
    })
}

/// One Query API request, answered in XML.
struct QueryResponse {
    status: u16,
    body: String,
    request_id: String,
}

impl IntoResponse for QueryResponse {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            h.insert("x-amzn-requestid", v);
        }
        resp
    }
}

fn error_response(err: &AwsError, namespace: &str, request_id: String) -> QueryResponse {
    QueryResponse {
        status: err.status,
        body: xml::error(err, namespace, &request_id),
        request_id,
    }
}

/// The Query API: `POST` (form body) or `GET` (query string) on any path not taken by another
/// route, so endpoints with a path prefix work.
async fn query_api(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    if method != Method::POST && method != Method::GET {
        let err = AwsError::new("InvalidAction", 405, "Only GET and POST are supported.");
        return error_response(&err, xml::STS_NAMESPACE, request_id).into_response();
    }
    let body = match read_body(body, app.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return error_response(&e, xml::STS_NAMESPACE, request_id).into_response(),
    };
    let params = match QueryParams::parse(uri.query().unwrap_or(""), &body) {
        Ok(p) => p,
        Err(e) => return error_response(&e, xml::STS_NAMESPACE, request_id).into_response(),
    };
    let env = RequestEnv {
        source_ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        secure_transport: false,
    };
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let Some(action) = params.action() else {
        let err = AwsError::new(
            "MissingAction",
            400,
            "The request must contain the parameter Action.",
        );
        return error_response(&err, xml::STS_NAMESPACE, request_id).into_response();
    };
    if params.version() == Some(crate::iam::IAM_VERSION) || crate::iam::is_iam_action(action) {
        return iam_api(&app, &parts, &params, action, request_id).await;
    }
    let version = params.version().unwrap_or(STS_VERSION);
    if version != STS_VERSION {
        let err = AwsError::invalid_action(action, version);
        return error_response(&err, xml::STS_NAMESPACE, request_id).into_response();
    }
    let result = match action {
        "AssumeRoleWithWebIdentity" => {
            assume_role_with_web_identity(&app, &params, &env, &request_id).await
        }
        "GetCallerIdentity" => get_caller_identity(&app, &parts, &request_id),
        "AssumeRole" => assume_role(&app, &parts, &params, &env, &request_id),
        other => Err(Failure::from(AwsError::invalid_action(other, version))),
    };
    match result {
        Ok(body) => QueryResponse {
            status: 200,
            body,
            request_id,
        }
        .into_response(),
        Err(f) => {
            tracing::info!(action, code = %f.error.code, reason = %f.reason, "request denied");
            error_response(&f.error, xml::STS_NAMESPACE, request_id).into_response()
        }
    }
}

/// An IAM call: SigV4 (service `iam`), then the operation, answered in IAM's namespace.
async fn iam_api(
    app: &App,
    parts: &RequestParts<'_>,
    params: &QueryParams,
    action: &str,
    request_id: String,
) -> Response {
    let caller = {
        let live = app.live.load();
        auth::authenticate(&live.sts, parts, "iam", app.now())
    };
    let result = match caller {
        Ok(caller) => crate::iam::handle(app, &caller, action, params, &request_id).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => QueryResponse {
            status: 200,
            body,
            request_id,
        }
        .into_response(),
        Err(e) => {
            tracing::info!(action, code = %e.code, "IAM request refused");
            error_response(&e, xml::IAM_NAMESPACE, request_id).into_response()
        }
    }
}

async fn assume_role_with_web_identity(
    app: &App,
    params: &QueryParams,
    env: &RequestEnv,
    request_id: &str,
) -> Result<String, Failure> {
    let params = WebIdentityParams::from_query(params)?;
    let live = app.live.load_full();
    let prepared = web_identity::prepare(&live.sts, &params)?;
    let key = app
        .key_cache
        .key(
            &prepared.provider.keys,
            prepared.jwt.header.kid.as_deref(),
            prepared.jwt.header.alg,
        )
        .await
        .map_err(web_identity::token_failure)?;
    let grant = web_identity::complete(&live.sts, &params, prepared, &key, app.now(), env)?;
    tracing::info!(
        role = %params.role_arn,
        access_key_id = %grant.minted.access_key_id,
        subject = %grant.subject,
        "AssumeRoleWithWebIdentity granted"
    );
    Ok(web_identity::render(&grant, request_id))
}

fn get_caller_identity(
    app: &App,
    parts: &RequestParts<'_>,
    request_id: &str,
) -> Result<String, Failure> {
    let live = app.live.load();
    let caller = auth::authenticate(&live.sts, parts, "sts", app.now())?;
    Ok(assume_role::render_caller_identity(&caller, request_id))
}

fn assume_role(
    app: &App,
    parts: &RequestParts<'_>,
    params: &QueryParams,
    env: &RequestEnv,
    request_id: &str,
) -> Result<String, Failure> {
    let live = app.live.load();
    let now = app.now();
    let caller = auth::authenticate(&live.sts, parts, "sts", now)?;
    let params = AssumeRoleParams::from_query(params)?;
    let grant = assume_role::assume_role(&live.sts, &caller, &params, now, env)?;
    Ok(assume_role::render_assume_role(&grant, request_id))
}
