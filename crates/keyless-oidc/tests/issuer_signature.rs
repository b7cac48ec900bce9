//! RS256 signatures, RFC 7638 key IDs, key storage, keyring, JWKS and discovery.

use std::sync::OnceLock;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyless_oidc::issuer::{
    IssuerError, IssuerKeyring, JWKS_CACHE_CONTROL, MintRequest, SigningKey, discovery_document,
    jwks_document, mint,
};
use serde_json::{Value, json};

/// An RSA-1024 PKCS#8 key (too small to be accepted).
const RSA_1024_PKCS8_B64: &str = "MIICXAIBAAKBgQCf78lF/H0gicAcxgGZt8eVvf7nUIDZu2J9Xu7RXqN8YSJizqgv948lRT17hMdA9rOP2ks+Gx8jXrBQQB5ZPY65zNWjsvvg2Z4sdRIKAMRqk/q9zwqmmZlYrJ3OxkC1QSYm1xq4Ta+yJb6Yz7WB0d/0bCBdcoTToeJErxHVAbzWpQIDAQABAoGABO37IjEaGjqktT5VJkvH1xG4HaEZl5xy+LJIYiOsnlTQHoOII5JZ0yhDMN9y1MnF1xU/ZHapiwmMHa0cQlvnXj45wabcc0YdLBIpAtWJIiHSJMLD7qMTJJuiGPqfb+bf1IgD7Q7xbLQTbPax9cO52wQr0PfjH/SEZCzbJAjsgzECQQDTUOwWgp1jUc5dKUlyU47FVUo8uJJviJigx+7LgVjtVDLY830O0d5O53k/0U5VVLWgWSTqx5P+yKmjFPjdfY/TAkEAwcGQf9G0sInvqsguvpp4EwwH/LAwraROphs/MO+0v1LJ7+a3FHoBx521WEPz6A+2roYwdPiUVwQ6EKMFMd1spwJAZ43cZBuV7ToFmvnEmFYCPQnS23bHrAiQYxoXF3tHjOYaFN8dhcmq25frfy6e6Ioeh3mn8bXj/JNxLg309vW1KQJBALmZa4ulG8rINtaHb4+RdFf6fGQnelm7PMOM8hk0ZRWoflvZy6JHxRCsF5x3a1ruQnYngJ9rxt0b5WsuXbmIe50CQHupgEkyfiANfgskE8q5R75f0bwMdRYbKA/yIf0en6iPJ6AvMq7pUoDWlCMxpqeS+1NMoDRJW5jrS71XjJQLS94=";

fn shared_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("RSA-2048 key generation"))
}

fn b64url(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// Verifies a compact RS256 JWT against a JWK using only aws-lc-rs; returns the payload.
fn verify_with_jwk(token: &str, jwk: &Value) -> Result<Value, &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not three parts");
    };
    let public_key = RsaPublicKeyComponents {
        n: b64url(jwk["n"].as_str().expect("n")),
        e: b64url(jwk["e"].as_str().expect("e")),
    };
    let signing_input = format!("{header}.{payload}");
    public_key
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &b64url(signature),
        )
        .map_err(|_| "bad signature")?;
    Ok(serde_json::from_slice(&b64url(payload)).expect("payload JSON"))
}

fn thumbprint(jwk: &Value) -> String {
    let e = jwk["e"].as_str().expect("e");
    let n = jwk["n"].as_str().expect("n");
    let canonical =
        serde_json::to_string(&json!({"e": e, "kty": "RSA", "n": n})).expect("canonical JSON");
    assert!(
        canonical.starts_with(r#"{"e":"#),
        "serde_json sorts keys as RFC 7638 requires"
    );
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

fn request() -> MintRequest {
    MintRequest::gitlab("https://gitlab.example.com", "my-group/my-project", "main")
        .with_audience("https://sts.example.com")
}

#[test]
fn minted_token_verifies_and_header_is_exact() {
    let key = shared_key();
    let jwk = key.public_jwk();
    let token = mint(key, &request()).expect("mint");
    let header =
        String::from_utf8(b64url(token.split('.').next().expect("header"))).expect("UTF-8 header");
    assert_eq!(
        header,
        format!(r#"{{"kid":"{}","typ":"JWT","alg":"RS256"}}"#, key.kid())
    );

    let payload = verify_with_jwk(&token, &jwk).expect("signature verifies");
    assert_eq!(payload["iss"], "https://gitlab.example.com");
    assert_eq!(
        payload["sub"],
        "project_path:my-group/my-project:ref_type:branch:ref:main"
    );
    let signature = b64url(token.rsplit('.').next().expect("signature"));
    assert_eq!(signature.len(), 256, "RSA-2048 signature length");
}

#[test]
fn tampered_token_fails_verification() {
    let key = shared_key();
    let token = mint(key, &request()).expect("mint");
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"project_path:evil/project"}"#);
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        verify_with_jwk(&forged, &key.public_jwk()),
        Err("bad signature")
    );
    let other_key = SigningKey::generate().expect("second key");
    assert_eq!(
        verify_with_jwk(&token, &other_key.public_jwk()),
        Err("bad signature")
    );
    assert_ne!(other_key.kid(), key.kid());
}

#[test]
fn kid_is_rfc7638_thumbprint_and_jwk_shape() {
    let key = shared_key();
    let jwk = key.public_jwk();
    assert_eq!(key.kid().len(), 43);
    assert_eq!(key.kid(), thumbprint(&jwk));
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["kid"], key.kid());
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(b64url(jwk["n"].as_str().expect("n")).len(), 256);
    assert_eq!(jwk.as_object().expect("object").len(), 6);
}

#[test]
fn sign_jwt_signs_given_payload_and_rejects_non_objects() {
    let key = shared_key();
    let payload = r#"{"sub":"x","aud":["a","b"],"exp":1}"#;
    let token = key.sign_jwt(payload).expect("sign");
    assert_eq!(
        b64url(token.split('.').nth(1).expect("payload")),
        payload.as_bytes()
    );
    assert_eq!(
        verify_with_jwk(&token, &key.public_jwk()).expect("verifies")["aud"],
        json!(["a", "b"])
    );
    for bad in ["[1,2]", "not json", "", r#"{"a":1} trailing"#] {
        assert!(
            matches!(key.sign_jwt(bad), Err(IssuerError::InvalidPayload(_))),
            "{bad:?} rejected"
        );
    }
}

#[test]
fn pkcs8_roundtrip_keeps_kid_and_signing() {
    let key = shared_key();
    let reloaded = SigningKey::from_pkcs8_der(&key.to_pkcs8_der()).expect("reload");
    assert_eq!(reloaded.kid(), key.kid());
    assert_eq!(reloaded.public_jwk(), key.public_jwk());
    let token = mint(&reloaded, &request()).expect("mint with reloaded key");
    verify_with_jwk(&token, &key.public_jwk()).expect("original JWK verifies reloaded key's token");
}

#[test]
fn from_pkcs8_der_rejects_bad_input() {
    assert!(matches!(
        SigningKey::from_pkcs8_der(b"not a key"),
        Err(IssuerError::InvalidKey(_))
    ));
    assert!(matches!(
        SigningKey::from_pkcs8_der(&[]),
        Err(IssuerError::InvalidKey(_))
    ));
    let small = STANDARD.decode(RSA_1024_PKCS8_B64).expect("fixture");
    let error = SigningKey::from_pkcs8_der(&small).expect_err("1024-bit key rejected");
    assert!(
        matches!(
            error,
            IssuerError::InvalidKey(_) | IssuerError::UnsupportedKeySize { bits: 1024 }
        ),
        "{error:?}"
    );
}

#[test]
fn debug_output_shows_no_key_material() {
    let key = shared_key();
    let debug = format!("{key:?}");
    assert!(debug.contains(key.kid()));
    let n = key.public_jwk()["n"].as_str().expect("n").to_owned();
    assert!(!debug.contains(&n[..32]));
    let der = key.to_pkcs8_der();
    assert!(!debug.contains(&STANDARD.encode(&der)[..32]));
    assert!(debug.len() < 100, "{debug}");
}

#[test]
fn keyring_publishes_all_keys_current_first() {
    let current = SigningKey::from_pkcs8_der(&shared_key().to_pkcs8_der()).expect("current");
    let next = SigningKey::generate().expect("next");
    let next_kid = next.kid().to_owned();
    let duplicate_of_current =
        SigningKey::from_pkcs8_der(&current.to_pkcs8_der()).expect("duplicate");
    let keyring = IssuerKeyring::new(current, vec![next, duplicate_of_current]);
    assert_eq!(keyring.current().kid(), shared_key().kid());
    let jwks = keyring.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|jwk| jwk["kid"].as_str().expect("kid"))
        .collect();
    assert_eq!(kids, vec![shared_key().kid(), next_kid.as_str()]);
    assert_eq!(
        keyring.find(&next_kid).map(SigningKey::kid),
        Some(next_kid.as_str())
    );
    assert!(keyring.find("unknown").is_none());
    let token = mint(keyring.current(), &request()).expect("mint");
    verify_with_jwk(&token, &jwks["keys"][0]).expect("current key verifies");
}

#[test]
fn jwks_and_discovery_documents() {
    let key = shared_key();
    assert_eq!(jwks_document(&[key]), json!({"keys": [key.public_jwk()]}));
    assert_eq!(jwks_document(&[]), json!({"keys": []}));
    assert_eq!(
        JWKS_CACHE_CONTROL,
        "max-age=86400, public, must-revalidate, no-transform"
    );

    let discovery =
        discovery_document("https://keyless.example.com/", "https://gitlab.example.com");
    assert_eq!(discovery["issuer"], "https://gitlab.example.com");
    assert_eq!(
        discovery["jwks_uri"],
        "https://keyless.example.com/oauth/discovery/keys"
    );
    assert_eq!(
        discovery["token_endpoint"],
        "https://keyless.example.com/oauth/token"
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(discovery["subject_types_supported"], json!(["public"]));
    assert_eq!(discovery["claim_types_supported"], json!(["normal"]));
    assert_eq!(discovery["response_types_supported"], json!(["code"]));
    let claims = discovery["claims_supported"]
        .as_array()
        .expect("claims_supported");
    for claim in ["iss", "sub", "aud", "exp", "iat"] {
        assert!(claims.contains(&json!(claim)), "{claim} listed");
    }
}
