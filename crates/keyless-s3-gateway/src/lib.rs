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

mod authorize;
mod body;
mod forward;
mod record;
mod respond;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::Method;
use keyless_node::audit::Auditor;
use keyless_node::node::Node;
use keyless_s3::address::Addressing;
use keyless_sts::context::RequestEnv;

pub use crate::forward::{BackendKey, Timeouts};

use crate::authorize::Authorizer;
use crate::forward::Forwarder;
use crate::record::Record;
use crate::respond::error_response;

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
    /// How long the gateway waits on the backend and on a body in transit.
    pub timeouts: Timeouts,
}

/// The gateway: the node it authorizes with, its audit log and its backend.
pub struct Gateway {
    authorizer: Authorizer,
    forwarder: Forwarder,
    node: Arc<Node>,
    auditor: Auditor,
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
            authorizer: Authorizer {
                node: node.clone(),
                addressing: Addressing::new(settings.virtual_host_suffix.as_deref()),
                region: settings.region,
                body_idle: settings.timeouts.body_idle,
            },
            forwarder: Forwarder {
                backend,
                node: node.clone(),
                auditor: auditor.clone(),
                timeouts: settings.timeouts,
            },
            node,
            auditor,
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
    let authorized = gateway.authorizer.authorize(&parts, &env, &mut record);
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
                    .authorizer
                    .authorize_body(&parts, body, &mut authorized, &env, &mut record)
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
            if let Some(deletes) = &authorized.deletes
                && deletes.allowed.is_empty()
            {
                // Every object refused: S3's result, without asking the backend.
                let xml = deletes.refused_result();
                let response = respond::xml_response(xml, &request_id);
                record.finish(
                    &gateway.auditor,
                    gateway.node.account(),
                    response.status(),
                    0,
                );
                return response;
            }
            gateway
                .forwarder
                .forward(parts, body, authorized, &env, record, &resource)
                .await
        }
    }
}
