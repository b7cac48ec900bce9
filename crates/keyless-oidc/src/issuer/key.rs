//! RSA signing keys, RFC 7638 key IDs, JWT signing and the rotating keyring.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::IssuerError;

/// Smallest accepted modulus, in bits (GitLab signs CI tokens with RSA-2048).
const MIN_KEY_BITS: usize = 2048;
/// Largest accepted modulus, in bits.
const MAX_KEY_BITS: usize = 4096;

/// An RSA private key used to sign ID tokens with RS256.
///
/// The key is parsed once; the JWT header (with the key's `kid`) is encoded once as well, so
/// signing costs one RSA operation plus base64. `Debug` shows only the `kid`.
pub struct SigningKey {
    key_pair: KeyPair,
    pkcs8_der: Vec<u8>,
    kid: String,
    n_b64: String,
    e_b64: String,
    encoded_header: String,
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key.
    pub fn generate() -> Result<SigningKey, IssuerError> {
        let key_pair =
            KeyPair::generate(KeySize::Rsa2048).map_err(|_| IssuerError::KeyGeneration)?;
        Self::from_key_pair(key_pair)
    }

    /// Parses an unencrypted PKCS#8 (RFC 5208) DER RSA private key of 2048 to 4096 bits.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, IssuerError> {
        let key_pair = KeyPair::from_pkcs8(der)
            .map_err(|rejected| IssuerError::InvalidKey(rejected.description_()))?;
        Self::from_key_pair(key_pair)
    }

    fn from_key_pair(key_pair: KeyPair) -> Result<SigningKey, IssuerError> {
        let bits = key_pair.public_modulus_len() * 8;
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(IssuerError::UnsupportedKeySize { bits });
        }
        let pkcs8_der = key_pair
            .as_der()
            .map_err(|_| IssuerError::KeySerialization)?
            .as_ref()
            .to_vec();
        let components = PublicKeyComponents::<Vec<u8>>::from(key_pair.public_key());
        let n_b64 = URL_SAFE_NO_PAD.encode(&components.n);
        let e_b64 = URL_SAFE_NO_PAD.encode(&components.e);
        let kid = rfc7638_thumbprint(&n_b64, &e_b64);
        let header = format!(r#"{{"kid":"{kid}","typ":"JWT","alg":"RS256"}}"#);
        let encoded_header = URL_SAFE_NO_PAD.encode(header);
        Ok(SigningKey {
            key_pair,
            pkcs8_der,
            kid,
            n_b64,
            e_b64,
            encoded_header,
        })
    }

    /// The private key as unencrypted PKCS#8 DER, for storage (callers encrypt it at rest).
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.pkcs8_der.clone()
    }

    /// The key ID: RFC 7638 JWK thumbprint (SHA-256, base64url without padding, 43 characters).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK: `{"kty":"RSA","kid","e","n","use":"sig","alg":"RS256"}`.
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "e": self.e_b64,
            "n": self.n_b64,
            "use": "sig",
            "alg": "RS256",
        })
    }

    /// Signs `payload_json` (a JSON object, serialized) as a compact RS256 JWT.
    ///
    /// The header is exactly `{"kid":<kid>,"typ":"JWT","alg":"RS256"}`, as GitLab emits it.
    /// The payload text is signed byte for byte as given.
    pub fn sign_jwt(&self, payload_json: &str) -> Result<String, IssuerError> {
        serde_json::from_str::<Map<String, Value>>(payload_json)
            .map_err(|error| IssuerError::InvalidPayload(error.to_string()))?;
        self.sign_object_text(payload_json)
    }

    /// Signs payload text already known to be a serialized JSON object.
    pub(crate) fn sign_object_text(&self, payload_json: &str) -> Result<String, IssuerError> {
        let encoded_payload = URL_SAFE_NO_PAD.encode(payload_json);
        let mut token = String::with_capacity(
            self.encoded_header.len()
                + encoded_payload.len()
                + 2
                + (self.key_pair.public_modulus_len() * 4).div_ceil(3),
        );
        token.push_str(&self.encoded_header);
        token.push('.');
        token.push_str(&encoded_payload);
        let mut signature_bytes = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut signature_bytes,
            )
            .map_err(|_| IssuerError::Signing)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature_bytes, &mut token);
        Ok(token)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint of an RSA public key given as base64url `n` and `e`.
fn rfc7638_thumbprint(n_b64: &str, e_b64: &str) -> String {
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

/// The issuer's keys: one current signing key plus further published keys.
///
/// The JWKS lists every published key, so relying parties can verify tokens signed by the
/// previous key until they expire and already know the next key before it becomes current.
/// Relying parties may cache the JWKS for 24 hours ([`super::JWKS_CACHE_CONTROL`]), so a next key
/// should be published at least that long before it is made current.
#[derive(Debug)]
pub struct IssuerKeyring {
    current: SigningKey,
    others: Vec<SigningKey>,
}

impl IssuerKeyring {
    /// Creates a keyring signing with `current` and also publishing `others` (next, previous).
    ///
    /// Keys in `others` with the same `kid` as `current` or as an earlier entry are dropped.
    pub fn new(current: SigningKey, others: Vec<SigningKey>) -> IssuerKeyring {
        let mut unique: Vec<SigningKey> = Vec::with_capacity(others.len());
        for key in others {
            if key.kid != current.kid && unique.iter().all(|kept| kept.kid != key.kid) {
                unique.push(key);
            }
        }
        IssuerKeyring {
            current,
            others: unique,
        }
    }

    /// The key new tokens are signed with.
    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Every published key, the current one first.
    pub fn published(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.current).chain(self.others.iter())
    }

    /// The published key with the given `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.published().find(|key| key.kid == kid)
    }

    /// The JWKS document `{"keys":[...]}` listing every published key, the current one first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&SigningKey> = self.published().collect();
        super::jwks_document(&keys)
    }
}
