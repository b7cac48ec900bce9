//! `keyless_oidc::jwks::JwkSet::parse` on arbitrary bytes, then every accessor of the parsed set
//! and its keys, and a signature check with each key.

#![no_main]

use keyless_oidc::jwks::JwkSet;
use keyless_oidc::jwt::Algorithm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(set) = JwkSet::parse(data) else {
        return;
    };
    assert!(set.len() <= keyless_oidc::jwks::MAX_KEYS);
    assert_eq!(set.is_empty(), set.keys().next().is_none());
    for skipped in set.skipped() {
        let _ = skipped.reason.len();
    }
    for key in set.keys() {
        let _ = (key.kid(), key.kty(), key.crv(), key.alg(), key.rsa_bits());
        let _ = key.thumbprint();
        // A key's own JWK, alone in a set, parses back to one usable key with the same
        // thumbprint.
        let alone = format!("{{\"keys\":[{}]}}", key.to_jwk_json());
        let again = JwkSet::parse(alone.as_bytes()).expect("a key's JWK parses");
        assert_eq!(again.len(), 1);
        assert_eq!(
            again.keys().next().map(|k| k.thumbprint()),
            Some(key.thumbprint())
        );
        for alg in Algorithm::ALL {
            if key.supports(alg) {
                let _ = key.verify_signature(alg, b"header.payload", &[0u8; 64]);
            }
        }
    }
    for alg in Algorithm::ALL {
        let _ = set.lookup(None, alg);
        let _ = set.lookup(Some("kid"), alg);
        if let Some(kid) = set.keys().next().and_then(|k| k.kid()) {
            let _ = set.find(Some(kid), alg);
        }
    }
    // The set's own JSON parses back to the same keys.
    let again = JwkSet::parse(set.to_json().as_bytes()).expect("the set's JWKS parses");
    assert_eq!(again.len(), set.len());
});
