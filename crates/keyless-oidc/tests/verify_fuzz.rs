//! Property tests: decoding tokens and parsing key sets never panic.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::error::TokenErrorCode;
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::jwt::decode;
use proptest::prelude::*;

/// JSON-looking text built from fragments that exercise the parser's corners.
fn json_like() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"alg\"".to_owned()),
        Just("\"RS256\"".to_owned()),
        Just("\"kid\"".to_owned()),
        Just("\"iss\"".to_owned()),
        Just("\"aud\"".to_owned()),
        Just("\"exp\"".to_owned()),
        Just("\"keys\"".to_owned()),
        Just("\"kty\"".to_owned()),
        Just("\"RSA\"".to_owned()),
        Just("\"EC\"".to_owned()),
        Just("\"OKP\"".to_owned()),
        Just("\"n\"".to_owned()),
        Just("\"x\"".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("1e999".to_owned()),
        Just("-0.5".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        "[a-zA-Z0-9_-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    prop::collection::vec(fragment, 0..64).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_on_arbitrary_text(token in ".{0,300}") {
        let _ = decode(&token);
    }

    #[test]
    fn decode_never_panics_on_encoded_json(header in json_like(), payload in json_like(), signature in prop::collection::vec(any::<u8>(), 0..80)) {
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        );
        if let Err(error) = decode(&token) {
            prop_assert_eq!(error.code, TokenErrorCode::InvalidIdentityToken);
            prop_assert!(!error.message.contains(&token));
        }
    }

    #[test]
    fn decode_never_panics_on_dotted_garbage(parts in prop::collection::vec("[A-Za-z0-9_=+/-]{0,40}", 0..7)) {
        let _ = decode(&parts.join("."));
    }

    #[test]
    fn jwks_parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = JwkSet::parse(&bytes);
    }

    #[test]
    fn jwks_parse_never_panics_on_json_like(body in json_like()) {
        let _ = JwkSet::parse(body.as_bytes());
    }

}

proptest! {
    // Each case parses RSA keys for six algorithms; fewer cases keep the run short.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn jwks_parse_never_panics_on_key_shaped_members(
        kty in prop_oneof![Just("RSA"), Just("EC"), Just("OKP"), Just("oct"), Just("")],
        crv in prop_oneof![Just("P-256"), Just("P-384"), Just("Ed25519"), Just("X25519")],
        alg in prop_oneof![Just("RS256"), Just("ES256"), Just("EdDSA"), Just("HS256"), Just("none")],
        n in prop::collection::vec(any::<u8>(), 0..300),
        e in prop::collection::vec(any::<u8>(), 0..10),
        x in prop::collection::vec(any::<u8>(), 0..50),
        y in prop::collection::vec(any::<u8>(), 0..50),
    ) {
        let body = format!(
            r#"{{"keys":[{{"kty":"{kty}","crv":"{crv}","alg":"{alg}","n":"{}","e":"{}","x":"{}","y":"{}"}}]}}"#,
            URL_SAFE_NO_PAD.encode(n),
            URL_SAFE_NO_PAD.encode(e),
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        let set = JwkSet::parse(body.as_bytes());
        prop_assert!(set.is_ok());
    }
}
