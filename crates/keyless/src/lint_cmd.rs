//! `keyless lint`: trust policies checked for the known OIDC pitfalls.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use keyless_lint::{FileReport, KeyMode, LintOptions, Severity};

use crate::out::{out, outln};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Every claim is a condition key (keyless's default).
    All,
    /// Only the claims AWS exposes; others are flagged as ignored.
    Aws,
}

/// Arguments of `keyless lint`.
#[derive(Args)]
pub struct LintArgs {
    /// Trust-policy JSON files, or keyless config files (`.toml`: every role's trust policy).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The provider the policies trust, e.g. `https://gitlab.com` (default: from the
    /// Federated principals).
    #[arg(long)]
    provider_url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit non-zero when a finding is at or above this severity.
    #[arg(long, value_enum, default_value = "high")]
    fail_on: FailOn,
    /// Which claims are condition keys.
    #[arg(long, value_enum, default_value = "all")]
    mode: ModeArg,
}

/// Lints; exits 1 when a finding reaches `--fail-on` or a policy does not parse.
pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let opts = LintOptions {
        provider_url: args.provider_url.clone(),
        mode: match args.mode {
            ModeArg::All => KeyMode::All,
            ModeArg::Aws => KeyMode::Aws,
        },
        ..LintOptions::default()
    };
    let mut reports = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let path = file.display().to_string();
        if file.extension().is_some_and(|e| e == "toml") {
            let config = keyless_node::config::Config::parse(&text, &path)?;
            let base = file.parent().map(PathBuf::from).unwrap_or_default();
            for role in &config.roles {
                let trust = match (&role.trust_policy, &role.trust_policy_file) {
                    (Some(t), _) => t.clone(),
                    (None, Some(f)) => std::fs::read_to_string(base.join(f))
                        .map_err(|e| anyhow::anyhow!("{}: {e}", base.join(f).display()))?,
                    (None, None) => continue,
                };
                reports.push(FileReport {
                    path: path.clone(),
                    role: Some(role.name.clone()),
                    report: keyless_lint::lint_policy(&trust, &opts),
                });
            }
        } else {
            reports.push(FileReport {
                path,
                role: None,
                report: keyless_lint::lint_policy(&text, &opts),
            });
        }
    }
    match args.format {
        Format::Text => out!("{}", keyless_lint::render_text(&reports)),
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&keyless_lint::render_json(&reports))?
        ),
        Format::Sarif => outln!(
            "{}",
            serde_json::to_string_pretty(&keyless_lint::render_sarif(&reports))?
        ),
    }?;
    let fail_on = match args.fail_on {
        FailOn::Critical => Severity::Critical,
        FailOn::High => Severity::High,
        FailOn::Medium => Severity::Medium,
        FailOn::Low => Severity::Low,
    };
    Ok(if keyless_lint::exceeds(&reports, fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
