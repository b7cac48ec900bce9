//! Explain traces, text rendering and `simulate_json`.

use keyless_policy::{
    Context, ContextValue, Decision, ParseOptions, Policy, PolicyKind, Principal, Request,
    evaluate_session_traced, render_session_trace_text, render_trace_text, simulate_json,
};

const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/gitlab.com";

fn gitlab_policy() -> Policy {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"GitLab","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{{"StringEquals":{{"gitlab.com:aud":"https://gitlab.com"}},
                       "StringLike":{{"gitlab.com:sub":["project_path:example/project:*","project_path:example/tools:*"]}},
                       "StringNotLikeIfExists":{{"gitlab.com:environment":"sandbox*"}}}}}},
        {{"Sid":"NoTags","Effect":"Deny","Principal":"*","Action":"sts:TagSession"}}]}}"#
    );
    Policy::parse(&doc, &ParseOptions::new(PolicyKind::Trust)).expect("valid policy")
}

fn gitlab_context(sub: &str) -> Context {
    let mut ctx = Context::new();
    ctx.insert(
        "gitlab.com:aud",
        ContextValue::Single("https://gitlab.com".into()),
    );
    ctx.insert("gitlab.com:sub", ContextValue::Single(sub.into()));
    ctx
}

fn request(ctx: &Context) -> Request<'_> {
    Request {
        principal: Some(Principal::Federated(PROVIDER)),
        action: "sts:AssumeRoleWithWebIdentity",
        resource: None,
        context: ctx,
    }
}

#[test]
fn failed_condition_reports_closest_value() {
    let policy = gitlab_policy();
    let ctx = gitlab_context("project_path:example/other:ref_type:branch:ref:main");
    let (decision, trace) = policy.evaluate_traced(&request(&ctx));
    assert_eq!(decision, Decision::ImplicitDeny);
    assert_eq!(trace.decision, Decision::ImplicitDeny);
    let statement = &trace.statements[0];
    assert!(!statement.applied);
    assert_eq!(statement.sid.as_deref(), Some("GitLab"));
    assert!(statement.principal.as_ref().is_some_and(|p| p.matched));
    assert_eq!(
        statement
            .principal
            .as_ref()
            .and_then(|p| p.matching_value.as_deref()),
        Some(format!("Federated:{PROVIDER}").as_str())
    );
    assert!(statement.action.matched);
    let [aud, sub, env] = statement.conditions.as_slice() else {
        panic!("three conditions expected")
    };
    assert!(aud.result && !aud.key_missing);
    assert_eq!(aud.matched_value.as_deref(), Some("https://gitlab.com"));
    assert!(!sub.result && !sub.key_missing);
    assert_eq!(
        sub.pointer,
        "/Statement/0/Condition/StringLike/gitlab.com:sub"
    );
    let closest = sub.closest.as_ref().expect("closest value");
    assert_eq!(closest.policy_value, "project_path:example/project:*");
    assert_eq!(closest.common_prefix, "project_path:example/");
    assert!(
        env.result && env.key_missing,
        "IfExists on a missing key passes"
    );
    assert_eq!(env.context_values, None);
    // The Deny statement does not apply to this action.
    assert!(!trace.statements[1].applied);
    assert!(!trace.statements[1].action.matched);

    let text = render_trace_text(decision, &trace);
    assert!(text.starts_with("Decision: ImplicitDeny\n"), "{text}");
    assert!(text.contains("[FAIL] StringLike gitlab.com:sub"), "{text}");
    assert!(text.contains("closest: the policy wants \"project_path:example/project:*\" and the request says \"project_path:example/other:ref_type:branch:ref:main\""), "{text}");
    assert!(
        text.contains("[pass (KEY MISSING)] StringNotLikeIfExists gitlab.com:environment"),
        "{text}"
    );
    assert!(
        text.contains("IfExists makes the condition true when the key is missing"),
        "{text}"
    );
}

#[test]
fn allowed_request_and_explicit_deny_are_traced() {
    let policy = gitlab_policy();
    let ctx = gitlab_context("project_path:example/tools:ref_type:branch:ref:main");
    let (decision, trace) = policy.evaluate_traced(&request(&ctx));
    assert_eq!(decision, Decision::Allow);
    assert!(trace.statements[0].applied);
    assert_eq!(
        trace.statements[0].conditions[1].matched_value.as_deref(),
        Some("project_path:example/tools:*")
    );
    let tag = Request {
        action: "sts:TagSession",
        ..request(&ctx)
    };
    let (decision, trace) = policy.evaluate_traced(&tag);
    assert_eq!(decision, Decision::ExplicitDeny);
    assert!(trace.statements[1].applied);
    assert_eq!(
        trace.statements[1]
            .principal
            .as_ref()
            .and_then(|p| p.matching_value.as_deref()),
        Some("*")
    );
    assert_eq!(policy.evaluate(&tag), Decision::ExplicitDeny);
}

#[test]
fn simulate_json_shape() {
    let policy = gitlab_policy();
    let ctx = Context::new();
    let value = simulate_json(&policy, &request(&ctx));
    assert_eq!(value["decision"], "ImplicitDeny");
    let conditions = &value["trace"]["statements"][0]["conditions"];
    assert_eq!(conditions[0]["key_missing"], true);
    assert_eq!(conditions[0]["result"], false);
    assert_eq!(conditions[0]["context_values"], serde_json::Value::Null);
    assert_eq!(conditions[0]["operator"], "StringEquals");
    let text = keyless_policy::render_trace_text(
        Decision::ImplicitDeny,
        &policy.evaluate_traced(&request(&ctx)).1,
    );
    assert!(
        text.contains("key \"gitlab.com:aud\" is not in the request: the condition is false when the key is missing"),
        "{text}"
    );
    assert_eq!(value["trace"]["statements"][0]["effect"], "Allow");
    assert_eq!(value["trace"]["statements"][0]["pointer"], "/Statement/0");
}

#[test]
fn variables_are_shown_resolved() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"k:owner":["${aws:username}","${k:missing}"]}}}]}"#;
    let policy = Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).expect("valid");
    let mut ctx = Context::new();
    ctx.insert("aws:username", ContextValue::Single("alice".into()));
    ctx.insert("k:owner", ContextValue::Single("bob".into()));
    let req = Request {
        principal: None,
        action: "s3:GetObject",
        resource: Some("arn:aws:s3:::b/k"),
        context: &ctx,
    };
    let (decision, trace) = policy.evaluate_traced(&req);
    assert_eq!(decision, Decision::ImplicitDeny);
    let condition = &trace.statements[0].conditions[0];
    assert_eq!(
        condition.resolved_policy_values,
        Some(vec![Some("alice".to_string()), None])
    );
    let text = render_trace_text(decision, &trace);
    assert!(
        text.contains("after variable substitution: [\"alice\", <unresolved>]"),
        "{text}"
    );
}

#[test]
fn multi_valued_key_without_qualifier_is_explained() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:TagKeys":["a","b"]}}}]}"#;
    let policy = Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).expect("valid");
    let mut ctx = Context::new();
    ctx.insert(
        "aws:TagKeys",
        ContextValue::Multi(vec!["a".into(), "b".into()]),
    );
    let req = Request {
        principal: None,
        action: "s3:PutObject",
        resource: Some("arn:aws:s3:::b/k"),
        context: &ctx,
    };
    let (_, trace) = policy.evaluate_traced(&req);
    let note = trace.statements[0].conditions[0]
        .note
        .as_deref()
        .unwrap_or_default();
    assert!(note.contains("multi-valued"), "{note}");
}

#[test]
fn session_trace_lists_layers() {
    let identity = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        &ParseOptions::new(PolicyKind::Identity),
    )
    .expect("identity");
    let session = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        &ParseOptions::new(PolicyKind::Session),
    )
    .expect("session");
    let ctx = Context::new();
    let req = Request {
        principal: None,
        action: "s3:PutObject",
        resource: Some("arn:aws:s3:::b/k"),
        context: &ctx,
    };
    let (decision, trace) = evaluate_session_traced(&[&identity], &[&session], &req);
    assert_eq!(decision, Decision::ImplicitDeny);
    assert_eq!(trace.layers.len(), 2);
    assert_eq!(trace.layers[0].decision, Decision::Allow);
    assert_eq!(trace.layers[1].decision, Decision::ImplicitDeny);
    let text = render_session_trace_text(&trace);
    assert!(text.contains("Layer Session: ImplicitDeny"), "{text}");
    let (_, no_session) = evaluate_session_traced(&[&identity], &[], &req);
    assert_eq!(no_session.layers.len(), 1);
    assert_eq!(no_session.decision, Decision::Allow);
}

#[test]
fn for_any_value_if_exists_on_a_missing_key_is_explained() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":["team"]}}}]}"#;
    let policy = Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).expect("valid");
    let ctx = Context::new();
    let req = Request {
        principal: None,
        action: "sqs:ListQueues",
        resource: Some("*"),
        context: &ctx,
    };
    let (decision, trace) = policy.evaluate_traced(&req);
    assert_eq!(decision, Decision::ImplicitDeny);
    let condition = &trace.statements[0].conditions[0];
    assert!(!condition.result && condition.key_missing);
    let text = render_trace_text(decision, &trace);
    assert!(
        text.contains("[FAIL (KEY MISSING)] ForAnyValue:StringEqualsIfExists aws:TagKeys"),
        "{text}"
    );
    assert!(
        text.contains("ForAnyValue: is false when the key is missing, IfExists notwithstanding"),
        "{text}"
    );
}

#[test]
fn wrong_typed_request_value_is_explained() {
    for (operator, value, type_name) in [
        ("NotIpAddress", "not-an-ip", "an IP address"),
        ("NumericNotEquals", "ten", "a number"),
        ("DateNotEquals", "yesterday", "a date"),
        ("ArnNotLike", "not-an-arn", "an ARN"),
    ] {
        let policy_value = match operator {
            "NotIpAddress" => "10.0.0.0/8",
            "NumericNotEquals" => "10",
            "DateNotEquals" => "2020-01-01T00:00:00Z",
            _ => "arn:aws:iam::*:role/*",
        };
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"{operator}":{{"k:v":"{policy_value}"}}}}}}]}}"#
        );
        let policy = Policy::parse(&doc, &ParseOptions::new(PolicyKind::Identity)).expect("valid");
        let mut ctx = Context::new();
        ctx.insert("k:v", ContextValue::Single(value.into()));
        let req = Request {
            principal: None,
            action: "s3:GetObject",
            resource: Some("arn:aws:s3:::b/k"),
            context: &ctx,
        };
        let (decision, trace) = policy.evaluate_traced(&req);
        assert_eq!(decision, Decision::ImplicitDeny, "{operator} on {value:?}");
        let condition = &trace.statements[0].conditions[0];
        assert!(!condition.result && !condition.key_missing);
        let note = condition.note.as_deref().unwrap_or_default();
        assert!(
            note.contains(&format!("a request value is not {type_name}")),
            "{operator}: {note}"
        );
        assert!(render_trace_text(decision, &trace).contains(note));
    }
}
