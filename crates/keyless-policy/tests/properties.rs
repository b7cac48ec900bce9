//! Property tests: Deny/Allow monotonicity, one wrong-type rule for every typed operator
//! family, and parser robustness.

use keyless_policy::{
    Context, ContextValue, Decision, ParseOptions, Policy, PolicyKind, Principal, Request,
    evaluate_session,
};
use proptest::prelude::*;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:*",
    "*",
    "s3:Put*",
    "ec2:?tart*",
    "S3:getobject",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::*/k",
    "arn:aws:s3:::${k:a}/k",
];
const CONDITIONS: &[&str] = &[
    r#"{"StringEquals":{"k:a":"x"}}"#,
    r#"{"StringNotLike":{"k:a":"y*"}}"#,
    r#"{"ForAllValues:StringEquals":{"k:m":["p","q"]}}"#,
    r#"{"ForAnyValue:StringLike":{"k:m":"r*"}}"#,
    r#"{"NumericLessThan":{"k:n":"5"}}"#,
    r#"{"Null":{"k:a":"true"}}"#,
    r#"{"StringEqualsIfExists":{"k:b":"z"}}"#,
    r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
    r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
];

#[derive(Debug, Clone)]
struct StatementSpec {
    deny: bool,
    not_action: bool,
    action: usize,
    not_resource: bool,
    resource: usize,
    condition: Option<usize>,
}

impl StatementSpec {
    fn render(&self) -> String {
        let effect = if self.deny { "Deny" } else { "Allow" };
        let action_key = if self.not_action {
            "NotAction"
        } else {
            "Action"
        };
        let resource_key = if self.not_resource {
            "NotResource"
        } else {
            "Resource"
        };
        let condition = self
            .condition
            .map(|i| format!(r#","Condition":{}"#, CONDITIONS[i]))
            .unwrap_or_default();
        format!(
            r#"{{"Effect":"{effect}","{action_key}":"{}","{resource_key}":"{}"{condition}}}"#,
            ACTIONS[self.action], RESOURCES[self.resource]
        )
    }
}

fn statement(effect: Option<bool>) -> impl Strategy<Value = StatementSpec> {
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        0..ACTIONS.len(),
        prop::bool::weighted(0.2),
        0..RESOURCES.len(),
        prop::option::of(0..CONDITIONS.len()),
    )
        .prop_map(
            move |(deny, not_action, action, not_resource, resource, condition)| StatementSpec {
                deny: effect.unwrap_or(deny),
                not_action,
                action,
                not_resource,
                resource,
                condition,
            },
        )
}

fn policy(statements: &[StatementSpec]) -> Policy {
    let body: Vec<String> = statements.iter().map(StatementSpec::render).collect();
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    );
    Policy::parse(&doc, &ParseOptions::new(PolicyKind::Identity))
        .expect("generated policies are valid")
}

#[derive(Debug, Clone)]
struct RequestSpec {
    action: &'static str,
    resource: &'static str,
    a: Option<&'static str>,
    m: Option<Vec<&'static str>>,
    n: Option<&'static str>,
    extra: bool,
}

fn request_spec() -> impl Strategy<Value = RequestSpec> {
    (
        prop::sample::select(vec![
            "s3:GetObject",
            "s3:PutObject",
            "ec2:StartInstances",
            "iam:GetRole",
        ]),
        prop::sample::select(vec![
            "arn:aws:s3:::b/k",
            "arn:aws:s3:::c/k",
            "arn:aws:s3:::x/k",
        ]),
        prop::option::of(prop::sample::select(vec!["x", "y1", "b"])),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["p", "q", "r1"]),
            0..3,
        )),
        prop::option::of(prop::sample::select(vec!["3", "9", "junk"])),
        any::<bool>(),
    )
        .prop_map(|(action, resource, a, m, n, extra)| RequestSpec {
            action,
            resource,
            a,
            m,
            n,
            extra,
        })
}

impl RequestSpec {
    fn context(&self) -> Context {
        let mut ctx = Context::new();
        if let Some(a) = self.a {
            ctx.insert("k:a", ContextValue::Single(a.into()));
        }
        if let Some(m) = &self.m {
            ctx.insert(
                "k:m",
                ContextValue::Multi(m.iter().map(|s| s.to_string()).collect()),
            );
        }
        if let Some(n) = self.n {
            ctx.insert("k:n", ContextValue::Single(n.into()));
        }
        if self.extra {
            ctx.insert(
                "aws:CurrentTime",
                ContextValue::Single("2024-01-01T00:00:00Z".into()),
            );
            ctx.insert("aws:SourceIp", ContextValue::Single("10.1.2.3".into()));
            ctx.insert("aws:SecureTransport", ContextValue::Single("true".into()));
        }
        ctx
    }
}

fn decide(policy: &Policy, spec: &RequestSpec) -> Decision {
    let ctx = spec.context();
    let req = Request {
        principal: None,
        action: spec.action,
        resource: Some(spec.resource),
        context: &ctx,
    };
    let decision = policy.evaluate(&req);
    let (traced, trace) = policy.evaluate_traced(&req);
    assert_eq!(decision, traced, "traced and untraced evaluation agree");
    assert_eq!(trace.decision, decision);
    assert_eq!(
        policy.decide(&req),
        policy.verdict_of(&trace),
        "the untraced verdict and the one read off the trace agree"
    );
    decision
}

/// Positive/negated operator pairs of the typed families with a negated form, with a policy
/// value. (`Bool` and `BinaryEquals` have none; `Bool "true"`/`Bool "false"` are checked as
/// a pair.)
const TYPED_PAIRS: &[(&str, &str, &str, Family)] = &[
    ("NumericEquals", "NumericNotEquals", "10", Family::Numeric),
    (
        "DateEquals",
        "DateNotEquals",
        "2020-01-01T00:00:00Z",
        Family::Date,
    ),
    ("IpAddress", "NotIpAddress", "10.0.0.0/8", Family::Ip),
    (
        "ArnLike",
        "ArnNotLike",
        "arn:aws:iam::*:role/*",
        Family::Arn,
    ),
    ("ArnEquals", "ArnNotEquals", "arn:aws:s3:::b", Family::Arn),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Numeric,
    Date,
    Ip,
    Arn,
    Bool,
}

/// Request values whose types are known (a value may be of several, like `10`: a number and
/// epoch seconds).
const TYPED_VALUES: &[(&str, &[Family])] = &[
    ("10", &[Family::Numeric, Family::Date]),
    ("1577836800", &[Family::Numeric, Family::Date]),
    ("10.0", &[Family::Numeric]),
    ("-3.5", &[Family::Numeric]),
    ("2020-01-01T00:00:00Z", &[Family::Date]),
    ("2021-06-01", &[Family::Date]),
    ("10.1.2.3", &[Family::Ip]),
    ("192.0.2.1", &[Family::Ip]),
    ("2001:db8::1", &[Family::Ip]),
    ("arn:aws:iam::111122223333:role/x", &[Family::Arn]),
    ("arn:aws:s3:::b", &[Family::Arn]),
    ("true", &[Family::Bool]),
    ("FALSE", &[Family::Bool]),
    ("ten", &[]),
    ("yesterday", &[]),
    ("not-an-ip", &[]),
    ("10.0.0.1/32", &[]),
    ("1e3", &[]),
    ("arn:aws:iam", &[]),
    ("", &[]),
];

/// Whether the single condition `{op: {"k:v": policy_value}}` matches `request_value`.
fn condition_matches(op: &str, policy_value: &str, request_value: &str) -> bool {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{op}":{{"k:v":"{policy_value}"}}}}}}]}}"#
    );
    let policy = Policy::parse(&doc, &ParseOptions::new(PolicyKind::Identity)).expect("valid");
    let mut ctx = Context::new();
    ctx.insert("k:v", ContextValue::Single(request_value.to_string()));
    let req = Request {
        principal: None,
        action: "s3:GetObject",
        resource: Some("arn:aws:s3:::b/k"),
        context: &ctx,
    };
    let decision = policy.evaluate(&req);
    assert_eq!(decision, policy.evaluate_traced(&req).0);
    decision == Decision::Allow
}

/// How many of a positive operator, its negated form and the negated form with `IfExists`
/// match `value` (the last two must agree on a present key).
fn pair_matches(positive: &str, negated: &str, policy_value: &str, value: &str) -> (bool, bool) {
    let yes = condition_matches(positive, policy_value, value);
    let no = condition_matches(negated, policy_value, value);
    let no_if_exists = condition_matches(&format!("{negated}IfExists"), policy_value, value);
    assert_eq!(
        no, no_if_exists,
        "{negated}IfExists on the present value {value:?}"
    );
    (yes, no)
}

#[test]
fn typed_operators_follow_one_wrong_type_rule() {
    for (value, families) in TYPED_VALUES {
        for (positive, negated, policy_value, family) in TYPED_PAIRS {
            let (yes, no) = pair_matches(positive, negated, policy_value, value);
            if families.contains(family) {
                assert!(
                    yes != no,
                    "{value:?} is of {family:?}: exactly one of {positive}/{negated} matches"
                );
            } else {
                assert!(
                    !yes && !no,
                    "{value:?} is not of {family:?}: neither {positive} nor {negated} matches"
                );
            }
        }
        let (is_true, is_false) = pair_matches_bool(value);
        assert_eq!(
            is_true || is_false,
            families.contains(&Family::Bool),
            "Bool on {value:?}"
        );
        assert!(!(is_true && is_false));
    }
}

fn pair_matches_bool(value: &str) -> (bool, bool) {
    (
        condition_matches("Bool", "true", value),
        condition_matches("Bool", "false", value),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the request value, a typed operator and its negated form never both match.
    #[test]
    fn typed_operator_and_its_negation_never_both_match(value in "[a-z0-9:./+=-]{0,14}") {
        for (positive, negated, policy_value, _) in TYPED_PAIRS {
            let (yes, no) = pair_matches(positive, negated, policy_value, &value);
            prop_assert!(!(yes && no), "{} and {} both match {:?}", positive, negated, value);
        }
        let (is_true, is_false) = pair_matches_bool(&value);
        prop_assert!(!(is_true && is_false));
    }

    #[test]
    fn adding_deny_never_allows(
        base in prop::collection::vec(statement(None), 1..6),
        extra in prop::collection::vec(statement(Some(true)), 1..3),
        req in request_spec(),
    ) {
        let before = decide(&policy(&base), &req);
        let mut extended = base.clone();
        extended.extend(extra);
        let after = decide(&policy(&extended), &req);
        if before != Decision::Allow {
            prop_assert_ne!(after, Decision::Allow);
        }
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn adding_allow_never_denies(
        base in prop::collection::vec(statement(Some(false)), 1..6),
        extra in prop::collection::vec(statement(Some(false)), 1..3),
        req in request_spec(),
    ) {
        let before = decide(&policy(&base), &req);
        prop_assert_ne!(before, Decision::ExplicitDeny);
        let mut extended = base.clone();
        extended.extend(extra);
        let after = decide(&policy(&extended), &req);
        if before == Decision::Allow {
            prop_assert_eq!(after, Decision::Allow);
        }
    }

    #[test]
    fn session_layers_only_restrict(
        identity in prop::collection::vec(statement(None), 1..5),
        session in prop::collection::vec(statement(None), 1..5),
        req in request_spec(),
    ) {
        let identity = policy(&identity);
        let session = policy(&session);
        let ctx = req.context();
        let request = Request { principal: None, action: req.action, resource: Some(req.resource), context: &ctx };
        let alone = evaluate_session(&[&identity], &[], &request);
        let both = evaluate_session(&[&identity], &[&session], &request);
        prop_assert_eq!(alone, identity.evaluate(&request));
        if both == Decision::Allow {
            prop_assert_eq!(alone, Decision::Allow);
            prop_assert_eq!(session.evaluate(&request), Decision::Allow);
        }
        if alone == Decision::ExplicitDeny || session.evaluate(&request) == Decision::ExplicitDeny {
            prop_assert_eq!(both, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(doc in "\\PC{0,300}") {
        for kind in [PolicyKind::Trust, PolicyKind::Identity, PolicyKind::Session] {
            let _ = Policy::parse(&doc, &ParseOptions::new(kind));
        }
    }

    #[test]
    fn parser_never_panics_on_json_like_text(doc in r#"[\[\]{}":,0-9a-zA-Z*?$ \\/.\-]{0,200}"#) {
        for kind in [PolicyKind::Trust, PolicyKind::Identity] {
            let _ = Policy::parse(&doc, &ParseOptions::new(kind));
        }
    }

    #[test]
    fn parser_and_evaluator_never_panic_on_policy_shaped_json(value in policy_json(), req in request_spec()) {
        let doc = value.to_string();
        for kind in [PolicyKind::Trust, PolicyKind::Identity] {
            if let Ok(policy) = Policy::parse(&doc, &ParseOptions { kind, max_chars: None }) {
                let ctx = req.context();
                let request = Request {
                    principal: Some(Principal::Federated("arn:aws:iam::1:oidc-provider/gitlab.com")),
                    action: req.action,
                    resource: Some(req.resource),
                    context: &ctx,
                };
                let decision = policy.evaluate(&request);
                let (traced, trace) = policy.evaluate_traced(&request);
                prop_assert_eq!(decision, traced);
                prop_assert_eq!(policy.decide(&request), policy.verdict_of(&trace));
                let _ = keyless_policy::render_trace_text(decision, &trace);
            }
        }
    }

    #[test]
    fn mutated_policies_never_panic(cut in 0usize..400, insert in "\\PC{0,4}") {
        let base = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/gitlab.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"gitlab.com:sub":"project_path:g/*"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#;
        let mut doc = base.to_string();
        let mut at = cut.min(doc.len());
        while !doc.is_char_boundary(at) {
            at -= 1;
        }
        doc.insert_str(at, &insert);
        let _ = Policy::parse(&doc, &ParseOptions::new(PolicyKind::Trust));
        doc.truncate(at);
        let _ = Policy::parse(&doc, &ParseOptions::new(PolicyKind::Trust));
    }
}

fn leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        prop::sample::select(vec![
            "*",
            "Allow",
            "Deny",
            "deny",
            "2012-10-17",
            "2008-10-17",
            "sts:AssumeRoleWithWebIdentity",
            "s3:*",
            "arn:aws:s3:::b/*",
            "arn:aws:s3::b",
            "${aws:username}",
            "${k:a, 'd'}",
            "${",
            "10.0.0.0/8",
            "::1/129",
            "2020-01-01T00:00:00Z",
            "2020-02-31",
            "true",
            "1.5",
            "-0",
            "arn:aws:iam::1:root",
            "111122223333",
            "arn:aws:iam::1:role/a/b",
            "é",
            "",
        ])
        .prop_map(|s| serde_json::Value::String(s.to_string())),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
    ]
}

fn policy_json() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop::sample::select(vec![
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Federated",
        "Service",
        "CanonicalUser",
        "StringEquals",
        "StringLike",
        "ForAnyValue:StringNotLikeIfExists",
        "NumericLessThan",
        "DateEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "ArnLike",
        "Null",
        "NullIfExists",
        "k:a",
        "K:A",
        "gitlab.com:sub",
        "x",
    ]);
    leaf().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|members| {
                serde_json::Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}
