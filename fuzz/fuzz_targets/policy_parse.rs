//! `keyless_policy::Policy::parse` for every policy kind, and, for documents that parse, the
//! evaluator (plain, deciding and traced, alone and layered as a role session) on a request read
//! from the same input.
//!
//! Input: a policy document, optionally followed by a line `---` and a request, one item a line:
//! the action, the resource (`-` for none), the principal as `Type:value` (`-` for none), then
//! condition keys as `key=value`, with `|` between the values of a multi-valued key.

#![no_main]

use keyless_policy::{
    Context, ContextValue, Decision, ParseOptions, Policy, PolicyKind, Principal, Request,
    evaluate_session, evaluate_session_traced, policy_size, render_session_trace_text,
    render_trace_text, simulate_json,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 4] = [
    PolicyKind::Identity,
    PolicyKind::Trust,
    PolicyKind::Session,
    PolicyKind::Resource,
];

struct RequestSpec<'a> {
    action: &'a str,
    resource: Option<&'a str>,
    principal: Option<Principal<'a>>,
    context: Context,
}

fn default_request() -> RequestSpec<'static> {
    let mut context = Context::new();
    for (key, value) in [
        (
            "gitlab.example.com:sub",
            "project_path:group/project:ref_type:branch:ref:main",
        ),
        ("gitlab.example.com:aud", "sts.amazonaws.com"),
        ("gitlab.example.com:ref_protected", "true"),
        ("aws:CurrentTime", "2027-01-15T08:00:00Z"),
        ("aws:EpochTime", "1800000000"),
        ("aws:SourceIp", "192.0.2.10"),
        ("aws:SecureTransport", "true"),
        ("aws:PrincipalAccount", "111122223333"),
    ] {
        context.insert(key, ContextValue::Single(value.to_owned()));
    }
    context.insert(
        "aws:TagKeys",
        ContextValue::Multi(vec!["team".to_owned(), "env".to_owned()]),
    );
    RequestSpec {
        action: "sts:AssumeRoleWithWebIdentity",
        resource: Some("arn:aws:iam::111122223333:role/deploy"),
        principal: Some(Principal::Federated(
            "arn:aws:iam::111122223333:oidc-provider/gitlab.example.com",
        )),
        context,
    }
}

fn parse_request(text: &str) -> RequestSpec<'_> {
    let mut lines = text.lines();
    let action = lines.next().unwrap_or("");
    let resource = lines.next().filter(|r| *r != "-");
    let principal = lines
        .next()
        .filter(|p| *p != "-")
        .and_then(|p| Principal::parse_cli(p).ok());
    let mut context = Context::new();
    for line in lines {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let value = if value.contains('|') {
            ContextValue::Multi(value.split('|').map(str::to_owned).collect())
        } else {
            ContextValue::Single(value.to_owned())
        };
        context.insert(key, value);
    }
    RequestSpec {
        action,
        resource,
        principal,
        context,
    }
}

fn inspect(policy: &Policy) {
    let _ = (policy.version(), policy.id(), policy.kind());
    let _ = policy.context_keys();
    let mut previous_end = (1, 1);
    for statement in policy.statements() {
        let _ = (statement.index(), statement.sid(), statement.effect());
        // Positions are 1-based and move forward through the document.
        let (start, end) = (statement.start(), statement.end());
        assert!(start.line >= 1 && start.column >= 1);
        assert!(previous_end <= (start.line, start.column));
        assert!((start.line, start.column) < (end.line, end.column));
        previous_end = (end.line, end.column);
        let _ = statement.pointer();
        if let Some(principal) = statement.principal() {
            let _ = (principal.is_wildcard(), principal.values().len());
        }
        let _ = statement.action().values().len();
        if let Some(resource) = statement.resource() {
            let _ = resource.values().len();
        }
        for condition in statement.conditions() {
            let _ = (
                condition.operator(),
                condition.operator_text(),
                condition.key(),
            );
            for value in condition.values() {
                let _ = (value.text(), value.pointer());
            }
        }
    }
}

fn check(policy: &Policy, req: &Request<'_>) {
    let decision = policy.evaluate(req);
    let verdict = policy.decide(req);
    assert_eq!(decision, verdict.decision);
    assert_eq!(
        verdict.statement.is_some(),
        decision != Decision::ImplicitDeny
    );
    assert_eq!(
        verdict.shortfall.is_some(),
        decision == Decision::ImplicitDeny
    );
    let (traced, trace) = policy.evaluate_traced(req);
    assert_eq!(decision, traced);
    assert_eq!(verdict, policy.verdict_of(&trace));
    let _ = render_trace_text(traced, &trace);
    let _ = simulate_json(policy, req).to_string();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (doc, spec) = match text.split_once("\n---\n") {
        Some((doc, request)) => (doc, parse_request(request)),
        None => (text, default_request()),
    };
    let _ = policy_size(doc);
    let _ = policy_size(text);

    let mut parsed = Vec::new();
    for kind in KINDS {
        match Policy::parse(doc, &ParseOptions::new(kind)) {
            Ok(policy) => {
                assert_eq!(policy.kind(), kind);
                inspect(&policy);
                parsed.push(policy);
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
    if parsed.is_empty() {
        return;
    }

    let resources = [spec.resource, None];
    for resource in resources {
        let req = Request {
            principal: spec.principal,
            action: spec.action,
            resource,
            context: &spec.context,
        };
        for policy in &parsed {
            check(policy, &req);
        }
        let all: Vec<&Policy> = parsed.iter().collect();
        let (identity, session) = all.split_at(1);
        let decision = evaluate_session(identity, session, &req);
        let (traced, trace) = evaluate_session_traced(identity, session, &req);
        assert_eq!(decision, traced);
        let _ = render_session_trace_text(&trace);
    }
});
