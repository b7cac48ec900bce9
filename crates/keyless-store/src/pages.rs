//! Listings by page: each reads at most one page and one item more, in key order, starting
//! after the key of the previous page's last item (keyset pagination), so that a page costs the
//! same however many entities there are, and an entity that exists while a caller walks the
//! pages is listed exactly once, whatever is created or deleted meanwhile.
//!
//! Keys are compared byte by byte on both databases (`COLLATE "C"` on PostgreSQL), the order
//! IAM's listings use.

use keyless_sts::model::{Attachment, ManagedPolicy, Role};
use sqlx::Row;

use crate::entities::find_role;
use crate::entities::no_such_role;
use crate::policies::{POLICY_COLUMNS, policy_from_row};
use crate::rows::{ROLE_COLUMNS, role_from_row};
use crate::{Dialect, Store, StoreError};

/// Which page of a listing: at most `limit` items whose key sorts after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<'a> {
    /// The key of the previous page's last item; `None` for the first page.
    pub after: Option<&'a str>,
    /// The most items.
    pub limit: usize,
}

impl PageRequest<'_> {
    fn fetch(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }
}

/// How many roles use a managed policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyUsage {
    /// Roles it is attached to (`AttachmentCount`).
    pub attachments: i64,
    /// Roles it is the permissions boundary of (`PermissionsBoundaryUsageCount`).
    pub permissions_boundaries: i64,
}

/// A managed policy with the number of roles that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPolicy {
    /// The policy, with its versions.
    pub policy: ManagedPolicy,
    /// The roles that use it.
    pub usage: PolicyUsage,
}

impl Store {
    /// `column` in byte order.
    fn ordered(&self, column: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("{column} COLLATE \"C\""),
        }
    }

    /// A page of roles ordered by name, optionally only those whose path starts with
    /// `path_prefix`.
    pub async fn list_roles_page(
        &self,
        path_prefix: Option<&str>,
        page: PageRequest<'_>,
    ) -> Result<Vec<Role>, StoreError> {
        let name = self.ordered("name");
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ROLE_COLUMNS} FROM roles \
             WHERE ($1 IS NULL OR substr(path, 1, length($1)) = $1) AND ($2 IS NULL OR {name} > $2) \
             ORDER BY {name} LIMIT $3"
        ));
        let mut conn = self.pool.acquire().await?;
        sqlx::query(sql)
            .bind(path_prefix)
            .bind(page.after)
            .bind(page.fetch())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(role_from_row)
            .collect()
    }

    /// A page of managed policies ordered by name, each with its attachment count; optionally
    /// only those whose path starts with `path_prefix`, or that are attached to a role.
    pub async fn list_policies_page(
        &self,
        path_prefix: Option<&str>,
        only_attached: bool,
        page: PageRequest<'_>,
    ) -> Result<Vec<ListedPolicy>, StoreError> {
        let name = self.ordered("m.name");
        let columns: Vec<String> = POLICY_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect();
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {columns}, \
             (SELECT COUNT(*) FROM role_policy_attachments a WHERE a.policy_name = m.name) AS attachments, \
             (SELECT COUNT(*) FROM roles r WHERE r.permissions_boundary_policy = m.name) AS boundaries \
             FROM managed_policies m \
             WHERE ($1 IS NULL OR substr(m.path, 1, length($1)) = $1) AND ($2 IS NULL OR {name} > $2) \
             AND ($3 = 0 OR EXISTS (SELECT 1 FROM role_policy_attachments a WHERE a.policy_name = m.name)) \
             ORDER BY {name} LIMIT $4",
            columns = columns.join(", ")
        ));
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(sql)
            .bind(path_prefix)
            .bind(page.after)
            .bind(i64::from(only_attached))
            .bind(page.fetch())
            .fetch_all(&mut *conn)
            .await?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            let usage = PolicyUsage {
                attachments: row.try_get("attachments")?,
                permissions_boundaries: row.try_get("boundaries")?,
            };
            listed.push(ListedPolicy {
                policy: policy_from_row(&mut conn, row).await?.policy,
                usage,
            });
        }
        Ok(listed)
    }

    /// How many roles the managed policy named `name` is attached to, and how many it is the
    /// permissions boundary of.
    pub async fn policy_usage(&self, name: &str) -> Result<PolicyUsage, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM role_policy_attachments WHERE policy_name = $1) AS a, \
             (SELECT COUNT(*) FROM roles WHERE permissions_boundary_policy = $1) AS b",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
        Ok(PolicyUsage {
            attachments: row.try_get("a")?,
            permissions_boundaries: row.try_get("b")?,
        })
    }

    /// A page of a role's inline policy names, in order. [`StoreError::NoSuchEntity`] if the
    /// role does not exist.
    pub async fn list_role_policies_page(
        &self,
        role: &str,
        page: PageRequest<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if find_role(&mut conn, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        let name = self.ordered("policy_name");
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT policy_name FROM role_policies WHERE role_name = $1 \
             AND ($2 IS NULL OR {name} > $2) ORDER BY {name} LIMIT $3"
        ));
        sqlx::query(sql)
            .bind(role)
            .bind(page.after)
            .bind(page.fetch())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| Ok(row.try_get("policy_name")?))
            .collect()
    }

    /// A page of the managed policies attached to a role, by policy name, optionally only
    /// those whose path starts with `path_prefix`. [`StoreError::NoSuchEntity`] if the role
    /// does not exist.
    pub async fn list_attached_role_policies_page(
        &self,
        role: &str,
        path_prefix: Option<&str>,
        page: PageRequest<'_>,
    ) -> Result<Vec<(String, Attachment)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if find_role(&mut conn, role).await?.is_none() {
            return Err(no_such_role(role));
        }
        let name = self.ordered("a.policy_name");
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT a.policy_name, a.role_name, a.policy_arn FROM role_policy_attachments a \
             JOIN managed_policies m ON m.name = a.policy_name \
             WHERE a.role_name = $1 AND ($2 IS NULL OR substr(m.path, 1, length($2)) = $2) \
             AND ($3 IS NULL OR {name} > $3) ORDER BY {name} LIMIT $4"
        ));
        sqlx::query(sql)
            .bind(role)
            .bind(path_prefix)
            .bind(page.after)
            .bind(page.fetch())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("policy_name")?,
                    Attachment {
                        role_name: row.try_get("role_name")?,
                        policy_arn: row.try_get("policy_arn")?,
                    },
                ))
            })
            .collect()
    }

    /// Whether an OIDC provider has the URL `https://<host_path>` or `http://<host_path>`:
    /// what an `oidc-provider/<host_path>` ARN names.
    pub async fn has_provider(&self, host_path: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row =
            sqlx::query("SELECT 1 AS found FROM oidc_providers WHERE url = $1 OR url = $2 LIMIT 1")
                .bind(format!("https://{host_path}"))
                .bind(format!("http://{host_path}"))
                .fetch_optional(&mut *conn)
                .await?;
        Ok(row.is_some())
    }
}
