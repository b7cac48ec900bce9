//! AWS-shaped identifiers: access key IDs, secret access keys and unique IDs.
//!
//! Every identifier is drawn from the operating system's CSPRNG (`aws_lc_rs::rand`). The
//! alphabets have 32 or 64 symbols, so masking a random byte gives an unbiased symbol.

/// Prefix of temporary (STS-issued) access key IDs.
pub const TEMPORARY_ACCESS_KEY_PREFIX: &str = "ASIA";
/// Prefix of long-term access key IDs.
pub const LONG_TERM_ACCESS_KEY_PREFIX: &str = "AKIA";
/// Prefix of role unique IDs.
pub const ROLE_ID_PREFIX: &str = "AROA";
/// Prefix of managed policy unique IDs.
pub const MANAGED_POLICY_ID_PREFIX: &str = "ANPA";
/// Prefix of IAM user unique IDs.
pub const USER_ID_PREFIX: &str = "AIDA";

/// Number of random characters after the 4-character prefix of an access key ID.
pub const ACCESS_KEY_ID_RANDOM_LEN: usize = 16;
/// Number of random characters after the 4-character prefix of a unique ID.
pub const UNIQUE_ID_RANDOM_LEN: usize = 17;
/// Length of a secret access key.
pub const SECRET_ACCESS_KEY_LEN: usize = 40;

/// RFC 4648 base32 alphabet, the character set AWS uses for key and unique IDs.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Character set of AWS secret access keys.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";

/// Fills `buf` from the system CSPRNG.
///
/// AWS-LC aborts the process itself if its entropy source fails, so an error here means the
/// process cannot produce secure randomness at all; continuing would be unsafe.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if aws_lc_rs::rand::fill(buf).is_err() {
        panic!("the system random number generator failed");
    }
}

/// Returns `len` random characters drawn uniformly from a power-of-two sized `alphabet`.
fn random_string(alphabet: &[u8], len: usize) -> String {
    debug_assert!(alphabet.len().is_power_of_two() && alphabet.len() <= 256);
    let mask = alphabet.len() - 1;
    let mut bytes = vec![0u8; len];
    fill_random(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) & mask]))
        .collect()
}

/// Creates a new access key ID: `prefix` (`"ASIA"` or `"AKIA"`) followed by 16 random
/// characters of `[A-Z2-7]`, e.g. `ASIAQ3WZ7KXJ2NPLR5TY`.
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
pub fn new_access_key_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + ACCESS_KEY_ID_RANDOM_LEN);
    id.push_str(prefix);
    id.push_str(&random_string(BASE32_ALPHABET, ACCESS_KEY_ID_RANDOM_LEN));
    id
}

/// Creates a new secret access key: 40 random characters of `[A-Za-z0-9/+]` (240 bits).
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
pub fn new_secret_access_key() -> String {
    random_string(SECRET_ALPHABET, SECRET_ACCESS_KEY_LEN)
}

/// Creates a new unique ID: `prefix` (`"AROA"`, `"ANPA"`, `"AIDA"`, ...) followed by 17 random
/// characters of `[A-Z2-7]`, e.g. `AROAJ2KX7QW3ZRT5YLMNP`.
///
/// # Panics
///
/// Panics only if the operating system's random number generator fails.
pub fn new_unique_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + UNIQUE_ID_RANDOM_LEN);
    id.push_str(prefix);
    id.push_str(&random_string(BASE32_ALPHABET, UNIQUE_ID_RANDOM_LEN));
    id
}

/// True if `s` is a 4-letter uppercase prefix followed by exactly `random_len` characters of
/// `[A-Z2-7]`.
fn has_id_shape(s: &str, random_len: usize) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 4 + random_len
        && bytes[..4].iter().all(u8::is_ascii_uppercase)
        && bytes[4..].iter().all(|b| BASE32_ALPHABET.contains(b))
}

/// True if `s` has the shape of an access key ID this crate issues: `ASIA` or `AKIA` followed by
/// 16 characters of `[A-Z2-7]`.
pub fn is_access_key_id(s: &str) -> bool {
    (s.starts_with(TEMPORARY_ACCESS_KEY_PREFIX) || s.starts_with(LONG_TERM_ACCESS_KEY_PREFIX))
        && has_id_shape(s, ACCESS_KEY_ID_RANDOM_LEN)
}

/// True if `s` has the shape of a temporary access key ID: `ASIA` followed by 16 characters of
/// `[A-Z2-7]`.
pub fn is_temporary_access_key_id(s: &str) -> bool {
    s.starts_with(TEMPORARY_ACCESS_KEY_PREFIX) && has_id_shape(s, ACCESS_KEY_ID_RANDOM_LEN)
}

/// True if `s` has the shape of a secret access key: 40 characters of `[A-Za-z0-9/+]`.
pub fn is_secret_access_key(s: &str) -> bool {
    s.len() == SECRET_ACCESS_KEY_LEN && s.bytes().all(|b| SECRET_ALPHABET.contains(&b))
}

/// True if `s` has the shape of a unique ID: a 4-letter uppercase prefix (`AROA`, `ANPA`,
/// `AIDA`, ...) followed by 17 characters of `[A-Z2-7]`.
pub fn is_unique_id(s: &str) -> bool {
    has_id_shape(s, UNIQUE_ID_RANDOM_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn access_key_ids_have_aws_shape() {
        for prefix in [TEMPORARY_ACCESS_KEY_PREFIX, LONG_TERM_ACCESS_KEY_PREFIX] {
            let id = new_access_key_id(prefix);
            assert_eq!(id.len(), 20);
            assert!(id.starts_with(prefix));
            assert!(is_access_key_id(&id), "{id}");
        }
        assert!(is_temporary_access_key_id(&new_access_key_id("ASIA")));
        assert!(!is_temporary_access_key_id(&new_access_key_id("AKIA")));
    }

    #[test]
    fn secret_access_keys_have_aws_shape() {
        let secret = new_secret_access_key();
        assert_eq!(secret.len(), 40);
        assert!(is_secret_access_key(&secret));
        assert!(is_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
    }

    #[test]
    fn unique_ids_have_aws_shape() {
        for prefix in [ROLE_ID_PREFIX, MANAGED_POLICY_ID_PREFIX, USER_ID_PREFIX] {
            let id = new_unique_id(prefix);
            assert_eq!(id.len(), 21);
            assert!(id.starts_with(prefix));
            assert!(is_unique_id(&id), "{id}");
        }
        assert!(is_unique_id("AROAIARCB7OKPBAAAAAAA"));
        assert!(is_unique_id("AIDAJQABLZS4A3QDU576Q"));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!(is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPL"));
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPLE1"));
        assert!(!is_access_key_id("AKIAIOSFODNN0EXAMPLE"));
        assert!(!is_access_key_id("akiaIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("AROAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id(""));
        assert!(!is_secret_access_key("short"));
        assert!(!is_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE!"
        ));
        assert!(!is_unique_id("AROA"));
        assert!(!is_unique_id("aroaIARCB7OKPBAAAAAAA"));
        assert!(!is_unique_id("AROAIARCB7OKPBAAAAAA1"));
    }

    #[test]
    fn identifiers_do_not_repeat() {
        let ids: HashSet<String> = (0..1000).map(|_| new_access_key_id("ASIA")).collect();
        assert_eq!(ids.len(), 1000);
        let secrets: HashSet<String> = (0..1000).map(|_| new_secret_access_key()).collect();
        assert_eq!(secrets.len(), 1000);
    }

    #[test]
    fn all_alphabet_symbols_are_reachable() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.extend(new_secret_access_key().bytes());
        }
        assert_eq!(seen.len(), SECRET_ALPHABET.len());
    }
}
