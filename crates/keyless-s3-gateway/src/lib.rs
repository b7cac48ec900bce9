//! The S3 gateway: S3 requests signed with keyless's credentials (role sessions and the admin
//! key), authorized by keyless's one permission decision, re-signed with the backend's key and
//! streamed to any S3-compatible store.
//!
//! Per request ([`Gateway::router`]): locate the bucket and key (`keyless_s3::address`),
//! verify S3's SigV4 (`keyless_s3::sigv4`, the secret found by `keyless_sts::auth::resolve`),
//! classify the operation into the IAM actions it needs, decide each with
//! `keyless_sts::permissions::decide` (through `authorization_message::authorize`, so a
//! refusal carries the encoded authorization failure message), then forward (`forward`):
//! bodies stream both ways with bounded memory, and a body whose hash, chunk signature or
//! checksum fails aborts the backend request before it completes. Every request is one audit
//! event and is counted in `/metrics`.

#![warn(missing_docs)]

mod body;
mod forward;
mod record;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use keyless_node::audit::Auditor;
use keyless_node::node::Node;
use keyless_policy::ContextValue;
use keyless_s3::S3Error;
use keyless_s3::address::{Addressing, Target};
use keyless_s3::operation::{self, AuthType, Need, Operation};
use keyless_s3::sigv4::{self, AuthForm, RequestHead, S3Auth};
use keyless_sts::auth::{self, Caller, CredentialProblem};
use keyless_sts::context::RequestEnv;
use keyless_sts::permissions::PermissionQuery;
use keyless_sts::{Error, Refused, authorization_message};

use crate::record::Record;

/// The backend's long-lived key, which the gateway signs every forwarded request with.
#[derive(Clone)]
pub struct BackendKey {
    /// The access key ID.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
}

impl fmt::Debug for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// What the gateway serves and where it forwards.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The region clients sign for.
    pub region: String,
    /// Serve virtual-hosted requests (`bucket.<suffix>`) too.
    pub virtual_host_suffix: Option<String>,
    /// The backend's base URL, `http://` or `https://` with a host and an optional port.
    pub backend_url: String,
    /// The region the backend's signatures are scoped to.
    pub backend_region: String,
    /// The backend's key.
    pub backend_key: BackendKey,
}

/// The gateway: the node it authorizes with, its audit log and its backend.
pub struct Gateway {
    node: Arc<Node>,
    auditor: Auditor,
    addressing: Addressing,
    region: String,
    backend: forward::Backend,
}

/// The router's state: the gateway and whether its listener is TLS.
#[derive(Clone)]
struct Served {
    gateway: Arc<Gateway>,
    secure: bool,
}

impl Gateway {
    /// A gateway for `node` that forwards as `settings` says; an unusable backend URL is an
    /// error.
    pub fn new(
        node: Arc<Node>,
        auditor: Auditor,
        settings: GatewaySettings,
    ) -> anyhow::Result<Gateway> {
        let backend = forward::Backend::new(
            &settings.backend_url,
            &settings.backend_region,
            settings.backend_key,
        )?;
        Ok(Gateway {
            node,
            auditor,
            addressing: Addressing::new(settings.virtual_host_suffix.as_deref()),
            region: settings.region,
            backend,
        })
    }

    /// Every request, on a listener that is TLS when `secure` (`aws:SecureTransport`).
    /// Requests need a `ConnectInfo<SocketAddr>` extension (the peer).
    pub fn router(self: Arc<Self>, secure: bool) -> axum::Router {
        axum::Router::new().fallback(handle).with_state(Served {
            gateway: self,
            secure,
        })
    }
}

/// A request that passed authentication and authorization.
struct Authorized {
    caller: Caller,
    auth: S3Auth,
    secret: String,
    target: Target,
    operation: Operation,
    /// For an operation whose authorization reads the body (`DeleteObjects`): the body,
    /// read whole (bounded) and verified, which is forwarded as it is.
    small_body: Option<Bytes>,
}

async fn handle(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let gateway = served.gateway.clone();
    let started = Instant::now();
    let request_id = record::request_id();
    let (parts, body) = request.into_parts();
    let env = RequestEnv {
        source_ip: Some(peer.ip().to_string()),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(1024).collect()),
        secure_transport: served.secure,
    };
    let mut record = Record::new(&request_id, &env, started);
    let head = parts.method == Method::HEAD;
    let resource = record::bounded_path(parts.uri.path());
    let authorized = gateway.authorize(&parts, &env, &mut record);
    match authorized {
        Err(error) => {
            let response = error_response(&error, head, &resource, &request_id);
            record.refused(&error);
            record.finish(
                &gateway.auditor,
                gateway.node.account(),
                response.status(),
                0,
            );
            response
        }
        Ok(mut authorized) => {
            let body = if authorized.operation.reads_body() {
                match gateway
                    .authorize_body(&parts, body, &mut authorized, &env)
                    .await
                {
                    Ok(()) => Body::empty(),
                    Err(error) => {
                        let response = error_response(&error, head, &resource, &request_id);
                        record.refused(&error);
                        record.finish(
                            &gateway.auditor,
                            gateway.node.account(),
                            response.status(),
                            0,
                        );
                        return response;
                    }
                }
            } else {
                body
            };
            gateway
                .forward(parts, body, authorized, &env, record, &resource)
                .await
        }
    }
}

impl Gateway {
    /// Locates, verifies and authorizes a request.
    fn authorize(
        &self,
        parts: &http::request::Parts,
        env: &RequestEnv,
        record: &mut Record,
    ) -> Result<Authorized, S3Error> {
        let now = self.node.now();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| S3Error::InvalidArgument {
                message: "A Host header is required.".to_owned(),
                name: "Host".to_owned(),
                value: String::new(),
            })?;
        let raw_path = parts.uri.path();
        let raw_query = parts.uri.query().unwrap_or("");
        let target = self.addressing.locate(host, raw_path)?;
        record.target(&target);
        let request_head = RequestHead {
            method: parts.method.as_str(),
            raw_path,
            raw_query,
            headers: &parts.headers,
        };
        let auth = sigv4::parse(&request_head, &self.region, now)?;
        record.access_key(&auth.access_key_id);
        let live = self.node.live.load();
        let state = &live.sts;
        let (caller, secret) = auth::resolve(
            state,
            &auth.access_key_id,
            auth.security_token.as_deref(),
            now,
        )
        .map_err(|problem| match problem {
            CredentialProblem::UnknownAccessKey => S3Error::InvalidAccessKeyId {
                access_key_id: auth.access_key_id.clone(),
            },
            CredentialProblem::InvalidToken => S3Error::InvalidToken,
            CredentialProblem::ExpiredToken => S3Error::ExpiredToken,
        })?;
        record.caller(&caller);
        let key = auth.signing_key(&secret, &state.signing_keys);
        sigv4::verify(&auth, &request_head, &key)?;

        let operation = operation::classify(&parts.method, &target, raw_query, &parts.headers)?;
        record.operation(operation.name());
        if operation.changes_backend_authorization() {
            return Err(S3Error::NotImplemented {
                message: format!(
                    "{} changes the backend's own authorization, which the gateway decides: it is not forwarded.",
                    operation.name()
                ),
            });
        }
        if !operation.reads_body() {
            let auth_context = auth_context(&auth, now);
            for need in operation.needs() {
                decide(state, &caller, need, &auth_context, env, now)?;
            }
        }
        Ok(Authorized {
            caller,
            auth,
            secret,
            target,
            operation,
            small_body: None,
        })
    }

    /// Reads the body an operation's authorization depends on (bounded), verifies it against
    /// the signature, and decides every need it adds.
    async fn authorize_body(
        &self,
        parts: &http::request::Parts,
        body: Body,
        authorized: &mut Authorized,
        env: &RequestEnv,
    ) -> Result<(), S3Error> {
        let limited = http_body_util::Limited::new(body, operation::MAX_DELETE_BODY);
        let raw = match limited.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(S3Error::MaxMessageLengthExceeded);
            }
            Err(_) => return Err(S3Error::IncompleteBody),
        };
        let bytes = body::verify_whole(&raw, authorized, &parts.headers)?;
        let needs = authorized.operation.needs_with_body(&bytes)?;
        let now = self.node.now();
        let live = self.node.live.load();
        let auth_context = auth_context(&authorized.auth, now);
        for need in &needs {
            decide(&live.sts, &authorized.caller, need, &auth_context, env, now)?;
        }
        authorized.small_body = Some(bytes);
        Ok(())
    }
}

/// The condition keys of the signature: `s3:signatureversion`, `s3:authType`,
/// `s3:signatureAge`.
fn auth_context(auth: &S3Auth, now: i64) -> Vec<(&'static str, ContextValue)> {
    let auth_type = match auth.form {
        AuthForm::Header => AuthType::Header,
        AuthForm::Query => AuthType::QueryString,
    };
    operation::auth_context(sigv4::ALGORITHM, auth_type, Some(auth.age_millis(now)))
}

/// Decides one needed action with the one permission decision; a refusal is S3's
/// `AccessDenied` with IAM's message, the resource quoted as S3 quotes it, and the encoded
/// authorization failure message.
fn decide(
    state: &keyless_sts::state::StsState,
    caller: &Caller,
    need: &Need,
    auth_context: &[(&'static str, ContextValue)],
    env: &RequestEnv,
    now: i64,
) -> Result<(), S3Error> {
    let mut context = need.context.clone();
    for (key, value) in auth_context {
        context.insert(key, value.clone());
    }
    let query = PermissionQuery {
        action: &need.action,
        resource: &need.resource,
        context,
        env,
        now,
        trace: false,
    };
    match authorization_message::authorize(state, caller, query) {
        Ok(()) => Ok(()),
        Err(Error::AccessDenied(mut denial)) => {
            if let Refused::Caller {
                caller,
                action,
                resource,
            } = denial.refused
            {
                denial.refused = Refused::S3Caller {
                    caller,
                    action,
                    resource,
                };
            }
            Err(S3Error::AccessDenied {
                message: denial.message().into_owned(),
            })
        }
        Err(other) => {
            tracing::warn!("S3 authorization failed: {other}");
            Err(S3Error::InternalError)
        }
    }
}

/// S3's error response: the XML body (none for `HEAD`), `x-amz-request-id` and `x-amz-id-2`.
fn error_response(error: &S3Error, head: bool, resource: &str, request_id: &str) -> Response {
    let host_id = record::host_id(request_id);
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if head {
        Body::empty()
    } else {
        Body::from(error.to_xml(resource, request_id, &host_id))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    ids(headers, request_id, &host_id);
    response
}

/// Sets `x-amz-request-id` and `x-amz-id-2`.
fn ids(headers: &mut HeaderMap, request_id: &str, host_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amz-request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(host_id) {
        headers.insert("x-amz-id-2", value);
    }
}
