//! Differential test: keyless-policy against an independent IAM evaluator.
//!
//! A few thousand identity policies and requests are generated from a fixed seed, covering
//! every operator family, set qualifiers, `IfExists`, `Null`, missing, empty and
//! multi-valued keys, request values of the wrong type, policy variables, wildcards in
//! `Action`/`Resource`, `NotAction`/`NotResource` and Allow/Deny mixes over one or two
//! policies. `tests/differential/oracle.mjs` (repository root) evaluates all of them in one
//! Node process with `@cloud-copilot/iam-simulate`, pinned in that directory's
//! `package-lock.json` (`npm ci --prefix tests/differential`; `scripts/test` does it).
//!
//! The decisions are compared, and so is every element behind them: for each statement the
//! `Action`/`NotAction` result, the `Resource`/`NotResource` result and every condition's
//! result (keyless's from its trace). Each difference must be recognised by an entry of
//! [`KNOWN`], which names the AWS documentation or observed behaviour that shows which side
//! is right; any other difference, or a decision difference without an element difference,
//! fails the test and prints the policies, the request and both answers.
//!
//! Without `node` or the installed package the test says it was skipped, unless
//! `KEYLESS_DIFFERENTIAL_REQUIRED=1` (set by `scripts/test`) makes that a failure.
//! `KEYLESS_DIFFERENTIAL_CASES` and `KEYLESS_DIFFERENTIAL_SEED` change the run.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use keyless_policy::{
    ConditionOperator, Context, Decision, OperatorFamily, OperatorKind, ParseOptions, Policy,
    PolicyKind, PolicyTrace, Request,
};
use serde_json::{Map, Value, json};

const SEED: u64 = 0x6b65_796c_6573_7321;
const CASES: usize = 4000;

// ---------------------------------------------------------------------------------------
// Deterministic generator
// ---------------------------------------------------------------------------------------

/// SplitMix64: small, fast and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "iam:GetRole",
    "sqs:SendMessage",
    "sts:AssumeRole",
];

const ACTION_PATTERNS: &[&str] = &[
    "*",
    "s3:*",
    "s3:Get*",
    "s3:?utObject",
    "S3:getobject",
    "s3:List*",
    "s3:Get?bject",
    "ec2:*Instances",
    "ec2:Start*",
    "iam:GetRole",
    "iam:*",
    "sqs:Send*",
    "sts:Assume?ole",
];

const RESOURCES: &[&str] = &[
    "arn:aws:s3:::bucket-a/reports/2024.csv",
    "arn:aws:s3:::bucket-a",
    "arn:aws:s3:::bucket-b/x:y/z.txt",
    "arn:aws:s3:::home/alice/notes.txt",
    "arn:aws:s3:::home/bob/notes.txt",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc",
    "arn:aws:ec2:eu-west-1:444455556666:instance/i-0def",
    "arn:aws:iam::111122223333:role/deploy",
    "arn:aws:iam::111122223333:role/path/admin",
    "arn:aws:sqs:us-east-1:111122223333:queue-1",
];

/// Request resources whose first five ARN components differ in case from the policies'.
const RESOURCES_OTHER_CASE: &[&str] = &[
    "arn:aws:S3:::bucket-a/reports/2024.csv",
    "arn:aws:ec2:US-EAST-1:111122223333:instance/i-0abc",
];

const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket-a/*",
    "arn:aws:s3:::bucket-?/*",
    "arn:aws:s3:::bucket-a",
    "arn:aws:s3:::*",
    "arn:aws:s3:::bucket-b/x:*",
    "arn:*:s3:::bucket-a/*",
    "arn:aws:s3:::home/${aws:username}/*",
    "arn:aws:s3:::home/${aws:PrincipalTag/team, 'nobody'}/*",
    "arn:aws:s3:::home/${k:nokey}/*",
    "arn:aws:s3:::home/${*}/*",
    "arn:aws:ec2:*:111122223333:instance/*",
    "arn:aws:ec2:us-east-1:*:instance/i-*",
    "arn:aws:ec2:??-????-?:*:instance/*",
    "arn:aws:iam::111122223333:role/*",
    "arn:aws:iam::*:role/deploy",
    "arn:aws:sqs:*:*:queue-*",
];

/// A condition-operator family of the generator: its operators, keys and values.
struct FamilySpec {
    family: OperatorFamily,
    operators: &'static [&'static str],
    /// Single-valued keys.
    single_keys: &'static [&'static str],
    /// Multi-valued keys.
    multi_keys: &'static [&'static str],
    policy_values: &'static [&'static str],
    /// Request values of the family's type.
    request_values: &'static [&'static str],
    /// Request values of no type the family reads.
    junk_values: &'static [&'static str],
    /// Request values that are not of the family's type in keyless but that the other
    /// evaluator's lenient parsers accept (listed divergences).
    lenient_values: &'static [&'static str],
}

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
];

const FAMILIES: &[FamilySpec] = &[
    FamilySpec {
        family: OperatorFamily::String,
        operators: STRING_OPS,
        single_keys: &["k:str", "aws:username", "aws:PrincipalTag/team"],
        multi_keys: &["aws:TagKeys", "k:list"],
        policy_values: &[
            "alice",
            "ALICE",
            "team-*",
            "team-?",
            "prod",
            "prod*",
            "*",
            "a*b",
            "a${*}b",
            "a${?}c",
            "x:*",
            "",
            "${aws:username}",
            "user-${aws:username}",
            "${aws:PrincipalTag/team}",
            "${k:nokey}",
            "${k:nokey, 'dflt'}",
            "team-${aws:PrincipalTag/team, 'none'}",
        ],
        request_values: &[
            "alice",
            "bob",
            "Alice",
            "team-a",
            "team-b",
            "prod",
            "prod-eu",
            "a*b",
            "a?c",
            "axb",
            "x:y/z",
            "",
            "dflt",
            "user-alice",
            "team-none",
        ],
        junk_values: &[],
        lenient_values: &[],
    },
    FamilySpec {
        family: OperatorFamily::Numeric,
        operators: &[
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
        ],
        single_keys: &["k:num"],
        multi_keys: &["k:nums"],
        policy_values: &["0", "1", "10", "-5", "2.5", "100", "0.5"],
        request_values: &[
            "0", "1", "10", "10.0", "-5", "2.5", "2.50", "99", "100", "+10", ".5", "-0",
        ],
        junk_values: &["ten", "", "abc", "n/a", "-"],
        lenient_values: &["5abc", "1e3", "1.2.3", "12px"],
    },
    FamilySpec {
        family: OperatorFamily::Date,
        operators: &[
            "DateEquals",
            "DateNotEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
        ],
        single_keys: &["aws:CurrentTime"],
        multi_keys: &["k:dates"],
        policy_values: &[
            "2020-01-01T00:00:00Z",
            "2024-06-01T12:30:00Z",
            "2020-01-01",
            "2019-12-31T23:00:00-01:00",
            "1577836800",
            "1717245000",
        ],
        request_values: &[
            "2020-01-01T00:00:00Z",
            "2024-06-01T12:30:00Z",
            "2024-06-01T12:30:00.250Z",
            "2020-01-01T01:00:00+01:00",
            "2023-03-15",
            "1577836800",
            "1717245000",
            "1700000000",
        ],
        junk_values: &["yesterday", "not-a-date", "", "2020-13-01"],
        lenient_values: &["2020/01/01", "Jan 1 2020", "2020-01-01 00:00:00"],
    },
    FamilySpec {
        family: OperatorFamily::Bool,
        operators: &["Bool"],
        single_keys: &["aws:SecureTransport"],
        multi_keys: &["k:bools"],
        policy_values: &["true", "false", "True", "FALSE"],
        request_values: &["true", "false", "TRUE", "False"],
        junk_values: &["yes", "1", "", "no"],
        lenient_values: &[],
    },
    FamilySpec {
        family: OperatorFamily::Binary,
        operators: &["BinaryEquals"],
        single_keys: &["k:bin"],
        multi_keys: &["k:bins"],
        policy_values: &["aGVsbG8=", "d29ybGQ=", "AAEC"],
        request_values: &["aGVsbG8=", "d29ybGQ=", "AAEC", "aGVsbG8", "d29ybGQ"],
        junk_values: &["not base64!", "%%%"],
        lenient_values: &[],
    },
    FamilySpec {
        family: OperatorFamily::IpAddress,
        operators: &["IpAddress", "NotIpAddress"],
        single_keys: &["aws:SourceIp"],
        multi_keys: &["k:ips"],
        policy_values: &[
            "10.0.0.0/8",
            "203.0.113.0/24",
            "203.0.113.5",
            "2001:db8::/32",
            "0.0.0.0/0",
            "192.0.2.128/25",
        ],
        request_values: &[
            "10.1.2.3",
            "203.0.113.5",
            "203.0.113.77",
            "192.0.2.200",
            "198.51.100.1",
            "2001:db8::1",
            "2001:db9::1",
        ],
        junk_values: &[
            "not-an-ip",
            "10.0.0.1/32",
            "",
            "cloudformation.amazonaws.com",
            "300.1.2.3",
        ],
        lenient_values: &[],
    },
    FamilySpec {
        family: OperatorFamily::Arn,
        operators: &["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"],
        single_keys: &["aws:SourceArn"],
        multi_keys: &["k:arns"],
        policy_values: &[
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::*:role/deploy",
            "arn:aws:s3:::bucket-a",
            "arn:aws:s3:::bucket-*/*",
            "arn:aws:sqs:us-east-1:111122223333:queue-?",
            "arn:aws:iam::111122223333:role/${aws:username}",
            "arn:aws:iam::111122223333:user/${k:nokey}",
            "arn:aws:iam::111122223333:role/${k:nokey, 'deploy'}",
        ],
        request_values: &[
            "arn:aws:iam::111122223333:role/deploy",
            "arn:aws:iam::444455556666:role/deploy",
            "arn:aws:iam::111122223333:role/alice",
            "arn:aws:s3:::bucket-a",
            "arn:aws:s3:::bucket-b/k",
            "arn:aws:sqs:us-east-1:111122223333:queue-1",
            "arn:aws:iam::111122223333:role/a:b",
        ],
        junk_values: &["not-an-arn", "arn:aws:iam", "", "arn:aws"],
        lenient_values: &[],
    },
];

/// Keys whose values policy variables read: always single-valued and never empty.
const VARIABLE_KEYS: &[(&str, &[&str], u64)] = &[
    ("aws:username", &["alice", "bob"], 85),
    ("aws:PrincipalTag/team", &["team-a", "alice"], 60),
];

/// A key no request carries.
const MISSING_KEY: &str = "k:nokey";

fn family_spec(family: OperatorFamily) -> &'static FamilySpec {
    FAMILIES
        .iter()
        .find(|f| f.family == family)
        .expect("family")
}

/// Randomly upper-cases some ASCII letters (keys and variable names are case-insensitive).
fn mangle_case(rng: &mut Rng, text: &str) -> String {
    text.chars()
        .map(|c| {
            if rng.chance(30) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// One request value for a key of `spec`.
fn request_value(rng: &mut Rng, spec: &FamilySpec) -> String {
    let roll = rng.below(100);
    let pool = if roll < 10 && !spec.junk_values.is_empty() {
        spec.junk_values
    } else if roll < 15 && !spec.lenient_values.is_empty() {
        spec.lenient_values
    } else {
        spec.request_values
    };
    rng.pick(pool).to_string()
}

fn random_context(rng: &mut Rng) -> Map<String, Value> {
    let mut ctx = Map::new();
    for spec in FAMILIES {
        for key in spec.single_keys {
            if VARIABLE_KEYS.iter().any(|(k, _, _)| k == key) {
                continue;
            }
            if !rng.chance(75) {
                continue;
            }
            let value = request_value(rng, spec);
            // A single-valued key sent as a one-element list (a listed divergence).
            let value = if rng.chance(4) {
                json!([value])
            } else {
                json!(value)
            };
            ctx.insert(key.to_string(), value);
        }
        for key in spec.multi_keys {
            if !rng.chance(75) {
                continue;
            }
            let len = if rng.chance(8) { 0 } else { 1 + rng.below(3) };
            let values: Vec<Value> = (0..len)
                .map(|_| Value::String(request_value(rng, spec)))
                .collect();
            ctx.insert(key.to_string(), Value::Array(values));
        }
    }
    for (key, values, percent) in VARIABLE_KEYS {
        if rng.chance(*percent) {
            ctx.insert(key.to_string(), json!(rng.pick(values)));
        }
    }
    ctx
}

fn random_condition_block(rng: &mut Rng) -> Map<String, Value> {
    let mut block = Map::new();
    for _ in 0..1 + rng.below(3) {
        let null = rng.chance(8);
        let spec = rng.pick(FAMILIES);
        let base = if null {
            "Null"
        } else {
            *rng.pick(spec.operators)
        };
        let qualifier = match rng.below(100) {
            0..=64 => "",
            65..=82 => "ForAllValues:",
            _ => "ForAnyValue:",
        };
        let qualifier = if null && !rng.chance(25) {
            ""
        } else {
            qualifier
        };
        let if_exists = !null && rng.chance(25);
        let operator = format!(
            "{qualifier}{base}{}",
            if if_exists { "IfExists" } else { "" }
        );
        // Operator names are read case-insensitively by both evaluators.
        let operator = if rng.chance(5) {
            operator.to_ascii_lowercase()
        } else {
            operator
        };
        let mut keys = Map::new();
        for _ in 0..1 + rng.below(2) {
            let key_spec = if rng.chance(12) {
                rng.pick(FAMILIES)
            } else {
                spec
            };
            let key = match rng.below(100) {
                0..=7 => MISSING_KEY,
                8..=49 => rng.pick(key_spec.single_keys),
                _ => rng.pick(key_spec.multi_keys),
            };
            let key = if rng.chance(15) {
                mangle_case(rng, key)
            } else {
                key.to_string()
            };
            if keys.keys().any(|k: &String| k.eq_ignore_ascii_case(&key)) {
                continue;
            }
            let values: Vec<Value> = if null {
                vec![json!(if rng.chance(50) { "true" } else { "false" })]
            } else if rng.chance(3) {
                Vec::new()
            } else {
                (0..1 + rng.below(3))
                    .map(|_| json!(rng.pick(spec.policy_values)))
                    .collect()
            };
            let value = if values.len() == 1 && rng.chance(50) {
                values[0].clone()
            } else {
                Value::Array(values)
            };
            keys.insert(key, value);
        }
        if !block.contains_key(&operator) {
            block.insert(operator, Value::Object(keys));
        }
    }
    block
}

fn one_or_list(rng: &mut Rng, pool: &[&str]) -> Value {
    let n = 1 + rng.below(2);
    let items: Vec<Value> = (0..n).map(|_| json!(rng.pick(pool))).collect();
    if n == 1 && rng.chance(50) {
        items[0].clone()
    } else {
        Value::Array(items)
    }
}

fn random_statement(rng: &mut Rng) -> Value {
    let mut statement = Map::new();
    let effect = if rng.chance(65) { "Allow" } else { "Deny" };
    statement.insert("Effect".into(), json!(effect));
    let action = if rng.chance(80) {
        "Action"
    } else {
        "NotAction"
    };
    statement.insert(action.into(), one_or_list(rng, ACTION_PATTERNS));
    let resource = if rng.chance(85) {
        "Resource"
    } else {
        "NotResource"
    };
    statement.insert(resource.into(), one_or_list(rng, RESOURCE_PATTERNS));
    if rng.chance(80) {
        statement.insert(
            "Condition".into(),
            Value::Object(random_condition_block(rng)),
        );
    }
    Value::Object(statement)
}

fn random_policy(rng: &mut Rng) -> Value {
    let statements: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| random_statement(rng))
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

struct Case {
    id: usize,
    policies: Vec<Value>,
    action: String,
    resource: String,
    context: Map<String, Value>,
}

impl Case {
    fn random(rng: &mut Rng, id: usize) -> Case {
        let policies = (0..if rng.chance(25) { 2 } else { 1 })
            .map(|_| random_policy(rng))
            .collect();
        let resource = if rng.chance(6) {
            rng.pick(RESOURCES_OTHER_CASE)
        } else {
            rng.pick(RESOURCES)
        };
        Case {
            id,
            policies,
            action: rng.pick(ACTIONS).to_string(),
            resource: resource.to_string(),
            context: random_context(rng),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "policies": self.policies,
            "action": self.action,
            "resource": self.resource,
            "context": self.context,
        })
    }

    /// The request's value of a condition key (case-insensitive lookup).
    fn context_value(&self, key: &str) -> Option<&Value> {
        self.context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The request values of a key as strings (`None`: absent).
    fn context_values(&self, key: &str) -> Option<Vec<&str>> {
        self.context_value(key).map(|v| match v {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Both evaluators, element by element
// ---------------------------------------------------------------------------------------

/// What one evaluator answered for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    decision: Decision,
    statements: Vec<StatementResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StatementResult {
    policy: usize,
    index: usize,
    action: bool,
    resource: bool,
    /// `(operator as written, key as written, result)`.
    conditions: Vec<(String, String, bool)>,
}

fn keyless_answer(case: &Case) -> Answer {
    let policies: Vec<Policy> = case
        .policies
        .iter()
        .map(|doc| {
            let text = doc.to_string();
            Policy::parse(&text, &ParseOptions::new(PolicyKind::Identity))
                .unwrap_or_else(|e| panic!("generated policy must parse: {e}\n{text}"))
        })
        .collect();
    let context = Context::from_json(&Value::Object(case.context.clone()))
        .unwrap_or_else(|e| panic!("generated context must be valid: {e}"));
    let request = Request {
        principal: None,
        action: &case.action,
        resource: Some(&case.resource),
        context: &context,
    };
    let decisions: Vec<Decision> = policies.iter().map(|p| p.evaluate(&request)).collect();
    let decision = if decisions.contains(&Decision::ExplicitDeny) {
        Decision::ExplicitDeny
    } else if decisions.contains(&Decision::Allow) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    let mut statements = Vec::new();
    for (policy_index, policy) in policies.iter().enumerate() {
        let (traced, trace): (Decision, PolicyTrace) = policy.evaluate_traced(&request);
        assert_eq!(traced, decisions[policy_index], "traced and untraced agree");
        for statement in &trace.statements {
            statements.push(StatementResult {
                policy: policy_index,
                index: statement.index,
                action: statement.action.matched,
                resource: statement.resource.as_ref().is_none_or(|r| r.matched),
                conditions: statement
                    .conditions
                    .iter()
                    .map(|c| (c.operator.clone(), c.key.clone(), c.result))
                    .collect(),
            });
        }
    }
    Answer {
        decision,
        statements,
    }
}

fn oracle_answer(line: &Value) -> Result<Answer, String> {
    if let Some(error) = line.get("error") {
        return Err(format!("the other evaluator failed: {error}"));
    }
    let decision = match line.get("decision").and_then(Value::as_str) {
        Some("Allowed") => Decision::Allow,
        Some("ExplicitlyDenied") => Decision::ExplicitDeny,
        Some("ImplicitlyDenied") => Decision::ImplicitDeny,
        other => return Err(format!("unknown decision {other:?}")),
    };
    let statements = line
        .get("statements")
        .and_then(Value::as_array)
        .ok_or("no statements")?
        .iter()
        .map(|s| {
            let number = |name: &str| s.get(name).and_then(Value::as_u64).unwrap_or(u64::MAX);
            let flag = |name: &str| s.get(name).and_then(Value::as_bool).unwrap_or(false);
            StatementResult {
                policy: number("policy") as usize,
                index: number("index") as usize,
                action: flag("action"),
                resource: flag("resource"),
                conditions: s
                    .get("conditions")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                (
                                    c["operator"].as_str().unwrap_or_default().to_string(),
                                    c["key"].as_str().unwrap_or_default().to_string(),
                                    c["matches"].as_bool().unwrap_or(false),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    Ok(Answer {
        decision,
        statements,
    })
}

/// One element whose result differs between the evaluators.
#[derive(Debug, Clone)]
enum Diff<'a> {
    Action {
        statement: &'a Value,
        keyless: bool,
    },
    Resource {
        statement: &'a Value,
        keyless: bool,
    },
    Condition {
        operator: ConditionOperator,
        operator_text: String,
        key: String,
        /// Policy values as strings.
        values: Vec<String>,
        keyless: bool,
    },
}

impl Diff<'_> {
    fn describe(&self) -> String {
        match self {
            Diff::Action { statement, keyless } => format!(
                "Action/NotAction of {statement}: keyless {keyless}, other {}",
                !keyless
            ),
            Diff::Resource { statement, keyless } => format!(
                "Resource/NotResource of {statement}: keyless {keyless}, other {}",
                !keyless
            ),
            Diff::Condition {
                operator_text,
                key,
                values,
                keyless,
                ..
            } => format!(
                "condition {operator_text} {key} {values:?}: keyless {keyless}, other {}",
                !keyless
            ),
        }
    }
}

fn statement_json(case: &Case, policy: usize, index: usize) -> &Value {
    &case.policies[policy]["Statement"][index]
}

fn condition_values(statement: &Value, operator: &str, key: &str) -> Vec<String> {
    match &statement["Condition"][operator][key] {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Element differences, or an error when the two answers do not describe the same elements.
fn element_diffs<'a>(
    case: &'a Case,
    ours: &Answer,
    theirs: &Answer,
) -> Result<Vec<Diff<'a>>, String> {
    if ours.statements.len() != theirs.statements.len() {
        return Err(format!(
            "{} statements in keyless, {} in the other evaluator",
            ours.statements.len(),
            theirs.statements.len()
        ));
    }
    let mut diffs = Vec::new();
    for (a, b) in ours.statements.iter().zip(&theirs.statements) {
        if (a.policy, a.index) != (b.policy, b.index) {
            return Err(format!(
                "statement order differs: {:?} / {:?}",
                (a.policy, a.index),
                (b.policy, b.index)
            ));
        }
        let statement = statement_json(case, a.policy, a.index);
        if a.action != b.action {
            diffs.push(Diff::Action {
                statement,
                keyless: a.action,
            });
        }
        if a.resource != b.resource {
            diffs.push(Diff::Resource {
                statement,
                keyless: a.resource,
            });
        }
        if a.conditions.len() != b.conditions.len() {
            return Err(format!(
                "statement {}/{}: {} conditions in keyless, {} in the other evaluator",
                a.policy,
                a.index,
                a.conditions.len(),
                b.conditions.len()
            ));
        }
        for (operator_text, key, result) in &a.conditions {
            let other = b
                .conditions
                .iter()
                .find(|(o, k, _)| o == operator_text && k == key)
                .ok_or_else(|| {
                    format!("condition {operator_text} {key} missing on the other side")
                })?;
            if *result != other.2 {
                diffs.push(Diff::Condition {
                    operator: ConditionOperator::parse(operator_text).expect("known operator"),
                    operator_text: operator_text.clone(),
                    key: key.clone(),
                    values: condition_values(statement, operator_text, key),
                    keyless: *result,
                });
            }
        }
    }
    Ok(diffs)
}

// ---------------------------------------------------------------------------------------
// Known divergences
// ---------------------------------------------------------------------------------------

/// A difference between the evaluators that is understood: which case it is and which side
/// AWS's documentation or observed behaviour supports.
struct Known {
    name: &'static str,
    note: &'static str,
    applies: fn(&Case, &Diff<'_>) -> bool,
}

const KNOWN: &[Known] = &[
    Known {
        name: "number-prefix-parsing",
        note: "A Numeric request value that is not an integer or decimal ('5abc', '1e3', '1.2.3'; \
               a dotted IP address under a Numeric operator). AWS: Numeric operators compare 'an \
               integer or decimal value' (condition operators page, Numeric section); keyless \
               reads such a value as of the wrong type. iam-simulate parses a number prefix with \
               parseInt/parseFloat (condition/numeric/numeric.js), so '5abc' compares as 5. \
               keyless follows the documented value syntax.",
        applies: |case, diff| {
            condition_of_family(diff, OperatorFamily::Numeric)
                && request_values(case, diff)
                    .iter()
                    .any(|v| !strict_decimal(v) && js_number_prefix(v))
        },
    },
    Known {
        name: "epoch-seconds-vs-iso-milliseconds",
        note: "A Date condition mixing epoch seconds and an ISO 8601 date. AWS: a date value is \
               'one of the W3C implementations of the ISO 8601 date formats or in epoch (UNIX) \
               time' (condition operators page, Date section): both name an instant, so \
               1577836800 equals 2020-01-01T00:00:00Z, as keyless compares them. iam-simulate \
               compares parseInt seconds with Date.parse milliseconds \
               (condition/date/date.js; project IAM reference §6, [LOCAL] date bug).",
        applies: |case, diff| {
            let Diff::Condition { values, .. } = diff else {
                return false;
            };
            condition_of_family(diff, OperatorFamily::Date) && {
                let request = request_values(case, diff);
                let epoch = |v: &&str| js_epoch(v);
                let iso = |v: &&str| !js_epoch(v) && !JUNK_DATES.contains(v);
                let policy: Vec<&str> = values.iter().map(String::as_str).collect();
                (request.iter().any(epoch) && policy.iter().any(iso))
                    || (request.iter().any(iso) && policy.iter().any(epoch))
            }
        },
    },
    Known {
        name: "non-iso-date-forms",
        note: "A Date request value that is neither ISO 8601 nor epoch seconds ('2020/01/01', \
               'Jan 1 2020', '2.5', '+10', '-5'). AWS: dates are 'one of the W3C implementations \
               of the ISO 8601 date formats or in epoch (UNIX) time' (condition operators page, \
               Date section), epoch values 0 to 9223372036854775807 as IAM's parser checks them \
               (project IAM reference §2.3); keyless reads anything else as of the wrong type. \
               iam-simulate accepts negative integers and whatever JavaScript's Date.parse \
               accepts (condition/date/date.js).",
        applies: |case, diff| {
            let dates = family_spec(OperatorFamily::Date);
            condition_of_family(diff, OperatorFamily::Date)
                && request_values(case, diff).iter().any(|v| {
                    let keyless_date = dates.request_values.contains(v)
                        || dates.policy_values.contains(v)
                        || (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
                    !keyless_date && !JUNK_DATES.contains(v)
                })
        },
    },
    Known {
        name: "unresolved-variable-under-negated-operator",
        note: "A negated String or ARN operator whose policy value holds a variable the request \
               cannot resolve (key missing, no default). AWS: 'Inverted condition operators like \
               StringNotEquals or StringNotLike do match against a null value' (policy variables \
               page, on variables with no value; project IAM reference §2.7) — keyless treats the value as not matched, so the negated operator matches. \
               iam-simulate makes the unresolvable value fail even under a negated operator \
               (util.js convertIamString errors).",
        applies: |case, diff| {
            let Diff::Condition {
                operator, values, ..
            } = diff
            else {
                return false;
            };
            matches!(
                operator.family(),
                OperatorFamily::String | OperatorFamily::Arn
            ) && operator.is_negated()
                && values.iter().any(|v| has_unresolved_variable(case, v))
        },
    },
    Known {
        name: "escapes-under-non-like-string-operators",
        note: "${*}, ${?} or ${$} in a StringEquals/StringNotEquals(IgnoreCase) value. AWS: \
               '${*} - use where you need an * (asterisk) character ... These predefined policy \
               variables can be used in any string where you can use regular policy variables' \
               (policy variables page, special characters), and the String operators take \
               variables — keyless reads a${*}b as the text a*b. iam-simulate keeps the four \
               characters ${*} literally unless the operator is a Like operator \
               (util.js replaceIamStringToken).",
        applies: |_, diff| {
            let Diff::Condition {
                operator, values, ..
            } = diff
            else {
                return false;
            };
            matches!(
                operator.kind,
                OperatorKind::StringEquals
                    | OperatorKind::StringNotEquals
                    | OperatorKind::StringEqualsIgnoreCase
                    | OperatorKind::StringNotEqualsIgnoreCase
            ) && values
                .iter()
                .any(|v| v.contains("${*}") || v.contains("${?}") || v.contains("${$}"))
        },
    },
    Known {
        name: "wrong-typed-value-with-empty-value-list",
        note: "UNSETTLED corner. A negated typed operator with an empty policy value list on a \
               request value of the wrong type. keyless applies its wrong-type rule \
               (docs/policy-semantics.md §2.2: no typed operator matches such a value) before \
               looking at the list, so the condition is false; iam-simulate never reads the \
               request value when there is no policy value, so the NOR of nothing is true. No AWS \
               source covers the combination; Access Analyzer reports the empty list itself \
               ('Empty array condition', project IAM reference §2.4).",
        applies: |case, diff| {
            let Diff::Condition {
                operator, values, ..
            } = diff
            else {
                return false;
            };
            operator.is_negated()
                && operator.family() != OperatorFamily::String
                && values.is_empty()
                && !request_values(case, diff).is_empty()
        },
    },
    Known {
        name: "binary-compared-as-text",
        note: "A BinaryEquals request value that is the same bytes as a policy value in another \
               base64 spelling (padding omitted). AWS: BinaryEquals 'compares the value of the \
               specified key byte for byte against a base-64 encoded representation of the binary \
               value in the policy' (condition operators page, Binary section) — keyless decodes \
               both sides and compares bytes. iam-simulate compares the text \
               (condition/binary/BinaryEquals.js: 'just do a string match').",
        applies: |case, diff| {
            let Diff::Condition { values, .. } = diff else {
                return false;
            };
            condition_of_family(diff, OperatorFamily::Binary)
                && request_values(case, diff).iter().any(|v| {
                    values
                        .iter()
                        .any(|p| p != v && p.trim_end_matches('=') == v.trim_end_matches('='))
                })
        },
    },
    Known {
        name: "null-with-set-qualifier-on-missing-key",
        note: "ForAllValues:Null / ForAnyValue:Null on a missing key. AWS: a ForAllValues \
               condition is true and a ForAnyValue condition false when the key is missing \
               (single- vs multi-valued context keys page), and Access Analyzer's 'Null with \
               qualifier' check says these operators 'always return a true or false \
               respectively' — keyless's answer. iam-simulate ignores the qualifier on Null.",
        applies: |case, diff| {
            let Diff::Condition { operator, key, .. } = diff else {
                return false;
            };
            operator.kind == OperatorKind::Null
                && operator.set_qualifier.is_some()
                && key_missing(case, key)
        },
    },
    Known {
        name: "empty-request-list",
        note: "A plain (unqualified) operator or Null on a key whose request value is an empty \
               list. AWS treats a key whose values 'resolve to an empty data set, such as an \
               empty list' like a missing key (single- vs multi-valued context keys page: \
               ForAllValues true, ForAnyValue false for it; project IAM reference §2.6) — keyless \
               applies the missing-key rules (negated and IfExists true, Null \"true\" true). \
               iam-simulate treats the key as present and multi-valued, so every plain operator \
               is false and Null sees a present key.",
        applies: |case, diff| {
            let Diff::Condition { operator, key, .. } = diff else {
                return false;
            };
            operator.set_qualifier.is_none()
                && matches!(case.context_value(key), Some(Value::Array(items)) if items.is_empty())
        },
    },
    Known {
        name: "one-element-list-with-plain-operator",
        note: "UNSETTLED. A plain (unqualified) operator on a key sent as a one-element list. \
               keyless reads a one-element list as the single value (docs/policy-semantics.md \
               §2.2, [UNVERIFIED]; open question 1 of the project IAM reference §8). iam-simulate \
               answers false for any list under a plain operator, citing AWS at re:Inforce 2025 \
               ('set operator is required for a multi-value key'), which AWS's single- vs \
               multi-valued context keys page ('Multivalued context keys require a condition set \
               operator') supports. Neither side is shown right for a one-element list; AWS's \
               policy simulator or a sandbox account must settle it.",
        applies: |case, diff| {
            let Diff::Condition { operator, key, .. } = diff else {
                return false;
            };
            operator.set_qualifier.is_none()
                && operator.kind != OperatorKind::Null
                && matches!(case.context_value(key), Some(Value::Array(items)) if items.len() == 1)
        },
    },
    Known {
        name: "resource-case-in-first-five-components",
        note: "A request resource whose partition, service, region or account differs from the \
               policy's only in case. AWS: ARN matching is case-sensitive (ArnLike: 'Case-sensitive \
               matching of the ARN', condition operators page; project IAM reference §1.3, §1.6) — \
               keyless compares case-sensitively. iam-simulate matches those components \
               case-insensitively (resource/resource.js convertResourceSegmentToRegex, flag 'i').",
        applies: |case, diff| {
            matches!(diff, Diff::Resource { .. })
                && case
                    .resource
                    .splitn(6, ':')
                    .take(5)
                    .any(|part| part.chars().any(|c| c.is_ascii_uppercase()))
        },
    },
    Known {
        name: "unresolved-variable-in-notresource",
        note: "NotResource listing a resource with a variable the request cannot resolve. AWS: \
               'the resource that includes a policy variable with no value will not match any \
               resource' (policy variables page) — so it does not exclude the request and \
               NotResource applies, as in keyless. iam-simulate treats the unresolvable entry as \
               undecidable and makes NotResource not apply (explain/statementExplain.js, \
               unresolvablePolicyVariable: not invertible).",
        applies: |case, diff| {
            let Diff::Resource { statement, .. } = diff else {
                return false;
            };
            let listed = match &statement["NotResource"] {
                Value::Array(items) => items.iter().map(scalar_text).collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            listed.iter().any(|r| has_unresolved_variable(case, r))
        },
    },
    Known {
        name: "ifexists-with-empty-value-list",
        note: "An ...IfExists operator with an empty policy value list on a present key. Access \
               Analyzer: 'The IfExists suffix with an empty condition key matches only if the key \
               is missing' (project IAM reference §2.4) — keyless's answer (false). iam-simulate \
               evaluates the empty list like the operator without IfExists, so a negated operator \
               matches.",
        applies: |case, diff| {
            let Diff::Condition {
                operator,
                key,
                values,
                ..
            } = diff
            else {
                return false;
            };
            operator.if_exists && values.is_empty() && !key_missing(case, key)
        },
    },
    Known {
        name: "zero-length-ipv4-prefix",
        note: "An IPv4 block with a zero-length prefix (0.0.0.0/0). CIDR notation: a /0 block \
               holds every IPv4 address (RFC 4632 §3.1); AWS's IP operators take IPv4 blocks 'in \
               CIDR format' (condition operators page, IP address section) — keyless matches \
               every IPv4 address. iam-simulate builds the mask as -1 << (32 - prefix), which \
               JavaScript reduces to -1 << 0 for /0 (shift counts are taken modulo 32), so the \
               block holds only 0.0.0.0 (condition/ipaddress/ipv4.js).",
        applies: |_, diff| {
            let Diff::Condition { values, .. } = diff else {
                return false;
            };
            condition_of_family(diff, OperatorFamily::IpAddress)
                && values.iter().any(|v| v.contains('.') && v.ends_with("/0"))
        },
    },
    Known {
        name: "bare-ipv4-address-vs-ipv6-request",
        note: "A negated IP operator whose policy lists a bare IPv4 address and whose request \
               value is an IPv6 address. AWS: 'If you specify an IP address without the associated \
               routing prefix, IAM uses the default prefix value of /32' (condition operators \
               page, IP address section), so 203.0.113.5 behaves as 203.0.113.5/32, which an \
               IPv6 address lies outside: NotIpAddress matches, as in keyless. iam-simulate \
               compares a bare address as text and answers false for any non-IPv4 request value \
               (condition/ipaddress/ip.js), unlike its answer for the /32 block.",
        applies: |case, diff| {
            let Diff::Condition {
                operator, values, ..
            } = diff
            else {
                return false;
            };
            operator.family() == OperatorFamily::IpAddress
                && operator.is_negated()
                && values.iter().any(|v| !v.contains('/') && v.contains('.'))
                && request_values(case, diff).iter().any(|v| v.contains(':'))
        },
    },
];

const JUNK_DATES: &[&str] = &["yesterday", "not-a-date", "", "2020-13-01"];

fn condition_of_family(diff: &Diff<'_>, family: OperatorFamily) -> bool {
    matches!(diff, Diff::Condition { operator, .. } if operator.family() == family)
}

fn request_values<'a>(case: &'a Case, diff: &Diff<'_>) -> Vec<&'a str> {
    match diff {
        Diff::Condition { key, .. } => case.context_values(key).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Missing as keyless reads it: absent, or an empty list.
fn key_missing(case: &Case, key: &str) -> bool {
    case.context_values(key).is_none_or(|v| v.is_empty())
}

/// `[+-]digits[.digits]` or `[+-].digits`: keyless's (and IAM's documented) number syntax.
fn strict_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(int.is_empty() && frac.is_empty())
        && digits(int)
        && digits(frac)
        && !(unsigned.contains('.') && frac.is_empty())
}

/// Whether JavaScript's parseInt/parseFloat find a number at the start of `text`.
fn js_number_prefix(text: &str) -> bool {
    let t = text.trim_start();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    t.starts_with(|c: char| c.is_ascii_digit())
        || (text.contains('.')
            && t.strip_prefix('.')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
}

/// Whether iam-simulate reads a date value as epoch seconds (`parseInt(v).toString() === v`).
fn js_epoch(text: &str) -> bool {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && if digits == "0" {
            !negative
        } else {
            !digits.starts_with('0')
        }
}

/// Whether `text` holds a policy variable without a default whose key the request lacks.
fn has_unresolved_variable(case: &Case, text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let body = &rest[start + 2..start + len];
        rest = &rest[start + len + 1..];
        if matches!(body, "*" | "?" | "$") || body.contains(',') {
            continue;
        }
        if case
            .context_values(body)
            .is_none_or(|values| values.len() != 1)
        {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

fn differential_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/differential")
}

/// Written straight to the terminal: cargo's test harness shows it without `--nocapture`.
fn say(text: &str) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{text}");
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

/// Why the other evaluator cannot run, if it cannot.
fn unavailable(dir: &std::path::Path) -> Option<String> {
    if Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        return Some("`node` is not on PATH".to_string());
    }
    let installed = dir.join("node_modules/@cloud-copilot/iam-simulate/package.json");
    if !installed.is_file() {
        return Some(format!(
            "{} is missing (run `npm ci --prefix tests/differential`)",
            installed.display()
        ));
    }
    None
}

fn run_oracle(dir: &std::path::Path, cases: &[Case]) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg("oracle.mjs")
        .current_dir(dir)
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut input = String::new();
    for case in cases {
        input.push_str(&case.to_json().to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).expect("write to node");
    });
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<Value> = BufReader::new(stdout)
        .lines()
        .map(|line| serde_json::from_str(&line.expect("read from node")).expect("JSON line"))
        .collect();
    writer.join().expect("writer");
    let output = child.wait_with_output().expect("node exits");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(lines.len(), cases.len(), "one answer per case");
    lines
}

fn decision_name(decision: Decision) -> &'static str {
    decision.as_str()
}

fn render_answer(answer: &Answer) -> String {
    let mut out = format!("    decision {}\n", decision_name(answer.decision));
    for s in &answer.statements {
        out.push_str(&format!(
            "    policy {} statement {}: action {}, resource {}",
            s.policy, s.index, s.action, s.resource
        ));
        for (operator, key, result) in &s.conditions {
            out.push_str(&format!(", {operator} {key} {result}"));
        }
        out.push('\n');
    }
    out
}

fn render_failure(case: &Case, ours: &Answer, theirs: Option<&Answer>, problem: &str) -> String {
    let policies: Vec<String> = case
        .policies
        .iter()
        .map(|p| serde_json::to_string_pretty(p).unwrap_or_default())
        .collect();
    format!(
        "case {}: {problem}\n  policies:\n{}\n  request: action {}, resource {}, context {}\n  keyless:\n{}  other evaluator:\n{}",
        case.id,
        policies.join("\n"),
        case.action,
        case.resource,
        Value::Object(case.context.clone()),
        render_answer(ours),
        theirs.map_or_else(|| "    (no answer)\n".to_string(), render_answer),
    )
}

#[test]
fn keyless_agrees_with_an_independent_evaluator() {
    let dir = differential_dir();
    if let Some(reason) = unavailable(&dir) {
        let required = std::env::var("KEYLESS_DIFFERENTIAL_REQUIRED").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "KEYLESS_DIFFERENTIAL_REQUIRED=1 but the differential test cannot run: {reason}"
        );
        say(&format!(
            "SKIPPED keyless_agrees_with_an_independent_evaluator: {reason}"
        ));
        return;
    }
    let seed = env_number("KEYLESS_DIFFERENTIAL_SEED", SEED);
    let count = env_number("KEYLESS_DIFFERENTIAL_CASES", CASES as u64) as usize;
    let mut rng = Rng(seed);
    let cases: Vec<Case> = (0..count).map(|id| Case::random(&mut rng, id)).collect();
    let answers = run_oracle(&dir, &cases);

    let mut agreed = 0usize;
    let mut elements_agreed = 0usize;
    let mut explained_decisions = 0usize;
    let mut known_counts = vec![0usize; KNOWN.len()];
    // Cases with a different decision in which the divergence occurs.
    let mut known_decisive = vec![0usize; KNOWN.len()];
    let mut failures = Vec::new();
    let mut brief: Vec<String> = Vec::new();
    for (case, line) in cases.iter().zip(&answers) {
        assert_eq!(
            line["id"].as_u64(),
            Some(case.id as u64),
            "answers in order"
        );
        let ours = keyless_answer(case);
        let theirs = match oracle_answer(line) {
            Ok(answer) => answer,
            Err(problem) => {
                failures.push(render_failure(case, &ours, None, &problem));
                continue;
            }
        };
        let diffs = match element_diffs(case, &ours, &theirs) {
            Ok(diffs) => diffs,
            Err(problem) => {
                failures.push(render_failure(case, &ours, Some(&theirs), &problem));
                continue;
            }
        };
        let same_decision = ours.decision == theirs.decision;
        if same_decision {
            agreed += 1;
        }
        if diffs.is_empty() {
            elements_agreed += 1;
            if !same_decision {
                failures.push(render_failure(
                    case,
                    &ours,
                    Some(&theirs),
                    "the decisions differ although every element agrees",
                ));
            }
            continue;
        }
        let mut unexplained = Vec::new();
        let mut seen = vec![false; KNOWN.len()];
        for diff in &diffs {
            match KNOWN.iter().position(|k| (k.applies)(case, diff)) {
                Some(i) => seen[i] = true,
                None => unexplained.push(diff.describe()),
            }
        }
        for (i, seen) in seen.iter().enumerate() {
            known_counts[i] += usize::from(*seen);
            known_decisive[i] += usize::from(*seen && !same_decision);
        }
        if unexplained.is_empty() {
            if !same_decision {
                explained_decisions += 1;
            }
        } else {
            brief.extend(unexplained.iter().map(|d| format!("case {}: {d}", case.id)));
            failures.push(render_failure(
                case,
                &ours,
                Some(&theirs),
                &format!("unlisted divergence: {}", unexplained.join("; ")),
            ));
        }
    }

    let total = cases.len();
    let mut report = format!(
        "differential (seed {seed:#x}): {agreed}/{total} decisions agree ({:.1}%); \
         {elements_agreed}/{total} cases agree on every action, resource and condition; \
         {explained_decisions} decisions differ by listed divergences only",
        100.0 * agreed as f64 / total.max(1) as f64
    );
    for ((known, count), decisive) in KNOWN.iter().zip(&known_counts).zip(&known_decisive) {
        report.push_str(&format!(
            "\n  {count:5} cases ({decisive:3} with another decision): {}",
            known.name
        ));
    }
    say(&report);
    assert!(
        failures.is_empty(),
        "{} of {total} cases diverge in ways not listed in KNOWN; the first in full:\n\n{}\nEvery unlisted element difference:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        brief.join("\n")
    );
    // Every listed divergence must still be seen, or its entry is stale.
    for (known, count) in KNOWN.iter().zip(&known_counts) {
        assert!(
            *count > 0 || count_too_small(total),
            "listed divergence {} never occurred: remove it or generate its case ({})",
            known.name,
            known.note
        );
    }
}

/// Runs shorter than the default may miss rare listed cases.
fn count_too_small(total: usize) -> bool {
    total < CASES
}
