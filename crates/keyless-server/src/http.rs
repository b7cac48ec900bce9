//! HTTP routes: the AWS Query API (STS) on any path, the built-in issuers' discovery and JWKS,
//! the mint API, and health checks.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

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
use keyless_sts::diagnose::{self, ExplainInput};
use keyless_sts::error::AwsError;
use keyless_sts::query::QueryParams;
use keyless_sts::web_identity::{self, Failure, RequestEnv, WebIdentityParams};
use keyless_sts::xml;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::audit;
use crate::issuers::MintJob;

/// The STS API version.
pub const STS_VERSION: &str = "2011-06-15";

/// Builds the router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
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
        .fallback(query_api)
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
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
    let (req, now): (MintBody, i64) =
        match admin_request(&app, &method, &uri, &headers, body, "mint").await {
            Ok(r) => r,
            Err(e) => return json_error(&e, &request_id),
        };
    let live = app.live.load();
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

/// Reads a request to one of keyless's own APIs: the body (size-limited), a SigV4 signature
/// (service `keyless`) by the admin key, then the JSON body. Returns it with the time.
async fn admin_request<T: serde::de::DeserializeOwned>(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<(T, i64), AwsError> {
    let body = read_body(body, app.settings.max_body_bytes).await?;
    let now = app.now();
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    if let Caller::Session(_) = auth::authenticate(&app.live.load().sts, &parts, "keyless", now)? {
        return Err(AwsError::access_denied(
            "Only the admin credentials may call this API.",
        ));
    }
    let parsed = serde_json::from_slice(&body)
        .map_err(|e| AwsError::validation(format!("Invalid {what} request: {e}")))?;
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
                &AwsError::validation("Give exactly one of token or claims."),
                &request_id,
            );
        }
    };
    let live = app.live.load_full();
    let key = match &input {
        ExplainInput::Token(t) => match diagnose::key_need(&live.sts, t) {
            Some(need) => Some(
                app.key_cache
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
    let report = diagnose::explain(&live.sts, &input, key, roles, now);
    let body = json!({
        "allowed": report.allowed(),
        "text": diagnose::render_text(&report),
        "report": report,
    });
    json_response(body.to_string(), None)
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
/// route, so endpoints with a path prefix work. Every call is measured and audited.
async fn query_api(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let env = RequestEnv {
        source_ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        secure_transport: false,
    };
    let mut call = Call {
        source: "sts.amazonaws.com",
        namespace: xml::STS_NAMESPACE,
        action: "Unknown".to_owned(),
        event: None,
    };
    let result = dispatch(
        &app,
        &method,
        &uri,
        &headers,
        body,
        &env,
        &request_id,
        &mut call,
    )
    .await;
    let outcome = match &result {
        Ok(_) => Cow::Borrowed("Success"),
        Err(f) => f.error.code.clone(),
    };
    let mut event = call.event.take().unwrap_or_else(|| {
        audit::Event::new(
            call.source,
            &call.action,
            &request_id,
            &app.settings.account,
        )
    });
    event
        .set("sourceIPAddress", &env.source_ip)
        .set("userAgent", &env.user_agent);
    let response = match result {
        Ok(body) => QueryResponse {
            status: 200,
            body,
            request_id,
        }
        .into_response(),
        Err(f) => {
            event.error(&f.error.code, &f.error.message);
            event.additional("reason", &f.reason);
            if let Some(s) = &f.statement {
                event.additional("statement", s);
            }
            tracing::info!(action = %call.action, code = %f.error.code, reason = %f.reason, "request refused");
            error_response(&f.error, call.namespace, request_id).into_response()
        }
    };
    crate::metrics::request(&call.action, outcome, started.elapsed().as_secs_f64());
    app.auditor.record(event.finish());
    response
}

/// What one Query API call turned out to be, for its audit event.
struct Call {
    source: &'static str,
    namespace: &'static str,
    action: String,
    event: Option<audit::Event>,
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    env: &RequestEnv,
    request_id: &str,
    call: &mut Call,
) -> Result<String, Failure> {
    if method != Method::POST && method != Method::GET {
        return Err(AwsError::new("InvalidAction", 405, "Only GET and POST are supported.").into());
    }
    let body = read_body(body, app.settings.max_body_bytes).await?;
    let params = QueryParams::parse(uri.query().unwrap_or(""), &body)?;
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    let Some(action) = params.action() else {
        return Err(AwsError::new(
            "MissingAction",
            400,
            "The request must contain the parameter Action.",
        )
        .into());
    };
    call.action = action.chars().take(64).collect();
    let account = app.settings.account.as_str();
    if params.version() == Some(crate::iam::IAM_VERSION) || crate::iam::is_iam_action(action) {
        call.source = "iam.amazonaws.com";
        call.namespace = xml::IAM_NAMESPACE;
        let event = call
            .event
            .insert(audit::Event::new(call.source, action, request_id, account));
        event.set("requestParameters", &PlainParameters(&params));
        let caller = {
            let live = app.live.load();
            auth::authenticate(&live.sts, &parts, "iam", app.now())?
        };
        event.set("userIdentity", &SignedIdentity::of(&caller));
        return Ok(crate::iam::handle(app, &caller, action, &params, request_id, env).await?);
    }
    let version = params.version().unwrap_or(STS_VERSION);
    if version != STS_VERSION {
        return Err(AwsError::invalid_action(action, version).into());
    }
    let event = call
        .event
        .insert(audit::Event::new(call.source, action, request_id, account));
    match action {
        "AssumeRoleWithWebIdentity" => {
            assume_role_with_web_identity(app, &params, env, request_id, event).await
        }
        "GetCallerIdentity" => {
            let live = app.live.load();
            let caller = auth::authenticate(&live.sts, &parts, "sts", app.now())?;
            event.set("userIdentity", &SignedIdentity::of(&caller));
            Ok(assume_role::render_caller_identity(&caller, request_id))
        }
        "AssumeRole" => assume_role(app, &parts, &params, env, request_id, event),
        other => Err(AwsError::invalid_action(other, version).into()),
    }
}

/// A caller as CloudTrail's `userIdentity` shows it; `accessKeyId` ties later calls back to
/// the exchange that minted the key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: String,
    arn: String,
    account_id: &'a str,
    access_key_id: &'a str,
}

impl SignedIdentity<'_> {
    fn of(caller: &Caller) -> SignedIdentity<'_> {
        SignedIdentity {
            kind: match caller {
                Caller::Admin { .. } => "Root",
                Caller::Session(_) => "AssumedRole",
            },
            principal_id: caller.user_id(),
            arn: caller.arn(),
            account_id: caller.account(),
            access_key_id: caller.access_key_id(),
        }
    }
}

/// Request parameters for an audit record, names in lower camel case, with `Action`, `Version`
/// and the presigned-signature parameters left out.
struct PlainParameters<'a>(&'a QueryParams<'a>);

impl Serialize for PlainParameters<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.0.iter() {
            if name == "Action" || name == "Version" || name.starts_with("X-Amz-") {
                continue;
            }
            map.serialize_entry(&lower_camel(name), value)?;
        }
        map.end()
    }
}

fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `requestParameters` of an `AssumeRoleWithWebIdentity` event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebIdentityRequest<'a> {
    role_arn: Option<&'a str>,
    role_session_name: Option<&'a str>,
    duration_seconds: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policy_arns: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_identity_token: Option<audit::TokenRecord<'a>>,
}

impl<'a> WebIdentityRequest<'a> {
    fn of(params: &'a QueryParams<'a>) -> Self {
        WebIdentityRequest {
            role_arn: params.get("RoleArn"),
            role_session_name: params.get("RoleSessionName"),
            duration_seconds: params.get("DurationSeconds"),
            policy: params.get("Policy"),
            policy_arns: params.list("PolicyArns", Some("arn")),
            web_identity_token: None,
        }
    }
}

/// `userIdentity` of an `AssumeRoleWithWebIdentity` event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebIdentityUser<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    identity_provider: &'a str,
    user_name: Option<&'a str>,
}

/// `responseElements` of an event that minted credentials.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MintedElements<'a> {
    credentials: CredentialsElement<'a>,
    assumed_role_user: AssumedRoleUserElement<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_from_web_identity_token: Option<&'a str>,
    packed_policy_size: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsElement<'a> {
    access_key_id: &'a str,
    expiration: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssumedRoleUserElement<'a> {
    assumed_role_id: &'a str,
    arn: &'a str,
}

impl<'a> MintedElements<'a> {
    fn of(m: &'a keyless_sts::session::Minted) -> Self {
        MintedElements {
            credentials: CredentialsElement {
                access_key_id: &m.access_key_id,
                expiration: keyless_sts::session::iso8601(m.expires_at),
            },
            assumed_role_user: AssumedRoleUserElement {
                assumed_role_id: &m.assumed_role_id,
                arn: &m.assumed_role_arn,
            },
            provider: None,
            audience: None,
            subject_from_web_identity_token: None,
            packed_policy_size: m.packed_policy_size,
        }
    }
}

async fn assume_role_with_web_identity(
    app: &App,
    params: &QueryParams<'_>,
    env: &RequestEnv,
    request_id: &str,
    event: &mut audit::Event,
) -> Result<String, Failure> {
    let mut request = WebIdentityRequest::of(params);
    let raw_token = params.get("WebIdentityToken");
    let params = match WebIdentityParams::from_query(params) {
        Ok(p) => p,
        Err(e) => {
            request.web_identity_token = raw_token.map(|t| audit::token_record(t.trim()));
            event.set("requestParameters", &request);
            return Err(e.into());
        }
    };
    let live = app.live.load_full();
    let prepared = match web_identity::prepare(&live.sts, &params) {
        Ok(p) => {
            request.web_identity_token =
                Some(audit::TokenRecord::Decoded(audit::jwt_summary(&p.jwt)));
            event.set("requestParameters", &request);
            p
        }
        Err(f) => {
            request.web_identity_token = Some(audit::token_record(&params.web_identity_token));
            event.set("requestParameters", &request);
            return Err(f);
        }
    };
    event.set(
        "userIdentity",
        &WebIdentityUser {
            kind: "WebIdentityUser",
            identity_provider: &prepared.provider.arn,
            user_name: prepared.jwt.claims.sub.as_deref(),
        },
    );
    let key = app
        .key_cache
        .key(
            &prepared.provider.keys,
            prepared.jwt.header.kid.as_deref(),
            prepared.jwt.header.alg,
        )
        .await
        .map_err(web_identity::token_failure)?;
    // Only roles that exist become label values: the ARN is the caller's to choose.
    let role_name = live
        .sts
        .role_by_arn(&params.role_arn)
        .map(|r| r.model.name.as_str())
        .unwrap_or("(none)");
    let provider = prepared.provider.clone();
    let grant = match web_identity::complete(&live.sts, &params, prepared, &key, app.now(), env) {
        Ok(g) => g,
        Err(f) => {
            if f.error.code == "AccessDenied" {
                crate::metrics::decision(&provider.key_prefix, role_name, false);
                event.additional("decision", "Deny");
            }
            return Err(f);
        }
    };
    crate::metrics::decision(&provider.key_prefix, role_name, true);
    let response = MintedElements {
        provider: Some(&grant.provider_arn),
        audience: Some(&grant.audience),
        subject_from_web_identity_token: Some(&grant.subject),
        ..MintedElements::of(&grant.minted)
    };
    event
        .set("responseElements", &response)
        .additional("decision", "Allow")
        .additional("statement", &grant.statement);
    Ok(web_identity::render(&grant, request_id))
}

fn assume_role(
    app: &App,
    parts: &RequestParts<'_>,
    params: &QueryParams<'_>,
    env: &RequestEnv,
    request_id: &str,
    event: &mut audit::Event,
) -> Result<String, Failure> {
    event.set("requestParameters", &PlainParameters(params));
    let live = app.live.load();
    let now = app.now();
    let caller = auth::authenticate(&live.sts, parts, "sts", now)?;
    event.set("userIdentity", &SignedIdentity::of(&caller));
    let params = AssumeRoleParams::from_query(params)?;
    let grant = assume_role::assume_role(&live.sts, &caller, &params, now, env)?;
    event
        .set("responseElements", &MintedElements::of(&grant.minted))
        .additional("decision", "Allow")
        .additional("statement", &grant.statement);
    Ok(assume_role::render_assume_role(&grant, request_id))
}
