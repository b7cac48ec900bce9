//! `keyless explain`: why a token can or cannot assume a role, step by step.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use keyless_node::clock::unix_now;
use keyless_node::data::DataOptions;
use keyless_sts::explain::{self, ExplainInput};

use crate::out::{out, outln};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Arguments of `keyless explain`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["token", "claims"])))]
pub struct ExplainArgs {
    /// The role to explain (repeat for several).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Explain every role instead.
    #[arg(long, conflicts_with = "roles")]
    all_roles: bool,
    /// A file holding the ID token (as a CI job writes it).
    #[arg(long)]
    token: Option<PathBuf>,
    /// A JSON file of claims: the signature and time checks are skipped.
    #[arg(long)]
    claims: Option<PathBuf>,
    /// The data directory of a keyless server.
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA_DIR")]
    data_dir: PathBuf,
    /// The database, if not the data directory's SQLite file.
    #[arg(long, env = "KEYLESS_DATABASE")]
    database: Option<String>,
    /// Ask a running server instead of reading the data directory (signed with the admin key
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as `keyless admin credentials` prints).
    #[arg(long)]
    server: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Explains; exits 0 when the exchange would succeed, 1 when it would fail.
pub async fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    if args.roles.is_empty() && !args.all_roles {
        anyhow::bail!("give --role ROLE_ARN (repeatable) or --all-roles");
    }
    let input = match (&args.token, &args.claims) {
        (Some(path), _) => ExplainInput::Token(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            ExplainInput::Claims(
                serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", path.display()))?,
            )
        }
        (None, None) => anyhow::bail!("give --token FILE or --claims FILE"),
    };
    if let Some(server) = &args.server {
        return remote(server, &args, &input).await;
    }
    let node = keyless_node::start::open_offline(&DataOptions {
        data_dir: args.data_dir.clone(),
        database: args.database.clone(),
    })
    .await?;
    let live = node.live.load_full();
    let now = unix_now();
    let key = match &input {
        ExplainInput::Token(t) => match explain::key_need(&live.sts, t) {
            Some(need) => Some(
                node.key_cache
                    .key(
                        &need.provider.keys,
                        need.jwt.header.kid.as_deref(),
                        need.jwt.header.alg,
                    )
                    .await,
            ),
            None => None,
        },
        ExplainInput::Claims(_) => None,
    };
    let roles = (!args.all_roles).then_some(args.roles.as_slice());
    let report = explain::explain(&live.sts, &input, key, roles, now);
    match args.format {
        Format::Text => out!("{}", explain::render_text(&report)),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
    }?;
    Ok(
        if report.allowed() && report.roles.iter().all(|r| r.allowed || args.all_roles) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// `--server`: the server runs the pipeline on its live state and key cache.
async fn remote(
    server: &str,
    args: &ExplainArgs,
    input: &ExplainInput,
) -> anyhow::Result<ExitCode> {
    let id = std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| {
        anyhow::anyhow!(
            "--server needs the admin key in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    })?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .map_err(|_| anyhow::anyhow!("--server needs AWS_SECRET_ACCESS_KEY"))?;
    let mut body = serde_json::json!({ "roles": args.roles, "all_roles": args.all_roles });
    match input {
        ExplainInput::Token(t) => body["token"] = serde_json::json!(t),
        ExplainInput::Claims(c) => body["claims"] = c.clone(),
    }
    let body = serde_json::to_vec(&body)?;
    let url: reqwest::Url = format!("{}/keyless/explain", server.trim_end_matches('/')).parse()?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => anyhow::bail!("{server} has no host"),
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse()?);
    headers.insert(
        "x-amz-date",
        keyless_credentials::sigv4::amz_date(unix_now()).parse()?,
    );
    headers.insert(http::header::CONTENT_TYPE, "application/json".parse()?);
    let parts = keyless_credentials::sigv4::RequestParts {
        method: "POST",
        path: url.path(),
        query: "",
        headers: &headers,
        body: &body,
    };
    let authorization =
        keyless_credentials::sigv4::sign(&parts, &id, &secret, "us-east-1", "keyless")
            .map_err(|e| anyhow::anyhow!("cannot sign the request: {}", e.message))?;
    headers.insert(http::header::AUTHORIZATION, authorization.parse()?);
    headers.remove(http::header::HOST);
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let doc: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
    if !status.is_success() {
        anyhow::bail!(
            "{server}: {} {}",
            doc["Error"]["Code"].as_str().unwrap_or("error"),
            doc["Error"]["Message"].as_str().unwrap_or("")
        );
    }
    match args.format {
        Format::Text => out!("{}", doc["text"].as_str().unwrap_or_default()),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&doc["report"])?),
    }?;
    Ok(if doc["allowed"].as_bool() == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
