//! `keyless_oidc::jwt::decode` on arbitrary text, then everything that runs on a decoded token:
//! key lookup in a fixed JWKS, signature verification, the audience, time and issuer checks,
//! and the claim processing of the token exchange (condition keys, session tags).

#![no_main]

use std::sync::LazyLock;

use keyless_oidc::jwks::{JwkSet, KeyLookup};
use keyless_oidc::jwt::{self, ClaimValue};
use keyless_oidc::verify::{self, VerifyOptions};
use keyless_policy::Context;
use keyless_sts::condition_keys;
use keyless_sts::model::ConditionKeyMode;
use keyless_sts::web_identity::SessionFacts;
use libfuzzer_sys::fuzz_target;

/// The time the seed tokens were issued for (2027-01-15T08:00:00Z).
const NOW: i64 = 1_800_000_000;

/// RSA, P-256 and Ed25519 public keys; the seed tokens are signed with their private halves.
static KEYS: LazyLock<JwkSet> = LazyLock::new(|| {
    JwkSet::parse(include_bytes!("../fixtures/jwks.json")).expect("the fixture JWKS parses")
});

fn client_ids() -> Vec<String> {
    vec![
        "sts.amazonaws.com".to_owned(),
        "https://github.com/octo-org".to_owned(),
    ]
}

/// Walks a claim value the way consumers do (bounded by the decoder's depth limit).
fn walk(value: &ClaimValue) -> usize {
    let _ = value.type_name();
    let _ = value.as_str();
    let _ = value.get("sub");
    match value {
        ClaimValue::Array(items) => items.iter().map(walk).sum::<usize>() + 1,
        ClaimValue::Object(members) => members.iter().map(|(_, v)| walk(v)).sum::<usize>() + 1,
        _ => 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = verify::truncate_for_message(text);
    let Ok(token) = jwt::decode(text) else {
        return;
    };
    let _ = format!("{token:?}");
    let claims = &token.claims;
    for (_, value) in &claims.all {
        walk(value);
    }

    let ids = client_ids();
    let opts = VerifyOptions::default();
    let audience = verify::match_audience(claims, &ids);
    if let Ok(audience) = &audience {
        assert!(ids.contains(audience));
    }
    for now in [NOW, i64::MIN, i64::MAX, 0] {
        let _ = verify::check_times(claims, now, &opts);
    }
    let _ = verify::check_issuer(claims, "https://gitlab.example.com");

    // The exchange's claim processing, on claims as an identity provider could sign them.
    let matched = audience.as_deref().unwrap_or("sts.amazonaws.com");
    for mode in [ConditionKeyMode::All, ConditionKeyMode::Aws] {
        let mut ctx = Context::new();
        condition_keys::add_claims(
            &mut ctx,
            "gitlab.example.com",
            mode,
            &claims.all,
            matched,
            None,
        );
        assert!(ctx.get("gitlab.example.com:aud").is_some());
        let only = ["gitlab.example.com:sub".to_owned()];
        let mut ctx = Context::new();
        condition_keys::add_claims(
            &mut ctx,
            "gitlab.example.com",
            mode,
            &claims.all,
            matched,
            Some(&only),
        );
    }
    let _ = SessionFacts::from_claims(claims);

    let kid = token.header.kid.clone();
    let alg = token.header.alg;
    if let KeyLookup::Found(key) = KEYS.lookup(kid.as_deref(), alg) {
        let _ = token.check_signature(&key);
        if let Ok(verified) = token.verify(&key, &ids, NOW, &opts) {
            assert_eq!(verified.alg, alg);
            assert_eq!(verified.kid, kid);
            assert!(ids.contains(&verified.audience));
        }
    }
});
