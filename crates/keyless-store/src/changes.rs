//! The change log: every write transaction that changes something moves the generation by one
//! and records which entities it changed, in the same transaction. A replica that holds the
//! state of generation `G` asks for the changes since `G` ([`Store::changes_since`]) and gets
//! those entities as they are now, read in one consistent transaction; when the log no longer
//! reaches back to `G` (it is trimmed to [`Store::set_change_retention`] generations), it is
//! told to reload everything.
//!
//! On PostgreSQL every commit also sends `NOTIFY keyless_changes` with the new generation, so
//! that the other replicas learn of it at once ([`Store::listen_changes`]).

use keyless_sts::model::{Attachment, ManagedPolicy, OidcProvider, Role, RolePolicy};
use sqlx::{Any, Row, Transaction};

use crate::entities::{find_provider, find_role, role_policies_of};
use crate::keys::{self, AdminCredentials, IssuerKeyRecord, SealingKeyRecord};
use crate::outbound::OutboundRecords;
use crate::policies::{attachments_of, find_policy_by_name};
use crate::write::CHANGES_CHANNEL;
use crate::{Dialect, Store, StoreError};

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
