//! `keyless provider check` and `keyless provider pin`: look at an OIDC issuer the way the
//! server will, and pin its keys for private or air-gapped setups.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyless_oidc::keys::{
    CacheConfig, HttpFetcher, ProviderReport, TlsOptions, inspect_provider, pinned_config_fragment,
};

use crate::out::{out, outln};

#[derive(Subcommand)]
pub enum ProviderCommand {
    /// Fetch discovery and the JWKS; print the keys, algorithms and TLS thumbprint.
    Check(TargetArgs),
    /// Print a `[[provider]]` config block with the issuer's current keys pinned.
    Pin {
        #[command(flatten)]
        target: TargetArgs,
        /// The audiences to accept (repeat for several; default: the issuer URL).
        #[arg(long = "client-id")]
        client_ids: Vec<String>,
    },
}

#[derive(Args)]
pub struct TargetArgs {
    /// The issuer URL, as tokens carry it in `iss`.
    url: String,
    /// Extra CA certificates (PEM) to trust for the issuer's hosts.
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// A certificate SHA-1 thumbprint to pin (repeat for several).
    #[arg(long = "thumbprint")]
    thumbprints: Vec<String>,
    /// Allow plain http to a host that is not loopback.
    #[arg(long)]
    allow_insecure_http: bool,
}

async fn inspect(t: &TargetArgs) -> anyhow::Result<ProviderReport> {
    keyless_node::config::check_url(&t.url, t.allow_insecure_http).map_err(anyhow::Error::msg)?;
    let ca_bundle_pem = match &t.ca_bundle {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        ),
        None => None,
    };
    let tls = TlsOptions {
        ca_bundle_pem,
        thumbprints: t.thumbprints.clone(),
        allow_insecure_http: t.allow_insecure_http,
    };
    let fetcher = HttpFetcher::new(&CacheConfig::default());
    inspect_provider(&t.url, &tls, &fetcher)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", t.url, e.message))
}

/// Runs a provider subcommand.
pub async fn run(cmd: ProviderCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProviderCommand::Check(target) => {
            let r = inspect(&target).await?;
            outln!("issuer      {}", r.issuer)?;
            outln!("discovery   {}", r.discovery_url)?;
            outln!("jwks_uri    {}", r.jwks_uri)?;
            match &r.tls_thumbprint {
                Some(t) => outln!(
                    "thumbprint  {} (the certificate AWS would pin)",
                    t.to_ascii_uppercase()
                ),
                None => outln!("thumbprint  (none: plain http)"),
            }?;
            if let Some(t) = &r.jwks_tls_thumbprint {
                outln!("jwks thumbprint {}", t.to_ascii_uppercase())?;
            }
            outln!("keys        {}", r.keys.len())?;
            for k in &r.keys {
                outln!(
                    "  kid {}  {}  alg {}  thumbprint {}",
                    k.kid.as_deref().unwrap_or("(none)"),
                    k.kty.as_str(),
                    k.alg.map(|a| a.as_str()).unwrap_or("(any)"),
                    k.thumbprint
                )?;
            }
            for s in &r.skipped {
                outln!("  skipped: {s:?}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Pin { target, client_ids } => {
            let r = inspect(&target).await?;
            let client_ids = if client_ids.is_empty() {
                vec![target.url.clone()]
            } else {
                client_ids
            };
            out!("{}", pinned_config_fragment(&r, &client_ids))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
