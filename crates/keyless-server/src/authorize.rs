//! The authorization API's routes: `POST /keyless/authorize` (JSON; the calling service signs
//! with its own keyless credentials and needs `keyless:Authorize`), `/keyless/authorize/nginx`
//! (nginx `auth_request`) and `/keyless/authorize/envoy/…` (Envoy `ext_authz`, HTTP mode),
//! the last two behind the authorizer token. The request model, the caller's verification and
//! the answer are `keyless_sts::forwarded`'s; every call is measured and audited.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use keyless_credentials::sigv4::RequestParts;
use keyless_node::audit::{self, Event};
use keyless_sts::Error;
use keyless_sts::auth;
use keyless_sts::context::RequestEnv;
use keyless_sts::forwarded::{
    self, Answer, AuthorizeBody, ForwardedRequest, Question, TOKEN_HEADER,
};
use serde::Serialize;

use crate::App;
use crate::body::read_body;
use crate::listener::Transport;
use crate::query::SignedIdentity;

/// The path prefix of the Envoy mode (`path_prefix` of `ext_authz`'s `http_service`).
pub(crate) const ENVOY_PREFIX: &str = "/keyless/authorize/envoy";

/// The audit event source of the authorization API.
const EVENT_SOURCE: &str = "keyless.authorize";

/// The most characters of a forwarded path recorded in an audit event.
const MAX_AUDIT_PATH: usize = 1024;
/// The most characters of a message of a failed caller signature recorded (the message of a
/// malformed `Authorization` header quotes it).
const MAX_AUDIT_SIGNATURE_MESSAGE: usize = 256;

/// How the request reached keyless.
#[derive(Clone, Copy)]
enum Mode {
    Json,
    Nginx,
    Envoy,
}

impl Mode {
    /// The event name and metric action.
    fn action(self) -> &'static str {
        match self {
            Mode::Json => "Authorize",
            Mode::Nginx => "AuthorizeNginx",
            Mode::Envoy => "AuthorizeEnvoy",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Json => "json",
            Mode::Nginx => "nginx",
            Mode::Envoy => "envoy",
        }
    }
}

/// `POST /keyless/authorize`.
pub(crate) async fn json(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    transport: Option<Extension<Transport>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut call = Call::new(&app, Mode::Json, peer);
    let env = request_env(
        peer,
        &headers,
        transport.is_some_and(|Extension(t)| t.secure),
    );
    let result = json_call(&app, &method, &uri, &headers, body, &env, &mut call).await;
    let response = match &result {
        Ok(answer) => json_response(StatusCode::OK, answer),
        Err(error) => crate::json::json_error(error, &call.request_id),
    };
    call.finish(&app, result.as_ref().err(), started, response)
        .await
}

async fn json_call(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    env: &RequestEnv,
    call: &mut Call,
) -> Result<Answer, Error> {
    let body = read_body(body, &app.body_limits).await?;
    let now = app.node.now();
    let live = app.node.live.load();
    let state = &live.sts;
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    let service = auth::authenticate(state, &parts, "keyless", now)?;
    call.event
        .set("userIdentity", &SignedIdentity::of(&service));
    call.authenticated = true;
    forwarded::authorize_service(state, &service, now, env)?;
    let parsed: AuthorizeBody = serde_json::from_slice(&body).map_err(|e| {
        let message: String = e.to_string().chars().take(256).collect();
        Error::Validation(format!("Invalid authorize request: {message}"))
    })?;
    let (request, question) = ForwardedRequest::from_body(parsed)?;
    call.request(&request, question.as_ref());
    let caller_env = request.env();
    let verified = request.authenticate(state, now)?;
    let answer = Answer::new(state, &verified, question, &caller_env, now);
    call.answered(&answer);
    Ok(answer)
}

/// `/keyless/authorize/nginx`, any method (nginx's subrequest is a `GET`).
pub(crate) async fn nginx(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let mut call = Call::new(&app, Mode::Nginx, peer);
    let result = proxy_call(&app, &headers, &mut call, |headers| {
        ForwardedRequest::from_nginx(headers)
    });
    proxy_finish(&app, call, result, started).await
}

/// `/keyless/authorize/envoy/<original path>`, any method: Envoy keeps the caller's method
/// and appends its path to the `path_prefix`.
pub(crate) async fn envoy(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut call = Call::new(&app, Mode::Envoy, peer);
    let result = match read_body(body, &app.body_limits).await {
        Ok(body) => {
            let path = uri.path().strip_prefix(ENVOY_PREFIX).unwrap_or("/");
            let target = match uri.query() {
                Some(query) => format!("{path}?{query}"),
                None => path.to_owned(),
            };
            proxy_call(&app, &headers, &mut call, |headers| {
                ForwardedRequest::from_envoy(method.as_str(), &target, headers, &body)
            })
        }
        Err(e) => Err(e),
    };
    proxy_finish(&app, call, result, started).await
}

/// A proxy's call: the token, the forwarded request, the caller's signature, the decision.
fn proxy_call(
    app: &App,
    headers: &HeaderMap,
    call: &mut Call,
    forwarded: impl FnOnce(&HeaderMap) -> Result<(ForwardedRequest, Option<Question>), Error>,
) -> Result<Answer, Error> {
    let Some(token) = &app.node.settings.authorizer_token else {
        return Err(Error::AuthorizerOff);
    };
    let presented = headers.get(TOKEN_HEADER).map(HeaderValue::as_bytes);
    if !presented.is_some_and(|p| token.matches(p)) {
        return Err(Error::InvalidAuthorizerToken);
    }
    call.event.set(
        "userIdentity",
        &ProxyIdentity {
            kind: "AuthorizerToken",
        },
    );
    call.authenticated = true;
    let (request, question) = forwarded(headers)?;
    call.request(&request, question.as_ref());
    let now = app.node.now();
    let live = app.node.live.load();
    let verified = request.authenticate(&live.sts, now)?;
    let answer = Answer::new(&live.sts, &verified, question, &request.env(), now);
    call.answered(&answer);
    if let Some(denial) = answer.denial(&live.sts) {
        return Err(denial);
    }
    Ok(answer)
}

/// A proxy's answer: 200 with the principal's headers; 401 (with `WWW-Authenticate`) for a
/// missing, bad or expired signature; 403 for a caller the policy refuses; the JSON error.
async fn proxy_finish(
    app: &App,
    call: Call,
    result: Result<Answer, Error>,
    started: Instant,
) -> Response {
    let response = match &result {
        Ok(answer) => {
            let mut response = json_response(StatusCode::OK, answer);
            let h = response.headers_mut();
            let principal = &answer.principal;
            for (name, value) in [
                ("x-keyless-principal-arn", Some(&principal.arn)),
                ("x-keyless-account", Some(&principal.account)),
                ("x-keyless-user-id", Some(&principal.user_id)),
                ("x-keyless-role-arn", principal.role_arn.as_ref()),
            ] {
                if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                    h.insert(HeaderName::from_static(name), value);
                }
            }
            response
        }
        Err(error) => {
            let mut response = crate::json::json_error(error, &call.request_id);
            if matches!(error, Error::Unauthenticated(_)) {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("AWS4-HMAC-SHA256"),
                );
            }
            response
        }
    };
    call.finish(app, result.as_ref().err(), started, response)
        .await
}

/// One call of the authorization API, for its audit event and metrics.
struct Call {
    mode: Mode,
    request_id: String,
    peer: SocketAddr,
    event: Event,
    /// Whether the calling service or proxy was authenticated; the failures of
    /// unauthenticated calls are the ones a flood can aggregate.
    authenticated: bool,
    /// The decision, when one was made.
    decision: Option<bool>,
}

impl Call {
    fn new(app: &App, mode: Mode, peer: SocketAddr) -> Call {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut event = Event::new(EVENT_SOURCE, mode.action(), &request_id, app.node.account());
        event.set("sourceIPAddress", &peer.ip().to_string());
        event.additional("mode", mode.label());
        Call {
            mode,
            request_id,
            peer,
            event,
            authenticated: false,
            decision: None,
        }
    }

    /// Records what the forwarded request asks (bounded; never its signature or token).
    fn request(&mut self, request: &ForwardedRequest, question: Option<&Question>) {
        let host = request
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        self.event.set(
            "requestParameters",
            &RequestRecord {
                method: &request.method,
                host: audit::bounded_opt(host, audit::MAX_CLAIM),
                path: audit::Bounded::new(&request.path, MAX_AUDIT_PATH),
                service: request.service.as_deref(),
                source_ip: request.source_ip,
                action: question.map(|q| audit::Bounded::new(&q.action, forwarded::MAX_ACTION)),
                resource: question
                    .map(|q| audit::Bounded::new(&q.resource, forwarded::MAX_RESOURCE)),
            },
        );
    }

    /// Records who the caller was and the decision.
    fn answered(&mut self, answer: &Answer) {
        let principal = &answer.principal;
        self.event.set(
            "responseElements",
            &PrincipalRecord {
                arn: &principal.arn,
                user_id: &principal.user_id,
                access_key_id: &principal.access_key_id,
                service: &answer.signature.service,
                region: &answer.signature.region,
            },
        );
        if let Some(decision) = &answer.decision {
            self.decision = Some(decision.allowed);
            self.event
                .additional("decision", if decision.allowed { "Allow" } else { "Deny" })
                .additional(
                    "reason",
                    &audit::Bounded::new(&decision.reason, audit::MAX_MESSAGE),
                );
            if let Some(m) = decision.matched_statements.first() {
                self.event.additional(
                    "statement",
                    &format!("statement {} of {}", m.statement_index, m.policy_id),
                );
            }
        }
    }

    /// Measures the call and writes its audit event; answers `response`, or 503 when a durable
    /// audit log could not take the event.
    async fn finish(
        mut self,
        app: &App,
        error: Option<&Error>,
        started: Instant,
        response: Response,
    ) -> Response {
        let outcome = match error {
            None => "Success",
            Some(e) => {
                let message = e.message();
                let max = match e {
                    Error::Unauthenticated(_) => MAX_AUDIT_SIGNATURE_MESSAGE,
                    _ => audit::MAX_MESSAGE,
                };
                self.event
                    .error(e.code(), &audit::Bounded::new(&message, max).to_string());
                e.code()
            }
        };
        crate::metrics::request(self.mode.action(), outcome, started.elapsed().as_secs_f64());
        crate::metrics::authorization(self.mode.label(), self.decision, outcome);
        let recorded = crate::query::record_event(
            app,
            self.peer.ip(),
            outcome,
            self.authenticated,
            self.event.finish(),
        )
        .await;
        match recorded {
            Ok(()) => response,
            Err(_) => crate::json::json_error(&Error::Unavailable, &self.request_id),
        }
    }
}

/// `requestParameters` of an authorization event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestRecord<'a> {
    method: &'a str,
    host: Option<audit::Bounded<'a>>,
    path: audit::Bounded<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    /// The caller's address as the forwarder gave it (`sourceIPAddress` is the forwarder's).
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<audit::Bounded<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<audit::Bounded<'a>>,
}

/// `responseElements` of an authorization event: the verified caller.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrincipalRecord<'a> {
    arn: &'a str,
    user_id: &'a str,
    access_key_id: &'a str,
    service: &'a str,
    region: &'a str,
}

/// `userIdentity` of a proxy's call: it is known by the authorizer token.
#[derive(Serialize)]
struct ProxyIdentity {
    #[serde(rename = "type")]
    kind: &'static str,
}

fn request_env(peer: SocketAddr, headers: &HeaderMap, secure: bool) -> RequestEnv {
    RequestEnv {
        source_ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        secure_transport: secure,
    }
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    *response.status_mut() = status;
    response
}
