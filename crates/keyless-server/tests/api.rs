//! The server's router driven in process, without a socket: a real node (`--dev` on SQLite in
//! a temporary directory), real ID tokens from its built-in issuer, real SigV4 signatures,
//! and the audit events the calls leave.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use keyless_credentials::sigv4::{self, RequestParts};
use keyless_node::audit::Auditor;
use keyless_node::config::{AuditConfig, Config};
use keyless_node::data::DataOptions;
use keyless_node::issuers::MintJob;
use keyless_node::start::{self, NodeOptions};
use keyless_node::{Node, dev};
use keyless_oidc::issuer::RefType;
use tower::ServiceExt as _;

const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/gitlab-deployer";

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
    /// The text of the first `<tag>` element.
    fn element(&self, tag: &str) -> &str {
        let open = format!("<{tag}>");
        let start = self
            .body
            .find(&open)
            .unwrap_or_else(|| panic!("no {open} in {}", self.body))
            + open.len();
        let end = self.body[start..]
            .find(&format!("</{tag}>"))
            .expect("closed")
            + start;
        &self.body[start..end]
    }
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
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
    .expect("the node starts");
    let admin = started
        .admin_created
        .clone()
        .expect("a first start creates the admin key");
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

    /// An unsigned Query call.
    async fn query(&self, form: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.send(Method::POST, "/", headers, form.as_bytes().to_vec())
            .await
    }

    /// A Query call signed for `service` by `creds`.
    async fn signed(&self, creds: &Credentials, service: &str, path: &str, body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("keyless.test"));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            "x-amz-date",
            HeaderValue::from_str(&sigv4::amz_date(self.node.now())).unwrap(),
        );
        if let Some(token) = &creds.session_token {
            headers.insert(
                "x-amz-security-token",
                HeaderValue::from_str(token).unwrap(),
            );
        }
        let authorization = sigv4::sign(
            &RequestParts {
                method: "POST",
                path,
                query: "",
                headers: &headers,
                body: body.as_bytes(),
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
        self.send(Method::POST, path, headers, body.as_bytes().to_vec())
            .await
    }

    /// A token of the built-in `gitlab` issuer for `project` on `main`.
    fn token(&self, project: &str) -> String {
        let live = self.node.live.load();
        live.issuers[dev::ISSUER_NAME]
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
            .expect("mint")
    }

    async fn exchange(&self, project: &str) -> Answer {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", ROLE_ARN)
            .append_pair("RoleSessionName", "cicd")
            .append_pair("WebIdentityToken", &self.token(project))
            .finish();
        self.query(&form).await
    }

    async fn session(&self) -> Credentials {
        let answer = self.exchange(dev::PROJECT).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        Credentials {
            access_key_id: answer.element("AccessKeyId").to_owned(),
            secret_access_key: answer.element("SecretAccessKey").to_owned(),
            session_token: Some(answer.element("SessionToken").to_owned()),
        }
    }

    /// Every audit event written so far (closes the audit log).
    fn audit_events(&self) -> Vec<serde_json::Value> {
        self.auditor.close();
        let text = std::fs::read_to_string(self.dir.path().join("data/audit.jsonl"))
            .expect("the audit log");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
            .collect()
    }
}

fn assert_error(answer: &Answer, status: u16, code: &str, namespace: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(answer.element("Code"), code, "{}", answer.body);
    assert!(
        answer
            .body
            .starts_with(&format!("<ErrorResponse xmlns=\"{namespace}\">")),
        "{}",
        answer.body
    );
    let request_id = answer.headers["x-amzn-requestid"].to_str().unwrap();
    assert_eq!(answer.element("RequestId"), request_id);
}

const STS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const IAM: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

#[tokio::test]
async fn the_exchange_and_the_calls_its_credentials_sign() {
    let server = server().await;
    let answer = server.exchange(dev::PROJECT).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "text/xml");
    assert_eq!(
        answer.element("RequestId"),
        answer.headers["x-amzn-requestid"].to_str().unwrap()
    );
    assert_eq!(
        answer.element("Arn"),
        "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd"
    );
    assert_eq!(answer.element("Audience"), dev::CLIENT_ID);

    let session = server.session().await;
    let who = server
        .signed(
            &session,
            "sts",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
        .await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.body);
    assert_eq!(
        who.element("Arn"),
        "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd"
    );
    // Endpoints with a path prefix work: the Query API answers on any path.
    let prefixed = server
        .signed(
            &session,
            "sts",
            "/sts/",
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
        .await;
    assert_eq!(prefixed.status, StatusCode::OK, "{}", prefixed.body);

    // The dev role trusts only the provider: a chained AssumeRole is refused, naming it.
    let chained = server
        .signed(
            &session,
            "sts",
            "/",
            &format!(
                "Action=AssumeRole&Version=2011-06-15&RoleArn={ROLE_ARN}&RoleSessionName=again"
            ),
        )
        .await;
    assert_error(&chained, 403, "AccessDenied", STS);
    // --dev shows the reason after AWS's message.
    assert_eq!(
        chained.element("Message"),
        "User: arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd is not authorized to \
         perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/gitlab-deployer: no \
         Allow statement names the principal AWS:arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd"
    );

    let events = server.audit_events();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "AssumeRoleWithWebIdentity",
            "AssumeRoleWithWebIdentity",
            "GetCallerIdentity",
            "GetCallerIdentity",
            "AssumeRole"
        ]
    );
    assert_eq!(events[0]["additionalEventData"]["decision"], "Allow");
    assert_eq!(events[0]["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(
        events[2]["userIdentity"]["accessKeyId"],
        session.access_key_id.as_str()
    );
    assert_eq!(events[4]["errorCode"], "AccessDenied");
    let line = serde_json::to_string(&events).unwrap();
    assert!(
        !line.contains(&session.secret_access_key),
        "no secret in the audit log"
    );
    assert!(
        !line.contains(session.session_token.as_deref().unwrap()),
        "no session token"
    );
}

#[tokio::test]
async fn a_denied_exchange_is_opaque_and_audited_with_its_reason() {
    let server = server().await;
    let answer = server.exchange("other/project").await;
    assert_error(&answer, 403, "AccessDenied", STS);
    // --dev shows denial reasons.
    assert!(
        answer
            .element("Message")
            .starts_with("Not authorized to perform sts:AssumeRoleWithWebIdentity: statement 0 (/Statement/0): StringLike gitlab.com:sub"),
        "{}",
        answer.body
    );
    let events = server.audit_events();
    assert_eq!(events[0]["additionalEventData"]["decision"], "Deny");
    assert_eq!(
        events[0]["additionalEventData"]["statement"],
        "statement 0 (/Statement/0)"
    );
    assert_eq!(
        events[0]["requestParameters"]["webIdentityToken"]["sub"],
        "project_path:other/project:ref_type:branch:ref:main"
    );
}

#[tokio::test]
async fn request_shape_errors_in_aws_format() {
    let server = server().await;
    let put = server
        .send(Method::PUT, "/", HeaderMap::new(), Vec::new())
        .await;
    assert_error(&put, 405, "InvalidAction", STS);
    assert_error(
        &server.query("Version=2011-06-15").await,
        400,
        "MissingAction",
        STS,
    );
    let unknown = server
        .query("Action=GetSessionToken&Version=2011-06-15")
        .await;
    assert_error(&unknown, 400, "InvalidAction", STS);
    assert_eq!(
        unknown.element("Message"),
        "Could not find operation GetSessionToken for version 2011-06-15"
    );
    assert_error(
        &server
            .query("Action=GetCallerIdentity&Version=2099-01-01")
            .await,
        400,
        "InvalidAction",
        STS,
    );
    assert_error(
        &server
            .query("Action=GetCallerIdentity&Action=AssumeRole")
            .await,
        400,
        "MalformedQueryString",
        STS,
    );
    assert_error(
        &server
            .query("Action=GetCallerIdentity&Version=2011-06-15")
            .await,
        403,
        "MissingAuthenticationToken",
        STS,
    );
    let huge = format!("Action=GetCallerIdentity&Pad={}", "x".repeat(300 * 1024));
    assert_error(
        &server.query(&huge).await,
        413,
        "RequestEntityTooLarge",
        STS,
    );
    // A GET carries the parameters in the query string.
    let get = server
        .send(
            Method::GET,
            "/?Action=GetCallerIdentity&Version=2011-06-15",
            HeaderMap::new(),
            Vec::new(),
        )
        .await;
    assert_error(&get, 403, "MissingAuthenticationToken", STS);
}

#[tokio::test]
async fn iam_calls_are_authorized_for_sessions_and_answer_in_iam_format() {
    let server = server().await;
    let list = server
        .signed(
            &server.admin,
            "iam",
            "/",
            "Action=ListRoles&Version=2010-05-08",
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body
            .starts_with(&format!("<ListRolesResponse xmlns=\"{IAM}\">"))
    );
    assert_eq!(list.element("RoleName"), "gitlab-deployer");

    let session = server.session().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
    let create = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "CreateRole")
        .append_pair("Version", "2010-05-08")
        .append_pair("RoleName", "made-by-a-job")
        .append_pair("AssumeRolePolicyDocument", trust)
        .finish();
    let denied = server.signed(&session, "iam", "/", &create).await;
    assert_error(&denied, 403, "AccessDenied", IAM);
    assert!(
        denied.element("Message").starts_with(
            "User: arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::000000000000:role/made-by-a-job"
        ),
        "{}",
        denied.body
    );
    let created = server.signed(&server.admin, "iam", "/", &create).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    // The writing replica serves the new role at once.
    assert!(
        server
            .node
            .live
            .load()
            .sts
            .roles
            .contains_key("made-by-a-job")
    );
    let get = server
        .signed(
            &session,
            "iam",
            "/",
            "Action=GetRole&Version=2010-05-08&RoleName=made-by-a-job",
        )
        .await;
    assert_eq!(get.status, StatusCode::OK, "{}", get.body);
    assert_eq!(get.element("RoleName"), "made-by-a-job");

    // A signature for another service is refused before anything runs.
    let wrong_scope = server
        .signed(
            &server.admin,
            "sts",
            "/",
            "Action=ListRoles&Version=2010-05-08",
        )
        .await;
    assert_error(&wrong_scope, 403, "SignatureDoesNotMatch", IAM);

    let events = server.audit_events();
    let create_events: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["eventName"] == "CreateRole")
        .collect();
    assert_eq!(create_events.len(), 2);
    assert_eq!(create_events[0]["eventSource"], "iam.amazonaws.com");
    assert_eq!(create_events[0]["errorCode"], "AccessDenied");
    assert_eq!(
        create_events[1]["requestParameters"]["roleName"],
        "made-by-a-job"
    );
}

#[tokio::test]
async fn issuer_endpoints_and_admin_apis() {
    let server = server().await;
    let ok = server
        .send(Method::GET, "/healthz", HeaderMap::new(), Vec::new())
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, "ok\n"));
    let ready = server
        .send(Method::GET, "/readyz", HeaderMap::new(), Vec::new())
        .await;
    assert_eq!(ready.status, StatusCode::OK);

    let discovery = server
        .send(
            Method::GET,
            "/issuers/gitlab/.well-known/openid-configuration",
            HeaderMap::new(),
            Vec::new(),
        )
        .await;
    let doc: serde_json::Value = serde_json::from_str(&discovery.body).unwrap();
    assert_eq!(doc["issuer"], dev::ISSUER_ISS);
    assert_eq!(
        doc["jwks_uri"],
        "http://keyless.test/issuers/gitlab/oauth/discovery/keys"
    );
    let jwks = server
        .send(
            Method::GET,
            "/issuers/gitlab/oauth/discovery/keys",
            HeaderMap::new(),
            Vec::new(),
        )
        .await;
    let keys: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    let missing = server
        .send(
            Method::GET,
            "/issuers/nope/oauth/discovery/keys",
            HeaderMap::new(),
            Vec::new(),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let mint = r#"{"project_path":"example/project","ref":"main"}"#;
    let minted = server
        .signed(
            &server.admin,
            "keyless",
            "/keyless/issuers/gitlab/mint",
            mint,
        )
        .await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.body);
    let token: serde_json::Value = serde_json::from_str(&minted.body).unwrap();
    assert_eq!(token["token"].as_str().unwrap().split('.').count(), 3);

    let session = server.session().await;
    let refused = server
        .signed(&session, "keyless", "/keyless/issuers/gitlab/mint", mint)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let error: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(error["Error"]["Code"], "AccessDenied");
    assert_eq!(
        error["Error"]["Message"],
        "Only the admin credentials may call this API."
    );

    let explain = format!(
        r#"{{"token":"{}","roles":["{ROLE_ARN}"]}}"#,
        server.token("other/project")
    );
    let report = server
        .signed(&server.admin, "keyless", "/keyless/explain", &explain)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let report: serde_json::Value = serde_json::from_str(&report.body).unwrap();
    assert_eq!(report["allowed"], false);
    assert!(
        report["text"]
            .as_str()
            .unwrap()
            .contains("DENY  arn:aws:iam::000000000000:role/gitlab-deployer")
    );
}
