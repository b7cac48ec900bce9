//! The keyless HTTP server: the AWS Query API (STS here, IAM in `keyless-iam`), the built-in
//! issuers' endpoints, the mint, explain and authorization APIs, health checks and Prometheus
//! metrics, all on a [`keyless_node::Node`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use keyless_node::audit::Auditor;
//! use keyless_node::config::{AuditConfig, AuditSinkKind, Config};
//! use keyless_node::data::DataOptions;
//! use keyless_node::start::{NodeOptions, start};
//! use tower::ServiceExt as _;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let started = start(NodeOptions {
//!     data: DataOptions { data_dir: dir.path().to_owned(), database: None },
//!     config: Config::default(),
//!     config_file: None,
//!     dev: true,
//!     public_url: "http://keyless.test".into(),
//!     clock_offset_secs: 0,
//! })
//! .await
//! .unwrap();
//! let node = Arc::new(started.node);
//! let audit = AuditConfig { sink: AuditSinkKind::None, ..AuditConfig::default() };
//! let auditor = Auditor::start(&audit, dir.path(), node.store.clone(), node.account()).unwrap();
//! let router = keyless_server::router(node, auditor);
//! let request = Request::get("/issuers/gitlab/.well-known/openid-configuration").body(Body::empty()).unwrap();
//! let response = router.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! # });
//! ```

#![warn(missing_docs)]

mod authorize;
mod body;
mod http;
mod json;
mod listener;
mod metrics;
mod query;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keyless_node::audit::Auditor;
use keyless_node::config::{Config, MetricsAccess};
use keyless_node::data::DataOptions;
use keyless_node::start::{self, NodeOptions};
use keyless_node::{Node, dev};

use crate::body::BodyLimits;

/// `println!` that a closed standard output does not stop (see [`say`]).
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that a closed standard output does not stop (see [`say`]).
macro_rules! say_raw {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

/// How often replicas look for changes made elsewhere.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// File descriptors kept free of connections (the database pool, the audit log, outbound JWKS
/// fetches, the runtime and key files, and connections closing to make room): an eighth of the
/// limit, at least 64.
fn reserved_descriptors(limit: u64) -> u64 {
    (limit / 8).max(64)
}

/// Options of `keyless serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Listen address; overrides the config file. `127.0.0.1:8080` by default.
    pub listen: Option<SocketAddr>,
    /// Where state lives.
    pub data: DataOptions,
    /// The config file.
    pub config: Option<PathBuf>,
    /// Development mode.
    pub dev: bool,
    /// The public base URL; `http://<listen address>` by default.
    pub public_url: Option<String>,
    /// Seconds added to the clock (development mode only, for tests of expiry).
    pub clock_offset_secs: i64,
    /// The S3 gateway's listen address; overrides `[s3_gateway] listen`.
    pub s3_gateway_listen: Option<SocketAddr>,
    /// The S3 backend; overrides `[s3_gateway] backend_url` (the gateway runs when one is set).
    pub s3_backend_url: Option<String>,
    /// The S3 backend's region; overrides `[s3_gateway] backend_region`.
    pub s3_backend_region: Option<String>,
}

/// Where the S3 gateway listens unless told.
const DEFAULT_S3_LISTEN: &str = "127.0.0.1:9000";

/// What the routes serve from: the node, its audit log and the HTTP settings.
#[derive(Clone)]
pub(crate) struct App {
    /// The node.
    pub(crate) node: Arc<Node>,
    /// The audit log.
    pub(crate) auditor: Auditor,
    /// The bounds of request bodies.
    pub(crate) body_limits: BodyLimits,
    /// Who may read `/metrics` on this router; `None` when it is served elsewhere.
    pub(crate) metrics: Option<MetricsAccess>,
}

/// The HTTP routes of `node`, recording audit events through `auditor`: what `serve` serves,
/// and what in-process tests drive without a socket. Requests need a
/// `ConnectInfo<SocketAddr>` extension (the peer address), which `serve` adds. `/metrics` is
/// open to anyone on this router.
pub fn router(node: Arc<Node>, auditor: Auditor) -> axum::Router {
    let body_limits = BodyLimits {
        max_bytes: node.settings.max_body_bytes,
        timeout: Duration::from_secs(10),
        min_rate: 1024,
    };
    http::router(Arc::new(App {
        node,
        auditor,
        body_limits,
        metrics: Some(MetricsAccess::Open),
    }))
}

/// Runs the server until SIGINT or SIGTERM. The port opens only once the node is ready: the
/// data directory, the keys and the live state complete.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let mut config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(url) = &opts.s3_backend_url {
        config.s3_gateway.backend_url = Some(url.clone());
    }
    if let Some(region) = &opts.s3_backend_region {
        config.s3_gateway.backend_region = Some(region.clone());
    }
    if let Some(listen) = opts.s3_gateway_listen {
        config.s3_gateway.listen = Some(listen);
    }
    let base = opts
        .config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let server = config.server.clone();
    let listen = match (opts.listen, server.listen) {
        (Some(l), _) | (None, Some(l)) => l,
        (None, None) => DEFAULT_LISTEN.parse()?,
    };
    // Bound now (so that the address is known and taken), listening only once ready.
    let socket = bind(listen)?;
    let bound = socket.local_addr()?;
    let tls = tls_acceptor(&base, server.tls_cert.as_deref(), server.tls_key.as_deref())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = opts
        .public_url
        .clone()
        .or_else(|| server.public_url.clone())
        .unwrap_or_else(|| format!("{scheme}://{bound}"));
    let descriptors = raise_descriptor_limit();
    let s3_gateway = config.s3_gateway.clone();
    let s3_socket = match &s3_gateway.backend_url {
        Some(backend_url) => {
            let key = s3_gateway.backend_key(&base, |name| std::env::var(name).ok())?;
            let listen = match s3_gateway.listen {
                Some(listen) => listen,
                None => DEFAULT_S3_LISTEN.parse()?,
            };
            let settings = keyless_s3_gateway::GatewaySettings {
                region: s3_gateway
                    .region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                virtual_host_suffix: s3_gateway.virtual_host_suffix.clone(),
                backend_url: backend_url.clone(),
                backend_region: s3_gateway
                    .backend_region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                backend_key: keyless_s3_gateway::BackendKey {
                    access_key_id: key.0,
                    secret_access_key: key.1,
                },
                timeouts: keyless_s3_gateway::Timeouts {
                    backend_response: Duration::from_secs(
                        s3_gateway.backend_timeout_secs.unwrap_or(60),
                    ),
                    body_idle: Duration::from_secs(s3_gateway.body_idle_timeout_secs.unwrap_or(60)),
                },
            };
            let tls = tls_acceptor(
                &base,
                s3_gateway.tls_cert.as_deref(),
                s3_gateway.tls_key.as_deref(),
            )?;
            Some((bind(listen)?, settings, tls))
        }
        None => None,
    };

    let audit = config.audit.clone();
    let started = start::start(NodeOptions {
        data: opts.data.clone(),
        config,
        config_file: opts.config.clone(),
        dev: opts.dev,
        public_url: public_url.clone(),
        clock_offset_secs: opts.clock_offset_secs,
    })
    .await?;
    if let Some(credentials) = &started.admin_created {
        let file = started.data.admin_file();
        if opts.dev {
            say!(
                "keyless: created the admin credentials (also in {}, mode 0600; shown only once):",
                file.display()
            );
            say_raw!("{}", keyless_node::data::export_lines(credentials));
        } else {
            say!(
                "keyless: created the admin credentials {} in {} (mode 0600; the secret is only there)",
                credentials.access_key_id,
                file.display()
            );
        }
    }
    let node = Arc::new(started.node);
    crate::metrics::install()?;
    let auditor = Auditor::start(
        &audit,
        &started.data.data_dir,
        node.store.clone(),
        node.account(),
    )?;
    node.spawn_refresher(REFRESH_INTERVAL);

    let secs = |value: Option<u64>, default: u64| Duration::from_secs(value.unwrap_or(default));
    let limits = listener::Limits {
        max_connections: server.max_connections.unwrap_or_else(|| {
            usize::try_from(
                descriptors
                    .saturating_sub(reserved_descriptors(descriptors))
                    .max(16),
            )
            .unwrap_or(usize::MAX)
        }),
        header_read_timeout: secs(server.header_read_timeout_secs, 10),
        idle_timeout: secs(server.idle_timeout_secs, 60),
    };
    let body_limits = BodyLimits {
        max_bytes: node.settings.max_body_bytes,
        timeout: secs(server.body_read_timeout_secs, 10),
        min_rate: server.min_body_rate.unwrap_or(1024),
    };
    let metrics_access = match (server.metrics_listen, server.metrics) {
        (Some(_), _) => None,
        (None, Some(access)) => Some(access),
        (None, None) if opts.dev => Some(MetricsAccess::Open),
        (None, None) => Some(MetricsAccess::Admin),
    };
    let app = Arc::new(App {
        node: node.clone(),
        auditor: auditor.clone(),
        body_limits,
        metrics: metrics_access,
    });
    let router = http::router(app.clone());

    let main = socket
        .listen(1024)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let metrics_task = match server.metrics_listen {
        Some(address) => {
            let metrics_listener = bind(address)?
                .listen(64)
                .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
            say!(
                "keyless: metrics on http://{}/metrics",
                metrics_listener.local_addr()?
            );
            let metrics_app = Arc::new(App {
                metrics: Some(MetricsAccess::Open),
                ..(*app).clone()
            });
            let mut stopping = stopping.clone();
            Some(tokio::spawn(listener::run(
                metrics_listener,
                http::metrics_router(metrics_app),
                listener::Limits {
                    max_connections: 64,
                    ..limits
                },
                None,
                async move {
                    let _ = stopping.changed().await;
                },
            )))
        }
        None => None,
    };
    let s3_task = match s3_socket {
        Some((socket, settings, tls)) => {
            let address = socket.local_addr()?;
            let s3_listener = socket
                .listen(1024)
                .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
            let backend = settings.backend_url.clone();
            let gateway = Arc::new(keyless_s3_gateway::Gateway::new(
                node.clone(),
                auditor.clone(),
                settings,
            )?);
            let url = format!(
                "{}://{address}",
                if tls.is_some() { "https" } else { "http" }
            );
            say!("keyless: S3 gateway on {url}, forwarding to {backend}");
            let mut stopping = stopping.clone();
            Some((
                url,
                tokio::spawn(listener::run(
                    s3_listener,
                    gateway.router(tls.is_some()),
                    limits,
                    tls,
                    async move {
                        let _ = stopping.changed().await;
                    },
                )),
            ))
        }
        None => None,
    };
    if opts.dev {
        print_dev_banner(&public_url, node.account(), &started.data.data_dir);
        if let Some((url, _)) = &s3_task {
            print_s3_banner(url, &public_url, node.account(), &started.data.data_dir);
        }
    }
    say!("keyless: listening on {scheme}://{bound}");
    listener::run(main, router, limits, tls, shutdown_signal()).await;
    let _ = stop.send(true);
    drop(stopping);
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    if let Some((_, task)) = s3_task {
        let _ = task.await;
    }
    // Every answered request's event reaches the sink before the process exits.
    tokio::task::spawn_blocking(move || auditor.close()).await?;
    Ok(())
}

/// Writes to standard output, ignoring a closed one: the server keeps serving when whoever
/// started it stops reading.
fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.flush());
}

/// The TLS acceptor of a listener's `tls_cert` and `tls_key` (relative to `base`), when both
/// are set; the config check refuses one without the other.
fn tls_acceptor(
    base: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(tls::acceptor(&base.join(cert), &base.join(key))?)),
        _ => Ok(None),
    }
}

/// A socket bound to `address`, not yet listening.
fn bind(address: SocketAddr) -> anyhow::Result<tokio::net::TcpSocket> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(address)
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
    Ok(socket)
}

/// Raises the soft limit on open files to the hard limit; returns the limit in force.
fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    match limit.maximum {
        Some(hard) if hard > soft => {
            match setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(hard),
                    maximum: Some(hard),
                },
            ) {
                Ok(()) => hard,
                Err(e) => {
                    tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
                    soft
                }
            }
        }
        // No hard limit: the kernel's own ceiling (`fs.nr_open`) is commonly 2^20.
        None if soft < 1 << 20 => {
            let raised = Rlimit {
                current: Some(1 << 20),
                maximum: None,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => 1 << 20,
                Err(_) => soft,
            }
        }
        _ => soft,
    }
}

fn print_dev_banner(public_url: &str, account: &str, data_dir: &Path) {
    let role = format!("arn:aws:iam::{account}:role/{}", dev::ROLE_NAME);
    let data = data_dir.display();
    say!(
        "keyless --dev is ready:
  issuer    {name}: tokens say iss={iss}; discovery at {base}/.well-known/openid-configuration
  provider  arn:aws:iam::{account}:oidc-provider/gitlab.com (client ID {cid}, trusts the {name} issuer's keys)
  role      {role}
            trust: aud = {cid}, sub like project_path:{project}:*

Try it:
  keyless token mint --data-dir {data} --issuer {name} --project-path {project} --ref main > /tmp/web_identity_token
  export AWS_ENDPOINT_URL={public_url} AWS_DEFAULT_REGION=us-east-1
  aws sts assume-role-with-web-identity --role-arn {role} --role-session-name cicd \\
      --duration-seconds 900 --web-identity-token \"$(cat /tmp/web_identity_token)\"
  # or, as a GitLab job's profile does:
  AWS_ROLE_ARN={role} AWS_WEB_IDENTITY_TOKEN_FILE=/tmp/web_identity_token aws sts get-caller-identity",
        name = dev::ISSUER_NAME,
        iss = dev::ISSUER_ISS,
        base = keyless_node::issuers::issuer_base_url(public_url, dev::ISSUER_NAME),
        cid = dev::CLIENT_ID,
        project = dev::PROJECT,
    );
}

fn print_s3_banner(url: &str, public_url: &str, account: &str, data_dir: &Path) {
    let data = data_dir.display();
    say!(
        "  s3        {url}: the role works under s3://{bucket}/<project_path>/ (the bucket must exist on the backend)

Try the S3 gateway, as a GitLab job's profile does:
  keyless token mint --data-dir {data} --issuer {name} --project-path {project} --ref main > /tmp/web_identity_token
  export AWS_ROLE_ARN=arn:aws:iam::{account}:role/{role} AWS_WEB_IDENTITY_TOKEN_FILE=/tmp/web_identity_token
  export AWS_ENDPOINT_URL_STS={public_url} AWS_ENDPOINT_URL_S3={url} AWS_DEFAULT_REGION=us-east-1
  aws s3 cp ./file s3://{bucket}/{project}/file
  aws s3 ls s3://{bucket}/{project}/",
        role = dev::ROLE_NAME,
        bucket = dev::S3_BUCKET,
        name = dev::ISSUER_NAME,
        project = dev::PROJECT,
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
