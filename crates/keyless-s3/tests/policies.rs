//! The needs of classified requests, decided by the real policy engine on the policies the
//! S3 documentation and client guides give: what they allow, what they refuse.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use keyless_policy::{Decision, ParseOptions, Policy, PolicyKind, Request};
use keyless_s3::address::Addressing;
use keyless_s3::operation::{AuthType, Need, auth_context, classify};

/// A home-folder policy: list only under `home/alice/`, read and write there, delete nothing,
/// never unencrypted uploads, only with SigV4 in the header.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bkt",
     "Condition": {"StringLike": {"s3:prefix": ["home/alice/*", ""]}}},
    {"Sid": "ReadWrite", "Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"],
     "Resource": "arn:aws:s3:::bkt/home/alice/*"},
    {"Sid": "Source", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"},
    {"Sid": "NoPlaintext", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
     "Condition": {"StringEquals": {"s3:x-amz-server-side-encryption": "none"}}},
    {"Sid": "OnlyTeamTags", "Effect": "Deny", "Action": "s3:PutObjectTagging", "Resource": "*",
     "Condition": {"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["team"]}}},
    {"Sid": "HeaderAuth", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
     "Condition": {"StringNotEquals": {"s3:authType": "REST-HEADER"}}}
  ]
}"#;

fn policy() -> Policy {
    Policy::parse(POLICY, &ParseOptions::new(PolicyKind::Identity)).expect("a valid policy")
}

/// Whether every need of the request is allowed, and the first refused action.
fn decide(
    method: Method,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    auth: AuthType,
) -> Result<(), String> {
    let target = Addressing::new(None)
        .locate("127.0.0.1:9000", path)
        .unwrap();
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let operation = classify(&method, &target, query, &map).map_err(|e| e.code().to_owned())?;
    let needs: Vec<Need> = operation.needs().to_vec();
    assert!(!needs.is_empty());
    let policy = policy();
    for mut need in needs {
        for (key, value) in auth_context("AWS4-HMAC-SHA256", auth, Some(10)) {
            need.context.insert(key, value);
        }
        let request = Request {
            principal: None,
            action: &need.action,
            resource: Some(&need.resource),
            context: &need.context,
        };
        if policy.evaluate(&request) != Decision::Allow {
            return Err(need.action);
        }
    }
    Ok(())
}

const HEADER: AuthType = AuthType::Header;

#[test]
fn the_home_folder_is_readable_and_listable() {
    assert_eq!(
        decide(Method::HEAD, "/bkt/home/alice/a.txt", "", &[], HEADER),
        Ok(()),
        "HeadObject is s3:GetObject"
    );
    assert_eq!(
        decide(
            Method::GET,
            "/bkt/home/alice/a%20b.txt",
            "x-id=GetObject",
            &[],
            HEADER
        ),
        Ok(())
    );
    assert_eq!(
        decide(
            Method::GET,
            "/bkt",
            "list-type=2&prefix=home%2Falice%2F&delimiter=%2F",
            &[],
            HEADER
        ),
        Ok(())
    );
    assert_eq!(
        decide(Method::GET, "/bkt", "list-type=2&prefix=", &[], HEADER),
        Ok(())
    );
    assert_eq!(
        decide(Method::HEAD, "/bkt/home/bob/a.txt", "", &[], HEADER),
        Err("s3:GetObject".into())
    );
    assert_eq!(
        decide(
            Method::GET,
            "/bkt",
            "list-type=2&prefix=home%2Fbob%2F",
            &[],
            HEADER
        ),
        Err("s3:ListBucket".into())
    );
    assert_eq!(
        decide(Method::GET, "/bkt", "list-type=2", &[], HEADER),
        Err("s3:ListBucket".into()),
        "no prefix: the key is absent"
    );
    assert_eq!(
        decide(
            Method::GET,
            "/bkt/home/alice/a.txt",
            "versionId=v1",
            &[],
            HEADER
        ),
        Err("s3:GetObjectVersion".into())
    );
}

#[test]
fn writes_need_every_action_and_pass_the_denies() {
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/new",
            "",
            &[("x-amz-tagging", "team=web")],
            HEADER
        ),
        Ok(())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/new",
            "",
            &[("x-amz-tagging", "team=web&cost=1")],
            HEADER
        ),
        Err("s3:PutObjectTagging".into())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/new",
            "",
            &[("x-amz-server-side-encryption", "none")],
            HEADER
        ),
        Err("s3:PutObject".into())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/new",
            "",
            &[("x-amz-acl", "public-read")],
            HEADER
        ),
        Err("s3:PutObjectAcl".into())
    );
    assert_eq!(
        decide(Method::POST, "/bkt/home/alice/big", "uploads", &[], HEADER),
        Ok(())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/big",
            "partNumber=2&uploadId=u",
            &[],
            HEADER
        ),
        Ok(())
    );
    assert_eq!(
        decide(
            Method::DELETE,
            "/bkt/home/alice/big",
            "uploadId=u",
            &[],
            HEADER
        ),
        Err("s3:AbortMultipartUpload".into())
    );
    assert_eq!(
        decide(Method::DELETE, "/bkt/home/alice/a", "", &[], HEADER),
        Err("s3:DeleteObject".into())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/a",
            "",
            &[],
            AuthType::QueryString
        ),
        Err("s3:PutObject".into())
    );
}

#[test]
fn a_copy_needs_its_source() {
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/copy",
            "",
            &[("x-amz-copy-source", "/shared/report%202026.pdf")],
            HEADER
        ),
        Ok(())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/copy",
            "",
            &[("x-amz-copy-source", "bkt/home/bob/secret")],
            HEADER
        ),
        Err("s3:GetObject".into())
    );
    assert_eq!(
        decide(
            Method::PUT,
            "/bkt/home/alice/copy",
            "",
            &[("x-amz-copy-source", "shared/a?versionId=1")],
            HEADER
        ),
        Err("s3:GetObjectVersion".into())
    );
}

#[test]
fn delete_objects_is_decided_per_key() {
    let target = Addressing::new(None).locate("h", "/bkt").unwrap();
    let operation = classify(&Method::POST, &target, "delete", &HeaderMap::new()).unwrap();
    let body = b"<Delete><Object><Key>home/alice/a</Key></Object><Object><Key>home/bob/b</Key></Object></Delete>";
    let needs = operation.needs_with_body(body).unwrap();
    let delete = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::bkt/home/alice/*"}]}"#,
        &ParseOptions::new(PolicyKind::Identity),
    )
    .unwrap();
    let decisions: Vec<(String, Decision)> = needs
        .iter()
        .map(|n| {
            let request = Request {
                principal: None,
                action: &n.action,
                resource: Some(&n.resource),
                context: &n.context,
            };
            (n.resource.clone(), delete.evaluate(&request))
        })
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("arn:aws:s3:::bkt/home/alice/a".to_owned(), Decision::Allow),
            (
                "arn:aws:s3:::bkt/home/bob/b".to_owned(),
                Decision::ImplicitDeny
            ),
        ]
    );
}
