//! The gateway driven in process: a real `--dev` node on SQLite, requests signed with its
//! admin key, and a backend on a loopback socket that records what it receives, so what the
//! gateway forwards (path, headers, signature, body, aborts) is checked byte by byte.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use keyless_credentials::sigv4::{SigningKeyCache, amz_date, hex};
use keyless_node::audit::Auditor;
use keyless_node::config::{AuditConfig, Config};
use keyless_node::data::DataOptions;
use keyless_node::start::{self, NodeOptions};
use keyless_s3::checksum::ChecksumAlgorithm;
use keyless_s3::sigv4::{self, RequestHead};
use keyless_s3_gateway::{BackendKey, Gateway, GatewaySettings, Timeouts};
use tower::ServiceExt as _;

const BACKEND_KEY: &str = "BACKENDKEY0000000000";
const BACKEND_SECRET: &str = "backend-secret";

/// One request as the backend saw it; `body` is `None` when the connection was cut before the
/// body was complete.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Option<Bytes>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A backend that records every request and answers by path: `/fault` as a backend that
/// refuses the gateway's signature, `/missing` as a missing key, anything else 200.
async fn backend() -> (SocketAddr, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let served = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = served.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.ok().map(|c| c.to_bytes());
                            let path = parts.uri.path().to_owned();
                            log.lock().unwrap().push(Received {
                                method: parts.method,
                                uri: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            });
                            let (status, text) = match path.as_str() {
                                "/bkt/fault" => {
                                    (403, "<Error><Code>SignatureDoesNotMatch</Code></Error>")
                                }
                                "/bkt/missing" => (404, "<Error><Code>NoSuchKey</Code></Error>"),
                                _ => (200, "stored"),
                            };
                            let mut response =
                                hyper::Response::new(http_body_util::Full::new(Bytes::from(text)));
                            *response.status_mut() = StatusCode::from_u16(status).unwrap();
                            response.headers_mut().insert(
                                "x-amz-request-id",
                                HeaderValue::from_static("BACKENDREQUEST"),
                            );
                            response.headers_mut().insert(
                                "x-amz-checksum-crc32",
                                HeaderValue::from_static("rwg7LQ=="),
                            );
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, log)
}

struct Fixture {
    router: axum::Router,
    log: Log,
    admin: (String, String),
    dir: tempfile::TempDir,
}

async fn fixture(backend_url: Option<String>) -> Fixture {
    fixture_with(backend_url, Timeouts::default()).await
}

async fn fixture_with(backend_url: Option<String>, timeouts: Timeouts) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (address, log) = backend().await;
    let backend_url = backend_url.unwrap_or_else(|| format!("http://{address}"));
    let mut config = Config::default();
    config.s3_gateway.backend_url = Some(backend_url.clone());
    let started = start::start(NodeOptions {
        data: DataOptions {
            data_dir: dir.path().join("data"),
            database: None,
        },
        config,
        config_file: None,
        dev: true,
        public_url: "http://keyless.test".to_owned(),
        clock_offset_secs: 0,
    })
    .await
    .unwrap();
    let admin = started.admin_created.clone().unwrap();
    let node = Arc::new(started.node);
    let auditor = Auditor::start(
        &AuditConfig::default(),
        &started.data.data_dir,
        node.store.clone(),
        node.account(),
    )
    .unwrap();
    let gateway = Gateway::new(
        node,
        auditor,
        GatewaySettings {
            region: "us-east-1".to_owned(),
            virtual_host_suffix: None,
            backend_url,
            backend_region: "us-east-1".to_owned(),
            backend_key: BackendKey {
                access_key_id: BACKEND_KEY.to_owned(),
                secret_access_key: BACKEND_SECRET.to_owned(),
            },
            timeouts,
        },
    )
    .unwrap();
    Fixture {
        router: Arc::new(gateway).router(false),
        log,
        admin: (admin.access_key_id, admin.secret_access_key),
        dir,
    }
}

impl Fixture {
    /// Sends `path?query` signed with the admin key over `signed` headers (plus `host`,
    /// `x-amz-date`, `x-amz-content-sha256`), then adds the `unsigned` ones.
    #[allow(clippy::too_many_arguments)] // each part of the request, as a client sends it
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        payload: &str,
        body: Body,
    ) -> (StatusCode, HeaderMap, String) {
        let response = self
            .respond(method, path, query, signed, unsigned, payload, body)
            .await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// As [`Fixture::send`], the response as it comes.
    #[allow(clippy::too_many_arguments)] // each part of the request, as a client sends it
    async fn respond(
        &self,
        method: Method,
        path: &str,
        query: &str,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        payload: &str,
        body: Body,
    ) -> axum::response::Response {
        let now = time_now();
        let date = amz_date(now);
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("gateway.test"));
        headers.insert("x-amz-date", HeaderValue::from_str(&date).unwrap());
        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_str(payload).unwrap(),
        );
        for (name, value) in signed {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let cache = SigningKeyCache::default();
        let key = cache.key(&self.admin.1, &date[..8], "us-east-1", "s3");
        let scope = format!("{}/us-east-1/s3/aws4_request", &date[..8]);
        let authorization = sigv4::sign(
            method.as_str(),
            path,
            query,
            &headers,
            &self.admin.0,
            &key,
            &scope,
        )
        .unwrap();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&authorization).unwrap(),
        );
        for (name, value) in unsigned {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let uri = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let mut request = Request::builder().method(method).uri(uri);
        *request.headers_mut().unwrap() = headers;
        let mut request = request.body(body).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// The audit events written so far whose `eventName` is `name`.
    async fn events(&self, name: &str) -> Vec<serde_json::Value> {
        // The audit writer gathers events for 20 ms before it writes them.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let text =
            std::fs::read_to_string(self.dir.path().join("data/audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|event| event["eventName"] == name)
            .collect()
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sha256(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Checks a forwarded request's signature as an S3 backend would, with the backend's secret.
fn assert_signed_by_backend(received: &Received) {
    let uri: http::Uri = received.uri.parse().unwrap();
    let head = RequestHead {
        method: received.method.as_str(),
        raw_path: uri.path(),
        raw_query: uri.query().unwrap_or(""),
        headers: &received.headers,
    };
    let auth = sigv4::parse(&head, "us-east-1", time_now()).unwrap();
    assert_eq!(auth.access_key_id, BACKEND_KEY);
    assert_eq!(auth.security_token, None);
    let key = auth.signing_key(BACKEND_SECRET, &SigningKeyCache::default());
    sigv4::verify(&auth, &head, &key).unwrap();
}

#[tokio::test]
async fn a_put_is_re_signed_with_the_backend_key_and_stripped_of_the_clients_credentials() {
    let f = fixture(None).await;
    let body = b"hello world\n".to_vec();
    let (status, headers, text) = f
        .send(
            Method::PUT,
            "/bkt/a%20b!c",
            "",
            &[("x-amz-meta-team", "web"), ("content-length", "12")],
            &[("expect", "100-continue"), ("connection", "keep-alive")],
            &sha256(&body),
            Body::from(body.clone()),
        )
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "stored"));
    let request_id = headers["x-amz-request-id"].to_str().unwrap();
    assert_eq!(
        request_id.len(),
        16,
        "the gateway's request ID, not the backend's"
    );
    assert_eq!(headers["x-amz-checksum-crc32"], "rwg7LQ==");
    let received = f.received();
    let [put] = received.as_slice() else {
        panic!("{received:?}")
    };
    assert_eq!(put.uri.split('?').next().unwrap(), "/bkt/a%20b%21c");
    assert_eq!(put.body.as_deref(), Some(&body[..]));
    assert_eq!(put.headers["x-amz-meta-team"], "web");
    assert_eq!(put.headers["x-amz-content-sha256"], sha256(&body).as_str());
    assert_eq!(put.headers["content-length"], "12");
    for gone in ["expect", "x-amz-security-token"] {
        assert!(!put.headers.contains_key(gone), "{gone} was forwarded");
    }
    assert!(
        !put.headers["authorization"]
            .to_str()
            .unwrap()
            .contains(&f.admin.0)
    );
    assert_signed_by_backend(put);
}

#[tokio::test]
async fn a_body_that_does_not_match_its_hash_aborts_the_backend_request() {
    let f = fixture(None).await;
    let body = vec![b'x'; 200_000];
    let (status, _, text) = f
        .send(
            Method::PUT,
            "/bkt/k",
            "",
            &[("content-length", "200000")],
            &[],
            &sha256(b"something else"),
            Body::from(body),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("<Code>XAmzContentSHA256Mismatch</Code>"),
        "{text}"
    );
    // The backend saw the request cut short, or nothing at all; never a complete body.
    for received in f.received() {
        assert_eq!(received.body, None, "the backend received a whole body");
    }
}

#[tokio::test]
async fn an_unsigned_trailer_upload_is_re_framed_with_the_clients_checksum() {
    let f = fixture(None).await;
    let data = b"hello world\n";
    let checksum = ChecksumAlgorithm::Crc32.checksum(data).to_base64();
    let framed = format!("c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n");
    let (status, _, text) = f
        .send(
            Method::PUT,
            "/bkt/chunked",
            "",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "12"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
                ("content-length", &framed.len().to_string()),
            ],
            &[],
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            Body::from(framed.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let received = f.received();
    let put = &received[0];
    assert_eq!(
        put.headers["x-amz-content-sha256"],
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    );
    assert_eq!(put.headers["content-encoding"], "aws-chunked");
    assert_eq!(put.headers["x-amz-decoded-content-length"], "12");
    let forwarded = put.body.clone().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&forwarded),
        format!("c\r\nhello world\n\r\n0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n")
    );
    assert_eq!(
        put.headers["content-length"],
        forwarded.len().to_string().as_str()
    );
    assert_signed_by_backend(put);

    // The same upload with a checksum the body does not have: refused, nothing stored.
    let bad = framed.replace(&checksum, "AAAAAA==");
    let (status, _, text) = f
        .send(
            Method::PUT,
            "/bkt/chunked-bad",
            "",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "12"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("content-length", &bad.len().to_string()),
            ],
            &[],
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            Body::from(bad),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("<Code>BadDigest</Code>"), "{text}");
    for received in f.received().iter().skip(1) {
        assert_eq!(received.body, None);
    }
}

#[tokio::test]
async fn backend_failures_are_the_gateways_errors() {
    let f = fixture(None).await;
    let empty = sha256(b"");
    let (status, _, text) = f
        .send(
            Method::GET,
            "/bkt/fault",
            "",
            &[],
            &[],
            &empty,
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("<Code>InternalError</Code>"), "{text}");
    assert!(!text.contains("SignatureDoesNotMatch"));

    // The admin may list every bucket, so a missing key is the backend's 404.
    let (status, headers, text) = f
        .send(
            Method::GET,
            "/bkt/missing",
            "",
            &[],
            &[],
            &empty,
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("NoSuchKey"));
    assert_ne!(headers["x-amz-request-id"], "BACKENDREQUEST");

    let (status, _, text) = f
        .send(
            Method::GET,
            "/bkt/k",
            "tagging&versionId=1&x-unknown=1",
            &[],
            &[],
            &empty,
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{text}");
    assert!(
        text.contains("x-unknown"),
        "the error names what is not implemented: {text}"
    );
    assert_eq!(
        f.received().len(),
        2,
        "an unmappable request is never forwarded"
    );

    let (status, _, text) = f
        .send(
            Method::HEAD,
            "/bkt/fault",
            "",
            &[],
            &[],
            &empty,
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text, "", "no body on HEAD");
}

#[tokio::test]
async fn an_unreachable_backend_is_service_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let f = fixture(Some(format!("http://{address}"))).await;
    let (status, _, text) = f
        .send(
            Method::GET,
            "/bkt/k",
            "",
            &[],
            &[],
            &sha256(b""),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("<Code>ServiceUnavailable</Code>"));
}

#[tokio::test]
async fn bad_backend_urls_are_refused_at_start() {
    for url in ["ftp://x", "http://", "http://h/path", "not a url"] {
        let key = BackendKey {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let started = start::start(NodeOptions {
            data: DataOptions {
                data_dir: dir.path().join("data"),
                database: None,
            },
            config: Config::default(),
            config_file: None,
            dev: true,
            public_url: "http://keyless.test".to_owned(),
            clock_offset_secs: 0,
        })
        .await
        .unwrap();
        let node = Arc::new(started.node);
        let auditor = Auditor::start(
            &AuditConfig::default(),
            &started.data.data_dir,
            node.store.clone(),
            node.account(),
        )
        .unwrap();
        let settings = GatewaySettings {
            region: "us-east-1".into(),
            virtual_host_suffix: None,
            backend_url: url.into(),
            backend_region: "us-east-1".into(),
            backend_key: key,
            timeouts: Timeouts::default(),
        };
        assert!(Gateway::new(node, auditor, settings).is_err(), "{url}");
    }
}

/// Short waits, so that tests of what happens when they run out take a second.
const SHORT: Timeouts = Timeouts {
    backend_response: std::time::Duration::from_millis(400),
    body_idle: std::time::Duration::from_millis(400),
};

/// A backend that accepts connections, reads what it is sent and never answers; the count of
/// connections it saw closed by the gateway.
async fn silent_backend() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncReadExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = closed.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    (address, closed)
}

#[tokio::test]
async fn a_backend_that_never_answers_is_slow_down_in_s3s_format() {
    let (address, closed) = silent_backend().await;
    let f = fixture_with(Some(format!("http://{address}")), SHORT).await;
    let started = std::time::Instant::now();
    let (status, headers, text) = f
        .send(
            Method::GET,
            "/bkt/k",
            "",
            &[],
            &[],
            &sha256(b""),
            Body::empty(),
        )
        .await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
    assert!(
        text.contains("<Message>Please reduce your request rate.</Message>"),
        "{text}"
    );
    assert_eq!(headers["content-type"], "application/xml");
    assert!(
        waited >= SHORT.backend_response && waited < std::time::Duration::from_secs(5),
        "{waited:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        closed.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the abandoned backend connection is closed"
    );
    let events = f.events("GetObject").await;
    let [event] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(event["errorCode"], "SlowDown");
    assert_eq!(event["additionalEventData"]["timeout"], "backendResponse");
    assert_eq!(event["additionalEventData"]["httpStatus"], 503);

    // A HEAD gets the status alone.
    let (status, _, text) = f
        .send(
            Method::HEAD,
            "/bkt/k",
            "",
            &[],
            &[],
            &sha256(b""),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "")
    );
}

/// A body of `bytes` that keeps its reader waiting `delay` before them and again before its
/// end.
struct Late {
    delay: std::pin::Pin<Box<tokio::time::Sleep>>,
    bytes: Option<Bytes>,
}

impl http_body::Body for Late {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use std::future::Future as _;
        if self.delay.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        let bytes = self.bytes.take();
        if bytes.is_some() {
            let again = tokio::time::Instant::now() + std::time::Duration::from_millis(100);
            self.delay.as_mut().reset(again);
        }
        std::task::Poll::Ready(bytes.map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test]
async fn a_backend_that_never_answers_an_upload_that_waited_for_its_client_is_slow_down() {
    let (address, _) = silent_backend().await;
    let f = fixture_with(Some(format!("http://{address}")), SHORT).await;
    let body = Late {
        delay: Box::pin(tokio::time::sleep(std::time::Duration::from_millis(100))),
        bytes: Some(Bytes::from_static(b"late")),
    };
    let started = std::time::Instant::now();
    let (status, _, text) = f
        .send(
            Method::PUT,
            "/bkt/late",
            "",
            &[("content-length", "4")],
            &[],
            &sha256(b"late"),
            Body::new(body),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_backend_that_stalls_mid_body_cuts_the_download_short() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nfirst bytes")
                    .await;
                // Then nothing, with the connection open.
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            });
        }
    });
    let f = fixture_with(Some(format!("http://{address}")), SHORT).await;
    let started = std::time::Instant::now();
    let response = f
        .respond(
            Method::GET,
            "/bkt/big",
            "",
            &[],
            &[],
            &sha256(b""),
            Body::empty(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "the head had come");
    let mut body = response.into_body();
    let mut received = Vec::new();
    let error = loop {
        match body.frame().await {
            Some(Ok(frame)) => received.extend_from_slice(&frame.into_data().unwrap()),
            Some(Err(error)) => break error,
            None => panic!("the body ended as if complete"),
        }
    };
    assert_eq!(received, b"first bytes");
    assert!(error.to_string().contains("stopped sending"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(body);
    let events = f.events("GetObject").await;
    let [event] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(event["additionalEventData"]["timeout"], "backendBody");
    assert_eq!(event["additionalEventData"]["bytesTransferredOut"], 11);
}

#[tokio::test]
async fn a_client_that_stalls_mid_upload_is_request_timeout_and_nothing_is_stored() {
    let f = fixture_with(None, SHORT).await;
    let body = b"0123456789".repeat(10);
    let first = Bytes::copy_from_slice(&body[..40]);
    let started = std::time::Instant::now();
    let (status, _, text) = f
        .send(
            Method::PUT,
            "/bkt/stalled",
            "",
            &[("content-length", "100")],
            &[],
            &sha256(&body),
            Body::new(Stalling(Some(first))),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for received in f.received() {
        assert_eq!(received.body, None, "the backend received a whole body");
    }
}

/// A body that yields `first` and then nothing, ever.
struct Stalling(Option<Bytes>);

impl http_body::Body for Stalling {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        match self.0.take() {
            Some(bytes) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes)))),
            None => std::task::Poll::Pending,
        }
    }
}

#[tokio::test]
async fn a_delete_objects_body_goes_on_with_its_digests_computed_again() {
    let f = fixture(None).await;
    let body = "<Delete><Object><Key>a b</Key></Object><Object><Key>c</Key><VersionId>v</VersionId></Object></Delete>";
    let crc = ChecksumAlgorithm::Crc32
        .checksum(body.as_bytes())
        .to_base64();
    let (status, _, text) = f
        .send(
            Method::POST,
            "/bkt",
            "delete",
            &[
                ("content-length", &body.len().to_string()),
                ("x-amz-checksum-crc32", &crc),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ],
            &[],
            &sha256(body.as_bytes()),
            Body::from(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let received = f.received();
    let [delete] = received.as_slice() else {
        panic!("{received:?}")
    };
    assert_eq!(delete.uri, "/bkt?delete=");
    assert_eq!(
        delete.body.as_deref(),
        Some(body.as_bytes()),
        "nothing refused: the body as sent"
    );
    assert_eq!(
        delete.headers["content-md5"],
        keyless_s3::checksum::content_md5(body.as_bytes()).as_str()
    );
    assert_eq!(delete.headers["x-amz-checksum-crc32"], crc.as_str());
    assert_signed_by_backend(delete);

    // A checksum the body does not have is refused before anything is decided or sent.
    let (status, _, text) = f
        .send(
            Method::POST,
            "/bkt",
            "delete",
            &[
                ("content-length", &body.len().to_string()),
                ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
            ],
            &[],
            &sha256(body.as_bytes()),
            Body::from(body),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("<Code>BadDigest</Code>"), "{text}");
    assert_eq!(f.received().len(), 1);
    let events = f.events("DeleteObjects").await;
    assert_eq!(events[0]["additionalEventData"]["objectsAllowed"], 2);
    assert_eq!(events[0]["additionalEventData"]["objectsRefused"], 0);
}
