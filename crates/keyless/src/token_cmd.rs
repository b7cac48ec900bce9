//! `keyless token mint`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use keyless_node::data::DataOptions;
use keyless_node::issuers::MintJob;
use keyless_oidc::issuer::{self, RefType};

use crate::out::outln;

#[derive(Clone, Copy, ValueEnum)]
pub enum RefTypeArg {
    Branch,
    Tag,
}

/// Arguments of `keyless token mint`.
#[derive(Args)]
pub struct MintArgs {
    /// The data directory of a keyless server.
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database, if not the data directory's SQLite file.
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
    /// The built-in issuer's name.
    #[arg(long, default_value = "gitlab")]
    issuer: String,
    /// GitLab `group/project` (GitHub profile: `owner/repo`).
    #[arg(long)]
    project_path: String,
    /// The branch or tag.
    #[arg(long = "ref")]
    git_ref: String,
    /// Whether the ref is a branch or a tag.
    #[arg(long, value_enum, default_value = "branch")]
    ref_type: RefTypeArg,
    /// An audience; repeat for several (default: the issuer's `iss`).
    #[arg(long = "aud")]
    aud: Vec<String>,
    /// Lifetime, e.g. `1h`, `15m` (default: the issuer's, 1h).
    #[arg(long)]
    ttl: Option<String>,
    /// The job's environment.
    #[arg(long)]
    environment: Option<String>,
    /// A claim: `key=value` (a string) or `key:=JSON`; repeat for several; overrides defaults.
    #[arg(long = "claim")]
    claims: Vec<String>,
    /// GitLab `sub` components, in order (default project_path,ref_type,ref), as a project's
    /// `ci_id_token_sub_claim_components` sets them.
    #[arg(long, value_delimiter = ',')]
    sub_components: Option<Vec<String>>,
}

/// Mints and prints a token.
pub async fn mint(args: MintArgs) -> anyhow::Result<ExitCode> {
    let node = keyless_node::start::open_offline(&DataOptions {
        data_dir: args.data_dir.clone(),
        database: args.database.clone(),
    })
    .await?;
    let live = node.live.load();
    let Some(builtin) = live.issuers.get(&args.issuer) else {
        anyhow::bail!(
            "no built-in issuer named {} in {}",
            args.issuer,
            args.data_dir.display()
        );
    };
    let claims = args
        .claims
        .iter()
        .map(|c| issuer::parse_claim_arg(c))
        .collect::<Result<Vec<_>, _>>()?;
    let ttl_secs = args.ttl.as_deref().map(issuer::parse_ttl).transpose()?;
    let job = MintJob {
        project_path: args.project_path,
        git_ref: args.git_ref,
        ref_type: match args.ref_type {
            RefTypeArg::Branch => RefType::Branch,
            RefTypeArg::Tag => RefType::Tag,
        },
        audiences: args.aud,
        ttl_secs,
        environment: args.environment,
        sub_components: args.sub_components,
        claims,
    };
    let token = builtin.mint(&job, keyless_node::clock::unix_now())?;
    outln!("{token}")?;
    Ok(ExitCode::SUCCESS)
}
