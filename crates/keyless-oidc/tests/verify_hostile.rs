//! Hostile and well-formed tokens through decode -> key selection -> verify.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use aws_lc_rs::{encoding::AsDer, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::error::{TokenError, TokenErrorCode};
use keyless_oidc::jwks::{JwkSet, MSG_KEY_UNAVAILABLE};
use keyless_oidc::jwt::{Algorithm, decode};
use keyless_oidc::keys::{
    CacheConfig, FetchError, Fetched, JwksFetcher, KeyCache, KeySourceSpec, ProviderKeys,
    TlsOptions,
};
use keyless_oidc::verify::{VerifyOptions, check_issuer};

const ISSUER: &str = "https://gitlab.example.com";
const NOW: i64 = 1_800_000_000;

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, &'static str),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn rsa() -> Signer {
        Signer::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
    }

    fn p256() -> Signer {
        Signer::Ec(
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256"),
            "P-256",
        )
    }

    fn p384() -> Signer {
        Signer::Ec(
            EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384"),
            "P-384",
        )
    }

    fn ed25519() -> Signer {
        Signer::Ed(Ed25519KeyPair::generate().expect("Ed25519"))
    }

    fn jwk(&self, kid: &str) -> String {
        match self {
            Signer::Rsa(key) => {
                let public = key.public_key();
                format!(
                    r#"{{"kty":"RSA","kid":"{kid}","use":"sig","n":"{}","e":"{}"}}"#,
                    b64(public.modulus().big_endian_without_leading_zero()),
                    b64(public.exponent().big_endian_without_leading_zero())
                )
            }
            Signer::Ec(key, crv) => {
                let point = key.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                format!(
                    r#"{{"kty":"EC","kid":"{kid}","crv":"{crv}","x":"{}","y":"{}"}}"#,
                    b64(&point[1..1 + size]),
                    b64(&point[1 + size..])
                )
            }
            Signer::Ed(key) => format!(
                r#"{{"kty":"OKP","kid":"{kid}","crv":"Ed25519","x":"{}"}}"#,
                b64(key.public_key().as_ref())
            ),
        }
    }

    fn sign(&self, alg: Algorithm, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(key) => {
                let encoding: &'static dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0u8; key.public_modulus_len()];
                key.sign(encoding, &rng, input, &mut sig).expect("RSA sign");
                sig
            }
            Signer::Ec(key, _) => key.sign(&rng, input).expect("ECDSA sign").as_ref().to_vec(),
            Signer::Ed(key) => key.sign(input).as_ref().to_vec(),
        }
    }
}

fn jwks(keys: &[String]) -> JwkSet {
    JwkSet::parse(format!(r#"{{"keys":[{}]}}"#, keys.join(",")).as_bytes()).expect("JWKS")
}

fn payload() -> String {
    format!(
        r#"{{"namespace_id":"72","project_path":"group/project","ref":"main","iss":"{ISSUER}","sub":"project_path:group/project:ref_type:branch:ref:main","aud":"sts.example","iat":{},"nbf":{},"exp":{},"jti":"b3a4"}}"#,
        NOW - 10,
        NOW - 10,
        NOW + 300
    )
}

fn signed(signer: &Signer, header: &str, payload: &str, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = signer.sign(alg, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn rs256(signer: &Signer, kid: &str, payload: &str) -> String {
    signed(
        signer,
        &format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#),
        payload,
        Algorithm::RS256,
    )
}

fn client_ids() -> Vec<String> {
    vec!["sts.example".to_owned()]
}

/// Decodes, selects the key by kid from `set` and verifies, as the STS does.
fn check(token: &str, set: &JwkSet) -> Result<String, TokenError> {
    let jwt = decode(token)?;
    let key = set.find(jwt.header.kid.as_deref(), jwt.header.alg)?;
    jwt.verify(&key, &client_ids(), NOW, &VerifyOptions::default())
        .map(|verified| verified.audience)
}

fn expect_code(result: Result<String, TokenError>, code: TokenErrorCode) -> TokenError {
    match result {
        Ok(audience) => panic!("token accepted (audience {audience}), expected {code}"),
        Err(error) => {
            assert_eq!(error.code, code, "{error}");
            error
        }
    }
}

struct Fixture {
    signer: Signer,
    set: JwkSet,
}

fn rsa_fixture() -> Fixture {
    let signer = Signer::rsa();
    let set = jwks(&[signer.jwk("k1")]);
    Fixture { signer, set }
}

#[test]
fn every_algorithm_verifies_with_a_matching_key() {
    let rsa = Signer::rsa();
    let p256 = Signer::p256();
    let p384 = Signer::p384();
    let ed = Signer::ed25519();
    let set = jwks(&[
        rsa.jwk("rsa"),
        p256.jwk("p256"),
        p384.jwk("p384"),
        ed.jwk("ed"),
    ]);
    let cases = [
        (&rsa, "rsa", Algorithm::RS256),
        (&rsa, "rsa", Algorithm::RS384),
        (&rsa, "rsa", Algorithm::RS512),
        (&rsa, "rsa", Algorithm::PS256),
        (&rsa, "rsa", Algorithm::PS384),
        (&rsa, "rsa", Algorithm::PS512),
        (&p256, "p256", Algorithm::ES256),
        (&p384, "p384", Algorithm::ES384),
        (&ed, "ed", Algorithm::EdDSA),
    ];
    for (signer, kid, alg) in cases {
        let token = signed(
            signer,
            &format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#),
            &payload(),
            alg,
        );
        assert_eq!(check(&token, &set).as_deref(), Ok("sts.example"), "{alg}");
    }
    // A token naming an algorithm that does not fit the key's type is refused.
    let wrong = signed(
        &p256,
        r#"{"alg":"RS256","kid":"p256"}"#,
        &payload(),
        Algorithm::ES256,
    );
    expect_code(check(&wrong, &set), TokenErrorCode::InvalidIdentityToken);
    let wrong_curve = signed(
        &p384,
        r#"{"alg":"ES256","kid":"p384"}"#,
        &payload(),
        Algorithm::ES384,
    );
    expect_code(
        check(&wrong_curve, &set),
        TokenErrorCode::InvalidIdentityToken,
    );
}

#[test]
fn valid_token_with_trailing_newline_is_accepted() {
    let f = rsa_fixture();
    let token = format!("{}\n", rs256(&f.signer, "k1", &payload()));
    let jwt = decode(&token).expect("decodes");
    let key = f.set.find(Some("k1"), Algorithm::RS256).expect("key");
    let verified = jwt
        .verify(&key, &client_ids(), NOW, &VerifyOptions::default())
        .expect("verifies");
    assert_eq!(verified.audience, "sts.example");
    assert_eq!(verified.kid.as_deref(), Some("k1"));
    assert_eq!(verified.alg, Algorithm::RS256);
    assert_eq!(verified.claims.iss, ISSUER);
    assert_eq!(
        verified.claims.all.first().map(|(k, _)| k.as_str()),
        Some("namespace_id")
    );
}

#[test]
fn alg_none_is_rejected_with_and_without_signature() {
    let f = rsa_fixture();
    let header = b64(br#"{"alg":"none","kid":"k1"}"#);
    let body = b64(payload().as_bytes());
    let unsigned = format!("{header}.{body}.");
    let err = expect_code(
        check(&unsigned, &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert!(
        !err.message.contains(&body),
        "the message must not echo the token"
    );
    let with_sig = format!("{header}.{body}.{}", b64(b"anything"));
    let err = expect_code(
        check(&with_sig, &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, "Unsupported token algorithm 'none'");
    let upper = format!("{}.{body}.{}", b64(br#"{"alg":"NONE"}"#), b64(b"x"));
    expect_code(check(&upper, &f.set), TokenErrorCode::InvalidIdentityToken);
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let f = rsa_fixture();
    let Signer::Rsa(key) = &f.signer else {
        unreachable!("fixture is RSA")
    };
    let public_der = key.public_key().as_der().expect("public key DER");
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","kid":"k1"}"#),
        b64(payload().as_bytes())
    );
    for secret in [public_der.as_ref(), key.public_key().as_ref()] {
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        let token = format!("{input}.{}", b64(mac.as_ref()));
        let err = expect_code(check(&token, &f.set), TokenErrorCode::InvalidIdentityToken);
        assert_eq!(err.message, "Unsupported token algorithm 'HS256'");
    }
}

#[test]
fn stripped_signature_is_rejected() {
    let f = rsa_fixture();
    let token = rs256(&f.signer, "k1", &payload());
    let (input, _) = token.rsplit_once('.').expect("three parts");
    let err = expect_code(
        check(&format!("{input}."), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, "The token is not signed");
    expect_code(check(input, &f.set), TokenErrorCode::InvalidIdentityToken);
}

#[test]
fn tampered_payload_fails_the_signature() {
    let f = rsa_fixture();
    let token = rs256(&f.signer, "k1", &payload());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = payload().replace("group/project", "group/other");
    let token = format!("{}.{}.{}", parts[0], b64(forged.as_bytes()), parts[2]);
    let err = expect_code(check(&token, &f.set), TokenErrorCode::InvalidIdentityToken);
    assert_eq!(err.message, "The token signature is invalid");
}

#[test]
fn signature_from_another_key_with_the_same_kid_is_rejected() {
    let f = rsa_fixture();
    let attacker = Signer::rsa();
    let token = rs256(&attacker, "k1", &payload());
    let err = expect_code(check(&token, &f.set), TokenErrorCode::InvalidIdentityToken);
    assert_eq!(err.message, "The token signature is invalid");
}

#[test]
fn kid_of_another_providers_key_is_not_found() {
    let ours = rsa_fixture();
    let theirs = Signer::rsa();
    let _their_set = jwks(&[theirs.jwk("other-provider-key")]);
    let token = rs256(&theirs, "other-provider-key", &payload());
    let err = expect_code(
        check(&token, &ours.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, MSG_KEY_UNAVAILABLE);
}

#[test]
fn embedded_jwk_header_key_is_ignored() {
    let f = rsa_fixture();
    let attacker = Signer::rsa();
    let header = format!(
        r#"{{"alg":"RS256","kid":"k1","jwk":{}}}"#,
        attacker.jwk("k1")
    );
    let token = signed(&attacker, &header, &payload(), Algorithm::RS256);
    expect_code(check(&token, &f.set), TokenErrorCode::InvalidIdentityToken);
}

/// Serves one fixed JWKS and records every URL it is asked for.
struct RecordingFetcher {
    body: Vec<u8>,
    urls: Mutex<Vec<String>>,
}

impl JwksFetcher for RecordingFetcher {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
        _tls: &'a TlsOptions,
    ) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>> {
        Box::pin(async move {
            self.urls.lock().expect("lock").push(url.to_owned());
            Ok(Fetched {
                body: self.body.clone(),
                max_age: Some(Duration::from_secs(3600)),
            })
        })
    }
}

#[tokio::test]
async fn jku_and_x5u_headers_are_never_fetched() {
    let signer = Signer::rsa();
    let attacker = Signer::rsa();
    let body = format!(r#"{{"keys":[{}]}}"#, signer.jwk("k1")).into_bytes();
    let fetcher = Arc::new(RecordingFetcher {
        body,
        urls: Mutex::new(Vec::new()),
    });
    let cache = KeyCache::new(CacheConfig::default(), fetcher.clone());
    let provider = ProviderKeys {
        id: ISSUER.to_owned(),
        source: KeySourceSpec::JwksUrl {
            url: "https://gitlab.example.com/oauth/discovery/keys".to_owned(),
        },
        tls: TlsOptions::default(),
    };
    let headers = [
        r#"{"alg":"RS256","kid":"k1","jku":"https://attacker.example/jwks.json"}"#,
        r#"{"alg":"RS256","kid":"k1","x5u":"https://attacker.example/cert.pem"}"#,
        r#"{"alg":"RS256","kid":"evil","jku":"https://attacker.example/jwks.json","x5c":["MIIB"]}"#,
    ];
    let mut outcomes = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let genuine = i == 0;
        let token = signed(
            if genuine { &signer } else { &attacker },
            header,
            &payload(),
            Algorithm::RS256,
        );
        let jwt = decode(&token).expect("decodes");
        let outcome = match cache
            .key(&provider, jwt.header.kid.as_deref(), jwt.header.alg)
            .await
        {
            Ok(key) => jwt
                .verify(&key, &client_ids(), NOW, &VerifyOptions::default())
                .map(|_| ()),
            Err(error) => Err(error),
        };
        outcomes.push(outcome.map_err(|e| e.code));
    }
    assert_eq!(
        outcomes[0],
        Ok(()),
        "the genuine token with a jku header still verifies"
    );
    assert_eq!(outcomes[1], Err(TokenErrorCode::InvalidIdentityToken));
    assert_eq!(outcomes[2], Err(TokenErrorCode::InvalidIdentityToken));
    let urls = fetcher.urls.lock().expect("lock").clone();
    assert!(!urls.is_empty());
    assert!(
        urls.iter()
            .all(|u| u == "https://gitlab.example.com/oauth/discovery/keys"),
        "fetched {urls:?}"
    );
}

#[test]
fn issuer_must_match_exactly() {
    let f = rsa_fixture();
    let token = rs256(&f.signer, "k1", &payload());
    let jwt = decode(&token).expect("decodes");
    assert!(check_issuer(&jwt.claims, ISSUER).is_ok());
    for expected in [
        "https://gitlab.example.com/",
        "https://GitLab.example.com",
        "https://gitlab.example.org",
        "http://gitlab.example.com",
    ] {
        let err = check_issuer(&jwt.claims, expected).expect_err(expected);
        assert_eq!(err.code, TokenErrorCode::InvalidIdentityToken);
        assert_eq!(
            err.message,
            format!("No OpenIDConnect provider found in your account for {ISSUER}")
        );
    }
    let slash = payload().replace(ISSUER, &format!("{ISSUER}/"));
    let token = rs256(&f.signer, "k1", &slash);
    let jwt = decode(&token).expect("decodes");
    assert!(check_issuer(&jwt.claims, ISSUER).is_err());
}

#[test]
fn audience_problems() {
    let f = rsa_fixture();
    let missing = payload().replace(r#""aud":"sts.example","#, "");
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &missing), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, "Missing a required claim: aud");
    let wrong = payload().replace(
        r#""aud":"sts.example""#,
        r#""aud":"https://gitlab.example.com""#,
    );
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &wrong), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, "Incorrect token audience");
    let array = payload().replace(r#""aud":"sts.example""#, r#""aud":["a","b"]"#);
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &array), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, "Incorrect token audience");
    let matching = payload().replace(r#""aud":"sts.example""#, r#""aud":["a","sts.example"]"#);
    assert_eq!(
        check(&rs256(&f.signer, "k1", &matching), &f.set).as_deref(),
        Ok("sts.example")
    );
    let typed = payload().replace(r#""aud":"sts.example""#, r#""aud":["sts.example",7]"#);
    expect_code(
        check(&rs256(&f.signer, "k1", &typed), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
}

#[test]
fn expired_and_not_yet_valid_tokens() {
    let f = rsa_fixture();
    let expired = payload().replace(
        &format!(r#""exp":{}"#, NOW + 300),
        &format!(r#""exp":{}"#, NOW - 1),
    );
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &expired), &f.set),
        TokenErrorCode::ExpiredTokenException,
    );
    assert_eq!(
        err.message,
        format!(
            "Token expired: current date/time {NOW} must be before the expiration date/time {}",
            NOW - 1
        )
    );
    assert_eq!(err.code.as_str(), "ExpiredTokenException");
    let future = payload().replace(
        &format!(r#""nbf":{}"#, NOW - 10),
        &format!(r#""nbf":{}"#, NOW + 3600),
    );
    expect_code(
        check(&rs256(&f.signer, "k1", &future), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    let no_exp = payload().replace(&format!(r#","exp":{}"#, NOW + 300), "");
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &no_exp), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(err.message, "Missing a required claim: exp");
}

#[test]
fn wrongly_typed_dates_are_errors_not_skipped() {
    let f = rsa_fixture();
    let exp = format!(r#""exp":{}"#, NOW + 300);
    for replacement in [
        format!(r#""exp":"{}""#, NOW - 100),
        format!(r#""exp":{}.5"#, NOW - 100),
        format!(r#""exp":{}.0"#, NOW + 300),
        r#""exp":null"#.to_owned(),
        r#""exp":1e10"#.to_owned(),
    ] {
        let p = payload().replace(&exp, &replacement);
        let err = expect_code(
            check(&rs256(&f.signer, "k1", &p), &f.set),
            TokenErrorCode::InvalidIdentityToken,
        );
        assert!(
            err.message.starts_with("The exp claim must be an integer"),
            "{replacement}: {}",
            err.message
        );
    }
    let p = payload().replace(r#""sub":"project_path"#, r#""sub":1,"x":"project_path"#);
    expect_code(
        check(&rs256(&f.signer, "k1", &p), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
}

#[test]
fn oversized_and_malformed_encodings() {
    let f = rsa_fixture();
    let huge = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","kid":"k1"}"#),
        "A".repeat(1024 * 1024),
        b64(b"sig")
    );
    let err = expect_code(check(&huge, &f.set), TokenErrorCode::InvalidIdentityToken);
    assert_eq!(err.message, "The token is longer than 20000 characters");
    let token = rs256(&f.signer, "k1", &payload());
    let mut bad = token.clone();
    bad.insert(5, '!');
    expect_code(check(&bad, &f.set), TokenErrorCode::InvalidIdentityToken);
    let padded = token.replacen('.', "=.", 1);
    expect_code(check(&padded, &f.set), TokenErrorCode::InvalidIdentityToken);
    let standard_alphabet = format!(
        "{}.{}.{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1"}"#),
        "+/+/",
        "AA"
    );
    expect_code(
        check(&standard_alphabet, &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    expect_code(check("", &f.set), TokenErrorCode::InvalidIdentityToken);
    expect_code(
        check("not-a-token", &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
}

#[test]
fn duplicate_members_in_header_or_payload() {
    let f = rsa_fixture();
    let header = r#"{"alg":"RS256","kid":"k1","alg":"RS256"}"#;
    let token = signed(&f.signer, header, &payload(), Algorithm::RS256);
    let err = expect_code(check(&token, &f.set), TokenErrorCode::InvalidIdentityToken);
    assert_eq!(
        err.message,
        "The token header has a duplicate JSON member name"
    );
    let dup_payload = payload().replace(
        r#""aud":"sts.example""#,
        r#""aud":"sts.example","aud":"other""#,
    );
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &dup_payload), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert_eq!(
        err.message,
        "The token payload has a duplicate JSON member name"
    );
    let nested = payload().replace(r#""ref":"main""#, r#""ref":{"a":1,"b":{"c":1,"c":2}}"#);
    expect_code(
        check(&rs256(&f.signer, "k1", &nested), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
}

#[test]
fn deeply_nested_payload_is_rejected() {
    let f = rsa_fixture();
    let deep = payload().replace(
        r#""ref":"main""#,
        &format!(r#""ref":{}{}"#, "[".repeat(5000), "]".repeat(5000)),
    );
    let err = expect_code(
        check(&rs256(&f.signer, "k1", &deep), &f.set),
        TokenErrorCode::InvalidIdentityToken,
    );
    assert!(err.message.contains("deeper than"), "{}", err.message);
}

#[test]
fn jwe_and_crit_are_rejected() {
    let f = rsa_fixture();
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        b64(b"key"),
        b64(b"iv"),
        b64(b"ciphertext"),
        b64(b"tag")
    );
    let err = expect_code(check(&jwe, &f.set), TokenErrorCode::InvalidIdentityToken);
    assert!(err.message.contains("JWE"), "{}", err.message);
    let crit = signed(
        &f.signer,
        r#"{"alg":"RS256","kid":"k1","crit":["exp"],"exp":1}"#,
        &payload(),
        Algorithm::RS256,
    );
    expect_code(check(&crit, &f.set), TokenErrorCode::InvalidIdentityToken);
}

#[test]
fn missing_kid_needs_exactly_one_usable_key() {
    let a = Signer::rsa();
    let b = Signer::p256();
    let set = jwks(&[a.jwk("a"), b.jwk("b")]);
    let token = signed(&a, r#"{"alg":"RS256"}"#, &payload(), Algorithm::RS256);
    assert_eq!(check(&token, &set).as_deref(), Ok("sts.example"));
    let two_rsa = jwks(&[a.jwk("a"), Signer::rsa().jwk("c")]);
    expect_code(
        check(&token, &two_rsa),
        TokenErrorCode::InvalidIdentityToken,
    );
}
