//! The stages of one `AssumeRoleWithWebIdentity` exchange, each on its own, and the whole
//! exchange: form parsing, JWT decoding, RS256 verification, the trust decision with a full
//! GitLab claim context, session sealing, XML rendering, `complete()`, and body-to-XML.
//!
//! The fixture is the one the API tests use (`tests/common`): a real GitLab-shaped ID token from
//! a real RSA key, and the request body botocore and the load benchmark send. Each stage's
//! result is checked once before it is timed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{DEPLOYER, Fixture, ISSUER, NOW, PROJECT};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keyless_credentials::session::{SessionClaims, SessionOrigin};
use keyless_oidc::jwt;
use keyless_policy::{Decision, Principal};
use keyless_sts::query::QueryParams;
use keyless_sts::response;
use keyless_sts::trust::{self, TrustQuery};
use keyless_sts::web_identity::{self, SessionFacts, WebIdentityParams};

fn session_claims() -> SessionClaims {
    SessionClaims {
        access_key_id: "ASIAQ3WZ7KXJ2NPLR5TY".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        account: common::ACCOUNT.into(),
        role_name: DEPLOYER.into(),
        role_path: "/".into(),
        role_id: "AROAQ3WZ7KXJ2NPLR5TYA".into(),
        session_name: "gitlab-job-4000000".into(),
        issued_at: NOW,
        expires_at: NOW + 900,
        origin: SessionOrigin::WebIdentity {
            provider_arn: common::PROVIDER_ARN.into(),
            subject: "project_path:example/project:ref_type:branch:ref:main".into(),
            audience: common::AUDIENCE.into(),
        },
        session_policy: None,
        policy_arns: Vec::new(),
        source_identity: None,
        transitive_tags: Vec::new(),
        chained: false,
        tags: Vec::new(),
        web_identity_keys: Vec::new(),
    }
}

fn bench_stages(c: &mut Criterion) {
    let fx = Fixture::new();
    let token = fx.token(PROJECT, "main");
    let body = fx.exchange_body(DEPLOYER, &token, &[("DurationSeconds", "900")]);
    let query = QueryParams::parse("", &body).expect("parse");
    let params = WebIdentityParams::from_query(&query).expect("valid parameters");

    c.bench_function(&format!("form_parse ({} byte body)", body.len()), |b| {
        b.iter(|| QueryParams::parse("", black_box(&body)).expect("parse"))
    });
    c.bench_function("web_identity_params", |b| {
        b.iter(|| WebIdentityParams::from_query(black_box(&query)).expect("params"))
    });
    c.bench_function(&format!("jwt_decode ({} byte token)", token.len()), |b| {
        b.iter(|| jwt::decode(black_box(&token)).expect("decode"))
    });

    let provider = fx.state.providers_by_issuer[ISSUER].clone();
    let unverified = jwt::decode(&token).expect("decode");
    let key = fx
        .jwks
        .find(unverified.header.kid.as_deref(), unverified.header.alg)
        .expect("key");
    let verify = |jwt: jwt::UnverifiedJwt<'_>| {
        jwt.verify(
            &key,
            &provider.model.client_ids,
            NOW,
            &fx.state.options.verify,
        )
        .expect("verify")
    };
    c.bench_function("jwt_verify (RS256, key from JwkSet)", |b| {
        b.iter_batched(
            || jwt::decode(&token).expect("decode"),
            verify,
            BatchSize::SmallInput,
        )
    });

    let verified = verify(unverified);
    let facts = SessionFacts::from_claims(&verified.claims).expect("no session tags");
    let role = fx.state.roles[DEPLOYER].clone();
    let context = |only: Option<&[String]>| {
        web_identity::trust_context(
            &provider,
            &verified.claims,
            &verified.audience,
            &params.role_session_name,
            &facts,
            NOW,
            &fx.env,
            only,
        )
    };
    let ctx = context(None);
    let actions = facts.actions();
    let query_of = |trace| TrustQuery {
        principal: Principal::Federated(&provider.arn),
        actions: &actions,
        context: &ctx,
        trace,
    };
    assert!(trust::decide(&role, &query_of(false)).allowed());
    c.bench_function("trust_context (every GitLab claim, global keys)", |b| {
        b.iter(|| context(black_box(None)))
    });
    c.bench_function("trust_context (the keys the trust policy reads)", |b| {
        b.iter(|| context(black_box(role.trust_keys())))
    });
    let policy = role.trust().expect("trust policy");
    let req = keyless_policy::Request {
        principal: Some(Principal::Federated(&provider.arn)),
        action: web_identity::ACTION,
        resource: Some(&role.arn),
        context: &ctx,
    };
    assert_eq!(policy.evaluate(&req), Decision::Allow);
    c.bench_function("trust_evaluate (full GitLab context)", |b| {
        b.iter(|| black_box(policy).evaluate(black_box(&req)))
    });
    c.bench_function("trust_decide (the decision with its statement)", |b| {
        b.iter(|| trust::decide(black_box(&role), black_box(&query_of(false))))
    });
    c.bench_function("trust_decide (with the trace)", |b| {
        b.iter(|| trust::decide(black_box(&role), black_box(&query_of(true))))
    });

    let claims = session_claims();
    c.bench_function("session_seal", |b| {
        b.iter(|| fx.state.keyring.seal(black_box(&claims)).expect("seal"))
    });

    let grant = fx.exchange(&body).expect("the exchange is allowed");
    let request_id = "c6104cbe-af31-11e0-8154-cbc7ccf896c7";
    assert!(response::web_identity(&grant, request_id).contains("<AssumedRoleUser>"));
    c.bench_function("xml_render (AssumeRoleWithWebIdentityResponse)", |b| {
        b.iter(|| response::web_identity(black_box(&grant), request_id))
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
            let grant = fx.exchange(black_box(&body)).expect("allowed");
            response::web_identity(&grant, request_id)
        })
    });
}

criterion_group!(benches, bench_stages);
criterion_main!(benches);
