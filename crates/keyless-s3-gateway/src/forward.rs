//! Forwarding an authorized request to the backend: the path in path-style and encoded once,
//! the presigned parameters left out of the query, the client's credentials and hop-by-hop
//! headers dropped, the body streamed through its checks ([`crate::body`]), everything signed
//! with the backend's key; the backend's status, headers and body relayed back with the
//! gateway's request IDs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use keyless_credentials::sigv4::{PATH_UNRESERVED, SigningKeyCache, amz_date};
use keyless_node::audit::Auditor;
use keyless_node::node::Node;
use keyless_s3::S3Error;
use keyless_s3::address::Target;
use keyless_s3::checksum::{self, ChecksumAlgorithm, DeclaredChecksum};
use keyless_s3::chunked::{self, ChunkEncoder, DECODED_LENGTH_HEADER};
use keyless_s3::delete::MAX_DELETE_RESULT;
use keyless_s3::sigv4::{self, CONTENT_SHA256, PRESIGN_PARAMETERS, Payload, UNSIGNED_PAYLOAD};
use keyless_sts::context::RequestEnv;
use percent_encoding::percent_encode;

use crate::authorize::{Authorized, auth_context, decide};
use crate::body::{Download, Failure, Transform, Upload};
use crate::record::{self, Record, Timeout};
use crate::respond::{error_response, ids};

/// The chunk size of a re-framed upload.
const FORWARD_CHUNK_SIZE: usize = 64 * 1024;
/// The most of a backend error body read to see its code.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long connecting to the backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// How long the gateway waits. None of these bounds a transfer that makes progress: a 1 GiB
/// upload or download takes as long as it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest the backend may take to answer once it has the whole request (or to take
    /// the next bytes of an upload): then the client gets `503 SlowDown`.
    pub backend_response: Duration,
    /// The longest a body in transit may go without a byte: a client's upload (`400
    /// RequestTimeout`, the backend request aborted) or the backend's download (the response
    /// cut short).
    pub body_idle: Duration,
}

impl Default for Timeouts {
    /// 60 seconds each.
    fn default() -> Timeouts {
        Timeouts {
            backend_response: Duration::from_secs(60),
            body_idle: Duration::from_secs(60),
        }
    }
}

/// Headers that describe one connection (RFC 9110 §7.6.1), the client's credentials, and what
/// the gateway sets itself: never forwarded.
const DROPPED: &[&str] = &[
    "host",
    "authorization",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
    "x-amz-security-token",
    "x-amz-date",
    "x-amz-content-sha256",
];

/// Backend error codes that mean the gateway's own request was wrong (its key, clock or
/// signature), never the client's: answered as `InternalError`.
const GATEWAY_FAULTS: &[&str] = &[
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "RequestTimeTooSkewed",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "MissingSecurityHeader",
];

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The backend: where it is, how to reach it, and the key it is signed with.
pub(crate) struct Backend {
    client: Client<Connector, Upload>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host: HeaderValue,
    region: String,
    key: BackendKey,
    signing_keys: SigningKeyCache,
}

impl Backend {
    pub(crate) fn new(url: &str, region: &str, key: BackendKey) -> anyhow::Result<Backend> {
        let uri: Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("the S3 backend URL {url:?} is not a URL: {e}"))?;
        let scheme = uri
            .scheme()
            .filter(|s| *s == &http::uri::Scheme::HTTP || *s == &http::uri::Scheme::HTTPS)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the S3 backend URL {url:?} must be http or https"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the S3 backend URL {url:?} has no host"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            anyhow::bail!("the S3 backend URL {url:?} must have no path or query");
        }
        let default_port = if scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        };
        let host = match authority.port_u16() {
            Some(port) if port == default_port => authority.host().to_owned(),
            _ => authority.as_str().to_owned(),
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_platform_verifier()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Backend {
            client,
            scheme,
            authority,
            host: HeaderValue::from_str(&host)?,
            region: region.to_owned(),
            key,
            signing_keys: SigningKeyCache::new(16),
        })
    }
}

/// The path of `target` in path-style, each byte outside the unreserved set encoded once.
fn backend_path(target: &Target) -> String {
    let encode = |s: &str| percent_encode(s.as_bytes(), PATH_UNRESERVED).to_string();
    match (&target.bucket, &target.key) {
        (Some(bucket), Some(key)) => format!("/{}/{}", encode(bucket), encode(key)),
        (Some(bucket), None) => format!("/{}", encode(bucket)),
        (None, _) => "/".to_owned(),
    }
}

/// How the body goes to the backend: the transform, its length, the payload hash to sign,
/// and the headers to leave out or set.
struct Plan {
    transform: Transform,
    length: u64,
    payload: String,
    drop: Vec<&'static str>,
    content_encoding: Option<String>,
    /// Headers set for the body the gateway forwards (its digests).
    set: Vec<(&'static str, String)>,
}

/// Chooses how the body is forwarded.
fn plan(parts: &http::request::Parts, authorized: &Authorized) -> Result<Plan, S3Error> {
    let headers = &parts.headers;
    let content_length = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Content-Length must be a number.",
                        "Content-Length",
                        &String::from_utf8_lossy(value.as_bytes()),
                    )
                })?,
        ),
    };
    let payload = &authorized.auth.payload;
    if let Some(bytes) = &authorized.small_body {
        // Read and verified already (or rewritten): forwarded decoded, with its own hash and
        // digests, `Content-MD5` always (S3 requires it of DeleteObjects) and the checksum of
        // the algorithm the client declared.
        let mut drop = vec![
            "content-encoding",
            DECODED_LENGTH_HEADER,
            "x-amz-trailer",
            "content-md5",
        ];
        drop.extend(ChecksumAlgorithm::ALL.map(ChecksumAlgorithm::header_name));
        let mut set = vec![("content-md5", checksum::content_md5(bytes))];
        if let Some(declared) = checksum::declared(headers)? {
            let algorithm = declared.algorithm();
            set.push((
                algorithm.header_name(),
                algorithm.checksum(bytes).to_base64(),
            ));
        }
        return Ok(Plan {
            transform: Transform::Raw { hash: None },
            length: bytes.len() as u64,
            payload: keyless_credentials::sigv4::hex(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref(),
            ),
            drop,
            content_encoding: None,
            set,
        });
    }
    if !payload.is_chunked() {
        let chunked_transfer = headers.contains_key(header::TRANSFER_ENCODING);
        let length = match content_length {
            Some(length) => length,
            None if chunked_transfer => return Err(S3Error::MissingContentLength),
            None => 0,
        };
        let (hash, forwarded) = match payload {
            Payload::Sha256(hex) => (Some(sigv4::PayloadHash::new(hex)), hex.clone()),
            _ => (None, UNSIGNED_PAYLOAD.to_owned()),
        };
        // An empty body has no byte to withhold: its hash is checked before anything is sent.
        let hash = match hash {
            Some(hash) if length == 0 => {
                hash.finish()?;
                None
            }
            hash => hash,
        };
        return Ok(Plan {
            transform: Transform::Raw { hash },
            length,
            payload: forwarded,
            drop: Vec::new(),
            content_encoding: None,
            set: Vec::new(),
        });
    }
    let decoder = crate::authorize::decoder(headers, authorized)?;
    let decoded = decoder.decoded_length();
    // The rest of Content-Encoding, without aws-chunked.
    let other_encodings: Vec<String> = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .map(str::to_owned)
        .collect();
    let trailer = match checksum::declared(headers)? {
        Some(DeclaredChecksum::Trailer(algorithm)) => Some(algorithm),
        _ => None,
    };
    let mut drop = vec!["content-encoding"];
    Ok(match trailer {
        Some(algorithm) => {
            let mut encodings = other_encodings;
            encodings.push("aws-chunked".to_owned());
            Plan {
                transform: Transform::Chunked {
                    decoder: Box::new(decoder),
                    encoder: Some(ChunkEncoder::new(FORWARD_CHUNK_SIZE)),
                },
                length: chunked::encoded_length(decoded, FORWARD_CHUNK_SIZE, Some(algorithm)),
                payload: chunked::STREAMING_UNSIGNED_TRAILER.to_owned(),
                drop,
                content_encoding: Some(encodings.join(",")),
                set: Vec::new(),
            }
        }
        None => {
            drop.extend([DECODED_LENGTH_HEADER, "x-amz-trailer"]);
            Plan {
                transform: Transform::Chunked {
                    decoder: Box::new(decoder),
                    encoder: None,
                },
                length: decoded,
                payload: UNSIGNED_PAYLOAD.to_owned(),
                drop,
                content_encoding: (!other_encodings.is_empty()).then(|| other_encodings.join(",")),
                set: Vec::new(),
            }
        }
    })
}

/// Sends authorized requests to the backend and their answers back, recording each.
pub(crate) struct Forwarder {
    pub(crate) backend: Backend,
    pub(crate) node: Arc<Node>,
    pub(crate) auditor: Auditor,
    pub(crate) timeouts: Timeouts,
}

impl Forwarder {
    /// Forwards an authorized request and relays the backend's answer.
    pub(crate) async fn forward(
        &self,
        parts: http::request::Parts,
        body: Body,
        authorized: Authorized,
        env: &RequestEnv,
        mut record: Record,
        resource: &str,
    ) -> Response {
        let request_id = record.request_id().to_owned();
        let head = parts.method == Method::HEAD;
        let mut plan = match plan(&parts, &authorized) {
            Ok(plan) => plan,
            Err(error) => return self.refuse(error, head, resource, record),
        };
        let failure = Failure::default();
        let body = match &authorized.small_body {
            Some(bytes) => Body::from(bytes.clone()),
            None => body,
        };
        let transform = std::mem::replace(&mut plan.transform, Transform::Raw { hash: None });
        let upload = Upload::new(
            body,
            transform,
            plan.length,
            failure.clone(),
            self.timeouts.body_idle,
        );
        let request = match self.backend_request(&parts, &authorized.target, &plan, upload) {
            Ok(request) => request,
            Err(error) => return self.refuse(error, head, resource, record),
        };
        let sent = within(
            self.backend.client.request(request),
            &failure,
            self.timeouts.backend_response,
        )
        .await;
        record.bytes_in(failure.bytes_in());
        if let Some(error) = failure.error() {
            return self.refuse(error, head, resource, record);
        }
        let response = match sent {
            Some(Ok(response)) => response,
            Some(Err(e)) => {
                tracing::warn!(request_id = %request_id, "the S3 backend did not answer: {e}");
                return self.refuse(S3Error::ServiceUnavailable, head, resource, record);
            }
            None => {
                // Dropping the request closed its connection: the backend sees it abandoned.
                tracing::warn!(
                    request_id = %request_id,
                    timeout_secs = self.timeouts.backend_response.as_secs_f64(),
                    "the S3 backend did not answer in time"
                );
                record.timed_out(Timeout::BackendResponse);
                return self.refuse(S3Error::SlowDown, head, resource, record);
            }
        };
        let (mut backend_parts, backend_body) = response.into_parts();
        let mut backend_body = Some(backend_body);
        let status = backend_parts.status;

        if status == StatusCode::NOT_FOUND
            && let Some(list) = authorized.operation.missing_key_need()
        {
            // A missing key is told only to who may list the bucket, as S3 does.
            let live = self.node.live.load();
            let now = self.node.now();
            if let Err(error) = decide(
                &live.sts,
                &authorized.caller,
                list,
                &auth_context(&authorized.auth, now),
                env,
                now,
            ) {
                return self.refuse(error, head, resource, record);
            }
        }

        let mut relay_body = None;
        if status.is_client_error() || status.is_server_error() {
            let bytes = match backend_body.take() {
                Some(error_body) => {
                    match http_body_util::Limited::new(error_body, MAX_ERROR_BODY)
                        .collect()
                        .await
                    {
                        Ok(collected) => collected.to_bytes(),
                        Err(_) => Bytes::new(),
                    }
                }
                None => Bytes::new(),
            };
            let code = error_code(&bytes);
            let gateway_fault = match code.as_deref() {
                Some(code) => GATEWAY_FAULTS.contains(&code),
                None => status == StatusCode::FORBIDDEN,
            };
            if gateway_fault {
                tracing::error!(
                    request_id = %request_id,
                    backend_status = status.as_u16(),
                    backend_code = code.as_deref().unwrap_or("-"),
                    "the S3 backend refused the gateway's own request: check the backend key, its permissions and the clocks"
                );
                return self.refuse(S3Error::InternalError, head, resource, record);
            }
            relay_body = Some(bytes);
        } else if let Some(deletes) = &authorized.deletes
            && !deletes.refused.is_empty()
            && let Some(result_body) = backend_body.take()
        {
            // The refused objects join the backend's result for the allowed ones.
            let merged = match http_body_util::Limited::new(result_body, MAX_DELETE_RESULT)
                .collect()
                .await
            {
                Ok(collected) => deletes.merge(&collected.to_bytes()),
                Err(_) => Err(S3Error::InternalError),
            };
            match merged {
                Ok(merged) => {
                    backend_parts.headers.remove(header::CONTENT_LENGTH);
                    backend_parts.headers.remove("content-md5");
                    relay_body = Some(Bytes::from(merged));
                }
                Err(error) => {
                    tracing::error!(
                        request_id = %request_id,
                        "the S3 backend's DeleteResult could not be read"
                    );
                    return self.refuse(error, head, resource, record);
                }
            }
        }

        let mut headers = HeaderMap::with_capacity(backend_parts.headers.len() + 2);
        for (name, value) in backend_parts
            .headers
            .drain()
            .filter_map(|(n, v)| Some((n?, v)))
        {
            if !is_hop_by_hop(&name)
                && name != "x-amz-request-id"
                && name != "x-amz-id-2"
                && name != header::SERVER
            {
                headers.append(name, value);
            }
        }
        ids(&mut headers, &request_id, &record::host_id(&request_id));
        let auditor = self.auditor.clone();
        let account = self.node.account().to_owned();
        let body = match backend_body {
            Some(backend_body) => Body::new(Download::new(
                backend_body,
                self.timeouts.body_idle,
                Box::new(move |bytes_out, stalled| {
                    if stalled {
                        record.timed_out(Timeout::BackendBody);
                    }
                    record.finish(&auditor, &account, status, bytes_out);
                }),
            )),
            None => {
                let bytes = relay_body.unwrap_or_default();
                let length = bytes.len() as u64;
                record.finish(&auditor, &account, status, length);
                Body::from(bytes)
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }

    fn refuse(&self, error: S3Error, head: bool, resource: &str, mut record: Record) -> Response {
        let response = error_response(&error, head, resource, record.request_id());
        record.refused(&error);
        record.finish(&self.auditor, self.node.account(), response.status(), 0);
        response
    }

    /// The request to the backend, signed.
    fn backend_request(
        &self,
        parts: &http::request::Parts,
        target: &Target,
        plan: &Plan,
        upload: Upload,
    ) -> Result<http::Request<Upload>, S3Error> {
        let backend = &self.backend;
        let path = backend_path(target);
        let query = sigv4::canonical_query(parts.uri.query().unwrap_or(""), |name| {
            PRESIGN_PARAMETERS.contains(&name)
        });
        let path_and_query = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let uri = Uri::builder()
            .scheme(backend.scheme.clone())
            .authority(backend.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| S3Error::InternalError)?;

        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 4);
        for (name, value) in &parts.headers {
            let name_str = name.as_str();
            if DROPPED.contains(&name_str) || plan.drop.contains(&name_str) {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        for (name, value) in &plan.set {
            headers.insert(
                *name,
                HeaderValue::from_str(value).map_err(|_| S3Error::InternalError)?,
            );
        }
        if let Some(encoding) = &plan.content_encoding {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_str(encoding).map_err(|_| S3Error::InternalError)?,
            );
        }
        headers.insert(header::HOST, backend.host.clone());
        let now = self.node.now();
        let date = amz_date(now);
        headers.insert(
            "x-amz-date",
            HeaderValue::from_str(&date).map_err(|_| S3Error::InternalError)?,
        );
        headers.insert(
            CONTENT_SHA256,
            HeaderValue::from_str(&plan.payload).map_err(|_| S3Error::InternalError)?,
        );
        let has_body = plan.length > 0 || matches!(parts.method, Method::PUT | Method::POST);
        if has_body {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(plan.length));
        }
        let scope = format!("{}/{}/s3/aws4_request", &date[..8], backend.region);
        let key = backend.signing_keys.key(
            &backend.key.secret_access_key,
            &date[..8],
            &backend.region,
            sigv4::SERVICE,
        );
        let authorization = sigv4::sign(
            parts.method.as_str(),
            &path,
            &query,
            &headers,
            &backend.key.access_key_id,
            &key,
            &scope,
        )
        .ok_or(S3Error::InternalError)?;
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&authorization).map_err(|_| S3Error::InternalError)?,
        );
        let mut request = http::Request::new(upload);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

/// Awaits the backend's response head while the backend keeps the request moving: `None` once
/// it has kept it waiting for `timeout` (after the request was sent, or between the upload's
/// bytes), which drops the request and with it the backend connection.
async fn within<F: std::future::Future>(
    response: F,
    progress: &Failure,
    timeout: Duration,
) -> Option<F::Output> {
    tokio::pin!(response);
    loop {
        let deadline = progress.stalled(timeout)?;
        tokio::select! {
            output = &mut response => return Some(output),
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// The `<Code>` of an S3 error body.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim().chars().take(64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_paths_are_path_style_and_encoded_once() {
        let target = Target {
            bucket: Some("bkt".into()),
            key: Some("a b/c+d!/../e".into()),
            virtual_hosted: true,
        };
        assert_eq!(backend_path(&target), "/bkt/a%20b/c%2Bd%21/../e");
        let bucket = Target {
            bucket: Some("bkt".into()),
            key: None,
            virtual_hosted: false,
        };
        assert_eq!(backend_path(&bucket), "/bkt");
    }

    #[test]
    fn error_codes_are_read_from_backend_bodies() {
        assert_eq!(
            error_code(b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>").as_deref(),
            Some("NoSuchKey")
        );
        assert_eq!(error_code(b"nothing"), None);
    }
}
