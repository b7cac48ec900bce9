//! `keyless policy validate` and `keyless policy simulate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use keyless_policy::{Context, ParseOptions, Policy, PolicyKind, Principal, Request};

use crate::out::outln;

/// Exit code for an invalid policy or bad input.
const EXIT_INVALID: u8 = 2;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Check policy documents against the grammar (exit 0 when all are valid, 2 otherwise).
    Validate {
        /// Policy JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// What the documents are [default: trust when a statement has a Principal].
        #[arg(long, value_enum, default_value = "auto")]
        kind: KindArg,
    },
    /// Evaluate one request against a policy and print the decision with its trace.
    Simulate {
        /// The policy JSON file.
        #[arg(long)]
        policy: PathBuf,
        /// The action, e.g. `sts:AssumeRoleWithWebIdentity`.
        #[arg(long)]
        action: String,
        /// The principal: `Federated:ARN`, `AWS:ARN`, `Service:NAME` or `CanonicalUser:ID`.
        #[arg(long)]
        principal: Option<String>,
        /// The resource ARN.
        #[arg(long)]
        resource: Option<String>,
        /// A JSON file mapping condition keys to a string, number, boolean or array of those.
        #[arg(long)]
        context: Option<PathBuf>,
        /// What the document is [default: trust when --principal is given].
        #[arg(long, value_enum, default_value = "auto")]
        kind: KindArg,
        /// Print the trace for a person instead of as JSON.
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Auto,
    Trust,
    Identity,
    Session,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn has_principal(doc: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) else {
        return false;
    };
    let statements = match &v["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        s @ serde_json::Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    statements
        .iter()
        .any(|s| s.get("Principal").is_some() || s.get("NotPrincipal").is_some())
}

fn kind_for(kind: KindArg, trust_hint: bool) -> PolicyKind {
    match kind {
        KindArg::Trust => PolicyKind::Trust,
        KindArg::Identity => PolicyKind::Identity,
        KindArg::Session => PolicyKind::Session,
        KindArg::Auto if trust_hint => PolicyKind::Trust,
        KindArg::Auto => PolicyKind::Identity,
    }
}

/// Runs a policy subcommand.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Validate { files, kind } => {
            let mut ok = true;
            for file in &files {
                match read(file) {
                    Ok(doc) => {
                        let kind = kind_for(kind, has_principal(&doc));
                        match Policy::parse(&doc, &ParseOptions::new(kind)) {
                            Ok(_) => outln!("{}: valid", file.display())?,
                            Err(e) => {
                                ok = false;
                                eprintln!("{}: MalformedPolicyDocument: {e}", file.display());
                            }
                        }
                    }
                    Err(e) => {
                        ok = false;
                        eprintln!("keyless: {e}");
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_INVALID)
            })
        }
        PolicyCommand::Simulate {
            policy,
            action,
            principal,
            resource,
            context,
            kind,
            explain,
        } => match simulate(
            &policy,
            &action,
            principal.as_deref(),
            resource.as_deref(),
            context.as_deref(),
            kind,
            explain,
        ) {
            Ok(out) => {
                outln!("{out}")?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(EXIT_INVALID))
            }
        },
    }
}

fn simulate(
    policy: &Path,
    action: &str,
    principal: Option<&str>,
    resource: Option<&str>,
    context: Option<&Path>,
    kind: KindArg,
    explain: bool,
) -> Result<String, String> {
    let doc = read(policy)?;
    let parsed = Policy::parse(
        &doc,
        &ParseOptions::new(kind_for(kind, principal.is_some())),
    )
    .map_err(|e| format!("{}: MalformedPolicyDocument: {e}", policy.display()))?;
    let principal = principal
        .map(Principal::parse_cli)
        .transpose()
        .map_err(|e| format!("keyless: --principal: {e}"))?;
    let ctx = match context {
        Some(path) => {
            let text = read(path)?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
            Context::from_json(&value).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Context::new(),
    };
    let req = Request {
        principal,
        action,
        resource,
        context: &ctx,
    };
    if explain {
        let (decision, trace) = parsed.evaluate_traced(&req);
        Ok(keyless_policy::render_trace_text(decision, &trace))
    } else {
        serde_json::to_string_pretty(&keyless_policy::simulate_json(&parsed, &req))
            .map_err(|e| format!("keyless: {e}"))
    }
}
