//! SARIF output validated against the OASIS SARIF 2.1.0 JSON schema (vendored in
//! `tests/sarif-schema-2.1.0.json`).
//!
//! The vendored file is byte-exact. Its `run.language` and `toolComponent.language` pattern
//! (`^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`, with a stray `]`) is not a valid `regex`
//! format value, and the validator meta-validates schemas with formats on, so the test
//! removes those two patterns before compiling (keyless emits no `language`). Formats
//! (`uri`, `uri-reference`, `date-time`, ...) are asserted.

use std::path::Path;

use keyless_lint::{FileReport, LintOptions, Severity, lint_policy, render_json, render_sarif};
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sarif-schema-2.1.0.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("JSON");
    assert_eq!(
        schema["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    let mut schema = schema;
    for definition in ["run", "toolComponent"] {
        let language = schema
            .pointer_mut(&format!("/definitions/{definition}/properties/language"))
            .and_then(Value::as_object_mut)
            .expect("language is defined");
        assert_eq!(
            language.remove("pattern"),
            Some(Value::from("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$"))
        );
    }
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

fn corpus_reports() -> Vec<FileReport> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let doc = std::fs::read_to_string(&path).expect("policy");
            FileReport {
                path: format!(
                    "policies/{}",
                    path.file_name().and_then(|n| n.to_str()).expect("name")
                ),
                role: Some("deployer role".into()),
                report: lint_policy(&doc, &LintOptions::default()),
            }
        })
        .collect()
}

fn assert_valid(validator: &jsonschema::Validator, log: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF schema violations:\n{}",
        errors.join("\n")
    );
}

#[test]
fn corpus_sarif_is_valid_sarif_2_1_0() {
    let validator = validator();
    let reports = corpus_reports();
    let log = render_sarif(&reports);
    assert_valid(&validator, &log);

    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "keyless");
    let rules = driver["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), keyless_lint::rules().len());
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].is_string());
        assert!(rule["properties"]["security-severity"].is_string());
    }

    let results = run["results"].as_array().expect("results");
    let findings: Vec<_> = reports.iter().flat_map(|r| &r.report.findings).collect();
    assert_eq!(results.len(), findings.len());
    for (result, finding) in results.iter().zip(&findings) {
        assert_eq!(result["ruleId"], finding.rule);
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(ids[index], finding.rule);
        let level = match finding.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        };
        assert_eq!(result["level"], level);
        let region = &result["locations"][0]["physicalLocation"]["region"];
        let position = finding
            .position
            .expect("every corpus finding has a position");
        assert_eq!(region["startLine"], position.line);
        assert_eq!(region["startColumn"], position.column);
        assert_eq!(result["properties"]["pointer"], finding.pointer.as_str());
        assert_eq!(
            result["properties"]["counterExample"].is_object(),
            finding.counter_example.is_some()
        );
    }
    assert!(
        results
            .iter()
            .any(|r| r["properties"]["counterExample"]["verified"] == true)
    );
}

#[test]
fn schema_rejects_a_malformed_log() {
    let validator = validator();
    let reports = corpus_reports();
    let mut log = render_sarif(&reports);
    assert_valid(&validator, &log);
    log["runs"][0]["results"][0]["level"] = Value::from("critical");
    assert!(!validator.is_valid(&log));
    let mut log = render_sarif(&reports);
    log["version"] = Value::from("2.0.0");
    assert!(!validator.is_valid(&log));
}

#[test]
fn empty_run_is_valid() {
    assert_valid(&validator(), &render_sarif(&[]));
}

#[test]
fn json_report_counts_match() {
    let reports = corpus_reports();
    let json = render_json(&reports);
    let total: u64 = ["critical", "high", "medium", "low", "info"]
        .iter()
        .map(|k| json["summary"][k].as_u64().expect("count"))
        .sum();
    let findings: usize = reports.iter().map(|r| r.report.findings.len()).sum();
    assert_eq!(total as usize, findings);
    let parse_errors = json["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["parseError"].is_object())
        .count();
    assert_eq!(
        parse_errors,
        reports
            .iter()
            .filter(|r| r.report.parse_error.is_some())
            .count()
    );
}
