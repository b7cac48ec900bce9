//! `GetWebIdentityToken` in process, through every success and error path: real sessions from
//! real exchanges, real SigV4 signatures, tokens verified with the JWKS the keyring publishes.

mod common;
mod outbound;

use common::{ACCOUNT, AUDIENCE, NOW, PROJECT, PROVIDER_ARN, role_arn};
use keyless_oidc::outbound::{OutboundKey, OutboundKeyring, SigningAlgorithm};
use keyless_sts::Error;
use keyless_sts::web_identity_token;
use outbound::{ISSUER_URL, VENDOR, setup};

fn audience(a: &str) -> (&str, &str) {
    ("Audience.member.1", a)
}

#[test]
fn both_algorithms_issue_tokens_in_aws_claim_layout() {
    let t = setup();
    let creds = t.session(VENDOR);
    for (algorithm, kid) in [("RS256", "RSA_0"), ("ES384", "EC384_0")] {
        let issued = t
            .call(
                &creds,
                &[
                    audience("sts.amazonaws.com"),
                    ("SigningAlgorithm", algorithm),
                    ("DurationSeconds", "900"),
                    ("Tags.member.1.Key", "team"),
                    ("Tags.member.1.Value", "ci"),
                ],
            )
            .expect("the vendor may get a token");
        assert_eq!(issued.kid, kid);
        assert_eq!(issued.expires_at, NOW + 900);
        let (header, claims) = t.verified_claims(&issued.token);
        assert_eq!(header.kid.as_deref(), Some(kid));
        assert_eq!(claims["iss"], ISSUER_URL);
        assert_eq!(claims["aud"], "sts.amazonaws.com");
        let vendor_arn = "arn:aws:iam::000000000000:role/token-vendor";
        assert_eq!(claims["sub"], vendor_arn);
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + 900);
        assert_eq!(claims["jti"], issued.jti.as_str());
        assert!(claims.get("nbf").is_none() && claims.get("subject_mode").is_none());
        let ns = &claims["https://sts.amazonaws.com/"];
        assert_eq!(ns["aws_account"], ACCOUNT);
        assert_eq!(ns["source_region"], "eu-west-1");
        assert_eq!(ns["principal_id"], vendor_arn);
        assert_eq!(ns["request_tags"], serde_json::json!({"team": "ci"}));
        assert_eq!(ns["federated_provider"], PROVIDER_ARN);
        assert_eq!(
            ns["original_session_exp"],
            keyless_sts::time::iso8601(NOW + 3600)
        );
        assert!(ns.get("principal_tags").is_none());
        let origin = &ns["origin_identity"];
        assert_eq!(origin["issuer"], "https://gitlab.com");
        assert_eq!(origin["audience"], AUDIENCE);
        assert!(
            origin["subject"]
                .as_str()
                .unwrap()
                .starts_with("project_path:example/project:")
        );
        assert_eq!(origin["claims"]["project_path"], PROJECT);
        assert_eq!(
            claims["https://aws.amazon.com/tags"],
            serde_json::json!({"principal_tags": {"gitlab_project": [PROJECT]}})
        );
    }
    let xml = web_identity_token::response(
        &t.call(
            &creds,
            &[audience("sts.amazonaws.com"), ("SigningAlgorithm", "RS256")],
        )
        .unwrap(),
        "req-1",
    );
    let compact: String = xml.lines().map(str::trim).collect();
    assert!(
        compact.starts_with(
            r#"<GetWebIdentityTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetWebIdentityTokenResult><WebIdentityToken>eyJ"#
        ),
        "{xml}"
    );
    assert!(compact.contains(&format!(
        "</WebIdentityToken><Expiration>{}</Expiration></GetWebIdentityTokenResult><ResponseMetadata><RequestId>req-1</RequestId>",
        keyless_sts::time::iso8601(NOW + 300)
    )));
}

#[test]
fn several_audiences_are_an_array_and_each_token_is_unique() {
    let t = setup();
    let creds = t.session(VENDOR);
    let params = [
        ("Audience.member.1", "sts.amazonaws.com"),
        ("Audience.member.2", "https://api.example.com"),
        ("SigningAlgorithm", "RS256"),
    ];
    let first = t.call(&creds, &params).unwrap();
    let second = t.call(&creds, &params).unwrap();
    assert_ne!(first.jti, second.jti);
    let (_, claims) = t.verified_claims(&first.token);
    assert_eq!(
        claims["aud"],
        serde_json::json!(["sts.amazonaws.com", "https://api.example.com"])
    );
}

#[test]
fn disabled_federation_refuses_before_anything_else() {
    let mut t = setup();
    t.outbound.enabled = false;
    let deployer = t.fixture.deployer_session();
    let e = t
        .call(&deployer, &[audience("x"), ("SigningAlgorithm", "RS256")])
        .unwrap_err();
    assert_eq!(
        (e.code(), e.status()),
        ("OutboundWebIdentityFederationDisabledException", 403)
    );
}

fn denied(e: Error, action: &str) {
    assert_eq!((e.code(), e.status()), ("AccessDenied", 403), "{e}");
    assert!(
        e.message().contains(&format!(
            "is not authorized to perform: {action} on resource: *"
        )),
        "{}",
        e.message()
    );
}

#[test]
fn the_permission_decision_sees_every_condition_key() {
    let t = setup();
    let deployer = t.fixture.deployer_session();
    denied(
        t.call(
            &deployer,
            &[audience("sts.amazonaws.com"), ("SigningAlgorithm", "RS256")],
        )
        .unwrap_err(),
        "sts:GetWebIdentityToken",
    );
    let creds = t.session(VENDOR);
    let refused: [&[(&str, &str)]; 5] = [
        &[
            audience("https://evil.example"),
            ("SigningAlgorithm", "RS256"),
        ],
        &[
            ("Audience.member.1", "sts.amazonaws.com"),
            ("Audience.member.2", "https://evil.example"),
            ("SigningAlgorithm", "RS256"),
        ],
        &[
            audience("sts.amazonaws.com"),
            ("SigningAlgorithm", "RS256"),
            ("DurationSeconds", "1801"),
        ],
        &[audience("rsa-only.example"), ("SigningAlgorithm", "ES384")],
        &[
            audience("sts.amazonaws.com"),
            ("SigningAlgorithm", "RS256"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "prod"),
        ],
    ];
    for (i, params) in refused.iter().enumerate() {
        let action = if i == 4 {
            "sts:TagGetWebIdentityToken"
        } else {
            "sts:GetWebIdentityToken"
        };
        denied(t.call(&creds, params).unwrap_err(), action);
    }
    assert!(
        t.call(
            &creds,
            &[audience("rsa-only.example"), ("SigningAlgorithm", "RS256")]
        )
        .is_ok()
    );
}

#[test]
fn a_token_never_outlives_its_session() {
    let t = setup();
    let creds = t.session(VENDOR);
    let params = [audience("sts.amazonaws.com"), ("SigningAlgorithm", "RS256")];
    assert!(t.call_at(&creds, &params, NOW + 3300).is_ok());
    let e = t.call_at(&creds, &params, NOW + 3301).unwrap_err();
    assert_eq!(
        (e.code(), e.status()),
        ("SessionDurationEscalationException", 403)
    );
}

#[test]
fn the_admin_key_gets_root_tokens_and_oversized_claims_are_refused() {
    let t = setup();
    let admin = t.fixture.admin();
    let issued = t
        .call(
            &admin,
            &[
                audience("https://api.example.com"),
                ("SigningAlgorithm", "ES384"),
            ],
        )
        .unwrap();
    let (_, claims) = t.verified_claims(&issued.token);
    assert_eq!(claims["sub"], "arn:aws:iam::000000000000:root");
    assert!(
        claims["https://sts.amazonaws.com/"]
            .get("original_session_exp")
            .is_none()
    );
    assert!(claims.get("https://aws.amazon.com/tags").is_none());

    let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "a".repeat(999))).collect();
    let mut params: Vec<(String, String)> = long
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("Audience.member.{}", i + 1), a.clone()))
        .collect();
    params.push(("SigningAlgorithm".into(), "RS256".into()));
    let borrowed: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let e = t.call(&admin, &borrowed).unwrap_err();
    assert_eq!(
        (e.code(), e.status()),
        ("JWTPayloadSizeExceededException", 400)
    );
    let e = t
        .call(
            &admin,
            &[
                audience("x"),
                ("SigningAlgorithm", "RS256"),
                ("SubjectMode", "OriginIdentity"),
            ],
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationError");
}

#[test]
fn origin_identity_puts_the_original_subject_in_sub_and_scope_needs_its_permission() {
    let t = setup();
    let creds = t.session(VENDOR);
    let issued = t
        .call(
            &creds,
            &[
                audience("sts.amazonaws.com"),
                ("SigningAlgorithm", "RS256"),
                ("SubjectMode", "OriginIdentity"),
                ("Scope", "read write"),
            ],
        )
        .unwrap();
    let (_, claims) = t.verified_claims(&issued.token);
    assert_eq!(
        claims["sub"],
        "project_path:example/project:ref_type:branch:ref:main"
    );
    assert_eq!(issued.subject, claims["sub"].as_str().unwrap());
    assert_eq!(claims["subject_mode"], "OriginIdentity");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(
        claims["https://sts.amazonaws.com/"]["principal_id"],
        role_arn(VENDOR)
    );
    denied(
        t.call(
            &creds,
            &[
                audience("sts.amazonaws.com"),
                ("SigningAlgorithm", "RS256"),
                ("SubjectMode", "OriginIdentity"),
                ("Scope", "admin"),
            ],
        )
        .unwrap_err(),
        "sts:SetWebIdentityTokenScope",
    );
}

#[test]
fn a_missing_signing_key_fails_closed() {
    let mut t = setup();
    t.outbound.keyring = OutboundKeyring::new(
        vec![OutboundKey::generate(SigningAlgorithm::Rs256, "RSA_0").unwrap()],
        Vec::new(),
    );
    let creds = t.session(VENDOR);
    let e = t
        .call(
            &creds,
            &[audience("sts.amazonaws.com"), ("SigningAlgorithm", "ES384")],
        )
        .unwrap_err();
    assert_eq!((e.code(), e.status()), ("InternalFailure", 500));
    assert!(
        t.call(
            &creds,
            &[audience("sts.amazonaws.com"), ("SigningAlgorithm", "RS256")]
        )
        .is_ok()
    );
}
