//! The keyless HTTP server: the AWS Query API (STS here, IAM in `keyless-iam`), the built-in
//! issuers' endpoints, the mint and explain APIs, health checks and Prometheus metrics, all on
//! a [`keyless_node::Node`].
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
//! let auditor = Auditor::start(&audit, dir.path(), node.store.clone()).unwrap();
//! let router = keyless_server::router(node, auditor);
//! let request = Request::get("/issuers/gitlab/.well-known/openid-configuration").body(Body::empty()).unwrap();
//! let response = router.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! # });
//! ```

#![warn(missing_docs)]

mod body;
mod http;
mod metrics;
mod query;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keyless_node::audit::Auditor;
use keyless_node::config::Config;
use keyless_node::data::DataOptions;
use keyless_node::start::{self, NodeOptions};
use keyless_node::{Node, dev};

/// How often replicas look for changes made elsewhere.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

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
}

/// What the routes serve from: the node and its audit log.
pub(crate) struct App {
    /// The node.
    pub(crate) node: Arc<Node>,
    /// The audit log.
    pub(crate) auditor: Auditor,
}

/// The HTTP routes of `node`, recording audit events through `auditor`: what `serve` serves,
/// and what in-process tests drive without a socket. Requests need a
/// `ConnectInfo<SocketAddr>` extension (the peer address), which `serve` adds.
pub fn router(node: Arc<Node>, auditor: Auditor) -> axum::Router {
    http::router(Arc::new(App { node, auditor }))
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let listen = match (opts.listen, config.server.listen) {
        (Some(l), _) | (None, Some(l)) => l,
        (None, None) => DEFAULT_LISTEN.parse()?,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr()?;
    let public_url = opts
        .public_url
        .clone()
        .or_else(|| config.server.public_url.clone())
        .unwrap_or_else(|| format!("http://{bound}"));

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
        println!(
            "keyless: created the admin credentials (also in {}, mode 0600; shown only once):",
            started.data.admin_file().display()
        );
        print!("{}", keyless_node::data::export_lines(credentials));
    }
    let node = Arc::new(started.node);
    crate::metrics::install()?;
    let auditor = Auditor::start(&audit, &started.data.data_dir, node.store.clone())?;
    node.spawn_refresher(REFRESH_INTERVAL);
    if opts.dev {
        print_dev_banner(&public_url, node.account(), &started.data.data_dir);
    }
    println!("keyless: listening on http://{bound}");
    let router = router(node, auditor.clone());
    // Responses go out at once: without TCP_NODELAY, Nagle's algorithm and the client's
    // delayed ACK add up to 40 ms to a response written in two segments.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    // Every answered request's event reaches the sink before the process exits.
    tokio::task::spawn_blocking(move || auditor.close()).await?;
    Ok(())
}

fn print_dev_banner(public_url: &str, account: &str, data_dir: &Path) {
    let role = format!("arn:aws:iam::{account}:role/{}", dev::ROLE_NAME);
    let data = data_dir.display();
    println!(
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
