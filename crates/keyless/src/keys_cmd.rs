//! `keyless keys`: rotate the session-token sealing key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyless_credentials::session::generate_sealing_key;
use keyless_server::bootstrap::DataOptions;
use keyless_store::{KeyState, SealingKeyRecord};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new sealing key current. Tokens sealed with the previous keys keep verifying on
    /// every replica (each picks the change up within a second); tokens older than the kept
    /// previous keys stop verifying.
    RotateSealing(RotateArgs),
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
            let store = keyless_server::bootstrap::open_store(&DataOptions {
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
            let now = keyless_server::app::unix_now();
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
            println!("sealing key {next_id} is now current");
            Ok(ExitCode::SUCCESS)
        }
    }
}
