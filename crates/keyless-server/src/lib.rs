//! The keyless HTTP server: STS (and IAM) on the AWS Query protocol, the built-in issuers'
//! endpoints, audit and metrics.

pub mod app;
pub mod audit;
pub mod bootstrap;
pub mod config;
pub mod dev;
pub mod http;
pub mod iam;
pub mod issuers;
pub mod metrics;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use app::{App, Settings};
use bootstrap::DataOptions;
use config::Config;
use issuers::IssuerSettings;

/// How often replicas look for changes made elsewhere.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

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

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The file in the data directory that records the account and the built-in issuers'
/// settings, so that `keyless token mint` and `keyless explain` work offline.
pub const RUNTIME_FILE: &str = "runtime.json";

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if opts.clock_offset_secs != 0 && !opts.dev {
        anyhow::bail!("--clock-offset is only available with --dev");
    }
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

    let now = app::unix_now() + opts.clock_offset_secs;
    let (file, base) = config_origin(opts.config.as_deref());
    let mut issuer_configs = config.issuers.clone();
    if opts.dev && !issuer_configs.iter().any(|i| i.name == dev::ISSUER_NAME) {
        issuer_configs.push(dev::issuer());
    }
    let mut declared = config.declared_entities(&file, &base, now)?;
    let account = config.account().to_owned();
    if opts.dev {
        dev::add_entities(&mut declared, &account, now);
    }
    let issuer_settings = issuer_configs
        .iter()
        .map(|c| IssuerSettings::resolve(c, &public_url))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut data = opts.data.clone();
    if data.database.is_none() {
        data.database = config.server.database.clone();
    }
    let store = bootstrap::open_store(&data).await?;
    bootstrap::ensure_sealing_key(&store, now).await?;
    for issuer in &issuer_settings {
        bootstrap::ensure_issuer_key(&store, &issuer.name, now).await?;
    }
    let admin = bootstrap::ensure_admin(&store).await?;
    if admin.created {
        let path = data.admin_file();
        bootstrap::write_admin_file(&path, &admin.credentials)?;
        println!(
            "keyless: created the admin credentials (also in {}, mode 0600; shown only once):",
            path.display()
        );
        print!("{}", bootstrap::export_lines(&admin.credentials));
    }
    store
        .apply_config(
            &declared.providers,
            &declared.roles,
            &declared.role_policies,
        )
        .await?;
    write_runtime_file(&data.data_dir, &account, &issuer_settings)?;

    let settings = Settings {
        account: account.clone(),
        public_url: public_url.clone(),
        debug_denials: config.server.debug_denials.unwrap_or(opts.dev),
        token_leeway_secs: config.server.token_leeway_secs.unwrap_or(60),
        max_body_bytes: config.server.max_body_bytes.unwrap_or(256 * 1024),
        dev: opts.dev,
        clock_offset_secs: opts.clock_offset_secs,
        issuers: issuer_settings,
    };
    crate::metrics::install()?;
    let auditor = audit::Auditor::start(&config.audit, &data.data_dir, store.clone())?;
    let app = App::new(settings, store, auditor.clone()).await?;
    for w in &app.live.load().sts.warnings {
        tracing::warn!("{w}");
    }
    app.spawn_refresher(REFRESH_INTERVAL);
    if opts.dev {
        print_dev_banner(&public_url, &account, &data.data_dir);
    }
    println!("keyless: listening on http://{bound}");
    let router = http::router(app);
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

fn config_origin(path: Option<&Path>) -> (String, PathBuf) {
    match path {
        Some(p) => (
            p.display().to_string(),
            p.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        ),
        None => ("(built-in)".to_owned(), PathBuf::from(".")),
    }
}

fn write_runtime_file(dir: &Path, account: &str, issuers: &[IssuerSettings]) -> anyhow::Result<()> {
    let list: Vec<serde_json::Value> = issuers
        .iter()
        .map(|i| {
            serde_json::json!({
                "name": i.name,
                "iss": i.iss,
                "profile": i.profile.as_str(),
                "default_ttl": i.default_ttl,
            })
        })
        .collect();
    let doc = serde_json::json!({ "account": account, "issuers": list });
    let path = dir.join(RUNTIME_FILE);
    let tmp = dir.join(format!("{RUNTIME_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// What the last `keyless serve` on a data directory recorded: the account and the built-in
/// issuers' settings.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The account ID.
    pub account: String,
    /// The built-in issuers.
    pub issuers: Vec<IssuerSettings>,
}

/// Reads the settings recorded by the last `keyless serve` on `dir`.
pub fn read_runtime_file(dir: &Path) -> anyhow::Result<Runtime> {
    let path = dir.join(RUNTIME_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {} ({e}); start `keyless serve` on this data directory once first",
            path.display()
        )
    })?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let account = doc["account"]
        .as_str()
        .unwrap_or(config::DEFAULT_ACCOUNT)
        .to_owned();
    let issuers = doc["issuers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|v| IssuerSettings {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            iss: v["iss"].as_str().unwrap_or_default().to_owned(),
            profile: match v["profile"].as_str() {
                Some("github") => keyless_oidc::issuer::Profile::Github,
                _ => keyless_oidc::issuer::Profile::Gitlab,
            },
            default_ttl: v["default_ttl"]
                .as_u64()
                .unwrap_or(keyless_oidc::issuer::DEFAULT_TTL_SECS),
        })
        .collect();
    Ok(Runtime { account, issuers })
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
        base = issuers::issuer_base_url(public_url, dev::ISSUER_NAME),
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
