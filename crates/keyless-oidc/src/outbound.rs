//! Outbound identity tokens: the account's RS256 and ES384 signing keys (`kid`s `RSA_<n>` and
//! `EC384_<n>`, as AWS names its outbound keys), the keyring that signs with the current key of
//! each algorithm and publishes the next and previous ones, and the AWS-shaped discovery
//! document and JWKS served under the account's issuer URL.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::issuer::IssuerError;

/// `Cache-Control` of the outbound discovery document and JWKS: relying parties refetch within
/// an hour, so a next key published a day ahead is known everywhere before it signs.
pub const OUTBOUND_CACHE_CONTROL: &str = "max-age=3600, public";

/// Smallest accepted RSA modulus, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits.
const MAX_RSA_BITS: usize = 4096;

/// A signing algorithm of outbound tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA 2048 bits or more).
    Rs256,
    /// ECDSA on P-384 with SHA-384, the signature as JOSE's 96-byte `r || s`.
    Es384,
}

impl SigningAlgorithm {
    /// Both algorithms, RS256 first.
    pub const ALL: [SigningAlgorithm; 2] = [SigningAlgorithm::Rs256, SigningAlgorithm::Es384];

    /// The JOSE name, as `SigningAlgorithm` takes it: `RS256`, `ES384`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Es384 => "ES384",
        }
    }

    /// Parses the JOSE name (exact case).
    pub fn parse(name: &str) -> Option<SigningAlgorithm> {
        match name {
            "RS256" => Some(SigningAlgorithm::Rs256),
            "ES384" => Some(SigningAlgorithm::Es384),
            _ => None,
        }
    }

    /// The `kid` prefix: `RSA` or `EC384`.
    pub fn kid_prefix(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RSA",
            SigningAlgorithm::Es384 => "EC384",
        }
    }

    /// The `kid` of this algorithm's key number `index`: `RSA_0`, `EC384_3`.
    pub fn kid(self, index: u32) -> String {
        format!("{}_{index}", self.kid_prefix())
    }

    /// The key number of a `kid` of this algorithm, if it is one.
    pub fn kid_index(self, kid: &str) -> Option<u32> {
        let digits = kid.strip_prefix(self.kid_prefix())?.strip_prefix('_')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

enum KeyMaterial {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private key that signs outbound tokens with one algorithm. The JWT header is encoded
/// once, so signing costs the signature plus base64. `Debug` shows only the `kid`.
pub struct OutboundKey {
    algorithm: SigningAlgorithm,
    kid: String,
    material: KeyMaterial,
    pkcs8_der: Vec<u8>,
    public_jwk: Value,
    encoded_header: String,
}

impl OutboundKey {
    /// Generates a fresh key (RSA-2048 or P-384) with the given `kid`.
    pub fn generate(algorithm: SigningAlgorithm, kid: &str) -> Result<OutboundKey, IssuerError> {
        let material = match algorithm {
            SigningAlgorithm::Rs256 => KeyMaterial::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| IssuerError::KeyGeneration)?,
            ),
            SigningAlgorithm::Es384 => KeyMaterial::Ec(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
                    .map_err(|_| IssuerError::KeyGeneration)?,
            ),
        };
        Self::from_material(algorithm, kid, material)
    }

    /// Parses an unencrypted PKCS#8 DER private key of `algorithm` (RSA of 2048 to 4096 bits,
    /// or P-384).
    pub fn from_pkcs8_der(
        algorithm: SigningAlgorithm,
        kid: &str,
        der: &[u8],
    ) -> Result<OutboundKey, IssuerError> {
        let material = match algorithm {
            SigningAlgorithm::Rs256 => KeyMaterial::Rsa(
                RsaKeyPair::from_pkcs8(der)
                    .map_err(|rejected| IssuerError::InvalidKey(rejected.description_()))?,
            ),
            SigningAlgorithm::Es384 => KeyMaterial::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der)
                    .map_err(|_| IssuerError::InvalidKey("not a P-384 PKCS#8 private key"))?,
            ),
        };
        Self::from_material(algorithm, kid, material)
    }

    fn from_material(
        algorithm: SigningAlgorithm,
        kid: &str,
        material: KeyMaterial,
    ) -> Result<OutboundKey, IssuerError> {
        let (pkcs8_der, public_jwk) = match &material {
            KeyMaterial::Rsa(pair) => {
                let bits = pair.public_modulus_len() * 8;
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(IssuerError::UnsupportedKeySize { bits });
                }
                let der = pair
                    .as_der()
                    .map_err(|_| IssuerError::KeySerialization)?
                    .as_ref()
                    .to_vec();
                let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                // AWS's RSA JWK carries no `alg`; relying parties must not require it.
                let jwk = json!({
                    "e": URL_SAFE_NO_PAD.encode(&components.e),
                    "kid": kid,
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(&components.n),
                    "use": "sig",
                });
                (der, jwk)
            }
            KeyMaterial::Ec(pair) => {
                let der = pair
                    .to_pkcs8v1()
                    .map_err(|_| IssuerError::KeySerialization)?
                    .as_ref()
                    .to_vec();
                // The uncompressed point: 0x04 || x (48 bytes) || y (48 bytes).
                let point = pair.public_key().as_ref();
                if point.len() != 97 || point[0] != 4 {
                    return Err(IssuerError::InvalidKey(
                        "unexpected P-384 public key encoding",
                    ));
                }
                let jwk = json!({
                    "alg": "ES384",
                    "crv": "P-384",
                    "kid": kid,
                    "kty": "EC",
                    "use": "sig",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
                    "y": URL_SAFE_NO_PAD.encode(&point[49..]),
                });
                (der, jwk)
            }
        };
        let header = json!({ "kid": kid, "typ": "JWT", "alg": algorithm.as_str() });
        Ok(OutboundKey {
            algorithm,
            kid: kid.to_owned(),
            material,
            pkcs8_der,
            public_jwk,
            encoded_header: URL_SAFE_NO_PAD.encode(header.to_string()),
        })
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Its key ID.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as unencrypted PKCS#8 DER, for storage (callers encrypt it at rest).
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.pkcs8_der.clone()
    }

    /// The public key as a JWK (the RSA one without `alg`, as AWS publishes it).
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// Signs `payload_json` (serialized JSON object text, signed byte for byte) as a compact
    /// JWT with the header `{"kid":…,"typ":"JWT","alg":…}`.
    pub fn sign(&self, payload_json: &str) -> Result<String, IssuerError> {
        let encoded_payload = URL_SAFE_NO_PAD.encode(payload_json);
        let mut token =
            String::with_capacity(self.encoded_header.len() + encoded_payload.len() + 2 + 344);
        token.push_str(&self.encoded_header);
        token.push('.');
        token.push_str(&encoded_payload);
        let rng = SystemRandom::new();
        match &self.material {
            KeyMaterial::Rsa(pair) => {
                let mut signature_bytes = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    token.as_bytes(),
                    &mut signature_bytes,
                )
                .map_err(|_| IssuerError::Signing)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(&signature_bytes, &mut token);
            }
            KeyMaterial::Ec(pair) => {
                let signature_bytes = pair
                    .sign(&rng, token.as_bytes())
                    .map_err(|_| IssuerError::Signing)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature_bytes.as_ref(), &mut token);
            }
        }
        Ok(token)
    }
}

impl fmt::Debug for OutboundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The account's outbound keys: per algorithm one current key that signs, and further keys
/// published in the JWKS (the next one before it signs, previous ones until their last token
/// has expired).
#[derive(Debug, Default)]
pub struct OutboundKeyring {
    current: Vec<OutboundKey>,
    others: Vec<OutboundKey>,
}

impl OutboundKeyring {
    /// A keyring signing with `current` (at most one per algorithm: a later key of the same
    /// algorithm wins, the earlier one stays published) and also publishing `others`. Keys
    /// whose `kid` repeats an earlier one are dropped.
    pub fn new(current: Vec<OutboundKey>, others: Vec<OutboundKey>) -> OutboundKeyring {
        let mut ring = OutboundKeyring::default();
        for key in current {
            if ring.find(&key.kid).is_some() {
                continue;
            }
            if let Some(index) = ring
                .current
                .iter()
                .position(|k| k.algorithm == key.algorithm)
            {
                let older = std::mem::replace(&mut ring.current[index], key);
                ring.others.push(older);
            } else {
                ring.current.push(key);
            }
        }
        for key in others {
            if ring.find(&key.kid).is_none() {
                ring.others.push(key);
            }
        }
        ring.current.sort_by_key(|k| k.algorithm);
        ring
    }

    /// The key that signs new tokens of `algorithm`.
    pub fn current(&self, algorithm: SigningAlgorithm) -> Option<&OutboundKey> {
        self.current.iter().find(|k| k.algorithm == algorithm)
    }

    /// Every published key: the current ones (RS256 first), then the others.
    pub fn published(&self) -> impl Iterator<Item = &OutboundKey> {
        self.current.iter().chain(self.others.iter())
    }

    /// The published key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&OutboundKey> {
        self.published().find(|k| k.kid == kid)
    }

    /// The JWKS document `{"keys":[…]}`, the current keys first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self.published().map(OutboundKey::public_jwk).collect();
        json!({ "keys": keys })
    }
}

/// `{issuer}/.well-known/openid-configuration`: the five members AWS serves for an account
/// issuer, plus `response_types_supported` that strict OpenID Connect validators require.
pub fn discovery_document(issuer: &str) -> Value {
    json!({
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "jti", "https://sts.amazonaws.com/"],
        "id_token_signing_alg_values_supported": ["RS256", "ES384"],
        "issuer": issuer,
        "jwks_uri": jwks_uri(issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    })
}

/// `{issuer}/.well-known/jwks.json`.
pub fn jwks_uri(issuer: &str) -> String {
    format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::JwkSet;
    use crate::jwt::{Algorithm, decode};

    const CLAIMS: &str = r#"{"iss":"https://i.example","sub":"s","aud":"a","iat":1,"exp":2}"#;

    fn verify(ring: &OutboundKeyring, token: &str) -> bool {
        let jwks = JwkSet::parse(ring.jwks().to_string().as_bytes()).unwrap();
        let jwt = decode(token).unwrap();
        let key = jwks
            .find(jwt.header.kid.as_deref(), jwt.header.alg)
            .unwrap();
        key.verify_signature(jwt.header.alg, jwt.signing_input.as_bytes(), &jwt.signature)
            .is_ok()
    }

    #[test]
    fn both_algorithms_sign_tokens_their_jwks_verifies() {
        let rsa = OutboundKey::generate(SigningAlgorithm::Rs256, "RSA_0").unwrap();
        let ec = OutboundKey::generate(SigningAlgorithm::Es384, "EC384_0").unwrap();
        assert!(rsa.public_jwk().get("alg").is_none());
        assert_eq!(ec.public_jwk()["crv"], "P-384");
        let ring = OutboundKeyring::new(vec![rsa, ec], Vec::new());
        for alg in SigningAlgorithm::ALL {
            let token = ring.current(alg).unwrap().sign(CLAIMS).unwrap();
            let jwt = decode(&token).unwrap();
            assert_eq!(jwt.header.kid.as_deref(), Some(alg.kid(0).as_str()));
            let expected = match alg {
                SigningAlgorithm::Rs256 => Algorithm::RS256,
                SigningAlgorithm::Es384 => Algorithm::ES384,
            };
            assert_eq!(jwt.header.alg, expected);
            assert!(verify(&ring, &token));
        }
    }

    #[test]
    fn keys_round_trip_through_pkcs8_and_reject_the_wrong_algorithm() {
        let ec = OutboundKey::generate(SigningAlgorithm::Es384, "EC384_1").unwrap();
        let again =
            OutboundKey::from_pkcs8_der(SigningAlgorithm::Es384, "EC384_1", &ec.to_pkcs8_der())
                .unwrap();
        assert_eq!(again.public_jwk(), ec.public_jwk());
        assert!(
            OutboundKey::from_pkcs8_der(SigningAlgorithm::Rs256, "RSA_1", &ec.to_pkcs8_der())
                .is_err()
        );
        assert!(OutboundKey::from_pkcs8_der(SigningAlgorithm::Es384, "EC384_1", b"junk").is_err());
    }

    #[test]
    fn the_newer_current_key_signs_and_the_older_stays_published() {
        let old = OutboundKey::generate(SigningAlgorithm::Rs256, "RSA_0").unwrap();
        let new = OutboundKey::generate(SigningAlgorithm::Rs256, "RSA_1").unwrap();
        let old_token = old.sign(CLAIMS).unwrap();
        let ring = OutboundKeyring::new(vec![old, new], Vec::new());
        assert_eq!(
            ring.current(SigningAlgorithm::Rs256).unwrap().kid(),
            "RSA_1"
        );
        assert!(ring.current(SigningAlgorithm::Es384).is_none());
        assert_eq!(ring.published().count(), 2);
        assert!(verify(&ring, &old_token));
    }

    #[test]
    fn kids_name_the_algorithm_and_the_index() {
        assert_eq!(SigningAlgorithm::Es384.kid(2), "EC384_2");
        assert_eq!(SigningAlgorithm::Es384.kid_index("EC384_12"), Some(12));
        assert_eq!(SigningAlgorithm::Rs256.kid_index("EC384_1"), None);
        assert_eq!(SigningAlgorithm::Rs256.kid_index("RSA_"), None);
        assert_eq!(SigningAlgorithm::Rs256.kid_index("RSA_-1"), None);
        assert_eq!(SigningAlgorithm::parse("ES256"), None);
        let doc = discovery_document("https://keyless.example/outbound");
        assert_eq!(
            doc["jwks_uri"],
            "https://keyless.example/outbound/.well-known/jwks.json"
        );
    }
}
