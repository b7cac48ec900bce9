//! Applying the entities declared in the config file.

use std::collections::{BTreeMap, BTreeSet};

use keyless_sts::model::{ManagedBy, OidcProvider, Role, RolePolicy};
use sqlx::Row;

use crate::entities::{
    find_provider, find_role, find_role_name_ignoring_case, insert_provider, insert_role,
    remove_role_policy, replace_provider, replace_role, role_policies_of, upsert_role_policy,
};
use crate::write::Change;
use crate::{Store, StoreError};

impl Store {
    /// Makes the config-managed entities exactly the declared ones, in one transaction.
    ///
    /// * Every declared provider and role is stored with `managed_by = Config`: inserted if
    ///   absent, replaced if different. A stored entity keeps its creation time, and a stored
    ///   role keeps its role ID, so re-applying the same config changes nothing.
    /// * An API-managed provider with the same URL, or role with the same name, is taken over:
    ///   it becomes config-managed and gets the declared content. A role whose name differs only
    ///   in case from a stored role is refused with [`StoreError::EntityAlreadyExists`].
    /// * The inline policies of every declared role become exactly the declared ones (inline
    ///   policies a taken-over role had through the API are removed).
    /// * Config-managed providers and roles no longer declared are deleted, together with their
    ///   inline policies and managed-policy attachments.
    /// * A declared role policy must name a declared role ([`StoreError::InvalidInput`]).
    ///
    /// The generation moves only if something changed.
    pub async fn apply_config(
        &self,
        providers: &[OidcProvider],
        roles: &[Role],
        role_policies: &[RolePolicy],
    ) -> Result<(), StoreError> {
        let declared_urls: BTreeSet<&str> = providers.iter().map(|p| p.url.as_str()).collect();
        if declared_urls.len() != providers.len() {
            return Err(StoreError::InvalidInput(
                "The config declares the same provider URL twice.".to_owned(),
            ));
        }
        let declared_roles: BTreeSet<String> =
            roles.iter().map(|r| r.name.to_ascii_lowercase()).collect();
        if declared_roles.len() != roles.len() {
            return Err(StoreError::InvalidInput(
                "The config declares the same role name twice.".to_owned(),
            ));
        }
        let mut policies_by_role: BTreeMap<&str, BTreeMap<&str, &RolePolicy>> = roles
            .iter()
            .map(|r| (r.name.as_str(), BTreeMap::new()))
            .collect();
        for policy in role_policies {
            let slot = policies_by_role
                .get_mut(policy.role_name.as_str())
                .ok_or_else(|| {
                    StoreError::InvalidInput(format!(
                        "The config declares policy {} for role {}, which it does not declare.",
                        policy.policy_name, policy.role_name
                    ))
                })?;
            if slot.insert(policy.policy_name.as_str(), policy).is_some() {
                return Err(StoreError::InvalidInput(format!(
                    "The config declares policy {} of role {} twice.",
                    policy.policy_name, policy.role_name
                )));
            }
        }

        let mut tx = self.begin_write().await?;

        for declared in providers {
            let mut wanted = declared.clone();
            wanted.managed_by = ManagedBy::Config;
            match find_provider(&mut tx, &wanted.url).await? {
                None => {
                    insert_provider(&mut tx, &wanted).await?;
                    tx.changed(Change::Provider(wanted.url.clone()));
                }
                Some(stored) => {
                    wanted.created = stored.created;
                    if stored != wanted {
                        replace_provider(&mut tx, &wanted).await?;
                        tx.changed(Change::Provider(wanted.url.clone()));
                    }
                }
            }
        }
        let stale_providers: Vec<String> =
            sqlx::query("SELECT url FROM oidc_providers WHERE managed_by = $1")
                .bind(ManagedBy::Config.as_str())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>("url"))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|url| !declared_urls.contains(url.as_str()))
                .collect();
        for url in stale_providers {
            sqlx::query("DELETE FROM oidc_providers WHERE url = $1")
                .bind(url.as_str())
                .execute(&mut *tx)
                .await?;
            tx.changed(Change::Provider(url));
        }

        for declared in roles {
            let mut wanted = declared.clone();
            wanted.managed_by = ManagedBy::Config;
            match find_role(&mut tx, &wanted.name).await? {
                None => {
                    if let Some(other) = find_role_name_ignoring_case(&mut tx, &wanted.name).await?
                    {
                        return Err(StoreError::EntityAlreadyExists(format!(
                            "Role with name {} already exists (as {other}).",
                            wanted.name
                        )));
                    }
                    insert_role(&mut tx, &wanted).await?;
                    tx.changed(Change::Role(wanted.name.clone()));
                }
                Some(stored) => {
                    wanted.created = stored.created;
                    wanted.role_id = stored.role_id.clone();
                    if stored != wanted {
                        replace_role(&mut tx, &wanted).await?;
                        tx.changed(Change::Role(wanted.name.clone()));
                    }
                }
            }
            let wanted_policies = policies_by_role
                .get(wanted.name.as_str())
                .cloned()
                .unwrap_or_default();
            for stored in role_policies_of(&mut tx, &wanted.name).await? {
                match wanted_policies.get(stored.policy_name.as_str()) {
                    Some(declared) if declared.document == stored.document => {}
                    Some(declared) => {
                        upsert_role_policy(&mut tx, declared).await?;
                        tx.changed(Change::Role(wanted.name.clone()));
                    }
                    None => {
                        remove_role_policy(&mut tx, &wanted.name, &stored.policy_name).await?;
                        tx.changed(Change::Role(wanted.name.clone()));
                    }
                }
            }
            let stored_names: BTreeSet<String> = role_policies_of(&mut tx, &wanted.name)
                .await?
                .into_iter()
                .map(|p| p.policy_name)
                .collect();
            for (name, declared) in &wanted_policies {
                if !stored_names.contains(*name) {
                    upsert_role_policy(&mut tx, declared).await?;
                    tx.changed(Change::Role(wanted.name.clone()));
                }
            }
        }
        let stale_roles: Vec<String> = sqlx::query("SELECT name FROM roles WHERE managed_by = $1")
            .bind(ManagedBy::Config.as_str())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>("name"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|name| !declared_roles.contains(&name.to_ascii_lowercase()))
            .collect();
        for name in stale_roles {
            for sql in [
                "DELETE FROM role_policies WHERE role_name = $1",
                "DELETE FROM role_policy_attachments WHERE role_name = $1",
                "DELETE FROM roles WHERE name = $1",
            ] {
                sqlx::query(sql)
                    .bind(name.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.changed(Change::Role(name));
        }

        tx.commit().await
    }
}
