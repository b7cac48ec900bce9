//! The stages of one `AssumeRoleWithWebIdentity` exchange, each on its own, and the whole
//! exchange: form parsing, JWT decoding, RS256 verification, trust-policy evaluation with a full
//! GitLab claim context, session sealing, XML rendering, `complete()`, and body-to-XML.
//!
//! The token is a real GitLab-shaped ID token minted by the built-in issuer, and the request body
//! is the one botocore and the load benchmark send (about 1.7 KB).

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keyless_credentials::session::{
    SealingKeyring, SessionClaims, SessionOrigin, generate_sealing_key,
};
use keyless_oidc::issuer::{IssuerKeyring, MintRequest, SigningKey, mint};
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::jwt;
use keyless_oidc::verify::{VerifiedToken, VerifyOptions};
use keyless_policy::{Context, ContextValue, Decision, Principal, Request};
use keyless_sts::model::{ConditionKeyMode, KeySource, ManagedBy, OidcProvider, Role};
use keyless_sts::query::QueryParams;
use keyless_sts::state::{StateInputs, StsOptions, StsState};
use keyless_sts::web_identity::{self, RequestEnv, WebIdentityParams};
use keyless_sts::{condition_keys, session};

const NOW: i64 = 1_795_635_000;
const ACCOUNT: &str = "000000000000";
const ISSUER: &str = "https://gitlab.com";
const AUDIENCE: &str = "https://gitlab.com";
const ROLE_NAME: &str = "gitlab-deployer";
const PROVIDER_ARN: &str = "arn:aws:iam::000000000000:oidc-provider/gitlab.com";

/// The trust policy `keyless serve --dev` gives its role.
const TRUST_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com" },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": { "gitlab.com:aud": "https://gitlab.com" },
        "StringLike": { "gitlab.com:sub": "project_path:example/project:*" }
      }
    }
  ]
}"#;

/// Everything one exchange needs: the compiled state, the issuer's JWKS, a token and its body.
struct Fixture {
    state: StsState,
    jwks: JwkSet,
    token: String,
    body: Vec<u8>,
    env: RequestEnv,
}

fn fixture() -> Fixture {
    let key = SigningKey::generate().expect("RSA-2048 key generation");
    let token = mint(
        &key,
        &MintRequest::gitlab(ISSUER, "example/project", "main")
            .with_audience(AUDIENCE)
            .with_now(NOW - 5),
    )
    .expect("mint a GitLab ID token");
    let jwks_json = IssuerKeyring::new(key, Vec::new()).jwks().to_string();
    let jwks = JwkSet::parse(jwks_json.as_bytes()).expect("the issuer's JWKS parses");

    let provider = OidcProvider {
        url: ISSUER.to_owned(),
        client_ids: vec![AUDIENCE.to_owned()],
        thumbprints: Vec::new(),
        key_source: KeySource::Pinned { jwks: jwks_json },
        condition_keys: ConditionKeyMode::All,
        allow_insecure_http: false,
        ca_bundle: None,
        tags: Vec::new(),
        created: NOW,
        managed_by: ManagedBy::Config,
    };
    let role = Role {
        name: ROLE_NAME.to_owned(),
        path: "/".to_owned(),
        role_id: "AROAQ3WZ7KXJ2NPLR5TYA".to_owned(),
        trust_policy: TRUST_POLICY.to_owned(),
        description: None,
        max_session_duration: 3600,
        tags: Vec::new(),
        created: NOW,
        managed_by: ManagedBy::Config,
    };
    let keyring = SealingKeyring::new(generate_sealing_key(1, NOW), Vec::new()).expect("keyring");
    let state = StsState::build(StateInputs {
        account: ACCOUNT,
        providers: &[provider],
        roles: &[role],
        role_policies: &[],
        managed_policies: &[],
        attachments: &[],
        builtin_jwks: &HashMap::new(),
        keyring,
        admin: None,
        options: StsOptions {
            debug_denials: false,
            verify: VerifyOptions::default(),
        },
    });
    assert!(state.warnings.is_empty(), "{:?}", state.warnings);

    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair(
            "RoleArn",
            &format!("arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"),
        )
        .append_pair("RoleSessionName", "gitlab-job-4000000")
        .append_pair("WebIdentityToken", &token)
        .append_pair("DurationSeconds", "900")
        .finish()
        .into_bytes();
    let env = RequestEnv {
        source_ip: Some("127.0.0.1".to_owned()),
        user_agent: Some(
            "Boto3/1.44.8 md/Botocore#1.41.8 ua/2.1 os/linux lang/python#3.12".to_owned(),
        ),
        secure_transport: false,
    };
    Fixture {
        state,
        jwks,
        token,
        body,
        env,
    }
}

/// The token of the fixture, verified.
fn verified_token(fx: &Fixture) -> VerifiedToken {
    let provider = fx
        .state
        .providers_by_issuer
        .get(ISSUER)
        .expect("the provider is compiled");
    let unverified = jwt::decode(&fx.token).expect("decode");
    let key = fx
        .jwks
        .find(unverified.header.kid.as_deref(), unverified.header.alg)
        .expect("key");
    unverified
        .verify(
            &key,
            &provider.model.client_ids,
            NOW,
            &fx.state.options.verify,
        )
        .expect("verify")
}

/// The trust-policy context of the exchange, built as `complete()` builds it: every claim as
/// `gitlab.com:<claim>`, the session name and the global keys.
fn trust_context(fx: &Fixture, verified: &VerifiedToken, params: &WebIdentityParams) -> Context {
    let provider = fx
        .state
        .providers_by_issuer
        .get(ISSUER)
        .expect("the provider is compiled");
    let mut ctx = Context::new();
    condition_keys::add_claims(
        &mut ctx,
        &provider.key_prefix,
        provider.model.condition_keys,
        &verified.claims.all,
        &verified.audience,
        None,
    );
    ctx.insert(
        "sts:RoleSessionName",
        ContextValue::Single(params.role_session_name.clone()),
    );
    session::add_global_keys(&mut ctx, NOW, &fx.env);
    ctx
}

fn session_claims() -> SessionClaims {
    SessionClaims {
        access_key_id: "ASIAQ3WZ7KXJ2NPLR5TY".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        account: ACCOUNT.into(),
        role_name: ROLE_NAME.into(),
        role_path: "/".into(),
        role_id: "AROAQ3WZ7KXJ2NPLR5TYA".into(),
        session_name: "gitlab-job-4000000".into(),
        issued_at: NOW,
        expires_at: NOW + 900,
        origin: SessionOrigin::WebIdentity {
            provider_arn: PROVIDER_ARN.into(),
            subject: "project_path:example/project:ref_type:branch:ref:main".into(),
            audience: AUDIENCE.into(),
        },
        session_policy: None,
        policy_arns: Vec::new(),
        source_identity: None,
        transitive_tags: Vec::new(),
        chained: false,
    }
}

fn bench_stages(c: &mut Criterion) {
    let fx = fixture();
    let params = WebIdentityParams::from_query(&QueryParams::parse("", &fx.body).expect("parse"))
        .expect("valid parameters");

    c.bench_function(&format!("form_parse ({} byte body)", fx.body.len()), |b| {
        b.iter(|| QueryParams::parse("", black_box(&fx.body)).expect("parse"))
    });
    let query = QueryParams::parse("", &fx.body).expect("parse");
    c.bench_function("web_identity_params", |b| {
        b.iter(|| WebIdentityParams::from_query(black_box(&query)).expect("params"))
    });

    c.bench_function(
        &format!("jwt_decode ({} byte token)", fx.token.len()),
        |b| b.iter(|| jwt::decode(black_box(&fx.token)).expect("decode")),
    );

    let provider = fx
        .state
        .providers_by_issuer
        .get(ISSUER)
        .expect("provider")
        .clone();
    let unverified = jwt::decode(&fx.token).expect("decode");
    let key = fx
        .jwks
        .find(unverified.header.kid.as_deref(), unverified.header.alg)
        .expect("key");
    c.bench_function("jwt_verify (RS256, key from JwkSet)", |b| {
        b.iter_batched(
            || jwt::decode(&fx.token).expect("decode"),
            |jwt| {
                jwt.verify(
                    black_box(&key),
                    &provider.model.client_ids,
                    NOW,
                    &fx.state.options.verify,
                )
                .expect("verify")
            },
            BatchSize::SmallInput,
        )
    });

    let verified = verified_token(&fx);
    let ctx = trust_context(&fx, &verified, &params);
    let role = fx.state.roles.get(ROLE_NAME).expect("role").clone();
    let trust = role.trust.as_ref().expect("trust policy");
    let req = Request {
        principal: Some(Principal::Federated(&provider.arn)),
        action: web_identity::ACTION,
        resource: Some(&role.arn),
        context: &ctx,
    };
    assert_eq!(trust.evaluate(&req), Decision::Allow);
    c.bench_function("trust_context (GitLab claims, global keys)", |b| {
        b.iter(|| trust_context(black_box(&fx), black_box(&verified), black_box(&params)))
    });
    c.bench_function("trust_evaluate (full GitLab context)", |b| {
        b.iter(|| black_box(trust).evaluate(black_box(&req)))
    });
    c.bench_function(
        "trust_evaluate_deciding (with the deciding statement)",
        |b| b.iter(|| black_box(trust).evaluate_deciding(black_box(&req)).0),
    );

    let claims = session_claims();
    c.bench_function("session_seal", |b| {
        b.iter(|| fx.state.keyring.seal(black_box(&claims)).expect("seal"))
    });

    let grant = {
        let prepared = web_identity::prepare(&fx.state, &params).expect("prepare");
        web_identity::complete(&fx.state, &params, prepared, &key, NOW, &fx.env)
            .expect("the exchange is allowed")
    };
    c.bench_function("xml_render (AssumeRoleWithWebIdentityResponse)", |b| {
        b.iter(|| web_identity::render(black_box(&grant), "c6104cbe-af31-11e0-8154-cbc7ccf896c7"))
    });

    c.bench_function("complete (verify, trust, mint, seal)", |b| {
        b.iter_batched(
            || web_identity::prepare(&fx.state, &params).expect("prepare"),
            |prepared| {
                web_identity::complete(&fx.state, &params, prepared, &key, NOW, &fx.env)
                    .expect("allowed")
            },
            BatchSize::SmallInput,
        )
    });

    c.bench_function("exchange (body to XML, key cached)", |b| {
        b.iter(|| {
            let query = QueryParams::parse("", black_box(&fx.body)).expect("parse");
            let params = WebIdentityParams::from_query(&query).expect("params");
            let prepared = web_identity::prepare(&fx.state, &params).expect("prepare");
            let key = fx
                .jwks
                .find(prepared.jwt.header.kid.as_deref(), prepared.jwt.header.alg)
                .expect("key");
            let grant = web_identity::complete(&fx.state, &params, prepared, &key, NOW, &fx.env)
                .expect("allowed");
            web_identity::render(&grant, "c6104cbe-af31-11e0-8154-cbc7ccf896c7")
        })
    });
}

criterion_group!(benches, bench_stages);
criterion_main!(benches);
