//! `GetWebIdentityToken` against its signature: for RS256 and ES384, the signature alone over
//! the claims of a real call, and the whole call as the server runs it (SigV4 authentication
//! of a real session, parameters, the permission decision with every condition key, the claims,
//! the signature, the XML). The ratio of the two is what docs/performance.md records.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/outbound/mod.rs"]
mod outbound;

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::NOW;
use criterion::{Criterion, criterion_group, criterion_main};
use keyless_oidc::outbound::SigningAlgorithm;
use keyless_sts::query::QueryParams;
use keyless_sts::web_identity_token::{self, TokenParams};
use outbound::{VENDOR, setup};

fn bench_outbound(c: &mut Criterion) {
    let t = setup();
    let creds = t.session(VENDOR);
    for algorithm in SigningAlgorithm::ALL {
        let params = [
            ("Audience.member.1", "sts.amazonaws.com"),
            ("SigningAlgorithm", algorithm.as_str()),
            ("DurationSeconds", "900"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "ci"),
        ];
        let issued = t.call(&creds, &params).expect("the vendor may get a token");
        let payload_b64 = issued.token.split('.').nth(1).expect("a payload");
        let payload =
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload_b64).expect("base64")).expect("utf-8");
        let key = t
            .outbound
            .keyring
            .current(algorithm)
            .expect("a current key");
        c.bench_function(&format!("{} signature alone", algorithm.as_str()), |b| {
            b.iter(|| key.sign(black_box(&payload)).expect("sign"))
        });

        let (body, caller) = t.signed(&creds, &params, NOW);
        caller.expect("the signature holds");
        let headers = t.fixture.signed_headers(&creds, "sts", &body, NOW);
        c.bench_function(
            &format!("{} GetWebIdentityToken whole call", algorithm.as_str()),
            |b| {
                b.iter(|| {
                    let caller = t
                        .fixture
                        .authenticate(&headers, black_box(&body), "sts", NOW)
                        .expect("authenticate");
                    let query = QueryParams::parse("", &body).expect("parse");
                    let params = TokenParams::from_query(&query).expect("params");
                    let issued = web_identity_token::issue(
                        &t.fixture.state,
                        &t.outbound,
                        &caller,
                        &params,
                        "us-east-1",
                        NOW,
                        &t.fixture.env,
                    )
                    .expect("issue");
                    web_identity_token::response(&issued, "c6104cbe-af31-11e0-8154-cbc7ccf896c7")
                })
            },
        );
    }
}

criterion_group!(benches, bench_outbound);
criterion_main!(benches);
