//! decode + verify of a GitLab-shaped RS256 ID token with a cached key.

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::jwt::{Algorithm, decode};
use keyless_oidc::verify::VerifyOptions;

const NOW: i64 = 1_800_000_000;

fn gitlab_payload() -> String {
    format!(
        concat!(
            r#"{{"namespace_id":"72","namespace_path":"my-group","project_id":"20","project_path":"my-group/my-project","#,
            r#""user_id":"1","user_login":"sample-user","user_email":"sample-user@example.com","user_access_level":"owner","#,
            r#""user_identities":[{{"provider":"github","extern_uid":"2435223452345"}}],"#,
            r#""pipeline_id":"574","pipeline_source":"push","job_id":"302","ref":"feature-branch-1","ref_type":"branch","#,
            r#""ref_path":"refs/heads/feature-branch-1","ref_protected":"false","groups_direct":["mygroup/mysubgroup","myothergroup/myothersubgroup"],"#,
            r#""environment":"test-environment2","environment_protected":"false","deployment_tier":"testing","environment_action":"start","#,
            r#""runner_id":1,"runner_environment":"self-hosted","sha":"714a629c0b401fdce83e847fc9589983fc6f46bc","#,
            r#""project_visibility":"public","ci_config_ref_uri":"gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main","#,
            r#""ci_config_sha":"714a629c0b401fdce83e847fc9589983fc6f46bc","jti":"235b3a54-b797-45c7-ae9a-f72d7bc6ef5b","#,
            r#""iss":"https://gitlab.example.com","iat":{iat},"nbf":{nbf},"exp":{exp},"#,
            r#""sub":"project_path:my-group/my-project:ref_type:branch:ref:feature-branch-1","aud":"https://sts.example.com"}}"#
        ),
        iat = NOW - 5,
        nbf = NOW - 10,
        exp = NOW + 3595
    )
}

fn bench_verify(c: &mut Criterion) {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let public = key.public_key();
    let jwks = format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"4i3sFE7sxqNPOT7FdvcGA1ZVGGI_r-tsDXnEuYT4ZqE","use":"sig","alg":"RS256","n":"{}","e":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())
    );
    let set = JwkSet::parse(jwks.as_bytes()).expect("JWKS");
    let header =
        r#"{"kid":"4i3sFE7sxqNPOT7FdvcGA1ZVGGI_r-tsDXnEuYT4ZqE","typ":"JWT","alg":"RS256"}"#;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(gitlab_payload())
    );
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
    let client_ids = vec!["https://sts.example.com".to_owned()];
    let opts = VerifyOptions::default();
    let cached = set
        .find(
            Some("4i3sFE7sxqNPOT7FdvcGA1ZVGGI_r-tsDXnEuYT4ZqE"),
            Algorithm::RS256,
        )
        .expect("key");

    c.bench_function(
        &format!("decode+verify RS256 ({} byte token)", token.len()),
        |b| {
            b.iter(|| {
                let jwt = decode(black_box(&token)).expect("decode");
                let key = set
                    .find(jwt.header.kid.as_deref(), jwt.header.alg)
                    .expect("key");
                jwt.verify(&key, &client_ids, NOW, &opts).expect("verify")
            })
        },
    );
    c.bench_function("decode only", |b| {
        b.iter(|| decode(black_box(&token)).expect("decode"))
    });
    c.bench_function("RS256 signature check only (pre-parsed key)", |b| {
        b.iter(|| {
            cached
                .verify_signature(
                    Algorithm::RS256,
                    black_box(input.as_bytes()),
                    black_box(&sig),
                )
                .expect("signature")
        })
    });
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
