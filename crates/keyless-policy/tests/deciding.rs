//! `Policy::decide` names the statement that decided, without a trace.

use keyless_policy::{
    Context, ContextValue, Decision, ParseOptions, Policy, PolicyKind, Principal, Request,
};

const TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Main", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/gitlab.com"},
     "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"StringLike": {"gitlab.com:sub": "project_path:g/p:*"}}},
    {"Sid": "Tags", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/gitlab.com"},
     "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"StringEquals": {"gitlab.com:ref_type": "tag"}}},
    {"Sid": "NoForks", "Effect": "Deny", "Principal": "*", "Action": "*",
     "Condition": {"StringEquals": {"gitlab.com:ref": "evil"}}}
  ]
}"#;

fn decide(sub: &str, ref_type: &str, git_ref: &str) -> (Decision, Option<String>) {
    let policy = Policy::parse(TRUST, &ParseOptions::new(PolicyKind::Trust)).unwrap();
    let mut ctx = Context::new();
    ctx.insert("gitlab.com:sub", ContextValue::Single(sub.into()));
    ctx.insert("gitlab.com:ref_type", ContextValue::Single(ref_type.into()));
    ctx.insert("gitlab.com:ref", ContextValue::Single(git_ref.into()));
    let req = Request {
        principal: Some(Principal::Federated(
            "arn:aws:iam::1:oidc-provider/gitlab.com",
        )),
        action: "sts:AssumeRoleWithWebIdentity",
        resource: None,
        context: &ctx,
    };
    let verdict = policy.decide(&req);
    let (decision, statement) = (verdict.decision, verdict.statement);
    assert_eq!(verdict, policy.verdict_of(&policy.evaluate_traced(&req).1));
    assert_eq!(decision, policy.evaluate(&req));
    assert_eq!(decision, policy.evaluate_traced(&req).0);
    (decision, statement.and_then(|s| s.sid().map(str::to_owned)))
}

#[test]
fn names_the_first_applicable_allow() {
    assert_eq!(
        decide("project_path:g/p:ref_type:tag:ref:v1", "tag", "v1"),
        (Decision::Allow, Some("Main".into()))
    );
    assert_eq!(
        decide("project_path:x/y:ref_type:tag:ref:v1", "tag", "v1"),
        (Decision::Allow, Some("Tags".into()))
    );
}

#[test]
fn names_the_deny_and_nothing_for_an_implicit_deny() {
    assert_eq!(
        decide(
            "project_path:g/p:ref_type:branch:ref:evil",
            "branch",
            "evil"
        ),
        (Decision::ExplicitDeny, Some("NoForks".into()))
    );
    assert_eq!(
        decide(
            "project_path:x/y:ref_type:branch:ref:main",
            "branch",
            "main"
        ),
        (Decision::ImplicitDeny, None)
    );
}
