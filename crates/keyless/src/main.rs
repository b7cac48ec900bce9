//! `keyless`: a self-hosted STS for CI/CD OIDC federation.

mod out;

mod explain_cmd;
mod keys_cmd;
mod lint_cmd;
mod outbound_cmd;
mod policy_cmd;
mod provider_cmd;
mod token_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use keyless_node::data::DataOptions;

/// mimalloc's per-thread free lists make the many small, short-lived allocations of a request
/// cheaper than glibc's malloc does (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keyless",
    version,
    about = "Self-hosted STS for CI/CD OIDC federation: GitLab-style ID tokens -> AssumeRoleWithWebIdentity -> temporary credentials"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (STS on the AWS Query protocol, built-in issuers).
    Serve(ServeArgs),
    /// Admin credentials.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Built-in issuer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Why a token can or cannot assume a role: every step of the exchange, down to the
    /// trust-policy condition. Mints nothing.
    Explain(explain_cmd::ExplainArgs),
    /// Key rotation.
    Keys {
        #[command(subcommand)]
        command: keys_cmd::KeysCommand,
    },
    /// Check trust policies for the known OIDC pitfalls (text, JSON or SARIF).
    Lint(lint_cmd::LintArgs),
    /// OIDC providers: inspect an issuer, pin its keys.
    Provider {
        #[command(subcommand)]
        command: provider_cmd::ProviderCommand,
    },
    /// Outbound identity federation: publish the issuer's discovery document and JWKS.
    Outbound {
        #[command(subcommand)]
        command: outbound_cmd::OutboundCommand,
    },
    /// IAM policies: validate and simulate.
    Policy {
        #[command(subcommand)]
        command: policy_cmd::PolicyCommand,
    },
}

/// Where the state lives.
#[derive(Args, Clone)]
struct DataArgs {
    /// The data directory: the SQLite database, the master key, the admin credentials file.
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database: `sqlite:PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
}

impl DataArgs {
    fn options(&self) -> DataOptions {
        DataOptions {
            data_dir: self.data_dir.clone(),
            database: self.database.clone(),
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Listen address [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    data: DataArgs,
    /// A TOML config file: server settings, account, issuers, providers, roles.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Bring up the whole seed setup: a GitLab issuer, the gitlab.com provider, the
    /// gitlab-deployer role.
    #[arg(long)]
    dev: bool,
    /// The public base URL of this server [default: http://<listen address>].
    #[arg(long)]
    public_url: Option<String>,
    /// Shift the server clock, e.g. `-1000s` (with --dev only; for testing expiry).
    #[arg(long, hide = true, allow_hyphen_values = true)]
    clock_offset: Option<String>,
    /// Where the S3 gateway listens [default: 127.0.0.1:9000].
    #[arg(long)]
    s3_gateway_listen: Option<SocketAddr>,
    /// Run the S3 gateway, forwarding to this S3-compatible store (its key from
    /// KEYLESS_S3_BACKEND_ACCESS_KEY_ID and KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY).
    #[arg(long)]
    s3_backend_url: Option<String>,
    /// The region the S3 backend's signatures are scoped to [default: us-east-1].
    #[arg(long)]
    s3_backend_region: Option<String>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print the admin key pair as shell `export` lines.
    Credentials(DataArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint an ID token offline from the data directory and print it.
    Mint(token_cmd::MintArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyless: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => code,
        // A closed pipe (`keyless token mint | head -c 10`) ends the command quietly.
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyless: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let clock_offset_secs = match &args.clock_offset {
                Some(text) => parse_offset(text)?,
                None => 0,
            };
            keyless_server::serve(keyless_server::ServeOptions {
                listen: args.listen,
                data: args.data.options(),
                config: args.config,
                dev: args.dev,
                public_url: args.public_url,
                clock_offset_secs,
                s3_gateway_listen: args.s3_gateway_listen,
                s3_backend_url: args.s3_backend_url,
                s3_backend_region: args.s3_backend_region,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command: AdminCommand::Credentials(data),
        } => {
            let store = keyless_node::data::open_store(&data.options()).await?;
            match store.admin_credentials().await? {
                Some(creds) => {
                    out::out!("{}", keyless_node::data::export_lines(&creds))?;
                    Ok(ExitCode::SUCCESS)
                }
                None => anyhow::bail!(
                    "no admin credentials yet: start `keyless serve` on this data directory once"
                ),
            }
        }
        Command::Token {
            command: TokenCommand::Mint(args),
        } => token_cmd::mint(args).await,
        Command::Policy { command } => policy_cmd::run(command),
        Command::Provider { command } => provider_cmd::run(command).await,
        Command::Explain(args) => explain_cmd::run(args).await,
        Command::Lint(args) => lint_cmd::run(args),
        Command::Keys { command } => keys_cmd::run(command).await,
        Command::Outbound { command } => outbound_cmd::run(command).await,
    }
}

/// `-1000s`, `+15m`, `3600` → seconds.
fn parse_offset(text: &str) -> anyhow::Result<i64> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let secs = keyless_oidc::issuer::parse_ttl(rest)?;
    Ok(sign * i64::try_from(secs)?)
}

/// Logs go to stderr: `info` for the server, `warn` for the other commands, or `KEYLESS_LOG`.
fn init_tracing(serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_env("KEYLESS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
