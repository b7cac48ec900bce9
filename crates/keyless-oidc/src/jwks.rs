//! JSON Web Key Sets (RFC 7517): strict parsing into pre-parsed public keys.
//!
//! Every usable key is turned into aws-lc-rs public keys once, at parse time, so
//! verifying a token never parses key material again.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::TokenError;
use crate::jwt::{Algorithm, ClaimValue, printable_name};

/// Maximum number of keys accepted in one JWKS (the limit AWS applies).
pub const MAX_KEYS: usize = 100;

/// Minimum RSA modulus size in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Maximum RSA modulus size in bits.
pub const MAX_RSA_BITS: usize = 8192;

/// AWS's message when no verification key can be obtained for a token
/// (the two spaces after the comma are AWS's).
pub const MSG_KEY_UNAVAILABLE: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

/// JWK key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `"RSA"`.
    Rsa,
    /// `"EC"`.
    Ec,
    /// `"OKP"` (octet key pair, here Ed25519 only).
    Okp,
}

impl KeyType {
    /// The JWK `kty` value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
            KeyType::Okp => "OKP",
        }
    }
}

/// Curve of an EC or OKP key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// Ed25519.
    Ed25519,
}

impl Curve {
    /// The JWK `crv` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::Ed25519 => "Ed25519",
        }
    }
}

enum KeyMaterial {
    /// One parsed key per RSA algorithm, indexed by [`rsa_index`]; `None` where
    /// the JWK's `alg` excludes the algorithm.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        parsed: Box<[Option<ParsedPublicKey>; 6]>,
    },
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
        parsed: ParsedPublicKey,
    },
    Ed25519 {
        x: Vec<u8>,
        parsed: ParsedPublicKey,
    },
}

/// A public key from a JWKS, parsed once and ready to verify signatures.
pub struct VerificationKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    material: KeyMaterial,
    thumbprint: String,
}

fn rsa_index(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::RS256 => Some(0),
        Algorithm::RS384 => Some(1),
        Algorithm::RS512 => Some(2),
        Algorithm::PS256 => Some(3),
        Algorithm::PS384 => Some(4),
        Algorithm::PS512 => Some(5),
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => None,
    }
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static RsaParameters> {
    match alg {
        Algorithm::RS256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => None,
    }
}

impl VerificationKey {
    /// The key ID, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key type.
    pub fn kty(&self) -> KeyType {
        match self.material {
            KeyMaterial::Rsa { .. } => KeyType::Rsa,
            KeyMaterial::Ec { .. } => KeyType::Ec,
            KeyMaterial::Ed25519 { .. } => KeyType::Okp,
        }
    }

    /// The curve, for EC and OKP keys.
    pub fn crv(&self) -> Option<Curve> {
        match self.material {
            KeyMaterial::Rsa { .. } => None,
            KeyMaterial::Ec { curve, .. } => Some(curve),
            KeyMaterial::Ed25519 { .. } => Some(Curve::Ed25519),
        }
    }

    /// The JWK's `alg`, if it declared one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The RSA modulus size in bits, for RSA keys.
    pub fn rsa_bits(&self) -> Option<usize> {
        match &self.material {
            KeyMaterial::Rsa { n, .. } => Some(bit_length(n)),
            _ => None,
        }
    }

    /// Whether this key may verify signatures made with `alg`: the algorithm must
    /// fit the key type and curve, and the JWK's `alg` when present.
    pub fn supports(&self, alg: Algorithm) -> bool {
        if self.alg.is_some_and(|declared| declared != alg) {
            return false;
        }
        match &self.material {
            KeyMaterial::Rsa { .. } => alg.is_rsa(),
            KeyMaterial::Ec { curve, .. } => matches!(
                (curve, alg),
                (Curve::P256, Algorithm::ES256) | (Curve::P384, Algorithm::ES384)
            ),
            KeyMaterial::Ed25519 { .. } => alg == Algorithm::EdDSA,
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn thumbprint(&self) -> String {
        self.thumbprint.clone()
    }

    /// The public JWK of this key as compact JSON (members in RFC 7638 order,
    /// followed by `kid`, `alg` and `use` when known).
    pub fn to_jwk_json(&self) -> String {
        let mut json = canonical_members(&self.material);
        if let Some(kid) = &self.kid {
            json.push_str(&format!(",\"kid\":{}", json_string(kid)));
        }
        if let Some(alg) = self.alg {
            json.push_str(&format!(",\"alg\":\"{alg}\""));
        }
        json.push_str(",\"use\":\"sig\"}");
        json
    }

    /// Verifies `signature` over `message` made with `alg`.
    pub fn verify_signature(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        if !self.supports(alg) {
            return Err(TokenError::invalid(format!(
                "The token algorithm {alg} does not match the verification key ({})",
                self.describe()
            )));
        }
        let parsed = match &self.material {
            KeyMaterial::Rsa { parsed, .. } => rsa_index(alg).and_then(|i| parsed[i].as_ref()),
            KeyMaterial::Ec { parsed, .. } | KeyMaterial::Ed25519 { parsed, .. } => Some(parsed),
        };
        let parsed = parsed.ok_or_else(|| {
            TokenError::invalid(format!(
                "The token algorithm {alg} does not match the verification key ({})",
                self.describe()
            ))
        })?;
        parsed
            .verify_sig(message, signature)
            .map_err(|_| TokenError::invalid("The token signature is invalid"))
    }

    fn describe(&self) -> String {
        match self.crv() {
            Some(crv) => format!("kty {} crv {}", self.kty().as_str(), crv.as_str()),
            None => format!("kty {}", self.kty().as_str()),
        }
    }

    /// Builds a key from one JWK object. `Ok(None)` means the JWK is well-formed
    /// but not a signature-verification key this implementation accepts.
    fn from_jwk(members: &[(String, ClaimValue)]) -> Result<Option<VerificationKey>, String> {
        let text = |name: &str| -> Result<Option<&str>, String> {
            match members.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
                None => Ok(None),
                Some(ClaimValue::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("member {name} must be a string")),
            }
        };
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            let value = text(name)?.ok_or_else(|| format!("member {name} is missing"))?;
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| format!("member {name} is not unpadded base64url"))
        };

        let kty = text("kty")?.ok_or("member kty is missing")?;
        let kid = text("kid")?.map(str::to_owned);
        if let Some(key_use) = text("use")?
            && key_use != "sig"
        {
            return Ok(None);
        }
        match members.iter().find(|(k, _)| k == "key_ops").map(|(_, v)| v) {
            Some(ClaimValue::Array(ops)) if !ops.iter().any(|op| op.as_str() == Some("verify")) => {
                return Ok(None);
            }
            None | Some(ClaimValue::Array(_)) => {}
            Some(_) => return Err("member key_ops must be an array".to_owned()),
        }
        let alg = match text("alg")? {
            None => None,
            Some(name) => match Algorithm::from_name(name) {
                Some(alg) => Some(alg),
                None => return Ok(None),
            },
        };

        let material = match kty {
            "RSA" => {
                if alg.is_some_and(|a| !a.is_rsa()) {
                    return Err("alg does not fit an RSA key".to_owned());
                }
                let n = strip_leading_zeros(bytes("n")?);
                let e = strip_leading_zeros(bytes("e")?);
                let bits = bit_length(&n);
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(format!(
                        "RSA modulus has {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
                    ));
                }
                if e.is_empty() || e.len() > 8 {
                    return Err("RSA exponent is out of range".to_owned());
                }
                let components = RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                let mut parsed: Box<[Option<ParsedPublicKey>; 6]> = Box::default();
                for candidate in Algorithm::ALL {
                    if alg.is_some_and(|a| a != candidate) {
                        continue;
                    }
                    if let (Some(index), Some(params)) =
                        (rsa_index(candidate), rsa_parameters(candidate))
                    {
                        parsed[index] = Some(
                            components
                                .to_parsed_public_key(params)
                                .map_err(|_| "RSA key is invalid".to_owned())?,
                        );
                    }
                }
                KeyMaterial::Rsa { n, e, parsed }
            }
            "EC" => {
                let (curve, size, verification, expected_alg) = match text("crv")? {
                    Some("P-256") => (
                        Curve::P256,
                        32,
                        &signature::ECDSA_P256_SHA256_FIXED,
                        Algorithm::ES256,
                    ),
                    Some("P-384") => (
                        Curve::P384,
                        48,
                        &signature::ECDSA_P384_SHA384_FIXED,
                        Algorithm::ES384,
                    ),
                    _ => return Ok(None),
                };
                if alg.is_some_and(|a| a != expected_alg) {
                    return Err(format!("alg does not fit a {} key", curve.as_str()));
                }
                let x = bytes("x")?;
                let y = bytes("y")?;
                if x.len() != size || y.len() != size {
                    return Err(format!("EC coordinates must be {size} bytes"));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let parsed = ParsedPublicKey::new(verification, &point)
                    .map_err(|_| "EC point is not on the curve".to_owned())?;
                KeyMaterial::Ec {
                    curve,
                    x,
                    y,
                    parsed,
                }
            }
            "OKP" => {
                if text("crv")? != Some("Ed25519") {
                    return Ok(None);
                }
                if alg.is_some_and(|a| a != Algorithm::EdDSA) {
                    return Err("alg does not fit an Ed25519 key".to_owned());
                }
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err("Ed25519 key must be 32 bytes".to_owned());
                }
                let parsed = ParsedPublicKey::new(&signature::ED25519, &x)
                    .map_err(|_| "Ed25519 key is invalid".to_owned())?;
                KeyMaterial::Ed25519 { x, parsed }
            }
            _ => return Ok(None),
        };
        let thumbprint = compute_thumbprint(&material);
        Ok(Some(VerificationKey {
            kid,
            alg,
            material,
            thumbprint,
        }))
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("kty", &self.kty())
            .field("crv", &self.crv())
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.iter().position(|b| *b != 0) {
        None => 0,
        Some(first) => {
            let rest = big_endian.len() - first - 1;
            rest * 8 + (8 - big_endian[first].leading_zeros() as usize)
        }
    }
}

fn canonical_members(material: &KeyMaterial) -> String {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match material {
        KeyMaterial::Rsa { n, e, .. } => {
            format!(
                "{{\"e\":\"{}\",\"kty\":\"RSA\",\"n\":\"{}\"",
                b64(e),
                b64(n)
            )
        }
        KeyMaterial::Ec { curve, x, y, .. } => format!(
            "{{\"crv\":\"{}\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"",
            curve.as_str(),
            b64(x),
            b64(y)
        ),
        KeyMaterial::Ed25519 { x, .. } => {
            format!("{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{}\"", b64(x))
        }
    }
}

fn compute_thumbprint(material: &KeyMaterial) -> String {
    let mut json = canonical_members(material);
    json.push('}');
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes()))
}

fn json_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A JWK of the set that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The JWK's `kid`, if it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// Outcome of looking a key up in a [`JwkSet`].
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// A usable key.
    Found(Arc<VerificationKey>),
    /// No key matches: the set may be outdated (a refetch can help).
    Unknown,
    /// The key exists but cannot be used for this token (a refetch cannot help).
    Unusable(TokenError),
}

/// A parsed JSON Web Key Set holding only the usable signature keys.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Arc<VerificationKey>>,
    skipped: Vec<SkippedKey>,
}

impl JwkSet {
    /// Parses a JWKS document strictly.
    ///
    /// The document must be valid JSON without duplicate member names, an object
    /// with a `keys` array of at most [`MAX_KEYS`] objects. Keys with a `use` other
    /// than `sig`, `key_ops` without `verify`, an unsupported `kty`, `crv` or
    /// `alg`, RSA moduli outside 2048..=8192 bits or malformed key material are
    /// skipped (see [`JwkSet::skipped`]); the usable ones are parsed once.
    pub fn parse(json: &[u8]) -> Result<JwkSet, TokenError> {
        let document = crate::jwt::parse_value(json, "JWKS")?;
        let Some(ClaimValue::Array(entries)) = document.get("keys") else {
            return Err(TokenError::invalid(
                "The JWKS is not an object with a keys array",
            ));
        };
        if entries.len() > MAX_KEYS {
            return Err(TokenError::invalid(format!(
                "The JWKS has {} keys; at most {MAX_KEYS} are supported",
                entries.len()
            )));
        }
        let mut set = JwkSet::default();
        for entry in entries {
            let ClaimValue::Object(members) = entry else {
                set.skipped.push(SkippedKey {
                    kid: None,
                    reason: "not a JSON object".to_owned(),
                });
                continue;
            };
            let kid = entry
                .get("kid")
                .and_then(ClaimValue::as_str)
                .map(str::to_owned);
            match VerificationKey::from_jwk(members) {
                Ok(Some(key)) => set.keys.push(Arc::new(key)),
                Ok(None) => set.skipped.push(SkippedKey {
                    kid,
                    reason: "not a supported signature verification key".to_owned(),
                }),
                Err(reason) => set.skipped.push(SkippedKey { kid, reason }),
            }
        }
        Ok(set)
    }

    /// Finds the key for a token with key ID `kid` signed with `alg`.
    ///
    /// With a `kid`, the key with that ID must exist and support `alg`. Without
    /// one, exactly one key of the set may support `alg`. Errors are
    /// `InvalidIdentityToken`.
    pub fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerificationKey>, TokenError> {
        match self.lookup(kid, alg) {
            KeyLookup::Found(key) => Ok(key),
            KeyLookup::Unknown => Err(TokenError::invalid(MSG_KEY_UNAVAILABLE)),
            KeyLookup::Unusable(err) => Err(err),
        }
    }

    /// Like [`JwkSet::find`], but tells an unknown key apart from an unusable one.
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup {
        match kid {
            Some(kid) => {
                let mut with_kid = self.keys.iter().filter(|k| k.kid() == Some(kid)).peekable();
                if with_kid.peek().is_none() {
                    return KeyLookup::Unknown;
                }
                match with_kid.find(|k| k.supports(alg)) {
                    Some(key) => KeyLookup::Found(Arc::clone(key)),
                    None => KeyLookup::Unusable(TokenError::invalid(format!(
                        "The verification key {} does not support the token algorithm {alg}",
                        printable_name(kid)
                    ))),
                }
            }
            None => {
                let mut usable = self.keys.iter().filter(|k| k.supports(alg));
                match (usable.next(), usable.next()) {
                    (None, _) => KeyLookup::Unknown,
                    (Some(key), None) => KeyLookup::Found(Arc::clone(key)),
                    (Some(_), Some(_)) => KeyLookup::Unusable(TokenError::invalid(
                        "The token has no kid and several keys of the identity provider could verify it",
                    )),
                }
            }
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<VerificationKey>> {
        self.keys.iter()
    }

    /// The JWKs that were not loaded, and why.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The usable keys as a JWKS JSON document.
    pub fn to_json(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_jwk_json()).collect();
        format!("{{\"keys\":[{}]}}", keys.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The example key of RFC 7638 section 3.1.
        let jwks = br#"{"keys":[{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}]}"#;
        let set = JwkSet::parse(jwks).expect("valid JWKS");
        assert_eq!(set.len(), 1);
        let key = set.find(Some("2011-04-29"), Algorithm::RS256).expect("key");
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.rsa_bits(), Some(2048));
        assert!(key.supports(Algorithm::RS256));
        assert!(
            !key.supports(Algorithm::PS256),
            "alg in the JWK restricts it"
        );
        assert!(matches!(
            set.lookup(Some("2011-04-29"), Algorithm::PS256),
            KeyLookup::Unusable(_)
        ));
        let reparsed = JwkSet::parse(set.to_json().as_bytes()).expect("round trip");
        assert_eq!(
            reparsed.keys().next().map(|k| k.thumbprint()),
            Some(key.thumbprint())
        );
    }

    #[test]
    fn skips_unusable_keys_and_rejects_bad_documents() {
        let jwks = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"hmac"},
            {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB","kid":"enc"},
            {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"},
            {"kty":"EC","crv":"P-521","x":"AA","y":"AA","kid":"p521"},
            {"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"short"}
        ]}"#;
        let set = JwkSet::parse(jwks).expect("document is valid");
        assert!(set.is_empty());
        assert_eq!(set.skipped().len(), 5);
        assert!(JwkSet::parse(br#"{"keys":[],"keys":[]}"#).is_err());
        assert!(JwkSet::parse(br#"{"key":[]}"#).is_err());
        let many = format!("{{\"keys\":[{}]}}", vec!["{}"; 101].join(","));
        assert!(JwkSet::parse(many.as_bytes()).is_err());
        assert_eq!(bit_length(&[0, 0x01, 0]), 9);
    }
}
