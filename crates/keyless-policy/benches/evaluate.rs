//! Evaluation throughput of a typical GitLab trust policy.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keyless_policy::{
    Context, ContextValue, Decision, ParseOptions, Policy, PolicyKind, Principal, Request,
};

const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/gitlab.com";

fn gitlab_trust_policy() -> Policy {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"GitLabDeploy","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},
          "Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{{"StringEquals":{{"gitlab.com:aud":"https://gitlab.com"}},
                       "StringLike":{{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:*"}}}}}},
        {{"Sid":"GitLabTags","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},
          "Action":"sts:TagSession",
          "Condition":{{"StringEquals":{{"gitlab.com:aud":"https://gitlab.com"}}}}}}]}}"#
    );
    Policy::parse(&doc, &ParseOptions::new(PolicyKind::Trust)).expect("valid policy")
}

fn gitlab_context() -> Context {
    let mut ctx = Context::new();
    for (key, value) in [
        ("gitlab.com:aud", "https://gitlab.com"),
        (
            "gitlab.com:sub",
            "project_path:mygroup/myproject:ref_type:branch:ref:main",
        ),
        ("gitlab.com:amr", "none"),
        ("sts:RoleSessionName", "gitlab-job-1234"),
        ("aws:CurrentTime", "2026-11-25T12:00:00Z"),
        ("aws:EpochTime", "1795608000"),
        ("aws:SecureTransport", "true"),
        ("aws:SourceIp", "203.0.113.7"),
    ] {
        ctx.insert(key, ContextValue::Single(value.to_string()));
    }
    ctx
}

fn bench_evaluate(c: &mut Criterion) {
    let policy = gitlab_trust_policy();
    let ctx = gitlab_context();
    let req = Request {
        principal: Some(Principal::Federated(PROVIDER)),
        action: "sts:AssumeRoleWithWebIdentity",
        resource: None,
        context: &ctx,
    };
    assert_eq!(policy.evaluate(&req), Decision::Allow);
    c.bench_function("gitlab_trust_evaluate", |b| {
        b.iter(|| black_box(&policy).evaluate(black_box(&req)))
    });
    c.bench_function("gitlab_trust_evaluate_traced", |b| {
        b.iter(|| black_box(&policy).evaluate_traced(black_box(&req)))
    });
}

criterion_group!(benches, bench_evaluate);
criterion_main!(benches);
