//! Customer-managed policies, their versions, and their attachment to roles.
//!
//! Managed policies are addressed by ARN (`arn:<partition>:iam::<account>:policy<path><name>`).
//! The store is account-agnostic: it resolves an ARN by its path and name, and records the ARN
//! of an attachment exactly as given.

use keyless_sts::model::{Attachment, ManagedPolicy, PolicyVersion};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::entities::{find_role, no_such_role};
use crate::rows::{int_to_bool, parse_managed_by, parse_policy_arn, to_json};
use crate::write::Change;
use crate::{Store, StoreError};

/// IAM's limit on the number of versions a managed policy keeps.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// A managed policy row plus the counter that numbers its next version.
pub(crate) struct PolicyRow {
    pub(crate) policy: ManagedPolicy,
    next_version: i64,
}

fn no_such_policy(arn: &str) -> StoreError {
    StoreError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
}

/// The number in a version ID `v<N>`.
fn version_number(version_id: &str) -> Option<i64> {
    let digits = version_id.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

fn version_from_row(row: &AnyRow) -> Result<PolicyVersion, StoreError> {
    let version_id: String = row.try_get("version_id")?;
    Ok(PolicyVersion {
        document: row.try_get("document")?,
        is_default: int_to_bool(
            &format!("policy version {version_id}: is_default"),
            row.try_get("is_default")?,
        )?,
        created: row.try_get("created")?,
        version_id,
    })
}

async fn versions_of(
    conn: &mut AnyConnection,
    policy_name: &str,
) -> Result<Vec<PolicyVersion>, StoreError> {
    sqlx::query(
        "SELECT version_id, document, is_default, created FROM policy_versions \
         WHERE policy_name = $1 ORDER BY version_number",
    )
    .bind(policy_name)
    .fetch_all(conn)
    .await?
    .iter()
    .map(version_from_row)
    .collect()
}

pub(crate) async fn policy_from_row(
    conn: &mut AnyConnection,
    row: &AnyRow,
) -> Result<PolicyRow, StoreError> {
    let name: String = row.try_get("name")?;
    let tags: String = row.try_get("tags")?;
    let versions = versions_of(conn, &name).await?;
    let policy = ManagedPolicy {
        path: row.try_get("path")?,
        policy_id: row.try_get("policy_id")?,
        description: row.try_get("description")?,
        versions,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("policy {name}: tags: {e}")))?,
        created: row.try_get("created")?,
        updated: row.try_get("updated")?,
        managed_by: parse_managed_by(&row.try_get::<String, _>("managed_by")?)?,
        name,
    };
    Ok(PolicyRow {
        policy,
        next_version: row.try_get("next_version")?,
    })
}

pub(crate) const POLICY_COLUMNS: &str =
    "name, path, policy_id, description, tags, created, updated, managed_by, next_version";

/// The policy an ARN names, if its path and name match a stored policy.
pub(crate) async fn find_policy(
    conn: &mut AnyConnection,
    arn: &str,
) -> Result<Option<PolicyRow>, StoreError> {
    let Some((path, name)) = parse_policy_arn(arn) else {
        return Ok(None);
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM managed_policies WHERE name = $1 AND path = $2"
    ));
    let row = sqlx::query(sql)
        .bind(name)
        .bind(path)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(policy_from_row(conn, &row).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn list_policies(
    conn: &mut AnyConnection,
) -> Result<Vec<ManagedPolicy>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM managed_policies ORDER BY name"
    ));
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    let mut policies = Vec::with_capacity(rows.len());
    for row in &rows {
        policies.push(policy_from_row(conn, row).await?.policy);
    }
    Ok(policies)
}

pub(crate) async fn list_all_attachments(
    conn: &mut AnyConnection,
) -> Result<Vec<Attachment>, StoreError> {
    sqlx::query(
        "SELECT role_name, policy_arn FROM role_policy_attachments \
         ORDER BY role_name, policy_name",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(attachment_from_row)
    .collect()
}

/// The managed policies attached to `role`, ordered by policy name.
pub(crate) async fn attachments_of(
    conn: &mut AnyConnection,
    role: &str,
) -> Result<Vec<Attachment>, StoreError> {
    sqlx::query(
        "SELECT role_name, policy_arn FROM role_policy_attachments WHERE role_name = $1 \
         ORDER BY policy_name",
    )
    .bind(role)
    .fetch_all(conn)
    .await?
    .iter()
    .map(attachment_from_row)
    .collect()
}

/// The managed policy named `name`, with its versions.
pub(crate) async fn find_policy_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<ManagedPolicy>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM managed_policies WHERE name = $1"
    ));
    let row = sqlx::query(sql)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(policy_from_row(conn, &row).await?.policy)),
        None => Ok(None),
    }
}

fn attachment_from_row(row: &AnyRow) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        role_name: row.try_get("role_name")?,
        policy_arn: row.try_get("policy_arn")?,
    })
}

async fn insert_version(
    conn: &mut AnyConnection,
    policy_name: &str,
    number: i64,
    version: &PolicyVersion,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policy_versions (policy_name, version_number, version_id, document, \
         is_default, created) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(policy_name)
    .bind(number)
    .bind(version.version_id.as_str())
    .bind(version.document.as_str())
    .bind(i64::from(version.is_default))
    .bind(version.created)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_default_version(
    conn: &mut AnyConnection,
    policy_name: &str,
    version_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE policy_versions SET is_default = CASE WHEN version_id = $2 THEN 1 ELSE 0 END \
         WHERE policy_name = $1",
    )
    .bind(policy_name)
    .bind(version_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn touch_policy(
    conn: &mut AnyConnection,
    policy_name: &str,
    updated: i64,
    next_version: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE managed_policies SET updated = $2, next_version = $3 WHERE name = $1")
        .bind(policy_name)
        .bind(updated)
        .bind(next_version)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Creates a managed policy with its versions (IDs `v<N>`, exactly one default, at most
    /// [`MAX_POLICY_VERSIONS`]). [`StoreError::EntityAlreadyExists`] if a policy has the same
    /// name ignoring case; [`StoreError::InvalidInput`] if the versions are inconsistent.
    pub async fn create_policy(&self, p: &ManagedPolicy) -> Result<(), StoreError> {
        let mut numbers = Vec::with_capacity(p.versions.len());
        for version in &p.versions {
            let number = version_number(&version.version_id).ok_or_else(|| {
                StoreError::InvalidInput(format!(
                    "Policy version ID {} is not of the form v<N>.",
                    version.version_id
                ))
            })?;
            if numbers.contains(&number) {
                return Err(StoreError::InvalidInput(format!(
                    "Policy version ID {} is given twice.",
                    version.version_id
                )));
            }
            numbers.push(number);
        }
        if p.versions.iter().filter(|v| v.is_default).count() != 1 {
            return Err(StoreError::InvalidInput(
                "A managed policy must have exactly one default version.".to_owned(),
            ));
        }
        if p.versions.len() > MAX_POLICY_VERSIONS {
            return Err(StoreError::LimitExceeded(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions."
            )));
        }
        let mut tx = self.begin_write().await?;
        let existing =
            sqlx::query("SELECT name FROM managed_policies WHERE lower(name) = lower($1)")
                .bind(p.name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if existing.is_some() {
            return Err(StoreError::EntityAlreadyExists(format!(
                "A policy called {} already exists. Duplicate names are not allowed.",
                p.name
            )));
        }
        let next_version = numbers.iter().max().copied().unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO managed_policies (name, path, policy_id, description, tags, created, \
             updated, managed_by, next_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.name.as_str())
        .bind(p.path.as_str())
        .bind(p.policy_id.as_str())
        .bind(p.description.as_deref())
        .bind(to_json(&p.tags)?)
        .bind(p.created)
        .bind(p.updated)
        .bind(p.managed_by.as_str())
        .bind(next_version)
        .execute(&mut *tx)
        .await?;
        for (version, number) in p.versions.iter().zip(numbers) {
            insert_version(&mut tx, &p.name, number, version).await?;
        }
        tx.changed(Change::Policy(p.name.clone()));
        tx.commit().await
    }

    /// The managed policy an ARN names, with all its versions. [`StoreError::NoSuchEntity`] if
    /// no policy has that path and name.
    pub async fn get_policy(&self, arn: &str) -> Result<ManagedPolicy, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(find_policy(&mut conn, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?
            .policy)
    }

    /// Deletes a managed policy. As in IAM, [`StoreError::DeleteConflict`] while it is attached
    /// to a role or is a role's permissions boundary, or still has versions besides the
    /// default one.
    pub async fn delete_policy(&self, arn: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let found = find_policy(&mut tx, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?;
        let name = found.policy.name.as_str();
        let attached =
            sqlx::query("SELECT role_name FROM role_policy_attachments WHERE policy_name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let bounding = sqlx::query("SELECT name FROM roles WHERE permissions_boundary_policy = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if attached.is_some() || bounding.is_some() {
            return Err(StoreError::DeleteConflict(
                "Cannot delete a policy attached to entities.".to_owned(),
            ));
        }
        if found.policy.versions.len() > 1 {
            return Err(StoreError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must \
                 delete the policy's versions."
                    .to_owned(),
            ));
        }
        sqlx::query("DELETE FROM policy_versions WHERE policy_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM managed_policies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.changed(Change::Policy(name.to_owned()));
        tx.commit().await
    }

    /// Adds a version (ID `v<N>`, numbered after every version the policy ever had) holding
    /// `document`, optionally making it the default. [`StoreError::LimitExceeded`] when the
    /// policy already has [`MAX_POLICY_VERSIONS`] versions.
    pub async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_as_default: bool,
        created: i64,
    ) -> Result<PolicyVersion, StoreError> {
        let mut tx = self.begin_write().await?;
        let found = find_policy(&mut tx, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?;
        if found.policy.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(StoreError::LimitExceeded(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you \
                 create a new version, you must delete an existing version."
            )));
        }
        let name = found.policy.name.as_str();
        let number = found.next_version;
        let version = PolicyVersion {
            version_id: format!("v{number}"),
            document: document.to_owned(),
            is_default: false,
            created,
        };
        insert_version(&mut tx, name, number, &version).await?;
        if set_as_default {
            set_default_version(&mut tx, name, &version.version_id).await?;
        }
        touch_policy(&mut tx, name, created, number + 1).await?;
        tx.changed(Change::Policy(name.to_owned()));
        tx.commit().await?;
        Ok(PolicyVersion {
            is_default: set_as_default,
            ..version
        })
    }

    /// Deletes a non-default version. [`StoreError::DeleteConflict`] for the default version;
    /// [`StoreError::NoSuchEntity`] if the policy or the version does not exist.
    pub async fn delete_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let found = find_policy(&mut tx, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?;
        let version = found
            .policy
            .versions
            .iter()
            .find(|v| v.version_id == version_id)
            .ok_or_else(|| {
                StoreError::NoSuchEntity(format!(
                    "Policy {arn} version {version_id} does not exist."
                ))
            })?;
        if version.is_default {
            return Err(StoreError::DeleteConflict(
                "Cannot delete the default version of a policy.".to_owned(),
            ));
        }
        sqlx::query("DELETE FROM policy_versions WHERE policy_name = $1 AND version_id = $2")
            .bind(found.policy.name.as_str())
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        tx.changed(Change::Policy(found.policy.name.clone()));
        tx.commit().await
    }

    /// Makes an existing version the default. [`StoreError::NoSuchEntity`] if the policy or the
    /// version does not exist.
    pub async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        updated: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let found = find_policy(&mut tx, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?;
        if !found
            .policy
            .versions
            .iter()
            .any(|v| v.version_id == version_id)
        {
            return Err(StoreError::NoSuchEntity(format!(
                "Policy {arn} version {version_id} does not exist."
            )));
        }
        let name = found.policy.name.as_str();
        set_default_version(&mut tx, name, version_id).await?;
        touch_policy(&mut tx, name, updated, found.next_version).await?;
        tx.changed(Change::Policy(name.to_owned()));
        tx.commit().await
    }

    /// Attaches a managed policy to a role; attaching it again is a no-op (as in IAM).
    /// [`StoreError::NoSuchEntity`] if the role or the policy does not exist.
    pub async fn attach_role_policy(&self, role: &str, arn: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role(&mut tx, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        let found = find_policy(&mut tx, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?;
        let inserted = sqlx::query(
            "INSERT INTO role_policy_attachments (role_name, policy_name, policy_arn) \
             VALUES ($1, $2, $3) ON CONFLICT (role_name, policy_name) DO NOTHING",
        )
        .bind(role)
        .bind(found.policy.name.as_str())
        .bind(arn)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() > 0 {
            tx.changed(Change::Role(role.to_owned()));
        }
        tx.commit().await
    }

    /// Detaches a managed policy from a role. [`StoreError::NoSuchEntity`] if the role does not
    /// exist or the policy is not attached to it.
    pub async fn detach_role_policy(&self, role: &str, arn: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if find_role(&mut tx, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        let found = find_policy(&mut tx, arn)
            .await?
            .ok_or_else(|| no_such_policy(arn))?;
        let deleted = sqlx::query(
            "DELETE FROM role_policy_attachments WHERE role_name = $1 AND policy_name = $2",
        )
        .bind(role)
        .bind(found.policy.name.as_str())
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        tx.changed(Change::Role(role.to_owned()));
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_arns_split_into_path_and_name() {
        assert_eq!(
            parse_policy_arn("arn:aws:iam::123456789012:policy/ci/deploy/Push"),
            Some(("/ci/deploy/", "Push"))
        );
        assert_eq!(
            parse_policy_arn("arn:aws:iam::123456789012:policy/Push"),
            Some(("/", "Push"))
        );
        assert_eq!(parse_policy_arn("arn:aws:iam::123456789012:policy/"), None);
        assert_eq!(
            parse_policy_arn("arn:aws:iam::123456789012:role/Push"),
            None
        );
        assert_eq!(parse_policy_arn("arn:aws:s3:::policy/Push"), None);
        assert_eq!(parse_policy_arn("Push"), None);
    }

    #[test]
    fn version_ids_are_numbered() {
        assert_eq!(version_number("v1"), Some(1));
        assert_eq!(version_number("v12"), Some(12));
        assert_eq!(version_number("v0"), None);
        assert_eq!(version_number("v01"), None);
        assert_eq!(version_number("1"), None);
        assert_eq!(version_number("v"), None);
        assert_eq!(version_number("v-1"), None);
    }
}
