//! The master key and the encryption of secrets at rest.
//!
//! Secrets are sealed with AES-256-GCM under the master key. Every ciphertext is bound, through
//! its additional authenticated data, to the table and row it is stored in, so a ciphertext
//! copied into another row fails to open. The stored form is
//! `version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::StoreError;

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

const SEALED_VERSION: u8 = 1;
const KEY_CHECK_PLAINTEXT: &[u8] = b"keyless master key check";

/// The 256-bit key that encrypts every secret the store keeps. Its `Debug` output is redacted.
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// Parses a base64 (standard alphabet, padded or not) encoding of exactly 32 bytes, as given
    /// in `KEYLESS_MASTER_KEY`. Surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<MasterKey, StoreError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| StoreError::InvalidMasterKey("not valid base64".to_owned()))?;
        let key: [u8; MASTER_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            StoreError::InvalidMasterKey(format!(
                "expected {MASTER_KEY_LEN} bytes, got {}",
                bytes.len()
            ))
        })?;
        Ok(MasterKey(key))
    }

    /// A new random key from the system's secure random source.
    pub fn generate() -> MasterKey {
        let mut key = [0u8; MASTER_KEY_LEN];
        fill_random(&mut key);
        MasterKey(key)
    }

    /// The padded standard base64 encoding (44 characters).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the key file at `path`, or creates it with a new random key if it does not exist.
    /// Returns the key and whether the file was created by this call.
    ///
    /// The file holds the base64 key as text. A new file is written with mode `0600` to a
    /// temporary name and then linked into place, so it is never observed half-written and
    /// concurrent first starts agree on one key. On Unix an existing file that group or others
    /// can access is refused with [`StoreError::InsecureKeyFile`].
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), StoreError> {
        match read_key_file(path) {
            Ok(key) => return Ok((key, false)),
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(other) => return Err(other),
        }
        let key = MasterKey::generate();
        if write_new_key_file(path, &key)? {
            Ok((key, true))
        } else {
            Ok((read_key_file(path)?, false))
        }
    }

    pub(crate) fn sealer(&self) -> Sealer {
        // A 32-byte slice is always a valid AES-256 key.
        let unbound = UnboundKey::new(&AES_256_GCM, &self.0)
            .unwrap_or_else(|_| unreachable!("AES-256-GCM accepts every 32-byte key"));
        Sealer {
            key: LessSafeKey::new(unbound),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn fill_random(buf: &mut [u8]) {
    // The system random source failing is not recoverable; refusing to run is the only safe answer.
    if aws_lc_rs::rand::fill(buf).is_err() {
        panic!("the system random number generator failed");
    }
}

fn read_key_file(path: &Path) -> Result<MasterKey, StoreError> {
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(|e| StoreError::io(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(StoreError::InsecureKeyFile {
                path: path.to_path_buf(),
                mode: mode & 0o777,
            });
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| StoreError::io(path, e))?;
    MasterKey::from_base64(&text).map_err(|e| match e {
        StoreError::InvalidMasterKey(reason) => {
            StoreError::InvalidMasterKey(format!("key file {}: {reason}", path.display()))
        }
        other => other,
    })
}

/// Writes `key` to `path` unless the file exists. Returns whether this call created it.
fn write_new_key_file(path: &Path, key: &MasterKey) -> Result<bool, StoreError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        StoreError::InvalidMasterKey(format!("{} is not a file path", path.display()))
    })?;
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix);
    let mut temp_name = file_name.to_os_string();
    temp_name.push(format!(".{:016x}.tmp", u64::from_le_bytes(suffix)));
    let temp_path = dir.join(temp_name);

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options
            .open(&temp_path)
            .map_err(|e| StoreError::io(&temp_path, e))?;
        file.write_all(format!("{}\n", key.to_base64()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| StoreError::io(&temp_path, e))?;
        drop(file);
        match std::fs::hard_link(&temp_path, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(StoreError::io(path, e)),
        }
    })();
    // The temporary name is only a staging link; the key lives on under `path`.
    let _ = std::fs::remove_file(&temp_path);
    let created = result?;
    if created {
        #[cfg(unix)]
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(&dir, e))?;
    }
    Ok(created)
}

/// Seals and opens secrets under the master key.
pub(crate) struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// Encrypts `plaintext`, binding it to `context` (table and row).
    pub(crate) fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut in_out = plaintext.to_vec();
        // Sealing only fails for inputs beyond GCM's 64 GiB limit, far above any stored secret.
        if self
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut in_out,
            )
            .is_err()
        {
            unreachable!("AES-GCM sealing of a small secret cannot fail");
        }
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEALED_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        sealed
    }

    /// Decrypts a value sealed under `context`; `None` if the key, context or bytes do not match.
    pub(crate) fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut in_out)
            .ok()?;
        Some(plaintext.to_vec())
    }

    /// The value stored once per database to detect a wrong master key at open.
    pub(crate) fn key_check(&self) -> Vec<u8> {
        self.seal(b"keyless:store_state:key_check", KEY_CHECK_PLAINTEXT)
    }

    /// Whether `stored` was produced by [`Sealer::key_check`] under this key.
    pub(crate) fn verify_key_check(&self, stored: &[u8]) -> bool {
        self.open(b"keyless:store_state:key_check", stored)
            .is_some_and(|p| p == KEY_CHECK_PLAINTEXT)
    }
}

/// The additional authenticated data for a secret stored in `table`, in the row identified by
/// `row_key` (each part length-prefixed so distinct keys never produce the same bytes).
pub(crate) fn context(table: &str, row_key: &[&str]) -> Vec<u8> {
    let mut out = format!("keyless:{table}").into_bytes();
    for part in row_key {
        out.push(b':');
        out.extend_from_slice(part.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_length_checked() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).expect("parses");
        assert_eq!(again.0, key.0);
        assert!(matches!(
            MasterKey::from_base64("AAAA"),
            Err(StoreError::InvalidMasterKey(_))
        ));
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(StoreError::InvalidMasterKey(_))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let key = MasterKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_base64()));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn sealed_values_are_bound_to_their_context_and_key() {
        let key = MasterKey::generate();
        let sealer = key.sealer();
        let sealed = sealer.seal(b"a", b"secret");
        assert_eq!(sealer.open(b"a", &sealed).as_deref(), Some(&b"secret"[..]));
        assert!(sealer.open(b"b", &sealed).is_none());
        assert!(MasterKey::generate().sealer().open(b"a", &sealed).is_none());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(sealer.open(b"a", &tampered).is_none());
        assert!(sealer.open(b"a", &[]).is_none());
    }

    #[test]
    fn contexts_are_unambiguous() {
        assert_ne!(context("t", &["a:1", "b"]), context("t", &["a", "1:b"]));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        let (first, created) = MasterKey::load_or_create(&path).expect("create");
        assert!(created);
        let (second, created_again) = MasterKey::load_or_create(&path).expect("load");
        assert!(!created_again);
        assert_eq!(first.0, second.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(matches!(
                MasterKey::load_or_create(&path),
                Err(StoreError::InsecureKeyFile { .. })
            ));
        }
        let leftovers = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temporary files remain");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        let results: Vec<(String, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let (key, created) = MasterKey::load_or_create(&path).expect("key");
                        (key.to_base64(), created)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
        assert!(results.iter().all(|(key, _)| *key == results[0].0));
    }

    #[test]
    fn garbage_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&path).expect("create");
            file.write_all(b"hello").expect("write");
        }
        assert!(matches!(
            MasterKey::load_or_create(&path),
            Err(StoreError::InvalidMasterKey(_))
        ));
    }
}
