//! OIDC providers, roles and inline role policies.

use keyless_sts::model::{OidcProvider, Role, RolePolicy};
use sqlx::{AnyConnection, Row};

use crate::rows::{
    PROVIDER_COLUMNS, ROLE_COLUMNS, bool_to_int, condition_keys_str, parse_policy_arn,
    provider_from_row, role_from_row, to_json,
};
use crate::write::Change;
use crate::{Store, StoreError};

pub(crate) fn no_such_provider(url: &str) -> StoreError {
    StoreError::NoSuchEntity(format!("OpenIDConnect Provider not found for url {url}"))
}

pub(crate) fn no_such_role(name: &str) -> StoreError {
    StoreError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

fn no_such_role_policy(name: &str) -> StoreError {
    StoreError::NoSuchEntity(format!("The role policy with name {name} cannot be found."))
}

pub(crate) async fn find_provider(
    conn: &mut AnyConnection,
    url: &str,
) -> Result<Option<OidcProvider>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM oidc_providers WHERE url = $1"
    ));
    sqlx::query(sql)
        .bind(url)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(provider_from_row)
        .transpose()
}

pub(crate) async fn list_providers(
    conn: &mut AnyConnection,
) -> Result<Vec<OidcProvider>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM oidc_providers ORDER BY url"
    ));
    sqlx::query(sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(provider_from_row)
        .collect()
}

pub(crate) async fn insert_provider(
    conn: &mut AnyConnection,
    p: &OidcProvider,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oidc_providers (url, client_ids, thumbprints, key_source, condition_keys, \
         allow_insecure_http, ca_bundle, tags, created, managed_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(p.url.as_str())
    .bind(to_json(&p.client_ids)?)
    .bind(to_json(&p.thumbprints)?)
    .bind(to_json(&p.key_source)?)
    .bind(condition_keys_str(p.condition_keys))
    .bind(bool_to_int(p.allow_insecure_http))
    .bind(p.ca_bundle.as_deref())
    .bind(to_json(&p.tags)?)
    .bind(p.created)
    .bind(p.managed_by.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces every column except the URL and the creation time. Returns whether a row matched.
pub(crate) async fn replace_provider(
    conn: &mut AnyConnection,
    p: &OidcProvider,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE oidc_providers SET client_ids = $2, thumbprints = $3, key_source = $4, \
         condition_keys = $5, allow_insecure_http = $6, ca_bundle = $7, tags = $8, \
         managed_by = $9 WHERE url = $1",
    )
    .bind(p.url.as_str())
    .bind(to_json(&p.client_ids)?)
    .bind(to_json(&p.thumbprints)?)
    .bind(to_json(&p.key_source)?)
    .bind(condition_keys_str(p.condition_keys))
    .bind(bool_to_int(p.allow_insecure_http))
    .bind(p.ca_bundle.as_deref())
    .bind(to_json(&p.tags)?)
    .bind(p.managed_by.as_str())
    .execute(conn)
    .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) async fn find_role(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<Role>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {ROLE_COLUMNS} FROM roles WHERE name = $1"));
    sqlx::query(sql)
        .bind(name)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(role_from_row)
        .transpose()
}

/// The stored spelling of a role whose name equals `name` ignoring ASCII case.
pub(crate) async fn find_role_name_ignoring_case(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT name FROM roles WHERE lower(name) = lower($1)")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("name")).transpose()?)
}

pub(crate) async fn list_roles(conn: &mut AnyConnection) -> Result<Vec<Role>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {ROLE_COLUMNS} FROM roles ORDER BY name"));
    sqlx::query(sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(role_from_row)
        .collect()
}

/// Inserts a role; its permissions boundary, when it has one, must name an existing managed
/// policy ([`StoreError::NoSuchEntity`] with IAM's message otherwise).
pub(crate) async fn insert_role(conn: &mut AnyConnection, r: &Role) -> Result<(), StoreError> {
    let boundary_policy = match &r.permissions_boundary {
        Some(arn) => Some(boundary_policy_name(conn, arn).await?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO roles (name, path, role_id, trust_policy, description, \
         max_session_duration, tags, created, managed_by, permissions_boundary_arn, \
         permissions_boundary_policy) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(r.name.as_str())
    .bind(r.path.as_str())
    .bind(r.role_id.as_str())
    .bind(r.trust_policy.as_str())
    .bind(r.description.as_deref())
    .bind(i64::from(r.max_session_duration))
    .bind(to_json(&r.tags)?)
    .bind(r.created)
    .bind(r.managed_by.as_str())
    .bind(r.permissions_boundary.as_deref())
    .bind(boundary_policy)
    .execute(conn)
    .await?;
    Ok(())
}

/// The name of the managed policy `arn` names, for a permissions boundary:
/// [`StoreError::NoSuchEntity`] with IAM's message when there is none.
async fn boundary_policy_name(conn: &mut AnyConnection, arn: &str) -> Result<String, StoreError> {
    let found = match parse_policy_arn(arn) {
        Some((path, name)) => {
            sqlx::query("SELECT name FROM managed_policies WHERE name = $1 AND path = $2")
                .bind(name)
                .bind(path)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    match found {
        Some(row) => Ok(row.try_get("name")?),
        None => Err(StoreError::NoSuchEntity(format!(
            "Scope ARN: {arn} does not exist or is not attachable."
        ))),
    }
}

/// Replaces every column except the name, the role ID, the creation time and the permissions
/// boundary. Returns whether a row matched.
pub(crate) async fn replace_role(conn: &mut AnyConnection, r: &Role) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE roles SET path = $2, trust_policy = $3, description = $4, \
         max_session_duration = $5, tags = $6, managed_by = $7 WHERE name = $1",
    )
    .bind(r.name.as_str())
    .bind(r.path.as_str())
    .bind(r.trust_policy.as_str())
    .bind(r.description.as_deref())
    .bind(i64::from(r.max_session_duration))
    .bind(to_json(&r.tags)?)
    .bind(r.managed_by.as_str())
    .execute(conn)
    .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) async fn role_policies_of(
    conn: &mut AnyConnection,
    role: &str,
) -> Result<Vec<RolePolicy>, StoreError> {
    sqlx::query(
        "SELECT role_name, policy_name, document FROM role_policies \
         WHERE role_name = $1 ORDER BY policy_name",
    )
    .bind(role)
    .fetch_all(conn)
    .await?
    .iter()
    .map(role_policy_from_row)
    .collect()
}

pub(crate) async fn list_all_role_policies(
    conn: &mut AnyConnection,
) -> Result<Vec<RolePolicy>, StoreError> {
    sqlx::query(
        "SELECT role_name, policy_name, document FROM role_policies \
         ORDER BY role_name, policy_name",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(role_policy_from_row)
    .collect()
}

fn role_policy_from_row(row: &sqlx::any::AnyRow) -> Result<RolePolicy, StoreError> {
    Ok(RolePolicy {
        role_name: row.try_get("role_name")?,
        policy_name: row.try_get("policy_name")?,
        document: row.try_get("document")?,
    })
}

pub(crate) async fn upsert_role_policy(
    conn: &mut AnyConnection,
    p: &RolePolicy,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO role_policies (role_name, policy_name, document) VALUES ($1, $2, $3) \
         ON CONFLICT (role_name, policy_name) DO UPDATE SET document = excluded.document",
    )
    .bind(p.role_name.as_str())
    .bind(p.policy_name.as_str())
    .bind(p.document.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn remove_role_policy(
    conn: &mut AnyConnection,
    role: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM role_policies WHERE role_name = $1 AND policy_name = $2")
        .bind(role)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() > 0)
}

async fn count(conn: &mut AnyConnection, sql: &'static str, key: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query(sql)
        .bind(key)
        .fetch_one(conn)
        .await?
        .try_get("n")?)
}

impl Store {
    /// Creates an OIDC provider. [`StoreError::EntityAlreadyExists`] if one has the same URL.
    pub async fn create_provider(&self, p: &OidcProvider) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_provider(&mut tx, &p.url).await?.is_some() {
            return Err(StoreError::EntityAlreadyExists(format!(
                "Provider with url {} already exists.",
                p.url
            )));
        }
        insert_provider(&mut tx, p).await?;
        tx.changed(Change::Provider(p.url.clone()));
        tx.commit().await
    }

    /// The provider with this URL, or [`StoreError::NoSuchEntity`].
    pub async fn get_provider(&self, url: &str) -> Result<OidcProvider, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_provider(&mut conn, url)
            .await?
            .ok_or_else(|| no_such_provider(url))
    }

    /// Every provider, ordered by URL.
    pub async fn list_providers(&self) -> Result<Vec<OidcProvider>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        list_providers(&mut conn).await
    }

    /// Replaces the provider with `p.url` (client IDs, thumbprints, key source, tags, …); the
    /// creation time is kept. [`StoreError::NoSuchEntity`] if it does not exist.
    pub async fn update_provider(&self, p: &OidcProvider) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !replace_provider(&mut tx, p).await? {
            return Err(no_such_provider(&p.url));
        }
        tx.changed(Change::Provider(p.url.clone()));
        tx.commit().await
    }

    /// Deletes the provider with this URL. [`StoreError::NoSuchEntity`] if it does not exist.
    pub async fn delete_provider(&self, url: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM oidc_providers WHERE url = $1")
            .bind(url)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(no_such_provider(url));
        }
        tx.changed(Change::Provider(url.to_owned()));
        tx.commit().await
    }

    /// Creates a role. [`StoreError::EntityAlreadyExists`] if a role has the same name ignoring
    /// case (IAM role names are case-insensitively unique).
    pub async fn create_role(&self, r: &Role) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role_name_ignoring_case(&mut tx, &r.name)
            .await?
            .is_some()
        {
            return Err(StoreError::EntityAlreadyExists(format!(
                "Role with name {} already exists.",
                r.name
            )));
        }
        insert_role(&mut tx, r).await?;
        tx.changed(Change::Role(r.name.clone()));
        tx.commit().await
    }

    /// The role with exactly this name, or [`StoreError::NoSuchEntity`].
    pub async fn get_role(&self, name: &str) -> Result<Role, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_role(&mut conn, name)
            .await?
            .ok_or_else(|| no_such_role(name))
    }

    /// Replaces the role named `r.name` (path, trust policy, description, maximum session
    /// duration, tags, managed-by); its role ID, creation time and permissions boundary are
    /// kept.
    /// [`StoreError::NoSuchEntity`] if it does not exist.
    pub async fn update_role(&self, r: &Role) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !replace_role(&mut tx, r).await? {
            return Err(no_such_role(&r.name));
        }
        tx.changed(Change::Role(r.name.clone()));
        tx.commit().await
    }

    /// Sets the role's permissions boundary to the managed policy `arn`, or removes it (`None`).
    /// [`StoreError::NoSuchEntity`] if the role or the policy does not exist.
    pub async fn set_role_permissions_boundary(
        &self,
        name: &str,
        arn: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role(&mut tx, name).await?.is_none() {
            return Err(no_such_role(name));
        }
        let policy = match arn {
            Some(arn) => Some(boundary_policy_name(&mut tx, arn).await?),
            None => None,
        };
        sqlx::query(
            "UPDATE roles SET permissions_boundary_arn = $2, permissions_boundary_policy = $3 \
             WHERE name = $1",
        )
        .bind(name)
        .bind(arn)
        .bind(policy)
        .execute(&mut *tx)
        .await?;
        tx.changed(Change::Role(name.to_owned()));
        tx.commit().await
    }

    /// Deletes a role. [`StoreError::DeleteConflict`] while it has inline policies or attached
    /// managed policies; [`StoreError::NoSuchEntity`] if it does not exist.
    pub async fn delete_role(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role(&mut tx, name).await?.is_none() {
            return Err(no_such_role(name));
        }
        let inline = count(
            &mut tx,
            "SELECT COUNT(*) AS n FROM role_policies WHERE role_name = $1",
            name,
        )
        .await?;
        if inline > 0 {
            return Err(StoreError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".to_owned(),
            ));
        }
        let attached = count(
            &mut tx,
            "SELECT COUNT(*) AS n FROM role_policy_attachments WHERE role_name = $1",
            name,
        )
        .await?;
        if attached > 0 {
            return Err(StoreError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".to_owned(),
            ));
        }
        sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.changed(Change::Role(name.to_owned()));
        tx.commit().await
    }

    /// Creates or replaces an inline policy of a role. [`StoreError::NoSuchEntity`] if the role
    /// does not exist.
    pub async fn put_role_policy(&self, p: &RolePolicy) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role(&mut tx, &p.role_name).await?.is_none() {
            return Err(no_such_role(&p.role_name));
        }
        upsert_role_policy(&mut tx, p).await?;
        tx.changed(Change::Role(p.role_name.clone()));
        tx.commit().await
    }

    /// An inline policy of a role. [`StoreError::NoSuchEntity`] if the role or the policy does not
    /// exist.
    pub async fn get_role_policy(&self, role: &str, name: &str) -> Result<RolePolicy, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if find_role(&mut conn, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        let row = sqlx::query(
            "SELECT role_name, policy_name, document FROM role_policies \
             WHERE role_name = $1 AND policy_name = $2",
        )
        .bind(role)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => role_policy_from_row(&row),
            None => Err(no_such_role_policy(name)),
        }
    }

    /// The names of a role's inline policies, sorted. [`StoreError::NoSuchEntity`] if the role
    /// does not exist.
    pub async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if find_role(&mut conn, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        Ok(role_policies_of(&mut conn, role)
            .await?
            .into_iter()
            .map(|p| p.policy_name)
            .collect())
    }

    /// Deletes an inline policy of a role. [`StoreError::NoSuchEntity`] if the role or the policy
    /// does not exist.
    pub async fn delete_role_policy(&self, role: &str, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role(&mut tx, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        if !remove_role_policy(&mut tx, role, name).await? {
            return Err(no_such_role_policy(name));
        }
        tx.changed(Change::Role(role.to_owned()));
        tx.commit().await
    }
}
