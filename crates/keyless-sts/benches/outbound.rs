//! `GetWebIdentityToken` against its signature: for RS256 and ES384, the signature alone over
//! the claims of a real call, and the whole call as the server runs it (SigV4 authentication
//! of a real session, parameters, the permission decision with every condition key, the claims,
//! the signature, the XML), and the call after SigV4 authentication (which every signed STS
//! call shares). The ratios are what docs/performance.md records.

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
        c.bench_function(&format!("{} authenticate", algorithm.as_str()), |b| {
            b.iter(|| {
                t.fixture
                    .authenticate(&headers, black_box(&body), "sts", NOW)
                    .expect("authenticate")
            })
        });
        let caller = t
            .fixture
            .authenticate(&headers, &body, "sts", NOW)
            .expect("authenticate");
        let query = QueryParams::parse("", &body).expect("parse");
        let token_params = TokenParams::from_query(&query).expect("params");
        c.bench_function(&format!("{} issue", algorithm.as_str()), |b| {
            b.iter(|| {
                web_identity_token::issue(
                    &t.fixture.state,
                    &t.outbound,
                    &caller,
                    black_box(&token_params),
                    "us-east-1",
                    NOW,
                    &t.fixture.env,
                )
                .expect("issue")
            })
        });
        // The call once its caller is known: the parameters, `issue`, the XML.
        let authenticated_call = |caller: &keyless_sts::auth::Caller| {
            let query = QueryParams::parse("", black_box(&body)).expect("parse");
            let params = TokenParams::from_query(&query).expect("params");
            let issued = web_identity_token::issue(
                &t.fixture.state,
                &t.outbound,
                caller,
                &params,
                "us-east-1",
                NOW,
                &t.fixture.env,
            )
            .expect("issue");
            web_identity_token::response(&issued, "c6104cbe-af31-11e0-8154-cbc7ccf896c7")
        };
        let whole_call = || {
            let caller = t
                .fixture
                .authenticate(&headers, black_box(&body), "sts", NOW)
                .expect("authenticate");
            authenticated_call(&caller)
        };
        c.bench_function(
            &format!("{} GetWebIdentityToken whole call", algorithm.as_str()),
            |b| b.iter(whole_call),
        );
        cpu_time_ratio(
            &format!("{} whole call", algorithm.as_str()),
            || {
                key.sign(black_box(&payload)).expect("sign");
            },
            || {
                whole_call();
            },
        );
        cpu_time_ratio(
            &format!("{} after authentication", algorithm.as_str()),
            || {
                key.sign(black_box(&payload)).expect("sign");
            },
            || {
                authenticated_call(&caller);
            },
        );
    }
}

/// This thread's time on a CPU so far, in nanoseconds (`/proc/thread-self/schedstat`): unlike
/// wall time, it does not grow while other processes have the core.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The signature's rate against the whole call's, in CPU time, alternating the two in rounds so
/// that both see the same machine; printed for docs/performance.md.
fn cpu_time_ratio(name: &str, mut sign: impl FnMut(), mut call: impl FnMut()) {
    let Some(_) = thread_cpu_ns() else {
        println!("{name}: no /proc/thread-self/schedstat, CPU-time ratio skipped");
        return;
    };
    let iterations = 200;
    let (mut sign_ns, mut call_ns) = (0u64, 0u64);
    for _ in 0..5 {
        for (work, total) in [
            (&mut sign as &mut dyn FnMut(), &mut sign_ns),
            (&mut call as &mut dyn FnMut(), &mut call_ns),
        ] {
            let start = thread_cpu_ns().unwrap_or(0);
            for _ in 0..iterations {
                work();
            }
            *total += thread_cpu_ns().unwrap_or(0).saturating_sub(start);
        }
    }
    let per = |ns: u64| ns as f64 / (5 * iterations) as f64 / 1000.0;
    println!(
        "{name} CPU time: signature {:.1} us, whole call {:.1} us; the call reaches {:.1}% of the signing rate",
        per(sign_ns),
        per(call_ns),
        100.0 * sign_ns as f64 / call_ns as f64
    );
}

criterion_group!(benches, bench_outbound);
criterion_main!(benches);
