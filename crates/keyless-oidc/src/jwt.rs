//! Strict decoding of compact JWS tokens (RFC 7515) carrying OIDC ID-token claims.
//!
//! [`decode`] parses and type-checks everything that can be checked without a key:
//! the compact structure, the base64url encoding, the JOSE header (algorithm
//! allow-list, `crit` rejection) and the registered claims. The signature and the
//! time/audience rules are checked by [`UnverifiedJwt::verify`](crate::verify).

use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::error::TokenError;

/// Maximum accepted token length in characters, after trimming (AWS's limit).
pub const MAX_TOKEN_LEN: usize = 20_000;

/// Maximum nesting depth of JSON arrays/objects in a header, payload or JWKS.
pub const MAX_JSON_DEPTH: usize = 32;

/// A JWS signature algorithm accepted for ID tokens.
///
/// Symmetric algorithms (`HS*`) and `none` are deliberately absent: they can
/// never be selected, whatever the token header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JOSE name (`"RS256"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE `alg` name; returns `None` for anything not supported
    /// (including `none` and every `HS*`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// Whether this is an RSA algorithm (PKCS#1 v1.5 or PSS).
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        )
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JOSE header of a token, reduced to the members that matter.
///
/// `jku`, `x5u`, `x5c` and `jwk` are ignored: keys are only ever taken from the
/// configured provider, never from the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Signature algorithm (already checked against the allow-list).
    pub alg: Algorithm,
    /// Key ID selecting the verification key in the provider's JWKS.
    pub kid: Option<String>,
    /// Media type, informational (`"JWT"` for GitLab and GitHub).
    pub typ: Option<String>,
}

/// A JSON value of a claim, kept in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimValue {
    /// A JSON string.
    String(String),
    /// A JSON number written without fraction or exponent that fits in `i64`.
    Integer(i64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
    /// JSON `null`.
    Null,
    /// A JSON array.
    Array(Vec<ClaimValue>),
    /// A JSON object, members in document order (keys are unique).
    Object(Vec<(String, ClaimValue)>),
}

impl ClaimValue {
    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ClaimValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The member `name`, if this is an object that has it.
    pub fn get(&self, name: &str) -> Option<&ClaimValue> {
        match self {
            ClaimValue::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClaimValue::String(_) => "string",
            ClaimValue::Integer(_) => "integer",
            ClaimValue::Float(_) => "number",
            ClaimValue::Bool(_) => "boolean",
            ClaimValue::Null => "null",
            ClaimValue::Array(_) => "array",
            ClaimValue::Object(_) => "object",
        }
    }
}

/// The claims of a token: registered claims type-checked, plus every claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Issuer (required).
    pub iss: String,
    /// Subject.
    pub sub: Option<String>,
    /// Audiences; a string `aud` becomes a one-element vector, a missing one an empty vector.
    pub aud: Vec<String>,
    /// Authorized party.
    pub azp: Option<String>,
    /// Expiration time, seconds since the epoch.
    pub exp: Option<i64>,
    /// Not-before time, seconds since the epoch.
    pub nbf: Option<i64>,
    /// Issued-at time, seconds since the epoch.
    pub iat: Option<i64>,
    /// Token ID.
    pub jti: Option<String>,
    /// Every claim including the registered ones, in token order.
    pub all: Vec<(String, ClaimValue)>,
}

impl Claims {
    /// The claim `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ClaimValue> {
        self.all.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn from_members(all: Vec<(String, ClaimValue)>) -> Result<Claims, TokenError> {
        let mut iss = None;
        let mut sub = None;
        let mut aud = Vec::new();
        let mut azp = None;
        let mut exp = None;
        let mut nbf = None;
        let mut iat = None;
        let mut jti = None;
        for (name, value) in &all {
            match name.as_str() {
                "iss" => iss = Some(string_claim("iss", value)?),
                "sub" => sub = Some(string_claim("sub", value)?),
                "azp" => azp = Some(string_claim("azp", value)?),
                "jti" => jti = Some(string_claim("jti", value)?),
                "exp" => exp = Some(numeric_date_claim("exp", value)?),
                "nbf" => nbf = Some(numeric_date_claim("nbf", value)?),
                "iat" => iat = Some(numeric_date_claim("iat", value)?),
                "aud" => aud = audience_claim(value)?,
                _ => {}
            }
        }
        let iss = iss.ok_or_else(|| TokenError::invalid("Missing a required claim: iss"))?;
        Ok(Claims {
            iss,
            sub,
            aud,
            azp,
            exp,
            nbf,
            iat,
            jti,
            all,
        })
    }
}

fn string_claim(name: &str, value: &ClaimValue) -> Result<String, TokenError> {
    match value {
        ClaimValue::String(s) => Ok(s.clone()),
        other => Err(TokenError::invalid(format!(
            "The {name} claim must be a string, not {}",
            other.type_name()
        ))),
    }
}

fn numeric_date_claim(name: &str, value: &ClaimValue) -> Result<i64, TokenError> {
    match value {
        ClaimValue::Integer(n) => Ok(*n),
        other => Err(TokenError::invalid(format!(
            "The {name} claim must be an integer number of seconds, not {}",
            other.type_name()
        ))),
    }
}

fn audience_claim(value: &ClaimValue) -> Result<Vec<String>, TokenError> {
    match value {
        ClaimValue::String(s) => Ok(vec![s.clone()]),
        ClaimValue::Array(items) => items
            .iter()
            .map(|item| match item {
                ClaimValue::String(s) => Ok(s.clone()),
                other => Err(TokenError::invalid(format!(
                    "The aud claim must contain only strings, not {}",
                    other.type_name()
                ))),
            })
            .collect(),
        other => Err(TokenError::invalid(format!(
            "The aud claim must be a string or an array of strings, not {}",
            other.type_name()
        ))),
    }
}

/// A decoded token whose signature has not been checked yet.
///
/// Nothing in it may be trusted before [`UnverifiedJwt::verify`] succeeds,
/// except for choosing the provider (by `iss`) and the key (by `kid`).
pub struct UnverifiedJwt<'a> {
    /// The decoded, allow-listed header.
    pub header: Header,
    /// The decoded, type-checked claims.
    pub claims: Claims,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: Vec<u8>,
}

impl fmt::Debug for UnverifiedJwt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedJwt")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Decodes a compact JWS token without verifying it.
///
/// Surrounding ASCII whitespace is trimmed first (token files usually end in a
/// newline). Every structural, encoding and typing problem is an
/// `InvalidIdentityToken` error.
pub fn decode(token: &str) -> Result<UnverifiedJwt<'_>, TokenError> {
    let token = token.trim_ascii();
    if token.is_empty() {
        return Err(TokenError::invalid("The token is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::invalid(format!(
            "The token is longer than {MAX_TOKEN_LEN} characters"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::invalid(
            "The token is not a JWT: expected three dot-separated parts",
        ));
    };
    let extra_parts = parts.count();
    if extra_parts == 2 {
        return Err(TokenError::invalid(
            "Encrypted tokens (JWE) are not supported; a signed JWT (JWS) is required",
        ));
    }
    if extra_parts != 0 {
        return Err(TokenError::invalid(
            "The token is not a JWT: expected three dot-separated parts",
        ));
    }
    if signature_b64.is_empty() {
        return Err(TokenError::invalid("The token is not signed"));
    }

    let header_json = decode_part(header_b64, "header")?;
    let header = parse_header(&header_json)?;
    let payload_json = decode_part(payload_b64, "payload")?;
    let members = parse_object(&payload_json, "payload")?;
    let claims = Claims::from_members(members)?;
    let signature = decode_part(signature_b64, "signature")?;
    if signature.is_empty() {
        return Err(TokenError::invalid("The token is not signed"));
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    Ok(UnverifiedJwt {
        header,
        claims,
        signing_input,
        signature,
    })
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        TokenError::invalid(format!("The token {what} is not valid unpadded base64url"))
    })
}

fn parse_header(json: &[u8]) -> Result<Header, TokenError> {
    let members = parse_object(json, "header")?;
    let mut alg = None;
    let mut kid = None;
    let mut typ = None;
    for (name, value) in &members {
        match name.as_str() {
            "alg" => {
                let ClaimValue::String(name) = value else {
                    return Err(TokenError::invalid("The token header alg must be a string"));
                };
                alg = Some(Algorithm::from_name(name).ok_or_else(|| {
                    TokenError::invalid(format!(
                        "Unsupported token algorithm {}",
                        printable_name(name)
                    ))
                })?);
            }
            "kid" => {
                let ClaimValue::String(k) = value else {
                    return Err(TokenError::invalid("The token header kid must be a string"));
                };
                kid = Some(k.clone());
            }
            "typ" => {
                let ClaimValue::String(t) = value else {
                    return Err(TokenError::invalid("The token header typ must be a string"));
                };
                typ = Some(t.clone());
            }
            "crit" => {
                return Err(TokenError::invalid(
                    "The token header has critical extensions (crit), which are not supported",
                ));
            }
            "enc" | "zip" => {
                return Err(TokenError::invalid(
                    "Encrypted or compressed tokens are not supported",
                ));
            }
            _ => {}
        }
    }
    let alg = alg.ok_or_else(|| TokenError::invalid("The token header has no alg"))?;
    Ok(Header { alg, kid, typ })
}

/// Renders an untrusted short identifier for an error message, or a placeholder.
pub(crate) fn printable_name(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        format!("'{name}'")
    } else {
        "(unprintable)".to_owned()
    }
}

/// Problems detected while parsing JSON that serde_json cannot name itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonProblem {
    DuplicateMember,
    TooDeep,
}

/// Parses `json` as a JSON object with unique member names at every depth and
/// bounded nesting. `what` names the document in error messages.
pub(crate) fn parse_object(
    json: &[u8],
    what: &str,
) -> Result<Vec<(String, ClaimValue)>, TokenError> {
    match parse_value(json, what)? {
        ClaimValue::Object(members) => Ok(members),
        _ => Err(TokenError::invalid(format!(
            "The token {what} is not a JSON object"
        ))),
    }
}

/// Parses any JSON value strictly (unique member names, bounded nesting).
pub(crate) fn parse_value(json: &[u8], what: &str) -> Result<ClaimValue, TokenError> {
    let problem = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let seed = ValueSeed {
        depth: 0,
        problem: &problem,
    };
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    result.map_err(|_| match problem.get() {
        Some(JsonProblem::DuplicateMember) => {
            TokenError::invalid(format!("The token {what} has a duplicate JSON member name"))
        }
        Some(JsonProblem::TooDeep) => TokenError::invalid(format!(
            "The token {what} nests JSON deeper than {MAX_JSON_DEPTH} levels"
        )),
        None => TokenError::invalid(format!("The token {what} is not valid JSON")),
    })
}

struct ValueSeed<'p> {
    depth: usize,
    problem: &'p Cell<Option<JsonProblem>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ClaimValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ClaimValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn nested<E: serde::de::Error>(&self) -> Result<ValueSeed<'_>, E> {
        if self.depth >= MAX_JSON_DEPTH {
            self.problem.set(Some(JsonProblem::TooDeep));
            return Err(E::custom("JSON nesting too deep"));
        }
        Ok(ValueSeed {
            depth: self.depth + 1,
            problem: self.problem,
        })
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ClaimValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Integer(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<ClaimValue, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => ClaimValue::Integer(n),
            Err(_) => ClaimValue::Float(v as f64),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<ClaimValue, E> {
        Ok(ClaimValue::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<ClaimValue, E> {
        Ok(ClaimValue::String(v))
    }

    fn visit_unit<E>(self) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClaimValue, A::Error> {
        let child = self.nested::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            depth: child.depth,
            problem: child.problem,
        })? {
            items.push(item);
        }
        Ok(ClaimValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClaimValue, A::Error> {
        let child = self.nested::<A::Error>()?;
        let mut members: Vec<(String, ClaimValue)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed {
                depth: child.depth,
                problem: child.problem,
            })?;
            members.push((name, value));
        }
        if has_duplicate_names(&members) {
            self.problem.set(Some(JsonProblem::DuplicateMember));
            return Err(A::Error::custom("duplicate JSON member name"));
        }
        Ok(ClaimValue::Object(members))
    }
}

fn has_duplicate_names(members: &[(String, ClaimValue)]) -> bool {
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (name, _))| members[..i].iter().any(|(other, _)| other == name));
    }
    // Sort cheap fingerprints instead of the names; compare names only where they collide.
    let mut prints: Vec<(u64, usize)> = members
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (fingerprint(name), i))
        .collect();
    prints.sort_unstable();
    prints.chunk_by(|a, b| a.0 == b.0).any(|run| {
        run.iter().enumerate().any(|(i, (_, name))| {
            run[..i]
                .iter()
                .any(|(_, other)| members[*other].0 == members[*name].0)
        })
    })
}

/// FNV-1a over the name's bytes: equal names give equal fingerprints.
fn fingerprint(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &str) -> String {
        URL_SAFE_NO_PAD.encode(data)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn decodes_registered_claims_with_types() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"https://gitlab.example","sub":"project_path:g/p:ref_type:branch:ref:main","aud":["a","b"],"exp":20,"nbf":5,"iat":5,"jti":"j","x":{"y":[1,2.5,null,true]}}"#,
        );
        let with_newline = format!("{t}\n");
        let jwt = decode(&with_newline).expect("valid token");
        assert_eq!(jwt.header.alg, Algorithm::RS256);
        assert_eq!(jwt.header.kid.as_deref(), Some("k1"));
        assert_eq!(jwt.claims.aud, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(jwt.claims.exp, Some(20));
        assert_eq!(jwt.claims.all.len(), 8);
        assert_eq!(
            jwt.claims.get("x").and_then(|x| x.get("y")),
            Some(&ClaimValue::Array(vec![
                ClaimValue::Integer(1),
                ClaimValue::Float(2.5),
                ClaimValue::Null,
                ClaimValue::Bool(true)
            ]))
        );
        assert_eq!(
            jwt.signing_input,
            t.rsplit_once('.').map(|(a, _)| a).unwrap_or("")
        );
    }

    #[test]
    fn rejects_duplicates_only_when_names_repeat() {
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let ok = format!("{{\"iss\":\"i\",{}}}", many.join(","));
        assert!(decode(&token(r#"{"alg":"ES256"}"#, &ok)).is_ok());
        let dup = format!("{{\"iss\":\"i\",{},\"k7\":1}}", many.join(","));
        let err = decode(&token(r#"{"alg":"ES256"}"#, &dup)).expect_err("duplicate");
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }

    #[test]
    fn depth_limit_is_exact() {
        let nested = |levels: usize| {
            format!(
                "{{\"iss\":\"i\",\"d\":{}1{}}}",
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        // The payload object itself is one level.
        assert!(decode(&token(r#"{"alg":"ES256"}"#, &nested(MAX_JSON_DEPTH - 1))).is_ok());
        let err = decode(&token(r#"{"alg":"ES256"}"#, &nested(MAX_JSON_DEPTH))).expect_err("deep");
        assert!(err.message.contains("deeper"), "{}", err.message);
    }

    #[test]
    fn huge_integers_are_not_numeric_dates() {
        let t = token(
            r#"{"alg":"RS256"}"#,
            r#"{"iss":"i","exp":18446744073709551615}"#,
        );
        assert!(decode(&t).is_err());
    }
}
