//! Runs the linter over every policy in `tests/corpus` and compares the findings with the
//! `.expected` file next to it; re-checks every counter-example with `keyless_policy`.
//!
//! `.expected` format: optional header lines `# mode: aws|all`, `# provider-url: URL`,
//! `# max-chars: N`, then one finding per line: `RULE SEVERITY POINTER` (pointer `-` for the
//! document root). Findings are compared as sorted lists.

use std::path::{Path, PathBuf};

use keyless_lint::{
    CounterExample, FileReport, KeyMode, LintOptions, LintReport, Severity, lint_policy,
};
use keyless_policy::{Decision, ParseOptions, Policy, PolicyKind, Principal, Request};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

struct Case {
    name: String,
    doc: String,
    opts: LintOptions,
    expected: Vec<String>,
}

fn load_cases() -> Vec<Case> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file name")
                .to_string();
            let doc = std::fs::read_to_string(&path).expect("policy file");
            let expected_path = path.with_extension("expected");
            let expected_text = std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
            let mut opts = LintOptions::default();
            let mut expected = Vec::new();
            for line in expected_text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                if let Some(header) = line.strip_prefix('#') {
                    let (key, value) = header.split_once(':').expect("header key: value");
                    let value = value.trim();
                    match key.trim() {
                        "mode" => opts.mode = value.parse::<KeyMode>().expect("mode"),
                        "provider-url" => opts.provider_url = Some(value.to_string()),
                        "max-chars" => opts.max_trust_chars = value.parse().expect("max-chars"),
                        other => panic!("{name}: unknown header {other}"),
                    }
                } else {
                    expected.push(line.to_string());
                }
            }
            expected.sort();
            Case {
                name,
                doc,
                opts,
                expected,
            }
        })
        .collect()
}

fn finding_lines(report: &LintReport) -> Vec<String> {
    let mut lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| {
            let pointer = if f.pointer.is_empty() {
                "-"
            } else {
                &f.pointer
            };
            format!("{} {} {}", f.rule, f.severity, pointer)
        })
        .collect();
    lines.sort();
    lines
}

/// Re-evaluates a counter-example with `keyless_policy`, independently of the linter's flag,
/// after checking that its context is the one keyless's STS builds from its claims.
fn recheck(case: &Case, ce: &CounterExample) -> bool {
    let policy = Policy::parse(
        &case.doc,
        &ParseOptions {
            kind: PolicyKind::Trust,
            max_chars: None,
        },
    )
    .expect("a counter-example implies a parsed policy");
    let principal = match ce.principal_type.as_str() {
        "Federated" => {
            assert_eq!(ce.action, "sts:AssumeRoleWithWebIdentity", "{}", case.name);
            let prefix = ce
                .principal
                .split_once(":oidc-provider/")
                .map(|(_, host_path)| host_path.to_string())
                .unwrap_or_else(|| ce.principal.clone())
                .to_lowercase();
            let aud = ce
                .context
                .get(&format!("{prefix}:aud"))
                .expect("<provider>:aud is always in the context");
            assert_eq!(
                Some(&serde_json::json!(aud.values()[0])),
                ce.claims.get("aud"),
                "{}: aud key carries the audience",
                case.name
            );
            assert!(
                ce.context.get("sts:RoleSessionName").is_some(),
                "{}: sts:RoleSessionName is always set",
                case.name
            );
            for (key, value) in ce.context.iter() {
                let lower = key.to_lowercase();
                if let Some(claim) = lower.strip_prefix(&format!("{prefix}:")) {
                    let claim_value = ce
                        .claims
                        .iter()
                        .find(|(k, _)| k.to_lowercase() == claim)
                        .map(|(_, v)| v)
                        .unwrap_or_else(|| panic!("{}: context key {key} has no claim", case.name));
                    let context_value = match value.values() {
                        [single] if !claim_value.is_array() => serde_json::json!(single),
                        many => serde_json::json!(many),
                    };
                    assert_eq!(&context_value, claim_value, "{}: {key}", case.name);
                }
            }
            if case.opts.mode == KeyMode::All {
                for claim in ce.claims.keys() {
                    assert!(
                        ce.context.get(&format!("{prefix}:{claim}")).is_some(),
                        "{}: claim {claim} missing from the all-mode context",
                        case.name
                    );
                }
            }
            Principal::Federated(&ce.principal)
        }
        "AWS" => {
            assert_eq!(ce.action, "sts:AssumeRole", "{}", case.name);
            Principal::Aws(&ce.principal)
        }
        other => panic!("{}: unknown principal type {other}", case.name),
    };
    let decision = policy.evaluate(&Request {
        principal: Some(principal),
        action: &ce.action,
        resource: None,
        context: &ce.context,
    });
    decision == Decision::Allow
}

#[test]
fn corpus_findings_match_expectations() {
    let cases = load_cases();
    assert!(cases.len() >= 40, "corpus has {} policies", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let report = lint_policy(&case.doc, &case.opts);
        let actual = finding_lines(&report);
        if actual != case.expected {
            failures.push(format!(
                "{}:\n  expected: {:#?}\n  actual:   {:#?}",
                case.name, case.expected, actual
            ));
        }
        for finding in &report.findings {
            if finding.severity >= Severity::High {
                let ce = finding.counter_example.as_ref().unwrap_or_else(|| {
                    panic!("{}: {} has no counter-example", case.name, finding.rule)
                });
                assert!(ce.verified, "{}: {} unverified", case.name, finding.rule);
            }
            if let Some(ce) = &finding.counter_example {
                assert_eq!(
                    recheck(case, ce),
                    ce.verified,
                    "{}: {} counter-example disagrees with the evaluator",
                    case.name,
                    finding.rule
                );
            }
            assert!(
                finding.position.is_some(),
                "{}: {} at {:?} has no source position",
                case.name,
                finding.rule,
                finding.pointer
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_blog_counter_example_is_another_group() {
    let doc = std::fs::read_to_string(corpus_dir().join("gitlab-seed-blog-unterminated.json"))
        .expect("corpus file");
    let report = lint_policy(&doc, &LintOptions::default());
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == "OIDC-UNTERMINATED-PREFIX")
        .expect("unterminated prefix reported");
    assert_eq!(finding.severity, Severity::High);
    assert_eq!(
        finding.pointer,
        "/Statement/0/Condition/StringLike/gitlab.com:sub"
    );
    let ce = finding.counter_example.as_ref().expect("counter-example");
    assert!(ce.verified);
    assert_eq!(
        ce.claims.get("sub"),
        Some(&serde_json::json!(
            "project_path:mygroup-evil/x:ref_type:branch:ref:main"
        ))
    );
    assert_eq!(
        ce.principal,
        "arn:aws:iam::111122223333:oidc-provider/gitlab.com"
    );
    assert!(finding.fix.contains("project_path:mygroup/*"));
}

#[test]
fn dev_seed_policy_has_no_critical_or_high_finding() {
    let doc =
        std::fs::read_to_string(corpus_dir().join("gitlab-dev-seed.json")).expect("corpus file");
    let report = lint_policy(&doc, &LintOptions::default());
    assert!(report.parse_error.is_none());
    assert!(report.max_severity() <= Some(Severity::Medium));
    let reports = [FileReport {
        path: "dev.json".into(),
        role: Some("gitlab-deployer".into()),
        report,
    }];
    assert!(!keyless_lint::exceeds(&reports, Severity::High));
    assert!(keyless_lint::exceeds(&reports, Severity::Medium));
}

#[test]
fn unparsable_documents_always_exceed() {
    let report = lint_policy("{", &LintOptions::default());
    assert!(report.parse_error.is_some());
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].rule, "GEN-PARSE");
    let reports = [FileReport {
        path: "broken.json".into(),
        role: None,
        report,
    }];
    assert!(keyless_lint::exceeds(&reports, Severity::Critical));
}
