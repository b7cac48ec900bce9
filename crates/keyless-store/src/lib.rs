//! Persistent state on SQLite or PostgreSQL: providers, roles, policies, keys and admin
//! credentials, with secrets encrypted at rest.
//!
//! The server serves requests from an in-memory state compiled from a [`Snapshot`]; the store is
//! used for writes, at start-up, and to propagate changes between replicas. Every write that
//! changes an entity or a key moves a single generation counter by one and records the entities
//! it changed in the change log, in the same transaction, so a replica applies only what
//! changed ([`Store::changes_since`]); on PostgreSQL the commit also notifies the other
//! replicas ([`Store::listen_changes`]).
//!
//! Writers are serialised: on SQLite each write runs in a `BEGIN IMMEDIATE` transaction, on
//! PostgreSQL it first locks the generation row. Read-check-write sequences (existence checks,
//! "create if absent") are therefore race-free across replicas.
//!
//! Secrets (sealing keys, issuer private keys, the admin secret) are sealed with AES-256-GCM
//! under the [`MasterKey`], bound to their table and row. A key-check value written at the first
//! open makes a wrong master key fail at [`Store::open`] with [`StoreError::MasterKeyMismatch`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use keyless_store::{MasterKey, Store, StoreError};
//! use keyless_sts::model::{ManagedBy, Role};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let url = format!("sqlite:{}", dir.path().join("keyless.db").display());
//! let store = Store::open(&url, MasterKey::generate()).await.unwrap();
//! let before = store.generation().await.unwrap();
//! let role = Role {
//!     name: "deployer".into(),
//!     path: "/".into(),
//!     role_id: "AROAEXAMPLEEXAMPLE01".into(),
//!     trust_policy: "{}".into(),
//!     description: None,
//!     max_session_duration: 3600,
//!     permissions_boundary: None,
//!     tags: Vec::new(),
//!     created: 0,
//!     managed_by: ManagedBy::Api,
//! };
//! store.create_role(&role).await.unwrap();
//! assert_eq!(store.get_role("deployer").await.unwrap(), role);
//! assert_eq!(store.generation().await.unwrap(), before + 1);
//! assert!(matches!(store.create_role(&role).await, Err(StoreError::EntityAlreadyExists(_))));
//! # });
//! ```

#![warn(missing_docs)]

mod changes;
mod config;
mod crypto;
mod entities;
mod error;
mod keys;
mod outbound;
mod pages;
mod policies;
mod rows;
mod write;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use keyless_sts::model::{Attachment, ManagedPolicy, OidcProvider, Role, RolePolicy};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Connection, Row};

pub use changes::{ChangeListener, ChangedEntities, Changes, KeyRecords, RoleRecord};
pub use crypto::{MASTER_KEY_LEN, MasterKey};
pub use error::StoreError;
pub use keys::{AdminCredentials, IssuerKeyRecord, KeyState, SealingKeyRecord};
pub use outbound::{OutboundFederation, OutboundKeyRecord, OutboundRecords};
pub use pages::{ListedPolicy, PageRequest, PolicyUsage};
pub use policies::MAX_POLICY_VERSIONS;

use crypto::Sealer;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a connection attempt or a wait for a locked SQLite database may take.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the server serves from, read in one consistent transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The generation this snapshot reflects.
    pub generation: i64,
    /// OIDC providers, ordered by URL.
    pub providers: Vec<OidcProvider>,
    /// Roles, ordered by name.
    pub roles: Vec<Role>,
    /// Inline role policies, ordered by role name then policy name.
    pub role_policies: Vec<RolePolicy>,
    /// Customer-managed policies with all their versions, ordered by name.
    pub managed_policies: Vec<ManagedPolicy>,
    /// Managed policies attached to roles, ordered by role name then policy name.
    pub attachments: Vec<Attachment>,
    /// Session-token sealing keys, ordered by id.
    pub sealing_keys: Vec<SealingKeyRecord>,
    /// Signing keys of the built-in issuers, ordered by issuer then creation time.
    pub issuer_keys: Vec<IssuerKeyRecord>,
    /// The IAM API administrator's credentials, once initialised.
    pub admin: Option<AdminCredentials>,
    /// Outbound identity federation: the switch and the signing keys.
    pub outbound: OutboundRecords,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A handle on the database. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    sealer: Arc<Sealer>,
    /// The URL it was opened with (for the PostgreSQL change listener); never logged.
    url: Arc<str>,
    /// Generations the change log keeps.
    retention: Arc<AtomicI64>,
}

/// Generations the change log keeps by default.
const DEFAULT_RETENTION: i64 = 10_000;

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (and if needed creates and migrates) the database at `url`.
    ///
    /// * `sqlite:/path/keyless.db` or `sqlite://path/keyless.db`: the file is created if
    ///   missing; WAL journal, `synchronous=FULL`, foreign keys on, a busy timeout.
    /// * `postgres://…` or `postgresql://…`: a connection pool.
    ///
    /// The dialect's migrations run at open; on PostgreSQL concurrent replicas are serialised by
    /// the migrator's advisory lock. The first open records a key-check value for `master`;
    /// later opens with another key fail with [`StoreError::MasterKeyMismatch`].
    pub async fn open(url: &str, master: MasterKey) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, options, max_connections) = if url.starts_with("sqlite:") {
            let sqlite = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
                .create_if_missing(true);
            let options = AnyConnectOptions::from_url(&sqlite.to_url_lossy())
                .map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
            (Dialect::Sqlite, options, 4)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = AnyConnectOptions::from_str(url)
                .map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
            (Dialect::Postgres, options, 8)
        } else {
            return Err(StoreError::InvalidUrl(
                "expected a URL starting with sqlite:, postgres:// or postgresql://".to_owned(),
            ));
        };

        if dialect == Dialect::Sqlite {
            check_sqlite_file(url).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(BUSY_TIMEOUT * 3)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        for pragma in [
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;

        match dialect {
            Dialect::Sqlite => {
                // Several processes creating the same file race on the migrations: a loser fails
                // on a table another one has just created, and a later run finds that migration
                // recorded as applied.
                let mut attempt = 0;
                while let Err(e) = SQLITE_MIGRATIONS.run(&pool).await {
                    attempt += 1;
                    if attempt == 5 {
                        return Err(e.into());
                    }
                    tracing::debug!(error = %e, attempt, "retrying SQLite migrations");
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
            }
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }

        let store = Store {
            pool,
            dialect,
            sealer: Arc::new(master.sealer()),
            url: Arc::from(url),
            retention: Arc::new(AtomicI64::new(DEFAULT_RETENTION)),
        };
        store.check_master_key().await?;
        let generation = store.generation().await?;
        tracing::info!(dialect = store.dialect(), generation, "store opened");
        Ok(store)
    }

    async fn check_master_key(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE store_state SET key_check = $1 WHERE id = 1 AND key_check IS NULL")
            .bind(self.sealer.key_check())
            .execute(&self.pool)
            .await?;
        let stored: Option<Vec<u8>> = sqlx::query("SELECT key_check FROM store_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("key_check")?;
        match stored {
            Some(check) if self.sealer.verify_key_check(&check) => Ok(()),
            Some(_) => Err(StoreError::MasterKeyMismatch),
            None => Err(StoreError::Corrupt(
                "the key-check value is missing".to_owned(),
            )),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn dialect(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    /// Closes every pooled connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The change counter: incremented in the same transaction as every entity or key write.
    pub async fn generation(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT generation FROM store_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("generation")?)
    }

    /// Reads everything in one transaction (a repeatable-read snapshot on PostgreSQL, a WAL read
    /// snapshot on SQLite), decrypting the key material.
    pub async fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self.read_transaction().await?;
        let generation: i64 = sqlx::query("SELECT generation FROM store_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?
            .try_get("generation")?;
        let snapshot = Snapshot {
            generation,
            providers: entities::list_providers(&mut tx).await?,
            roles: entities::list_roles(&mut tx).await?,
            role_policies: entities::list_all_role_policies(&mut tx).await?,
            managed_policies: policies::list_policies(&mut tx).await?,
            attachments: policies::list_all_attachments(&mut tx).await?,
            sealing_keys: keys::list_sealing_keys(&mut tx, &self.sealer).await?,
            issuer_keys: keys::list_issuer_keys(&mut tx, &self.sealer).await?,
            admin: keys::read_admin(&mut tx, &self.sealer).await?,
            outbound: outbound::read_outbound(&mut tx, &self.sealer).await?,
        };
        tx.commit().await?;
        Ok(snapshot)
    }

    /// Deletes the audit events recorded before `before` (Unix seconds); returns how many.
    pub async fn prune_audit_events(&self, before: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM audit_events WHERE recorded < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    /// Appends audit events (each a JSON document). Audit events are not part of the snapshot
    /// and do not move the generation.
    pub async fn insert_audit_events(&self, events: &[&str]) -> Result<(), StoreError> {
        for (index, event) in events.iter().enumerate() {
            serde_json::from_str::<serde::de::IgnoredAny>(event).map_err(|e| {
                StoreError::InvalidInput(format!("audit event {index} is not valid JSON: {e}"))
            })?;
        }
        let recorded = now();
        let mut tx = self.pool.begin().await?;
        for event in events {
            sqlx::query("INSERT INTO audit_events (recorded, event) VALUES ($1, $2)")
                .bind(recorded)
                .bind(*event)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Opens one connection to a SQLite database and reads its schema, so that a file that is not
/// a database (or is corrupt) fails at once with SQLite's reason instead of leaving the pool to
/// retry until it times out.
async fn check_sqlite_file(url: &str) -> Result<(), StoreError> {
    use sqlx::sqlite::SqliteConnection;
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
        .create_if_missing(true);
    let mut conn = tokio::time::timeout(BUSY_TIMEOUT, SqliteConnection::connect_with(&options))
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))??;
    let checked = sqlx::query("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut conn)
        .await;
    let _ = conn.close().await;
    checked.map(drop).map_err(StoreError::from)
}

/// The current Unix time in seconds.
fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_enforce_foreign_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("k.db").display());
        let store = Store::open(&url, MasterKey::generate())
            .await
            .expect("open");
        let mut conn = store.pool.acquire().await.expect("connection");
        let text = |sql: &'static str| sqlx::query(sql);
        let journal: String = text("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .expect("journal_mode")
            .try_get(0)
            .expect("text");
        assert_eq!(journal, "wal");
        for (pragma, expected) in [
            ("PRAGMA synchronous", 2_i64),
            ("PRAGMA foreign_keys", 1),
            ("PRAGMA busy_timeout", 10_000),
        ] {
            let value: i64 = text(pragma)
                .fetch_one(&mut *conn)
                .await
                .expect("pragma")
                .try_get(0)
                .expect("integer");
            assert_eq!(value, expected, "{pragma}");
        }
        let orphan = sqlx::query(
            "INSERT INTO role_policies (role_name, policy_name, document) VALUES ('x', 'y', '{}')",
        )
        .execute(&mut *conn)
        .await;
        assert!(orphan.is_err(), "foreign keys are enforced");
    }
}
