//! Conversions between model values and database rows.

use keyless_sts::model::{ConditionKeyMode, KeySource, ManagedBy, OidcProvider, Role, Tag};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

/// The provider columns, in the order [`provider_from_row`] reads them.
pub(crate) const PROVIDER_COLUMNS: &str = "url, client_ids, thumbprints, key_source, \
     condition_keys, allow_insecure_http, ca_bundle, tags, created, managed_by";

/// The role columns, in the order [`role_from_row`] reads them.
pub(crate) const ROLE_COLUMNS: &str = "name, path, role_id, trust_policy, description, \
     max_session_duration, permissions_boundary_arn, tags, created, managed_by";

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn condition_keys_str(mode: ConditionKeyMode) -> &'static str {
    match mode {
        ConditionKeyMode::Aws => "aws",
        ConditionKeyMode::All => "all",
    }
}

fn parse_condition_keys(text: &str) -> Result<ConditionKeyMode, StoreError> {
    match text {
        "aws" => Ok(ConditionKeyMode::Aws),
        "all" => Ok(ConditionKeyMode::All),
        other => Err(StoreError::Corrupt(format!(
            "unknown condition key mode {other:?}"
        ))),
    }
}

pub(crate) fn parse_managed_by(text: &str) -> Result<ManagedBy, StoreError> {
    ManagedBy::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown managed_by value {text:?}")))
}

pub(crate) fn bool_to_int(value: bool) -> i64 {
    i64::from(value)
}

pub(crate) fn int_to_bool(what: &str, value: i64) -> Result<bool, StoreError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(StoreError::Corrupt(format!(
            "{what}: {other} is not a boolean"
        ))),
    }
}

pub(crate) fn provider_from_row(row: &AnyRow) -> Result<OidcProvider, StoreError> {
    let url: String = row.try_get("url")?;
    let what = |field: &str| format!("provider {url}: {field}");
    Ok(OidcProvider {
        client_ids: from_json(
            &what("client_ids"),
            &row.try_get::<String, _>("client_ids")?,
        )?,
        thumbprints: from_json(
            &what("thumbprints"),
            &row.try_get::<String, _>("thumbprints")?,
        )?,
        key_source: from_json::<KeySource>(
            &what("key_source"),
            &row.try_get::<String, _>("key_source")?,
        )?,
        condition_keys: parse_condition_keys(&row.try_get::<String, _>("condition_keys")?)?,
        allow_insecure_http: int_to_bool(
            &what("allow_insecure_http"),
            row.try_get("allow_insecure_http")?,
        )?,
        ca_bundle: row.try_get("ca_bundle")?,
        tags: from_json::<Vec<Tag>>(&what("tags"), &row.try_get::<String, _>("tags")?)?,
        created: row.try_get("created")?,
        managed_by: parse_managed_by(&row.try_get::<String, _>("managed_by")?)?,
        url,
    })
}

pub(crate) fn role_from_row(row: &AnyRow) -> Result<Role, StoreError> {
    let name: String = row.try_get("name")?;
    let max_session_duration: i64 = row.try_get("max_session_duration")?;
    Ok(Role {
        path: row.try_get("path")?,
        role_id: row.try_get("role_id")?,
        trust_policy: row.try_get("trust_policy")?,
        description: row.try_get("description")?,
        max_session_duration: u32::try_from(max_session_duration).map_err(|_| {
            StoreError::Corrupt(format!(
                "role {name}: max_session_duration {max_session_duration} is out of range"
            ))
        })?,
        permissions_boundary: row.try_get("permissions_boundary_arn")?,
        tags: from_json(
            &format!("role {name}: tags"),
            &row.try_get::<String, _>("tags")?,
        )?,
        created: row.try_get("created")?,
        managed_by: parse_managed_by(&row.try_get::<String, _>("managed_by")?)?,
        name,
    })
}

/// Splits a policy ARN into its path and name.
pub(crate) fn parse_policy_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some(_account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let path_and_name = resource.strip_prefix("policy")?;
    if !path_and_name.starts_with('/') {
        return None;
    }
    let split = path_and_name.rfind('/')? + 1;
    let (path, name) = path_and_name.split_at(split);
    if name.is_empty() {
        return None;
    }
    Some((path, name))
}
