//! Starting a node: the config's settings resolved, the data directory and the store opened,
//! the keys and admin credentials created at first start, the config's entities applied, the
//! runtime file written, and the live state compiled.

use std::path::{Path, PathBuf};

use keyless_store::AdminCredentials;

use crate::clock::unix_now;
use keyless_policy::{ParseOptions, Policy, PolicyKind, PrincipalType};

use crate::config::{Config, ConfigError, DeclaredEntities};
use crate::data::{self, DataOptions};
use crate::dev;
use crate::issuers::IssuerSettings;
use crate::node::Node;
use crate::outbound::OutboundSettings;
use crate::runtime::Runtime;
use crate::settings::{AUTHORIZER_TOKEN_ENV, AuthorizerToken, Settings};

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Where the state is.
    pub data: DataOptions,
    /// The configuration.
    pub config: Config,
    /// The file the configuration came from, if any (it names errors and anchors relative
    /// paths).
    pub config_file: Option<PathBuf>,
    /// Development mode: the built-in GitLab issuer, its provider and the deployer role.
    pub dev: bool,
    /// The public base URL.
    pub public_url: String,
    /// Seconds added to the clock (development mode only).
    pub clock_offset_secs: i64,
}

/// A started node, and what its start created.
pub struct Started {
    /// The node.
    pub node: Node,
    /// Where its state is (the database resolved from the options and the config).
    pub data: DataOptions,
    /// The admin credentials, when this start created them.
    pub admin_created: Option<AdminCredentials>,
}

/// Starts a node. Every check of the configuration runs before the store is touched.
pub async fn start(opts: NodeOptions) -> anyhow::Result<Started> {
    if opts.clock_offset_secs != 0 && !opts.dev {
        anyhow::bail!("--clock-offset is only available with --dev");
    }
    let now = unix_now() + opts.clock_offset_secs;
    let (file, base) = config_origin(opts.config_file.as_deref());
    let config = &opts.config;
    let mut issuer_configs = config.issuers.clone();
    if opts.dev && !issuer_configs.iter().any(|i| i.name == dev::ISSUER_NAME) {
        issuer_configs.push(dev::issuer());
    }
    let mut declared = config.declared_entities(&file, &base, now)?;
    let account = config.account().to_owned();
    if opts.dev {
        let s3 = config.s3_gateway.backend_url.is_some();
        dev::add_entities(&mut declared, &account, now, s3);
    }
    let issuers = issuer_configs
        .iter()
        .map(|c| IssuerSettings::resolve(c, &opts.public_url))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let outbound = OutboundSettings::resolve(&config.outbound, &opts.public_url)?;

    let mut data = opts.data.clone();
    if data.database.is_none() {
        data.database = config.server.database.clone();
    }
    let store = data::open_store(&data).await?;
    if let Some(generations) = config.server.change_log_generations {
        store.set_change_retention(generations);
    }
    check_federated_principals(config, &file, &declared, &store).await?;
    data::ensure_sealing_key(&store, now).await?;
    for issuer in &issuers {
        data::ensure_issuer_key(&store, &issuer.name, now).await?;
    }
    crate::outbound::ensure_keys(&store, now).await?;
    let admin = data::ensure_admin(&store).await?;
    if admin.created {
        data::write_admin_file(&data.admin_file(), &admin.credentials)?;
    }
    store
        .apply_config(
            &declared.providers,
            &declared.roles,
            &declared.role_policies,
        )
        .await?;
    Runtime {
        account: account.clone(),
        issuers: issuers.clone(),
        outbound_issuer: Some(outbound.issuer.clone()),
    }
    .write(&data.data_dir)?;

    let settings = Settings {
        account,
        public_url: opts.public_url.clone(),
        debug_denials: config.server.debug_denials.unwrap_or(opts.dev),
        token_leeway_secs: config.server.token_leeway_secs.unwrap_or(60),
        max_body_bytes: config.server.max_body_bytes.unwrap_or(256 * 1024),
        dev: opts.dev,
        clock_offset_secs: opts.clock_offset_secs,
        issuers,
        authorizer_token: AuthorizerToken::resolve(
            std::env::var(AUTHORIZER_TOKEN_ENV).ok(),
            config.authorize.nginx_token.as_deref(),
        )?,
        outbound,
    };
    let node = Node::new(settings, store).await?;
    for w in &node.live.load().sts.warnings {
        tracing::warn!("{w}");
    }
    Ok(Started {
        node,
        data,
        admin_created: admin.created.then_some(admin.credentials),
    })
}

/// Refuses, as IAM's `CreateRole` does, a config role whose trust policy names a `Federated`
/// provider ARN that is neither declared nor stored: its tokens could never be trusted.
async fn check_federated_principals(
    config: &Config,
    file: &str,
    declared: &DeclaredEntities,
    store: &keyless_store::Store,
) -> anyhow::Result<()> {
    let account = config.account();
    let stored = store.list_providers().await?;
    let known = |arn: &str| {
        declared
            .providers
            .iter()
            .chain(stored.iter())
            .any(|p| p.arn(account) == arn)
    };
    for (i, role_config) in config.roles.iter().enumerate() {
        let Some(role) = declared.roles.iter().find(|r| r.name == role_config.name) else {
            continue;
        };
        let Ok(policy) = Policy::parse(&role.trust_policy, &ParseOptions::new(PolicyKind::Trust))
        else {
            continue;
        };
        let unknown = policy
            .statements()
            .iter()
            .filter_map(|s| s.principal())
            .flat_map(|p| p.values())
            .filter(|v| v.principal_type() == PrincipalType::Federated)
            .map(|v| v.value().text())
            .find(|arn| arn.starts_with("arn:") && !known(arn));
        if let Some(arn) = unknown {
            let field = if role_config.trust_policy_file.is_some() {
                "trust_policy_file"
            } else {
                "trust_policy"
            };
            return Err(ConfigError {
                file: file.to_owned(),
                location: format!("role[{i}].{field}"),
                reason: format!(
                    "MalformedPolicyDocument: Invalid principal in policy: \"Federated\":\"{arn}\" (no [[provider]] and no stored OIDC provider has this ARN)"
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// The name a config file goes by in errors, and the folder its relative paths start from.
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

/// Opens the node of a data directory without serving it, for the CLI's offline commands
/// (`keyless explain`, `keyless token mint`): the account and the built-in issuers come from
/// the runtime file the last `keyless serve` wrote, and denials carry their reasons.
pub async fn open_offline(data: &DataOptions) -> anyhow::Result<Node> {
    let runtime = Runtime::read(&data.data_dir)?;
    let store = data::open_store(data).await?;
    let settings = Settings {
        account: runtime.account,
        public_url: String::new(),
        debug_denials: true,
        token_leeway_secs: 60,
        max_body_bytes: 0,
        dev: false,
        clock_offset_secs: 0,
        issuers: runtime.issuers,
        authorizer_token: None,
        outbound: OutboundSettings {
            issuer: runtime.outbound_issuer.unwrap_or_default(),
            session_tags: Vec::new(),
        },
    };
    Node::new(settings, store).await
}
