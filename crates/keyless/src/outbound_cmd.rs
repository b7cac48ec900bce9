//! `keyless outbound publish`: the outbound issuer's discovery document and JWKS as static
//! files, for hosting where relying parties (real AWS, other clouds) can fetch them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyless_node::data::DataOptions;
use keyless_node::outbound::{self, OutboundSettings};

use crate::out::outln;

#[derive(Subcommand)]
pub enum OutboundCommand {
    /// Write `<out>/.well-known/openid-configuration` and `<out>/.well-known/jwks.json`:
    /// upload the folder so that it is served at the issuer URL. Run it again after each
    /// `keyless keys rotate-outbound`.
    Publish(PublishArgs),
}

#[derive(Args)]
pub struct PublishArgs {
    /// The data directory (master key; SQLite database unless --database is given).
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
    /// The folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

/// Runs an outbound subcommand.
pub async fn run(cmd: OutboundCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OutboundCommand::Publish(args) => publish(args).await,
    }
}

async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let data = DataOptions {
        data_dir: args.data_dir,
        database: args.database,
    };
    let node = keyless_node::start::open_offline(&data).await?;
    let issuer = node.settings.outbound.issuer.clone();
    if issuer.is_empty() {
        anyhow::bail!(
            "the data directory records no outbound issuer: run `keyless serve` on it once first"
        );
    }
    let records = node.store.outbound().await?;
    let settings = OutboundSettings {
        issuer: issuer.clone(),
        session_tags: Vec::new(),
    };
    let loaded = outbound::load(&settings, &records)?;
    let discovery = keyless_oidc::outbound::discovery_document(&issuer);
    let jwks = loaded.keyring.jwks();
    let dir = args.out.join(".well-known");
    std::fs::create_dir_all(&dir)?;
    write_atomically(
        &dir.join("openid-configuration"),
        &serde_json::to_vec_pretty(&discovery)?,
    )?;
    write_atomically(&dir.join("jwks.json"), &serde_json::to_vec_pretty(&jwks)?)?;
    let kids: Vec<&str> = loaded.keyring.published().map(|k| k.kid()).collect();
    outln!(
        "wrote {} and {} for {issuer} (keys: {}); serve them at {issuer}/.well-known/",
        dir.join("openid-configuration").display(),
        dir.join("jwks.json").display(),
        kids.join(", ")
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `path` through a temporary file renamed into place, so a web server never serves
/// half a document.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
