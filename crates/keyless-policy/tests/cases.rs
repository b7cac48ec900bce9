//! Golden evaluation cases. Every case cites the rule it checks: a section of the project's
//! IAM reference (`iam-policy.md §x`) or an AWS documentation page.

use keyless_policy::{
    Context, Decision, ParseOptions, Policy, PolicyKind, Principal, Request, evaluate_session,
};

const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/gitlab.com";
const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

const OPS: &str = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html";
const MULTI: &str = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html";
const LOGIC: &str = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html";
const VARS: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html";
const RESOURCE: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html";
const PRINCIPAL: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html";
const ACTION_DOC: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html";
const EVAL: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html";
const SESSION: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session";
/// AWS answering `ForAnyValue:StringEqualsIfExists` on a missing `aws:TagKeys` with a deny.
const ANY_IF_EXISTS: &str = "https://repost.aws/questions/QU9HFmDzP0QGuU-fd7rS6B7w/foranyvalue-stringequalsifexists-behaving-unexpectedly";
/// One rule for a request value of the wrong type: neither form of a typed operator matches.
const WRONG_TYPE: &str = "policy-semantics.md §2.2 (wrong-typed request values)";

/// A condition case: a GitLab trust policy with a single condition, evaluated for the
/// GitLab provider. `true` = Allow, `false` = ImplicitDeny.
struct CondCase {
    rule: &'static str,
    op: &'static str,
    key: &'static str,
    values: &'static str,
    ctx: &'static str,
    expect: bool,
}

macro_rules! cond {
    ($rule:expr, $op:expr, $key:expr, $values:expr, $ctx:expr, $expect:expr) => {
        CondCase {
            rule: $rule,
            op: $op,
            key: $key,
            values: $values,
            ctx: $ctx,
            expect: $expect,
        }
    };
}

fn context(json: &str) -> Context {
    let value: serde_json::Value = serde_json::from_str(json).expect("test context is JSON");
    Context::from_json(&value).expect("test context is valid")
}

fn trust(doc: &str) -> Policy {
    Policy::parse(doc, &ParseOptions::new(PolicyKind::Trust))
        .unwrap_or_else(|e| panic!("policy must parse: {e}\n{doc}"))
}

fn identity(doc: &str) -> Policy {
    Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity))
        .unwrap_or_else(|e| panic!("policy must parse: {e}\n{doc}"))
}

#[rustfmt::skip]
fn condition_cases() -> Vec<CondCase> {
    let s22 = "iam-policy.md §2.2";
    let s23 = "iam-policy.md §2.3";
    let s24 = "iam-policy.md §2.4";
    let s25 = "iam-policy.md §2.5";
    let s26 = "iam-policy.md §2.6";
    let s27 = "iam-policy.md §2.7";
    let s6 = "iam-policy.md §6";
    vec![
        // String family.
        cond!(s6, "StringEquals", "gitlab.com:sub", r#""project_path:mygroup/myproject:ref_type:branch:ref:main""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!(s6, "StringEquals", "gitlab.com:sub", r#""PROJECT_PATH:MYGROUP/MYPROJECT:REF_TYPE:BRANCH:REF:MAIN""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, false),
        cond!(s6, "StringEqualsIgnoreCase", "gitlab.com:sub", r#""PROJECT_PATH:MYGROUP/MYPROJECT:REF_TYPE:BRANCH:REF:MAIN""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!("iam-policy.md §1.7", "StringEquals", "gitlab.com:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, false),
        cond!("iam-policy.md §1.7", "StringEquals", "gitlab.com:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:mygroup/*"}"#, true),
        cond!(s6, "StringLike", "gitlab.com:sub", r#""project_path:mygroup*""#, r#"{"gitlab.com:sub":"project_path:mygroup-evil/x:ref_type:branch:ref:main"}"#, true),
        cond!(s6, "StringLike", "gitlab.com:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:mygroup-evil/x:ref_type:branch:ref:main"}"#, false),
        cond!("iam-policy.md §1.7", "StringLike", "gitlab.com:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!(s6, "StringLike", "gitlab.com:sub", r#""project_path:mygroup/myproject:ref_type:branch:ref:mai?""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""project_path:mygroup/myproject:ref_type:branch:ref:ma?""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, false),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""*""#, r#"{"gitlab.com:sub":"anything at all"}"#, true),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""""#, r#"{"gitlab.com:sub":""}"#, true),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""""#, r#"{"gitlab.com:sub":"x"}"#, false),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""*:ref:main""#, r#"{"gitlab.com:sub":"project_path:a/b:ref_type:branch:ref:main"}"#, true),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""Project_path:*""#, r#"{"gitlab.com:sub":"project_path:a/b"}"#, false),
        cond!(OPS, "StringLike", "gitlab.com:sub", r#""a?c""#, r#"{"gitlab.com:sub":"aéc"}"#, true),
        cond!(LOGIC, "StringNotEquals", "gitlab.com:sub", r#"["x", "project_path:mygroup/myproject:ref_type:branch:ref:main"]"#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, false),
        cond!(LOGIC, "StringNotEquals", "gitlab.com:sub", r#"["x", "y"]"#, r#"{"gitlab.com:sub":"z"}"#, true),
        cond!(s6, "StringNotLike", "gitlab.com:sub", r#""project_path:evil/*""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!(OPS, "StringNotLike", "gitlab.com:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, false),
        cond!(OPS, "StringNotEqualsIgnoreCase", "gitlab.com:sub", r#""ABC""#, r#"{"gitlab.com:sub":"abc"}"#, false),
        cond!(OPS, "StringNotEqualsIgnoreCase", "gitlab.com:sub", r#""ABC""#, r#"{"gitlab.com:sub":"abd"}"#, true),
        cond!(s23, "StringEqualsIgnoreCase", "gitlab.com:sub", r#""ß""#, r#"{"gitlab.com:sub":"ss"}"#, false),
        cond!(s23, "StringEqualsIgnoreCase", "gitlab.com:sub", r#""ÉCOLE""#, r#"{"gitlab.com:sub":"école"}"#, true),
        cond!(s23, "StringEqualsIgnoreCase", "gitlab.com:sub", r#""a*""#, r#"{"gitlab.com:sub":"abc"}"#, false),
        cond!(LOGIC, "StringEquals", "gitlab.com:sub", r#"["a", "project_path:mygroup/myproject:ref_type:branch:ref:main"]"#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!("iam-policy.md §1.1", "StringEquals", "gitlab.com:project_id", "123", r#"{"gitlab.com:project_id":"123"}"#, true),
        cond!("iam-policy.md §1.1", "StringEquals", "gitlab.com:ref_protected", "true", r#"{"gitlab.com:ref_protected":"true"}"#, true),
        cond!("iam-policy.md §2.4", "StringEquals", "gitlab.com:project_id", "1.50", r#"{"gitlab.com:project_id":"1.5"}"#, false),
        // Missing keys.
        cond!(s22, "StringEquals", "gitlab.com:sub", r#""x""#, r#"{}"#, false),
        cond!(s22, "StringNotEquals", "gitlab.com:sub", r#""x""#, r#"{}"#, true),
        cond!(s6, "StringNotLike", "gitlab.co:sub", r#""project_path:evil/*""#, r#"{"gitlab.com:sub":"project_path:evil/x"}"#, true),
        cond!(s6, "StringLike", "gitlab.co:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:mygroup/x"}"#, false),
        cond!(s22, "StringEqualsIgnoreCase", "gitlab.com:sub", r#""x""#, r#"{}"#, false),
        cond!(s22, "StringNotEqualsIgnoreCase", "gitlab.com:sub", r#""x""#, r#"{}"#, true),
        cond!(s22, "StringLike", "gitlab.com:sub", r#""*""#, r#"{}"#, false),
        // IfExists.
        cond!(s6, "StringLikeIfExists", "gitlab.co:sub", r#""project_path:mygroup/*""#, r#"{"gitlab.com:sub":"project_path:evil/x"}"#, true),
        cond!(s25, "StringEqualsIfExists", "gitlab.com:sub", r#""a""#, r#"{"gitlab.com:sub":"b"}"#, false),
        cond!(s25, "StringEqualsIfExists", "gitlab.com:sub", r#""a""#, r#"{"gitlab.com:sub":"a"}"#, true),
        cond!(s25, "StringNotEqualsIfExists", "gitlab.com:sub", r#""a""#, r#"{"gitlab.com:sub":"a"}"#, false),
        cond!(s25, "StringNotEqualsIfExists", "gitlab.com:sub", r#""a""#, r#"{}"#, true),
        cond!(s25, "NumericLessThanIfExists", "aws:MultiFactorAuthAge", "3600", r#"{}"#, true),
        cond!(s25, "NumericLessThanIfExists", "aws:MultiFactorAuthAge", "3600", r#"{"aws:MultiFactorAuthAge":"7200"}"#, false),
        cond!(s25, "DateGreaterThanIfExists", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{}"#, true),
        cond!(s25, "IpAddressIfExists", "aws:SourceIp", r#""10.0.0.0/8""#, r#"{}"#, true),
        cond!(s25, "IpAddressIfExists", "aws:SourceIp", r#""10.0.0.0/8""#, r#"{"aws:SourceIp":"11.0.0.1"}"#, false),
        cond!(s25, "ArnLikeIfExists", "aws:SourceArn", r#""arn:aws:s3:::b""#, r#"{}"#, true),
        cond!(s25, "BinaryEqualsIfExists", "k:bin", r#""aGVsbG8=""#, r#"{}"#, true),
        // Key and operator case.
        cond!(s6, "StringEquals", "GITLAB.COM:SUB", r#""project_path:mygroup/myproject:ref_type:branch:ref:main""#, r#"{"gitlab.com:sub":"project_path:mygroup/myproject:ref_type:branch:ref:main"}"#, true),
        cond!("iam-policy.md §1.3", "StringEquals", "gitlab.com:sub", r#""a""#, r#"{"GitLab.Com:Sub":"a"}"#, true),
        cond!("iam-policy.md §1.3", "stringequals", "gitlab.com:sub", r#""a""#, r#"{"gitlab.com:sub":"a"}"#, true),
        cond!("iam-policy.md §1.3", "forallvalues:stringequalsifexists", "gitlab.com:sub", r#""a""#, r#"{"gitlab.com:sub":"b"}"#, false),
        cond!("iam-policy.md §1.3", "StringEquals", "aws:ResourceTag/TagKey1", r#""v""#, r#"{"aws:resourcetag/tagkey1":"v"}"#, true),
        // Policy variables (Version 2012-10-17).
        cond!(s27, "StringLike", "gitlab.com:sub", r#""a${*}b""#, r#"{"gitlab.com:sub":"a*b"}"#, true),
        cond!(s6, "StringLike", "gitlab.com:sub", r#""a${*}b""#, r#"{"gitlab.com:sub":"axb"}"#, false),
        cond!(s27, "StringEquals", "gitlab.com:sub", r#""a${?}b""#, r#"{"gitlab.com:sub":"a?b"}"#, true),
        cond!(s27, "StringLike", "gitlab.com:sub", r#""a${?}b""#, r#"{"gitlab.com:sub":"axb"}"#, false),
        cond!(s27, "StringEquals", "gitlab.com:sub", r#""${$}x""#, r#"{"gitlab.com:sub":"$x"}"#, true),
        cond!(VARS, "StringEquals", "k:owner", r#""${aws:username}""#, r#"{"k:owner":"alice","aws:username":"alice"}"#, true),
        cond!(VARS, "StringEquals", "k:owner", r#""${AWS:UserName}""#, r#"{"k:owner":"alice","aws:username":"alice"}"#, true),
        cond!(VARS, "StringEquals", "k:owner", r#""${aws:username}""#, r#"{"k:owner":"bob","aws:username":"alice"}"#, false),
        cond!(VARS, "StringEquals", "k:owner", r#""${aws:username}""#, r#"{"k:owner":""}"#, false),
        cond!(VARS, "StringNotEquals", "k:owner", r#""${aws:username}""#, r#"{"k:owner":"x"}"#, true),
        cond!(VARS, "StringLike", "k:owner", r#""${aws:username}""#, r#"{"k:owner":"x"}"#, false),
        cond!(VARS, "StringNotLike", "k:owner", r#""${aws:username}""#, r#"{"k:owner":"x"}"#, true),
        cond!(VARS, "StringEquals", "k:team", r#""${aws:PrincipalTag/team, 'company-wide'}""#, r#"{"k:team":"company-wide"}"#, true),
        cond!(VARS, "StringEquals", "k:team", r#""${aws:PrincipalTag/team, 'company-wide'}""#, r#"{"k:team":"infra","aws:PrincipalTag/team":"infra"}"#, true),
        cond!(s27, "StringLike", "k:owner", r#""${k:pattern}""#, r#"{"k:owner":"abc","k:pattern":"a*"}"#, false),
        cond!(s27, "StringLike", "k:owner", r#""${k:pattern}""#, r#"{"k:owner":"a*","k:pattern":"a*"}"#, true),
        cond!(s27, "StringLike", "k:owner", r#""home/${aws:username}/*""#, r#"{"k:owner":"home/alice/x","aws:username":"alice"}"#, true),
        cond!(VARS, "StringEquals", "k:owner", r#""${k:multi}""#, r#"{"k:owner":"a","k:multi":["a","b"]}"#, false),
        cond!(s27, "StringEquals", "k:owner", r#""${bad key}""#, r#"{"k:owner":"${bad key}"}"#, true),
        cond!(s27, "ArnLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:user/${aws:username}""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:user/alice","aws:username":"alice"}"#, true),
        cond!(s27, "ArnLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:user/${aws:username}""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:user/alice"}"#, false),
        cond!(s27, "ArnNotLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:user/${aws:username}""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:user/alice"}"#, true),
        cond!(s27, "NumericEquals", "k:n", r#""5""#, r#"{"k:n":"5"}"#, true),
        // Empty value lists.
        cond!(s24, "StringEquals", "gitlab.com:sub", "[]", r#"{"gitlab.com:sub":"a"}"#, false),
        cond!(s24, "StringNotEquals", "gitlab.com:sub", "[]", r#"{"gitlab.com:sub":"a"}"#, true),
        cond!(s24, "StringEquals", "gitlab.com:sub", "[]", r#"{}"#, false),
        cond!(s24, "ForAllValues:StringEquals", "aws:TagKeys", "[]", r#"{"aws:TagKeys":["a"]}"#, false),
        cond!(s24, "ForAllValues:StringEquals", "aws:TagKeys", "[]", r#"{}"#, true),
        cond!(s24, "ForAnyValue:StringEquals", "aws:TagKeys", "[]", r#"{"aws:TagKeys":["a"]}"#, false),
        cond!(s24, "ForAnyValue:StringEquals", "aws:TagKeys", "[]", r#"{}"#, false),
        cond!(s24, "StringEqualsIfExists", "gitlab.com:sub", "[]", r#"{"gitlab.com:sub":"a"}"#, false),
        cond!(s24, "StringEqualsIfExists", "gitlab.com:sub", "[]", r#"{}"#, true),
        cond!(s24, "StringNotEqualsIfExists", "gitlab.com:sub", "[]", r#"{"gitlab.com:sub":"a"}"#, false),
        // Set qualifiers.
        cond!(s6, "ForAllValues:StringEquals", "gitlab.com:sub", r#""x""#, r#"{}"#, true),
        cond!(s6, "ForAnyValue:StringEquals", "gitlab.com:sub", r#""x""#, r#"{}"#, false),
        cond!(s6, "ForAnyValue:StringNotEquals", "gitlab.com:sub", r#"["a","b"]"#, r#"{"gitlab.com:sub":"c"}"#, true),
        cond!(MULTI, "ForAnyValue:StringNotEquals", "gitlab.com:sub", r#"["a","b"]"#, r#"{"gitlab.com:sub":"a"}"#, false),
        cond!(MULTI, "ForAllValues:StringEquals", "cognito-identity.amazonaws.com:amr", r#"["authenticated","graph.facebook.com"]"#, r#"{"cognito-identity.amazonaws.com:amr":["authenticated","graph.facebook.com"]}"#, true),
        cond!(MULTI, "ForAllValues:StringEquals", "cognito-identity.amazonaws.com:amr", r#"["authenticated","graph.facebook.com"]"#, r#"{"cognito-identity.amazonaws.com:amr":["authenticated","unauthenticated"]}"#, false),
        cond!(MULTI, "ForAnyValue:StringLike", "cognito-identity.amazonaws.com:amr", r#""unauth*""#, r#"{"cognito-identity.amazonaws.com:amr":["authenticated","unauthenticated"]}"#, true),
        cond!(MULTI, "ForAnyValue:StringLike", "cognito-identity.amazonaws.com:amr", r#""unauth*""#, r#"{"cognito-identity.amazonaws.com:amr":["authenticated"]}"#, false),
        cond!(MULTI, "ForAllValues:StringNotEquals", "aws:TagKeys", r#""secret""#, r#"{"aws:TagKeys":["a","b"]}"#, true),
        cond!(MULTI, "ForAllValues:StringNotEquals", "aws:TagKeys", r#""secret""#, r#"{"aws:TagKeys":["a","secret"]}"#, false),
        cond!(MULTI, "ForAnyValue:StringNotEquals", "aws:TagKeys", r#""a""#, r#"{"aws:TagKeys":["a","b"]}"#, true),
        cond!(MULTI, "ForAnyValue:StringNotEquals", "aws:TagKeys", r#""a""#, r#"{"aws:TagKeys":["a"]}"#, false),
        cond!(s26, "ForAllValues:StringNotLike", "aws:TagKeys", r#""x*""#, r#"{}"#, true),
        cond!(s26, "ForAnyValue:StringNotLike", "aws:TagKeys", r#""x*""#, r#"{}"#, false),
        cond!(s26, "ForAllValues:StringEqualsIgnoreCase", "aws:TagKeys", r#"["a","B"]"#, r#"{"aws:TagKeys":["A","b"]}"#, true),
        cond!(s26, "ForAllValues:StringLike", "aws:TagKeys", r#""env-*""#, r#"{"aws:TagKeys":["env-a","env-b"]}"#, true),
        cond!(s26, "ForAllValues:StringLike", "aws:TagKeys", r#""env-*""#, r#"{"aws:TagKeys":["env-a","team"]}"#, false),
        cond!(s26, "ForAllValues:StringEquals", "aws:TagKeys", r#""a""#, r#"{"aws:TagKeys":[]}"#, true),
        cond!(s26, "ForAnyValue:StringEquals", "aws:TagKeys", r#""a""#, r#"{"aws:TagKeys":[]}"#, false),
        cond!(s26, "StringEquals", "aws:TagKeys", r#"["a","b"]"#, r#"{"aws:TagKeys":["a","b"]}"#, false),
        cond!(s26, "StringNotEquals", "aws:TagKeys", r#"["x"]"#, r#"{"aws:TagKeys":["a","b"]}"#, false),
        cond!(s26, "StringEquals", "aws:TagKeys", r#""a""#, r#"{"aws:TagKeys":["a"]}"#, true),
        cond!(s26, "StringNotEquals", "aws:TagKeys", r#""a""#, r#"{"aws:TagKeys":[]}"#, true),
        cond!(ANY_IF_EXISTS, "ForAnyValue:StringLikeIfExists", "aws:TagKeys", r#""a*""#, r#"{}"#, false),
        cond!(ANY_IF_EXISTS, "ForAnyValue:StringEqualsIfExists", "aws:TagKeys", r#"["team"]"#, r#"{}"#, false),
        cond!(ANY_IF_EXISTS, "ForAnyValue:StringEqualsIfExists", "aws:TagKeys", r#"["team"]"#, r#"{"aws:TagKeys":[]}"#, false),
        cond!(ANY_IF_EXISTS, "ForAnyValue:StringNotEqualsIfExists", "aws:TagKeys", r#"["team"]"#, r#"{}"#, false),
        cond!(ANY_IF_EXISTS, "ForAnyValue:NumericLessThanIfExists", "k:nums", r#""5""#, r#"{}"#, false),
        cond!(ANY_IF_EXISTS, "ForAnyValue:StringEqualsIfExists", "aws:TagKeys", "[]", r#"{}"#, false),
        cond!(s25, "ForAnyValue:StringEqualsIfExists", "aws:TagKeys", r#"["team"]"#, r#"{"aws:TagKeys":["x","team"]}"#, true),
        cond!(s25, "ForAllValues:StringLikeIfExists", "aws:TagKeys", r#""a*""#, r#"{}"#, true),
        cond!(s26, "ForAnyValue:NumericEquals", "k:nums", r#""2""#, r#"{"k:nums":["1","2"]}"#, true),
        cond!(s26, "ForAllValues:NumericLessThan", "k:nums", r#""2""#, r#"{"k:nums":["1","2"]}"#, false),
        cond!(s26, "ForAnyValue:ArnLike", "k:arns", r#""arn:aws:iam::*:role/x""#, r#"{"k:arns":["arn:aws:iam::1:user/y","arn:aws:iam::2:role/x"]}"#, true),
        cond!(OPS, "ForAllValues:ArnLike", "k:arns", r#""arn:aws:iam::*:role/x""#, r#"{}"#, true),
        cond!(s26, "ForAnyValue:Bool", "k:bools", r#""true""#, r#"{"k:bools":["false","true"]}"#, true),
        cond!(s26, "ForAllValues:Bool", "k:bools", r#""true""#, r#"{"k:bools":["false","true"]}"#, false),
        // Numeric.
        cond!(OPS, "NumericEquals", "k:n", "10", r#"{"k:n":"10"}"#, true),
        cond!(OPS, "NumericEquals", "k:n", "10", r#"{"k:n":"10.0"}"#, true),
        cond!(OPS, "NumericEquals", "k:n", "10", r#"{"k:n":"11"}"#, false),
        cond!(OPS, "NumericEquals", "k:n", r#""10""#, r#"{"k:n":10}"#, true),
        cond!(OPS, "NumericNotEquals", "k:n", "10", r#"{"k:n":"11"}"#, true),
        cond!(OPS, "NumericNotEquals", "k:n", "10", r#"{"k:n":"10"}"#, false),
        cond!(s22, "NumericNotEquals", "k:n", "10", r#"{}"#, true),
        cond!(s22, "NumericEquals", "k:n", "10", r#"{}"#, false),
        cond!(OPS, "NumericLessThan", "k:n", "10", r#"{"k:n":"9"}"#, true),
        cond!(OPS, "NumericLessThan", "k:n", "10", r#"{"k:n":"10"}"#, false),
        cond!(OPS, "NumericLessThanEquals", "k:n", "10", r#"{"k:n":"10"}"#, true),
        cond!(OPS, "NumericLessThanEquals", "k:n", "10", r#"{"k:n":"11"}"#, false),
        cond!(OPS, "NumericGreaterThan", "k:n", "10", r#"{"k:n":"11"}"#, true),
        cond!(OPS, "NumericGreaterThan", "k:n", "10", r#"{"k:n":"10"}"#, false),
        cond!(OPS, "NumericGreaterThanEquals", "k:n", "10", r#"{"k:n":"10"}"#, true),
        cond!(OPS, "NumericGreaterThanEquals", "k:n", "10", r#"{"k:n":"9.99"}"#, false),
        cond!(OPS, "NumericLessThan", "k:n", "-1.5", r#"{"k:n":"-2"}"#, true),
        cond!(OPS, "NumericGreaterThan", "k:n", "0.1", r#"{"k:n":"0.09"}"#, false),
        cond!(s23, "NumericEquals", "k:n", "10", r#"{"k:n":"ten"}"#, false),
        cond!(WRONG_TYPE, "NumericNotEquals", "k:n", "10", r#"{"k:n":"ten"}"#, false),
        cond!(WRONG_TYPE, "NumericNotEqualsIfExists", "k:n", "10", r#"{"k:n":"ten"}"#, false),
        cond!(WRONG_TYPE, "NumericLessThan", "k:n", "10", r#"{"k:n":"1e3"}"#, false),
        cond!(WRONG_TYPE, "ForAllValues:NumericNotEquals", "k:nums", "10", r#"{"k:nums":["11","ten"]}"#, false),
        cond!(WRONG_TYPE, "ForAnyValue:NumericNotEquals", "k:nums", "10", r#"{"k:nums":["ten","11"]}"#, true),
        cond!(WRONG_TYPE, "ForAnyValue:NumericNotEquals", "k:nums", "10", r#"{"k:nums":["ten","10"]}"#, false),
        cond!(LOGIC, "NumericEquals", "k:n", "[1, 2, 3]", r#"{"k:n":"2"}"#, true),
        cond!("iam-policy.md §4.3", "NumericEquals", "accounts.google.com:google/organization_number", "123456789012", r#"{"accounts.google.com:google/organization_number":"123456789012"}"#, true),
        // Date.
        cond!(OPS, "DateGreaterThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2024-05-01T12:00:00Z"}"#, true),
        cond!(s6, "DateGreaterThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"1700000000"}"#, true),
        cond!(OPS, "DateLessThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2024-05-01T12:00:00Z"}"#, false),
        cond!(OPS, "DateEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"1577836800"}"#, true),
        cond!(OPS, "DateEquals", "aws:CurrentTime", "1577836800", r#"{"aws:CurrentTime":"2020-01-01T00:00:00Z"}"#, true),
        cond!(OPS, "DateNotEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2020-01-01T00:00:00Z"}"#, false),
        cond!(s22, "DateNotEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{}"#, true),
        cond!(s22, "DateLessThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{}"#, false),
        cond!(OPS, "DateLessThanEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2020-01-01T00:00:00Z"}"#, true),
        cond!(OPS, "DateGreaterThanEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2020-01-01T00:00:00Z"}"#, true),
        cond!(OPS, "DateGreaterThanEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2019-12-31T23:59:59Z"}"#, false),
        cond!(s23, "DateEquals", "aws:CurrentTime", r#""2020-01-01T01:00:00+01:00""#, r#"{"aws:CurrentTime":"2020-01-01T00:00:00Z"}"#, true),
        cond!(s23, "DateLessThan", "aws:CurrentTime", r#""2025-01-01""#, r#"{"aws:CurrentTime":"2024-12-31T23:59:59Z"}"#, true),
        cond!(s23, "DateLessThan", "aws:CurrentTime", r#""2020-01-01T00:00:00.5Z""#, r#"{"aws:CurrentTime":"2020-01-01T00:00:00.25Z"}"#, true),
        cond!(s23, "DateEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"yesterday"}"#, false),
        cond!(WRONG_TYPE, "DateNotEquals", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"yesterday"}"#, false),
        cond!(WRONG_TYPE, "DateNotEqualsIfExists", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"2020-13-01"}"#, false),
        cond!(WRONG_TYPE, "DateGreaterThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#, r#"{"aws:CurrentTime":"tomorrow"}"#, false),
        cond!(OPS, "DateLessThan", "aws:TokenIssueTime", r#""2024-06-01T00:00:00Z""#, r#"{"aws:TokenIssueTime":"2024-05-31T23:00:00-02:00"}"#, false),
        // Bool.
        cond!(OPS, "Bool", "aws:SecureTransport", r#""true""#, r#"{"aws:SecureTransport":"true"}"#, true),
        cond!(OPS, "Bool", "aws:SecureTransport", r#""true""#, r#"{"aws:SecureTransport":"false"}"#, false),
        cond!(OPS, "Bool", "aws:SecureTransport", "true", r#"{"aws:SecureTransport":true}"#, true),
        cond!(s6, "Bool", "aws:SecureTransport", r#""True""#, r#"{"aws:SecureTransport":"true"}"#, true),
        cond!(s22, "Bool", "aws:SecureTransport", r#""false""#, r#"{}"#, false),
        cond!(s25, "BoolIfExists", "aws:MultiFactorAuthPresent", r#""false""#, r#"{}"#, true),
        cond!(s23, "Bool", "aws:SecureTransport", r#""true""#, r#"{"aws:SecureTransport":"yes"}"#, false),
        cond!(WRONG_TYPE, "Bool", "aws:SecureTransport", r#""false""#, r#"{"aws:SecureTransport":"no"}"#, false),
        cond!(WRONG_TYPE, "ForAllValues:Bool", "k:bools", r#""false""#, r#"{"k:bools":["false","0"]}"#, false),
        cond!(LOGIC, "Bool", "aws:SecureTransport", r#"["true","false"]"#, r#"{"aws:SecureTransport":"false"}"#, true),
        // Binary.
        cond!(OPS, "BinaryEquals", "k:bin", r#""aGVsbG8=""#, r#"{"k:bin":"aGVsbG8="}"#, true),
        cond!(OPS, "BinaryEquals", "k:bin", r#""aGVsbG8=""#, r#"{"k:bin":"aGVsbG8"}"#, true),
        cond!(OPS, "BinaryEquals", "k:bin", r#""aGVsbG8=""#, r#"{"k:bin":"d29ybGQ="}"#, false),
        cond!(s22, "BinaryEquals", "k:bin", r#""aGVsbG8=""#, r#"{}"#, false),
        cond!(OPS, "BinaryEquals", "k:bin", r#""aGVsbG8=""#, r#"{"k:bin":"not base64!"}"#, false),
        cond!(WRONG_TYPE, "BinaryEqualsIfExists", "k:bin", r#""aGVsbG8=""#, r#"{"k:bin":"not base64!"}"#, false),
        // IP address.
        cond!(OPS, "IpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, r#"{"aws:SourceIp":"203.0.113.7"}"#, true),
        cond!(OPS, "IpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, r#"{"aws:SourceIp":"198.51.100.1"}"#, false),
        cond!(s6, "IpAddress", "aws:SourceIp", r#""203.0.113.5""#, r#"{"aws:SourceIp":"203.0.113.5"}"#, true),
        cond!(s23, "IpAddress", "aws:SourceIp", r#""203.0.113.5""#, r#"{"aws:SourceIp":"203.0.113.6"}"#, false),
        cond!(s6, "IpAddress", "aws:SourceIp", r#""2001:db8::/32""#, r#"{"aws:SourceIp":"2001:db8:1::1"}"#, true),
        cond!(s23, "IpAddress", "aws:SourceIp", r#""2001:db8::1""#, r#"{"aws:SourceIp":"2001:db8::2"}"#, false),
        cond!(s23, "IpAddress", "aws:SourceIp", r#""2001:db8::/32""#, r#"{"aws:SourceIp":"203.0.113.1"}"#, false),
        cond!(OPS, "NotIpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, r#"{"aws:SourceIp":"203.0.113.7"}"#, false),
        cond!(OPS, "NotIpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, r#"{"aws:SourceIp":"198.51.100.1"}"#, true),
        cond!(s6, "NotIpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, r#"{}"#, true),
        cond!(s22, "IpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, r#"{}"#, false),
        cond!(LOGIC, "IpAddress", "aws:SourceIp", r#"["10.0.0.0/8","203.0.113.0/24"]"#, r#"{"aws:SourceIp":"203.0.113.9"}"#, true),
        cond!(s23, "IpAddress", "aws:SourceIp", r#""0.0.0.0/0""#, r#"{"aws:SourceIp":"not-an-ip"}"#, false),
        cond!(WRONG_TYPE, "NotIpAddress", "aws:SourceIp", r#""10.0.0.0/8""#, r#"{"aws:SourceIp":"not-an-ip"}"#, false),
        cond!(WRONG_TYPE, "NotIpAddressIfExists", "aws:SourceIp", r#""10.0.0.0/8""#, r#"{"aws:SourceIp":"cloudformation.amazonaws.com"}"#, false),
        cond!(WRONG_TYPE, "NotIpAddress", "aws:SourceIp", r#""10.0.0.0/8""#, r#"{"aws:SourceIp":"10.0.0.1/32"}"#, false),
        cond!(s23, "NotIpAddress", "aws:SourceIp", r#""10.0.0.0/8""#, r#"{"aws:SourceIp":"2001:db8::1"}"#, true),
        cond!(WRONG_TYPE, "ForAnyValue:NotIpAddress", "k:ips", r#""10.0.0.0/8""#, r#"{"k:ips":["junk","11.0.0.1"]}"#, true),
        cond!(WRONG_TYPE, "ForAnyValue:NotIpAddress", "k:ips", r#""10.0.0.0/8""#, r#"{"k:ips":["junk","10.0.0.1"]}"#, false),
        // ARN.
        cond!(OPS, "ArnLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/*""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:role/deploy"}"#, true),
        cond!(OPS, "ArnEquals", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/*""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:role/deploy"}"#, true),
        cond!(OPS, "ArnLike", "aws:SourceArn", r#""arn:aws:someservice:*:111122223333:finance/*""#, r#"{"aws:SourceArn":"arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}"#, false),
        cond!(OPS, "StringLike", "aws:SourceArn", r#""arn:aws:someservice:*:111122223333:finance/*""#, r#"{"aws:SourceArn":"arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}"#, true),
        cond!(OPS, "ArnLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/Deploy""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:role/deploy"}"#, false),
        cond!(OPS, "ArnNotLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/*""#, r#"{"aws:SourceArn":"arn:aws:iam::444455556666:role/x"}"#, true),
        cond!(OPS, "ArnNotLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/*""#, r#"{"aws:SourceArn":"arn:aws:iam::111122223333:role/x"}"#, false),
        cond!(s22, "ArnNotLike", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/*""#, r#"{}"#, true),
        cond!(s22, "ArnNotEquals", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/x""#, r#"{}"#, true),
        cond!(s23, "ArnNotEquals", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/x""#, r#"{"aws:SourceArn":"not-an-arn"}"#, false),
        cond!(WRONG_TYPE, "ArnNotLikeIfExists", "aws:SourceArn", r#""arn:aws:iam::111122223333:role/x""#, r#"{"aws:SourceArn":"arn:aws:iam"}"#, false),
        cond!(s23, "ArnLike", "aws:SourceArn", r#""*""#, r#"{"aws:SourceArn":"not-an-arn"}"#, false),
        cond!(s23, "ArnLike", "aws:SourceArn", r#""*""#, r#"{"aws:SourceArn":"arn:aws:s3:::bucket"}"#, true),
        cond!("iam-policy.md §1.6", "ArnLike", "aws:SourceArn", r#""arn:aws:s3:::bucket/*""#, r#"{"aws:SourceArn":"arn:aws:s3:::bucket/a:b/c"}"#, true),
        cond!("iam-policy.md §1.7", "ArnLike", "aws:SourceArn", r#""arn:aws:iam::*:role/x""#, r#"{"aws:SourceArn":"arn:aws:iam::1:2:role/x"}"#, false),
        cond!("iam-policy.md §1.7", "StringLike", "aws:SourceArn", r#""arn:aws:iam::*:role/x""#, r#"{"aws:SourceArn":"arn:aws:iam::1:2:role/x"}"#, true),
        cond!(OPS, "ArnLike", "aws:SourceArn", r#""arn:aws:s3:::b?cket""#, r#"{"aws:SourceArn":"arn:aws:s3:::bucket"}"#, true),
        // Null.
        cond!(OPS, "Null", "aws:TokenIssueTime", r#""true""#, r#"{}"#, true),
        cond!(OPS, "Null", "aws:TokenIssueTime", r#""true""#, r#"{"aws:TokenIssueTime":"2024-01-01T00:00:00Z"}"#, false),
        cond!(OPS, "Null", "aws:TokenIssueTime", r#""false""#, r#"{"aws:TokenIssueTime":"2024-01-01T00:00:00Z"}"#, true),
        cond!(OPS, "Null", "aws:TokenIssueTime", r#""false""#, r#"{}"#, false),
        cond!(OPS, "Null", "aws:TokenIssueTime", "true", r#"{}"#, true),
        cond!(s26, "ForAllValues:Null", "aws:TagKeys", r#""false""#, r#"{}"#, true),
        cond!(s26, "ForAnyValue:Null", "aws:TagKeys", r#""true""#, r#"{}"#, false),
        cond!(s26, "Null", "aws:TagKeys", r#""true""#, r#"{"aws:TagKeys":[]}"#, true),
    ]
}

#[test]
fn condition_operator_cases() {
    let cases = condition_cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert!(!case.rule.is_empty());
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"{ACTION}","Condition":{{"{}":{{"{}":{}}}}}}}]}}"#,
            case.op, case.key, case.values
        );
        let policy = trust(&doc);
        let ctx = context(case.ctx);
        let req = Request {
            principal: Some(Principal::Federated(PROVIDER)),
            action: ACTION,
            resource: None,
            context: &ctx,
        };
        let expected = if case.expect {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        };
        let decision = policy.evaluate(&req);
        let (traced, _) = policy.evaluate_traced(&req);
        if decision != expected || traced != expected {
            failures.push(format!(
                "case {i} [{}] {} {} {} ctx {}: expected {expected:?}, got {decision:?} (traced {traced:?})",
                case.rule, case.op, case.key, case.values, case.ctx
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        cases.len() >= 150,
        "condition table has {} cases",
        cases.len()
    );
}

/// A whole-policy case.
struct PolicyCase {
    rule: &'static str,
    kind: PolicyKind,
    doc: String,
    principal: Option<Principal<'static>>,
    action: &'static str,
    resource: Option<&'static str>,
    ctx: &'static str,
    expect: Decision,
}

fn trust_doc(principal: &str, action: &str, extra: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":{action}{extra}}}]}}"#
    )
}

fn identity_doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

#[rustfmt::skip]
fn policy_cases() -> Vec<PolicyCase> {
    use Decision::{Allow, ExplicitDeny, ImplicitDeny};
    let fed = Some(Principal::Federated(PROVIDER));
    let gl = format!(r#"{{"Federated":"{PROVIDER}"}}"#);
    let act = format!(r#""{ACTION}""#);
    let t = |rule, doc: String, principal, action, expect| PolicyCase { rule, kind: PolicyKind::Trust, doc, principal, action, resource: None, ctx: "{}", expect };
    let id = |rule, doc: String, action, resource, ctx, expect| PolicyCase { rule, kind: PolicyKind::Identity, doc, principal: None, action, resource, ctx, expect };
    let s3 = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"#;
    vec![
        // Principal matching.
        t(PRINCIPAL, trust_doc(&gl, &act, ""), fed, ACTION, Allow),
        t(PRINCIPAL, trust_doc(&gl, &act, ""), Some(Principal::Federated("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com")), ACTION, ImplicitDeny),
        t(PRINCIPAL, trust_doc(&gl, &act, ""), Some(Principal::Federated("arn:aws:iam::444455556666:oidc-provider/gitlab.com")), ACTION, ImplicitDeny),
        t("iam-policy.md §6", trust_doc(&format!(r#"{{"Federated":"{}"}}"#, PROVIDER.to_uppercase()), &act, ""), fed, ACTION, ImplicitDeny),
        t(PRINCIPAL, trust_doc(&gl, &act, ""), Some(Principal::Aws(PROVIDER)), ACTION, ImplicitDeny),
        t(PRINCIPAL, trust_doc(&gl, &act, ""), None, ACTION, ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#""*""#, &act, ""), fed, ACTION, Allow),
        t(PRINCIPAL, trust_doc(r#""*""#, &act, ""), Some(Principal::Aws("arn:aws:iam::999999999999:user/x")), ACTION, Allow),
        t(PRINCIPAL, trust_doc(r#""*""#, &act, ""), None, ACTION, Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"*"}"#, &act, ""), fed, ACTION, Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"*"}"#, &act, ""), Some(Principal::Aws("123456789012")), ACTION, Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"111122223333"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:iam::111122223333:user/alice")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"111122223333"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:iam::444455556666:user/alice")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"111122223333"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("111122223333")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:sts::111122223333:assumed-role/deploy/s1")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:sts::444455556666:assumed-role/deploy/s1")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:role/ci/deploy"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:sts::111122223333:assumed-role/deploy/session1")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:role/ci/deploy"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:iam::111122223333:role/ci/deploy")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:role/ci/deploy"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:sts::111122223333:assumed-role/other/session1")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:role/ci/deploy"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:sts::444455556666:assumed-role/deploy/session1")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:role/ci/deploy"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:iam::111122223333:user/deploy")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Aws("arn:aws:iam::111122223333:user/Alice")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"Service":"ec2.amazonaws.com"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Service("ec2.amazonaws.com")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(r#"{"Service":"ec2.amazonaws.com"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::Federated("ec2.amazonaws.com")), "sts:AssumeRole", ImplicitDeny),
        t(PRINCIPAL, trust_doc(r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#, r#""sts:AssumeRole""#, ""), Some(Principal::CanonicalUser("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be")), "sts:AssumeRole", Allow),
        t(PRINCIPAL, trust_doc(&format!(r#"{{"Federated":["accounts.google.com","{PROVIDER}"]}}"#), &act, ""), fed, ACTION, Allow),
        t(PRINCIPAL, trust_doc(r#"{"Federated":"accounts.google.com","AWS":"111122223333"}"#, &act, ""), Some(Principal::Aws("arn:aws:iam::111122223333:user/bob")), ACTION, Allow),
        // Actions.
        t("iam-policy.md §6", trust_doc(&gl, r#""sts:assumerolewithwebidentity""#, ""), fed, ACTION, Allow),
        t("iam-policy.md §6", trust_doc(&gl, r#""sts:AssumeRole*""#, ""), fed, ACTION, Allow),
        t("iam-policy.md §6", trust_doc(&gl, r#""sts:AssumeRole""#, ""), fed, ACTION, ImplicitDeny),
        t("iam-policy.md §3.2", trust_doc(&gl, r#""sts:*""#, ""), fed, ACTION, Allow),
        t("iam-policy.md §3.2", trust_doc(&gl, r#""*""#, ""), fed, ACTION, Allow),
        t("iam-policy.md §1.5", trust_doc(&gl, r#""sts:?ssumeRoleWithWebIdentity""#, ""), fed, ACTION, Allow),
        t(ACTION_DOC, trust_doc(&gl, &act, ""), fed, "STS:ASSUMEROLEWITHWEBIDENTITY", Allow),
        t("iam-policy.md §1.5", trust_doc(&gl, r#"["sts:TagSession","sts:AssumeRoleWithWebIdentity"]"#, ""), fed, "sts:TagSession", Allow),
        t("iam-policy.md §1.5", trust_doc(&gl, r#""sts:AssumeRoleWithWebIdentity""#, ""), fed, "sts:TagSession", ImplicitDeny),
        t("iam-policy.md §1.5", trust_doc(&gl, r#""sts:Assume?ole*""#, ""), fed, ACTION, Allow),
        t("iam-policy.md §1.5", trust_doc(&gl, r#""sts:*Web*""#, ""), fed, "sts:AssumeRoleWithSAML", ImplicitDeny),
        t("https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html", format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"NotAction":"sts:TagSession"}}]}}"#), fed, ACTION, Allow),
        t("https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html", format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"NotAction":"sts:AssumeRole*"}}]}}"#), fed, ACTION, ImplicitDeny),
        // Statement combination and Deny precedence in trust policies.
        t(EVAL, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"Action":{act}}},{{"Effect":"Deny","Principal":{gl},"Action":{act}}}]}}"#), fed, ACTION, ExplicitDeny),
        t(EVAL, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":{gl},"Action":{act}}},{{"Effect":"Allow","Principal":{gl},"Action":{act}}}]}}"#), fed, ACTION, ExplicitDeny),
        t(EVAL, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":{gl},"Action":{act}}}]}}"#), fed, ACTION, ExplicitDeny),
        t(EVAL, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":{gl},"Action":"sts:TagSession"}}]}}"#), fed, ACTION, ImplicitDeny),
        t(EVAL, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"Action":{act}}},{{"Effect":"Deny","Principal":{gl},"Action":{act},"Condition":{{"StringEquals":{{"gitlab.com:sub":"x"}}}}}}]}}"#), fed, ACTION, Allow),
        t(OPS, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"Action":{act}}},{{"Effect":"Deny","Principal":{gl},"Action":{act},"Condition":{{"StringNotEqualsIfExists":{{"gitlab.com:sub":"x"}}}}}}]}}"#), fed, ACTION, ExplicitDeny),
        t(EVAL, format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{gl},"Action":{act}}}}}"#), fed, ACTION, Allow),
        t(LOGIC, trust_doc(&gl, &act, r#","Condition":{}"#), fed, ACTION, Allow),
        t("iam-policy.md §1.1", trust_doc(&gl, &act, r#","Condition":{"UnknownOperator":{}}"#), fed, ACTION, Allow),
        t(LOGIC, trust_doc(&gl, &act, r#","Condition":{"StringEquals":{}}"#), fed, ACTION, Allow),
        t(LOGIC, trust_doc(&gl, &act, r#","Condition":{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"},"StringLike":{"gitlab.com:sub":"project_path:x/*"}}"#), fed, ACTION, ImplicitDeny),
        t(LOGIC, trust_doc(&gl, &act, r#","Condition":{"StringEquals":{"gitlab.com:aud":"https://gitlab.com","gitlab.com:sub":"x"}}"#), fed, ACTION, ImplicitDeny),
        t("iam-policy.md §1.2", format!(r#"{{"Version":"2008-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"Action":{act},"Condition":{{"StringEquals":{{"gitlab.com:sub":"${{aws:username}}"}}}}}}]}}"#), fed, ACTION, ImplicitDeny),
        t("iam-policy.md §1.2", format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{gl},"Action":{act},"Condition":{{"StringLike":{{"gitlab.com:sub":"a${{*}}"}}}}}}]}}"#), fed, ACTION, ImplicitDeny),
        // Resources (identity policies).
        id(RESOURCE, identity_doc(&format!(r#"{s3}"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::DOC-EXAMPLE-BUCKET/1///test///object.jpg"), "{}", Allow),
        id(RESOURCE, identity_doc(&format!(r#"{s3}"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::DOC-EXAMPLE-BUCKET/1/test/"), "{}", Allow),
        id(RESOURCE, identity_doc(&format!(r#"{s3}"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::DOC-EXAMPLE-BUCKET/1-test/object.jpg"), "{}", ImplicitDeny),
        id(RESOURCE, identity_doc(&format!(r#"{s3}"*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/k"), "{}", Allow),
        id(RESOURCE, identity_doc(&format!(r#"{s3}"*"}}"#)), "s3:GetObject", None, "{}", Allow),
        id("iam-policy.md §1.6", identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/k"}}"#)), "s3:GetObject", None, "{}", ImplicitDeny),
        id("iam-policy.md §1.6", identity_doc(&format!(r#"{s3}"arn:aws:s3:::Bucket/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::bucket/x"), "{}", ImplicitDeny),
        id(RESOURCE, identity_doc(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:*:111122223333:instance/*"}"#), "ec2:StartInstances", Some("arn:aws:ec2:us-east-1:111122223333:instance/i-1"), "{}", Allow),
        id(RESOURCE, identity_doc(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:*:111122223333:instance/*"}"#), "ec2:StartInstances", Some("arn:aws:ec2:us-east-1:444455556666:instance/i-1"), "{}", ImplicitDeny),
        id("iam-policy.md §1.6", identity_doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::*:role/x"}"#), "iam:GetRole", Some("arn:aws:iam::1:2:role/x"), "{}", ImplicitDeny),
        id("iam-policy.md §1.6", identity_doc(r#"{"Effect":"Allow","Action":"logs:*","Resource":"arn:aws:logs:us-east-1:111122223333:log-group:*"}"#), "logs:PutLogEvents", Some("arn:aws:logs:us-east-1:111122223333:log-group:app:log-stream:s1"), "{}", Allow),
        id("iam-policy.md §1.7", identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/file?.txt"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/file1.txt"), "{}", Allow),
        id("iam-policy.md §1.7", identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/file?.txt"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/file12.txt"), "{}", ImplicitDeny),
        id(VARS, identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/home/${{aws:username}}/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/home/alice/x"), r#"{"aws:username":"alice"}"#, Allow),
        id(VARS, identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/home/${{aws:username}}/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/home/bob/x"), r#"{"aws:username":"alice"}"#, ImplicitDeny),
        id(VARS, identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/home/${{aws:username}}/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/home/alice/x"), "{}", ImplicitDeny),
        id(VARS, identity_doc(r#"{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/home/${aws:username}/*"}"#), "s3:GetObject", Some("arn:aws:s3:::b/home/alice/x"), "{}", Allow),
        id(VARS, identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/home/${{aws:username, 'shared'}}/*"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/home/shared/x"), "{}", Allow),
        id("iam-policy.md §2.7", identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/home/${{k:dir}}"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/home/anything"), r#"{"k:dir":"*"}"#, ImplicitDeny),
        id("iam-policy.md §2.7", identity_doc(&format!(r#"{s3}"arn:aws:s3:::b/home/${{k:dir}}"}}"#)), "s3:GetObject", Some("arn:aws:s3:::b/home/*"), r#"{"k:dir":"*"}"#, Allow),
        id("iam-policy.md §1.2", format!(r#"{{"Version":"2008-10-17","Statement":[{s3}"arn:aws:s3:::b/${{aws:username}}"}}]}}"#), "s3:GetObject", Some("arn:aws:s3:::b/alice"), r#"{"aws:username":"alice"}"#, ImplicitDeny),
        id("iam-policy.md §1.2", format!(r#"{{"Version":"2008-10-17","Statement":[{s3}"arn:aws:s3:::b/${{aws:username}}"}}]}}"#), "s3:GetObject", Some("arn:aws:s3:::b/${aws:username}"), r#"{"aws:username":"alice"}"#, Allow),
        id("iam-policy.md §2.7", identity_doc(&format!(r#"{s3}"arn:aws:s3:${{aws:region}}::b"}}"#)), "s3:GetObject", Some("arn:aws:s3:us-east-1::b"), r#"{"aws:region":"us-east-1"}"#, ImplicitDeny),
        id("https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html", identity_doc(r#"{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"}"#), "s3:GetObject", Some("arn:aws:s3:::public/x"), "{}", Allow),
        id("https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html", identity_doc(r#"{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"}"#), "s3:GetObject", Some("arn:aws:s3:::secret/x"), "{}", ImplicitDeny),
        id("iam-policy.md §1.6", identity_doc(r#"{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"}"#), "s3:GetObject", None, "{}", Allow),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}"#), "s3:DeleteObject", Some("arn:aws:s3:::b/k"), "{}", ExplicitDeny),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}"#), "s3:GetObject", Some("arn:aws:s3:::b/k"), "{}", Allow),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","NotAction":"s3:GetObject","Resource":"*"}"#), "s3:PutObject", Some("arn:aws:s3:::b/k"), "{}", ExplicitDeny),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","NotAction":"s3:GetObject","Resource":"*"}"#), "s3:GetObject", Some("arn:aws:s3:::b/k"), "{}", Allow),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#), "s3:GetObject", Some("arn:aws:s3:::b/k"), r#"{"aws:SecureTransport":"false"}"#, ExplicitDeny),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#), "s3:GetObject", Some("arn:aws:s3:::b/k"), "{}", Allow),
        id(EVAL, identity_doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a/*"}"#), "s3:GetObject", Some("arn:aws:s3:::b/k"), "{}", ImplicitDeny),
    ]
}

#[test]
fn whole_policy_cases() {
    let cases = policy_cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert!(!case.rule.is_empty());
        let policy = match case.kind {
            PolicyKind::Trust => trust(&case.doc),
            _ => identity(&case.doc),
        };
        let ctx = context(case.ctx);
        let req = Request {
            principal: case.principal,
            action: case.action,
            resource: case.resource,
            context: &ctx,
        };
        let decision = policy.evaluate(&req);
        let (traced, _) = policy.evaluate_traced(&req);
        if decision != case.expect || traced != case.expect {
            failures.push(format!(
                "case {i} [{}] {}: expected {:?}, got {decision:?} (traced {traced:?})",
                case.rule, case.doc, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[rustfmt::skip]
#[test]
fn trust_policy_rejections() {
    let gl = format!(r#"{{"Federated":"{PROVIDER}"}}"#);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("iam-policy.md §1.4", format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","NotPrincipal":{gl},"Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#), "Has prohibited field NotPrincipal", "/Statement/0/NotPrincipal"),
        ("iam-policy.md §1.1", format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"Action":"sts:AssumeRoleWithWebIdentity","Resource":"*"}}]}}"#), "Has prohibited field Resource", "/Statement/0/Resource"),
        ("iam-policy.md §1.1", format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{gl},"Action":"sts:AssumeRoleWithWebIdentity","NotResource":"*"}}]}}"#), "Has prohibited field NotResource", "/Statement/0/NotResource"),
        ("iam-policy.md §1.1", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity"}]}"#.to_string(), "Missing required field Principal", "/Statement/0"),
    ];
    for (rule, doc, message, pointer) in cases {
        let err = Policy::parse(&doc, &ParseOptions::new(PolicyKind::Trust)).expect_err(rule);
        assert_eq!((err.message.as_str(), err.pointer.as_str()), (message, pointer), "[{rule}] {doc}");
    }
}

/// Rule, identity policies, session policies, request, expected decision.
type SessionCase<'a> = (
    &'static str,
    Vec<&'a Policy>,
    Vec<&'a Policy>,
    Request<'a>,
    Decision,
);

#[rustfmt::skip]
#[test]
fn session_policy_intersection() {
    use Decision::{Allow, ExplicitDeny, ImplicitDeny};
    let allow_get = identity(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#);
    let allow_all = identity(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
    let allow_put = identity(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}"#);
    let deny_get = identity(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}"#);
    let session_bucket = Policy::parse(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::allowed/*"}]}"#, &ParseOptions::new(PolicyKind::Session)).expect("session policy");
    let ctx = Context::new();
    let get = |resource| Request { principal: None, action: "s3:GetObject", resource: Some(resource), context: &ctx };
    let cases: Vec<SessionCase<'_>> = vec![
        (SESSION, vec![&allow_get], vec![], get("arn:aws:s3:::any/k"), Allow),
        (SESSION, vec![&allow_get], vec![&allow_all], get("arn:aws:s3:::any/k"), Allow),
        (SESSION, vec![&allow_get], vec![&allow_put], get("arn:aws:s3:::any/k"), ImplicitDeny),
        (SESSION, vec![&allow_put], vec![&allow_all], get("arn:aws:s3:::any/k"), ImplicitDeny),
        (SESSION, vec![&allow_all], vec![&session_bucket], get("arn:aws:s3:::allowed/k"), Allow),
        (SESSION, vec![&allow_all], vec![&session_bucket], get("arn:aws:s3:::other/k"), ImplicitDeny),
        (SESSION, vec![&allow_all], vec![&deny_get], get("arn:aws:s3:::any/k"), ExplicitDeny),
        (SESSION, vec![&allow_all, &deny_get], vec![&allow_all], get("arn:aws:s3:::any/k"), ExplicitDeny),
        ("iam-policy.md §3.3", vec![&allow_all], vec![&allow_put, &session_bucket], get("arn:aws:s3:::allowed/k"), Allow),
        ("iam-policy.md §3.3", vec![&allow_put, &allow_get], vec![], get("arn:aws:s3:::any/k"), Allow),
        (EVAL, vec![], vec![&allow_all], get("arn:aws:s3:::any/k"), ImplicitDeny),
        (EVAL, vec![], vec![], get("arn:aws:s3:::any/k"), ImplicitDeny),
    ];
    for (i, (rule, identity_policies, session_policies, req, expected)) in cases.iter().enumerate() {
        let decision = evaluate_session(identity_policies, session_policies, req);
        let (traced, trace) = keyless_policy::evaluate_session_traced(identity_policies, session_policies, req);
        assert_eq!(decision, *expected, "case {i} [{rule}]");
        assert_eq!(traced, *expected, "traced case {i} [{rule}]");
        assert_eq!(trace.decision, *expected);
    }
}
