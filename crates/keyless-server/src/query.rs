//! The AWS Query API: `POST` (form body) or `GET` (query string) on any path no other route
//! takes. One handler reads the request, dispatches it to STS (here) or IAM (`keyless-iam`),
//! renders the XML, measures it and records its CloudTrail-shaped audit event.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use keyless_credentials::sigv4::RequestParts;
use keyless_node::audit::{self, Event};
use keyless_sts::assume_role::{self, AssumeRoleParams};
use keyless_sts::auth::{self, Caller};
use keyless_sts::context::RequestEnv;
use keyless_sts::query::QueryParams;
use keyless_sts::web_identity::{self, WebIdentityParams};
use keyless_sts::{Error, Minted, response, xml};
use serde::Serialize;

use crate::App;
use crate::body::read_body;
use crate::listener::Transport;

/// The STS API version.
pub const STS_VERSION: &str = "2011-06-15";

/// One Query API response, in XML.
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

/// The Query API handler. Every call is measured and audited.
pub(crate) async fn query_api(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    transport: Option<Extension<Transport>>,
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
        secure_transport: transport.is_some_and(|Extension(t)| t.secure),
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
    let mut event = call
        .event
        .take()
        .unwrap_or_else(|| Event::new(call.source, &call.action, &request_id, app.node.account()));
    event
        .set("sourceIPAddress", &env.source_ip)
        .set("userAgent", &env.user_agent);
    let outcome = match &result {
        Ok(_) => "Success",
        Err(e) => e.code(),
    };
    let response = match result {
        Ok(body) => QueryResponse {
            status: 200,
            body,
            request_id,
        }
        .into_response(),
        Err(error) => {
            let reason = error.reason();
            event.error(error.code(), &error.message());
            event.additional("reason", &reason);
            if let Some(s) = error.denial().and_then(|d| d.statement.as_ref()) {
                event.additional("statement", s);
            }
            tracing::info!(action = %call.action, code = error.code(), reason = %reason, "request refused");
            let mut response = QueryResponse {
                status: error.status(),
                body: xml::error(&error, call.namespace, &request_id),
                request_id,
            }
            .into_response();
            if error.closes_connection() {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
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
    event: Option<Event>,
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
) -> Result<String, Error> {
    if method != Method::POST && method != Method::GET {
        return Err(Error::MethodNotAllowed);
    }
    let body = read_body(body, &app.body_limits).await?;
    let params = QueryParams::parse(uri.query().unwrap_or(""), &body)?;
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    let Some(action) = params.action() else {
        return Err(Error::MissingAction);
    };
    call.action = action.chars().take(64).collect();
    let node = &app.node;
    let account = node.account();
    if params.version() == Some(keyless_iam::IAM_VERSION) || keyless_iam::is_iam_action(action) {
        call.source = "iam.amazonaws.com";
        call.namespace = xml::IAM_NAMESPACE;
        let event = call
            .event
            .insert(Event::new(call.source, action, request_id, account));
        event.set("requestParameters", &PlainParameters(&params));
        let caller = auth::authenticate(&node.live.load().sts, &parts, "iam", node.now())?;
        event.set("userIdentity", &SignedIdentity::of(&caller));
        return keyless_iam::handle(node, &caller, action, &params, request_id, env).await;
    }
    let version = params.version().unwrap_or(STS_VERSION);
    if version != STS_VERSION {
        return Err(Error::invalid_action(action, version));
    }
    let event = call
        .event
        .insert(Event::new(call.source, action, request_id, account));
    match action {
        "AssumeRoleWithWebIdentity" => {
            assume_role_with_web_identity(app, &params, env, request_id, event).await
        }
        "GetCallerIdentity" => {
            let caller = auth::authenticate(&node.live.load().sts, &parts, "sts", node.now())?;
            event.set("userIdentity", &SignedIdentity::of(&caller));
            Ok(response::caller_identity(&caller, request_id))
        }
        "AssumeRole" => assume_role(app, &parts, &params, env, request_id, event),
        other => Err(Error::invalid_action(other, version)),
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
    fn of(m: &'a Minted) -> Self {
        MintedElements {
            credentials: CredentialsElement {
                access_key_id: &m.access_key_id,
                expiration: keyless_sts::time::iso8601(m.expires_at),
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
    event: &mut Event,
) -> Result<String, Error> {
    let node = &app.node;
    let mut request = WebIdentityRequest::of(params);
    let raw_token = params.get("WebIdentityToken");
    let params = match WebIdentityParams::from_query(params) {
        Ok(p) => p,
        Err(e) => {
            request.web_identity_token = raw_token.map(|t| audit::token_record(t.trim()));
            event.set("requestParameters", &request);
            return Err(e);
        }
    };
    let live = node.live.load_full();
    let prepared = match web_identity::prepare(&live.sts, &params) {
        Ok(p) => {
            request.web_identity_token =
                Some(audit::TokenRecord::Decoded(audit::jwt_summary(&p.jwt)));
            event.set("requestParameters", &request);
            p
        }
        Err(e) => {
            request.web_identity_token = Some(audit::token_record(&params.web_identity_token));
            event.set("requestParameters", &request);
            return Err(e);
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
    let key = node
        .key_cache
        .key(
            &prepared.provider.keys,
            prepared.jwt.header.kid.as_deref(),
            prepared.jwt.header.alg,
        )
        .await?;
    // Only roles that exist become label values: the ARN is the caller's to choose.
    let role_name = live
        .sts
        .role_by_arn(&params.role_arn)
        .map(|r| r.model.name.as_str())
        .unwrap_or("(none)");
    let provider = prepared.provider.clone();
    let grant = match web_identity::complete(&live.sts, &params, prepared, &key, node.now(), env) {
        Ok(g) => g,
        Err(e) => {
            if let Error::AccessDenied(_) = e {
                crate::metrics::decision(&provider.key_prefix, role_name, false);
                event.additional("decision", "Deny");
            }
            return Err(e);
        }
    };
    crate::metrics::decision(&provider.key_prefix, role_name, true);
    let elements = MintedElements {
        provider: Some(&grant.provider_arn),
        audience: Some(&grant.audience),
        subject_from_web_identity_token: Some(&grant.subject),
        ..MintedElements::of(&grant.minted)
    };
    event
        .set("responseElements", &elements)
        .additional("decision", "Allow")
        .additional("statement", &grant.statement);
    Ok(response::web_identity(&grant, request_id))
}

fn assume_role(
    app: &App,
    parts: &RequestParts<'_>,
    params: &QueryParams<'_>,
    env: &RequestEnv,
    request_id: &str,
    event: &mut Event,
) -> Result<String, Error> {
    event.set("requestParameters", &PlainParameters(params));
    let node = &app.node;
    let live = node.live.load();
    let now = node.now();
    let caller = auth::authenticate(&live.sts, parts, "sts", now)?;
    event.set("userIdentity", &SignedIdentity::of(&caller));
    let params = AssumeRoleParams::from_query(params)?;
    let grant = assume_role::assume_role(&live.sts, &caller, &params, now, env)?;
    event
        .set("responseElements", &MintedElements::of(&grant.minted))
        .additional("decision", "Allow")
        .additional("statement", &grant.statement);
    Ok(response::assume_role(&grant, request_id))
}
