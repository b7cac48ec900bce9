//! `keyless keys`: rotate the session-token sealing key, the built-in issuers' signing keys and
//! the outbound signing keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyless_credentials::session::generate_sealing_key;
use keyless_node::data::DataOptions;
use keyless_oidc::issuer::SigningKey;
use keyless_store::{IssuerKeyRecord, KeyState, SealingKeyRecord};

use crate::out::outln;

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the subcommands are `rotate-*`, as clap names them
pub enum KeysCommand {
    /// Make a new sealing key current. Tokens sealed with the previous keys keep verifying on
    /// every replica (each picks the change up within a second); tokens older than the kept
    /// previous keys stop verifying.
    RotateSealing(RotateArgs),
    /// Rotate a built-in issuer's signing key in two steps: the first run publishes a next key
    /// (in the JWKS, not yet signing); the next run makes it current and keeps the old key
    /// published until its tokens have expired. Relying parties cache JWKS documents (GitLab
    /// says 24 h), so leave that long between the two runs.
    RotateIssuer(RotateIssuerArgs),
    /// Rotate the outbound signing keys (RS256 and ES384) in two steps: the first run
    /// publishes a next key of each algorithm; the next run makes them current and keeps the
    /// old ones published until their last token has expired (retired by a later run). Run
    /// `keyless outbound publish` after each step, and leave relying parties time to refetch
    /// the JWKS (an hour by its Cache-Control) between the two steps.
    RotateOutbound(RotateOutboundArgs),
}

#[derive(Args)]
pub struct RotateOutboundArgs {
    /// The data directory (master key; SQLite database unless --database is given).
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
}

#[derive(Args)]
pub struct RotateIssuerArgs {
    /// The data directory (master key; SQLite database unless --database is given).
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
    /// The built-in issuer.
    #[arg(long)]
    issuer: String,
    /// Retire previous keys older than this (default 1d): the longest token lifetime plus a margin.
    #[arg(long, default_value = "1d")]
    retire_after: String,
}

#[derive(Args)]
pub struct RotateArgs {
    /// The data directory (master key; SQLite database unless --database is given).
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
    /// How many previous keys keep verifying (cover the longest session: 12 h at most).
    #[arg(long, default_value_t = 2)]
    keep_previous: usize,
}

/// Runs a keys subcommand.
pub async fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::RotateSealing(args) => {
            let store = keyless_node::data::open_store(&DataOptions {
                data_dir: args.data_dir,
                database: args.database,
            })
            .await?;
            let snapshot = store.load_snapshot().await?;
            let next_id = snapshot
                .sealing_keys
                .iter()
                .map(|k| k.id)
                .max()
                .unwrap_or(0)
                .checked_add(1)
                .ok_or_else(|| anyhow::anyhow!("sealing key ids are exhausted"))?;
            let now = keyless_node::clock::unix_now();
            let key = generate_sealing_key(next_id, now);
            store
                .rotate_sealing_key(
                    &SealingKeyRecord {
                        id: key.id,
                        key: key.key,
                        created: now,
                        state: KeyState::Current,
                    },
                    args.keep_previous,
                )
                .await?;
            outln!("sealing key {next_id} is now current")?;
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::RotateIssuer(args) => rotate_issuer(args).await,
        KeysCommand::RotateOutbound(args) => rotate_outbound(args).await,
    }
}

async fn rotate_outbound(args: RotateOutboundArgs) -> anyhow::Result<ExitCode> {
    use keyless_node::outbound::RotationStep;
    let store = keyless_node::data::open_store(&DataOptions {
        data_dir: args.data_dir,
        database: args.database,
    })
    .await?;
    let now = keyless_node::clock::unix_now();
    for step in keyless_node::outbound::rotate(&store, now).await? {
        match step {
            RotationStep::Published { kid } => outln!(
                "published the next outbound key {kid}; run `keyless outbound publish`, and run this again once relying parties have refetched the JWKS to start signing with it"
            )?,
            RotationStep::Promoted { kid, replaced } => outln!(
                "{kid} now signs; {replaced} stays published until its last token has expired"
            )?,
            RotationStep::Retired { kid } => outln!("retired {kid}")?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_issuer(args: RotateIssuerArgs) -> anyhow::Result<ExitCode> {
    let retire_after = i64::try_from(keyless_oidc::issuer::parse_ttl(&args.retire_after)?)?;
    let store = keyless_node::data::open_store(&DataOptions {
        data_dir: args.data_dir,
        database: args.database,
    })
    .await?;
    let snapshot = store.load_snapshot().await?;
    let keys: Vec<_> = snapshot
        .issuer_keys
        .iter()
        .filter(|k| k.issuer == args.issuer)
        .collect();
    let now = keyless_node::clock::unix_now();
    let Some(current) = keys.iter().find(|k| k.state == KeyState::Current) else {
        anyhow::bail!(
            "the issuer {} has no current key: has `keyless serve` run with it?",
            args.issuer
        );
    };
    match keys.iter().find(|k| k.state == KeyState::Next) {
        None => {
            let key = SigningKey::generate()?;
            store
                .insert_issuer_key(&IssuerKeyRecord {
                    issuer: args.issuer.clone(),
                    kid: key.kid().to_owned(),
                    pkcs8_der: key.to_pkcs8_der(),
                    created: now,
                    state: KeyState::Next,
                    state_changed: now,
                })
                .await?;
            outln!(
                "published the next key {} of {}; run this again once relying parties have refreshed the JWKS (24 h for GitLab-style caching) to start signing with it",
                key.kid(),
                args.issuer
            )?;
        }
        Some(next) => {
            for old in keys
                .iter()
                .filter(|k| k.state == KeyState::Previous && now - k.state_changed >= retire_after)
            {
                store
                    .set_issuer_key_state(&args.issuer, &old.kid, KeyState::Retired, now)
                    .await?;
                outln!("retired {}", old.kid)?;
            }
            // Promote first: a replica that reloads in between sees two current keys and
            // signs with the newer, never none.
            store
                .set_issuer_key_state(&args.issuer, &next.kid, KeyState::Current, now)
                .await?;
            store
                .set_issuer_key_state(&args.issuer, &current.kid, KeyState::Previous, now)
                .await?;
            outln!(
                "{} now signs for {}; {} stays published until it is retired",
                next.kid,
                args.issuer,
                current.kid
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
