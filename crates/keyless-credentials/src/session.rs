//! Self-contained session tokens.
//!
//! A session token carries the complete [`SessionClaims`] of a temporary credential, including
//! its secret access key, encrypted and authenticated with AES-256-GCM under a sealing key. Any
//! replica holding the same [`SealingKeyring`] can verify a token without a database.
//!
//! Token layout (standard base64, no padding removed, no line breaks):
//!
//! ```text
//! version (1 byte, 0x01) || key id (u32 big-endian) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//! ```
//!
//! The version byte and key id form the AEAD additional data, so neither can be altered. Nonces
//! are random; with 96-bit random nonces a key should seal fewer than 2^32 tokens, which key
//! rotation keeps far out of reach.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::ids::fill_random;

/// Largest session token, in characters, that [`SealingKeyring::unseal`] accepts and
/// [`SealingKeyring::seal`] produces.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Token format version written as the first byte of every sealed token.
const TOKEN_VERSION: u8 = 1;
/// Format version written as the first byte of every sealed message
/// ([`SealingKeyring::seal_message`]).
const MESSAGE_VERSION: u8 = 0x81;
/// Length of the AES-GCM authentication tag.
const TAG_LEN: usize = 16;
/// Bytes before the ciphertext: version, key id and nonce.
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// How a session was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SessionOrigin {
    /// Created by `AssumeRoleWithWebIdentity`.
    WebIdentity {
        /// ARN of the IAM OIDC identity provider that validated the token.
        provider_arn: String,
        /// The web identity token's `sub` claim.
        subject: String,
        /// The audience (client ID) the token was accepted for.
        audience: String,
    },
    /// Created by `AssumeRole`.
    AssumeRole {
        /// ARN of the principal that called `AssumeRole`.
        source_arn: String,
    },
}

/// Everything known about a temporary credential, sealed into its session token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Temporary access key ID (`ASIA…`).
    pub access_key_id: String,
    /// Secret access key paired with the access key ID.
    pub secret_access_key: String,
    /// 12-digit account ID that owns the role.
    pub account: String,
    /// Name of the assumed role.
    pub role_name: String,
    /// Path of the assumed role (`/` or `/a/b/`).
    pub role_path: String,
    /// Unique ID of the assumed role (`AROA…`).
    pub role_id: String,
    /// Role session name chosen by the caller.
    pub session_name: String,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// Expiry time, Unix seconds.
    pub expires_at: i64,
    /// The operation and identity the session came from.
    pub origin: SessionOrigin,
    /// Inline session policy JSON passed as `Policy`.
    pub session_policy: Option<String>,
    /// Managed policy ARNs passed as `PolicyArns`.
    pub policy_arns: Vec<String>,
    /// Source identity set on the session.
    pub source_identity: Option<String>,
    /// Session tags that carry over into chained sessions.
    pub transitive_tags: Vec<(String, String)>,
    /// True if the session was created by `AssumeRole` from another session.
    pub chained: bool,
    /// Every session tag (transitive or not): `aws:PrincipalTag/<key>` in the session's
    /// requests. Empty in tokens sealed before it existed, whose transitive tags stand in.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The web identity provider's condition keys the session's permission policies see
    /// (`gitlab.com:sub`, …), as the exchange computed them; empty for other sessions.
    #[serde(default)]
    pub web_identity_keys: Vec<(String, SessionKeyValue)>,
}

/// The value of a condition key sealed into a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SessionKeyValue {
    /// A single-valued key.
    One(String),
    /// A multivalued key.
    Many(Vec<String>),
}

impl SessionKeyValue {
    /// The bytes its values take.
    pub fn len(&self) -> usize {
        match self {
            SessionKeyValue::One(v) => v.len(),
            SessionKeyValue::Many(vs) => vs.iter().map(String::len).sum(),
        }
    }

    /// Whether it holds no text at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionClaims {
    /// The assumed-role ARN: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`. The role path is
    /// not part of it.
    pub fn assumed_role_arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role_name, self.session_name
        )
    }

    /// The role ARN including its path: `arn:aws:iam::ACCOUNT:role/PATH/ROLE`.
    pub fn role_arn(&self) -> String {
        let path = if self.role_path.is_empty() {
            "/"
        } else {
            self.role_path.as_str()
        };
        format!(
            "arn:aws:iam::{}:role{}{}",
            self.account, path, self.role_name
        )
    }

    /// The caller's user ID as `GetCallerIdentity` reports it: `ROLEID:SESSION`.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.role_id, self.session_name)
    }

    /// The session's tags: [`SessionClaims::tags`], or the transitive tags of a token sealed
    /// before every tag was kept.
    pub fn principal_tags(&self) -> &[(String, String)] {
        if self.tags.is_empty() {
            &self.transitive_tags
        } else {
            &self.tags
        }
    }

    /// True if the session has expired at `now` (Unix seconds). A session is valid up to and
    /// excluding its expiry second.
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account", &self.account)
            .field("role_name", &self.role_name)
            .field("role_path", &self.role_path)
            .field("role_id", &self.role_id)
            .field("session_name", &self.session_name)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("origin", &self.origin)
            .field("session_policy", &self.session_policy)
            .field("policy_arns", &self.policy_arns)
            .field("source_identity", &self.source_identity)
            .field("transitive_tags", &self.transitive_tags)
            .field("chained", &self.chained)
            .field("tags", &self.tags)
            .field("web_identity_keys", &self.web_identity_keys)
            .finish()
    }
}

/// A 256-bit AES-GCM key used to seal session tokens.
#[derive(Clone)]
pub struct SealingKey {
    /// Key identifier written into every token sealed with this key.
    pub id: u32,
    /// The raw key.
    pub key: [u8; 32],
    /// Creation time, Unix seconds.
    pub created: i64,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("created", &self.created)
            .finish()
    }
}

/// Creates a sealing key with identifier `id` from fresh random bytes.
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
pub fn generate_sealing_key(id: u32, now: i64) -> SealingKey {
    let mut key = [0u8; 32];
    fill_random(&mut key);
    SealingKey {
        id,
        key,
        created: now,
    }
}

/// Why a keyring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// Two keys share an identifier.
    #[error("sealing key id {0} is used more than once")]
    DuplicateKeyId(u32),
    /// AWS-LC rejected a key.
    #[error("sealing key {0} could not be loaded")]
    InvalidKey(u32),
}

/// Why a session could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The claims are too large for a session token.
    #[error("session token would be {len} characters, more than the limit of {limit}")]
    TooLarge {
        /// Length the token would have had.
        len: usize,
        /// The limit, [`MAX_TOKEN_LEN`].
        limit: usize,
    },
    /// Serialisation or encryption failed.
    #[error("session claims could not be sealed")]
    Encryption,
}

/// Why a session token was rejected. None of the variants carry token contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// The token is longer than [`MAX_TOKEN_LEN`].
    #[error("session token is longer than {MAX_TOKEN_LEN} characters")]
    TooLarge,
    /// The token is not valid base64 or is too short to hold a sealed payload.
    #[error("session token is malformed")]
    Malformed,
    /// The token was written by an unknown format version.
    #[error("session token version {0} is not supported")]
    UnsupportedVersion(u8),
    /// The token names a sealing key this keyring does not hold.
    #[error("session token sealing key {0} is unknown")]
    UnknownKey(u32),
    /// Authentication failed: the token was altered or sealed with a different key.
    #[error("session token failed authentication")]
    Invalid,
}

/// The sealing keys of a deployment: one current key that seals new tokens and any number of
/// previous keys whose tokens still unseal.
///
/// Build it once at startup; sealing and unsealing take `&self` and are safe to use from many
/// threads at once.
pub struct SealingKeyring {
    current_id: u32,
    current: RandomizedNonceKey,
    previous: Vec<(u32, RandomizedNonceKey)>,
}

impl fmt::Debug for SealingKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous_ids: Vec<u32> = self.previous.iter().map(|(id, _)| *id).collect();
        f.debug_struct("SealingKeyring")
            .field("current_id", &self.current_id)
            .field("previous_ids", &previous_ids)
            .finish()
    }
}

impl SealingKeyring {
    /// Builds a keyring that seals with `current` and unseals with `current` and `previous`.
    ///
    /// Fails if two keys share an identifier.
    pub fn new(current: SealingKey, previous: Vec<SealingKey>) -> Result<Self, KeyringError> {
        let load = |key: &SealingKey| {
            RandomizedNonceKey::new(&AES_256_GCM, &key.key)
                .map_err(|_| KeyringError::InvalidKey(key.id))
        };
        let mut seen = HashSet::with_capacity(previous.len() + 1);
        seen.insert(current.id);
        let mut previous_keys = Vec::with_capacity(previous.len());
        for key in &previous {
            if !seen.insert(key.id) {
                return Err(KeyringError::DuplicateKeyId(key.id));
            }
            previous_keys.push((key.id, load(key)?));
        }
        Ok(Self {
            current_id: current.id,
            current: load(&current)?,
            previous: previous_keys,
        })
    }

    /// Identifier of the key new tokens are sealed with.
    pub fn current_key_id(&self) -> u32 {
        self.current_id
    }

    /// Seals `claims` into a session token with the current key.
    ///
    /// The token is standard base64 without line breaks, safe in an HTTP header and, once
    /// percent-encoded, in a URL query. Fails if the token would exceed [`MAX_TOKEN_LEN`].
    pub fn seal(&self, claims: &SessionClaims) -> Result<String, SealError> {
        let plaintext = serde_json::to_vec(claims).map_err(|_| SealError::Encryption)?;
        let raw_len = HEADER_LEN + plaintext.len() + TAG_LEN;
        let len = raw_len.div_ceil(3) * 4;
        if len > MAX_TOKEN_LEN {
            return Err(SealError::TooLarge {
                len,
                limit: MAX_TOKEN_LEN,
            });
        }
        let aad = token_aad(self.current_id);
        let mut in_out = plaintext;
        in_out.reserve(TAG_LEN);
        let nonce = self
            .current
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .map_err(|_| SealError::Encryption)?;

        let mut raw = Vec::with_capacity(raw_len);
        raw.extend_from_slice(&aad);
        raw.extend_from_slice(nonce.as_ref());
        raw.extend_from_slice(&in_out);
        Ok(STANDARD.encode(raw))
    }

    /// Verifies and decrypts a session token.
    ///
    /// Expiry is not checked here; use [`SessionClaims::is_expired`].
    pub fn unseal(&self, token: &str) -> Result<SessionClaims, UnsealError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(UnsealError::TooLarge);
        }
        let mut raw = STANDARD.decode(token).map_err(|_| UnsealError::Malformed)?;
        if raw.len() < HEADER_LEN + TAG_LEN {
            return Err(UnsealError::Malformed);
        }
        let version = raw[0];
        if version != TOKEN_VERSION {
            return Err(UnsealError::UnsupportedVersion(version));
        }
        let key_id = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]);
        let key = self.key(key_id).ok_or(UnsealError::UnknownKey(key_id))?;
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&raw[5..HEADER_LEN]);
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        let aad = token_aad(key_id);
        let plaintext = key
            .open_in_place(nonce, Aad::from(aad), &mut raw[HEADER_LEN..])
            .map_err(|_| UnsealError::Invalid)?;
        serde_json::from_slice(plaintext).map_err(|_| UnsealError::Invalid)
    }
}

impl SealingKeyring {
    /// Seals `plaintext` for `purpose` with the current key: the same layout as a session
    /// token, under a different format version and with `purpose` in the additional data, so
    /// that neither can be passed off as the other nor as a message of another purpose.
    /// Returns the raw bytes; the caller chooses their text encoding and size limit.
    pub fn seal_message(&self, purpose: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let aad = message_aad(self.current_id, purpose);
        let mut in_out = plaintext.to_vec();
        in_out.reserve(TAG_LEN);
        let nonce = self
            .current
            .seal_in_place_append_tag(Aad::from(&aad), &mut in_out)
            .map_err(|_| SealError::Encryption)?;
        let mut raw = Vec::with_capacity(HEADER_LEN + in_out.len());
        raw.extend_from_slice(&aad[..5]);
        raw.extend_from_slice(nonce.as_ref());
        raw.extend_from_slice(&in_out);
        Ok(raw)
    }

    /// Verifies and decrypts what [`SealingKeyring::seal_message`] sealed for `purpose`.
    pub fn open_message(&self, purpose: &[u8], raw: &[u8]) -> Result<Vec<u8>, UnsealError> {
        if raw.len() < HEADER_LEN + TAG_LEN {
            return Err(UnsealError::Malformed);
        }
        if raw[0] != MESSAGE_VERSION {
            return Err(UnsealError::UnsupportedVersion(raw[0]));
        }
        let key_id = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]);
        let key = self.key(key_id).ok_or(UnsealError::UnknownKey(key_id))?;
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&raw[5..HEADER_LEN]);
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        let mut in_out = raw[HEADER_LEN..].to_vec();
        let plaintext = key
            .open_in_place(nonce, Aad::from(message_aad(key_id, purpose)), &mut in_out)
            .map_err(|_| UnsealError::Invalid)?;
        Ok(plaintext.to_vec())
    }

    /// The key with identifier `id`, if the keyring holds it.
    fn key(&self, id: u32) -> Option<&RandomizedNonceKey> {
        if id == self.current_id {
            return Some(&self.current);
        }
        self.previous
            .iter()
            .find(|(previous_id, _)| *previous_id == id)
            .map(|(_, key)| key)
    }
}

/// Session tokens already unsealed, so that the token a client sends with every request is
/// decrypted and parsed once. Only tokens that unsealed are kept; a lookup compares the whole
/// token, so a token differing in any character is unsealed afresh (and fails if tampered).
/// A cache belongs to one keyring: whoever replaces the keyring replaces the cache. Bounded:
/// it is emptied when it reaches its capacity.
pub struct SessionCache {
    entries: Mutex<HashMap<TokenTail, CachedSession>>,
    capacity: usize,
}

/// A cached session: its whole token and its claims.
type CachedSession = (Box<str>, Arc<SessionClaims>);

/// The characters of a token's end that index the cache: the end of the random nonce's
/// ciphertext and the 16-byte AEAD tag, which differ between any two sealed tokens.
const TAIL_LEN: usize = 32;

/// A token's length and last [`TAIL_LEN`] bytes.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TokenTail(usize, [u8; TAIL_LEN]);

impl TokenTail {
    fn of(token: &str) -> TokenTail {
        let bytes = token.as_bytes();
        let tail = &bytes[bytes.len().saturating_sub(TAIL_LEN)..];
        let mut key = [0u8; TAIL_LEN];
        key[..tail.len()].copy_from_slice(tail);
        TokenTail(bytes.len(), key)
    }
}

impl SessionCache {
    /// A cache holding up to `capacity` sessions.
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The claims of `token`: from the cache when this exact token unsealed before, else
    /// unsealed by `keyring` (and kept when it unseals).
    pub fn unseal(
        &self,
        keyring: &SealingKeyring,
        token: &str,
    ) -> Result<Arc<SessionClaims>, UnsealError> {
        let tail = TokenTail::of(token);
        if let Ok(entries) = self.entries.lock()
            && let Some((cached, claims)) = entries.get(&tail)
            && **cached == *token
        {
            return Ok(claims.clone());
        }
        let claims = Arc::new(keyring.unseal(token)?);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(tail, (token.into(), claims.clone()));
        }
        Ok(claims)
    }
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache::new(4096)
    }
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("SessionCache")
            .field("sessions", &len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Additional authenticated data of a sealed message: its format version, the key id and
/// the purpose.
fn message_aad(key_id: u32, purpose: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(5 + purpose.len());
    aad.push(MESSAGE_VERSION);
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(purpose);
    aad
}

/// Additional authenticated data of a token: the version byte followed by the key id.
fn token_aad(key_id: u32) -> [u8; 5] {
    let id = key_id.to_be_bytes();
    [TOKEN_VERSION, id[0], id[1], id[2], id[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sealed_messages_open_only_for_their_purpose_and_are_no_session_tokens() {
        let keyring = SealingKeyring::new(generate_sealing_key(7, 0), Vec::new()).unwrap();
        let raw = keyring.seal_message(b"purpose-a", b"hello").unwrap();
        assert_eq!(keyring.open_message(b"purpose-a", &raw).unwrap(), b"hello");
        assert!(matches!(
            keyring.open_message(b"purpose-b", &raw),
            Err(UnsealError::Invalid)
        ));
        let mut tampered = raw.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keyring.open_message(b"purpose-a", &tampered).is_err());
        assert!(matches!(
            keyring.unseal(&STANDARD.encode(&raw)),
            Err(UnsealError::UnsupportedVersion(MESSAGE_VERSION))
        ));
        let token = keyring.seal(&web_identity_claims()).unwrap();
        let token_raw = STANDARD.decode(token).unwrap();
        assert!(matches!(
            keyring.open_message(b"purpose-a", &token_raw),
            Err(UnsealError::UnsupportedVersion(TOKEN_VERSION))
        ));
        let other = SealingKeyring::new(generate_sealing_key(8, 0), Vec::new()).unwrap();
        assert!(matches!(
            other.open_message(b"purpose-a", &raw),
            Err(UnsealError::UnknownKey(7))
        ));
        assert!(matches!(
            keyring.open_message(b"purpose-a", &raw[..10]),
            Err(UnsealError::Malformed)
        ));
    }

    fn web_identity_claims() -> SessionClaims {
        SessionClaims {
            access_key_id: "ASIAQ3WZ7KXJ2NPLR5TY".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            account: "123456789012".into(),
            role_name: "ci-deploy".into(),
            role_path: "/gitlab/".into(),
            role_id: "AROAJ2KX7QW3ZRT5YLMNP".into(),
            session_name: "gitlab-123456".into(),
            issued_at: 1_795_630_000,
            expires_at: 1_795_633_600,
            origin: SessionOrigin::WebIdentity {
                provider_arn: "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com".into(),
                subject: "project_path:group/project:ref_type:branch:ref:main".into(),
                audience: "https://sts.example.internal".into(),
            },
            session_policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#
                    .into(),
            ),
            policy_arns: vec!["arn:aws:iam::123456789012:policy/read-only".into()],
            source_identity: Some("alice".into()),
            transitive_tags: vec![("Project".into(), "keyless".into())],
            chained: false,
            tags: Vec::new(),
            web_identity_keys: Vec::new(),
        }
    }

    /// A keyring holding one freshly generated key.
    fn keyring_with(key_id: u32) -> SealingKeyring {
        SealingKeyring::new(generate_sealing_key(key_id, 0), Vec::new()).expect("keyring")
    }

    #[test]
    fn seal_then_unseal_roundtrips() {
        let ring = keyring_with(7);
        let claims = web_identity_claims();
        let token = ring.seal(&claims).expect("seal");
        assert_eq!(ring.unseal(&token), Ok(claims));
        assert!(token.len() < 4096, "token is {} chars", token.len());
        assert!(!token.contains('\n'));
    }

    #[test]
    fn assume_role_origin_roundtrips() {
        let ring = keyring_with(1);
        let mut claims = web_identity_claims();
        claims.origin = SessionOrigin::AssumeRole {
            source_arn: "arn:aws:sts::123456789012:assumed-role/ci-deploy/gitlab-123456".into(),
        };
        claims.chained = true;
        claims.session_policy = None;
        claims.source_identity = None;
        let token = ring.seal(&claims).expect("seal");
        assert_eq!(ring.unseal(&token), Ok(claims));
    }

    #[test]
    fn the_cache_unseals_a_token_once_and_never_serves_an_altered_one() {
        let ring = keyring_with(3);
        let cache = SessionCache::new(8);
        let token = ring.seal(&web_identity_claims()).expect("seal");
        let first = cache.unseal(&ring, &token).expect("unseals");
        let second = cache.unseal(&ring, &token).expect("cached");
        assert!(
            Arc::ptr_eq(&first, &second),
            "the second lookup is the cached claims"
        );
        assert_eq!(*first, web_identity_claims());

        // Same length and same tail as the cached token, one byte changed before the tail.
        let raw = STANDARD.decode(&token).expect("base64");
        let mut altered = raw.clone();
        altered[HEADER_LEN + 1] ^= 0x01;
        let altered = STANDARD.encode(&altered);
        assert_eq!(TokenTail::of(&altered), TokenTail::of(&token));
        assert_eq!(cache.unseal(&ring, &altered), Err(UnsealError::Invalid));
        assert!(Arc::ptr_eq(
            &first,
            &cache.unseal(&ring, &token).expect("still cached")
        ));

        // A token of another keyring is refused by this one, cached or not.
        let other = keyring_with(4);
        let foreign = other.seal(&web_identity_claims()).expect("seal");
        assert_eq!(
            cache.unseal(&ring, &foreign),
            Err(UnsealError::UnknownKey(4))
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let ring = keyring_with(3);
        let cache = SessionCache::new(2);
        let tokens: Vec<String> = (0..5)
            .map(|_| ring.seal(&web_identity_claims()).expect("seal"))
            .collect();
        for token in &tokens {
            cache.unseal(&ring, token).expect("unseals");
            assert!(cache.entries.lock().unwrap().len() <= 2);
        }
        for token in &tokens {
            assert_eq!(
                *cache.unseal(&ring, token).expect("unseals"),
                web_identity_claims()
            );
        }
    }

    #[test]
    fn tokens_use_fresh_nonces() {
        let ring = keyring_with(1);
        let claims = web_identity_claims();
        assert_ne!(ring.seal(&claims), ring.seal(&claims));
    }

    #[test]
    fn token_header_carries_version_and_key_id() {
        let ring = keyring_with(0x0102_0304);
        let token = ring.seal(&web_identity_claims()).expect("seal");
        let raw = STANDARD.decode(token).expect("base64");
        assert_eq!(&raw[..5], &[1, 1, 2, 3, 4]);
    }

    #[test]
    fn altering_any_byte_is_detected() {
        let ring = keyring_with(3);
        let token = ring.seal(&web_identity_claims()).expect("seal");
        let raw = STANDARD.decode(&token).expect("base64");
        for index in 0..raw.len() {
            let mut altered = raw.clone();
            altered[index] ^= 0x01;
            let result = ring.unseal(&STANDARD.encode(&altered));
            assert!(result.is_err(), "flipping byte {index} was not detected");
        }
    }

    #[test]
    fn truncated_and_extended_tokens_are_rejected() {
        let ring = keyring_with(3);
        let token = ring.seal(&web_identity_claims()).expect("seal");
        let raw = STANDARD.decode(&token).expect("base64");
        for len in 0..raw.len() {
            assert!(ring.unseal(&STANDARD.encode(&raw[..len])).is_err());
        }
        let mut extended = raw.clone();
        extended.push(0);
        assert_eq!(
            ring.unseal(&STANDARD.encode(&extended)),
            Err(UnsealError::Invalid)
        );
    }

    #[test]
    fn previous_keys_still_unseal_after_rotation() {
        let old_key = generate_sealing_key(1, 100);
        let old_ring = SealingKeyring::new(old_key.clone(), vec![]).expect("keyring");
        let claims = web_identity_claims();
        let old_token = old_ring.seal(&claims).expect("seal");

        let new_ring =
            SealingKeyring::new(generate_sealing_key(2, 200), vec![old_key]).expect("keyring");
        assert_eq!(new_ring.current_key_id(), 2);
        assert_eq!(new_ring.unseal(&old_token), Ok(claims.clone()));

        let new_token = new_ring.seal(&claims).expect("seal");
        assert_eq!(
            STANDARD.decode(&new_token).expect("base64")[1..5],
            2u32.to_be_bytes()
        );
        assert_eq!(old_ring.unseal(&new_token), Err(UnsealError::UnknownKey(2)));
    }

    #[test]
    fn retired_key_tokens_fail() {
        let old_ring = keyring_with(1);
        let token = old_ring.seal(&web_identity_claims()).expect("seal");
        let new_ring = keyring_with(2);
        assert_eq!(new_ring.unseal(&token), Err(UnsealError::UnknownKey(1)));
    }

    #[test]
    fn same_key_id_with_different_key_material_fails_authentication() {
        let ring_a = keyring_with(5);
        let ring_b = keyring_with(5);
        let token = ring_a.seal(&web_identity_claims()).expect("seal");
        assert_eq!(ring_b.unseal(&token), Err(UnsealError::Invalid));
    }

    #[test]
    fn duplicate_key_ids_are_rejected() {
        let result = SealingKeyring::new(
            generate_sealing_key(4, 0),
            vec![generate_sealing_key(9, 0), generate_sealing_key(4, 0)],
        );
        assert_eq!(result.err(), Some(KeyringError::DuplicateKeyId(4)));
    }

    #[test]
    fn oversized_tokens_are_rejected_before_decoding() {
        let ring = keyring_with(1);
        let token = "A".repeat(MAX_TOKEN_LEN + 4);
        assert_eq!(ring.unseal(&token), Err(UnsealError::TooLarge));
    }

    #[test]
    fn oversized_claims_cannot_be_sealed() {
        let ring = keyring_with(1);
        let mut claims = web_identity_claims();
        claims.transitive_tags = (0..50)
            .map(|i| (format!("{i:0>128}"), "v".repeat(256)))
            .collect();
        match ring.seal(&claims) {
            Err(SealError::TooLarge { len, limit }) => {
                assert!(len > limit);
                assert_eq!(limit, MAX_TOKEN_LEN);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let ring = keyring_with(1);
        assert_eq!(ring.unseal(""), Err(UnsealError::Malformed));
        assert_eq!(ring.unseal("not base64!"), Err(UnsealError::Malformed));
        assert_eq!(ring.unseal("AQAAAAE="), Err(UnsealError::Malformed));
        let wrong_version = STANDARD.encode([2u8; 64]);
        assert_eq!(
            ring.unseal(&wrong_version),
            Err(UnsealError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let claims = web_identity_claims();
        let rendered = format!("{claims:?}");
        assert!(!rendered.contains(&claims.secret_access_key));
        assert!(rendered.contains("<redacted>"));

        let key = SealingKey {
            id: 1,
            key: [0xAB; 32],
            created: 0,
        };
        let rendered = format!("{key:?}");
        assert!(!rendered.contains("171"), "{rendered}");
        assert!(!rendered.to_lowercase().contains("ab, "), "{rendered}");
        assert!(rendered.contains("<redacted>"));
    }

    #[test]
    fn arns_and_user_id() {
        let claims = web_identity_claims();
        assert_eq!(
            claims.assumed_role_arn(),
            "arn:aws:sts::123456789012:assumed-role/ci-deploy/gitlab-123456"
        );
        assert_eq!(
            claims.role_arn(),
            "arn:aws:iam::123456789012:role/gitlab/ci-deploy"
        );
        assert_eq!(claims.user_id(), "AROAJ2KX7QW3ZRT5YLMNP:gitlab-123456");
        let mut root_path = claims.clone();
        root_path.role_path = "/".into();
        assert_eq!(
            root_path.role_arn(),
            "arn:aws:iam::123456789012:role/ci-deploy"
        );
    }

    #[test]
    fn expiry_boundary() {
        let claims = web_identity_claims();
        assert!(!claims.is_expired(claims.expires_at - 1));
        assert!(claims.is_expired(claims.expires_at));
        assert!(claims.is_expired(claims.expires_at + 1));
    }

    proptest! {
        #[test]
        fn unsealing_arbitrary_strings_never_panics(token in ".{0,600}") {
            let ring = keyring_with(1);
            prop_assert!(ring.unseal(&token).is_err());
        }

        #[test]
        fn unsealing_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            key_id in prop_oneof![Just(1u32), any::<u32>()],
        ) {
            let ring = keyring_with(1);
            let mut raw = vec![TOKEN_VERSION];
            raw.extend_from_slice(&key_id.to_be_bytes());
            raw.extend_from_slice(&bytes);
            prop_assert!(ring.unseal(&STANDARD.encode(&raw)).is_err());
            prop_assert!(ring.unseal(&STANDARD.encode(&bytes)).is_err());
        }
    }
}
