//! The linter never panics, whatever the input, and its public helpers behave as documented.

use std::path::Path;

use keyless_lint::{
    FileReport, KeyMode, LintOptions, Severity, exceeds, lint_policy, render_json, render_sarif,
    render_text,
};
use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("policy"))
        .collect()
}

fn lint_and_render(doc: &str, mode: KeyMode) {
    let opts = LintOptions {
        mode,
        ..LintOptions::default()
    };
    let report = lint_policy(doc, &opts);
    for finding in &report.findings {
        if finding.severity >= Severity::High {
            assert!(
                finding.counter_example.as_ref().is_some_and(|c| c.verified),
                "{} is {} without a verified counter-example",
                finding.rule,
                finding.severity
            );
        }
    }
    let reports = [FileReport {
        path: "fuzz.json".into(),
        role: None,
        report,
    }];
    render_text(&reports);
    render_json(&reports);
    render_sarif(&reports);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(doc in ".{0,400}") {
        lint_and_render(&doc, KeyMode::All);
    }

    #[test]
    fn mutated_corpus_policies_never_panic(
        index in 0usize..1000,
        cut in 0usize..4000,
        position in 0usize..4000,
        replacement in prop::sample::select(vec!["*", "?", "${", "}", "\"", ":", "/", "[]", "{}", "@", "IfExists", "ForAllValues:"]),
        aws in any::<bool>(),
    ) {
        let docs = corpus();
        let doc = &docs[index % docs.len()];
        let mode = if aws { KeyMode::Aws } else { KeyMode::All };
        let boundary = |n: usize| {
            let mut n = n.min(doc.len());
            while !doc.is_char_boundary(n) {
                n -= 1;
            }
            n
        };
        lint_and_render(&doc[..boundary(cut)], mode);
        let at = boundary(position);
        let mutated = format!("{}{replacement}{}", &doc[..at], &doc[at..]);
        lint_and_render(&mutated, mode);
    }
}

#[test]
fn severities_are_ordered_and_parse() {
    assert!(Severity::Critical > Severity::High);
    assert!(Severity::High > Severity::Medium);
    assert!(Severity::Medium > Severity::Low);
    assert!(Severity::Low > Severity::Info);
    assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
    assert_eq!("info".parse::<Severity>(), Ok(Severity::Info));
    assert!("severe".parse::<Severity>().is_err());
    assert_eq!(
        serde_json::to_value(Severity::Critical).expect("serialize"),
        serde_json::json!("critical")
    );
    assert_eq!("aws".parse::<KeyMode>(), Ok(KeyMode::Aws));
    assert_eq!("All".parse::<KeyMode>(), Ok(KeyMode::All));
    assert!("some".parse::<KeyMode>().is_err());
    assert_eq!(LintOptions::default().max_trust_chars, 2048);
    assert_eq!(LintOptions::default().mode, KeyMode::All);
}

#[test]
fn exit_rule_follows_the_threshold() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/gitlab.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringLike":{"gitlab.com:sub":"project_path:mygroup*"}}}]}"#;
    let reports = [FileReport {
        path: "p.json".into(),
        role: None,
        report: lint_policy(doc, &LintOptions::default()),
    }];
    assert!(exceeds(&reports, Severity::High));
    assert!(!exceeds(&reports, Severity::Critical));
    assert!(!exceeds(&[], Severity::Info));
}

#[test]
fn provider_url_restricts_the_analysis() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
        "Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
    let all = lint_policy(doc, &LintOptions::default());
    assert!(all.findings.iter().any(|f| f.rule == "OIDC-NO-TENANCY"));
    let gitlab_only = lint_policy(
        doc,
        &LintOptions {
            provider_url: Some("https://gitlab.com".into()),
            ..LintOptions::default()
        },
    );
    assert!(gitlab_only.findings.is_empty());
    let github = lint_policy(
        doc,
        &LintOptions {
            provider_url: Some("https://token.actions.githubusercontent.com/".into()),
            ..LintOptions::default()
        },
    );
    assert!(github.findings.iter().any(|f| f.rule == "OIDC-NO-TENANCY"));
}

#[test]
fn rule_catalogue_is_consistent() {
    let rules = keyless_lint::rules();
    let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rules.len(), "rule ids are unique");
    for rule in rules {
        assert!(!rule.title.is_empty() && !rule.description.is_empty() && !rule.help.is_empty());
    }
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint.md"))
            .expect("docs/lint.md");
    for rule in rules {
        assert!(
            docs.contains(&format!("### {}", rule.id)),
            "docs/lint.md documents {}",
            rule.id
        );
        assert!(
            docs.contains(&format!("**Severity:** {}", rule.severity)),
            "severity of {} documented",
            rule.id
        );
    }
}
