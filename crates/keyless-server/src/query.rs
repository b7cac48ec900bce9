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
use keyless_sts::authorization_message;
use keyless_sts::context::RequestEnv;
use keyless_sts::query::QueryParams;
use keyless_sts::web_identity::{self, WebIdentityParams};
use keyless_sts::web_identity_token::{self, TokenParams};
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
        authenticated: false,
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
    event.set("sourceIPAddress", &env.source_ip).set(
        "userAgent",
        &audit::bounded_opt(env.user_agent.as_deref(), audit::MAX_USER_AGENT),
    );
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
            event.additional("reason", &audit::Bounded::new(&reason, audit::MAX_MESSAGE));
            if let Some(s) = error.denial().and_then(|d| d.statement.as_ref()) {
                event.additional("statement", s);
            }
            tracing::info!(
                action = %call.action,
                code = error.code(),
                reason = %audit::Bounded::new(&reason, audit::MAX_MESSAGE),
                "request refused"
            );
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
    match record_event(&app, peer.ip(), outcome, call.authenticated, event.finish()).await {
        Ok(()) => response,
        Err(audit::EventLost) => {
            tracing::error!(action = %call.action, "the audit event was not written: the call is answered as failed");
            unaudited(call.namespace)
        }
    }
}

/// Writes a call's audit event: a failure before the caller was known one by one unless it
/// floods; any other durably when the log is durable (an error then: nothing is reported done
/// that the audit log does not hold).
pub(crate) async fn record_event(
    app: &App,
    peer: std::net::IpAddr,
    outcome: &'static str,
    authenticated: bool,
    event: Vec<u8>,
) -> Result<(), audit::EventLost> {
    if outcome != "Success" && !authenticated {
        app.auditor.record_failure(peer, outcome, event);
        return Ok(());
    }
    if app.auditor.is_durable() {
        app.auditor.record_durable(event).await
    } else {
        app.auditor.record(event);
        Ok(())
    }
}

/// The answer to a call whose durable audit event could not be written.
fn unaudited(namespace: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let error = Error::Unavailable;
    QueryResponse {
        status: error.status(),
        body: xml::error(&error, namespace, &request_id),
        request_id,
    }
    .into_response()
}

/// What one Query API call turned out to be, for its audit event.
struct Call {
    source: &'static str,
    namespace: &'static str,
    action: String,
    event: Option<Event>,
    /// Whether the caller was authenticated: a valid signature, or a verified web identity
    /// token. The failures of unauthenticated calls are the ones a flood can aggregate.
    authenticated: bool,
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
        let caller = authenticated(node, &parts, "iam", &params, event)?;
        call.authenticated = true;
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
            let exchange = WebIdentityExchange {
                app,
                env,
                request_id,
            };
            exchange.run(&params, event, &mut call.authenticated).await
        }
        "GetCallerIdentity" => {
            let caller = authenticated(node, &parts, "sts", &params, event)?;
            call.authenticated = true;
            Ok(response::caller_identity(&caller, request_id))
        }
        "AssumeRole" => {
            let caller = authenticated(node, &parts, "sts", &params, event)?;
            call.authenticated = true;
            assume_role(app, &caller, &params, env, request_id, event)
        }
        "GetWebIdentityToken" => {
            let caller = authenticated(node, &parts, "sts", &params, event)?;
            call.authenticated = true;
            get_web_identity_token(app, &caller, &params, &parts, env, request_id, event)
        }
        "DecodeAuthorizationMessage" => {
            let caller = authenticated(node, &parts, "sts", &params, event)?;
            call.authenticated = true;
            let decode = authorization_message::DecodeParams::from_query(&params)?;
            authorization_message::decode(
                &node.live.load().sts,
                &caller,
                &decode,
                node.now(),
                env,
                request_id,
            )
        }
        other => Err(Error::invalid_action(other, version)),
    }
}

/// Authenticates a signed call and records its caller and parameters: every parameter when the
/// signature holds, only the known ones, bounded, when it does not.
fn authenticated(
    node: &keyless_node::Node,
    parts: &RequestParts<'_>,
    service: &str,
    params: &QueryParams<'_>,
    event: &mut Event,
) -> Result<Caller, Error> {
    match auth::authenticate(&node.live.load().sts, parts, service, node.now()) {
        Ok(caller) => {
            event
                .set("userIdentity", &SignedIdentity::of(&caller))
                .set("requestParameters", &Parameters::signed(params));
            Ok(caller)
        }
        Err(e) => {
            event.set("requestParameters", &Parameters::unsigned(params));
            Err(e)
        }
    }
}

/// A caller as CloudTrail's `userIdentity` shows it; `accessKeyId` ties later calls back to
/// the exchange that minted the key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: String,
    arn: String,
    account_id: &'a str,
    access_key_id: &'a str,
}

impl SignedIdentity<'_> {
    /// The identity of `caller`.
    pub(crate) fn of(caller: &Caller) -> SignedIdentity<'_> {
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
/// and the presigned-signature parameters left out, and a web identity token summarized. A
/// signed call's values are bounded to [`MAX_SIGNED_VALUE`] characters; an unsigned (or
/// wrongly signed) call records only the parameters keyless knows, each bounded to
/// [`MAX_UNSIGNED_VALUE`], and the number of others.
struct Parameters<'a> {
    params: &'a QueryParams<'a>,
    signed: bool,
}

/// The most characters of a parameter value of a signed call in an audit record (IAM's
/// largest document is 10,240 characters without white space).
const MAX_SIGNED_VALUE: usize = 16 * 1024;
/// The most characters of a parameter value of an unsigned call in an audit record.
const MAX_UNSIGNED_VALUE: usize = 256;

impl<'a> Parameters<'a> {
    fn signed(params: &'a QueryParams<'a>) -> Self {
        Parameters {
            params,
            signed: true,
        }
    }

    fn unsigned(params: &'a QueryParams<'a>) -> Self {
        Parameters {
            params,
            signed: false,
        }
    }
}

impl Serialize for Parameters<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        let mut unknown = 0usize;
        let max = if self.signed {
            MAX_SIGNED_VALUE
        } else {
            MAX_UNSIGNED_VALUE
        };
        for (name, value) in self.params.iter() {
            if name == "Action" || name == "Version" || name.starts_with("X-Amz-") {
                continue;
            }
            if !self.signed && !is_known_parameter(name) {
                unknown += 1;
                continue;
            }
            if name == "WebIdentityToken" {
                map.serialize_entry(&lower_camel(name), &audit::token_record(value.trim()))?;
                continue;
            }
            map.serialize_entry(
                &audit::Bounded::new(&lower_camel(name), audit::MAX_EVENT_NAME),
                &audit::Bounded::new(value, max),
            )?;
        }
        if unknown > 0 {
            map.serialize_entry("unknownParametersOmitted", &unknown)?;
        }
        map.end()
    }
}

/// The parameters of the STS and IAM operations keyless serves, with list indexes as `N`.
const KNOWN_PARAMETERS: &[&str] = &[
    "ActionNames.member.N",
    "AssumeRolePolicyDocument",
    "Audience.member.N",
    "CallerArn",
    "ClientID",
    "ClientIDList.member.N",
    "ContextEntries.member.N.ContextKeyName",
    "ContextEntries.member.N.ContextKeyType",
    "ContextEntries.member.N.ContextKeyValues.member.N",
    "Description",
    "DurationSeconds",
    "EncodedMessage",
    "ExternalId",
    "Marker",
    "MaxItems",
    "MaxSessionDuration",
    "OnlyAttached",
    "OpenIDConnectProviderArn",
    "Path",
    "PathPrefix",
    "PermissionsBoundary",
    "PermissionsBoundaryPolicyInputList.member.N",
    "Policy",
    "PolicyArn",
    "PolicyArns.member.N.arn",
    "PolicyDocument",
    "PolicyInputList.member.N",
    "PolicyName",
    "PolicySourceArn",
    "PolicyUsageFilter",
    "ProviderId",
    "ResourceArns.member.N",
    "ResourceHandlingOption",
    "ResourceOwner",
    "ResourcePolicy",
    "RoleArn",
    "RoleName",
    "RoleSessionName",
    "Scope",
    "SerialNumber",
    "SetAsDefault",
    "SigningAlgorithm",
    "SourceIdentity",
    "SubjectMode",
    "TagKeys.member.N",
    "Tags.member.N.Key",
    "Tags.member.N.Value",
    "ThumbprintList.member.N",
    "TokenCode",
    "TransitiveTagKeys.member.N",
    "Url",
    "VersionId",
    "WebIdentityToken",
];

/// Whether `name` is a parameter of an operation keyless serves (`Tags.member.3.Key` counts as
/// `Tags.member.N.Key`).
fn is_known_parameter(name: &str) -> bool {
    if name.len() > 64 {
        return false;
    }
    let mut shape = String::with_capacity(name.len());
    for (i, part) in name.split('.').enumerate() {
        if i > 0 {
            shape.push('.');
        }
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            shape.push('N');
        } else {
            shape.push_str(part);
        }
    }
    KNOWN_PARAMETERS.binary_search(&shape.as_str()).is_ok()
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
    role_arn: Option<audit::Bounded<'a>>,
    role_session_name: Option<audit::Bounded<'a>>,
    duration_seconds: Option<audit::Bounded<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<audit::Bounded<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policy_arns: Vec<audit::Bounded<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_identity_token: Option<audit::TokenRecord<'a>>,
}

impl<'a> WebIdentityRequest<'a> {
    fn of(params: &'a QueryParams<'a>) -> Self {
        let bounded = |name: &str, max: usize| audit::bounded_opt(params.get(name), max);
        WebIdentityRequest {
            role_arn: bounded("RoleArn", 2048),
            role_session_name: bounded("RoleSessionName", 64),
            duration_seconds: bounded("DurationSeconds", 16),
            policy: bounded("Policy", 2048),
            policy_arns: params
                .list("PolicyArns", Some("arn"))
                .into_iter()
                .take(10)
                .map(|arn| audit::Bounded::new(arn, 2048))
                .collect(),
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
    user_name: Option<audit::Bounded<'a>>,
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

/// One `AssumeRoleWithWebIdentity` call.
struct WebIdentityExchange<'a> {
    app: &'a App,
    env: &'a RequestEnv,
    request_id: &'a str,
}

impl WebIdentityExchange<'_> {
    /// Runs the exchange; `verified` is set once the token has been verified, so that every
    /// failure after it counts as the caller's (never aggregated).
    async fn run(
        &self,
        params: &QueryParams<'_>,
        event: &mut Event,
        verified: &mut bool,
    ) -> Result<String, Error> {
        let (app, env, request_id) = (self.app, self.env, self.request_id);
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
                user_name: audit::bounded_opt(prepared.jwt.claims.sub.as_deref(), audit::MAX_CLAIM),
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
        let grant =
            match web_identity::complete(&live.sts, &params, prepared, &key, node.now(), env) {
                Ok(g) => {
                    *verified = true;
                    g
                }
                Err(e) => {
                    *verified = !matches!(e, Error::Token(_));
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
}

fn assume_role(
    app: &App,
    caller: &Caller,
    params: &QueryParams<'_>,
    env: &RequestEnv,
    request_id: &str,
    event: &mut Event,
) -> Result<String, Error> {
    let node = &app.node;
    let params = AssumeRoleParams::from_query(params)?;
    let grant = assume_role::assume_role(&node.live.load().sts, caller, &params, node.now(), env)?;
    event
        .set("responseElements", &MintedElements::of(&grant.minted))
        .additional("decision", "Allow")
        .additional("statement", &grant.statement);
    Ok(response::assume_role(&grant, request_id))
}

/// `responseElements` of a `GetWebIdentityToken` event: what identifies the token, never the
/// token itself.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuedTokenElements<'a> {
    key_id: &'a str,
    token_id: &'a str,
    subject: audit::Bounded<'a>,
    expiration: String,
}

fn get_web_identity_token(
    app: &App,
    caller: &Caller,
    params: &QueryParams<'_>,
    parts: &RequestParts<'_>,
    env: &RequestEnv,
    request_id: &str,
    event: &mut Event,
) -> Result<String, Error> {
    let algorithm = match params.get("SigningAlgorithm") {
        Some("RS256") => "RS256",
        Some("ES384") => "ES384",
        _ => "invalid",
    };
    let result = issue_web_identity_token(app, caller, params, parts, env, request_id, event);
    let outcome = match &result {
        Ok(_) => "Issued",
        Err(e) => e.code(),
    };
    crate::metrics::outbound_token(algorithm, outcome);
    result
}

fn issue_web_identity_token(
    app: &App,
    caller: &Caller,
    params: &QueryParams<'_>,
    parts: &RequestParts<'_>,
    env: &RequestEnv,
    request_id: &str,
    event: &mut Event,
) -> Result<String, Error> {
    let node = &app.node;
    let params = TokenParams::from_query(params)?;
    let live = node.live.load();
    let region = signed_region(parts);
    let issued = web_identity_token::issue(
        &live.sts,
        &live.outbound,
        caller,
        &params,
        &region,
        node.now(),
        env,
    )?;
    event
        .set(
            "responseElements",
            &IssuedTokenElements {
                key_id: &issued.kid,
                token_id: &issued.jti,
                subject: audit::Bounded::new(&issued.subject, audit::MAX_CLAIM),
                expiration: keyless_sts::time::iso8601(issued.expires_at),
            },
        )
        .additional("decision", "Allow");
    Ok(web_identity_token::response(&issued, request_id))
}

/// The region of the request's SigV4 credential scope (`Credential=AKID/date/<region>/…`, in
/// the `Authorization` header or the presigned query), which becomes the token's
/// `source_region`; `us-east-1` when it is absent or not a region name.
fn signed_region(parts: &RequestParts<'_>) -> String {
    let from_header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once("Credential="))
        .map(|(_, rest)| rest);
    let from_query = parts
        .query
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Credential="))
        .map(|v| v.split("%2F").collect::<Vec<_>>().join("/"));
    let scope = from_header
        .map(str::to_owned)
        .or(from_query)
        .unwrap_or_default();
    let region = scope.split('/').nth(2).unwrap_or_default();
    let valid = (1..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        region.to_owned()
    } else {
        "us-east-1".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        let parts = |headers: &HeaderMap, query: &str| {
            signed_region(&RequestParts {
                method: "POST",
                path: "/",
                query,
                headers,
                body: b"",
            })
        };
        assert_eq!(parts(&headers, ""), "us-east-1");
        assert_eq!(
            parts(
                &headers,
                "X-Amz-Credential=AKID%2F20250101%2Feu-west-1%2Fsts%2Faws4_request"
            ),
            "eu-west-1"
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-central-1/sts/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );
        assert_eq!(parts(&headers, ""), "eu-central-1");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20250101/EU<x>/sts/aws4_request",
            ),
        );
        assert_eq!(parts(&headers, ""), "us-east-1");
    }

    #[test]
    fn known_parameters_are_sorted_and_recognized_with_their_indexes() {
        assert!(KNOWN_PARAMETERS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_known_parameter("RoleArn"));
        assert!(is_known_parameter("Tags.member.12.Key"));
        assert!(is_known_parameter("PolicyArns.member.1.arn"));
        assert!(!is_known_parameter("Tags.member.x.Key"));
        assert!(!is_known_parameter("Junk"));
        assert!(!is_known_parameter(&"A".repeat(300)));
    }

    #[test]
    fn unsigned_parameters_keep_only_known_names_and_bounded_values() {
        let form = format!(
            "Action=CreateRole&RoleName={}&Junk1=a&Junk2=b&WebIdentityToken=not.a.token",
            "r".repeat(1000)
        );
        let params = QueryParams::parse("", form.as_bytes()).unwrap();
        let unsigned = serde_json::to_value(Parameters::unsigned(&params)).unwrap();
        assert_eq!(unsigned["unknownParametersOmitted"], 2);
        let name = unsigned["roleName"].as_str().unwrap();
        assert!(
            name.len() < 300 && name.ends_with("[truncated: 1000 bytes]"),
            "{name}"
        );
        assert!(unsigned["webIdentityToken"]["undecodable"].is_string());
        let signed = serde_json::to_value(Parameters::signed(&params)).unwrap();
        assert_eq!(signed["junk1"], "a");
        assert_eq!(signed["roleName"].as_str().map(str::len), Some(1000));
    }
}
