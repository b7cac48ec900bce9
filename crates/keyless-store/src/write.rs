//! A write transaction: serialised, it collects which entities it changes and, at commit,
//! moves the generation by one and records them in the change log, in the same transaction.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::{Dialect, Store, StoreError};

/// The PostgreSQL channel of change notifications.
pub(crate) const CHANGES_CHANNEL: &str = "keyless_changes";

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
}
