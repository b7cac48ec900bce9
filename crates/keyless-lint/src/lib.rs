//! `keyless lint`: role trust policies checked for the known OIDC federation pitfalls.
//!
//! [`lint_policy`] parses a trust policy with the same strict parser keyless uses and runs
//! the rules of [`rules()`] over it. Every critical or high finding carries a
//! [`CounterExample`]: a token claim set of *another* tenant (or a token missing a claim) that
//! the policy admits, turned into the request context keyless's STS builds and decided by the
//! real evaluator. A candidate whose counter-example the evaluator does not allow is reported
//! as medium at most. Reports render as text, JSON or SARIF 2.1.0. No I/O.
//!
//! ```
//! use keyless_lint::{LintOptions, Severity, lint_policy};
//!
//! // `sub` is matched without a project: any GitLab project of gitlab.com may assume the role.
//! let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!     "Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/gitlab.com"},
//!     "Action":"sts:AssumeRoleWithWebIdentity",
//!     "Condition":{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"}}}]}"#;
//! let report = lint_policy(trust, &LintOptions::default());
//! assert_eq!(report.max_severity(), Some(Severity::Critical));
//! let finding = &report.findings[0];
//! assert_eq!(finding.rule, "OIDC-NO-TENANCY");
//! assert!(finding.counter_example.as_ref().is_some_and(|c| c.verified));
//! ```

#![warn(missing_docs)]

mod analyze;
mod locate;
mod provider;
mod render;
mod rules;
mod value;
mod witness;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use keyless_policy::{Context, ParseOptions, Policy, PolicyError, PolicyKind};
use serde::{Deserialize, Serialize};

pub use locate::Position;
pub use render::{render_json, render_sarif, render_text};
pub use rules::{RuleInfo, rule, rules};

/// How bad a finding is. Ordered: `Critical > High > Medium > Low > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Any stranger can assume the role.
    Critical,
    /// Broader than intended, or a restriction that fails open.
    High,
    /// Defence in depth, or a likely mistake (including roles nobody can use).
    Medium,
    /// Hygiene.
    Low,
    /// Style and reminders.
    Info,
}

impl Severity {
    fn rank(self) -> u8 {
        match self {
            Severity::Critical => 4,
            Severity::High => 3,
            Severity::Medium => 2,
            Severity::Low => 1,
            Severity::Info => 0,
        }
    }

    /// Lower-case name (`critical`, `high`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    /// Parses `critical|high|medium|low|info`, ASCII case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ]
        .into_iter()
        .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!("unknown severity {s:?}: expected critical, high, medium, low or info")
        })
    }
}

/// Which claims become condition keys, as in keyless's provider setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    /// Only the claims AWS exposes; conditions on other claims are flagged
    /// (`OIDC-UNSUPPORTED-CLAIM`) and never count as restrictions.
    Aws,
    /// Every claim of the token is a condition key (keyless's default).
    #[default]
    All,
}

impl KeyMode {
    /// The STS setting of the same name.
    pub(crate) fn condition_keys(self) -> keyless_sts::model::ConditionKeyMode {
        match self {
            KeyMode::Aws => keyless_sts::model::ConditionKeyMode::Aws,
            KeyMode::All => keyless_sts::model::ConditionKeyMode::All,
        }
    }
}

impl FromStr for KeyMode {
    type Err = String;

    /// Parses `aws` or `all`, ASCII case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("aws") {
            Ok(KeyMode::Aws)
        } else if s.eq_ignore_ascii_case("all") {
            Ok(KeyMode::All)
        } else {
            Err(format!(
                "unknown condition-key mode {s:?}: expected aws or all"
            ))
        }
    }
}

/// Linter settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintOptions {
    /// The issuer the role trusts (e.g. `https://gitlab.com`). When set, only Federated
    /// principals naming that issuer are analysed (a wildcard principal is analysed as that
    /// issuer); when `None`, every Federated OIDC principal of the policy is.
    pub provider_url: Option<String>,
    /// Condition-key mode of the provider.
    pub mode: KeyMode,
    /// Role trust policy size quota in non-whitespace characters (IAM default 2048).
    pub max_trust_chars: usize,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            provider_url: None,
            mode: KeyMode::All,
            max_trust_chars: 2048,
        }
    }
}

/// A token (or AWS caller) that the policy admits although it should not, decided by
/// `keyless_policy`.
#[derive(Debug, Clone)]
pub struct CounterExample {
    /// The token's claims, e.g. `{"sub": "project_path:mygroup-evil/x:...", "aud": "..."}`.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The request context keyless's STS builds from them: `<issuer host/path>:<claim>` keys
    /// (in `aws` mode only the exposed claims) plus `sts:RoleSessionName`.
    pub context: Context,
    /// The caller: the Federated provider ARN, or an AWS principal ARN.
    pub principal: String,
    /// `Federated` (web identity) or `AWS` (an AWS principal calling `sts:AssumeRole`).
    pub principal_type: String,
    /// The action evaluated: `sts:AssumeRoleWithWebIdentity` or `sts:AssumeRole`.
    pub action: String,
    /// True when the evaluator returned `Allow` for this request.
    pub verified: bool,
}

/// One problem found in a policy.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Rule identifier, e.g. `OIDC-UNTERMINATED-PREFIX`.
    pub rule: &'static str,
    /// Severity of this finding.
    pub severity: Severity,
    /// What is wrong, with the concrete values.
    pub message: String,
    /// JSON pointer into the policy (`/Statement/0/Condition/StringLike/gitlab.com:sub`).
    pub pointer: String,
    /// Suggested fix.
    pub fix: String,
    /// A request the policy admits that demonstrates the problem (always present and verified
    /// for critical and high findings).
    pub counter_example: Option<CounterExample>,
    /// Line and column of the pointer's target in the linted text.
    pub position: Option<Position>,
}

/// The result of linting one policy document.
#[derive(Debug, Clone, Default)]
pub struct LintReport {
    /// Findings, in document order of the statements they concern.
    pub findings: Vec<Finding>,
    /// Set when the document is not a valid trust policy (also reported as a finding).
    pub parse_error: Option<PolicyError>,
}

impl LintReport {
    /// The highest severity among the findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// A linted file (or a role's trust policy from a configuration file).
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Path of the file as given on the command line.
    pub path: String,
    /// The role whose trust policy this is, when it came from a configuration file.
    pub role: Option<String>,
    /// The findings.
    pub report: LintReport,
}

/// Lints one trust policy document. Never panics; a document that does not parse yields one
/// finding carrying the parser's message and pointer (plus `GEN-SIZE` when over quota).
pub fn lint_policy(doc: &str, opts: &LintOptions) -> LintReport {
    let mut findings = Vec::new();
    let size = keyless_policy::policy_size(doc);
    if size > opts.max_trust_chars {
        findings.push(Finding {
            rule: rules::SIZE,
            severity: Severity::Medium,
            message: format!(
                "The trust policy has {size} non-whitespace characters; the role trust policy quota is {}.",
                opts.max_trust_chars
            ),
            pointer: String::new(),
            fix: "Shorten the policy or raise the role trust policy quota.".to_string(),
            counter_example: None,
            position: None,
        });
    }
    let parse_options = ParseOptions {
        kind: PolicyKind::Trust,
        max_chars: None,
    };
    let parse_error = match Policy::parse(doc, &parse_options) {
        Ok(policy) => {
            findings.extend(analyze::analyze(&policy, opts));
            None
        }
        Err(error) => {
            findings.push(analyze::parse_error_finding(&error));
            Some(error)
        }
    };
    let error_offset = parse_error
        .as_ref()
        .and_then(|e| e.detail.as_deref())
        .and_then(|detail| detail.rsplit_once("at byte "))
        .and_then(|(_, offset)| offset.trim().parse::<usize>().ok());
    for finding in &mut findings {
        finding.position = match error_offset {
            Some(offset) if finding.rule == rules::PARSE => {
                Some(locate::position_of_offset(doc, offset))
            }
            _ => locate::position(doc, &finding.pointer),
        };
    }
    LintReport {
        findings,
        parse_error,
    }
}

/// The exit-code rule: true when any report has a finding at or above `fail_on`, or a
/// document that could not be parsed (a policy that cannot be checked never passes).
pub fn exceeds(reports: &[FileReport], fail_on: Severity) -> bool {
    reports.iter().any(|r| {
        r.report.parse_error.is_some() || r.report.findings.iter().any(|f| f.severity >= fail_on)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size `GEN-SIZE` reports for `doc`.
    fn reported_size(doc: &str) -> usize {
        let opts = LintOptions {
            max_trust_chars: 0,
            ..LintOptions::default()
        };
        let report = lint_policy(doc, &opts);
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule == rules::SIZE)
            .expect("over a zero quota");
        finding
            .message
            .strip_prefix("The trust policy has ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(n, _)| n.parse().ok())
            .expect("the size leads the message")
    }

    #[test]
    fn size_is_the_one_keyless_policy_counts() {
        for doc in [
            "{ \"a b\" : 1 }",
            "{\"a\\\" \":1}",
            "{\n\t\"Version\" :\r\n \"2012-10-17\" }",
            // Not JSON whitespace (RFC 8259 `ws`), so counted: outside a string they are not
            // whitespace to a JSON reader, and the document does not parse.
            "{\u{a0}\"a\":1}",
            "{\u{85}\"a\":1}",
            "{\u{b}\"a\":1}\u{c}",
            "{\"Sid\": \"with\u{a0}no-break and\ttab\"}",
        ] {
            assert_eq!(
                reported_size(doc),
                keyless_policy::policy_size(doc),
                "{doc:?}"
            );
        }
        assert_eq!(reported_size("{ \"a b\" : 1 }"), 9);
        assert_eq!(reported_size("{\"a\\\" \":1}"), 10);
        assert_eq!(reported_size("{\u{a0}\"a\":1}"), 8);
    }
}
