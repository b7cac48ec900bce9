//! The authorization API driven in process, without a socket: a real `--dev` node with roles
//! for a calling service and its callers, real ID tokens from its built-in issuer, real
//! sessions, real SigV4 signatures for both the service and the caller it forwards, and the
//! audit events the calls leave.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use keyless_credentials::sigv4::{self, RequestParts};
use keyless_node::audit::Auditor;
use keyless_node::config::{AuditConfig, Config};
use keyless_node::data::DataOptions;
use keyless_node::issuers::MintJob;
use keyless_node::start::{self, NodeOptions};
use keyless_node::{Node, dev};
use keyless_oidc::issuer::RefType;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const TOKEN: &str = "nginx-token-0123456789";
const API: &str = "arn:aws:execute-api:us-east-1:000000000000:api";
const CALLER_SUB: &str = "project_path:example/project:ref_type:branch:ref:main";

fn config(token: Option<&str>) -> Config {
    let trust = |project: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::000000000000:oidc-provider/gitlab.com"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringLike":{{"gitlab.com:sub":"project_path:{project}:*"}}}}}}]}}"#
        )
    };
    let invoke = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Public","Effect":"Allow","Action":"execute-api:Invoke","Resource":"{API}/GET/public/*"}},{{"Sid":"Own","Effect":"Allow","Action":"execute-api:Invoke","Resource":"{API}/*/projects/${{gitlab.com:sub}}"}},{{"Sid":"Office","Effect":"Allow","Action":"execute-api:Invoke","Resource":"{API}/GET/office/*","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.1/32"}},"Bool":{{"aws:SecureTransport":"true"}}}}}}]}}"#
    );
    let authorize = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"keyless:Authorize","Resource":"*"}]}"#;
    let mut text = String::new();
    if let Some(token) = token {
        text.push_str(&format!("[authorize]\nnginx_token = \"{token}\"\n\n"));
    }
    text.push_str(&format!(
        "[[role]]\nname = \"api-caller\"\ntrust_policy = '{}'\n[[role.policy]]\nname = \"invoke\"\ndocument = '{invoke}'\n\n",
        trust("example/project")
    ));
    text.push_str(&format!(
        "[[role]]\nname = \"gateway\"\ntrust_policy = '{}'\n[[role.policy]]\nname = \"authorize\"\ndocument = '{authorize}'\n",
        trust("example/gateway")
    ));
    Config::parse(&text, "test.toml").expect("the test config")
}

struct Server {
    router: Router,
    node: Arc<Node>,
    auditor: Auditor,
    admin: Credentials,
    dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Asserts a JSON error: status, code, and the message's start.
    fn assert_error(&self, status: u16, code: &str, message: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let body = self.json();
        assert_eq!(body["Error"]["Code"], code, "{}", self.body);
        let text = body["Error"]["Message"].as_str().expect("a message");
        assert!(text.starts_with(message), "{text}");
        assert!(body["RequestId"].is_string());
    }
}

async fn server(token: Option<&str>) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start::start(NodeOptions {
        data: DataOptions {
            data_dir: dir.path().join("data"),
            database: None,
        },
        config: config(token),
        config_file: None,
        dev: true,
        public_url: "http://keyless.test".to_owned(),
        clock_offset_secs: 0,
    })
    .await
    .expect("the node starts");
    let admin = started.admin_created.clone().expect("the admin key");
    let node = Arc::new(started.node);
    let auditor = Auditor::start(
        &AuditConfig::default(),
        &started.data.data_dir,
        node.store.clone(),
        node.account(),
    )
    .expect("the audit log opens");
    Server {
        router: keyless_server::router(node.clone(), auditor.clone()),
        node,
        auditor,
        admin: Credentials {
            access_key_id: admin.access_key_id,
            secret_access_key: admin.secret_access_key,
            session_token: None,
        },
        dir,
    }
}

/// Signs `method path?query` for `service` with every header of `headers` (which must hold
/// `host`), dated `at`, and adds `x-amz-date`, the session token and `authorization`.
fn sign(
    creds: &Credentials,
    service: &str,
    (method, path, query): (&str, &str, &str),
    headers: &mut HeaderMap,
    body: &[u8],
    at: i64,
) {
    headers.insert(
        "x-amz-date",
        HeaderValue::from_str(&sigv4::amz_date(at)).unwrap(),
    );
    if let Some(token) = &creds.session_token {
        headers.insert(
            "x-amz-security-token",
            HeaderValue::from_str(token).unwrap(),
        );
    }
    let authorization = sigv4::sign(
        &RequestParts {
            method,
            path,
            query,
            headers,
            body,
        },
        &creds.access_key_id,
        &creds.secret_access_key,
        "us-east-1",
        service,
    )
    .expect("sign");
    headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization).unwrap(),
    );
}

/// A caller's signed `GET https://api.test<target>` for `execute-api`, as headers (JSON form).
fn caller_headers(creds: &Credentials, method: &str, target: &str, at: i64) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("api.test"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    sign(
        creds,
        "execute-api",
        (method, path, query),
        &mut headers,
        b"",
        at,
    );
    let mut map = serde_json::Map::new();
    for (name, value) in &headers {
        map.insert(name.to_string(), value.to_str().unwrap().into());
    }
    Value::Object(map)
}

impl Server {
    async fn send(&self, method: Method, uri: &str, headers: HeaderMap, body: Vec<u8>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let mut request = request.body(Body::from(body)).expect("a request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body");
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("UTF-8"),
        }
    }

    /// `POST /keyless/authorize` signed by `service` (unsigned when `None`).
    async fn authorize(&self, service: Option<&Credentials>, body: &[u8]) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("keyless.test"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(service) = service {
            sign(
                service,
                "keyless",
                ("POST", "/keyless/authorize", ""),
                &mut headers,
                body,
                self.node.now(),
            );
        }
        self.send(Method::POST, "/keyless/authorize", headers, body.to_vec())
            .await
    }

    /// Credentials of a session of `role` for `project` (the built-in issuer's token).
    async fn session(&self, role: &str, project: &str) -> Credentials {
        let token = self.node.live.load().issuers[dev::ISSUER_NAME]
            .mint(
                &MintJob {
                    project_path: project.to_owned(),
                    git_ref: "main".to_owned(),
                    ref_type: RefType::Branch,
                    audiences: vec![dev::CLIENT_ID.to_owned()],
                    ttl_secs: None,
                    environment: None,
                    sub_components: None,
                    claims: Vec::new(),
                },
                self.node.now(),
            )
            .expect("mint");
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &format!("arn:aws:iam::000000000000:role/{role}"))
            .append_pair("RoleSessionName", "job")
            .append_pair("WebIdentityToken", &token)
            .finish();
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let answer = self
            .send(Method::POST, "/", headers, form.into_bytes())
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let element = |tag: &str| {
            let open = format!("<{tag}>");
            let start = answer.body.find(&open).expect(tag) + open.len();
            let end = answer.body[start..].find('<').unwrap() + start;
            answer.body[start..end].to_owned()
        };
        Credentials {
            access_key_id: element("AccessKeyId"),
            secret_access_key: element("SecretAccessKey"),
            session_token: Some(element("SessionToken")),
        }
    }

    /// An nginx subrequest for the caller's `method target`, with `extra` headers.
    async fn nginx(
        &self,
        caller: &Credentials,
        method: &str,
        target: &str,
        extra: &[(&'static str, &str)],
    ) -> Answer {
        let mut original = HeaderMap::new();
        original.insert("host", HeaderValue::from_static("api.test"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        sign(
            caller,
            "execute-api",
            (method, path, query),
            &mut original,
            b"",
            self.node.now(),
        );
        let mut headers = original;
        for (name, value) in extra {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers.insert("x-original-method", HeaderValue::from_str(method).unwrap());
        headers.insert("x-original-uri", HeaderValue::from_str(target).unwrap());
        self.send(Method::GET, "/keyless/authorize/nginx", headers, Vec::new())
            .await
    }

    fn audit_events(&self) -> Vec<Value> {
        self.auditor.close();
        let text = std::fs::read_to_string(self.dir.path().join("data/audit.jsonl"))
            .expect("the audit log");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
            .collect()
    }
}

fn body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test]
async fn a_service_learns_who_signed_and_what_the_session_may_do() {
    let server = server(None).await;
    let gateway = server.session("gateway", "example/gateway").await;
    let caller = server.session("api-caller", "example/project").await;
    let now = server.node.now();

    // Only the principal.
    let who = server
        .authorize(
            Some(&gateway),
            &body(json!({
                "method": "GET",
                "url": "https://api.test/public/x?b=2&a=1",
                "headers": caller_headers(&caller, "GET", "/public/x?b=2&a=1", now),
            })),
        )
        .await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.body);
    let who = who.json();
    let principal = &who["principal"];
    assert_eq!(principal["type"], "AssumedRole");
    assert_eq!(
        principal["arn"],
        "arn:aws:sts::000000000000:assumed-role/api-caller/job"
    );
    assert_eq!(principal["account"], "000000000000");
    assert!(principal["user_id"].as_str().unwrap().ends_with(":job"));
    assert_eq!(
        principal["role_arn"],
        "arn:aws:iam::000000000000:role/api-caller"
    );
    assert_eq!(principal["access_key_id"], caller.access_key_id.as_str());
    assert_eq!(
        principal["web_identity"]["provider_arn"],
        "arn:aws:iam::000000000000:oidc-provider/gitlab.com"
    );
    assert_eq!(principal["web_identity"]["subject"], CALLER_SUB);
    assert_eq!(
        principal["web_identity"]["claims"]["gitlab.com:sub"],
        CALLER_SUB
    );
    assert!(principal["expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        who["signature"],
        json!({"service": "execute-api", "region": "us-east-1", "presigned": false})
    );
    assert!(who.get("decision").is_none());

    // The decision, with ${gitlab.com:sub} in the policy's resource: its own project only.
    let ask = |resource: String, trace: bool| {
        body(json!({
            "method": "POST",
            "url": "https://api.test/projects/x",
            "headers": caller_headers(&caller, "POST", "/projects/x", now),
            "service": "execute-api",
            "action": "execute-api:Invoke",
            "resource": resource,
            "trace": trace,
        }))
    };
    let own = server
        .authorize(
            Some(&gateway),
            &ask(format!("{API}/POST/projects/{CALLER_SUB}"), false),
        )
        .await
        .json();
    assert_eq!(own["decision"]["allowed"], true, "{own}");
    assert_eq!(own["decision"]["decision"], "Allow");
    assert_eq!(
        own["decision"]["matched_statements"],
        json!([{"policy_id": "role_api-caller_invoke", "layer": "Identity", "statement_index": 1, "sid": "Own", "effect": "Allow"}])
    );
    let other = server
        .authorize(
            Some(&gateway),
            &ask(
                format!("{API}/POST/projects/project_path:other/project:ref_type:branch:ref:main"),
                true,
            ),
        )
        .await
        .json();
    assert_eq!(other["decision"]["allowed"], false, "{other}");
    assert_eq!(other["decision"]["decision"], "ImplicitDeny");
    assert!(
        other["decision"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("no identity-based policy allows execute-api:Invoke")
    );
    assert_eq!(
        other["decision"]["trace"]["layers"][0]["layer"], "Identity",
        "{other}"
    );

    // The admin key may call the API, and a caller's decision as root is an Allow.
    let admin_answer = server
        .authorize(
            Some(&server.admin),
            &body(json!({
                "method": "GET",
                "url": "https://api.test/",
                "headers": caller_headers(&server.admin, "GET", "/", now),
                "action": "execute-api:Invoke",
                "resource": "*",
            })),
        )
        .await
        .json();
    assert_eq!(admin_answer["principal"]["type"], "Root");
    assert_eq!(
        admin_answer["principal"]["arn"],
        "arn:aws:iam::000000000000:root"
    );
    assert_eq!(admin_answer["decision"]["allowed"], true);

    // The audit log has each call with its caller and decision, never a signature or token.
    let events = server.audit_events();
    let authorize: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventName"] == "Authorize")
        .collect();
    assert_eq!(authorize.len(), 4);
    assert_eq!(authorize[0]["eventSource"], "keyless.authorize");
    assert_eq!(
        authorize[0]["userIdentity"]["arn"],
        "arn:aws:sts::000000000000:assumed-role/gateway/job"
    );
    assert_eq!(
        authorize[0]["responseElements"]["arn"],
        "arn:aws:sts::000000000000:assumed-role/api-caller/job"
    );
    assert_eq!(authorize[0]["requestParameters"]["path"], "/public/x");
    assert_eq!(authorize[1]["additionalEventData"]["decision"], "Allow");
    assert_eq!(
        authorize[1]["additionalEventData"]["statement"],
        "statement 1 of role_api-caller_invoke"
    );
    assert_eq!(authorize[2]["additionalEventData"]["decision"], "Deny");
    let line = serde_json::to_string(&events).unwrap();
    for secret in [
        caller.session_token.as_deref().unwrap(),
        caller.secret_access_key.as_str(),
        gateway.session_token.as_deref().unwrap(),
    ] {
        assert!(!line.contains(secret), "no credential in the audit log");
    }
    assert!(
        !line.contains("Signature="),
        "no signature in the audit log"
    );
}

#[tokio::test]
async fn every_error_of_the_json_api() {
    let server = server(None).await;
    let gateway = server.session("gateway", "example/gateway").await;
    let caller = server.session("api-caller", "example/project").await;
    let now = server.node.now();

    server
        .authorize(Some(&gateway), b"{not json")
        .await
        .assert_error(
            400,
            "ValidationError",
            "Invalid authorize request: key must be a string",
        );
    server
        .authorize(Some(&gateway), br#"{"method":"GET"}"#)
        .await
        .assert_error(
            400,
            "ValidationError",
            "Invalid authorize request: missing field `url`",
        );
    server
        .authorize(
            Some(&gateway),
            br#"{"method":"GET","url":"/","headers":{"host":"a"},"extra":1}"#,
        )
        .await
        .assert_error(
            400,
            "ValidationError",
            "Invalid authorize request: unknown field `extra`",
        );
    server
        .authorize(Some(&gateway), br#"{"method":"GET","url":"ftp://a/"}"#)
        .await
        .assert_error(400, "ValidationError", "url must be http or https");
    let huge = body(json!({"method": "GET", "url": "/", "pad": "x".repeat(300 * 1024)}));
    server.authorize(Some(&gateway), &huge).await.assert_error(
        413,
        "RequestEntityTooLarge",
        "The request body is larger than 262144 bytes.",
    );
    // The service itself: unsigned, or a session without keyless:Authorize.
    let forwarded = body(json!({
        "method": "GET",
        "url": "https://api.test/",
        "headers": caller_headers(&caller, "GET", "/", now),
    }));
    server.authorize(None, &forwarded).await.assert_error(
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    );
    server
        .authorize(Some(&caller), &forwarded)
        .await
        .assert_error(
            403,
            "AccessDenied",
            "User: arn:aws:sts::000000000000:assumed-role/api-caller/job is not authorized to perform: keyless:Authorize on resource: *",
        );

    // The caller's signature: every failure is a 401 with SigV4's code and message.
    let with = |headers: Value| {
        body(json!({"method": "GET", "url": "https://api.test/", "headers": headers}))
    };
    server
        .authorize(Some(&gateway), &with(json!({})))
        .await
        .assert_error(
            401,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        );
    let mut tampered = caller_headers(&caller, "GET", "/", now);
    let auth = tampered["authorization"].as_str().unwrap().to_owned();
    let flipped = if auth.ends_with('0') { "1" } else { "0" };
    tampered["authorization"] = format!("{}{flipped}", &auth[..auth.len() - 1]).into();
    server
        .authorize(Some(&gateway), &with(tampered))
        .await
        .assert_error(
            401,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match",
        );
    let other_path = body(
        json!({"method": "GET", "url": "https://api.test/elsewhere", "headers": caller_headers(&caller, "GET", "/", now)}),
    );
    server
        .authorize(Some(&gateway), &other_path)
        .await
        .assert_error(
            401,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match",
        );
    let mut tokenless = caller_headers(&caller, "GET", "/", now);
    tokenless
        .as_object_mut()
        .unwrap()
        .remove("x-amz-security-token");
    server
        .authorize(Some(&gateway), &with(tokenless))
        .await
        .assert_error(
            401,
            "InvalidClientTokenId",
            "The security token included in the request is invalid",
        );
    let mut incomplete = caller_headers(&caller, "GET", "/", now);
    incomplete["authorization"] = "AWS4-HMAC-SHA256 Credential=ASIA/x".into();
    server
        .authorize(Some(&gateway), &with(incomplete))
        .await
        .assert_error(
            401,
            "IncompleteSignature",
            "Authorization header requires 'Signature' parameter.",
        );
    let wrong_service = body(
        json!({"method": "GET", "url": "https://api.test/", "service": "s3", "headers": caller_headers(&caller, "GET", "/", now)}),
    );
    server
        .authorize(Some(&gateway), &wrong_service)
        .await
        .assert_error(
            401,
            "SignatureDoesNotMatch",
            "Credential should be scoped to correct service: 's3'.",
        );
    // Outside the 15-minute skew window, either way.
    server
        .authorize(
            Some(&gateway),
            &with(caller_headers(&caller, "GET", "/", now - 16 * 60)),
        )
        .await
        .assert_error(401, "SignatureDoesNotMatch", "Signature expired: ");
    server
        .authorize(
            Some(&gateway),
            &with(caller_headers(&caller, "GET", "/", now + 16 * 60)),
        )
        .await
        .assert_error(401, "SignatureDoesNotMatch", "Signature not yet current: ");
    // An expired session: a real token sealed with the node's keys, expired a second ago.
    let mut claims = server
        .node
        .live
        .load()
        .sts
        .keyring
        .unseal(caller.session_token.as_deref().unwrap())
        .unwrap();
    claims.expires_at = now - 1;
    let expired = Credentials {
        session_token: Some(server.node.live.load().sts.keyring.seal(&claims).unwrap()),
        ..caller.clone()
    };
    server
        .authorize(
            Some(&gateway),
            &with(caller_headers(&expired, "GET", "/", now)),
        )
        .await
        .assert_error(
            401,
            "ExpiredToken",
            "The security token included in the request is expired",
        );
    // A wrong payload hash for a body the caller signed.
    let hashed = body(
        json!({"method": "GET", "url": "https://api.test/", "payload_hash": sigv4::payload_hash(b"x"), "headers": caller_headers(&caller, "GET", "/", now)}),
    );
    server
        .authorize(Some(&gateway), &hashed)
        .await
        .assert_error(
            401,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match",
        );

    let events = server.audit_events();
    let codes: Vec<&str> = events
        .iter()
        .filter(|e| e["eventName"] == "Authorize")
        .filter_map(|e| e["errorCode"].as_str())
        .collect();
    assert!(
        codes.contains(&"ExpiredToken") && codes.contains(&"AccessDenied"),
        "{codes:?}"
    );
    let line = serde_json::to_string(&events).unwrap();
    assert!(!line.contains(caller.session_token.as_deref().unwrap()));
}

#[tokio::test]
async fn nginx_mode_answers_with_statuses_and_principal_headers() {
    let server = server(Some(TOKEN)).await;
    let caller = server.session("api-caller", "example/project").await;
    let question = |method: &str, path: &str| format!("{API}/{method}{path}");

    let allowed = server
        .nginx(
            &caller,
            "GET",
            "/public/a?x=1",
            &[
                ("x-keyless-authorizer-token", TOKEN),
                ("x-keyless-action", "execute-api:Invoke"),
                ("x-keyless-resource", &question("GET", "/public/a")),
            ],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(
        allowed.headers["x-keyless-principal-arn"],
        "arn:aws:sts::000000000000:assumed-role/api-caller/job"
    );
    assert_eq!(allowed.headers["x-keyless-account"], "000000000000");
    assert!(
        allowed.headers["x-keyless-user-id"]
            .to_str()
            .unwrap()
            .ends_with(":job")
    );
    assert_eq!(
        allowed.headers["x-keyless-role-arn"],
        "arn:aws:iam::000000000000:role/api-caller"
    );

    let denied = server
        .nginx(
            &caller,
            "GET",
            "/private",
            &[
                ("x-keyless-authorizer-token", TOKEN),
                ("x-keyless-action", "execute-api:Invoke"),
                ("x-keyless-resource", &question("GET", "/private")),
            ],
        )
        .await;
    denied.assert_error(
        403,
        "AccessDenied",
        "User: arn:aws:sts::000000000000:assumed-role/api-caller/job is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:api/GET/private",
    );
    assert!(denied.headers.get("x-keyless-principal-arn").is_none());

    // The original Host travels in X-Original-Host when nginx's Host is its own.
    let moved = server
        .nginx(
            &caller,
            "GET",
            "/public/a",
            &[
                ("x-keyless-authorizer-token", TOKEN),
                ("host", "127.0.0.1:8080"),
                ("x-original-host", "api.test"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let wrong_host = server
        .nginx(
            &caller,
            "GET",
            "/public/a",
            &[
                ("x-keyless-authorizer-token", TOKEN),
                ("host", "127.0.0.1:8080"),
            ],
        )
        .await;
    wrong_host.assert_error(
        401,
        "SignatureDoesNotMatch",
        "The request signature we calculated",
    );
    assert_eq!(wrong_host.headers["www-authenticate"], "AWS4-HMAC-SHA256");

    // No signature at all, and a bad subrequest.
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-keyless-authorizer-token",
        HeaderValue::from_static(TOKEN),
    );
    headers.insert("x-original-method", HeaderValue::from_static("GET"));
    headers.insert("x-original-uri", HeaderValue::from_static("/"));
    headers.insert("host", HeaderValue::from_static("api.test"));
    server
        .send(
            Method::GET,
            "/keyless/authorize/nginx",
            headers.clone(),
            Vec::new(),
        )
        .await
        .assert_error(
            401,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        );
    headers.remove("x-original-uri");
    server
        .send(Method::GET, "/keyless/authorize/nginx", headers, Vec::new())
        .await
        .assert_error(
            400,
            "ValidationError",
            "the x-original-uri header is missing",
        );

    // The token: missing or wrong.
    server
        .nginx(&caller, "GET", "/public/a", &[])
        .await
        .assert_error(
            403,
            "InvalidAuthorizerToken",
            "The X-Keyless-Authorizer-Token header is missing or wrong.",
        );
    server
        .nginx(
            &caller,
            "GET",
            "/public/a",
            &[("x-keyless-authorizer-token", "nginx-token-0123456780")],
        )
        .await
        .assert_error(
            403,
            "InvalidAuthorizerToken",
            "The X-Keyless-Authorizer-Token header is missing or wrong.",
        );

    // Envoy: the caller's method and path after the prefix, the forwarded body hashed.
    let payload = br#"{"name":"x"}"#;
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("api.test"));
    sign(
        &caller,
        "execute-api",
        ("POST", "/projects/x", ""),
        &mut headers,
        payload,
        server.node.now(),
    );
    headers.insert(
        "x-keyless-authorizer-token",
        HeaderValue::from_static(TOKEN),
    );
    let envoy = server
        .send(
            Method::POST,
            "/keyless/authorize/envoy/projects/x",
            headers.clone(),
            payload.to_vec(),
        )
        .await;
    assert_eq!(envoy.status, StatusCode::OK, "{}", envoy.body);
    assert_eq!(
        envoy.json()["principal"]["role_arn"],
        "arn:aws:iam::000000000000:role/api-caller"
    );
    let altered = server
        .send(
            Method::POST,
            "/keyless/authorize/envoy/projects/x",
            headers,
            b"{}".to_vec(),
        )
        .await;
    altered.assert_error(
        401,
        "SignatureDoesNotMatch",
        "The request signature we calculated",
    );

    let events = server.audit_events();
    let nginx: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventName"] == "AuthorizeNginx")
        .collect();
    assert_eq!(nginx[0]["additionalEventData"]["decision"], "Allow");
    assert_eq!(nginx[0]["additionalEventData"]["mode"], "nginx");
    assert_eq!(nginx[0]["userIdentity"]["type"], "AuthorizerToken");
    assert_eq!(nginx[1]["additionalEventData"]["decision"], "Deny");
    assert_eq!(nginx[1]["errorCode"], "AccessDenied");
    assert!(events.iter().any(|e| e["eventName"] == "AuthorizeEnvoy"));
    let line = serde_json::to_string(&events).unwrap();
    assert!(!line.contains(TOKEN), "the authorizer token is not logged");
    assert!(!line.contains(caller.session_token.as_deref().unwrap()));
}

#[tokio::test]
async fn the_proxy_mode_is_off_without_a_token() {
    let server = server(None).await;
    let caller = server.session("api-caller", "example/project").await;
    server
        .nginx(
            &caller,
            "GET",
            "/",
            &[("x-keyless-authorizer-token", TOKEN)],
        )
        .await
        .assert_error(404, "NotFound", "The proxy authorization mode is off");
    server
        .send(
            Method::GET,
            "/keyless/authorize/envoy/x",
            HeaderMap::new(),
            Vec::new(),
        )
        .await
        .assert_error(404, "NotFound", "The proxy authorization mode is off");
}

#[tokio::test]
async fn the_callers_address_and_transport_come_from_the_forwarder() {
    let server = server(Some(TOKEN)).await;
    let gateway = server.session("gateway", "example/gateway").await;
    let caller = server.session("api-caller", "example/project").await;
    let office = format!("{API}/GET/office/a");

    // JSON: `source_ip` and `secure_transport` (else the URL's scheme) decide the Office
    // statement's conditions.
    let ask = |url: &str, extra: Value| {
        let mut request = json!({
            "method": "GET",
            "url": url,
            "headers": caller_headers(&caller, "GET", "/office/a", server.node.now()),
            "action": "execute-api:Invoke",
            "resource": office,
        });
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        body(request)
    };
    for (url, extra, allowed) in [
        (
            "http://api.test/office/a",
            json!({"source_ip": "127.0.0.1", "secure_transport": true}),
            true,
        ),
        (
            "https://api.test/office/a",
            json!({"source_ip": "127.0.0.1"}),
            true,
        ),
        (
            "https://api.test/office/a",
            json!({"source_ip": "127.0.0.1", "secure_transport": false}),
            false,
        ),
        (
            "https://api.test/office/a",
            json!({"source_ip": "10.1.2.3"}),
            false,
        ),
        (
            "https://api.test/office/a",
            json!({"source_ip": "::1"}),
            false,
        ),
        ("https://api.test/office/a", json!({}), false),
    ] {
        let answer = server
            .authorize(Some(&gateway), &ask(url, extra.clone()))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(
            answer.json()["decision"]["allowed"],
            allowed,
            "{url} {extra}"
        );
    }
    server
        .authorize(
            Some(&gateway),
            &ask(
                "https://api.test/office/a",
                json!({"source_ip": "127.0.0.1:443"}),
            ),
        )
        .await
        .assert_error(
            400,
            "ValidationError",
            "source_ip \"127.0.0.1:443\" is not an IP address",
        );
    server
        .authorize(
            Some(&gateway),
            &ask(
                "https://api.test/office/a",
                json!({"source_ip": "127.0.0.1", "context": {"aws:SourceIp": "127.0.0.1"}}),
            ),
        )
        .await
        .assert_error(
            400,
            "ValidationError",
            "give the caller's address as source_ip",
        );
    server
        .authorize(
            Some(&gateway),
            &ask(
                "https://api.test/office/a",
                json!({"secure_transport": "yes"}),
            ),
        )
        .await
        .assert_error(400, "ValidationError", "Invalid authorize request");

    // nginx: X-Keyless-Source-Ip ($remote_addr) and X-Keyless-Secure-Transport ($https).
    let nginx = |extra: &[(&'static str, &'static str)]| {
        let mut headers: Vec<(&'static str, &str)> = vec![
            ("x-keyless-authorizer-token", TOKEN),
            ("x-keyless-action", "execute-api:Invoke"),
            ("x-keyless-resource", &office),
        ];
        headers.extend_from_slice(extra);
        headers
    };
    for (extra, status) in [
        (
            &[
                ("x-keyless-source-ip", "127.0.0.1"),
                ("x-keyless-secure-transport", "on"),
            ][..],
            200,
        ),
        (
            &[
                ("x-keyless-source-ip", "127.0.0.2"),
                ("x-keyless-secure-transport", "on"),
            ][..],
            403,
        ),
        (&[("x-keyless-source-ip", "127.0.0.1")][..], 403),
        (
            &[
                ("x-keyless-source-ip", "127.0.0.1"),
                ("x-keyless-secure-transport", ""),
            ][..],
            403,
        ),
        (&[("x-keyless-secure-transport", "on")][..], 403),
    ] {
        let answer = server
            .nginx(&caller, "GET", "/office/a", &nginx(extra))
            .await;
        assert_eq!(answer.status.as_u16(), status, "{extra:?}: {}", answer.body);
    }
    server
        .nginx(
            &caller,
            "GET",
            "/office/a",
            &nginx(&[("x-keyless-source-ip", "localhost")]),
        )
        .await
        .assert_error(
            400,
            "ValidationError",
            "x-keyless-source-ip \"localhost\" is not an IP address",
        );
    server
        .nginx(
            &caller,
            "GET",
            "/office/a",
            &nginx(&[("x-keyless-secure-transport", "yes")]),
        )
        .await
        .assert_error(
            400,
            "ValidationError",
            "x-keyless-secure-transport \"yes\" is not on, off",
        );

    // Envoy: the address Envoy appended to x-forwarded-for (the last) and x-forwarded-proto,
    // unless X-Keyless-Source-Ip / X-Keyless-Secure-Transport say.
    let envoy = |extra: &[(&'static str, &str)]| {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("api.test"));
        sign(
            &caller,
            "execute-api",
            ("GET", "/office/a", ""),
            &mut headers,
            b"",
            server.node.now(),
        );
        headers.insert(
            "x-keyless-authorizer-token",
            HeaderValue::from_static(TOKEN),
        );
        headers.insert(
            "x-keyless-action",
            HeaderValue::from_static("execute-api:Invoke"),
        );
        headers.insert(
            "x-keyless-resource",
            HeaderValue::from_str(&office).unwrap(),
        );
        for (name, value) in extra {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        server.send(
            Method::GET,
            "/keyless/authorize/envoy/office/a",
            headers,
            Vec::new(),
        )
    };
    for (extra, status) in [
        (
            &[
                ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
                ("x-forwarded-proto", "https"),
            ][..],
            200,
        ),
        (
            &[
                ("x-forwarded-for", "127.0.0.1, 203.0.113.9"),
                ("x-forwarded-proto", "https"),
            ][..],
            403,
        ),
        (
            &[
                ("x-forwarded-for", "127.0.0.1"),
                ("x-forwarded-proto", "http"),
            ][..],
            403,
        ),
        (&[("x-forwarded-for", "127.0.0.1")][..], 403),
        (
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "http"),
                ("x-keyless-source-ip", "127.0.0.1"),
                ("x-keyless-secure-transport", "true"),
            ][..],
            200,
        ),
    ] {
        let answer = envoy(extra).await;
        assert_eq!(answer.status.as_u16(), status, "{extra:?}: {}", answer.body);
    }
    envoy(&[("x-forwarded-for", "127.0.0.1, unknown")])
        .await
        .assert_error(
            400,
            "ValidationError",
            "x-forwarded-for \"unknown\" is not an IP address",
        );
    envoy(&[
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "ftp"),
    ])
    .await
    .assert_error(
        400,
        "ValidationError",
        "x-forwarded-proto \"ftp\" is not http or https",
    );

    // The audit event keeps the caller's address beside the forwarder's.
    let events = server.audit_events();
    let first = events
        .iter()
        .find(|e| e["eventName"] == "AuthorizeNginx")
        .expect("an nginx event");
    assert_eq!(
        first["requestParameters"]["sourceIp"], "127.0.0.1",
        "{first}"
    );
    assert_eq!(first["sourceIPAddress"], "127.0.0.1");
    let envoy_event = events
        .iter()
        .find(|e| e["eventName"] == "AuthorizeEnvoy")
        .expect("an envoy event");
    assert_eq!(envoy_event["requestParameters"]["sourceIp"], "127.0.0.1");
}
