//! The STS operations in process, through every success and error path: real ID tokens from a
//! real RSA key, real SigV4 signatures, the compiled state the server serves from.

mod common;

use common::*;
use keyless_oidc::issuer::{MintRequest, SigningKey, mint};
use keyless_sts::state::StsOptions;
use keyless_sts::{Error, Refused, response};

/// The wire code, status and message of an error.
fn wire(error: &Error) -> (&'static str, u16, String) {
    (error.code(), error.status(), error.message().into_owned())
}

fn refused(result: Result<impl std::fmt::Debug, Error>) -> Error {
    result.expect_err("the call is refused")
}

#[test]
fn an_exchange_mints_credentials_that_authenticate() {
    let fx = Fixture::new();
    let token = fx.token(PROJECT, "main");
    let grant = fx
        .exchange(&fx.exchange_body(DEPLOYER, &token, &[("DurationSeconds", "900")]))
        .expect("allowed");
    assert_eq!(grant.provider_arn, PROVIDER_ARN);
    assert_eq!(grant.audience, AUDIENCE);
    assert_eq!(
        grant.subject,
        "project_path:example/project:ref_type:branch:ref:main"
    );
    assert_eq!(
        grant.statement.as_deref(),
        Some("statement Exchange (/Statement/0)")
    );
    let m = &grant.minted;
    assert!(m.access_key_id.starts_with("ASIA") && m.access_key_id.len() == 20);
    assert_eq!(m.secret_access_key.len(), 40);
    assert_eq!(m.expires_at, NOW + 900);
    assert_eq!(
        m.assumed_role_arn,
        "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/gitlab-job-4000000"
    );

    let xml = response::web_identity(&grant, "req-1");
    for element in [
        "<Audience>https://gitlab.com</Audience>",
        "<Provider>arn:aws:iam::000000000000:oidc-provider/gitlab.com</Provider>",
        "<SubjectFromWebIdentityToken>project_path:example/project:ref_type:branch:ref:main</SubjectFromWebIdentityToken>",
        &format!("<AccessKeyId>{}</AccessKeyId>", m.access_key_id),
        "<Expiration>2026-11-25T19:45:00Z</Expiration>",
        "<RequestId>req-1</RequestId>",
    ] {
        assert!(xml.contains(element), "{element} in {xml}");
    }
    assert!(!xml.contains("PackedPolicySize"));

    // The credentials sign a GetCallerIdentity that any replica verifies without a lookup.
    let creds = Credentials::of(m);
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let headers = fx.signed_headers(&creds, "sts", body, NOW + 60);
    let caller = fx
        .authenticate(&headers, body, "sts", NOW + 60)
        .expect("signed");
    let xml = response::caller_identity(&caller, "req-2");
    assert!(xml.contains(&format!("<Arn>{}</Arn>", m.assumed_role_arn)));
    assert!(xml.contains(&format!("<UserId>{}</UserId>", m.assumed_role_id)));
    assert!(xml.contains("<Account>000000000000</Account>"));
}

#[test]
fn every_parameter_violation_is_reported_at_once() {
    let fx = Fixture::new();
    let error = refused(
        fx.exchange(b"Action=AssumeRoleWithWebIdentity&RoleSessionName=a%2Fb&DurationSeconds=60"),
    );
    let (code, status, message) = wire(&error);
    assert_eq!((code, status), ("ValidationError", 400));
    assert_eq!(
        message,
        "4 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; \
         Value 'a/b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; \
         Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null; \
         Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    );
}

#[test]
fn request_shape_errors() {
    let fx = Fixture::new();
    let token = fx.token(PROJECT, "main");
    let repeated = [
        fx.exchange_body(DEPLOYER, &token, &[]),
        b"&RoleSessionName=x".to_vec(),
    ]
    .concat();
    assert_eq!(
        wire(&refused(fx.exchange(&repeated))),
        (
            "MalformedQueryString",
            400,
            "The parameter RoleSessionName appears more than once in the request.".to_owned()
        )
    );
    let provider_id = fx.exchange_body(DEPLOYER, &token, &[("ProviderId", "www.amazon.com")]);
    assert_eq!(refused(fx.exchange(&provider_id)).code(), "ValidationError");
    let bad_arn = fx.exchange_body(DEPLOYER, &token, &[]);
    let bad_arn = String::from_utf8(bad_arn).unwrap().replace(
        "arn%3Aaws%3Aiam%3A%3A000000000000%3Arole",
        "arn%3Aaws%3Aiam%3A%3A0%3Arole",
    );
    assert_eq!(
        wire(&refused(fx.exchange(bad_arn.as_bytes()))),
        ("ValidationError", 400, "Request ARN is invalid".to_owned())
    );
}

#[test]
fn token_errors_carry_their_own_codes() {
    let fx = Fixture::new();
    let body = |token: &str| fx.exchange_body(DEPLOYER, token, &[]);
    let not_a_jwt = refused(fx.exchange(&body("not-a-token")));
    assert_eq!(
        (not_a_jwt.code(), not_a_jwt.status()),
        ("InvalidIdentityToken", 400)
    );

    let other_issuer = mint(
        &fx.issuer_key,
        &MintRequest::gitlab("https://gitlab.internal.example", PROJECT, "main")
            .with_audience(AUDIENCE)
            .with_now(NOW - 5),
    )
    .unwrap();
    assert_eq!(
        wire(&refused(fx.exchange(&body(&other_issuer)))),
        (
            "InvalidIdentityToken",
            400,
            "No OpenIDConnect provider found in your account for https://gitlab.internal.example"
                .to_owned()
        )
    );

    let wrong_audience = fx.token_with(PROJECT, "main", |r| {
        let mut r = r;
        r.audiences = vec!["sts.amazonaws.com".to_owned()];
        r
    });
    assert_eq!(
        wire(&refused(fx.exchange(&body(&wrong_audience)))),
        (
            "InvalidIdentityToken",
            400,
            "Incorrect token audience".to_owned()
        )
    );

    let token = fx.token(PROJECT, "main");
    let expired = refused(fx.exchange_at(&body(&token), NOW + 4 * 3600));
    assert_eq!(
        (expired.code(), expired.status()),
        ("ExpiredTokenException", 400)
    );

    // Signed by a key the provider does not publish, under the same kid.
    let forged = {
        let stranger = SigningKey::generate().unwrap();
        let good: Vec<&str> = token.split('.').collect();
        let other = mint(
            &stranger,
            &MintRequest::gitlab(ISSUER, PROJECT, "main")
                .with_audience(AUDIENCE)
                .with_now(NOW - 5),
        )
        .unwrap();
        let bad: Vec<&str> = other.split('.').collect();
        format!("{}.{}.{}", good[0], good[1], bad[2])
    };
    assert_eq!(
        refused(fx.exchange(&body(&forged))).code(),
        "InvalidIdentityToken"
    );
}

#[test]
fn trust_denials_are_opaque_and_keep_their_reason() {
    let fx = Fixture::new();
    let token = fx.token(PROJECT, "main");
    let error = refused(fx.exchange(&fx.exchange_body(CLOSED, &token, &[])));
    assert_eq!(
        wire(&error),
        (
            "AccessDenied",
            403,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned()
        )
    );
    let denial = error.denial().expect("a denial");
    assert_eq!(
        denial.statement.as_deref(),
        Some("statement Exchange (/Statement/0)")
    );
    assert_eq!(
        denial.reason,
        "statement Exchange (/Statement/0): StringLike gitlab.com:sub: the policy wants one of \
         [\"project_path:other/project:*\", \"project_path:example/proj:*\"] and the request has \
         project_path:example/project:ref_type:branch:ref:main (closest: project_path:example/proj:*, \
         which agrees up to \"project_path:example/proj\")"
    );

    let denied = refused(fx.exchange(&fx.exchange_body(NO_MAIN, &token, &[])));
    let denial = denied.denial().unwrap();
    assert_eq!(
        denial.reason,
        "sts:AssumeRoleWithWebIdentity is explicitly denied by statement NoMain (/Statement/1)"
    );
    let feature = fx.token(PROJECT, "feature");
    assert!(
        fx.exchange(&fx.exchange_body(NO_MAIN, &feature, &[]))
            .is_ok()
    );

    let missing = refused(fx.exchange(&fx.exchange_body("nobody", &token, &[])));
    assert_eq!(missing.code(), "AccessDenied");
    assert_eq!(
        missing.reason(),
        "the role arn:aws:iam::000000000000:role/nobody does not exist"
    );
}

#[test]
fn debugged_denials_show_the_reason() {
    let fx = Fixture::with_options(StsOptions {
        debug_denials: true,
        ..StsOptions::default()
    });
    let token = fx.token("other/project", "main");
    let error = refused(fx.exchange(&fx.exchange_body(DEPLOYER, &token, &[])));
    assert!(
        error.message().starts_with(
            "Not authorized to perform sts:AssumeRoleWithWebIdentity: statement Exchange (/Statement/0): StringLike gitlab.com:sub"
        ),
        "{}",
        error.message()
    );
}

#[test]
fn session_tags_need_tag_session_and_the_refusal_names_it() {
    let fx = Fixture::new();
    let tagged = fx.token_with(PROJECT, "main", |r| {
        r.with_claim(
            "https://aws.amazon.com/tags",
            serde_json::json!({"principal_tags": {"team": ["platform"]}, "transitive_tag_keys": ["team"]}),
        )
    });
    let error = refused(fx.exchange(&fx.exchange_body(DEPLOYER, &tagged, &[])));
    assert_eq!(error.message(), "Not authorized to perform sts:TagSession");
    assert_eq!(
        error.reason(),
        "no Allow statement covers the action sts:TagSession"
    );
    let grant = fx
        .exchange(&fx.exchange_body(TAGGED, &tagged, &[]))
        .expect("the tagged role allows sts:TagSession");
    // The transitive tag rides in the session and becomes a principal tag of chained calls.
    let creds = Credentials::of(&grant.minted);
    let body = b"Action=GetCallerIdentity";
    let headers = fx.signed_headers(&creds, "sts", body, NOW);
    let keyless_sts::auth::Caller::Session(claims) =
        fx.authenticate(&headers, body, "sts", NOW).unwrap()
    else {
        panic!("a session");
    };
    assert_eq!(
        claims.transitive_tags,
        vec![("team".to_owned(), "platform".to_owned())]
    );

    let malformed = fx.token_with(PROJECT, "main", |r| {
        r.with_claim(
            "https://aws.amazon.com/tags",
            serde_json::json!("team=platform"),
        )
    });
    let error = refused(fx.exchange(&fx.exchange_body(TAGGED, &malformed, &[])));
    assert_eq!(
        wire(&error),
        (
            "InvalidIdentityToken",
            400,
            "The https://aws.amazon.com/tags claim is malformed: it must be an object".to_owned()
        )
    );
}

#[test]
fn durations_and_session_policies_are_checked_after_the_trust_decision() {
    let fx = Fixture::new();
    let token = fx.token(PROJECT, "main");
    let too_long =
        refused(fx.exchange(&fx.exchange_body(DEPLOYER, &token, &[("DurationSeconds", "7200")])));
    assert_eq!(
        wire(&too_long),
        (
            "ValidationError",
            400,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_owned()
        )
    );
    let bad_policy = refused(fx.exchange(&fx.exchange_body(
        DEPLOYER,
        &token,
        &[(
            "Policy",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
        )],
    )));
    assert_eq!(bad_policy.code(), "MalformedPolicyDocument");
    let unknown_arn = refused(fx.exchange(&fx.exchange_body(
        DEPLOYER,
        &token,
        &[(
            "PolicyArns.member.1.arn",
            "arn:aws:iam::000000000000:policy/none",
        )],
    )));
    assert_eq!(
        wire(&unknown_arn),
        (
            "MalformedPolicyDocument",
            400,
            "Policy arn:aws:iam::000000000000:policy/none does not exist or is not attachable."
                .to_owned()
        )
    );
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:*","Resource":"*"}}]}}"#,
        "A".repeat(1950)
    );
    let too_large = refused(fx.exchange(&fx.exchange_body(
        DEPLOYER,
        &token,
        &[
            ("Policy", &big),
            ("PolicyArns.member.1.arn", READ_OBJECTS_ARN),
        ],
    )));
    assert_eq!(too_large.code(), "PackedPolicyTooLarge");
    let small = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let grant = fx
        .exchange(&fx.exchange_body(DEPLOYER, &token, &[("Policy", small)]))
        .expect("allowed");
    assert_eq!(grant.minted.packed_policy_size, Some(5));
    assert!(response::web_identity(&grant, "r").contains("<PackedPolicySize>5</PackedPolicySize>"));
}

#[test]
fn chained_assume_role_follows_the_two_sided_rule() {
    let fx = Fixture::new();
    let session = fx.deployer_session();
    let named = |extra: &[(&str, &str)]| {
        let arn = role_arn(NAMED);
        let mut params = vec![("RoleArn", arn.as_str()), ("RoleSessionName", "chained")];
        params.extend_from_slice(extra);
        fx.assume_role(&session, &params)
    };
    let grant = named(&[]).expect("the named role trusts the deployer role");
    assert_eq!(
        grant.minted.assumed_role_arn,
        "arn:aws:sts::000000000000:assumed-role/named/chained"
    );
    assert_eq!(
        grant.statement.as_deref(),
        Some("statement Deployer (/Statement/0)")
    );
    assert!(response::assume_role(&grant, "r").contains("<AssumedRoleUser>"));

    // Tags need sts:TagSession, and the refusal names that action, as AWS's does.
    let error = refused(named(&[
        ("Tags.member.1.Key", "team"),
        ("Tags.member.1.Value", "x"),
    ]));
    let (code, status, message) = wire(&error);
    assert_eq!((code, status), ("AccessDenied", 403));
    assert_eq!(
        message,
        "User: arn:aws:sts::000000000000:assumed-role/gitlab-deployer/gitlab-job-4000000 is not \
         authorized to perform: sts:TagSession on resource: arn:aws:iam::000000000000:role/named"
    );
    let error = refused(named(&[("SourceIdentity", "someone")]));
    assert!(
        error
            .message()
            .contains("perform: sts:SetSourceIdentity on resource")
    );

    let error = refused(named(&[("DurationSeconds", "7200")]));
    assert_eq!(
        error.message(),
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    );
    let error = refused(named(&[(
        "SerialNumber",
        "arn:aws:iam::000000000000:mfa/x",
    )]));
    assert_eq!(error.code(), "InvalidParameterValue");

    // A trust in the whole account delegates to the caller's own permissions, which the
    // deployer's read-only policy does not grant.
    let wide = role_arn(ACCOUNT_WIDE);
    let error = refused(fx.assume_role(&session, &[("RoleArn", &wide), ("RoleSessionName", "cc")]));
    assert!(
        error
            .reason()
            .starts_with("the trust policy trusts the account"),
        "{}",
        error.reason()
    );

    // The admin key is the account's root, which the account-wide trust admits.
    let admin = fx.admin();
    assert!(
        fx.assume_role(&admin, &[("RoleArn", &wide), ("RoleSessionName", "cc")])
            .is_ok()
    );
    let error = refused(fx.assume_role(
        &admin,
        &[("RoleArn", &role_arn(NAMED)), ("RoleSessionName", "cc")],
    ));
    assert_eq!(
        error.reason(),
        "no Allow statement names the principal AWS:arn:aws:iam::000000000000:root"
    );
    assert!(matches!(
        error.denial().map(|d| &d.refused),
        Some(Refused::Caller { action, .. }) if action == "sts:AssumeRole"
    ));
}

#[test]
fn signature_errors() {
    let fx = Fixture::new();
    let session = fx.deployer_session();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let signed = |creds: &Credentials, at: i64| fx.signed_headers(creds, "sts", body, at);

    let mut wrong_secret = session.clone();
    wrong_secret.secret_access_key = "x".repeat(40);
    let error = refused(fx.authenticate(&signed(&wrong_secret, NOW), body, "sts", NOW));
    assert_eq!(
        (error.code(), error.status()),
        ("SignatureDoesNotMatch", 403)
    );

    let mut tampered = session.clone();
    let token = tampered.session_token.as_mut().unwrap();
    let flipped = if token.ends_with('A') { 'B' } else { 'A' };
    token.pop();
    token.push(flipped);
    let error = refused(fx.authenticate(&signed(&tampered, NOW), body, "sts", NOW));
    assert_eq!(
        (error.code(), error.status()),
        ("InvalidClientTokenId", 403)
    );

    let mut no_token = session.clone();
    no_token.session_token = None;
    let error = refused(fx.authenticate(&signed(&no_token, NOW), body, "sts", NOW));
    assert_eq!(error.code(), "InvalidClientTokenId");

    let later = NOW + 2 * 3600;
    let error = refused(fx.authenticate(&signed(&session, later), body, "sts", later));
    assert_eq!(
        wire(&error),
        (
            "ExpiredToken",
            403,
            "The security token included in the request is expired".to_owned()
        )
    );

    let error = refused(fx.authenticate(&signed(&session, NOW - 3600), body, "sts", NOW));
    assert!(
        error.message().starts_with("Signature expired: "),
        "{}",
        error.message()
    );

    let error = refused(fx.authenticate(&signed(&session, NOW), body, "iam", NOW));
    assert_eq!(error.code(), "SignatureDoesNotMatch");
    assert!(
        error
            .message()
            .contains("Credential should be scoped to correct service: 'iam'.")
    );

    let unsigned = http::HeaderMap::new();
    let error = refused(fx.authenticate(&unsigned, body, "sts", NOW));
    assert_eq!(error.code(), "MissingAuthenticationToken");

    let admin = fx
        .authenticate(&signed(&fx.admin(), NOW), body, "sts", NOW)
        .unwrap();
    let xml = response::caller_identity(&admin, "r");
    assert!(xml.contains("<Arn>arn:aws:iam::000000000000:root</Arn>"));
    assert!(xml.contains("<UserId>000000000000</UserId>"));
}

/// The caller a session's credentials authenticate as.
fn caller_of(fx: &Fixture, creds: &Credentials) -> keyless_sts::auth::Caller {
    let body = b"Action=GetCallerIdentity";
    let headers = fx.signed_headers(creds, "sts", body, NOW);
    fx.authenticate(&headers, body, "sts", NOW)
        .expect("the session authenticates")
}

fn decide_for(
    fx: &Fixture,
    caller: &keyless_sts::auth::Caller,
    state: &keyless_sts::state::StsState,
    action: &str,
    resource: &str,
) -> keyless_sts::permissions::Authorization {
    keyless_sts::permissions::decide(
        state,
        caller,
        keyless_sts::permissions::PermissionQuery {
            action,
            resource,
            context: keyless_policy::Context::new(),
            env: &fx.env,
            now: NOW,
            trace: false,
        },
    )
}

#[test]
fn a_web_identity_session_carries_its_provider_keys_into_its_permissions() {
    use keyless_credentials::session::SessionKeyValue;
    use keyless_sts::model::RolePolicy;
    use keyless_sts::state::{RoleInput, StateUpdate};

    let mut fx = Fixture::new();
    let tagged = fx.token_with(PROJECT, "main", |r| {
        r.with_claim(
            "https://aws.amazon.com/tags",
            serde_json::json!({"principal_tags": {"team": ["platform"], "tier": ["prod"]},
                               "transitive_tag_keys": ["team"]}),
        )
    });
    let grant = fx
        .exchange(&fx.exchange_body(TAGGED, &tagged, &[]))
        .expect("the tagged role allows sts:TagSession");
    let caller = caller_of(&fx, &Credentials::of(&grant.minted));
    let keyless_sts::auth::Caller::Session(claims) = &caller else {
        panic!("a session");
    };
    // Every tag is a principal tag; only the transitive one is carried on.
    assert_eq!(claims.tags.len(), 2);
    assert_eq!(
        claims.transitive_tags,
        [("team".to_owned(), "platform".to_owned())]
    );
    // The provider keys AWS keeps come first, then (in `all` mode) every other claim.
    let keys: Vec<&str> = claims
        .web_identity_keys
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(&keys[..2], ["gitlab.com:sub", "gitlab.com:aud"]);
    assert!(keys.contains(&"gitlab.com:project_path"), "{keys:?}");
    assert_eq!(
        claims.web_identity_keys[1].1,
        SessionKeyValue::One(AUDIENCE.to_owned())
    );

    // A permission policy with the session's own `sub` in its resource, and conditions on its
    // tags and its provider.
    let role = fx.state.roles[TAGGED].model.clone();
    let policy = RolePolicy {
        role_name: TAGGED.to_owned(),
        policy_name: "own-prefix".to_owned(),
        document: format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::artifacts/${{gitlab.com:sub}}/*",
              "Condition":{{"StringEquals":{{"aws:PrincipalTag/tier":"prod","aws:FederatedProvider":"{PROVIDER_ARN}"}}}}}},
            {{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"*"}}]}}"#
        ),
    };
    let state = fx.state.apply(StateUpdate {
        roles: vec![(
            TAGGED,
            Some(RoleInput {
                role: &role,
                policies: std::slice::from_ref(&policy),
                attachments: &[],
            }),
        )],
        ..StateUpdate::default()
    });
    let own =
        format!("arn:aws:s3:::artifacts/project_path:{PROJECT}:ref_type:branch:ref:main/build.tar");
    let other =
        "arn:aws:s3:::artifacts/project_path:other/project:ref_type:branch:ref:main/build.tar";
    let allowed = decide_for(&fx, &caller, &state, "s3:PutObject", &own);
    assert!(allowed.decision.allowed(), "{}", allowed.decision.reason);
    let denied = decide_for(&fx, &caller, &state, "s3:PutObject", other);
    assert!(!denied.decision.allowed());

    // A chained session keeps the transitive tag, not the provider's keys, so the same
    // policy does not allow it.
    fx.state = state;
    let chained = fx
        .assume_role(
            &Credentials::of(&grant.minted),
            &[
                ("RoleArn", &role_arn(ACCOUNT_WIDE)),
                ("RoleSessionName", "chained"),
            ],
        )
        .expect("the tagged session may assume the account-wide role");
    let chained = caller_of(&fx, &Credentials::of(&chained.minted));
    let keyless_sts::auth::Caller::Session(claims) = &chained else {
        panic!("a session");
    };
    assert_eq!(claims.tags, [("team".to_owned(), "platform".to_owned())]);
    assert!(claims.web_identity_keys.is_empty());
    let context = decide_for(&fx, &chained, &fx.state, "s3:PutObject", &own).context;
    assert!(context.get("aws:FederatedProvider").is_none());
    assert!(context.get("gitlab.com:sub").is_none());
    assert!(context.get("aws:PrincipalTag/team").is_some());
}

#[test]
fn the_provider_keys_of_a_session_are_bounded_and_follow_the_condition_key_mode() {
    use keyless_sts::model::ConditionKeyMode;
    use keyless_sts::state::StateUpdate;
    use keyless_sts::web_identity::MAX_SESSION_KEY_BYTES;

    let mut fx = Fixture::new();
    let big = "x".repeat(MAX_SESSION_KEY_BYTES);
    let token = fx.token_with(PROJECT, "main", |r| {
        r.with_claim("big_claim", serde_json::json!(big))
            .with_claim("amr", serde_json::json!(["mfa", "pwd"]))
    });
    let session = |fx: &Fixture| {
        let grant = fx
            .exchange(&fx.exchange_body(DEPLOYER, &token, &[]))
            .expect("the deployer exchange is allowed");
        let keyless_sts::auth::Caller::Session(claims) =
            caller_of(fx, &Credentials::of(&grant.minted))
        else {
            panic!("a session");
        };
        claims.web_identity_keys.clone()
    };
    let keys = session(&fx);
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        &names[..3],
        ["gitlab.com:sub", "gitlab.com:aud", "gitlab.com:amr"]
    );
    assert!(!names.contains(&"gitlab.com:big_claim"), "over the budget");
    assert!(names.contains(&"gitlab.com:project_path"));
    let bytes: usize = keys.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(bytes <= MAX_SESSION_KEY_BYTES);

    // In `aws` mode the session keeps only the keys AWS keeps.
    let mut provider = fx.state.providers_by_issuer[ISSUER].model.clone();
    provider.condition_keys = ConditionKeyMode::Aws;
    fx.state = fx.state.apply(StateUpdate {
        providers: vec![(ISSUER, Some(&provider))],
        ..StateUpdate::default()
    });
    let keys = session(&fx);
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["gitlab.com:sub", "gitlab.com:aud", "gitlab.com:amr"]
    );
}

#[test]
fn refusals_outside_the_exchange_carry_a_message_only_the_account_decodes() {
    use keyless_sts::authorization_message::{self, DecodeParams, MESSAGE_LIFETIME_SECS};
    use keyless_sts::permissions::PermissionQuery;

    let fx = Fixture::new();
    let session = caller_of(&fx, &fx.deployer_session());
    let query = PermissionQuery {
        action: "iam:CreateRole",
        resource: "arn:aws:iam::000000000000:role/new",
        context: keyless_policy::Context::new(),
        env: &fx.env,
        now: NOW,
        trace: false,
    };
    assert!(
        authorization_message::authorize(
            &fx.state,
            &session,
            PermissionQuery {
                action: "iam:GetRole",
                ..query.clone()
            }
        )
        .is_ok()
    );
    let refused = authorization_message::authorize(&fx.state, &session, query).unwrap_err();
    let message = refused.message().into_owned();
    let (head, encoded) = message
        .split_once(". Encoded authorization failure message: ")
        .expect("the message carries the encoded reason");
    assert_eq!(
        head,
        "User: arn:aws:sts::000000000000:assumed-role/gitlab-deployer/gitlab-job-4000000 is not \
         authorized to perform: iam:CreateRole on resource: arn:aws:iam::000000000000:role/new \
         because no identity-based policy allows the iam:CreateRole action"
    );
    assert!(encoded.len() <= authorization_message::MAX_ENCODED_LEN);
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert!(!encoded.contains("CreateRole"), "the message is opaque");

    let admin = fx
        .authenticate(
            &fx.signed_headers(&fx.admin(), "sts", b"x", NOW),
            b"x",
            "sts",
            NOW,
        )
        .expect("the admin key authenticates");
    let decode = |state: &keyless_sts::state::StsState, caller, encoded: &str, now| {
        authorization_message::decode(
            state,
            caller,
            &DecodeParams {
                encoded_message: encoded.to_owned(),
            },
            now,
            &fx.env,
            "request-1",
        )
    };
    let xml = decode(&fx.state, &admin, encoded, NOW + 60).expect("the admin may decode");
    let json = xml
        .split_once("<DecodedMessage>")
        .and_then(|(_, rest)| rest.split_once("</DecodedMessage>"))
        .map(|(json, _)| json.replace("&quot;", "\"").replace("&amp;", "&"))
        .expect("a DecodedMessage element");
    let decoded: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(decoded["allowed"], false);
    assert_eq!(decoded["explicitDeny"], false);
    assert_eq!(decoded["matchedStatements"]["items"], serde_json::json!([]));
    assert_eq!(decoded["context"]["action"], "iam:CreateRole");
    assert_eq!(
        decoded["context"]["principal"]["arn"],
        "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/gitlab-job-4000000"
    );
    let keys: Vec<&str> = decoded["context"]["conditions"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"aws:SourceIp") && keys.contains(&"gitlab.com:sub"));
    assert_eq!(
        decoded["explanation"]["refusedBy"],
        "because no identity-based policy allows the iam:CreateRole action"
    );
    assert_eq!(
        decoded["explanation"]["policies"][0]["statements"][0]["action"], false,
        "the read-only statement does not cover iam:CreateRole"
    );

    // The deployer's permissions do not include sts:DecodeAuthorizationMessage.
    let error = decode(&fx.state, &session, encoded, NOW + 60).unwrap_err();
    assert_eq!(error.code(), "AccessDenied");
    // Altered, expired, broken by a line break, or decoded in another account: refused alike.
    let mut altered = encoded.to_owned();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let broken = format!("{}\n{}", &encoded[..40], &encoded[40..]);
    let mut elsewhere = fx.state.clone();
    elsewhere.account = "111122223333".to_owned();
    let foreign = fx
        .authenticate(
            &fx.signed_headers(&fx.admin(), "sts", b"x", NOW),
            b"x",
            "sts",
            NOW,
        )
        .map(|_| keyless_sts::auth::Caller::Admin {
            access_key_id: ADMIN_KEY_ID.to_owned(),
            account: "111122223333".to_owned(),
        })
        .unwrap();
    for (state, caller, message, now) in [
        (&fx.state, &admin, altered.as_str(), NOW),
        (&fx.state, &admin, encoded, NOW + MESSAGE_LIFETIME_SECS),
        (&fx.state, &admin, broken.as_str(), NOW),
        (&elsewhere, &foreign, encoded, NOW),
    ] {
        let error = decode(state, caller, message, now).unwrap_err();
        assert_eq!(
            (error.code(), error.status()),
            ("InvalidAuthorizationMessageException", 400)
        );
    }
}

#[test]
fn a_session_of_a_bounded_role_is_refused_what_its_boundary_does_not_allow() {
    use keyless_sts::model::{ManagedBy, ManagedPolicy, PolicyVersion};
    use keyless_sts::state::{RoleInput, StateUpdate};

    let mut fx = Fixture::new();
    let boundary_arn = format!("arn:aws:iam::{ACCOUNT}:policy/get-only");
    let boundary = |document: &str| ManagedPolicy {
        name: "get-only".to_owned(),
        path: "/".to_owned(),
        policy_id: "ANPABBBBBBBBBBBBBBBBB".to_owned(),
        description: None,
        versions: vec![PolicyVersion {
            version_id: "v1".to_owned(),
            document: document.to_owned(),
            is_default: true,
            created: NOW,
        }],
        tags: Vec::new(),
        created: NOW,
        updated: NOW,
        managed_by: ManagedBy::Api,
    };
    let get_only = boundary(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","sts:GetCallerIdentity"],"Resource":"*"}]}"#,
    );
    let mut role = fx.state.roles[DEPLOYER].model.clone();
    role.permissions_boundary = Some(boundary_arn.clone());
    let inline = keyless_sts::model::RolePolicy {
        role_name: DEPLOYER.to_owned(),
        policy_name: "read-only".to_owned(),
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Action":["sts:GetCallerIdentity","iam:Get*","iam:List*"],"Resource":"*"}]}"#
            .to_owned(),
    };
    fx.state = fx.state.apply(StateUpdate {
        roles: vec![(
            DEPLOYER,
            Some(RoleInput {
                role: &role,
                policies: std::slice::from_ref(&inline),
                attachments: &[],
            }),
        )],
        managed_policies: vec![("get-only", Some(&get_only))],
        ..StateUpdate::default()
    });

    // The boundary does not limit the exchange: the trust policy decides that.
    let caller = caller_of(&fx, &fx.deployer_session());
    let role_resource = role_arn(DEPLOYER);
    let allowed = decide_for(&fx, &caller, &fx.state, "iam:GetRole", &role_resource);
    assert!(allowed.decision.allowed(), "{}", allowed.decision.reason);
    let authorize = |state: &keyless_sts::state::StsState, action: &str| {
        keyless_sts::permissions::authorize(
            state,
            &caller,
            action,
            "*",
            keyless_policy::Context::new(),
            NOW,
            &fx.env,
        )
    };
    let (code, status, message) = wire(&refused(authorize(&fx.state, "iam:ListRoles")));
    assert_eq!((code, status), ("AccessDenied", 403));
    assert!(
        message.ends_with(" because no permissions boundary allows the iam:ListRoles action"),
        "{message}"
    );

    // A new default version of the boundary reaches the role without touching it.
    let widened = boundary(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#,
    );
    let state = fx.state.apply(StateUpdate {
        managed_policies: vec![("get-only", Some(&widened))],
        ..StateUpdate::default()
    });
    assert!(authorize(&state, "iam:ListRoles").is_ok());

    // A boundary that is gone allows nothing.
    let state = fx.state.apply(StateUpdate {
        managed_policies: vec![("get-only", None)],
        ..StateUpdate::default()
    });
    assert!(authorize(&state, "iam:GetRole").is_err());
    assert!(
        !decide_for(&fx, &caller, &state, "iam:GetRole", &role_resource)
            .decision
            .allowed()
    );
}
