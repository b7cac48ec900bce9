//! Report output: text for terminals, JSON for scripts, SARIF 2.1.0 for code-scanning UIs.

use std::fmt::Write as _;

use serde_json::{Map, Value as Json, json};

use crate::{CounterExample, FileReport, Finding, Severity, rules};

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

impl CounterExample {
    /// The request context as a JSON object (multi-valued keys as arrays).
    pub fn context_json(&self) -> Json {
        let mut object = Map::new();
        for (key, value) in self.context.iter() {
            object.insert(key.to_string(), json!(value));
        }
        Json::Object(object)
    }

    /// The counter-example as JSON.
    pub fn to_json(&self) -> Json {
        json!({
            "principal": self.principal,
            "principalType": self.principal_type,
            "action": self.action,
            "claims": self.claims,
            "context": self.context_json(),
            "verified": self.verified,
        })
    }
}

impl Finding {
    /// The finding as JSON.
    pub fn to_json(&self) -> Json {
        json!({
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "pointer": self.pointer,
            "line": self.position.map(|p| p.line),
            "column": self.position.map(|p| p.column),
            "fix": self.fix,
            "counterExample": self.counter_example.as_ref().map(CounterExample::to_json),
        })
    }
}

fn counts(reports: &[FileReport]) -> Map<String, Json> {
    let mut out = Map::new();
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = reports
            .iter()
            .flat_map(|r| &r.report.findings)
            .filter(|f| f.severity == severity)
            .count();
        out.insert(severity.as_str().to_string(), json!(n));
    }
    out
}

fn claims_text(claims: &Map<String, Json>) -> String {
    claims
        .iter()
        .map(|(k, v)| match v {
            Json::String(s) => format!("{k}={s:?}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Human-readable report.
pub fn render_text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for file in reports {
        let label = match &file.role {
            Some(role) => format!("{} (role {role})", file.path),
            None => file.path.clone(),
        };
        let findings = &file.report.findings;
        if findings.is_empty() {
            let _ = writeln!(out, "{label}: no findings");
            continue;
        }
        let _ = writeln!(
            out,
            "{label}: {} finding{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
        for finding in findings {
            let location = match finding.position {
                Some(p) => format!("{}:{}", p.line, p.column),
                None => "-".to_string(),
            };
            let pointer = if finding.pointer.is_empty() {
                "(document)"
            } else {
                finding.pointer.as_str()
            };
            let _ = writeln!(
                out,
                "  {:<8} {} at {location} {pointer}",
                finding.severity.as_str().to_uppercase(),
                finding.rule
            );
            let _ = writeln!(out, "           {}", finding.message);
            let _ = writeln!(out, "           fix: {}", finding.fix);
            if let Some(ce) = &finding.counter_example {
                let status = if ce.verified {
                    "admitted by the evaluator"
                } else {
                    "not admitted"
                };
                let who = if ce.claims.is_empty() {
                    format!("{} {}", ce.principal_type, ce.principal)
                } else {
                    format!("token {{{}}} via {}", claims_text(&ce.claims), ce.principal)
                };
                let _ = writeln!(out, "           counter-example ({status}): {who}");
            }
        }
    }
    let summary = counts(reports);
    let parts: Vec<String> = summary.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(
        out,
        "{} file{} checked: {}",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        parts.join(", ")
    );
    out
}

/// Machine-readable report: `{"files": [...], "summary": {...}}`.
pub fn render_json(reports: &[FileReport]) -> Json {
    let files: Vec<Json> = reports
        .iter()
        .map(|file| {
            json!({
                "path": file.path,
                "role": file.role,
                "parseError": file.report.parse_error.as_ref().map(|e| json!({
                    "message": e.message,
                    "pointer": e.pointer,
                    "detail": e.detail,
                })),
                "findings": file.report.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "files": files, "summary": counts(reports) })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// SARIF 2.1.0 log with one run; every rule of the catalogue is listed in the driver.
pub fn render_sarif(reports: &[FileReport]) -> Json {
    let catalogue = rules::rules();
    let driver_rules: Vec<Json> = catalogue
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.id,
                "shortDescription": { "text": rule.title },
                "fullDescription": { "text": rule.description },
                "help": { "text": rule.help },
                "defaultConfiguration": { "level": sarif_level(rule.severity) },
                "properties": {
                    "security-severity": security_severity(rule.severity),
                    "tags": ["security", "iam", "oidc"],
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for file in reports {
        for finding in &file.report.findings {
            let mut region = Map::new();
            if let Some(p) = finding.position {
                region.insert("startLine".into(), json!(p.line));
                region.insert("startColumn".into(), json!(p.column));
            } else {
                region.insert("startLine".into(), json!(1));
            }
            let mut properties = Map::new();
            properties.insert("pointer".into(), json!(finding.pointer));
            properties.insert("severity".into(), json!(finding.severity));
            properties.insert("fix".into(), json!(finding.fix));
            if let Some(role) = &file.role {
                properties.insert("role".into(), json!(role));
            }
            if let Some(ce) = &finding.counter_example {
                properties.insert("counterExample".into(), ce.to_json());
            }
            let mut result = json!({
                "ruleId": finding.rule,
                "level": sarif_level(finding.severity),
                "message": { "text": format!("{} Fix: {}", finding.message, finding.fix) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": artifact_uri(&file.path) },
                        "region": region,
                    },
                    "logicalLocations": [{ "fullyQualifiedName": finding.pointer, "kind": "member" }],
                }],
                "properties": properties,
            });
            if let Some(index) = catalogue.iter().position(|r| r.id == finding.rule) {
                result["ruleIndex"] = json!(index);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "keyless",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": driver_rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// A relative URI reference for a file path (percent-encoding characters URIs forbid).
fn artifact_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        let c = if c == '\\' { '/' } else { c };
        if c.is_ascii_alphanumeric() || "-._~/:@!$&'()*+,;=".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_escaped() {
        assert_eq!(artifact_uri("a b/ü.json"), "a%20b/%C3%BC.json");
        assert_eq!(artifact_uri("dir\\x.json"), "dir/x.json");
    }
}
