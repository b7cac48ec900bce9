//! The authorization API's core: a request that a service received from its caller, signed
//! with keyless credentials, forwarded to keyless whole (`POST /keyless/authorize`, JSON) or
//! as a proxy's auth subrequest (nginx `auth_request`, Envoy `ext_authz`); the caller's
//! SigV4 verified on it; and what keyless answers: the principal and, when asked, the
//! permission decision of the caller's session ([`permissions::decide`]).
//!
//! The body stays with the service: the forwarder gives the payload hash (or
//! `UNSIGNED-PAYLOAD`), or the request's `x-amz-content-sha256` stands for it, or the body is
//! taken to be empty (see [`auth::authenticate_forwarded`]).
//!
//! keyless sees the forwarder, not the caller: the caller's address (`aws:SourceIp`) and
//! whether it came over TLS (`aws:SecureTransport`) are the forwarder's to say — `source_ip`
//! and `secure_transport` in the JSON body, [`SOURCE_IP_HEADER`] and
//! [`SECURE_TRANSPORT_HEADER`] from a proxy (for Envoy, else the `x-forwarded-for` address
//! Envoy appended and `x-forwarded-proto`). They are believed because the forwarder is
//! authenticated (its own signature, or the authorizer token).

use std::collections::BTreeMap;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use keyless_credentials::session::{SessionKeyValue, SessionOrigin};
use keyless_credentials::sigv4::{RequestParts, SignedAuth};
use keyless_policy::{Context, Decision, SessionTrace};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Caller};
use crate::context::RequestEnv;
use crate::error::{Because, Denial, Error, Refused};
use crate::permissions::{self, PermissionDecision, PermissionQuery};
use crate::state::StsState;

/// The most headers a forwarded request may carry.
pub const MAX_HEADERS: usize = 128;
/// The most condition keys a service may pass as `context`.
pub const MAX_CONTEXT_KEYS: usize = 128;
/// The most characters of an action (`service:Action`).
pub const MAX_ACTION: usize = 128;
/// The most characters of a resource ARN.
pub const MAX_RESOURCE: usize = 2048;
/// The most characters of a URL.
pub const MAX_URL: usize = 16 * 1024;

/// The proxy header naming the original request's method (nginx).
pub const ORIGINAL_METHOD: &str = "x-original-method";
/// The proxy header with the original request's path and query, as sent (nginx `$request_uri`).
pub const ORIGINAL_URI: &str = "x-original-uri";
/// The proxy header with the original `Host` (nginx `$http_host`), when `Host` is the proxy's.
pub const ORIGINAL_HOST: &str = "x-original-host";
/// The proxy header with the original `Content-Length`, when the client signed it.
pub const ORIGINAL_CONTENT_LENGTH: &str = "x-original-content-length";
/// The proxy header naming the IAM action to decide.
pub const ACTION_HEADER: &str = "x-keyless-action";
/// The proxy header naming the resource to decide on.
pub const RESOURCE_HEADER: &str = "x-keyless-resource";
/// The proxy header naming the service the signature's scope must name.
pub const SERVICE_HEADER: &str = "x-keyless-service";
/// The proxy header carrying the authorizer token.
pub const TOKEN_HEADER: &str = "x-keyless-authorizer-token";
/// The proxy header with the caller's IP address (nginx `$remote_addr`): `aws:SourceIp`.
pub const SOURCE_IP_HEADER: &str = "x-keyless-source-ip";
/// The proxy header saying whether the caller's connection was TLS (nginx `$https`: `on`,
/// or empty and so absent): `aws:SecureTransport`. `on` or `true`; `off`, `false` or empty.
pub const SECURE_TRANSPORT_HEADER: &str = "x-keyless-secure-transport";
/// The header Envoy appends the caller's address to (`use_remote_address: true`).
const FORWARDED_FOR: &str = "x-forwarded-for";
/// The header Envoy sets to the caller's scheme (`use_remote_address: true`).
const FORWARDED_PROTO: &str = "x-forwarded-proto";
/// Envoy's marker of a body cut at `max_request_bytes`.
const ENVOY_PARTIAL_BODY: &str = "x-envoy-auth-partial-body";

/// The JSON body of `POST /keyless/authorize`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// The caller's method.
    pub method: String,
    /// The URL the caller requested: `https://host[:port]/path?query` (path and query as
    /// sent), or `/path?query` with `host` among the headers.
    pub url: String,
    /// The caller's headers: name → value, or name → values.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    /// The payload hash: the hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    #[serde(default)]
    pub payload_hash: Option<String>,
    /// The service the signature's scope must name (any, when absent).
    #[serde(default)]
    pub service: Option<String>,
    /// The IAM action to decide, e.g. `execute-api:Invoke`.
    #[serde(default)]
    pub action: Option<String>,
    /// The resource to decide on (an ARN, or `*`).
    #[serde(default)]
    pub resource: Option<String>,
    /// The request's own condition keys: key → string, number, boolean or array of them.
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    /// Whether to answer with the trace of every policy layer.
    #[serde(default)]
    pub trace: bool,
    /// The caller's IP address, as the service saw it (`aws:SourceIp`).
    #[serde(default)]
    pub source_ip: Option<String>,
    /// Whether the caller's request came over TLS (`aws:SecureTransport`); when absent, whether
    /// `url` is `https`.
    #[serde(default)]
    pub secure_transport: Option<bool>,
}

/// One header's value or values.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum HeaderValues {
    /// One value.
    One(String),
    /// Several values, in order.
    Many(Vec<String>),
}

/// The action and resource a service asks about, with the request's own condition keys.
#[derive(Debug, Clone)]
pub struct Question {
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// The request's condition keys.
    pub context: Context,
    /// Whether to build the trace.
    pub trace: bool,
}

/// A request a service received, as it reached the service.
#[derive(Debug, Clone)]
pub struct ForwardedRequest {
    /// The method.
    pub method: String,
    /// The raw path, as sent.
    pub path: String,
    /// The raw query, as sent, without `?`.
    pub query: String,
    /// The headers the caller sent; `host` holds the authority it signed.
    pub headers: HeaderMap,
    /// The payload hash, when the forwarder knows it.
    pub payload_hash: Option<String>,
    /// The service the signature's scope must name, when the forwarder says.
    pub service: Option<String>,
    /// Whether the caller's request arrived over TLS (`aws:SecureTransport`).
    pub secure: bool,
    /// The caller's IP address, when the forwarder says (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
}

impl ForwardedRequest {
    /// The request's SigV4 parts (its body is not here: the payload hash stands for it).
    pub fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: b"",
        }
    }

    /// The request and question of a `POST /keyless/authorize` body.
    pub fn from_body(body: AuthorizeBody) -> Result<(ForwardedRequest, Option<Question>), Error> {
        let method = checked_method(&body.method)?;
        if body.url.len() > MAX_URL {
            return Err(invalid(format!("url is longer than {MAX_URL} characters")));
        }
        let (scheme, authority, target) = split_url(&body.url)?;
        let (path, query) = split_target(target);
        if body.headers.values().map(header_count).sum::<usize>() > MAX_HEADERS {
            return Err(invalid(format!("more than {MAX_HEADERS} headers")));
        }
        let mut headers = HeaderMap::new();
        for (name, values) in &body.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("header name {} is not valid", shown(name))))?;
            let values = match values {
                HeaderValues::One(v) => std::slice::from_ref(v),
                HeaderValues::Many(vs) => vs.as_slice(),
            };
            for value in values {
                let value = HeaderValue::from_str(value).map_err(|_| {
                    invalid(format!(
                        "the value of header {name} is not a valid header value"
                    ))
                })?;
                headers.append(name.clone(), value);
            }
        }
        match (authority, headers.get(http::header::HOST)) {
            (Some(authority), Some(host)) if host.as_bytes() != authority.as_bytes() => {
                return Err(invalid(
                    "the host header and the url's host differ".to_owned(),
                ));
            }
            (Some(authority), None) => {
                let host = HeaderValue::from_str(authority)
                    .map_err(|_| invalid("the url's host is not valid".to_owned()))?;
                headers.insert(http::header::HOST, host);
            }
            (None, None) => {
                return Err(invalid(
                    "give the url with its host, or a host header".to_owned(),
                ));
            }
            _ => {}
        }
        if let Some(hash) = &body.payload_hash {
            checked_payload_hash(hash)?;
        }
        if let Some(service) = &body.service {
            checked_service(service)?;
        }
        let source_ip = body
            .source_ip
            .as_deref()
            .map(|ip| checked_ip(ip, "source_ip"))
            .transpose()?;
        let question = match (body.action, body.resource) {
            (None, None) => {
                if body.context.is_some() || body.trace {
                    return Err(invalid(
                        "context and trace need an action and a resource".to_owned(),
                    ));
                }
                None
            }
            (Some(action), Some(resource)) => {
                let context = match &body.context {
                    None => Context::new(),
                    Some(value) => checked_context(value)?,
                };
                if source_ip.is_some() && context.get("aws:sourceip").is_some() {
                    return Err(invalid(
                        "give the caller's address as source_ip or as the context's aws:SourceIp, not both"
                            .to_owned(),
                    ));
                }
                Some(question(action, resource, context, body.trace)?)
            }
            _ => {
                return Err(invalid(
                    "give both action and resource, or neither".to_owned(),
                ));
            }
        };
        let request = ForwardedRequest {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            payload_hash: body.payload_hash,
            service: body.service,
            secure: body.secure_transport.unwrap_or(scheme == Some("https")),
            source_ip,
        };
        Ok((request, question))
    }

    /// The request and question of an nginx `auth_request` subrequest: the caller's headers,
    /// `X-Original-Method` and `X-Original-URI` (required), `X-Original-Host` when `Host` is the
    /// proxy's, `X-Original-Content-Length` when the caller signed its length, and the
    /// question as `X-Keyless-Action` and `X-Keyless-Resource` (both or neither), the caller's
    /// address and transport as `X-Keyless-Source-Ip` and `X-Keyless-Secure-Transport`. The
    /// body is never forwarded: the caller's `x-amz-content-sha256` stands for it, else it is
    /// empty.
    pub fn from_nginx(headers: &HeaderMap) -> Result<(ForwardedRequest, Option<Question>), Error> {
        let method = checked_method(required(headers, ORIGINAL_METHOD)?)?;
        let uri = required(headers, ORIGINAL_URI)?;
        if uri.len() > MAX_URL {
            return Err(invalid(format!(
                "{ORIGINAL_URI} is longer than {MAX_URL} characters"
            )));
        }
        let (path, query) = split_target(uri);
        if !path.starts_with('/') {
            return Err(invalid(format!("{ORIGINAL_URI} must start with /")));
        }
        let mut forwarded = caller_headers(headers)?;
        if let Some(host) = headers.get(ORIGINAL_HOST) {
            forwarded.insert(http::header::HOST, host.clone());
        }
        forwarded.remove(http::header::CONTENT_LENGTH);
        if let Some(length) = headers.get(ORIGINAL_CONTENT_LENGTH)
            && !length.is_empty()
        {
            forwarded.insert(http::header::CONTENT_LENGTH, length.clone());
        }
        let request = ForwardedRequest {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: forwarded,
            payload_hash: None,
            service: service_header(headers)?,
            secure: secure_transport_header(headers)?.unwrap_or(false),
            source_ip: source_ip_header(headers)?,
        };
        Ok((request, header_question(headers)?))
    }

    /// The request and question of an Envoy `ext_authz` check request: the caller's method,
    /// path (after the `path_prefix`, `target`) and headers; the body when Envoy forwards it
    /// (`with_request_body`), whose hash stands for the caller's. A body Envoy cut
    /// (`x-envoy-auth-partial-body: true`) cannot match its signature and is refused. The
    /// caller's address and transport: `X-Keyless-Source-Ip` and `X-Keyless-Secure-Transport`
    /// when Envoy adds them, else the last `x-forwarded-for` address (the one Envoy appended)
    /// and `x-forwarded-proto`.
    pub fn from_envoy(
        method: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(ForwardedRequest, Option<Question>), Error> {
        let method = checked_method(method)?;
        if headers
            .get(ENVOY_PARTIAL_BODY)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
        {
            return Err(invalid(
                "the body was cut (x-envoy-auth-partial-body: true): set allow_partial_message to false"
                    .to_owned(),
            ));
        }
        let (path, query) = split_target(target);
        let path = if path.is_empty() { "/" } else { path };
        let forwarded = caller_headers(headers)?;
        let payload_hash =
            (!body.is_empty()).then(|| keyless_credentials::sigv4::payload_hash(body));
        let request = ForwardedRequest {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: forwarded,
            payload_hash,
            service: service_header(headers)?,
            secure: match secure_transport_header(headers)? {
                Some(secure) => secure,
                None => forwarded_proto(headers)?,
            },
            source_ip: match source_ip_header(headers)? {
                Some(ip) => Some(ip),
                None => forwarded_for(headers)?,
            },
        };
        Ok((request, header_question(headers)?))
    }

    /// Verifies the caller's signature on the request: who signed it, and the signature's
    /// scope. Every failure is [`Error::Unauthenticated`].
    pub fn authenticate(&self, state: &StsState, now: i64) -> Result<Verified, Error> {
        let result = auth::authenticate_forwarded(
            state,
            &self.parts(),
            self.service.as_deref(),
            self.payload_hash.as_deref(),
            now,
        );
        match result {
            Ok((caller, auth)) => Ok(Verified { caller, auth }),
            Err(Error::Signature(e)) => Err(Error::Unauthenticated(e)),
            Err(other) => Err(other),
        }
    }

    /// The environment of the caller's request for its decision: its address (when the
    /// forwarder gave it), its `User-Agent` and its transport.
    pub fn env(&self) -> RequestEnv {
        RequestEnv {
            source_ip: self.source_ip.map(|ip| ip.to_string()),
            user_agent: self
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            secure_transport: self.secure,
        }
    }
}

/// A caller whose forwarded signature holds.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who signed.
    pub caller: Caller,
    /// The signature's scope.
    pub auth: SignedAuth,
}

/// What the authorization API answers: the principal, the signature's scope and, when asked,
/// the decision.
#[derive(Debug, Serialize)]
pub struct Answer {
    /// The principal.
    pub principal: Principal,
    /// The signature's scope.
    pub signature: SignatureScope,
    /// The decision on the question, when one was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionAnswer>,
}

/// The principal behind a verified signature, as `GetCallerIdentity` and the session know it.
#[derive(Debug, Serialize)]
pub struct Principal {
    /// `AssumedRole` or `Root`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    pub arn: String,
    /// The account.
    pub account: String,
    /// The user ID (`AROA…:<session>`, or the account for root).
    pub user_id: String,
    /// The access key ID that signed.
    pub access_key_id: String,
    /// The role's ARN, with its path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The role session name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<String>,
    /// When the session expires (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The session's source identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// The session's tags.
    pub session_tags: BTreeMap<String, String>,
    /// The web identity the session came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_identity: Option<WebIdentity>,
}

/// The web identity behind a session.
#[derive(Debug, Serialize)]
pub struct WebIdentity {
    /// The OIDC provider's ARN.
    pub provider_arn: String,
    /// The token's `sub`.
    pub subject: String,
    /// The audience the token was accepted for.
    pub audience: String,
    /// The provider's condition keys the session carries (`gitlab.com:sub`, …).
    pub claims: BTreeMap<String, serde_json::Value>,
}

/// The signature's credential scope.
#[derive(Debug, Serialize)]
pub struct SignatureScope {
    /// The service.
    pub service: String,
    /// The region.
    pub region: String,
    /// Whether the request was presigned (query-string form).
    pub presigned: bool,
}

/// The decision on the question.
#[derive(Debug, Serialize)]
pub struct DecisionAnswer {
    /// Whether the caller may.
    pub allowed: bool,
    /// `Allow`, `ExplicitDeny` or `ImplicitDeny`.
    pub decision: Decision,
    /// The action decided.
    pub action: String,
    /// The resource decided on.
    pub resource: String,
    /// Why.
    pub reason: String,
    /// The statements that decided.
    pub matched_statements: Vec<MatchedStatement>,
    /// Every layer's evaluation, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<SessionTrace>,
    /// For a refusal, whether it was explicit and which layer refused.
    #[serde(skip)]
    pub(crate) because: Option<Because>,
}

/// A statement that decided.
#[derive(Debug, Serialize)]
pub struct MatchedStatement {
    /// The policy's id, as IAM's simulator names it (`role_<role>_<policy>`, a managed
    /// policy's name, `session policy`).
    pub policy_id: String,
    /// The policy's layer.
    pub layer: keyless_policy::PolicyLayer,
    /// The statement's position in the policy.
    pub statement_index: usize,
    /// The statement's `Sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: keyless_policy::Effect,
}

impl Principal {
    /// The principal of `caller`.
    pub fn of(caller: &Caller) -> Principal {
        let mut principal = Principal {
            kind: "Root",
            arn: caller.arn(),
            account: caller.account().to_owned(),
            user_id: caller.user_id(),
            access_key_id: caller.access_key_id().to_owned(),
            role_arn: None,
            role_session_name: None,
            expiration: None,
            source_identity: None,
            session_tags: BTreeMap::new(),
            web_identity: None,
        };
        if let Caller::Session(claims) = caller {
            principal.kind = "AssumedRole";
            principal.role_arn = Some(claims.role_arn());
            principal.role_session_name = Some(claims.session_name.clone());
            principal.expiration = Some(crate::time::iso8601(claims.expires_at));
            principal.source_identity = claims.source_identity.clone();
            principal.session_tags = claims.principal_tags().iter().cloned().collect();
            if let SessionOrigin::WebIdentity {
                provider_arn,
                subject,
                audience,
            } = &claims.origin
            {
                let claims = claims
                    .web_identity_keys
                    .iter()
                    .map(|(key, value)| {
                        let value = match value {
                            SessionKeyValue::One(v) => serde_json::Value::from(v.as_str()),
                            SessionKeyValue::Many(vs) => serde_json::Value::from(vs.clone()),
                        };
                        (key.clone(), value)
                    })
                    .collect();
                principal.web_identity = Some(WebIdentity {
                    provider_arn: provider_arn.clone(),
                    subject: subject.clone(),
                    audience: audience.clone(),
                    claims,
                });
            }
        }
        principal
    }
}

impl Answer {
    /// The answer for `verified`, deciding `question` on its session's permissions.
    pub fn new(
        state: &StsState,
        verified: &Verified,
        question: Option<Question>,
        env: &RequestEnv,
        now: i64,
    ) -> Answer {
        let decision = question.map(|q| {
            let query = PermissionQuery {
                action: &q.action,
                resource: &q.resource,
                context: q.context.clone(),
                env,
                now,
                trace: q.trace,
            };
            let authorization = permissions::decide(state, &verified.caller, query);
            DecisionAnswer::new(authorization.decision, q.action, q.resource)
        });
        Answer {
            principal: Principal::of(&verified.caller),
            signature: SignatureScope {
                service: verified.auth.service.clone(),
                region: verified.auth.region.clone(),
                presigned: verified.auth.presigned,
            },
            decision,
        }
    }

    /// The refusal a proxy answers a denied caller with (`AccessDenied`, IAM's message).
    pub fn denial(&self, state: &StsState) -> Option<Error> {
        let decision = self.decision.as_ref().filter(|d| !d.allowed)?;
        Some(
            Denial {
                refused: Refused::Caller {
                    caller: self.principal.arn.clone(),
                    action: decision.action.clone(),
                    resource: decision.resource.clone(),
                },
                reason: decision.reason.clone(),
                statement: decision
                    .matched_statements
                    .first()
                    .map(|m| format!("statement {} of {}", m.statement_index, m.policy_id)),
                because: decision.because,
                encoded: None,
                show_reason: state.options.debug_denials,
            }
            .into(),
        )
    }
}

impl DecisionAnswer {
    fn new(decision: PermissionDecision, action: String, resource: String) -> DecisionAnswer {
        DecisionAnswer {
            allowed: decision.allowed(),
            decision: decision.decision,
            because: decision.because,
            action,
            resource,
            reason: decision.reason,
            matched_statements: decision
                .matched
                .into_iter()
                .map(|m| MatchedStatement {
                    policy_id: m.source.id(),
                    layer: m.layer,
                    statement_index: m.index,
                    sid: m.sid,
                    effect: m.effect,
                })
                .collect(),
            trace: decision.trace,
        }
    }
}

/// Authorizes the service that calls the authorization API: the admin key, or a session
/// whose permissions allow `keyless:Authorize` (on `*`).
pub fn authorize_service(
    state: &StsState,
    service: &Caller,
    now: i64,
    env: &RequestEnv,
) -> Result<(), Error> {
    permissions::authorize(
        state,
        service,
        AUTHORIZE_ACTION,
        "*",
        Context::new(),
        now,
        env,
    )
}

/// The action a service needs to call the authorization API.
pub const AUTHORIZE_ACTION: &str = "keyless:Authorize";

fn invalid(message: String) -> Error {
    Error::Validation(message)
}

/// A caller-supplied text for an error message: at most 64 characters.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(64).collect();
    format!("{cut:?}")
}

fn header_count(values: &HeaderValues) -> usize {
    match values {
        HeaderValues::One(_) => 1,
        HeaderValues::Many(vs) => vs.len(),
    }
}

fn checked_method(method: &str) -> Result<String, Error> {
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(format!(
            "method {} is not an HTTP method",
            shown(method)
        )));
    }
    Ok(method.to_owned())
}

fn checked_payload_hash(hash: &str) -> Result<(), Error> {
    let hex = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex || hash == auth::UNSIGNED_PAYLOAD {
        Ok(())
    } else {
        Err(invalid(
            "payload_hash must be a lowercase hex SHA-256 or UNSIGNED-PAYLOAD".to_owned(),
        ))
    }
}

fn checked_service(service: &str) -> Result<(), Error> {
    let valid = (1..=64).contains(&service.len())
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "service {} is not a service name",
            shown(service)
        )))
    }
}

fn checked_context(value: &serde_json::Value) -> Result<Context, Error> {
    if value
        .as_object()
        .is_some_and(|o| o.len() > MAX_CONTEXT_KEYS)
    {
        return Err(invalid(format!(
            "context has more than {MAX_CONTEXT_KEYS} keys"
        )));
    }
    Context::from_json(value).map_err(invalid)
}

fn question(
    action: String,
    resource: String,
    context: Context,
    trace: bool,
) -> Result<Question, Error> {
    let valid_action = action.len() <= MAX_ACTION
        && action
            .split_once(':')
            .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty())
        && action.bytes().all(|b| b.is_ascii_graphic());
    if !valid_action {
        return Err(invalid(format!(
            "action {} is not service:Action",
            shown(&action)
        )));
    }
    if resource.is_empty() || resource.len() > MAX_RESOURCE {
        return Err(invalid(format!(
            "resource must have 1 to {MAX_RESOURCE} characters"
        )));
    }
    Ok(Question {
        action,
        resource,
        context,
        trace,
    })
}

/// Splits an absolute URL into scheme, authority and target, or takes a target as it is.
fn split_url(url: &str) -> Result<(Option<&str>, Option<&str>, &str), Error> {
    if url.starts_with('/') {
        return Ok((None, None, url));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("url must be https://host/path or /path".to_owned()));
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid("url must be http or https".to_owned()));
    }
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("the url's host is not valid".to_owned()));
    }
    Ok((Some(scheme), Some(authority), target))
}

/// Splits `path?query`; a target of only a query has the path `/`.
fn split_target(target: &str) -> (&str, &str) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

fn required<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Error> {
    headers
        .get(name)
        .ok_or_else(|| invalid(format!("the {name} header is missing")))?
        .to_str()
        .map_err(|_| invalid(format!("the {name} header is not text")))
}

fn optional<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Error> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| invalid(format!("the {name} header is not text")))
        })
        .transpose()
}

/// An IP address (IPv4 or IPv6, no port, no prefix length).
fn checked_ip(text: &str, what: &str) -> Result<IpAddr, Error> {
    text.trim()
        .parse()
        .map_err(|_| invalid(format!("{what} {} is not an IP address", shown(text))))
}

/// `X-Keyless-Source-Ip`, when present.
fn source_ip_header(headers: &HeaderMap) -> Result<Option<IpAddr>, Error> {
    optional(headers, SOURCE_IP_HEADER)?
        .map(|ip| checked_ip(ip, SOURCE_IP_HEADER))
        .transpose()
}

/// `X-Keyless-Secure-Transport`, when present: `on`/`true`, or `off`/`false`/empty.
fn secure_transport_header(headers: &HeaderMap) -> Result<Option<bool>, Error> {
    let Some(value) = optional(headers, SECURE_TRANSPORT_HEADER)? else {
        return Ok(None);
    };
    let value = value.trim();
    if ["on", "true"].iter().any(|v| value.eq_ignore_ascii_case(v)) {
        Ok(Some(true))
    } else if ["off", "false", ""]
        .iter()
        .any(|v| value.eq_ignore_ascii_case(v))
    {
        Ok(Some(false))
    } else {
        Err(invalid(format!(
            "{SECURE_TRANSPORT_HEADER} {} is not on, off, true or false",
            shown(value)
        )))
    }
}

/// The last address of `x-forwarded-for`: the one Envoy appended (earlier ones are the
/// caller's to write).
fn forwarded_for(headers: &HeaderMap) -> Result<Option<IpAddr>, Error> {
    let Some(last) = headers.get_all(FORWARDED_FOR).iter().next_back() else {
        return Ok(None);
    };
    let last = last
        .to_str()
        .map_err(|_| invalid(format!("the {FORWARDED_FOR} header is not text")))?;
    let address = last.rsplit(',').next().unwrap_or(last).trim();
    checked_ip(address, FORWARDED_FOR).map(Some)
}

/// `x-forwarded-proto`: `https` is TLS; `http` or no header is not.
fn forwarded_proto(headers: &HeaderMap) -> Result<bool, Error> {
    match optional(headers, FORWARDED_PROTO)?.map(str::trim) {
        None => Ok(false),
        Some(proto) if proto.eq_ignore_ascii_case("https") => Ok(true),
        Some(proto) if proto.eq_ignore_ascii_case("http") => Ok(false),
        Some(proto) => Err(invalid(format!(
            "{FORWARDED_PROTO} {} is not http or https",
            shown(proto)
        ))),
    }
}

fn service_header(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let service = optional(headers, SERVICE_HEADER)?;
    if let Some(service) = service {
        checked_service(service)?;
    }
    Ok(service.map(str::to_owned))
}

fn header_question(headers: &HeaderMap) -> Result<Option<Question>, Error> {
    match (
        optional(headers, ACTION_HEADER)?,
        optional(headers, RESOURCE_HEADER)?,
    ) {
        (None, None) => Ok(None),
        (Some(action), Some(resource)) => question(
            action.to_owned(),
            resource.to_owned(),
            Context::new(),
            false,
        )
        .map(Some),
        _ => Err(invalid(format!(
            "give both {ACTION_HEADER} and {RESOURCE_HEADER}, or neither"
        ))),
    }
}

/// The caller's headers of a proxy's subrequest: every header but the proxy's own
/// (`X-Original-*`, `X-Keyless-*`, `Connection`), at most [`MAX_HEADERS`].
fn caller_headers(headers: &HeaderMap) -> Result<HeaderMap, Error> {
    if headers.len() > MAX_HEADERS {
        return Err(invalid(format!("more than {MAX_HEADERS} headers")));
    }
    let mut forwarded = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if n.starts_with("x-original-") || n.starts_with("x-keyless-") || n == "connection" {
            continue;
        }
        forwarded.append(name.clone(), value.clone());
    }
    Ok(forwarded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> Result<(ForwardedRequest, Option<Question>), Error> {
        ForwardedRequest::from_body(serde_json::from_value(json).expect("the body's shape"))
    }

    fn message(result: Result<(ForwardedRequest, Option<Question>), Error>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => {
                assert_eq!(e.code(), "ValidationError");
                e.message().into_owned()
            }
        }
    }

    #[test]
    fn a_body_becomes_the_request_as_sent() {
        let (req, question) = body(serde_json::json!({
            "method": "GET",
            "url": "https://api.example.com:8443/v1/a%20b?x=1&y=2",
            "headers": {"X-Amz-Date": "20261201T000000Z", "X-Multi": ["a", "b"]},
            "action": "execute-api:Invoke",
            "resource": "arn:aws:execute-api:us-east-1:000000000000:api/GET/v1",
            "context": {"aws:SourceIp": "10.0.0.1"},
        }))
        .expect("valid");
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.query.as_str()),
            ("GET", "/v1/a%20b", "x=1&y=2")
        );
        assert_eq!(req.headers["host"], "api.example.com:8443");
        assert_eq!(req.headers.get_all("x-multi").iter().count(), 2);
        assert!(req.secure);
        let question = question.expect("a question");
        assert_eq!(question.action, "execute-api:Invoke");
        assert!(question.context.get("aws:sourceip").is_some());
        let (req, question) = body(serde_json::json!({
            "method": "POST", "url": "/?a", "headers": {"host": "h"}
        }))
        .expect("valid");
        assert_eq!((req.path.as_str(), req.query.as_str()), ("/", "a"));
        assert!(question.is_none() && !req.secure);
    }

    #[test]
    fn bad_bodies_are_validation_errors() {
        let cases = [
            (
                serde_json::json!({"method": "get", "url": "/", "headers": {"host": "h"}}),
                "method \"get\" is not an HTTP method",
            ),
            (
                serde_json::json!({"method": "GET", "url": "ftp://h/"}),
                "url must be http or https",
            ),
            (
                serde_json::json!({"method": "GET", "url": "h/x"}),
                "url must be https://host/path or /path",
            ),
            (
                serde_json::json!({"method": "GET", "url": "/"}),
                "give the url with its host, or a host header",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "headers": {"host": "b"}}),
                "the host header and the url's host differ",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://u@a/"}),
                "the url's host is not valid",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "headers": {"bad name": "x"}}),
                "header name \"bad name\" is not valid",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "headers": {"x": "a\nb"}}),
                "the value of header x is not a valid header value",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "payload_hash": "ABC"}),
                "payload_hash must be a lowercase hex SHA-256 or UNSIGNED-PAYLOAD",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "service": "S3"}),
                "service \"S3\" is not a service name",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "action": "s3:Get"}),
                "give both action and resource, or neither",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "trace": true}),
                "context and trace need an action and a resource",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "action": "nope", "resource": "*"}),
                "action \"nope\" is not service:Action",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "action": "s3:Get", "resource": ""}),
                "resource must have 1 to 2048 characters",
            ),
            (
                serde_json::json!({"method": "GET", "url": "http://a/", "action": "s3:Get", "resource": "*", "context": [1]}),
                "context must be a JSON object",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(message(body(json.clone())), expected, "{json}");
        }
        let many: BTreeMap<String, String> = (0..=MAX_HEADERS)
            .map(|i| (format!("h{i}"), "v".to_owned()))
            .collect();
        assert_eq!(
            message(body(
                serde_json::json!({"method": "GET", "url": "http://a/", "headers": many})
            )),
            "more than 128 headers"
        );
        let keys: serde_json::Map<String, serde_json::Value> = (0..=MAX_CONTEXT_KEYS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert_eq!(
            message(body(
                serde_json::json!({"method": "GET", "url": "http://a/", "action": "s3:Get", "resource": "*", "context": keys})
            )),
            "context has more than 128 keys"
        );
        let long = format!("http://a/{}", "x".repeat(MAX_URL));
        assert_eq!(
            message(body(serde_json::json!({"method": "GET", "url": long}))),
            "url is longer than 16384 characters"
        );
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn an_nginx_subrequest_becomes_the_original_request() {
        let (req, question) = ForwardedRequest::from_nginx(&headers(&[
            ("host", "127.0.0.1:9000"),
            ("x-original-method", "PUT"),
            ("x-original-uri", "/items/1?v=2"),
            ("x-original-host", "api.test:8080"),
            ("x-original-content-length", "12"),
            ("x-keyless-action", "execute-api:Invoke"),
            (
                "x-keyless-resource",
                "arn:aws:execute-api:us-east-1:1:api/PUT/items/1",
            ),
            ("x-keyless-authorizer-token", "secret"),
            ("connection", "close"),
            ("content-length", "0"),
            ("x-amz-date", "20261201T000000Z"),
        ]))
        .expect("valid");
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.query.as_str()),
            ("PUT", "/items/1", "v=2")
        );
        assert_eq!(req.headers["host"], "api.test:8080");
        assert_eq!(req.headers["content-length"], "12");
        assert!(req.headers.get("x-keyless-authorizer-token").is_none());
        assert!(req.headers.get("connection").is_none());
        assert_eq!(req.headers["x-amz-date"], "20261201T000000Z");
        assert_eq!(
            question.expect("asked").resource,
            "arn:aws:execute-api:us-east-1:1:api/PUT/items/1"
        );

        let missing = ForwardedRequest::from_nginx(&headers(&[("x-original-uri", "/")]));
        assert_eq!(message(missing), "the x-original-method header is missing");
        let relative = ForwardedRequest::from_nginx(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "items"),
        ]));
        assert_eq!(message(relative), "x-original-uri must start with /");
        let half = ForwardedRequest::from_nginx(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/"),
            ("x-keyless-action", "a:b"),
        ]));
        assert_eq!(
            message(half),
            "give both x-keyless-action and x-keyless-resource, or neither"
        );
    }

    #[test]
    fn an_envoy_check_request_hashes_the_forwarded_body() {
        let (req, _) = ForwardedRequest::from_envoy(
            "POST",
            "/v1/items?x=1",
            &headers(&[("host", "api.test"), ("x-keyless-service", "execute-api")]),
            b"{}",
        )
        .expect("valid");
        assert_eq!(req.path, "/v1/items");
        assert_eq!(req.service.as_deref(), Some("execute-api"));
        assert_eq!(
            req.payload_hash.as_deref(),
            Some("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        );
        let (empty, _) =
            ForwardedRequest::from_envoy("GET", "", &headers(&[("host", "a")]), b"").unwrap();
        assert_eq!((empty.path.as_str(), empty.payload_hash), ("/", None));
        let cut = ForwardedRequest::from_envoy(
            "POST",
            "/",
            &headers(&[("x-envoy-auth-partial-body", "true")]),
            b"x",
        );
        assert!(message(cut).starts_with("the body was cut"));
    }
}
