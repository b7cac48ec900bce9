//! Sealing and unsealing a typical web-identity session token.

use criterion::{Criterion, criterion_group, criterion_main};
use keyless_credentials::session::{
    SealingKeyring, SessionClaims, SessionOrigin, generate_sealing_key,
};
use std::hint::black_box;

fn claims() -> SessionClaims {
    SessionClaims {
        access_key_id: "ASIAQ3WZ7KXJ2NPLR5TY".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        account: "123456789012".into(),
        role_name: "ci-deploy".into(),
        role_path: "/".into(),
        role_id: "AROAJ2KX7QW3ZRT5YLMNP".into(),
        session_name: "gitlab-123456".into(),
        issued_at: 1_795_630_000,
        expires_at: 1_795_633_600,
        origin: SessionOrigin::WebIdentity {
            provider_arn: "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com".into(),
            subject: "project_path:group/project:ref_type:branch:ref:main".into(),
            audience: "https://sts.example.internal".into(),
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

fn bench_session(c: &mut Criterion) {
    let ring = SealingKeyring::new(generate_sealing_key(2, 0), vec![generate_sealing_key(1, 0)])
        .expect("keyring");
    let claims = claims();
    let token = ring.seal(&claims).expect("seal");
    c.bench_function("session_seal", |b| {
        b.iter(|| ring.seal(black_box(&claims)).expect("seal"))
    });
    c.bench_function("session_unseal", |b| {
        b.iter(|| ring.unseal(black_box(&token)).expect("unseal"))
    });
}

criterion_group!(benches, bench_session);
criterion_main!(benches);
