//! Resource-based policies: their grammar, and the layer that stands in for the identity
//! policies in a layered evaluation.

use keyless_policy::{
    Context, Decision, Layer, ParseOptions, Policy, PolicyKind, PolicyLayer, Principal, Request,
    evaluate_layers, evaluate_layers_traced,
};

fn parse(doc: &str, kind: PolicyKind) -> Result<Policy, String> {
    Policy::parse(doc, &ParseOptions::new(kind)).map_err(|e| e.message)
}

#[test]
fn resource_policies_need_a_principal_and_a_resource() {
    let ok = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#;
    assert!(parse(ok, PolicyKind::Resource).is_ok());
    let no_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    assert_eq!(
        parse(no_principal, PolicyKind::Resource).unwrap_err(),
        "Missing required field Principal"
    );
    let no_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}"#;
    assert_eq!(
        parse(no_resource, PolicyKind::Resource).unwrap_err(),
        "Policy statement must contain resources."
    );
    assert_eq!(
        parse("nope", PolicyKind::Resource).unwrap_err(),
        "Syntax errors in policy."
    );
}

#[test]
fn a_resource_allow_stands_in_for_the_identity_layer_only() {
    let identity = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let boundary = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let bucket = parse(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/r"},"Action":["s3:GetObject","s3:PutObject"],"Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"sqs:DeleteQueue","Resource":"*"}]}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    let ctx = Context::new();
    let request = |action| Request {
        principal: Some(Principal::Aws("arn:aws:iam::000000000000:role/r")),
        action,
        resource: Some("arn:aws:s3:::b/k"),
        context: &ctx,
    };
    let (identity, boundary, bucket) = ([&identity], [&boundary], [&bucket]);
    let layers = |with_boundary: bool| {
        vec![
            Layer {
                kind: PolicyLayer::Identity,
                policies: &identity,
            },
            Layer {
                kind: PolicyLayer::PermissionsBoundary,
                policies: if with_boundary { &boundary } else { &[] },
            },
            Layer {
                kind: PolicyLayer::Resource,
                policies: &bucket,
            },
        ]
    };
    for with_boundary in [false, true] {
        let layers = layers(with_boundary);
        for (action, expected) in [
            ("s3:GetObject", Decision::Allow),
            (
                "s3:PutObject",
                if with_boundary {
                    Decision::ImplicitDeny
                } else {
                    Decision::Allow
                },
            ),
            (
                "sqs:SendMessage",
                if with_boundary {
                    Decision::ImplicitDeny
                } else {
                    Decision::Allow
                },
            ),
            ("sqs:DeleteQueue", Decision::ExplicitDeny),
            ("ec2:RunInstances", Decision::ImplicitDeny),
        ] {
            assert_eq!(
                evaluate_layers(&layers, &request(action)),
                expected,
                "{action}"
            );
            assert_eq!(
                evaluate_layers_traced(&layers, &request(action)).0,
                expected,
                "{action} traced"
            );
        }
    }
}
