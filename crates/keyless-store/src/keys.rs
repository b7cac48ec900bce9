//! Key material and the administrator's credentials, sealed under the master key.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::crypto::{Sealer, context};
use crate::write::Change;
use crate::{Store, StoreError};

/// The life-cycle state of a sealing key or an issuer signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published or distributed ahead of use, not yet used to seal or sign.
    Next,
    /// Used to seal or sign.
    Current,
    /// No longer used to seal or sign, still accepted when opening or verifying.
    Previous,
    /// Neither used nor accepted.
    Retired,
}

impl KeyState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<KeyState> {
        match text {
            "next" => Some(KeyState::Next),
            "current" => Some(KeyState::Current),
            "previous" => Some(KeyState::Previous),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

fn parse_state(text: &str) -> Result<KeyState, StoreError> {
    KeyState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown key state {text:?}")))
}

/// A symmetric key that seals session tokens. `Debug` redacts the key; equality compares the key
/// in constant time.
#[derive(Clone)]
pub struct SealingKeyRecord {
    /// The key's identifier (carried in the tokens it seals).
    pub id: u32,
    /// The AES-256 key.
    pub key: [u8; 32],
    /// Creation time.
    pub created: i64,
    /// Life-cycle state.
    pub state: KeyState,
}

impl fmt::Debug for SealingKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKeyRecord")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("created", &self.created)
            .field("state", &self.state)
            .finish()
    }
}

impl PartialEq for SealingKeyRecord {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.created == other.created
            && self.state == other.state
            && verify_slices_are_equal(&self.key, &other.key).is_ok()
    }
}

impl Eq for SealingKeyRecord {}

/// A signing key of one of the built-in issuers. `Debug` redacts the private key; equality
/// compares it in constant time.
#[derive(Clone)]
pub struct IssuerKeyRecord {
    /// The built-in issuer's name.
    pub issuer: String,
    /// The key ID published in the JWKS.
    pub kid: String,
    /// The private key, PKCS#8 DER.
    pub pkcs8_der: Vec<u8>,
    /// Creation time.
    pub created: i64,
    /// Life-cycle state.
    pub state: KeyState,
    /// When the state last changed.
    pub state_changed: i64,
}

impl fmt::Debug for IssuerKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKeyRecord")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .field("pkcs8_der", &"<redacted>")
            .field("created", &self.created)
            .field("state", &self.state)
            .field("state_changed", &self.state_changed)
            .finish()
    }
}

impl PartialEq for IssuerKeyRecord {
    fn eq(&self, other: &Self) -> bool {
        self.issuer == other.issuer
            && self.kid == other.kid
            && self.created == other.created
            && self.state == other.state
            && self.state_changed == other.state_changed
            && verify_slices_are_equal(&self.pkcs8_der, &other.pkcs8_der).is_ok()
    }
}

impl Eq for IssuerKeyRecord {}

/// The IAM API administrator's long-term credentials. `Debug` redacts the secret; equality
/// compares it in constant time.
#[derive(Clone)]
pub struct AdminCredentials {
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl PartialEq for AdminCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.access_key_id == other.access_key_id
            && verify_slices_are_equal(
                self.secret_access_key.as_bytes(),
                other.secret_access_key.as_bytes(),
            )
            .is_ok()
    }
}

impl Eq for AdminCredentials {}

fn sealing_context(id: u32) -> Vec<u8> {
    context("sealing_keys", &[&id.to_string()])
}

fn issuer_context(issuer: &str, kid: &str) -> Vec<u8> {
    context("issuer_keys", &[issuer, kid])
}

fn admin_context(access_key_id: &str) -> Vec<u8> {
    context("admin_credentials", &[access_key_id])
}

fn undecryptable(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{what} cannot be decrypted with the master key (altered or moved ciphertext)"
    ))
}

const SEALING_COLUMNS: &str = "id, sealed_key, created, state";
const ISSUER_COLUMNS: &str = "issuer, kid, sealed_pkcs8, created, state, state_changed";

fn sealing_from_row(row: &AnyRow, sealer: &Sealer) -> Result<SealingKeyRecord, StoreError> {
    let raw_id: i64 = row.try_get("id")?;
    let id = u32::try_from(raw_id)
        .map_err(|_| StoreError::Corrupt(format!("sealing key id {raw_id} is out of range")))?;
    let sealed: Vec<u8> = row.try_get("sealed_key")?;
    let what = format!("sealing key {id}");
    let plain = sealer
        .open(&sealing_context(id), &sealed)
        .ok_or_else(|| undecryptable(&what))?;
    let key: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} has the wrong length")))?;
    Ok(SealingKeyRecord {
        id,
        key,
        created: row.try_get("created")?,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
    })
}

fn issuer_from_row(row: &AnyRow, sealer: &Sealer) -> Result<IssuerKeyRecord, StoreError> {
    let issuer: String = row.try_get("issuer")?;
    let kid: String = row.try_get("kid")?;
    let sealed: Vec<u8> = row.try_get("sealed_pkcs8")?;
    let pkcs8_der = sealer
        .open(&issuer_context(&issuer, &kid), &sealed)
        .ok_or_else(|| undecryptable(&format!("issuer key {issuer}/{kid}")))?;
    Ok(IssuerKeyRecord {
        pkcs8_der,
        created: row.try_get("created")?,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        state_changed: row.try_get("state_changed")?,
        issuer,
        kid,
    })
}

pub(crate) async fn list_sealing_keys(
    conn: &mut AnyConnection,
    sealer: &Sealer,
) -> Result<Vec<SealingKeyRecord>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SEALING_COLUMNS} FROM sealing_keys ORDER BY id"
    ));
    sqlx::query(sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| sealing_from_row(row, sealer))
        .collect()
}

pub(crate) async fn list_issuer_keys(
    conn: &mut AnyConnection,
    sealer: &Sealer,
) -> Result<Vec<IssuerKeyRecord>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ISSUER_COLUMNS} FROM issuer_keys ORDER BY issuer, created, kid"
    ));
    sqlx::query(sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| issuer_from_row(row, sealer))
        .collect()
}

pub(crate) async fn read_admin(
    conn: &mut AnyConnection,
    sealer: &Sealer,
) -> Result<Option<AdminCredentials>, StoreError> {
    let row =
        sqlx::query("SELECT access_key_id, sealed_secret FROM admin_credentials WHERE id = 1")
            .fetch_optional(conn)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let access_key_id: String = row.try_get("access_key_id")?;
    let sealed: Vec<u8> = row.try_get("sealed_secret")?;
    let secret = sealer
        .open(&admin_context(&access_key_id), &sealed)
        .ok_or_else(|| undecryptable("the admin secret"))?;
    let secret_access_key = String::from_utf8(secret)
        .map_err(|_| StoreError::Corrupt("the admin secret is not UTF-8".to_owned()))?;
    Ok(Some(AdminCredentials {
        access_key_id,
        secret_access_key,
    }))
}

async fn sealing_key_exists(conn: &mut AnyConnection, id: u32) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT id FROM sealing_keys WHERE id = $1")
        .bind(i64::from(id))
        .fetch_optional(conn)
        .await?
        .is_some())
}

async fn write_sealing_key(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    rec: &SealingKeyRecord,
    state: KeyState,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sealing_keys (id, sealed_key, created, state) VALUES ($1, $2, $3, $4)",
    )
    .bind(i64::from(rec.id))
    .bind(sealer.seal(&sealing_context(rec.id), &rec.key))
    .bind(rec.created)
    .bind(state.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_issuer_key(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    rec: &IssuerKeyRecord,
) -> Result<(), StoreError> {
    let exists = sqlx::query("SELECT kid FROM issuer_keys WHERE issuer = $1 AND kid = $2")
        .bind(rec.issuer.as_str())
        .bind(rec.kid.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if exists {
        return Err(StoreError::EntityAlreadyExists(format!(
            "Issuer key {} already exists for issuer {}.",
            rec.kid, rec.issuer
        )));
    }
    sqlx::query(
        "INSERT INTO issuer_keys (issuer, kid, sealed_pkcs8, created, state, state_changed) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(rec.issuer.as_str())
    .bind(rec.kid.as_str())
    .bind(sealer.seal(&issuer_context(&rec.issuer, &rec.kid), &rec.pkcs8_der))
    .bind(rec.created)
    .bind(rec.state.as_str())
    .bind(rec.state_changed)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Stores a sealing key in its given state. [`StoreError::EntityAlreadyExists`] if the id is
    /// taken.
    pub async fn insert_sealing_key(&self, rec: &SealingKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if sealing_key_exists(&mut tx, rec.id).await? {
            return Err(StoreError::EntityAlreadyExists(format!(
                "Sealing key {} already exists.",
                rec.id
            )));
        }
        write_sealing_key(&mut tx, &self.sealer, rec, rec.state).await?;
        tx.changed(Change::Keys);
        tx.commit().await
    }

    /// Makes `new` the current sealing key, in one transaction: `new` becomes `Current` (it is
    /// inserted if its id is not stored yet; a stored `Next` key with that id is promoted), the
    /// previous `Current` key becomes `Previous`, and of the `Previous` keys only the
    /// `keep_previous` newest are kept. Older ones are deleted: a sealing key that no longer
    /// opens tokens has no use, and deleting it removes the key material.
    pub async fn rotate_sealing_key(
        &self,
        new: &SealingKeyRecord,
        keep_previous: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let new_id = i64::from(new.id);
        sqlx::query("UPDATE sealing_keys SET state = $1 WHERE state = $2 AND id <> $3")
            .bind(KeyState::Previous.as_str())
            .bind(KeyState::Current.as_str())
            .bind(new_id)
            .execute(&mut *tx)
            .await?;
        if sealing_key_exists(&mut tx, new.id).await? {
            sqlx::query("UPDATE sealing_keys SET state = $1 WHERE id = $2")
                .bind(KeyState::Current.as_str())
                .bind(new_id)
                .execute(&mut *tx)
                .await?;
        } else {
            write_sealing_key(&mut tx, &self.sealer, new, KeyState::Current).await?;
        }
        let previous = sqlx::query(
            "SELECT id FROM sealing_keys WHERE state = $1 ORDER BY created DESC, id DESC",
        )
        .bind(KeyState::Previous.as_str())
        .fetch_all(&mut *tx)
        .await?;
        for row in previous.iter().skip(keep_previous) {
            let id: i64 = row.try_get("id")?;
            sqlx::query("DELETE FROM sealing_keys WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.changed(Change::Keys);
        tx.commit().await
    }

    /// Returns the current sealing key, first storing `candidate` as `Current` if there is none.
    /// Race-safe across replicas: every caller gets the same winner. The flag tells whether
    /// `candidate` was stored.
    pub async fn ensure_initial_sealing_key(
        &self,
        candidate: &SealingKeyRecord,
    ) -> Result<(SealingKeyRecord, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SEALING_COLUMNS} FROM sealing_keys WHERE state = $1 ORDER BY id DESC"
        ));
        let current = sqlx::query(sql)
            .bind(KeyState::Current.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = current {
            let existing = sealing_from_row(&row, &self.sealer)?;
            tx.commit().await?;
            return Ok((existing, false));
        }
        if sealing_key_exists(&mut tx, candidate.id).await? {
            return Err(StoreError::EntityAlreadyExists(format!(
                "Sealing key {} already exists.",
                candidate.id
            )));
        }
        write_sealing_key(&mut tx, &self.sealer, candidate, KeyState::Current).await?;
        tx.changed(Change::Keys);
        tx.commit().await?;
        let mut stored = candidate.clone();
        stored.state = KeyState::Current;
        Ok((stored, true))
    }

    /// Stores a signing key of a built-in issuer. [`StoreError::EntityAlreadyExists`] if the
    /// issuer already has this key ID.
    pub async fn insert_issuer_key(&self, rec: &IssuerKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write_issuer_key(&mut tx, &self.sealer, rec).await?;
        tx.changed(Change::Keys);
        tx.commit().await
    }

    /// Moves an issuer key to `state`, recording `at` as the time of the change.
    /// [`StoreError::NoSuchEntity`] if the key does not exist.
    pub async fn set_issuer_key_state(
        &self,
        issuer: &str,
        kid: &str,
        state: KeyState,
        at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE issuer_keys SET state = $1, state_changed = $2 WHERE issuer = $3 AND kid = $4",
        )
        .bind(state.as_str())
        .bind(at)
        .bind(issuer)
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NoSuchEntity(format!(
                "Issuer key {kid} of issuer {issuer} cannot be found."
            )));
        }
        tx.changed(Change::Keys);
        tx.commit().await
    }

    /// Returns the current signing key of `candidate.issuer`, first storing `candidate` as
    /// `Current` if that issuer has no `Current` key. Race-safe across replicas: every caller
    /// gets the same winner. The flag tells whether `candidate` was stored.
    pub async fn ensure_initial_issuer_key(
        &self,
        candidate: &IssuerKeyRecord,
    ) -> Result<(IssuerKeyRecord, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ISSUER_COLUMNS} FROM issuer_keys WHERE issuer = $1 AND state = $2 \
             ORDER BY created DESC, kid DESC"
        ));
        let current = sqlx::query(sql)
            .bind(candidate.issuer.as_str())
            .bind(KeyState::Current.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = current {
            let existing = issuer_from_row(&row, &self.sealer)?;
            tx.commit().await?;
            return Ok((existing, false));
        }
        let mut stored = candidate.clone();
        stored.state = KeyState::Current;
        write_issuer_key(&mut tx, &self.sealer, &stored).await?;
        tx.changed(Change::Keys);
        tx.commit().await?;
        Ok((stored, true))
    }

    /// Stores `proposed` as the administrator's credentials unless some are stored already, and
    /// returns the stored ones. Race-safe across replicas; the flag tells whether `proposed` was
    /// stored.
    pub async fn init_admin_credentials(
        &self,
        proposed: &AdminCredentials,
    ) -> Result<(AdminCredentials, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(existing) = read_admin(&mut tx, &self.sealer).await? {
            tx.commit().await?;
            return Ok((existing, false));
        }
        sqlx::query(
            "INSERT INTO admin_credentials (id, access_key_id, sealed_secret) VALUES (1, $1, $2)",
        )
        .bind(proposed.access_key_id.as_str())
        .bind(self.sealer.seal(
            &admin_context(&proposed.access_key_id),
            proposed.secret_access_key.as_bytes(),
        ))
        .execute(&mut *tx)
        .await?;
        tx.changed(Change::Keys);
        tx.commit().await?;
        Ok((proposed.clone(), true))
    }

    /// Replaces the administrator's credentials (rotation).
    pub async fn replace_admin_credentials(
        &self,
        credentials: &AdminCredentials,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM admin_credentials WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO admin_credentials (id, access_key_id, sealed_secret) VALUES (1, $1, $2)",
        )
        .bind(credentials.access_key_id.as_str())
        .bind(self.sealer.seal(
            &admin_context(&credentials.access_key_id),
            credentials.secret_access_key.as_bytes(),
        ))
        .execute(&mut *tx)
        .await?;
        tx.changed(Change::Keys);
        tx.commit().await
    }

    /// The administrator's credentials, if initialised.
    pub async fn admin_credentials(&self) -> Result<Option<AdminCredentials>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_admin(&mut conn, &self.sealer).await
    }
}
