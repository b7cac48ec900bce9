//! Outbound identity federation: the account's switch and its signing keys, sealed under the
//! master key. Every write goes through the change log (`Change::Outbound`), so replicas see
//! enable, disable and rotation.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::crypto::{Sealer, context};
use crate::keys::KeyState;
use crate::write::Change;
use crate::{Store, StoreError};

/// The account's outbound federation switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundFederation {
    /// Whether `GetWebIdentityToken` may issue tokens.
    pub enabled: bool,
    /// When it was last enabled or disabled, Unix seconds.
    pub changed: i64,
}

/// An outbound signing key. `Debug` redacts the private key; equality compares it in constant
/// time.
#[derive(Clone)]
pub struct OutboundKeyRecord {
    /// The key ID published in the JWKS (`RSA_0`, `EC384_1`).
    pub kid: String,
    /// The JOSE algorithm it signs with (`RS256`, `ES384`).
    pub algorithm: String,
    /// The private key, PKCS#8 DER.
    pub pkcs8_der: Vec<u8>,
    /// Creation time.
    pub created: i64,
    /// Life-cycle state.
    pub state: KeyState,
    /// When the state last changed.
    pub state_changed: i64,
}

impl fmt::Debug for OutboundKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("pkcs8_der", &"<redacted>")
            .field("created", &self.created)
            .field("state", &self.state)
            .field("state_changed", &self.state_changed)
            .finish()
    }
}

impl PartialEq for OutboundKeyRecord {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid
            && self.algorithm == other.algorithm
            && self.created == other.created
            && self.state == other.state
            && self.state_changed == other.state_changed
            && verify_slices_are_equal(&self.pkcs8_der, &other.pkcs8_der).is_ok()
    }
}

impl Eq for OutboundKeyRecord {}

/// The switch and the keys, as one unit of the snapshot and the change log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundRecords {
    /// The switch; `None` until it was first enabled.
    pub federation: Option<OutboundFederation>,
    /// Every outbound key, ordered by algorithm, creation time and `kid`.
    pub keys: Vec<OutboundKeyRecord>,
}

fn key_context(kid: &str) -> Vec<u8> {
    context("outbound_keys", &[kid])
}

const KEY_COLUMNS: &str = "kid, algorithm, sealed_pkcs8, created, state, state_changed";

fn key_from_row(row: &AnyRow, sealer: &Sealer) -> Result<OutboundKeyRecord, StoreError> {
    let kid: String = row.try_get("kid")?;
    let sealed: Vec<u8> = row.try_get("sealed_pkcs8")?;
    let pkcs8_der = sealer.open(&key_context(&kid), &sealed).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "outbound key {kid} cannot be decrypted with the master key (altered or moved ciphertext)"
        ))
    })?;
    let state: String = row.try_get("state")?;
    Ok(OutboundKeyRecord {
        algorithm: row.try_get("algorithm")?,
        pkcs8_der,
        created: row.try_get("created")?,
        state: KeyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown key state {state:?}")))?,
        state_changed: row.try_get("state_changed")?,
        kid,
    })
}

async fn read_federation(
    conn: &mut AnyConnection,
) -> Result<Option<OutboundFederation>, StoreError> {
    let row = sqlx::query("SELECT enabled, changed FROM outbound_federation WHERE id = 1")
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok(OutboundFederation {
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            changed: row.try_get("changed")?,
        })
    })
    .transpose()
}

pub(crate) async fn read_outbound(
    conn: &mut AnyConnection,
    sealer: &Sealer,
) -> Result<OutboundRecords, StoreError> {
    let federation = read_federation(&mut *conn).await?;
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM outbound_keys ORDER BY algorithm, created, kid"
    ));
    let keys = sqlx::query(sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| key_from_row(row, sealer))
        .collect::<Result<_, _>>()?;
    Ok(OutboundRecords { federation, keys })
}

async fn write_key(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    rec: &OutboundKeyRecord,
) -> Result<(), StoreError> {
    let exists = sqlx::query("SELECT kid FROM outbound_keys WHERE kid = $1")
        .bind(rec.kid.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if exists {
        return Err(StoreError::EntityAlreadyExists(format!(
            "Outbound key {} already exists.",
            rec.kid
        )));
    }
    sqlx::query(
        "INSERT INTO outbound_keys (kid, algorithm, sealed_pkcs8, created, state, state_changed) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(rec.kid.as_str())
    .bind(rec.algorithm.as_str())
    .bind(sealer.seal(&key_context(&rec.kid), &rec.pkcs8_der))
    .bind(rec.created)
    .bind(rec.state.as_str())
    .bind(rec.state_changed)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The outbound switch, read from the store (not the live state), so a switch flipped
    /// through another replica counts at once. `None` if never enabled.
    pub async fn outbound_federation(&self) -> Result<Option<OutboundFederation>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_federation(&mut conn).await
    }

    /// Turns outbound federation on or off at `at`. Returns `false`, changing nothing, when it
    /// is already in that state (never enabled counts as off).
    pub async fn set_outbound_federation(
        &self,
        enabled: bool,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = read_federation(&mut tx).await?;
        if current.is_some_and(|f| f.enabled) == enabled {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM outbound_federation WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO outbound_federation (id, enabled, changed) VALUES (1, $1, $2)")
            .bind(i64::from(enabled))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.changed(Change::Outbound);
        tx.commit().await?;
        Ok(true)
    }

    /// The switch and every outbound key.
    pub async fn outbound(&self) -> Result<OutboundRecords, StoreError> {
        let mut tx = self.read_transaction().await?;
        let records = read_outbound(&mut tx, &self.sealer).await?;
        tx.commit().await?;
        Ok(records)
    }

    /// Stores an outbound key. [`StoreError::EntityAlreadyExists`] if the `kid` is taken.
    pub async fn insert_outbound_key(&self, rec: &OutboundKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write_key(&mut tx, &self.sealer, rec).await?;
        tx.changed(Change::Outbound);
        tx.commit().await
    }

    /// Moves outbound keys to new states in one transaction, recording `at` as the time of the
    /// change. [`StoreError::NoSuchEntity`] (and nothing changes) if a key does not exist.
    pub async fn set_outbound_key_states(
        &self,
        changes: &[(&str, KeyState)],
        at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (kid, state) in changes {
            let updated = sqlx::query(
                "UPDATE outbound_keys SET state = $1, state_changed = $2 WHERE kid = $3",
            )
            .bind(state.as_str())
            .bind(at)
            .bind(*kid)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NoSuchEntity(format!(
                    "Outbound key {kid} cannot be found."
                )));
            }
        }
        tx.changed(Change::Outbound);
        tx.commit().await
    }

    /// Stores `candidate` as the current key of its algorithm unless that algorithm has a
    /// current key already. Race-safe across replicas; returns whether `candidate` was stored.
    pub async fn ensure_initial_outbound_key(
        &self,
        candidate: &OutboundKeyRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let current =
            sqlx::query("SELECT kid FROM outbound_keys WHERE algorithm = $1 AND state = $2")
                .bind(candidate.algorithm.as_str())
                .bind(KeyState::Current.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if current.is_some() {
            tx.commit().await?;
            return Ok(false);
        }
        let mut stored = candidate.clone();
        stored.state = KeyState::Current;
        write_key(&mut tx, &self.sealer, &stored).await?;
        tx.changed(Change::Outbound);
        tx.commit().await?;
        Ok(true)
    }
}
