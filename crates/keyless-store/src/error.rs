//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
///
/// The messages of [`StoreError::NoSuchEntity`], [`StoreError::EntityAlreadyExists`],
/// [`StoreError::DeleteConflict`], [`StoreError::LimitExceeded`] and
/// [`StoreError::InvalidInput`] are written to be returned verbatim as IAM error messages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named entity does not exist (IAM `NoSuchEntity`).
    #[error("{0}")]
    NoSuchEntity(String),
    /// An entity with the same identity already exists (IAM `EntityAlreadyExists`).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// The entity still has dependents (IAM `DeleteConflict`).
    #[error("{0}")]
    DeleteConflict(String),
    /// A quota would be exceeded (IAM `LimitExceeded`).
    #[error("{0}")]
    LimitExceeded(String),
    /// The request itself is inconsistent (IAM `InvalidInput`).
    #[error("{0}")]
    InvalidInput(String),
    /// The master key is not the one this database was initialised with.
    #[error("master key does not match this database")]
    MasterKeyMismatch,
    /// The master key text or key file content is not a valid key.
    #[error("invalid master key: {0}")]
    InvalidMasterKey(String),
    /// The master key file can be read by users other than its owner.
    #[error(
        "master key file {} is accessible by group or others (mode {mode:o}); restrict it with `chmod 600`",
        path.display()
    )]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded or decrypted.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database URL is not usable.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
