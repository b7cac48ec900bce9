//! Parser and validator: every `MalformedPolicyDocument` message with its JSON pointer.

use keyless_policy::{
    Effect, OperatorFamily, OperatorKind, ParseOptions, Policy, PolicyErrorKind, PolicyKind,
    PrincipalType, SetQualifier,
};

const GL: &str = r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/gitlab.com"}"#;

fn trust_statement(body: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{GL},"Action":"sts:AssumeRoleWithWebIdentity"{body}}}]}}"#
    )
}

fn identity_statement(body: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"{body}}}]}}"#
    )
}

fn err(doc: &str, kind: PolicyKind) -> (String, String) {
    let e = Policy::parse(doc, &ParseOptions::new(kind)).expect_err(doc);
    (e.message, e.pointer)
}

fn check(kind: PolicyKind, doc: &str, message: &str, pointer: &str) {
    assert_eq!(
        err(doc, kind),
        (message.to_string(), pointer.to_string()),
        "document: {doc}"
    );
}

const SYNTAX: &str = "Syntax errors in policy.";
const LEGACY: &str = "The policy failed legacy parsing";

#[rustfmt::skip]
#[test]
fn json_errors() {
    check(PolicyKind::Trust, "{", "This policy contains invalid Json", "");
    check(PolicyKind::Trust, "not json", "This policy contains invalid Json", "");
    check(PolicyKind::Identity, "{\"Version\":", SYNTAX, "");
    check(PolicyKind::Session, "", SYNTAX, "");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Allow"}]}"#, SYNTAX, "/Statement/0/Effect");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Version":"2012-10-17"}"#, SYNTAX, "/Version");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":{"gitlab.com:sub":"a","gitlab.com:sub":"b"}}"#), SYNTAX, "/Statement/0/Condition/StringEquals/gitlab.com:sub");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"a","Federated":"b"},"Action":"sts:AssumeRole"}]}"#, SYNTAX, "/Statement/0/Principal/Federated");
    check(PolicyKind::Trust, "[]", SYNTAX, "");
    check(PolicyKind::Trust, "\"policy\"", SYNTAX, "");
}

#[rustfmt::skip]
#[test]
fn grammar_errors() {
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Foo":1,"Statement":[]}"#, SYNTAX, "/Foo");
    check(PolicyKind::Trust, r#"{"Version":"2013-10-17","Statement":[]}"#, SYNTAX, "/Version");
    check(PolicyKind::Trust, r#"{"Version":20121017,"Statement":[]}"#, SYNTAX, "/Version");
    check(PolicyKind::Trust, r#"{"Id":5,"Statement":[]}"#, SYNTAX, "/Id");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17"}"#, SYNTAX, "");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":[]}"#, SYNTAX, "/Statement");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":"x"}"#, SYNTAX, "/Statement");
    check(PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":["x"]}"#, SYNTAX, "/Statement/0");
    check(PolicyKind::Trust, &trust_statement(r#","Foo":"x""#), SYNTAX, "/Statement/0/Foo");
    check(PolicyKind::Trust, &trust_statement(r#","effect":"Allow""#), SYNTAX, "/Statement/0/effect");
    check(PolicyKind::Trust, &trust_statement(r#","NotAction":"sts:TagSession""#), SYNTAX, "/Statement/0/NotAction");
    check(PolicyKind::Identity, &identity_statement(r#","NotResource":"*""#), SYNTAX, "/Statement/0/NotResource");
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Effect":"invalid","Principal":{GL},"Action":"sts:AssumeRole"}}]}}"#), SYNTAX, "/Statement/0/Effect");
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Effect":true,"Principal":{GL},"Action":"sts:AssumeRole"}}]}}"#), SYNTAX, "/Statement/0/Effect");
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Principal":{GL},"Action":"sts:AssumeRole"}}]}}"#), SYNTAX, "/Statement/0");
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{GL},"Action":5}}]}}"#), SYNTAX, "/Statement/0/Action");
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{GL},"Action":["sts:AssumeRole",5]}}]}}"#), SYNTAX, "/Statement/0/Action/1");
    check(PolicyKind::Identity, &identity_statement(r#","Sid":1"#), SYNTAX, "/Statement/0/Sid");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":"x""#), SYNTAX, "/Statement/0/Condition");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":"x"}"#), SYNTAX, "/Statement/0/Condition/StringEquals");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEqualz":{"a:b":"c"}}"#), SYNTAX, "/Statement/0/Condition/StringEqualz");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringLikeIgnoreCase":{"a:b":"c"}}"#), SYNTAX, "/Statement/0/Condition/StringLikeIgnoreCase");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":{"a:b":null}}"#), SYNTAX, "/Statement/0/Condition/StringEquals/a:b");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":{"a:b":["x",["y"]]}}"#), SYNTAX, "/Statement/0/Condition/StringEquals/a:b/1");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":{"a:b":{"x":"y"}}}"#), SYNTAX, "/Statement/0/Condition/StringEquals/a:b");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":{"gitlab.com:sub":"a","GitLab.com:Sub":"b"}}"#), SYNTAX, "/Statement/0/Condition/StringEquals/GitLab.com:Sub");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"NullIfExists":{"a:b":"true"}}"#), SYNTAX, "/Statement/0/Condition/NullIfExists");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"StringEquals":{"a/b~c":1}},"Foo":1"#), SYNTAX, "/Statement/0/Foo");
}

#[rustfmt::skip]
#[test]
fn principal_errors() {
    check(PolicyKind::Identity, &identity_statement(&format!(r#","Principal":{GL}"#)), "Has prohibited field Principal", "/Statement/0/Principal");
    check(PolicyKind::Session, &identity_statement(&format!(r#","NotPrincipal":{GL}"#)), "Has prohibited field NotPrincipal", "/Statement/0/NotPrincipal");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}]}"#, SYNTAX, "/Statement/0/Principal");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":"me","Action":"sts:AssumeRole"}]}"#, SYNTAX, "/Statement/0/Principal");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"User":"x"},"Action":"sts:AssumeRole"}]}"#, SYNTAX, "/Statement/0/Principal/User");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":[]},"Action":"sts:AssumeRole"}]}"#, SYNTAX, "/Statement/0/Principal/AWS");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"sts:AssumeRole"}]}"#, "Invalid principal in policy", "/Statement/0/Principal/AWS");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::*:root"]},"Action":"sts:AssumeRole"}]}"#, "Invalid principal in policy", "/Statement/0/Principal/AWS/1");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"Federated":"*"},"Action":"sts:AssumeRole"}]}"#, "Invalid principal in policy", "/Statement/0/Principal/Federated");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"}]}"#, "Invalid principal in policy", "/Statement/0/Principal/AWS");
    check(PolicyKind::Trust, r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":""},"Action":"sts:AssumeRole"}]}"#, "Invalid principal in policy", "/Statement/0/Principal/Service");
}

#[rustfmt::skip]
#[test]
fn legacy_parsing_errors() {
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Effect":"denY","Principal":{GL},"Action":"sts:AssumeRole"}}]}}"#), LEGACY, "/Statement/0/Effect");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-13-01T00:00:00Z"}}"#), LEGACY, "/Statement/0/Condition/DateGreaterThan/aws:CurrentTime");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"DateLessThan":{"aws:CurrentTime":["2020-01-01","tomorrow"]}}"#), LEGACY, "/Statement/0/Condition/DateLessThan/aws:CurrentTime/1");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"NumericEquals":{"k:n":"ten"}}"#), LEGACY, "/Statement/0/Condition/NumericEquals/k:n");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#), LEGACY, "/Statement/0/Condition/IpAddress/aws:SourceIp");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"Bool":{"aws:SecureTransport":"yes"}}"#), LEGACY, "/Statement/0/Condition/Bool/aws:SecureTransport");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"BinaryEquals":{"k:b":"***"}}"#), LEGACY, "/Statement/0/Condition/BinaryEquals/k:b");
    check(PolicyKind::Trust, &trust_statement(r#","Condition":{"Null":{"k:b":"maybe"}}"#), LEGACY, "/Statement/0/Condition/Null/k:b");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3::bucket"}]}"#, LEGACY, "/Statement/0/Resource");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["*","arn:aws:s3::bucket"]}]}"#, LEGACY, "/Statement/0/Resource/1");
}

#[rustfmt::skip]
#[test]
fn statement_level_errors() {
    check(PolicyKind::Identity, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#, "Statement IDs (SID) in a single policy must be unique.", "/Statement/1/Sid");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#, "Policy statement must contain actions.", "/Statement/0");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#, "Policy statement must contain actions.", "/Statement/0/Action");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","NotAction":[],"Resource":"*"}]}"#, "Policy statement must contain actions.", "/Statement/0/NotAction");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#, "Policy statement must contain resources.", "/Statement/0");
    check(PolicyKind::Session, r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":[]}]}"#, "Policy statement must contain resources.", "/Statement/0/Resource");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}"#, "Resource bucket must be in ARN format or \"*\".", "/Statement/0/Resource");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3GetObject","Resource":"*"}]}"#, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", "/Statement/0/Action");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":["s3:Get","s3:Get:Object"],"Resource":"*"}]}"#, "Actions/Condition can contain only one colon.", "/Statement/0/Action/1");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s 3:Get","Resource":"*"}]}"#, "Vendor s 3 is not valid", "/Statement/0/Action");
    check(PolicyKind::Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s?s:Get","Resource":"*"}]}"#, "Vendor s?s is not valid", "/Statement/0/Action");
    check(PolicyKind::Identity, r#"{"Statement":[{"Sid":"my-sid","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#, "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*", "/Statement/0/Sid");
}

#[rustfmt::skip]
#[test]
fn check_order_follows_iam() {
    // Grammar errors win over everything else.
    check(PolicyKind::Identity, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*","Foo":1}]}"#, SYNTAX, "/Statement/1/Foo");
    // Legacy parsing before Sid uniqueness.
    check(PolicyKind::Identity, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"allow","Action":"s3:*","Resource":"*"}]}"#, LEGACY, "/Statement/1/Effect");
    // Sid uniqueness before missing actions.
    check(PolicyKind::Identity, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#, "Statement IDs (SID) in a single policy must be unique.", "/Statement/1/Sid");
    // Prohibited fields before legacy parsing.
    check(PolicyKind::Trust, &format!(r#"{{"Statement":[{{"Effect":"allow","Principal":{GL},"Action":"sts:AssumeRole","Resource":"*"}}]}}"#), "Has prohibited field Resource", "/Statement/0/Resource");
}

#[test]
fn size_limits() {
    let padding = "a".repeat(2100);
    let doc = trust_statement(&format!(r#","Sid":"{padding}""#));
    let e = Policy::parse(&doc, &ParseOptions::new(PolicyKind::Trust)).expect_err("too big");
    assert_eq!(e.kind, PolicyErrorKind::LimitExceeded);
    assert_eq!(e.message, "Cannot exceed quota for ACLSizePerRole: 2048");
    let unlimited = ParseOptions {
        kind: PolicyKind::Trust,
        max_chars: None,
    };
    assert!(Policy::parse(&doc, &unlimited).is_ok());
    assert!(Policy::parse(&doc, &ParseOptions::new(PolicyKind::Identity)).is_err());
    let small = trust_statement("");
    let spaced = small.replace(',', " ,\n\t ");
    let exact = ParseOptions {
        kind: PolicyKind::Trust,
        max_chars: Some(small.chars().count()),
    };
    assert!(
        Policy::parse(&spaced, &exact).is_ok(),
        "whitespace outside strings is free"
    );
    let tight = ParseOptions {
        kind: PolicyKind::Trust,
        max_chars: Some(small.chars().count() - 1),
    };
    let e = Policy::parse(&small, &tight).expect_err("one over");
    assert_eq!(e.kind, PolicyErrorKind::LimitExceeded);
    assert_eq!(
        ParseOptions::new(PolicyKind::Identity).max_chars,
        Some(10240)
    );
    assert_eq!(ParseOptions::new(PolicyKind::Session).max_chars, Some(2048));
}

#[test]
fn display_and_error_trait() {
    let e = Policy::parse("{", &ParseOptions::new(PolicyKind::Trust)).expect_err("invalid");
    assert_eq!(e.to_string(), "This policy contains invalid Json");
    assert!(e.detail.is_some());
    let e = Policy::parse(
        &identity_statement(r#","Sid":"a-b""#),
        &ParseOptions::new(PolicyKind::Identity),
    )
    .expect_err("bad sid");
    assert!(e.to_string().ends_with(" at /Statement/0/Sid"));
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(!boxed.to_string().is_empty());
}

#[rustfmt::skip]
#[test]
fn accepted_documents() {
    let opts = ParseOptions::new(PolicyKind::Trust);
    for doc in [
        trust_statement(""),
        format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{GL},"Action":"sts:AssumeRole"}}}}"#),
        format!(r#"{{"Version":"2008-10-17","Id":"x","Statement":[{{"Effect":"Allow","Principal":{GL},"Action":"sts:AssumeRole"}}]}}"#),
        trust_statement(r#","Condition":{"NumericLessThan":{"k:n":[1, 2.5, -3]},"Bool":{"aws:SecureTransport":true}}"#),
        trust_statement(r#","Condition":{"UnknownOperator":{}}"#),
        trust_statement(r#","Sid":"""#),
        format!(r#"{{"Statement":[{{"Sid":"","Effect":"Allow","Principal":{GL},"Action":"sts:AssumeRole"}},{{"Sid":"","Effect":"Allow","Principal":{GL},"Action":"sts:AssumeRole"}}]}}"#),
        trust_statement(r#","Condition":{"StringEquals":{"a:b":"\u00e9\n\"q\""}}"#),
        format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{GL},"Action":"iam: asdf safdsf af "}}]}}"#),
        format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{GL},"Action":"*:Get*"}}]}}"#),
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*","111122223333","arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:role/x"],"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#.to_string(),
    ] {
        assert!(Policy::parse(&doc, &opts).is_ok(), "{doc}: {:?}", Policy::parse(&doc, &opts).err());
    }
}

#[test]
fn ast_exposes_elements_and_pointers() {
    let doc = r#"{"Version":"2012-10-17","Id":"p1","Statement":[{"Sid":"GitLab","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/gitlab.com"},"Action":["sts:AssumeRoleWithWebIdentity"],"Condition":{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"},"ForAnyValue:StringLikeIfExists":{"gitlab.com:sub":["project_path:g/*", 7]}}}]}"#;
    let policy = Policy::parse(doc, &ParseOptions::new(PolicyKind::Trust)).expect("valid");
    assert_eq!(policy.version(), Some("2012-10-17"));
    assert_eq!(policy.id(), Some("p1"));
    assert_eq!(policy.kind(), PolicyKind::Trust);
    let [statement] = policy.statements() else {
        panic!("one statement expected")
    };
    assert_eq!(statement.index(), 0);
    assert_eq!(statement.sid(), Some("GitLab"));
    assert_eq!(statement.effect(), Effect::Allow);
    assert_eq!(statement.pointer(), "/Statement/0");
    assert!(statement.resource().is_none());
    let principal = statement.principal().expect("principal");
    assert!(!principal.is_wildcard());
    assert_eq!(principal.pointer(), "/Statement/0/Principal");
    assert_eq!(
        principal.values()[0].principal_type(),
        PrincipalType::Federated
    );
    assert_eq!(
        principal.values()[0].value().pointer(),
        "/Statement/0/Principal/Federated"
    );
    assert!(!statement.action().is_not_action());
    assert_eq!(
        statement.action().values()[0].pointer(),
        "/Statement/0/Action/0"
    );
    let conditions = statement.conditions();
    assert_eq!(conditions.len(), 2);
    assert_eq!(conditions[0].operator().kind, OperatorKind::StringEquals);
    assert_eq!(conditions[0].key(), "gitlab.com:aud");
    assert_eq!(
        conditions[0].pointer(),
        "/Statement/0/Condition/StringEquals/gitlab.com:aud"
    );
    let op = conditions[1].operator();
    assert_eq!(op.kind, OperatorKind::StringLike);
    assert_eq!(op.family(), OperatorFamily::String);
    assert_eq!(op.set_qualifier, Some(SetQualifier::ForAnyValue));
    assert!(op.if_exists);
    assert!(!op.is_negated());
    assert_eq!(
        conditions[1].operator_text(),
        "ForAnyValue:StringLikeIfExists"
    );
    let values: Vec<&str> = conditions[1].values().iter().map(|v| v.text()).collect();
    assert_eq!(values, ["project_path:g/*", "7"]);
    assert_eq!(
        conditions[1].values()[1].pointer(),
        "/Statement/0/Condition/ForAnyValue:StringLikeIfExists/gitlab.com:sub/1"
    );
}

#[test]
fn pointer_tokens_are_escaped() {
    let doc = trust_statement(r#","Condition":{"NumericEquals":{"a/b~c":"x"}}"#);
    let (message, pointer) = err(&doc, PolicyKind::Trust);
    assert_eq!(message, LEGACY);
    assert_eq!(pointer, "/Statement/0/Condition/NumericEquals/a~1b~0c");
}

#[test]
fn policy_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<Policy>();
    assert_traits::<keyless_policy::Context>();
    assert_traits::<keyless_policy::PolicyTrace>();
}

#[test]
fn resource_arns_are_validated_as_iam_validates_them() {
    let identity = |resource: &str| {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"{resource}"}}]}}"#
        );
        Policy::parse(&doc, &ParseOptions::new(PolicyKind::Identity)).map(|_| ())
    };
    let message = |resource: &str| identity(resource).unwrap_err().message;
    assert_eq!(
        message("arn:aws-x:s3:::bucket"),
        r#"Partition "aws-x" is not valid for resource "arn:aws-x:s3:::bucket"."#
    );
    assert_eq!(
        message("arn:aws:*:::bucket"),
        "Resource vendor must be fully qualified and cannot contain regexes."
    );
    assert_eq!(
        message("arn:aws:iam:us-east-1:123456789012:role/x"),
        "IAM resource arn:aws:iam:us-east-1:123456789012:role/x cannot contain region information."
    );
    assert!(message("arn:aws:iam::123456789012:bucket/x").starts_with(
        r#"IAM resource path must either be "*" or start with user/, federated-user/, role/"#
    ));
    assert_eq!(
        message("arn:aws:s3:us-east-1::bucket/key"),
        "Resource arn:aws:s3:us-east-1::bucket/key can not contain region information."
    );
    for fine in [
        "*",
        "arn:aws:s3:::bucket/*",
        "arn:aws-cn:s3:::bucket",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::*:role/x",
        "arn:aws:iam::123456789012:*",
        "arn:aws:iam::123456789012:*/x",
        "arn:aws:s3:us-west-2:123456789012:accesspoint/x",
        "arn:*:s3:::bucket",
        "arn:aws:ec2:*:*:instance/*",
    ] {
        assert!(identity(fine).is_ok(), "{fine}");
    }
}
