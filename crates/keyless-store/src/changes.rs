//! The change log: every write transaction that changes something moves the generation by one
//! and records which entities it changed, in the same transaction. A replica that holds the
//! state of generation `G` asks for the changes since `G` ([`Store::changes_since`]) and gets
//! those entities as they are now, read in one consistent transaction; when the log no longer
//! reaches back to `G` (it is trimmed to [`Store::set_change_retention`] generations), it is
//! told to reload everything.
//!
//! On PostgreSQL every commit also sends `NOTIFY keyless_changes` with the new generation, so
//! that the other replicas learn of it at once ([`Store::listen_changes`]).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use keyless_sts::model::{Attachment, ManagedPolicy, OidcProvider, Role, RolePolicy};
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::entities::{find_provider, find_role, role_policies_of};
use crate::keys::{self, AdminCredentials, IssuerKeyRecord, SealingKeyRecord};
use crate::outbound::OutboundRecords;
use crate::policies::{attachments_of, find_policy_by_name};
use crate::{Dialect, Store, StoreError};

/// The PostgreSQL channel of change notifications.
pub const CHANGES_CHANNEL: &str = "keyless_changes";

/// Trim the log every this many generations (or every `retention`, when it is smaller).
const TRIM_EVERY: i64 = 256;

/// What one write changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Change {
    /// An OIDC provider, by URL.
    Provider(String),
    /// A role, its inline policies or its attachments, by role name.
    Role(String),
    /// A managed policy or its versions, by policy name.
    Policy(String),
    /// A sealing key, an issuer key or the admin credentials.
    Keys,
    /// The outbound federation switch or an outbound signing key.
    Outbound,
}

impl Change {
    fn kind_and_name(&self) -> (&'static str, &str) {
        match self {
            Change::Provider(url) => ("provider", url),
            Change::Role(name) => ("role", name),
            Change::Policy(name) => ("policy", name),
            Change::Keys => ("keys", ""),
            Change::Outbound => ("outbound", ""),
        }
    }
}

/// A serialised write transaction that collects what it changes.
pub(crate) struct Write {
    pub(crate) tx: Transaction<'static, Any>,
    dialect: Dialect,
    retention: i64,
    changes: BTreeSet<Change>,
}

impl std::ops::Deref for Write {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Write {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Write {
    /// Records that this transaction changes `change`.
    pub(crate) fn changed(&mut self, change: Change) {
        self.changes.insert(change);
    }

    /// Commits. When anything changed, the generation moves by one and the change log gets a
    /// row per changed entity, in the same transaction; on PostgreSQL the other replicas are
    /// notified at commit.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        if self.changes.is_empty() {
            self.tx.commit().await?;
            return Ok(());
        }
        let generation: i64 = sqlx::query(
            "UPDATE store_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
        )
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("generation")?;
        for change in &self.changes {
            let (kind, name) = change.kind_and_name();
            sqlx::query("INSERT INTO changes (generation, kind, name) VALUES ($1, $2, $3)")
                .bind(generation)
                .bind(kind)
                .bind(name)
                .execute(&mut *self.tx)
                .await?;
        }
        if generation % self.retention.clamp(1, TRIM_EVERY) == 0 {
            let oldest = generation - self.retention;
            sqlx::query("DELETE FROM changes WHERE generation <= $1")
                .bind(oldest)
                .execute(&mut *self.tx)
                .await?;
            sqlx::query(
                "UPDATE store_state SET changes_from = $1 WHERE id = 1 AND changes_from < $1",
            )
            .bind(oldest)
            .execute(&mut *self.tx)
            .await?;
        }
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(generation.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// What changed since a generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    /// Nothing: the store is at that generation.
    Current,
    /// The entities changed since, as they are now.
    Entities(ChangedEntities),
    /// The log no longer reaches back to that generation: reload everything.
    Trimmed {
        /// The store's generation.
        generation: i64,
        /// The newest generation the log no longer covers.
        changes_from: i64,
    },
}

/// The entities changed since a generation, as they are at [`ChangedEntities::generation`];
/// `None` for an entity that was deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangedEntities {
    /// The generation these reflect.
    pub generation: i64,
    /// OIDC providers, by URL.
    pub providers: Vec<(String, Option<OidcProvider>)>,
    /// Roles with their inline policies and attachments, by role name.
    pub roles: Vec<(String, Option<RoleRecord>)>,
    /// Managed policies with their versions, by policy name.
    pub policies: Vec<(String, Option<ManagedPolicy>)>,
    /// Every key and the admin credentials, when any of them changed.
    pub keys: Option<KeyRecords>,
    /// The outbound switch and keys, when any of them changed.
    pub outbound: Option<OutboundRecords>,
}

/// A role with its inline policies and its attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// The role.
    pub role: Role,
    /// Its inline policies.
    pub policies: Vec<RolePolicy>,
    /// The managed policies attached to it.
    pub attachments: Vec<Attachment>,
}

/// The keys and the admin credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecords {
    /// Session-token sealing keys.
    pub sealing_keys: Vec<SealingKeyRecord>,
    /// Built-in issuers' signing keys.
    pub issuer_keys: Vec<IssuerKeyRecord>,
    /// The admin credentials.
    pub admin: Option<AdminCredentials>,
}

impl Store {
    /// Starts a serialised write transaction: on SQLite `BEGIN IMMEDIATE`, on PostgreSQL a
    /// transaction holding the generation row's lock.
    pub(crate) async fn begin_write(&self) -> Result<Write, StoreError> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT generation FROM store_state WHERE id = 1 FOR UPDATE")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        Ok(Write {
            tx,
            dialect: self.dialect,
            retention: self.retention.load(Ordering::Relaxed),
            changes: BTreeSet::new(),
        })
    }

    /// Keeps the change log to the last `generations` generations (default 10,000).
    pub fn set_change_retention(&self, generations: i64) {
        self.retention.store(generations.max(1), Ordering::Relaxed);
    }

    /// What changed since `known`, read in one consistent transaction.
    pub async fn changes_since(&self, known: i64) -> Result<Changes, StoreError> {
        let mut tx = self.read_transaction().await?;
        let row = sqlx::query("SELECT generation, changes_from FROM store_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let generation: i64 = row.try_get("generation")?;
        let changes_from: i64 = row.try_get("changes_from")?;
        if generation == known {
            tx.commit().await?;
            return Ok(Changes::Current);
        }
        if known < changes_from || known > generation {
            tx.commit().await?;
            return Ok(Changes::Trimmed {
                generation,
                changes_from,
            });
        }
        let rows = sqlx::query(
            "SELECT DISTINCT kind, name FROM changes WHERE generation > $1 ORDER BY kind, name",
        )
        .bind(known)
        .fetch_all(&mut *tx)
        .await?;
        let mut entities = ChangedEntities {
            generation,
            ..ChangedEntities::default()
        };
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let name: String = row.try_get("name")?;
            match kind.as_str() {
                "provider" => {
                    let provider = find_provider(&mut tx, &name).await?;
                    entities.providers.push((name, provider));
                }
                "role" => {
                    let record = match find_role(&mut tx, &name).await? {
                        Some(role) => Some(RoleRecord {
                            policies: role_policies_of(&mut tx, &name).await?,
                            attachments: attachments_of(&mut tx, &name).await?,
                            role,
                        }),
                        None => None,
                    };
                    entities.roles.push((name, record));
                }
                "policy" => {
                    let policy = find_policy_by_name(&mut tx, &name).await?;
                    entities.policies.push((name, policy));
                }
                "keys" => {
                    entities.keys = Some(KeyRecords {
                        sealing_keys: keys::list_sealing_keys(&mut tx, &self.sealer).await?,
                        issuer_keys: keys::list_issuer_keys(&mut tx, &self.sealer).await?,
                        admin: keys::read_admin(&mut tx, &self.sealer).await?,
                    });
                }
                "outbound" => {
                    entities.outbound =
                        Some(crate::outbound::read_outbound(&mut tx, &self.sealer).await?);
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "the change log names an unknown kind {other:?}"
                    )));
                }
            }
        }
        tx.commit().await?;
        Ok(Changes::Entities(entities))
    }

    /// A read-only transaction that sees one consistent state: repeatable read on PostgreSQL,
    /// a WAL read snapshot on SQLite.
    pub(crate) async fn read_transaction(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin().await?,
            Dialect::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
        })
    }

    /// On PostgreSQL, a listener that receives the generation of every commit made through
    /// any replica; `None` on SQLite, whose replicas poll.
    pub async fn listen_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(ChangeListener { listener }))
    }
}

/// The notifications of commits on PostgreSQL.
pub struct ChangeListener {
    listener: sqlx::postgres::PgListener,
}

impl ChangeListener {
    /// Waits for the next commit and returns its generation. After a lost connection it
    /// reconnects; commits made meanwhile are not announced (the poller catches them).
    pub async fn next(&mut self) -> Result<i64, StoreError> {
        loop {
            let notification = self.listener.recv().await?;
            if let Ok(generation) = notification.payload().parse() {
                return Ok(generation);
            }
        }
    }
}
